#!/usr/bin/env python3
"""Set up the compendium's environment without conda.

Creates ``.venv`` (if needed), pip-installs exactly the pins of ``environment.yml``,
installs the package itself (editable) and registers the Jupyter kernel
``jeugdhulp-wijken`` inside the environment. Standard library only; safe to rerun: it
does nothing when environment.yml and pyproject.toml are unchanged since the last setup.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from jeugdhulp_wijken.environment import ENVIRONMENT_YML, parse_pip_requirements  # noqa: E402

VENV = ROOT / ".venv"
KERNEL = "jeugdhulp-wijken"
STAMP = VENV / ".jhw-setup-stamp"


def stamp() -> str:
    h = hashlib.sha256()
    for f in (ENVIRONMENT_YML, ROOT / "pyproject.toml", Path(__file__)):
        h.update(f.read_bytes())
    return h.hexdigest()


def run(*cmd: str) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> int:
    if sys.version_info[:2] != (3, 11):
        print(f"Note: environment.yml targets Python 3.11; this is {sys.version.split()[0]}. "
              "The pins are tested on 3.11.", file=sys.stderr)
    py = VENV / "bin" / "python"
    if STAMP.is_file() and STAMP.read_text().strip() == stamp() and py.exists():
        print(f"Environment {VENV} is up to date with environment.yml.")
        return 0
    if not py.exists():
        print(f"Creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    reqs = parse_pip_requirements(ENVIRONMENT_YML.read_text(encoding="utf-8"))
    req_file = VENV / "requirements-from-environment.txt"
    req_file.write_text("# generated from environment.yml by scripts/setup_env.py\n" + "\n".join(reqs) + "\n")
    print(f"Installing {len(reqs)} pinned packages from environment.yml", flush=True)
    run(str(py), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(req_file))
    run(str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "-e", str(ROOT))
    run(str(py), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
        "--display-name", "Python (jeugdhulp-wijken)")
    STAMP.write_text(stamp() + "\n")
    print(f"Environment ready: {VENV} (kernel '{KERNEL}').")
    return 0


if __name__ == "__main__":
    sys.exit(main())
