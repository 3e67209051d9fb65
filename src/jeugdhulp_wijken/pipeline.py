"""Run the compendium's pipeline (``pipeline.yml``) with papermill.

The runner

* reads the pipeline spec: steps in order, each a notebook with default parameters,
  declared inputs and declared outputs (see the comments at the top of ``pipeline.yml``);
* checks every parameter name against the notebook's ``parameters`` cell;
* executes each notebook with a fixed kernel (``jeugdhulp-wijken``) and working directory
  (``notebooks/``), with all paths computed from the repository root;
* lets a notebook write only into a staging folder and moves its outputs into place when,
  and only when, the step succeeded and wrote every declared output and registered figure;
* skips a step whose notebook, parameters, package source and input hashes are unchanged
  (``--force`` reruns it);
* saves the executed notebooks and a run manifest (git commit, package versions, parameters,
  sha256 of every input and output, per-step durations) under ``data/runs/<run id>/``.

Command line: ``jhw-reproduce --help`` (or ``python scripts/reproduce.py --help``).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from . import paths

KERNEL = "jeugdhulp-wijken"
STANDARD_DIR_PARAMS = ("raw_dir", "input_dir", "output_dir", "figures_dir")
CACHE_DIRNAME = ".jhw_cache"


class PipelineError(RuntimeError):
    """A problem with the spec, the parameters or a step; the message says what to do."""


class StepFailed(PipelineError):
    """A notebook raised an exception or did not write its declared outputs."""


# --------------------------------------------------------------------------- spec

@dataclass(frozen=True)
class Step:
    name: str
    notebook: str
    output_dir: str
    figures_dir: str
    parameters: dict
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: if true, every registered figure of the other steps (for this region) is an input too
    figure_inputs: bool = False


@dataclass(frozen=True)
class Spec:
    path: Path
    defaults: dict
    synthetic: dict
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise PipelineError(f"Unknown step '{name}'. Steps in {self.path.name}: "
                            f"{', '.join(s.name for s in self.steps)}.")


def load_spec(path: str | Path = paths.PIPELINE_SPEC) -> Spec:
    """Read and check the pipeline spec."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"Pipeline spec not found: {path}")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps = []
    for i, raw in enumerate(doc.get("steps") or [], start=1):
        missing = [k for k in ("name", "notebook", "output_dir", "outputs") if k not in raw]
        if missing:
            raise PipelineError(f"{path}: step {i} lacks {missing}.")
        steps.append(Step(
            name=raw["name"], notebook=raw["notebook"], output_dir=raw["output_dir"],
            figures_dir=raw.get("figures_dir", raw["output_dir"]),
            parameters=dict(raw.get("parameters") or {}),
            inputs=tuple(raw.get("inputs") or ()), outputs=tuple(raw.get("outputs") or ()),
            figure_inputs=bool(raw.get("figure_inputs", False))))
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise PipelineError(f"{path}: step names must be unique, got {names}.")
    if not steps:
        raise PipelineError(f"{path}: no steps.")
    return Spec(path, dict(doc.get("defaults") or {}), dict(doc.get("synthetic") or {}), tuple(steps))


# --------------------------------------------------------------------------- parameters

def notebook_parameters(notebook: str | Path) -> dict[str, Any]:
    """Names and default values declared in the notebook's cell tagged ``parameters``.

    The cell must hold plain literal assignments only (that is what a student edits).
    """
    import nbformat

    notebook = Path(notebook)
    if not notebook.is_file():
        raise PipelineError(f"Notebook not found: {notebook}")
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise PipelineError(f"{notebook.name}: expected exactly one code cell tagged 'parameters', "
                            f"found {len(cells)}.")
    params: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, (ast.Assign, ast.AnnAssign))):
            raise PipelineError(f"{notebook.name}: the parameters cell may hold only assignments "
                                f"(line {node.lineno}).")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        try:
            value = ast.literal_eval(node.value)
        except ValueError as exc:
            raise PipelineError(f"{notebook.name}: parameter on line {node.lineno} is not a plain literal.") from exc
        for t in targets:
            if not isinstance(t, ast.Name):
                raise PipelineError(f"{notebook.name}: unsupported assignment on line {node.lineno}.")
            params[t.id] = value
    return params


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise PipelineError(f"--param expects key=value, got '{text}'.")
    key, value = text.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise PipelineError(f"--param: '{key}' is not a valid parameter name.")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key, parsed


def parse_region(text: str) -> str | list[str]:
    """``--region``: a name/code, or a comma-separated list of gemeente codes."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise PipelineError("--region must not be empty.")
    return parts if len(parts) > 1 or parts[0].upper().startswith("GM") else parts[0]


# --------------------------------------------------------------------------- context

@dataclass
class Context:
    """Where a run reads and writes: real data or the synthetic study."""
    synthetic: bool = False
    raw: Path = paths.RAW
    derived: Path = paths.DERIVED
    figures: Path = paths.FIGURES
    runs: Path = paths.RUNS
    root: Path = paths.ROOT

    @classmethod
    def make(cls, synthetic: bool, derived: Path | None = None, figures: Path | None = None,
             runs: Path | None = None, raw: Path | None = None) -> "Context":
        return cls(
            synthetic=synthetic,
            raw=Path(raw) if raw else (paths.SYNTHETIC_RAW if synthetic else paths.RAW),
            derived=Path(derived) if derived else (paths.SYNTHETIC_DERIVED if synthetic else paths.DERIVED),
            figures=Path(figures) if figures else (paths.SYNTHETIC_FIGURES if synthetic else paths.FIGURES),
            runs=Path(runs) if runs else paths.RUNS)

    def fill(self, template: Any, region_slug: str) -> Any:
        if isinstance(template, list):
            return [self.fill(t, region_slug) for t in template]
        if not isinstance(template, str):
            return template
        return template.format(raw=self.raw, derived=self.derived, figures=self.figures, region=region_slug)

    def input_path(self, template: str, region_slug: str) -> Path:
        """A declared input; inputs from earlier steps carry the synthetic prefix in synthetic mode."""
        p = Path(self.fill(template, region_slug))
        if not p.is_absolute():
            p = self.root / p
        if "{derived}" in template:
            p = paths.artefact(p.parent, p.name, self.synthetic)
        return p


# --------------------------------------------------------------------------- hashing

def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: str | Path, exclude: set[Path] | frozenset[Path] = frozenset()) -> str:
    """Hash of a directory: relative file names and contents, in sorted order.

    Files in ``exclude`` and the runner's own bookkeeping (``.jhw_cache``) are left out, so that a
    step whose parameter names the folder it also writes to keeps a stable key.
    """
    path = Path(path)
    exclude = {Path(p).resolve() for p in exclude}
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and CACHE_DIRNAME not in p.parts and p.resolve() not in exclude):
        h.update(str(f.relative_to(path)).encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def package_source_hash() -> str:
    """Hash of the package source (code and packaged YAML), part of every step's cache key."""
    h = hashlib.sha256()
    for f in sorted(paths.PACKAGE.rglob("*")):
        if f.is_file() and f.suffix in (".py", ".yml", ".yaml", ".xsd", ".json", ".csv", ".txt"):
            h.update(str(f.relative_to(paths.PACKAGE)).encode())
            h.update(sha256_file(f).encode())
    return h.hexdigest()


def _path_param_hashes(params: dict[str, Any], root: Path, own_outputs: list[Path] | None = None,
                       managed_roots: tuple[Path, ...] = ()) -> dict[str, str]:
    """Hashes of files or folders named by parameters other than the standard directories.

    User files and folders (a transcript folder, a factor CSV) are hashed. Folders inside the
    pipeline's own derived/figure roots are not: what a step reads from them is a declared
    input and already in the key. The step's own outputs never count.
    """
    out = {}
    exclude = set(own_outputs or [])
    managed = [Path(m).resolve() for m in managed_roots]

    def visit(key: str, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                visit(f"{key}[{i}]", v)
        elif isinstance(value, str) and value and len(value) < 1024:
            p = Path(value) if os.path.isabs(value) else (paths.NOTEBOOKS / value)
            if p.is_file():
                out[key] = sha256_file(p)
            elif p.is_dir():
                rp = p.resolve()
                if any(rp == m or m in rp.parents for m in managed):
                    out[key] = "managed folder"
                else:
                    out[key] = sha256_tree(p, exclude)

    for k, v in params.items():
        if k not in STANDARD_DIR_PARAMS:
            visit(k, v)
    return out


# --------------------------------------------------------------------------- planning

@dataclass
class StepPlan:
    index: int
    step: Step
    notebook: Path
    parameters: dict[str, Any]
    output_dir: Path
    figures_dir: Path
    inputs: list[Path]
    outputs: list[Path] = field(default_factory=list)
    #: folders the pipeline itself writes (derived and figure roots); their contents reach a
    #: step's cache key through its declared inputs, so path parameters inside them are not hashed
    managed_roots: tuple[Path, ...] = ()


def plan_run(spec: Spec, ctx: Context, *, region: Any = None, overrides: dict[str, Any] | None = None,
             only: list[str] | None = None, start: str | None = None) -> list[StepPlan]:
    """Resolve steps, parameters and paths; refuse unknown steps and parameter names."""
    from . import figures

    overrides = dict(overrides or {})
    if region is not None:
        overrides["region"] = region
    defaults = dict(spec.defaults)
    if ctx.synthetic:
        defaults.update(spec.synthetic)
    region_value = overrides.get("region", defaults.get("region", "NL"))
    slug = paths.region_slug(region_value)

    selected = list(spec.steps)
    if start:
        spec.step(start)
        idx = [s.name for s in spec.steps].index(start)
        selected = selected[idx:]
    if only:
        for name in only:
            spec.step(name)
        selected = [s for s in selected if s.name in only]

    declared = {s.name: notebook_parameters(ctx.root / s.notebook) for s in selected}
    unknown = sorted(k for k in overrides if not any(k in d for d in declared.values()))
    if unknown:
        lines = [f"  {name}: {', '.join(sorted(d))}" for name, d in declared.items()]
        raise PipelineError(f"Unknown parameter(s) {unknown}. Valid parameters per step:\n" + "\n".join(lines))

    registry = figures.load_registry()
    plans = []
    for i, step in enumerate(selected, start=1):
        nb_params = declared[step.name]
        bad = sorted(set(step.parameters) - set(nb_params))
        if bad:
            raise PipelineError(f"{spec.path.name}: step '{step.name}' sets parameter(s) {bad} that "
                                f"{step.notebook} does not declare. Valid: {', '.join(sorted(nb_params))}.")
        out_dir = Path(ctx.fill(step.output_dir, slug))
        fig_dir = Path(ctx.fill(step.figures_dir, slug))
        standard = {"raw_dir": str(ctx.raw), "input_dir": str(ctx.derived / slug),
                    "output_dir": str(out_dir), "figures_dir": str(fig_dir), "synthetic": ctx.synthetic}
        params = {k: v for k, v in {**standard, **defaults}.items() if k in nb_params}
        params.update({k: ctx.fill(v, slug) for k, v in step.parameters.items()})
        params.update({k: v for k, v in overrides.items() if k in nb_params})
        plan = StepPlan(i, step, ctx.root / step.notebook, params, out_dir, fig_dir,
                        [ctx.input_path(t, slug) for t in step.inputs],
                        managed_roots=(Path(ctx.derived), Path(ctx.figures)))
        plan.outputs = [paths.artefact(out_dir, name, ctx.synthetic) for name in step.outputs]
        for spec_fig in figures.figures_of_step(step.name, registry):
            plan.outputs += figures.figure_files(spec_fig, fig_dir, ctx.synthetic)
        if step.figure_inputs:
            for other in spec.steps:
                if other.name == step.name:
                    continue
                other_fig_dir = Path(ctx.fill(other.figures_dir, slug))
                for spec_fig in figures.figures_of_step(other.name, registry):
                    plan.inputs += figures.figure_files(spec_fig, other_fig_dir, ctx.synthetic)
        plans.append(plan)
    return plans


def cache_key(plan: StepPlan, source_hash: str) -> tuple[str, dict[str, str]]:
    missing = [p for p in plan.inputs if not p.is_file()]
    if missing:
        raise PipelineError(
            f"Step '{plan.step.name}' needs input(s) that do not exist: "
            + ", ".join(str(p) for p in missing)
            + ". Run the earlier steps first (drop --only/--from), or fetch the raw data (jhw-fetch).")
    input_hashes = {str(p): sha256_file(p) for p in plan.inputs}
    material = {
        "notebook": sha256_file(plan.notebook),
        "parameters": plan.parameters,
        "package": source_hash,
        "inputs": input_hashes,
        "path_parameters": _path_param_hashes(plan.parameters, paths.ROOT, plan.outputs, plan.managed_roots),
        "outputs": [str(p) for p in plan.outputs],
        "kernel": KERNEL,
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
    return key, input_hashes


def _cache_file(plan: StepPlan) -> Path:
    tag = "synthetic_" if plan.parameters.get("synthetic") else ""
    return plan.output_dir / CACHE_DIRNAME / f"{tag}{plan.step.name}.json"


def is_cached(plan: StepPlan, key: str) -> bool:
    record_path = _cache_file(plan)
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("key") != key:
        return False
    outputs = record.get("outputs", {})
    return all(Path(p).is_file() and sha256_file(p) == h for p, h in outputs.items()) and \
        set(outputs) == {str(p) for p in plan.outputs}


# --------------------------------------------------------------------------- execution

def _git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD") or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    """Installed versions of every package pinned in environment.yml."""
    from .environment import read_pins

    out = {}
    for name in sorted(read_pins()):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def executed_notebook(run_dir: Path, plan: StepPlan) -> Path:
    """Where the executed copy of a step's notebook is saved: the run folder, same file name."""
    return run_dir / "notebooks" / plan.notebook.name


def _format_failure(plan: StepPlan, executed: Path, exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    count = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell {cell}" if cell is not None else "an unknown cell"
    if count is not None:
        where += f" (execution count {count})"
    return (f"Step '{plan.step.name}' failed in {plan.step.notebook}, {where}: {ename}: {evalue}\n"
            f"The executed notebook with the full traceback is {executed}\n"
            f"Previous outputs of this step were left untouched.")


def execute_step(plan: StepPlan, run_dir: Path, *, progress: bool = True, log_output: bool = False) -> list[Path]:
    """Execute one step into a staging folder; move outputs into place only on success."""
    import papermill as pm

    staging = run_dir / "staging" / plan.step.name
    shutil.rmtree(staging, ignore_errors=True)
    stage_out, stage_fig = staging / "output", staging / "figures"
    stage_out.mkdir(parents=True)
    stage_fig.mkdir(parents=True)
    params = dict(plan.parameters)
    if "output_dir" in params:
        params["output_dir"] = str(stage_out)
    if "figures_dir" in params:
        params["figures_dir"] = str(stage_fig)
    executed = executed_notebook(run_dir, plan)
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(plan.notebook), str(executed), parameters=params, kernel_name=KERNEL,
                            cwd=str(paths.NOTEBOOKS), progress_bar=progress, log_output=log_output,
                            request_save_on_cell_execute=False)
    except Exception as exc:  # papermill raises PapermillExecutionError for cell failures
        raise StepFailed(_format_failure(plan, executed, exc)) from exc

    def staged(final: Path) -> Path:
        base = stage_fig if final.parent == plan.figures_dir and plan.figures_dir != plan.output_dir \
            else stage_out
        return base / final.name

    missing = [p.name for p in plan.outputs if not staged(p).is_file()]
    if missing:
        raise StepFailed(f"Step '{plan.step.name}' ({plan.step.notebook}) finished but did not write its "
                         f"declared output(s): {missing}. Previous outputs were left untouched; the executed "
                         f"notebook is {executed}")
    moved = []
    for src_dir, dst_dir in ((stage_out, plan.output_dir), (stage_fig, plan.figures_dir)):
        for src in sorted(p for p in src_dir.rglob("*") if p.is_file()):
            dst = dst_dir / src.relative_to(src_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            moved.append(dst)
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # the run's staging folder, once no step is left in it
    return moved


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def prepare_data(ctx: Context, mirror: str | None, online: bool) -> None:
    """Make sure the raw inputs exist: generate the synthetic study, or fetch the real data."""
    if ctx.synthetic:
        from . import synthetic

        print(f"Synthetic study: generating fictional raw data in {ctx.raw}", flush=True)
        synthetic.generate(ctx.raw)
    else:
        from . import sources

        sources.ensure_raw_data(ctx.raw, mirror=mirror, online=online)


def run(spec: Spec, ctx: Context, *, region: Any = None, overrides: dict | None = None,
        only: list[str] | None = None, start: str | None = None, force: bool = False,
        mirror: str | None = None, online: bool = True, fetch: bool = True,
        progress: bool = True, log_output: bool = False) -> dict[str, Any]:
    """Run the pipeline and return the run manifest (also written to ``<run dir>/manifest.json``)."""
    plans = plan_run(spec, ctx, region=region, overrides=overrides, only=only, start=start)
    if fetch:
        prepare_data(ctx, mirror, online)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    slug = paths.region_slug(plans[0].parameters.get("region", region or "nl")) if plans else "none"
    run_id = f"{stamp}_{'synthetic_' if ctx.synthetic else ''}{slug}"
    run_dir = ctx.runs / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "run_id": run_id, "started": stamp, "synthetic": ctx.synthetic, "spec": str(spec.path),
        "git": _git_commit(), "python": sys.version.split()[0], "platform": platform.platform(),
        "kernel": KERNEL, "packages": package_versions(), "status": "running", "steps": []}
    source_hash = package_source_hash()
    n = len(plans)
    t_run = time.perf_counter()
    try:
        for plan in plans:
            t0 = time.perf_counter()
            key, input_hashes = cache_key(plan, source_hash)
            entry = {"name": plan.step.name, "notebook": plan.step.notebook, "parameters": plan.parameters,
                     "inputs": input_hashes, "cache_key": key}
            if not force and is_cached(plan, key):
                entry.update(status="cached", duration_s=round(time.perf_counter() - t0, 3),
                             outputs={str(p): sha256_file(p) for p in plan.outputs})
                print(f"[{plan.index}/{n}] {plan.step.name}: unchanged, served from cache", flush=True)
                manifest["steps"].append(entry)
                continue
            print(f"[{plan.index}/{n}] {plan.step.name}: running {plan.step.notebook} ...", flush=True)
            entry["status"] = "failed"
            manifest["steps"].append(entry)
            try:
                execute_step(plan, run_dir, progress=progress, log_output=log_output)
            finally:
                entry["duration_s"] = round(time.perf_counter() - t0, 3)
                entry["executed_notebook"] = str(executed_notebook(run_dir, plan))
            outputs = {str(p): sha256_file(p) for p in plan.outputs}
            entry.update(status="ran", outputs=outputs)
            _write_json_atomic(_cache_file(plan), {"key": key, "outputs": outputs, "run_id": run_id})
            print(f"[{plan.index}/{n}] {plan.step.name}: done in {entry['duration_s']:.1f} s", flush=True)
        manifest["status"] = "ok"
    except PipelineError as exc:
        manifest["status"] = "failed"
        manifest["error"] = str(exc)
        raise
    finally:
        manifest["duration_s"] = round(time.perf_counter() - t_run, 3)
        _write_json_atomic(run_dir / "manifest.json", manifest)
        if manifest["status"] == "ok":
            _write_json_atomic(ctx.runs / ("latest_synthetic.json" if ctx.synthetic else "latest.json"),
                               {"run_id": run_id, "manifest": str(run_dir / "manifest.json")})
    print(f"Run {run_id}: {manifest['status']} in {manifest['duration_s']:.1f} s; "
          f"manifest {run_dir / 'manifest.json'}", flush=True)
    return manifest


# --------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jhw-reproduce",
        description="Reproduce the study: run the notebooks listed in pipeline.yml with papermill.")
    p.add_argument("--region", help="Region: 'Haaglanden' (default, HHS study area), a jeugdzorgregio code or "
                   "name (JZ01-JZ42), a GGD region, 'NL', or comma-separated gemeente codes (GM0518,GM0503).")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a notebook parameter (repeatable); the value is read as YAML.")
    p.add_argument("--only", action="append", metavar="STEP", help="Run only this step (repeatable).")
    p.add_argument("--from", dest="start", metavar="STEP", help="Start at this step.")
    p.add_argument("--force", action="store_true", help="Rerun steps even when their cache is valid.")
    p.add_argument("--synthetic", action="store_true",
                   help="Run on the generated synthetic study (fictional data with known truth; offline).")
    p.add_argument("--mirror", help="Copy raw data from this local mirror instead of downloading "
                   "(default: $DATA_MIRROR, or ../shared/data beside the checkout if present).")
    p.add_argument("--offline", action="store_true", help="Never download; use the mirror only.")
    p.add_argument("--spec", default=str(paths.PIPELINE_SPEC), help=argparse.SUPPRESS)
    p.add_argument("--derived-root", help=argparse.SUPPRESS)
    p.add_argument("--figures-root", help=argparse.SUPPRESS)
    p.add_argument("--runs-root", help=argparse.SUPPRESS)
    p.add_argument("--no-fetch", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--list", action="store_true", help="List the steps and their parameters, then exit.")
    p.add_argument("--verbose", action="store_true", help="Stream the notebooks' printed output.")
    p.add_argument("--no-progress", action="store_true", help="No per-cell progress bar.")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_spec(args.spec)
        ctx = Context.make(args.synthetic, args.derived_root, args.figures_root, args.runs_root)
        if args.list:
            for i, s in enumerate(spec.steps, 1):
                params = notebook_parameters(ctx.root / s.notebook)
                print(f"{i}. {s.name} ({s.notebook})")
                for k, v in params.items():
                    print(f"     {k} = {v!r}")
            return 0
        overrides = dict(parse_param(p) for p in args.param)
        region = parse_region(args.region) if args.region else None
        if args.verbose:
            import logging
            logging.basicConfig(level=logging.INFO, format="    %(message)s")
        run(spec, ctx, region=region, overrides=overrides, only=args.only, start=args.start,
            force=args.force, mirror=args.mirror, online=not args.offline, fetch=not args.no_fetch,
            progress=not args.no_progress, log_output=args.verbose)
    except (PipelineError, ValueError, FileNotFoundError) as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
