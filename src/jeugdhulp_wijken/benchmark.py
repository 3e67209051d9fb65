"""Benchmark the pipeline, all figures measured in one run on this machine.

* cold single-region run (national stage included; data present), and its cached re-run;
* a second region after the first (only the regional stage runs), in the same process and, for a third
  region, in a new ``jhw-reproduce`` process (its Python start, imports and region check included);
* the cold run of every region (``--region all``: national stage, 42 jeugdzorgregio's, the study
  area and NL, the atlas), and its ratio to the cold single-region run;
* how fast a list with an unknown region is refused (a fresh ``jhw-reproduce`` process);
* the notebook overhead: the single-region steps through papermill against the same code cells
  in one plain Python process.
Repetitions: the fastest counts, as usual for timings on a shared machine. The kernel servers of the
benchmark live in a folder of its own; every cold run starts without one (a run leaves its server to the
next run, which is what a second region measures), and they are stopped at the end.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from . import paths, pipeline
from .pipeline import kernels

#: Targets (from the issues); the printout compares each measured figure with its target.
TARGETS = {"all_regions_over_single": 8.0, "second_region_s": 5.0, "unknown_region_s": 2.0,
           "cached_rerun_s": 3.0, "overhead_ratio": 1.5}


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
    for key in ("output_dir", "figures_dir"):
        if key in plan.parameters:
            Path(plan.parameters[key]).mkdir(parents=True, exist_ok=True)
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
    ctx = pipeline.Context.make(synthetic, derived=root / "derived", figures=root / "figures", runs=root / "runs")
    return {plan.label: execute_inline(plan) for plan in pipeline.plan_run(spec, ctx, region=region).all()}


def _timed(fn) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def unknown_region_seconds(synthetic: bool) -> tuple[float, str]:
    """Wall time of ``jhw-reproduce --region <known>,JZ99`` in a fresh process (it must be refused)."""
    args = [sys.executable, "-m", "jeugdhulp_wijken.pipeline", "--region", "JZ01,JZ99", "--no-fetch"]
    if synthetic:
        args.append("--synthetic")
    proc, seconds = _timed(lambda: subprocess.run(args, capture_output=True, text=True, cwd=paths.ROOT))
    if proc.returncode == 0 or "JZ99" not in proc.stderr:
        raise RuntimeError(f"an unknown region was not refused: {proc.stderr[-500:]}")
    return seconds, proc.stderr.strip().splitlines()[-1]


@contextlib.contextmanager
def _own_kernel_servers():
    """The benchmark's kernel servers in a folder of its own (other programs' servers are left alone)."""
    old = os.environ.get(kernels.DIR_VARIABLE)
    folder = tempfile.mkdtemp(prefix="jhw-bk-")
    os.environ[kernels.DIR_VARIABLE] = folder
    try:
        yield folder
    finally:
        kernels.stop_servers()
        if old is None:
            os.environ.pop(kernels.DIR_VARIABLE, None)
        else:
            os.environ[kernels.DIR_VARIABLE] = old
        shutil.rmtree(folder, ignore_errors=True)


def cli_region_seconds(ctx: pipeline.Context, region: str) -> float:
    """Wall time of ``jhw-reproduce --region <region>`` in a new process, on the national stage of ``ctx``."""
    args = [sys.executable, "-m", "jeugdhulp_wijken.pipeline", "--region", region, "--no-fetch", "--no-progress",
            "--derived-root", str(ctx.derived), "--figures-root", str(ctx.figures), "--runs-root", str(ctx.runs),
            "--raw-root", str(ctx.raw)]
    if ctx.synthetic:
        args.append("--synthetic")
    proc, seconds = _timed(lambda: subprocess.run(args, capture_output=True, text=True, cwd=paths.ROOT))
    spec = pipeline.load_spec()
    reran = [s.name for s in spec.steps if not spec.per_region(s) and f"{s.name}: running" in proc.stdout]
    if proc.returncode != 0 or reran:
        raise RuntimeError(f"jhw-reproduce --region {region} failed or reran shared steps {reran}: its time would "
                           f"not be that of a further region. {(proc.stderr or proc.stdout)[-800:]}")
    return seconds


def run_benchmark(synthetic: bool = False, region: str | None = None, second: str | None = None,
                  mirror: str | None = None, repeats: int = 1, jobs: int | None = None) -> dict:
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    spec = pipeline.load_spec()
    region = region or (spec.synthetic if synthetic else spec.defaults).get("region")
    second = second or ("JZ02" if synthetic else "JZ29")
    third = "JZ03" if synthetic else "JZ30"
    singles, all_runs, seconds_region, cli_region, plains = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="jhw-bench-") as tmp, _own_kernel_servers():
        tmp = Path(tmp)

        def ctx_in(name: str) -> pipeline.Context:
            return pipeline.Context.make(synthetic, derived=tmp / name / "derived", figures=tmp / name / "figures",
                                         runs=tmp / name / "runs", raw=tmp / "raw")

        pipeline.prepare_data(ctx_in("single0"), mirror, online=True)  # data present before timing
        for i in range(repeats):
            ctx = ctx_in(f"single{i}")  # a folder per repetition: the second region is new to each
            kernels.stop_servers()  # cold: no kernel server yet
            manifest, s = _timed(lambda: pipeline.run(spec, ctx, region=region, force=True, fetch=False,
                                                      progress=False))
            singles.append((s, manifest))
            second_manifest, s2 = _timed(lambda: pipeline.run(spec, ctx, region=second, fetch=False, progress=False))
            regional = [s["status"] for s in second_manifest["steps"] if s.get("region")]
            if not regional or set(regional) != {"ran"}:
                raise RuntimeError(f"the second region did not run its regional stage (statuses {regional}); "
                                   "its time would not be that of a second region")
            seconds_region.append(s2)
            cli_region.append(cli_region_seconds(ctx, third))
        cached, cached_s = _timed(lambda: pipeline.run(spec, ctx_in("single0"), region=region, fetch=False,
                                                       progress=False))
        for i in range(repeats):
            ctx = ctx_in(f"all{i}")
            kernels.stop_servers()
            manifest, s = _timed(lambda: pipeline.run(spec, ctx, regions=["all"], force=True, fetch=False,
                                                      progress=False, jobs=jobs))
            all_runs.append((s, manifest))
        unknown_s, unknown_message = unknown_region_seconds(synthetic)
        for i in range(repeats):
            plains.append(plain_python_run(synthetic, region, tmp / f"plain{i}"))
    single_s, single_manifest = min(singles, key=lambda x: x[0])
    all_s, all_manifest = min(all_runs, key=lambda x: x[0])
    per_step = {f"{s['name']}" + (f" [{s['region']}]" if s.get("region") else ""): s["duration_s"]
                for s in single_manifest["steps"]}
    plain = {k: min(p[k] for p in plains) for k in plains[0]}
    papermill_total, plain_total = sum(per_step.values()), sum(plain.values())
    return {
        "machine": machine(), "synthetic": synthetic, "region": region, "second_region": second,
        "repeats": repeats, "jobs": jobs or os.cpu_count(),
        "cold_single_region_s": round(single_s, 2), "cached_rerun_s": round(cached_s, 2),
        "cached_statuses": [s["status"] for s in cached["steps"]],
        "second_region_s": round(min(seconds_region), 2), "third_region": third,
        "region_new_process_s": round(min(cli_region), 2),
        "cold_all_regions_s": round(all_s, 2), "n_regions": len(all_manifest["regions"]),
        "all_regions_over_single": round(all_s / single_s, 2),
        "unknown_region_s": round(unknown_s, 2), "unknown_region_message": unknown_message,
        "per_step_s": per_step, "plain_python_per_step_s": {k: round(v, 2) for k, v in plain.items()},
        "overhead_ratio": round(papermill_total / plain_total, 2) if plain_total else None,
        "targets": TARGETS,
    }


def report(result: dict) -> str:
    t = result["targets"]

    def mark(key: str) -> str:
        value = result[key]
        return f"target <= {t[key]}: " + ("meets target" if value is not None and value <= t[key] else "ABOVE target")

    lines = [f"Machine: {result['machine']}",
             f"Data: {'synthetic study' if result['synthetic'] else 'real 2017 data'}; repetitions "
             f"{result['repeats']} (fastest counts); {result['jobs']} worker(s) for the regions",
             f"Cold single-region run ({result['region']}, national stage included): "
             f"{result['cold_single_region_s']:.1f} s",
             f"Cached re-run:                 {result['cached_rerun_s']:.1f} s ({mark('cached_rerun_s')}); "
             f"steps {result['cached_statuses']}",
             f"Second region ({result['second_region']}) after the first: {result['second_region_s']:.1f} s "
             f"({mark('second_region_s')})",
             f"A further region ({result['third_region']}) in a new jhw-reproduce process: "
             f"{result['region_new_process_s']:.1f} s (Python start, imports and region check included)",
             f"Cold run of all {result['n_regions']} regions with the atlas: {result['cold_all_regions_s']:.1f} s",
             f"All regions / single region:   {result['all_regions_over_single']:.2f} ({mark('all_regions_over_single')})",
             f"Unknown region refused in:     {result['unknown_region_s']:.2f} s ({mark('unknown_region_s')}): "
             f"{result['unknown_region_message']}",
             "Per step of the single-region run (papermill | plain Python):"]
    for name, sec in result["per_step_s"].items():
        lines.append(f"  {name:<34} {sec:7.1f} s | {result['plain_python_per_step_s'].get(name, float('nan')):7.1f} s")
    lines.append(f"Notebook overhead ratio (papermill / plain Python): {result['overhead_ratio']} "
                 f"({mark('overhead_ratio')})")
    return "\n".join(lines)
