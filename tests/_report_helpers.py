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

from jeugdhulp_wijken import paths, pipeline

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


@lru_cache(maxsize=1)
def synthetic_report_study() -> ReportStudy:
    ctx = pipeline.Context.make(True, derived=_TMP / "derived", figures=_TMP / "figures", runs=_TMP / "runs",
                                raw=_TMP / "raw")
    spec = pipeline.load_spec()
    steps = [s.name for s in spec.steps if s.name not in REPORT_STEPS and "atlas" not in s.name]
    manifest = pipeline.run(spec, ctx, region=REGION, only=steps, force=True, progress=False)
    assert manifest["status"] == "ok", manifest
    return ReportStudy(ctx, REGION, ctx.derived / "national", ctx.derived / paths.region_slug(REGION),
                       ctx.derived / "qualitative", ctx.figures, ctx.raw, ctx.runs / manifest["run_id"])
