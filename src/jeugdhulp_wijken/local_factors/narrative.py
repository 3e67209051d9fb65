"""Words and key numbers of the local-factor analysis: caveats, the headline for the report,
plain sentences (Dutch and English) about the robust findings only, notes on fragile ones,
the out-of-sample verdict on the HHS finding, figure captions and the summary table.

Everything here reads the metrics dictionaries built by :mod:`.analysis`; nothing is computed
twice.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

from .. import study

SIGNIFICANCE_STATEMENT = (
    "Decisions use the precision-aware outcome: the funnel z-score z = (observed - expected) / sqrt(se_binomial^2 "
    "+ tau2), with the binomial sampling variance from the expected percentage and the estimated number of youths "
    "and the additive overdispersion tau2 estimated on all wijken of the country (as in the SCP step's funnel). "
    "Pearson r with z and OLS of z on the factors, with Benjamini-Hochberg across the factors of each coverage "
    "group. The raw analysis of observed - expected in percentage points (Pearson r with its Fisher-z interval, "
    "Spearman rho, OLS) is reported alongside.")
ROBUSTNESS_STATEMENT = (
    "A finding is robust only when it is BH-significant in the precision-aware analysis; keeps its sign and BH "
    "significance there when any single wijk is left out, and its sign in the raw analysis too; the raw "
    "estimate has the same sign (the two analyses agree); and, for correlations, Pearson and Spearman agree in "
    "sign. Associations that are significant in either analysis but fail a condition are fragile: they are "
    "marked (open marker, footnote), named with the wijk that decides them, and are not used in the narrative "
    "or the key numbers.")

REASONS = {
    "nl": {"not_significant_precision": "niet significant met de trechter-z-score (alleen met het verschil in "
                                        "procentpunten, waarin kleine wijken zwaar tellen)",
           "precision_sign_differs": "trechter-z-score en verschil in procentpunten geven een ander teken",
           "spearman_sign_differs": "Pearson en Spearman hebben een ander teken",
           "loo_sign_flip": "het teken draait om als één wijk wordt weggelaten",
           "loo_loses_significance": "niet meer significant als één wijk wordt weggelaten"},
    "en": {"not_significant_precision": "not significant with the funnel z-score (only with the difference in "
                                        "percentage points, in which small wijken weigh heavily)",
           "precision_sign_differs": "funnel z-score and difference in percentage points differ in sign",
           "spearman_sign_differs": "Pearson and Spearman differ in sign",
           "loo_sign_flip": "changes sign when a single wijk is left out",
           "loo_loses_significance": "loses significance when a single wijk is left out"},
}
HHS_FINDING = {"nl": "met sociale cohesie en veiligheid wordt de schatting beter",
               "en": "with social cohesion and safety the estimate improves"}


def num(value: Any, lang: str = "nl", digits: int = 2) -> str:
    """A number for a sentence: decimal comma in Dutch."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


def _wijk(code: str, name: str) -> str:
    return f"{name} ({code})" if name else code


# --------------------------------------------------------------------------- caveats

def scope_caveats(m: Mapping[str, Any], min_clusters: int) -> list[str]:
    """Plain statements about what one coverage group's data can and cannot show."""
    out = []
    G, n = m.get("n_gemeenten", 0), m.get("n_wijken", 0)
    if G < min_clusters:
        out.append(f"Only {G} gemeenten: cluster-robust standard errors by gemeente need many clusters "
                   f"(rule of thumb ≥ 30-50) and are unreliable here, typically too small. HC3 standard errors are "
                   f"used for decisions and cluster-robust ones are reported alongside; HC3 ignores correlation "
                   f"within gemeenten, so neither is fully trustworthy.")
    if n < 300:
        out.append(f"Small N ({n} wijken with a residual): low power, wide intervals; associations of the size "
                   f"described by HHS may be undetectable, and a single wijk can make or break a correlation "
                   f"(see the influence table).")
    if G and G <= 12:
        out.append(f"Leave-one-gemeente-out cross-validation has only {G} folds of very unequal size; "
                   f"its RMSE is itself uncertain.")
    excl = m.get("factors_excluded_from_models") or {}
    if excl:
        out.append(f"{len(excl)} factor(s) left out of the regressions (low coverage or constant): "
                   f"{', '.join(sorted(excl))}; they appear in the correlations only.")
    mo = m.get("moran", {}).get("before", {})
    if mo.get("no_polygon") or mo.get("islands"):
        out.append(f"Moran's I leaves out {len(mo.get('no_polygon', []))} wijk(en) without polygon and "
                   f"{len(mo.get('islands', []))} island(s) without neighbours.")
    return out


def general_caveats(factors, unmatched: Sequence[str], code_warnings: Sequence[str], scope: str,
                    empty: Sequence[str]) -> list[str]:
    out = [
        "Wijk-level (ecological) associations with the residual of the SCP model; they describe wijken, not "
        "families, and are not causal effects.",
        "Correlation intervals and p-values treat wijken as independent; wijken in the same gemeente share policy "
        "and providers, so these intervals are too narrow if residuals cluster.",
        SIGNIFICANCE_STATEMENT,
        ROBUSTNESS_STATEMENT,
        "Each factor is analysed only within the area it covers; factors covering part of the scope form their "
        "own group (and their own multiple-testing family), labelled by their coverage.",
        "Gezondheidsmonitor 2016 wijk figures are model-based small-area estimates built from demographic "
        "covariates that overlap with SCP determinants; their association with the residual may be attenuated.",
    ]
    if factors.any_fictional:
        fict = sorted({s.file for s in factors.specs.values() if s.fictional})
        out.insert(0, f"FICTIONAL factor file(s) included ({', '.join(fict)}): results for those factors "
                      f"demonstrate the method only and say nothing about real wijken.")
    out += list(code_warnings)
    if unmatched and not code_warnings:
        out.append(f"{len(unmatched)} wijk code(s) in the factor files do not occur in the SCP results "
                   f"(other indeling year or out of the SCP file) and are ignored, e.g. {list(unmatched[:5])}.")
    years = sorted({f["indeling_year"] for f in factors.files if f["indeling_year"] != study.YEAR})
    if years:
        out.append(f"Factor file(s) with wijk indeling {years} (not {study.YEAR}): codes are matched as given.")
    if empty:
        out.append(f"Factor(s) without any value among the wijken of this scope ({scope}): {', '.join(empty)}.")
    return out


# --------------------------------------------------------------------------- HHS finding out of sample

#: The prediction error with the factors must be at least this much smaller to count as "better".
MATERIAL_RMSE_GAIN = 0.01


def hhs_verdict(m: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Does 'with social cohesion and safety the estimate improves' hold out of sample in this group?

    Uses the safety-and-cohesion cluster model when there is one, else the joint model; compares the
    leave-one-gemeente-out RMSE with and without the factors, with and without the most influential
    wijk. "Better" means at least :data:`MATERIAL_RMSE_GAIN` (1%) smaller.
    """
    models = m.get("models", {})
    model = "veiligheid_sociale_cohesie" if "veiligheid_sociale_cohesie" in models else "joint"
    mm = models.get(model)
    out: dict[str, Any] = {"model": model, "holds": None, "depends_on_one_wijk": None,
                           "material_gain": MATERIAL_RMSE_GAIN}
    cv = (mm or {}).get("cv_leave_one_gemeente_out", {})
    if not mm or "rmse_factors" not in cv:
        out["sentence"] = {"nl": f"In {label} valt de HHS-bevinding ('{HHS_FINDING['nl']}') niet buiten de steekproef "
                                 f"te toetsen: te weinig wijken of gemeenten met factorwaarden.",
                           "en": f"In {label} the HHS finding ('{HHS_FINDING['en']}') cannot be tested out of "
                                 f"sample: too few wijken or gemeenten with factor values."}
        return out
    wo = mm.get("without_most_influential", {})
    cvo = wo.get("cv_leave_one_gemeente_out", {})
    better = cv["rmse_factors"] <= (1 - MATERIAL_RMSE_GAIN) * cv["rmse_baseline"]
    better_wo = (cvo["rmse_factors"] <= (1 - MATERIAL_RMSE_GAIN) * cvo["rmse_baseline"]
                 if "rmse_factors" in cvo else better)
    out.update({"holds": bool(better and better_wo), "depends_on_one_wijk": bool(better != better_wo),
                "rmse_with_factors": cv["rmse_factors"], "rmse_without_factors": cv["rmse_baseline"],
                "delta_r2": mm.get("delta_r2"), "most_influential_wijk": wo.get("wijk_code", ""),
                "rmse_with_factors_without_wijk": cvo.get("rmse_factors"),
                "rmse_without_factors_without_wijk": cvo.get("rmse_baseline"),
                "delta_r2_without_wijk": wo.get("delta_r2")})
    w = _wijk(wo.get("wijk_code", ""), wo.get("wijk_name", ""))
    which = {"nl": ("met de factoren voor veiligheid en sociale cohesie" if model != "joint" else
                    "met alle lokale factoren samen (er zijn hier geen publieke factoren voor veiligheid en cohesie)"),
             "en": ("with the safety and social cohesion factors" if model != "joint" else
                    "with all local factors together (no public safety or cohesion factors here)")}
    a, b, c, d = (num(v, "nl") for v in (cv["rmse_factors"], cv["rmse_baseline"], cvo.get("rmse_factors"),
                                         cvo.get("rmse_baseline")))
    err = f"de voorspelfout (steeds één gemeente weggelaten) is {which['nl']} {a} procentpunt tegen {b} zonder"
    if better and better_wo:
        nl = f"houdt buiten de steekproef stand: {err}, en zonder de invloedrijkste wijk {w} {c} tegen {d}."
    elif better:
        nl = f"houdt buiten de steekproef alleen stand dankzij één wijk: {err}, maar zonder de invloedrijkste " \
             f"wijk {w} {c} tegen {d}."
    elif better_wo:
        nl = f"houdt buiten de steekproef geen stand: {err}; alleen zonder de invloedrijkste wijk {w} is de fout " \
             f"met de factoren kleiner ({c} tegen {d})."
    else:
        nl = f"houdt buiten de steekproef geen stand: {err}, en zonder de invloedrijkste wijk {w} {c} tegen {d}."
    a, b, c, d = (num(v, "en") for v in (cv["rmse_factors"], cv["rmse_baseline"], cvo.get("rmse_factors"),
                                         cvo.get("rmse_baseline")))
    err = f"the prediction error (one gemeente held out at a time) is {a} percentage points {which['en']} against " \
          f"{b} without"
    if better and better_wo:
        en = f"holds out of sample: {err}, and {c} against {d} without the most influential wijk {w}."
    elif better:
        en = f"holds out of sample only because of one wijk: {err}, but {c} against {d} without the most " \
             f"influential wijk {w}."
    elif better_wo:
        en = f"does not hold out of sample: {err}; only without the most influential wijk {w} is the error with " \
             f"the factors smaller ({c} against {d})."
    else:
        en = f"does not hold out of sample: {err}, and {c} against {d} without the most influential wijk {w}."
    out["sentence"] = {"nl": f"Op de publieke gegevens voor {label}: de HHS-bevinding ('{HHS_FINDING['nl']}') {nl}",
                       "en": f"On the public data for {label}: the HHS finding ('{HHS_FINDING['en']}') {en}"}
    return out


# --------------------------------------------------------------------------- headline and sentences

def headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Key numbers per coverage group (prefix = group id) for the report, from robust findings only:
    the robust correlations and joint-model factors, the number of fragile ones (not findings), the
    in-sample ΔR² and the leave-one-gemeente-out error with and without the factors, with and without
    the most influential wijk, whether the HHS finding holds out of sample, and Moran's I."""
    out: dict[str, Any] = {"scope": metrics.get("scope"), "scope_label": metrics.get("scope_label")}
    for g, m in metrics["scopes"].items():
        f = m.get("findings_by_analysis", {})
        joint = m.get("models", {}).get("joint", {})
        out[f"{g}_coverage"] = m.get("coverage_label")
        out[f"{g}_n_wijken"] = m.get("n_wijken")
        out[f"{g}_factors_analysed"] = len(m.get("factors_analysed", []))
        out[f"{g}_correlations_robust"] = ", ".join(x["factor"] for x in f.get("correlations", {}).get("robust", [])) \
            or "none"
        out[f"{g}_correlations_fragile_n"] = len(f.get("correlations", {}).get("fragile", []))
        out[f"{g}_joint_model_robust"] = ", ".join(x["factor"] for x in f.get("joint_model", {}).get("robust", [])) \
            or "none"
        out[f"{g}_joint_model_fragile_n"] = len(f.get("joint_model", {}).get("fragile", []))
        if "r2_residual" in joint:
            out[f"{g}_joint_model_n"] = joint["n"]
            out[f"{g}_joint_model_r2_of_gap"] = joint["r2_residual"]
            out[f"{g}_joint_model_delta_r2_over_scp"] = joint["delta_r2"]
        cv = joint.get("cv_leave_one_gemeente_out", {})
        if "rmse_factors" in cv:
            out[f"{g}_cv_rmse_without_factors"] = cv["rmse_baseline"]
            out[f"{g}_cv_rmse_with_factors"] = cv["rmse_factors"]
        wo = joint.get("without_most_influential", {})
        if "delta_r2" in wo:
            out[f"{g}_most_influential_wijk"] = wo["wijk_code"]
            out[f"{g}_joint_model_delta_r2_without_most_influential"] = wo["delta_r2"]
            cvo = wo.get("cv_leave_one_gemeente_out", {})
            if "rmse_factors" in cvo:
                out[f"{g}_cv_rmse_with_factors_without_most_influential"] = cvo["rmse_factors"]
                out[f"{g}_cv_rmse_without_factors_without_most_influential"] = cvo["rmse_baseline"]
        holds = m.get("hhs_out_of_sample", {}).get("holds")
        if holds is not None:
            out[f"{g}_hhs_finding_holds_out_of_sample"] = holds
        for when in ("before", "after"):
            i = m.get("moran", {}).get(when, {}).get("I")
            if i is not None and not (isinstance(i, float) and math.isnan(i)):
                out[f"{g}_morans_i_gap_{when}_factors"] = i
    return out


def _direction(estimate: float, lang: str) -> str:
    up = estimate > 0
    if lang == "nl":
        return "meer" if up else "minder"
    return "more" if up else "less"


def sentences(metrics: Mapping[str, Any], lang: str = "nl") -> list[str]:
    """Plain sentences for the report, about robust findings only (and the out-of-sample verdict)."""
    out = []
    for m in metrics["scopes"].values():
        lab = m["coverage_label"]
        rob = m.get("findings_by_analysis", {}).get("correlations", {}).get("robust", [])
        for x in rob:
            label = x["label_nl"] if lang == "nl" else x["label_en"]
            if lang == "nl":
                out.append(f"In {lab} gebruiken jeugdigen in wijken met een hogere waarde van '{label}' "
                           f"{_direction(x['coef_per_sd'], lang)} jeugdhulp dan het SCP-model verwacht "
                           f"(r = {num(x['r'], lang)} met het verschil in procentpunten, r = {num(x['r_precision'], lang)} met "
                           f"de trechter-z-score, die rekening houdt met de grootte van de wijk). Deze samenhang blijft "
                           f"staan als welke wijk dan ook wordt weggelaten.")
            else:
                out.append(f"In {lab}, wijken with a higher value of '{label}' use {_direction(x['coef_per_sd'], lang)} "
                           f"youth care than the SCP model expects (r = {num(x['r'], lang)} with the difference in "
                           f"percentage points, r = {num(x['r_precision'], lang)} with the funnel z-score, which accounts "
                           f"for the size of the wijk). The association holds when any single wijk is left out.")
        if not rob:
            out.append(f"In {lab} hangt geen enkele lokale factor robuust samen met het verschil tussen waargenomen "
                       f"en verwacht gebruik." if lang == "nl" else
                       f"In {lab} no local factor is robustly associated with the difference between observed and "
                       f"expected use.")
        verdict = m.get("hhs_out_of_sample", {}).get("sentence", {}).get(lang)
        if verdict:
            out.append(verdict)
    return out


def fragile_notes(metrics: Mapping[str, Any], lang: str = "nl") -> list[str]:
    """Footnotes on the fragile associations (not findings): why, and which wijk decides them."""
    out = []
    for m in metrics["scopes"].values():
        f = m.get("findings_by_analysis", {})
        for kind, items in (("correlation", f.get("correlations", {}).get("fragile", [])),
                            ("joint", f.get("joint_model", {}).get("fragile", []))):
            for x in items:
                label = x["label_nl"] if lang == "nl" else x["label_en"]
                why = "; ".join(REASONS[lang][c] for c in x["reason_codes"] if c in REASONS[lang])
                w = _wijk(x.get("decisive_wijk_code", ""), x.get("decisive_wijk_name", ""))
                what = ({"correlation": "samenhang", "joint": "gezamenlijk model"} if lang == "nl" else
                        {"correlation": "association", "joint": "joint model"})[kind]
                if lang == "nl":
                    out.append(f"Fragiel ({what}, {m['coverage_label']}): '{label}': {why}"
                               + (f"; bepalende wijk {w}." if w else ".") + " Geen bevinding.")
                else:
                    out.append(f"Fragile ({what}, {m['coverage_label']}): '{label}': {why}"
                               + (f"; decisive wijk {w}." if w else ".") + " Not a finding.")
    return out


# --------------------------------------------------------------------------- captions and summary

def figure_captions(analysis, geometry=None, lang: str = "nl") -> dict[str, str]:
    """Caption placeholder values for the step's registered figures."""
    from .sources import geometry_vintage
    main = analysis.main
    return {"region_label": analysis.metrics.get("scope_label", ""), "scope_label": main.coverage_label,
            "geometry_vintage": geometry_vintage(geometry, lang)}


def summary_table(analysis, lang: str = "nl") -> pd.DataFrame:
    """Key numbers per coverage group and model (N, R², ΔR², CV RMSE, with and without the most
    influential wijk) for display in the notebook."""
    rows = []
    for res in analysis.scopes.values():
        for model, m in res.metrics["models"].items():
            cv = m.get("cv_leave_one_gemeente_out", {})
            wo = m.get("without_most_influential", {})
            cvo = wo.get("cv_leave_one_gemeente_out", {})
            rows.append({"group": res.coverage_label, "model": model, "n": m.get("n"),
                         "n_gemeenten": m.get("n_gemeenten"), "r2_base": m.get("r2_base"),
                         "r2_full": m.get("r2_full"), "delta_r2": m.get("delta_r2"),
                         "f_test_p": (m.get("f_test") or {}).get("p"), "cv_rmse_baseline": cv.get("rmse_baseline"),
                         "cv_rmse_factors": cv.get("rmse_factors"), "most_influential_wijk": wo.get("wijk_code"),
                         "delta_r2_without_it": wo.get("delta_r2"),
                         "cv_rmse_baseline_without_it": cvo.get("rmse_baseline"),
                         "cv_rmse_factors_without_it": cvo.get("rmse_factors")})
    return pd.DataFrame(rows)
