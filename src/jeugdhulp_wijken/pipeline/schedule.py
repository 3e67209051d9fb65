"""A run of several regions: the shared steps in threads of the run and the regions in worker processes
share ``jobs`` slots (:class:`Schedule`); a progress line per region.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .edition_html import warm_up as edition_warm_up
from .plan import Context, RunPlan, StepPlan
from .spec import PipelineError, StepFailed
from .steps import in_slots, run_step, run_steps, say, step_dependencies


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
        from .edition import build_region, render_early

        render_early(build_region, ctx=ctx, **edition)
    return entries, None


def _warm_worker() -> None:
    """Worker: import papermill and load nbconvert before the worker's first region."""
    from .execute import _papermill

    _papermill()
    edition_warm_up()


def _shared_pages(ctx: Context, edition: dict[str, Any]) -> None:
    """The teaching-edition pages of the shared steps, rendered while the regions run."""
    from .edition import build_shared, render_early

    render_early(build_shared, ctx=ctx, **edition)


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


def _in_order(tasks: dict[int, list[dict]]) -> list[dict]:
    """The manifest entries of a region's tasks (keyed by their first step), in the order of its steps."""
    return [entry for first in sorted(tasks) for entry in tasks[first]]


def _region_line(i: int, n: int, slug: str, entries: list[dict], seconds: float, error: str | None) -> str:
    ran = sum(e.get("status") == "ran" for e in entries)
    cached = sum(e.get("status") == "cached" for e in entries)
    state = "FAILED" if error else "done"
    return f"[region {i}/{n}] {slug}: {state} after {seconds:.1f} s ({ran} ran, {cached} from cache)"


class Schedule:
    """What runs next, when a run has several regions: the shared steps and the regions share ``jobs``
    slots. A shared step goes first once the steps it reads are done; then the rest of a started region,
    then a new region, each as far as the steps it reads are done; last, a worker's imports. So the
    regions' maps and local factors start as soon as the model is fitted, beside the national local-factor
    analysis, and a region's report follows once that analysis is done. ``national``: the shared steps, the
    closing ones (the atlas) included; they are tasks of kind "national".

    A region task runs consecutive steps of one region in one worker. The last ``jobs`` regions to start
    go step by step instead, so that their steps that do not read each other (the maps and the local
    factors) run side by side and the run does not end with one worker busy on a whole region while the
    others wait."""

    def __init__(self, national: list[StepPlan], regions: dict[str, list[StepPlan]], jobs: int, *,
                 sizes: Callable[[], dict[str, int]] = dict, pages: bool = False):
        self.national = national
        self.nat_deps = step_dependencies(national)
        self.regions = {slug: plans for slug, plans in regions.items() if plans}
        self.sizes, self.size = sizes, None  # region sizes, asked for when the first region starts
        self.pages = pages  # the shared teaching-edition pages are still to render, once the shared steps are done
        self.jobs = jobs
        n = len(national)
        # per region step: the shared steps and the earlier steps of its region that it reads
        self.reg_deps = {slug: [(d & set(range(n)), {j - n for j in d if j >= n})
                                for d in step_dependencies(national + plans)[n:]]
                         for slug, plans in self.regions.items()}
        self.nat_started: set[int] = set()
        self.nat_done: set[int] = set()
        self.next_step = {slug: 0 for slug in self.regions}  # the region's first step not handed out
        self.done = {slug: set() for slug in self.regions}
        self.running = {slug: 0 for slug in self.regions}  # the region's tasks that are running
        self.failed: set[str] = set()
        self.warm_ups = min(jobs, len(self.regions))

    def _ready(self, slug: str, i: int, first: int) -> bool:
        """Whether step ``i`` of a region can run in a task that starts at step ``first``: the shared steps and the
        region's steps it reads are done, or run before it in that task."""
        shared, own = self.reg_deps[slug][i]
        return shared <= self.nat_done and own <= self.done[slug] | set(range(first, i))

    def ready_count(self, slug: str) -> int:
        """How many of the region's next steps can run now, in order, in one task."""
        plans, k = self.regions[slug], self.next_step[slug]
        end = k
        while end < len(plans) and self._ready(slug, end, k):
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
        waiting = [s for s in self.regions if self.next_step[s] < len(self.regions[s])]
        if waiting and self.size is None and any(self.ready_count(s) for s in waiting):
            self.size = self.sizes()
        step_by_step = sum(self.next_step[s] == 0 for s in waiting) <= self.jobs
        # started regions first, then the largest
        for slug in sorted(waiting, key=lambda s: (self.next_step[s] == 0, -(self.size or {}).get(s, 0))):
            if self.running[slug] and not step_by_step:
                continue  # a region goes in one worker at a time, except step by step
            count = min(self.ready_count(slug), 1) if step_by_step else self.ready_count(slug)
            if count:
                k = self.next_step[slug]
                self.next_step[slug] = k + count
                self.running[slug] += 1
                return ("region", slug, k, k + count)
        if self.warm_ups and waiting:
            self.warm_ups -= 1
            return ("warm",)
        return None

    def region_ran(self, slug: str, start: int, end: int, failed: bool) -> bool:
        """Record the end of a region task (its steps ``start``..``end - 1``); True when the region is finished:
        all its steps are done, or one failed and none of its tasks still runs (the rest is not started)."""
        self.running[slug] -= 1
        if failed:
            self.failed.add(slug)
            self.next_step[slug] = len(self.regions[slug])
        else:
            self.done[slug] |= set(range(start, end))
        return self.running[slug] == 0 and self.next_step[slug] == len(self.regions[slug]) and \
            (slug in self.failed or len(self.done[slug]) == len(self.regions[slug]))


def run_regions(plan: RunPlan, ctx: Context, run_dir: Path, run_id: str, source_hash: str, manifest: dict, *,
                jobs: int, opts: dict[str, Any], edition: dict[str, Any] | None) -> None:
    """Several regions: the shared steps (the national ones and the closing ones, such as the atlas, which link
    to the regions' reports but do not read them) in threads of this process and the regions in worker
    processes (each with one BLAS/OpenMP thread), ``jobs`` at a time in all (:class:`Schedule`), a progress line
    per region. The first failure of a shared step stops new work and is raised once the running work has
    ended; a failed region does not stop the others and is reported at the end."""
    import multiprocessing

    shared = plan.before + plan.after  # the closing steps read only shared artefacts: they run beside the regions
    sched = Schedule(shared, plan.regions, jobs, pages=edition is not None,
                     sizes=lambda: _region_sizes(ctx, plan.before, plan.region_values))
    n = len(sched.regions)
    say(f"{n} regions; {jobs} at a time, one BLAS/OpenMP thread each")
    nat_entries: list[list[dict]] = [[] for _ in shared]
    reg_entries: dict[str, dict[int, list[dict]]] = {slug: {} for slug in sched.regions}  # per task's first step
    reg_errors: dict[str, str] = {}
    failures: list[str] = []
    finished_regions = 0
    started = time.perf_counter()

    def submit(task: tuple):
        if task[0] == "national":
            return threads.submit(run_step, shared[task[1]], ctx, run_dir, run_id, source_hash,
                                  nat_entries[task[1]], **{**opts, "progress": False})
        if task[0] == "region":
            slug, k, end = task[1:]
            last = end == len(sched.regions[slug])
            return workers.submit(_run_region, sched.regions[slug][k:end], ctx, run_dir, run_id, source_hash,
                                  opts["force"], {**edition, "slug": slug, "value": plan.region_values[slug]}
                                  if edition is not None and last else None)
        if task[0] == "pages":
            return threads.submit(_shared_pages, ctx, edition)
        return workers.submit(_warm_worker)

    def finished(task: tuple, result: Any) -> None:
        nonlocal finished_regions
        if task[0] == "national":
            sched.nat_done.add(task[1])
        elif task[0] == "region":
            slug, entries, message = task[1], *result
            reg_entries[slug][task[2]] = entries
            if message:
                reg_errors.setdefault(slug, message)
                failures.append(f"{slug}: {message}")
            if sched.region_ran(slug, task[2], task[3], failed=message is not None):
                finished_regions += 1
                say(_region_line(finished_regions, n, slug, _in_order(reg_entries[slug]),
                                 time.perf_counter() - started, reg_errors.get(slug)))

    # spawned inside run()'s one_thread_kernels() and kernel_server(): the workers inherit one BLAS thread
    # and the server's address, so their kernels are forked from the run's one server
    with ThreadPoolExecutor(max_workers=jobs) as threads, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as workers:
        try:
            error = in_slots(jobs, sched.next_task, submit, finished)
        except KeyboardInterrupt:
            workers.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            for entries in nat_entries:
                manifest["steps"].extend(entries)
            for slug in plan.regions:
                manifest["steps"].extend(_in_order(reg_entries.get(slug, {})))
    if error is not None:
        raise error
    if failures:
        raise StepFailed(f"{len(failures)} of {n} regions failed:\n" + "\n".join(failures))
