"""The software environment: pins in ``environment.yml``, the hashed lock in ``requirements.lock``.

* ``environment.yml`` is edited by people. Its ``pins`` block (comment lines at the end of the
  file, so that conda does not read them) lists the direct dependencies, each at one exact
  version. Its ``pip:`` section holds one line, ``-r requirements.lock``.
* ``requirements.lock`` is generated from those pins by ``make lock`` (``scripts/lock.py``, with
  pip-tools in a throwaway virtual environment): every package, transitive ones included, at an
  exact version with its sha256 hashes.
* Both routes install from the lock: conda through the ``pip:`` section, ``make setup``
  (``scripts/setup_env.py``) with ``pip install --require-hashes -r requirements.lock``.

Standard library only: this module runs before any third-party package is installed.
``tests/test_environment.py`` checks the running environment against the lock.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT_YML = ROOT / "environment.yml"
LOCK = ROOT / "requirements.lock"
LOCK_LINE = "-r requirements.lock"
PINS_HEADER = re.compile(r"^#\s*pins\b.*:\s*$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")
_PIN_LINE = re.compile(r"^#\s+-\s+(?P<entry>\S+)\s*(?:#.*)?$")
_LOCK_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)\s*(?:;.*?)?\s*\\?$")
_HASH = re.compile(r"--hash=sha256:(?P<hash>[0-9a-f]{64})")


class EnvironmentSpecError(ValueError):
    """environment.yml or requirements.lock is not in the expected shape."""


def normalise(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pip_section(text: str, source: str = "environment.yml") -> list[str]:
    """The entries of the ``pip:`` list under ``dependencies`` (comments removed), in order."""
    entries: list[str] = []
    in_pip, pip_indent = False, 0
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if line.strip() == "- pip:":
            in_pip, pip_indent = True, indent
            continue
        if in_pip:
            if indent <= pip_indent:
                in_pip = False
                continue
            entries.append(line.strip()[2:].strip().strip("'\""))
    return entries


def parse_pins(text: str, source: str = "environment.yml") -> list[str]:
    """The ``name==version`` lines of the ``# pins ...:`` comment block, in order."""
    pins: list[str] = []
    in_block = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if PINS_HEADER.match(raw.strip()):
            in_block = True
            continue
        if not in_block:
            continue
        stripped = raw.strip()
        if not stripped.startswith("#"):
            raise EnvironmentSpecError(f"{source}:{lineno}: the pins block must stay at the end of the file, "
                                       f"as comment lines '#   - name==version'.")
        body = stripped.lstrip("#").strip()
        if not body or body.startswith("#"):
            continue  # blank comment or a group heading ('#   # numerics')
        m = _PIN_LINE.match(stripped)
        if not m or not _PIN.match(m["entry"]):
            raise EnvironmentSpecError(f"{source}:{lineno}: '{body}' is not a pin; write '#   - name==version' "
                                       f"(one exact version per package).")
        pins.append(m["entry"])
    if not pins:
        raise EnvironmentSpecError(f"{source}: no pins found; the file must end with a '# pins (...):' block of "
                                   f"'#   - name==version' lines.")
    return pins


def read_pins(path: str | Path = ENVIRONMENT_YML) -> dict[str, str]:
    """``{normalised package name: version}`` for every pin in environment.yml."""
    path = Path(path)
    out: dict[str, str] = {}
    for entry in parse_pins(path.read_text(encoding="utf-8"), str(path)):
        m = _PIN.match(entry)
        name = normalise(m["name"])
        if name in out:
            raise EnvironmentSpecError(f"{path}: '{m['name']}' is pinned twice.")
        out[name] = m["version"]
    return out


def read_lock(path: str | Path = LOCK) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``{normalised name: (version, sha256 hashes)}`` for every package of requirements.lock."""
    path = Path(path)
    if not path.is_file():
        raise EnvironmentSpecError(f"{path} is missing. Generate it from environment.yml with `make lock`.")
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    current: str | None = None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip() if not raw.strip().startswith("--hash") else raw.strip()
        if not line.strip():
            continue
        m = _LOCK_ENTRY.match(line.strip())
        if m:
            current = normalise(m["name"])
            out[current] = (m["version"], ())
        elif line.strip().startswith("--hash") and current is not None:
            version, hashes = out[current]
            out[current] = (version, hashes + tuple(h["hash"] for h in _HASH.finditer(line)))
        elif line.strip().startswith("-"):
            continue  # options such as --no-binary would appear here
        else:
            raise EnvironmentSpecError(f"{path}:{lineno}: unexpected line '{raw.strip()}'. Regenerate with `make lock`.")
    return out
