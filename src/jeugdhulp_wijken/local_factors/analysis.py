"""The local-factor analysis of one scope, per coverage area, and its artefacts.

``run_analysis(results, factors, scope="nl" | "region", ...)`` analyses only the requested scope:
the whole country (the national stage, step ``local_factors_nl``) or one region (the regional
stage, step ``local_factors_region``).

Honest scope
    A factor is analysed only within its coverage. Factors with values in most gemeenten of the
    scope (share ≥ ``MAIN_GEMEENTE_SHARE``) form the main group, labelled by the scope
    ("Nederland, 2.864 wijken"); every other factor is analysed on the wijken it covers, in a group
    labelled by that coverage: the sidecar's ``coverage`` name ("ELAN-gebied, 63 wijken") or the
    gemeenten it covers. Benjamini–Hochberg families are formed per group, so a national family
    never contains a factor that exists for 63 wijken only.

Per group: correlations and regressions, raw and precision-aware (:mod:`.stats`); influence
diagnostics and the robust / fragile classification (:mod:`.robustness`); ΔR² over the SCP model
and the leave-one-gemeente-out error, with and without the most influential wijk; Moran's I
before and after (:mod:`.spatial`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import catalog, study
from .factor_files import CLUSTERS, HHS_FACTORS, FactorFileError, FactorSet, FactorSpec, check_wijk_codes
from .narrative import (ROBUSTNESS_STATEMENT, SIGNIFICANCE_STATEMENT, fragile_notes, general_caveats, headline,
                        hhs_verdict, scope_caveats, sentences)
from .robustness import FRAGILE, ROBUST, correlation_influence, influence_table, regression_influence
from .sources import add_precision
from .spatial import morans_i
from .stats import PRECISION, _primary_cov, correlations, explained_variance, logo_cv, regressions, residual_after

SCOPES = ("nl", "region")
#: A factor with values in at least this share of the scope's gemeenten belongs to the scope's main group.
MAIN_GEMEENTE_SHARE = 0.75


@dataclass
class ScopeResult:
    """The analysis of one coverage group of the requested scope."""
    scope: str                       # requested scope: "nl" or "region"
    group: str                       # group id: the scope itself, or "<scope>_<coverage slug>"
    label: str                       # "Nederland", the region label, or the coverage name
    coverage_label: str              # label with the number of wijken: "ELAN-gebied, 63 wijken"
    frame: pd.DataFrame              # results + factors, wijken of the group with a residual
    correlations: pd.DataFrame
    regressions: pd.DataFrame
    metrics: dict[str, Any]
    residuals: pd.DataFrame          # wijk_code, before, after (joint model)
    models: dict[str, list[str]]     # model name -> factors
    scope_codes: list[str] = field(default_factory=list)  # all wijken of the group, incl. suppressed
    influence: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def is_main(self) -> bool:
        return self.group == self.scope


@dataclass
class LocalFactorAnalysis:
    scope: str
    scopes: dict[str, ScopeResult]   # coverage groups, main group first
    factors: FactorSet
    metrics: dict[str, Any]
    factor_table: pd.DataFrame
    influence: pd.DataFrame

    @property
    def main(self) -> ScopeResult:
        return self.scopes[self.scope] if self.scope in self.scopes else next(iter(self.scopes.values()))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "coverage"


def _gemeente_label(frame: pd.DataFrame, mask: pd.Series) -> str:
    col = "gemeente_name" if "gemeente_name" in frame.columns else "gemeente_code"
    names = frame.loc[mask, col].fillna(frame.loc[mask, "gemeente_code"]).value_counts()
    names = sorted(names.index, key=lambda n: (-names[n], str(n)))
    if len(names) <= 3:
        return " + ".join(str(n) for n in names)
    return f"{names[0]}, {names[1]} e.a. ({len(names)} gemeenten)"


def coverage_groups(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], *, scope: str, scope_label: str
                    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Split the factors into the scope's main group and one group per coverage area.

    Returns ``{group id: {"label", "factors", "mask"}}`` (main group first) and the factors
    without any value among the scope's wijken.
    """
    n_gem = frame["gemeente_code"].nunique()
    main: list[str] = []
    other: dict[Any, list[str]] = {}
    empty: list[str] = []
    for name, spec in specs.items():
        covered = frame[name].notna()
        if not covered.any():
            empty.append(name)
            continue
        share = frame.loc[covered, "gemeente_code"].nunique() / n_gem if n_gem else 0.0
        if share >= MAIN_GEMEENTE_SHARE:
            main.append(name)
        else:
            key = spec.coverage or frozenset(frame.loc[covered, "gemeente_code"])
            other.setdefault(key, []).append(name)
    groups: dict[str, dict[str, Any]] = {}
    if main:
        groups[scope] = {"label": scope_label, "factors": main, "mask": pd.Series(True, index=frame.index)}
    for key, names in sorted(other.items(), key=lambda kv: (str(kv[0]) if isinstance(kv[0], str) else "~", kv[1])):
        mask = frame[names].notna().any(axis=1)
        label = key if isinstance(key, str) else _gemeente_label(frame, mask)
        gid = f"{scope}_{_slug(label)}"
        while gid in groups:
            gid += "_2"
        groups[gid] = {"label": label, "factors": names, "mask": mask}
    return groups, empty


def _model_sets(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], min_coverage: float
                ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Factors per model (one per cluster present, plus 'joint'), excluding low-coverage and constant factors."""
    n = len(frame)
    excluded: dict[str, str] = {}
    usable = []
    for name in specs:
        cov = frame[name].notna().mean() if n else 0.0
        if frame[name].dropna().nunique() < 2:
            excluded[name] = "constant or no values in this group"
        elif cov < min_coverage:
            excluded[name] = (f"coverage {cov:.0%} of the group's wijken with a residual < {min_coverage:.0%}: "
                              f"bivariate correlation only")
        else:
            usable.append(name)
    models: dict[str, list[str]] = {}
    for cl in CLUSTERS:
        xs = [x for x in usable if specs[x].cluster == cl]
        if xs:
            models[cl] = xs
    if usable:
        models["joint"] = usable
    return models, excluded


def analysis_frame(results: pd.DataFrame, factors: FactorSet, codes: Sequence[str] | None = None) -> pd.DataFrame:
    """Results of the wijken ``codes`` (all when None) with a residual, joined to the factors by wijk_code."""
    res = results if codes is None else results[results["wijk_code"].isin(set(codes))]
    res = res[res["difference"].notna()]
    cols = [c for c in ("wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "observed",
                        "expected_scp", "difference", "youths_0_17_est", "se_binomial", PRECISION) if c in res.columns]
    return res[cols].merge(factors.values, on="wijk_code", how="left").sort_values("wijk_code").reset_index(drop=True)


def _findings(table: pd.DataFrame) -> dict[str, list]:
    """Robust and fragile findings of a table with ``status`` (one entry per factor)."""
    if table.empty or "status" not in table.columns:
        return {"robust": [], "fragile": []}
    out: dict[str, list] = {"robust": [], "fragile": []}
    for r in table.drop_duplicates("factor").itertuples():
        if r.status not in (ROBUST, FRAGILE):
            continue
        item = {"factor": r.factor, "label_nl": r.label_nl, "label_en": r.label_en,
                "coef_per_sd": float(r.coef_per_sd), "r": float(getattr(r, "r", math.nan)),
                "r_precision": float(getattr(r, "r_precision", math.nan))}
        if r.status == FRAGILE:
            item.update({"reason_codes": r.reason_codes.split("|"), "reasons": r.reasons,
                         "decisive_wijk_code": r.decisive_wijk_code, "decisive_wijk_name": r.decisive_wijk_name})
        out[r.status].append(item)
    return out


def _flat_findings(by: Mapping[str, Mapping[str, list]]) -> list[dict[str, Any]]:
    """One entry per factor that is robust or fragile: the status of its bivariate association, else of
    its joint-model coefficient (``status``, ``analysis``, reasons and decisive wijk of a fragile one)."""
    out: dict[str, dict[str, Any]] = {}
    for analysis in ("correlations", "joint_model"):
        for status in (ROBUST, FRAGILE):
            for item in by[analysis][status]:
                if item["factor"] not in out:
                    out[item["factor"]] = {"factor": item["factor"], "status": status, "analysis": analysis,
                                           **{k: v for k, v in item.items() if k != "factor"}}
    return sorted(out.values(), key=lambda d: (d["status"] != ROBUST, d["factor"]))


def _with_without(frame: pd.DataFrame, xs: Sequence[str], most: Mapping[str, Any] | None) -> dict[str, Any]:
    ev = explained_variance(frame, xs)
    ev["factors"] = list(xs)
    ev["cv_leave_one_gemeente_out"] = logo_cv(frame, xs)
    if most:
        red = frame[frame["wijk_code"] != most["wijk_code"]]
        wo = explained_variance(red, xs)
        wo["cv_leave_one_gemeente_out"] = logo_cv(red, xs)
        ev["without_most_influential"] = {"wijk_code": most["wijk_code"], "wijk_name": most["wijk_name"],
                                          "cooks_d": most["cooks_d"], **wo}
    return ev


def analyse_group(frame: pd.DataFrame, specs: Mapping[str, FactorSpec], *, scope: str, group: str, label: str,
                  geometry=None, scope_codes: Sequence[str] = (), alpha: float = 0.05, min_clusters: int = 30,
                  min_coverage: float = 0.9, permutations: int = 999, seed: int = 20170101,
                  contiguity: str = "queen", fuzzy_buffer: float = 25.0, n_refit: int = 5) -> ScopeResult:
    """All analyses for one coverage group (see the module docstring)."""
    corr = correlations(frame, specs, precision=PRECISION, alpha=alpha)
    corr, rows_c = correlation_influence(frame, corr, alpha=alpha)
    models, excluded = _model_sets(frame, specs, min_coverage)
    reg = regressions(frame, models, specs, precision=PRECISION, alpha=alpha, min_clusters=min_clusters)
    reg, rows_r, most = regression_influence(frame, models, reg, alpha=alpha, min_clusters=min_clusters,
                                             n_refit=n_refit)
    G = int(frame["gemeente_code"].nunique())
    coverage_label = f"{label}, {len(frame)} wijken"
    m: dict[str, Any] = {"label": label, "coverage_label": coverage_label, "scope": scope, "group": group,
                         "n_wijken": int(len(frame)), "n_gemeenten": G,
                         "n_wijken_precision": int(frame[PRECISION].notna().sum()),
                         "primary_cov_type": _primary_cov(G, min_clusters),
                         "factors_analysed": list(specs), "factors_excluded_from_models": excluded, "models": {}}
    for model, xs in models.items():
        m["models"][model] = _with_without(frame, xs, most.get(model))
    before = frame.set_index("wijk_code")["difference"]
    joint = models.get("joint", [])
    after = residual_after(frame, joint) if joint else pd.Series(np.nan, index=before.index)
    same = after.dropna().index
    resid = pd.DataFrame({"wijk_code": frame["wijk_code"], "before": before.to_numpy(),
                          "after": after.reindex(frame["wijk_code"]).to_numpy()})
    mkw = dict(contiguity=contiguity, permutations=permutations, seed=seed, buffer=fuzzy_buffer)
    moran: dict[str, Any] = {"wijken": "complete cases of the joint model (same wijken before and after)",
                             "all_wijken_before": morans_i(geometry, before, **mkw),
                             "before": morans_i(geometry, before.loc[same], **mkw),
                             "after": morans_i(geometry, after.loc[same], **mkw)}
    if contiguity != "fuzzy":
        moran["sensitivity_fuzzy"] = {k: morans_i(geometry, v, **{**mkw, "contiguity": "fuzzy"})
                                      for k, v in (("before", before.loc[same]), ("after", after.loc[same]))}
    m["moran"] = moran
    # BH-significant (precision-aware), robust or not; the findings below say which are robust
    m["correlations_significant_bh"] = corr.loc[corr["significant_bh"], "factor"].tolist() if not corr.empty else []
    prim = reg[reg["primary"] & (reg["outcome"] == "precision")] if not reg.empty else reg
    m["joint_significant_bh"] = prim.loc[(prim["model"] == "joint") & prim["significant_bh"], "factor"].tolist() \
        if not prim.empty else []
    by = {"correlations": _findings(corr),
          "joint_model": _findings(prim[prim["model"] == "joint"] if not prim.empty else prim),
          "cluster_models": _findings(prim[prim["model"] != "joint"] if not prim.empty else prim)}
    m["findings_by_analysis"] = by
    m["findings"] = _flat_findings(by)
    m["hhs_out_of_sample"] = hhs_verdict(m, label=coverage_label)
    m["caveats"] = scope_caveats(m, min_clusters)
    for t in (corr, reg):
        if not t.empty:
            t.insert(0, "group_label", coverage_label)
            t.insert(0, "group", group)
            t.insert(0, "scope", scope)
    infl = influence_table(rows_c + rows_r, scope=scope, group=group, group_label=coverage_label)
    return ScopeResult(scope, group, label, coverage_label, frame, corr, reg, m, resid, models,
                       sorted(scope_codes) if len(scope_codes) else sorted(frame["wijk_code"]), infl)


def factor_table(factors: FactorSet, groups: Mapping[str, ScopeResult], empty: Sequence[str] = ()) -> pd.DataFrame:
    """One row per factor: metadata, source, year, file, its coverage group, N / mean / SD, and its status."""
    rows = []
    where = {n: res for res in groups.values() for n in res.correlations.get("factor", pd.Series(dtype=str))}
    for name, s in factors.specs.items():
        res = where.get(name)
        row = {"factor": name, "label_nl": s.label_nl, "label_en": s.label_en, "cluster": s.cluster,
               "unit": s.unit, "source": s.source, "year": s.year, "higher_is_worse": s.higher_is_worse,
               "file": s.file, "fictional": s.fictional, "group": res.group if res else "",
               "coverage": res.coverage_label if res else "", "n": 0, "mean": math.nan, "sd": math.nan,
               "status_correlation": "no_values" if name in empty else "", "status_joint_model": "",
               "decisive_wijk_code": "", "decisive_wijk_name": ""}
        if res is not None:
            v = res.frame[name]
            row.update({"n": int(v.notna().sum()), "mean": float(v.mean()) if v.notna().any() else math.nan,
                        "sd": float(v.std(ddof=1)) if v.notna().sum() > 1 else math.nan})
            c = res.correlations.set_index("factor").loc[name]
            row.update({"status_correlation": c["status"], "decisive_wijk_code": c["decisive_wijk_code"],
                        "decisive_wijk_name": c["decisive_wijk_name"]})
            reg = res.regressions
            if not reg.empty:
                j = reg[(reg["model"] == "joint") & (reg["factor"] == name)]
                if len(j):
                    row["status_joint_model"] = j["status"].iloc[0]
        rows.append(row)
    order = {c: i for i, c in enumerate(CLUSTERS)}
    out = pd.DataFrame(rows)
    if not out.empty:
        gorder = {g: i for i, g in enumerate(groups)}
        out = out.assign(_g=out["group"].map(gorder).fillna(len(gorder)), _c=out["cluster"].map(order))
        out = out.sort_values(["_g", "_c", "factor"]).drop(columns=["_g", "_c"])
    return out.reset_index(drop=True)


def run_analysis(results: pd.DataFrame, factors: FactorSet, *, scope: str = "nl", region: Any = "NL",
                 region_label: str | None = None, region_codes: Sequence[str] | None = None, geometry=None,
                 alpha: float = 0.05, min_clusters: int = 30, min_coverage: float = 0.9, permutations: int = 999,
                 seed: int = 20170101, contiguity: str = "queen", fuzzy_buffer: float = 25.0, n_refit: int = 5,
                 results_provenance: Mapping[str, Any] | None = None, synthetic: bool = False
                 ) -> LocalFactorAnalysis:
    """Run the local-factor analysis for one scope: ``"nl"`` (every wijk) or ``"region"``.

    ``results`` is the SCP step's national results frame (all wijken). For ``scope="region"`` the
    region's wijken are ``region_codes`` (see :func:`.sources.region_wijken`), else the wijken
    marked ``in_region``. The funnel z-scores (precision-aware outcome) use the overdispersion of all wijken
    of ``results`` (:func:`.sources.add_precision`), so a region uses the national overdispersion.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r} is not valid; use 'nl' (the national stage) or 'region' "
                         f"(the regional stage).")
    if not factors.specs:
        raise ValueError("No local factors to analyse: the public factor file is missing and no factor_files "
                         "were given. Run the data step, or pass factor_files=[...] with a CSV + YAML sidecar.")
    clash = [n for n in factors.specs if n in results.columns]
    if clash:
        raise FactorFileError(f"Factor name(s) {clash} clash with columns of the SCP results; rename them.")
    code_warnings = check_wijk_codes(factors, results["wijk_code"])
    results, precision = add_precision(results)
    if scope == "nl":
        codes = sorted(results["wijk_code"])
        label = "Nederland"
    else:
        if region_codes is None:
            if "in_region" not in results.columns or not results["in_region"].any():
                raise ValueError(f"scope='region' needs the region's wijken: pass region_codes, or mark them "
                                 f"in_region (region={region!r}).")
            region_codes = results.loc[results["in_region"].astype(bool), "wijk_code"]
        codes = sorted(set(region_codes) & set(results["wijk_code"]))
        if not codes:
            raise ValueError(f"No wijk of region {region!r} is in the SCP results; check the region parameter.")
        label = region_label or str(region)
    frame = analysis_frame(results, factors, codes)
    groups, empty = coverage_groups(frame, factors.specs, scope=scope, scope_label=label)
    if geometry is not None and scope == "region":
        # contiguity is a property of each pair of polygons: the region's own polygons give the same
        # neighbours as all of the Netherlands' do, at a fraction of the cost
        geometry = geometry[geometry["wijk_code"].isin(codes)]
    kw = dict(geometry=geometry, alpha=alpha, min_clusters=min_clusters, min_coverage=min_coverage,
              permutations=permutations, seed=seed, contiguity=contiguity, fuzzy_buffer=fuzzy_buffer,
              n_refit=n_refit)
    scopes: dict[str, ScopeResult] = {}
    for gid, g in groups.items():
        sub = frame[g["mask"]].reset_index(drop=True)
        specs = {n: factors.specs[n] for n in g["factors"]}
        gcodes = codes if gid == scope else sorted(set(sub["wijk_code"]))
        scopes[gid] = analyse_group(sub, specs, scope=scope, group=gid, label=g["label"], scope_codes=gcodes, **kw)
    unmatched = sorted(set(factors.values["wijk_code"]) - set(results["wijk_code"]))
    metrics = {
        "step": f"local_factors_{scope}", "scope": scope, "synthetic": bool(synthetic),
        "region": "NL" if scope == "nl" else (list(region) if isinstance(region, tuple) else region),
        "region_label": label,
        "scope_label": label, "n_wijken_in_scope": len(codes),
        "outcome": "difference = observed - expected_scp (percentage points), SCP model, 2017",
        "significance": SIGNIFICANCE_STATEMENT, "precision": precision,
        "robustness_rule": ROBUSTNESS_STATEMENT,
        "results_source": dict(results_provenance or {}),
        "factor_files": factors.files, "factor_notes": factors.notes,
        "factors_without_values_in_scope": empty,
        "parameters": {"scope": scope, "alpha_fdr": alpha, "min_clusters_for_cluster_se": min_clusters,
                       "min_coverage_for_models": min_coverage, "main_group_gemeente_share": MAIN_GEMEENTE_SHARE,
                       "moran_permutations": permutations, "moran_seed": seed, "contiguity": contiguity,
                       "fuzzy_buffer_m": fuzzy_buffer, "n_refit": n_refit},
        "scopes": {k: v.metrics for k, v in scopes.items()},
        "caveats": general_caveats(factors, unmatched, code_warnings, scope, empty),
        "deviations_from_hhs": deviations_from_hhs(factors),
        "unmatched_factor_codes": len(unmatched),
    }
    metrics["headline"] = headline(metrics)
    metrics["narrative"] = {lang: sentences(metrics, lang) for lang in ("nl", "en")}
    metrics["fragile_notes"] = {lang: fragile_notes(metrics, lang) for lang in ("nl", "en")}
    infl = pd.concat([s.influence for s in scopes.values()], ignore_index=True) if scopes else pd.DataFrame()
    return LocalFactorAnalysis(scope, scopes, factors, _clean(metrics), factor_table(factors, scopes, empty), infl)


def deviations_from_hhs(factors: FactorSet) -> list[str]:
    provided = set(factors.specs)
    hhs_missing = [f for fs in HHS_FACTORS.values() for f in fs if f not in provided]
    n_hhs = sum(len(v) for v in HHS_FACTORS.values())
    return [
        f"HHS factors not available in this run: {', '.join(hhs_missing) or 'none'} ({len(hhs_missing)} of {n_hhs}). "
        "HHS used local monitors that are not public per wijk; public proxies are used where available.",
        f"HHS analysed the 102 wijken of {study.STUDY_AREA}; here the same analysis runs nationally (national stage) "
        "and per region (regional stage), each factor only within the area it covers.",
        "Significance uses the precision-aware funnel z-score (binomial variance plus overdispersion), and only "
        "findings that survive leaving out any single wijk are reported as findings; HHS reported associations with "
        "the difference in percentage points.",
    ]


def _clean(obj: Any) -> Any:
    from ..files import plain
    return plain(obj)


#: The columns of ``lf_correlations`` and ``lf_regressions``, also when a region has no factor to analyse.
CORRELATION_COLUMNS = (
    "scope", "group", "group_label", "factor", "label_nl", "label_en", "cluster", "unit", "n", "r", "ci_low",
    "ci_high", "p_raw", "spearman_rho", "p_spearman", "sd_factor", "coef_raw_per_sd", "p", "n_precision",
    "r_precision", "ci_low_precision", "ci_high_precision", "p_precision", "coef_per_sd", "p_bh_raw",
    "significant_bh_raw", "p_holm_raw", "p_holm", "p_bh", "significant_bh", "significant_holm", "r_loo_min",
    "r_loo_max", "n_sign_flips_raw", "n_significance_flips_raw", "most_influential_raw", "r_precision_loo_min",
    "r_precision_loo_max", "n_sign_flips_precision", "n_significance_flips_precision",
    "most_influential_precision", "status", "reason_codes", "reasons", "decisive_wijk_code",
    "decisive_wijk_name",)
REGRESSION_COLUMNS = (
    "scope", "group", "group_label", "outcome", "y", "model", "family", "cov_type", "primary", "factor",
    "label_nl", "label_en", "cluster", "unit", "coef", "se", "t", "ci_low", "ci_high", "p", "sd_factor",
    "coef_per_sd", "ci_low_per_sd", "ci_high_per_sd", "vif", "n", "n_gemeenten", "n_factors", "r2", "adj_r2",
    "df_resid_inference", "p_holm", "p_bh", "significant_bh", "significant_holm",
    "coef_per_sd_loo_min_precision", "coef_per_sd_loo_max_precision", "n_sign_flips_precision",
    "n_significance_flips_precision", "max_cooks_d_precision", "most_influential_precision",
    "coef_per_sd_loo_min_raw", "coef_per_sd_loo_max_raw", "n_sign_flips_raw", "n_significance_flips_raw",
    "max_cooks_d_raw", "most_influential_raw", "status", "reason_codes", "reasons", "decisive_wijk_code",
    "decisive_wijk_name",)


def correlations_table(analysis: LocalFactorAnalysis) -> pd.DataFrame:
    parts = [s.correlations for s in analysis.scopes.values() if not s.correlations.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(CORRELATION_COLUMNS))


def regressions_table(analysis: LocalFactorAnalysis) -> pd.DataFrame:
    parts = [s.regressions for s in analysis.scopes.values() if not s.regressions.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(REGRESSION_COLUMNS))


def write_outputs(analysis: LocalFactorAnalysis, output_dir: str | Path, synthetic: bool = False) -> dict[str, Path]:
    """Write the artefacts ``lf_metrics``, ``lf_correlations``, ``lf_regressions``, ``lf_factor_table`` and
    ``lf_influence`` (catalog ids) into ``output_dir``; returns {id: path}."""
    tables = {"lf_metrics": analysis.metrics, "lf_correlations": correlations_table(analysis),
              "lf_regressions": regressions_table(analysis), "lf_factor_table": analysis.factor_table,
              "lf_influence": analysis.influence}
    return {k: catalog.write(v, k, output_dir, synthetic) for k, v in tables.items()}
