"""The pipeline spec (``pipeline.yml``): stages, steps, their inputs and outputs, and where they live.

Stages say where a step writes. A stage with ``per_region: true`` runs once per region; the
other stages run once per state of code, data and parameters and are shared by every region.
Steps are listed in the order they run: the steps before the first per-region step form the
shared stage, then the per-region steps run for every region, then the remaining steps
(the atlas) run once.

Inputs are references:

* ``source:<id>``       a raw file of ``data/sources.yml``;
* ``live:<id>``         an optional live table of ``data/sources.yml`` (hashed when present);
* ``<stage>:<name>``    an artefact of a stage folder: a catalog id, or a literal file name;
* a path template       with ``{raw}``, ``{derived}``, ``{figures}``, ``{region}`` (test pipelines).

Outputs are catalog ids (or literal file names in test pipelines).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from .. import catalog, files, paths


class PipelineError(RuntimeError):
    """A problem with the spec, the parameters or a step; the message says what to do."""


class StepFailed(PipelineError):
    """A notebook raised an exception or did not write its declared outputs."""


@dataclass(frozen=True)
class Stage:
    name: str
    derived: str
    figures: str
    per_region: bool = False


DEFAULT_STAGE = Stage("default", "{derived}/{region}", "{figures}/{region}", per_region=True)


@dataclass(frozen=True)
class Step:
    name: str
    notebook: str
    stage: str
    parameters: dict
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: if true, every registered figure of the steps before it (national and this region) is an input
    figure_inputs: bool = False
    #: "figures": the outputs go to the stage's figure folder (a report beside its figures)
    writes_to: str = "derived"


@dataclass(frozen=True)
class Spec:
    path: Path
    defaults: dict
    synthetic: dict
    steps: tuple[Step, ...]
    stages: dict[str, Stage] = field(default_factory=lambda: {"default": DEFAULT_STAGE})

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise PipelineError(f"Unknown step '{name}'. Steps in {self.path.name}: "
                            f"{', '.join(s.name for s in self.steps)}.")

    def stage_of(self, step: Step) -> Stage:
        return self.stages[step.stage]

    def per_region(self, step: Step) -> bool:
        return self.stage_of(step).per_region

    def producer(self, output: str) -> Step:
        """The step that declares ``output``."""
        for s in self.steps:
            if output in s.outputs:
                return s
        raise PipelineError(f"{self.path.name}: no step declares output '{output}'.")


def output_file(name: str) -> str:
    """The file name of a declared output: a catalog id, or a literal file name (test pipelines)."""
    if name in catalog.CATALOG:
        return catalog.filename(name)
    if "." in name:
        return name
    raise PipelineError(f"Output '{name}' is neither a catalog id (jeugdhulp_wijken/catalog.py) nor a file name.")


def load_spec(path: str | Path = paths.PIPELINE_SPEC) -> Spec:
    """Read and check the pipeline spec."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"Pipeline spec not found: {path}")
    doc = files.load_yaml(path.read_text(encoding="utf-8")) or {}
    stages = {"default": DEFAULT_STAGE}
    for name, raw in (doc.get("stages") or {}).items():
        if not isinstance(raw, dict) or "derived" not in raw:
            raise PipelineError(f"{path}: stage '{name}' needs at least 'derived' (its output folder).")
        stages[name] = Stage(name, raw["derived"], raw.get("figures", raw["derived"]),
                             bool(raw.get("per_region", False)))
    steps = []
    for i, raw in enumerate(doc.get("steps") or [], start=1):
        missing = [k for k in ("name", "notebook", "outputs") if k not in raw]
        if missing:
            raise PipelineError(f"{path}: step {i} lacks {missing}.")
        stage = raw.get("stage", "default")
        if stage not in stages:
            raise PipelineError(f"{path}: step '{raw['name']}' names stage '{stage}'; stages are "
                                f"{', '.join(s for s in stages if s != 'default')}.")
        step = Step(name=raw["name"], notebook=raw["notebook"], stage=stage,
                    parameters=dict(raw.get("parameters") or {}),
                    inputs=tuple(raw.get("inputs") or ()), outputs=tuple(raw.get("outputs") or ()),
                    figure_inputs=bool(raw.get("figure_inputs", False)),
                    writes_to=str(raw.get("writes_to", "derived")))
        if step.writes_to not in ("derived", "figures"):
            raise PipelineError(f"{path}: step '{step.name}': writes_to must be 'derived' or 'figures'.")
        for out in step.outputs:
            output_file(out)
        steps.append(step)
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise PipelineError(f"{path}: step names must be unique, got {names}.")
    if not steps:
        raise PipelineError(f"{path}: no steps.")
    spec = Spec(path, dict(doc.get("defaults") or {}), dict(doc.get("synthetic") or {}), tuple(steps), stages)
    flags = [spec.per_region(s) for s in steps]
    if True in flags:
        first, last = flags.index(True), len(flags) - 1 - flags[::-1].index(True)
        if not all(flags[first:last + 1]):
            raise PipelineError(f"{path}: the per-region steps must be listed together "
                                f"(found {[s.name for s in steps]}).")
    return spec


def phases(spec: Spec, steps: list[Step]) -> tuple[list[Step], list[Step], list[Step]]:
    """Split ``steps`` into the shared steps before the regions, the per-region steps and the steps after."""
    before, regional, after = [], [], []
    seen_regional = False
    for s in steps:
        if spec.per_region(s):
            regional.append(s)
            seen_regional = True
        elif seen_regional or (any(spec.per_region(x) for x in spec.steps)
                               and spec.steps.index(s) > max(i for i, x in enumerate(spec.steps)
                                                             if spec.per_region(x))):
            after.append(s)
        else:
            before.append(s)
    return before, regional, after
