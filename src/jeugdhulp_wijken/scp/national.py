"""The national SCP analysis, run once: fits, results for every wijk, sensitivity, metrics.

:func:`analyse_national` fits the re-estimated and the recovered model on the national wijk
table, classifies every wijk under ``deviation_rule`` with the national overdispersion, and
computes the national metrics. A region is a slice of these results
(:mod:`jeugdhulp_wijken.scp.region`); nothing regional happens here.

National metrics (catalog id ``scp_metrics_nl``) keys
-----------------------------------------------------
``meta``: study, year, synthetic, options, deviation_rule, youth approximation, exclusions,
``deviations_from_published`` (statements with the numbers they change).
``reestimated_model``: description, n_fit, n_observed, n_imputed_suppressed, n_excluded_small,
n_incomplete_determinants, missing_indicators, converged, variance_components (region,
gemeente, wijk), icc, r2_marginal, r2_conditional, loglik.
``recovered_model``: n_fit, n_gemeenten, r2, rmse, mae, max_abs_error (complete wijken),
incomplete_wijken, gemeente_level_determinants, second_stage.
``coefficient_comparison``: r between re-estimated and recovered coefficients (SD units).
``comparison``: ``overall`` ({complete, all} -> n, r, mae, max_abs_error, rmse, mean_difference)
of the re-estimate vs ``perc_przv``; ``per_jz``; ``haaglanden`` (study area, null if absent).
``variants``: {name, description, uses_published_expectation, n_fit, r_complete, ...} per variant.
``target``: r_complete_target (0.99), r_complete_headline, reached, best independent variant.
``gap_explanation``: text. ``summary_numbers``: {nl, haaglanden}. ``published_comparison``.
``deviation``: rule, description, overdispersion (phi, tau2, n, winsor: what a region needs to
reclassify under another rule), nl and haaglanden class counts and shares,
hhs_published_share_differing, rules_reproducing_hhs_40pct. ``headline``: key numbers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from .. import deviation
from ..study import PUBLISHED, R_TARGET, STUDY_AREA_GEMEENTEN, SUPPRESSED_MAX_USERS, YEAR
from . import narrative
from .model import MixedFit, fit_reestimated
from .options import RESULT_COLUMNS, ModelOptions, check_table
from .recovered import RecoveredFit, fit_recovered
from .summaries import compare, pearson_r, published_comparison, summary_numbers
from .variants import coefficient_comparison, run_variants

STUDY = "SCP Jeugdhulp in de wijk (SCP-publicatie 2020-1); HHS Jeugdhulp in de wijken (2020)"


@dataclass
class NationalAnalysis:
    options: ModelOptions
    deviation_rule: str
    results: pd.DataFrame           # RESULT_COLUMNS, every wijk (catalog id scp_results_nl)
    fit: MixedFit
    recovered: RecoveredFit
    coefficients: pd.DataFrame      # scp_coefficients
    sensitivity: pd.DataFrame       # scp_sensitivity: rule x scope (nl, haaglanden, every jeugdzorgregio)
    metrics: dict = field(default_factory=dict)  # scp_metrics_nl


def results_table(table: pd.DataFrame, fit: MixedFit, recovered: RecoveredFit, deviation_rule: str,
                  overdispersion: dict) -> pd.DataFrame:
    """One row per wijk with observed, both expectations, the difference, z-score and class."""
    res = table[["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
                 "ggd_code", "ggd_name"]].copy()
    res["observed"] = table["perc_jhzv"].astype(float)
    res["expected_scp"] = table["perc_przv"].astype(float)
    res["difference"] = res["observed"] - res["expected_scp"]
    res["expected_reestimated"] = fit.expected.to_numpy()
    res["expected_recovered"] = recovered.expected.to_numpy()
    res["youths_0_17_est"] = table["youths_0_17_est"].astype(float)
    res["determinants_complete"] = fit.design.complete.to_numpy(dtype=bool)
    res = deviation.classify_results(res, deviation_rule, overdispersion)
    return res[RESULT_COLUMNS]


def analyse_national(table: pd.DataFrame, options: ModelOptions = ModelOptions(),
                     deviation_rule: str = deviation.DEFAULT_RULE, synthetic: bool = False, year: int = YEAR,
                     with_variants: bool = True) -> NationalAnalysis:
    """Fit both models once on the national table and compute everything national."""
    deviation.check_rule(deviation_rule)
    table = check_table(table)
    fit = fit_reestimated(table, options)
    recovered = fit_recovered(table)
    complete = fit.design.complete
    od = deviation.estimate_overdispersion(table["perc_jhzv"], table["perc_przv"], table["youths_0_17_est"])
    res = results_table(table, fit, recovered, deviation_rule, od)
    sens = deviation.sensitivity_table(res, od)
    coefs = coefficient_comparison(fit, recovered)

    comp = compare(fit.expected, table, complete)
    variants = run_variants(table, fit, recovered) if with_variants else []
    hl_mask = res["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)
    nl_sum = summary_numbers(res)
    hl_sum = summary_numbers(res, hl_mask) if hl_mask.any() else None
    inds = list(fit.design.indicators)
    dets = coefs[coefs["kind"] == "determinant"].dropna(subset=["recovered"])
    coef_r = pearson_r(dets["estimate"] * dets["sd"], dets["recovered"] * dets["sd"])
    n_small = int(fit.design.small.sum())
    n_imp = int(fit.imputed_outcome.notna().sum())
    n_incomplete = int((~complete).sum())
    r_c = comp["overall"]["complete"]["r"]
    indep = [v for v in variants if not v["uses_published_expectation"] and v["r_complete"] is not None]
    best = max(indep, key=lambda v: v["r_complete"]) if indep else None
    hhs = deviation.rules_reproducing(sens, PUBLISHED["haaglanden_share_differing"],
                                      scope="haaglanden" if hl_mask.any() else "nl")
    published = published_comparison(nl_sum, hl_sum)
    vc = fit.variance_components
    metrics = {
        "meta": {
            "study": STUDY, "year": int(year), "synthetic": bool(synthetic), "scope": "nl",
            "options": asdict(options), "deviation_rule": deviation_rule,
            "youth_approximation": "youths_0_17_est from the wijk table (KWB 2017: inhabitants * (p_00_14 + 0.3 * "
                                   "p_15_24) / 100); used as binomial denominator and as weight",
            "exclusions": {"n_wijken_total": int(len(table)), "n_below_min_inhabitants": n_small,
                           "min_inhabitants": options.min_inhabitants,
                           "n_suppressed_outcome": int(table["perc_jhzv"].isna().sum()),
                           "n_incomplete_determinants": n_incomplete},
            "results_columns": RESULT_COLUMNS,
            "deviations_from_published": [
                f"Re-estimated on the public file: {n_incomplete} wijken have masked determinants "
                f"('.'), imputed by gemeente means with {len(inds)} missing indicators; SCP used the unmasked "
                "microdata values.",
                f"{n_imp} suppressed outcomes imputed by the model prediction capped at {SUPPRESSED_MAX_USERS} "
                "users / estimated youths (SCP's imputation method is not published).",
                f"{n_small} wijken below {options.min_inhabitants:.0f} inhabitants in KWB 2017 are not used for "
                "fitting (they are in SCP's file with an expectation; SCP's inhabitant count may differ).",
                "The re-estimated expectation agrees with perc_przv with r = "
                f"{narrative.fmt(r_c)} on complete wijken (target {R_TARGET}); deviation classes and maps use the "
                "published perc_przv, not the re-estimate.",
                "SCP's deviation rule is not published; the rule used here is a documented choice "
                f"({deviation_rule}) with a sensitivity table.",
                *narrative.published_statements(published, hhs, deviation_rule, sens),
            ]},
        "reestimated_model": {
            "description": narrative.model_description(options),
            "n_fit": int(fit.fit_rows.sum()),
            "n_observed": int((table["perc_jhzv"].notna() & ~fit.design.small).sum()),
            "n_imputed_suppressed": n_imp, "n_excluded_small": n_small,
            "n_incomplete_determinants": n_incomplete, "missing_indicators": inds,
            "converged": vc["converged"],
            "variance_components": {k: vc[k] for k in ("region", "gemeente", "wijk")},
            "icc": vc["icc"], "r2_marginal": vc["r2_marginal"], "r2_conditional": vc["r2_conditional"],
            "loglik": vc["loglik"]},
        "recovered_model": recovered.metrics,
        "coefficient_comparison": {"r_standardised": coef_r, "n_coefficients": int(len(dets)),
                                   "n_recovered_inside_ci": int(dets["recovered_inside_ci"].astype(bool).sum())},
        "comparison": comp,
        "variants": variants,
        "target": {"r_complete_target": R_TARGET, "r_complete_headline": r_c,
                   "reached": bool(r_c is not None and r_c >= R_TARGET),
                   "headline_variant": "mixedlm_default",
                   "best_independent_variant": best["name"] if best else None,
                   "best_independent_r_complete": best["r_complete"] if best else None},
        "gap_explanation": narrative.gap_explanation(comp, variants),
        "summary_numbers": {"nl": nl_sum, "haaglanden": hl_sum},
        "published_comparison": published,
        "deviation": {"rule": deviation_rule, "description": deviation.RULES[deviation_rule],
                      "overdispersion": od,
                      "nl": deviation.class_counts(res["deviation_class"]),
                      "haaglanden": deviation.class_counts(res.loc[hl_mask, "deviation_class"]) if hl_mask.any()
                      else None,
                      "hhs_published_share_differing": PUBLISHED["haaglanden_share_differing"],
                      "rules_reproducing_hhs_40pct": hhs},
    }
    metrics["headline"] = narrative.national_headline(metrics)
    return NationalAnalysis(options=options, deviation_rule=deviation_rule, results=res, fit=fit,
                            recovered=recovered, coefficients=coefs, sensitivity=sens, metrics=metrics)
