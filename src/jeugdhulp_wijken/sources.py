"""Raw-data manifest and fetch: mirror copy or download, sha256 check, read-only files.

The manifest ``data/sources.yml`` lists every raw input with its publisher, licence,
citation, where to get it online (a direct URL of the exact bytes, and the CBS StatLine
table id where there is one), its relative path, expected sha256 and size.

:func:`ensure_raw_data` makes ``data/raw/`` complete:

1. a file already in ``raw_dir`` with the expected hash is left alone; with another hash
   the fetch stops with :class:`ChecksumError` (files under ``data/raw`` are never changed
   in place: delete the file yourself and fetch again);
2. otherwise the file is copied from the mirror (``--mirror DIR``, ``$DATA_MIRROR`` or
   ``../shared/data``), or, when it is not there and ``online`` is true, downloaded from the
   manifest URL with ``requests``;
3. the copy goes to a temporary file in the target folder, its sha256 is checked, it is made
   read-only (0444) and only then renamed into place (atomic on POSIX).

A file that can be found nowhere raises :class:`MissingSourceError`, naming the file, the
mirror path tried and the URL to download it by hand.

CBS tables fetched live through ``cbsodata`` (section ``live_tables`` of the manifest; only
with ``--live``) cannot match a byte hash of a file written by another tool. For those the
row count, column names and a sha256 of the parsed table (canonical CSV with sorted columns)
are written to a pin file ``<path>.pin.json`` on the first fetch; later fetches must match
the pin (:class:`PinMismatchError`).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from . import paths
from .files import load_yaml, sha256_file

CHUNK = 1 << 20
READ_ONLY = 0o444
REQUIRED_KEYS = ("id", "path", "publisher", "title", "table", "year", "licence", "citation", "online",
                 "sha256", "size")


class SourceError(ValueError):
    """Base class of fetch-layer errors."""


class ManifestError(SourceError):
    """data/sources.yml is malformed."""


class ChecksumError(SourceError):
    """A raw file does not have the sha256 recorded in the manifest."""

    def __init__(self, path, expected: str, actual: str, hint: str = ""):
        self.path, self.expected, self.actual = Path(path), expected, actual
        super().__init__(f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. {hint}".strip())


class MissingSourceError(SourceError):
    """A raw file is neither in data/raw, nor in the mirror, nor downloadable."""

    def __init__(self, rel_path: str, mirror_path, url: str | None, detail: str = ""):
        self.rel_path, self.mirror_path, self.url = rel_path, mirror_path, url
        tried = f"mirror path tried: {mirror_path}" if mirror_path else "no mirror configured (--mirror DIR or DATA_MIRROR)"
        how = (f"Download it by hand from {url} and place it at data/raw/{rel_path}" if url
               else "No download URL is known")
        super().__init__(f"Raw file '{rel_path}' is missing ({tried}). {how}, or point --mirror / DATA_MIRROR "
                         f"at a complete mirror.{(' ' + detail) if detail else ''}")


class PinMismatchError(SourceError):
    """A live CBS table differs from the pin recorded on its first fetch."""


@dataclass(frozen=True)
class Source:
    id: str
    path: str
    sha256: str
    size: int
    url: str | None
    cbsodata_table: str | None
    publisher: str
    title: str
    licence: str
    citation: str
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class LiveTable:
    id: str
    cbsodata_table: str
    path: str
    pin: str
    required: bool = False


def load_manifest(path: str | Path = paths.SOURCES_MANIFEST) -> list[Source]:
    """Read and validate ``data/sources.yml``; return the file entries in manifest order."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"Manifest {path} not found.")
    doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    entries = doc.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ManifestError(f"{path}: top-level key 'sources' must be a non-empty list.")
    out, ids, rels = [], set(), set()
    for i, e in enumerate(entries):
        missing = [k for k in REQUIRED_KEYS if k not in (e or {})]
        if missing:
            raise ManifestError(f"{path}: entry {i} ({(e or {}).get('id', '?')}) lacks keys {missing}.")
        rel = str(e["path"])
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ManifestError(f"{path}: entry '{e['id']}' has path '{rel}'; it must be relative, without '..'.")
        if not re.fullmatch(r"[0-9a-f]{64}", str(e["sha256"])):
            raise ManifestError(f"{path}: entry '{e['id']}' has an invalid sha256 '{e['sha256']}'.")
        online = e["online"] or {}
        if not (online.get("url") or online.get("cbsodata_table")):
            raise ManifestError(f"{path}: entry '{e['id']}' needs online.url or online.cbsodata_table.")
        if e["id"] in ids or rel in rels:
            raise ManifestError(f"{path}: duplicated id or path in entry '{e['id']}'.")
        ids.add(e["id"])
        rels.add(rel)
        out.append(Source(id=e["id"], path=rel, sha256=e["sha256"], size=int(e["size"]), url=online.get("url"),
                          cbsodata_table=online.get("cbsodata_table"), publisher=e["publisher"], title=e["title"],
                          licence=e["licence"], citation=e["citation"], extra=e))
    return out


def load_live_tables(path: str | Path = paths.SOURCES_MANIFEST) -> list[LiveTable]:
    doc = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    return [LiveTable(id=e["id"], cbsodata_table=e["cbsodata_table"], path=e["path"], pin=e["pin"],
                      required=bool(e.get("required", False))) for e in doc.get("live_tables") or []]


@lru_cache(maxsize=4)
def _rel_paths(manifest: str) -> dict[str, str]:
    doc = load_yaml(Path(manifest).read_text(encoding="utf-8")) or {}
    return {e["id"]: e["path"] for e in (doc.get("sources") or []) + (doc.get("live_tables") or [])}


def rel_path(source_id: str, manifest: str | Path = paths.SOURCES_MANIFEST) -> str:
    """The path of raw file ``source_id`` inside data/raw (and inside a mirror)."""
    table = _rel_paths(str(manifest))
    if source_id not in table:
        raise ManifestError(f"Unknown source id '{source_id}'; the ids are listed in {manifest}.")
    return table[source_id]


def raw_path(source_id: str, raw_dir: str | Path = paths.RAW) -> Path:
    """Where raw file ``source_id`` lives under ``raw_dir``."""
    return Path(raw_dir) / rel_path(source_id)


def _install(tmp: Path, target: Path) -> None:
    """Make ``tmp`` read-only and rename it to ``target`` (which must not exist)."""
    os.chmod(tmp, READ_ONLY)
    if target.exists():
        tmp.unlink()
        raise SourceError(f"{target} appeared while fetching; not overwriting it.")
    os.replace(tmp, target)


def _tmp_in(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def _copy_verified(src_path: Path, target: Path, expected: str) -> None:
    tmp = _tmp_in(target)
    try:
        shutil.copyfile(src_path, tmp)
        actual = sha256_file(tmp)
        if actual != expected:
            raise ChecksumError(src_path, expected, actual,
                                "The mirror copy differs from the manifest; nothing was written to data/raw.")
        _install(tmp, target)
    finally:
        if tmp.exists():
            os.chmod(tmp, 0o644)
            tmp.unlink()


def _download_verified(url: str, target: Path, expected: str, session=None, timeout: float = 60) -> None:
    import requests

    getter = session or requests
    tmp = _tmp_in(target)
    try:
        h = hashlib.sha256()
        with getter.get(url, stream=True, timeout=timeout) as resp:
            resp.raise_for_status()
            with open(tmp, "wb") as f:
                for block in resp.iter_content(CHUNK):
                    f.write(block)
                    h.update(block)
        actual = h.hexdigest()
        if actual != expected:
            raise ChecksumError(url, expected, actual,
                                f"The download for {target.name} differs from the manifest; nothing was written.")
        _install(tmp, target)
    finally:
        if tmp.exists():
            os.chmod(tmp, 0o644)
            tmp.unlink()


def fetch_source(source: Source, raw_dir: str | Path = paths.RAW, mirror: str | Path | None = None,
                 online: bool = True, session=None) -> str:
    """Make ``raw_dir/source.path`` present and verified. Returns "present", "mirror" or "download"."""
    raw_dir = Path(raw_dir)
    target = raw_dir / source.path
    if target.exists():
        actual = sha256_file(target)
        if actual != source.sha256:
            raise ChecksumError(target, source.sha256, actual,
                                f"Files under {raw_dir} are never modified in place: delete {target} "
                                "yourself and run the fetch again (jhw-fetch).")
        return "present"
    mirror_path = Path(mirror) / source.path if mirror else None
    if mirror_path is not None and mirror_path.is_file():
        _copy_verified(mirror_path, target, source.sha256)
        return "mirror"
    if online and source.url:
        try:
            _download_verified(source.url, target, source.sha256, session=session)
        except ChecksumError:
            raise
        except Exception as exc:  # network or HTTP error
            raise MissingSourceError(source.path, mirror_path, source.url,
                                     f"Download failed: {type(exc).__name__}: {exc}") from exc
        return "download"
    raise MissingSourceError(source.path, mirror_path, source.url,
                             "" if online else "Offline mode: no download attempted.")


def ensure_raw_data(raw_dir: str | Path = paths.RAW, mirror: str | Path | None = None, online: bool = True,
                    manifest: str | Path = paths.SOURCES_MANIFEST, ids: Iterable[str] | None = None,
                    live: bool = False, progress: Callable[[str], None] | None = print,
                    session=None) -> dict[str, str]:
    """Fetch and verify every manifest file into ``raw_dir``; return {path: status}.

    ``mirror`` defaults to :func:`paths.default_mirror` ($DATA_MIRROR or ../shared/data).
    ``live=True`` also fetches the optional ``live_tables`` through cbsodata (network).
    """
    raw_dir = Path(raw_dir)
    mirror = Path(mirror).expanduser() if mirror else paths.default_mirror()
    sources = load_manifest(manifest)
    if ids is not None:
        wanted = set(ids)
        unknown = wanted - {s.id for s in sources}
        if unknown:
            raise ManifestError(f"Unknown source ids {sorted(unknown)}; see {manifest}.")
        sources = [s for s in sources if s.id in wanted]
    result = {}
    for i, s in enumerate(sources, 1):
        status = fetch_source(s, raw_dir, mirror=mirror, online=online, session=session)
        result[s.path] = status
        if progress:
            progress(f"[{i}/{len(sources)}] {s.path}: {status} (sha256 ok)")
    if live:
        for t in load_live_tables(manifest):
            status = fetch_live_table(t, raw_dir)
            result[t.path] = status
            if progress:
                progress(f"[live] {t.cbsodata_table} -> {t.path}: {status}")
    return result


def check_present(raw_dir: str | Path, rel_paths: Iterable[str]) -> None:
    """Check that ``rel_paths`` exist under ``raw_dir`` (no hashes; used for the synthetic study)."""
    raw_dir = Path(raw_dir)
    missing = [p for p in rel_paths if not (raw_dir / p).is_file()]
    if missing:
        raise MissingSourceError(missing[0], None, None,
                                 f"{len(missing)} file(s) missing under {raw_dir}: {missing}. Generate the synthetic "
                                 "study with `make demo` (or `jhw-reproduce --synthetic --only data_preparation`), "
                                 "or in Python with jeugdhulp_wijken.synthetic.generate(raw_dir).")


def table_content_hash(df) -> str:
    """sha256 of a parsed table: canonical CSV with sorted columns, rows in table order."""
    canon = df[sorted(df.columns)]
    buf = io.StringIO()
    canon.to_csv(buf, index=False, lineterminator="\n", float_format="%.10g")
    return hashlib.sha256(buf.getvalue().encode("utf-8")).hexdigest()


def fetch_live_table(table: LiveTable, raw_dir: str | Path = paths.RAW, fetcher: Callable | None = None) -> str:
    """Fetch a CBS table through cbsodata and pin (or check) rows, columns and content hash.

    Returns "present" (file already there and matching its pin), "pinned" (first fetch) or
    "verified" (re-fetched, pin existed and matches).
    """
    import pandas as pd

    raw_dir = Path(raw_dir)
    target, pin_path = raw_dir / table.path, raw_dir / table.pin
    pin = json.loads(pin_path.read_text(encoding="utf-8")) if pin_path.is_file() else None
    if target.exists():
        if pin is None:
            raise PinMismatchError(f"{target} exists without its pin file {pin_path}; delete {target} and fetch again.")
        actual = sha256_file(target)
        if actual != pin["file_sha256"]:
            raise ChecksumError(target, pin["file_sha256"], actual,
                                f"Delete {target} yourself and fetch again.")
        return "present"
    if fetcher is None:
        import cbsodata
        fetcher = cbsodata.get_data
    df = pd.DataFrame(fetcher(table.cbsodata_table))
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v.strip() if isinstance(v, str) else v)
    record = {"cbsodata_table": table.cbsodata_table, "rows": int(len(df)), "columns": list(map(str, df.columns)),
              "content_sha256": table_content_hash(df)}
    if pin is not None:
        diffs = [k for k in ("rows", "columns", "content_sha256") if pin.get(k) != record[k]]
        if diffs:
            raise PinMismatchError(f"Live table {table.cbsodata_table} differs from its pin {pin_path} in {diffs} "
                                   f"(pinned rows={pin.get('rows')}, now {record['rows']}). CBS may have revised "
                                   "the table; review and delete the pin to accept the new version.")
    tmp = _tmp_in(target)
    try:
        df.to_csv(tmp, index=False, lineterminator="\n")
        record["file_sha256"] = sha256_file(tmp)
        _install(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    if pin is None:
        ptmp = _tmp_in(pin_path)
        ptmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _install(ptmp, pin_path)
        return "pinned"
    return "verified"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``jhw-fetch [--mirror DIR] [--raw-dir DIR] [--offline] [--live]``."""
    ap = argparse.ArgumentParser(prog="jhw-fetch", description="Fetch and verify the raw data into data/raw/.")
    ap.add_argument("--mirror", help="local mirror directory (default: $DATA_MIRROR or ../shared/data)")
    ap.add_argument("--raw-dir", default=str(paths.RAW), help="target directory (default: data/raw)")
    ap.add_argument("--manifest", default=str(paths.SOURCES_MANIFEST), help="manifest (default: data/sources.yml)")
    ap.add_argument("--offline", action="store_true", help="never download; mirror only")
    ap.add_argument("--live", action="store_true", help="also fetch optional live CBS tables via cbsodata")
    ap.add_argument("--only", nargs="*", help="source ids to fetch (default: all)")
    args = ap.parse_args(argv)
    try:
        result = ensure_raw_data(args.raw_dir, mirror=args.mirror, online=not args.offline,
                                 manifest=args.manifest, ids=args.only, live=args.live)
    except SourceError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    counts = {k: list(result.values()).count(k) for k in sorted(set(result.values()))}
    print(f"Raw data complete in {args.raw_dir}: {counts}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
