"""A region as a slice of the national SCP results: no model is fitted here.

:func:`slice_region` takes the national artefacts (wijk table, results, metrics, data summary)
and a resolved region and returns the region's rows, its per-gemeente table, the highest and
lowest wijk per gemeente (HHS Bijlage I), the data overview and the region metrics. A
``deviation_rule`` other than the national one reclassifies the region's wijken from their
observed and expected values with the national overdispersion stored in the national metrics.

Imports stay light (pandas, numpy): the regional stage runs once per region and must be cheap.

Region metrics (catalog id ``region_metrics``) keys
--------------------------------------------------
``meta`` (study, year, synthetic, source), ``region`` (name, slug, kind, note, is_study_area),
``data`` (:func:`overview.region_data`: counts, caption, geometry vintage, youth approximation),
``summary`` (:func:`summaries.region_summary`: the numbers the atlas compares), ``nl`` (national
summary numbers), ``deviation`` (rule, national rule, overdispersion, region sensitivity per
rule, rules giving "almost 40%" for the study area), ``comparison`` (re-estimate vs perc_przv in
the region), ``published_comparison`` (``published_for_region``, note, rows with NL and, for the
study area, Haaglanden and the share of differing wijken), ``headline``, ``deviations_from_published``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import deviation, overview
from ..study import PUBLISHED, STUDY_AREA
from . import narrative
from .summaries import (agreement, appendix_extremes, gemeente_table, is_study_area, published_comparison,
                        region_rows, region_summary, share_differing_rows, summary_numbers)

SOURCE = ("Slice of the national stage (scp_results_nl, scp_metrics_nl, wijk_table_nl, data_summary_nl); "
          "the model is not refitted for a region.")
NOT_PUBLISHED = {"nl": "Het HHS-rapport publiceerde geen cijfers voor deze regio; alleen het landelijke cijfer "
                       "kan met de publicatie worden vergeleken.",
                 "en": "The HHS report published no figures for this region; only the national figure can be "
                       "compared with the publication."}


@dataclass
class RegionSlice:
    region: object                  # regions.Region
    table: pd.DataFrame             # wijk_table_region
    results: pd.DataFrame           # scp_results_region (classes under metrics["deviation"]["rule"])
    gemeente_table: pd.DataFrame    # scp_gemeente_table
    extremes: pd.DataFrame          # scp_extremes
    overview: pd.DataFrame          # data_overview
    sensitivity: pd.DataFrame       # region rows per rule (also in metrics["deviation"]["sensitivity"])
    metrics: dict                   # region_metrics


def slice_region(table_nl: pd.DataFrame, results_nl: pd.DataFrame, metrics_nl: dict, data_summary_nl: dict,
                 region, *, deviation_rule: str | None = None, geometry_vintage: str = "",
                 synthetic: bool = False) -> RegionSlice:
    """Everything regional from the national artefacts (see the module docstring)."""
    national_rule = metrics_nl["deviation"]["rule"]
    rule = deviation.check_rule(deviation_rule or national_rule)
    od = metrics_nl["deviation"]["overdispersion"]
    rows = region_rows(results_nl, region)
    if rule != national_rule or rows["deviation_rule"].iloc[0] != rule:
        rows = deviation.classify_results(rows, rule, od)
    table = table_nl[table_nl["gemeente_code"].isin(region.gemeente_codes)].sort_values("wijk_code")
    table = table.reset_index(drop=True)
    summary = region_summary(results_nl, region, deviation_rule=rule, overdispersion=od)
    sens = deviation.sensitivity_table(rows, od, scopes=[("region", region.name, pd.Series(True, index=rows.index))])
    study_area = is_study_area(region)
    hhs = (deviation.rules_reproducing(sens, PUBLISHED["haaglanden_share_differing"], scope="region")
           if study_area else None)
    nl_sum = metrics_nl["summary_numbers"]["nl"]
    published = published_comparison(nl_sum, summary_numbers(rows) if study_area else None)
    if study_area:
        published["rows"] += [dict(r, scope="haaglanden") for r in share_differing_rows(sens, "region")]
    published["published_for_region"] = study_area
    published["note"] = (None if study_area else NOT_PUBLISHED)
    complete = rows["determinants_complete"].astype(bool)
    statements = []
    if not study_area:
        statements.append(f"The HHS report published figures only for the study area {STUDY_AREA} and NL; "
                          f"{region.name} has no published figures to compare with.")
    if rule != national_rule:
        statements.append(f"Deviation classes use rule {rule}, not the national default {national_rule}; they are "
                          "reclassified from the national observed and expected values and the national "
                          "overdispersion (no refit).")
    if region.note:
        statements.append(region.note)
    metrics = {
        "meta": {"study": metrics_nl["meta"]["study"], "year": metrics_nl["meta"]["year"],
                 "synthetic": bool(synthetic), "source": SOURCE},
        "region": {"name": region.name, "slug": region.slug, "kind": region.kind, "note": region.note,
                   "is_study_area": study_area, "gemeente_codes": list(region.gemeente_codes)},
        "data": overview.region_data(table_nl, region, summary_nl=data_summary_nl,
                                     geometry_vintage=geometry_vintage),
        "summary": summary,
        "nl": nl_sum,
        "deviation": {"rule": rule, "description": deviation.RULES[rule], "national_rule": national_rule,
                      "reclassified": rule != national_rule, "overdispersion": od,
                      "sensitivity": sens.drop(columns=["scope", "scope_label"]).to_dict("records"),
                      "hhs_published_share_differing": PUBLISHED["haaglanden_share_differing"],
                      "rules_reproducing_hhs_40pct": hhs},
        "comparison": {"complete": agreement(rows["expected_reestimated"], rows["expected_scp"], complete),
                       "all": agreement(rows["expected_reestimated"], rows["expected_scp"])},
        "published_comparison": published,
        "deviations_from_published": statements,
    }
    metrics["headline"] = narrative.region_headline(summary, nl_sum, published, hhs)
    return RegionSlice(region=region, table=table, results=rows, gemeente_table=gemeente_table(rows),
                       extremes=appendix_extremes(rows), overview=overview.data_overview(table_nl, region),
                       sensitivity=sens, metrics=metrics)


def region_geodata(results: pd.DataFrame, gdf, region_name: str = "the region"):
    """A region's results joined to its polygons (wijken without a polygon are left out and counted)."""
    keep = ["wijk_code", "geometry"] + [c for c in ("geometry_source", "geometry_year") if c in gdf.columns]
    out = gdf[keep].merge(results, on="wijk_code", how="inner").sort_values("wijk_code").reset_index(drop=True)
    out.attrs["n_without_polygon"] = int((~results["wijk_code"].isin(set(gdf["wijk_code"]))).sum())
    if out.empty:
        raise ValueError(f"The geometry has no polygon for any of the {len(results)} wijken of {region_name}; is "
                         "wijk_geometry_nl from the same national stage? Re-run the data_preparation step.")
    return out
