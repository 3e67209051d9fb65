"""The model's options, its input contract and its results columns (no fitting here).

This module imports only pandas, so the regional stage can use the column contract without
loading statsmodels.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..dictionary import DETERMINANTS

ID_COLUMNS = ["wijk_code", "wijk_name", "gemeente_code", "gemeente_name", "jz_code", "jz_name",
              "ggd_code", "ggd_name"]
REQUIRED_COLUMNS = ID_COLUMNS + ["perc_jhzv", "perc_przv", "inhabitants", "youths_0_17_est"] + DETERMINANTS

#: Columns of the national results (catalog id ``scp_results_nl``) and of a region's slice
#: (``scp_results_region``): one row per wijk. ``observed`` = perc_jhzv, ``expected_scp`` =
#: perc_przv (SCP's published expectation), ``difference`` = observed - expected_scp,
#: ``expected_reestimated`` / ``expected_recovered`` = this compendium's two models,
#: ``determinants_complete`` = all 27 determinants published, ``z_score`` / ``deviation_class``
#: under ``deviation_rule`` with the national overdispersion.
RESULT_COLUMNS = ID_COLUMNS + ["observed", "expected_scp", "difference", "expected_reestimated",
                               "expected_recovered", "youths_0_17_est", "determinants_complete", "z_score",
                               "deviation_class", "deviation_rule"]


class ModelDataError(ValueError):
    """The wijk table cannot be used for the model (missing columns, no observations, ...)."""


@dataclass(frozen=True)
class ModelOptions:
    """Options of the re-estimated model (see :mod:`jeugdhulp_wijken.scp.model`)."""
    suppressed: str = "impute"                 # "impute" | "drop"
    determinant_missing: str = "gemeente_mean"  # "gemeente_mean" | "complete_cases"
    missing_indicator_min_share: float = 0.10   # indicators for determinants missing in >= this share; >1 = none
    min_inhabitants: float = 100.0
    impute_iterations: int = 3
    levels: str = "region+gemeente"             # "region+gemeente" | "gemeente"

    def validate(self) -> "ModelOptions":
        checks = {"suppressed": ("impute", "drop"), "determinant_missing": ("gemeente_mean", "complete_cases"),
                  "levels": ("region+gemeente", "gemeente")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"Model option {name}={getattr(self, name)!r} is not one of {list(allowed)}.")
        if self.impute_iterations < 1:
            raise ValueError("Model option impute_iterations must be >= 1.")
        return self


def check_table(table: pd.DataFrame, source: str = "01_wijk_table_nl.parquet") -> pd.DataFrame:
    """Check that the national table has what the model needs; raise :class:`ModelDataError`."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ModelDataError(f"{source}: columns {missing} are missing. Re-run the data_preparation step "
                             "(notebooks/01_data_preparation.ipynb) to rebuild the wijk table.")
    dup = table["wijk_code"].duplicated(keep=False)
    if dup.any():
        raise ModelDataError(f"{source}: column wijk_code has duplicates: {sorted(table.loc[dup, 'wijk_code'])[:10]}.")
    if table["perc_przv"].isna().any():
        rows = table.loc[table["perc_przv"].isna(), "wijk_code"].tolist()[:10]
        raise ModelDataError(f"{source}: column perc_przv (published expectation) is empty for rows {rows}; "
                             "SCP publishes it for every wijk. Check the wijk table.")
    if table["perc_jhzv"].notna().sum() < len(DETERMINANTS) + 10:
        raise ModelDataError(f"{source}: only {int(table['perc_jhzv'].notna().sum())} wijken have an observed "
                             "perc_jhzv; too few to fit the model.")
    return table.sort_values("wijk_code").reset_index(drop=True)
