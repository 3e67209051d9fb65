"""Render the region report from the Jinja2 templates and write it through the catalog.

    rep = report.build_report(national_dir, region_dir, qualitative_dir, figures_root, region,
                              synthetic=False, lang="nl", raw_dir=raw_dir)
    report.write_report(rep, output_dir, synthetic=False)   # rapport.html + 06_key_numbers.json

The HTML is one file: figures are embedded as data URIs; only interactive figures are linked,
relatively, to the file beside the report. It makes no network request: :func:`check_offline`
refuses any http(s) or protocol-relative reference in ``src``/``href`` attributes or CSS.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog, files, paths
from ..figure_registry import LANGS, check_lang
from . import colophon, content, inputs
from . import figures as report_figures
from .fmt import Formatter
from .inputs import ReportError

TEMPLATES = paths.PACKAGE / "templates" / "report"
TEMPLATE = "rapport_{lang}.html.j2"
_REMOTE = re.compile(r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
                     r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\s+["']?(?:https?:)?//)""", re.IGNORECASE)


@dataclass
class Report:
    html: str
    key_numbers: dict[str, Any]
    figures: list[report_figures.ReportFigure] = field(default_factory=list)


@functools.lru_cache(maxsize=len(LANGS))
def environment(lang: str = "nl"):
    """The Jinja2 environment of the report templates: autoescaped, strict about undefined names. One per
    language and process, so each template compiles once (a changed template file is reloaded)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(Formatter(lang).filters())
    return env


def compile_templates() -> None:
    """Compile every report template in both languages (the kernel server does so once for all kernels)."""
    for lang in LANGS:
        env = environment(lang)
        for name in env.list_templates():
            env.get_template(name)


def check_offline(html: str) -> None:
    """Raise :class:`ReportError` if the HTML refers to anything on the network."""
    hits = sorted({m.group(0) for m in _REMOTE.finditer(files.without_data_uris(html))})
    if hits:
        raise ReportError(f"The report would load from the network ({hits[:5]}); it must be self-contained. "
                          "Embed the resource or link it relatively.")


def check_numbers(html: str, numbers: dict[str, Any]) -> None:
    """Every key number must be printed in the report (so the JSON lists what a reader sees)."""
    absent = [f"{k} ({v.text})" for k, v in numbers.items() if v.text not in html]
    if absent:
        raise ReportError(f"Key numbers that the report does not print: {absent}. Print them in the "
                          f"template or do not collect them.")


def build_report(national_dir: str | os.PathLike, region_dir: str | os.PathLike,
                 qualitative_dir: str | os.PathLike, figures_root: str | os.PathLike, region: Any, *,
                 synthetic: bool = False, lang: str = "nl", raw_dir: str | os.PathLike | None = None,
                 report_dir: str | os.PathLike | None = None, spec=None) -> Report:
    """Read the artefacts and figures of ``region`` and render its report.

    ``report_dir`` is where the report will finally live (default ``<figures_root>/<region slug>``);
    links to interactive figures are relative to it.
    """
    check_lang(lang)
    slug = paths.region_slug(region)
    report_dir = Path(report_dir) if report_dir else Path(figures_root) / slug
    data = inputs.load(national_dir, region_dir, qualitative_dir, synthetic)
    info = content.region_info(data, region, slug)
    figs = report_figures.collect(figures_root, region, synthetic, report_dir, spec=spec)
    ctx = content.build_context(data, info, lang)
    srcs = colophon.data_sources(None if synthetic else raw_dir)
    hashes = inputs.input_hashes(data, {f"figures/{f.file.name}": f.file for f in figs})
    colo = colophon.colophon(hashes, raw_dir, synthetic, srcs)
    ctx.update(lang=lang, synthetic=synthetic, figures=report_figures.by_section(figs), all_figures=figs,
               sources=srcs, colophon=colo, study=_study_constants())
    html = environment(lang).get_template(TEMPLATE.format(lang=lang)).render(**ctx)
    check_offline(html)
    check_numbers(html, ctx["n"])
    key_numbers = {
        "region": region if isinstance(region, str) else list(region), "region_name": info.name,
        "region_slug": slug, "study_area": info.is_study_area, "lang": lang, "synthetic": synthetic,
        "numbers": ctx["n"].records(),
        "published_vs_reproduced": [_row_record(r) for r in ctx["published"]],
        "figures": [{"id": f.id, "step": f.step, "section": f.section, "file": f.file.name} for f in figs],
        "deviations": ctx["deviations"], "deviations_omitted_study_area": ctx["deviations_omitted"],
        "colophon": colo,
    }
    return Report(html, key_numbers, figs)


def _row_record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.record() if hasattr(v, "record") else v) for k, v in row.items()}


def _study_constants() -> dict[str, Any]:
    from .. import study
    return {"year": study.YEAR, "n_determinants": study.N_DETERMINANTS, "study_area": study.STUDY_AREA}


def write_report(rep: Report, output_dir: str | os.PathLike, synthetic: bool = False) -> list[Path]:
    """Write ``rapport.html`` and ``06_key_numbers.json`` (catalog ids report_html, key_numbers)."""
    return [catalog.write(rep.html, "report_html", output_dir, synthetic),
            catalog.write(rep.key_numbers, "key_numbers", output_dir, synthetic)]
