"""Committed notebooks are clean narratives: no outputs, literal parameters, logic in the package."""
from __future__ import annotations

import ast
import json

import pytest

from jeugdhulp_wijken import paths, pipeline

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))


def test_there_is_a_notebook_per_step():
    spec = pipeline.load_spec()
    assert {str(paths.ROOT / s.notebook) for s in spec.steps} == {str(p) for p in NOTEBOOKS}


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs_or_execution_metadata(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
        assert "execution" not in cell.get("metadata", {}), f"cell {i} has execution metadata"
    assert "papermill" not in nb["metadata"]
    assert nb["metadata"]["kernelspec"]["name"] == pipeline.KERNEL


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_narrates_and_calls_the_package(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    assert nb["cells"][0]["cell_type"] == "markdown", "a notebook opens with an explanation"
    params = pipeline.notebook_parameters(nb_path)  # raises unless one literal-only parameters cell
    assert params
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    tree = ast.parse(code)
    defs = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    assert not defs, f"functions/classes belong in the package, not the notebook: {defs}"
    assert "jeugdhulp_wijken" in code
