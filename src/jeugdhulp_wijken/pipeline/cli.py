"""``jhw-reproduce``: the command line of the pipeline."""
from __future__ import annotations

import argparse
import sys

from .. import paths
from .params import notebook_parameters, parse_param, parse_regions
from .plan import Context
from .runner import gemeente_table, run
from .schema import SCHEMA
from .spec import PipelineError, load_spec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jhw-reproduce",
        description="Reproduce the study: run the notebooks listed in pipeline.yml with papermill. The national "
                    "stage runs once and is shared by every region; each region is a cheap slice of it.")
    p.add_argument("--region", help="One region or a comma-separated list: 'Haaglanden' (default, HHS study area), "
                   "a jeugdzorgregio code (JZ01-JZ43; JZ40 does not exist) or name, a GGD region, 'NL', "
                   "'all' (every jeugdzorgregio, "
                   "the study area and NL), or gemeente codes joined with '+' (GM0518+GM0503).")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="Steps and regions at a time (default: the number of cores): independent steps in "
                        "threads, several regions in worker processes; every kernel uses one BLAS thread.")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a notebook parameter (repeatable); the value is read as YAML.")
    p.add_argument("--only", action="append", metavar="STEP", help="Run only this step (repeatable).")
    p.add_argument("--from", dest="start", metavar="STEP", help="Start at this step.")
    p.add_argument("--force", action="store_true", help="Rerun steps even when their cache is valid.")
    p.add_argument("--synthetic", action="store_true",
                   help="Run on the generated synthetic study (fictional data with known truth; offline).")
    p.add_argument("--mirror", help="Copy raw data from this local mirror instead of downloading "
                   "(default: $DATA_MIRROR, or ../shared/data beside the checkout if present).")
    p.add_argument("--offline", action="store_true", help="Never download; use the mirror only.")
    p.add_argument("--spec", default=str(paths.PIPELINE_SPEC), help=argparse.SUPPRESS)
    p.add_argument("--derived-root", help=argparse.SUPPRESS)
    p.add_argument("--figures-root", help=argparse.SUPPRESS)
    p.add_argument("--runs-root", help=argparse.SUPPRESS)
    p.add_argument("--raw-root", help=argparse.SUPPRESS)
    p.add_argument("--no-fetch", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--list", action="store_true", help="List the steps and their parameters, then exit.")
    p.add_argument("--list-regions", action="store_true", help="List every valid --region value, then exit.")
    p.add_argument("--no-edition", action="store_true",
                   help="Do not refresh the teaching edition (the executed notebooks as HTML, figures/.../leerversie).")
    p.add_argument("--stop-kernel-servers", action="store_true",
                   help="Stop the kernel servers that runs leave behind for the next run (each stops by itself "
                        "after $JHW_KERNEL_SERVER_IDLE seconds without a request, default 600), then exit.")
    p.add_argument("--verbose", action="store_true", help="Stream the notebooks' printed output.")
    p.add_argument("--no-progress", action="store_true", help="No per-cell progress bar.")
    return p


def _list_steps(spec, ctx) -> None:
    for i, s in enumerate(spec.steps, 1):
        stage = spec.stages[s.stage]
        where = "per region" if stage.per_region else f"stage {stage.name}, once"
        print(f"{i}. {s.name} ({s.notebook}; {where})")
        for k, v in notebook_parameters(ctx.root / s.notebook).items():
            info = SCHEMA.get(k)
            allowed = ""
            if info is not None and info.kind == "choice":
                allowed = f"  [{' | '.join(map(str, info.allowed()))}]"
            elif info is not None and info.kind in ("int", "float"):
                allowed = f"  [{info.minimum} .. {info.maximum}]"
            print(f"     {k} = {v!r}{allowed}")


def _list_regions(ctx, mirror, online) -> None:
    from .. import regions

    values = regions.valid_region_values(gemeente_table(ctx, mirror, online))
    print("Valid --region values (comma-separate several; 'all' = every jeugdzorgregio, the study area and NL):")
    for v in values:
        print("  " + v)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_spec(args.spec)
        ctx = Context.make(args.synthetic, args.derived_root, args.figures_root, args.runs_root, args.raw_root)
        if args.list:
            _list_steps(spec, ctx)
            return 0
        if args.stop_kernel_servers:
            from .kernels import stop_servers

            print(f"Stopped {stop_servers()} kernel server(s).")
            return 0
        if args.list_regions:
            _list_regions(ctx, args.mirror, not args.offline)
            return 0
        if args.jobs is not None and args.jobs < 1:
            raise PipelineError(f"--jobs {args.jobs}: give a number of at least 1 (steps and regions at a time).")
        overrides = dict(parse_param(p) for p in args.param)
        regions = parse_regions(args.region) if args.region else None
        if args.verbose:
            import logging
            logging.basicConfig(level=logging.INFO, format="    %(message)s")
        run(spec, ctx, regions=regions, overrides=overrides, only=args.only, start=args.start,
            force=args.force, mirror=args.mirror, online=not args.offline, fetch=not args.no_fetch,
            progress=not args.no_progress, log_output=args.verbose, jobs=args.jobs,
            edition=not args.no_edition)
    except KeyboardInterrupt:
        print("\nInterrupted: outputs of finished steps are kept, the interrupted step left no output; "
              "the run manifest says 'interrupted'.", file=sys.stderr)
        return 130
    except (PipelineError, ValueError, FileNotFoundError) as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
