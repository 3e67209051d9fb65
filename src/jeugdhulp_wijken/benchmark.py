"""Benchmark the pipeline: cold run, cached re-run, per-step times, notebook overhead.

The notebook overhead ratio compares the pipeline run through papermill (a kernel per
notebook, cell-by-cell execution, executed notebooks written to disk) with the same code
cells executed in one plain Python process: each notebook's parameters cell, then the
runner's parameters, then the remaining code cells, in order.
"""
from __future__ import annotations

import contextlib
import os
import platform
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
    with _cwd(paths.NOTEBOOKS):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            exec(compile(source, f"{plan.notebook.name}", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(plan.parameters)
    return time.perf_counter() - t0


def run_benchmark(synthetic: bool = False, region: str | None = None, mirror: str | None = None) -> dict:
    spec = pipeline.load_spec()
    with tempfile.TemporaryDirectory(prefix="jhw-bench-") as tmp:
        tmp = Path(tmp)
        ctx = pipeline.Context.make(synthetic, derived=tmp / "derived", figures=tmp / "figures",
                                    runs=tmp / "runs")
        pipeline.prepare_data(ctx, mirror, online=True)  # data present before timing
        t0 = time.perf_counter()
        cold = pipeline.run(spec, ctx, region=region, force=True, fetch=False, progress=False)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = pipeline.run(spec, ctx, region=region, fetch=False, progress=False)
        cached_s = time.perf_counter() - t0
        plain_ctx = pipeline.Context.make(synthetic, derived=tmp / "plain" / "derived",
                                          figures=tmp / "plain" / "figures", runs=tmp / "plain" / "runs")
        plans = pipeline.plan_run(spec, plain_ctx, region=region)
        plain = {}
        for plan in plans:
            for key in ("output_dir", "figures_dir"):
                if key in plan.parameters:
                    Path(plan.parameters[key]).mkdir(parents=True, exist_ok=True)
            plain[plan.step.name] = execute_inline(plan)
    steps = {s["name"]: s["duration_s"] for s in cold["steps"]}
    papermill_total = sum(steps.values())
    plain_total = sum(plain.values())
    return {
        "machine": machine(), "synthetic": synthetic, "region": region or "default",
        "cold_full_run_s": round(cold_s, 2), "cached_rerun_s": round(cached_s, 2),
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
             f"Cold full run (data present): {result['cold_full_run_s']:.1f} s "
             f"(target <= {t['cold_full_run_s']} s: {mark(result['cold_full_run_s'], t['cold_full_run_s'])})",
             f"Cached re-run:                {result['cached_rerun_s']:.1f} s "
             f"(target <= {t['cached_rerun_s']} s: {mark(result['cached_rerun_s'], t['cached_rerun_s'])}); "
             f"steps {result['cached_statuses']}",
             "Per step (papermill | plain Python):"]
    for name, sec in result["per_step_s"].items():
        lines.append(f"  {name:<22} {sec:7.1f} s | {result['plain_python_per_step_s'].get(name, float('nan')):7.1f} s")
    lines.append(f"Notebook overhead ratio (papermill / plain Python): {result['overhead_ratio']} "
                 f"(target <= {t['overhead_ratio']}: {mark(result['overhead_ratio'], t['overhead_ratio'])})")
    return "\n".join(lines)
