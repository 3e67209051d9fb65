"""Reading and writing the SCP artefacts, only through the catalog (:mod:`jeugdhulp_wijken.catalog`).

National stage (folder ``{derived}/national``): ``scp_results_nl``, ``scp_coefficients``,
``scp_sensitivity``, ``scp_metrics_nl``. Regional stage (folder ``{derived}/<region>``):
``wijk_table_region``, ``scp_results_region``, ``scp_gemeente_table``, ``scp_extremes``,
``data_overview``, ``region_metrics`` (the geometry is written by the notebook, it is a
GeoDataFrame of its own).
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import catalog

NATIONAL_IDS = ("scp_results_nl", "scp_coefficients", "scp_sensitivity", "scp_metrics_nl")
REGION_IDS = ("wijk_table_region", "scp_results_region", "scp_gemeente_table", "scp_extremes", "data_overview",
              "region_metrics")


def write_national(analysis, output_dir: str | os.PathLike, synthetic: bool = False) -> dict[str, Path]:
    """Write the national SCP artefacts of a :class:`national.NationalAnalysis`; returns {id: path}."""
    objects = {"scp_results_nl": analysis.results, "scp_coefficients": analysis.coefficients,
               "scp_sensitivity": analysis.sensitivity, "scp_metrics_nl": analysis.metrics}
    return {k: catalog.write(objects[k], k, output_dir, synthetic) for k in NATIONAL_IDS}


def write_region(region_slice, output_dir: str | os.PathLike, synthetic: bool = False) -> dict[str, Path]:
    """Write the tables and metrics of a :class:`region.RegionSlice`; returns {id: path}."""
    s = region_slice
    objects = {"wijk_table_region": s.table, "scp_results_region": s.results, "scp_gemeente_table": s.gemeente_table,
               "scp_extremes": s.extremes, "data_overview": s.overview, "region_metrics": s.metrics}
    return {k: catalog.write(objects[k], k, output_dir, synthetic) for k in REGION_IDS}


def read_national_results(national_dir: str | os.PathLike, synthetic: bool = False):
    """(results, metrics) of the national SCP step."""
    return (catalog.read("scp_results_nl", national_dir, synthetic),
            catalog.read("scp_metrics_nl", national_dir, synthetic))
