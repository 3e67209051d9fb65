"""Read the pinned package set from ``environment.yml`` (standard library only).

``environment.yml`` is the single source of truth for the software environment. Conda
installs its ``pip:`` list through pip; machines without conda run ``scripts/setup_env.py``,
which uses this module to turn the same list into a pip requirements file. The parser is
deliberately small and strict (it runs before any third-party package is installed);
``tests/test_environment.py`` checks it against a full YAML parser and checks that the
running environment matches every pin.
"""
from __future__ import annotations

import re
from pathlib import Path

ENVIRONMENT_YML = Path(__file__).resolve().parents[2] / "environment.yml"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


class EnvironmentSpecError(ValueError):
    """environment.yml is not in the expected shape."""


def parse_pip_requirements(text: str, source: str = "environment.yml") -> list[str]:
    """The entries of the ``pip:`` list under ``dependencies``, in order."""
    lines = text.splitlines()
    reqs: list[str] = []
    in_pip = False
    pip_indent = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if stripped == "- pip:":
            in_pip, pip_indent = True, indent
            continue
        if in_pip:
            if indent <= pip_indent:
                in_pip = False
                continue
            if not stripped.startswith("- "):
                raise EnvironmentSpecError(f"{source}:{lineno}: expected '- name==version' in the pip list.")
            entry = stripped[2:].strip().strip("'\"")
            if not _PIN.match(entry):
                raise EnvironmentSpecError(f"{source}:{lineno}: '{entry}' is not pinned exactly (name==version).")
            reqs.append(entry)
    if not reqs:
        raise EnvironmentSpecError(f"{source}: no pinned packages found under 'dependencies: - pip:'.")
    return reqs


def read_pins(path: str | Path = ENVIRONMENT_YML) -> dict[str, str]:
    """``{normalised package name: version}`` for every pin in environment.yml."""
    path = Path(path)
    pins = {}
    for entry in parse_pip_requirements(path.read_text(encoding="utf-8"), str(path)):
        m = _PIN.match(entry)
        pins[normalise(m["name"])] = m["version"]
    return pins


def normalise(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()
