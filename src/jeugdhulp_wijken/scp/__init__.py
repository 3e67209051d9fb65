"""The SCP model *Jeugdhulp in de wijk* (SCP-publicatie 2020-1): re-estimated, recovered, compared,
and sliced per region.

Modules, by concern:

* :mod:`.options` - :class:`ModelOptions`, the input contract and the results columns;
* :mod:`.model` - design matrix, three-level linear mixed model (statsmodels), fixed-effects comparator;
* :mod:`.recovered` - SCP's coefficients recovered from its published expectation;
* :mod:`.variants` - sensitivity variants and the coefficient comparison;
* :mod:`.summaries` - agreement, weighted means, published figures, :func:`region_summary`,
  per-gemeente tables (numpy/pandas only);
* :mod:`.narrative` - sentences and headline numbers from the metrics;
* :mod:`.national` - the national analysis, run once (:func:`national.analyse_national`);
* :mod:`.region` - a region as a slice of the national results (:func:`region.slice_region`);
* :mod:`.plots` - scatter and per-gemeente bars;
* :mod:`.io` - reading and writing through the catalog.

Importing this package loads no model library; statsmodels is imported when a model is fitted.
"""
from __future__ import annotations

from .options import RESULT_COLUMNS, ModelDataError, ModelOptions
from .summaries import region_summary

__all__ = ["ModelDataError", "ModelOptions", "RESULT_COLUMNS", "region_summary"]
