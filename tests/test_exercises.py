"""Exercises whose answers cannot go stale: every "Probeer zelf" exercise of the notebooks is run here
with the package, and the numbers its folded answer states must still come out (data/exercises.yml)."""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pytest

from jeugdhulp_wijken import paths, teaching

EXERCISES = teaching.load_exercises()
CHECKS: dict[str, Callable] = {}


def computes(ex_id: str):
    def register(fn):
        CHECKS[ex_id] = fn
        return fn
    return register


# --------------------------------------------------------------------------- 04 qualitative coding

EXAMPLES = paths.ROOT / "data" / "examples" / "qualitative" / "hhs"


@lru_cache(maxsize=1)
def qualitative_example():
    """The fictional example corpus as notebook 04 reads it: pseudonymised, coded by coders A and B."""
    from jeugdhulp_wijken.qualitative import load_codebook, pseudonymise, workflow

    tmp = Path(tempfile.mkdtemp(prefix="jhw-exercises-"))
    cb = load_codebook("hhs")
    corpus = pseudonymise.pseudonymise_corpus(EXAMPLES / "transcripts", tmp / "pseudonymised", key_dir=tmp / "key",
                                              corpus_name="hhs")
    table = workflow.load_human_coding(sorted(str(p) for p in (EXAMPLES / "coding").glob("codeur_*.csv")), "", cb,
                                       corpus)
    return cb, corpus, table


def _agreement(matrix, cb, level: str) -> dict:
    from jeugdhulp_wijken.qualitative import agreement

    per_code = agreement.agreement_per_code(matrix, cb, lang="nl")
    return agreement.agreement_summary(matrix, per_code, level=level)["overall"]


@computes("kwal_niveau_code")
def _kwal_niveau_code(ex):
    from jeugdhulp_wijken.qualitative import coding

    cb, corpus, table = qualitative_example()
    out = {}
    for level in ("theme", ex.variant["agreement_level"]):
        overall = _agreement(coding.unit_matrix(table, corpus, cb, level=level), cb, level)
        out[f"pct_agreement_{level}"] = overall["pct_agreement_pooled"]
        out[f"alpha_{level}"] = overall["krippendorff_alpha_nominal_pooled"]
        out["codes_without_kappa"] = overall["n_codes_kappa_undefined"]
    return out


@computes("kwal_eigen_transcript")
def _kwal_eigen_transcript(ex):
    from jeugdhulp_wijken.qualitative import coding

    cb, corpus, table = qualitative_example()
    matrix = coding.unit_matrix(table, corpus, cb, level="theme")
    session = ex.variant["session"]
    alphas = {s: _agreement(matrix.loc[[s]], cb, "theme")["krippendorff_alpha_nominal_pooled"]
              for s in matrix.index.get_level_values("session").unique()}
    return {"turns": len(matrix.loc[[session]]), "alpha_session": alphas[session],
            "lowest_session": min(alphas, key=alphas.get)}


@computes("kwal_telregel_alle")
def _kwal_telregel_alle(ex):
    from jeugdhulp_wijken.qualitative import analysis

    cb, corpus, table = qualitative_example()
    counts = {}
    for rule in ("any", ex.variant["count_rule"]):
        coded = analysis.coded_turns(table, corpus, cb, level="theme", count_rule=rule)
        counts[rule] = coded.groupby("code_id").size()  # the "totaal" row of the frequency table
    kept = (counts["all"] / counts["any"]).sort_values(kind="stable")
    worst = kept.index[0]
    from jeugdhulp_wijken.qualitative import agreement, coding

    per_code = agreement.agreement_per_code(coding.unit_matrix(table, corpus, cb, level="theme"), cb, lang="nl")
    kappa = per_code.set_index("code_id")["kappa"]
    return {"theme_losing_most": cb.codes[worst].name, "turns_any": int(counts["any"][worst]),
            "turns_all": int(counts["all"][worst]), "kappa_of_that_theme": kappa[worst],
            "lowest_kappa_theme": cb.codes[kappa.idxmin()].name}


# --------------------------------------------------------------------------- the checks

def _param(ex):
    marks = [pytest.mark.realdata, pytest.mark.slow] if ex.data == "real" else []
    return pytest.param(ex, id=ex.id, marks=marks)


@pytest.mark.parametrize("ex", [_param(e) for e in EXERCISES])
def test_the_answer_in_the_notebook_still_holds(ex):
    if ex.data == "real":
        from _data_helpers import mirror_or_skip

        mirror_or_skip()
    values = CHECKS[ex.id](ex)
    problems = {name: teaching.check(values[name], spec) for name, spec in ex.expect.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, (f"{ex.notebook}, exercise '{ex.id}': the stated answer no longer holds: {problems}. "
                          "Update the answer in the notebook and in data/exercises.yml together.")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_has_a_check_and_a_folded_answer_stating_its_numbers(ex):
    assert ex.id in CHECKS, f"no computation for exercise '{ex.id}' in tests/test_exercises.py"
    assert ex.data in ("examples", "synthetic", "real")
    answers = teaching.answers(paths.NOTEBOOKS / ex.notebook)
    assert ex.id in answers, f"{ex.notebook} has no folded answer marked <!-- oefening: {ex.id} -->"
    for name, spec in ex.expect.items():
        if "text" in spec:
            assert str(spec["text"]) in answers[ex.id], f"{ex.id}: the answer does not state {spec['text']!r} ({name})"


def test_every_marked_answer_in_a_notebook_is_listed():
    listed = {(e.notebook, e.id) for e in EXERCISES}
    for nb in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        for ex_id in teaching.answers(nb):
            assert (nb.name, ex_id) in listed, f"{nb.name}: exercise '{ex_id}' is not in data/exercises.yml"


def test_render_prints_the_dutch_way():
    assert teaching.render(0.7798, {"text": "0,78"}) == "0,78"
    assert teaching.render(98.6268, {"text": "98,6%", "format": "pct"}) == "98,6%"
    assert teaching.render(0.382, {"text": "38%", "format": "share"}) == "38%"
    assert teaching.render(2918, {"text": "2.918", "format": "integer"}) == "2.918"
    assert teaching.check(0.776, {"text": "0,78"}) is None
    assert "0,77" in teaching.check(0.771, {"text": "0,78"})
    assert teaching.check(3, {"min": 4}) and teaching.check(5, {"min": 4}) is None
