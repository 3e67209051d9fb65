#!/usr/bin/env python3
"""Regenerate ``requirements.lock`` from the pins of ``environment.yml`` (``make lock``).

pip-tools (``pip-compile --generate-hashes``) runs in a throwaway virtual environment in the
system's temporary folder, never in the project environment. The lock lists every package,
transitive ones included, at an exact version with the sha256 hashes of its files, for
Python 3.11 on Linux (the platform the compendium is tested on).

Versions already in ``requirements.lock`` are kept when they still fit the pins (pip-compile's
preference for an existing output file); ``--upgrade`` drops that preference. When there is no
lock yet, ``--prefer-env PYTHON`` seeds it with the versions installed in that interpreter, so a
working environment stays as it is. Standard library only.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from jeugdhulp_wijken.environment import ENVIRONMENT_YML, LOCK, normalise, parse_pins  # noqa: E402

#: The locking tools, pinned so that the same pins give the same lock.
TOOLS = ("pip==25.3", "pip-tools==7.6.2")
INPUT_NAME = "environment-pins.in"


def tools_python() -> Path:
    """A virtual environment with pip-tools, outside the project (created once, then reused)."""
    folder = Path(tempfile.gettempdir()) / ("jhw-lock-tools-" + "-".join(t.replace("==", "") for t in TOOLS))
    py = folder / "bin" / "python"
    if not (folder / "bin" / "pip-compile").exists():
        print(f"Creating the throwaway locking environment {folder}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TOOLS],
                       check=True)
    return py


def seed_from(python: str, pins: list[str], lock: Path) -> None:
    """Write the installed versions of ``python`` as a preliminary lock (preferences for pip-compile)."""
    out = subprocess.run([python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                         check=True, capture_output=True, text=True).stdout
    pinned = {normalise(p.split("==")[0]) for p in pins}
    own = normalise("jeugdhulp-wijken")
    lines = [ln for ln in out.splitlines() if "==" in ln and normalise(ln.split("==")[0]) != own]
    print(f"Seeding {lock.name} with {len(lines)} installed versions of {python} ({len(pinned)} pinned)")
    lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upgrade", action="store_true", help="ignore the versions of the existing lock")
    ap.add_argument("--prefer-env", metavar="PYTHON", default="",
                    help="seed a missing lock with the package versions installed in this interpreter")
    args = ap.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        print(f"Note: the lock is made for Python 3.11; this is {sys.version.split()[0]}.", file=sys.stderr)
    pins = parse_pins(ENVIRONMENT_YML.read_text(encoding="utf-8"), str(ENVIRONMENT_YML))
    py = tools_python()
    if not LOCK.exists() and args.prefer_env:
        seed_from(args.prefer_env, pins, LOCK)
    with tempfile.TemporaryDirectory(prefix="jhw-lock-") as tmp:
        (Path(tmp) / INPUT_NAME).write_text(
            "# the pins of environment.yml\n" + "\n".join(pins) + "\n", encoding="utf-8")
        cmd = [str(py), "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe",
               "--strip-extras", "--no-emit-index-url", "--no-emit-trusted-host", "--no-emit-find-links",
               "--annotation-style=line", "--output-file", str(LOCK), INPUT_NAME]
        if args.upgrade:
            cmd.append("--upgrade")
        env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "make lock"}
        print(f"Locking {len(pins)} pins of {ENVIRONMENT_YML.name} into {LOCK.name}", flush=True)
        subprocess.run(cmd, check=True, cwd=tmp, env=env)
    print(f"Wrote {LOCK}. Install it with `make setup` (or conda env create -f environment.yml).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
