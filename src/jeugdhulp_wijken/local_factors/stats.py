"""Statistics of the local-factor analysis: correlations, multiple testing, regressions, VIF,
explained variance and leave-one-gemeente-out cross-validation.

Two outcomes are analysed side by side:

* **raw**: the residual ``difference`` = observed − SCP-expected use (percentage points), each wijk
  counting equally;
* **precision-aware** (the default for significance): the funnel z-score ``funnel_z`` =
  difference / sqrt(se_binomial² + tau²). Observed − expected in a wijk with 124 youths is far
  noisier than in one with 8,000; the z-score expresses each difference in units of its own
  uncertainty (binomial sampling variance plus the between-wijk overdispersion of the SCP step),
  so that small, noisy wijken cannot dominate. It is the z of the SCP step's funnel plot.

Both outcomes get the same analyses (Pearson and Spearman correlations, OLS regressions).

Library routines do the work: ``scipy.stats.pearsonr`` (with its Fisher-z confidence interval),
``scipy.stats.spearmanr``, statsmodels ``OLS``/``WLS`` (HC3 and cluster-robust covariance),
``multipletests``/``fdrcorrection`` (Benjamini–Hochberg, Holm), ``variance_inflation_factor``, and scikit-learn's
``LeaveOneGroupOut`` for the cross-validation folds.
"""
from __future__ import annotations

import gc
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from .factor_files import FactorSpec

#: The precision-aware outcome (see :func:`.sources.add_precision`).
PRECISION = "funnel_z"
OUTCOMES = ("precision", "raw")


def pearson(x, y, level: float = 0.95) -> dict[str, float]:
    """Pearson r, its p-value and the Fisher-z confidence interval (``scipy.stats.pearsonr``)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"r": math.nan, "p": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    res = stats.pearsonr(x, y)
    ci = res.confidence_interval(confidence_level=level)
    return {"r": float(res.statistic), "p": float(res.pvalue), "ci_low": float(ci.low), "ci_high": float(ci.high)}


def adjust_pvalues(p: Sequence[float], alpha: float = 0.05) -> pd.DataFrame:
    """Holm and Benjamini–Hochberg adjusted p-values (statsmodels ``multipletests``), NaN-safe.

    Returns columns ``p_holm``, ``p_bh``, ``significant_bh`` (BH at FDR ``alpha``) and
    ``significant_holm`` (FWER ``alpha``), aligned with ``p``.
    """
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(p, dtype=float)
    out = pd.DataFrame({"p_holm": np.nan, "p_bh": np.nan, "significant_bh": False,
                        "significant_holm": False}, index=range(len(p)))
    ok = np.isfinite(p)
    if ok.any():
        gc.freeze()  # multipletests' Holm branch calls gc.collect(); freezing keeps that cheap in a big process
        try:
            rej_h, p_h, _, _ = multipletests(p[ok], alpha=alpha, method="holm")
        finally:
            gc.unfreeze()
        rej_b, p_b, _, _ = multipletests(p[ok], alpha=alpha, method="fdr_bh")
        out.loc[ok, "p_holm"] = p_h
        out.loc[ok, "p_bh"] = p_b
        out.loc[ok, "significant_bh"] = rej_b
        out.loc[ok, "significant_holm"] = rej_h
    return out


def bh_significant(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg decisions for one family of p-values (statsmodels ``fdrcorrection``; NaN = not
    significant). Used in the leave-one-out loops, where :func:`adjust_pvalues` would be slow."""
    from statsmodels.stats.multitest import fdrcorrection
    p = np.asarray(p, dtype=float)
    out = np.zeros(len(p), bool)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = fdrcorrection(p[ok], alpha=alpha)[0]
    return out


def _design(frame: pd.DataFrame, xs: Sequence[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(frame))] + [frame[x].to_numpy(float) for x in xs])


def fit_ols(frame: pd.DataFrame, y: str, xs: Sequence[str], *, cov_type: str = "HC3",
            groups: str = "gemeente_code"):
    """OLS of ``y`` on ``xs`` with intercept. ``cov_type`` 'cluster' clusters by ``groups`` (CR1, t(G−1));
    'nonrobust' is the classical fit. The results are positional (constant first, then ``xs``): arrays, not
    named Series, which halves the time of a fit (the influence checks refit hundreds of times)."""
    import statsmodels.api as sm
    model = sm.OLS(frame[y].to_numpy(float), _design(frame, xs))
    if cov_type == "cluster":
        codes = pd.factorize(frame[groups])[0]
        return model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    if cov_type == "nonrobust":
        return model.fit()
    return model.fit(cov_type=cov_type, use_t=True)


def ols_pvalues(X: np.ndarray, y: np.ndarray, cov_type: str, groups: np.ndarray | None = None) -> np.ndarray:
    """The p-values of an OLS fit, as :func:`fit_ols` gives them (``res.pvalues``), from the same formulas of
    statsmodels without its model and results objects: the leave-one-out checks refit hundreds of times, and
    this takes less than half the time of a fit. ``X`` includes the constant; ``cov_type`` 'HC3' (t with n − rank df) or
    'cluster' on the integer ``groups`` (CR1 with statsmodels' small-sample factor, t with G − 1 df).
    Tests check the equality with statsmodels."""
    from statsmodels.tools.tools import pinv_extended

    pinv, singular = pinv_extended(X)
    beta = pinv @ y
    e = y - X @ beta
    n, k = X.shape
    if cov_type == "cluster":
        _, codes = np.unique(groups, return_inverse=True)
        n_groups = int(codes.max()) + 1
        sums = np.zeros((n_groups, k))
        np.add.at(sums, codes, X * e[:, None])
        bread = pinv @ pinv.T
        cov = bread @ (sums.T @ sums) @ bread * (n_groups / (n_groups - 1.0) * ((n - 1.0) / (n - k)))
        df = n_groups - 1
    elif cov_type == "HC3":
        h = np.einsum("ij,ik,kj->i", X, X, pinv @ pinv.T)
        cov = pinv @ ((e ** 2 / (1 - h) ** 2)[:, None] * pinv.T)
        df = n - int(np.sum(singular > singular.max() * max(X.shape) * np.finfo(float).eps))
    else:
        raise ValueError(f"cov_type must be 'HC3' or 'cluster', not {cov_type!r}")
    return 2 * special.stdtr(df, -np.abs(beta / np.sqrt(np.diag(cov))))  # scipy.stats.t.sf, without its overhead


def correlations(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], *, y: str = "difference",
                 precision: str | None = None, alpha: float = 0.05, level: float = 0.95) -> pd.DataFrame:
    """Bivariate association of each factor with ``y`` (pairwise complete cases).

    Raw: Pearson r with its Fisher-z CI and p (``p_raw``), Spearman rho (``p_spearman``), and the
    OLS slope per SD of the factor (``coef_raw_per_sd``, pp); BH/Holm across the factors on ``p_raw``
    (``p_bh_raw``, ``significant_bh_raw``). With ``precision`` (the funnel z column), the
    precision-aware association too: Pearson r with z (``r_precision``, CI, ``p_precision``) and the
    slope per SD (``coef_per_sd``, z units). The decision columns ``p``, ``p_bh``, ``significant_bh``,
    ``p_holm``, ``significant_holm`` use the precision-aware p when ``precision`` is given, else the raw p.
    """
    rows = []
    for name, spec in specs.items():
        sub = frame[[y, name]].dropna()
        n = len(sub)
        pr = pearson(sub[name], sub[y], level)
        if not math.isnan(pr["r"]):
            sp = stats.spearmanr(sub[name], sub[y])
            rho, p_rho = float(sp.statistic), float(sp.pvalue)
        else:
            rho = p_rho = math.nan
        sd = float(sub[name].std(ddof=1)) if n > 1 else math.nan
        row = {"factor": name, "label_nl": spec.label_nl, "label_en": spec.label_en, "cluster": spec.cluster,
               "unit": spec.unit, "n": n, "r": pr["r"], "ci_low": pr["ci_low"], "ci_high": pr["ci_high"],
               "p_raw": pr["p"], "spearman_rho": rho, "p_spearman": p_rho, "sd_factor": sd,
               "coef_raw_per_sd": pr["r"] * float(sub[y].std(ddof=1)) if n > 1 else math.nan, "p": pr["p"]}
        if precision:
            sz = frame[[precision, name]].dropna()
            pz = pearson(sz[name], sz[precision], level)
            row.update({"n_precision": len(sz), "r_precision": pz["r"], "ci_low_precision": pz["ci_low"],
                        "ci_high_precision": pz["ci_high"], "p_precision": pz["p"], "p": pz["p"],
                        "coef_per_sd": pz["r"] * float(sz[precision].std(ddof=1)) if len(sz) > 1 else math.nan})
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    raw = adjust_pvalues(out["p_raw"].to_numpy(), alpha)
    out["p_bh_raw"] = raw["p_bh"].to_numpy()
    out["significant_bh_raw"] = raw["significant_bh"].to_numpy()
    out["p_holm_raw"] = raw["p_holm"].to_numpy()
    return pd.concat([out, adjust_pvalues(out["p"].to_numpy(), alpha)], axis=1)


def vif(frame: pd.DataFrame, xs: Sequence[str]) -> dict[str, float]:
    """Variance inflation factor of each of ``xs`` (statsmodels, auxiliary regressions with intercept)."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    if len(xs) < 2:
        return {x: 1.0 for x in xs}
    X = _design(frame, xs)
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, x in enumerate(xs, start=1):
            v = float(variance_inflation_factor(X, j))
            out[x] = v if np.isfinite(v) else math.inf
    return out


def _primary_cov(n_gemeenten: int, min_clusters: int) -> str:
    return "cluster" if n_gemeenten >= min_clusters else "HC3"


def regressions(frame: pd.DataFrame, models: Mapping[str, Sequence[str]], specs: Mapping[str, FactorSpec], *,
                y: str = "difference", groups: str = "gemeente_code", precision: str | None = None,
                alpha: float = 0.05, min_clusters: int = 30, level: float = 0.95) -> pd.DataFrame:
    """Factor coefficients of regressions of ``y`` (one row per outcome × model × covariance × factor).

    Outcomes: 'raw' (``y``) and, with ``precision``, 'precision' (the funnel z). Each model is fitted on its own
    complete cases. Covariance types: 'cluster' (by gemeente) and 'HC3'; ``primary`` marks the one
    used for decisions (cluster when the number of gemeenten ≥ ``min_clusters``). BH/Holm adjust
    within family (cluster models together; joint model), outcome and covariance type.
    ``coef_per_sd`` = coefficient × SD of the factor (pp, or z, per SD).
    """
    rows = []
    outcomes = [("precision", precision), ("raw", y)] if precision else [("raw", y)]
    for outcome, yy in outcomes:
        for model, xs in models.items():
            sub = frame.dropna(subset=[yy, *xs])
            n, G = len(sub), sub[groups].nunique()
            if n < len(xs) + 3:
                continue
            vifs = vif(sub, xs)
            primary = _primary_cov(G, min_clusters)
            for cov in ("cluster", "HC3"):
                if cov == "cluster" and G < 2:
                    continue
                res = fit_ols(sub, yy, xs, cov_type=cov, groups=groups)
                ci = np.asarray(res.conf_int(alpha=1 - level))
                params, bse = np.asarray(res.params), np.asarray(res.bse)
                pv, tv = np.asarray(res.pvalues), np.asarray(res.tvalues)
                for j, x in enumerate(xs, start=1):
                    sd = float(sub[x].std(ddof=1))
                    rows.append({"outcome": outcome, "y": yy, "model": model,
                                 "family": "joint" if model == "joint" else "cluster_models",
                                 "cov_type": cov, "primary": cov == primary, "factor": x,
                                 "label_nl": specs[x].label_nl, "label_en": specs[x].label_en,
                                 "cluster": specs[x].cluster, "unit": specs[x].unit,
                                 "coef": float(params[j]), "se": float(bse[j]), "t": float(tv[j]),
                                 "ci_low": float(ci[j, 0]), "ci_high": float(ci[j, 1]), "p": float(pv[j]),
                                 "sd_factor": sd, "coef_per_sd": float(params[j]) * sd,
                                 "ci_low_per_sd": float(ci[j, 0]) * sd, "ci_high_per_sd": float(ci[j, 1]) * sd,
                                 "vif": vifs[x], "n": n, "n_gemeenten": int(G), "n_factors": len(xs),
                                 "r2": float(res.rsquared), "adj_r2": float(res.rsquared_adj),
                                 "df_resid_inference": float(res.df_resid) if cov != "cluster" else float(G - 1)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    adj_parts = []
    for _, idx in out.groupby(["outcome", "family", "cov_type"], sort=True).groups.items():
        a = adjust_pvalues(out.loc[idx, "p"].to_numpy(), alpha)
        a.index = idx
        adj_parts.append(a)
    return pd.concat([out, pd.concat(adj_parts).sort_index()], axis=1)


def _r2(y: np.ndarray, X: np.ndarray) -> tuple[float, float, float]:
    """R², adjusted R² and residual sum of squares of OLS ``y ~ X`` (X includes the intercept)."""
    import statsmodels.api as sm
    res = sm.OLS(y, X).fit()
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = float(res.rsquared) if tss > 0 else math.nan
    n, k = X.shape
    adj = 1 - (1 - r2) * (n - 1) / (n - k) if n > k else math.nan
    return r2, adj, float(res.ssr)


def explained_variance(frame: pd.DataFrame, xs: Sequence[str]) -> dict[str, Any]:
    """Gain in explained variance over the national model, on the complete cases of ``xs``.

    Base: ``observed ~ expected_scp``; full: ``observed ~ expected_scp + xs``; nested F test;
    and R² of ``difference ~ xs``.
    """
    sub = frame.dropna(subset=["observed", "expected_scp", "difference", *xs])
    n, k = len(sub), len(xs)
    out: dict[str, Any] = {"n": n, "n_gemeenten": int(sub["gemeente_code"].nunique()), "n_factors": k}
    if n < k + 3:
        out["note"] = f"too few complete wijken (n={n}) for {k} factors"
        return out
    yv = sub["observed"].to_numpy(float)
    Xb = _design(sub, ["expected_scp"])
    Xf = _design(sub, ["expected_scp", *xs])
    r2b, adjb, rssb = _r2(yv, Xb)
    r2f, adjf, rssf = _r2(yv, Xf)
    df_den = n - Xf.shape[1]
    F = ((rssb - rssf) / k) / (rssf / df_den) if rssf > 0 and df_den > 0 else math.nan
    r2r, adjr, _ = _r2(sub["difference"].to_numpy(float), _design(sub, xs))
    out.update({"r2_base": r2b, "adj_r2_base": adjb, "r2_full": r2f, "adj_r2_full": adjf,
                "delta_r2": r2f - r2b, "delta_adj_r2": adjf - adjb,
                "f_test": {"F": F, "df_num": k, "df_den": df_den,
                           "p": float(stats.f.sf(F, k, df_den)) if np.isfinite(F) else math.nan},
                "r2_residual": r2r, "adj_r2_residual": adjr})
    return out


def logo_cv(frame: pd.DataFrame, xs: Sequence[str], *, groups: str = "gemeente_code") -> dict[str, Any]:
    """Leave-one-gemeente-out cross-validated RMSE of observed use, with and without the factors.

    Folds come from scikit-learn's ``LeaveOneGroupOut`` (one gemeente held out per fold); each fold's
    least-squares fit is ``numpy.linalg.lstsq`` (hundreds of folds nationally, so no per-fit overhead).
    ``observed ~ expected_scp`` (baseline) and ``observed ~ expected_scp + xs`` are fitted on the
    other gemeenten and predict the held-out wijken. ``rmse_scp`` is the RMSE of the published
    expectation as is (no fitting). A fold is skipped when its training set has too few wijken.
    """
    from sklearn.model_selection import LeaveOneGroupOut
    sub = frame.dropna(subset=["observed", "expected_scp", *xs]).sort_values("wijk_code").reset_index(drop=True)
    gem = sub[groups].to_numpy()
    out: dict[str, Any] = {"n": int(len(sub)), "n_folds": 0, "n_gemeenten": int(len(set(gem)))}
    if len(set(gem)) < 2:
        out["note"] = "leave-one-gemeente-out needs at least 2 gemeenten"
        return out
    yv = sub["observed"].to_numpy(float)
    Xb = _design(sub, ["expected_scp"])
    Xf = _design(sub, ["expected_scp", *xs])
    fit = lambda X, tr: np.linalg.lstsq(X[tr], yv[tr], rcond=None)[0]  # noqa: E731
    pred_b = np.full(len(sub), np.nan)
    pred_f = np.full(len(sub), np.nan)
    folds = better = 0
    for train, test in LeaveOneGroupOut().split(Xf, yv, groups=gem):
        if len(train) < Xf.shape[1] + 2:
            continue
        pred_b[test] = Xb[test] @ fit(Xb, train)
        pred_f[test] = Xf[test] @ fit(Xf, train)
        folds += 1
        better += int(np.mean((yv[test] - pred_f[test]) ** 2) < np.mean((yv[test] - pred_b[test]) ** 2))
    ok = np.isfinite(pred_f)
    rmse = lambda e: float(np.sqrt(np.mean(e ** 2))) if len(e) else math.nan  # noqa: E731
    out.update({"n_folds": folds, "n_predicted": int(ok.sum()),
                "rmse_scp": rmse(yv[ok] - sub["expected_scp"].to_numpy(float)[ok]),
                "rmse_baseline": rmse(yv[ok] - pred_b[ok]), "rmse_factors": rmse(yv[ok] - pred_f[ok]),
                "folds_factors_better": better})
    out["rmse_change"] = out["rmse_factors"] - out["rmse_baseline"]
    out["rmse_change_pct"] = 100 * out["rmse_change"] / out["rmse_baseline"] if out["rmse_baseline"] else math.nan
    return out


def residual_after(frame: pd.DataFrame, xs: Sequence[str], y: str = "difference") -> pd.Series:
    """Residual of ``y ~ xs`` (OLS, in-sample) per wijk_code, NaN where a factor is missing."""
    sub = frame.dropna(subset=[y, *xs])
    out = pd.Series(np.nan, index=frame["wijk_code"].to_numpy(), name="after")
    if len(sub) < len(xs) + 2:
        return out
    res = fit_ols(sub, y, xs, cov_type="nonrobust")
    out.loc[sub["wijk_code"].to_numpy()] = np.asarray(res.resid)
    return out


def partial_regression_data(frame: pd.DataFrame, x: str, others: Sequence[str], y: str = "difference"
                            ) -> pd.DataFrame:
    """Frisch–Waugh–Lovell residuals: ``x`` and ``y`` each regressed on the other factors (complete cases)."""
    import statsmodels.api as sm
    sub = frame.dropna(subset=[y, x, *others])
    Z = _design(sub, others)
    res = lambda v: np.asarray(sm.OLS(v, Z).fit().resid)  # noqa: E731
    return pd.DataFrame({"wijk_code": sub["wijk_code"].to_numpy(), "x_resid": res(sub[x].to_numpy(float)),
                         "y_resid": res(sub[y].to_numpy(float))})
