"""Sentences and key numbers from the computed metrics: model description, gap explanation,
statements on the published figures, and the headline numbers of the national and regional steps.

Every number in a sentence comes from the metrics passed in; nothing is typed in.
"""
from __future__ import annotations

import pandas as pd

from ..study import N_DETERMINANTS
from ..study import PUBLISHED
from .options import ModelOptions


def fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def model_description(o: ModelOptions) -> str:
    lv = ("region random intercept + gemeente variance component (wijken in gemeenten in jeugdzorgregio's)"
          if o.levels == "region+gemeente" else "gemeente random intercept")
    return (f"Linear mixed model (statsmodels MixedLM, REML) of perc_jhzv on the {N_DETERMINANTS} SCP determinants; {lv}; "
            f"wijken < {o.min_inhabitants:.0f} inhabitants not fitted; suppressed outcomes: {o.suppressed}; "
            f"missing determinants: {o.determinant_missing} with indicators for determinants missing in >= "
            f"{o.missing_indicator_min_share:.0%} of wijken; expected = fixed part + region and gemeente BLUPs.")


def gap_explanation(comp: dict, variants: list[dict]) -> str:
    """Plain-language account of why the re-estimate differs from perc_przv, from the computed variants."""
    v = {x["name"]: x for x in variants}

    def r(name):
        return fmt(v[name]["r_complete"]) if name in v else "n/a"

    parts = [f"Headline re-estimate (mixedlm_default) vs perc_przv on complete wijken: r = "
             f"{fmt(comp['overall']['complete']['r'])}, MAE = {fmt(comp['overall']['complete']['mae'])} pp; "
             f"on all wijken r = {fmt(comp['overall']['all']['r'])}."]
    if v:
        parts.append(
            f"Random effects matter most: without them r = {r('mixedlm_fixed_part_only')}; unshrunk gemeente fixed "
            f"effects give r = {r('ols_gemeente_fe')} (complete-case FE {r('ols_gemeente_fe_complete')}, "
            f"youth-weighted FE {r('wls_gemeente_fe_youth_weighted')}), so SCP's expectation contains shrunken "
            f"(random) gemeente and region effects and was not weighted by youths. Missing-data handling moves r "
            f"less: dropping suppressed outcomes {r('mixedlm_drop_suppressed')}, no missing indicators "
            f"{r('mixedlm_no_indicators')}, complete cases only {r('mixedlm_complete_cases')}, gemeente level only "
            f"{r('mixedlm_gemeente_only')}.")
        if "diagnostic_own_fixed_part_plus_published_gemeente_means" in v:
            parts.append(
                "Diagnostics that borrow from perc_przv (not re-estimates): our fixed part plus the gemeente means of "
                f"perc_przv gives r = {r('diagnostic_own_fixed_part_plus_published_gemeente_means')}, while the "
                "recovered SCP coefficients with unshrunk observed gemeente means give r = "
                f"{r('diagnostic_published_coefficients_plus_observed_gemeente_means')}: the remaining gap lies "
                "mainly in the gemeente/region effects.")
    parts.append(
        "Causes that cannot be removed with public data: SCP fitted on unmasked microdata determinants (the public "
        "file masks them in many small wijken, so coefficients and especially the gemeente effects of gemeenten "
        "with masked wijken differ), on its own imputations of the suppressed outcomes (method unpublished), and "
        "its gemeente effects also absorb gemeente-level information that is not in the file; the determinants in "
        "the file are rounded (the recovered model reproduces perc_przv with small residuals, not exactly). For "
        "wijken with masked determinants the re-estimate necessarily uses imputed values, hence lower agreement "
        "on all wijken.")
    return " ".join(parts)


def published_statements(published: dict, hhs: dict, rule: str, sens: pd.DataFrame) -> list[str]:
    """Statements comparing the reproduced headline figures with the published ones."""
    out = []
    for fig, best in published["aggregation_matching_published"].items():
        out.append(f"Published {fig.replace('_', ' ')} {PUBLISHED[fig]:.1f}% is matched by the "
                   f"{best['closest_aggregation'].replace('_', ' ')} ({best['value']:.2f}%, difference "
                   f"{best['value'] - PUBLISHED[fig]:+.2f} pp); the report does not say how it aggregated.")
    scope = hhs.get("scope")
    here = sens[(sens["scope"] == scope) & (sens["rule"] == rule)]["share_differing"]
    closest = hhs.get("closest")
    if closest and len(here) and scope == "haaglanden":
        out.append(f"HHS: 'almost 40%' of Haaglanden wijken differ clearly. The default rule {rule} gives "
                   f"{float(here.iloc[0]):.1%}; {closest['rule']} gives {closest['share_differing']:.1%} "
                   f"(closest to 40%). The default allows for overdispersion, so fewer wijken are flagged.")
    return out


def _published_strings(published: dict) -> dict:
    return {f"published_{fig}": (f"{best['value']:.2f} ({best['closest_aggregation']}) vs published "
                                 f"{PUBLISHED[fig]:.1f}")
            for fig, best in (published or {}).get("aggregation_matching_published", {}).items()}


def national_headline(metrics: dict) -> dict:
    """The national step's key numbers (percentages of youths; shares of wijken as fractions)."""
    sn = metrics["summary_numbers"]
    dev = metrics["deviation"]
    out = {
        "nl_n_wijken": sn["nl"]["n_wijken"],
        "nl_observed_pct_weighted": sn["nl"]["observed_weighted"],
        "nl_expected_pct_weighted": sn["nl"]["expected_weighted_all"],
        "nl_observed_pct_unweighted": sn["nl"]["observed_unweighted"],
        "deviation_rule": dev["rule"],
        "nl_share_wijken_higher": dev["nl"]["share_higher"],
        "nl_share_wijken_lower": dev["nl"]["share_lower"],
        "nl_share_wijken_differing": dev["nl"]["share_differing"],
        "reestimate_vs_published_expectation_r": metrics["target"]["r_complete_headline"],
        **_published_strings(metrics.get("published_comparison")),
    }
    closest = (dev.get("rules_reproducing_hhs_40pct") or {}).get("closest")
    if closest:
        out["rule_closest_to_hhs_almost_40pct"] = f"{closest['rule']} ({closest['share_differing']:.3f})"
    return out


def region_headline(summary: dict, nl: dict, published: dict, hhs: dict | None) -> dict:
    """A region's key numbers: :func:`summaries.region_summary` plus the national reference."""
    out = {
        "nl_observed_pct_weighted": nl["observed_weighted"],
        "region_n_wijken": summary["n_wijken"],
        "region_observed_pct_weighted": summary["observed_weighted"],
        "region_expected_pct_weighted": summary["expected_weighted_all"],
        "region_observed_pct_unweighted": summary["observed_unweighted"],
        "region_expected_pct_unweighted": summary["expected_unweighted_all"],
        "deviation_rule": summary["deviation_rule"],
        "region_share_wijken_higher": summary["share_higher"],
        "region_share_wijken_lower": summary["share_lower"],
        "region_share_wijken_differing": summary["share_differing"],
        "region_reestimate_vs_published_expectation_r": summary["reestimate_vs_scp_r_complete"],
        **_published_strings(published),
    }
    closest = (hhs or {}).get("closest")
    if closest:
        out["rule_closest_to_hhs_almost_40pct"] = f"{closest['rule']} ({closest['share_differing']:.3f})"
    return out
