"""The whole pipeline, run through papermill on the synthetic study (offline, fictional data).

Asserts on the artefacts each step writes, on the synthetic marking, on the cache and on
byte-for-byte reproducible figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from jeugdhulp_wijken import catalog, figures, paths, pipeline, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """``--region all`` on the synthetic study: the national stage, every region, the atlas."""
    tmp = tmp_path_factory.mktemp("synthetic-study")
    ctx = pipeline.Context.make(True, derived=tmp / "derived", figures=tmp / "figures", runs=tmp / "runs",
                                raw=tmp / "raw")
    spec = pipeline.load_spec()
    manifest = pipeline.run(spec, ctx, regions=["all"], force=True, progress=False)
    return spec, ctx, manifest


def ran(manifest):
    return sorted((s["name"], s.get("region") or "") for s in manifest["steps"] if s["status"] == "ran")


def test_every_step_ran_once_per_stage_and_the_manifest_is_complete(synthetic_run):
    spec, ctx, manifest = synthetic_run
    assert manifest["status"] == "ok"
    regions = manifest["regions"]
    assert regions[:2] == ["nl", "jz01"] and len(regions) == 5  # NL and the 4 synthetic jeugdzorgregio's
    shared = [s.name for s in spec.steps if not spec.per_region(s)]
    regional = [s.name for s in spec.steps if spec.per_region(s)]
    assert ran(manifest) == sorted([(n, "") for n in shared] + [(n, r) for n in regional for r in regions])
    for s in manifest["steps"]:
        assert s["outputs"], s["name"]
        assert all(len(h) == 64 for h in s["outputs"].values())
        assert all(len(h) == 64 for h in s["inputs"].values())
    written = json.loads((ctx.runs / manifest["run_id"] / "manifest.json").read_text())
    assert written["git"]["commit"] is None or len(written["git"]["commit"]) == 40


def test_every_region_has_its_folder_report_and_figures(synthetic_run):
    spec, ctx, manifest = synthetic_run
    regional_figures = [f for f in figures.load_registry().values()
                        if f.step in {s.name for s in spec.steps if spec.per_region(s)}]
    for slug in manifest["regions"]:
        assert catalog.path("report_html", ctx.figures / slug, True).is_file(), slug
        assert catalog.path("region_metrics", ctx.derived / slug, True).is_file(), slug
        for fig in regional_figures:
            for f in figures.figure_files(fig, ctx.figures / slug, True):
                assert f.is_file(), f


def _resolve(ctx, path):
    return ctx.root / path if not Path(path).is_absolute() else Path(path)


def test_every_artefact_and_figure_is_marked_synthetic(synthetic_run):
    _, ctx, manifest = synthetic_run
    for step in manifest["steps"]:
        for out in step["outputs"]:
            assert Path(out).name.startswith("synthetic_"), out
            assert _resolve(ctx, out).is_file()
    sidecars = {Path(p).name for s in manifest["steps"] for p in s["outputs"]
                if p.endswith(".json") and Path(p).name.startswith("synthetic_fig")}
    assert sidecars
    for s in manifest["steps"]:
        for p in s["outputs"]:
            if p.endswith(".json") and Path(p).name.startswith(("synthetic_fig", "synthetic_atlas_")):
                assert json.loads(_resolve(ctx, p).read_text())["caption"].startswith("SYNTHETISCHE DATA")


def test_data_step_builds_the_synthetic_national_table_and_regions_slice_it(synthetic_run):
    _, ctx, _ = synthetic_run
    nl = catalog.read("wijk_table_nl", ctx.derived / "national", True)
    region = catalog.read("wijk_table_region", ctx.derived / "jz01", True)
    truth = json.loads((ctx.raw / "SYNTHETIC_TRUTH.json").read_text())
    assert nl["wijk_code"].is_unique
    assert set(region["wijk_code"]) < set(nl["wijk_code"])
    assert set(region["jz_code"]) == {"JZ01"}
    assert nl["wijk_code"].str.fullmatch(r"WK\d{6}").all()
    assert "beta" in truth


def test_atlas_table_is_the_page_data_and_equals_each_region_run(synthetic_run):
    _, ctx, manifest = synthetic_run
    atlas_dir = ctx.figures / "atlas"
    table = catalog.read("atlas_table", atlas_dir, True)
    page = catalog.path("atlas_html", atlas_dir, True).read_text(encoding="utf-8")
    assert "SYNTHETISCHE DATA" in page and "<img src=\"data:image/png;base64," in page
    assert not any(x in page for x in ('src="http', "href=\"http", "src='http"))
    assert sorted(table["slug"]) == sorted(manifest["regions"])
    for _, row in table.iterrows():
        assert f'data-region="{row["region_value"]}"' in page
        assert f'href="../{row["slug"]}/synthetic_rapport.html"' in page
        summary = catalog.read("region_metrics", ctx.derived / row["slug"], True)["summary"]
        for key in ("n_wijken", "observed_weighted", "expected_weighted_observed_wijken", "observed_unweighted",
                    "expected_unweighted_observed_wijken", "share_higher", "share_lower", "difference_weighted"):
            assert row[key] == pytest.approx(summary[key], rel=1e-12, abs=1e-12), (row["slug"], key)
        assert row["ci_low"] <= row["difference_weighted"] <= row["ci_high"]


def test_a_region_alone_equals_its_atlas_row(synthetic_run, tmp_path):
    spec, ctx, _ = synthetic_run
    alone = pipeline.Context.make(True, derived=tmp_path / "derived", figures=tmp_path / "figures",
                                  runs=tmp_path / "runs", raw=tmp_path / "raw")
    manifest = pipeline.run(spec, alone, region="JZ02", progress=False)
    assert manifest["regions"] == ["jz02"] and "atlas" not in {s["name"] for s in manifest["steps"]}
    summary = catalog.read("region_metrics", alone.derived / "jz02", True)["summary"]
    row = catalog.read("atlas_table", ctx.figures / "atlas", True).set_index("slug").loc["jz02"]
    for key in ("n_wijken", "observed_weighted", "expected_weighted_observed_wijken", "share_higher",
                "share_lower"):
        assert row[key] == pytest.approx(summary[key], rel=1e-12, abs=1e-12), key


def test_another_region_after_the_others_runs_only_the_regional_stage(synthetic_run):
    spec, ctx, _ = synthetic_run
    again = pipeline.run(spec, ctx, region=["GM9001", "GM9002"], fetch=False, progress=False)
    regional = {s.name for s in spec.steps if spec.per_region(s)}
    assert {n for n, _ in ran(again)} == regional
    assert all(s["status"] == "cached" for s in again["steps"] if s["name"] not in regional)


def test_report_lists_every_registered_figure(synthetic_run):
    _, ctx, _ = synthetic_run
    report = catalog.path("report_html", ctx.figures / paths.region_slug("JZ01"), True).read_text(encoding="utf-8")
    assert "SYNTHETISCHE DATA" in report
    for spec in figures.load_registry().values():
        if spec.step != "atlas":
            assert f'data-figure-id="{spec.id}"' in report


def test_second_run_is_served_from_cache(synthetic_run):
    spec, ctx, first = synthetic_run
    again = pipeline.run(spec, ctx, regions=["all"], fetch=False, progress=False)
    assert len(again["steps"]) == len(first["steps"])
    assert {s["status"] for s in again["steps"]} == {"cached"}


def test_every_artefact_and_figure_is_byte_for_byte_reproducible(synthetic_run):
    """A second ``--force`` run (synthetic raw data generated again) writes identical bytes:
    every declared artefact and every registered figure of every step, compared through the
    two run manifests."""
    spec, ctx, first = synthetic_run
    root = ctx.runs.parent
    reference = verify.write_reference(ctx.runs / first["run_id"] / "manifest.json", root / "reference.json",
                                       root=root)
    redo = pipeline.run(spec, ctx, regions=["all"], force=True, progress=False)
    manifests = [json.loads((ctx.runs / m["run_id"] / "manifest.json").read_text()) for m in (first, redo)]
    assert manifests[0]["run_id"] != manifests[1]["run_id"]
    for m in manifests:
        assert all(s["status"] == "ran" for s in m["steps"])
    assert sorted(ran(manifests[0])) == sorted(ran(manifests[1]))
    hashes = [{p: h for s in m["steps"] for p, h in s["outputs"].items()} for m in manifests]
    suffixes = {Path(p).suffix for p in hashes[0]}
    assert {".parquet", ".gpkg", ".csv", ".json", ".png", ".svg", ".html"} <= suffixes
    differing = sorted(p for p in hashes[0] if hashes[0][p] != hashes[1].get(p))
    assert not differing, f"artefacts that differ between two identical runs: {differing}"
    assert set(hashes[1]) == set(hashes[0])
    inputs = [{(s["name"], s.get("region"), k): h for s in m["steps"] for k, h in s["inputs"].items()}
              for m in manifests]
    assert inputs[0] == inputs[1]
    # jhw-verify, run against the reference made from the first run, agrees
    results = verify.verify(ctx.runs / redo["run_id"] / "manifest.json", reference, root=root)
    assert verify.passed(results)
    assert {r.status for r in results} == {"identical"} and len(results) == len(hashes[0])
