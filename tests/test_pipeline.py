"""The pipeline runner: spec, parameters, caching, atomic outputs, failures, manifest."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from jeugdhulp_wijken import paths, pipeline

STEP_NAMES = ["data_preparation", "scp_model", "local_factors", "qualitative_coding", "report"]


def make_notebook(path: Path, body: str, params: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "jeugdhulp-wijken", "display_name": "Python (jeugdhulp-wijken)",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("A tiny test step."), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


@pytest.fixture
def tiny(tmp_path):
    """A two-step pipeline in a temporary root: step one writes a file, step two reads it."""
    (tmp_path / "nb").mkdir()
    make_notebook(tmp_path / "nb" / "one.ipynb",
                  "from pathlib import Path\n"
                  "Path(output_dir, 'result.txt').write_text(str(value))\n"
                  "assert not fail, 'deliberately broken'\n",
                  'output_dir = "out"\nfigures_dir = "fig"\nvalue = 1\nfail = False\nregion = "X"\n')
    make_notebook(tmp_path / "nb" / "two.ipynb",
                  "from pathlib import Path\n"
                  "text = Path(input_dir, 'result.txt').read_text()\n"
                  "Path(output_dir, 'double.txt').write_text(str(2 * int(text)))\n",
                  'input_dir = "in"\noutput_dir = "out"\n')
    spec = {
        "defaults": {"region": "Testland"},
        "steps": [
            {"name": "one", "notebook": "nb/one.ipynb", "output_dir": "{derived}/{region}",
             "parameters": {"value": 1}, "inputs": [], "outputs": ["result.txt"]},
            {"name": "two", "notebook": "nb/two.ipynb", "output_dir": "{derived}/{region}",
             "inputs": ["{derived}/{region}/result.txt"], "outputs": ["double.txt"]},
        ]}
    spec_path = tmp_path / "pipeline.yml"
    spec_path.write_text(yaml.safe_dump(spec))
    ctx = pipeline.Context(synthetic=False, raw=tmp_path / "raw", derived=tmp_path / "derived",
                           figures=tmp_path / "figures", runs=tmp_path / "runs", root=tmp_path)
    return pipeline.load_spec(spec_path), ctx


def run_tiny(spec, ctx, **kw):
    return pipeline.run(spec, ctx, fetch=False, progress=False, **kw)


def test_real_spec_lists_the_study_steps_in_order():
    spec = pipeline.load_spec()
    assert [s.name for s in spec.steps] == STEP_NAMES
    for s in spec.steps:
        assert (paths.ROOT / s.notebook).is_file(), s.notebook
        assert s.outputs, f"step {s.name} declares no outputs"


def test_real_spec_parameters_are_declared_by_the_notebooks():
    spec = pipeline.load_spec()
    plans = pipeline.plan_run(spec, pipeline.Context.make(synthetic=False))
    assert [p.step.name for p in plans] == STEP_NAMES
    for plan in plans:
        declared = pipeline.notebook_parameters(plan.notebook)
        assert set(plan.parameters) <= set(declared)
        assert Path(plan.parameters["output_dir"]).is_absolute()


def test_run_writes_outputs_manifest_and_serves_second_run_from_cache(tiny):
    spec, ctx = tiny
    first = run_tiny(spec, ctx)
    out = ctx.derived / "testland"
    assert (out / "result.txt").read_text() == "1"
    assert (out / "double.txt").read_text() == "2"
    assert [s["status"] for s in first["steps"]] == ["ran", "ran"]
    manifest = json.loads((ctx.runs / first["run_id"] / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert set(manifest["packages"]) >= {"pandas", "papermill", "statsmodels", "geopandas"}
    step_two = manifest["steps"][1]
    assert step_two["inputs"] == {str(out / "result.txt"): pipeline.sha256_file(out / "result.txt")}
    assert step_two["outputs"] == {str(out / "double.txt"): pipeline.sha256_file(out / "double.txt")}
    assert step_two["duration_s"] > 0
    assert Path(step_two["executed_notebook"]).is_file()

    second = run_tiny(spec, ctx)
    assert [s["status"] for s in second["steps"]] == ["cached", "cached"]
    forced = run_tiny(spec, ctx, force=True, only=["two"])
    assert [s["status"] for s in forced["steps"]] == ["ran"]


def test_changed_parameter_invalidates_cache_of_that_step_and_its_dependants(tiny):
    spec, ctx = tiny
    run_tiny(spec, ctx)
    again = run_tiny(spec, ctx, overrides={"value": 5})
    assert [s["status"] for s in again["steps"]] == ["ran", "ran"]
    assert (ctx.derived / "testland" / "double.txt").read_text() == "10"


def test_deliberately_broken_step_stops_run_and_keeps_previous_outputs(tiny):
    spec, ctx = tiny
    run_tiny(spec, ctx)
    result = ctx.derived / "testland" / "result.txt"
    with pytest.raises(pipeline.StepFailed) as info:
        run_tiny(spec, ctx, overrides={"fail": True, "value": 7})
    message = str(info.value)
    assert "nb/one.ipynb" in message and "cell" in message
    assert "AssertionError" in message and "deliberately broken" in message
    executed = Path(message.split("traceback is ")[1].splitlines()[0])
    assert executed.is_file()
    assert result.read_text() == "1", "a failed step must not replace the last good output"
    failed = json.loads(sorted(ctx.runs.glob("*/manifest.json"))[-1].read_text())
    assert failed["status"] == "failed" and failed["steps"][-1]["status"] == "failed"


def test_missing_declared_output_is_a_failure(tiny, tmp_path):
    spec, ctx = tiny
    bad = pipeline.Spec(spec.path, spec.defaults, {}, (
        pipeline.Step("one", "nb/one.ipynb", "{derived}/{region}", "{derived}/{region}", {},
                      (), ("result.txt", "never_written.csv")),))
    with pytest.raises(pipeline.StepFailed, match="never_written.csv"):
        run_tiny(bad, ctx)
    assert not (ctx.derived / "testland" / "result.txt").exists()


def test_unknown_parameter_is_refused_with_the_valid_names(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError) as info:
        pipeline.plan_run(spec, ctx, overrides={"nosuch": 1})
    text = str(info.value)
    assert "nosuch" in text and "value" in text and "fail" in text and "input_dir" in text


def test_unknown_step_is_refused(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError, match="Steps in"):
        pipeline.plan_run(spec, ctx, only=["nosuch"])


def test_missing_input_names_the_file_and_what_to_do(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError, match="result.txt.*earlier steps"):
        run_tiny(spec, ctx, only=["two"])


def test_cli_refuses_unknown_parameter_with_list_of_valid_ones():
    proc = subprocess.run([sys.executable, "-m", "jeugdhulp_wijken.pipeline", "--param", "nosuch=1",
                           "--no-fetch"], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 1
    assert "Unknown parameter(s) ['nosuch']" in proc.stderr
    assert "region" in proc.stderr and "data_preparation:" in proc.stderr


@pytest.mark.parametrize("text,expected", [
    ("value=3", ("value", 3)), ("region=JZ01", ("region", "JZ01")),
    ("factor_files=[a.csv, b.csv]", ("factor_files", ["a.csv", "b.csv"])), ("flag=true", ("flag", True))])
def test_parse_param(text, expected):
    assert pipeline.parse_param(text) == expected


def test_parse_param_rejects_malformed():
    with pytest.raises(pipeline.PipelineError):
        pipeline.parse_param("novalue")


@pytest.mark.parametrize("text,expected", [
    ("Haaglanden", "Haaglanden"), ("JZ01", "JZ01"), ("GM0518", ["GM0518"]),
    ("GM0518,GM0503", ["GM0518", "GM0503"])])
def test_parse_region(text, expected):
    assert pipeline.parse_region(text) == expected


@pytest.mark.parametrize("region,slug", [
    ("Haaglanden", "haaglanden"), ("JZ24", "jz24"), ("NL", "nl"),
    (["GM0518", "GM0503"], "gm0503-gm0518"), ("Rotterdam-Rijnmond", "rotterdam-rijnmond")])
def test_region_slug(region, slug):
    assert paths.region_slug(region) == slug


def test_region_slug_of_long_lists_is_short_and_stable():
    codes = [f"GM{i:04d}" for i in range(40)]
    assert paths.region_slug(codes) == paths.region_slug(list(reversed(codes)))
    assert len(paths.region_slug(codes)) < 40


def test_synthetic_artefacts_carry_the_prefix(tmp_path):
    assert paths.artefact(tmp_path, "x.json", synthetic=True).name == "synthetic_x.json"
    assert paths.artefact(tmp_path, "x.json", synthetic=False).name == "x.json"


def test_report_step_takes_every_registered_figure_of_the_other_steps_as_input(tmp_path):
    from jeugdhulp_wijken import figures

    ctx = pipeline.Context.make(True, derived=tmp_path / "d", figures=tmp_path / "f", runs=tmp_path / "r",
                                raw=tmp_path / "raw")
    plan = pipeline.plan_run(pipeline.load_spec(), ctx, only=["report"])[0]
    expected = [f for fig in figures.load_registry().values()
                for f in figures.figure_files(fig, tmp_path / "f" / ("qualitative" if fig.step == "qualitative_coding"
                                                                     else "jz01"), True)]
    assert set(expected) <= set(plan.inputs)


def test_path_parameters_hash_user_folders_but_not_pipeline_folders(tmp_path):
    user, managed = tmp_path / "transcripts", tmp_path / "derived" / "qualitative"
    user.mkdir()
    managed.mkdir(parents=True)
    (user / "a.txt").write_text("one")
    (managed / "x.csv").write_text("1")
    params = {"transcripts_dir": str(user), "qualitative_dir": str(managed)}
    own = [managed / "05_report.md"]
    first = pipeline._path_param_hashes(params, tmp_path, own, (tmp_path / "derived",))
    (managed / "x.csv").write_text("2")           # a pipeline folder: covered by declared inputs
    (managed / "05_report.md").write_text("own")  # the step's own output
    assert pipeline._path_param_hashes(params, tmp_path, own, (tmp_path / "derived",)) == first
    (user / "a.txt").write_text("two")            # a user's folder changed: the step must rerun
    assert pipeline._path_param_hashes(params, tmp_path, own, (tmp_path / "derived",)) != first
