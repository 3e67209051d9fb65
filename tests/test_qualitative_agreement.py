"""Agreement statistics against published worked examples and statsmodels."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from _qualitative_helpers import build_hhs
from jeugdhulp_wijken.qualitative import agreement, coding

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers,
# 12 units, nominal data with missing values; alpha = 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def test_krippendorff_2011_worked_example():
    assert agreement.krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)


def test_cohen_kappa_textbook_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.70, p_e = 0.50, kappa = 0.40
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.40)


def test_kappa_matches_statsmodels_on_random_data():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 3, 200))
    table = np.array([[np.sum((a == i) & (b == j)) for j in range(3)] for i in range(3)])
    assert agreement.cohen_kappa(a, b) == pytest.approx(sm_kappa(table).kappa)


def test_undefined_cases():
    assert np.isnan(agreement.cohen_kappa(np.zeros(5), np.zeros(5)))
    assert np.isnan(agreement.krippendorff_alpha([[0, 0, 0], [0, 0, 0]]))


def test_per_code_statistics_on_example(tmp_path):
    corpus, cb, table = build_hhs(tmp_path)
    m = coding.unit_matrix(table, corpus, cb)
    pc = agreement.agreement_per_code(m, cb)
    assert list(pc["code_id"]) == sorted(t.id for t in cb.themes())
    for r in pc.itertuples():
        a, b = m[("codeur_A", r.code_id)].to_numpy(), m[("codeur_B", r.code_id)].to_numpy()
        tab = np.array([[np.sum((a == i) & (b == j)) for j in (0, 1)] for i in (0, 1)])
        assert r.kappa == pytest.approx(sm_kappa(tab).kappa)
        assert r.pct_agreement == pytest.approx(100 * np.mean(a == b))
        assert r.prevalence == pytest.approx((a.sum() + b.sum()) / (2 * len(a)))
    assert (pc["pct_agreement"] < 100).any(), "the example coders should sometimes disagree"
    summary = agreement.agreement_summary(m, pc, level="theme")
    pooled = np.vstack([m["codeur_A"].to_numpy().ravel(), m["codeur_B"].to_numpy().ravel()])
    assert summary["overall"]["krippendorff_alpha_nominal_pooled"] == pytest.approx(
        agreement.krippendorff_alpha(pooled), abs=1e-4)
    assert summary["n_units"] == m.shape[0]
