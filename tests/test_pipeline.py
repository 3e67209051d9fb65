"""The pipeline runner: spec, stages, regions, parameters and their schema, caching, atomic outputs,
failures, manifest."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from jeugdhulp_wijken import files, paths, pipeline
from jeugdhulp_wijken.pipeline import schema

STEP_NAMES = ["data_preparation", "scp_model", "local_factors_nl", "qualitative_coding", "region",
              "local_factors_region", "report", "atlas"]


def make_notebook(path: Path, body: str, params: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "jeugdhulp-wijken", "display_name": "Python (jeugdhulp-wijken)",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("A tiny test step."), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A shared step, a per-region step and a closing step in a temporary root."""
    monkeypatch.setitem(schema.SCHEMA, "value", schema.Param("int", minimum=0, maximum=100))
    monkeypatch.setitem(schema.SCHEMA, "fail", schema.Param("bool"))
    monkeypatch.setitem(schema.SCHEMA, "data_files", schema.Param("factor_files"))
    (tmp_path / "nb").mkdir()
    make_notebook(tmp_path / "nb" / "one.ipynb",
                  "from pathlib import Path\n"
                  "extra = sum(len(Path(f).read_text()) for f in data_files)\n"
                  "Path(output_dir, 'result.txt').write_text(str(value + extra))\n"
                  "assert not fail, 'deliberately broken'\n",
                  'output_dir = "out"\nfigures_dir = "fig"\nvalue = 1\nfail = False\ndata_files = []\n')
    make_notebook(tmp_path / "nb" / "two.ipynb",
                  "from pathlib import Path\n"
                  "text = Path(national_dir, 'result.txt').read_text()\n"
                  "Path(output_dir, 'double.txt').write_text(f'{region}:{2 * int(text)}')\n",
                  'national_dir = "in"\noutput_dir = "out"\nregion = "X"\n')
    make_notebook(tmp_path / "nb" / "three.ipynb",
                  "from pathlib import Path\n"
                  "Path(output_dir, 'summary.txt').write_text(Path(national_dir, 'result.txt').read_text())\n",
                  'national_dir = "in"\noutput_dir = "out"\n')
    spec = {
        "defaults": {"region": "Testland"},
        "stages": {"national": {"derived": "{derived}/national"},
                   "regional": {"derived": "{derived}/{region}", "per_region": True},
                   "atlas": {"derived": "{figures}/atlas"}},
        "steps": [
            {"name": "one", "notebook": "nb/one.ipynb", "stage": "national", "parameters": {"value": 1},
             "inputs": ["live:cbs_83765ned_full"], "outputs": ["result.txt"]},
            {"name": "two", "notebook": "nb/two.ipynb", "stage": "regional",
             "inputs": ["national:result.txt"], "outputs": ["double.txt"]},
            {"name": "three", "notebook": "nb/three.ipynb", "stage": "atlas",
             "inputs": ["national:result.txt"], "outputs": ["summary.txt"]},
        ]}
    return spec_in(tmp_path, spec)


#: The stages of the test pipelines with a shared and a per-region step.
def meet(other: str, mine: str | None = None) -> str:
    """Notebook code that marks its start (file ``mine``, when given), then waits up to a minute for file
    ``other`` and sets ``together`` to whether it appeared: True only when the step that makes ``other`` ran
    while this one was running, however long kernels and workers take to start. Both are Python expressions."""
    touch = f"Path({mine}).touch()\n" if mine else ""
    return (f"import time\nfrom pathlib import Path\n{touch}deadline = time.time() + 60\n"
            f"while not Path({other}).exists() and time.time() < deadline:\n    time.sleep(0.05)\n"
            f"together = Path({other}).exists()\n")


NATIONAL_AND_REGIONAL = {"national": {"derived": "{derived}/national"},
                         "regional": {"derived": "{derived}/{region}", "per_region": True}}


def spec_in(tmp_path: Path, spec: dict):
    """(spec, context) of a test pipeline written to ``tmp_path``, with every folder inside it."""
    (tmp_path / "pipeline.yml").write_text(yaml.safe_dump(spec))
    ctx = pipeline.Context(synthetic=False, raw=tmp_path / "raw", derived=tmp_path / "derived",
                           figures=tmp_path / "figures", runs=tmp_path / "runs", root=tmp_path)
    return pipeline.load_spec(tmp_path / "pipeline.yml"), ctx


def run_tiny(spec, ctx, **kw):
    kw.setdefault("check_regions", False)
    return pipeline.run(spec, ctx, fetch=False, progress=False, **kw)


def statuses(manifest):
    return [(s["name"], s.get("region"), s["status"]) for s in manifest["steps"]]


def test_real_spec_lists_the_study_steps_in_order_with_catalog_outputs():
    from jeugdhulp_wijken import catalog

    spec = pipeline.load_spec()
    assert [s.name for s in spec.steps] == STEP_NAMES
    for s in spec.steps:
        assert (paths.ROOT / s.notebook).is_file(), s.notebook
        assert s.outputs and set(s.outputs) <= set(catalog.CATALOG), s.name
    assert [s.name for s in spec.steps if spec.per_region(s)] == ["region", "local_factors_region", "report"]


def test_real_spec_parameters_are_declared_by_the_notebooks_and_have_a_schema():
    spec = pipeline.load_spec()
    plan = pipeline.plan_run(spec, pipeline.Context.make(synthetic=False))
    assert [p.step.name for p in plan.all()] == STEP_NAMES[:-1], "one region: no atlas"
    assert [p.step.name for p in pipeline.plan_run(spec, pipeline.Context.make(synthetic=False),
                                                   regions=["JZ01", "JZ02"]).after] == ["atlas"]
    for p in plan.all():
        declared = pipeline.notebook_parameters(p.notebook)
        assert set(p.parameters) <= set(declared)
        assert set(declared) <= set(schema.SCHEMA), f"{p.step.notebook}: parameters without a schema"
        assert Path(p.parameters["output_dir"]).is_absolute()
        assert ("region" in p.parameters) == spec.per_region(p.step), p.step.name


def test_run_writes_outputs_and_a_repo_relative_manifest_and_serves_the_second_run_from_cache(tiny):
    spec, ctx = tiny
    first = run_tiny(spec, ctx)
    assert (ctx.derived / "national" / "result.txt").read_text() == "1"
    assert (ctx.derived / "testland" / "double.txt").read_text() == "Testland:2"
    assert not (ctx.figures / "atlas").exists(), "the closing step compares regions: not with one region"
    assert statuses(first) == [("one", None, "ran"), ("two", "testland", "ran")]
    manifest = json.loads((ctx.runs / first["run_id"] / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert set(manifest["packages"]) >= {"pandas", "papermill", "statsmodels", "geopandas"}
    two = manifest["steps"][1]
    assert two["inputs"] == {"derived/national/result.txt":
                             files.sha256_file(ctx.derived / "national" / "result.txt")}
    assert two["outputs"] == {"derived/testland/double.txt":
                              files.sha256_file(ctx.derived / "testland" / "double.txt")}
    assert not any(str(ctx.root) in json.dumps(s) for s in manifest["steps"]), "paths must be repo-relative"
    assert (ctx.root / two["executed_notebook"]).is_file()

    second = run_tiny(spec, ctx)
    assert [s["status"] for s in second["steps"]] == ["cached", "cached"]
    forced = run_tiny(spec, ctx, force=True, only=["two"])
    assert statuses(forced) == [("two", "testland", "ran")]


def test_regions_run_in_parallel_workers_and_share_the_national_stage(tiny):
    spec, ctx = tiny
    first = run_tiny(spec, ctx, regions=["Alpha", "Beta"], jobs=2)
    assert sorted(statuses(first)) == sorted([("one", None, "ran"), ("two", "alpha", "ran"),
                                              ("two", "beta", "ran"), ("three", None, "ran")])
    assert (ctx.derived / "beta" / "double.txt").read_text() == "Beta:2"
    assert (ctx.figures / "atlas" / "summary.txt").read_text() == "1"
    second = run_tiny(spec, ctx, regions=["Gamma"])
    assert statuses(second) == [("one", None, "cached"), ("two", "gamma", "ran")]


def test_changed_parameter_invalidates_the_step_and_its_dependants(tiny):
    spec, ctx = tiny
    run_tiny(spec, ctx)
    again = run_tiny(spec, ctx, overrides={"value": 5})
    assert [s["status"] for s in again["steps"]] == ["ran", "ran"]
    assert (ctx.derived / "testland" / "double.txt").read_text() == "Testland:10"


def test_another_software_environment_reruns_every_step(tiny, monkeypatch):
    from jeugdhulp_wijken.pipeline import cache

    spec, ctx = tiny
    run_tiny(spec, ctx)
    assert [s["status"] for s in run_tiny(spec, ctx)["steps"]] == ["cached", "cached"]
    real = cache.environment_hash()
    assert real == cache.environment_hash() and len(real) == 64
    monkeypatch.setattr(cache, "environment_hash", lambda: "0" * 64)  # e.g. another matplotlib
    assert [s["status"] for s in run_tiny(spec, ctx)["steps"]] == ["ran", "ran"]
    assert [s["status"] for s in run_tiny(spec, ctx)["steps"]] == ["cached", "cached"]


def test_the_environment_hash_covers_every_installed_distribution(monkeypatch, tmp_path):
    from jeugdhulp_wijken.pipeline import cache

    site = tmp_path / "site-packages"
    (site / "matplotlib-3.10.9.dist-info").mkdir(parents=True)
    (site / "numpy-2.4.6.dist-info").mkdir()
    monkeypatch.setattr(cache.sysconfig, "get_paths", lambda: {"purelib": str(site), "platlib": str(site)})
    before = cache.environment_hash()
    (site / "matplotlib-3.10.9.dist-info").rename(site / "matplotlib-3.11.2.dist-info")
    assert cache.environment_hash() != before


def test_adding_the_optional_live_table_reruns_the_steps_that_read_it(tiny):
    from jeugdhulp_wijken import sources

    spec, ctx = tiny
    run_tiny(spec, ctx)
    live = sources.raw_path("cbs_83765ned_full", ctx.raw)
    live.parent.mkdir(parents=True)
    live.write_text("a,b\n1,2\n")
    again = run_tiny(spec, ctx)
    assert statuses(again)[0] == ("one", None, "ran")
    live.write_text("a,b\n1,3\n")
    assert statuses(run_tiny(spec, ctx))[0] == ("one", None, "ran")
    assert statuses(run_tiny(spec, ctx))[0] == ("one", None, "cached")


@pytest.mark.parametrize("form", ["absolute", "repo-relative", "notebooks-relative"])
def test_editing_a_user_factor_file_or_its_sidecar_reruns_the_step(tiny, form):
    spec, ctx = tiny
    folder = paths.DERIVED / f"_test_factor_file_{form}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        csv, yml = folder / "f.csv", folder / "f.yml"
        csv.write_text("wijk_code,x\nWK000101,1\n")
        yml.write_text("title: test\n")
        given = {"absolute": str(csv), "repo-relative": str(csv.relative_to(paths.ROOT)),
                 "notebooks-relative": "../" + str(csv.relative_to(paths.ROOT))}[form]
        over = {"data_files": [given]}
        assert statuses(run_tiny(spec, ctx, overrides=over))[0][2] == "ran"
        assert statuses(run_tiny(spec, ctx, overrides=over))[0][2] == "cached"
        yml.write_text("title: changed sidecar\n")
        assert statuses(run_tiny(spec, ctx, overrides=over))[0][2] == "ran"
        csv.write_text("wijk_code,x\nWK000101,2\n")
        assert statuses(run_tiny(spec, ctx, overrides=over))[0][2] == "ran"
    finally:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)


def test_deliberately_broken_step_stops_run_and_keeps_previous_outputs(tiny):
    spec, ctx = tiny
    run_tiny(spec, ctx)
    result = ctx.derived / "national" / "result.txt"
    with pytest.raises(pipeline.StepFailed) as info:
        run_tiny(spec, ctx, overrides={"fail": True, "value": 7})
    message = str(info.value)
    assert "nb/one.ipynb" in message and "cell" in message
    assert "AssertionError" in message and "deliberately broken" in message
    executed = ctx.root / message.split("traceback is ")[1].splitlines()[0]
    assert executed.is_file()
    assert result.read_text() == "1", "a failed step must not replace the last good output"
    failed = json.loads(sorted(ctx.runs.glob("*/manifest.json"))[-1].read_text())
    assert failed["status"] == "failed" and failed["steps"][-1]["status"] == "failed"


@pytest.mark.parametrize("override,words", [
    ({"value": -3}, ["value=-3", "[0, 100]"]), ({"value": "abc"}, ["value='abc'", "whole number"]),
    ({"fail": "maybe"}, ["fail='maybe'", "true or false"]),
    ({"data_files": "/x.csv"}, ["data_files='/x.csv'", "list of file paths"]),
    ({"data_files": ["/no/such/file.csv"]}, ["data_files[0]", "no such file"])])
def test_bad_parameter_values_are_refused_before_anything_runs(tiny, override, words):
    spec, ctx = tiny
    run_tiny(spec, ctx)
    before = {p: p.read_bytes() for p in ctx.derived.rglob("*.txt")}
    runs_before = set(ctx.runs.iterdir())
    with pytest.raises(pipeline.PipelineError) as info:
        run_tiny(spec, ctx, overrides=override)
    for w in words:
        assert w in str(info.value)
    assert {p: p.read_bytes() for p in ctx.derived.rglob("*.txt")} == before
    assert set(ctx.runs.iterdir()) == runs_before, "nothing may run"


def test_schema_of_the_study_parameters():
    check = schema.check_value
    assert check("alpha", 0.05) == 0.05
    assert check("linked_regions", ("jz01", "haaglanden", "gm0503-gm0518")) == ["jz01", "haaglanden", "gm0503-gm0518"]
    for name, value in [("alpha", -3), ("with_variants", "maybe"), ("missing_indicator_min_share", "abc"),
                        ("factor_files", "/x.csv"), ("lang", "fr"), ("scope", "world"), ("min_clusters", 2.5),
                        ("linked_regions", "jz01"), ("linked_regions", ["JZ01"]), ("linked_regions", ["../x"])]:
        with pytest.raises(pipeline.PipelineError, match=name):
            check(name, value)
    with pytest.raises(pipeline.PipelineError, match="no schema"):
        check("nosuch", 1)


def test_missing_declared_output_is_a_failure(tiny):
    spec, ctx = tiny
    step = spec.steps[0]
    bad = pipeline.Spec(spec.path, spec.defaults, {}, (
        pipeline.Step(step.name, step.notebook, "national", {}, (), ("result.txt", "never_written.csv")),),
        spec.stages)
    with pytest.raises(pipeline.StepFailed, match="never_written.csv"):
        run_tiny(bad, ctx)
    assert not (ctx.derived / "national" / "result.txt").exists()


def test_unknown_parameter_is_refused_with_the_valid_names(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError) as info:
        pipeline.plan_run(spec, ctx, overrides={"nosuch": 1})
    text = str(info.value)
    assert "nosuch" in text and "value" in text and "fail" in text and "national_dir" in text


def test_unknown_step_and_an_empty_selection_are_refused(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError, match="Steps in"):
        pipeline.plan_run(spec, ctx, only=["nosuch"])
    with pytest.raises(pipeline.PipelineError, match="No step to run"):
        pipeline.plan_run(spec, ctx, start="three", only=["one"])


def test_missing_input_names_the_file_and_what_to_do(tiny):
    spec, ctx = tiny
    with pytest.raises(pipeline.PipelineError, match="result.txt.*earlier steps"):
        run_tiny(spec, ctx, only=["two"])


def test_an_interrupted_run_says_so_in_its_manifest(tiny, monkeypatch):
    from jeugdhulp_wijken.pipeline import steps

    spec, ctx = tiny

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "execute_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_tiny(spec, ctx)
    manifest = json.loads(sorted(ctx.runs.glob("*/manifest.json"))[-1].read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["steps"][-1]["status"] == "failed"


def test_cli_turns_ctrl_c_into_one_line(monkeypatch, capsys):
    from jeugdhulp_wijken.pipeline import cli

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupt)
    assert cli.main(["--no-fetch", "--synthetic"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("Interrupted") and len(err.splitlines()) == 1


def test_cli_refuses_unknown_parameter_with_list_of_valid_ones():
    proc = subprocess.run([sys.executable, "-m", "jeugdhulp_wijken.pipeline", "--param", "nosuch=1",
                           "--no-fetch", "--synthetic"], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 1
    assert "Unknown parameter(s) ['nosuch']" in proc.stderr
    assert "data_preparation:" in proc.stderr


def test_unknown_region_in_a_list_is_refused_naming_it_before_anything_runs(tmp_path):
    ctx = pipeline.Context.make(True, derived=tmp_path / "d", figures=tmp_path / "f", runs=tmp_path / "r",
                                raw=tmp_path / "raw")
    assert pipeline.resolve_regions(["JZ01", "all"], ctx)[:2] == ["JZ01", "NL"]
    with pytest.raises(pipeline.PipelineError) as info:
        pipeline.resolve_regions(["JZ01", "JZ99", "Nowhere"], ctx)
    text = str(info.value)
    assert "'JZ99'" in text and "'Nowhere'" in text and "--list-regions" in text
    assert len(text) < 400, "a short hint, not a dump of every name"
    assert not (tmp_path / "d").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("text,expected", [
    ("value=3", ("value", 3)), ("region=JZ01", ("region", "JZ01")),
    ("factor_files=[a.csv, b.csv]", ("factor_files", ["a.csv", "b.csv"])), ("flag=true", ("flag", True))])
def test_parse_param(text, expected):
    assert pipeline.parse_param(text) == expected


def test_parse_param_rejects_malformed():
    with pytest.raises(pipeline.PipelineError):
        pipeline.parse_param("novalue")


@pytest.mark.parametrize("text,expected", [
    ("Haaglanden", ["Haaglanden"]), ("JZ24,JZ29", ["JZ24", "JZ29"]), ("all", ["all"]),
    ("GM0518+GM0503", [["GM0518", "GM0503"]]), ("JZ01, GM0518+GM0503", ["JZ01", ["GM0518", "GM0503"]])])
def test_parse_regions(text, expected):
    assert pipeline.parse_regions(text) == expected


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


def test_report_step_takes_every_registered_figure_of_the_steps_before_it_as_input(tmp_path):
    from jeugdhulp_wijken import figures

    spec = pipeline.load_spec()
    ctx = pipeline.Context.make(True, derived=tmp_path / "d", figures=tmp_path / "f", runs=tmp_path / "r",
                                raw=tmp_path / "raw")
    plan = pipeline.plan_run(spec, ctx, only=["report"]).regions["jz01"][0]
    folders = {s.name: ("jz01" if spec.per_region(s) else spec.stages[s.stage].name) for s in spec.steps}
    before = [s.name for s in spec.steps][:[s.name for s in spec.steps].index("report")]
    expected = [f for fig in figures.load_registry().values() if fig.step in before
                for f in figures.figure_files(fig, tmp_path / "f" / folders[fig.step], True)]
    assert expected and set(expected) <= set(plan.inputs)


def test_a_step_waits_only_for_the_steps_whose_outputs_it_reads():
    from jeugdhulp_wijken.pipeline.steps import step_dependencies

    spec = pipeline.load_spec()
    plan = pipeline.plan_run(spec, pipeline.Context.make(synthetic=False), regions=["JZ24"])
    names = [p.step.name for p in plan.before]
    waits = {names[i]: {names[j] for j in d} for i, d in enumerate(step_dependencies(plan.before))}
    assert waits == {"data_preparation": set(), "scp_model": {"data_preparation"},
                     "local_factors_nl": {"data_preparation", "scp_model"}, "qualitative_coding": set()}
    regional = plan.regions["jz24"]
    names = [p.step.name for p in regional]
    waits = {names[i]: {names[j] for j in d} for i, d in enumerate(step_dependencies(regional))}
    assert waits == {"region": set(), "local_factors_region": set(), "report": {"region", "local_factors_region"}}


@pytest.fixture
def side_by_side(tmp_path, monkeypatch):
    """Two national steps that read nothing of each other, and a regional step that reads both."""
    monkeypatch.setitem(schema.SCHEMA, "fail", schema.Param("bool"))
    (tmp_path / "nb").mkdir()
    marks = tmp_path / "marks"
    marks.mkdir()
    body = ("import os\nassert not fail, 'deliberately broken'\n"
            "Path(output_dir, '{name}.txt').write_text(f'{{\"together\" if together else \"alone\"}} '\n"
            "                                       f'{{os.environ[\"OMP_NUM_THREADS\"]}}\\n{{os.getcwd()}}')\n")
    for name, other in (("a", "b"), ("b", "a")):
        make_notebook(tmp_path / "nb" / f"{name}.ipynb",
                      meet(repr(str(marks / other)), repr(str(marks / name))) + body.format(name=name),
                      'output_dir = "out"\nfail = False\n')
    make_notebook(tmp_path / "nb" / "c.ipynb",
                  "from pathlib import Path\n"
                  "Path(output_dir, 'c.txt').write_text(str(sorted(p.name for p in Path(national_dir).glob('*.txt'))))\n",
                  'national_dir = "in"\noutput_dir = "out"\n')
    spec = {
        "defaults": {"region": "Testland"}, "stages": NATIONAL_AND_REGIONAL,
        "steps": [
            {"name": "a", "notebook": "nb/a.ipynb", "stage": "national", "inputs": [], "outputs": ["a.txt"]},
            {"name": "b", "notebook": "nb/b.ipynb", "stage": "national", "inputs": [], "outputs": ["b.txt"]},
            {"name": "c", "notebook": "nb/c.ipynb", "stage": "regional",
             "inputs": ["national:a.txt", "national:b.txt"], "outputs": ["c.txt"]}]}
    return spec_in(tmp_path, spec)


def test_independent_steps_run_side_by_side_with_one_blas_thread_each(side_by_side):
    spec, ctx = side_by_side
    manifest = run_tiny(spec, ctx, jobs=2)
    assert statuses(manifest) == [("a", None, "ran"), ("b", None, "ran"), ("c", "testland", "ran")]
    (a_when, a_threads), (b_when, b_threads) = [
        (ctx.derived / "national" / f"{n}.txt").read_text().splitlines()[0].split() for n in ("a", "b")]
    assert a_when == b_when == "together", "a and b must overlap in time"
    assert a_threads == b_threads == "1"
    assert (ctx.derived / "testland" / "c.txt").read_text() == "['a.txt', 'b.txt']"


def test_steps_side_by_side_run_in_notebooks_and_never_move_the_runner_process(side_by_side, monkeypatch):
    """Each kernel is told its folder: the runner's own working folder is never changed, so a step that
    ends cannot move the kernel of a step that is starting in another thread."""
    import os

    spec, ctx = side_by_side
    moves = []  # papermill's file handler "moves" to the folder it is in while it reads and writes
    monkeypatch.setattr(os, "chdir", lambda path: moves.append(str(path)))
    before = os.getcwd()
    assert [s["status"] for s in run_tiny(spec, ctx, jobs=2)["steps"]] == ["ran"] * 3
    assert set(moves) <= {before}, "the runner never changes its working folder"
    for n in ("a", "b"):
        assert (ctx.derived / "national" / f"{n}.txt").read_text().splitlines()[1] == str(paths.NOTEBOOKS)


def test_a_failing_step_beside_another_lets_that_one_finish_and_then_stops_the_run(side_by_side):
    spec, ctx = side_by_side
    spec.steps[0].parameters["fail"] = True      # a fails; b finishes beside it; c, which reads both, never starts
    with pytest.raises(pipeline.StepFailed, match="deliberately broken"):
        run_tiny(spec, ctx, jobs=2)
    assert not (ctx.derived / "national" / "a.txt").exists()
    assert (ctx.derived / "national" / "b.txt").is_file()
    assert not (ctx.derived / "testland" / "c.txt").exists()
    failed = json.loads(sorted(ctx.runs.glob("*/manifest.json"))[-1].read_text())
    assert failed["status"] == "failed"
    assert [(s["name"], s["status"]) for s in failed["steps"]] == [("a", "failed"), ("b", "ran")]


def test_the_last_regions_run_their_independent_steps_side_by_side_and_a_failure_among_them_is_reported(
        tmp_path, capsys):
    """Two regions on two slots go step by step: a region's two steps that do not read each other run in two
    workers at once, its third step after both. A step that fails beside its region's other step lets that one
    finish; the region is reported FAILED once, and the manifest lists every region's steps in plan order."""
    (tmp_path / "nb").mkdir()
    make_notebook(tmp_path / "nb" / "base.ipynb",
                  "from pathlib import Path\nPath(output_dir, 'base.txt').write_text('1')\n", 'output_dir = "out"\n')
    marks = tmp_path / "marks"
    marks.mkdir()
    body = ("assert not ({broken} and region == 'Alpha'), 'deliberately broken'\n"
            "Path(output_dir, '{name}.txt').write_text('together' if together else 'alone')\n")
    for name, other, broken in (("maps", "factors", True), ("factors", "maps", False)):
        make_notebook(tmp_path / "nb" / f"{name}.ipynb",
                      meet(f"{str(marks)!r} + '/' + region + '-{other}'", f"{str(marks)!r} + '/' + region + '-{name}'")
                      + body.format(name=name, broken=broken),
                      'output_dir = "out"\nregion = "X"\n')
    make_notebook(tmp_path / "nb" / "summary.ipynb",
                  "from pathlib import Path\n"
                  "Path(output_dir, 'summary.txt').write_text(Path(input_dir, 'maps.txt').read_text())\n",
                  'input_dir = "in"\noutput_dir = "out"\n')
    regional = [{"name": n, "notebook": f"nb/{n}.ipynb", "stage": "regional", "inputs": ["national:base.txt"],
                 "outputs": [f"{n}.txt"]} for n in ("maps", "factors")]
    regional.append({"name": "summary", "notebook": "nb/summary.ipynb", "stage": "regional",
                     "inputs": ["regional:maps.txt", "regional:factors.txt"], "outputs": ["summary.txt"]})
    test_spec, ctx = spec_in(tmp_path, {
        "defaults": {"region": "Testland"}, "stages": NATIONAL_AND_REGIONAL,
        "steps": [{"name": "base", "notebook": "nb/base.ipynb", "stage": "national", "inputs": [],
                   "outputs": ["base.txt"]}, *regional]})
    with pytest.raises(pipeline.StepFailed, match="1 of 2 regions failed"):
        run_tiny(test_spec, ctx, regions=["Alpha", "Beta"], jobs=2, edition=False)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[region")]
    assert len(lines) == 2 and any("alpha: FAILED" in ln for ln in lines) and any("beta: done" in ln for ln in lines)
    assert [(ctx.derived / "beta" / f"{n}.txt").read_text() for n in ("maps", "factors")] == ["together"] * 2, \
        "a region's independent steps ran side by side"
    assert (ctx.derived / "alpha" / "factors.txt").read_text() == "together", "the step beside the failed one finished"
    assert (ctx.derived / "beta" / "summary.txt").is_file()
    assert not (ctx.derived / "alpha" / "summary.txt").exists()
    failed = json.loads(sorted(ctx.runs.glob("*/manifest.json"))[-1].read_text())
    assert statuses(failed) == [("base", None, "ran"), ("maps", "alpha", "failed"), ("factors", "alpha", "ran"),
                                ("maps", "beta", "ran"), ("factors", "beta", "ran"), ("summary", "beta", "ran")]


def test_kernels_talk_over_private_unix_sockets_that_are_removed_afterwards():
    from jeugdhulp_wijken.pipeline.execute import kernel_sockets

    with kernel_sockets() as config:
        km = config["KernelManager"]
        folder = Path(km["ip"]).parent
        assert km["transport"] == "ipc" and folder.is_dir()
        assert len(km["ip"]) + len("-99999") < 100, "a Unix socket path must stay short"
    assert not folder.exists()


def quick_and_slow(tmp_path: Path, waits_for: str, regional: dict[str, str]):
    """A pipeline of a quick and a slow national step, and regional steps (name -> the national step whose
    output it reads). Each regional step marks that it started; the slow step waits (up to a minute) for the
    mark of regional step ``waits_for`` and writes whether it saw it while it was still running."""
    (tmp_path / "nb").mkdir()
    marks = tmp_path / "marks"
    marks.mkdir()
    slow = meet(repr(str(marks / waits_for))) + \
        "Path(output_dir, 'slow.txt').write_text('saw it' if together else 'waited in vain')\n"
    make_notebook(tmp_path / "nb" / "quick.ipynb", "from pathlib import Path\nPath(output_dir, 'quick.txt').touch()\n",
                  'output_dir = "out"\n')
    make_notebook(tmp_path / "nb" / "slow.ipynb", slow, 'output_dir = "out"\n')
    steps = [{"name": name, "notebook": f"nb/{name}.ipynb", "stage": "national", "inputs": [],
              "outputs": [f"{name}.txt"]} for name in ("quick", "slow")]
    for name, reads in regional.items():
        make_notebook(tmp_path / "nb" / f"{name}.ipynb",
                      f"from pathlib import Path\nPath({str(marks / name)!r}).touch()\n"
                      f"Path(output_dir, '{name}.txt').write_text(Path(national_dir, '{reads}.txt').read_text())\n",
                      'national_dir = "in"\noutput_dir = "out"\n')
        steps.append({"name": name, "notebook": f"nb/{name}.ipynb", "stage": "regional",
                      "inputs": [f"national:{reads}.txt"], "outputs": [f"{name}.txt"]})
    return spec_in(tmp_path, {"defaults": {"region": "Testland"}, "stages": NATIONAL_AND_REGIONAL, "steps": steps})


def test_with_one_region_a_regional_step_starts_before_the_national_steps_it_does_not_read(tmp_path):
    test_spec, ctx = quick_and_slow(tmp_path, "local", {"local": "quick"})
    manifest = run_tiny(test_spec, ctx, jobs=2)
    assert statuses(manifest) == [("quick", None, "ran"), ("slow", None, "ran"), ("local", "testland", "ran")]
    assert (ctx.derived / "national" / "slow.txt").read_text() == "saw it", \
        "the regional step did not start while the national step it does not read was running"


def test_with_several_regions_their_steps_start_beside_the_national_steps_they_do_not_read(tmp_path):
    """The regions' workers start a region's first steps once the national steps they read are done, beside
    a national step that is still running; a regional step that reads that one waits for it."""
    test_spec, ctx = quick_and_slow(tmp_path, "early", {"early": "quick", "late": "slow"})
    manifest = run_tiny(test_spec, ctx, regions=["Alpha", "Beta"], jobs=2, edition=False)
    assert statuses(manifest) == [("quick", None, "ran"), ("slow", None, "ran"),
                                  ("early", "alpha", "ran"), ("late", "alpha", "ran"),
                                  ("early", "beta", "ran"), ("late", "beta", "ran")]
    assert (ctx.derived / "national" / "slow.txt").read_text() == "saw it", \
        "no region started beside the national step it does not read"
    # a late step copies the slow step's output, which exists only once that step has ended
    assert [(ctx.derived / r / "late.txt").read_text() for r in ("alpha", "beta")] == ["saw it"] * 2


def test_the_schedule_of_several_regions_starts_them_after_the_model_largest_first_and_reports_last():
    from jeugdhulp_wijken.pipeline.schedule import Schedule

    spec = pipeline.load_spec()
    plan = pipeline.plan_run(spec, pipeline.Context.make(synthetic=False), regions=["JZ01", "NL", "JZ02", "JZ03"])
    names = [p.step.name for p in plan.before]
    sched = Schedule(plan.before, plan.regions, 2, pages=True,
                     sizes=lambda: {"jz01": 5, "nl": 100, "jz02": 7, "jz03": 6})

    def national(name):
        sched.nat_done.add(names.index(name))

    assert sched.next_task() == ("national", names.index("data_preparation"))
    assert sched.next_task() == ("national", names.index("qualitative_coding"))
    assert sched.next_task() == ("warm",), "nothing else can run yet: a worker imports its libraries"
    national("data_preparation")
    assert sched.next_task() == ("national", names.index("scp_model"))
    assert sched.next_task() == ("warm",)
    assert sched.next_task() is None
    national("scp_model")
    assert sched.next_task() == ("national", names.index("local_factors_nl"))
    # the regions' maps and local factors, largest region first, before the national local factors are done;
    # a region goes to one worker at a time, its steps in one task
    assert sched.next_task() == ("region", "nl", 0, 2)
    assert sched.next_task() == ("region", "jz02", 0, 2)
    assert not sched.region_ran("nl", 0, 2, failed=False)
    national("local_factors_nl")
    national("qualitative_coding")
    assert sched.next_task() == ("pages",), "the shared pages once the shared steps are done"
    assert sched.next_task() == ("region", "nl", 2, 3), "a started region's report before a new region"
    # the last two regions (as many as there are slots) go step by step: their maps and local factors side by side
    assert sched.next_task() == ("region", "jz03", 0, 1)
    assert sched.next_task() == ("region", "jz03", 1, 2)
    assert sched.next_task() == ("region", "jz01", 0, 1)
    assert sched.next_task() == ("region", "jz01", 1, 2)
    assert sched.next_task() is None, "the reports wait for their regions' maps and local factors"
    assert sched.region_ran("nl", 2, 3, failed=False)
    assert not sched.region_ran("jz03", 1, 2, failed=False)
    assert sched.next_task() is None, "jz03's report waits for its maps as well"
    assert not sched.region_ran("jz03", 0, 1, failed=False)
    assert sched.next_task() == ("region", "jz03", 2, 3)
    assert not sched.region_ran("jz01", 0, 1, failed=True), "a failure while another step of the region runs"
    assert sched.next_task() is None, "nothing more of jz01 starts"
    assert sched.region_ran("jz01", 1, 2, failed=False), "jz01 is finished (failed) once its last task ended"
    assert sched.region_ran("jz03", 2, 3, failed=False)
    assert not sched.region_ran("jz02", 0, 2, failed=False)
    assert sched.next_task() == ("region", "jz02", 2, 3)
    assert sched.region_ran("jz02", 2, 3, failed=False)
    assert sched.next_task() is None


def test_the_atlas_runs_beside_the_regions_once_the_model_is_fitted():
    """The atlas reads only national artefacts (it links to the regions' reports without reading them), so a run
    of several regions schedules it with the shared steps instead of after the last region."""
    from jeugdhulp_wijken.pipeline.schedule import Schedule

    spec = pipeline.load_spec()
    plan = pipeline.plan_run(spec, pipeline.Context.make(synthetic=False), regions=["JZ01", "JZ02"])
    shared = plan.before + plan.after
    names = [p.step.name for p in shared]
    assert names[-1] == "atlas" and not plan.after[0].optional_inputs, "the reports are links, not inputs"
    sched = Schedule(shared, plan.regions, 2, sizes=lambda: {"jz01": 5, "jz02": 7})
    for name in ("data_preparation", "qualitative_coding", "scp_model"):
        sched.nat_started.add(names.index(name))
        sched.nat_done.add(names.index(name))
    assert sched.next_task() == ("national", names.index("local_factors_nl"))
    assert sched.next_task() == ("national", names.index("atlas")), "the atlas does not wait for the regions"
    assert sched.next_task() == ("region", "jz02", 0, 1), "then the regions (two regions, two slots: step by step)"


def test_the_atlas_links_the_reports_that_exist_and_those_the_run_makes(tmp_path):
    spec = pipeline.load_spec()
    ctx = pipeline.Context.make(synthetic=True, derived=tmp_path / "derived", figures=tmp_path / "figures",
                                runs=tmp_path / "runs", raw=tmp_path / "raw")
    every = ["jz01", "jz02", "jz03", "nl"]
    from jeugdhulp_wijken import catalog
    existing = catalog.path("report_html", ctx.figures / "jz03", True)
    existing.parent.mkdir(parents=True)
    existing.write_text("<html></html>")

    def atlas_plan(**kw):
        return pipeline.plan_run(spec, ctx, every_region=every, **kw).after[0]

    atlas = atlas_plan(regions=["JZ01", "JZ02"])
    assert atlas.parameters["linked_regions"] == ["jz01", "jz02", "jz03"]
    assert not atlas.optional_inputs and existing not in atlas.inputs, "a report's content is not the atlas's input"
    only = atlas_plan(regions=["JZ01", "JZ02"], only=["atlas"])
    assert only.parameters["linked_regions"] == ["jz03"], "without the regional steps only the existing reports"


def test_a_step_that_links_each_region_must_declare_linked_regions(tmp_path):
    (tmp_path / "nb").mkdir()
    make_notebook(tmp_path / "nb" / "two.ipynb", "x = 1", 'output_dir = "out"\nregion = "X"\n')
    make_notebook(tmp_path / "nb" / "three.ipynb", "x = 1", 'output_dir = "out"\n')
    test_spec, ctx = spec_in(tmp_path, {
        "defaults": {"region": "Testland"},
        "stages": {**NATIONAL_AND_REGIONAL, "atlas": {"derived": "{figures}/atlas"}},
        "steps": [{"name": "two", "notebook": "nb/two.ipynb", "stage": "regional", "inputs": [],
                   "outputs": ["double.txt"]},
                  {"name": "three", "notebook": "nb/three.ipynb", "stage": "atlas",
                   "inputs": ["each-region:double.txt"], "outputs": ["summary.txt"]}]})
    with pytest.raises(pipeline.PipelineError, match="three.*each-region:double.txt.*linked_regions"):
        pipeline.plan_run(test_spec, ctx, regions=["A", "B"], every_region=["a", "b"])


def test_region_sizes_count_wijken_once_the_wijk_table_exists_and_gemeenten_before(tmp_path):
    import pandas as pd

    from jeugdhulp_wijken import catalog, synthetic
    from jeugdhulp_wijken.pipeline.schedule import _region_sizes

    ctx = pipeline.Context.make(True, derived=tmp_path / "d", figures=tmp_path / "f", runs=tmp_path / "r",
                                raw=tmp_path / "raw")
    synthetic.generate(ctx.raw)
    plan = pipeline.plan_run(pipeline.load_spec(), ctx, regions=["JZ01", "JZ02", "NL"])
    values = plan.region_values
    assert _region_sizes(ctx, plan.before, values) == {"jz01": 6, "jz02": 6, "nl": 24}, "gemeenten per region"
    data = next(p for p in plan.before if p.step.name == "data_preparation")
    table = pd.DataFrame({"wijk_code": ["WK1", "WK2", "WK3"], "gemeente_code": ["GM9001", "GM9001", "GM9007"]})
    catalog.write(table, "wijk_table_nl", data.output_dir, True)
    assert _region_sizes(ctx, plan.before, values) == {"jz01": 2, "jz02": 1, "nl": 3}, "wijken per region"
    missing = ctx.raw.parent / "elsewhere"
    assert _region_sizes(pipeline.Context.make(True, raw=missing), plan.before, values) == {}, "plan order"


def test_a_user_path_is_absolute_or_relative_to_the_repository_root_or_notebooks(tmp_path):
    assert paths.user_path(tmp_path / "x.csv") == tmp_path / "x.csv"
    assert paths.user_path("pipeline.yml") == paths.ROOT / "pipeline.yml"
    assert paths.user_path("01_data_preparation.ipynb") == paths.NOTEBOOKS / "01_data_preparation.ipynb"
    assert paths.user_path("../pipeline.yml") == paths.ROOT / "pipeline.yml", "as a notebook sees it"
    assert paths.user_path("nowhere/x.csv") == paths.NOTEBOOKS / "nowhere" / "x.csv"


def test_progress_lines_of_steps_side_by_side_are_never_run_together(monkeypatch):
    """Threads that print progress at the same moment each leave whole lines (``print`` writes a line's text
    and its newline in two writes, so on a terminal or pipe two lines could end up on one)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from jeugdhulp_wijken.pipeline.steps import say

    class SlowPipe:  # a write that takes a moment and lets other threads run, as a pipe's does
        def __init__(self):
            self.chunks = []

        def write(self, text):
            time.sleep(0.0002)
            self.chunks.append(text)

        def flush(self):
            time.sleep(0.0002)

    out = SlowPipe()
    monkeypatch.setattr(sys, "stdout", out)

    def talk(worker: int) -> None:
        for i in range(100):
            say(f"[{worker}/4] step {i}: unchanged, served from cache")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(talk, range(4)))
    lines = "".join(out.chunks).splitlines()
    assert len(lines) == 4 * 100
    assert all(re.fullmatch(r"\[\d/4\] step \d+: unchanged, served from cache", ln) for ln in lines)
