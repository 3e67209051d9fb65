"""The atlas: every jeugdzorgregio (plus the HHS study area and NL) on one page.

The per-region numbers come from the national results through the same function a single-region
run uses (:func:`scp.region_summary`), so the atlas and each region's report agree by construction.
On top of that the atlas gives each region an interval for observed - expected (youth-weighted):
the wijk-level funnel variance (binomial with the national overdispersion) summed over the
region's wijken, so that a region with few youths is not read as unusual for noise alone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import deviation
from .maps import plot_geo
from .regions import Region, all_regions, resolve_region

TEXT = {
    "nl": {
        "title": "Atlas van de jeugdzorgregio's: waargenomen en verwacht gebruik van jeugdhulp zonder verblijf, 2017",
        "intro": ("Per jeugdzorgregio het waargenomen en het door het SCP-model verwachte percentage jeugdigen met "
                  "jeugdhulp zonder verblijf, en het aandeel wijken dat duidelijk hoger of lager ligt dan verwacht. "
                  "Gewogen: gemiddelde over wijken gewogen naar het geschatte aantal jeugdigen (0-17 jaar). "
                  "Ongewogen: gewoon gemiddelde over de wijken."),
        "caution": ("Een hoger gebruik dan verwacht is geen oordeel over beleid: vroege, lichte hulp kan zwaardere "
                    "hulp voorkomen. Het model geeft geen voorspelling na 2017."),
        "rule": "Regel voor 'duidelijk hoger of lager'",
        "region": "Regio", "wijken": "Wijken", "youths": "Jeugdigen (geschat)",
        "obs_w": "Waargenomen, gewogen (%)", "exp_w": "Verwacht, gewogen (%)", "diff_w": "Verschil, gewogen (pp)",
        "interval": "95%-interval verschil (pp)",
        "obs_u": "Waargenomen, ongewogen (%)", "exp_u": "Verwacht, ongewogen (%)",
        "higher": "Wijken hoger (%)", "lower": "Wijken lager (%)", "report": "Rapport",
        "report_link": "rapport", "no_report": "nog niet gemaakt",
        "no_report_note": ("Een rapport ontbreekt nog? Maak het met <code>jhw-reproduce --region CODE</code>, of alle "
                           "rapporten met <code>jhw-reproduce --region all</code>."),
        "table_file": "De cijfers van deze pagina staan in",
        "caterpillar": "Verschil waargenomen − verwacht per regio (gewogen), met 95%-interval",
        "map": "Verschil waargenomen − verwacht per jeugdzorgregio (gewogen, procentpunt)",
        "source": ("Bron: SCP, wijkbestand Jeugdhulp in de wijk (2017); CBS, Gebieden in Nederland 2017 (83553NED); "
                   "herberekening in dit compendium."),
        "study_area": "studiegebied HHS", "nl": "Nederland",
        "synthetic": "SYNTHETISCHE DATA: fictieve regio's, gemeenten en wijken.",
        "x_diff": "Waargenomen − verwacht (procentpunt, gewogen)",
    },
    "en": {
        "title": "Atlas of the youth-care regions: observed and expected use of youth care without accommodation, 2017",
        "intro": ("Per youth-care region (jeugdzorgregio) the observed share of youths using youth care without "
                  "accommodation, the share expected by the SCP model, and the share of wijken clearly higher or "
                  "lower than expected. Weighted: mean over wijken weighted by the estimated number of youths "
                  "(0-17). Unweighted: plain mean over wijken."),
        "caution": ("Higher use than expected is no verdict on policy: early, light help may prevent heavier help. "
                    "The model makes no forecast after 2017."),
        "rule": "Rule for 'clearly higher or lower'",
        "region": "Region", "wijken": "Wijken", "youths": "Youths (estimated)",
        "obs_w": "Observed, weighted (%)", "exp_w": "Expected, weighted (%)", "diff_w": "Difference, weighted (pp)",
        "interval": "95% interval of the difference (pp)",
        "obs_u": "Observed, unweighted (%)", "exp_u": "Expected, unweighted (%)",
        "higher": "Wijken higher (%)", "lower": "Wijken lower (%)", "report": "Report",
        "report_link": "report", "no_report": "not made yet",
        "no_report_note": ("A report is missing? Make it with <code>jhw-reproduce --region CODE</code>, or all reports "
                           "with <code>jhw-reproduce --region all</code>."),
        "table_file": "The numbers of this page are in",
        "caterpillar": "Observed − expected per region (weighted), with 95% interval",
        "map": "Observed − expected per youth-care region (weighted, percentage points)",
        "source": ("Source: SCP, wijk file Jeugdhulp in de wijk (2017); CBS, Gebieden in Nederland 2017 (83553NED); "
                   "recomputed in this compendium."),
        "study_area": "HHS study area", "nl": "Netherlands",
        "synthetic": "SYNTHETIC DATA: fictional regions, gemeenten and wijken.",
        "x_diff": "Observed − expected (percentage points, weighted)",
    },
}


def gemeenten_of(results: pd.DataFrame) -> pd.DataFrame:
    """The gemeente -> region table implied by the national results (one row per gemeente)."""
    cols = ["gemeente_code", "gemeente_name", "jz_code", "jz_name"]
    g = results[cols].drop_duplicates("gemeente_code").sort_values("gemeente_code").reset_index(drop=True)
    if "ggd_code" not in g:
        g["ggd_code"], g["ggd_name"] = "GG0000", ""
    return g


def region_interval(results: pd.DataFrame, overdispersion: dict, level: float = 0.95) -> dict[str, float]:
    """Youth-weighted observed - expected of a set of wijken, with its funnel interval and z-score."""
    r = results[results["observed"].notna() & results["expected_scp"].notna() & (results["youths_0_17_est"] > 0)]
    if r.empty:
        return {"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "z": np.nan}
    n = r["youths_0_17_est"].to_numpy(float)
    w = n / n.sum()
    diff = float(np.sum(w * (r["observed"] - r["expected_scp"]).to_numpy(float)))
    se = deviation.binomial_se(r["expected_scp"], n)
    var = float(np.sum(w ** 2 * (se ** 2 * max(overdispersion.get("phi", 1.0), 1.0)
                                 + overdispersion.get("tau2", 0.0))))
    from scipy import stats
    zq = float(stats.norm.ppf(0.5 + level / 2))
    s = var ** 0.5
    return {"difference": diff, "ci_low": diff - zq * s, "ci_high": diff + zq * s,
            "z": diff / s if s > 0 else np.nan}


def build_table(results: pd.DataFrame, overdispersion: dict, rule: str,
                gemeenten: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per region (the study area when present, NL, every jeugdzorgregio): every number of
    :func:`scp.region_summary`, plus the region's interval for observed - expected (weighted)."""
    from .scp import region_summary

    gemeenten = gemeenten if gemeenten is not None else gemeenten_of(results)
    rows = []
    for value in all_regions(gemeenten):
        region: Region = resolve_region(value, gemeenten)
        summary = region_summary(results, region, deviation_rule=rule, overdispersion=overdispersion)
        interval = region_interval(results[results["gemeente_code"].isin(region.gemeente_codes)], overdispersion)
        rows.append({"region_value": value, "name": region.name, **summary,
                     "ci_low": interval["ci_low"], "ci_high": interval["ci_high"], "z": interval["z"]})
    return pd.DataFrame(rows)


def caterpillar_plot(table: pd.DataFrame, lang: str = "nl"):
    """Regions sorted by observed - expected (weighted), each with its 95% funnel interval."""
    import matplotlib.pyplot as plt

    t = TEXT[lang]
    d = table.sort_values("difference_weighted", kind="stable").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(d) + 1.2))
    y = np.arange(len(d))
    special = d["kind"].isin(["study_area", "nl"]).to_numpy()
    outside = ((d["ci_low"] > 0) | (d["ci_high"] < 0)).to_numpy()
    ax.hlines(y, d["ci_low"], d["ci_high"], color="#9a9a9a", lw=1.5)
    colors = np.where(outside, np.where(d["difference_weighted"] > 0, "#c44e52", "#4c72b0"), "#555555")
    ax.scatter(d["difference_weighted"], y, c=colors, s=np.where(special, 60, 28),
               marker="o", zorder=3, edgecolors=np.where(special, "black", "none"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y)
    labels = [f"{r['name']}" for _, r in d.iterrows()]
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel(t["x_diff"])
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def region_map(table: pd.DataFrame, geometry, results: pd.DataFrame, lang: str = "nl"):
    """The jeugdzorgregio's (wijk polygons dissolved by region), coloured by observed - expected."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    t = TEXT[lang]
    jz = table[table["kind"] == "jeugdzorgregio"][["region_value", "difference_weighted"]]
    g = geometry.merge(results[["wijk_code", "jz_code"]], on="wijk_code", how="inner")
    regions = g.dissolve(by="jz_code", as_index=False)[["jz_code", "geometry"]]
    regions = regions.merge(jz, left_on="jz_code", right_on="region_value", how="left")
    vmax = float(np.nanmax(np.abs(regions["difference_weighted"]))) or 1.0
    fig, ax = plt.subplots(figsize=(7, 8))
    plot_geo(regions, ax, column="difference_weighted", cmap="RdBu_r", norm=TwoSlopeNorm(0, -vmax, vmax),
             edgecolor="white", linewidth=0.6, legend=True, legend_kwds={"shrink": 0.6, "label": t["x_diff"]},
             missing_kwds={"color": "#dddddd"})
    for _, row in regions.iterrows():
        p = row.geometry.representative_point()
        ax.annotate(row["jz_code"].replace("JZ", ""), (p.x, p.y), ha="center", va="center", fontsize=6)
    ax.set_axis_off()
    return fig


def report_links(table: pd.DataFrame, figures_root: str | Path, atlas_dir: str | Path,
                 synthetic: bool, linked: list[str] | None = None) -> list[str | None]:
    """Relative link from the atlas to each region's report, or None. ``linked``: the regions to link (in a run:
    those whose report exists or that the run makes, so that the atlas need not wait for the regions); None:
    the regions whose report exists now."""
    from . import catalog

    out = []
    for slug in table["slug"]:
        target = catalog.path("report_html", Path(figures_root) / slug, synthetic)
        made = target.is_file() if linked is None else slug in linked
        out.append(Path("..", slug, target.name).as_posix() if made else None)
    return out


def render_page(table: pd.DataFrame, *, caterpillar_png: str, map_png: str, links: list[str | None],
                table_file: str, rule_text: str, lang: str = "nl", synthetic: bool = False) -> str:
    """The atlas page (Jinja2 template, self-contained: images are embedded)."""
    import jinja2

    from .report import fmt

    env = jinja2.Environment(loader=jinja2.PackageLoader("jeugdhulp_wijken", "templates/atlas"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True)
    rows = table.assign(link=links).to_dict("records")
    return env.get_template("atlas.html.j2").render(
        t=TEXT[lang], lang=lang, rows=rows, caterpillar=caterpillar_png, map=map_png, table_file=table_file,
        rule_text=rule_text, synthetic=synthetic, fmt=lambda x, digits=1: fmt.decimal(x, digits, lang))
