"""The catalog: every artefact of the pipeline, declared once, read and written through one function.

An artefact has an id (used in ``pipeline.yml`` and in code) and a file name. The folder it lives
in is the folder of the stage that writes it (``{derived}/national``, ``{derived}/<region>``, ...);
the pipeline passes that folder to each notebook. Synthetic runs prefix every file name with
``synthetic_`` (:func:`paths.artefact`).

    catalog.path("scp_results_nl", national_dir, synthetic)
    df = catalog.read("scp_results_nl", national_dir, synthetic)
    catalog.write(df, "scp_results_nl", output_dir, synthetic)

Writers are deterministic (same data, same bytes) and atomic: parquet without varying metadata,
GeoPackages with a fixed GDAL date, HTML with stable element ids, the compendium's JSON.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files, paths


@dataclass(frozen=True)
class Artefact:
    id: str
    file: str
    description: str

    @property
    def suffix(self) -> str:
        return Path(self.file).suffix.lower()


_ENTRIES: tuple[tuple[str, str, str], ...] = (
    # national stage: data preparation (notebook 01)
    ("wijk_table_nl", "01_wijk_table_nl.parquet", "validated national wijk table, 2017 indeling"),
    ("wijk_geometry_nl", "01_wijk_geometry_nl.gpkg", "best available wijk polygons, all wijken"),
    ("local_factors_public", "01_local_factors_public.csv", "public local factors per wijk"),
    ("local_factors_public_meta", "01_local_factors_public.yml", "sidecar of the public local factors"),
    ("missing_geometry", "01_missing_geometry.csv", "wijken without a polygon and why"),
    ("data_summary_nl", "01_data_summary.json", "national data summary and stated deviations"),
    # national stage: SCP model (notebook 02)
    ("scp_results_nl", "02_scp_wijk_results_nl.parquet", "observed, expected and class for every wijk"),
    ("scp_coefficients", "02_scp_coefficients.csv", "re-estimated and recovered coefficients"),
    ("scp_sensitivity", "02_scp_deviation_sensitivity.csv", "share of deviating wijken per rule and scope"),
    ("scp_metrics_nl", "02_scp_metrics_nl.json", "national model metrics and comparisons"),
    # local factors (notebook 03), written in the folder of the scope that was analysed
    ("lf_metrics", "03_local_factor_metrics.json", "local-factor metrics of one scope"),
    ("lf_correlations", "03_correlations.csv", "correlations of factors with the difference"),
    ("lf_regressions", "03_regressions.csv", "cluster regressions"),
    ("lf_factor_table", "03_factor_table.csv", "factors, coverage and findings"),
    ("lf_influence", "03_influence.csv", "leave-one-out influence of single wijken"),
    # qualitative stage (notebook 04)
    ("qual_segments", "04_coded_segments.csv", "coded transcript segments"),
    ("qual_theme_frequencies", "04_theme_frequencies.csv", "theme frequencies"),
    ("qual_cooccurrence", "04_cooccurrence.csv", "theme co-occurrence"),
    ("qual_agreement", "04_agreement.json", "inter-coder agreement"),
    ("qual_precoder_evaluation", "04_precoder_evaluation.csv", "pre-coder against coder A"),
    ("qual_quotes", "04_quotes.csv", "quotes per theme"),
    ("qual_theme_factor_links", "04_theme_factor_links.csv", "themes linked to local factors"),
    ("qual_codebook", "04_codebook.qdc", "codebook, REFI-QDA"),
    ("qual_project", "04_coded_project.qdpx", "coded project, REFI-QDA"),
    ("qual_anonymisation_log", "04_anonymisation_log.json", "pseudonymisation report"),
    ("qual_rhk_codebook", "04_rhk_codebook.qdc", "Rondom het Kind codebook, REFI-QDA"),
    ("qual_rhk_segments", "04_rhk_coded_segments.csv", "Rondom het Kind coded segments"),
    ("qual_rhk_help_questions", "04_rhk_help_questions.csv", "Rondom het Kind help questions"),
    ("qual_rhk_factor_frequencies", "04_rhk_factor_frequencies.csv", "Rondom het Kind factor frequencies"),
    # regional stage: the region slice (notebook 05)
    ("wijk_table_region", "05_wijk_table_region.parquet", "the region's rows of the national wijk table"),
    ("wijk_geometry_region", "05_wijk_geometry_region.gpkg", "the region's wijk polygons"),
    ("scp_results_region", "05_scp_wijk_results_region.parquet", "observed, expected and class per wijk"),
    ("scp_gemeente_table", "05_scp_gemeente_table.csv", "per-gemeente observed and expected"),
    ("scp_extremes", "05_scp_appendix_extremes.csv", "highest and lowest wijk per gemeente"),
    ("data_overview", "05_data_overview.csv", "the region next to the Netherlands"),
    ("region_metrics", "05_region_metrics.json", "the region's summary numbers"),
    # regional stage: the report (notebook 06)
    ("report_html", "rapport.html", "the region's study report"),
    ("key_numbers", "06_key_numbers.json", "every number the report cites"),
    ("report_pdf", "rapport.pdf", "the region's report printed to PDF (optional, needs Chromium)"),
    # atlas (notebook 07)
    ("atlas_table", "atlas_regions.csv", "per-region numbers of the atlas"),
    ("atlas_html", "atlas.html", "the atlas of all jeugdzorgregio's"),
)

CATALOG: dict[str, Artefact] = {a: Artefact(a, f, d) for a, f, d in _ENTRIES}
if len(CATALOG) != len(_ENTRIES):  # pragma: no cover - guards the table above
    raise RuntimeError("catalog: duplicate artefact id")


class CatalogError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def artefact(artefact_id: str) -> Artefact:
    try:
        return CATALOG[artefact_id]
    except KeyError:
        raise CatalogError(f"Unknown artefact id '{artefact_id}'. Declared ids are in "
                           f"jeugdhulp_wijken/catalog.py: {', '.join(sorted(CATALOG))}.") from None


def filename(artefact_id: str) -> str:
    return artefact(artefact_id).file


def path(artefact_id: str, directory: str | os.PathLike, synthetic: bool = False) -> Path:
    """Where artefact ``artefact_id`` lives in ``directory`` (with the synthetic prefix if needed)."""
    return paths.artefact(directory, filename(artefact_id), synthetic)


def producing_steps(artefact_id: str) -> list[tuple[str, str]]:
    """[(step name, notebook)] of the steps of ``pipeline.yml`` that write an artefact.

    Read from the spec file itself, so that the catalog does not depend on the pipeline package.
    (The local-factor artefacts have two: the national and the regional scope of notebook 03.)
    """
    import yaml

    try:
        doc = files.load_yaml(paths.PIPELINE_SPEC.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    return [(str(s.get("name")), str(s.get("notebook"))) for s in doc.get("steps") or []
            if artefact_id in (s.get("outputs") or [])]


def missing_message(artefact_id: str, p: Path, synthetic: bool = False) -> str:
    """What to say when an artefact is missing: the file, what it is, and the command that makes it."""
    demo = " --synthetic" if synthetic else ""
    everything = "`make demo` (the synthetic study)" if synthetic else "`make reproduce` (the whole study)"
    steps = producing_steps(artefact_id)
    if not steps:
        return (f"{p} does not exist ({artefact(artefact_id).description}). Run {everything}; "
                "`jhw-reproduce --list` shows the steps.")
    names = " or ".join(f"'{name}' ({notebook})" for name, notebook in steps)
    only = " or ".join(f"`jhw-reproduce{demo} --only {name}`" for name, _ in steps)
    return (f"{p} does not exist ({artefact(artefact_id).description}). It is written by step {names}: run "
            f"{everything}, or only that step with {only} once the steps before it have run.")


def read(artefact_id: str, directory: str | os.PathLike, synthetic: bool = False) -> Any:
    """Read an artefact: DataFrame (parquet/csv), GeoDataFrame (gpkg), dict (json/yml) or text.

    A missing artefact raises FileNotFoundError naming the file and the command that makes it.
    """
    p = path(artefact_id, directory, synthetic)
    if not p.is_file():
        raise FileNotFoundError(missing_message(artefact_id, p, synthetic))
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd
        return pd.read_parquet(p)
    if suffix == ".csv":
        import pandas as pd
        return pd.read_csv(p, dtype={"wijk_code": str, "gemeente_code": str, "jz_code": str})
    if suffix == ".gpkg":
        from . import geometry
        return geometry.read_geometry(p)
    if suffix == ".json":
        return files.read_json(p)
    if suffix in (".yml", ".yaml"):
        return files.load_yaml(p.read_text(encoding="utf-8"))
    return p.read_text(encoding="utf-8")


def write(obj: Any, artefact_id: str, directory: str | os.PathLike, synthetic: bool = False) -> Path:
    """Write an artefact deterministically and atomically; returns its path."""
    p = path(artefact_id, directory, synthetic)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        # pyarrow's file metadata (created_by, the pandas schema) depends only on the data and the
        # pinned versions; no timestamps, so the same frame gives the same bytes
        buf = io.BytesIO()
        obj.to_parquet(buf, index=False, engine="pyarrow", compression="snappy")
        return files.write_bytes_atomic(p, buf.getvalue())
    if suffix == ".csv":
        return files.write_text_atomic(p, obj.to_csv(index=False, lineterminator="\n"))
    if suffix == ".gpkg":
        from . import geometry
        return geometry.write_geometry(obj, p)
    if suffix == ".json":
        return files.write_json(p, obj)
    if suffix in (".yml", ".yaml"):
        import yaml
        return files.write_text_atomic(p, yaml.safe_dump(files.plain(obj), sort_keys=False, allow_unicode=True))
    if suffix == ".html":
        return files.write_html(p, str(obj))
    if isinstance(obj, bytes):
        return files.write_bytes_atomic(p, obj)
    return files.write_text_atomic(p, str(obj))
