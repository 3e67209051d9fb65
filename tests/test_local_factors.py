"""Tests of jeugdhulp_wijken.local_factors: schema/validator, CBS 83765NED conversion, statistics on
constructed data with known answers, the artefacts and figures, and recovery of the planted effect in
the synthetic study (robust, for both scopes). Robustness, coverage and input checks are in
tests/test_local_factors_robustness.py."""
from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from jeugdhulp_wijken import catalog, figures, local_factors as lf, paths

FICTIONAL_DIR = paths.ROOT / "tests" / "fixtures" / "local_factors_fictional"
FICTIONAL_CSV = FICTIONAL_DIR / "fictional_wijkmonitor_haaglanden.csv"
TEMPLATE_CSV = lf.TEMPLATE_DIR / "hhs_local_factors_template.csv"


# --------------------------------------------------------------------------- helpers

def factor_entry(**over):
    e = {"label_nl": "% test", "label_en": "% test", "cluster": "veiligheid_sociale_cohesie", "unit": "%",
         "source": "Testbron", "year": 2017, "higher_is_worse": True}
    e.update(over)
    return e


def write_pair(tmp_path, csv_text: str, sidecar: dict | None, name: str = "monitor"):
    csv = tmp_path / f"{name}.csv"
    csv.write_text(csv_text, encoding="utf-8")
    if sidecar is not None:
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(sidecar, sort_keys=False), encoding="utf-8")
    return csv


def sidecar(**factors):
    return {"title": "Testmonitor", "fictional": True, "indeling_year": 2017,
            "factors": factors or {"overlast": factor_entry()}}


GOOD_CSV = "wijk_code,overlast\nWK051801,12.5\nWK051802,\nWK051803,30\n"


# --------------------------------------------------------------------------- schema

def test_reads_a_valid_file_with_missing_values(tmp_path):
    df, meta = lf.read_factor_file(write_pair(tmp_path, GOOD_CSV, sidecar()))
    assert list(df.columns) == ["wijk_code", "overlast"]
    assert df["wijk_code"].tolist() == ["WK051801", "WK051802", "WK051803"]
    assert df["overlast"].iloc[0] == 12.5 and math.isnan(df["overlast"].iloc[1])
    spec = meta.factors["overlast"]
    assert spec.cluster == "veiligheid_sociale_cohesie" and spec.year == 2017 and spec.is_percentage
    assert meta.fictional is True and meta.indeling_year == 2017


def test_fictional_fixture_is_valid_and_marked_fictional():
    text = FICTIONAL_CSV.read_text(encoding="utf-8")
    assert text.startswith("# FICTIONAL DATA")
    assert FICTIONAL_CSV.with_suffix(".yml").read_text(encoding="utf-8").startswith("# FICTIONAL DATA")
    df, meta = lf.read_factor_file(FICTIONAL_CSV)
    assert meta.fictional and "FICTIEVE" in meta.title
    assert all(s.fictional for s in meta.factors.values())
    assert len(df) == 102 and df["wijk_code"].is_unique
    assert {s.cluster for s in meta.factors.values()} == {"voorzieningen", "veiligheid_sociale_cohesie"}
    assert df[meta.names].isna().any().any(), "the demo file exercises complete-case handling"


def test_template_lists_every_hhs_factor_and_validates_as_template():
    df, meta = lf.read_factor_file(TEMPLATE_CSV, allow_empty=True)
    assert df.empty
    expected = [n for names in lf.HHS_FACTORS.values() for n in names]
    assert meta.names == expected
    for cluster, names in lf.HHS_FACTORS.items():
        assert all(meta.factors[n].cluster == cluster for n in names)
    with pytest.raises(lf.FactorFileError, match="no data rows"):
        lf.read_factor_file(TEMPLATE_CSV)


def test_filled_template_with_placeholders_is_rejected(tmp_path):
    doc = yaml.safe_load(TEMPLATE_CSV.with_suffix(".yml").read_text(encoding="utf-8"))
    names = list(doc["factors"])
    row = ",".join(["WK051801"] + ["1"] * len(names))
    csv = write_pair(tmp_path, "wijk_code," + ",".join(names) + "\n" + row + "\n", doc)
    with pytest.raises(lf.FactorFileError, match="VUL IN"):
        lf.read_factor_file(csv)


@pytest.mark.parametrize("csv_text, side, pattern", [
    (GOOD_CSV, None, r"sidecar .*monitor\.yml not found"),
    (GOOD_CSV, sidecar(overlast=factor_entry(cluster="gezondheid")), r"unknown cluster 'gezondheid'"),
    (GOOD_CSV, sidecar(overlast={k: v for k, v in factor_entry().items() if k not in ("source", "year")}),
     r"factor 'overlast' lacks key\(s\) \['source', 'year'\]"),
    (GOOD_CSV, {"title": "x", "factors": {"overlast": factor_entry()}}, r"missing top-level key"),
    ("wijk_code,overlast\nWK051801,12.5\nWK051802,veel\nWK051803,\"3,0\"\n", sidecar(),
     r"column 'overlast' has non-numeric value\(s\) \('veel', '3,0'\) at line\(s\) 3 \(WK051802\), 4 \(WK051803\)"),
    ("wijk_code,overlast\nWK051801,1\nWK051801,2\nWK051803,3\n", sidecar(),
     r"duplicated code\(s\) at line\(s\) 2 \(WK051801\), 3 \(WK051801\)"),
    ("wijk_code,overlast\nWK0518-1,1\n51802,2\n", sidecar(),
     r"malformed code\(s\) at line\(s\) 2 \(WK0518-1\), 3 \(51802\)"),
    ("wijk_code,overlast,cohesie\nWK051801,1,2\n", sidecar(), r"column\(s\) \['cohesie'\] have no entry"),
    (GOOD_CSV, sidecar(overlast=factor_entry(), cohesie=factor_entry()),
     r"describes factor\(s\) \['cohesie'\] that are not columns"),
    ("wijk_code,overlast\nWK051801,0.2\nWK051802,120\nWK051803,-1\n", sidecar(),
     r"unit '%' but value\(s\) outside 0-100 at line\(s\) 3 \(WK051802\), 4 \(WK051803\)"),
    ("code,overlast\nWK051801,1\n", sidecar(), r"no 'wijk_code' column"),
    ("wijk_code,overlast\nWK051801,\nWK051802,.\n", sidecar(), r"have no values at all"),
    (GOOD_CSV, sidecar(overlast=factor_entry(higher_is_worse="ja")), r"'higher_is_worse' must be true or false"),
    (GOOD_CSV, sidecar(observed=factor_entry()), r"reserved"),
])
def test_validator_errors_name_file_column_and_rows(tmp_path, csv_text, side, pattern):
    csv = write_pair(tmp_path, csv_text, side)
    with pytest.raises(lf.FactorFileError, match=pattern) as info:
        lf.read_factor_file(csv)
    assert isinstance(info.value, ValueError)
    assert "monitor" in str(info.value), "the message names the file"


def test_comment_lines_shift_reported_line_numbers(tmp_path):
    csv = write_pair(tmp_path, "# fictief\n# tweede regel\nwijk_code,overlast\nWK051801,1\nWK051802,x\n", sidecar())
    with pytest.raises(lf.FactorFileError, match=r"line\(s\) 5 \(WK051802\)"):
        lf.read_factor_file(csv)


def test_non_percentage_units_may_exceed_100(tmp_path):
    side = sidecar(opvang=factor_entry(unit="aantal", cluster="voorzieningen", higher_is_worse=False))
    df, _ = lf.read_factor_file(write_pair(tmp_path, "wijk_code,opvang\nWK051801,140\n", side))
    assert df["opvang"].iloc[0] == 140


def test_write_factor_file_round_trips(tmp_path):
    df, meta = lf.read_factor_file(write_pair(tmp_path, GOOD_CSV, sidecar()))
    csv, yml = lf.write_factor_file(df, meta, tmp_path / "copy" / "kopie.csv", header_comment="fictief\nregel 2")
    assert csv.read_text(encoding="utf-8").startswith("# fictief\n# regel 2\nwijk_code,overlast\n")
    df2, meta2 = lf.read_factor_file(csv)
    pd.testing.assert_frame_equal(df, df2)
    assert meta2.factors["overlast"].label_nl == meta.factors["overlast"].label_nl


def test_combining_files_refuses_duplicate_factor_names(tmp_path):
    a = lf.read_factor_file(write_pair(tmp_path, GOOD_CSV, sidecar(), name="a"))
    b = lf.read_factor_file(write_pair(tmp_path, "wijk_code,overlast\nWK051804,1\n", sidecar(), name="b"))
    with pytest.raises(lf.FactorFileError, match=r"factor name\(s\) \['overlast'\] already come from"):
        lf.combine_factors([a, b])
    c = lf.read_factor_file(write_pair(tmp_path, "wijk_code,cohesie\nWK051801,5\nWK051809,7\n",
                                       sidecar(cohesie=factor_entry()), name="c"))
    fs = lf.combine_factors([a, c])
    assert fs.names == ["overlast", "cohesie"]
    assert fs.values["wijk_code"].tolist() == ["WK051801", "WK051802", "WK051803", "WK051809"]
    assert fs.values.set_index("wijk_code").loc["WK051809", "overlast"] != fs.values.set_index(
        "wijk_code").loc["WK051809", "overlast"]  # NaN: outer join
    assert fs.any_fictional


# --------------------------------------------------------------------------- CBS 83765NED

def fictional_kwb_table(code_col: str = "Codering_3") -> pd.DataFrame:
    """A made-up extract in the 83765NED column layout (values invented)."""
    codes = ["NL00      ", "GM0518    ", "WK051801  ", "BU05180101", "WK051802  ", "WK051803  "]
    df = pd.DataFrame({
        "ID": range(6), "WijkenEnBuurten": ["Nederland", "'s-Gravenhage", "Wijk 01", "Buurt 01", "Wijk 02", "Wijk 03"],
        "SoortRegio_2": ["Land", "Gemeente", "Wijk", "Buurt", "Wijk", "Wijk"],
        "AfstandTotHuisartsenpraktijk_94": ["1.0", "0.9", "0.7", "0.6", ".", "1.5"],
        "AfstandTotKinderdagverblijf_96": ["0.8", "0.5", "0.4", "0.4", "0.6", "2.1"],
        "ScholenBinnen3Km_98": ["8.0", "30.1", "25.0", "22.0", "14.2", "3.3"],
        "TotaalDiefstalUitWoningSchuurED_106": ["5", "7", "9", "3", "", "2"],
    })
    if code_col == "Codering_3":
        df["Codering_3"] = codes
    else:
        df["WijkenEnBuurten"] = codes
    return df


@pytest.mark.parametrize("code_col", ["Codering_3", "WijkenEnBuurten"])
def test_kwb_table_converts_to_factor_format(tmp_path, code_col):
    df, meta = lf.kwb_to_factors(fictional_kwb_table(code_col))
    assert df["wijk_code"].tolist() == ["WK051801", "WK051802", "WK051803"]
    assert meta.names == ["afstand_huisarts", "afstand_kinderdagverblijf", "scholen_binnen_3km", "diefstal_woning"]
    assert df.set_index("wijk_code").loc["WK051803", "scholen_binnen_3km"] == pytest.approx(3.3)
    assert math.isnan(df.set_index("wijk_code").loc["WK051802", "afstand_huisarts"])
    assert math.isnan(df.set_index("wijk_code").loc["WK051802", "diefstal_woning"])
    assert meta.factors["diefstal_woning"].cluster == "veiligheid_sociale_cohesie"
    assert meta.factors["scholen_binnen_3km"].higher_is_worse is False
    assert all("83765NED" in s.source for s in meta.factors.values())
    csv, _ = lf.write_factor_file(df, meta, tmp_path / "kwb.csv")
    back, _ = lf.read_factor_file(csv)
    pd.testing.assert_frame_equal(df, back)


def test_kwb_table_without_usable_columns_is_rejected():
    with pytest.raises(lf.FactorFileError, match="no column with wijk codes"):
        lf.kwb_to_factors(pd.DataFrame({"Codering_3": ["GM0518"], "ScholenBinnen3Km_98": ["1"]}))
    with pytest.raises(lf.FactorFileError, match="none of the facility/crime columns"):
        lf.kwb_to_factors(pd.DataFrame({"Codering_3": ["WK051801"], "AantalInwoners_5": ["1"]}))


def test_find_kwb_table(tmp_path):
    assert lf.find_kwb_table(tmp_path) is None
    assert lf.find_kwb_table(None) is None
    meta = tmp_path / "cbs_kwb_2017" / "cbs_83765NED_metadata"
    meta.mkdir(parents=True)
    (meta / "DataProperties.csv").write_text("Key\n", encoding="utf-8")
    assert lf.find_kwb_table(tmp_path) is None, "metadata files are not the data table"
    target = tmp_path / lf.KWB_LIVE_PATH
    target.parent.mkdir(parents=True)
    fictional_kwb_table().to_csv(target, index=False)
    assert lf.find_kwb_table(tmp_path) == target
    fs = lf.collect_factors(tmp_path / "nothing_here", raw_dir=tmp_path)
    assert fs.names[:2] == ["afstand_huisarts", "afstand_kinderdagverblijf"]
    assert any("83765NED found" in n for n in fs.notes)
    fs2 = lf.collect_factors(tmp_path / "nothing_here", raw_dir=tmp_path / "empty", factor_files=[FICTIONAL_CSV])
    assert any("not in the offline mirror" in n for n in fs2.notes)
    assert any("FICTIONAL" in n for n in fs2.notes)


# --------------------------------------------------------------------------- statistics, known answers

def sample_with_r(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, 0.6 * x + rng.normal(size=n)


def test_fisher_ci_from_scipy_matches_the_formula_and_shrinks_with_n():
    x, y = sample_with_r(28)
    res = lf.pearson(x, y)
    half = 1.959963984540054 / math.sqrt(25)
    assert res["r"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert math.atanh(res["ci_low"]) == pytest.approx(math.atanh(res["r"]) - half)
    assert math.atanh(res["ci_high"]) == pytest.approx(math.atanh(res["r"]) + half)
    big = lf.pearson(*sample_with_r(400))
    assert big["ci_high"] - big["ci_low"] < res["ci_high"] - res["ci_low"]
    assert all(math.isnan(v) for v in lf.pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]).values())


def test_fisher_ci_covers_the_true_correlation_about_95_percent():
    rng = np.random.default_rng(5)
    rho, n, hits, reps = 0.3, 50, 0, 600
    cov = [[1, rho], [rho, 1]]
    for _ in range(reps):
        x = rng.multivariate_normal([0, 0], cov, n)
        res = lf.pearson(x[:, 0], x[:, 1])
        hits += res["ci_low"] <= rho <= res["ci_high"]
    assert 0.92 <= hits / reps <= 0.975


def test_vif_from_statsmodels_equals_one_over_one_minus_r2():
    rng = np.random.default_rng(2)
    a = rng.normal(size=200)
    frame = pd.DataFrame({"a": a, "b": 0.8 * a + rng.normal(scale=0.6, size=200), "c": rng.normal(size=200)})
    v = lf.vif(frame, ["a", "b", "c"])
    for x, others in (("a", ["b", "c"]), ("b", ["a", "c"])):
        X = np.column_stack([np.ones(200)] + [frame[o] for o in others])
        beta, *_ = np.linalg.lstsq(X, frame[x], rcond=None)
        r2 = 1 - ((frame[x] - X @ beta) ** 2).sum() / ((frame[x] - frame[x].mean()) ** 2).sum()
        assert v[x] == pytest.approx(1 / (1 - r2))
    assert v["c"] == pytest.approx(1.0, abs=0.05)
    assert lf.vif(frame, ["a"]) == {"a": 1.0}


def test_adjust_pvalues_holm_and_bh():
    adj = lf.adjust_pvalues([0.01, 0.02, 0.03, 0.04, 0.05, np.nan], alpha=0.05)
    np.testing.assert_allclose(adj["p_bh"].iloc[:5], [0.05] * 5)
    np.testing.assert_allclose(adj["p_holm"].iloc[:5], [0.05, 0.08, 0.09, 0.09, 0.09])
    assert adj["significant_bh"].iloc[:5].tolist() == [True] * 5
    assert adj["significant_holm"].iloc[:5].tolist() == [True, False, False, False, False]
    assert math.isnan(adj["p_bh"].iloc[5]) and not adj["significant_bh"].iloc[5]


def constructed_results(n_gem=12, per_gem=20, slope=0.5, noise=1.0, seed=3):
    rng = np.random.default_rng(seed)
    n = n_gem * per_gem
    gem = np.repeat([f"GM{9100 + g:04d}" for g in range(n_gem)], per_gem)
    codes = [f"WK{9100 + i // per_gem:04d}{i % per_gem:02d}" for i in range(n)]
    x = rng.normal(20, 4, n)
    z = rng.normal(50, 10, n)
    expected = rng.normal(10, 2, n)
    diff = slope * (x - 20) + rng.normal(0, noise, n)
    res = pd.DataFrame({"wijk_code": codes, "wijk_name": [f"Wijk {c[-4:]}" for c in codes], "gemeente_code": gem,
                        "gemeente_name": [f"Gemeente {g[-2:]}" for g in gem], "observed": expected + diff,
                        "expected_scp": expected, "difference": diff,
                        "youths_0_17_est": np.round(rng.uniform(300, 6000, n)),
                        "in_region": gem < f"GM{9100 + n_gem // 2:04d}"})
    vals = pd.DataFrame({"wijk_code": codes, "signaal": x, "ruis": z})
    specs = {"signaal": lf.FactorSpec("signaal", "Signaal", "Signal", "voorzieningen", "aantal", "test", 2017, True, fictional=True),
             "ruis": lf.FactorSpec("ruis", "Ruis", "Noise", "veiligheid_sociale_cohesie", "%", "test", 2017, True, fictional=True)}
    return res, lf.FactorSet(vals, specs, [{"file": "x.csv", "title": "t", "fictional": True,
                                            "indeling_year": 2017, "factors": list(specs), "n_rows": n}])


def test_logo_cv_rewards_a_real_factor_and_not_noise():
    res, fs = constructed_results(slope=0.5, noise=0.5)
    frame = lf.analysis_frame(res, fs)
    cv = lf.logo_cv(frame, ["signaal"])
    assert cv["n_folds"] == 12 and cv["n_predicted"] == len(frame)
    assert cv["rmse_factors"] < 0.5 * cv["rmse_baseline"]
    assert cv["rmse_factors"] == pytest.approx(0.5, rel=0.2)
    assert cv["rmse_scp"] == pytest.approx(float(np.sqrt(np.mean(frame["difference"] ** 2))))
    cv_noise = lf.logo_cv(frame, ["ruis"])
    assert cv_noise["rmse_factors"] >= cv_noise["rmse_baseline"] * 0.995


def test_logo_cv_equals_a_manual_leave_one_group_out_loop():
    res, fs = constructed_results(n_gem=5, per_gem=8)
    frame = lf.analysis_frame(res, fs)
    cv = lf.logo_cv(frame, ["signaal"])
    errs = []
    for g in sorted(frame["gemeente_code"].unique()):
        tr, te = frame[frame.gemeente_code != g], frame[frame.gemeente_code == g]
        X = np.column_stack([np.ones(len(tr)), tr.expected_scp, tr.signaal])
        b = np.linalg.solve(X.T @ X, X.T @ tr.observed.to_numpy())
        errs.extend(te.observed - np.column_stack([np.ones(len(te)), te.expected_scp, te.signaal]) @ b)
    assert cv["rmse_factors"] == pytest.approx(float(np.sqrt(np.mean(np.square(errs)))))


def test_explained_variance_gain_and_residual_r2():
    res, fs = constructed_results(slope=0.5, noise=0.5)
    frame = lf.analysis_frame(res, fs)
    ev = lf.explained_variance(frame, ["signaal"])
    assert ev["delta_r2"] > 0.3 and ev["r2_full"] > ev["r2_base"]
    assert ev["f_test"]["p"] < 1e-6
    assert ev["r2_residual"] == pytest.approx(np.corrcoef(frame["difference"], frame["signaal"])[0, 1] ** 2)
    assert ev["r2_base"] == pytest.approx(np.corrcoef(frame["observed"], frame["expected_scp"])[0, 1] ** 2)


def test_regressions_recover_a_known_slope_with_both_covariances():
    res, fs = constructed_results(slope=0.5, noise=1.0)
    frame = lf.analysis_frame(res, fs)
    reg = lf.regressions(frame, {"joint": ["signaal", "ruis"]}, fs.specs, min_clusters=30)
    assert set(reg["cov_type"]) == {"cluster", "HC3"}
    assert reg.loc[reg["primary"], "cov_type"].unique().tolist() == ["HC3"], "12 gemeenten < 30: HC3 primary"
    sig = reg[(reg["factor"] == "signaal") & reg["primary"]].iloc[0]
    assert sig["ci_low"] < 0.5 < sig["ci_high"] and sig["significant_bh"]
    reg2 = lf.regressions(frame, {"joint": ["signaal", "ruis"]}, fs.specs, min_clusters=10)
    assert reg2.loc[reg2["primary"], "cov_type"].unique().tolist() == ["cluster"]
    clu = reg2[(reg2["factor"] == "signaal") & (reg2["cov_type"] == "cluster")].iloc[0]
    assert clu["df_resid_inference"] == 11  # t(G - 1)
    assert clu["coef"] == pytest.approx(sig["coef"])


def test_correlations_table():
    res, fs = constructed_results(slope=0.5, noise=1.0)
    c = lf.correlations(lf.analysis_frame(res, fs, res.loc[res.in_region, "wijk_code"]), fs.specs)
    row = c.set_index("factor").loc["signaal"]
    assert row["n"] == 120 and row["ci_low"] < row["r"] < row["ci_high"] and row["significant_bh"]
    assert row["p"] == row["p_raw"] and row["significant_bh_raw"], "without a precision outcome, decisions are raw"
    assert row["r"] == pytest.approx(np.corrcoef(res.loc[res.in_region, "difference"],
                                                 fs.values.loc[res.in_region.to_numpy(), "signaal"])[0, 1])


# --------------------------------------------------------------------------- Moran's I

def lattice(nrow: int, ncol: int) -> gpd.GeoDataFrame:
    cells = [(i, j) for i in range(nrow) for j in range(ncol)]
    return gpd.GeoDataFrame({"wijk_code": [f"WK{9200 + i:04d}{j:02d}" for i, j in cells],
                             "row": [i for i, _ in cells], "col": [j for _, j in cells]},
                            geometry=[shapely.box(j * 100, i * 100, (j + 1) * 100, (i + 1) * 100) for i, j in cells],
                            crs=28992)


def test_moran_checkerboard_is_minus_one_with_rook_and_gradient_is_positive():
    g = lattice(8, 8)
    checker = pd.Series(np.where((g["row"] + g["col"]) % 2 == 0, 1.0, -1.0), index=g["wijk_code"])
    m = lf.morans_i(g, checker, contiguity="rook", permutations=199, seed=1)
    assert m["I"] == pytest.approx(-1.0)
    assert m["p_sim"] == pytest.approx(1 / 200)
    gradient = pd.Series((g["row"] + g["col"]).astype(float).to_numpy(), index=g["wijk_code"])
    mq = lf.morans_i(g, gradient, contiguity="queen", permutations=199, seed=1)
    assert mq["I"] > 0.7 and mq["n"] == 64 and mq["islands"] == [] and mq["no_polygon"] == []


def test_moran_reports_islands_and_wijken_without_polygon_and_is_reproducible():
    g = lattice(5, 5)
    island = gpd.GeoDataFrame({"wijk_code": ["WK930001"]}, geometry=[shapely.box(5000, 5000, 5100, 5100)], crs=28992)
    g2 = pd.concat([g[["wijk_code", "geometry"]], island], ignore_index=True)
    rng = np.random.default_rng(0)
    vals = pd.Series(rng.normal(size=27), index=list(g2["wijk_code"]) + ["WK939999"])
    state = np.random.get_state()[1].copy()
    a = lf.morans_i(g2, vals, permutations=99, seed=7)
    b = lf.morans_i(g2, vals, permutations=99, seed=7)
    assert np.array_equal(state, np.random.get_state()[1]), "global random state untouched"
    assert a == b
    assert a["islands"] == ["WK930001"] and a["no_polygon"] == ["WK939999"] and a["n"] == 25


def test_polygonal_drops_line_pieces_of_geometry_collections():
    coll = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(1, 1), (2, 2)])])
    g = gpd.GeoDataFrame({"wijk_code": ["WK000101", "WK000102"]}, geometry=[coll, shapely.box(1, 0, 2, 1)], crs=28992)
    out = lf.polygonal(g)
    assert out.geom_type.tolist() == ["Polygon", "Polygon"]
    m = lf.morans_i(g, pd.Series([1.0, 2.0], index=g["wijk_code"]), permutations=0)
    assert m["n"] == 0 or math.isnan(m["I"])  # fewer than 3 wijken: no statistic, but no crash


# --------------------------------------------------------------------------- outputs and figures

@pytest.fixture(scope="module")
def constructed_analysis():
    res, fs = constructed_results(slope=0.3, noise=1.0)
    g = lattice(12, 20)
    g["wijk_code"] = res["wijk_code"].to_numpy()
    return lf.run_analysis(res, fs, scope="region", geometry=g, region="Testregio", permutations=99), g


LF_ARTEFACTS = ("lf_metrics", "lf_correlations", "lf_regressions", "lf_factor_table", "lf_influence")


def test_write_outputs_writes_every_catalog_artefact(constructed_analysis, tmp_path):
    analysis, _ = constructed_analysis
    written = lf.write_outputs(analysis, tmp_path, synthetic=True)
    assert set(written) == set(LF_ARTEFACTS)
    for art in LF_ARTEFACTS:
        assert written[art] == catalog.path(art, tmp_path, True) and written[art].name.startswith("synthetic_")
    metrics = catalog.read("lf_metrics", tmp_path, True)
    assert metrics["scope"] == "region" and list(metrics["scopes"]) == ["region"]
    s = metrics["scopes"]["region"]
    joint = s["models"]["joint"]
    for key in ("r2_base", "r2_full", "delta_r2", "r2_residual"):
        assert isinstance(joint[key], float)
    assert joint["cv_leave_one_gemeente_out"]["rmse_factors"] > 0
    assert joint["without_most_influential"]["wijk_code"] in set(analysis.main.frame["wijk_code"])
    assert set(s["moran"]) >= {"before", "after"} and s["n_wijken"] == 120 and s["caveats"]
    assert s["coverage_label"] == "Testregio, 120 wijken"
    assert any("FICTIONAL" in c for c in metrics["caveats"])
    assert "funnel z-score" in metrics["significance"] and metrics["precision"]["tau2"] >= 0
    reg = catalog.read("lf_regressions", tmp_path, True)
    assert set(reg["model"]) == {"voorzieningen", "veiligheid_sociale_cohesie", "joint"}
    assert set(reg["outcome"]) == {"precision", "raw"}
    corr = catalog.read("lf_correlations", tmp_path, True)
    assert set(corr["scope"]) == {"region"} and (corr["n"] > 0).all()
    assert {"r_precision", "p_bh", "p_bh_raw", "spearman_rho", "status", "reasons", "r_loo_min"} <= set(corr.columns)
    infl = catalog.read("lf_influence", tmp_path, True)
    assert {"wijk_code", "wijk_name", "effect", "estimate", "estimate_without"} <= set(infl.columns)
    assert (infl["effect"].str.contains("most_influential")).any()
    again = lf.write_outputs(analysis, tmp_path / "again", synthetic=True)
    assert all(written[k].read_bytes() == again[k].read_bytes() for k in LF_ARTEFACTS), "deterministic bytes"


def test_figures_save_under_registered_ids_and_are_deterministic(constructed_analysis, tmp_path):
    analysis, g = constructed_analysis
    caps = lf.figure_captions(analysis, g)
    ids = lf.FIGURE_IDS["region"]
    made = {
        ids["coefficients"]: lambda: lf.plot_coefficients(analysis, "nl"),
        ids["partial_regression"]: lambda: lf.plot_partial_regression(analysis.main, "en"),
        ids["residual_maps"]: lambda: lf.plot_residual_maps(analysis.main, g, "nl"),
        ids["factor_table"]: lambda: lf.plot_factor_table(analysis, "nl"),
    }
    for scope in ("nl", "region"):
        assert set(lf.FIGURE_IDS[scope].values()) == {s.id for s in figures.figures_of_step(lf.figure_step(scope))}
    for fig_id, make in made.items():
        digests = []
        for run in ("a", "b"):
            figures.set_style()
            written = figures.save_figure(make(), fig_id, tmp_path / run, step="local_factors_region", lang="nl",
                                          synthetic=True, **caps)
            digests.append([p.read_bytes() for p in written if p.suffix == ".svg"])
        assert digests[0] == digests[1], f"{fig_id} is not deterministic"


def test_scope_parameter_selects_the_wijken():
    res, fs = constructed_results()
    a = lf.run_analysis(res, fs, scope="nl", permutations=0)
    assert list(a.scopes) == ["nl"] and a.main.coverage_label == "Nederland, 240 wijken"
    assert a.metrics["step"] == "local_factors_nl" and a.metrics["headline"]["nl_n_wijken"] == 240
    codes = res.loc[res["gemeente_code"] == "GM9101", "wijk_code"].tolist() + \
        res.loc[res["gemeente_code"] == "GM9102", "wijk_code"].tolist()
    r = lf.run_analysis(res, fs, scope="region", region="Twee", region_label="Twee gemeenten", region_codes=codes,
                        permutations=0)
    assert list(r.scopes) == ["region"] and len(r.main.frame) == 40 and r.metrics["scope_label"] == "Twee gemeenten"
    with pytest.raises(ValueError, match="scope='landelijk' is not valid"):
        lf.run_analysis(res, fs, scope="landelijk")
    with pytest.raises(ValueError, match="region_codes"):
        lf.run_analysis(res.drop(columns="in_region"), fs, scope="region", region="X")
    with pytest.raises(ValueError, match="No local factors"):
        lf.run_analysis(res, lf.FactorSet(pd.DataFrame({"wijk_code": []}), {}), scope="nl")


# --------------------------------------------------------------------------- synthetic study

SYNTHETIC_FACTORS = {  # Gezondheidsmonitor column -> (factor, transform), as described in the contract
    "% eenzaam*": ("eenzaam", lambda v: v),
    "% ernstig eenzaam*": ("ernstig_eenzaam", lambda v: v),
    "% met goede ervaren gezondheid*": ("gezondheid_matig_slecht", lambda v: 100 - v),
    "% met beperking*": ("beperking", lambda v: v),
    "% met langdurige aandoening*": ("langdurige_aandoening", lambda v: v),
    "% met voldoende regie over het eigen leven*": ("onvoldoende_regie", lambda v: 100 - v),
}


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory):
    """The synthetic study: national table and public factor file as the data step makes them (the
    ELAN-style factors cover jeugdzorgregio JZ01 only), analysed for scope nl and for region JZ01."""
    from _data_helpers import synthetic_build, synthetic_raw_dir
    from jeugdhulp_wijken import regions, wijktable
    raw = synthetic_raw_dir()
    truth = json.loads((raw / "SYNTHETIC_TRUTH.json").read_text(encoding="utf-8"))
    table, geom, _ = synthetic_build()
    data, meta, _ = wijktable.build_public_local_factors(raw, table, synthetic=True)
    national = tmp_path_factory.mktemp("synthetic_national")
    lf.write_factor_file(data, meta, catalog.path("local_factors_public", national, True))
    fs = lf.collect_factors(national, raw_dir=raw, synthetic=True)
    results = lf.results_from_wijk_table(table)
    label = regions.resolve_region("JZ01", regions.load_gemeente_regions(raw)).name
    out = {"nl": lf.run_analysis(results, fs, scope="nl", geometry=geom, permutations=99, synthetic=True),
           "region": lf.run_analysis(results, fs, scope="region", region="JZ01", region_label=label,
                                     region_codes=lf.region_wijken(results, "JZ01", raw), geometry=geom,
                                     permutations=99, synthetic=True)}
    return truth, out


def test_synthetic_planted_effect_is_recovered_as_a_robust_finding(synthetic_study):
    truth, analyses = synthetic_study
    gamma = truth["local_factor_effects"]["eenzaam"]
    assert gamma > 0
    for scope, analysis in analyses.items():
        res = analysis.main
        reg = res.regressions
        row = reg[(reg["model"] == "joint") & reg["primary"] & (reg["outcome"] == "raw") &
                  (reg["factor"] == "eenzaam")].iloc[0]
        assert row["ci_low"] <= gamma <= row["ci_high"], (scope, row["coef"], row["ci_low"], row["ci_high"])
        assert row["significant_bh"] and row["status"] == "robust", scope
        corr = res.correlations.set_index("factor")
        assert corr.loc["eenzaam", "significant_bh"] and corr.loc["eenzaam", "r_precision"] > 0
        assert corr.loc["eenzaam", "status"] == "robust", (scope, corr.loc["eenzaam", "reasons"])
        head = analysis.metrics["headline"]
        assert head[f"{scope}_correlations_robust"] == "eenzaam"
        assert "eenzaam" in head[f"{scope}_joint_model_robust"]
        assert any("eenzaam" in t for t in analysis.metrics["narrative"]["nl"])
    nl = analyses["nl"].metrics["scopes"]["nl"]["models"]["joint"]
    assert nl["delta_r2"] > 0 and nl["cv_leave_one_gemeente_out"]["rmse_factors"] < \
        nl["cv_leave_one_gemeente_out"]["rmse_baseline"]
    assert analyses["nl"].metrics["scopes"]["nl"]["hhs_out_of_sample"]["holds"] is True


def test_synthetic_null_factor_is_not_flagged(synthetic_study):
    truth, analyses = synthetic_study
    assert truth["local_factor_effects"]["gezondheid_matig_slecht"] == 0.0
    for scope, analysis in analyses.items():
        for res in analysis.scopes.values():
            corr = res.correlations.set_index("factor")
            if "gezondheid_matig_slecht" in corr.index:
                assert not corr.loc["gezondheid_matig_slecht", "significant_bh"], scope
            if res.regressions.empty:
                continue
            prim = res.regressions[res.regressions["primary"]]
            flagged = set(prim.loc[prim["significant_bh"], "factor"])
            assert flagged <= {"eenzaam"}, f"only the planted factor may be flagged in {scope}: {flagged}"


def test_synthetic_partial_coverage_is_analysed_within_its_coverage(synthetic_study):
    _, analyses = synthetic_study
    nl = analyses["nl"]
    elan = [n for n in nl.factors.names if n.startswith("elan_")]
    assert elan and list(nl.scopes) == ["nl", "nl_elan_gebied"]
    group = nl.scopes["nl_elan_gebied"]
    assert group.label == "ELAN-gebied" and group.coverage_label == f"ELAN-gebied, {len(group.frame)} wijken"
    assert set(group.frame["gemeente_code"]) <= set(analyses["region"].main.frame["gemeente_code"])
    assert set(nl.scopes["nl"].correlations["factor"]).isdisjoint(elan), "the national family holds no ELAN factor"
    assert set(group.correlations["factor"]) == set(elan) and (group.correlations["group_label"] != "Nederland").all()
    assert nl.metrics["headline"]["nl_elan_gebied_coverage"].startswith("ELAN-gebied")
    # within JZ01 the ELAN factors cover the whole region and belong to its own family
    assert set(elan) <= set(analyses["region"].main.correlations["factor"])
    table = nl.factor_table.set_index("factor")
    assert table.loc[elan[0], "coverage"].startswith("ELAN-gebied")


def test_synthetic_unmatched_factor_codes_are_counted_and_warned(tmp_path):
    from _data_helpers import synthetic_raw_dir
    from jeugdhulp_wijken import synthetic, wijktable
    raw = synthetic_raw_dir()
    truth = json.loads((raw / "SYNTHETIC_TRUTH.json").read_text(encoding="utf-8"))
    scp = wijktable.read_scp_file(raw / wijktable.SCP_ODS)
    gm = pd.read_csv(raw / synthetic.LOCAL_FACTORS_2016)
    vals = pd.DataFrame({"wijk_code": gm["wijkcode"], "eenzaam": gm["% eenzaam*"]})
    csv, _ = lf.write_factor_file(vals, {"title": "Synthetic 2016 factors", "fictional": True, "indeling_year": 2016,
                                         "factors": {"eenzaam": factor_entry(year=2016)}}, tmp_path / "gm2016.csv")
    fs = lf.combine_factors([lf.read_factor_file(csv)])
    with pytest.warns(lf.FactorCoverageWarning, match=rf"{len(truth['local_factor_codes_2016_only'])} of "
                                                      rf"{len(vals)} wijk codes match no wijk"):
        texts = lf.check_wijk_codes(fs, scp["wijk_code"])
    assert "gm2016.csv" in texts[0]
