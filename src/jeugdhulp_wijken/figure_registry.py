"""The figure registry (``figures/registry.yml``): every report figure with the step that makes it, its
file stem, its formats and its caption in Dutch and English; and the README table generated from it.

Reading the registry needs no plotting library, so the runner can plan a run without importing
matplotlib. Saving figures is :mod:`.figures`, which also offers these names.
"""
from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files, paths

LANGS = ("nl", "en")
SYNTHETIC_CAPTION = {"nl": "SYNTHETISCHE DATA (fictief, geen echte wijken). ",
                     "en": "SYNTHETIC DATA (fictional, no real wijken). "}


@dataclass(frozen=True)
class FigureSpec:
    id: str
    step: str
    file: str
    formats: tuple[str, ...]
    caption: dict[str, str]

    def caption_text(self, lang: str = "nl", synthetic: bool = False, **values: Any) -> str:
        check_lang(lang)
        template = self.caption[lang]
        needed = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        missing = needed - set(values)
        if missing:
            raise ValueError(f"Figure '{self.id}': caption needs values for {sorted(missing)} "
                             f"(registry {paths.FIGURE_REGISTRY}).")
        text = template.format(**values)
        return (SYNTHETIC_CAPTION[lang] + text) if synthetic else text


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"Unknown lang '{lang}'; use one of {list(LANGS)}.")
    return lang


def load_registry(path: str | Path = paths.FIGURE_REGISTRY) -> dict[str, FigureSpec]:
    """Read the figure registry and check that every entry is complete. Parsed once per version of the file
    (every saved figure looks up its entry); each call gets its own dict."""
    return dict(_parse_registry(*files.file_version(path)))


@functools.lru_cache(maxsize=4)
def _parse_registry(file: str, mtime_ns: int, size: int) -> dict[str, FigureSpec]:
    path = Path(file)
    doc = files.load_yaml(path.read_text(encoding="utf-8")) or {}
    entries = doc.get("figures") or {}
    registry: dict[str, FigureSpec] = {}
    for fig_id, e in entries.items():
        missing = [k for k in ("step", "file", "caption") if k not in (e or {})]
        if missing:
            raise ValueError(f"{path}: figure '{fig_id}' lacks {missing}.")
        cap = e["caption"]
        if not all(isinstance(cap.get(lang), str) and cap.get(lang) for lang in LANGS):
            raise ValueError(f"{path}: figure '{fig_id}' needs a caption in both {list(LANGS)}.")
        registry[fig_id] = FigureSpec(fig_id, e["step"], e["file"],
                                      tuple(e.get("formats", ["png", "svg"])), dict(cap))
    names = [s.file for s in registry.values()]
    dupes = sorted({f for f in names if names.count(f) > 1})
    if dupes:
        raise ValueError(f"{path}: file stems used by more than one figure: {dupes}")
    return registry


def figures_of_step(step: str, registry: dict[str, FigureSpec] | None = None) -> list[FigureSpec]:
    registry = registry if registry is not None else load_registry()
    return [s for s in registry.values() if s.step == step]


def figure_files(spec: FigureSpec, figures_dir: str | Path, synthetic: bool = False) -> list[Path]:
    """All files that :func:`save_figure` writes for ``spec``: one per format plus the JSON sidecar."""
    return [paths.artefact(figures_dir, f"{spec.file}.{ext}", synthetic)
            for ext in (*spec.formats, "json")]


README_TABLE_START = "<!-- figure-table:start -->"
README_TABLE_END = "<!-- figure-table:end -->"


def registry_table(registry: dict[str, FigureSpec] | None = None) -> str:
    """The README's 'where each figure comes from' table, generated from the registry."""
    registry = registry if registry is not None else load_registry()
    spec = files.load_yaml(paths.PIPELINE_SPEC.read_text(encoding="utf-8"))
    steps = {s["name"]: s for s in spec["steps"]}
    stages = spec.get("stages") or {}
    rows = ["| figure id | made by | file(s) | caption (en) |", "|---|---|---|---|"]
    for fig in registry.values():
        if fig.step not in steps:
            raise ValueError(f"Figure '{fig.id}' names step '{fig.step}', which is not in {paths.PIPELINE_SPEC.name}; "
                             f"fix the step in {paths.FIGURE_REGISTRY}.")
        step = steps[fig.step]
        folder = (stages[step["stage"]]["figures"] if "stage" in step
                  else step.get("figures_dir", step["output_dir"]))
        folder = folder.replace("{figures}", "figures")
        listed = ", ".join(f"`{folder}/{fig.file}.{ext}`" for ext in fig.formats)
        rows.append(f"| `{fig.id}` | `{step['notebook']}` | {listed} | {fig.caption['en']} |")
    return "\n".join(rows)


def update_readme(readme: Path = paths.ROOT / "README.md") -> bool:
    """Rewrite the figure table in the README; return True if it changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(README_TABLE_START, 1)
    _, tail = rest.split(README_TABLE_END, 1)
    new = f"{head}{README_TABLE_START}\n{registry_table()}\n{README_TABLE_END}{tail}"
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text
