#!/usr/bin/env python3
"""Make the reference notebooks and reference manifest from a finished run (`make reference`).

    python scripts/make_reference.py              # from the latest run, into notebooks/reference/
    python scripts/make_reference.py <run id> --out notebooks/reference

The run must have executed every step (run it with --force). See jeugdhulp_wijken.reference.
"""
from __future__ import annotations

import argparse
import sys

from jeugdhulp_wijken import reference, verify


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", default="latest", help="'latest' (default), a run id or a manifest.json")
    p.add_argument("--out", default=str(reference.REFERENCE_DIR), help="default: notebooks/reference")
    p.add_argument("--synthetic", action="store_true", help="'latest' means the latest synthetic run")
    args = p.parse_args(argv)
    try:
        written = reference.make_reference(args.run, args.out, synthetic=args.synthetic)
    except (reference.ReferenceError, verify.VerifyError, FileNotFoundError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    size = sum(w.stat().st_size for w in written)
    for w in written:
        print(f"  {w} ({w.stat().st_size / 1e3:.0f} kB)")
    print(f"Reference written: {len(written)} files, {size / 1e6:.2f} MB. Check it with `make verify`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
