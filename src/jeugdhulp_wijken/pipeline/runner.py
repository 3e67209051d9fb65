"""Running a plan: the shared stage once, every region (one in threads, several in worker processes:
:mod:`.schedule`), then the atlas; each step through :mod:`.steps`.

The run manifest (``data/runs/<run id>/manifest.json``) records the git commit, package versions,
every step's parameters, the sha256 of its inputs and outputs (repo-relative paths), its duration
and status, and the status of the run: ``ok``, ``failed`` or ``interrupted``.
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import files, paths
from . import cache
from .edition import build as build_edition, build_region, render_early
from .kernels import kernel_server, one_thread_kernels
from .plan import Context, RunPlan, plan_run
from .schedule import run_regions
from .spec import PipelineError, Spec
from .steps import run_step, run_steps


def _git_commit(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD") or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    """Installed versions of every package pinned in environment.yml. Looked up once per process and version
    of environment.yml (the kernel server does so for all kernels of a run), so a run's manifest and every
    report of the run name the same versions."""
    from ..environment import ENVIRONMENT_YML

    return dict(_installed_versions(files.file_version(ENVIRONMENT_YML)))


@functools.lru_cache(maxsize=2)
def _installed_versions(pins_version: tuple[str, int, int]) -> tuple[tuple[str, str | None], ...]:
    from ..environment import read_pins

    out = []
    for name in sorted(read_pins(pins_version[0])):
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def prepare_data(ctx: Context, mirror: str | None, online: bool) -> None:
    """Make sure the raw inputs exist: generate the synthetic study, or fetch the real data."""
    if ctx.synthetic:
        from .. import synthetic

        print(f"Synthetic study: generating fictional raw data in {ctx.rel(ctx.raw)}", flush=True)
        synthetic.generate(ctx.raw)
    else:
        from .. import sources

        sources.ensure_raw_data(ctx.raw, mirror=mirror, online=online, progress=None)


def gemeente_table(ctx: Context, mirror: str | None = None, online: bool = True):
    """The gemeente -> region table, fetching (or generating) only that table when it is missing."""
    from .. import regions, sources

    if ctx.synthetic:
        if not all(sources.raw_path(i, ctx.raw).is_file() for i in regions.REGIONS_SOURCES):
            prepare_data(ctx, mirror, online)
    else:
        sources.ensure_raw_data(ctx.raw, mirror=mirror, online=online, ids=regions.REGIONS_SOURCES, progress=None)
    return regions.load_gemeente_regions(ctx.raw)


def resolve_regions(entries: list[Any], ctx: Context, mirror: str | None = None, online: bool = True) -> list[Any]:
    """Check every region entry against the gemeente table; refuse unknown entries before anything runs."""
    from .. import regions

    try:
        return regions.expand(entries, gemeente_table(ctx, mirror, online))
    except regions.UnknownRegionError as exc:
        raise PipelineError(str(exc)) from None

# --------------------------------------------------------------------------- the run

def run(spec: Spec, ctx: Context, *, region: Any = None, regions: list[Any] | None = None,
        overrides: dict | None = None, only: list[str] | None = None, start: str | None = None,
        force: bool = False, mirror: str | None = None, online: bool = True, fetch: bool = True,
        progress: bool = True, log_output: bool = False, jobs: int | None = None,
        check_regions: bool = True, edition: bool = True) -> dict[str, Any]:
    """Run the pipeline and return the run manifest (also written to ``<run dir>/manifest.json``).

    ``regions`` is a list of region entries (``all`` expands to every region); ``region`` one region.
    With several regions, ``jobs`` worker processes (default: the number of cores) run them in
    parallel, each with one BLAS/OpenMP thread. ``edition``: afterwards, refresh the teaching edition
    (the executed notebooks as HTML, :mod:`.edition`).
    """
    if fetch and ctx.synthetic:
        prepare_data(ctx, mirror, online)  # first: the regions are checked against the generated study
    entries = regions if regions is not None else ([region] if region is not None else None)
    if entries is not None and check_regions:
        entries = resolve_regions(entries, ctx, mirror, online)
    every = []
    if check_regions and any(i.startswith("each-region:") for s in spec.steps for i in s.inputs):
        every = [paths.region_slug(r) for r in resolve_regions(["all"], ctx, mirror, online)]
    plan = plan_run(spec, ctx, regions=entries, overrides=overrides, only=only, start=start, every_region=every)
    source_hash = cache.code_hash()
    # the kernel server imports the notebooks' libraries while the data are checked and the cache is read (a
    # resident server of the same code has done so already)
    with one_thread_kernels(), kernel_server(source_hash):
        return _run_plan(spec, ctx, plan, source_hash, overrides=overrides, force=force, mirror=mirror,
                         online=online, fetch=fetch, progress=progress, log_output=log_output, jobs=jobs,
                         edition=edition)


def _run_plan(spec: Spec, ctx: Context, plan: RunPlan, source_hash: str, *, overrides: dict | None, force: bool,
              mirror: str | None, online: bool, fetch: bool, progress: bool, log_output: bool, jobs: int | None,
              edition: bool) -> dict[str, Any]:
    if fetch and not ctx.synthetic:
        prepare_data(ctx, mirror, online)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    slugs = list(plan.regions)
    label = slugs[0] if len(slugs) == 1 else (f"{len(slugs)}-regions" if slugs else "national")
    run_id = f"{stamp}_{'synthetic_' if ctx.synthetic else ''}{label}"
    run_dir = ctx.runs / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "run_id": run_id, "started": stamp, "synthetic": ctx.synthetic, "spec": ctx.rel(spec.path),
        "regions": slugs, "git": _git_commit(ctx.root), "python": sys.version.split()[0],
        "platform": platform.platform(), "kernel": cache.KERNEL, "packages": package_versions(),
        "status": "running", "steps": []}
    t_run = time.perf_counter()
    try:
        opts = dict(force=force, progress=progress, log_output=log_output, edition=edition)
        lang = (overrides or {}).get("lang", spec.defaults.get("lang", "nl"))
        planned = {p.step.name for p in plan.after}
        jobs = jobs or os.cpu_count() or 1
        regional = [plans for plans in plan.regions.values() if plans]
        if len(regional) > 1:  # the closing steps (the atlas) run beside the regions
            run_regions(plan, ctx, run_dir, run_id, source_hash, manifest, jobs=jobs, opts=opts,
                        edition=dict(spec=spec, lang=lang, planned=planned) if edition else None)
        else:  # one region: its steps start as soon as the national steps they read are done
            early = None
            if edition and regional:
                slug = next(s for s, plans in plan.regions.items() if plans)
                # the region's pages of the steps that are done, made while its report runs
                early = functools.partial(render_early, build_region, spec=spec, ctx=ctx, slug=slug,
                                          value=plan.region_values[slug], lang=lang)
            run_steps(plan.before + (regional[0] if regional else []), ctx, run_dir, run_id, source_hash,
                      manifest["steps"], width=jobs, early_pages=early, **opts)
            for p in plan.after:
                run_step(p, ctx, run_dir, run_id, source_hash, manifest["steps"], **opts)
        if edition:
            manifest["edition"] = build_edition(spec, ctx, plan.region_values, lang=lang)
            indexes = list(manifest["edition"]["regions"].values())
            print("Leerversie (the executed notebooks as HTML): "
                  + (indexes[0] if len(indexes) == 1 else manifest["edition"]["index"]), flush=True)
        manifest["status"] = "ok"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        raise
    except PipelineError as exc:
        manifest["status"] = "failed"
        manifest["error"] = str(exc)
        raise
    finally:
        manifest["duration_s"] = round(time.perf_counter() - t_run, 3)
        files.write_json(run_dir / "manifest.json", manifest)
        if manifest["status"] == "ok":
            files.write_json(ctx.runs / ("latest_synthetic.json" if ctx.synthetic else "latest.json"),
                             {"run_id": run_id, "manifest": ctx.rel(run_dir / "manifest.json")})
    print(f"Run {run_id}: {manifest['status']} in {manifest['duration_s']:.1f} s; "
          f"manifest {ctx.rel(run_dir / 'manifest.json')}", flush=True)
    return manifest

