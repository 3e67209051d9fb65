"""The report's appendices that are not study numbers: data sources, and the colophon.

The colophon states what made the report: the git commit, the sha256 of the run manifest of
the report (every artefact and figure it read, with its sha256), the versions of the pinned
packages and the checksums of the raw data. Everything here is deterministic for a given state
of code and data, so the report's bytes are too.
"""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files, paths, sources


@dataclass(frozen=True)
class DataSource:
    id: str
    title: str
    publisher: str
    year: Any
    licence: str
    citation: str
    path: str
    sha256: str
    verified: bool | None      # raw file present and matching; None when not checked


def git_state(root: Path = paths.ROOT) -> dict[str, Any]:
    """The commit of the checkout and whether tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD") or None
        dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def data_sources(raw_dir: str | os.PathLike | None = None) -> list[DataSource]:
    """The raw sources of ``data/sources.yml`` with licence and citation; with ``raw_dir``, each
    file's checksum is checked against the manifest."""
    out = []
    for s in sources.load_manifest():
        verified = None
        if raw_dir:
            p = Path(raw_dir) / s.path
            verified = p.is_file() and files.sha256_file(p) == s.sha256
        out.append(DataSource(s.id, s.title, s.publisher, s.extra.get("year"), s.licence, s.citation, s.path,
                              s.sha256, verified))
    return out


def synthetic_raw_files(raw_dir: str | os.PathLike | None) -> list[dict[str, str]]:
    """The generated raw files of the synthetic study with their sha256 (path relative to raw_dir)."""
    if not raw_dir or not Path(raw_dir).is_dir():
        return []
    root = Path(raw_dir)
    return [{"path": p.relative_to(root).as_posix(), "sha256": files.sha256_file(p)}
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")]


def package_versions() -> dict[str, str | None]:
    from ..pipeline import package_versions as pinned
    return pinned()


def colophon(input_hashes: dict[str, str], raw_dir: str | os.PathLike | None, synthetic: bool,
             sources_list: list[DataSource]) -> dict[str, Any]:
    """Everything the colophon prints (also stored in the key-numbers JSON)."""
    manifest = {"git": git_state(), "inputs": input_hashes}
    raw = (synthetic_raw_files(raw_dir) if synthetic else
           [{"path": s.path, "sha256": s.sha256, "verified": s.verified} for s in sources_list])
    return {
        "git": manifest["git"],
        "manifest_sha256": files.sha256_bytes(files.json_text(manifest).encode("utf-8")),
        "inputs": input_hashes,
        "python": platform.python_version(),
        "packages": package_versions(),
        "raw_files": raw,
    }
