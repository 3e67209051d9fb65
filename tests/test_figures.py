"""The figure registry and deterministic, registry-checked saving."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from jeugdhulp_wijken import figures, paths, pipeline


def test_registry_entries_are_complete_and_belong_to_pipeline_steps():
    registry = figures.load_registry()
    steps = {s.name for s in pipeline.load_spec().steps}
    assert registry
    for spec in registry.values():
        assert spec.step in steps, spec.id
        assert spec.caption["nl"] and spec.caption["en"]


def test_readme_figure_table_matches_the_registry():
    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split(figures.README_TABLE_START)[1].split(figures.README_TABLE_END)[0].strip()
    assert table == figures.registry_table(), "run: python -m jeugdhulp_wijken.figures"


def test_the_registry_is_read_again_when_its_file_changes_and_each_caller_gets_its_own_dict(tmp_path):
    copy = tmp_path / "registry.yml"
    text = paths.FIGURE_REGISTRY.read_text(encoding="utf-8")
    copy.write_text(text, encoding="utf-8")
    first = figures.load_registry(copy)
    first.clear()
    second = figures.load_registry(copy)
    assert second and second == figures.load_registry(paths.FIGURE_REGISTRY)
    fig_id = next(iter(second))
    caption = second[fig_id].caption["nl"]
    copy.write_text(text.replace(caption, "Een andere titel", 1), encoding="utf-8")
    assert figures.load_registry(copy)[fig_id].caption["nl"] == "Een andere titel"


def _plot():
    figures.set_style()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 3, 2])
    ax.set_title("Waargenomen")
    return fig


def test_save_figure_is_deterministic_and_writes_caption(tmp_path):
    spec = figures.load_registry()["scp_scatter_nl"]
    a = figures.save_figure(_plot(), "scp_scatter_nl", tmp_path / "a", step="scp_model")
    b = figures.save_figure(_plot(), "scp_scatter_nl", tmp_path / "b", step="scp_model")
    assert [p.name for p in a] == [f"{spec.file}.png", f"{spec.file}.svg", f"{spec.file}.json"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    assert json.loads(a[-1].read_text())["caption"] == spec.caption["nl"]


def test_synthetic_figures_are_marked_in_name_and_caption(tmp_path):
    files = figures.save_figure(_plot(), "scp_scatter_nl", tmp_path, step="scp_model", synthetic=True, lang="en")
    assert all(p.name.startswith("synthetic_") for p in files)
    assert json.loads(files[-1].read_text())["caption"].startswith("SYNTHETIC DATA")


def test_unregistered_or_foreign_figure_is_refused(tmp_path):
    with pytest.raises(KeyError, match="registry"):
        figures.save_figure(_plot(), "no_such_figure", tmp_path, step="scp_model")
    with pytest.raises(ValueError, match="belongs to step"):
        figures.save_figure(_plot(), "scp_scatter_nl", tmp_path, step="local_factors")


def test_caption_placeholders_must_be_filled(tmp_path):
    with pytest.raises(ValueError, match="region_label"):
        figures.save_figure(_plot(), "scp_funnel", tmp_path, step="region")


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="lang"):
        figures.check_lang("de")


def _png_array(data: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _savefig_tight(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=figures.DPI, bbox_inches="tight")
    return buf.getvalue()


def _count_draws(fig) -> list:
    drawn = []
    original = fig.draw
    fig.draw = lambda renderer: (drawn.append(renderer), original(renderer))[1]
    return drawn


def _chart(layout: bool = True, **legend):
    figures.set_style()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2, 3], [3, 1, 2, 0], label="waargenomen")
    ax.barh(["Den Haag", "Rijswijk"], [2, 1], color="#c0392b", label="verwacht")
    ax.set_title("Jeugdhulp per wijk")
    ax.set_xlabel("% jongeren")
    ax.legend(**legend)
    if layout:  # a box off the centre of the figure: wider margins below and to the left
        fig.subplots_adjust(left=0.35, bottom=0.4, right=0.95, top=0.85)
    return fig


def test_a_png_is_the_tight_savefig_picture_from_a_single_draw():
    fig = _chart()
    reference = _png_array(_savefig_tight(fig))
    drawn = _count_draws(fig)
    png = _png_array(figures.figure_bytes(fig, "png"))
    assert len(drawn) == 1  # savefig(bbox_inches="tight") draws twice
    assert abs(png.shape[0] - reference.shape[0]) <= 1 and abs(png.shape[1] - reference.shape[1]) <= 1
    rows, cols = min(png.shape[0], reference.shape[0]), min(png.shape[1], reference.shape[1])
    difference = abs(png[:rows, :cols] - reference[:rows, :cols]).mean()
    # antialiasing at another subpixel offset differs by about 2.5 of 255; a mirrored picture by about 30
    assert difference < 6.0, f"mean difference {difference:.2f} of 255 from savefig's tight picture"
    assert figures.figure_bytes(fig, "png") == figures.figure_bytes(fig, "png")
    plt.close(fig)


def test_a_png_margin_that_reaches_past_the_figure_edge_is_background():
    figures.set_style()
    fig = plt.figure(figsize=(3, 1), facecolor="#ffeedd")
    fig.text(0.0, 0.5, "Rand", ha="left", va="center", fontsize=20)  # the text touches the left edge
    png = _png_array(figures.figure_bytes(fig, "png"))
    reference = _png_array(_savefig_tight(fig))
    assert abs(png.shape[1] - reference.shape[1]) <= 1 and abs(png.shape[0] - reference.shape[0]) <= 1
    pad = int(plt.rcParams["savefig.pad_inches"] * figures.DPI)
    assert (png[:, : pad - 1] == [0xFF, 0xEE, 0xDD]).all()  # the margin left of the edge, in the figure's colour
    assert (png[:, pad + 2:] != [0xFF, 0xEE, 0xDD]).any(axis=-1).any()  # and the text after it
    plt.close(fig)


def test_a_png_with_a_legend_outside_the_figure_keeps_the_legend_as_savefig_does():
    fig = _chart(layout=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    width = int(fig.bbox.width)
    reference = _png_array(_savefig_tight(fig))
    png = _png_array(figures.figure_bytes(fig, "png"))
    assert reference.shape[1] > width  # the legend lies beyond the canvas
    assert png.shape == reference.shape
    changed = (abs(png - reference).max(axis=-1) > 128).mean()  # a legend cut off changes about 1% of the pixels
    assert changed < 0.002, f"{changed:.2%} of the pixels differ from savefig's tight picture"
    plt.close(fig)
