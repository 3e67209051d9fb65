"""The reference notebooks: executed notebooks of a run, made fit to commit and to check with nbval.

:func:`make_reference` takes the executed notebooks of a finished run (``data/runs/<id>/notebooks``)
and writes them to ``notebooks/reference/``:

* the papermill-injected parameters cell gets paths relative to the notebook's folder under
  ``notebooks/reference/`` (nbval runs each notebook there), so the notebooks run in any clone: inputs point at the clone's
  ``data/`` and ``figures/``; the folders a step wrote to (the run's staging folders) become a
  scratch folder ``data/runs/nbval/<region or national>/<step>/`` so that re-running a reference notebook never
  touches the study's artefacts; parameters left at their notebook default that are relative
  paths (``../data/...``, relative to ``notebooks/``) are rebased the same way;
* PNG and JPEG images are replaced by their sha256 in the output's metadata (nbval does not
  compare them; the figure files themselves are checked by ``jhw-verify``), keeping every table
  and printed number;
* papermill's and Jupyter's timing metadata are dropped, so the notebooks change only when the
  results do;
* next to them the reference manifest (:func:`verify.write_reference`) is written.

``make verify`` then re-executes them with nbval (``nbval_sanitize.cfg`` masks what may vary)
and compares the run's artefacts with ``jhw-verify``.
"""
from __future__ import annotations

import ast
import base64
import os
from pathlib import Path
from typing import Any

from . import files, paths, verify

REFERENCE_DIR = paths.NOTEBOOKS / "reference"
SANITIZE_FILE = REFERENCE_DIR / "nbval_sanitize.cfg"
SCRATCH = paths.RUNS / "nbval"
MAX_BYTES = 2_000_000
STRIPPED_IMAGES = ("image/png", "image/jpeg")


class ReferenceError(RuntimeError):
    """A run whose notebooks cannot become reference notebooks; the message says what to do."""


def _posix_relpath(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _inside(p: Path, folder: Path) -> bool:
    return p == folder or folder in p.parents


def rebase(value: Any, *, run_dir: Path, root: Path, out_dir: Path, scratch: Path,
           runner_cwd: Path = paths.NOTEBOOKS) -> Any:
    """A parameter value with its paths made relative to ``out_dir``.

    Absolute paths, and relative ones written ``./x`` or ``../x`` (relative to ``runner_cwd``):
    inside the run folder -> the scratch folder (``staging/`` left out); inside ``root`` ->
    relative to ``out_dir``; elsewhere -> unchanged. Other values are returned as they are.
    """
    kw = dict(run_dir=run_dir, root=root, out_dir=out_dir, scratch=scratch, runner_cwd=runner_cwd)
    if isinstance(value, (list, tuple)):
        return type(value)(rebase(v, **kw) for v in value)
    if isinstance(value, dict):
        return {k: rebase(v, **kw) for k, v in value.items()}
    if not isinstance(value, str) or not value:
        return value
    if os.path.isabs(value):
        p = Path(os.path.normpath(value))
    elif value.startswith(("./", "../")):
        p = Path(os.path.normpath(runner_cwd / value))
    else:
        return value
    run_dir, root = Path(os.path.normpath(run_dir)), Path(os.path.normpath(root))
    if _inside(p, run_dir):
        parts = p.relative_to(run_dir).parts
        p = scratch.joinpath(*(parts[1:] if parts[:1] == ("staging",) else parts))
    elif not _inside(p, root):
        return value
    return _posix_relpath(p, out_dir)


def _literal_assignments(source: str, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError as exc:
                raise ReferenceError(f"{what}: line {node.lineno} is not a plain literal.") from exc
            out.update({t.id: value for t in node.targets})
    return out


def _tagged(nb, tag: str) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and tag in c.metadata.get("tags", [])),
                None)


def rewrite_parameters(nb, name: str, **kw) -> dict[str, Any]:
    """Rebase the injected parameters (and relative-path defaults) of ``nb`` in place; return them.
    ``kw`` are the folders of :func:`rebase`."""
    import nbformat
    from papermill.translators import PythonTranslator

    i_params, i_injected = _tagged(nb, "parameters"), _tagged(nb, "injected-parameters")
    defaults = _literal_assignments(nb.cells[i_params].source, f"{name}, parameters cell") if i_params is not None else {}
    injected = (_literal_assignments(nb.cells[i_injected].source, f"{name}, injected parameters")
                if i_injected is not None else {})
    params = {k: rebase(v, **kw) for k, v in injected.items()}
    for k, v in defaults.items():
        if k not in params and rebase(v, **kw) != v:
            params[k] = rebase(v, **kw)
    cell = nbformat.v4.new_code_cell(PythonTranslator.codify(params, "Parameters").rstrip("\n"))
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"  # new_code_cell draws a random id; keep the file stable
    if i_injected is not None:
        cell["id"] = nb.cells[i_injected].get("id", cell["id"])
        nb.cells[i_injected] = cell
    else:
        nb.cells.insert((i_params + 1) if i_params is not None else 0, cell)
    return params


def strip_images(nb) -> int:
    """Replace PNG/JPEG outputs by their sha256 in the output's metadata; return how many."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for mime in STRIPPED_IMAGES:
                if mime in data:
                    raw = base64.b64decode("".join(data.pop(mime)))
                    out.setdefault("metadata", {}).pop(mime, None)
                    out["metadata"].setdefault("jhw_stripped", {})[mime] = "sha256:" + files.sha256_bytes(raw)
                    n += 1
    return n


def drop_timing_metadata(nb, params: dict[str, Any]) -> None:
    nb.metadata["papermill"] = {"parameters": params}
    for cell in nb.cells:
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)


def _executed_notebooks(manifest: dict, manifest_path: Path, root: Path) -> list[tuple[str, Path, Path]]:
    """(step, executed notebook, its path relative to the run's notebook folder) of every step."""
    out = []
    notebooks = manifest_path.parent / "notebooks"
    for step in manifest.get("steps") or []:
        label = step.get("name", "?") + (f" ({step['region']})" if step.get("region") else "")
        executed = step.get("executed_notebook")
        if not executed:
            raise ReferenceError(f"{manifest_path}: step {label} has no executed notebook (status "
                                 f"{step.get('status')}). Make the reference from a run with --force.")
        p = Path(executed) if Path(executed).is_absolute() else root / executed
        rel = p.relative_to(notebooks) if notebooks in p.parents else Path(p.name)
        out.append((step.get("name", "?"), p, rel))
    rels = [str(r) for _, _, r in out]
    dupes = sorted({r for r in rels if rels.count(r) > 1})
    if dupes:
        raise ReferenceError(f"{manifest_path}: several steps share the executed notebook(s) {dupes}.")
    return out


def make_reference(run: str | os.PathLike = "latest", out_dir: str | os.PathLike = REFERENCE_DIR, *,
                   root: str | os.PathLike = paths.ROOT, runs_root: str | os.PathLike | None = None,
                   synthetic: bool = False, scratch: str | os.PathLike | None = None,
                   max_bytes: int | None = MAX_BYTES) -> list[Path]:
    """Write the reference notebooks and reference manifest of ``run`` into ``out_dir``.

    The notebooks keep their place in the run's notebook folder (``national/01_...ipynb``,
    ``<region>/05_regio.ipynb``); each one's paths are made relative to its own folder, where
    nbval runs it. Reference notebooks that the run did not make are removed.
    """
    import nbformat

    root, out_dir = Path(root), Path(out_dir)
    runs_root = Path(runs_root) if runs_root else root / "data" / "runs"
    scratch = Path(scratch) if scratch else runs_root / "nbval"
    manifest_path = verify.find_manifest(run, runs_root, synthetic, root)
    manifest = files.read_json(manifest_path)
    if manifest.get("status") != "ok":
        raise ReferenceError(f"{manifest_path}: the run's status is '{manifest.get('status')}', not 'ok'.")
    steps = _executed_notebooks(manifest, manifest_path, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for step, executed, rel in steps:
        if not executed.is_file():
            raise ReferenceError(f"{executed} (step '{step}') does not exist; run the pipeline again.")
        target = out_dir / rel
        nb = nbformat.read(executed, as_version=4)
        params = rewrite_parameters(nb, executed.name, run_dir=manifest_path.parent, root=root,
                                    out_dir=target.parent, scratch=scratch, runner_cwd=root / "notebooks")
        strip_images(nb)
        drop_timing_metadata(nb, params)
        nbformat.validate(nb)
        written.append(files.write_text_atomic(target, nbformat.writes(nb) + "\n"))
    for stale in sorted(set(out_dir.rglob("*.ipynb")) - set(written)):
        stale.unlink()
    written.append(verify.write_reference(manifest_path, out_dir / verify.REFERENCE_MANIFEST.name, root=root))
    size = sum(p.stat().st_size for p in written)
    if max_bytes is not None and size > max_bytes:
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in written)
        raise ReferenceError(f"The reference files take {size / 1e6:.2f} MB, more than {max_bytes / 1e6:.1f} MB "
                             f"({sizes}). Print less in the notebooks (large tables, inline HTML maps).")
    return written
