"""Tests of the SCP model code on the synthetic study (known truth) and, if present, on real data."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jeugdhulp_wijken import deviation, paths, regions, scp_model
from jeugdhulp_wijken.dictionary import DETERMINANTS
from jeugdhulp_wijken.study import SUPPRESSED_MAX_USERS


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory):
    from jeugdhulp_wijken import synthetic, wijktable

    raw = tmp_path_factory.mktemp("synthetic_raw")
    synthetic.generate(raw)
    table = wijktable.build_national_table(raw)
    truth = json.loads((raw / "SYNTHETIC_TRUTH.json").read_text(encoding="utf-8"))
    return table, truth


@pytest.fixture(scope="session")
def synthetic_fit(synthetic_study):
    table, _ = synthetic_study
    return scp_model.fit_reestimated(table, scp_model.ModelOptions())


@pytest.fixture(scope="session")
def synthetic_analysis(synthetic_study):
    table, _ = synthetic_study
    region = regions.resolve_region("JZ01", scp_model.gemeenten_from_table(table))
    return scp_model.analyse(table, region, synthetic=True)


def test_true_coefficients_inside_95ci(synthetic_study, synthetic_fit):
    _, truth = synthetic_study
    coefs = synthetic_fit.coefficients.set_index("term")
    beta = pd.Series(truth["beta"])[DETERMINANTS]
    est = coefs.loc[DETERMINANTS]
    inside = (est["ci_low"] <= beta) & (beta <= est["ci_high"])
    # about 95% expected; with 27 coefficients >= 85% allows ordinary misses but not a biased model
    assert inside.mean() >= 0.85, inside[~inside]
    z = (est["estimate"] - beta) / est["se"]
    assert z.abs().max() < 3.5
    # not vacuous: intervals must be informative and estimates close to the truth (per SD of X)
    sd = synthetic_fit.sd[DETERMINANTS]
    half_width_per_sd = ((est["ci_high"] - est["ci_low"]) / 2 * sd)
    assert half_width_per_sd.max() < 0.6
    per_sd_true = beta * sd
    per_sd_est = est["estimate"] * sd
    assert (per_sd_est - per_sd_true).abs().max() < 0.5
    assert np.corrcoef(per_sd_est, per_sd_true)[0, 1] > 0.9


def test_variance_components_and_r2(synthetic_study, synthetic_fit):
    _, truth = synthetic_study
    vc = synthetic_fit.variance_components
    assert vc["converged"]
    # residual variance includes the planted local-factor effect, so it is at least sd_residual^2 (roughly)
    assert 0.5 * truth["sd_residual"] ** 2 < vc["wijk"] < 2.5 * truth["sd_residual"] ** 2
    assert 0.25 * truth["sd_gemeente"] ** 2 < vc["gemeente"] < 3 * truth["sd_gemeente"] ** 2
    icc = vc["icc"]
    assert 0 <= icc["region"] <= icc["gemeente_incl_region"] <= 1
    assert 0 < vc["r2_marginal"] <= vc["r2_conditional"] < 1


def test_suppressed_outcomes_imputed_below_censoring_bound(synthetic_study, synthetic_fit):
    table, _ = synthetic_study
    imp = synthetic_fit.imputed_outcome
    supp = table["perc_jhzv"].isna() & (table["inhabitants"] >= 100)
    assert supp.any()
    assert imp[supp].notna().all()
    cap = 100 * SUPPRESSED_MAX_USERS / table["youths_0_17_est"]
    ok = table["youths_0_17_est"].notna() & supp
    assert (imp[ok] <= cap[ok] + 1e-9).all()
    assert (imp[ok] >= 0).all()
    assert imp[~supp].isna().all()


def test_recovered_model_reproduces_expectation(synthetic_study):
    table, truth = synthetic_study
    rec = scp_model.fit_recovered(table)
    assert rec.metrics["r2"] > 0.999
    assert rec.metrics["max_abs_error"] < 0.05
    coefs = rec.coefficients.set_index("term")["estimate"]
    varying = [d for d in DETERMINANTS if d not in rec.metrics["gemeente_level_determinants"]]
    assert "samenw" in rec.metrics["gemeente_level_determinants"]
    for d in varying:
        assert coefs[d] == pytest.approx(truth["beta"][d], rel=0.02, abs=1e-4), d


def test_expected_includes_random_effects(synthetic_study, synthetic_fit):
    table, _ = synthetic_study
    complete = table[DETERMINANTS].notna().all(axis=1)
    with_re = scp_model.agreement(synthetic_fit.expected, table["perc_przv"], complete)
    fixed = scp_model.agreement(synthetic_fit.fixed, table["perc_przv"], complete)
    assert with_re["r"] > fixed["r"]
    assert with_re["r"] > 0.9


def test_agreement_against_hand_values():
    pred = pd.Series([1.0, 2.0, 4.0, np.nan])
    ref = pd.Series([1.0, 3.0, 3.0, 5.0])
    a = scp_model.agreement(pred, ref)
    assert a["n"] == 3
    assert a["mae"] == pytest.approx(2 / 3)
    assert a["max_abs_error"] == pytest.approx(1.0)
    assert a["r"] == pytest.approx(np.corrcoef([1, 2, 4], [1, 3, 3])[0, 1])


def test_metrics_json_keys(synthetic_analysis, tmp_path):
    written = scp_model.write_outputs(synthetic_analysis, tmp_path, synthetic=True)
    for key, name in scp_model.OUTPUT_NAMES.items():
        assert written[key] == paths.artefact(tmp_path, name, True)
        assert written[key].is_file() and written[key].name.startswith("synthetic_")
    m = json.loads(written["metrics"].read_text(encoding="utf-8"))
    for key in ("meta", "reestimated_model", "recovered_model", "coefficient_comparison", "comparison", "variants",
                "target", "gap_explanation", "summary_numbers", "published_comparison", "deviation"):
        assert key in m, key
    assert m["meta"]["synthetic"] is True
    assert {"region", "gemeente", "wijk"} <= set(m["reestimated_model"]["variance_components"])
    assert {"complete", "all"} <= set(m["comparison"]["overall"])
    names = {v["name"] for v in m["variants"]}
    assert {"mixedlm_default", "mixedlm_drop_suppressed", "ols_gemeente_fe", "wls_gemeente_fe_youth_weighted"} <= names
    # r is computed, consistent with the results file
    res = pd.read_parquet(written["results_nl"])
    complete = synthetic_analysis.fit.design.complete
    r = np.corrcoef(res.loc[complete.values, "expected_reestimated"], res.loc[complete.values, "expected_scp"])[0, 1]
    assert m["comparison"]["overall"]["complete"]["r"] == pytest.approx(r, abs=1e-5)
    assert m["target"]["r_complete_headline"] == pytest.approx(r, abs=1e-5)
    assert m["comparison"]["haaglanden"] is None  # no Haaglanden gemeenten in the synthetic study
    assert m["deviation"]["rule"] == deviation.DEFAULT_RULE


def test_results_columns(synthetic_analysis):
    res = synthetic_analysis.results
    assert list(res.columns) == scp_model.RESULT_COLUMNS
    assert set(res["deviation_class"]) <= set(deviation.CLASSES)
    assert (res.loc[res["observed"].isna(), "deviation_class"] == deviation.NO_DATA).all()
    diff = res["observed"] - res["expected_scp"]
    assert np.allclose(res["difference"].dropna(), diff.dropna())
    reg = synthetic_analysis.region_results
    assert reg["in_region"].all() and (reg["jz_code"] == "JZ01").all()
    gt = synthetic_analysis.gemeente_table
    assert gt["n_wijken"].sum() == len(reg)
    assert (gt["n_higher"] + gt["n_lower"] + gt["n_as_expected"] + gt["n_no_data"] == gt["n_wijken"]).all()
    app = synthetic_analysis.appendix
    assert set(app["extreme"]) == {"hoogste", "laagste"}
    for code, g in app.groupby("gemeente_code"):
        hi = g.loc[g["extreme"] == "hoogste", "observed"].iloc[0]
        assert hi == pytest.approx(reg.loc[reg["gemeente_code"] == code, "observed"].max())


def test_unknown_region_refused_with_valid_list(synthetic_study):
    table, _ = synthetic_study
    gem = scp_model.gemeenten_from_table(table)
    with pytest.raises(regions.UnknownRegionError) as exc:
        regions.resolve_region("Atlantis", gem)
    msg = str(exc.value)
    assert "JZ01" in msg and "NL" in msg


def test_missing_columns_give_clear_error(synthetic_study):
    table, _ = synthetic_study
    with pytest.raises(scp_model.ModelDataError, match="perc_przv"):
        scp_model.check_table(table.drop(columns=["perc_przv"]))


def test_bad_options_refused():
    with pytest.raises(ValueError, match="suppressed"):
        scp_model.ModelOptions(suppressed="guess").validate()


@pytest.mark.realdata
def test_real_data_replication():
    from _data_helpers import real_build

    table = real_build()[0]
    region = regions.resolve_region("Haaglanden", scp_model.gemeenten_from_table(table))
    a = scp_model.analyse(table, region, with_variants=False)
    m = a.metrics
    assert m["recovered_model"]["r2"] > 0.995
    assert m["comparison"]["overall"]["complete"]["n"] == 1618
    assert m["comparison"]["overall"]["complete"]["r"] >= 0.98
    nl = m["summary_numbers"]["nl"]
    assert round(nl["observed_weighted"], 1) == 10.3
    hl = m["summary_numbers"]["haaglanden"]
    assert round(hl["observed_unweighted"], 1) == 11.7
    assert hl["n_wijken"] == 102
