"""National wijk table: readers, validators, youth estimate, outputs (synthetic and real data)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jeugdhulp_wijken import overview, regions, wijktable
from jeugdhulp_wijken.dictionary import DETERMINANTS

from _data_helpers import real_build, real_raw_dir, synthetic_build, synthetic_raw_dir


def test_wijk_code_from_number():
    out = wijktable.wijk_code_from_number(pd.Series([51801, 300, 9001099]))
    assert out.tolist() == ["WK051801", "WK000300", "WK9001099"]


def test_estimate_youths_formula():
    est = wijktable.estimate_youths(pd.Series([1000.0]), pd.Series([20.0]), pd.Series([10.0]))
    assert est.iloc[0] == pytest.approx(1000 * (20 + 3) / 100)
    assert wijktable.estimate_youths(1000.0, 20.0, 10.0, share_15_24=0.0) == pytest.approx(200.0)


def test_check_year_refuses_other_years():
    assert wijktable.check_year(2017) == 2017
    with pytest.raises(wijktable.UnsupportedYearError, match="only for 2017"):
        wijktable.check_year(2019)


def test_synthetic_table_schema_and_truth():
    table, gdf, missing = synthetic_build()
    truth = json.loads((synthetic_raw_dir() / "SYNTHETIC_TRUTH.json").read_text())
    assert list(table.columns) == wijktable.TABLE_COLUMNS
    assert len(table) == truth["n_wijken"]
    assert table["wijk_code"].is_monotonic_increasing
    assert table["wijk_code"].str.match(r"^WK9\d{5}$").all()
    assert int(table["flag_suppressed"].sum()) == truth["n_suppressed"]
    assert table.loc[table["flag_suppressed"], ["perc_jhzv", "residu"]].isna().all().all()
    assert table["perc_przv"].notna().all()
    for d in DETERMINANTS:
        assert int(table[d].isna().sum()) == truth["missing_determinants"][d], d
    assert (table["n_missing_determinants"] == table[DETERMINANTS].isna().sum(axis=1)).all()
    assert (table["flag_small_wijk"] == (table["inhabitants"] < 1000)).all()
    assert sorted(table.loc[table["flag_missing_geometry"], "wijk_code"]) == truth["wijken_without_polygon"]
    ok = table["youths_0_17_est"].notna()
    expect = table["inhabitants"] * (table["p_00_14"] + 0.3 * table["p_15_24"]) / 100
    np.testing.assert_allclose(table.loc[ok, "youths_0_17_est"], expect[ok])
    assert table["youths_0_17_est"].isna().sum() >= 1  # KWB -99999999 becomes NaN


def test_validator_names_file_column_and_rows():
    table = synthetic_build()[0].copy()
    bad = table.copy()
    bad.loc[5, "perc_hhmk"] = 140.0
    with pytest.raises(wijktable.DataValidationError) as err:
        wijktable.validate_wijk_table(bad, source="my_table.parquet")
    msg = str(err.value)
    assert "my_table.parquet" in msg and "perc_hhmk" in msg and table.loc[5, "wijk_code"] in msg
    dup = pd.concat([table, table.iloc[[0]]])
    with pytest.raises(wijktable.DataValidationError, match="duplicated"):
        wijktable.validate_wijk_table(dup)
    nogem = table.copy()
    nogem.loc[2, "jz_code"] = None
    with pytest.raises(wijktable.DataValidationError, match="jz_code"):
        wijktable.validate_wijk_table(nogem)
    wrong = table.copy()
    wrong.loc[1, "wijk_code"] = "W123"
    with pytest.raises(wijktable.DataValidationError, match="wijk_code"):
        wijktable.validate_wijk_table(wrong)


def test_scp_reader_rejects_non_numeric_cells(tmp_path):
    from jeugdhulp_wijken.synthetic import _write_ods

    wijk = pd.DataFrame({"wijk": [900101, 900102], "wijknaam": ["A", "B"], "gemeentecode": [9001, 9001],
                         "gemnaam_2017": ["G", "G"]})
    gebruik = pd.DataFrame({"wijk": [900101, 900102], "perc_jhzv": [10.0, "n.v.t."], "perc_przv": [9.0, 9.5],
                            "residu": [1.0, "."]})
    det = pd.DataFrame({"wijk": [900101, 900102], **{d: [1.0, "."] for d in DETERMINANTS}})
    path = tmp_path / "scp.ods"
    _write_ods(path, {"wijk": wijk, "gebruik": gebruik, "determinanten": det})
    with pytest.raises(wijktable.DataValidationError) as err:
        wijktable.read_scp_file(path)
    assert "perc_jhzv" in str(err.value) and "gebruik" in str(err.value) and "900102" in str(err.value)
    gebruik.loc[1, "perc_jhzv"] = "."
    _write_ods(path, {"wijk": wijk, "gebruik": gebruik, "determinanten": det})
    scp = wijktable.read_scp_file(path)
    assert scp["wijk_code"].tolist() == ["WK900101", "WK900102"]
    assert np.isnan(scp.loc[1, "perc_jhzv"]) and np.isnan(scp.loc[1, "perc_sbo_g"])


def test_synthetic_outputs_overview_summary_and_local_factors():
    table, gdf, missing = synthetic_build()
    raw = synthetic_raw_dir()
    g = regions.load_gemeente_regions(raw)
    region = regions.resolve_region("JZ01", g)
    sub = wijktable.region_subset(table, region)
    assert set(sub["jz_code"]) == {"JZ01"}
    data, meta, unmapped = wijktable.build_public_local_factors(raw, table, synthetic=True)
    truth = json.loads((raw / "SYNTHETIC_TRUTH.json").read_text())
    assert meta["fictional"] is True and meta["indeling_year"] == 2017
    assert set(meta["factors"]) >= {"eenzaam", "gezondheid_matig_slecht", "onvoldoende_regie"}
    assert list(data.columns[:1]) == ["wijk_code"] and data["wijk_code"].is_unique
    assert set(truth["wijken_absent_from_local_factor_file"]) <= set(unmapped["wijk_code"])
    assert set(truth["local_factor_codes_2016_only"]) <= set(unmapped["wijk_code"])
    ov = overview.data_overview(table, region)
    jz = ov[ov["section"] == "jeugdzorgregio"]
    assert jz["n_wijken_nl"].sum() == len(table)
    assert int(jz.loc[jz["item"] == "JZ01", "n_wijken_region"].iloc[0]) == len(sub)
    summary = overview.data_summary(table, missing_geometry=missing, unmapped_factors=unmapped,
                                    local_factor_meta=meta, geometry_vintage="x", synthetic=True)
    json.dumps(summary)
    assert "region" not in summary  # the national stage knows no region
    assert summary["national"]["n_wijken"] == len(table)
    assert summary["suppressed"]["nl"] == truth["n_suppressed"]
    assert summary["geometry"]["without_polygon_nl"] == truth["wijken_without_polygon"]
    assert "3/10" in summary["youth_approximation"]["method"] or "0.3" in summary["youth_approximation"]["method"]
    sens = summary["youth_approximation"]["sensitivity"]["nl"]
    assert {"0-14 only", "0-14 + 3/10 of 15-24 (used)", "unweighted wijk mean"} <= set(sens)
    # a region's counts come from the national table and summary
    rd = overview.region_data(table, region, summary_nl=summary, geometry_vintage="x")
    json.dumps(rd)
    assert rd["n_wijken"] == len(sub) and rd["suppressed"] == int(sub["flag_suppressed"].sum())
    assert rd["without_polygon"] == [c for c in truth["wijken_without_polygon"] if c in set(sub["wijk_code"])]
    assert set(rd["factor_wijken_unmapped"]) <= set(sub["wijk_code"])
    assert set(rd["youth_approximation"]["sensitivity"]) == {"region"} and "effect_region" in rd["youth_approximation"]
    assert wijktable.gemeenten_from_table(table)["gemeente_code"].is_unique


@pytest.mark.realdata
def test_real_national_table_counts():
    table = real_build()[0]
    assert len(table) == 2918
    assert table["gemeente_code"].nunique() == 388
    assert table["jz_code"].nunique() == 42
    assert (table["jz_code"] == "JZ24").sum() == 103
    assert table["wijk_code"].str.match(r"^WK\d{6}$").all() and table["wijk_code"].is_unique
    assert int(table["flag_suppressed"].sum()) == 286
    assert int(table["perc_przv"].notna().sum()) == 2918
    # missing-value counts documented in SOURCES.md
    for col, n in {"perc_hhverd": 1042, "perc_hhwan": 934, "perc_hhbijs": 682, "perc_kind_sch5": 663,
                   "perc_hhmkhgink": 607, "perc_1ouder": 546, "perc_jong04": 236, "woonwaarde": 117}.items():
        assert int(table[col].isna().sum()) == n, col
    row = table.set_index("wijk_code").loc["WK051828"]
    assert row["gemeente_code"] == "GM0518" and row["jz_code"] == "JZ24"


@pytest.mark.realdata
def test_real_weighted_national_mean_and_haaglanden():
    table = real_build()[0]
    mean = wijktable.weighted_mean(table["perc_jhzv"], table["youths_0_17_est"])
    assert mean == pytest.approx(10.3, abs=0.05)
    g = regions.load_gemeente_regions(real_raw_dir())
    study = wijktable.region_subset(table, regions.resolve_region("Haaglanden", g))
    assert len(study) == 102 and study["gemeente_code"].nunique() == 9
    counts = study.groupby("gemeente_name").size().to_dict()
    assert counts["'s-Gravenhage"] == 42 and counts["Rijswijk"] == 11
    jz24 = wijktable.region_subset(table, regions.resolve_region("JZ24", g))
    assert len(jz24) == 103
    cap = overview.region_caption(table, regions.resolve_region("Haaglanden", g))
    assert "102 wijken" in cap and "103 wijken" in cap and "Voorschoten" in cap


@pytest.mark.realdata
def test_real_public_local_factors_mapping():
    table = real_build()[0]
    data, meta, unmapped = wijktable.build_public_local_factors(real_raw_dir(), table)
    assert data["wijk_code"].isin(table["wijk_code"]).all()
    assert data[["eenzaam", "gezondheid_matig_slecht"]].stack().between(0, 100).all()
    assert data["elan_wmo_gebruik"].notna().sum() > 50
    rijswijk = unmapped[unmapped["wijk_code"].str.startswith("WK0603")]
    assert len(rijswijk) >= 5  # Rijswijk was redrawn in 2017
    assert "WK192603" in set(unmapped["wijk_code"])  # Pijnacker-Nootdorp wijk 03 boundary moved


def test_pipeline_declares_every_raw_input_of_the_step():
    import yaml

    from jeugdhulp_wijken import paths, sources

    spec = yaml.safe_load(paths.PIPELINE_SPEC.read_text())
    step = next(s for s in spec["steps"] if s["name"] == "data_preparation")
    declared = sorted(p.removeprefix("source:") for p in step["inputs"])
    assert declared == sorted(wijktable.step_inputs())
    for rel in wijktable.raw_inputs():
        assert (synthetic_raw_dir() / rel).is_file(), rel
    assert wijktable.raw_inputs()[0] == sources.rel_path(wijktable.SCP_SOURCE) == wijktable.SCP_ODS


@pytest.mark.parametrize("which", ["synthetic", pytest.param("real", marks=pytest.mark.realdata)])
def test_fast_ods_engine_reads_the_same_frames_as_odfpy(which):
    raw = synthetic_raw_dir() if which == "synthetic" else real_raw_dir()
    path = raw / "jeugdhulp" / "Wijkdata_Jeugdhulp_in_de_wijk.ods"
    fast = pd.read_excel(path, engine=wijktable.ODS_ENGINE, sheet_name=None)
    reference = pd.read_excel(path, engine="odf", sheet_name=None)
    assert list(fast) == list(reference) and "determinanten" in fast
    for sheet in reference:
        pd.testing.assert_frame_equal(fast[sheet], reference[sheet], check_dtype=False, obj=sheet)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_data_overview_names_its_bars_without_overlap_and_inside_the_figure(lang):
    import matplotlib.pyplot as plt

    from jeugdhulp_wijken import figures

    table = synthetic_build()[0]
    region = regions.resolve_region("JZ01", regions.load_gemeente_regions(synthetic_raw_dir()))
    assert len(region.name) > 25  # "Synthetische jeugdzorgregio 1 ...": longer than a bar is wide
    figures.set_style()
    fig = overview.plot_data_overview(table, region, lang=lang)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[2].get_xticklabels() if t.get_text()]
    assert len(boxes) == 2
    assert boxes[0].x1 <= boxes[1].x0, "the two bar names overlap"
    assert boxes[1].x1 <= fig.bbox.x1, "the region's bar name runs off the figure"
    plt.close(fig)
