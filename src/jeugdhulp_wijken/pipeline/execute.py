"""Executing one step: papermill into a staging folder, outputs moved into place only on success.

Every notebook runs in a fresh kernel, as a reader who opens it runs it (and as nbval re-executes
it): no option, warning filter or cache of one notebook can change the output of the next. Inside a
run the kernel process is forked from the run's kernel server, which has done the imports once
(:mod:`.kernels`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from .. import paths
from .cache import KERNEL
from .kernels import kernel_manager_class
from .plan import StepPlan
from .spec import StepFailed

#: The first imports of a run's threads go one at a time: two threads that import IPython at the same moment
#: (nbclient does when a kernel starts, nbconvert for the teaching edition) can find it half-initialised
#: (``KeyError: 'IPython'``).
IMPORT_LOCK = threading.Lock()


def _papermill():
    """papermill and the run's kernel manager, imported under :data:`IMPORT_LOCK`."""
    with IMPORT_LOCK:
        import IPython  # noqa: F401 - nbclient imports it when the kernel starts
        import papermill

        return papermill, kernel_manager_class()


@contextlib.contextmanager
def kernel_sockets():
    """Kernel configuration: the kernel talks over Unix sockets in a private temporary folder. With TCP,
    two processes that start kernels at the same moment (region workers, test workers) can be handed
    the same free port, and the second kernel dies before it answers. The folder is short, because a
    socket path may not be longer than about 100 characters."""
    from traitlets.config import Config

    folder = tempfile.mkdtemp(prefix="jhw-")
    try:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "k")}})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def executed_notebook(run_dir: Path, plan: StepPlan) -> Path:
    """Where the executed copy of a step's notebook is saved: per region (or national), same file name."""
    return run_dir / "notebooks" / (plan.region or "national") / plan.notebook.name


def _format_failure(plan: StepPlan, executed: str, exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    count = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell {cell}" if cell is not None else "an unknown cell"
    if count is not None:
        where += f" (execution count {count})"
    return (f"Step '{plan.label}' failed in {plan.step.notebook}, {where}: {ename}: {evalue}\n"
            f"The executed notebook with the full traceback is {executed}\n"
            f"Previous outputs of this step were left untouched.")


def execute_step(plan: StepPlan, run_dir: Path, *, progress: bool = True, log_output: bool = False,
                 rel=str) -> list[Path]:
    """Execute one step into a staging folder; move outputs into place only on success."""
    pm, manager = _papermill()
    staging = run_dir / "staging" / (plan.region or "national") / plan.step.name
    shutil.rmtree(staging, ignore_errors=True)
    stage_out = staging / "output"
    stage_fig = stage_out if plan.figures_dir == plan.output_dir else staging / "figures"
    stage_out.mkdir(parents=True)
    stage_fig.mkdir(parents=True, exist_ok=True)
    params = dict(plan.parameters)
    if "output_dir" in params:
        params["output_dir"] = str(stage_out)
    if "figures_dir" in params:
        params["figures_dir"] = str(stage_fig)
    executed = executed_notebook(run_dir, plan)
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        with kernel_sockets() as config:
            # The kernel's working folder is given to the kernel itself (nbclient's resources path), not
            # through papermill's cwd=, which changes the folder of this whole process while the step runs:
            # with steps in parallel threads, one step's return would move another's kernel elsewhere.
            pm.execute_notebook(str(plan.notebook), str(executed), parameters=params, kernel_name=KERNEL,
                                resources={"metadata": {"path": str(paths.NOTEBOOKS)}},
                                progress_bar=progress, log_output=log_output,
                                request_save_on_cell_execute=False, config=config,
                                kernel_manager_class=manager)
    except Exception as exc:  # papermill raises PapermillExecutionError for cell failures
        raise StepFailed(_format_failure(plan, rel(executed), exc)) from exc

    def staged(final: Path) -> Path:
        base = stage_fig if final.parent == plan.figures_dir and plan.figures_dir != plan.output_dir \
            else stage_out
        return base / final.name

    missing = [p.name for p in plan.outputs if not staged(p).is_file()]
    if missing:
        raise StepFailed(f"Step '{plan.label}' ({plan.step.notebook}) finished but did not write its declared "
                         f"output(s): {missing}. Previous outputs were left untouched; the executed notebook is "
                         f"{rel(executed)}")
    moved = []
    pairs = [(stage_out, plan.output_dir)] + ([(stage_fig, plan.figures_dir)] if stage_fig != stage_out else [])
    for src_dir, dst_dir in pairs:
        for src in sorted(p for p in src_dir.rglob("*") if p.is_file()):
            dst = dst_dir / src.relative_to(src_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            moved.append(dst)
    shutil.rmtree(staging, ignore_errors=True)
    for parent in (staging.parent, staging.parent.parent):
        with contextlib.suppress(OSError):
            parent.rmdir()  # empty staging folders of the run
    return moved
