"""The whole study on the real 2017 data, run through papermill as `make reproduce` does.

Reads the raw data through the fetch layer from the mirror (DATA_MIRROR or ../shared/data) into a
temporary folder, and asserts on the artefacts that each step writes.
"""
from __future__ import annotations

import shutil

import pytest

from jeugdhulp_wijken import catalog, figures, paths, pipeline, verify

from _data_helpers import real_study_context

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    spec, ctx, mirror = real_study_context(tmp_path_factory, "real-study")
    manifest = pipeline.run(spec, ctx, force=True, progress=False, mirror=mirror, online=False)
    return spec, ctx, manifest


def test_full_study_runs_for_haaglanden(real_run):
    spec, ctx, manifest = real_run
    assert manifest["status"] == "ok" and manifest["regions"] == ["haaglanden"]
    single_region_steps = [s.name for s in spec.steps if s.name != "atlas"]
    assert [s["name"] for s in manifest["steps"]] == single_region_steps
    assert [s["status"] for s in manifest["steps"]] == ["ran"] * len(single_region_steps)
    raw_inputs = manifest["steps"][0]["inputs"]
    assert any(p.endswith("Wijkdata_Jeugdhulp_in_de_wijk.ods") for p in raw_inputs)
    assert "0823dbf727b9aab2bc30b800e02c21dfdde15ca8756a4db759de88b1fdbc82aa" in raw_inputs.values()


def test_the_run_equals_the_committed_reference(real_run):
    """What a reviewer's `make reproduce verify` checks: every artefact of a fresh --force run of the
    default study equals the reference (notebooks/reference/reference_manifest.json); the report
    may differ only in the commit it names. After an intended change of results, `make reference`."""
    _, ctx, manifest = real_run
    root = ctx.derived.parents[1]
    results = verify.verify(ctx.runs / manifest["run_id"] / "manifest.json", verify.REFERENCE_MANIFEST, root=root)
    assert verify.passed(results), verify.report(results)
    assert {r.status for r in results} <= {"identical", verify.PROVENANCE}


def test_national_and_study_area_tables(real_run):
    _, ctx, _ = real_run
    nl = catalog.read("wijk_table_nl", ctx.derived / "national")
    region = catalog.read("wijk_table_region", ctx.derived / "haaglanden")
    assert len(nl) == 2918 and nl["gemeente_code"].nunique() == 388 and nl["jz_code"].nunique() == 42
    assert (nl["jz_code"] == "JZ24").sum() == 103
    assert len(region) == 102 and region["gemeente_code"].nunique() == 9
    ok = nl["perc_jhzv"].notna()
    weighted = (nl.loc[ok, "perc_jhzv"] * nl.loc[ok, "youths_0_17_est"]).sum() / nl.loc[ok, "youths_0_17_est"].sum()
    assert weighted == pytest.approx(10.3, abs=0.05)


def test_every_registered_figure_and_the_report_exist(real_run):
    _, ctx, _ = real_run
    report = catalog.path("report_html", ctx.figures / "haaglanden").read_text(encoding="utf-8")
    key = catalog.read("key_numbers", ctx.figures / "haaglanden")
    for fig in key["figures"]:
        assert f'data-figure-id="{fig["id"]}"' in report
    assert {f["id"] for f in key["figures"]} >= {f.id for f in figures.load_registry().values()
                                                 if f.step not in ("atlas",)}
    assert "SYNTHETISCHE" not in report
    assert key["deviations"], "the report must state the deviations from the published study"


def test_published_figures_and_replication_targets(real_run):
    _, ctx, _ = real_run
    m = catalog.read("scp_metrics_nl", ctx.derived / "national")
    region = catalog.read("region_metrics", ctx.derived / "haaglanden")
    match = m["published_comparison"]["aggregation_matching_published"]
    # NL 10.3 (youth-weighted), Haaglanden observed 11.7 and expected 11.5 (means over wijken)
    assert {k: v["matches_at_one_decimal"] for k, v in match.items()} == {
        "nl_observed": True, "haaglanden_observed": True, "haaglanden_expected": True}
    assert match["nl_observed"]["closest_aggregation"] == "observed_weighted"
    assert m["comparison"]["overall"]["complete"]["r"] >= 0.99
    assert m["recovered_model"]["r2"] > 0.99
    assert region["summary"]["n_wijken"] == 102
    # "almost 40%" of Haaglanden wijken differ clearly: the plain binomial 95% funnel gives it
    sens = catalog.read("scp_sensitivity", ctx.derived / "national")
    hl = sens[(sens["scope"] == "haaglanden") & (sens["rule"] == "funnel95")]["share_differing"].iloc[0]
    assert 0.35 <= hl <= 0.40
    lf_region = catalog.read("lf_metrics", ctx.derived / "haaglanden")
    lf_nl = catalog.read("lf_metrics", ctx.derived / "national")
    assert lf_region["n_wijken_in_scope"] == 102
    assert lf_nl["n_wijken_in_scope"] == 2918
    for scope in (lf_region["scopes"]["region"], lf_nl["scopes"]["nl"]):
        joint = scope["models"]["joint"]
        assert {"r2_base", "r2_full", "delta_r2", "cv_leave_one_gemeente_out"} <= set(joint)
        assert scope["moran"]["before"]["n"] > 0


def test_report_states_deviations_and_the_published_figures(real_run):
    _, ctx, _ = real_run
    key = catalog.read("key_numbers", ctx.figures / "haaglanden")
    steps_with_deviations = {d["step"] for d in key["deviations"]}
    assert {"data_preparation", "scp_model", "region", "local_factors", "qualitative_coding"} <= steps_with_deviations
    rows = {r["figure"]: r for r in key["published_vs_reproduced"]}
    assert [rows[f]["published"]["text"] for f in ("nl_observed", "haaglanden_observed", "haaglanden_expected",
                                                   "haaglanden_share_differing")] == ["10,3%", "11,7%", "11,5%", "40%"]
    assert rows["nl_observed"]["aggregation"] == "observed_weighted"
    assert all(rows[f]["aggregation"] for f in rows)
    report = catalog.path("report_html", ctx.figures / "haaglanden").read_text(encoding="utf-8")
    assert "bijna 40%" in report and "11,7%" in report and "r = 0,99" in report


def test_local_factor_step_takes_a_user_supplied_factor_file(real_run, tmp_path):
    spec, ctx, _ = real_run
    fixture = paths.ROOT / "tests" / "fixtures" / "local_factors_fictional" / "fictional_wijkmonitor_haaglanden.csv"
    for folder in ("national", "haaglanden"):
        shutil.copytree(ctx.derived / folder, tmp_path / "derived" / folder)
    ctx2 = pipeline.Context.make(False, derived=tmp_path / "derived", figures=tmp_path / "figures",
                                 runs=tmp_path / "runs", raw=ctx.raw)
    manifest = pipeline.run(spec, ctx2, only=["local_factors_region"], overrides={"factor_files": [str(fixture)]},
                            fetch=False, progress=False)
    assert [s["status"] for s in manifest["steps"]] == ["ran"]
    lf = catalog.read("lf_metrics", ctx2.derived / "haaglanden")
    user = [f for f in lf["factor_files"] if f.get("fictional")]
    assert user, "the fictional factor file must be listed and marked fictional"
    table = catalog.read("lf_factor_table", ctx2.derived / "haaglanden")
    user_factors = table[table["fictional"].astype(bool)]
    assert len(user_factors) >= 1
    assert any("FICTIONAL" in c for c in lf["caveats"])


def test_second_run_is_served_from_cache(real_run):
    spec, ctx, _ = real_run
    again = pipeline.run(spec, ctx, fetch=False, progress=False)
    assert {s["status"] for s in again["steps"]} == {"cached"}


def test_readme_quotes_the_numbers_the_pipeline_writes(real_run):
    _, ctx, _ = real_run
    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    m = catalog.read("scp_metrics_nl", ctx.derived / "national")
    match = m["published_comparison"]["aggregation_matching_published"]
    sens = catalog.read("scp_sensitivity", ctx.derived / "national").set_index(["scope", "rule"])
    lf = catalog.read("lf_metrics", ctx.derived / "haaglanden")["scopes"]["region"]["models"]["joint"]
    quoted = [
        f"| {match['nl_observed']['value']:.2f}% |", f"| {match['haaglanden_observed']['value']:.2f}% |",
        f"| {match['haaglanden_expected']['value']:.2f}% |",
        f"| {sens.loc[('haaglanden', 'funnel95'), 'share_differing']:.1%} |",
        f"flags {sens.loc[('haaglanden', 'funnel95_tau'), 'share_differing']:.1%} of the Haaglanden",
        f"r = {m['comparison']['overall']['complete']['r']:.3f}",
        f"from {lf['r2_base']:.2f} to {lf['r2_full']:.2f}",
        f"RMSE {lf['cv_leave_one_gemeente_out']['rmse_factors']:.2f} against "
        f"{lf['cv_leave_one_gemeente_out']['rmse_baseline']:.2f}",
        f"expected use is {m['summary_numbers']['haaglanden']['expected_weighted_all']:.2f}%",
    ]
    missing = [q for q in quoted if q not in readme]
    assert not missing, f"README.md does not quote these pipeline results: {missing}"
