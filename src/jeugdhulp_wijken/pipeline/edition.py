"""The teaching edition (*leerversie*): the executed notebooks of the study as self-contained HTML pages.

A student or reviewer reads the results without running anything. After a successful run the runner
calls :func:`build`; ``python -m jeugdhulp_wijken.pipeline.edition`` rebuilds it from the last run.

Which executed notebook? For every step the edition shows the executed copy that made the step's
*current* outputs: the cache record beside the outputs (``.jhw_cache/<step>.json``) holds the id of the
run that wrote them, and that run keeps the executed notebook (``data/runs/<run id>/notebooks/...``).
A step served from the cache therefore shows the notebook of the earlier run that made it.

Where? Pages of the shared stages (national, qualitative, atlas) are written once, in
``{figures}/leerversie/``, with the glossary (*begrippenlijst*) and an index of the shared steps and of
every region's edition. Pages of the per-region steps go next to the region's report, in
``{figures}/<region>/leerversie/``, with an index that lists the whole study in pipeline order.

Self-contained: nbconvert's JupyterLab template without require.js, MathJax, Mermaid and the widget
manager (:file:`templates/edition/page.html.j2`); images are embedded as data URIs; an output that
would load anything from the internet is replaced by a note; every page is checked before it is written
(:func:`external_resources`). Formulas in the narrative are written in plain text, so no MathJax is
needed. Absolute paths of the checkout are shown repository-relative, so a page does not depend on
where the repository lives. A page is rendered again only when its executed notebook, the template or
its navigation changed (``.jhw_edition.json`` in each folder).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import files
from . import cache
from .execute import executed_notebook
from .plan import Context, StepPlan, stage_dirs, step_dirs
from .edition_html import (GLOSSARY_SOURCE, LABELS, RECORD, TEMPLATES, EditionError, Page, _glossary,  # noqa: F401
                           _href, _load_record, _nav, _Renderer, _write_index, external_resources, notebook_title)
from .spec import PipelineError, Spec, Step, load_spec
from .steps import say

EDITION_DIR = "leerversie"
GLOSSARY_PAGE = "begrippenlijst.html"

# --------------------------------------------------------------------------- where things are

def shared_dir(ctx: Context) -> Path:
    """The folder of the shared pages, the glossary and the shared index: ``{figures}/leerversie``."""
    return ctx.figures / EDITION_DIR


def region_dir(spec: Spec, ctx: Context, slug: str) -> Path:
    """The folder of a region's edition: ``leerversie`` next to the region's report (its figure folder)."""
    first = next((s for s in spec.steps if spec.per_region(s)), None)
    if first is None:
        return shared_dir(ctx)
    return stage_dirs(spec, ctx, first.stage, slug)[1] / EDITION_DIR


def index_path(spec: Spec, ctx: Context, slug: str | None = None) -> Path:
    """The index page of a region's edition, or of the shared steps (``slug=None``)."""
    return (region_dir(spec, ctx, slug) if slug else shared_dir(ctx)) / "index.html"


def _step_plan(spec: Spec, ctx: Context, step: Step, slug: str) -> StepPlan:
    out_dir, fig_dir = step_dirs(spec, ctx, step, slug)
    return StepPlan(step, ctx.root / step.notebook, {"synthetic": ctx.synthetic}, out_dir, fig_dir, [],
                    region=slug or None)


def executed_copy(spec: Spec, ctx: Context, step: Step, slug: str = "") -> tuple[Path | None, str | None]:
    """(executed notebook, run id) of the run that made the step's current outputs; None when unknown
    (the step never ran) or when that run's folder was removed."""
    plan = _step_plan(spec, ctx, step, slug if spec.per_region(step) else "")
    record = cache.record_path(plan)
    if not record.is_file():
        return None, None
    try:
        run_id = json.loads(record.read_text(encoding="utf-8")).get("run_id")
    except json.JSONDecodeError:
        return None, None
    if not run_id:
        return None, None
    nb = executed_notebook(ctx.runs / run_id, plan)
    return (nb if nb.is_file() else None), run_id


def page_name(spec: Spec, step: Step) -> str:
    """``<notebook stem>.html``; with the step name added if the same notebook appears twice in a folder."""
    stem = Path(step.notebook).stem
    twins = [s for s in spec.steps if Path(s.notebook).stem == stem and spec.per_region(s) == spec.per_region(step)]
    return f"{stem}.html" if len(twins) == 1 else f"{stem}_{step.name}.html"


def pages(spec: Spec, ctx: Context, slug: str | None = None) -> list[Page]:
    """The pages of a region's edition in pipeline order (shared steps too), or only the shared ones."""
    out = []
    for step in spec.steps:
        per = spec.per_region(step)
        if per and not slug:
            continue
        folder = region_dir(spec, ctx, slug) if per else shared_dir(ctx)
        source, run_id = executed_copy(spec, ctx, step, slug if per else "")
        out.append(Page(step, slug if per else None, folder / page_name(spec, step), source, run_id))
    return out


# --------------------------------------------------------------------------- building

def build(spec: Spec, ctx: Context, regions: dict[str, Any] | list[str] | None = None, *, lang: str = "nl",
          verbose: bool = False) -> dict[str, Any]:
    """Render (or refresh) the edition: the shared pages and index, and every given region's pages and index.

    ``regions`` maps region slugs to the region value shown in titles (a list of slugs also works).
    Returns what was written (repository-relative paths): ``{"index": ..., "regions": {slug: index},
    "rendered": [...], "missing": [step labels without an executed notebook]}``.
    """
    return _guarded(lang, lambda: _build(spec, ctx, regions, lang=lang, verbose=verbose))


def build_region(spec: Spec, ctx: Context, slug: str, value: Any, *, lang: str = "nl",
                 planned: Iterable[str] = ()) -> list[str]:
    """Render one region's pages and index only, and return the pages rendered (a parallel worker does
    this for its region; the shared pages and index are left to :func:`build`). ``planned``: names of the
    steps this run will still execute (the atlas); their pages and artefacts are linked as if they existed,
    so that the final :func:`build` finds the region's pages current."""
    def region_pages() -> list[str]:
        builder = _Builder(spec, ctx, lang, frozenset(planned))
        builder.region(slug, value)
        return builder.rendered

    return _guarded(lang, region_pages)


def build_shared(spec: Spec, ctx: Context, *, lang: str = "nl", planned: Iterable[str] = ()) -> list[str]:
    """Render the pages of the shared steps that have run, and return them (a run of several regions does
    this while its regions run, once the national steps and the atlas beside them are done; the index and
    the glossary are left to :func:`build`, which finds these pages current). ``planned``: as for
    :func:`build_region`."""
    def shared_pages() -> list[str]:
        builder = _Builder(spec, ctx, lang, frozenset(planned))
        builder.shared()
        return builder.rendered

    return _guarded(lang, shared_pages)


def render_early(build_pages: Callable[..., Any], **kwargs: Any) -> None:
    """``build_pages(**kwargs)`` (:func:`build_region` or :func:`build_shared`) before the run's final :func:`build`:
    a worker's region, the shared pages while the regions run, a region's pages while its report runs. A page
    that cannot be made here is left to that final build, which reports it."""
    try:
        build_pages(**kwargs)
    except PipelineError:
        pass


def _guarded(lang: str, make: Callable[[], Any]) -> Any:
    """``make()`` with the language checked first and any failure as an :class:`EditionError` that says
    what to do."""
    if lang not in LABELS:
        raise EditionError(f"lang={lang!r}: the edition exists in {', '.join(LABELS)}.")
    try:
        return make()
    except EditionError:
        raise
    except Exception as exc:  # nbconvert, a damaged executed notebook, a full disk
        raise EditionError(f"The teaching edition could not be made: {type(exc).__name__}: {exc}. The study's "
                           "outputs are complete; rebuild the edition with `python -m "
                           "jeugdhulp_wijken.pipeline.edition`, or run with --no-edition.") from exc


def _label_of(value: Any) -> str:
    return "+".join(value) if isinstance(value, (list, tuple)) else str(value)


class _Builder:
    """Renders pages whose executed notebook, template or navigation changed (records in ``RECORD``)."""

    def __init__(self, spec: Spec, ctx: Context, lang: str, planned: frozenset[str] = frozenset()):
        self.spec, self.ctx, self.lang, self.planned = spec, ctx, lang, planned
        self.labels, self.renderer = LABELS[lang], _Renderer(ctx, lang)
        self.shared_index = index_path(spec, ctx)
        self.glossary = shared_dir(ctx) / GLOSSARY_PAGE
        self.fingerprint = self.renderer.fingerprint()
        self.rendered: list[str] = []

    def will_exist(self, artefact_id: str) -> bool:
        return any(artefact_id in s.outputs for s in self.spec.steps if s.name in self.planned)

    def links_of(self, page_list: list[Page]) -> list[tuple[str, Path]]:
        out = [("report_html", self.labels["report"], _artefact_file(self.spec, self.ctx, "report_html", p.region))
               for p in page_list[:1] if p.region]
        out.append(("atlas_html", self.labels["atlas"], _artefact_file(self.spec, self.ctx, "atlas_html", "")))
        return [(t, f) for artefact, t, f in out if f is not None and (f.is_file() or self.will_exist(artefact))]

    def render_all(self, todo: list[Page], all_pages: list[Page], index: Path, where: str,
                   extra: list[tuple[str, Path]], verbose: bool = False) -> None:
        import nbformat

        spec, ctx, labels = self.spec, self.ctx, self.labels
        # a shared page links a per-region notebook to the shared index, which lists the regions
        links = {Path(s.notebook).name: self.shared_index for s in spec.steps if spec.per_region(s)}
        links.update({Path(p.step.notebook).name: p.target for p in all_pages
                      if p.source is not None or p.step.name in self.planned})
        links[GLOSSARY_SOURCE] = self.glossary
        folders: dict[Path, dict] = {}
        for page in todo:
            if page.source is None:
                continue
            folder = page.target.parent
            record = folders.setdefault(folder, _load_record(folder))
            nav = _nav(labels, index, page.target, self.glossary, extra)
            key = files.sha256_bytes(json.dumps([files.sha256_file(page.source), self.fingerprint, nav, self.lang,
                                                 ctx.synthetic, {k: str(v) for k, v in links.items()}]).encode())
            if record.get(page.target.name) == key and page.target.is_file():
                continue
            source = labels["source"].format(notebook=page.step.notebook, run_id=page.run_id)
            self.renderer.render(nbformat.read(page.source, as_version=4), page.target,
                                 metadata_path=(ctx.root / page.step.notebook).parent, nav=nav, where=where,
                                 source=source, links=links, replace=_staging(spec, ctx, page))
            record[page.target.name] = key
            self.rendered.append(ctx.rel(page.target))
            if verbose:
                say(f"  edition: {ctx.rel(page.target)}")
        for folder, record in folders.items():
            files.write_json(folder / RECORD, {**_load_record(folder), **record})

    def shared(self, verbose: bool = False) -> tuple[list[Page], list[tuple[str, Path]]]:
        """The pages of the shared steps; returns (those pages, the links of their navigation)."""
        plist = pages(self.spec, self.ctx, None)
        extra = self.links_of(plist)
        self.render_all(plist, plist, self.shared_index, self.labels["where_shared"], extra, verbose)
        return plist, extra

    def region(self, slug: str, value: Any, verbose: bool = False) -> tuple[Path, list[str]]:
        """The region's pages and its index; returns (index, steps not executed yet)."""
        plist = pages(self.spec, self.ctx, slug)
        index = index_path(self.spec, self.ctx, slug)
        extra = self.links_of([p for p in plist if p.region])
        label = _label_of(value)
        self.render_all([p for p in plist if p.region], plist, index,
                        self.labels["where_region"].format(region=label), extra, verbose)
        _write_index(index, plist, self.labels, self.lang, self.ctx, self.glossary, extra,
                     self.labels["title_region"].format(region=label), shared_index=self.shared_index,
                     region_label=label)
        return index, [f"{p.step.name} [{slug}]" for p in plist if p.region and p.source is None]


def _build(spec: Spec, ctx: Context, regions: dict[str, Any] | list[str] | None, *, lang: str,
           verbose: bool) -> dict[str, Any]:
    regions = {s: s for s in regions} if isinstance(regions, list) else dict(regions or {})
    b = _Builder(spec, ctx, lang)
    labels, shared, shared_index, glossary = b.labels, shared_dir(ctx), b.shared_index, b.glossary
    # shared pages, glossary and the shared index (which lists every region's edition)
    shared_pages, shared_extra = b.shared(verbose)
    _glossary(b.renderer, glossary, _nav(labels, shared_index, glossary, glossary)[:1], labels, b.fingerprint)
    region_indexes, missing = {}, [p.step.name for p in shared_pages if p.source is None]
    for slug, value in regions.items():
        region_indexes[slug], not_run = b.region(slug, value, verbose)
        missing += not_run
    record = _load_record(shared)
    known = {**record.get("_regions", {}), **{slug: _label_of(v) for slug, v in regions.items()}}
    known = {s: v for s, v in sorted(known.items()) if index_path(spec, ctx, s).is_file()}
    _write_index(shared_index, shared_pages, labels, lang, ctx, glossary, shared_extra, labels["title_shared"],
                 regions=[{"label": v, "href": _href(index_path(spec, ctx, s), shared_index)}
                          for s, v in known.items()])
    files.write_json(shared / RECORD, {**_load_record(shared), "_regions": known})
    return {"index": ctx.rel(shared_index), "regions": {s: ctx.rel(p) for s, p in region_indexes.items()},
            "rendered": b.rendered, "missing": missing}


def _staging(spec: Spec, ctx: Context, page: Page) -> list[tuple[str, str]]:
    """The staging folders the executed notebook wrote to (:func:`.execute.execute_step`) and the final
    folders its outputs were moved to: the page shows the final ones."""
    staging = ctx.runs / str(page.run_id) / "staging" / (page.region or "national") / page.step.name
    out_dir, fig_dir = step_dirs(spec, ctx, page.step, page.region or "")
    return [(str(staging / "output"), str(out_dir)), (str(staging / "figures"), str(fig_dir))]


def _artefact_file(spec: Spec, ctx: Context, artefact_id: str, slug: str | None) -> Path | None:
    """Where the step that declares ``artefact_id`` writes it (None if no step declares it)."""
    from .. import catalog

    for step in spec.steps:
        if artefact_id in step.outputs and (bool(slug) == spec.per_region(step)):
            return catalog.path(artefact_id, step_dirs(spec, ctx, step, slug or "")[0], ctx.synthetic)
    return None


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jeugdhulp_wijken.pipeline.edition",
                                description="Rebuild the teaching edition (leerversie) from the last run's notebooks.")
    p.add_argument("--synthetic", action="store_true", help="the edition of the synthetic study")
    p.add_argument("--region", action="append", metavar="SLUG",
                   help="region slug(s) (default: the regions of the last successful run)")
    p.add_argument("--lang", default="nl", choices=sorted(LABELS))
    args = p.parse_args(argv)
    ctx = Context.make(args.synthetic)
    regions = args.region
    if regions is None:
        latest = ctx.runs / ("latest_synthetic.json" if args.synthetic else "latest.json")
        regions = (files.read_json(ctx.root / files.read_json(latest)["manifest"])["regions"]
                   if latest.is_file() else [])
    try:
        result = build(load_spec(), ctx, list(regions), lang=args.lang, verbose=True)
    except PipelineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    for slug, index in result["regions"].items():
        print(f"{slug}: {index}")
    print(f"shared: {result['index']}")
    if result["missing"]:
        print("not executed yet: " + ", ".join(result["missing"]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
