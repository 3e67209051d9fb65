"""What the report reads, and where in each artefact every value lives.

All artefacts are read through :func:`catalog.read`. All key lookups are in this module:
:data:`KEYS` maps a logical name to the artefact and the dotted key path(s) that hold it, so
a change in what a step writes is fixed here and nowhere else. A value that is required and
absent stops the report with an error that names the artefact file and the keys tried.

Folders (the standard notebook parameters):

* ``national_dir``: scp_metrics_nl, data_summary_nl, lf_metrics / lf_factor_table of scope nl;
* ``region_dir`` (the region folder, ``input_dir`` of a regional step): region_metrics,
  scp_gemeente_table, scp_extremes, lf_metrics / lf_factor_table of the region;
* ``qualitative_dir``: qual_agreement, qual_theme_frequencies.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import catalog, files


class ReportError(ValueError):
    """An artefact or figure that the report needs is missing or malformed; the message says what to do."""


@dataclass(frozen=True)
class Key:
    source: str | tuple[str, ...]   # a name in :data:`SOURCES`, or several tried in order
    paths: tuple[str, ...]          # dotted key paths, tried in order
    required: bool = True

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


#: Where each source lives: (catalog id, folder role). Folder roles: national, region, qualitative.
SOURCES: dict[str, tuple[str, str]] = {
    "scp_nl": ("scp_metrics_nl", "national"),
    "data_nl": ("data_summary_nl", "national"),
    "lf_nl": ("lf_metrics", "national"),
    "lf_factors_nl": ("lf_factor_table", "national"),
    "region": ("region_metrics", "region"),
    "gemeenten": ("scp_gemeente_table", "region"),
    "extremes": ("scp_extremes", "region"),
    "lf_region": ("lf_metrics", "region"),
    "lf_factors_region": ("lf_factor_table", "region"),
    "qual": ("qual_agreement", "qualitative"),
    "themes": ("qual_theme_frequencies", "qualitative"),
}
#: Sources without which the report is still complete (a section says what is missing).
OPTIONAL_SOURCES = ("lf_factors_nl", "lf_factors_region", "themes")


def _region_paths(*names: str) -> tuple[str, ...]:
    """Candidate paths of a regional summary number in region_metrics."""
    out: list[str] = []
    for n in names:
        out += [f"summary_numbers.region.{n}", f"summary_numbers.{n}", f"summary.{n}", f"headline.{n}", n]
    return tuple(out)


KEYS: dict[str, Key] = {
    # --- national data (data_summary_nl)
    "nl_n_wijken": Key("data_nl", ("national.n_wijken", "headline.n_wijken_nl", "n_wijken")),
    "nl_n_gemeenten": Key("data_nl", ("national.n_gemeenten", "headline.n_gemeenten_nl", "n_gemeenten")),
    "nl_n_jeugdzorgregios": Key("data_nl", ("national.n_jeugdzorgregios", "headline.n_jeugdzorgregios_nl")),
    "nl_n_suppressed": Key("data_nl", ("suppressed.nl", "headline.suppressed_nl"), required=False),
    "data_deviations": Key("data_nl", ("deviations_from_published_study",), required=False),
    "youth_method": Key("data_nl", ("youth_approximation.method",), required=False),
    "geometry_vintage": Key("data_nl", ("geometry.vintage_label_nl", "geometry.vintage_label_region",
                                        "geometry.vintage_label"), required=False),
    # --- national model (scp_metrics_nl)
    "nl_observed_weighted": Key("scp_nl", ("summary_numbers.nl.observed_weighted", "summary_numbers.observed_weighted",
                                           "headline.nl_observed_pct_weighted")),
    "nl_expected_weighted": Key("scp_nl", ("summary_numbers.nl.expected_weighted_all",
                                           "summary_numbers.expected_weighted_all")),
    "nl_observed_unweighted": Key("scp_nl", ("summary_numbers.nl.observed_unweighted",
                                             "summary_numbers.observed_unweighted")),
    "nl_n_with_observed": Key("scp_nl", ("summary_numbers.nl.n_with_observed", "summary_numbers.n_with_observed")),
    "agreement_r_complete": Key("scp_nl", ("target.r_complete_headline", "comparison.overall.complete.r")),
    "agreement_n_complete": Key("scp_nl", ("comparison.overall.complete.n",)),
    "agreement_mae_complete": Key("scp_nl", ("comparison.overall.complete.mae",)),
    "agreement_r_all": Key("scp_nl", ("comparison.overall.all.r",)),
    "agreement_n_all": Key("scp_nl", ("comparison.overall.all.n",)),
    "agreement_target": Key("scp_nl", ("target.r_complete_target",), required=False),
    "headline_variant": Key("scp_nl", ("target.headline_variant",), required=False),
    "best_variant": Key("scp_nl", ("target.best_independent_variant",), required=False),
    "best_variant_r": Key("scp_nl", ("target.best_independent_r_complete",), required=False),
    "recovered_r2": Key("scp_nl", ("recovered_model.r2",), required=False),
    "recovered_n": Key("scp_nl", ("recovered_model.n_fit",), required=False),
    "n_fit": Key("scp_nl", ("reestimated_model.n_fit",)),
    "n_imputed_suppressed": Key("scp_nl", ("reestimated_model.n_imputed_suppressed",), required=False),
    "n_incomplete_determinants": Key("scp_nl", ("meta.exclusions.n_incomplete_determinants",
                                                "reestimated_model.n_incomplete_determinants"), required=False),
    "n_below_min_inhabitants": Key("scp_nl", ("meta.exclusions.n_below_min_inhabitants",), required=False),
    "min_inhabitants": Key("scp_nl", ("meta.exclusions.min_inhabitants", "meta.options.min_inhabitants"),
                           required=False),
    "icc_gemeente": Key("scp_nl", ("reestimated_model.icc.gemeente_incl_region",), required=False),
    "deviation_rule": Key("scp_nl", ("meta.deviation_rule", "deviation.rule")),
    "overdispersion_tau2": Key("scp_nl", ("deviation.overdispersion.tau2",), required=False),
    "published_comparison": Key(("region", "scp_nl"), ("published_comparison",), required=False),
    "hhs_rules": Key(("region", "scp_nl"), ("deviation.rules_reproducing_hhs_40pct", "rules_reproducing_hhs_40pct"),
                     required=False),
    "sensitivity": Key("scp_nl", ("deviation.sensitivity",), required=False),
    "scp_deviations": Key("scp_nl", ("meta.deviations_from_published", "deviations_from_published"),
                          required=False),
    # --- the region (region_metrics)
    "region_name": Key("region", ("meta.region.name", "region.name", "region_name", "region_label",
                                  "region.parameter_label")),
    "region_kind": Key("region", ("meta.region.kind", "region.kind", "region_kind"), required=False),
    "region_n_wijken": Key("region", _region_paths("n_wijken")),
    "region_n_with_observed": Key("region", _region_paths("n_with_observed")),
    "region_observed_weighted": Key("region", _region_paths("observed_weighted")),
    "region_observed_unweighted": Key("region", _region_paths("observed_unweighted")),
    # expected over the wijken with an observation, so that observed and expected cover the same wijken
    "region_expected_weighted": Key("region", _region_paths("expected_weighted_observed_wijken",
                                                            "expected_weighted_all")),
    "region_expected_unweighted": Key("region", _region_paths("expected_unweighted_observed_wijken",
                                                              "expected_unweighted_all")),
    "region_share_higher": Key("region", ("summary.share_higher", "deviation.region_share_higher",
                                          "deviation.share_higher", "headline.region_share_wijken_higher")),
    "region_share_lower": Key("region", ("summary.share_lower", "deviation.region_share_lower",
                                         "deviation.share_lower", "headline.region_share_wijken_lower")),
    "region_share_differing": Key("region", ("summary.share_differing", "deviation.region_share_differing",
                                             "deviation.share_differing", "headline.region_share_wijken_differing")),
    "region_rule": Key("region", ("deviation.rule", "meta.deviation_rule", "deviation_rule"), required=False),
    "region_agreement_r": Key("region", ("comparison.region.complete.r", "comparison.complete.r",
                                         "agreement.complete.r"), required=False),
    "region_agreement_n": Key("region", ("comparison.region.complete.n", "comparison.complete.n",
                                         "agreement.complete.n"), required=False),
    "region_deviations": Key("region", ("deviations_from_published", "meta.region_deviations"), required=False),
    # --- qualitative (qual_agreement)
    "qual_fictional": Key("qual", ("corpus.fictional", "headline.corpus_fictional")),
    "qual_corpus_label": Key("qual", ("corpus.label", "headline.corpus"), required=False),
    "qual_n_sessions": Key("qual", ("headline.n_sessions",), required=False),
    "qual_n_segments": Key("qual", ("headline.n_coded_segments", "coding.n_segments"), required=False),
    "qual_alpha": Key("qual", ("headline.krippendorff_alpha_nominal_pooled",
                               "agreement.overall.krippendorff_alpha_nominal_pooled"), required=False),
    "qual_kappa": Key("qual", ("headline.mean_cohen_kappa", "agreement.overall.mean_cohen_kappa"), required=False),
    "qual_deviations": Key("qual", ("deviations",), required=False),
    "qual_rhk_deviations": Key("qual", ("rondom_het_kind.deviations",), required=False),
}

#: Where the local-factor metrics keep one scope, and what a scope holds.
LF_SCOPE_PATHS = ("scopes.{scope}", "scope_metrics", "")
LF_KEYS = {
    "significant_joint": ("joint_significant_bh",),
    "significant_correlations": ("correlations_significant_bh",),
    "n_wijken": ("n_wijken",),
    "n_gemeenten": ("n_gemeenten",),
    "joint_r2": ("models.joint.r2_residual",),
    "joint_delta_r2": ("models.joint.delta_r2",),
    "joint_n": ("models.joint.n",),
    "cv_rmse_without": ("models.joint.cv_leave_one_gemeente_out.rmse_baseline",),
    "cv_rmse_with": ("models.joint.cv_leave_one_gemeente_out.rmse_factors",),
    "cv_rmse_change_pct": ("models.joint.cv_leave_one_gemeente_out.rmse_change_pct",),
    "cv_folds_better": ("models.joint.cv_leave_one_gemeente_out.folds_factors_better",),
    "cv_folds": ("models.joint.cv_leave_one_gemeente_out.n_folds",),
    "moran_before": ("moran.before.I",),
    "moran_after": ("moran.after.I",),
    "findings": ("findings", "robustness"),
}
#: Robust/fragile classification of a finding, if the local-factor step provides one.
ROBUST_FIELDS = ("classification", "robustness", "status", "verdict")
LF_DEVIATION_PATHS = ("deviations_from_hhs", "deviations_from_published_study")
LF_CAVEAT_PATHS = ("caveats",)


def lookup(doc: Any, dotted: str) -> Any:
    """``doc['a']['b']`` for ``'a.b'``; ``None`` when a part is absent. ``''`` is ``doc`` itself."""
    node = doc
    for part in filter(None, dotted.split(".")):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def first(doc: Any, candidates: tuple[str, ...]) -> Any:
    for path in candidates:
        value = lookup(doc, path)
        if value is not None:
            return value
    return None


@dataclass
class ReportInputs:
    """Every artefact the report reads, and the files it read them from."""
    docs: dict[str, Any]
    files: dict[str, Path]
    synthetic: bool
    missing_optional: list[str] = field(default_factory=list)

    def get(self, name: str) -> Any:
        """The value of logical key ``name`` (see :data:`KEYS`)."""
        key = KEYS[name]
        for source in key.sources:
            doc = self.docs.get(source)
            value = first(doc, key.paths) if doc is not None else None
            if value is not None:
                return value
        if key.required:
            where = " or ".join(str(self.files.get(s) or catalog.filename(SOURCES[s][0])) for s in key.sources)
            files_ = " / ".join(catalog.filename(SOURCES[s][0]) for s in key.sources)
            raise ReportError(f"The report needs '{name}' from {where}, at one of the keys "
                              f"{list(key.paths)}, but none is there. Re-run the step that writes {files_} "
                              f"with the current package, or adapt KEYS in jeugdhulp_wijken/report/inputs.py.")
        return None

    def table(self, source: str) -> pd.DataFrame | None:
        df = self.docs.get(source)
        return df if isinstance(df, pd.DataFrame) else None

    def lf_scope(self, scope: str) -> dict[str, Any] | None:
        """The metrics of one local-factor scope ('nl' or 'region'), or None."""
        doc = self.docs.get(f"lf_{scope}")
        if not isinstance(doc, dict):
            return None
        for template in LF_SCOPE_PATHS:
            node = lookup(doc, template.format(scope=scope))
            if isinstance(node, dict) and ("models" in node or "n_wijken" in node):
                return node
        scopes = doc.get("scopes")
        if isinstance(scopes, dict) and len(scopes) == 1:  # a file with exactly one scope
            return next(iter(scopes.values()))
        return None

    def lf(self, scope: str, name: str) -> Any:
        node = self.lf_scope(scope)
        return first(node, LF_KEYS[name]) if node is not None else None

    def lf_doc_list(self, scope: str, paths: tuple[str, ...]) -> list[str]:
        doc = self.docs.get(f"lf_{scope}")
        value = first(doc, paths) if isinstance(doc, dict) else None
        return [str(v) for v in value] if isinstance(value, list) else []


def folders(national_dir: str | os.PathLike, region_dir: str | os.PathLike,
            qualitative_dir: str | os.PathLike) -> dict[str, Path]:
    return {"national": Path(national_dir), "region": Path(region_dir), "qualitative": Path(qualitative_dir)}


def load(national_dir: str | os.PathLike, region_dir: str | os.PathLike, qualitative_dir: str | os.PathLike,
         synthetic: bool = False) -> ReportInputs:
    """Read every artefact of :data:`SOURCES` through the catalog."""
    dirs = folders(national_dir, region_dir, qualitative_dir)
    docs: dict[str, Any] = {}
    paths: dict[str, Path] = {}
    missing_optional: list[str] = []
    for source, (artefact_id, role) in SOURCES.items():
        p = catalog.path(artefact_id, dirs[role], synthetic)
        if not p.is_file() and source in OPTIONAL_SOURCES:
            missing_optional.append(str(p))
            continue
        try:
            docs[source] = catalog.read(artefact_id, dirs[role], synthetic)
        except FileNotFoundError as exc:
            raise ReportError(f"The report cannot be made: {exc}") from None
        except ValueError as exc:
            raise ReportError(f"The report cannot read {p}: {exc}") from None
        paths[source] = p
    return ReportInputs(docs, paths, synthetic, missing_optional)


def input_hashes(inputs: ReportInputs, extra: dict[str, Path] | None = None) -> dict[str, str]:
    """sha256 of every file the report read, keyed '<folder>/<file name>' (no absolute paths, so the
    listing is the same wherever the run happened)."""
    out = {}
    for source, p in sorted(inputs.files.items()):
        out[f"{SOURCES[source][1]}/{p.name}"] = files.sha256_file(p)
    for label, p in sorted((extra or {}).items()):
        out[label] = files.sha256_file(p)
    return dict(sorted(out.items()))
