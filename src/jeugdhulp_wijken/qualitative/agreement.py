"""Inter-coder agreement on defined units (speaker turns).

For every code (rolled up to the chosen level, by default the theme) each coder makes a
binary decision per unit: present or absent. Reported per code:

* ``prevalence``: share of unit decisions that are "present" (mean over coders);
* ``pct_agreement``: share of units on which the coders agree;
* ``kappa``: Cohen's kappa, (p_o - p_e) / (1 - p_e) with p_e from each coder's own marginals
  (Cohen 1960; scikit-learn ``cohen_kappa_score``); undefined (NaN) when p_e = 1, i.e. both
  coders never or always use the code;
* ``alpha``: Krippendorff's alpha, nominal level, for the same binary data (``krippendorff``
  package; Krippendorff 2011), which uses the pooled marginals and allows missing values.

Overall: Krippendorff's alpha (nominal) over all unit x code decisions pooled, and the
unweighted mean of the per-code kappas. Low prevalence depresses kappa and alpha even at a
high % agreement (the "kappa paradox"), which is why prevalence is always reported alongside.
"""
from __future__ import annotations

import math
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from .codebook import Codebook
from .errors import QualitativeDataError


def krippendorff_alpha(reliability_data, level: str = "nominal") -> float:
    """Krippendorff's alpha; ``reliability_data`` is coders x units with NaN for missing values."""
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 2:
        raise QualitativeDataError("Reliability data must be a coders x units array with at least 2 coders.")
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def cohen_kappa(a, b) -> float:
    """Cohen's kappa for two coders' nominal ratings of the same units (no missing values).

    Computed by scikit-learn's ``cohen_kappa_score``; NaN when it is undefined (both coders give
    every unit the same single value, so p_e = 1).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise QualitativeDataError("cohen_kappa needs two equally long, non-empty 1-d rating vectors.")
    labels = np.union1d(a, b)
    if len(labels) < 2:
        return float("nan")
    return float(cohen_kappa_score(a, b, labels=labels, replace_undefined_by=np.nan))


def agreement_per_code(matrix: pd.DataFrame, codebook: Codebook, coders: list[str] | None = None,
                       lang: str = "nl") -> pd.DataFrame:
    """Agreement statistics per code from a :func:`~.coding.unit_matrix` (two coders)."""
    coders = coders or sorted(matrix.columns.get_level_values("coder").unique())
    if len(coders) != 2:
        raise QualitativeDataError(f"Per-code kappa needs exactly two coders, got {coders}.")
    a_name, b_name = coders
    rows = []
    for code in matrix[a_name].columns:
        a = matrix[(a_name, code)].to_numpy()
        b = matrix[(b_name, code)].to_numpy()
        rows.append({
            "code_id": code, "name": codebook.label(code, lang), "cluster": codebook.cluster_of(code),
            "n_units": len(a), f"n_{a_name}": int(a.sum()), f"n_{b_name}": int(b.sum()),
            "n_both": int((a & b).sum()),
            "prevalence": float((a.sum() + b.sum()) / (2 * len(a))),
            "pct_agreement": float(np.mean(a == b) * 100),
            "kappa": cohen_kappa(a, b),
            "alpha": krippendorff_alpha(np.vstack([a, b])),
        })
    return pd.DataFrame(rows)


def agreement_summary(matrix: pd.DataFrame, per_code: pd.DataFrame, *, level: str,
                      unit: str = "speaker turn", exclusions: str = "") -> dict[str, Any]:
    """Overall figures and the per-code table as a JSON-ready dictionary."""
    coders = sorted(matrix.columns.get_level_values("coder").unique())
    pooled = np.vstack([matrix[c].to_numpy().ravel() for c in coders])

    def clean(x):
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)

    kappas = per_code["kappa"].dropna()
    return {
        "unit": unit,
        "level": level,
        "coders": coders,
        "n_units": int(matrix.shape[0]),
        "n_codes": int(per_code.shape[0]),
        "overall": {
            "krippendorff_alpha_nominal_pooled": clean(krippendorff_alpha(pooled)),
            "mean_cohen_kappa": clean(kappas.mean() if len(kappas) else float("nan")),
            "pct_agreement_pooled": clean(float(np.mean(pooled[0] == pooled[1]) * 100)),
            "n_codes_kappa_undefined": int(per_code["kappa"].isna().sum()),
        },
        "per_code": [{k: (clean(v) if isinstance(v, float) else v) for k, v in r.items()}
                     for r in per_code.to_dict(orient="records")],
        "method": ("Binary presence of each code per unit and coder. Cohen's kappa per code with each "
                   "coder's own marginals (Cohen 1960); Krippendorff's alpha, nominal level "
                   "(krippendorff package, Krippendorff 2011), per code and pooled over all unit x code "
                   "decisions. Kappa is undefined when both coders never (or always) use a code."),
        "exclusions": exclusions,
    }
