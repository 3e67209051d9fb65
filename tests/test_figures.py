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
