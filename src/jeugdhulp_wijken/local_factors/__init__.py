"""Local factors: do wijk characteristics outside the SCP model explain observed − expected use?

Research question 2a of the HHS study *Jeugdhulp in de wijken* (2020) asks whether jeugdhulp use
per wijk can be estimated better with local factors that the national SCP model leaves out. HHS
named two clusters: *voorzieningen* (childcare locations, primary schools, GP practices,
dissatisfaction with facilities) and *veiligheid en sociale cohesie* (dissatisfaction with
liveability, nuisance, home thefts, loneliness, self-rated health, low social cohesion).

The subpackage, by concern (no module imports one further down this list, except for figures):

* :mod:`.factor_files`: the factor-file schema, the YAML sidecar, reading, validating and the one
  factor-file writer;
* :mod:`.sources`: the factor sources (public file, CBS 83765NED, user files), the SCP results,
  the precision-aware outcome, the region and the geometry;
* :mod:`.stats`: correlations (raw and precision-aware), BH/Holm, OLS, VIF, explained
  variance and leave-one-gemeente-out cross-validation;
* :mod:`.spatial`: contiguity weights and Moran's I;
* :mod:`.robustness`: influence diagnostics and the robust / fragile classification;
* :mod:`.narrative`: caveats, key numbers, sentences, captions;
* :mod:`.analysis`: one scope (``"nl"`` or ``"region"``), per coverage group, and its artefacts;
* :mod:`.plots`: the registered figures.

Usage (notebook 03, run once per stage)::

    from jeugdhulp_wijken import local_factors as lf
    results, provenance = lf.load_results(national_dir, synthetic)
    factors = lf.collect_factors(national_dir, raw_dir=raw_dir, factor_files=factor_files, synthetic=synthetic)
    analysis = lf.run_analysis(results, factors, scope="region", region=region,
                               region_codes=lf.region_wijken(results, region, raw_dir))
    lf.write_outputs(analysis, output_dir, synthetic)

Synthetic study: the generator plants a known effect (``eenzaam``) and a null factor
(``gezondheid_matig_slecht``); ``tests/test_local_factors.py`` checks that the analysis recovers
the first as a robust finding and does not flag the second, and ``tests/test_local_factors_robustness.py``
that one planted extreme wijk makes a null factor fragile and is named.
"""
from __future__ import annotations

from .analysis import (MAIN_GEMEENTE_SHARE, SCOPES, LocalFactorAnalysis, ScopeResult, analyse_group,
                       analysis_frame, correlations_table, coverage_groups, deviations_from_hhs, factor_table,
                       regressions_table, run_analysis, write_outputs)
from .factor_files import (CLUSTERS, DESCRIPTIVE_COLUMNS, FACTOR_KEYS, HHS_FACTORS, ID_COLUMN, RESERVED_NAMES,
                           TEMPLATE_DIR, TEMPLATE_MARK, FactorCoverageWarning, FactorFileError, FactorMeta, FactorSet,
                           FactorSpec, check_wijk_codes, combine_factors, parse_sidecar, read_factor_file,
                           sidecar_path, write_factor_file)
from .narrative import (figure_captions, fragile_notes, general_caveats, headline, hhs_verdict, scope_caveats,
                        sentences, summary_table)
from .plots import (FIGURE_IDS, figure_step, plot_coefficients, plot_factor_table, plot_partial_regression,
                    plot_residual_maps, strongest_factors)
from .robustness import (FRAGILE, NOT_SIGNIFICANT, ROBUST, classify, correlation_influence, influence_measures,
                         influence_table, loo_pearson, regression_influence)
from .sources import (KWB_FACTORS, KWB_LIVE_PATH, KWB_SOURCE, KWB_TABLE_ID, add_precision, collect_factors,
                      find_kwb_table, geometry_vintage, kwb_to_factors, load_geometry, load_results,
                      read_kwb_table, region_label, region_wijken, results_from_wijk_table)
from .spatial import morans_i, polygonal, spatial_weights
from .stats import (PRECISION, adjust_pvalues, bh_significant, correlations, explained_variance, fit_ols, logo_cv,
                    partial_regression_data, pearson, regressions, residual_after, vif)
