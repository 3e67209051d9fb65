"""What the data hold: the national data summary, a region's data counts, the overview table and figure.

* :func:`data_summary` - the national summary of the data step (``data_summary_nl``): counts,
  weighted means, missingness, exclusions, geometry and local-factor coverage, and every stated
  deviation from the published study. It knows no region: the national stage runs once.
* :func:`region_data` - the same counts for one region, computed from the national table and
  the national summary (part of the region's metrics; nothing is re-read from raw files).
* :func:`data_overview` / :func:`plot_data_overview` - the region next to the Netherlands.
"""
from __future__ import annotations

import textwrap

import pandas as pd

from .dictionary import DETERMINANTS
from .wijktable import SMALL_WIJK, YOUTH_METHOD, weighted_mean, youth_weight_sensitivity

USED_YOUTH_VARIANT = "0-14 + 3/10 of 15-24 (used)"


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def data_summary(table: pd.DataFrame, *, missing_geometry: pd.DataFrame, unmapped_factors: pd.DataFrame,
                 local_factor_meta: dict, geometry_vintage: str, synthetic: bool = False, year: int = 2017) -> dict:
    """The JSON summary of the national data step (counts, weighted means, missingness, exclusions)."""
    unmapped_2017 = unmapped_factors.loc[unmapped_factors["wijk_name"] != "", "wijk_code"]
    observed_w = weighted_mean(table["perc_jhzv"], table["youths_0_17_est"])
    headline = {
        "n_wijken_nl": int(len(table)), "n_gemeenten_nl": int(table["gemeente_code"].nunique()),
        "n_jeugdzorgregios_nl": int(table["jz_code"].nunique()),
        "observed_nl_weighted_pct": _r(observed_w, 2),
        "observed_nl_unweighted_pct": _r(table["perc_jhzv"].mean(), 2),
        "expected_nl_weighted_pct": _r(weighted_mean(table["perc_przv"], table["youths_0_17_est"]), 2),
        "suppressed_nl": int(table["flag_suppressed"].sum()),
        "wijken_without_polygon_nl": int(len(missing_geometry)),
        "factor_wijken_unmapped_nl": int(len(unmapped_2017)),
    }
    return {
        "headline": headline,
        "synthetic": bool(synthetic),
        "year": int(year),
        "indeling": f"wijk indeling {year} (SCP file)",
        "national": {"n_wijken": int(len(table)), "n_gemeenten": int(table["gemeente_code"].nunique()),
                     "n_jeugdzorgregios": int(table["jz_code"].nunique()),
                     "n_ggd_regions": int(table["ggd_code"].nunique()),
                     "wijken_per_jeugdzorgregio": {k: int(v) for k, v in table.groupby("jz_code").size().items()}},
        "observed_mean": {
            "nl_weighted_by_youths": _r(observed_w),
            "nl_unweighted": _r(table["perc_jhzv"].mean()),
            "note": "Means over wijken with a published (non-suppressed) observed value; weights = youths_0_17_est.",
        },
        "expected_mean": {"nl_weighted_by_youths": _r(weighted_mean(table["perc_przv"], table["youths_0_17_est"])),
                          "nl_unweighted": _r(table["perc_przv"].mean())},
        "suppressed": {"nl": int(table["flag_suppressed"].sum()),
                       "rule": "CBS does not publish observed use for wijken with fewer than 10 users ('.' in the "
                               "SCP file); perc_jhzv and residu are NaN there, perc_przv is published."},
        "missing_determinants": {"nl": {d: int(table[d].isna().sum()) for d in DETERMINANTS},
                                 "wijken_complete_nl": int((table["n_missing_determinants"] == 0).sum())},
        "small_wijken": {"threshold_inhabitants": SMALL_WIJK, "nl": int(table["flag_small_wijk"].sum())},
        "inhabitants_missing": int(table["inhabitants"].isna().sum()),
        "youths_missing": int(table["youths_0_17_est"].isna().sum()),
        "youth_approximation": youth_statement(table),
        "geometry": {"vintage_label_nl": geometry_vintage,
                     "n_without_polygon_nl": int(len(missing_geometry)),
                     "without_polygon_nl": missing_geometry["wijk_code"].tolist()},
        "local_factors": {"factors": list(local_factor_meta["factors"]), "mapping": local_factor_meta["mapping"],
                          "unmapped_2017_wijken_nl": unmapped_2017.tolist(),
                          "unmapped_reasons": unmapped_factors.groupby("reason").size().astype(int).to_dict(),
                          "codes_2016_not_in_2017": unmapped_factors.loc[unmapped_factors["wijk_name"] == "",
                                                                         "wijk_code"].tolist()},
        "deviations_from_published_study": [
            "Youths 0-17 are estimated from KWB age bands (see youth_approximation); SCP/HHS denominators are not "
            "published.",
            "No 2017 wijk boundaries are available; maps use 2016 boundaries and later ELAN/LUMC boundaries "
            f"({geometry_vintage}); {len(missing_geometry)} wijken have no polygon and are listed.",
        ],
    }


def youth_statement(table: pd.DataFrame, region_codes=None, scopes=("nl",)) -> dict:
    """The youth approximation, how much it moves the weighted means, per scope ("nl", "region")."""
    sens = youth_weight_sensitivity(table, region_codes)
    sens = {k: v for k, v in sens.items() if k in scopes}
    out = {"method": YOUTH_METHOD, "sensitivity": sens}
    for scope in sens:
        obs = [v["observed"] for k, v in sens[scope].items() if k != "unweighted wijk mean"]
        used = sens[scope][USED_YOUTH_VARIANT]["observed"]
        out[f"effect_{scope}"] = (
            f"Youth-weighted observed mean ({scope}) is {used:.2f}% with the 3/10 assumption and ranges "
            f"{min(obs):.2f}-{max(obs):.2f}% over the alternatives (0-14 only, 2/10, 4/10 of the 15-24 band): "
            f"the assumption moves it by at most {max(abs(o - used) for o in obs):.3f} percentage points.")
    return out


def region_data(table: pd.DataFrame, region, *, summary_nl: dict, geometry_vintage: str) -> dict:
    """A region's data counts, from the national table and the national data summary."""
    in_reg = table["gemeente_code"].isin(region.gemeente_codes)
    sub = table[in_reg]
    codes = set(sub["wijk_code"])
    jz_in_region = sorted(sub["jz_code"].unique())
    jz_full = table[table["jz_code"].isin(jz_in_region)]
    outside = jz_full[~jz_full["gemeente_code"].isin(region.gemeente_codes)]
    no_polygon = [c for c in summary_nl["geometry"]["without_polygon_nl"] if c in codes]
    unmapped = [c for c in summary_nl["local_factors"]["unmapped_2017_wijken_nl"] if c in codes]
    return {
        "caption": {"nl": region_caption(table, region, "nl"), "en": region_caption(table, region, "en")},
        "n_wijken": int(len(sub)), "n_gemeenten": int(sub["gemeente_code"].nunique()),
        "jeugdzorgregios": jz_in_region,
        "jeugdzorgregio_wijken_outside_region": int(len(outside)),
        "jeugdzorgregio_gemeenten_outside_region": sorted(outside["gemeente_name"].unique().tolist()),
        "observed_mean": {"weighted_by_youths": _r(weighted_mean(sub["perc_jhzv"], sub["youths_0_17_est"])),
                          "unweighted": _r(sub["perc_jhzv"].mean())},
        "expected_mean": {"weighted_by_youths": _r(weighted_mean(sub["perc_przv"], sub["youths_0_17_est"])),
                          "unweighted": _r(sub["perc_przv"].mean())},
        "suppressed": int(sub["flag_suppressed"].sum()),
        "missing_determinants": {d: int(sub[d].isna().sum()) for d in DETERMINANTS},
        "wijken_complete": int((sub["n_missing_determinants"] == 0).sum()),
        "small_wijken": int(sub["flag_small_wijk"].sum()),
        "without_polygon": no_polygon,
        "factor_wijken_unmapped": unmapped,
        "geometry_vintage": geometry_vintage,
        "youth_approximation": youth_statement(table, region.gemeente_codes, scopes=("region",)),
    }


def data_overview(table: pd.DataFrame, region) -> pd.DataFrame:
    """Long table: wijken/gemeenten/suppressed per jeugdzorgregio, and missingness per variable.

    Columns: section ("jeugdzorgregio" | "variable"), item, label, n_wijken_nl, n_missing_nl,
    n_wijken_region, n_missing_region, n_suppressed_nl, n_suppressed_region, n_gemeenten.
    """
    from .dictionary import label

    in_reg = table["gemeente_code"].isin(region.gemeente_codes)
    rows = []
    for (jz, name), grp in table.groupby(["jz_code", "jz_name"], sort=True):
        r = grp["gemeente_code"].isin(region.gemeente_codes)
        rows.append({"section": "jeugdzorgregio", "item": jz, "label": name, "n_wijken_nl": len(grp),
                     "n_missing_nl": 0, "n_wijken_region": int(r.sum()), "n_missing_region": 0,
                     "n_suppressed_nl": int(grp["flag_suppressed"].sum()),
                     "n_suppressed_region": int((grp["flag_suppressed"] & r).sum()),
                     "n_gemeenten": grp["gemeente_code"].nunique()})
    for var in ["perc_jhzv", "perc_przv", "residu"] + DETERMINANTS + ["inhabitants", "youths_0_17_est"]:
        rows.append({"section": "variable", "item": var, "label": label(var, "nl"), "n_wijken_nl": len(table),
                     "n_missing_nl": int(table[var].isna().sum()), "n_wijken_region": int(in_reg.sum()),
                     "n_missing_region": int(table.loc[in_reg, var].isna().sum()),
                     "n_suppressed_nl": int(table["flag_suppressed"].sum()),
                     "n_suppressed_region": int(table.loc[in_reg, "flag_suppressed"].sum()),
                     "n_gemeenten": table["gemeente_code"].nunique()})
    return pd.DataFrame(rows)


def region_caption(table: pd.DataFrame, region, lang: str = "nl") -> str:
    """Region label plus, where the region covers only part of a jeugdzorgregio, what lies outside it.

    E.g. "Haaglanden (GGD-regio, 9 gemeenten; studiegebied HHS): 102 wijken; jeugdzorgregio JZ24 Haaglanden
    telt 103 wijken (ook Voorschoten)".
    """
    nl = lang == "nl"
    in_reg = table["gemeente_code"].isin(region.gemeente_codes)
    text = f"{region.name}: {int(in_reg.sum())} wijken"
    if region.kind in ("study_area", "ggd", "gemeenten"):
        for jz, grp in table[table["jz_code"].isin(table.loc[in_reg, "jz_code"].unique())].groupby("jz_code"):
            outside = sorted(grp.loc[~grp["gemeente_code"].isin(region.gemeente_codes), "gemeente_name"].unique())
            if outside:
                names = ", ".join(outside[:3]) + ("…" if len(outside) > 3 else "")
                text += (f"; jeugdzorgregio {jz} {grp['jz_name'].iloc[0]} telt {len(grp)} wijken (ook {names})" if nl
                         else f"; youth-care region {jz} {grp['jz_name'].iloc[0]} has {len(grp)} wijken (also {names})")
    return text


def plot_data_overview(table: pd.DataFrame, region, lang: str = "nl"):
    """Three panels: wijken per jeugdzorgregio (region highlighted), missing values per variable, suppressed wijken."""
    import matplotlib.pyplot as plt

    from .dictionary import label

    nl = lang == "nl"
    in_reg = table["gemeente_code"].isin(region.gemeente_codes)
    fig, axes = plt.subplots(1, 3, figsize=(13, 7), gridspec_kw={"width_ratios": [1.1, 1.3, 0.8]})
    # (a) wijken per jeugdzorgregio, split in / outside the region
    per_jz = table.assign(in_region=in_reg).groupby(["jz_code", "jz_name", "in_region"]).size().unstack(fill_value=0)
    per_jz = per_jz.reindex(columns=[True, False], fill_value=0).sort_index(ascending=False)
    ylabels = [f"{c} {n[:22]}" for c, n in per_jz.index]
    ax = axes[0]
    short = region.name.split(" (")[0][:30]
    ax.barh(ylabels, per_jz[True], color="#c0392b", label="in " + short)
    ax.barh(ylabels, per_jz[False], left=per_jz[True], color="#95a5a6", label="overig" if nl else "other")
    for y, (key, rec) in zip(ylabels, per_jz.iterrows()):
        if rec[True] > 0 and rec[False] > 0:
            outside = table[(table["jz_code"] == key[0]) & ~in_reg]["gemeente_name"].unique()
            names = ", ".join(sorted(outside)[:2]) + ("…" if len(outside) > 2 else "")
            ax.annotate(f"{rec[True]} + {rec[False]} ({names})", (rec[True] + rec[False], y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=6, color="#c0392b")
    ax.set_xlabel("aantal wijken" if nl else "number of wijken")
    ax.set_title("Wijken per jeugdzorgregio" if nl else "Wijken per youth-care region")
    ax.tick_params(axis="y", labelsize=6)
    ax.legend(loc="lower right", fontsize=7)
    # (b) missing values per determinant, % of wijken, NL vs region
    vars_ = DETERMINANTS
    miss_nl = table[vars_].isna().mean() * 100
    miss_rg = table.loc[in_reg, vars_].isna().mean() * 100 if in_reg.any() else miss_nl * float("nan")
    pos = range(len(vars_))
    ax = axes[1]
    ax.barh([p + 0.2 for p in pos], miss_nl.to_numpy(), height=0.4, color="#7f8c8d",
            label="Nederland" if nl else "Netherlands")
    ax.barh([p - 0.2 for p in pos], miss_rg.to_numpy(), height=0.4, color="#c0392b", label=short)
    ax.set_yticks(list(pos))
    ax.set_yticklabels([label(v, lang)[:45] for v in vars_], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("% wijken zonder waarde ('.')" if nl else "% wijken without value ('.')")
    ax.set_title("Ontbrekende determinanten" if nl else "Missing determinants")
    ax.legend(loc="lower right", fontsize=7)
    # (c) suppressed observed values
    ax = axes[2]
    # two short category labels, wrapped, so that a long region name neither overlaps nor runs off the figure
    cats = ["Nederland" if nl else "Netherlands", textwrap.fill(region.name.split(" (")[0][:40], 14)]
    supp = [table["flag_suppressed"].mean() * 100,
            table.loc[in_reg, "flag_suppressed"].mean() * 100 if in_reg.any() else 0]
    counts = [int(table["flag_suppressed"].sum()), int(table.loc[in_reg, "flag_suppressed"].sum())]
    totals = [len(table), int(in_reg.sum())]
    bars = ax.bar(cats, supp, color=["#7f8c8d", "#c0392b"])
    for b, c, t in zip(bars, counts, totals):
        ax.annotate(f"{c} / {t}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel("% wijken onderdrukt (< 10 gebruikers)" if nl else "% wijken suppressed (< 10 users)")
    ax.set_title("Onderdrukte wijken" if nl else "Suppressed wijken")
    fig.suptitle(region_caption(table, region, lang), fontsize=9)
    fig.tight_layout()
    return fig
