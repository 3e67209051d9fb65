"""The registered figures a region's report shows, found through the registry and the pipeline spec.

Every figure of ``figures/registry.yml`` made by a national or regional step appears in the report:
PNG figures embedded as ``data:`` URIs (the report stays one file), interactive HTML figures as a
relative link to the file beside the report. A missing figure stops the report with an error that
names the figure id and the file.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import figure_registry as registry_mod
from .. import files, paths
from .inputs import ReportError

#: Section of the report for a figure, matched on the start of its id, else of its step's name.
SECTION_OF_FIGURE = (("data_", "bijlagen"), ("scp_", "uitkomsten"), ("lf_", "kwantitatief"),
                     ("qual_", "kwalitatief"))
SECTION_OF_STEP = (("data", "bijlagen"), ("scp", "uitkomsten"), ("regio", "uitkomsten"),
                   ("local_factors", "kwantitatief"), ("qualitative", "kwalitatief"))
#: Stages whose figures are not part of a region's report.
EXCLUDED_STAGES = ("atlas",)
MIME = {"png": "image/png", "svg": "image/svg+xml", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class ReportFigure:
    id: str
    step: str
    section: str
    caption: str
    file: Path
    kind: str                  # "image" | "html"
    src: str                   # data URI (image) or link relative to the report (html)

    @property
    def anchor(self) -> str:
        return "fig-" + self.id.replace("_", "-")


def section_of(step_name: str, figure_id: str = "") -> str:
    for prefix, section in SECTION_OF_FIGURE:
        if figure_id.startswith(prefix):
            return section
    for prefix, section in SECTION_OF_STEP:
        if step_name.startswith(prefix):
            return section
    return "uitkomsten"


def _step_in_report(step: Any) -> bool:
    stage = getattr(step, "stage", None)
    return stage not in EXCLUDED_STAGES and not any(s in step.name for s in EXCLUDED_STAGES)


def figure_dir(spec, ctx, step, slug: str) -> Path:
    """The folder a step saves its figures in, for this region."""
    from ..pipeline import plan

    return plan.stage_dirs(spec, ctx, step.stage, slug)[1]


def locate(figures_root: str | os.PathLike, region: Any, synthetic: bool, spec=None,
           registry: dict | None = None) -> list[tuple[Any, Any, list[Path]]]:
    """(figure spec, step, files) of every registered figure the report shows, in registry order."""
    from .. import pipeline

    spec = spec or pipeline.load_spec()
    registry = registry if registry is not None else registry_mod.load_registry()
    slug = paths.region_slug(region)
    ctx = pipeline.Context(synthetic=synthetic, figures=Path(figures_root))
    out = []
    for fig in registry.values():
        try:
            step = spec.step(fig.step)
        except pipeline.PipelineError as exc:
            raise ReportError(f"Figure '{fig.id}' in {paths.FIGURE_REGISTRY} names step '{fig.step}': {exc}") from None
        if not _step_in_report(step):
            continue
        out.append((fig, step, registry_mod.figure_files(fig, figure_dir(spec, ctx, step, slug), synthetic)))
    return out


def data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower().lstrip("."))
    if mime is None:
        raise ReportError(f"{path}: cannot embed a '{path.suffix}' file in the report.")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def collect(figures_root: str | os.PathLike, region: Any, synthetic: bool, report_dir: str | os.PathLike,
            spec=None, registry: dict | None = None) -> list[ReportFigure]:
    """Every figure of the report, read and ready to embed; raises :class:`ReportError` naming
    each registered figure that is missing."""
    located = locate(figures_root, region, synthetic, spec, registry)
    missing = [f"{fig.id} ({p})" for fig, _, fs in located for p in fs if not p.is_file()]
    if missing:
        raise ReportError("Registered figures are missing; run the steps that make them "
                          "(jhw-reproduce, or --only <step>):\n  " + "\n  ".join(missing))
    out = []
    for fig, step, fs in located:
        sidecar = files.read_json(fs[-1])
        caption = str(sidecar.get("caption", ""))
        if "png" in fig.formats:
            main = fs[fig.formats.index("png")]
            kind, src = "image", data_uri(main)
        elif "html" in fig.formats:
            main = fs[fig.formats.index("html")]
            kind, src = "html", Path(os.path.relpath(main, Path(report_dir))).as_posix()
        else:
            main = fs[0]
            kind, src = "image", data_uri(main)
        out.append(ReportFigure(fig.id, step.name, section_of(step.name, fig.id), caption, main, kind, src))
    return out


def by_section(figs: list[ReportFigure]) -> dict[str, list[ReportFigure]]:
    out: dict[str, list[ReportFigure]] = {}
    for f in figs:
        out.setdefault(f.section, []).append(f)
    return out
