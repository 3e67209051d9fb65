"""Shared figure machinery: a house style and deterministic saving (the registry: :mod:`.figure_registry`).

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
import os
from pathlib import Path
from typing import Any

import matplotlib

if not os.environ.get("MPLBACKEND"):  # scripts and tests draw without a display
    matplotlib.use("Agg")
# In a Jupyter kernel (which chooses its backend through MPLBACKEND) importing this module changes
# nothing, so the kernel server can import it ahead of the kernels; set_style() selects Agg there.
import matplotlib.artist  # noqa: E402
import matplotlib.text  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from . import files, paths  # noqa: E402
from .figure_registry import (LANGS, README_TABLE_END, README_TABLE_START, SYNTHETIC_CAPTION,  # noqa: E402,F401
                              FigureSpec, check_lang, figure_files, figures_of_step, load_registry,
                              registry_table, update_readme)

DPI = 150
SVG_HASHSALT = "jeugdhulp-wijken"
#: Metadata written into each format: fixed values, and ``None`` drops matplotlib's dates.
SAVE_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": "matplotlib"},
    "svg": {"Creator": "matplotlib", "Date": None},
    "pdf": {"Creator": "matplotlib", "Producer": "matplotlib", "CreationDate": None, "ModDate": None},
}


def set_style() -> None:
    """The house style: the Agg backend (figures are shown as their saved PNG, never drawn twice), a fixed
    font, size and hash salt, so SVG output is reproducible. Figures are laid out at the resolution they are
    saved at (:data:`DPI`), so the PNG is one draw of the canvas the layout measured (:func:`figure_bytes`)."""
    matplotlib.use("Agg")
    plt.rcdefaults()
    plt.rcParams.update({
        "figure.dpi": DPI,
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


#: zlib level of the PNGs: 3 encodes a third faster than Pillow's default 6, and these plots come out no larger.
PNG_COMPRESS_LEVEL = 3


def _savefig_bytes(fig, fmt: str, bbox_inches="tight") -> bytes:
    buf = io.BytesIO()
    extra = {"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if fmt == "png" else {}
    with plt.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(buf, format=fmt, metadata=SAVE_METADATA.get(fmt), bbox_inches=bbox_inches, **extra)
    return buf.getvalue()


def _png_bytes(fig) -> bytes:
    """``fig`` as PNG, cropped to its tight bounding box plus ``savefig.pad_inches``, from one draw.

    ``savefig(bbox_inches="tight")`` draws a figure twice: once without rendering, to measure it, and then
    at the cropped size, with a new renderer that measures every text again. Here the figure is drawn once on
    its own canvas (whose renderer has already measured the texts when the figure was laid out, as the house
    style draws at :data:`DPI`), measured, and cut to the tight box; margin that reaches past the edge is
    the figure's background colour. A figure with artists outside its canvas (a legend beside a map) is
    drawn a second time at the box's size, as savefig would. Other canvases and resolutions take savefig.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.image import imsave

    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg) or fig.dpi != DPI:
        return _savefig_bytes(fig, "png")
    canvas.draw()
    tight = fig.get_tightbbox(canvas.get_renderer())
    width, height = int(fig.bbox.width), int(fig.bbox.height)
    padded = tight.padded(plt.rcParams["savefig.pad_inches"])
    x0, y0, x1, y1 = (v * DPI for v in tight.extents)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return _savefig_bytes(fig, "png", bbox_inches=padded)
    x0, y0, x1, y1 = (int(v * DPI) for v in padded.extents)
    out = np.empty((y1 - y0, x1 - x0, 4), dtype=np.uint8)
    out[...] = np.round(np.array(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    top = height - y1  # buffer rows run from the top of the figure
    rows, cols = slice(max(top, 0), min(top + out.shape[0], height)), slice(max(x0, 0), min(x1, width))
    part = np.asarray(canvas.buffer_rgba())[rows, cols]
    out[max(-top, 0):max(-top, 0) + part.shape[0], max(-x0, 0):max(-x0, 0) + part.shape[1]] = part
    buf = io.BytesIO()
    imsave(buf, out, format="png", dpi=DPI, metadata=SAVE_METADATA["png"],
           pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()


def figure_bytes(fig, fmt: str) -> bytes:
    """``fig`` rendered as ``fmt`` with fixed metadata and SVG hash salt: same figure, same bytes."""
    return _png_bytes(fig) if fmt == "png" else _savefig_bytes(fig, fmt)


class SparseLabels(matplotlib.artist.Artist):
    """Labels drawn in the order given, each only where it overlaps no label drawn before it. Decided when the
    figure is drawn, at its final scale (a map's labels, placed in data coordinates): in a dense area the
    later labels beside an earlier one are left out instead of printed over it. ``drawn``: the texts shown."""

    def __init__(self, texts, ax):
        super().__init__()
        self.texts = texts
        self.set_zorder(matplotlib.text.Text.zorder)  # above the map's polygons, as the texts alone would be
        for t in texts:
            t.set_figure(ax.figure)
            t.set_transform(ax.transData)
        self.drawn: list = []

    def draw(self, renderer) -> None:
        self.drawn, boxes = [], []
        if not self.get_visible():
            return
        for t in self.texts:
            box = t.get_window_extent(renderer).padded(2)
            if not any(box.overlaps(b) for b in boxes):
                boxes.append(box)
                self.drawn.append(t.get_text())
                t.draw(renderer)


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


if __name__ == "__main__":  # python -m jeugdhulp_wijken.figures  -> refresh the README table
    print("README figure table", "updated" if update_readme() else "already up to date")
