"""Figures of the SCP results that are not maps: the scatter of the two expectations and the
per-gemeente bars (seaborn). Maps are in :mod:`jeugdhulp_wijken.maps`, the funnel plot in
:mod:`jeugdhulp_wijken.deviation`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .summaries import agreement

LABELS = {
    "nl": {"scp": "Verwacht gebruik SCP (%)", "re": "Herschat verwacht gebruik (%)", "obs": "Waargenomen",
           "exp": "Verwacht (SCP)", "pct": "% jeugdigen met jeugdhulp zonder verblijf",
           "complete": "determinanten compleet", "incomplete": "determinanten deels ontbrekend", "region": "regio",
           "gemeente": "Gemeente", "kind": ""},
    "en": {"scp": "SCP expected use (%)", "re": "Re-estimated expected use (%)", "obs": "Observed",
           "exp": "Expected (SCP)", "pct": "% of youths with youth care without accommodation",
           "complete": "complete determinants", "incomplete": "some determinants missing", "region": "region",
           "gemeente": "Municipality", "kind": ""},
}
OBSERVED_COLOR = "#4c72b0"
EXPECTED_COLOR = "#dd8452"


def _labels(lang: str) -> dict:
    if lang not in LABELS:
        raise ValueError(f"Unknown lang {lang!r}; use 'nl' or 'en'.")
    return LABELS[lang]


def scatter_plot(results: pd.DataFrame, lang: str = "nl", highlight=None, highlight_label: str | None = None):
    """Re-estimated vs published expectation for every wijk, complete and incomplete determinants.

    ``results`` is the national results table (needs expected_scp, expected_reestimated and
    determinants_complete). ``highlight``: a boolean mask (e.g. the wijken of a region) drawn as
    open red circles; the r in the corner is over the wijken with complete determinants.
    """
    import matplotlib.pyplot as plt

    L = _labels(lang)
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    comp = results["determinants_complete"].to_numpy(dtype=bool)
    x, y = results["expected_scp"].to_numpy(float), results["expected_reestimated"].to_numpy(float)
    ax.scatter(x[~comp], y[~comp], s=5, c="#bbbbbb", lw=0, label=L["incomplete"])
    ax.scatter(x[comp], y[comp], s=5, c=OBSERVED_COLOR, lw=0, label=L["complete"])
    if highlight is not None:
        reg = np.asarray(highlight, dtype=bool)
        if 0 < reg.sum() < len(reg):
            ax.scatter(x[reg], y[reg], s=14, facecolors="none", edgecolors="#c44e52", lw=0.8,
                       label=highlight_label or L["region"])
    lo = float(np.nanmin(np.r_[x, y])) - 0.5
    hi = float(np.nanmax(np.r_[x, y])) + 0.5
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.7, ls="--")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    a = agreement(results["expected_reestimated"], results["expected_scp"], results["determinants_complete"])
    txt = f"r = {a['r']:.3f}, MAE = {a['mae']:.2f} pp (n = {a['n']})" if a["r"] is not None else ""
    if lang == "nl":
        txt = txt.replace(".", ",")
    ax.text(0.02, 0.98, txt, transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel(L["scp"])
    ax.set_ylabel(L["re"])
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def bar_rows(gtab: pd.DataFrame, weighted: bool = False, max_bars: int = 40) -> pd.DataFrame:
    """The gemeenten shown in the bar chart, in display order.

    Regions with more than ``max_bars`` gemeenten (e.g. NL) show the ``max_bars / 2`` gemeenten with
    the largest positive and the largest negative observed-minus-expected difference.
    """
    suffix = "weighted" if weighted else "unweighted"
    g = gtab.sort_values(["gemeente_name", "gemeente_code"]).reset_index(drop=True)
    if len(g) > max_bars:
        d = g[f"observed_{suffix}"] - g[f"expected_{suffix}"]
        order = g.assign(d=d).dropna(subset=["d"]).sort_values(["d", "gemeente_code"])
        half = max_bars // 2
        g = pd.concat([order.tail(half).iloc[::-1], order.head(half).iloc[::-1]]).drop(columns="d")
    return g.reset_index(drop=True)


def gemeente_bar_chart(gtab: pd.DataFrame, lang: str = "nl", weighted: bool = False, max_bars: int = 40):
    """Observed and expected (SCP) per gemeente of the region (unweighted wijk means by default), seaborn."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    L = _labels(lang)
    suffix = "weighted" if weighted else "unweighted"
    g = bar_rows(gtab, weighted, max_bars)
    long = pd.DataFrame({
        "gemeente": np.repeat(g["gemeente_name"].to_numpy(), 2),
        "kind": np.tile([L["obs"], L["exp"]], len(g)),
        "value": np.ravel(np.column_stack([g[f"observed_{suffix}"], g[f"expected_{suffix}"]])),
    })
    n = len(g)
    fig, ax = plt.subplots(figsize=(6.0, max(2.0, 0.32 * n + 1.0)))
    sns.barplot(data=long, y="gemeente", x="value", hue="kind", order=list(g["gemeente_name"]),
                hue_order=[L["obs"], L["exp"]], palette=[OBSERVED_COLOR, EXPECTED_COLOR], errorbar=None,
                orient="h", ax=ax)
    ax.tick_params(axis="y", labelsize=7 if n > 20 else 9)
    ax.set_xlabel(L["pct"])
    ax.set_ylabel("")
    ax.legend(loc="lower right", fontsize=7, frameon=False, title=None)
    fig.tight_layout()
    return fig
