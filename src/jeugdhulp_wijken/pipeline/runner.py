"""Running a plan: the shared stage once, every region (in parallel workers), then the atlas.

The run manifest (``data/runs/<run id>/manifest.json``) records the git commit, package versions,
every step's parameters, the sha256 of its inputs and outputs (repo-relative paths), its duration
and status, and the status of the run: ``ok``, ``failed`` or ``interrupted``.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from .. import files, paths
from . import cache
from .edition import build as build_edition
from .edition_html import warm_up as edition_warm_up
from .execute import execute_step, executed_notebook
from .kernels import kernel_server
from .plan import Context, RunPlan, StepPlan, plan_run
from .spec import PipelineError, Spec, StepFailed

#: Thread limits (BLAS/OpenMP) of every kernel a run starts and of its region workers: one thread each.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _git_commit(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD") or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    """Installed versions of every package pinned in environment.yml."""
    from ..environment import read_pins

    out = {}
    for name in sorted(read_pins()):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


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


def run_step(plan: StepPlan, ctx: Context, run_dir: Path, run_id: str, source_hash: str, sink: list[dict], *,
             force: bool, progress: bool, log_output: bool, verbose: bool = True,
             edition: bool = False) -> dict[str, Any]:
    """Run (or serve from the cache) one step; its manifest entry is appended to ``sink`` and returned.
    ``edition``: the run makes the teaching edition afterwards (nbconvert then loads while the step runs)."""
    t0 = time.perf_counter()
    entry: dict[str, Any] = {**cache.describe(plan), "status": "failed"}
    sink.append(entry)
    key, input_hashes = cache.cache_key(plan, source_hash, ctx.rel)
    entry.update(parameters={k: ctx.rel(v) if k.endswith(("_dir", "_root")) and isinstance(v, str) else v
                             for k, v in plan.parameters.items()},
                 inputs=input_hashes, cache_key=key)
    prefix = f"[{plan.index}/{plan.total}] {plan.label}"
    if not force and cache.is_cached(plan, key):
        entry.update(status="cached", duration_s=round(time.perf_counter() - t0, 3),
                     outputs=cache.output_hashes(plan, ctx.rel))
        if verbose:
            print(f"{prefix}: unchanged, served from cache", flush=True)
        return entry
    if verbose:
        print(f"{prefix}: running {plan.step.notebook} ...", flush=True)
    if edition:
        _warm_up_edition()
    try:
        execute_step(plan, run_dir, progress=progress, log_output=log_output, rel=ctx.rel)
    except BaseException:
        entry.update(status="failed", duration_s=round(time.perf_counter() - t0, 3),
                     executed_notebook=ctx.rel(executed_notebook(run_dir, plan)))
        raise
    cache.write_record(plan, key, run_id)
    entry.update(status="ran", duration_s=round(time.perf_counter() - t0, 3),
                 executed_notebook=ctx.rel(executed_notebook(run_dir, plan)),
                 outputs=cache.output_hashes(plan, ctx.rel))
    if verbose:
        print(f"{prefix}: done in {entry['duration_s']:.1f} s", flush=True)
    return entry


_EDITION_WARMING: list[threading.Thread] = []
_EDITION_LOCK = threading.Lock()


def _warm_up_edition() -> None:
    """Once per process, when the first step runs (not in a run served from the cache): load nbconvert for
    the teaching edition in a background thread, while the kernels work."""
    with _EDITION_LOCK:
        if not _EDITION_WARMING:
            _EDITION_WARMING.append(threading.Thread(target=edition_warm_up, name="edition-warm-up", daemon=True))
            _EDITION_WARMING[0].start()


# --------------------------------------------------------------------------- steps side by side

@contextmanager
def one_thread_kernels():
    """The kernels started inside use one BLAS/OpenMP thread, as a parallel worker's do: steps that run
    side by side do not oversubscribe the cores (BLAS threads that wait for a busy core slow a model
    fit many times over), and a step's numbers do not depend on what ran beside it."""
    saved = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    os.environ.update({var: "1" for var in THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def step_dependencies(plans: list[StepPlan]) -> list[set[int]]:
    """For each step, the earlier steps of ``plans`` it waits for: those whose outputs it reads, or
    every earlier step when it reads their figures (``figure_inputs``)."""
    outputs = [{Path(o).resolve() for o in p.outputs} for p in plans]
    deps = []
    for i, p in enumerate(plans):
        if p.step.figure_inputs:
            deps.append(set(range(i)))
            continue
        reads = {Path(x).resolve() for x in p.inputs}
        deps.append({j for j in range(i) if outputs[j] & reads})
    return deps


def run_steps(plans: list[StepPlan], ctx: Context, run_dir: Path, run_id: str, source_hash: str,
              sink: list[dict], *, width: int, force: bool, progress: bool, log_output: bool,
              verbose: bool = True, edition: bool = False) -> None:
    """Run steps in plan order (the national stage, with the region's steps when a run has one region; or
    one region's steps in a worker). With ``width`` > 1, a step starts as soon as the steps it reads from
    are done, at most ``width`` at once, each in its own kernel: the qualitative coding beside the national
    chain, a region's maps beside the national local-factor analysis and its own. Manifest entries keep the plan's order; the first failure stops new steps and is raised
    once the running ones have ended."""
    if width <= 1 or len(plans) < 2:
        for p in plans:
            run_step(p, ctx, run_dir, run_id, source_hash, sink, force=force, progress=progress,
                     log_output=log_output, verbose=verbose, edition=edition)
        return
    deps = step_dependencies(plans)
    entries: list[list[dict]] = [[] for _ in plans]
    done: set[int] = set()
    running: dict[Any, int] = {}
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=width) as pool:
        while True:
            for i, p in enumerate(plans):
                if (error is None and len(running) < width and i not in done and i not in running.values()
                        and deps[i] <= done):
                    running[pool.submit(run_step, p, ctx, run_dir, run_id, source_hash, entries[i], force=force,
                                        progress=False, log_output=log_output, verbose=verbose,
                                        edition=edition)] = i
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = running.pop(fut)
                try:
                    fut.result()
                    done.add(i)
                except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others end
                    error = error or exc
    for e in entries:
        sink.extend(e)
    if error is not None:
        raise error


# --------------------------------------------------------------------------- parallel regions

def _run_region(plans: list[StepPlan], ctx: Context, run_dir: Path, run_id: str, source_hash: str,
                force: bool, edition: dict[str, Any] | None = None) -> tuple[list[dict], str | None]:
    """Worker: run steps of one region in order, then, if ``edition`` is given (the arguments of
    :func:`.edition.build_region`), render the region's teaching-edition pages; returns (manifest entries,
    error message or None). An edition page that cannot be made here is left to the run's final edition
    build, which reports it."""
    entries: list[dict] = []
    try:
        run_steps(plans, ctx, run_dir, run_id, source_hash, entries, width=1, force=force, progress=False,
                  log_output=False, verbose=False, edition=edition is not None)
    except PipelineError as exc:
        return entries, str(exc)
    if edition is not None:
        from .edition import build_region

        try:
            build_region(ctx=ctx, **edition)
        except PipelineError:
            pass
    return entries, None


def _warm_worker() -> None:
    """Worker: import papermill and load nbconvert before the worker's first region."""
    from .execute import _papermill

    _papermill()
    edition_warm_up()


def _shared_pages(ctx: Context, edition: dict[str, Any]) -> None:
    """The teaching-edition pages of the shared steps, rendered while the regions run; a page that cannot be
    made here is left to the run's final edition build, which reports it."""
    from .edition import build_shared

    try:
        build_shared(ctx=ctx, **edition)
    except PipelineError:
        pass


def _region_sizes(ctx: Context, national: list[StepPlan], values: dict[str, Any]) -> dict[str, int]:
    """The size of each region, to start the largest first ("longest job first"), so that a run of many
    regions ends on small ones instead of leaving one worker busy with a large region while the others
    wait: its wijken in the national wijk table once that exists, else its gemeenten; empty when the
    gemeente table cannot be read (a test pipeline's made-up regions: plan order)."""
    from .. import catalog, regions

    try:
        table = regions.load_gemeente_regions(ctx.raw)
        members = {slug: regions.resolve_region(value, table).gemeente_codes for slug, value in values.items()}
    except (OSError, ValueError, KeyError, regions.RegionDataError):
        return {}
    wijken = next((catalog.path("wijk_table_nl", p.output_dir, ctx.synthetic) for p in national
                   if "wijk_table_nl" in p.step.outputs), None)
    if wijken is not None and wijken.is_file():
        per_gemeente = catalog.read("wijk_table_nl", wijken.parent, ctx.synthetic)["gemeente_code"].value_counts()
        return {slug: int(per_gemeente.reindex(list(codes)).fillna(0).sum()) for slug, codes in members.items()}
    return {slug: len(codes) for slug, codes in members.items()}


def _region_line(i: int, n: int, slug: str, entries: list[dict], seconds: float, error: str | None) -> str:
    ran = sum(e.get("status") == "ran" for e in entries)
    cached = sum(e.get("status") == "cached" for e in entries)
    state = "FAILED" if error else "done"
    return f"[region {i}/{n}] {slug}: {state} after {seconds:.1f} s ({ran} ran, {cached} from cache)"


class _Schedule:
    """What runs next, when a run has several regions: the shared steps and the regions share ``jobs``
    slots. A shared step goes first once the steps it reads are done; then the rest of a started region,
    then a new region, each as far as the shared steps it reads are done; last, a worker's imports. So
    the regions' maps and local factors start as soon as the model is fitted, beside the national
    local-factor analysis, and a region's report follows once that analysis is done."""

    def __init__(self, national: list[StepPlan], regions: dict[str, list[StepPlan]], jobs: int, *,
                 sizes: Callable[[], dict[str, int]] = dict, pages: bool = False):
        self.national, self.jobs = national, jobs
        self.nat_deps = step_dependencies(national)
        self.regions = {slug: plans for slug, plans in regions.items() if plans}
        self.sizes, self.size = sizes, None  # region sizes, asked for when the first region starts
        self.pages = pages  # the shared teaching-edition pages are still to render, once the shared steps are done
        n = len(national)
        self.reg_deps = {slug: [d & set(range(n)) for d in step_dependencies(national + plans)[n:]]
                         for slug, plans in self.regions.items()}
        self.nat_started: set[int] = set()
        self.nat_done: set[int] = set()
        self.next_step = {slug: 0 for slug in self.regions}
        self.busy: set[str] = set()
        self.warm_ups = min(jobs, len(self.regions))

    def ready_count(self, slug: str) -> int:
        """How many of the region's next steps can run now (the shared steps they read are done)."""
        plans, k = self.regions[slug], self.next_step[slug]
        end = k
        while end < len(plans) and self.reg_deps[slug][end] <= self.nat_done:
            end += 1
        return end - k

    def next_task(self) -> tuple | None:
        for i in range(len(self.national)):
            if i not in self.nat_started and self.nat_deps[i] <= self.nat_done:
                self.nat_started.add(i)
                return ("national", i)
        if self.pages and len(self.nat_done) == len(self.national):
            self.pages = False
            return ("pages",)
        waiting = [s for s in self.regions if s not in self.busy and self.next_step[s] < len(self.regions[s])]
        if waiting and self.size is None and any(self.ready_count(s) for s in waiting):
            self.size = self.sizes()
        # started regions first, then the largest
        for slug in sorted(waiting, key=lambda s: (self.next_step[s] == 0, -(self.size or {}).get(s, 0))):
            count = self.ready_count(slug)
            if count:
                k = self.next_step[slug]
                self.busy.add(slug)
                return ("region", slug, k, k + count)
        if self.warm_ups and waiting:
            self.warm_ups -= 1
            return ("warm",)
        return None

    def region_ran(self, slug: str, end: int, failed: bool) -> bool:
        """Record a region task's end; True when the region is finished (all its steps, or a failure)."""
        self.busy.discard(slug)
        self.next_step[slug] = len(self.regions[slug]) if failed else end
        return self.next_step[slug] == len(self.regions[slug])


def _run_stages(plan: RunPlan, ctx: Context, run_dir: Path, run_id: str, source_hash: str, manifest: dict, *,
                jobs: int, opts: dict[str, Any], edition: dict[str, Any] | None) -> None:
    """Several regions: the shared steps in threads of this process and the regions in worker processes
    (each with one BLAS/OpenMP thread), ``jobs`` at a time in all (:class:`_Schedule`), a progress line per
    region. The first failure of a shared step stops new work and is raised once the running work has
    ended; a failed region does not stop the others and is reported at the end."""
    import multiprocessing

    sched = _Schedule(plan.before, plan.regions, jobs, pages=edition is not None,
                      sizes=lambda: _region_sizes(ctx, plan.before, plan.region_values))
    n = len(sched.regions)
    print(f"{n} regions; {jobs} at a time, one BLAS/OpenMP thread each", flush=True)
    nat_entries: list[list[dict]] = [[] for _ in plan.before]
    reg_entries: dict[str, list[dict]] = {slug: [] for slug in sched.regions}
    failures: list[str] = []
    error: BaseException | None = None
    finished_regions = 0
    started = time.perf_counter()
    running: dict[Any, tuple] = {}
    # spawned inside run()'s one_thread_kernels() and kernel_server(): the workers inherit one BLAS thread
    # and the server's address, so their kernels are forked from the run's one server
    with ThreadPoolExecutor(max_workers=jobs) as threads, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as workers:
        try:
            while True:
                while error is None and len(running) < jobs and (task := sched.next_task()) is not None:
                    if task[0] == "national":
                        fut = threads.submit(run_step, plan.before[task[1]], ctx, run_dir, run_id, source_hash,
                                             nat_entries[task[1]], **{**opts, "progress": False})
                    elif task[0] == "region":
                        slug, k, end = task[1:]
                        last = end == len(sched.regions[slug])
                        fut = workers.submit(_run_region, sched.regions[slug][k:end], ctx, run_dir, run_id,
                                             source_hash, opts["force"],
                                             {**edition, "slug": slug, "value": plan.region_values[slug]}
                                             if edition is not None and last else None)
                    elif task[0] == "pages":
                        fut = threads.submit(_shared_pages, ctx, edition)
                    else:
                        fut = workers.submit(_warm_worker)
                    running[fut] = task
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = running.pop(fut)
                    try:
                        result = fut.result()
                    except BaseException as exc:  # noqa: BLE001 - raised below, after the running work ends
                        error = error or exc
                        continue
                    if task[0] == "national":
                        sched.nat_done.add(task[1])
                    elif task[0] == "region":
                        slug, entries, message = task[1], *result
                        reg_entries[slug].extend(entries)
                        if sched.region_ran(slug, task[3], failed=message is not None):
                            finished_regions += 1
                            print(_region_line(finished_regions, n, slug, reg_entries[slug],
                                               time.perf_counter() - started, message), flush=True)
                        if message:
                            failures.append(f"{slug}: {message}")
        except KeyboardInterrupt:
            workers.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            for entries in nat_entries:
                manifest["steps"].extend(entries)
            for slug in plan.regions:
                manifest["steps"].extend(reg_entries.get(slug, []))
    if error is not None:
        raise error
    if failures:
        raise StepFailed(f"{len(failures)} of {n} regions failed:\n" + "\n".join(failures))


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
    # the kernel server imports the notebooks' libraries while the data are checked and the cache is read
    with one_thread_kernels(), kernel_server():
        return _run_plan(spec, ctx, plan, overrides=overrides, force=force, mirror=mirror, online=online,
                         fetch=fetch, progress=progress, log_output=log_output, jobs=jobs, edition=edition)


def _run_plan(spec: Spec, ctx: Context, plan: RunPlan, *, overrides: dict | None, force: bool, mirror: str | None,
              online: bool, fetch: bool, progress: bool, log_output: bool, jobs: int | None,
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
    source_hash = cache.code_hash()
    t_run = time.perf_counter()
    try:
        opts = dict(force=force, progress=progress, log_output=log_output, edition=edition)
        lang = (overrides or {}).get("lang", spec.defaults.get("lang", "nl"))
        planned = {p.step.name for p in plan.after}
        jobs = jobs or os.cpu_count() or 1
        regional = [plans for plans in plan.regions.values() if plans]
        if len(regional) == 1:  # one region: its steps start as soon as the national steps they read are done
            run_steps(plan.before + regional[0], ctx, run_dir, run_id, source_hash, manifest["steps"], width=jobs,
                      **opts)
        elif not regional:
            run_steps(plan.before, ctx, run_dir, run_id, source_hash, manifest["steps"], width=jobs, **opts)
        else:
            _run_stages(plan, ctx, run_dir, run_id, source_hash, manifest, jobs=jobs, opts=opts,
                        edition=dict(spec=spec, lang=lang, planned=planned) if edition else None)
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

