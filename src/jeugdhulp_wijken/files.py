"""Reading and writing files: one sha256, one JSON writer, atomic and deterministic.

Every artefact of the pipeline is written through these helpers (via :mod:`catalog`), so that
the same inputs give the same bytes and a half-written file never replaces a good one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np


def file_version(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, mtime in ns, size): the key under which a file's parsed content may be cached, so that a
    changed file is read again."""
    path = Path(path).resolve()
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


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


def load_yaml(text: str) -> Any:
    """Parse YAML safely, with libyaml's C parser when PyYAML has it (several times faster than the
    pure-Python one; the compendium's own YAML files are read in every notebook)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as the compendium's JSON (see :func:`json_text`), atomically."""
    return write_text_atomic(path, json_text(data))


_DATA_URI_PAYLOAD = re.compile(r"(data:[\w.+/-]+;base64,)([A-Za-z0-9+/=]+)")


def without_data_uris(html: str) -> str:
    """``html`` with the payload of every base64 data URI left out (``data:image/png;base64,``): what a check
    for network references needs to read. Embedded figures are most of a page's bytes and refer to nothing."""
    return _DATA_URI_PAYLOAD.sub(r"\1", html)


def outside_data_uris(html: str, edit: Callable[[str], str]) -> str:
    """``edit(html)`` without letting ``edit`` read the payloads of base64 data URIs (embedded figures are most
    of a page's bytes, and a regular expression over them is slow): each payload is set aside, ``edit`` gets
    the page with a placeholder in its place, and the payloads are put back. ``edit`` must keep the
    placeholders (``\\x00<n>\\x00``), as an edit of tags and ids does."""
    if "\x00" in html:
        return edit(html)
    payloads: list[str] = []

    def stash(m: re.Match) -> str:
        payloads.append(m.group(2))
        return f"{m.group(1)}\x00{len(payloads) - 1}\x00"

    edited = edit(_DATA_URI_PAYLOAD.sub(stash, html))
    return re.sub("\x00(\\d+)\x00", lambda m: payloads[int(m.group(1))], edited)


_HTML_ID = re.compile(
    # folium/branca element names (``map_<32 hex>``, ``geo_json_<32 hex>``) and plotly's uuid4 div ids
    r"(?<=_)[0-9a-f]{32}(?![0-9a-f])"
    r"|(?<![0-9a-f-])[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(?![0-9a-f-])")


def stable_html_ids(html: str) -> str:
    """Replace the random element ids of folium/branca/leaflet and plotly by sequential ones.

    Ids are numbered in order of first appearance, so the same page gives the same text; a
    page that already has sequential ids is returned unchanged. Nothing else is touched.
    """
    mapping: dict[str, str] = {}

    def sub(mo: re.Match) -> str:
        key = mo.group(0)
        if key not in mapping:
            n = len(mapping) + 1
            mapping[key] = (f"{n:032x}" if len(key) == 32
                            else f"00000000-0000-4000-8000-{n:012x}")
        return mapping[key]

    # the payloads of data URIs hold no id: base64 has neither "_" nor "-"
    return outside_data_uris(html, lambda text: _HTML_ID.sub(sub, text))


def write_html(path: str | os.PathLike, html: str) -> Path:
    """Write an HTML page with stable element ids (:func:`stable_html_ids`), atomically."""
    return write_text_atomic(path, stable_html_ids(html))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist. Run the step that writes it first "
                                "(`jhw-reproduce`, or see `jhw-reproduce --list`).") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). Delete it and rerun the step that writes it.") from exc
