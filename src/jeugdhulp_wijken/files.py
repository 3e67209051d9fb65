"""Reading and writing files: one sha256, one JSON writer, atomic and deterministic.

Every artefact of the pipeline is written through these helpers (via :mod:`catalog`), so that
the same inputs give the same bytes and a half-written file never replaces a good one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plain(obj: Any) -> Any:
    """Turn numpy/pandas scalars, paths, tuples and non-finite floats into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)) and not isinstance(obj, str):
        items = [plain(v) for v in obj]
        return sorted(items, key=str) if isinstance(obj, set) else items
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, Path):
        return str(obj)
    if obj is not None and not isinstance(obj, (str, int, bool)):
        try:
            import pandas as pd
            if pd.isna(obj):
                return None
        except (TypeError, ValueError):
            pass
        return str(obj)
    return obj


def json_text(data: Any) -> str:
    """The compendium's JSON: sorted keys, indented, UTF-8, NaN as null, newline at the end."""
    return json.dumps(plain(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary file beside ``path`` and move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as the compendium's JSON (see :func:`json_text`), atomically."""
    return write_text_atomic(path, json_text(data))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist. Run the step that writes it first "
                                "(`jhw-reproduce`, or see `jhw-reproduce --list`).") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). Delete it and rerun the step that writes it.") from exc
