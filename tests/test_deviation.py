"""Funnel limits, overdispersion and the deviation rules on constructed cases with known answers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jeugdhulp_wijken import deviation as dv


def test_binomial_se_and_limits_by_hand():
    # p = 10%, n = 400: se = 100 * sqrt(0.1 * 0.9 / 400) = 1.5 pp
    assert dv.binomial_se(10.0, 400) == pytest.approx(1.5)
    lo, hi = dv.funnel_limits(10.0, 400, 0.95)
    assert hi == pytest.approx(10 + 1.959964 * 1.5, abs=1e-5)
    assert lo == pytest.approx(10 - 1.959964 * 1.5, abs=1e-5)
    lo, hi = dv.funnel_limits(10.0, 400, 0.998)
    assert hi == pytest.approx(10 + 3.090232 * 1.5, abs=1e-5)
    # multiplicative: se * sqrt(phi); additive: sqrt(se^2 + tau2)
    _, hi = dv.funnel_limits(10.0, 400, 0.95, phi=4.0)
    assert hi == pytest.approx(10 + 1.959964 * 3.0, abs=1e-5)
    _, hi = dv.funnel_limits(10.0, 400, 0.95, tau2=1.75)
    assert hi == pytest.approx(10 + 1.959964 * 2.0, abs=1e-5)
    assert math.isnan(float(dv.binomial_se(10.0, 0)))


def test_funnel_classification_known_cases():
    # se = 1.5 pp for all; z = diff / 1.5
    obs = pd.Series([13.0, 7.0, 12.0, 15.0, np.nan, 10.0])
    exp = pd.Series([10.0] * 6)
    n = pd.Series([400, 400, 400, 400, 400, np.nan])
    cls, z = dv.classify(obs, exp, n, "funnel95")
    assert list(cls) == [dv.HIGHER, dv.LOWER, dv.AS_EXPECTED, dv.HIGHER, dv.NO_DATA, dv.NO_DATA]
    assert z.iloc[0] == pytest.approx(2.0)
    cls, _ = dv.classify(obs, exp, n, "funnel998")
    assert list(cls[:4]) == [dv.AS_EXPECTED, dv.AS_EXPECTED, dv.AS_EXPECTED, dv.HIGHER]
    # additive overdispersion tau2 = 1.75 -> s = 2: z = 1.5 for +3
    cls, z = dv.classify(obs, exp, n, "funnel95_tau", {"phi": 1.0, "tau2": 1.75})
    assert cls.iloc[0] == dv.AS_EXPECTED and z.iloc[0] == pytest.approx(1.5)
    cls, _ = dv.classify(obs, exp, n, "funnel95_phi", {"phi": 0.5, "tau2": 0.0})  # phi < 1 is not used
    assert cls.iloc[0] == dv.HIGHER


def test_simple_rules_known_cases():
    obs = pd.Series([11.0, 9.0, 10.5, 11.1, 8.9, np.nan])
    exp = pd.Series([10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    n = pd.Series([100.0] * 6)
    cls, _ = dv.classify(obs, exp, n, "abs1pp")
    assert list(cls) == [dv.HIGHER, dv.LOWER, dv.AS_EXPECTED, dv.HIGHER, dv.LOWER, dv.NO_DATA]
    cls, _ = dv.classify(obs, exp, n, "rel10")
    assert list(cls) == [dv.HIGHER, dv.LOWER, dv.AS_EXPECTED, dv.HIGHER, dv.LOWER, dv.NO_DATA]
    cls, _ = dv.classify(obs, exp, n, "abs2pp")
    assert list(cls[:5]) == [dv.AS_EXPECTED] * 5


def test_overdispersion_estimates():
    rng = np.random.default_rng(1)
    n = np.full(4000, 1000.0)
    p = np.full(4000, 10.0)
    se = dv.binomial_se(p, n)
    # pure binomial noise: phi about 1 after winsorising (winsorising shrinks it a bit), tau2 about 0
    obs = p + rng.normal(0, 1, 4000) * se
    od = dv.estimate_overdispersion(obs, p, n)
    assert 0.5 < od["phi"] < 1.1
    assert od["tau2"] < 0.05
    # extra between-wijk variance tau = 2 pp: tau2 clearly positive, phi > 1
    obs2 = p + rng.normal(0, 1, 4000) * se + rng.normal(0, 2.0, 4000)
    od2 = dv.estimate_overdispersion(obs2, p, n)
    assert od2["phi"] > 2
    assert od2["tau2"] > 1.0


def test_winsorise_hand_case():
    z = np.arange(1, 11, dtype=float)  # 10th pct = 1.9, 90th pct = 9.1
    w = dv.winsorise(z, 0.10)
    assert w.min() == pytest.approx(1.9) and w.max() == pytest.approx(9.1)


def test_unknown_rule_lists_valid_rules():
    with pytest.raises(dv.UnknownRuleError) as exc:
        dv.check_rule("gut_feeling")
    assert "funnel95_tau" in str(exc.value) and "abs1pp" in str(exc.value)


def test_sensitivity_and_reproducing_rule():
    res = pd.DataFrame({"observed": [13.0, 7.0, 10.2, 10.0, 11.5], "expected_scp": [10.0] * 5,
                        "youths_0_17_est": [400.0] * 5, "gemeente_code": ["GM9001"] * 4 + ["GM9002"],
                        "jz_code": ["JZ01"] * 4 + ["JZ02"], "jz_name": ["Een"] * 4 + ["Twee"]})
    sens = dv.sensitivity_table(res, {"phi": 1.0, "tau2": 0.0}, rules=["funnel95", "abs1pp"])
    assert set(sens["scope"]) == {"nl", "JZ01", "JZ02"}  # no study-area gemeente here
    assert sens.loc[sens["scope"] == "JZ02", "scope_label"].iloc[0] == "Twee"
    row = sens[(sens["rule"] == "abs1pp") & (sens["scope"] == "JZ01")].iloc[0]
    assert row["n_with_data"] == 4 and row["n_higher"] == 1 and row["n_lower"] == 1
    assert row["share_differing"] == pytest.approx(0.5)
    out = dv.rules_reproducing(sens, target=0.5, scope="JZ01", window=(0.45, 0.5))
    assert out["closest"]["rule"] in {"funnel95", "abs1pp"}
    assert {m["rule"] for m in out["matching"]} == {"funnel95", "abs1pp"}
    hl = res.assign(gemeente_code=["GM0518"] * 5)
    assert "haaglanden" in set(dv.sensitivity_table(hl, {"phi": 1.0, "tau2": 0.0}, rules=["abs1pp"])["scope"])


def test_class_counts_by_hand():
    c = dv.class_counts([dv.HIGHER, dv.HIGHER, dv.LOWER, dv.AS_EXPECTED, dv.NO_DATA])
    assert (c["n_wijken"], c["n_with_data"], c["n_higher"], c["n_lower"], c["n_as_expected"], c["n_no_data"]) == \
        (5, 4, 2, 1, 1, 1)
    assert c["share_differing"] == pytest.approx(0.75) and c["share_differing_of_all"] == pytest.approx(0.6)
    assert math.isnan(dv.class_counts([dv.NO_DATA])["share_higher"])


def test_classify_results_reclassifies_and_needs_overdispersion_for_tau_rules():
    res = pd.DataFrame({"observed": [13.0, 7.0, 12.0], "expected_scp": [10.0] * 3, "youths_0_17_est": [400.0] * 3,
                        "deviation_class": ["x"] * 3, "z_score": [0.0] * 3, "deviation_rule": ["old"] * 3})
    out = dv.classify_results(res, "funnel95")
    assert out["deviation_class"].tolist() == [dv.HIGHER, dv.LOWER, dv.AS_EXPECTED]
    assert out["z_score"].iloc[0] == pytest.approx(2.0) and set(out["deviation_rule"]) == {"funnel95"}
    assert res["deviation_class"].tolist() == ["x"] * 3  # the input is not changed
    with pytest.raises(ValueError, match="overdispersion"):
        dv.classify_results(res, "funnel95_tau")
    tau = dv.classify_results(res, "funnel95_tau", {"phi": 1.0, "tau2": 1.75})
    assert tau["deviation_class"].iloc[0] == dv.AS_EXPECTED and tau["z_score"].iloc[0] == pytest.approx(1.5)


def test_normal_quantiles_without_scipy():
    assert dv.Z95 == pytest.approx(1.959964, abs=1e-6) and dv.Z998 == pytest.approx(3.090232, abs=1e-6)
