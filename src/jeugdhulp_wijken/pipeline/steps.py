"""Running steps: one step (or served from the cache), and steps side by side in threads, at most ``width``
at once, each as soon as the steps whose outputs it reads are done; every kernel with one BLAS/OpenMP thread
(:func:`.kernels.one_thread_kernels`).
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

from . import cache
from .edition_html import warm_up as edition_warm_up
from .execute import execute_step, executed_notebook
from .plan import Context, StepPlan


_SAY_LOCK = threading.Lock()


def say(line: str) -> None:
    """Print one progress line whole and at once: steps that run side by side in threads never print into
    each other's lines (``print`` writes the text and its newline separately)."""
    with _SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


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
            say(f"{prefix}: unchanged, served from cache")
        return entry
    if verbose:
        say(f"{prefix}: running {plan.step.notebook} ...")
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
        say(f"{prefix}: done in {entry['duration_s']:.1f} s")
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


def in_slots(width: int, next_task: Callable[[], Any], submit: Callable[[Any], Any],
             finished: Callable[[Any, Any], None]) -> BaseException | None:
    """Run tasks, at most ``width`` at once. ``next_task()`` hands out a task that can start now (None when
    none can), ``submit(task)`` starts it and returns its future, ``finished(task, result)`` records one that
    ended. The first exception stops new tasks; it is returned once the running ones have ended."""
    running: dict[Any, Any] = {}
    error: BaseException | None = None
    while True:
        while error is None and len(running) < width and (task := next_task()) is not None:
            running[submit(task)] = task
        if not running:
            return error
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            task = running.pop(fut)
            try:
                result = fut.result()
            except BaseException as exc:  # noqa: BLE001 - returned once the running tasks have ended
                error = error or exc
                continue
            finished(task, result)


def run_steps(plans: list[StepPlan], ctx: Context, run_dir: Path, run_id: str, source_hash: str,
              sink: list[dict], *, width: int, force: bool, progress: bool, log_output: bool,
              verbose: bool = True, edition: bool = False,
              early_pages: Callable[..., Any] | None = None) -> None:
    """Run steps in plan order (the national stage, with the region's steps when a run has one region; or
    one region's steps in a worker). With ``width`` > 1, a step starts as soon as the steps it reads from
    are done, at most ``width`` at once, each in its own kernel: the qualitative coding beside the national
    chain, a region's maps beside the national local-factor analysis and its own. Manifest entries keep the
    plan's order; the first failure stops new steps and is raised once the running ones have ended.
    ``early_pages(planned=...)``: called once, in a free slot, when every step has started; ``planned`` names the
    steps still running (the teaching-edition pages of the steps that are done, made while the report runs)."""
    if width <= 1 or len(plans) < 2:
        for p in plans:
            run_step(p, ctx, run_dir, run_id, source_hash, sink, force=force, progress=progress,
                     log_output=log_output, verbose=verbose, edition=edition)
        return
    deps = step_dependencies(plans)
    entries: list[list[dict]] = [[] for _ in plans]
    done: set[int] = set()
    started: set[int] = set()
    pages = [early_pages] if early_pages is not None else []

    def next_step() -> int | str | None:
        i = next((i for i in range(len(plans)) if i not in started and deps[i] <= done), None)
        if i is not None:
            started.add(i)
        elif pages and len(started) == len(plans):
            return "pages"
        return i

    def submit(task: int | str):
        if task == "pages":
            pending = frozenset(plans[j].step.name for j in started - done)
            return pool.submit(pages.pop(), planned=pending)
        return pool.submit(run_step, plans[task], ctx, run_dir, run_id, source_hash, entries[task], force=force,
                           progress=False, log_output=log_output, verbose=verbose, edition=edition)

    with ThreadPoolExecutor(max_workers=width) as pool:
        error = in_slots(width, next_step, submit, lambda task, _: done.add(task) if task != "pages" else None)
    for e in entries:
        sink.extend(e)
    if error is not None:
        raise error
