"""The report step: one Markdown report per region with every registered figure,
its caption, the key numbers of each step and every stated deviation from the
published study.

The report lives beside the figures (``figures/<region>/05_report.md``) so that its
figure links are relative and work in any Markdown viewer. Numbers are read from the
JSON artefacts the earlier steps wrote; nothing is typed in by hand.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import figures, paths, pipeline

#: JSON artefact of each step that the report reads, relative to that step's output folder.
STEP_JSON = {
    "data_preparation": ("region", "01_data_summary.json"),
    "scp_model": ("region", "02_scp_metrics.json"),
    "local_factors": ("region", "03_local_factor_metrics.json"),
    "qualitative_coding": ("qualitative", "04_agreement.json"),
}

TITLES = {
    "nl": {"title": "Jeugdhulp in de wijken: reproductie", "figures": "Figuren", "numbers": "Kerncijfers",
           "deviations": "Afwijkingen van de gepubliceerde studie", "synthetic":
           "**SYNTHETISCHE DATA.** Dit rapport is gemaakt op de synthetische studie (fictieve wijken met een "
           "bekend model); de cijfers zeggen niets over echte wijken.", "region": "Regio",
           "missing": "ontbreekt"},
    "en": {"title": "Youth care in the neighbourhoods: reproduction", "figures": "Figures",
           "numbers": "Key numbers", "deviations": "Deviations from the published study", "synthetic":
           "**SYNTHETIC DATA.** This report was made on the synthetic study (fictional wijken with a known "
           "model); its numbers say nothing about real wijken.", "region": "Region", "missing": "missing"},
}


class ReportError(ValueError):
    """An artefact the report needs is missing or malformed."""


def figure_locations(figures_root: str | Path, region: Any, synthetic: bool,
                     spec: pipeline.Spec | None = None) -> list[dict[str, Any]]:
    """Every registered figure with the files it should have for this region, in registry order."""
    spec = spec or pipeline.load_spec()
    slug = paths.region_slug(region)
    ctx = pipeline.Context(synthetic=synthetic, figures=Path(figures_root))
    out = []
    for fig in figures.load_registry().values():
        step = spec.step(fig.step)
        fig_dir = Path(ctx.fill(step.figures_dir, slug))
        files = figures.figure_files(fig, fig_dir, synthetic)
        out.append({"id": fig.id, "step": fig.step, "dir": fig_dir, "files": files,
                    "sidecar": files[-1], "main": files[0]})
    return out


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ReportError(f"The report needs {path}, which does not exist; run the step that writes it "
                          f"(jhw-reproduce) first.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}).") from exc


def collect_numbers(input_dir: str | Path, qualitative_dir: str | Path, synthetic: bool) -> dict[str, dict]:
    """The JSON artefact of each step, keyed by step name."""
    dirs = {"region": Path(input_dir), "qualitative": Path(qualitative_dir)}
    return {step: read_json(paths.artefact(dirs[where], name, synthetic))
            for step, (where, name) in STEP_JSON.items()}


#: Where each step's JSON lists its deviations from the published studies (dotted key paths).
DEVIATION_KEYS = {
    "data_preparation": ("deviations_from_published_study",),
    "scp_model": ("meta.deviations_from_published",),
    "local_factors": ("deviations_from_hhs",),
    "qualitative_coding": ("deviations", "rondom_het_kind.deviations"),
}


def _lookup(doc: dict, dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _deviations(numbers: dict[str, dict]) -> list[tuple[str, str]]:
    """Every stated deviation, per step, in the order the steps list them."""
    out = []
    for step, doc in numbers.items():
        for key in DEVIATION_KEYS.get(step, ("deviations_from_published_study",)):
            items = _lookup(doc, key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise ReportError(f"The {step} JSON has '{key}' but it is not a list of statements.")
            for item in items:
                out.append((step, item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)))
    return out


def _headline(step: str, doc: dict) -> dict[str, Any]:
    head = doc.get("headline")
    if not isinstance(head, dict):
        raise ReportError(f"The {step} JSON has no 'headline' block of key numbers; re-run that step "
                          f"with the current package (jhw-reproduce --from {step}).")
    return head


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def build_report(input_dir: str | Path, qualitative_dir: str | Path, figures_root: str | Path,
                 report_dir: str | Path, region: Any, synthetic: bool = False, lang: str = "nl",
                 region_label: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return the Markdown report and the key numbers.

    ``report_dir`` is where the report will finally live (figure links are made relative to it).
    Raises :class:`ReportError` listing every registered figure that is missing.
    """
    figures.check_lang(lang)
    t = TITLES[lang]
    numbers = collect_numbers(input_dir, qualitative_dir, synthetic)
    figs = figure_locations(figures_root, region, synthetic)
    missing = [str(f) for fig in figs for f in fig["files"] if not f.is_file()]
    if missing:
        raise ReportError("Registered figures are missing (run the steps that make them):\n  "
                          + "\n  ".join(missing))
    lines = [f"# {t['title']}", ""]
    if synthetic:
        lines += [t["synthetic"], ""]
    lines += [f"{t['region']}: {region_label or region}", "", f"## {t['numbers']}", ""]
    key_numbers: dict[str, Any] = {"region": region if isinstance(region, str) else list(region),
                                   "region_label": region_label, "synthetic": synthetic}
    for step, doc in numbers.items():
        head = _headline(step, doc)
        key_numbers[step] = head
        lines.append(f"**{step}**")
        lines.append("")
        for k, v in head.items():
            lines.append(f"- {k}: {_fmt(v)}")
        lines.append("")
    devs = _deviations(numbers)
    lines += [f"## {t['deviations']}", ""]
    lines += [f"- ({step}) {text}" for step, text in devs] or ["-"]
    key_numbers["deviations"] = [{"step": s, "text": x} for s, x in devs]
    lines += ["", f"## {t['figures']}", ""]
    for fig in figs:
        caption = read_json(fig["sidecar"]).get("caption", "")
        rel = Path(os.path.relpath(fig["main"], Path(report_dir)))
        if fig["main"].suffix == ".html":
            lines.append(f"- [{fig['id']}]({rel.as_posix()}): {caption}")
        else:
            lines += [f"![{fig['id']}]({rel.as_posix()})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n", key_numbers


def write_report(output_dir: str | Path, text: str, key_numbers: dict, synthetic: bool = False) -> list[Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = paths.artefact(out, "05_report.md", synthetic)
    md.write_text(text, encoding="utf-8")
    js = paths.artefact(out, "05_key_numbers.json", synthetic)
    js.write_text(json.dumps(key_numbers, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                  encoding="utf-8")
    return [md, js]
