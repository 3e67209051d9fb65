"""Local-factor findings that survive one wijk (issue 15) and checked factor-file inputs (issue 14):
exact leave-one-out statistics, a planted extreme wijk that makes a null factor fragile and is named,
coverage groups with their own multiple-testing family, encodings and unmatched wijk codes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from scipy import stats

from jeugdhulp_wijken import local_factors as lf, wijktable

from test_local_factors import constructed_results, factor_entry, sidecar, write_pair


# --------------------------------------------------------------------------- exact leave-one-out

def test_leave_one_out_pearson_equals_refitting():
    rng = np.random.default_rng(11)
    x = rng.normal(size=40)
    y = 0.4 * x + rng.normal(size=40)
    r, p = lf.loo_pearson(x, y)
    for i in (0, 7, 39):
        ref = stats.pearsonr(np.delete(x, i), np.delete(y, i))
        assert r[i] == pytest.approx(ref.statistic) and p[i] == pytest.approx(ref.pvalue)


def test_jackknife_range_and_bh_without_each_wijk_match_brute_force():
    res, fs = constructed_results(n_gem=6, per_gem=10, slope=0.15, noise=1.0, seed=4)
    frame = lf.analysis_frame(lf.add_precision(res)[0], fs)
    corr = lf.correlations(frame, fs.specs, precision=lf.PRECISION)
    out, rows = lf.correlation_influence(frame, corr)
    codes = frame["wijk_code"].tolist()
    loo_r = {f: [stats.pearsonr(np.delete(frame[f].to_numpy(), i), np.delete(frame["difference"].to_numpy(), i))
                 .statistic for i in range(len(codes))] for f in fs.names}
    for f in fs.names:
        row = out.set_index("factor").loc[f]
        assert row["r_loo_min"] == pytest.approx(min(loo_r[f])) and row["r_loo_max"] == pytest.approx(max(loo_r[f]))
    flips = 0
    for i, code in enumerate(codes):
        red = frame.drop(index=i)
        sig = lf.correlations(red, fs.specs, precision=lf.PRECISION).set_index("factor")["significant_bh"]
        for f in fs.names:
            full = bool(corr.set_index("factor").at[f, "significant_bh"])
            if bool(sig[f]) != full:
                flips += 1
                effect = "loses_bh_significance" if full else "gains_bh_significance"
                assert any(r["wijk_code"] == code and r["factor"] == f and r["outcome"] == "precision"
                           and effect in r["effect"] for r in rows), (code, f)
    n_flips = out[["n_significance_flips_precision"]].to_numpy().sum()
    assert n_flips == flips


def test_influence_measures_equal_statsmodels_olsinfluence():
    import statsmodels.api as sm
    from statsmodels.stats.outliers_influence import OLSInfluence
    rng = np.random.default_rng(8)
    X = sm.add_constant(rng.normal(size=(30, 3)))
    y = X @ [1.0, 0.5, -0.3, 0.0] + rng.normal(size=30)
    y[4] += 6
    res = sm.OLS(y, X).fit()
    dfbeta, dfbetas, cooks = lf.influence_measures(res)
    ref = OLSInfluence(res)
    np.testing.assert_allclose(dfbeta, ref.dfbeta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dfbetas, ref.dfbetas, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cooks, ref.cooks_distance[0])
    assert int(np.argmax(cooks)) == 4


@pytest.mark.parametrize("cov_type", ["HC3", "cluster"])
def test_leave_one_out_pvalues_equal_statsmodels_fits(cov_type):
    """The refits of the influence checks compute p-values with numpy; they equal those of statsmodels' fit."""
    import pandas as pd

    from jeugdhulp_wijken.local_factors.stats import _design, fit_ols, ols_pvalues
    rng = np.random.default_rng(11)
    for n, k, n_groups in [(25, 1, 3), (80, 3, 12), (300, 4, 45)]:
        frame = pd.DataFrame({f"x{i}": rng.normal(size=n) * 10.0 ** i for i in range(k)})
        frame["y"] = 0.2 * frame["x0"] + rng.standard_t(3, size=n)
        frame["g"] = [f"GM{v:04d}" for v in rng.integers(0, n_groups, size=n)]
        xs = [f"x{i}" for i in range(k)]
        expected = np.asarray(fit_ols(frame, "y", xs, cov_type=cov_type, groups="g").pvalues)
        got = ols_pvalues(_design(frame, xs), frame["y"].to_numpy(float), cov_type, pd.factorize(frame["g"])[0])
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="cov_type"):
        ols_pvalues(np.ones((5, 1)), np.arange(5.0), "HC1")


# --------------------------------------------------------------------------- one extreme wijk

@pytest.fixture(scope="module")
def planted():
    """The synthetic study's region JZ01 with one planted extreme wijk: small (about 120 youths), the
    highest value of the null factor by far, and observed use 30 points above expected."""
    from _data_helpers import synthetic_build, synthetic_raw_dir
    raw = synthetic_raw_dir()
    table, _, _ = synthetic_build()
    data, meta, _ = wijktable.build_public_local_factors(raw, table, synthetic=True)
    results = lf.results_from_wijk_table(table)
    codes = lf.region_wijken(results, "JZ01", raw)
    region = results[results["wijk_code"].isin(codes) & results["difference"].notna()]
    region = region[region["wijk_code"].isin(data.dropna(subset=["gezondheid_matig_slecht"])["wijk_code"])]
    target = region.loc[(region["youths_0_17_est"] - 120).abs().idxmin(), "wijk_code"]
    res = results.copy()
    i = res.index[res["wijk_code"] == target][0]
    res.loc[i, "observed"] = res.loc[i, "expected_scp"] + 30.0
    res.loc[i, "difference"] = 30.0
    values = data.copy()
    null = "gezondheid_matig_slecht"
    values.loc[values["wijk_code"] == target, null] = min(100.0, values[null].max() + 40)
    return res, values, meta, codes, target


def _factor_set(values, meta, tmp_path):
    csv, _ = lf.write_factor_file(values, meta, tmp_path / "public.csv")
    return lf.combine_factors([lf.read_factor_file(csv)])


def test_one_extreme_wijk_makes_a_null_factor_fragile_and_is_named(planted, tmp_path):
    res, values, meta, codes, target = planted
    fs = _factor_set(values, meta, tmp_path)
    a = lf.run_analysis(res, fs, scope="region", region="JZ01", region_codes=codes, permutations=0)
    corr = a.main.correlations.set_index("factor")
    null = corr.loc["gezondheid_matig_slecht"]
    assert null["significant_bh_raw"], "the planted wijk creates a (spurious) significant correlation"
    assert null["status"] == "fragile"
    assert null["decisive_wijk_code"] == target and null["decisive_wijk_name"]
    assert "loo_sign_flip" in null["reason_codes"] or "loo_loses_significance" in null["reason_codes"]
    infl = a.influence
    named = infl[(infl["factor"] == "gezondheid_matig_slecht") & (infl["wijk_code"] == target)]
    assert len(named) and named["effect"].str.contains("sign_flip|loses_bh_significance").any()
    assert named["wijk_name"].iloc[0] == null["decisive_wijk_name"]
    head = a.metrics["headline"]
    assert "gezondheid_matig_slecht" not in head["region_correlations_robust"]
    assert head["region_correlations_fragile_n"] >= 1
    assert not any("matige tot slechte" in t for t in a.metrics["narrative"]["nl"]), "fragile: not in the narrative"
    assert any(target in t for t in a.metrics["fragile_notes"]["nl"])
    # the true planted effect stays robust
    assert corr.loc["eenzaam", "status"] == "robust"
    table = a.factor_table.set_index("factor")
    assert table.loc["gezondheid_matig_slecht", "status_correlation"] == "fragile"
    assert table.loc["gezondheid_matig_slecht", "decisive_wijk_code"] == target


def test_joint_model_reports_with_and_without_the_most_influential_wijk(planted, tmp_path):
    res, values, meta, codes, target = planted
    a = lf.run_analysis(res, _factor_set(values, meta, tmp_path), scope="region", region="JZ01",
                        region_codes=codes, permutations=0)
    joint = a.metrics["scopes"]["region"]["models"]["joint"]
    wo = joint["without_most_influential"]
    assert wo["wijk_code"] == target and wo["n"] == joint["n"] - 1
    assert {"delta_r2", "cv_leave_one_gemeente_out"} <= set(wo)
    verdict = a.metrics["scopes"]["region"]["hhs_out_of_sample"]
    assert verdict["most_influential_wijk"] == target
    assert "HHS-bevinding" in verdict["sentence"]["nl"] and "HHS finding" in verdict["sentence"]["en"]
    assert target in verdict["sentence"]["nl"]
    reg = a.main.regressions
    cooks = a.influence[(a.influence["analysis"] == "regression") & (a.influence["wijk_code"] == target)]
    assert len(cooks) and (cooks["cooks_d"] > 0).all() and np.isfinite(cooks["dfbetas"]).all()
    assert {"status", "reasons", "coef_per_sd_loo_min_raw", "coef_per_sd_loo_max_raw"} <= set(reg.columns)


# --------------------------------------------------------------------------- coverage groups

def test_a_factor_covering_part_of_the_scope_gets_its_own_group_and_family():
    res, fs = constructed_results(n_gem=12, per_gem=20, slope=0.5)
    part = res["gemeente_code"].isin(["GM9100", "GM9101"])
    rng = np.random.default_rng(3)
    vals = fs.values.assign(monitor=np.where(part.to_numpy(), rng.normal(50, 5, len(res)), np.nan))
    specs = {**fs.specs, "monitor": lf.FactorSpec("monitor", "Monitor", "Monitor", "overig", "%", "test", 2017,
                                                  True, fictional=True, coverage="Testgebied")}
    a = lf.run_analysis(res, lf.FactorSet(vals, specs), scope="nl", permutations=0)
    assert list(a.scopes) == ["nl", "nl_testgebied"]
    g = a.scopes["nl_testgebied"]
    assert g.coverage_label == "Testgebied, 40 wijken" and set(g.correlations["factor"]) == {"monitor"}
    main = a.scopes["nl"].correlations
    assert "monitor" not in set(main["factor"])
    np.testing.assert_allclose(main["p_bh"], lf.adjust_pvalues(main["p"].to_numpy())["p_bh"])
    undeclared = {**specs, "monitor": lf.FactorSpec("monitor", "Monitor", "Monitor", "overig", "%", "test", 2017,
                                                    True)}
    b = lf.run_analysis(res, lf.FactorSet(vals, undeclared), scope="nl", permutations=0)
    assert [s.label for s in b.scopes.values()] == ["Nederland", "Gemeente 00 + Gemeente 01"]
    fig = lf.plot_coefficients(a, "nl")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("[Testgebied, 40 wijken]" in t for t in labels) and any("[Nederland, 240 wijken]" in t for t in labels)


def test_public_factor_file_is_written_by_the_one_writer_with_its_coverage(tmp_path):
    from _data_helpers import synthetic_build, synthetic_raw_dir
    assert not hasattr(wijktable, "write_local_factor_file"), "one factor-file writer only"
    table, _, _ = synthetic_build()
    data, meta, _ = wijktable.build_public_local_factors(synthetic_raw_dir(), table, synthetic=True)
    csv, yml = lf.write_factor_file(data, meta, tmp_path / "synthetic_01_local_factors_public.csv")
    back, m = lf.read_factor_file(csv)
    assert m.factors["elan_wmo_gebruik"].coverage == "ELAN-gebied" and m.factors["eenzaam"].coverage == ""
    assert "mapping" in m.extra and len(back) == len(data)


# --------------------------------------------------------------------------- input checks (issue 14)

LATIN1_CSV = "wijk_code,wijk_name,overlast\nWK051801,Bézuidenhout,12.5\nWK051802,Scheveningen,3\n"


def test_latin1_factor_file_is_refused_with_a_message_naming_the_file(tmp_path):
    csv = tmp_path / "monitor.csv"
    csv.write_bytes(LATIN1_CSV.encode("latin-1"))
    (tmp_path / "monitor.yml").write_text(yaml.safe_dump(sidecar()), encoding="utf-8")
    with pytest.raises(lf.FactorFileError, match=r"monitor\.csv: not readable as UTF-8.*line 2.*Save the file as "
                                                 r"UTF-8.*encoding: latin-1") as info:
        lf.read_factor_file(csv)
    assert not isinstance(info.value, UnicodeDecodeError)


def test_latin1_factor_file_reads_with_the_encoding_declared_in_the_sidecar(tmp_path):
    csv = tmp_path / "monitor.csv"
    csv.write_bytes(LATIN1_CSV.encode("latin-1"))
    (tmp_path / "monitor.yml").write_text(yaml.safe_dump({**sidecar(), "encoding": "latin-1"}), encoding="utf-8")
    df, meta = lf.read_factor_file(csv)
    assert meta.encoding == "latin-1" and df["overlast"].tolist() == [12.5, 3.0]
    out, _ = lf.write_factor_file(df, meta, tmp_path / "utf8" / "monitor.csv")
    assert "encoding" not in (tmp_path / "utf8" / "monitor.yml").read_text(encoding="utf-8")
    assert lf.read_factor_file(out)[0].equals(df)
    (tmp_path / "monitor.yml").write_text(yaml.safe_dump({**sidecar(), "encoding": "klingon"}), encoding="utf-8")
    with pytest.raises(lf.FactorFileError, match=r"monitor\.yml: unknown 'encoding' 'klingon'"):
        lf.read_factor_file(csv)


def test_latin1_sidecar_is_refused_with_a_message_naming_it(tmp_path):
    csv = write_pair(tmp_path, "wijk_code,overlast\nWK051801,1\n", None)
    text = yaml.safe_dump(sidecar(overlast=factor_entry(source="Gemeente Den Haag, wijkmonitor, vraag 3 (é)")),
                          allow_unicode=True)
    (tmp_path / "monitor.yml").write_bytes(text.encode("latin-1"))
    with pytest.raises(lf.FactorFileError, match=r"monitor\.yml: not readable as UTF-8.*Save the file as UTF-8"):
        lf.read_factor_file(csv)


def test_factor_file_matching_no_wijk_is_an_error_and_a_partial_match_a_warning(tmp_path):
    res, fs = constructed_results()
    none = write_pair(tmp_path, "wijk_code,overlast\nWK051801,1\nWK051802,2\n", sidecar(), name="elders")
    with pytest.raises(lf.FactorFileError, match=r"elders\.csv: none of its 2 wijk codes .* is a wijk of the SCP"):
        lf.run_analysis(res, lf.combine_factors([lf.read_factor_file(none)]), scope="nl", permutations=0)
    codes = res["wijk_code"].iloc[:5].tolist()
    text = "wijk_code,overlast\n" + "".join(f"{c},{i}\n" for i, c in enumerate(codes)) + "WK051801,9\nWK051802,9\n"
    some = write_pair(tmp_path, text, sidecar(), name="deels")
    fs2 = lf.combine_factors([lf.read_factor_file(some)])
    with pytest.warns(lf.FactorCoverageWarning, match=r"deels\.csv: 2 of 7 wijk codes match no wijk"):
        a = lf.run_analysis(res, fs2, scope="nl", permutations=0)
    assert any("deels.csv: 2 of 7" in c for c in a.metrics["caveats"])
    assert a.metrics["unmatched_factor_codes"] == 2


def test_factor_files_must_be_a_list():
    with pytest.raises(lf.FactorFileError, match=r"factor_files must be a list.*\['/x\.csv'\]"):
        lf.collect_factors("/nonexistent", factor_files="/x.csv", use_public=False, use_kwb=False)


def test_precision_outcome_is_the_funnel_z_of_the_deviation_module():
    from jeugdhulp_wijken import deviation
    res, _ = constructed_results()
    out, info = lf.add_precision(res)
    od = deviation.estimate_overdispersion(res["observed"], res["expected_scp"], res["youths_0_17_est"])
    assert info["tau2"] == pytest.approx(od["tau2"])
    z = deviation.z_scores(res["observed"], res["expected_scp"], res["youths_0_17_est"], tau2=od["tau2"])
    np.testing.assert_allclose(out["funnel_z"], z)
    assert out["funnel_z"].notna().all() and math.isclose(float(out["se_binomial"].iloc[0]), float(
        deviation.binomial_se(res["expected_scp"].iloc[0], res["youths_0_17_est"].iloc[0])))


# --------------------------------------------------------------------------- real data

@pytest.mark.realdata
def test_real_haaglanden_elan_associations_are_fragile_and_name_binckhorst(tmp_path):
    """Issue 15: the two ELAN associations that survive BH in Haaglanden (r = 0.64 and 0.45) are made
    by one industrial wijk, Binckhorst (WK051839); they are fragile, named, and labelled by coverage."""
    from _data_helpers import real_build, real_raw_dir
    raw = real_raw_dir()
    table, geometry, _ = real_build()
    data, meta, _ = wijktable.build_public_local_factors(raw, table)
    csv, _ = lf.write_factor_file(data, meta, tmp_path / "01_local_factors_public.csv")
    fs = lf.combine_factors([lf.read_factor_file(csv)])
    results = lf.results_from_wijk_table(table)
    a = lf.run_analysis(results, fs, scope="region", region="Haaglanden", region_label="Haaglanden",
                        region_codes=lf.region_wijken(results, "Haaglanden", raw), permutations=0)
    assert list(a.scopes) == ["region", "region_elan_gebied"]
    elan = a.scopes["region_elan_gebied"]
    assert elan.coverage_label == "ELAN-gebied, 63 wijken"
    corr = elan.correlations.set_index("factor")
    for f, r in (("elan_verhuisd_meer_dan_1", 0.64), ("elan_levensgebeurtenissen", 0.45)):
        row = corr.loc[f]
        assert row["r"] == pytest.approx(r, abs=0.01) and row["significant_bh_raw"]
        assert row["status"] == "fragile" and row["decisive_wijk_code"] == "WK051839"
        assert "Binckhorst" in row["decisive_wijk_name"] and row["r_loo_min"] < 0
    infl = a.influence
    assert ((infl["wijk_code"] == "WK051839") & infl["factor"].str.startswith("elan_")
            & infl["effect"].str.contains("sign_flip")).any()
    head = a.metrics["headline"]
    assert "elan" not in head["region_correlations_robust"] + head["region_elan_gebied_correlations_robust"]
    assert not any("ELAN" in t and "Nederland" in t for t in a.metrics["narrative"]["nl"])
    assert all("elan" not in str(f) for f in a.scopes["region"].correlations["factor"]), "not in the region family"
