"""The SCP model *Jeugdhulp in de wijk* (SCP-publicatie 2020-1): re-estimated, recovered, compared.

Input is the national wijk table ``01_wijk_table_nl.parquet`` (one row per SCP wijk, 2017
indeling, see the contract / :mod:`jeugdhulp_wijken.wijktable`). Nothing here reads raw files.

Two models
----------
**Re-estimated model** (:func:`fit_reestimated`). A linear mixed model for the observed
percentage of youths with *jeugdhulp zonder verblijf* (``perc_jhzv``) per wijk::

    y_wgr = b0 + x_wgr' b + u_r + v_gr + e_wgr,
    u_r ~ N(0, s2_region), v_gr ~ N(0, s2_gemeente), e_wgr ~ N(0, s2_wijk)

with wijken w in gemeenten g in jeugdzorgregio's r: a region random intercept (statsmodels
``MixedLM`` groups = jeugdzorgregio) plus a gemeente variance component
(``vc_formula={"gemeente": "0 + C(gemeente_code)"}``), fitted by REML. SCP describes its model
as multilevel with clustering in gemeenten and jeugdzorgregio's and models the percentage
directly; the published expectation is (almost exactly) linear in the determinants
(see :func:`fit_recovered`), so a linear (Gaussian) model on the percentage is the model
that matches it - a binomial GLMM would give an expectation that is non-linear in the
determinants. The determinants are standardised for the fit (numerical stability with
``gem_gestink`` in euros) and the coefficients are transformed back to the original units,
with their covariance, for the coefficient table.

Choices (all in :class:`ModelOptions`, each with a sensitivity variant in :func:`run_variants`):

* wijken with fewer than ``min_inhabitants`` (100, as SCP) inhabitants (KWB 2017) are not
  used for fitting; they still get an expected value.
* ``suppressed="impute"`` (default, as SCP did for its 286 wijken with < 10 users): the
  suppressed outcome is imputed iteratively by the model's prediction including random
  effects, capped at the censoring bound ``100 * 9 / youths_0_17_est`` (fewer than 10 users),
  and the model is refitted (``impute_iterations`` rounds). ``"drop"`` fits on observed
  wijken only. Single imputation: standard errors are slightly too small.
* missing determinants (``'.'`` in the public file; SCP had the unmasked microdata values):
  ``determinant_missing="gemeente_mean"`` imputes the gemeente mean (national mean if the
  whole gemeente is missing) and adds a 0/1 missing indicator for every determinant missing
  in at least ``missing_indicator_min_share`` of the wijken; ``"complete_cases"`` fits on
  wijken with all 27 determinants only.

Expected values include the random effects (BLUPs of region and gemeente), as SCP's
published expectation does (:func:`predict`).

**Recovered model** (:func:`fit_recovered`). OLS of the published expectation ``perc_przv``
on the wijk-varying determinants plus gemeente fixed effects, on the wijken with complete
determinants. Determinants that are constant within every gemeente (``samenw``) are absorbed
by the gemeente effects; a second stage (mixed model of the gemeente effects on those
determinants, groups = jeugdzorgregio) splits the gemeente effects into intercept,
gemeente-level coefficients, region effects and gemeente effects. Expected values for wijken
with missing determinants use gemeente-mean imputation and are therefore approximate.

Metrics JSON (``02_scp_metrics.json``) keys
-------------------------------------------
``meta``: study, year, synthetic, region (name, slug, kind, note, n_gemeenten, n_wijken),
options, deviation_rule, youth approximation, exclusions, ``deviations_from_published``
(list of statements with the numbers they change).
``reestimated_model``: description, n_fit, n_observed, n_imputed_suppressed,
n_excluded_small, n_incomplete_determinants, missing_indicators, converged,
variance_components (region, gemeente, wijk), icc (region, gemeente_incl_region,
gemeente_within_region), r2_marginal, r2_conditional, loglik.
``recovered_model``: n_fit, n_gemeenten, r2, rmse, mae, max_abs_error (all on complete wijken),
incomplete_wijken (n, r, mae, max_abs_error), gemeente_level_determinants,
second_stage (intercept, coefficients, variance_components).
``coefficient_comparison``: r between re-estimated and recovered coefficients (in SD units),
n_recovered_inside_ci, n_coefficients.
``comparison``: ``overall`` ({complete, all} -> n, r, mae, max_abs_error, rmse, mean_difference)
of re-estimated vs ``perc_przv``; ``per_jz`` (list per jeugdzorgregio); ``haaglanden``
(study area, null if absent); ``region``.
``variants``: list of {name, description, uses_published_expectation, n_fit, r_complete,
mae_complete, max_abs_error_complete, r_all, mae_all}.
``target``: {r_complete_target: 0.99, reached: bool, headline_variant}.
``gap_explanation``: text.
``summary_numbers``: {nl, region, haaglanden} -> observed/expected, youth-weighted and
unweighted; ``published_comparison``: published figures next to each aggregation, with
differences, and ``aggregation_matching_published``.
``deviation``: rule, description, overdispersion (phi, tau2, n, winsor), region/nl shares,
``sensitivity`` (list), ``rules_reproducing_hhs_40pct``.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import deviation, paths
from .dictionary import DETERMINANTS
from .study import PUBLISHED, R_TARGET, STUDY_AREA_GEMEENTEN, SUPPRESSED_MAX_USERS

REQUIRED_COLUMNS = (["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
                     "perc_jhzv", "perc_przv", "inhabitants", "youths_0_17_est"] + DETERMINANTS)
RESULT_COLUMNS = ["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name", "observed",
                  "expected_scp", "difference", "expected_reestimated", "expected_recovered", "youths_0_17_est",
                  "deviation_class", "z_score", "in_region"]


class ModelDataError(ValueError):
    """The wijk table cannot be used for the model (missing columns, no observations, ...)."""


@dataclass(frozen=True)
class ModelOptions:
    """Options of the re-estimated model (see the module docstring)."""
    suppressed: str = "impute"                 # "impute" | "drop"
    determinant_missing: str = "gemeente_mean"  # "gemeente_mean" | "complete_cases"
    missing_indicator_min_share: float = 0.10   # indicators for determinants missing in >= this share; >1 = none
    min_inhabitants: float = 100.0
    impute_iterations: int = 3
    levels: str = "region+gemeente"             # "region+gemeente" | "gemeente"

    def validate(self) -> "ModelOptions":
        checks = {"suppressed": ("impute", "drop"), "determinant_missing": ("gemeente_mean", "complete_cases"),
                  "levels": ("region+gemeente", "gemeente")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"Model option {name}={getattr(self, name)!r} is not one of {list(allowed)}.")
        if self.impute_iterations < 1:
            raise ValueError("Model option impute_iterations must be >= 1.")
        return self


# --------------------------------------------------------------------------------------------
# input checks and design
# --------------------------------------------------------------------------------------------
def check_table(table: pd.DataFrame, source: str = "01_wijk_table_nl.parquet") -> pd.DataFrame:
    """Check that the national table has what the model needs; raise :class:`ModelDataError`."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ModelDataError(f"{source}: columns {missing} are missing. Re-run the data_preparation step "
                             "(notebooks/01_data_preparation.ipynb) to rebuild the wijk table.")
    dup = table["wijk_code"].duplicated(keep=False)
    if dup.any():
        raise ModelDataError(f"{source}: column wijk_code has duplicates: {sorted(table.loc[dup, 'wijk_code'])[:10]}.")
    if table["perc_przv"].isna().any():
        rows = table.loc[table["perc_przv"].isna(), "wijk_code"].tolist()[:10]
        raise ModelDataError(f"{source}: column perc_przv (published expectation) is empty for rows {rows}; "
                             "SCP publishes it for every wijk. Check the wijk table.")
    if table["perc_jhzv"].notna().sum() < len(DETERMINANTS) + 10:
        raise ModelDataError(f"{source}: only {int(table['perc_jhzv'].notna().sum())} wijken have an observed "
                             "perc_jhzv; too few to fit the model.")
    return table.sort_values("wijk_code").reset_index(drop=True)


@dataclass
class Design:
    """Design matrix (original units, imputed) with bookkeeping for one set of options."""
    X: pd.DataFrame                 # all wijken, columns = determinants (+ missing indicators)
    columns: list[str]
    indicators: list[str]
    fit_mask: pd.Series             # wijken eligible for fitting (size, completeness)
    complete: pd.Series             # all 27 determinants present
    small: pd.Series                # < min_inhabitants
    dropped: list[str] = field(default_factory=list)  # constant or collinear in the fitting rows


def build_design(table: pd.DataFrame, options: ModelOptions = ModelOptions()) -> Design:
    """Impute missing determinants (gemeente mean, then national mean) and add missing indicators."""
    det = table[DETERMINANTS].astype(float)
    complete = det.notna().all(axis=1)
    gm_mean = det.groupby(table["gemeente_code"]).transform("mean")
    X = det.fillna(gm_mean).fillna(det.mean())
    share = det.isna().mean()
    indicators = [f"mis_{c}" for c in DETERMINANTS
                  if share[c] >= options.missing_indicator_min_share and share[c] > 0]
    if options.determinant_missing == "complete_cases":
        indicators = []
    for name in indicators:
        X[name] = det[name[4:]].isna().astype(float)
    # drop columns without variation (e.g. a synthetic set without small wijken)
    columns = [c for c in X.columns if X[c].std() > 0]
    small = (table["inhabitants"] < options.min_inhabitants).fillna(False)
    fit_mask = ~small
    if options.determinant_missing == "complete_cases":
        fit_mask &= complete
    return Design(X=X[columns], columns=columns, indicators=[c for c in indicators if c in columns],
                  fit_mask=fit_mask, complete=complete, small=small)


# --------------------------------------------------------------------------------------------
# re-estimated mixed model
# --------------------------------------------------------------------------------------------
@dataclass
class MixedFit:
    options: ModelOptions
    design: Design
    result: object                  # statsmodels MixedLMResults (standardised scale)
    mean: pd.Series
    sd: pd.Series
    coefficients: pd.DataFrame      # original units: term, estimate, se, ci_low, ci_high, p_value
    variance_components: dict
    fit_rows: pd.Series             # rows used in the final fit
    imputed_outcome: pd.Series      # imputed values for suppressed wijken (NaN elsewhere)
    fixed: pd.Series                # fixed part for every wijk
    region_effect: pd.Series
    gemeente_effect: pd.Series

    @property
    def expected(self) -> pd.Series:
        return self.fixed + self.region_effect + self.gemeente_effect


def _fit_mixedlm(y: pd.Series, Z: pd.DataFrame, table: pd.DataFrame, levels: str, start=None):
    """REML fit; design matrices are built directly (no formula parsing) for speed.

    ``start``: a previous result whose parameters start the optimiser (imputation rounds).
    """
    import statsmodels.api as sm

    exog = np.column_stack([np.ones(len(Z)), Z.to_numpy(dtype=float)])
    endog = y.to_numpy(dtype=float)
    gm = table["gemeente_code"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if levels == "gemeente":
            model = sm.MixedLM(endog, exog, groups=gm)
        else:
            jz = table["jz_code"].to_numpy()
            vc = {}
            for g in np.unique(jz):
                idx = np.flatnonzero(jz == g)
                levels_g = np.unique(gm[idx])
                vc[g] = (gm[idx][:, None] == levels_g[None, :]).astype(float)
            model = sm.MixedLM(endog, exog, groups=jz, exog_re=np.ones((len(Z), 1)), exog_vc={"gemeente": vc})
        result = None
        for method in ("lbfgs", "bfgs", "powell"):
            try:
                kw = {"start_params": start.params_object} if start is not None else {}
                cand = model.fit(reml=True, method=method, **kw)
            except (np.linalg.LinAlgError, ValueError):
                continue
            if np.isfinite(cand.llf) and np.all(np.isfinite(np.asarray(cand.fe_params))):
                result = cand
                break
            start = None
    if result is None:
        raise ModelDataError("The mixed model did not converge with lbfgs, bfgs or powell; check the determinants "
                             "for extreme values or use ModelOptions(levels='gemeente').")
    return result


def _random_effects(result, table: pd.DataFrame, levels: str, resid: pd.Series, rows: pd.Series
                    ) -> tuple[pd.Series, pd.Series]:
    """BLUPs of region and gemeente effects, computed from the fitted variance components.

    For region j with fitting rows r_j = y_j - X_j b: V_j = s2_wijk I + s2_region 11' + s2_gemeente ZZ'
    (Z = gemeente indicators); region BLUP = s2_region 1' V_j^-1 r_j, gemeente BLUPs =
    s2_gemeente Z' V_j^-1 r_j. Computed directly so that a zero variance component (boundary
    estimate) gives zero effects instead of a singular-matrix error. Wijken outside the fitting rows
    get the effects of their region/gemeente (0 if it has no fitted wijk).
    """
    s2e = float(result.scale)
    if levels == "gemeente":
        s2r, s2g = 0.0, float(np.asarray(result.cov_re)[0, 0])
        group_col = "gemeente_code"
    else:
        s2r, s2g = float(np.asarray(result.cov_re)[0, 0]), float(np.asarray(result.vcomp)[0])
        group_col = "jz_code"
    s2r, s2g = max(s2r, 0.0), max(s2g, 0.0)
    reg_eff: dict[str, float] = {}
    gem_eff: dict[str, float] = {}
    fit = table[rows.values]
    r_all = resid[rows.values]
    for grp, idx in fit.groupby(group_col, sort=True).groups.items():
        sub = fit.loc[idx]
        r = r_all.loc[idx].to_numpy(dtype=float)
        gms = sub["gemeente_code"].to_numpy()
        Zg = (gms[:, None] == np.unique(gms)[None, :]).astype(float)
        V = s2e * np.eye(len(sub)) + s2g * Zg @ Zg.T
        if levels != "gemeente":
            V += s2r
        Vr = np.linalg.solve(V, r)
        if levels == "gemeente":
            gem_eff[grp] = s2g * float(Vr.sum())
        else:
            reg_eff[grp] = s2r * float(Vr.sum())
            for gm, val in zip(np.unique(gms), s2g * (Zg.T @ Vr)):
                gem_eff[gm] = float(val)
    reg = table["jz_code"].map(reg_eff).fillna(0.0).astype(float)
    gem = table["gemeente_code"].map(gem_eff).fillna(0.0).astype(float)
    return reg, gem


def _back_transform(result, columns: list[str], mean: pd.Series, sd: pd.Series) -> pd.DataFrame:
    """Coefficients in original units with covariance-propagated SEs and 95% CIs."""
    from scipy import stats

    k = len(columns)
    b = np.asarray(result.fe_params)
    V = np.asarray(result.cov_params())[: k + 1, : k + 1]
    A = np.zeros((k + 1, k + 1))
    A[0, 0] = 1.0
    for j in range(k):
        A[j + 1, j + 1] = 1.0 / sd.iloc[j]
        A[0, j + 1] = -mean.iloc[j] / sd.iloc[j]
    raw = A @ b
    cov = A @ V @ A.T
    se = np.sqrt(np.diag(cov))
    z = stats.norm.ppf(0.975)
    terms = ["intercept"] + columns
    out = pd.DataFrame({"term": terms, "estimate": raw, "se": se, "ci_low": raw - z * se, "ci_high": raw + z * se,
                        "p_value": 2 * stats.norm.sf(np.abs(raw / se)),
                        "estimate_per_sd": np.r_[np.nan, b[1:]]})
    return out


def fit_reestimated(table: pd.DataFrame, options: ModelOptions = ModelOptions()) -> MixedFit:
    """Fit the three-level (or two-level) linear mixed model; see the module docstring."""
    options.validate()
    table = check_table(table)
    design = build_design(table, options)
    y_obs = table["perc_jhzv"].astype(float)
    keep = _independent_columns(design.X[y_obs.notna() & design.fit_mask])
    dropped = [c for c in design.columns if c not in keep]
    design = replace(design, X=design.X[keep], columns=keep, indicators=[c for c in design.indicators if c in keep],
                     dropped=dropped)
    mean = design.X[design.fit_mask].mean()
    sd = design.X[design.fit_mask].std().replace(0, 1.0)
    Z = (design.X - mean) / sd
    observed = y_obs.notna() & design.fit_mask
    y = y_obs.copy()
    rows = observed.copy()
    result = _fit_mixedlm(y[rows], Z[rows], table[rows], options.levels)
    imputed = pd.Series(np.nan, index=table.index)
    supp = y_obs.isna() & design.fit_mask
    if options.suppressed == "impute" and supp.any():
        youths = table["youths_0_17_est"].astype(float)
        cap = (100.0 * SUPPRESSED_MAX_USERS / youths).where(youths > 0, 100.0).fillna(100.0).clip(upper=100.0)
        for _ in range(options.impute_iterations):
            fixed = _fixed_part(result, Z)
            reg, gem = _random_effects(result, table, options.levels, y - fixed, rows)
            pred = fixed + reg + gem
            imputed = pred.clip(lower=0.0).where(supp)
            imputed = np.minimum(imputed, cap).where(supp)
            y = y_obs.fillna(imputed)
            rows = design.fit_mask & y.notna()
            result = _fit_mixedlm(y[rows], Z[rows], table[rows], options.levels, start=result)
    fixed = _fixed_part(result, Z)
    reg, gem = _random_effects(result, table, options.levels, y - fixed, rows)
    coefs = _back_transform(result, design.columns, mean, sd)
    if options.levels == "gemeente":
        s2_region = 0.0
        s2_gem = float(np.asarray(result.cov_re)[0, 0])
    else:
        s2_region = float(np.asarray(result.cov_re)[0, 0])
        s2_gem = float(np.asarray(result.vcomp)[0])
    s2_wijk = float(result.scale)
    var_fixed = float(fixed[rows].var(ddof=0))
    total = s2_region + s2_gem + s2_wijk
    vc = {"region": s2_region, "gemeente": s2_gem, "wijk": s2_wijk,
          "icc": {"region": s2_region / total, "gemeente_incl_region": (s2_region + s2_gem) / total,
                  "gemeente_within_region": s2_gem / total},
          "r2_marginal": var_fixed / (var_fixed + total),
          "r2_conditional": (var_fixed + s2_region + s2_gem) / (var_fixed + total),
          "loglik": float(result.llf), "converged": bool(result.converged)}
    return MixedFit(options=options, design=design, result=result, mean=mean, sd=sd, coefficients=coefs,
                    variance_components=vc, fit_rows=rows, imputed_outcome=imputed, fixed=fixed,
                    region_effect=reg, gemeente_effect=gem)


def _independent_columns(X: pd.DataFrame, tol: float = 1e-7) -> list[str]:
    """Columns kept in order so that [1, X] has full column rank (drops constant/collinear columns).

    A column is dropped when the QR decomposition (no pivoting, so earlier columns win) shows it
    lies in the span of the intercept and the columns before it.
    """
    cols = [c for c in X.columns if np.nanstd(X[c].to_numpy(dtype=float)) > 0]
    if not cols:
        return []
    M = X[cols].to_numpy(dtype=float)
    M = (M - M.mean(axis=0)) / M.std(axis=0)
    A = np.column_stack([np.ones(len(M)) / np.sqrt(len(M)), M / np.sqrt(len(M))])
    keep = []
    basis = A[:, :1]
    for j, c in enumerate(cols):
        v = A[:, j + 1]
        q, r = np.linalg.qr(np.column_stack([basis, v]))
        if abs(r[-1, -1]) > tol:
            basis = q
            keep.append(c)
    return keep


def _fixed_part(result, Z: pd.DataFrame) -> pd.Series:
    b = np.asarray(result.fe_params)
    return pd.Series(b[0] + Z.values @ b[1:], index=Z.index)


def predict(fit: MixedFit, include_random: bool = True) -> pd.Series:
    """Expected value per wijk: fixed part plus (by default) region and gemeente BLUPs."""
    return fit.expected if include_random else fit.fixed


# --------------------------------------------------------------------------------------------
# fixed-effects comparators
# --------------------------------------------------------------------------------------------
def fit_gemeente_fe(table: pd.DataFrame, options: ModelOptions = ModelOptions(), weighted: bool = False,
                    outcome: str = "perc_jhzv") -> pd.Series:
    """OLS/WLS with gemeente fixed effects (no shrinkage); returns expected values for every wijk.

    Gemeenten without a fitted wijk get the mean gemeente effect of their jeugdzorgregio.
    """
    import statsmodels.api as sm

    table = check_table(table)
    design = build_design(table, options)
    y = table[outcome].astype(float)
    rows = design.fit_mask & y.notna()
    within = _within_varying(design.X[rows], table.loc[rows, "gemeente_code"])
    X = design.X[within]
    G = pd.get_dummies(table["gemeente_code"], dtype=float)
    A = pd.concat([X, G], axis=1)
    used = G.columns[G[rows].sum() > 0]
    A = pd.concat([X, G[used]], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if weighted:
            w = table["youths_0_17_est"].fillna(table["youths_0_17_est"].median())
            res = sm.WLS(y[rows], A[rows], weights=w[rows]).fit()
        else:
            res = sm.OLS(y[rows], A[rows]).fit()
    xb = X @ res.params[within]
    geff = res.params[list(used)]
    gm = table["gemeente_code"].map(geff)
    reg_mean = gm.groupby(table["jz_code"]).transform("mean")
    gm = gm.fillna(reg_mean).fillna(float(geff.mean()))
    return xb + gm


def _within_varying(X: pd.DataFrame, groups: pd.Series) -> list[str]:
    """Columns that vary within at least one gemeente."""
    dev = (X - X.groupby(groups.values).transform("mean").set_index(X.index)).abs().max()
    return [c for c in X.columns if dev[c] > 1e-9]


# --------------------------------------------------------------------------------------------
# recovered (published) model
# --------------------------------------------------------------------------------------------
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
        raise ModelDataError(f"Only {len(c)} wijken have all 27 determinants; the recovered model needs more.")
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
                                     "r": _r(expected[inc], table["perc_przv"][inc]),
                                     "mae": float(e_inc.abs().mean()) if inc.any() else None,
                                     "max_abs_error": float(e_inc.abs().max()) if inc.any() else None},
               "gemeente_level_determinants": gem_level, "n_gemeenten_approximate": len(absent),
               "second_stage": second}
    return RecoveredFit(coefficients=coefs.reset_index(drop=True), gemeente_effects=geff.reset_index(drop=True),
                        expected=expected, metrics=metrics)


# --------------------------------------------------------------------------------------------
# comparison metrics
# --------------------------------------------------------------------------------------------
def _r(a: pd.Series, b: pd.Series) -> float | None:
    ok = a.notna() & b.notna()
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def agreement(pred: pd.Series, ref: pd.Series, mask: pd.Series | None = None) -> dict:
    """n, Pearson r, MAE, max |error|, RMSE and mean difference of ``pred`` against ``ref``."""
    ok = pred.notna() & ref.notna()
    if mask is not None:
        ok &= mask
    if not ok.any():
        return {"n": 0, "r": None, "mae": None, "max_abs_error": None, "rmse": None, "mean_difference": None}
    d = pred[ok] - ref[ok]
    return {"n": int(ok.sum()), "r": _r(pred[ok], ref[ok]), "mae": float(d.abs().mean()),
            "max_abs_error": float(d.abs().max()), "rmse": float(np.sqrt((d ** 2).mean())),
            "mean_difference": float(d.mean())}


def compare(pred: pd.Series, table: pd.DataFrame, complete: pd.Series, region_codes=None) -> dict:
    """Agreement of ``pred`` with ``perc_przv``: overall, per jeugdzorgregio, Haaglanden, region."""
    ref = table["perc_przv"]
    out = {"overall": {"complete": agreement(pred, ref, complete), "all": agreement(pred, ref)}}
    per = []
    for (jz, name), idx in table.groupby(["jz_code", "jz_name"]).groups.items():
        m = table.index.isin(idx)
        m = pd.Series(m, index=table.index)
        per.append({"jz_code": jz, "jz_name": name, "complete": agreement(pred, ref, m & complete),
                    "all": agreement(pred, ref, m)})
    out["per_jz"] = sorted(per, key=lambda d: d["jz_code"])
    hl = table["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)
    out["haaglanden"] = ({"complete": agreement(pred, ref, hl & complete), "all": agreement(pred, ref, hl)}
                         if hl.any() else None)
    if region_codes is not None:
        rg = table["gemeente_code"].isin(region_codes)
        out["region"] = {"complete": agreement(pred, ref, rg & complete), "all": agreement(pred, ref, rg)}
    return out


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


# --------------------------------------------------------------------------------------------
# summary numbers, tables
# --------------------------------------------------------------------------------------------
def _wmean(v: pd.Series, w: pd.Series) -> float | None:
    ok = v.notna() & w.notna() & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else None


def _mean(v: pd.Series) -> float | None:
    return float(v.mean()) if v.notna().any() else None


def summary_numbers(results: pd.DataFrame, mask: pd.Series) -> dict:
    """Observed and expected, youth-weighted and unweighted; observed over wijken with data."""
    r = results[mask]
    w = r["youths_0_17_est"]
    has = r["observed"].notna()
    return {"n_wijken": int(len(r)), "n_with_observed": int(has.sum()),
            "observed_weighted": _wmean(r["observed"], w), "observed_unweighted": _mean(r["observed"]),
            "expected_weighted_all": _wmean(r["expected_scp"], w),
            "expected_weighted_observed_wijken": _wmean(r["expected_scp"][has], w[has]),
            "expected_unweighted_all": _mean(r["expected_scp"]),
            "expected_unweighted_observed_wijken": _mean(r["expected_scp"][has]),
            "expected_reestimated_unweighted_all": _mean(r["expected_reestimated"]),
            "expected_reestimated_weighted_all": _wmean(r["expected_reestimated"], w)}


def published_comparison(nl: dict, haaglanden: dict | None) -> dict:
    """Published HHS figures next to each aggregation (rounded to one decimal, as published)."""
    rows = []

    def add(figure, published, scope, agg, value):
        if value is None:
            return
        rows.append({"figure": figure, "published": published, "scope": scope, "aggregation": agg,
                     "value": value, "difference": value - published,
                     "matches_at_one_decimal": bool(round(value + 1e-9, 1) == published)})

    for agg in ("observed_weighted", "observed_unweighted"):
        add("nl_observed", PUBLISHED["nl_observed"], "nl", agg, nl.get(agg))
    if haaglanden:
        for agg in ("observed_weighted", "observed_unweighted"):
            add("haaglanden_observed", PUBLISHED["haaglanden_observed"], "haaglanden", agg, haaglanden.get(agg))
        for agg in ("expected_weighted_all", "expected_weighted_observed_wijken", "expected_unweighted_all",
                    "expected_unweighted_observed_wijken"):
            add("haaglanden_expected", PUBLISHED["haaglanden_expected"], "haaglanden", agg, haaglanden.get(agg))
    best = {}
    for fig in sorted({r["figure"] for r in rows}):
        cand = sorted((r for r in rows if r["figure"] == fig), key=lambda r: abs(r["difference"]))
        best[fig] = {"closest_aggregation": cand[0]["aggregation"], "value": cand[0]["value"],
                     "matches_at_one_decimal": cand[0]["matches_at_one_decimal"]}
    return {"rows": rows, "aggregation_matching_published": best}


def gemeente_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per gemeente of the region: observed, expected (weighted and unweighted), wijken above/below."""
    r = results[results["in_region"]]
    rows = []
    for (code, name), g in r.groupby(["gemeente_code", "gemeente_name"], sort=True):
        w = g["youths_0_17_est"]
        cls = g["deviation_class"]
        rows.append({"gemeente_code": code, "gemeente_name": name, "n_wijken": int(len(g)),
                     "n_with_observed": int(g["observed"].notna().sum()),
                     "observed_unweighted": _mean(g["observed"]), "expected_unweighted": _mean(g["expected_scp"]),
                     "observed_weighted": _wmean(g["observed"], w), "expected_weighted": _wmean(g["expected_scp"], w),
                     "expected_reestimated_unweighted": _mean(g["expected_reestimated"]),
                     "n_higher": int((cls == deviation.HIGHER).sum()), "n_lower": int((cls == deviation.LOWER).sum()),
                     "n_as_expected": int((cls == deviation.AS_EXPECTED).sum()),
                     "n_no_data": int((cls == deviation.NO_DATA).sum())})
    return pd.DataFrame(rows)


def appendix_extremes(results: pd.DataFrame) -> pd.DataFrame:
    """HHS Bijlage I: per gemeente the wijk with the highest and the lowest observed use."""
    r = results[results["in_region"] & results["observed"].notna()]
    rows = []
    for (code, name), g in r.groupby(["gemeente_code", "gemeente_name"], sort=True):
        g = g.sort_values(["observed", "wijk_code"])
        for kind, row in (("hoogste", g.iloc[-1]), ("laagste", g.iloc[0])):
            rows.append({"gemeente_code": code, "gemeente_name": name, "extreme": kind,
                         "wijk_code": row["wijk_code"], "wijk_name": row["wijk_name"],
                         "observed": row["observed"], "expected_scp": row["expected_scp"],
                         "difference": row["difference"], "deviation_class": row["deviation_class"],
                         "n_wijken_with_observed": int(len(g))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# the whole analysis
# --------------------------------------------------------------------------------------------
@dataclass
class ScpAnalysis:
    region: object
    options: ModelOptions
    deviation_rule: str
    results: pd.DataFrame
    fit: MixedFit
    recovered: RecoveredFit
    coefficients: pd.DataFrame
    gemeente_table: pd.DataFrame
    appendix: pd.DataFrame
    sensitivity: pd.DataFrame
    metrics: dict = field(default_factory=dict)

    @property
    def region_results(self) -> pd.DataFrame:
        return self.results[self.results["in_region"]].reset_index(drop=True)


def gemeenten_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """The gemeente -> region lookup contained in the national table (for ``regions.resolve_region``)."""
    cols = ["gemeente_code", "gemeente_name", "jz_code", "jz_name", "ggd_code", "ggd_name"]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ModelDataError(f"wijk table: columns {missing} are missing; cannot resolve the region.")
    return table[cols].drop_duplicates("gemeente_code").sort_values("gemeente_code").reset_index(drop=True)


def analyse(table: pd.DataFrame, region, options: ModelOptions = ModelOptions(),
            deviation_rule: str = deviation.DEFAULT_RULE, synthetic: bool = False, year: int = 2017,
            with_variants: bool = True) -> ScpAnalysis:
    """Run everything for one region: fits, expected values, deviation classes, tables, metrics.

    ``region`` is a resolved :class:`regions.Region` (use ``regions.resolve_region`` with
    :func:`gemeenten_from_table`). The national model is fitted once.
    """
    deviation.check_rule(deviation_rule)
    table = check_table(table)
    codes = tuple(region.gemeente_codes)
    in_region = table["gemeente_code"].isin(codes)
    if not in_region.any():
        raise ModelDataError(f"Region {region.name!r}: none of its gemeenten {list(codes)[:10]} is in the wijk table.")
    fit = fit_reestimated(table, options)
    recovered = fit_recovered(table)
    complete = fit.design.complete
    res = table[["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name"]].copy()
    res["observed"] = table["perc_jhzv"].astype(float)
    res["expected_scp"] = table["perc_przv"].astype(float)
    res["difference"] = res["observed"] - res["expected_scp"]
    res["expected_reestimated"] = fit.expected.values
    res["expected_recovered"] = recovered.expected.values
    res["youths_0_17_est"] = table["youths_0_17_est"].astype(float)
    od = deviation.estimate_overdispersion(res["observed"], res["expected_scp"], res["youths_0_17_est"])
    cls, z = deviation.classify(res["observed"], res["expected_scp"], res["youths_0_17_est"], deviation_rule,
                                overdispersion=od)
    res["deviation_class"] = cls.values
    res["z_score"] = z.values
    res["in_region"] = in_region.values
    res = res[RESULT_COLUMNS]
    sens = deviation.sensitivity_table(res, od)
    coefs = coefficient_comparison(fit, recovered)
    gtab = gemeente_table(res)
    app = appendix_extremes(res)

    # ---- metrics
    comp = compare(fit.expected, table, complete, codes)
    variants = run_variants(table, fit, recovered) if with_variants else []
    hl_mask = res["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)
    nl_sum = summary_numbers(res, pd.Series(True, index=res.index))
    hl_sum = summary_numbers(res, hl_mask) if hl_mask.any() else None
    reg_sum = summary_numbers(res, res["in_region"])
    inds = [c for c in fit.design.indicators]
    dets = coefs[coefs["kind"] == "determinant"].dropna(subset=["recovered"])
    coef_r = _r(dets["estimate"] * dets["sd"], dets["recovered"] * dets["sd"])
    n_small = int(fit.design.small.sum())
    n_imp = int(fit.imputed_outcome.notna().sum())
    r_c = comp["overall"]["complete"]["r"]
    indep = [v for v in variants if not v["uses_published_expectation"] and v["r_complete"] is not None]
    best = max(indep, key=lambda v: v["r_complete"]) if indep else None
    dev_region = sens[(sens["scope"] == "region")].set_index("rule")
    hhs = deviation.rules_reproducing(sens, PUBLISHED["haaglanden_share_differing"],
                                      scope="haaglanden" if hl_mask.any() else "region")
    published = published_comparison(nl_sum, hl_sum)
    metrics = {
        "meta": {
            "study": "SCP Jeugdhulp in de wijk (SCP-publicatie 2020-1); HHS Jeugdhulp in de wijken (2020)",
            "year": int(year), "synthetic": bool(synthetic),
            "region": {"name": region.name, "slug": region.slug, "kind": region.kind, "note": region.note,
                       "n_gemeenten": int(len(codes)), "n_wijken": int(in_region.sum())},
            "options": asdict(options), "deviation_rule": deviation_rule,
            "youth_approximation": "youths_0_17_est from the wijk table (KWB 2017: inhabitants * (p_00_14 + 0.3 * "
                                   "p_15_24) / 100); used as binomial denominator and as weight",
            "exclusions": {"n_wijken_total": int(len(table)),
                           "n_below_min_inhabitants": n_small,
                           "min_inhabitants": options.min_inhabitants,
                           "n_suppressed_outcome": int(table["perc_jhzv"].isna().sum()),
                           "n_incomplete_determinants": int((~complete).sum())},
            "deviations_from_published": [
                f"Re-estimated on the public file: {int((~complete).sum())} wijken have masked determinants "
                f"('.'), imputed by gemeente means with {len(inds)} missing indicators; SCP used the unmasked "
                "microdata values.",
                f"{n_imp} suppressed outcomes imputed by the model prediction capped at {SUPPRESSED_MAX_USERS} "
                "users / estimated youths (SCP's imputation method is not published).",
                f"{n_small} wijken below {options.min_inhabitants:.0f} inhabitants in KWB 2017 are not used for "
                "fitting (they are in SCP's file with an expectation; SCP's inhabitant count may differ).",
                "The re-estimated expectation agrees with perc_przv with r = "
                f"{_fmt(r_c)} on complete wijken (target {R_TARGET}); deviation classes and maps use the "
                "published perc_przv, not the re-estimate.",
                "SCP's deviation rule is not published; the rule used here is a documented choice "
                f"({deviation_rule}) with a sensitivity table.",
                *_published_statements(published, hhs, deviation_rule, sens),
            ]},
        "reestimated_model": {
            "description": _model_description(options),
            "n_fit": int(fit.fit_rows.sum()), "n_observed": int((table["perc_jhzv"].notna() & ~fit.design.small).sum()),
            "n_imputed_suppressed": n_imp, "n_excluded_small": n_small,
            "n_incomplete_determinants": int((~complete).sum()), "missing_indicators": inds,
            "converged": fit.variance_components["converged"],
            "variance_components": {k: fit.variance_components[k] for k in ("region", "gemeente", "wijk")},
            "icc": fit.variance_components["icc"],
            "r2_marginal": fit.variance_components["r2_marginal"],
            "r2_conditional": fit.variance_components["r2_conditional"],
            "loglik": fit.variance_components["loglik"]},
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
        "gap_explanation": gap_explanation(comp, variants),
        "summary_numbers": {"nl": nl_sum, "region": reg_sum, "haaglanden": hl_sum},
        "published_comparison": published,
        "deviation": {"rule": deviation_rule, "description": deviation.RULES[deviation_rule],
                      "overdispersion": od,
                      "region_share_higher": _get(dev_region, deviation_rule, "share_higher"),
                      "region_share_lower": _get(dev_region, deviation_rule, "share_lower"),
                      "region_share_differing": _get(dev_region, deviation_rule, "share_differing"),
                      "sensitivity": _records(sens),
                      "hhs_published_share_differing": PUBLISHED["haaglanden_share_differing"],
                      "rules_reproducing_hhs_40pct": hhs},
    }
    metrics["headline"] = headline(metrics)
    return ScpAnalysis(region=region, options=options, deviation_rule=deviation_rule, results=res, fit=fit,
                       recovered=recovered, coefficients=coefs, gemeente_table=gtab, appendix=app,
                       sensitivity=sens, metrics=_clean(metrics))


def _published_statements(published: dict, hhs: dict, rule: str, sens: pd.DataFrame) -> list[str]:
    """Statements comparing the reproduced headline figures (:func:`published_comparison`) with the
    published ones."""
    comp = published["aggregation_matching_published"]
    out = []
    for fig, best in comp.items():
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


def headline(metrics: dict) -> dict:
    """The step's key numbers (percentages of youths; shares of wijken as fractions), for the report."""
    sn = metrics["summary_numbers"]
    dev = metrics["deviation"]
    out = {
        "nl_observed_pct_weighted": sn["nl"]["observed_weighted"],
        "region_n_wijken": sn["region"]["n_wijken"],
        "region_observed_pct_weighted": sn["region"]["observed_weighted"],
        "region_expected_pct_weighted": sn["region"]["expected_weighted_all"],
        "region_observed_pct_unweighted": sn["region"]["observed_unweighted"],
        "region_expected_pct_unweighted": sn["region"]["expected_unweighted_all"],
        "deviation_rule": dev["rule"],
        "region_share_wijken_higher": dev["region_share_higher"],
        "region_share_wijken_lower": dev["region_share_lower"],
        "region_share_wijken_differing": dev["region_share_differing"],
        "reestimate_vs_published_expectation_r": metrics["target"]["r_complete_headline"],
    }
    for fig, best in (metrics.get("published_comparison") or {}).get("aggregation_matching_published", {}).items():
        out[f"published_{fig}"] = (f"{best['value']:.2f} ({best['closest_aggregation']}) vs published "
                                   f"{PUBLISHED[fig]:.1f}")
    closest = (dev.get("rules_reproducing_hhs_40pct") or {}).get("closest")
    if closest:
        out["rule_closest_to_hhs_almost_40pct"] = f"{closest['rule']} ({closest['share_differing']:.3f})"
    return out


def _get(df: pd.DataFrame, rule: str, col: str):
    return float(df.loc[rule, col]) if rule in df.index and pd.notna(df.loc[rule, col]) else None


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _model_description(o: ModelOptions) -> str:
    lv = ("region random intercept + gemeente variance component (wijken in gemeenten in jeugdzorgregio's)"
          if o.levels == "region+gemeente" else "gemeente random intercept")
    return (f"Linear mixed model (statsmodels MixedLM, REML) of perc_jhzv on the 27 SCP determinants; {lv}; "
            f"wijken < {o.min_inhabitants:.0f} inhabitants not fitted; suppressed outcomes: {o.suppressed}; "
            f"missing determinants: {o.determinant_missing} with indicators for determinants missing in >= "
            f"{o.missing_indicator_min_share:.0%} of wijken; expected = fixed part + region and gemeente BLUPs.")


def gap_explanation(comp: dict, variants: list[dict]) -> str:
    """Plain-language account of why the re-estimate differs from perc_przv, from the computed variants."""
    v = {x["name"]: x for x in variants}

    def r(name):
        return _fmt(v[name]["r_complete"]) if name in v else "n/a"

    parts = [f"Headline re-estimate (mixedlm_default) vs perc_przv on complete wijken: r = "
             f"{_fmt(comp['overall']['complete']['r'])}, MAE = {_fmt(comp['overall']['complete']['mae'])} pp; "
             f"on all wijken r = {_fmt(comp['overall']['all']['r'])}."]
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


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def _clean(obj):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if (math.isnan(f) or math.isinf(f)) else round(f, 6)
    return obj


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
OUTPUT_NAMES = {"results_nl": "02_scp_wijk_results_nl.parquet", "results_region": "02_scp_wijk_results_region.parquet",
                "coefficients": "02_scp_coefficients.csv", "gemeente_table": "02_scp_gemeente_table.csv",
                "appendix": "02_scp_appendix_extremes.csv", "sensitivity": "02_scp_deviation_sensitivity.csv",
                "metrics": "02_scp_metrics.json"}


def write_outputs(analysis: ScpAnalysis, output_dir: str | Path, synthetic: bool = False) -> dict[str, Path]:
    """Write every declared output of step scp_model; returns {key: path}."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = {k: paths.artefact(out, v, synthetic) for k, v in OUTPUT_NAMES.items()}
    analysis.results.to_parquet(p["results_nl"], index=False)
    analysis.region_results.to_parquet(p["results_region"], index=False)
    analysis.coefficients.to_csv(p["coefficients"], index=False, float_format="%.6g")
    analysis.gemeente_table.to_csv(p["gemeente_table"], index=False, float_format="%.4f")
    analysis.appendix.to_csv(p["appendix"], index=False, float_format="%.3f")
    analysis.sensitivity.to_csv(p["sensitivity"], index=False, float_format="%.4f")
    p["metrics"].write_text(json.dumps(analysis.metrics, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                            encoding="utf-8")
    return p


def read_metrics(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# figures (non-map)
# --------------------------------------------------------------------------------------------
LABELS = {
    "nl": {"scp": "Verwacht gebruik SCP (%)", "re": "Herschat verwacht gebruik (%)", "obs": "Waargenomen",
           "exp": "Verwacht (SCP)", "pct": "% jeugdigen met jeugdhulp zonder verblijf", "complete": "determinanten compleet",
           "incomplete": "determinanten deels ontbrekend", "region": "regio"},
    "en": {"scp": "SCP expected use (%)", "re": "Re-estimated expected use (%)", "obs": "Observed",
           "exp": "Expected (SCP)", "pct": "% of youths with youth care without accommodation",
           "complete": "complete determinants", "incomplete": "some determinants missing", "region": "region"},
}


def scatter_plot(results: pd.DataFrame, complete: pd.Series, lang: str = "nl", highlight_region: bool = True):
    """Re-estimated vs published expectation, complete and incomplete wijken, region highlighted."""
    import matplotlib.pyplot as plt

    L = LABELS[lang]
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    comp = complete.values
    x, y = results["expected_scp"].values, results["expected_reestimated"].values
    ax.scatter(x[~comp], y[~comp], s=5, c="#bbbbbb", lw=0, label=L["incomplete"], rasterized=False)
    ax.scatter(x[comp], y[comp], s=5, c="#4c72b0", lw=0, label=L["complete"])
    if highlight_region:
        reg = results["in_region"].values
        if 0 < reg.sum() < len(reg):
            ax.scatter(x[reg], y[reg], s=14, facecolors="none", edgecolors="#c44e52", lw=0.8, label=L["region"])
    lo = float(np.nanmin(np.r_[x, y])) - 0.5
    hi = float(np.nanmax(np.r_[x, y])) + 0.5
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.7, ls="--")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    a = agreement(results["expected_reestimated"], results["expected_scp"], complete)
    txt = f"r = {a['r']:.3f}, MAE = {a['mae']:.2f} pp (n = {a['n']})" if a["r"] is not None else ""
    if lang == "nl":
        txt = txt.replace(".", ",")
    ax.text(0.02, 0.98, txt, transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel(L["scp"])
    ax.set_ylabel(L["re"])
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def gemeente_bar_chart(gtab: pd.DataFrame, lang: str = "nl", weighted: bool = False, max_bars: int = 40):
    """Observed and expected (SCP) per gemeente of the region (unweighted wijk means by default).

    Regions with more than ``max_bars`` gemeenten (e.g. NL) show the ``max_bars / 2`` gemeenten with the
    largest positive and the largest negative observed-minus-expected difference, in that order.
    """
    import matplotlib.pyplot as plt

    L = LABELS[lang]
    suffix = "weighted" if weighted else "unweighted"
    g = gtab.sort_values(["gemeente_name", "gemeente_code"]).reset_index(drop=True)
    if len(g) > max_bars:
        d = (g[f"observed_{suffix}"] - g[f"expected_{suffix}"]).rename("d")
        order = g.assign(d=d).dropna(subset=["d"]).sort_values(["d", "gemeente_code"])
        half = max_bars // 2
        g = pd.concat([order.tail(half).iloc[::-1], order.head(half).iloc[::-1]]).drop(columns="d")
        g = g.reset_index(drop=True)
    n = len(g)
    fig, ax = plt.subplots(figsize=(6.0, max(2.0, 0.32 * n + 1.0)))
    yy = np.arange(n)
    ax.barh(yy - 0.2, g[f"observed_{suffix}"], height=0.4, color="#4c72b0", label=L["obs"])
    ax.barh(yy + 0.2, g[f"expected_{suffix}"], height=0.4, color="#dd8452", label=L["exp"])
    ax.set_yticks(yy)
    ax.set_yticklabels(g["gemeente_name"], fontsize=7 if n > 20 else 9)
    ax.invert_yaxis()
    ax.set_xlabel(L["pct"])
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def region_geodata(analysis: ScpAnalysis, gdf):
    """The region's results joined to its polygons (wijken without a polygon are left out and counted)."""
    res = analysis.region_results
    g = gdf[["wijk_code", "geometry"] + [c for c in ("geometry_source", "geometry_year") if c in gdf.columns]]
    out = g.merge(res, on="wijk_code", how="inner").sort_values("wijk_code").reset_index(drop=True)
    out.attrs["n_without_polygon"] = int((~res["wijk_code"].isin(set(gdf["wijk_code"]))).sum())
    if out.empty:
        raise ModelDataError(f"The geometry file has no polygon for any of the {len(res)} wijken of region "
                             f"{analysis.region.name!r}; is 01_wijk_geometry_region.gpkg from the same region? "
                             "Re-run the data_preparation step for this region.")
    return out
