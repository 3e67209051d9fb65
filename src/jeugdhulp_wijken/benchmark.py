"""Benchmark the pipeline: cold run, cached re-run, per-step times, notebook overhead.

The notebook overhead ratio compares the pipeline run through papermill (a kernel per
notebook, cell-by-cell execution, executed notebooks written to disk) with the same code
cells executed in one plain Python process: each notebook's parameters cell, then the
runner's parameters, then the remaining code cells, in order. Both are repeated (default
twice) and the fastest repetition of each step counts.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from . import paths, pipeline


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


@contextlib.contextmanager
def _cwd(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def execute_inline(plan: pipeline.StepPlan) -> float:
    """Run one step's code cells in this process (no kernel); return seconds."""
    import matplotlib

    matplotlib.use("Agg")
    from IPython.display import display

    nb = nbformat.read(plan.notebook, as_version=4)
    ns: dict[str, Any] = {"__name__": "__main__", "display": display}
    t0 = time.perf_counter()
    Path(plan.parameters.get("output_dir", plan.output_dir)).mkdir(parents=True, exist_ok=True)
    with _cwd(paths.NOTEBOOKS), open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            exec(compile(source, f"{plan.notebook.name}", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(plan.parameters)
    return time.perf_counter() - t0


def plain_python_run(synthetic: bool, region: str | None, root: Path) -> dict[str, float]:
    """Every step's code cells in one fresh plain Python process (imports paid once); seconds per step."""
    code = ("import json, sys; from pathlib import Path; from jeugdhulp_wijken import benchmark; "
            "print(json.dumps(benchmark._plain_steps(sys.argv[1] == '1', sys.argv[2] or None, Path(sys.argv[3]))))")
    out = subprocess.run([sys.executable, "-c", code, "1" if synthetic else "0", region or "", str(root)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _plain_steps(synthetic: bool, region: str | None, root: Path) -> dict[str, float]:
    spec = pipeline.load_spec()
    ctx = pipeline.Context.make(synthetic, derived=root / "derived", figures=root / "figures", runs=root / "runs",
                                raw=None)
    plain = {}
    for plan in pipeline.plan_run(spec, ctx, region=region):
        for key in ("output_dir", "figures_dir"):
            if key in plan.parameters:
                Path(plan.parameters[key]).mkdir(parents=True, exist_ok=True)
        plain[plan.step.name] = execute_inline(plan)
    return plain


def run_benchmark(synthetic: bool = False, region: str | None = None, mirror: str | None = None,
                  repeats: int = 2) -> dict:
    """Time the pipeline ``repeats`` times (cold, through papermill) and the same cells in plain
    Python ``repeats`` times (each in a fresh process); per step the fastest repetition counts,
    as usual for timings on a shared machine."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    spec = pipeline.load_spec()
    colds, cold_runs, plains = [], [], []
    with tempfile.TemporaryDirectory(prefix="jhw-bench-") as tmp:
        tmp = Path(tmp)
        ctx = pipeline.Context.make(synthetic, derived=tmp / "derived", figures=tmp / "figures",
                                    runs=tmp / "runs")
        pipeline.prepare_data(ctx, mirror, online=True)  # data present before timing
        for _ in range(repeats):
            t0 = time.perf_counter()
            cold_runs.append(pipeline.run(spec, ctx, region=region, force=True, fetch=False, progress=False))
            colds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cached = pipeline.run(spec, ctx, region=region, fetch=False, progress=False)
        cached_s = time.perf_counter() - t0
        # what a second `jhw-reproduce` does: verify the raw files' sha256, then the cached steps
        t0 = time.perf_counter()
        pipeline.run(spec, ctx, region=region, fetch=True, mirror=mirror, progress=False)
        cached_checked_s = time.perf_counter() - t0
        for i in range(repeats):
            plains.append(plain_python_run(synthetic, region, tmp / f"plain{i}"))
    cold_s = min(colds)
    names = [s["name"] for s in cold_runs[0]["steps"]]
    steps = {n: min(next(s["duration_s"] for s in r["steps"] if s["name"] == n) for r in cold_runs) for n in names}
    plain = {n: min(p[n] for p in plains) for n in plains[0]}
    papermill_total = sum(steps.values())
    plain_total = sum(plain.values())
    return {
        "machine": machine(), "synthetic": synthetic, "region": region or "default",
        "repeats": repeats, "cold_full_runs_s": [round(c, 2) for c in colds],
        "cold_full_run_s": round(cold_s, 2), "cached_rerun_s": round(cached_s, 2),
        "cached_rerun_with_raw_check_s": round(cached_checked_s, 2),
        "cached_statuses": [s["status"] for s in cached["steps"]],
        "per_step_s": steps, "plain_python_per_step_s": {k: round(v, 2) for k, v in plain.items()},
        "overhead_ratio": round(papermill_total / plain_total, 2) if plain_total else None,
        "targets": {"cold_full_run_s": 60, "cached_rerun_s": 3, "overhead_ratio": 1.5},
    }


def report(result: dict) -> str:
    t = result["targets"]

    def mark(value, target):
        return "meets target" if value is not None and value <= target else "ABOVE target"

    lines = [f"Machine: {result['machine']}",
             f"Data: {'synthetic study' if result['synthetic'] else 'real 2017 data'}, region {result['region']}",
             f"Repetitions: {result['repeats']} (fastest counts; cold runs: "
             f"{', '.join(f'{c:.1f}' for c in result['cold_full_runs_s'])} s)",
             f"Cold full run (data present): {result['cold_full_run_s']:.1f} s "
             f"(target <= {t['cold_full_run_s']} s: {mark(result['cold_full_run_s'], t['cold_full_run_s'])})",
             f"Cached re-run:                {result['cached_rerun_s']:.1f} s "
             f"(target <= {t['cached_rerun_s']} s: {mark(result['cached_rerun_s'], t['cached_rerun_s'])}); "
             f"steps {result['cached_statuses']}",
             f"Cached re-run with the sha256 check of every raw file (what a second jhw-reproduce does): "
             f"{result['cached_rerun_with_raw_check_s']:.1f} s",
             "Per step (papermill | plain Python):"]
    for name, sec in result["per_step_s"].items():
        lines.append(f"  {name:<22} {sec:7.1f} s | {result['plain_python_per_step_s'].get(name, float('nan')):7.1f} s")
    lines.append(f"Notebook overhead ratio (papermill / plain Python): {result['overhead_ratio']} "
                 f"(target <= {t['overhead_ratio']}: {mark(result['overhead_ratio'], t['overhead_ratio'])})")
    return "\n".join(lines)
