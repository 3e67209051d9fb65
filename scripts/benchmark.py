#!/usr/bin/env python3
"""Print the pipeline's speed figures: cold run, cached re-run, per-step times, notebook overhead.

Usage: python scripts/benchmark.py [--synthetic] [--region JZ01] [--repeats 2] [--json out.json]
Runs in a temporary folder, so it never touches data/derived or figures/.
"""
import argparse
import json
import sys

from jeugdhulp_wijken import benchmark


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--synthetic", action="store_true", help="benchmark the synthetic study")
    p.add_argument("--region", default=None)
    p.add_argument("--mirror", default=None)
    p.add_argument("--repeats", type=int, default=2, help="repetitions; the fastest counts (default 2)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    result = benchmark.run_benchmark(args.synthetic, args.region, args.mirror, args.repeats)
    print(benchmark.report(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
