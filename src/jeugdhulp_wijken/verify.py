"""Compare a run of the pipeline with the reference run, artefact by artefact (``jhw-verify``).

A *reference manifest* (committed as ``notebooks/reference/reference_manifest.json``) lists every
artefact and figure file of the reference run by its repository-relative path, with its sha256 and,
for tables (csv, parquet), a fingerprint of each column: a hash of its exact values and, for
numeric columns, summaries (count, missing, min, max, sum, weighted sum). :func:`write_reference`
makes one from a run; :func:`verify` compares a run with it:

* every artefact is *identical*, *different*, *missing* (in the reference, not in the run) or
  *extra* (in the run, not in the reference); any of the last three fails the check;
* for a differing table it names the columns that differ and the largest difference: value by
  value when the reference files are at hand (``--reference-data``, a folder holding them under
  their repository-relative paths), otherwise in the column summaries of the reference manifest;
* provenance is not a result: the report's colophon names the git commit and a run-manifest hash
  that includes it, so it changes with every commit. Where a file differs only there (the
  elements marked ``data-provenance`` in HTML, the keys ``git`` and ``manifest_sha256`` in JSON)
  it is *identical except provenance*, which passes and says so;
* ``--tolerance X`` accepts numeric table values with ``|run - reference| <= X * max(1, |reference|)``
  (sums: ``X * max(1, sum of |values|)``); the output says which artefacts passed only because of it.

A run's manifest (``data/runs/<run id>/manifest.json``) lists each step's outputs as
``{path: sha256}``; absolute and repository-relative paths are both accepted. The run's files are
hashed again on disk, so a file edited after the run counts as what it now is.

    jhw-verify                          # the latest run against the committed reference
    jhw-verify 20260101T120000Z_haaglanden --tolerance 1e-9
    jhw-verify --write-reference        # make the reference manifest from the latest run
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from . import files, paths

REFERENCE_MANIFEST = paths.NOTEBOOKS / "reference" / "reference_manifest.json"
FORMAT = 1
TABLE_SUFFIXES = (".csv", ".parquet")
KEY_COLUMNS = ("wijk_code", "gemeente_code", "jz_code", "region", "code", "id", "theme", "factor", "name")
PROVENANCE = "identical except provenance"
STATUSES = ("identical", PROVENANCE, "within tolerance", "different", "missing", "extra")
PASSING = ("identical", PROVENANCE, "within tolerance")
PROVENANCE_KEYS = ("git", "manifest_sha256")     # JSON keys that name the commit a file was made at
_PROVENANCE_HTML = re.compile(r"(<(\w+)\b[^>]*\bdata-provenance\b[^>]*>).*?(</\2>)", re.S)


class VerifyError(RuntimeError):
    """A manifest or reference that cannot be read; the message says what to do."""


# --------------------------------------------------------------------------- manifests

def find_manifest(run: str | os.PathLike = "latest", runs_root: str | os.PathLike = paths.RUNS,
                  synthetic: bool = False, root: str | os.PathLike = paths.ROOT) -> Path:
    """The manifest of ``run``: ``latest``, a run id, a run folder or a manifest file."""
    runs_root, root = Path(runs_root), Path(root)
    text = str(run)
    if text == "latest":
        pointer = runs_root / ("latest_synthetic.json" if synthetic else "latest.json")
        if not pointer.is_file():
            raise VerifyError(f"No finished run: {pointer} does not exist. Run `make reproduce` "
                              f"(or `jhw-reproduce{' --synthetic' if synthetic else ''}`) first.")
        latest = files.read_json(pointer)
        candidates = [Path(latest["manifest"])] if latest.get("manifest") else []
        candidates = [c if c.is_absolute() else root / c for c in candidates]
        candidates.append(runs_root / str(latest.get("run_id")) / "manifest.json")
    else:
        given = Path(text)
        candidates = [given, given / "manifest.json", runs_root / text / "manifest.json"]
    for c in candidates:
        if c.is_file():
            return c
    raise VerifyError(f"Run '{text}' not found (looked at {', '.join(str(c) for c in candidates)}). "
                      f"Give `latest`, a run id from {runs_root}, or the path of a manifest.json.")


def relative_path(path: str, root: str | os.PathLike) -> str:
    """A manifest path as a repository-relative POSIX path (absolute paths are made relative)."""
    p = Path(path.replace("\\", "/"))
    if not p.is_absolute():
        return PurePosixPath(p.as_posix()).as_posix()
    root = Path(root).resolve()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(p.resolve(), root)).as_posix()


def run_outputs(manifest: dict, root: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``{relative path: {"sha256", "step"}}`` of every output of every step of a run manifest."""
    out: dict[str, dict[str, str]] = {}
    for step in manifest.get("steps") or []:
        label = step.get("name", "?") + (f" ({step['region']})" if step.get("region") else "")
        for p, digest in (step.get("outputs") or {}).items():
            out[relative_path(p, root)] = {"sha256": digest, "step": label}
    return out


def read_reference(path: str | os.PathLike) -> dict:
    ref = files.read_json(path)
    if not isinstance(ref, dict) or not isinstance(ref.get("artefacts"), dict):
        raise VerifyError(f"{path} is not a reference manifest (no 'artefacts'). Make one with "
                          f"`jhw-verify --write-reference`.")
    # plain {path: sha256} entries are accepted as well
    ref["artefacts"] = {k: v if isinstance(v, dict) else {"sha256": v} for k, v in ref["artefacts"].items()}
    return ref


# --------------------------------------------------------------------------- provenance

def _drop_provenance(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_provenance(v) for k, v in obj.items() if k not in PROVENANCE_KEYS}
    if isinstance(obj, list):
        return [_drop_provenance(v) for v in obj]
    return obj


def without_provenance(path: str | os.PathLike) -> bytes | None:
    """The file's bytes with its provenance blanked, or None when it holds no provenance: HTML
    elements with a ``data-provenance`` attribute are emptied, JSON keys in
    :data:`PROVENANCE_KEYS` are dropped."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        text = path.read_text(encoding="utf-8")
        masked = _PROVENANCE_HTML.sub(r"\1\3", text)
        return masked.encode("utf-8") if masked != text else None
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None
        masked = _drop_provenance(data)
        return files.json_text(masked).encode("utf-8") if masked != data else None
    return None


def provenance_free_sha256(path: str | os.PathLike) -> str | None:
    """sha256 of :func:`without_provenance`, or None when the file holds no provenance."""
    masked = without_provenance(path)
    return None if masked is None else files.sha256_bytes(masked)


# --------------------------------------------------------------------------- tables

def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table with every cell as its exact text ('' for missing): csv as written, parquet via repr."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    df = pd.read_parquet(path)
    return pd.DataFrame({c: [_cell_text(v) for v in df[c].tolist()] for c in df.columns}, columns=df.columns)


def _cell_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def numeric(column: pd.Series) -> np.ndarray | None:
    """The column as floats (NaN for empty cells), or None when it is not numeric."""
    values = pd.to_numeric(column.where(column != ""), errors="coerce").to_numpy(dtype=float)
    filled = (column != "").to_numpy()
    if not filled.any() or np.isnan(values[filled]).any() or column.isin(["True", "False"]).any():
        return None
    return values


def _weights(n: int) -> np.ndarray:
    return 1.0 + (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) % np.uint64(1000)) / 1000.0


def column_fingerprint(column: pd.Series) -> dict[str, Any]:
    fp: dict[str, Any] = {"sha256": files.sha256_bytes("\x1f".join(column.tolist()).encode("utf-8"))}
    x = numeric(column)
    if x is not None:
        ok = ~np.isnan(x)
        fp.update(count=int(ok.sum()), missing=int((~ok).sum()), min=float(np.min(x[ok])),
                  max=float(np.max(x[ok])), sum=float(np.sum(x[ok])), abs_sum=float(np.sum(np.abs(x[ok]))),
                  wsum=float(np.sum((x * _weights(len(x)))[ok])))
    return fp


def table_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    df = read_table(path)
    return {"rows": len(df), "columns": {str(c): column_fingerprint(df[c]) for c in df.columns}}


def _close(a: float, b: float, tolerance: float, scale: float | None = None) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(b) if scale is None else scale)


def _fmt(x: Any) -> str:
    return repr(float(x)) if isinstance(x, (float, np.floating)) else str(x)


def compare_tables(run: pd.DataFrame, ref: pd.DataFrame, tolerance: float = 0.0) -> tuple[bool, list[str]]:
    """Value by value. Returns (equal within tolerance, lines naming what differs)."""
    lines: list[str] = []
    missing = [c for c in ref.columns if c not in run.columns]
    extra = [c for c in run.columns if c not in ref.columns]
    if missing:
        lines.append(f"columns missing in the run: {', '.join(map(str, missing))}")
    if extra:
        lines.append(f"columns not in the reference: {', '.join(map(str, extra))}")
    if len(run) != len(ref):
        lines.append(f"rows: run {len(run)}, reference {len(ref)}")
        return False, lines
    key = next((k for k in KEY_COLUMNS if k in ref.columns and k in run.columns), None)
    ok = not (missing or extra)
    for c in (c for c in ref.columns if c in run.columns):
        a, b = run[c].reset_index(drop=True), ref[c].reset_index(drop=True)
        if a.equals(b):
            continue
        xa, xb = numeric(a), numeric(b)
        if xa is None or xb is None or not np.array_equal(np.isnan(xa), np.isnan(xb)):
            bad = int((a != b).sum())
            i = int(np.flatnonzero((a != b).to_numpy())[0])
            where = f"{key} {ref[key].iloc[i]}" if key else f"row {i + 1}"
            lines.append(f"column {c}: {bad} value(s) differ, e.g. {where}: run '{a[i]}', reference '{b[i]}'")
            ok = False
            continue
        diff = np.where(np.isnan(xa), 0.0, np.abs(xa - xb))
        i = int(np.argmax(diff))
        where = f"{key} {ref[key].iloc[i]}" if key else f"row {i + 1}"
        within = bool(np.all(diff <= tolerance * np.maximum(1.0, np.nan_to_num(np.abs(xb)))))
        ok = ok and within
        lines.append(f"column {c}: largest difference {diff[i]:.3g} at {where} (run {_fmt(xa[i])}, "
                     f"reference {_fmt(xb[i])}){' - within tolerance' if within and tolerance else ''}")
    return ok, lines


def compare_fingerprints(run: dict, ref: dict, tolerance: float = 0.0) -> tuple[bool, list[str]]:
    """On the column summaries of the reference manifest. Returns (equal within tolerance, lines)."""
    lines: list[str] = []
    rc, fc = run["columns"], ref["columns"]
    missing, extra = [c for c in fc if c not in rc], [c for c in rc if c not in fc]
    if missing:
        lines.append(f"columns missing in the run: {', '.join(missing)}")
    if extra:
        lines.append(f"columns not in the reference: {', '.join(extra)}")
    if run["rows"] != ref["rows"]:
        lines.append(f"rows: run {run['rows']}, reference {ref['rows']}")
        return False, lines
    ok = not (missing or extra)
    for c in (c for c in fc if c in rc):
        a, b = rc[c], fc[c]
        if a["sha256"] == b["sha256"]:
            continue
        if "sum" not in a or "sum" not in b or (a["count"], a["missing"]) != (b["count"], b["missing"]):
            lines.append(f"column {c}: values differ")
            ok = False
            continue
        scale = max(b["abs_sum"], 1.0)
        within = tolerance > 0 and all(_close(a[s], b[s], tolerance, scale if s in ("sum", "wsum") else None)
                                       for s in ("min", "max", "sum", "wsum"))
        ok = ok and within
        note = " - within tolerance" if within else ""
        if all(a[s] == b[s] for s in ("min", "max", "sum", "wsum")):
            lines.append(f"column {c}: the same numbers, written differently{note}")
            continue
        stat = max(("sum", "min", "max"), key=lambda s: abs(a[s] - b[s]))
        if a[stat] == b[stat]:
            lines.append(f"column {c}: values moved between rows (same sum, min and max; weighted sum "
                         f"differs by {abs(a['wsum'] - b['wsum']):.3g}){note}")
            continue
        lines.append(f"column {c}: largest difference {abs(a[stat] - b[stat]):.3g} in its {stat} "
                     f"(run {_fmt(a[stat])}, reference {_fmt(b[stat])}){note}")
    return ok, lines


# --------------------------------------------------------------------------- verify

@dataclass
class Result:
    path: str
    status: str
    step: str = ""
    details: list[str] = field(default_factory=list)


def _compare_artefact(rel: str, run_file: Path, digest: str, ref_entry: dict, reference_data: Path | None,
                      tolerance: float) -> Result:
    if digest == ref_entry["sha256"]:
        return Result(rel, "identical")
    masked = ref_entry.get("sha256_without_provenance")
    if masked and provenance_free_sha256(run_file) == masked:
        return Result(rel, PROVENANCE, details=["differs only in the git commit and run-manifest hash it names"])
    if run_file.suffix.lower() not in TABLE_SUFFIXES:
        return Result(rel, "different")
    ref_file = reference_data / rel if reference_data else None
    if ref_file is not None and ref_file.is_file() and files.sha256_file(ref_file) == ref_entry["sha256"]:
        ok, lines = compare_tables(read_table(run_file), read_table(ref_file), tolerance)
    elif "columns" in ref_entry:
        ok, lines = compare_fingerprints(table_fingerprint(run_file), ref_entry, tolerance)
        lines.append("(compared on the column summaries in the reference manifest: min, max and sums; "
                     "--reference-data gives value-by-value detail)")
    else:
        return Result(rel, "different", details=["the reference holds no column fingerprint of this table"])
    return Result(rel, "within tolerance" if ok and tolerance else "different", details=lines)


def verify(manifest_path: str | os.PathLike, reference_path: str | os.PathLike = REFERENCE_MANIFEST, *,
           root: str | os.PathLike = paths.ROOT, reference_data: str | os.PathLike | None = None,
           tolerance: float = 0.0) -> list[Result]:
    """Compare the run of ``manifest_path`` with the reference; one :class:`Result` per artefact."""
    if tolerance < 0 or not math.isfinite(tolerance):
        raise VerifyError(f"--tolerance must be a non-negative number, got {tolerance}.")
    root = Path(root)
    run = run_outputs(files.read_json(manifest_path), root)
    ref = read_reference(reference_path)["artefacts"]
    data = Path(reference_data) if reference_data else None
    results = []
    for rel in sorted(set(ref) | set(run)):
        if rel not in run:
            results.append(Result(rel, "missing", ref[rel].get("step", ""),
                                  ["in the reference, not in the run"]))
            continue
        run_file = root / rel
        if rel not in ref:
            results.append(Result(rel, "extra", run[rel]["step"], ["in the run, not in the reference"]))
            continue
        if not run_file.is_file():
            results.append(Result(rel, "missing", run[rel]["step"], [f"listed by the run but {run_file} is gone"]))
            continue
        digest = files.sha256_file(run_file)
        res = _compare_artefact(rel, run_file, digest, ref[rel], data, tolerance)
        res.step = run[rel]["step"]
        if digest != run[rel]["sha256"]:
            res.details.insert(0, "the file changed after the run wrote it")
        results.append(res)
    return results


def report(results: list[Result], tolerance: float = 0.0) -> str:
    width = max(len(s) for s in STATUSES)
    lines = [f"{r.status:<{width}}  {r.path}" + "".join(f"\n{'':<{width}}    {d}" for d in r.details)
             for r in results]
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    failed = sum(counts[s] for s in ("different", "missing", "extra"))
    lines.append("")
    if tolerance:
        lines.append(f"Tolerance {tolerance:g} was used for numeric table values (|run - reference| <= "
                     f"{tolerance:g} * max(1, |reference|)); {counts['within tolerance']} artefact(s) "
                     f"passed only because of it.")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()) + (f". FAIL: {failed} artefact(s) "
                 "differ from the reference." if failed else ". PASS."))
    return "\n".join(lines)


def passed(results: list[Result]) -> bool:
    return bool(results) and all(r.status in PASSING for r in results)


# --------------------------------------------------------------------------- reference

def write_reference(manifest_path: str | os.PathLike, out: str | os.PathLike = REFERENCE_MANIFEST, *,
                    root: str | os.PathLike = paths.ROOT, tables_to: str | os.PathLike | None = None) -> Path:
    """Write the reference manifest of a finished run: repository-relative paths, sha256 and
    column fingerprints of its tables, the sha256 without provenance of files that name their commit
    (:func:`without_provenance`), and where it was made (platform, Python, packages, commit).
    With ``tables_to``, the run's tables are also copied there under their relative paths (the
    folder to give ``--reference-data`` for value-by-value comparison)."""
    manifest = files.read_json(manifest_path)
    if manifest.get("status") != "ok":
        raise VerifyError(f"{manifest_path}: the run's status is '{manifest.get('status')}', not 'ok'. "
                          f"Make the reference from a complete run.")
    artefacts = {}
    for rel, entry in run_outputs(manifest, root).items():
        f = Path(root) / rel
        if not f.is_file() or files.sha256_file(f) != entry["sha256"]:
            raise VerifyError(f"{f} is missing or changed since run {manifest.get('run_id')}; "
                              f"run the pipeline again and make the reference from that run.")
        masked = provenance_free_sha256(f)
        if masked is not None:
            entry["sha256_without_provenance"] = masked
        if f.suffix.lower() in TABLE_SUFFIXES:
            entry.update(table_fingerprint(f))
            if tables_to is not None:
                files.write_bytes_atomic(Path(tables_to) / rel, f.read_bytes())
        artefacts[rel] = entry
    keep = ("run_id", "synthetic", "git", "python", "platform", "kernel", "packages")
    return files.write_json(out, {"format": FORMAT, **{k: manifest.get(k) for k in keep},
                                  "artefacts": artefacts})


# --------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jhw-verify", description="Compare a run of the pipeline with the "
                                "reference run, artefact by artefact (see README, 'How to verify this study').")
    p.add_argument("run", nargs="?", default="latest",
                   help="'latest' (default), a run id in data/runs, a run folder or a manifest.json")
    p.add_argument("--reference", default=str(REFERENCE_MANIFEST),
                   help="reference manifest (default: notebooks/reference/reference_manifest.json)")
    p.add_argument("--reference-data", metavar="DIR",
                   help="folder holding the reference tables under their repository-relative paths, "
                        "for value-by-value comparison (with --write-reference: copy the run's tables there)")
    p.add_argument("--tolerance", type=float, default=0.0, metavar="X",
                   help="accept numeric table values with |run - reference| <= X * max(1, |reference|)")
    p.add_argument("--synthetic", action="store_true", help="'latest' means the latest synthetic run")
    p.add_argument("--write-reference", action="store_true",
                   help="write the reference manifest (--reference) from the run instead of comparing")
    p.add_argument("--root", default=str(paths.ROOT), help=argparse.SUPPRESS)
    p.add_argument("--runs-root", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path(args.root)
    runs_root = Path(args.runs_root) if args.runs_root else paths.RUNS
    try:
        manifest = find_manifest(args.run, runs_root, args.synthetic, root)
        if args.write_reference:
            out = write_reference(manifest, args.reference, root=root, tables_to=args.reference_data)
            print(f"Reference manifest written: {out} (from {manifest})"
                  + (f"; tables copied to {args.reference_data}" if args.reference_data else ""))
            return 0
        ref = read_reference(args.reference)
        run = files.read_json(manifest)
        print(f"Run {run.get('run_id')} ({manifest})\nReference {args.reference}: run {ref.get('run_id')} "
              f"on {ref.get('platform')}, Python {ref.get('python')}\n")
        if bool(run.get("synthetic")) != bool(ref.get("synthetic")):
            print("Note: one of the two is a synthetic run and the other is not; expect every artefact "
                  "to be missing.\n")
        results = verify(manifest, args.reference, root=root, reference_data=args.reference_data,
                         tolerance=args.tolerance)
    except (VerifyError, FileNotFoundError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(report(results, args.tolerance))
    return 0 if passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
