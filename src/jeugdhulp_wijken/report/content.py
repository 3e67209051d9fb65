"""The report's content: every number, table and list it shows, taken from the artefacts.

:func:`build_context` turns the artefacts (:class:`inputs.ReportInputs`) into the values the
templates print. Numbers cited in sentences are :class:`fmt.Num` objects, collected in
``context['n']``; they are written to ``06_key_numbers.json`` with their printed text. The
wording (Dutch and English) is in the templates; this module holds no prose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import deviation, study
from .fmt import Formatter, Num
from .inputs import LF_DEVIATION_PATHS, ROBUST_FIELDS, ReportInputs

#: A regional difference smaller than this (percentage points) reads as "about as expected".
EQUAL_PP = 0.05
#: Words that mark a deviation statement as specific to the HHS study area.
STUDY_AREA_MARKERS = (study.STUDY_AREA.lower(), "hhs study area")


class Numbers(dict):
    """The key numbers of the report by name; ``add`` formats a value from an artefact."""

    def __init__(self, lang: str):
        super().__init__()
        self.fmt = Formatter(lang)

    def add(self, name: str, value: Any, kind: str) -> Num | None:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return None
        num = self.fmt.num(name, value, kind)
        self[name] = num
        return num

    def records(self) -> dict[str, dict]:
        return {k: v.record() for k, v in sorted(self.items())}


def _sign(diff: float | None) -> str:
    if diff is None or abs(diff) < EQUAL_PP:
        return "equal"
    return "higher" if diff > 0 else "lower"


@dataclass(frozen=True)
class RegionInfo:
    name: str
    slug: str
    gemeente_codes: tuple[str, ...]
    is_study_area: bool
    is_nl: bool


def region_info(inputs: ReportInputs, region: Any, slug: str) -> RegionInfo:
    gtab = inputs.table("gemeenten")
    codes = tuple(sorted(gtab["gemeente_code"].astype(str))) if gtab is not None else ()
    is_nl = str(region).strip().upper() == "NL" or (inputs.get("nl_n_wijken") == inputs.get("region_n_wijken"))
    return RegionInfo(name=str(inputs.get("region_name")), slug=slug, gemeente_codes=codes,
                      is_study_area=set(codes) == set(study.STUDY_AREA_GEMEENTEN), is_nl=bool(is_nl))


# --------------------------------------------------------------------------- tables

def gemeente_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    g = inputs.table("gemeenten")
    if g is None or g.empty:
        return []
    g = g.sort_values(["gemeente_name", "gemeente_code"])
    rows = []
    for r in g.to_dict(orient="records"):
        obs, exp = r.get("observed_unweighted"), r.get("expected_unweighted")
        r["difference_unweighted"] = (obs - exp) if pd.notna(obs) and pd.notna(exp) else None
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return rows


def extreme_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    e = inputs.table("extremes")
    if e is None or e.empty:
        return []
    order = {"hoogste": 0, "laagste": 1}
    e = e.assign(_o=e["extreme"].map(order).fillna(2)).sort_values(["gemeente_name", "gemeente_code", "_o"])
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if k != "_o"}
            for r in e.to_dict(orient="records")]


def published_rows(inputs: ReportInputs, info: RegionInfo, n: Numbers) -> list[dict[str, Any]]:
    """The published-vs-reproduced table. The NL row always; the study-area rows only in the
    study area's report. Each row names the aggregation or rule that reproduces the figure."""
    comp = inputs.get("published_comparison") or {}
    best = comp.get("aggregation_matching_published") or {}
    rows = []
    figures = ["nl_observed"] + (["haaglanden_observed", "haaglanden_expected"] if info.is_study_area else [])
    for fig in figures:
        pub = study.PUBLISHED[fig]
        b = best.get(fig)
        n.add(f"published_{fig}", pub, "pct")
        if b is None:
            rows.append({"figure": fig, "published": n[f"published_{fig}"], "reproduced": None,
                         "aggregation": None, "matches": None, "difference": None})
            continue
        rep = n.add(f"reproduced_{fig}", b["value"], "pct2")
        rows.append({"figure": fig, "published": n[f"published_{fig}"], "reproduced": rep,
                     "aggregation": b.get("closest_aggregation"), "matches": b.get("matches_at_one_decimal"),
                     "difference": n.fmt.num(f"diff_{fig}", b["value"] - pub, "pp2")})
    if info.is_study_area:
        hhs = inputs.get("hhs_rules") or {}
        closest = hhs.get("closest") or {}
        n.add("published_share_differing", study.PUBLISHED["haaglanden_share_differing"], "share")
        rep = n.add("reproduced_share_differing", closest.get("share_differing"), "share1")
        rows.append({"figure": "haaglanden_share_differing", "published": n["published_share_differing"],
                     "reproduced": rep, "aggregation": closest.get("rule"),
                     "matching_rules": [m.get("rule") for m in hhs.get("matching") or []],
                     "default_rule_share": n.get("region_share_differing"), "matches": None, "difference": None})
    rows.append({"figure": "agreement", "published": None, "reproduced": n.get("agreement_r_complete"),
                 "aggregation": inputs.get("headline_variant"), "matches": None,
                 "difference": None})
    return rows


# --------------------------------------------------------------------------- local factors

def _factor_labels(inputs: ReportInputs, lang: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for source in ("lf_factors_nl", "lf_factors_region"):
        t = inputs.table(source)
        col = "label_en" if lang == "en" else "label_nl"
        if t is not None and "factor" in t.columns and col in t.columns:
            labels.update({str(f): str(lab) for f, lab in zip(t["factor"], t[col]) if pd.notna(lab)})
    return labels


def _fictional_factors(inputs: ReportInputs) -> bool:
    for source in ("lf_factors_nl", "lf_factors_region"):
        t = inputs.table(source)
        if t is not None and "fictional" in t.columns and t["fictional"].astype(str).str.lower().eq("true").any():
            return True
    return False


def _classified(findings: Any) -> dict[str, str] | None:
    """{factor: 'robust'|'fragile'} from the step's findings, or None if it gives no classification."""
    out: dict[str, str] = {}
    items = findings.items() if isinstance(findings, dict) else (
        ((f.get("factor"), f) for f in findings if isinstance(f, dict)) if isinstance(findings, list) else ())
    for factor, f in items:
        verdict = f if isinstance(f, str) else None
        if isinstance(f, dict):
            verdict = next((f[k] for k in ROBUST_FIELDS if isinstance(f.get(k), str)), None)
            if verdict is None and isinstance(f.get("robust"), bool):
                verdict = "robust" if f["robust"] else "fragile"
        if factor and isinstance(verdict, str) and verdict.lower() in ("robust", "fragile"):
            out[str(factor)] = verdict.lower()
    return out or None


def lf_scope(inputs: ReportInputs, scope: str, n: Numbers, labels: dict[str, str]) -> dict[str, Any] | None:
    """What the local-factor analysis of one scope found, and what holds out of sample."""
    if inputs.lf_scope(scope) is None:
        return None
    classified = _classified(inputs.lf(scope, "findings"))
    if classified is not None:
        mode = "robust"
        shown = [f for f, v in classified.items() if v == "robust"]
        other = [f for f, v in classified.items() if v == "fragile"]
    else:
        mode = "significant"
        shown = list(dict.fromkeys(list(inputs.lf(scope, "significant_joint") or [])
                                   + list(inputs.lf(scope, "significant_correlations") or [])))
        other = []
    p = f"lf_{scope}_"
    without = inputs.lf(scope, "cv_rmse_without")
    with_ = inputs.lf(scope, "cv_rmse_with")
    change = inputs.lf(scope, "cv_rmse_change_pct")
    if change is None and without and with_ is not None:
        change = 100 * (with_ - without) / without
    out = {
        "scope": scope, "mode": mode,
        "factors": [{"factor": f, "label": labels.get(f, f)} for f in shown],
        "fragile": [{"factor": f, "label": labels.get(f, f)} for f in other],
        "n_wijken": n.add(p + "n_wijken", inputs.lf(scope, "n_wijken"), "int"),
        "n_gemeenten": n.add(p + "n_gemeenten", inputs.lf(scope, "n_gemeenten"), "int"),
        "r2": n.add(p + "r2_of_gap", inputs.lf(scope, "joint_r2"), "share"),
        "cv_without": n.add(p + "cv_rmse_without", without, "dec2"),
        "cv_with": n.add(p + "cv_rmse_with", with_, "dec2"),
        "cv_change_pct": n.add(p + "cv_rmse_change_pct", abs(change) if change is not None else None, "pct"),
        "cv_folds_better": n.add(p + "cv_folds_better", inputs.lf(scope, "cv_folds_better"), "int"),
        "cv_folds": n.add(p + "cv_folds", inputs.lf(scope, "cv_folds"), "int"),
        "holds_out_of_sample": bool(change is not None and change < 0),
        "cv_available": with_ is not None and without is not None,
        "moran_before": inputs.lf(scope, "moran_before"), "moran_after": inputs.lf(scope, "moran_after"),
    }
    return out


# --------------------------------------------------------------------------- qualitative

def themes(inputs: ReportInputs, lang: str) -> list[dict[str, Any]]:
    """Themes with their total count over the sessions, most frequent first (suppressed counts kept
    as printed, e.g. '<3')."""
    t = inputs.table("themes")
    if t is None or t.empty or "dimension" not in t.columns:
        return []
    tot = t[t["dimension"] == "total"]
    names: dict[str, str] = {}
    clusters: dict[str, str] = {}
    try:
        from ..qualitative.codebook import load_codebook
        cb = load_codebook("hhs")
        names = {c.id: c.label(lang) for c in cb.codes.values()}
        clusters = {c.id: c.label(lang) for c in cb.clusters()}
    except Exception:  # another codebook: fall back to the names in the table
        pass
    rows = []
    for r in tot.to_dict(orient="records"):
        count = pd.to_numeric(pd.Series([r.get("n")]), errors="coerce").iloc[0]
        rows.append({"code_id": r["code_id"], "name": names.get(r["code_id"], r.get("name", r["code_id"])),
                     "cluster": clusters.get(r.get("cluster"), r.get("cluster")), "n": r.get("n"),
                     "_sort": -(count if pd.notna(count) else 0)})
    rows.sort(key=lambda x: (x["_sort"], x["code_id"]))
    for r in rows:
        r.pop("_sort")
    return rows


# --------------------------------------------------------------------------- deviations

def deviations(inputs: ReportInputs, info: RegionInfo) -> tuple[list[dict[str, str]], int]:
    """Every deviation from the published studies that the steps state, in step order, without
    repeats. Outside the study area, statements about the study area are left out (and counted)."""
    groups = [("data_preparation", inputs.get("data_deviations")), ("scp_model", inputs.get("scp_deviations")),
              ("region", inputs.get("region_deviations")),
              ("local_factors", inputs.lf_doc_list("nl", LF_DEVIATION_PATHS)
               + inputs.lf_doc_list("region", LF_DEVIATION_PATHS)),
              ("qualitative_coding", inputs.get("qual_deviations")),
              ("rondom_het_kind", inputs.get("qual_rhk_deviations"))]
    seen: set[str] = set()
    out, omitted = [], 0
    for step, items in groups:
        for item in items or []:
            text = str(item)
            if text in seen:
                continue
            seen.add(text)
            if not info.is_study_area and any(m in text.lower() for m in STUDY_AREA_MARKERS):
                omitted += 1
                continue
            out.append({"step": step, "text": text})
    return out, omitted


# --------------------------------------------------------------------------- all of it

def build_context(inputs: ReportInputs, info: RegionInfo, lang: str) -> dict[str, Any]:
    """Everything the templates print, except figures and colophon."""
    n = Numbers(lang)
    g = inputs.get
    gtab = inputs.table("gemeenten")
    # the Netherlands
    n.add("year", study.YEAR, "year")
    n.add("n_determinants", study.N_DETERMINANTS, "int")
    n.add("nl_n_wijken", g("nl_n_wijken"), "int")
    n.add("nl_n_gemeenten", g("nl_n_gemeenten"), "int")
    n.add("nl_n_jeugdzorgregios", g("nl_n_jeugdzorgregios"), "int")
    n.add("nl_observed_weighted", g("nl_observed_weighted"), "pct")
    n.add("nl_expected_weighted", g("nl_expected_weighted"), "pct")
    n.add("nl_n_suppressed", g("nl_n_suppressed"), "int")
    # the model
    n.add("agreement_r_complete", g("agreement_r_complete"), "r")
    n.add("agreement_n_complete", g("agreement_n_complete"), "int")
    n.add("agreement_mae_complete", g("agreement_mae_complete"), "dec2")
    n.add("agreement_r_all", g("agreement_r_all"), "r")
    n.add("agreement_n_all", g("agreement_n_all"), "int")
    n.add("agreement_target", g("agreement_target") or study.R_TARGET, "dec2")
    n.add("recovered_r2", g("recovered_r2"), "dec3")
    n.add("recovered_n", g("recovered_n"), "int")
    n.add("n_fit", g("n_fit"), "int")
    n.add("n_imputed_suppressed", g("n_imputed_suppressed"), "int")
    n.add("n_incomplete_determinants", g("n_incomplete_determinants"), "int")
    n.add("icc_gemeente", g("icc_gemeente"), "share")
    # the region
    n.add("region_n_wijken", g("region_n_wijken"), "int")
    n.add("region_n_with_observed", g("region_n_with_observed"), "int")
    n.add("region_n_gemeenten", len(gtab) if gtab is not None else None, "int")
    obs_w, exp_w = g("region_observed_weighted"), g("region_expected_weighted")
    obs_u, exp_u = g("region_observed_unweighted"), g("region_expected_unweighted")
    n.add("region_observed_weighted", obs_w, "pct")
    n.add("region_expected_weighted", exp_w, "pct")
    n.add("region_observed_unweighted", obs_u, "pct")
    n.add("region_expected_unweighted", exp_u, "pct")
    diff_w = obs_w - exp_w
    n.add("region_difference_weighted", abs(diff_w), "dec2")
    for col, name in (("n_higher", "region_n_higher"), ("n_lower", "region_n_lower")):
        n.add(name, int(gtab[col].sum()) if gtab is not None and col in gtab.columns else None, "int")
    n.add("region_share_higher", g("region_share_higher"), "share")
    n.add("region_share_lower", g("region_share_lower"), "share")
    n.add("region_share_differing", g("region_share_differing"), "share")
    rule = g("region_rule") or g("deviation_rule")
    n.add("region_agreement_r", g("region_agreement_r"), "r")
    n.add("region_agreement_n", g("region_agreement_n"), "int")
    # local factors, qualitative
    labels = _factor_labels(inputs, lang)
    lf = {sc: lf_scope(inputs, sc, n, labels) for sc in ("region", "nl")}
    if info.is_nl:
        lf["region"] = None
    n.add("qual_n_sessions", g("qual_n_sessions"), "int")
    n.add("qual_alpha", g("qual_alpha"), "dec2")
    devs, omitted = deviations(inputs, info)
    ctx = {
        "n": n, "region": info, "rule": rule,
        "rule_known": rule in deviation.RULES,
        "direction_weighted": _sign(diff_w), "direction_unweighted": _sign(obs_u - exp_u),
        "agreement_reached": (g("agreement_r_complete") or 0) >= (g("agreement_target") or study.R_TARGET),
        "published": published_rows(inputs, info, n),
        "gemeenten": gemeente_rows(inputs), "extremes": extreme_rows(inputs),
        "lf": lf, "lf_fictional": _fictional_factors(inputs),
        "themes": themes(inputs, lang), "qual_fictional": bool(g("qual_fictional")),
        "qual_corpus_label": g("qual_corpus_label"),
        "deviations": devs, "deviations_omitted": omitted,
        "youth_method": g("youth_method"), "geometry_vintage": g("geometry_vintage"),
        "class_labels": deviation.CLASS_LABELS[lang],
        "missing_optional": list(inputs.missing_optional),
    }
    return ctx
