"""JupyterLab without surprises: a notebook opened on its own gets the folders jhw-reproduce would give
it (real or synthetic study, switched by one parameter), and a missing input names the command that
makes it."""
from __future__ import annotations

import pytest

from jeugdhulp_wijken import catalog, lab, paths, pipeline
from jeugdhulp_wijken.pipeline import schema

SPEC = pipeline.load_spec()
STEPS = [s.name for s in SPEC.steps]


@pytest.mark.parametrize("synthetic", [False, True], ids=["real", "synthetic"])
@pytest.mark.parametrize("step", STEPS)
def test_lab_defaults_are_what_the_runner_passes(step, synthetic):
    ctx = pipeline.Context.make(synthetic)
    (plan,) = [p for p in pipeline.plan_run(SPEC, ctx, only=[step]).all()]
    std = lab.standard(step, synthetic)
    runner = {k: v for k, v in plan.parameters.items() if k in lab.FILLED}
    assert runner, f"{step} declares none of the standard parameters"
    assert {k: std[k] for k in runner} == runner
    if synthetic:
        assert all(str(paths.SYNTHETIC) in v or str(paths.SYNTHETIC_FIGURES) in v
                   for k, v in runner.items() if k.endswith("_dir"))
    assert std.get("scope") == plan.parameters.get("scope", std.get("scope"))


def test_folders_fill_only_empty_values_and_say_so(capsys):
    region, national_dir, output_dir = lab.folders("region", True, region="", national_dir="",
                                                   output_dir="/somewhere/else")
    assert region == "JZ01"
    assert national_dir == str(paths.SYNTHETIC_DERIVED / "national")
    assert output_dir == "/somewhere/else"
    shown = capsys.readouterr().out
    assert "jhw-reproduce --synthetic" in shown and "national_dir = data/synthetic/derived/national" in shown
    assert "output_dir" not in shown
    (figures_dir,) = lab.folders("region", False, figures_dir="")
    assert figures_dir == str(paths.FIGURES / "haaglanden")
    region, input_dir = lab.folders("region", False, region="JZ24", input_dir="")
    assert input_dir == str(paths.DERIVED / "jz24")
    capsys.readouterr()
    assert lab.folders("scp_model", True, output_dir="/x") == ("/x",)
    assert capsys.readouterr().out == "", "a pipeline run (no empty values) prints nothing"


def test_folders_refuse_what_they_cannot_fill():
    with pytest.raises(ValueError, match="deviation_rule"):
        lab.folders("scp_model", False, deviation_rule="")
    with pytest.raises(pipeline.PipelineError, match="Unknown step"):
        lab.folders("no_such_step", False, output_dir="")


def test_empty_folder_parameters_pass_the_schema():
    for name in lab.FILLED:
        if name.endswith(("_dir", "_root")):
            assert schema.check_value(name, "") == "", name


def _inputs():
    for step in SPEC.steps:
        for ref in step.inputs:
            stage, _, name = ref.partition(":")
            if stage in SPEC.stages and name in catalog.CATALOG:
                yield step.name, stage, name


@pytest.mark.parametrize("synthetic", [False, True], ids=["real", "synthetic"])
@pytest.mark.parametrize("step, stage, artefact_id", list(_inputs()), ids=lambda v: str(v))
def test_a_missing_input_names_the_step_and_command_that_make_it(step, stage, artefact_id, synthetic, tmp_path,
                                                                 monkeypatch):
    """Before any run (empty data folders), reading an input in the lab says how to make it."""
    for attr, sub in [("DERIVED", "derived"), ("SYNTHETIC_DERIVED", "synthetic/derived"), ("FIGURES", "figures"),
                      ("SYNTHETIC_FIGURES", "figures/synthetic")]:
        monkeypatch.setattr(paths, attr, tmp_path / sub)
    folder_param = "input_dir" if SPEC.stages[stage].per_region else f"{stage}_dir"
    (folder,) = lab.folders(step, synthetic, **{folder_param: ""})
    with pytest.raises(FileNotFoundError) as err:
        catalog.read(artefact_id, folder, synthetic)
    message = str(err.value)
    producers = [s.name for s in SPEC.steps if artefact_id in s.outputs]
    assert str(catalog.path(artefact_id, folder, synthetic)) in message
    for producer in producers:
        assert f"jhw-reproduce{' --synthetic' if synthetic else ''} --only {producer}" in message
    assert ("make demo" if synthetic else "make reproduce") in message


def _lab_cases():
    """(notebook, synthetic): every notebook that reads earlier outputs, on the real and the synthetic study;
    01 only on the synthetic study (on real data it fetches its raw files from the mirror: it finds them),
    04 never (it reads only the example corpus in the repository)."""
    for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        if nb.name.startswith("04_"):
            continue
        for synthetic in ((True,) if nb.name.startswith("01_") else (False, True)):
            yield pytest.param(nb, synthetic, id=f"{nb.stem}-{'synthetic' if synthetic else 'real'}")


@pytest.mark.parametrize("nb, synthetic", list(_lab_cases()))
def test_a_notebook_opened_before_any_run_says_which_command_makes_its_input(nb, synthetic, tmp_path, monkeypatch):
    """Run the notebook's cells as JupyterLab would (parameters cell as committed, one edit: synthetic) in a
    checkout where nothing has run yet: the first error names the missing file and the command that makes it."""
    import json

    for attr, sub in [("RAW", "raw"), ("SYNTHETIC_RAW", "synthetic/raw"), ("DERIVED", "derived"),
                      ("SYNTHETIC_DERIVED", "synthetic/derived"), ("FIGURES", "figures"),
                      ("SYNTHETIC_FIGURES", "figures/synthetic"), ("RUNS", "runs")]:
        monkeypatch.setattr(paths, attr, tmp_path / sub)
    monkeypatch.chdir(paths.NOTEBOOKS)
    cells = [c for c in json.loads(nb.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    namespace = {"display": lambda *a, **k: None}
    error = None
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if "parameters" in cell["metadata"].get("tags", []):
            source += f"\nsynthetic = {synthetic}\n"
        try:
            exec(compile(source, f"{nb.name} cell {i}", "exec"), namespace)
        except Exception as exc:  # a FileNotFoundError, or a step's own error that wraps its message
            error = f"{type(exc).__name__}: {exc}"
            break
    assert error is not None, f"{nb.name} ran although nothing had run before it"
    assert str(tmp_path) in error, "the message names the missing file"
    assert ("make demo" if synthetic else "make reproduce") in error
    assert f"jhw-reproduce{' --synthetic' if synthetic else ''} --only " in error
