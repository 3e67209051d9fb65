"""Shared figure machinery: the registry, a house style, and deterministic saving.

Every report figure is listed in ``figures/registry.yml`` with the step that makes
it, its file stem and a caption in Dutch and English. Notebooks save figures only
through :func:`save_figure`, which

* refuses figure ids that are not in the registry, or that belong to another step;
* writes PNG and SVG with fixed metadata (no dates, no version strings, a fixed SVG hash
  salt), atomically, so the same inputs give the same bytes;
* writes a ``<stem>.json`` sidecar with the filled-in caption;
* marks synthetic figures in the file name (``synthetic_`` prefix) and in the caption.
"""
from __future__ import annotations

import io
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import files, paths  # noqa: E402

LANGS = ("nl", "en")
SYNTHETIC_CAPTION = {"nl": "SYNTHETISCHE DATA (fictief, geen echte wijken). ",
                     "en": "SYNTHETIC DATA (fictional, no real wijken). "}
DPI = 150
SVG_HASHSALT = "jeugdhulp-wijken"
#: Metadata written into each format: fixed values, and ``None`` drops matplotlib's dates.
SAVE_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": "matplotlib"},
    "svg": {"Creator": "matplotlib", "Date": None},
    "pdf": {"Creator": "matplotlib", "Producer": "matplotlib", "CreationDate": None, "ModDate": None},
}


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
    """Read the figure registry and check that every entry is complete."""
    path = Path(path)
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


def set_style() -> None:
    """The house style: a fixed font, size and hash salt, so SVG output is reproducible."""
    plt.rcdefaults()
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": DPI,
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": SVG_HASHSALT,
        "svg.fonttype": "path",
        "path.simplify": True,
    })


class SavedFigure(list):
    """The files written for one figure (a list of paths, plus its ``caption``). As the last
    expression of a notebook cell it shows the saved PNG, so the notebook displays exactly the
    bytes of the report figure and matplotlib does not draw it a second time."""

    caption: str = ""

    def _repr_png_(self) -> bytes | None:
        png = next((p for p in self if Path(p).suffix == ".png"), None)
        return Path(png).read_bytes() if png is not None else None


def figure_bytes(fig, fmt: str) -> bytes:
    """``fig`` rendered as ``fmt`` with fixed metadata and SVG hash salt: same figure, same bytes."""
    buf = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(buf, format=fmt, metadata=SAVE_METADATA.get(fmt), bbox_inches="tight")
    return buf.getvalue()


def _write_sidecar(out: Path, spec: FigureSpec, step: str, lang: str, synthetic: bool, caption: str,
                   written: list[Path]) -> Path:
    sidecar = paths.artefact(out, f"{spec.file}.json", synthetic)
    return files.write_json(sidecar, {"id": spec.id, "step": step, "lang": lang, "synthetic": synthetic,
                                      "caption": caption, "files": [p.name for p in written]})


def save_figure(fig, fig_id: str, figures_dir: str | Path, *, step: str, lang: str = "nl",
                synthetic: bool = False, registry: dict[str, FigureSpec] | None = None,
                **caption_values: Any) -> SavedFigure:
    """Save ``fig`` as registered figure ``fig_id`` and return the files written (a list of paths)."""
    registry = registry if registry is not None else load_registry()
    if fig_id not in registry:
        raise KeyError(f"Figure '{fig_id}' is not in {paths.FIGURE_REGISTRY}; add it there first.")
    spec = registry[fig_id]
    if spec.step != step:
        raise ValueError(f"Figure '{fig_id}' belongs to step '{spec.step}', not '{step}'.")
    caption = spec.caption_text(lang, synthetic, **caption_values)
    out = Path(figures_dir)
    written = [files.write_bytes_atomic(paths.artefact(out, f"{spec.file}.{ext}", synthetic),
                                        figure_bytes(fig, ext))
               for ext in spec.formats]
    written.append(_write_sidecar(out, spec, step, lang, synthetic, caption, written))
    plt.close(fig)
    saved = SavedFigure(written)
    saved.caption = caption
    return saved


def save_html_figure(html: str, fig_id: str, figures_dir: str | Path, *, step: str, lang: str = "nl",
                     synthetic: bool = False, registry: dict[str, FigureSpec] | None = None,
                     **caption_values: Any) -> list[Path]:
    """Save an interactive (HTML) figure registered with ``formats: [html]``, with stable element ids."""
    registry = registry if registry is not None else load_registry()
    if fig_id not in registry:
        raise KeyError(f"Figure '{fig_id}' is not in {paths.FIGURE_REGISTRY}; add it there first.")
    spec = registry[fig_id]
    if spec.step != step or spec.formats != ("html",):
        raise ValueError(f"Figure '{fig_id}' is registered for step '{spec.step}' with formats {spec.formats}.")
    caption = spec.caption_text(lang, synthetic, **caption_values)
    out = Path(figures_dir)
    target = files.write_html(paths.artefact(out, f"{spec.file}.html", synthetic), html)
    return [target, _write_sidecar(out, spec, step, lang, synthetic, caption, [target])]


def data_uri(saved: "SavedFigure | list[Path]") -> str:
    """The PNG of a saved figure as a data URI, for self-contained HTML."""
    import base64

    png = next((p for p in saved if Path(p).suffix == ".png"), None)
    if png is None:
        raise ValueError(f"No PNG among the saved files {[Path(p).name for p in saved]}.")
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


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


if __name__ == "__main__":  # python -m jeugdhulp_wijken.figures  -> refresh the README table
    print("README figure table", "updated" if update_readme() else "already up to date")
