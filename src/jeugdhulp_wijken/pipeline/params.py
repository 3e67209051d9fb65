"""Notebook parameters and command-line values."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from .spec import PipelineError


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


def parse_regions(text: str) -> list[Any]:
    """``--region``: one region or a comma-separated list of regions.

    Each entry is a name or code (``Haaglanden``, ``JZ24``, ``Rotterdam-Rijnmond``, ``NL``, ``GM0518``),
    ``all`` (every jeugdzorgregio plus the study area and NL), or gemeente codes joined with ``+``
    (``GM0518+GM0503``), which make one region of those gemeenten.
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise PipelineError("--region must not be empty; see jhw-reproduce --list-regions.")
    out: list[Any] = []
    for p in parts:
        if "+" in p:
            codes = [c.strip().upper() for c in p.split("+") if c.strip()]
            out.append(codes)
        else:
            out.append(p)
    return out
