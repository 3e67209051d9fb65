"""Summary numbers of the SCP results: agreement, weighted means, per-region and per-gemeente tables.

Everything here works on the results table (see :data:`.options.RESULT_COLUMNS`) with numpy and
pandas only, so the regional stage and the atlas can use it without loading a model library.

:func:`region_summary` is THE per-region computation: the single-region notebook
(``05_regio``) and the atlas of all jeugdzorgregio's call it on the same national results, so
their numbers are equal by construction.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .. import deviation
from ..study import PUBLISHED, STUDY_AREA_GEMEENTEN


# --------------------------------------------------------------------------------------------
# agreement of two expectations
# --------------------------------------------------------------------------------------------
def pearson_r(a: pd.Series, b: pd.Series) -> float | None:
    """Pearson r over the rows where both are present (None for fewer than 3 or no variation)."""
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
    return {"n": int(ok.sum()), "r": pearson_r(pred[ok], ref[ok]), "mae": float(d.abs().mean()),
            "max_abs_error": float(d.abs().max()), "rmse": float(np.sqrt((d ** 2).mean())),
            "mean_difference": float(d.mean())}


def compare(pred: pd.Series, table: pd.DataFrame, complete: pd.Series) -> dict:
    """Agreement of ``pred`` with ``perc_przv``: overall, per jeugdzorgregio and for the HHS study area."""
    ref = table["perc_przv"]
    out = {"overall": {"complete": agreement(pred, ref, complete), "all": agreement(pred, ref)}}
    per = []
    for (jz, name), idx in table.groupby(["jz_code", "jz_name"]).groups.items():
        m = pd.Series(table.index.isin(idx), index=table.index)
        per.append({"jz_code": jz, "jz_name": name, "complete": agreement(pred, ref, m & complete),
                    "all": agreement(pred, ref, m)})
    out["per_jz"] = sorted(per, key=lambda d: d["jz_code"])
    hl = table["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)
    out["haaglanden"] = ({"complete": agreement(pred, ref, hl & complete), "all": agreement(pred, ref, hl)}
                         if hl.any() else None)
    return out


# --------------------------------------------------------------------------------------------
# weighted and unweighted means
# --------------------------------------------------------------------------------------------
def _wmean(v: pd.Series, w: pd.Series) -> float | None:
    ok = v.notna() & w.notna() & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else None


def _mean(v: pd.Series) -> float | None:
    return float(v.mean()) if v.notna().any() else None


def summary_numbers(results: pd.DataFrame, mask: pd.Series | None = None) -> dict:
    """Observed and expected, youth-weighted and unweighted; observed over wijken with data."""
    r = results if mask is None else results[np.asarray(mask, dtype=bool)]
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


# --------------------------------------------------------------------------------------------
# published figures
# --------------------------------------------------------------------------------------------
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


def share_differing_rows(sensitivity: pd.DataFrame, scope: str) -> list[dict]:
    """The published "bijna 40%" next to the share of differing wijken under every rule in ``scope``."""
    s = sensitivity[sensitivity["scope"] == scope].dropna(subset=["share_differing"])
    target = PUBLISHED["haaglanden_share_differing"]
    return [{"figure": "haaglanden_share_differing", "published": target, "scope": scope, "aggregation": rule,
             "value": float(v), "difference": float(v) - target,
             "matches_at_one_decimal": bool(round(float(v) + 1e-9, 1) == target)}
            for rule, v in zip(s["rule"], s["share_differing"])]


# --------------------------------------------------------------------------------------------
# regions
# --------------------------------------------------------------------------------------------
def gemeente_codes_of(region) -> tuple[str, ...]:
    """The gemeente codes of a region: a :class:`regions.Region` (or anything with
    ``gemeente_codes``) or an iterable of GM codes."""
    codes = getattr(region, "gemeente_codes", region)
    if isinstance(codes, str) or not isinstance(codes, Iterable):
        raise TypeError(f"region must be a resolved Region (regions.resolve_region) or a list of gemeente codes, "
                        f"not {region!r}.")
    return tuple(sorted(str(c) for c in codes))


def is_study_area(region) -> bool:
    """True when the region is exactly the HHS study area (the 9 GGD Haaglanden gemeenten)."""
    return set(gemeente_codes_of(region)) == set(STUDY_AREA_GEMEENTEN)


def region_rows(national_results: pd.DataFrame, region) -> pd.DataFrame:
    """The region's rows of the national results, sorted by wijk code."""
    codes = gemeente_codes_of(region)
    out = national_results[national_results["gemeente_code"].isin(codes)]
    if out.empty:
        raise ValueError(f"Region {getattr(region, 'name', region)!r}: none of its gemeenten {list(codes)[:10]} is "
                         "in the national SCP results. Is the national stage from the same data (synthetic or real)?")
    return out.sort_values("wijk_code").reset_index(drop=True)


def region_summary(national_results: pd.DataFrame, region, deviation_rule: str | None = None,
                   overdispersion: dict | None = None) -> dict:
    """The per-region numbers: observed vs expected (weighted and unweighted), shares of wijken
    higher/lower than expected, counts.

    ``national_results`` is the national results table (catalog id ``scp_results_nl``);
    ``region`` a resolved :class:`regions.Region` or a list of gemeente codes. The deviation
    classes are those of the national table unless ``deviation_rule`` names another rule; then
    the region is reclassified from observed, expected and youths with the national
    ``overdispersion`` (``scp_metrics_nl["deviation"]["overdispersion"]``). No model is refitted.

    Weighted means are weighted by the estimated youths 0-17; unweighted means are plain means
    over wijken. Shares of wijken are fractions of the wijken with an observed value.
    """
    rows = region_rows(national_results, region)
    rule = rows["deviation_rule"].iloc[0] if "deviation_rule" in rows.columns else None
    if deviation_rule is not None and deviation_rule != rule:
        rows = deviation.classify_results(rows, deviation_rule, overdispersion)
        rule = deviation_rule
    numbers = summary_numbers(rows)
    counts = deviation.class_counts(rows["deviation_class"])
    complete = rows["determinants_complete"].astype(bool) if "determinants_complete" in rows.columns else None
    agree = agreement(rows["expected_reestimated"], rows["expected_scp"], complete)
    codes = gemeente_codes_of(region)
    out = {
        "region": getattr(region, "name", ", ".join(codes)),
        "slug": getattr(region, "slug", None),
        "kind": getattr(region, "kind", "gemeenten"),
        "is_study_area": is_study_area(region),
        "n_gemeenten": int(rows["gemeente_code"].nunique()),
        "jz_codes": ",".join(sorted(rows["jz_code"].unique())),
        "youths_total": float(rows["youths_0_17_est"].sum()),
        **numbers,
        "difference_weighted": _diff(numbers["observed_weighted"], numbers["expected_weighted_observed_wijken"]),
        "difference_unweighted": _diff(numbers["observed_unweighted"],
                                       numbers["expected_unweighted_observed_wijken"]),
        "deviation_rule": rule,
        **{k: v for k, v in counts.items() if k != "n_wijken"},
        "reestimate_vs_scp_r_complete": agree["r"],
        "reestimate_vs_scp_n_complete": agree["n"],
    }
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _group_wmean(df: pd.DataFrame, value: str, keys: list[str]) -> pd.Series:
    """Youth-weighted mean of ``value`` per group over the rows with a value and a positive weight."""
    w = df["youths_0_17_est"]
    ok = df[value].notna() & w.notna() & (w > 0)
    num = (df[value] * w).where(ok, 0.0).groupby([df[k] for k in keys]).sum()
    den = w.where(ok, 0.0).groupby([df[k] for k in keys]).sum()
    return (num / den).where(den > 0)


GEMEENTE_TABLE_COLUMNS = ["gemeente_code", "gemeente_name", "n_wijken", "n_with_observed", "observed_unweighted",
                          "expected_unweighted", "observed_weighted", "expected_weighted",
                          "expected_reestimated_unweighted", "n_higher", "n_lower", "n_as_expected", "n_no_data"]


def gemeente_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per gemeente of a region's results: observed, expected (weighted and unweighted), wijken above/below."""
    keys = ["gemeente_code", "gemeente_name"]
    g = results.groupby(keys, sort=True)
    out = pd.DataFrame({
        "n_wijken": g.size(),
        "n_with_observed": g["observed"].count(),
        "observed_unweighted": g["observed"].mean(),
        "expected_unweighted": g["expected_scp"].mean(),
        "observed_weighted": _group_wmean(results, "observed", keys),
        "expected_weighted": _group_wmean(results, "expected_scp", keys),
        "expected_reestimated_unweighted": g["expected_reestimated"].mean(),
    })
    cls = pd.crosstab([results[k] for k in keys], results["deviation_class"])
    for col, c in (("n_higher", deviation.HIGHER), ("n_lower", deviation.LOWER),
                   ("n_as_expected", deviation.AS_EXPECTED), ("n_no_data", deviation.NO_DATA)):
        out[col] = (cls[c] if c in cls.columns else pd.Series(0, index=cls.index)).reindex(out.index, fill_value=0)
    out = out.reset_index()
    for col in ("n_wijken", "n_with_observed", "n_higher", "n_lower", "n_as_expected", "n_no_data"):
        out[col] = out[col].astype("int64")
    return out[GEMEENTE_TABLE_COLUMNS]


EXTREME_COLUMNS = ["gemeente_code", "gemeente_name", "extreme", "wijk_code", "wijk_name", "observed", "expected_scp",
                   "difference", "deviation_class", "n_wijken_with_observed"]


def appendix_extremes(results: pd.DataFrame) -> pd.DataFrame:
    """HHS Bijlage I: per gemeente of a region's results the wijk with the highest and the lowest observed use
    (ties broken by wijk code)."""
    r = results[results["observed"].notna()].sort_values(["gemeente_code", "observed", "wijk_code"])
    if r.empty:
        return pd.DataFrame(columns=EXTREME_COLUMNS)
    n = r.groupby("gemeente_code")["wijk_code"].transform("size").astype("int64")
    r = r.assign(n_wijken_with_observed=n)
    hi = r.groupby("gemeente_code").tail(1).assign(extreme="hoogste", _order=0)
    lo = r.groupby("gemeente_code").head(1).assign(extreme="laagste", _order=1)
    out = pd.concat([hi, lo]).sort_values(["gemeente_code", "_order"])
    return out[EXTREME_COLUMNS].reset_index(drop=True)
