"""Synthetic study: same layout/formats as the mirror, fictional codes, and a recoverable true model."""
from __future__ import annotations

import filecmp
import json

import numpy as np
import pandas as pd
import pyogrio
import pytest

from jeugdhulp_wijken import paths, synthetic, wijktable
from jeugdhulp_wijken.dictionary import DETERMINANTS

from _data_helpers import synthetic_build, synthetic_raw_dir


def _rel_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layout_matches_mirror_paths():
    raw = synthetic_raw_dir()
    files = set(_rel_files(raw))
    for rel in wijktable.raw_inputs():
        assert rel in files, rel
    assert {"SYNTHETIC_TRUTH.json", "README_SYNTHETIC.txt", synthetic.GEOMETRY_HADOKS} <= files
    mirror = paths.default_mirror()
    if mirror is not None and mirror.is_dir():
        for rel in wijktable.raw_inputs():
            assert (mirror / rel).is_file(), rel  # the synthetic paths are the mirror's paths
    assert "FICTIONAL" in (raw / "README_SYNTHETIC.txt").read_text()


def test_generation_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synthetic.generate(a)
    synthetic.generate(b)
    synthetic.generate(c, seed=7)
    files = _rel_files(a)
    assert files == _rel_files(b)
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors
    assert (a / synthetic.SCP_ODS).read_bytes() != (c / synthetic.SCP_ODS).read_bytes()


def test_codes_and_names_are_fictional():
    table = synthetic_build()[0]
    assert table["gemeente_code"].str.match(r"^GM9\d{3}$").all()
    assert table["wijk_code"].str.match(r"^WK9\d{5}$").all()
    assert table["gemeente_name"].str.startswith("Synthetische gemeente").all()
    assert table["wijk_name"].str.startswith("Synthetische wijk").all()
    assert table["jz_name"].str.startswith("Synthetische jeugdzorgregio").all()
    assert 400 <= len(table) <= 800 and table["gemeente_code"].nunique() == 24 and table["jz_code"].nunique() == 4


def test_dbf_reads_back_identically(tmp_path):
    df = pd.DataFrame({"WK_CODE": ["WK900101", "WK900199"], "WK_NAAM": ["Synthetische wijk", "Groot water"],
                       "GM_CODE": ["GM9001", "GM9001"], "WATER": ["NEE", "JA"], "AANT_INW": [1234, -99999999],
                       "P_00_14_JR": [17, -99999999], "P_15_24_JR": [11, -99999999], "OPP_TOT": [100, 900]})
    path = synthetic.write_dbf(df, tmp_path / "wijk_2017.dbf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wijk_2017.cpg", "wijk_2017.dbf"]
    back = pyogrio.read_dataframe(path, read_geometry=False)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    kwb = wijktable.read_kwb_wijken(path)
    assert kwb["inhabitants"].tolist()[0] == 1234 and np.isnan(kwb["inhabitants"].iloc[1])


def test_truth_file_and_published_expectation():
    raw = synthetic_raw_dir()
    truth = json.loads((raw / synthetic.TRUTH_FILE).read_text())
    assert truth["fictional"] is True
    assert set(truth["beta"]) == set(DETERMINANTS)
    assert truth["local_factor_effects"] == {"eenzaam": 0.08, "gezondheid_matig_slecht": 0.0}
    assert truth["null_factors"] == ["gezondheid_matig_slecht"]
    for k in ("intercept", "sd_gemeente", "sd_region", "sd_residual"):
        assert isinstance(truth[k], float)
    # perc_przv = intercept + X.beta + u_gemeente + u_region, on the published (unmasked) wijken
    table = synthetic_build()[0]
    complete = table[table["n_missing_determinants"] == 0]
    xb = sum(truth["beta"][d] * complete[d] for d in DETERMINANTS)
    pred = (truth["intercept"] + xb + complete["gemeente_code"].map(truth["gemeente_effects"])
            + complete["jz_code"].map(truth["region_effects"]))
    np.testing.assert_allclose(complete["perc_przv"], pred.clip(0, 100), atol=2e-3)


def test_planted_local_factor_effect_is_recoverable():
    raw = synthetic_raw_dir()
    truth = json.loads((raw / synthetic.TRUTH_FILE).read_text())
    table = synthetic_build()[0]
    lf = pd.read_csv(raw / synthetic.LOCAL_FACTORS_2016)
    d = table.merge(lf, left_on="wijk_code", right_on="wijkcode").dropna(subset=["residu"])
    X = np.column_stack([np.ones(len(d)), d["% eenzaam*"], 100 - d["% met goede ervaren gezondheid*"]])
    coef, *_ = np.linalg.lstsq(X, d["residu"].to_numpy(), rcond=None)
    assert coef[1] == pytest.approx(truth["local_factor_effects"]["eenzaam"], abs=0.03)
    assert abs(coef[2]) < 0.03
    # independence of local factors and determinants (by construction)
    ok = d["perc_ouderpsy"].notna()
    r = np.corrcoef(d.loc[ok, "% eenzaam*"], d.loc[ok, "perc_ouderpsy"])[0, 1]
    assert abs(r) < 0.15


def test_suppression_and_missing_values_present():
    raw = synthetic_raw_dir()
    sheets = wijktable.read_scp_sheets(raw / synthetic.SCP_ODS)
    assert set(sheets) == set(wijktable.SCP_SHEETS)
    gebruik = sheets["gebruik"]
    assert (gebruik["perc_jhzv"].astype(str) == ".").sum() > 10
    assert (sheets["determinanten"]["perc_hhverd"].astype(str) == ".").sum() > 10
