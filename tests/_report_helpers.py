"""The synthetic study, run once per test session up to (not including) the report step, for the
report and browser tests.

The pipeline runs every step before the report on the synthetic study (offline, fictional data) in a
temporary folder. :class:`ReportStudy` gives the folders the report reads: the national stage, the
region folder and the qualitative folder, the figure root, and the raw folder.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jeugdhulp_wijken import catalog, paths, pipeline

REGION = "JZ01"
REPORT_STEPS = ("report", "rapport")

_TMP = Path(tempfile.mkdtemp(prefix="jhw-report-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


@dataclass(frozen=True)
class ReportStudy:
    ctx: pipeline.Context
    region: str
    national_dir: Path
    region_dir: Path
    qualitative_dir: Path
    figures_root: Path
    raw_dir: Path
    run_dir: Path

    @property
    def report_dir(self) -> Path:
        return self.figures_root / paths.region_slug(self.region)

    def build(self, lang: str = "nl", national_dir: Path | None = None, region_dir: Path | None = None,
              figures_root: Path | None = None, **kw):
        """The report of the synthetic region (folders can be swapped for modified copies)."""
        from jeugdhulp_wijken import report

        return report.build_report(national_dir or self.national_dir, region_dir or self.region_dir,
                                   self.qualitative_dir, figures_root or self.figures_root, self.region,
                                   synthetic=True, lang=lang, raw_dir=self.raw_dir, **kw)


# Where the steps before the new pipeline shape wrote what the catalog now declares (artefact id ->
# file in the region folder). Used only while the national/regional split has not landed: once the
# pipeline writes the catalog layout itself, nothing is copied.
_LEGACY = {
    "national": {"data_summary_nl": "01_data_summary.json", "scp_metrics_nl": "02_scp_metrics.json",
                 "lf_metrics": "03_local_factor_metrics.json", "lf_factor_table": "03_factor_table.csv"},
    "region": {"region_metrics": "02_scp_metrics.json", "scp_gemeente_table": "02_scp_gemeente_table.csv",
               "scp_extremes": "02_scp_appendix_extremes.csv", "lf_metrics": "03_local_factor_metrics.json",
               "lf_factor_table": "03_factor_table.csv", "scp_results_region": "02_scp_wijk_results_region.parquet",
               "wijk_geometry_region": "01_wijk_geometry_region.gpkg"},
}


def _legacy_layout(derived: Path, national: Path, region_dir: Path) -> None:
    for role, ids in _LEGACY.items():
        target = national if role == "national" else region_dir
        for artefact_id, old in ids.items():
            new = catalog.path(artefact_id, target, True)
            src = paths.artefact(region_dir, old, True)
            if not new.is_file() and src.is_file():
                new.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, new)


@lru_cache(maxsize=1)
def synthetic_report_study() -> ReportStudy:
    ctx = pipeline.Context.make(True, derived=_TMP / "derived", figures=_TMP / "figures", runs=_TMP / "runs",
                                raw=_TMP / "raw")
    spec = pipeline.load_spec()
    steps = [s.name for s in spec.steps if s.name not in REPORT_STEPS and "atlas" not in s.name]
    manifest = pipeline.run(spec, ctx, region=REGION, only=steps, force=True, progress=False)
    assert manifest["status"] == "ok", manifest
    slug = paths.region_slug(REGION)
    national, region_dir = ctx.derived / "national", ctx.derived / slug
    _legacy_layout(ctx.derived, national, region_dir)
    return ReportStudy(ctx, REGION, national, region_dir, ctx.derived / "qualitative", ctx.figures, ctx.raw,
                       ctx.runs / manifest["run_id"])
