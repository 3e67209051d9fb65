"""The dictionary pre-coder: rules, suggestions and precision/recall."""
from __future__ import annotations

import numpy as np
import pytest

from _qualitative_helpers import build_hhs
from jeugdhulp_wijken.qualitative import coding, precoder


def test_keyword_rules():
    rx = precoder.keyword_pattern("puber*")
    assert rx.search("veel Pubers hier") and rx.search("de puberteit")
    assert not rx.search("geen opuber")
    assert precoder.keyword_pattern("social media").search("via Social  media")
    assert not precoder.keyword_pattern("smw").search("smwerk")


def test_suggestions_and_evaluation(tmp_path):
    corpus, cb, table = build_hhs(tmp_path)
    sugg = precoder.precode(corpus, cb)
    assert (sugg["status"] == "suggestion").all() and (sugg["coder"] == precoder.PRECODER).all()
    assert sugg["memo"].str.startswith("trefwoorden: ").all()
    ev = precoder.evaluate_precoder(sugg, table, corpus, cb, level="theme")
    human = coding.unit_matrix(table, corpus, cb)
    pre = coding.unit_matrix(sugg.assign(status="coded"), corpus, cb, coders=[precoder.PRECODER])
    for r in ev.itertuples():
        ref = np.maximum(human[("codeur_A", r.code_id)], human[("codeur_B", r.code_id)]).to_numpy()
        s = pre[(precoder.PRECODER, r.code_id)].to_numpy()
        tp = int((s & ref).sum())
        assert r.true_positive == tp
        assert r.precision == pytest.approx(tp / s.sum()) if s.sum() else np.isnan(r.precision)
        assert r.recall == pytest.approx(tp / ref.sum()) if ref.sum() else np.isnan(r.recall)
    assert coding.human_coding(sugg).empty, "suggestions never count as human coding"
