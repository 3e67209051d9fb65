"""The SCP package on the synthetic study (known truth) and, if present, on real data: the national
fit once, regions as slices of it, and the module structure (no cycles, light regional imports)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from jeugdhulp_wijken import catalog, deviation, paths, regions, wijktable
from jeugdhulp_wijken.dictionary import DETERMINANTS
from jeugdhulp_wijken.scp import ModelOptions, RESULT_COLUMNS, io, model, national, recovered, region, summaries
from jeugdhulp_wijken.scp.options import ModelDataError, check_table
from jeugdhulp_wijken.study import STUDY_AREA_GEMEENTEN, SUPPRESSED_MAX_USERS

from _data_helpers import synthetic_build, synthetic_raw_dir


@pytest.fixture(scope="module")
def synthetic_study():
    table = synthetic_build()[0]
    truth = json.loads((synthetic_raw_dir() / "SYNTHETIC_TRUTH.json").read_text(encoding="utf-8"))
    return table, truth


@pytest.fixture(scope="module")
def synthetic_national(synthetic_study):
    table, _ = synthetic_study
    return national.analyse_national(table, synthetic=True)


@pytest.fixture(scope="module")
def synthetic_fit(synthetic_national):
    return synthetic_national.fit


@pytest.fixture(scope="module")
def national_dir(synthetic_national, tmp_path_factory):
    out = tmp_path_factory.mktemp("national")
    io.write_national(synthetic_national, out, synthetic=True)
    return out


def _region(table, name):
    return regions.resolve_region(name, wijktable.gemeenten_from_table(table))


def _slice(table, name, national_dir, **kw):
    results, metrics = io.read_national_results(national_dir, True)
    summary_nl = {"geometry": {"without_polygon_nl": []}, "local_factors": {"unmapped_2017_wijken_nl": []}}
    return region.slice_region(table, results, metrics, summary_nl, _region(table, name), synthetic=True, **kw)


# ---------------------------------------------------------------------------------- the model
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
    assert ((est["ci_high"] - est["ci_low"]) / 2 * sd).max() < 0.6
    assert (est["estimate"] * sd - beta * sd).abs().max() < 0.5
    assert np.corrcoef(est["estimate"] * sd, beta * sd)[0, 1] > 0.9


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
    rec = recovered.fit_recovered(table)
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
    with_re = summaries.agreement(synthetic_fit.expected, table["perc_przv"], complete)
    fixed = summaries.agreement(model.predict(synthetic_fit, include_random=False), table["perc_przv"], complete)
    assert with_re["r"] > fixed["r"]
    assert with_re["r"] > 0.9


def test_agreement_against_hand_values():
    pred = pd.Series([1.0, 2.0, 4.0, np.nan])
    ref = pd.Series([1.0, 3.0, 3.0, 5.0])
    a = summaries.agreement(pred, ref)
    assert a["n"] == 3
    assert a["mae"] == pytest.approx(2 / 3)
    assert a["max_abs_error"] == pytest.approx(1.0)
    assert a["r"] == pytest.approx(np.corrcoef([1, 2, 4], [1, 3, 3])[0, 1])


# ---------------------------------------------------------------------------------- national stage
def test_national_artefacts_through_the_catalog(synthetic_study, synthetic_national, national_dir):
    table, _ = synthetic_study
    for art in io.NATIONAL_IDS:
        p = catalog.path(art, national_dir, True)
        assert p.is_file() and p.name.startswith("synthetic_02_"), p
    res, m = io.read_national_results(national_dir, True)
    assert list(res.columns) == RESULT_COLUMNS
    assert len(res) == len(table) and res["wijk_code"].tolist() == sorted(table["wijk_code"])
    pd.testing.assert_frame_equal(res, synthetic_national.results)
    for key in ("meta", "reestimated_model", "recovered_model", "coefficient_comparison", "comparison", "variants",
                "target", "gap_explanation", "summary_numbers", "published_comparison", "deviation", "headline"):
        assert key in m, key
    assert m["meta"]["synthetic"] is True and "region" not in m["meta"]
    names = {v["name"] for v in m["variants"]}
    assert {"mixedlm_default", "mixedlm_drop_suppressed", "ols_gemeente_fe", "wls_gemeente_fe_youth_weighted"} <= names
    complete = res["determinants_complete"]
    r = np.corrcoef(res.loc[complete, "expected_reestimated"], res.loc[complete, "expected_scp"])[0, 1]
    assert m["comparison"]["overall"]["complete"]["r"] == pytest.approx(r, abs=1e-9)
    assert m["comparison"]["haaglanden"] is None  # no Haaglanden gemeenten in the synthetic study
    assert m["deviation"]["rule"] == deviation.DEFAULT_RULE
    assert m["deviation"]["nl"]["n_higher"] == int((res["deviation_class"] == deviation.HIGHER).sum())
    # writing is deterministic: same analysis, same bytes
    again = national_dir.parent / "again"
    io.write_national(synthetic_national, again, synthetic=True)
    for art in io.NATIONAL_IDS:
        assert catalog.path(art, again, True).read_bytes() == catalog.path(art, national_dir, True).read_bytes()


def test_every_wijk_classified_with_the_national_overdispersion(synthetic_national):
    res = synthetic_national.results
    od = synthetic_national.metrics["deviation"]["overdispersion"]
    assert od["n"] == int((res["observed"].notna() & (res["youths_0_17_est"] > 0)).sum())
    assert od["phi"] > 0 and od["tau2"] >= 0
    cls, z = deviation.classify(res["observed"], res["expected_scp"], res["youths_0_17_est"],
                                deviation.DEFAULT_RULE, od)
    assert (cls.to_numpy() == res["deviation_class"].to_numpy()).all()
    np.testing.assert_allclose(z, res["z_score"])
    assert (res.loc[res["observed"].isna(), "deviation_class"] == deviation.NO_DATA).all()
    assert np.allclose(res["difference"].dropna(), (res["observed"] - res["expected_scp"]).dropna())
    assert set(res["deviation_rule"]) == {deviation.DEFAULT_RULE}


def test_sensitivity_covers_nl_and_every_jeugdzorgregio(synthetic_national):
    sens = synthetic_national.sensitivity
    res = synthetic_national.results
    assert set(sens["scope"]) == {"nl"} | set(res["jz_code"])  # no study area in the synthetic data
    assert set(sens["rule"]) == set(deviation.RULES)
    jz = sens[(sens["scope"] == "JZ01") & (sens["rule"] == deviation.DEFAULT_RULE)].iloc[0]
    rows = res[res["jz_code"] == "JZ01"]
    assert jz["n_wijken"] == len(rows) and jz["n_higher"] == int((rows["deviation_class"] == deviation.HIGHER).sum())


# ---------------------------------------------------------------------------------- regions
def test_region_slice_is_the_national_rows(synthetic_study, national_dir):
    table, _ = synthetic_study
    s = _slice(table, "JZ01", national_dir)
    res, _ = io.read_national_results(national_dir, True)
    expected = res[res["jz_code"] == "JZ01"].reset_index(drop=True)
    pd.testing.assert_frame_equal(s.results, expected)
    assert s.table["wijk_code"].tolist() == expected["wijk_code"].tolist()
    gt = s.gemeente_table
    assert gt["n_wijken"].sum() == len(expected)
    assert (gt["n_higher"] + gt["n_lower"] + gt["n_as_expected"] + gt["n_no_data"] == gt["n_wijken"]).all()
    assert set(s.extremes["extreme"]) == {"hoogste", "laagste"}
    for code, g in s.extremes.groupby("gemeente_code"):
        hi = g.loc[g["extreme"] == "hoogste", "observed"].iloc[0]
        assert hi == pytest.approx(expected.loc[expected["gemeente_code"] == code, "observed"].max())
    m = s.metrics
    assert m["summary"] == summaries.region_summary(res, _region(table, "JZ01"))
    assert m["region"]["is_study_area"] is False and m["published_comparison"]["published_for_region"] is False
    assert {r["scope"] for r in m["published_comparison"]["rows"]} == {"nl"}
    assert m["data"]["n_wijken"] == len(expected)
    written = io.write_region(s, national_dir.parent / "jz01", synthetic=True)
    assert set(written) == set(io.REGION_IDS)
    back = catalog.read("region_metrics", national_dir.parent / "jz01", True)
    assert back["summary"]["n_wijken"] == len(expected)


def test_region_summary_numbers_by_hand(synthetic_study, national_dir):
    table, _ = synthetic_study
    res, metrics = io.read_national_results(national_dir, True)
    reg = _region(table, "JZ02")
    s = summaries.region_summary(res, reg)
    rows = res[res["gemeente_code"].isin(reg.gemeente_codes)]
    ok = rows["observed"].notna() & (rows["youths_0_17_est"] > 0)
    w = rows.loc[ok, "youths_0_17_est"]
    assert s["observed_weighted"] == pytest.approx(float((rows.loc[ok, "observed"] * w).sum() / w.sum()))
    assert s["observed_unweighted"] == pytest.approx(rows["observed"].mean())
    assert s["expected_unweighted_all"] == pytest.approx(rows["expected_scp"].mean())
    data = rows["deviation_class"] != deviation.NO_DATA
    assert s["share_higher"] == pytest.approx((rows["deviation_class"] == deviation.HIGHER).sum() / data.sum())
    assert s["n_wijken"] == len(rows) and s["deviation_rule"] == deviation.DEFAULT_RULE
    # a list of gemeente codes gives the same numbers as the resolved region
    same = summaries.region_summary(res, list(reg.gemeente_codes))
    assert {k: v for k, v in same.items() if k not in ("region", "slug", "kind")} == \
        {k: v for k, v in s.items() if k not in ("region", "slug", "kind")}


def test_another_rule_reclassifies_without_refit(synthetic_study, national_dir):
    table, _ = synthetic_study
    res, metrics = io.read_national_results(national_dir, True)
    s = _slice(table, "JZ01", national_dir, deviation_rule="funnel95")
    rows = res[res["jz_code"] == "JZ01"]
    cls, _ = deviation.classify(rows["observed"], rows["expected_scp"], rows["youths_0_17_est"], "funnel95")
    assert s.results["deviation_class"].tolist() == cls.tolist()
    assert s.metrics["deviation"]["reclassified"] is True and s.metrics["summary"]["deviation_rule"] == "funnel95"
    assert s.metrics["summary"]["n_higher"] == int((cls == deviation.HIGHER).sum())
    with pytest.raises(ValueError, match="overdispersion"):
        summaries.region_summary(res, _region(table, "JZ01"), deviation_rule="funnel998_tau")
    with pytest.raises(deviation.UnknownRuleError):
        _slice(table, "JZ01", national_dir, deviation_rule="gut_feeling")


def test_regional_path_loads_no_model_library(national_dir, synthetic_study):
    """The regional stage must be cheap: slicing a region imports neither statsmodels nor scipy."""
    code = (
        "import sys, pandas as pd\n"
        "from jeugdhulp_wijken import regions, wijktable\n"
        "from jeugdhulp_wijken.scp import io, region\n"
        f"res, m = io.read_national_results({str(national_dir)!r}, True)\n"
        "table = pd.read_parquet(sys.argv[1])\n"
        "reg = regions.resolve_region('JZ01', wijktable.gemeenten_from_table(table))\n"
        "summary = {'geometry': {'without_polygon_nl': []}, 'local_factors': {'unmapped_2017_wijken_nl': []}}\n"
        "s = region.slice_region(table, res, m, summary, reg, deviation_rule='funnel95', synthetic=True)\n"
        "heavy = sorted(k for k in ('statsmodels', 'scipy', 'sklearn') if k in sys.modules)\n"
        "assert not heavy, heavy\n")
    tpath = national_dir / "table.parquet"
    synthetic_study[0].to_parquet(tpath)
    out = subprocess.run([sys.executable, "-c", code, str(tpath)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_unknown_region_refused_with_valid_list(synthetic_study):
    table, _ = synthetic_study
    with pytest.raises(regions.UnknownRegionError) as exc:
        regions.resolve_region("Atlantis", wijktable.gemeenten_from_table(table))
    assert "JZ01" in str(exc.value) and "NL" in str(exc.value)


def test_missing_columns_give_clear_error(synthetic_study):
    table, _ = synthetic_study
    with pytest.raises(ModelDataError, match="perc_przv"):
        check_table(table.drop(columns=["perc_przv"]))


def test_bad_options_refused():
    with pytest.raises(ValueError, match="suppressed"):
        ModelOptions(suppressed="guess").validate()


def test_package_has_no_import_cycles():
    """Every import inside the package (module level or in a function) forms an acyclic graph."""
    root = paths.PACKAGE
    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        base = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ImportFrom):
                b = base[:len(base) - n.level + 1] if n.level else []
                target = ".".join(b + [n.module]) if n.module else ".".join(b)
                cands = [target] + [f"{target}.{a.name}" for a in n.names]
            elif isinstance(n, ast.Import):
                cands = [a.name for a in n.names]
            else:
                continue
            graph[m] |= {c for c in cands if c in mods and c != m and not m.startswith(c + ".")}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for nxt in sorted(graph[m]):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(stack + [m, nxt])}"
            if nxt not in state:
                visit(nxt, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert "jeugdhulp_wijken.scp.region" in graph and "jeugdhulp_wijken.scp_model" not in graph


# ---------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_data_replication():
    from _data_helpers import real_build

    table = real_build()[0]
    a = national.analyse_national(table, with_variants=False)
    m = a.metrics
    assert m["recovered_model"]["r2"] > 0.995
    assert m["comparison"]["overall"]["complete"]["n"] == 1618
    assert m["comparison"]["overall"]["complete"]["r"] == pytest.approx(0.991, abs=0.002)
    assert round(m["summary_numbers"]["nl"]["observed_weighted"], 1) == 10.3
    hl = summaries.region_summary(a.results, STUDY_AREA_GEMEENTEN, deviation_rule="funnel95",
                                  overdispersion=m["deviation"]["overdispersion"])
    assert hl["n_wijken"] == 102
    assert round(hl["observed_unweighted"], 1) == 11.7
    assert round(hl["expected_unweighted_observed_wijken"], 1) == 11.5
    assert 0.35 <= hl["share_differing"] <= 0.40  # "bijna 40%" with the binomial 95% funnel
