"""The recovered SCP model: SCP's own coefficients, recovered from its published expectation.

**Recovered model** (:func:`fit_recovered`). OLS of the published expectation ``perc_przv``
on the wijk-varying determinants plus gemeente fixed effects, on the wijken with complete
determinants. Determinants that are constant within every gemeente (``samenw``) are absorbed
by the gemeente effects; a second stage (mixed model of the gemeente effects on those
determinants, groups = jeugdzorgregio) splits the gemeente effects into intercept,
gemeente-level coefficients, region effects and gemeente effects. Expected values for wijken
with missing determinants use gemeente-mean imputation and are therefore approximate.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..study import N_DETERMINANTS
from ..dictionary import DETERMINANTS
from .model import _within_varying
from .options import ModelDataError, check_table
from .summaries import pearson_r


@dataclass
class RecoveredFit:
    coefficients: pd.DataFrame       # term, estimate, se
    gemeente_effects: pd.DataFrame   # gemeente_code, jz_code, gemeente_effect, region_effect, gemeente_re, source
    expected: pd.Series              # for every wijk
    metrics: dict


def fit_recovered(table: pd.DataFrame) -> RecoveredFit:
    """Recover SCP's model from ``perc_przv``: OLS with gemeente fixed effects on complete wijken."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    table = check_table(table)
    det = table[DETERMINANTS].astype(float)
    complete = det.notna().all(axis=1)
    c = table[complete]
    if len(c) < len(DETERMINANTS) + 5:
        raise ModelDataError(f"Only {len(c)} wijken have all {N_DETERMINANTS} determinants; the recovered model "
                             "needs more.")
    varying = _within_varying(det[complete], c["gemeente_code"])
    gem_level = [d for d in DETERMINANTS if d not in varying]
    G = pd.get_dummies(c["gemeente_code"], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.OLS(c["perc_przv"], pd.concat([c[varying], G], axis=1)).fit()
    fitted = res.fittedvalues
    err = fitted - c["perc_przv"]
    coefs = pd.DataFrame({"term": varying, "estimate": res.params[varying].values,
                          "se": res.bse[varying].values})
    geff = pd.DataFrame({"gemeente_code": G.columns, "gemeente_effect": res.params[G.columns].values,
                         "source": "complete wijken (exact)"})
    # gemeenten without complete wijken: approximate from gemeente-mean-imputed determinants
    X_imp = det.fillna(det.groupby(table["gemeente_code"]).transform("mean")).fillna(det.mean())
    xb = X_imp[varying] @ res.params[varying]
    approx = (table["perc_przv"] - xb).groupby(table["gemeente_code"]).mean()
    absent = sorted(set(table["gemeente_code"]) - set(G.columns))
    if absent:
        geff = pd.concat([geff, pd.DataFrame({"gemeente_code": absent, "gemeente_effect": approx[absent].values,
                                              "source": "no complete wijk: approximate (imputed determinants)"})])
    gem_info = table.groupby("gemeente_code").agg(jz_code=("jz_code", "first"),
                                                  **{d: (d, "first") for d in gem_level})
    geff = geff.merge(gem_info, left_on="gemeente_code", right_index=True).sort_values("gemeente_code")
    # second stage: split gemeente effects into intercept + gemeente-level determinants + region + gemeente
    second = {}
    exact = geff[geff["source"].str.startswith("complete")].copy()
    formula = "gemeente_effect ~ 1" + "".join(f" + {d}" for d in gem_level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m2 = smf.mixedlm(formula, exact, groups="jz_code").fit(reml=True)
            re2 = {k: float(v.iloc[0]) for k, v in m2.random_effects.items()}
            geff["region_effect"] = geff["jz_code"].map(re2).fillna(0.0)
            fe2 = m2.fe_params
            fixed2 = fe2["Intercept"] + sum(fe2[d] * geff[d] for d in gem_level)
            geff["gemeente_re"] = geff["gemeente_effect"] - fixed2 - geff["region_effect"]
            second = {"intercept": float(fe2["Intercept"]),
                      "coefficients": {d: float(fe2[d]) for d in gem_level},
                      "variance_components": {"region": float(m2.cov_re.iloc[0, 0]), "gemeente": float(m2.scale)}}
            for d in gem_level:
                coefs = pd.concat([coefs, pd.DataFrame({"term": [d], "estimate": [float(fe2[d])],
                                                        "se": [float(m2.bse[d])]})], ignore_index=True)
            coefs = pd.concat([pd.DataFrame({"term": ["intercept"], "estimate": [float(fe2["Intercept"])],
                                             "se": [float(m2.bse["Intercept"])]}), coefs], ignore_index=True)
        except Exception as exc:  # pragma: no cover - degenerate gemeente structure
            geff["region_effect"] = np.nan
            geff["gemeente_re"] = np.nan
            second = {"error": str(exc)}
    expected = xb + table["gemeente_code"].map(geff.set_index("gemeente_code")["gemeente_effect"])
    inc = ~complete
    e_inc = (expected - table["perc_przv"])[inc]
    metrics = {"n_fit": int(len(c)), "n_gemeenten": int(G.shape[1]), "r2": float(res.rsquared),
               "rmse": float(np.sqrt((err ** 2).mean())), "mae": float(err.abs().mean()),
               "max_abs_error": float(err.abs().max()),
               "note": "OLS of perc_przv on the wijk-varying determinants + gemeente fixed effects, complete wijken.",
               "incomplete_wijken": {"n": int(inc.sum()),
                                     "r": pearson_r(expected[inc], table["perc_przv"][inc]),
                                     "mae": float(e_inc.abs().mean()) if inc.any() else None,
                                     "max_abs_error": float(e_inc.abs().max()) if inc.any() else None},
               "gemeente_level_determinants": gem_level, "n_gemeenten_approximate": len(absent),
               "second_stage": second}
    return RecoveredFit(coefficients=coefs.reset_index(drop=True), gemeente_effects=geff.reset_index(drop=True),
                        expected=expected, metrics=metrics)
