#!/usr/bin/env python3
"""Set up the compendium's environment without conda (``make setup``).

Creates ``.venv`` (if needed), installs every package of ``requirements.lock`` at its locked
version with its hashes checked (``pip install --require-hashes``), installs the package itself
(editable, ``--no-deps``: its dependencies are all in the lock) and registers the Jupyter kernel
``jeugdhulp-wijken`` inside the environment. Standard library only; safe to rerun: it does
nothing when the lock and pyproject.toml are unchanged since the last setup.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from jeugdhulp_wijken.environment import LOCK, read_lock  # noqa: E402

VENV = ROOT / ".venv"
KERNEL = "jeugdhulp-wijken"
STAMP = VENV / ".jhw-setup-stamp"


def stamp() -> str:
    h = hashlib.sha256()
    for f in (LOCK, ROOT / "pyproject.toml", Path(__file__)):
        h.update(f.read_bytes())
    return h.hexdigest()


def run(*cmd: str) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> int:
    if sys.version_info[:2] != (3, 11):
        print(f"Note: requirements.lock is made for Python 3.11; this is {sys.version.split()[0]}.",
              file=sys.stderr)
    py = VENV / "bin" / "python"
    locked = read_lock()  # refuses a missing or malformed lock with a message saying what to do
    if STAMP.is_file() and STAMP.read_text().strip() == stamp() and py.exists():
        print(f"Environment {VENV} is up to date with {LOCK.name}.")
        return 0
    if not py.exists():
        print(f"Creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"Installing {len(locked)} locked packages from {LOCK.name} (hashes checked)", flush=True)
    run(str(py), "-m", "pip", "install", "--disable-pip-version-check", "--require-hashes", "-r", str(LOCK))
    run(str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "-e", str(ROOT))
    run(str(py), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
        "--display-name", "Python (jeugdhulp-wijken)")
    # deduce's name lists ship in its wheel; build its lookup cache now rather than on first use
    run(str(py), "-c", "from jeugdhulp_wijken.qualitative.dutch_lists import build_trimmed_lookup; "
        "print(f'deduce lookup folder ready: {build_trimmed_lookup()}')")
    STAMP.write_text(stamp() + "\n")
    print(f"Environment ready: {VENV} (kernel '{KERNEL}').")
    return 0


if __name__ == "__main__":
    sys.exit(main())
