"""Sensitivity variants of the re-estimated model and the coefficient comparison.

Every variant is fitted and compared with SCP's published expectation ``perc_przv``; the
agreement numbers are computed, never typed in. Variants marked ``uses_published_expectation``
borrow from ``perc_przv`` and are diagnostics, not independent re-estimates.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..dictionary import DETERMINANTS
from .model import MixedFit, fit_gemeente_fe, fit_reestimated
from .options import ModelOptions, check_table
from .recovered import RecoveredFit
from .summaries import agreement


VARIANTS = [
    ("mixedlm_default", "3-level LMM (region RE + gemeente VC), gemeente-mean imputation + missing indicators "
     "(>=10% missing), suppressed outcomes imputed (capped at <10 users), random effects included", {}),
    ("mixedlm_drop_suppressed", "as default, suppressed outcomes dropped", {"suppressed": "drop"}),
    ("mixedlm_no_indicators", "as default, no missing indicators (gemeente-mean imputation only)",
     {"missing_indicator_min_share": 2.0}),
    ("mixedlm_all_indicators", "as default, missing indicators for every determinant with a missing value",
     {"missing_indicator_min_share": 1e-9}),
    ("mixedlm_complete_cases", "as default, fitted on wijken with all 27 determinants only",
     {"determinant_missing": "complete_cases"}),
    ("mixedlm_gemeente_only", "2-level LMM (gemeente random intercept only), otherwise as default",
     {"levels": "gemeente"}),
]


def run_variants(table: pd.DataFrame, default_fit: MixedFit | None = None,
                 recovered: RecoveredFit | None = None) -> list[dict]:
    """Every re-estimation variant with its agreement with ``perc_przv`` (computed, never fixed).

    Variants other than the default use one imputation round for suppressed outcomes (fit, impute,
    refit) to keep the run time down; the default fit uses ``impute_iterations`` rounds.
    """
    table = check_table(table)
    complete = table[DETERMINANTS].notna().all(axis=1)
    ref = table["perc_przv"]
    rows = []

    def add(name, desc, pred, n_fit, uses_pub=False):
        a, b = agreement(pred, ref, complete), agreement(pred, ref)
        rows.append({"name": name, "description": desc, "uses_published_expectation": uses_pub, "n_fit": n_fit,
                     "r_complete": a["r"], "mae_complete": a["mae"], "max_abs_error_complete": a["max_abs_error"],
                     "r_all": b["r"], "mae_all": b["mae"]})

    fits = {}
    for name, desc, opts in VARIANTS:
        if name == "mixedlm_default" and default_fit is not None:
            fit = default_fit
        else:
            fit = fit_reestimated(table, replace(ModelOptions(), impute_iterations=1, **opts))
        fits[name] = fit
        add(name, desc, fit.expected, int(fit.fit_rows.sum()))
    base = fits["mixedlm_default"]
    add("mixedlm_fixed_part_only", "default LMM, fixed part only (random effects left out)", base.fixed,
        int(base.fit_rows.sum()))
    n_obs = int((table["perc_jhzv"].notna() & (table["inhabitants"] >= 100)).sum())
    add("ols_gemeente_fe", "OLS with gemeente fixed effects, gemeente-mean imputation + indicators, suppressed "
        "dropped, unweighted (no shrinkage)", fit_gemeente_fe(table), n_obs)
    add("ols_gemeente_fe_complete", "OLS with gemeente fixed effects on complete wijken only",
        fit_gemeente_fe(table, ModelOptions(determinant_missing="complete_cases")),
        int((table["perc_jhzv"].notna() & complete & (table["inhabitants"] >= 100)).sum()))
    add("wls_gemeente_fe_youth_weighted", "as ols_gemeente_fe, weighted by estimated youths",
        fit_gemeente_fe(table, weighted=True), n_obs)
    if recovered is not None:
        # diagnostics that borrow from the published expectation: NOT independent re-estimates
        own = base.fixed
        shift = (ref - own)[complete].groupby(table["gemeente_code"][complete]).mean()
        pred = own + table["gemeente_code"].map(shift).fillna(0.0)
        add("diagnostic_own_fixed_part_plus_published_gemeente_means",
            "DIAGNOSTIC, uses perc_przv: default LMM fixed part + gemeente mean of (perc_przv - fixed part) on "
            "complete wijken; shows how much of the gap lies in the gemeente effects", pred,
            int(base.fit_rows.sum()), True)
        rec_coef = recovered.coefficients.set_index("term")["estimate"]
        varying = [t for t in rec_coef.index if t in table.columns and t not in
                   recovered.metrics["gemeente_level_determinants"]]
        X = base.design.X[varying]
        xbr = X @ rec_coef[varying]
        resid = table["perc_jhzv"] - xbr
        obs_mean = resid.groupby(table["gemeente_code"]).mean()
        pred2 = xbr + table["gemeente_code"].map(obs_mean)
        pred2 = pred2.fillna(xbr + float(obs_mean.mean()))
        add("diagnostic_published_coefficients_plus_observed_gemeente_means",
            "DIAGNOSTIC, uses perc_przv: recovered coefficients + unshrunk gemeente means of observed residuals",
            pred2, int(table["perc_jhzv"].notna().sum()), True)
    return rows


def coefficient_comparison(fit: MixedFit, recovered: RecoveredFit) -> pd.DataFrame:
    """Re-estimated (with 95% CI) next to recovered coefficients, original units."""
    re_ = fit.coefficients.set_index("term")
    rc = recovered.coefficients.set_index("term")
    terms = list(re_.index)
    out = re_.copy()
    out["recovered"] = [rc["estimate"].get(t, np.nan) for t in terms]
    out["recovered_se"] = [rc["se"].get(t, np.nan) for t in terms]
    out["recovered_inside_ci"] = (out["recovered"] >= out["ci_low"]) & (out["recovered"] <= out["ci_high"])
    out["recovered_inside_ci"] = out["recovered_inside_ci"].astype(object).where(out["recovered"].notna(), None)
    out["sd"] = [fit.sd.get(t, np.nan) for t in terms]
    out["kind"] = ["intercept" if t == "intercept" else ("missing_indicator" if t.startswith("mis_")
                                                          else "determinant") for t in terms]
    return out.reset_index()
