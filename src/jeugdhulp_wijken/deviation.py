"""When is a wijk's use *higher* or *lower than expected*? Funnel limits and simple rules.

Neither SCP nor the HHS report publishes the rule behind "significantly higher/lower"
or "almost 40% of the Haaglanden wijken differ clearly". This module makes the rule a
parameter and offers:

Funnel rules (observed vs expected against the estimated number of youths ``n``)
    The binomial standard error of a percentage ``p`` (expected, in %) for ``n`` youths is
    ``se = 100 * sqrt(q (1 - q) / n)`` with ``q = p / 100``; ``z = (observed - expected) / se``.
    ``n`` is ``youths_0_17_est`` of the wijk table, an approximation (KWB 2017 inhabitants
    times the 0-14 share plus 3/10 of the 15-24 share): the real denominators are not public.
    A wijk is *hoger/lager dan verwacht* when ``z`` is outside +-1.96 (95%) or +-3.09 (99.8%).

Overdispersion (Spiegelhalter 2005, *Statistics in Medicine* 24:1185-1202)
    Wijk percentages vary far more around the model than binomial sampling allows (model
    error, unmeasured local factors), so plain binomial limits flag most large wijken.
    ``z`` is winsorised at its 10th and 90th percentiles (``winsor=0.10``) and
    ``phi = mean(z_w ** 2)``.

    * multiplicative (``*_phi``): ``se * sqrt(phi)`` (if ``phi > 1``);
    * additive / random effects (``*_tau``): ``sqrt(se ** 2 + tau2)`` with
      ``tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w))``, ``w = 1 / se^2``.

    Overdispersion is estimated once, on all wijken of the national table with an observed value
    (the reference population of the model), never on a region alone; the national metrics store
    it, so a region can be reclassified under any rule without refitting (:func:`classify_results`).

Simple rules
    ``abs1pp`` / ``abs2pp``: |observed - expected| >= 1 (2) percentage point;
    ``rel10`` / ``rel20``: |observed - expected| >= 10% (20%) of the expected value.

The default rule :data:`DEFAULT_RULE` is ``funnel95_tau``: the 95% limit with additive
overdispersion, which accounts for both sampling noise (small wijken) and the between-wijk
variation the model cannot explain, so that being flagged means "unusual for a wijk of this
size", not "large wijk". The HHS share is compared with every rule in the sensitivity table.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from .study import STUDY_AREA, STUDY_AREA_GEMEENTEN

HIGHER = "hoger dan verwacht"
LOWER = "lager dan verwacht"
AS_EXPECTED = "conform verwachting"
NO_DATA = "geen gegevens"
CLASSES = (HIGHER, AS_EXPECTED, LOWER, NO_DATA)
CLASS_LABELS = {"nl": {HIGHER: "hoger dan verwacht", LOWER: "lager dan verwacht",
                       AS_EXPECTED: "conform verwachting", NO_DATA: "geen gegevens"},
                "en": {HIGHER: "higher than expected", LOWER: "lower than expected",
                       AS_EXPECTED: "as expected", NO_DATA: "no data"}}
CLASS_COLORS = {HIGHER: "#c44e52", LOWER: "#4c72b0", AS_EXPECTED: "#9a9a9a", NO_DATA: "#dddddd"}

Z95 = NormalDist().inv_cdf(0.975)    # 1.96
Z998 = NormalDist().inv_cdf(0.999)   # 3.09

RULES: dict[str, str] = {
    "funnel95": "binomial funnel, 95% limits (|z| > 1.96)",
    "funnel998": "binomial funnel, 99.8% limits (|z| > 3.09)",
    "funnel95_phi": "funnel 95% limits with multiplicative overdispersion (Spiegelhalter, winsorised z)",
    "funnel998_phi": "funnel 99.8% limits with multiplicative overdispersion (Spiegelhalter, winsorised z)",
    "funnel95_tau": "funnel 95% limits with additive overdispersion tau^2 (Spiegelhalter random effects)",
    "funnel998_tau": "funnel 99.8% limits with additive overdispersion tau^2 (Spiegelhalter random effects)",
    "abs1pp": "|observed - expected| >= 1 percentage point",
    "abs2pp": "|observed - expected| >= 2 percentage points",
    "rel10": "|observed - expected| >= 10% of expected",
    "rel20": "|observed - expected| >= 20% of expected",
}
DEFAULT_RULE = "funnel95_tau"

#: The rules in Dutch, for figures, pages and reports in the default language.
RULES_NL: dict[str, str] = {
    "funnel95": "binomiale trechter, 95%-grenzen (|z| > 1,96)",
    "funnel998": "binomiale trechter, 99,8%-grenzen (|z| > 3,09)",
    "funnel95_phi": "trechter, 95%-grenzen met multiplicatieve overdispersie (Spiegelhalter, gewinsoriseerde z)",
    "funnel998_phi": "trechter, 99,8%-grenzen met multiplicatieve overdispersie (Spiegelhalter, gewinsoriseerde z)",
    "funnel95_tau": "trechter, 95%-grenzen met additieve overdispersie tau² (Spiegelhalter, random effects)",
    "funnel998_tau": "trechter, 99,8%-grenzen met additieve overdispersie tau² (Spiegelhalter, random effects)",
    "abs1pp": "|waargenomen − verwacht| ≥ 1 procentpunt",
    "abs2pp": "|waargenomen − verwacht| ≥ 2 procentpunten",
    "rel10": "|waargenomen − verwacht| ≥ 10% van verwacht",
    "rel20": "|waargenomen − verwacht| ≥ 20% van verwacht",
}


def rule_text(rule: str, lang: str = "nl") -> str:
    """The description of a deviation rule in ``lang`` (nl or en)."""
    check_rule(rule)
    return RULES_NL[rule] if lang == "nl" else RULES[rule]


class UnknownRuleError(ValueError):
    """The deviation_rule parameter names no known rule."""


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise UnknownRuleError(f"Unknown deviation_rule {rule!r}. Valid rules: "
                               + "; ".join(f"{k} ({v})" for k, v in RULES.items()) + ".")
    return rule


def binomial_se(expected_pct, n):
    """Binomial standard error in percentage points of a percentage ``expected_pct`` for ``n`` youths."""
    q = np.asarray(expected_pct, dtype=float) / 100.0
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = 100.0 * np.sqrt(q * (1.0 - q) / n)
    return np.where(n > 0, se, np.nan)


def funnel_limits(expected_pct, n, level: float = 0.95, phi: float = 1.0, tau2: float = 0.0):
    """(lower, upper) control limits in % for expectation ``expected_pct`` and ``n`` youths.

    ``phi`` multiplies the binomial variance (multiplicative overdispersion); ``tau2``
    (in pp^2) is added to it (additive overdispersion). Lower limits are not cut at 0.
    """
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    se = binomial_se(expected_pct, n)
    s = np.sqrt(se ** 2 * max(phi, 1.0) + tau2)
    p = np.asarray(expected_pct, dtype=float)
    return p - z * s, p + z * s


def z_scores(observed, expected, n, phi: float = 1.0, tau2: float = 0.0):
    se = binomial_se(expected, n)
    s = np.sqrt(se ** 2 * max(phi, 1.0) + tau2)
    return (np.asarray(observed, dtype=float) - np.asarray(expected, dtype=float)) / s


def winsorise(z, q: float = 0.10):
    z = np.asarray(z, dtype=float)
    ok = np.isfinite(z)
    lo, hi = np.percentile(z[ok], [100 * q, 100 * (1 - q)])
    return np.where(ok, np.clip(z, lo, hi), np.nan)


def estimate_overdispersion(observed, expected, n, winsor: float = 0.10) -> dict:
    """Spiegelhalter's phi (winsorised) and additive tau^2 from binomial z-scores."""
    observed, expected, n = (np.asarray(v, dtype=float) for v in (observed, expected, n))
    se = binomial_se(expected, n)
    z = (observed - expected) / se
    ok = np.isfinite(z)
    m = int(ok.sum())
    if m < 3:
        return {"phi": 1.0, "tau2": 0.0, "n": m, "winsor": winsor}
    zw = winsorise(z[ok], winsor)
    phi = float(np.mean(zw ** 2))
    w = 1.0 / se[ok] ** 2
    denom = float(w.sum() - (w ** 2).sum() / w.sum())
    tau2 = max(0.0, (m * phi - (m - 1)) / denom) if denom > 0 else 0.0
    return {"phi": phi, "tau2": float(tau2), "n": m, "winsor": winsor}


def classify(observed, expected, n, rule: str = DEFAULT_RULE, overdispersion: dict | None = None):
    """Deviation class per wijk and the z-score used (binomial z for simple rules).

    Returns ``(classes, z)`` as Series (index of ``observed`` if it is a Series).
    """
    check_rule(rule)
    index = observed.index if isinstance(observed, pd.Series) else None
    o, e, nn = (np.asarray(v, dtype=float) for v in (observed, expected, n))
    od = overdispersion or {"phi": 1.0, "tau2": 0.0}
    phi = od["phi"] if rule.endswith("_phi") else 1.0
    tau2 = od["tau2"] if rule.endswith("_tau") else 0.0
    z = z_scores(o, e, nn, phi=phi, tau2=tau2)
    diff = o - e
    if rule.startswith("funnel"):
        crit = Z95 if rule.startswith("funnel95") else Z998
        up, down = z > crit, z < -crit
        valid = np.isfinite(z)
    elif rule.startswith("abs"):
        t = float(rule[3:-2])
        up, down = diff >= t - 1e-9, diff <= -t + 1e-9
        valid = np.isfinite(diff)
    else:  # rel
        t = float(rule[3:]) / 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = diff / e
        up, down = rel >= t - 1e-12, rel <= -t + 1e-12
        valid = np.isfinite(rel)
    cls = np.where(~valid, NO_DATA, np.where(up, HIGHER, np.where(down, LOWER, AS_EXPECTED)))
    return pd.Series(cls, index=index, name="deviation_class"), pd.Series(z, index=index, name="z_score")


def classify_results(results: pd.DataFrame, rule: str, overdispersion: dict | None = None) -> pd.DataFrame:
    """A copy of a results table (observed, expected_scp, youths_0_17_est) with ``deviation_class``,
    ``z_score`` and ``deviation_rule`` for ``rule``.

    ``overdispersion`` is the national estimate (``scp_metrics_nl["deviation"]["overdispersion"]``);
    the ``*_phi`` and ``*_tau`` rules need it.
    """
    check_rule(rule)
    if overdispersion is None and rule.endswith(("_phi", "_tau")):
        raise ValueError(f"deviation_rule {rule!r} needs the national overdispersion: pass "
                         "overdispersion=scp_metrics_nl['deviation']['overdispersion'] (national SCP metrics).")
    out = results.copy()
    cls, z = classify(out["observed"], out["expected_scp"], out["youths_0_17_est"], rule, overdispersion)
    out["deviation_class"] = cls.to_numpy()
    out["z_score"] = z.to_numpy()
    out["deviation_rule"] = rule
    return out


def class_counts(classes) -> dict:
    """Counts and shares of the deviation classes. Shares are of the wijken with data
    (``n_with_data``); ``share_differing_of_all`` divides by all wijken."""
    c = pd.Series(np.asarray(classes, dtype=object))
    n_all = int(len(c))
    n_data = int((c != NO_DATA).sum())
    hi, lo = int((c == HIGHER).sum()), int((c == LOWER).sum())
    return {"n_wijken": n_all, "n_with_data": n_data, "n_higher": hi, "n_lower": lo,
            "n_as_expected": int((c == AS_EXPECTED).sum()), "n_no_data": n_all - n_data,
            "share_higher": hi / n_data if n_data else np.nan,
            "share_lower": lo / n_data if n_data else np.nan,
            "share_differing": (hi + lo) / n_data if n_data else np.nan,
            "share_differing_of_all": (hi + lo) / n_all if n_all else np.nan}


def national_scopes(results: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """(scope, label, mask) for NL, the HHS study area (when present) and every jeugdzorgregio."""
    scopes = [("nl", "Nederland", pd.Series(True, index=results.index))]
    hl = results["gemeente_code"].isin(STUDY_AREA_GEMEENTEN)
    if hl.any():
        scopes.append(("haaglanden", f"{STUDY_AREA} (studiegebied HHS)", hl))
    if "jz_code" in results.columns:
        names = results.groupby("jz_code")["jz_name"].first() if "jz_name" in results.columns else None
        for jz in sorted(results["jz_code"].dropna().unique()):
            scopes.append((jz, names[jz] if names is not None else jz, results["jz_code"] == jz))
    return scopes


def sensitivity_table(results: pd.DataFrame, overdispersion: dict, scopes=None, rules=None) -> pd.DataFrame:
    """Share of wijken higher/lower than expected per rule and scope.

    ``results`` needs observed, expected_scp, youths_0_17_est and gemeente_code (and jz_code for the
    default scopes). ``scopes`` is a list of ``(scope, label, mask)``; the default is
    :func:`national_scopes` (NL, the HHS study area, every jeugdzorgregio). Counts come from
    :func:`class_counts`.
    """
    rules = list(rules or RULES)
    scopes = national_scopes(results) if scopes is None else scopes
    rows = []
    for rule in rules:
        cls, _ = classify(results["observed"], results["expected_scp"], results["youths_0_17_est"], rule,
                          overdispersion)
        for scope, label, mask in scopes:
            rows.append({"rule": rule, "description": RULES[rule], "scope": scope, "scope_label": label,
                         **class_counts(cls[np.asarray(mask, dtype=bool)])})
    return pd.DataFrame(rows)


def rules_reproducing(sens: pd.DataFrame, target: float = 0.40, scope: str = "haaglanden",
                      window: tuple[float, float] = (0.35, 0.40)) -> dict:
    """Which rules give 'almost 40%' (share differing in ``window``) in ``scope``; closest rule first."""
    s = sens[sens["scope"] == scope].dropna(subset=["share_differing"]).copy()
    if s.empty:
        return {"scope": scope, "target": target, "window": list(window), "matching": [], "closest": None}
    s["abs_diff"] = (s["share_differing"] - target).abs()
    s = s.sort_values(["abs_diff", "rule"])
    match = s[(s["share_differing"] >= window[0] - 1e-12) & (s["share_differing"] <= window[1] + 1e-12)]
    return {"scope": scope, "target": target, "window": list(window),
            "matching": [{"rule": r, "share_differing": float(v)} for r, v in
                         zip(match["rule"], match["share_differing"])],
            "closest": {"rule": s["rule"].iloc[0], "share_differing": float(s["share_differing"].iloc[0])}}


FUNNEL_TEXT = {
    "nl": {"x": "Geschat aantal jeugdigen (0-17 jaar)", "y": "Waargenomen min verwacht (procentpunt)",
           "l95": "95%-grens", "l998": "99,8%-grens"},
    "en": {"x": "Estimated number of youths (0-17)", "y": "Observed minus expected (percentage points)",
           "l95": "95% limit", "l998": "99.8% limit"},
}


def funnel_plot(results: pd.DataFrame, rule: str = DEFAULT_RULE, overdispersion: dict | None = None,
                lang: str = "nl", title: str | None = None):
    """Funnel plot of observed - expected against estimated youths, coloured by deviation class.

    Limit curves are drawn for the mean expected percentage of the plotted wijken, with the
    overdispersion of ``rule`` (binomial only for simple rules); classes use each wijk's own
    expected value.
    """
    import matplotlib.pyplot as plt

    check_rule(rule)
    T = FUNNEL_TEXT[lang]
    od = overdispersion or {"phi": 1.0, "tau2": 0.0}
    phi = od["phi"] if rule.endswith("_phi") else 1.0
    tau2 = od["tau2"] if rule.endswith("_tau") else 0.0
    r = results.dropna(subset=["observed", "youths_0_17_est"])
    r = r[r["youths_0_17_est"] > 0]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    pbar = float(r["expected_scp"].mean()) if len(r) else 10.0
    nmin = max(5.0, float(r["youths_0_17_est"].min()) * 0.8) if len(r) else 10.0
    nmax = float(r["youths_0_17_est"].max()) * 1.2 if len(r) else 1000.0
    ngrid = np.geomspace(nmin, nmax, 200)
    for level, ls, lab in ((0.95, "--", T["l95"]), (0.998, ":", T["l998"])):
        lo, hi = funnel_limits(np.full_like(ngrid, pbar), ngrid, level, phi, tau2)
        ax.plot(ngrid, hi - pbar, color="black", lw=0.8, ls=ls, label=lab)
        ax.plot(ngrid, lo - pbar, color="black", lw=0.8, ls=ls)
    ax.axhline(0, color="black", lw=0.5)
    for cls in (AS_EXPECTED, LOWER, HIGHER):
        s = r[r["deviation_class"] == cls]
        ax.scatter(s["youths_0_17_est"], s["observed"] - s["expected_scp"], s=12, c=CLASS_COLORS[cls],
                   lw=0, label=f"{CLASS_LABELS[lang][cls]} ({len(s)})")
    ax.set_xscale("log")
    ax.set_xlabel(T["x"])
    ax.set_ylabel(T["y"])
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig
