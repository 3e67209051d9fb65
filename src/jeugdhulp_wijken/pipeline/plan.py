"""Planning a run: which steps, for which regions, with which parameters, inputs and outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import catalog, paths
from . import schema
from .params import notebook_parameters
from .spec import PipelineError, Spec, Step, output_file, phases


@dataclass
class Context:
    """Where a run reads and writes: real data or the synthetic study."""
    synthetic: bool = False
    raw: Path = paths.RAW
    derived: Path = paths.DERIVED
    figures: Path = paths.FIGURES
    runs: Path = paths.RUNS
    root: Path = paths.ROOT

    @classmethod
    def make(cls, synthetic: bool, derived: Path | None = None, figures: Path | None = None,
             runs: Path | None = None, raw: Path | None = None) -> "Context":
        return cls(
            synthetic=synthetic,
            raw=Path(raw) if raw else (paths.SYNTHETIC_RAW if synthetic else paths.RAW),
            derived=Path(derived) if derived else (paths.SYNTHETIC_DERIVED if synthetic else paths.DERIVED),
            figures=Path(figures) if figures else (paths.SYNTHETIC_FIGURES if synthetic else paths.FIGURES),
            runs=Path(runs) if runs else paths.RUNS)

    def fill(self, template: Any, region_slug: str = "") -> Any:
        if isinstance(template, list):
            return [self.fill(t, region_slug) for t in template]
        if not isinstance(template, str):
            return template
        return template.format(raw=self.raw, derived=self.derived, figures=self.figures, region=region_slug)

    def rel(self, path: str | Path) -> str:
        """A path relative to the repository root when it lies inside it (manifests, messages)."""
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(p)


@dataclass
class StepPlan:
    step: Step
    notebook: Path
    parameters: dict[str, Any]
    output_dir: Path
    figures_dir: Path
    inputs: list[Path]
    optional_inputs: list[Path] = field(default_factory=list)
    user_files: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    region: str | None = None          # the region slug of a per-region step
    index: int = 0
    total: int = 0

    @property
    def label(self) -> str:
        return f"{self.step.name} [{self.region}]" if self.region else self.step.name


@dataclass
class RunPlan:
    before: list[StepPlan]
    regions: dict[str, list[StepPlan]]      # region slug -> its steps, in order
    after: list[StepPlan]
    region_values: dict[str, Any]           # region slug -> the value passed to the notebooks

    def all(self) -> list[StepPlan]:
        return self.before + [p for plans in self.regions.values() for p in plans] + self.after


def stage_dirs(spec: Spec, ctx: Context, stage_name: str, slug: str) -> tuple[Path, Path]:
    stage = spec.stages[stage_name]
    return Path(ctx.fill(stage.derived, slug)), Path(ctx.fill(stage.figures, slug))


def step_dirs(spec: Spec, ctx: Context, step: Step, slug: str) -> tuple[Path, Path]:
    """(output folder, figure folder) of a step for a region."""
    derived, figs = stage_dirs(spec, ctx, step.stage, slug)
    return (figs if step.writes_to == "figures" else derived), figs


def resolve_input(ref: str, spec: Spec, ctx: Context, slug: str) -> list[tuple[Path, bool]]:
    """[(path, optional)] of one input reference (see :mod:`.spec`)."""
    kind, _, name = ref.partition(":")
    if name and kind in ("source", "live"):
        from .. import sources
        return [(ctx.raw / sources.rel_path(name), kind == "live")]
    if name and kind == "each-region":
        return []  # links, not content: see linked_regions()
    if name and kind in spec.stages:
        directory, _ = stage_dirs(spec, ctx, kind, slug)
        if name in catalog.CATALOG:
            producer = spec.producer(name) if any(name in s.outputs for s in spec.steps) else None
            if producer is not None and producer.stage == kind:
                directory = step_dirs(spec, ctx, producer, slug)[0]
        return [(paths.artefact(directory, output_file(name), ctx.synthetic), False)]
    if "{" in ref:
        p = Path(ctx.fill(ref, slug))
        p = p if p.is_absolute() else ctx.root / p
        return [((paths.artefact(p.parent, p.name, ctx.synthetic) if "{derived}" in ref else p), False)]
    raise PipelineError(f"{spec.path.name}: input '{ref}' is not source:<id>, live:<id>, <stage>:<artefact>, "
                        f"each-region:<artefact> or a path template; stages are {', '.join(spec.stages)}.")


def linked_regions(ref: str, spec: Spec, ctx: Context, every_region: list[str], made: list[str]) -> list[str]:
    """The regions whose artefact an ``each-region:<artefact>`` input links to: those of ``every_region`` where it
    exists, and those this run makes (``made``). The step receives them as its ``linked_regions`` parameter, so
    its cache key holds which regions it links, not their content, and it need not wait for them."""
    name = ref.partition(":")[2]
    producer = spec.producer(name)
    present = {r for r in every_region
               if paths.artefact(step_dirs(spec, ctx, producer, r)[0], output_file(name), ctx.synthetic).is_file()}
    return sorted(present | set(made))


def standard_parameters(spec: Spec, ctx: Context, step: Step, slug: str) -> dict[str, Any]:
    out_dir, fig_dir = step_dirs(spec, ctx, step, slug)
    stage_dir, _ = stage_dirs(spec, ctx, step.stage, slug)
    params: dict[str, Any] = {"raw_dir": str(ctx.raw), "input_dir": str(stage_dir), "output_dir": str(out_dir),
                              "figures_dir": str(fig_dir), "synthetic": ctx.synthetic,
                              "derived_root": str(ctx.derived), "figures_root": str(ctx.figures)}
    for name, stage in spec.stages.items():
        if not stage.per_region and name != "default":
            d, f = stage_dirs(spec, ctx, name, slug)
            params[f"{name}_dir"] = str(d)
            params[f"{name}_figures_dir"] = str(f)
    return params


def _select(spec: Spec, only: list[str] | None, start: str | None) -> list[Step]:
    selected = list(spec.steps)
    if start:
        spec.step(start)
        selected = selected[[s.name for s in spec.steps].index(start):]
    if only:
        for name in only:
            spec.step(name)
        selected = [s for s in selected if s.name in only]
    if not selected:
        raise PipelineError(f"No step to run: --from {start} with --only {', '.join(only or [])} selects nothing "
                            f"(the steps run in this order: {', '.join(s.name for s in spec.steps)}).")
    return selected


def check_overrides(spec: Spec, declared: dict[str, dict], overrides: dict[str, Any]) -> None:
    if "region" in overrides:
        raise PipelineError("Set the region with --region, not --param region=...")
    unknown = sorted(k for k in overrides if not any(k in d for d in declared.values()))
    if unknown:
        lines = [f"  {name}: {', '.join(sorted(d))}" for name, d in declared.items()]
        raise PipelineError(f"Unknown parameter(s) {unknown}. Valid parameters per step:\n" + "\n".join(lines))


def plan_run(spec: Spec, ctx: Context, *, regions: list[Any] | None = None, region: Any = None,
             overrides: dict[str, Any] | None = None, only: list[str] | None = None,
             start: str | None = None, every_region: list[str] = ()) -> RunPlan:
    """Resolve steps, regions, parameters and paths; refuse unknown steps, parameters and bad values.

    ``regions`` are region values already checked against the data (see :func:`.regions.expand`);
    ``region`` is a shortcut for one region. Without either, the spec's default region is used.
    ``every_region`` (slugs of ``--region all``): the regions an ``each-region:`` input may link to (see
    :func:`linked_regions`).
    """
    from .. import figure_registry

    overrides = dict(overrides or {})
    defaults = dict(spec.defaults)
    if ctx.synthetic:
        defaults.update(spec.synthetic)
    if regions is None:
        regions = [region if region is not None else defaults.get("region", "NL")]
    selected = _select(spec, only, start)
    declared = {s.name: notebook_parameters(ctx.root / s.notebook) for s in selected}
    check_overrides(spec, declared, overrides)
    registry = figure_registry.load_registry()
    before, regional, after = phases(spec, selected)
    if regional and len(regions) == 1 and not only and not (start and start in {s.name for s in after}):
        after = []  # the atlas compares regions: it runs with several regions, or when asked for
    region_values = {paths.region_slug(r): r for r in regions} if regional else {}

    def make(step: Step, slug: str, region_value: Any) -> StepPlan:
        nb_params = declared[step.name]
        bad = sorted(set(step.parameters) - set(nb_params))
        if bad:
            raise PipelineError(f"{spec.path.name}: step '{step.name}' sets parameter(s) {bad} that "
                                f"{step.notebook} does not declare. Valid: {', '.join(sorted(nb_params))}.")
        params = {k: v for k, v in standard_parameters(spec, ctx, step, slug).items() if k in nb_params}
        params.update({k: v for k, v in defaults.items() if k in nb_params and k != "region"})
        if spec.per_region(step) and "region" in nb_params:
            params["region"] = region_value
        params.update({k: ctx.fill(v, slug) for k, v in step.parameters.items()})
        params.update({k: v for k, v in overrides.items() if k in nb_params})
        for ref in (r for r in step.inputs if r.startswith("each-region:")):
            if "linked_regions" not in nb_params:
                raise PipelineError(f"{spec.path.name}: step '{step.name}' reads {ref}; its notebook {step.notebook} "
                                    "must declare the parameter linked_regions (the regions it links to).")
            producer = spec.producer(ref.partition(":")[2])
            made = list(region_values) if producer in regional else []
            params["linked_regions"] = linked_regions(ref, spec, ctx, every_region, made)
        try:
            params = {k: schema.check_value(k, v) for k, v in params.items()}
        except PipelineError as exc:
            raise PipelineError(f"Step '{step.name}' ({step.notebook}): {exc}") from None
        out_dir, fig_dir = step_dirs(spec, ctx, step, slug)
        plan = StepPlan(step, ctx.root / step.notebook, params, out_dir, fig_dir, [],
                        region=slug if spec.per_region(step) else None)
        for ref in step.inputs:
            for p, optional in resolve_input(ref, spec, ctx, slug):
                (plan.optional_inputs if optional else plan.inputs).append(p)
        plan.user_files = sorted({f for k, v in params.items() for f in schema.user_files(k, v)})
        plan.outputs = [paths.artefact(out_dir, output_file(o), ctx.synthetic) for o in step.outputs]
        for fig in figure_registry.figures_of_step(step.name, registry):
            plan.outputs += figure_registry.figure_files(fig, fig_dir, ctx.synthetic)
        if step.figure_inputs:
            for other in spec.steps:
                if other.name == step.name:
                    break
                _, other_fig = stage_dirs(spec, ctx, other.stage, slug)
                for fig in figure_registry.figures_of_step(other.name, registry):
                    plan.inputs += figure_registry.figure_files(fig, other_fig, ctx.synthetic)
        return plan

    run = RunPlan([make(s, "", None) for s in before],
                  {slug: [make(s, slug, value) for s in regional] for slug, value in region_values.items()},
                  [make(s, "", None) for s in after], region_values)
    order = {s.name: i for i, s in enumerate(before + regional + after, 1)}
    for p in run.all():
        p.index, p.total = order[p.step.name], len(order)
    return run
