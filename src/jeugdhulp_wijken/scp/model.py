"""The re-estimated SCP model: design matrix, three-level linear mixed model, fixed-effects comparator.

Input is the national wijk table (catalog id ``wijk_table_nl``: one row per SCP wijk, 2017
indeling, see :mod:`jeugdhulp_wijken.wijktable`). Nothing here reads raw files.

**Re-estimated model** (:func:`fit_reestimated`). A linear mixed model for the observed
percentage of youths with *jeugdhulp zonder verblijf* (``perc_jhzv``) per wijk::

    y_wgr = b0 + x_wgr' b + u_r + v_gr + e_wgr,
    u_r ~ N(0, s2_region), v_gr ~ N(0, s2_gemeente), e_wgr ~ N(0, s2_wijk)

with wijken w in gemeenten g in jeugdzorgregio's r: a region random intercept (statsmodels
``MixedLM`` groups = jeugdzorgregio) plus a gemeente variance component
(``vc_formula={"gemeente": "0 + C(gemeente_code)"}``), fitted by REML. SCP describes its model
as multilevel with clustering in gemeenten and jeugdzorgregio's and models the percentage
directly; the published expectation is (almost exactly) linear in the determinants
(see :func:`jeugdhulp_wijken.scp.recovered.fit_recovered`), so a linear (Gaussian) model on the percentage is the model
that matches it - a binomial GLMM would give an expectation that is non-linear in the
determinants. The determinants are standardised for the fit (numerical stability with
``gem_gestink`` in euros) and the coefficients are transformed back to the original units,
with their covariance, for the coefficient table.

Choices (all in :class:`ModelOptions`, each with a sensitivity variant in :func:`jeugdhulp_wijken.scp.variants.run_variants`):

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
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..dictionary import DETERMINANTS
from ..study import SUPPRESSED_MAX_USERS
from .options import ModelDataError, ModelOptions, check_table


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
