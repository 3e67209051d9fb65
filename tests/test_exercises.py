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


# --------------------------------------------------------------------------- 06 report (the synthetic study)

@lru_cache(maxsize=2)
def synthetic_report(lang: str):
    from _report_helpers import synthetic_report_study

    return synthetic_report_study().build(lang)


@computes("rapport_engels")
def _rapport_engels(ex):
    from jeugdhulp_wijken.report import fmt

    nl = synthetic_report("nl").key_numbers["numbers"]
    en = synthetic_report(ex.variant["lang"]).key_numbers["numbers"]
    swap = str.maketrans({",": ".", ".": ","})
    differing = [k for k in nl if nl[k]["text"] != en[k]["text"]]
    return {"values_changed": len(set(nl) ^ set(en)) + sum(nl[k]["value"] != en[k]["value"] for k in nl if k in en),
            "texts_differing": len(differing),
            "texts_differing_only_in_separators": all(en[k]["text"].translate(swap) == nl[k]["text"]
                                                      for k in differing),
            "example_pct_en": fmt.pct(11.7, 1, "en"), "example_pct_nl": fmt.pct(11.7, 1, "nl"),
            "example_integer_en": fmt.integer(2918, "en"), "example_integer_nl": fmt.integer(2918, "nl")}


@computes("rapport_andere_regio")
def _rapport_andere_regio(ex):
    from dataclasses import replace

    from _report_helpers import synthetic_report_study
    from jeugdhulp_wijken.report import content, inputs

    study = synthetic_report_study()
    rows = synthetic_report("nl").key_numbers["published_vs_reproduced"]
    data = inputs.load(study.national_dir, study.region_dir, study.qualitative_dir, True)
    info = content.region_info(data, study.region, "jz01")
    assert not info.is_study_area
    study_area_rows = content.published_rows(data, replace(info, is_study_area=True), content.Numbers("nl"))
    nl_row = next(r for r in rows if r["figure"] == "nl_observed")
    published = nl_row["published"]
    return {"rows_other_region": len(rows), "rows_study_area": len(study_area_rows),
            "nl_published": published["value"] if isinstance(published, dict) else published}


# --------------------------------------------------------------------------- the real 2017 data (01, 02, 05, 07)

@lru_cache(maxsize=1)
def real_national():
    """(national wijk table, national SCP analysis) on the real data, as notebooks 01 and 02 make them."""
    from _data_helpers import real_build
    from jeugdhulp_wijken.scp import ModelOptions, national

    table, _, _ = real_build()
    return table, national.analyse_national(table, ModelOptions(), with_variants=False)


def _weighted(values, weights) -> float:
    ok = values.notna() & weights.notna()
    return float((values[ok] * weights[ok]).sum() / weights[ok].sum())


def _region(name: str):
    from jeugdhulp_wijken import regions, wijktable

    table, _ = real_national()
    return regions.resolve_region(name, wijktable.gemeenten_from_table(table))


@computes("data_onderdrukt")
def _data_onderdrukt(ex):
    table, _ = real_national()
    suppressed = table["flag_suppressed"].astype(bool)
    return {"suppressed": int(suppressed.sum()), "suppressed_with_expectation": int(table.loc[suppressed, "perc_przv"]
                                                                                       .notna().sum())}


@computes("data_jeugdigen")
def _data_jeugdigen(ex):
    table, _ = real_national()
    ok = table["perc_jhzv"].notna()
    only_0_14 = table["inhabitants"] * table["p_00_14"] / 100
    t = table[ok]
    return {"weighted_used": _weighted(t["perc_jhzv"], t["youths_0_17_est"]),
            "weighted_0_14": _weighted(t["perc_jhzv"], only_0_14[ok]), "unweighted": float(t["perc_jhzv"].mean()),
            "rank_correlation_youths_use": float(t["youths_0_17_est"].corr(t["perc_jhzv"], method="spearman"))}


@computes("scp_icc")
def _scp_icc(ex):
    _, analysis = real_national()
    icc = analysis.metrics["reestimated_model"]["icc"]
    return {"icc_region": icc["region"], "icc_gemeente_within_region": icc["gemeente_within_region"],
            "icc_gemeente_incl_region": icc["gemeente_incl_region"]}


@computes("scp_blups")
def _scp_blups(ex):
    import pandas as pd

    from jeugdhulp_wijken.study import STUDY_AREA_GEMEENTEN, STUDY_AREA_JZ

    table, analysis = real_national()
    blup = pd.DataFrame({"gemeente_code": table["gemeente_code"], "gemeente": table["gemeente_name"],
                         "jz_code": table["jz_code"], "gemeente_effect": analysis.fit.gemeente_effect,
                         "region_effect": analysis.fit.region_effect}).drop_duplicates("gemeente_code")
    study = blup[blup["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)].sort_values("gemeente_effect")
    return {"region_effect_jz24": float(blup.loc[blup["jz_code"] == STUDY_AREA_JZ, "region_effect"].iloc[0]),
            "highest_gemeente": study["gemeente"].iloc[-1], "highest_effect": float(study["gemeente_effect"].iloc[-1]),
            "lowest_gemeente": study["gemeente"].iloc[0], "lowest_effect": float(study["gemeente_effect"].iloc[0])}


@computes("scp_zonder_indicatoren")
def _scp_zonder_indicatoren(ex):
    from jeugdhulp_wijken.scp import ModelOptions, national

    table, analysis = real_national()
    without = national.analyse_national(table, ModelOptions(**ex.variant), with_variants=False)
    out = {"n_indicators": len(analysis.metrics["reestimated_model"]["missing_indicators"])}
    for label, a in (("with", analysis), ("without", without)):
        overall = a.metrics["comparison"]["overall"]
        out.update({f"r_complete_{label}": overall["complete"]["r"], f"mae_complete_{label}": overall["complete"]["mae"],
                    f"max_error_all_{label}": overall["all"]["max_abs_error"]})
    return out


@lru_cache(maxsize=4)
def haaglanden_local_factors(**options):
    """Notebook 03 with scope = "region" for Haaglanden on the real data (national artefacts in a temporary
    folder, as notebooks 01 and 02 write them)."""
    from _data_helpers import real_build, real_raw_dir
    from jeugdhulp_wijken import catalog, local_factors as lf, wijktable

    table, geometry, _ = real_build()
    _, analysis = real_national()
    folder = Path(tempfile.mkdtemp(prefix="jhw-exercises-lf-"))
    raw = real_raw_dir()
    data, meta, _ = wijktable.build_public_local_factors(raw, table, synthetic=False)
    lf.write_factor_file(data, meta, catalog.path("local_factors_public", folder))
    catalog.write(analysis.results, "scp_results_nl", folder)
    catalog.write(analysis.metrics, "scp_metrics_nl", folder)
    catalog.write(geometry, "wijk_geometry_nl", folder)
    results, provenance = lf.load_results(folder, False)
    codes = lf.region_wijken(results, "Haaglanden", raw)
    factors = lf.collect_factors(folder, raw_dir=raw, factor_files=[], synthetic=False)
    return lf.run_analysis(results, factors, scope="region", region="Haaglanden", region_label="Haaglanden",
                           region_codes=codes, geometry=lf.load_geometry(folder, False),
                           results_provenance=provenance, **options)


def _study_area_group(analysis) -> str:
    return next(g for g, m in analysis.metrics["scopes"].items() if m["coverage_label"].startswith("Haaglanden"))


@computes("lf_alpha")
def _lf_alpha(ex):
    from collections import Counter

    from jeugdhulp_wijken import local_factors as lf

    default, wider = haaglanden_local_factors(), haaglanden_local_factors(alpha=ex.variant["alpha"])
    label = default.metrics["scopes"][_study_area_group(default)]["coverage_label"]

    def rows(a):
        c = lf.correlations_table(a)
        return c[c["group_label"] == label]

    d, w = rows(default), rows(wider)
    fragile = w[w["status"] == lf.FRAGILE]
    return {"significant_at_005": int((d["status"] != lf.NOT_SIGNIFICANT).sum()),
            "fragile_at_010": len(fragile), "robust_at_010": int((w["status"] == lf.ROBUST).sum()),
            "fragile_factors": sorted(fragile["factor"]),
            "most_decisive_wijk": Counter(fragile["decisive_wijk_name"]).most_common(1)[0][0].split(" ", 2)[-1],
            "signs_differ": bool(((fragile["r"] > 0) != (fragile["r_precision"] > 0)).all())}


@computes("lf_kruisvalidatie")
def _lf_kruisvalidatie(ex):
    a = haaglanden_local_factors()
    joint = a.metrics["scopes"][_study_area_group(a)]["models"]["joint"]
    cv, without = joint["cv_leave_one_gemeente_out"], joint["without_most_influential"]
    table, _ = real_national()
    wijk = table.set_index("wijk_code").loc[without["wijk_code"]]
    return {"delta_r2": joint["delta_r2"], "cv_rmse_factors": cv["rmse_factors"],
            "cv_rmse_baseline": cv["rmse_baseline"], "most_influential": without["wijk_name"],
            "most_influential_youths": wijk["youths_0_17_est"], "most_influential_observed": wijk["perc_jhzv"],
            "delta_r2_without_it": without["delta_r2"]}


@computes("lf_moran")
def _lf_moran(ex):
    default, other = haaglanden_local_factors(), haaglanden_local_factors(seed=ex.variant["seed"])
    group = _study_area_group(default)
    m, o = default.metrics["scopes"][group]["moran"], other.metrics["scopes"][group]["moran"]
    return {"i_before": m["before"]["I"], "p_before": m["before"]["p_sim"], "i_after": m["after"]["I"],
            "p_after": m["after"]["p_sim"], "i_before_other_seed_equal": m["before"]["I"] == o["before"]["I"],
            "p_before_other_seed": o["before"]["p_sim"]}


@computes("regio_regel")
def _regio_regel(ex):
    from jeugdhulp_wijken.scp import region_summary

    _, analysis = real_national()
    over = analysis.metrics["deviation"]["overdispersion"]
    region = _region("Haaglanden")

    def share(rule):
        return region_summary(analysis.results, region, deviation_rule=rule, overdispersion=over)

    default = share(None)
    return {"share_default": default["share_differing"], "n_with_data": default["n_with_data"],
            "share_funnel95": share(ex.variant["deviation_rule"])["share_differing"],
            "share_funnel998_tau": share("funnel998_tau")["share_differing"]}


@computes("regio_eigen_regio")
def _regio_eigen_regio(ex):
    from jeugdhulp_wijken.scp import region_summary

    table, analysis = real_national()
    study, jz = _region("Haaglanden"), _region(ex.variant["region"])
    added = sorted(set(jz.gemeente_codes) - set(study.gemeente_codes))
    names = table.drop_duplicates("gemeente_code").set_index("gemeente_code")["gemeente_name"]
    return {"n_wijken_study_area": region_summary(analysis.results, study)["n_wijken"],
            "n_wijken_jz24": region_summary(analysis.results, jz)["n_wijken"],
            "added_gemeente": ", ".join(names[c] for c in added),
            "share_jz24": region_summary(analysis.results, jz)["share_differing"]}


@computes("regio_gewogen")
def _regio_gewogen(ex):
    from jeugdhulp_wijken.scp import region_summary

    _, analysis = real_national()
    s = region_summary(analysis.results, _region("Haaglanden"))
    return {"observed_unweighted": s["observed_unweighted"],
            "expected_unweighted": s["expected_unweighted_observed_wijken"],
            "difference_unweighted": s["difference_unweighted"], "observed_weighted": s["observed_weighted"],
            "expected_weighted": s["expected_weighted_observed_wijken"],
            "difference_weighted": s["difference_weighted"]}


@lru_cache(maxsize=1)
def _atlas_regions():
    from jeugdhulp_wijken import atlas

    table, analysis = real_national()
    deviation = analysis.metrics["deviation"]
    t = atlas.build_table(analysis.results, deviation["overdispersion"], deviation["rule"])
    t = t[t["region_value"].str.match(r"^JZ\d+$")].copy()
    names = table.drop_duplicates("jz_code").set_index("jz_code")["jz_name"]
    t["jz_name"] = t["region_value"].map(names)
    t["width"] = t["ci_high"] - t["ci_low"]
    return t


@computes("atlas_breedste")
def _atlas_breedste(ex):
    t = _atlas_regions()
    widest = t.loc[t["width"].idxmax()]
    return {"widest": widest["jz_name"], "widest_n_wijken": int(widest["n_wijken"]),
            "fewest_youths": t.loc[t["youths_total"].idxmin(), "jz_name"],
            "rank_correlation_youths_width": float(t["youths_total"].corr(t["width"], method="spearman"))}


@computes("atlas_boven_onder")
def _atlas_boven_onder(ex):
    t = _atlas_regions()
    return {"n_regions": len(t), "above": int((t["ci_low"] > 0).sum()), "below": int((t["ci_high"] < 0).sum())}


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
