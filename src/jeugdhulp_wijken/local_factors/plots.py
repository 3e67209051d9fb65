"""Figures of the local-factor analysis, registered in ``figures/registry.yml``: the national stage
(step ``local_factors_nl``) saves the coefficient plot and the factor table, the regional stage (step
``local_factors_region``) all four figures (:data:`FIGURE_IDS`).

Markers follow the robust / fragile classification: a filled marker is a robust finding, an open
marker a fragile one (significant somewhere, but not robust; a footnote says why), a small grey
marker an association that is not significant. Every factor is shown with its coverage.
"""
from __future__ import annotations

import math
import textwrap
import numpy as np
import pandas as pd

from .factor_files import CLUSTERS
from .robustness import FRAGILE, ROBUST
from .spatial import polygonal
from .stats import partial_regression_data

TEXT = {
    "nl": {"corr": "Correlatie r met de trechter-z-score van het verschil (95%-BI)",
           "coef": "Gezamenlijk model: trechter-z per SD van de factor (95%-BI)",
           "corr_title": "Eén factor tegelijk", "coef_title": "Alle factoren samen",
           "robust": "robuust", "fragile": "fragiel (open)", "nonsig": "niet significant", "raw": "r met verschil in procentpunt",
           "footnote": "Open marker: fragiel, significant maar niet robuust (bijvoorbeeld door één wijk); geen bevinding. "
                       "Significantie: trechter-z-score (houdt rekening met de grootte van de wijk), Benjamini-Hochberg per "
                       "dekkingsgebied.",
           "before": "Vóór: waargenomen − verwacht (SCP)", "after": "Na: rest na lokale factoren",
           "pp": "procentpunt", "nodata": "geen gegevens", "nopoly": "wijken zonder polygoon",
           "partial_x": "{label} | overige factoren", "partial_y": "verschil | overige factoren",
           "table_cols": ["Factor", "Cluster", "Bron", "Jaar", "Dekking", "N", "Status"],
           "status": {ROBUST: "robuust", FRAGILE: "fragiel †", "not_significant": "n.s.", "no_values": "geen waarden",
                      "": ""},
           "table_note": "† fragiel: significant, maar niet robuust; geen bevinding. Bepalende wijk: {wijken}.",
           "no_model": "geen model te schatten", "moran": "Moran's I", "decisive": "bepalende wijk",
           "fictional": " (fictief)", "size": "puntgrootte: aantal jeugdigen"},
    "en": {"corr": "Correlation r with the funnel z-score of the difference (95% CI)",
           "coef": "Joint model: funnel z per SD of the factor (95% CI)",
           "corr_title": "One factor at a time", "coef_title": "All factors together",
           "robust": "robust", "fragile": "fragile (open)", "nonsig": "not significant", "raw": "r with difference in pp",
           "footnote": "Open marker: fragile, significant but not robust (for example because of one wijk); not a "
                       "finding. Significance: funnel z-score (accounts for the size of the wijk), Benjamini-Hochberg per "
                       "coverage area.",
           "before": "Before: observed − expected (SCP)", "after": "After: residual after local factors",
           "pp": "percentage points", "nodata": "no data", "nopoly": "wijken without polygon",
           "partial_x": "{label} | other factors", "partial_y": "difference | other factors",
           "table_cols": ["Factor", "Cluster", "Source", "Year", "Coverage", "N", "Status"],
           "status": {ROBUST: "robust", FRAGILE: "fragile †", "not_significant": "n.s.", "no_values": "no values",
                      "": ""},
           "table_note": "† fragile: significant, but not robust; not a finding. Decisive wijk: {wijken}.",
           "no_model": "no model could be fitted", "moran": "Moran's I", "decisive": "decisive wijk",
           "fictional": " (fictional)", "size": "point size: number of youths"},
}
#: Registered figure id per scope and figure; the step is :func:`figure_step`.
FIGURE_IDS = {"nl": {"coefficients": "lf_nl_coefficients", "factor_table": "lf_nl_factor_table"},
              "region": {"coefficients": "lf_coefficients", "factor_table": "lf_factor_table",
                         "partial_regression": "lf_partial_regression", "residual_maps": "lf_residual_maps"}}


def figure_step(scope: str) -> str:
    """The pipeline step (and figure-registry step) of a scope: ``local_factors_nl`` or ``local_factors_region``."""
    return f"local_factors_{scope}"


GROUP_COLORS = ("#1b6ca8", "#d95f02", "#7570b3", "#1b9e77", "#e7298a")
GREY = "0.6"


def _rows(analysis) -> list[tuple[str, str]]:
    """(group id, factor) in display order: group, cluster, factor."""
    order = {c: i for i, c in enumerate(CLUSTERS)}
    out = []
    for gid, res in analysis.scopes.items():
        c = res.correlations
        if c.empty:
            continue
        for f in sorted(c["factor"], key=lambda n: (order[analysis.factors.specs[n].cluster], n)):
            out.append((gid, f))
    return out


def _marker(ax, x, lo, hi, y, status: str, color: str) -> None:
    if not np.isfinite(x):
        return
    if status == ROBUST:
        ax.plot([lo, hi], [y, y], color=color, lw=1.6)
        ax.plot(x, y, "o", color=color, ms=6)
    elif status == FRAGILE:
        ax.plot([lo, hi], [y, y], color=color, lw=1.2, ls=(0, (3, 1.5)))
        ax.plot(x, y, "o", color=color, mfc="white", mew=1.4, ms=6.5)
    else:
        ax.plot([lo, hi], [y, y], color=GREY, lw=1.0)
        ax.plot(x, y, "o", color=GREY, ms=3.5)


def plot_coefficients(analysis, lang: str = "nl"):
    """Associations (left) and joint-model effects (right) per factor, with the coverage of each factor."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    t = TEXT[lang]
    rows = _rows(analysis)
    colors = {gid: GROUP_COLORS[i % len(GROUP_COLORS)] for i, gid in enumerate(analysis.scopes)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * max(1, len(rows)) + 2.2), sharey=True)
    ypos = {key: -i for i, key in enumerate(rows)}
    for ax, kind in zip(axes, ("corr", "coef")):
        for (gid, f), y in ypos.items():
            res = analysis.scopes[gid]
            if kind == "corr":
                d = res.correlations.set_index("factor")
                raw = d.at[f, "r"]
                _marker(ax, d.at[f, "r_precision"], d.at[f, "ci_low_precision"], d.at[f, "ci_high_precision"], y,
                        d.at[f, "status"], colors[gid])
            else:
                reg = res.regressions
                if reg.empty:
                    continue
                d = reg[(reg["model"] == "joint") & reg["primary"] & (reg["outcome"] == "precision")].set_index("factor")
                if f not in d.index:
                    continue
                raw = math.nan
                _marker(ax, d.at[f, "coef_per_sd"], d.at[f, "ci_low_per_sd"], d.at[f, "ci_high_per_sd"], y,
                        d.at[f, "status"], colors[gid])
            if np.isfinite(raw):
                ax.plot(raw, y, marker="|", color="0.25", ms=9, mew=1.2)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel(t[kind], fontsize=8)
        ax.set_title(t[f"{kind}_title"])
        prev = None
        for (gid, f), y in ypos.items():
            key = (gid, analysis.factors.specs[f].cluster)
            if key != prev:
                ax.axhline(y + 0.5, color="0.85", lw=0.8)
                if kind == "corr":
                    ax.text(0.01, y + 0.47, CLUSTERS[key[1]][lang], transform=ax.get_yaxis_transform(),
                            fontsize=7.5, fontweight="bold", va="top", color="0.25")
                prev = key
    labels = [f"{textwrap.shorten(analysis.factors.specs[f].label(lang), 46, placeholder='…')}\n"
              f"[{analysis.scopes[gid].coverage_label}]" for gid, f in rows]
    axes[0].set_yticks(list(ypos.values()))
    axes[0].set_yticklabels(labels, fontsize=7.5)
    for tick, (gid, _) in zip(axes[0].get_yticklabels(), rows):
        tick.set_color(colors[gid])
    axes[0].set_ylim(min(ypos.values(), default=0) - 0.7, 0.8)
    handles = [Line2D([], [], color=colors[g], lw=1.6, label=r.coverage_label) for g, r in analysis.scopes.items()]
    handles += [Line2D([], [], color="0.3", marker="o", lw=0, label=t["robust"]),
                Line2D([], [], color="0.3", marker="o", mfc="white", lw=0, label=t["fragile"]),
                Line2D([], [], color=GREY, marker="o", ms=3.5, lw=0, label=t["nonsig"]),
                Line2D([], [], color="0.25", marker="|", ms=9, lw=0, label=t["raw"])]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), frameon=False, fontsize=7.5,
               bbox_to_anchor=(0.5, 0.02))
    fig.text(0.5, 0.0, textwrap.fill(t["footnote"], 150), ha="center", va="bottom", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def strongest_factors(res, k: int = 4) -> list[str]:
    """The ``k`` factors with the largest |t| in the precision-aware joint model, robust ones first
    (else the largest |r|)."""
    reg = res.regressions
    if not reg.empty and (reg["model"] == "joint").any():
        d = reg[(reg["model"] == "joint") & reg["primary"] & (reg["outcome"] == "precision")].copy()
        d["rank"] = (d["status"] != ROBUST).astype(int)
        d["abs_t"] = -d["t"].abs()
        return d.sort_values(["rank", "abs_t", "factor"])["factor"].head(k).tolist()
    c = res.correlations.dropna(subset=["r"]).copy()
    if c.empty:
        return []
    c["abs_r"] = c["r"].abs()
    return c.sort_values(["abs_r", "factor"], ascending=[False, True])["factor"].head(k).tolist()


def _status_of(res, x: str) -> tuple[str, str]:
    reg = res.regressions
    if not reg.empty and "status" in reg.columns and ((reg["model"] == "joint") & (reg["factor"] == x)).any():
        row = reg[(reg["model"] == "joint") & (reg["factor"] == x)].iloc[0]
    else:
        row = res.correlations.set_index("factor").loc[x]
    return str(row["status"]), str(row["decisive_wijk_code"] or "")


def plot_partial_regression(res, lang: str = "nl", k: int = 4):
    """Added-variable plots of the strongest factors of the joint model (difference in pp; point size =
    number of youths);
    the title gives the status, and the decisive wijk of a fragile finding is ringed and named."""
    import matplotlib.pyplot as plt
    t = TEXT[lang]
    top = strongest_factors(res, k)
    joint = res.models.get("joint", [])
    ncol = min(2, max(1, len(top)))
    nrow = max(1, math.ceil(len(top) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.8 * ncol, 3.8 * nrow), squeeze=False)
    weights = res.frame.set_index("wijk_code")["youths_0_17_est"] if "youths_0_17_est" in res.frame else None
    for ax, x in zip(axes.ravel(), top):
        others = [o for o in joint if o != x] if x in joint else []
        d = partial_regression_data(res.frame, x, others)
        w = weights.reindex(d["wijk_code"]).to_numpy(float) if weights is not None else np.ones(len(d))
        size = 4 + 40 * np.sqrt(np.nan_to_num(w / np.nanmax(w))) if np.isfinite(w).any() else 12
        ax.scatter(d["x_resid"], d["y_resid"], s=size, alpha=0.55, color=GROUP_COLORS[0], edgecolor="none")
        status, decisive = _status_of(res, x)
        label = textwrap.shorten(res.correlations.set_index("factor").at[x, "label_nl" if lang == "nl"
                                                                            else "label_en"], 50, placeholder="…")
        title = f"{label}\n{t['status'][status].replace(' †', '')}, n = {len(d)}"
        if len(d) > 2 and d["x_resid"].std() > 0:
            slope = float((d["x_resid"] * d["y_resid"]).sum() / (d["x_resid"] ** 2).sum())
            xx = np.linspace(d["x_resid"].min(), d["x_resid"].max(), 2)
            ax.plot(xx, slope * xx, color="black", lw=1.2, ls="-" if status == ROBUST else "--")
        if decisive and decisive in set(d["wijk_code"]):
            p = d[d["wijk_code"] == decisive].iloc[0]
            ax.scatter([p["x_resid"]], [p["y_resid"]], s=90, facecolor="none", edgecolor="#c44e52", lw=1.5)
            ax.annotate(f"{t['decisive']}: {decisive}", (p["x_resid"], p["y_resid"]), fontsize=7, color="#c44e52",
                        xytext=(4, 4), textcoords="offset points")
        ax.set_title(title, fontsize=8.5)
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_xlabel(t["partial_x"].format(label=textwrap.shorten(label, 30, placeholder="…")), fontsize=8)
        ax.set_ylabel(t["partial_y"], fontsize=8)
    for ax in axes.ravel()[len(top):]:
        ax.set_axis_off()
    if not top:
        axes[0, 0].text(0.5, 0.5, t["no_model"], ha="center", va="center")
    fig.text(0.99, 0.0, t["size"], ha="right", va="bottom", fontsize=6.5, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def plot_residual_maps(res, geometry, lang: str = "nl"):
    """Residual map before and after adding the joint-model factors (same symmetric colour scale)."""
    import matplotlib.pyplot as plt
    from ..maps import diverging_map
    t = TEXT[lang]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    if geometry is None:
        for ax in axes:
            ax.text(0.5, 0.5, t["nodata"], ha="center", va="center")
            ax.set_axis_off()
        return fig
    g = polygonal(geometry[geometry["wijk_code"].isin(res.scope_codes)][["wijk_code", "geometry"]])
    g = g.merge(res.residuals, on="wijk_code", how="left").sort_values("wijk_code").reset_index(drop=True)
    both = pd.concat([g["before"], g["after"]]).abs().dropna()
    vmax = max(0.5, float(np.ceil(np.percentile(both, 95) * 2) / 2)) if len(both) else 1.0
    n_nopoly = int((~pd.Series(res.scope_codes).isin(geometry["wijk_code"])).sum())
    for ax, col in zip(axes, ("before", "after")):
        mo = res.metrics["moran"][col]
        i = mo.get("I")
        itxt = f"{t['moran']} = {i:.2f} (n = {mo.get('n')})" if i is not None and np.isfinite(i) else ""
        diverging_map(g, col, ax=ax, lang=lang, vmax=vmax, title=f"{t[col]}\n{itxt}")
        ax.title.set_fontsize(9)
    if n_nopoly:
        fig.text(0.5, 0.01, f"{n_nopoly} {t['nopoly']}", ha="center", fontsize=7.5, color="0.3")
    return fig


def plot_factor_table(analysis, lang: str = "nl"):
    """The factors with cluster, source, year, coverage, N and status (fragile ones marked †), as a table."""
    import matplotlib.pyplot as plt
    t = TEXT[lang]
    ft = analysis.factor_table
    cells = []
    for _, r in ft.iterrows():
        label = (r["label_nl"] if lang == "nl" else r["label_en"]) + (t["fictional"] if r["fictional"] else "")
        status = r["status_correlation"] if r["status_joint_model"] != FRAGILE else FRAGILE
        cells.append([textwrap.fill(label, 32), textwrap.fill(CLUSTERS[r["cluster"]][lang], 16),
                      textwrap.fill(str(r["source"]), 46), str(r["year"]), textwrap.fill(str(r["coverage"]), 18),
                      str(r["n"]), t["status"].get(status, status)])
    nlines = sum(max(c.count("\n") + 1 for c in row) for row in cells) + 3
    fig, ax = plt.subplots(figsize=(12, 0.22 * nlines + 0.8))
    ax.set_axis_off()
    if not cells:
        ax.text(0.5, 0.5, t["nodata"], ha="center")
        return fig
    tab = ax.table(cellText=cells, colLabels=t["table_cols"], loc="upper center", cellLoc="left",
                   colWidths=[0.22, 0.12, 0.33, 0.05, 0.13, 0.05, 0.10])
    tab.auto_set_font_size(False)
    tab.set_fontsize(7.5)
    for (row, col), cell in tab.get_celld().items():
        lines = 1 if row == 0 else max(cells[row - 1][c].count("\n") + 1 for c in range(len(t["table_cols"])))
        cell.set_height(0.9 * lines / nlines)
        cell.PAD = 0.02
        if row == 0:
            cell.set_text_props(fontweight="bold")
    fragile = ft[(ft["status_correlation"] == FRAGILE) | (ft["status_joint_model"] == FRAGILE)]
    wijken = sorted({f"{n} ({c})" if n else c for c, n in zip(fragile["decisive_wijk_code"],
                                                               fragile["decisive_wijk_name"]) if c})
    if len(fragile):
        fig.text(0.02, 0.01, textwrap.fill(t["table_note"].format(wijken=", ".join(wijken) or "–"), 160),
                 fontsize=7, color="0.3")
    return fig

