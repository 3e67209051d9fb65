"""The whole pipeline, run through papermill on the synthetic study (offline, fictional data).

Asserts on the artefacts each step writes, on the synthetic marking, on the cache and on
byte-for-byte reproducible figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from jeugdhulp_wijken import catalog, figures, paths, pipeline, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synthetic-study")
    ctx = pipeline.Context.make(True, derived=tmp / "derived", figures=tmp / "figures", runs=tmp / "runs",
                                raw=tmp / "raw")
    spec = pipeline.load_spec()
    manifest = pipeline.run(spec, ctx, force=True, progress=False)
    return spec, ctx, manifest


def test_every_step_ran_and_the_manifest_is_complete(synthetic_run):
    spec, ctx, manifest = synthetic_run
    assert manifest["status"] == "ok"
    assert [s["name"] for s in manifest["steps"]] == [s.name for s in spec.steps]
    assert all(s["status"] == "ran" for s in manifest["steps"])
    for s in manifest["steps"]:
        assert s["outputs"], s["name"]
        assert all(len(h) == 64 for h in s["outputs"].values())
        assert all(len(h) == 64 for h in s["inputs"].values())
    written = json.loads((ctx.runs / manifest["run_id"] / "manifest.json").read_text())
    assert written["git"]["commit"] is None or len(written["git"]["commit"]) == 40


def test_every_artefact_and_figure_is_marked_synthetic(synthetic_run):
    _, ctx, manifest = synthetic_run
    for step in manifest["steps"]:
        for out in step["outputs"]:
            assert Path(out).name.startswith("synthetic_"), out
            assert Path(out).is_file()
    sidecars = [Path(p) for s in manifest["steps"] for p in s["outputs"]
                if p.endswith(".json") and Path(p).name.startswith("synthetic_fig")]
    assert len(sidecars) == len(figures.load_registry())
    for sc in sidecars:
        assert json.loads(sc.read_text())["caption"].startswith("SYNTHETISCHE DATA")


def test_data_step_builds_the_synthetic_national_table(synthetic_run):
    _, ctx, _ = synthetic_run
    slug = paths.region_slug("JZ01")
    nl = pd.read_parquet(paths.artefact(ctx.derived / slug, "01_wijk_table_nl.parquet", True))
    region = pd.read_parquet(paths.artefact(ctx.derived / slug, "01_wijk_table_region.parquet", True))
    truth = json.loads((ctx.raw / "SYNTHETIC_TRUTH.json").read_text())
    assert nl["wijk_code"].is_unique
    assert set(region["wijk_code"]) < set(nl["wijk_code"])
    assert set(region["jz_code"]) == {"JZ01"}
    assert nl["wijk_code"].str.fullmatch(r"WK\d{6}").all()
    assert "beta" in truth


def test_report_lists_every_registered_figure(synthetic_run):
    _, ctx, _ = synthetic_run
    report = catalog.path("report_html", ctx.figures / paths.region_slug("JZ01"), True).read_text(encoding="utf-8")
    assert "SYNTHETISCHE DATA" in report
    for spec in figures.load_registry().values():
        if spec.step != "atlas":
            assert f'data-figure-id="{spec.id}"' in report


def test_second_run_is_served_from_cache(synthetic_run):
    spec, ctx, _ = synthetic_run
    again = pipeline.run(spec, ctx, fetch=False, progress=False)
    assert [s["status"] for s in again["steps"]] == ["cached"] * len(spec.steps)


def test_every_artefact_and_figure_is_byte_for_byte_reproducible(synthetic_run):
    """A second ``--force`` run (synthetic raw data generated again) writes identical bytes:
    every declared artefact and every registered figure of every step, compared through the
    two run manifests."""
    spec, ctx, first = synthetic_run
    root = ctx.runs.parent
    reference = verify.write_reference(ctx.runs / first["run_id"] / "manifest.json", root / "reference.json",
                                       root=root)
    redo = pipeline.run(spec, ctx, force=True, progress=False)
    manifests = [json.loads((ctx.runs / m["run_id"] / "manifest.json").read_text()) for m in (first, redo)]
    assert manifests[0]["run_id"] != manifests[1]["run_id"]
    for m in manifests:
        assert [s["name"] for s in m["steps"]] == [s.name for s in spec.steps]
        assert all(s["status"] == "ran" for s in m["steps"])
    hashes = [{p: h for s in m["steps"] for p, h in s["outputs"].items()} for m in manifests]
    suffixes = {Path(p).suffix for p in hashes[0]}
    assert {".parquet", ".gpkg", ".csv", ".json", ".png", ".svg", ".html"} <= suffixes
    differing = sorted(p for p in hashes[0] if hashes[0][p] != hashes[1].get(p))
    assert not differing, f"artefacts that differ between two identical runs: {differing}"
    assert set(hashes[1]) == set(hashes[0])
    inputs = [{(s["name"], k): h for s in m["steps"] for k, h in s["inputs"].items()} for m in manifests]
    assert inputs[0] == inputs[1]
    # jhw-verify, run against the reference made from the first run, agrees
    results = verify.verify(ctx.runs / redo["run_id"] / "manifest.json", reference, root=root)
    assert verify.passed(results)
    assert {r.status for r in results} == {"identical"} and len(results) == len(hashes[0])
