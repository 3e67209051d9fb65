"""Findings that survive one wijk: influence diagnostics and the robust / fragile classification.

For every bivariate association and every regression coefficient, in both the raw and the
precision-aware analysis (:mod:`.stats`):

* **Jackknife** (leave one wijk out): the range of r and of the coefficient over all wijken.
  For correlations r and its p-value are exact for every wijk (closed-form leave-one-out sums),
  and the Benjamini–Hochberg decision of the whole family is recomputed without each wijk.
* **Regressions**: Cook's distance, DFBETA and DFBETAS (statsmodels ``OLSInfluence`` leverages). Leaving a wijk out changes a coefficient by exactly its
  DFBETA, so sign changes are found for every wijk; the BH significance without a wijk is
  recomputed by refitting (primary covariance) for the ``n_refit`` wijken with the largest
  |DFBETAS| per coefficient and the largest Cook's distance, and every wijk that flips a sign.
* The wijken that change the sign of a significant association, or its BH significance, when left
  out are named (code, name, gemeente) in the ``lf_influence`` table, with the most influential wijk
  of every association. (Sign changes of non-significant estimates near zero are counted, not listed.)

A finding (BH-significant in the precision-aware or the raw analysis) is **robust** only when it is
BH-significant in the precision-aware analysis (the default for significance); keeps its sign and BH
significance there when any single wijk is left out, and its sign in the raw analysis; the raw estimate
has the same sign (the analyses agree); and, for correlations, Pearson and Spearman agree in sign.
Everything else that is significant somewhere is **fragile**, with its reasons (so an association that
only the raw analysis finds, because one small wijk dominates it, is fragile); the rest is **not
significant**.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from .stats import PRECISION, _design, _primary_cov, bh_significant, fit_ols, ols_pvalues

ROBUST, FRAGILE, NOT_SIGNIFICANT = "robust", "fragile", "not_significant"
REASONS = {
    "not_significant_precision": "not significant after BH with the funnel z-score (precision-aware)",
    "precision_sign_differs": "the precision-aware and the raw estimate differ in sign",
    "spearman_sign_differs": "Pearson and Spearman differ in sign",
    "loo_sign_flip": "changes sign when a single wijk is left out",
    "loo_loses_significance": "loses BH significance when a single wijk is left out",
}


# --------------------------------------------------------------------------- closed-form leave-one-out

def _t_p(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    return 2 * sps.t.sf(np.abs(t), df)


def loo_pearson(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and its p-value with each observation left out in turn (exact, vectorised)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    x, y = x - x.mean(), y - y.mean()
    n1 = len(x) - 1
    sx, sy = x.sum() - x, y.sum() - y
    sxx, syy, sxy = (x * x).sum() - x * x, (y * y).sum() - y * y, (x * y).sum() - x * y
    vx, vy, cxy = sxx - sx * sx / n1, syy - sy * sy / n1, sxy - sx * sy / n1
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(cxy / np.sqrt(vx * vy), -1.0, 1.0)
        t = r * np.sqrt((n1 - 2) / np.maximum(1 - r * r, 1e-300))
    return r, _t_p(t, n1 - 2)


# --------------------------------------------------------------------------- helpers

def _names(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("wijk_code", "wijk_name", "gemeente_name") if c in frame.columns]
    out = frame[cols].drop_duplicates("wijk_code").set_index("wijk_code")
    for c in ("wijk_name", "gemeente_name"):
        if c not in out.columns:
            out[c] = ""
    return out.fillna("")


def _sign(v) -> np.ndarray:
    return np.sign(np.nan_to_num(np.asarray(v, float)))


def _row(names: pd.DataFrame, code: str, **kw) -> dict[str, Any]:
    return {"wijk_code": code, "wijk_name": str(names.at[code, "wijk_name"]) if code in names.index else "",
            "gemeente_name": str(names.at[code, "gemeente_name"]) if code in names.index else "", **kw}


def classify(sig_precision: bool, sig_raw: bool, same_sign: bool, loo_sign: bool, loo_sig: bool,
             spearman_agrees: bool = True) -> tuple[str, list[str]]:
    """Robust / fragile / not significant, and the reason codes of a fragile finding.

    ``loo_sign``: a sign flips without one wijk (precision-aware, or raw when the raw estimate is
    significant); ``loo_sig``: the precision-aware BH significance is lost without one wijk."""
    if not (sig_precision or sig_raw):
        return NOT_SIGNIFICANT, []
    reasons = [code for code, bad in (("not_significant_precision", not sig_precision),
                                      ("precision_sign_differs", not same_sign),
                                      ("spearman_sign_differs", not spearman_agrees),
                                      ("loo_sign_flip", loo_sign), ("loo_loses_significance", loo_sig)) if bad]
    return (FRAGILE, reasons) if reasons else (ROBUST, [])


def _finish(row: dict[str, Any], status: str, reasons: list[str], decisive: tuple[str, str] | None) -> None:
    row["status"] = status
    row["reason_codes"] = "|".join(reasons)
    row["reasons"] = "; ".join(REASONS[r] for r in reasons)
    row["decisive_wijk_code"], row["decisive_wijk_name"] = decisive or ("", "")


# --------------------------------------------------------------------------- correlations

def correlation_influence(frame: pd.DataFrame, corr: pd.DataFrame, *, y: str = "difference",
                          precision: str = PRECISION, alpha: float = 0.05) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Leave-one-wijk-out diagnostics and the classification of each bivariate association.

    ``corr`` comes from :func:`.stats.correlations` with ``precision``. For every wijk, r (raw and
    precision-aware) and its p-value without that wijk are exact (closed form), and the BH decision
    of the whole family is recomputed. Adds the jackknife ranges (``r_loo_min/max``,
    ``r_precision_loo_min/max``), the number of wijken that flip a sign or the BH decision, the most
    influential wijk, ``status``, ``reasons`` and the decisive wijk; returns the influence rows (one
    per flip, plus the most influential wijk of each association and outcome).
    """
    if corr.empty:
        return corr, []
    corr = corr.reset_index(drop=True)
    names = _names(frame)
    facs = corr["factor"].tolist()
    codes = sorted(frame.loc[frame[y].notna() | frame[precision].notna(), "wijk_code"])
    pos = {c: i for i, c in enumerate(codes)}
    K, N = len(facs), len(codes)
    ycol = {"raw": y, "precision": precision}
    full_est = {"raw": corr["r"].to_numpy(float), "precision": corr["r_precision"].to_numpy(float)}
    full_p = {"raw": corr["p_raw"].to_numpy(float), "precision": corr["p_precision"].to_numpy(float)}
    est = {o: np.tile(full_est[o], (N, 1)) for o in full_est}
    pval = {o: np.tile(full_p[o], (N, 1)) for o in full_p}
    for k, f in enumerate(facs):
        for o in ("raw", "precision"):
            sub = frame[["wijk_code", ycol[o], f]].dropna()
            if len(sub) >= 5 and np.isfinite(full_est[o][k]):
                idx = sub["wijk_code"].map(pos).to_numpy()
                est[o][idx, k], pval[o][idx, k] = loo_pearson(sub[f], sub[ycol[o]])
    full_sig = {"raw": corr["significant_bh_raw"].to_numpy(bool), "precision": corr["significant_bh"].to_numpy(bool)}
    sig = {o: np.array([bh_significant(pval[o][i], alpha) for i in range(N)]).reshape(N, K) for o in pval}
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for k, f in enumerate(facs):
        info: dict[str, Any] = {}
        flips: dict[str, dict[str, np.ndarray]] = {}
        for o in ("raw", "precision"):
            e = est[o][:, k]
            ok = np.isfinite(e) & np.isfinite(full_est[o][k])
            sflip = ok & (_sign(e) != _sign(full_est[o][k]))
            lost = full_sig[o][k] & ~sig[o][:, k]
            gained = ~full_sig[o][k] & sig[o][:, k]
            flips[o] = {"sign": sflip, "lost": lost}
            delta = np.where(ok, np.abs(e - full_est[o][k]), -np.inf)
            top = int(np.argmax(delta)) if ok.any() else -1
            key = "r" if o == "raw" else "r_precision"
            info[f"{key}_loo_min"] = float(np.nanmin(e)) if ok.any() else math.nan
            info[f"{key}_loo_max"] = float(np.nanmax(e)) if ok.any() else math.nan
            info[f"n_sign_flips_{o}"] = int(sflip.sum())
            info[f"n_significance_flips_{o}"] = int((lost | gained).sum())
            info[f"most_influential_{o}"] = codes[top] if top >= 0 else ""
            base = dict(analysis="correlation", model="", outcome=o, factor=f, estimate=float(full_est[o][k]),
                        estimate_kind=key, significant_full=bool(full_sig[o][k]))
            shown = (sflip & full_sig[o][k]) | lost | gained | (np.arange(N) == top)
            for i in np.flatnonzero(shown):
                effects = [name for name, m in (("sign_flip", sflip), ("loses_bh_significance", lost),
                                                ("gains_bh_significance", gained)) if m[i]]
                if i == top:
                    effects.append("most_influential")
                rows.append(_row(names, codes[i], **base, effect="|".join(effects), estimate_without=float(e[i]),
                                 p_without=float(pval[o][i, k]), significant_without=bool(sig[o][i, k]),
                                 cooks_d=math.nan, dfbetas=math.nan))
        same = _sign(corr.at[k, "r"]) == _sign(corr.at[k, "r_precision"])
        spear = _sign(corr.at[k, "r"]) == _sign(corr.at[k, "spearman_rho"])
        loo_sign = bool((full_sig["raw"][k] and flips["raw"]["sign"].any()) or flips["precision"]["sign"].any())
        loo_sig = bool(flips["precision"]["lost"].any())
        status, reasons = classify(bool(full_sig["precision"][k]), bool(full_sig["raw"][k]), bool(same), loo_sign,
                                   loo_sig, bool(spear))
        decisive = None
        for o in ("raw", "precision"):
            m = flips[o]["sign"] | flips[o]["lost"]
            if m.any() and (o == "precision" or full_sig["raw"][k]):
                d = np.where(m, np.abs(np.nan_to_num(est[o][:, k]) - full_est[o][k]), -np.inf)
                decisive = codes[int(np.argmax(d))]
                break
        if decisive is None and status == FRAGILE:
            decisive = info["most_influential_raw"] or None
        decisive = decisive if status == FRAGILE else None
        _finish(info, status, reasons, (decisive, str(names.at[decisive, "wijk_name"])) if decisive else None)
        extra.append(info)
    return pd.concat([corr, pd.DataFrame(extra)], axis=1), rows


# --------------------------------------------------------------------------- regressions

def influence_measures(res) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DFBETA, DFBETAS and Cook's distance of a nonrobust OLS fit, from statsmodels ``OLSInfluence``.

    Cook's distance and the leverages come from ``OLSInfluence`` directly. DFBETA and DFBETAS use
    the exact deletion formulas on those leverages (``(X'X)^-1 x_i e_i / (1 - h_i)``, scaled by the
    leave-one-out residual SD), which equal ``OLSInfluence.dfbeta``/``dfbetas`` but do not refit the
    model once per wijk (tests check the equality).
    """
    from statsmodels.stats.outliers_influence import OLSInfluence
    inf = OLSInfluence(res)
    h = np.asarray(inf.hat_matrix_diag)
    e = np.asarray(res.resid)
    X = np.asarray(res.model.exog)
    xtx_inv = np.asarray(res.normalized_cov_params)
    dfbeta = (X @ xtx_inv) * (e / (1 - h))[:, None]
    n, p = X.shape
    s2_i = (float(res.ssr) - e ** 2 / (1 - h)) / (n - p - 1)
    dfbetas = dfbeta / np.sqrt(s2_i)[:, None] / np.sqrt(np.diag(xtx_inv))[None, :]
    return dfbeta, dfbetas, np.asarray(inf.cooks_distance[0])


def _influence(sub: pd.DataFrame, y: str, xs: Sequence[str]):
    """Coefficients, DFBETA, DFBETAS and Cook's distance of the nonrobust OLS fit."""
    res = fit_ols(sub, y, xs, cov_type="nonrobust")
    return (np.asarray(res.params), *influence_measures(res))


def regression_influence(frame: pd.DataFrame, models: Mapping[str, Sequence[str]], reg: pd.DataFrame, *,
                         y: str = "difference", precision: str = PRECISION, alpha: float = 0.05, min_clusters: int = 30,
                         groups: str = "gemeente_code", n_refit: int = 5
                         ) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    """Influence diagnostics and classification of every regression coefficient (see the module docstring).

    Returns ``reg`` with jackknife ranges, flip counts, ``max_cooks_d``, ``status``, ``reasons``
    and the decisive wijk per model × factor; the influence rows; and per model the most
    influential wijk of the raw fit (largest Cook's distance), used for the with/without comparison.
    """
    if reg.empty:
        return reg, [], {}
    names = _names(frame)
    rows: list[dict[str, Any]] = []
    per: dict[tuple[str, str], dict[str, Any]] = {}
    most: dict[str, Any] = {}
    for o, yy in (("precision", precision), ("raw", y)):
        prim = reg[(reg["outcome"] == o) & reg["primary"]]
        if prim.empty:
            continue
        for family, fam in prim.groupby("family", sort=True):
            fam_models = list(dict.fromkeys(fam["model"]))
            samples, fits, members, arrays, candidates = {}, {}, {}, {}, set()
            for m in fam_models:
                xs = list(models[m])
                sub = frame.dropna(subset=[yy, *xs]).reset_index(drop=True)
                params, dfbeta, dfbetas, cooks = _influence(sub, yy, xs)
                samples[m], fits[m], members[m] = sub, (params, dfbeta, dfbetas, cooks), set(sub["wijk_code"])
                arrays[m] = (sub["wijk_code"].to_numpy(), _design(sub, xs), sub[yy].to_numpy(float),
                             pd.factorize(sub[groups])[0])
                if o == "raw":
                    top = int(np.argmax(cooks))
                    most[m] = {"wijk_code": sub.at[top, "wijk_code"], "cooks_d": float(cooks[top]),
                               "wijk_name": str(names.at[sub.at[top, "wijk_code"], "wijk_name"])}
                cand = set(np.argsort(-cooks, kind="stable")[:n_refit])
                for j, x in enumerate(xs, start=1):
                    cand |= set(np.argsort(-np.abs(dfbetas[:, j]), kind="stable")[:n_refit])
                    loo = params[j] - dfbeta[:, j]
                    flips = np.flatnonzero(_sign(loo) != _sign(params[j]))
                    cand |= set(flips[np.argsort(-np.abs(dfbetas[flips, j]), kind="stable")][:50])
                candidates |= {sub.at[i, "wijk_code"] for i in cand}
            keys = [(m, x) for m in fam_models for x in models[m] if ((fam["model"] == m) & (fam["factor"] == x)).any()]
            p_full = np.array([fam.loc[(fam["model"] == m) & (fam["factor"] == x), "p"].iloc[0] for m, x in keys])
            sig_full = np.array([bool(fam.loc[(fam["model"] == m) & (fam["factor"] == x), "significant_bh"].iloc[0])
                                 for m, x in keys])
            sig_without: dict[str, np.ndarray] = {}
            for code in sorted(candidates):
                p = p_full.copy()
                for m in fam_models:
                    if code not in members[m]:
                        continue
                    wijken, X, yv, clusters = arrays[m]
                    keep = wijken != code
                    pv = ols_pvalues(X[keep], yv[keep], _primary_cov(len(np.unique(clusters[keep])), min_clusters),
                                     clusters[keep])
                    for j, x in enumerate(models[m], start=1):
                        if (m, x) in keys:
                            p[keys.index((m, x))] = pv[j]
                sig_without[code] = bh_significant(p, alpha)
            for (m, x), s_full in zip(keys, sig_full):
                xs = list(models[m])
                j = xs.index(x) + 1
                sub = samples[m]
                params, dfbeta, dfbetas, cooks = fits[m]
                loo = params[j] - dfbeta[:, j]
                sd = float(sub[x].std(ddof=1))
                sflip = _sign(loo) != _sign(params[j])
                k = keys.index((m, x))
                lost = np.array([s_full and c in sig_without and not sig_without[c][k] for c in sub["wijk_code"]])
                gained = np.array([(not s_full) and c in sig_without and bool(sig_without[c][k])
                                   for c in sub["wijk_code"]])
                top = int(np.argmax(np.abs(dfbetas[:, j])))
                d = per.setdefault((m, x), {})
                d.update({f"coef_per_sd_loo_min_{o}": float(loo.min() * sd), f"coef_per_sd_loo_max_{o}":
                          float(loo.max() * sd), f"n_sign_flips_{o}": int(sflip.sum()),
                          f"n_significance_flips_{o}": int((lost | gained).sum()), f"sig_{o}": bool(s_full),
                          f"sign_{o}": float(np.sign(params[j])), f"max_cooks_d_{o}": float(cooks.max()),
                          f"most_influential_{o}": sub.at[top, "wijk_code"], f"_flip_{o}": sflip | lost,
                          f"_codes_{o}": sub["wijk_code"].to_numpy(), f"_dfb_{o}": np.abs(dfbetas[:, j]),
                          f"_sflip_{o}": bool(sflip.any()), f"_lost_{o}": bool(lost.any())})
                base = dict(analysis="regression", model=m, outcome=o, factor=x, estimate=float(params[j] * sd),
                            estimate_kind="coef_per_sd", significant_full=bool(s_full))
                shown = (sflip & s_full) | lost | gained | (np.arange(len(sub)) == top)
                for i in np.flatnonzero(shown):
                    code = sub.at[i, "wijk_code"]
                    effects = [n for n, mk in (("sign_flip", sflip), ("loses_bh_significance", lost),
                                               ("gains_bh_significance", gained)) if mk[i]]
                    if i == top:
                        effects.append("most_influential")
                    rows.append(_row(names, code, **base, effect="|".join(effects), estimate_without=float(loo[i] * sd),
                                     p_without=math.nan,
                                     significant_without=bool(sig_without[code][k]) if code in sig_without else s_full,
                                     cooks_d=float(cooks[i]), dfbetas=float(dfbetas[i, j])))
    extra = []
    for (m, x), d in per.items():
        status, reasons = classify(d.get("sig_precision", False), d.get("sig_raw", False),
                                   d.get("sign_precision", 0) == d.get("sign_raw", 0),
                                   d.get("_sflip_precision", False) or (d.get("sig_raw", False)
                                                                         and d.get("_sflip_raw", False)),
                                   d.get("_lost_precision", False))
        decisive = None
        for o in ("raw", "precision"):
            if f"_flip_{o}" in d and d[f"_flip_{o}"].any() and (o == "precision" or d.get("sig_raw", False)):
                i = int(np.argmax(np.where(d[f"_flip_{o}"], d[f"_dfb_{o}"], -np.inf)))
                decisive = d[f"_codes_{o}"][i]
                break
        if decisive is None and status == FRAGILE:
            decisive = d.get("most_influential_raw") or None
        decisive = decisive if status == FRAGILE else None
        info = {"model": m, "factor": x, **{k: v for k, v in d.items() if not k.startswith(("_", "sig_", "sign_"))}}
        _finish(info, status, reasons, (decisive, str(names.at[decisive, "wijk_name"])) if decisive else None)
        extra.append(info)
    out = reg.merge(pd.DataFrame(extra), on=["model", "factor"], how="left")
    return out, rows, most


def influence_table(rows: list[dict[str, Any]], **labels: Any) -> pd.DataFrame:
    """The ``lf_influence`` rows as a table, with the scope columns in front, in a fixed order."""
    cols = ["analysis", "model", "outcome", "factor", "wijk_code", "wijk_name", "gemeente_name", "effect",
            "estimate_kind", "estimate", "estimate_without", "p_without", "significant_full", "significant_without",
            "cooks_d", "dfbetas"]
    df = pd.DataFrame(rows, columns=cols)
    for i, (k, v) in enumerate(labels.items()):
        df.insert(i, k, v)
    return df.sort_values(["analysis", "model", "outcome", "factor", "wijk_code"], kind="stable").reset_index(drop=True)
