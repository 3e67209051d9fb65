"""The content-hash cache: a step is skipped when nothing it reads has changed.

A step's key covers its notebook, its parameters, the package source, the software environment
(Python and the version of every installed distribution: a new matplotlib redraws the figures),
the sha256 of every declared input, of every optional input (present or absent: adding the live
CBS table reruns the steps that read it), of every user file its parameters name (with a factor
file's sidecar), and the list of its outputs. The record of the last successful run is kept beside the outputs
(``.jhw_cache/<step>.json``); it holds the key and the sha256 of every output, so an output that
was edited or deleted by hand makes the step run again.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sysconfig
from pathlib import Path
from typing import Any

from .. import files, paths
from .plan import StepPlan
from .spec import PipelineError

CACHE_DIRNAME = ".jhw_cache"
KERNEL = "jeugdhulp-wijken"
_SOURCE_SUFFIXES = (".py", ".yml", ".yaml", ".xsd", ".json", ".csv", ".txt", ".j2", ".html", ".js", ".css")


def sha256_tree(path: str | Path) -> str:
    """Hash of a folder: relative file names and contents, in sorted order (bookkeeping left out)."""
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and CACHE_DIRNAME not in p.parts):
        h.update(str(f.relative_to(path)).encode())
        h.update(files.sha256_file(f).encode())
    return h.hexdigest()


def package_source_hash() -> str:
    """Hash of the package source (code, templates and packaged data), part of every step's key."""
    h = hashlib.sha256()
    for f in sorted(paths.PACKAGE.rglob("*")):
        if f.is_file() and f.suffix in _SOURCE_SUFFIXES and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(paths.PACKAGE)).encode())
            h.update(files.sha256_file(f).encode())
    return h.hexdigest()


def environment_hash() -> str:
    """Hash of the software environment: the Python version and platform, and the name and version
    of every installed distribution (the ``*.dist-info`` folders of the environment's site-packages)."""
    names: set[str] = set()
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        try:
            with os.scandir(folder) as entries:
                names.update(e.name for e in entries if e.name.endswith(".dist-info"))
        except OSError:
            continue
    material = [platform.python_version(), platform.machine(), *sorted(names)]
    return hashlib.sha256("\n".join(material).encode()).hexdigest()


def code_hash() -> str:
    """The package source and the software environment together: the code part of every step's key."""
    return hashlib.sha256(f"{package_source_hash()} {environment_hash()}".encode()).hexdigest()


def _hash(p: Path) -> str:
    return sha256_tree(p) if p.is_dir() else files.sha256_file(p)


def cache_key(plan: StepPlan, source_hash: str, rel=str) -> tuple[str, dict[str, str]]:
    """The step's key and the sha256 of its inputs (by ``rel(path)``)."""
    missing = [p for p in plan.inputs if not p.is_file()]
    if missing:
        raise PipelineError(
            f"Step '{plan.label}' needs input(s) that do not exist: " + ", ".join(rel(p) for p in missing)
            + ". Run the earlier steps first (drop --only/--from), or fetch the raw data (jhw-fetch).")
    inputs = {rel(p): files.sha256_file(p) for p in plan.inputs}
    optional = {rel(p): (files.sha256_file(p) if p.is_file() else "absent") for p in plan.optional_inputs}
    user = {str(p): (_hash(p) if p.exists() else "absent") for p in plan.user_files}
    material = {
        "notebook": files.sha256_file(plan.notebook),
        "parameters": plan.parameters,
        "package": source_hash,
        "inputs": inputs,
        "optional_inputs": optional,
        "user_files": user,
        "outputs": [rel(p) for p in plan.outputs],
        "kernel": KERNEL,
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
    return key, {**inputs, **{k: v for k, v in optional.items() if v != "absent"}, **user}


def record_path(plan: StepPlan) -> Path:
    tag = "synthetic_" if plan.parameters.get("synthetic") else ""
    return plan.output_dir / CACHE_DIRNAME / f"{tag}{plan.step.name}.json"


def is_cached(plan: StepPlan, key: str) -> bool:
    path = record_path(plan)
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("key") != key:
        return False
    outputs = record.get("outputs", {})
    if set(outputs) != {p.name for p in plan.outputs}:
        return False
    return all(p.is_file() and files.sha256_file(p) == outputs[p.name] for p in plan.outputs)


def write_record(plan: StepPlan, key: str, run_id: str) -> dict[str, str]:
    outputs = {p.name: files.sha256_file(p) for p in plan.outputs}
    files.write_json(record_path(plan), {"key": key, "outputs": outputs, "run_id": run_id})
    return outputs


def output_hashes(plan: StepPlan, rel=str) -> dict[str, str]:
    return {rel(p): files.sha256_file(p) for p in plan.outputs}


def describe(plan: StepPlan) -> dict[str, Any]:
    return {"name": plan.step.name, "notebook": plan.step.notebook, "region": plan.region}
