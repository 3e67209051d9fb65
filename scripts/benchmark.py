#!/usr/bin/env python3
"""Print the pipeline's speed figures, all measured in one run: cold single region, cached re-run,
a second region, all regions with the atlas, the refusal of an unknown region, notebook overhead.

Usage: python scripts/benchmark.py [--synthetic] [--region Haaglanden] [--second JZ29] [--repeats 1]
                                   [--jobs N] [--json out.json]
Runs in a temporary folder, so it never touches data/derived or figures/.
"""
import argparse
import json
import sys

from jeugdhulp_wijken import benchmark


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--synthetic", action="store_true", help="benchmark the synthetic study")
    p.add_argument("--region", default=None, help="the single region (default: the pipeline's default)")
    p.add_argument("--second", default=None, help="the second region (default JZ29, or JZ02 synthetic)")
    p.add_argument("--mirror", default=None)
    p.add_argument("--repeats", type=int, default=1, help="repetitions; the fastest counts (default 1)")
    p.add_argument("--jobs", type=int, default=None, help="workers for the regions (default: the cores)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    result = benchmark.run_benchmark(args.synthetic, args.region, args.second, args.mirror, args.repeats, args.jobs)
    print(benchmark.report(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
