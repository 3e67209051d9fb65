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
import copy
import html
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files, paths
from . import cache
from .execute import executed_notebook
from .plan import Context, StepPlan, stage_dirs, step_dirs
from .spec import PipelineError, Spec, Step, load_spec

EDITION_DIR = "leerversie"
RECORD = ".jhw_edition.json"
GLOSSARY_SOURCE = "begrippenlijst.md"
GLOSSARY_PAGE = "begrippenlijst.html"
TEMPLATES = paths.PACKAGE / "templates" / "edition"

#: Elements whose src/href/data attribute would load something, and CSS that would import something.
_LOADING = re.compile(r"<(?:script|img|iframe|link|source|video|audio|embed|object|track|input)\b[^>]*?"
                      r"\b(?:src|href|data|srcset|poster)\s*=\s*[\"']?\s*((?:https?:)?//[^\s\"'>]+)", re.I | re.S)
_CSS_IMPORT = re.compile(r"(?:@import\s+(?:url\()?|url\()\s*[\"']?\s*((?:https?:)?//[^\s\"')]+)", re.I)
_SRCDOC = re.compile(r"\bsrcdoc\s*=\s*(\"|')(.*?)\1", re.I | re.S)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)

LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "edition": "Leerversie", "index": "Inhoud", "glossary": "Begrippenlijst", "report": "Rapport",
        "atlas": "Atlas", "navigation": "Navigatie", "shared_index": "Landelijke stappen",
        "title_region": "Leerversie van het onderzoek: {region}",
        "title_shared": "Leerversie van het onderzoek: de landelijke stappen",
        "intro": "Dit zijn de notebooks van het onderzoek Jeugdhulp in de wijken zoals de laatste run ze heeft "
                 "uitgevoerd, met alle tabellen en figuren. Je hoeft niets te installeren om ze te lezen.",
        "synthetic": "SYNTHETISCHE DATA: een verzonnen oefenstudie, geen echte wijken.",
        "shared": "Landelijk (eenmaal voor alle regio's)", "regional": "Regio {region}",
        "shared_after": "Alle regio's naast elkaar", "parameters": "Parameters van deze run (ingevuld door jhw-reproduce)",
        "col_notebook": "Notebook", "col_step": "Stap", "col_run": "Uitgevoerd in run",
        "missing": "Nog niet uitgevoerd. Maak deze stap met", "regions": "Leerversies per regio",
        "where_shared": "landelijk", "where_region": "regio {region}",
        "source": "Uitgevoerd notebook {notebook} uit run {run_id}.",
        "omitted": "Deze uitvoer laadt bestanden van internet en is in de leerversie weggelaten. Open het "
                   "notebook in JupyterLab (make lab) om haar te zien.",
        "yourself_title": "Zelf uitvoeren",
        "yourself": "Open de notebooks in JupyterLab met <code>make lab</code>. Zonder de echte data oefen je met "
                    "de synthetische studie: zet in de cel met parameters <code>synthetic = True</code> en maak de "
                    "invoer met <code>make demo</code>. De hele studie maak je met <code>make reproduce</code>.",
    },
    "en": {
        "edition": "Teaching edition", "index": "Contents", "glossary": "Glossary (Dutch)", "report": "Report",
        "atlas": "Atlas", "navigation": "Navigation", "shared_index": "National steps",
        "title_region": "Teaching edition of the study: {region}",
        "title_shared": "Teaching edition of the study: the national steps",
        "intro": "These are the notebooks of the study Jeugdhulp in de wijken as the last run executed them, with "
                 "every table and figure. Nothing needs to be installed to read them. The narrative is in Dutch.",
        "synthetic": "SYNTHETIC DATA: a fictional practice study, not real wijken.",
        "shared": "National (once for every region)", "regional": "Region {region}",
        "shared_after": "All regions side by side", "parameters": "Parameters of this run (filled in by jhw-reproduce)",
        "col_notebook": "Notebook", "col_step": "Step", "col_run": "Executed in run",
        "missing": "Not executed yet. Make this step with", "regions": "Teaching editions per region",
        "where_shared": "national", "where_region": "region {region}",
        "source": "Executed notebook {notebook} of run {run_id}.",
        "omitted": "This output loads files from the internet and is left out of the teaching edition. Open the "
                   "notebook in JupyterLab (make lab) to see it.",
        "yourself_title": "Run it yourself",
        "yourself": "Open the notebooks in JupyterLab with <code>make lab</code>. Without the real data, practise on "
                    "the synthetic study: set <code>synthetic = True</code> in the parameters cell and make its "
                    "inputs with <code>make demo</code>. <code>make reproduce</code> makes the whole study.",
    },
}


class EditionError(PipelineError):
    """The edition could not be made; the message names the page and what to do."""


@dataclass(frozen=True)
class Page:
    step: Step
    region: str | None            # region slug of a per-region step, else None
    target: Path                  # the HTML page
    source: Path | None           # the executed notebook that made the step's current outputs
    run_id: str | None


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


def _href(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start.parent)).as_posix()


def notebook_title(nb) -> str:
    """The first Markdown heading of a notebook (its title)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = _HEADING.search(cell.source)
            if m:
                return re.sub(r"[*_`]", "", m.group(1)).strip()
    return ""


# --------------------------------------------------------------------------- checks

def external_resources(text: str) -> list[str]:
    """URLs that a page would load from the network: src/href of loading elements and CSS imports, also
    inside ``srcdoc`` attributes (an iframe's HTML-escaped page). Links (``<a href>``) are fine, and so is
    escaped text such as code that mentions a URL."""
    found = _LOADING.findall(text) + _CSS_IMPORT.findall(text)
    for doc in _SRCDOC.findall(text):
        found += external_resources(html.unescape(doc[1]))
    return sorted(set(found))


# --------------------------------------------------------------------------- rendering

class _Renderer:
    """nbconvert's HTML exporter with the edition template (imported only when a page needs rendering)."""

    def __init__(self, ctx: Context, lang: str):
        self.ctx, self.lang, self.labels = ctx, lang, LABELS[lang]
        self._exporter = None

    @property
    def exporter(self):
        if self._exporter is None:
            from nbconvert import HTMLExporter

            self._exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATES)],
                                          template_file="page.html.j2", embed_images=True, language_code="nl")
        return self._exporter

    def fingerprint(self) -> str:
        from importlib.metadata import version

        parts = [files.sha256_file(Path(__file__))] + [files.sha256_file(p) for p in sorted(TEMPLATES.iterdir())]
        return files.sha256_bytes(json.dumps([parts, version("nbconvert"), str(self.ctx.root)]).encode())

    def _prepare(self, nb, replace: list[tuple[str, str]]):
        """Final instead of staging folders, repository-relative paths, and outputs that would load from the
        internet replaced by a note."""
        replace = [*replace, (str(self.ctx.root.resolve()) + os.sep, ""), (str(self.ctx.root) + os.sep, "")]

        def clean(text: str) -> str:
            for old, new in replace:
                text = text.replace(old, new)
            return text

        note = f'<p class="jhw-omitted">{html.escape(self.labels["omitted"])}</p>'
        for cell in nb.cells:
            cell.source = clean(cell.source)
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = clean(out["text"])
                data = out.get("data", {})
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if isinstance(data.get(mime), str):
                        data[mime] = clean(data[mime])
                for mime in [m for m in data if m in ("text/html", "image/svg+xml", "text/markdown")
                             or m.startswith("application/")]:
                    if isinstance(data[mime], str) and external_resources(data[mime]):
                        del data[mime]
                        data["text/html"] = note
        return nb

    def render(self, nb, target: Path, *, metadata_path: Path, nav: list[dict], where: str, source: str,
               links: dict[str, Path], replace: list[tuple[str, str]] = ()) -> Path:
        import nbformat

        nb = self._prepare(copy.deepcopy(nb), list(replace))
        nb.metadata["title"] = notebook_title(nb) or target.stem
        nbformat.validate(nb)
        resources = {"metadata": {"name": target.stem, "path": str(metadata_path)},
                     "jhw": {"nav": nav, "where": where, "source": source, "labels": self.labels,
                             "synthetic": self.ctx.synthetic}}
        body, _ = self.exporter.from_notebook_node(nb, resources=resources)

        def relink(m: re.Match) -> str:
            name, anchor = m.group(2), m.group(3) or ""
            dest = links.get(name)
            return m.group(0) if dest is None else f'{m.group(1)}"{_href(dest, target)}{anchor}"'

        body = re.sub(r'(href=)"([^"#/]+\.(?:ipynb|md))(#[^"]*)?"', relink, body)
        bad = external_resources(body)
        if bad:
            raise EditionError(f"The edition page {target} would load {bad[:3]} from the network; the edition must "
                               "work offline. Remove the output or make it self-contained.")
        return files.write_text_atomic(target, body)


def _nav(labels: dict, index: Path, target: Path, glossary: Path, extra: list[tuple[str, Path]] = ()) -> list[dict]:
    items = [(labels["edition"] + ": " + labels["index"], index), (labels["glossary"], glossary), *extra]
    return [{"text": text, "href": _href(p, target)} for text, p in items if p is not None]


def _load_record(folder: Path) -> dict:
    p = folder / RECORD
    try:
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except json.JSONDecodeError:
        return {}


# --------------------------------------------------------------------------- building

def build(spec: Spec, ctx: Context, regions: dict[str, Any] | list[str] | None = None, *, lang: str = "nl",
          verbose: bool = False) -> dict[str, Any]:
    """Render (or refresh) the edition: the shared pages and index, and every given region's pages and index.

    ``regions`` maps region slugs to the region value shown in titles (a list of slugs also works).
    Returns what was written (repository-relative paths): ``{"index": ..., "regions": {slug: index},
    "rendered": [...], "missing": [step labels without an executed notebook]}``.
    """
    if lang not in LABELS:
        raise EditionError(f"lang={lang!r}: the edition exists in {', '.join(LABELS)}.")
    try:
        return _build(spec, ctx, regions, lang=lang, verbose=verbose)
    except EditionError:
        raise
    except Exception as exc:  # nbconvert, a damaged executed notebook, a full disk
        raise EditionError(f"The teaching edition could not be made: {type(exc).__name__}: {exc}. The study's "
                           "outputs are complete; rebuild the edition with `python -m "
                           "jeugdhulp_wijken.pipeline.edition`, or run with --no-edition.") from exc


def _build(spec: Spec, ctx: Context, regions: dict[str, Any] | list[str] | None, *, lang: str,
           verbose: bool) -> dict[str, Any]:
    regions = {s: s for s in regions} if isinstance(regions, list) else dict(regions or {})
    labels, renderer = LABELS[lang], _Renderer(ctx, lang)
    shared = shared_dir(ctx)
    glossary = shared / GLOSSARY_PAGE
    shared_pages = pages(spec, ctx, None)
    shared_index = index_path(spec, ctx)
    fingerprint = renderer.fingerprint()
    rendered: list[str] = []
    import nbformat

    def label_of(value: Any) -> str:
        return "+".join(value) if isinstance(value, (list, tuple)) else str(value)

    def links_of(page_list: list[Page]) -> list[tuple[str, Path]]:
        out = [(labels["report"], _artefact_file(spec, ctx, "report_html", p.region))
               for p in page_list[:1] if p.region]
        out.append((labels["atlas"], _artefact_file(spec, ctx, "atlas_html", "")))
        return [(t, f) for t, f in out if f is not None and f.is_file()]

    def render_all(todo: list[Page], all_pages: list[Page], index: Path, where: str,
                   extra: list[tuple[str, Path]]) -> None:
        # a shared page links a per-region notebook to the shared index, which lists the regions
        links = {Path(s.notebook).name: shared_index for s in spec.steps if spec.per_region(s)}
        links.update({Path(p.step.notebook).name: p.target for p in all_pages if p.source is not None})
        links[GLOSSARY_SOURCE] = glossary
        folders: dict[Path, dict] = {}
        for page in todo:
            if page.source is None:
                continue
            folder = page.target.parent
            record = folders.setdefault(folder, _load_record(folder))
            nav = _nav(labels, index, page.target, glossary, extra)
            key = files.sha256_bytes(json.dumps([files.sha256_file(page.source), fingerprint, nav, lang,
                                                 ctx.synthetic, {k: str(v) for k, v in links.items()}]).encode())
            if record.get(page.target.name) == key and page.target.is_file():
                continue
            source = labels["source"].format(notebook=page.step.notebook, run_id=page.run_id)
            renderer.render(nbformat.read(page.source, as_version=4), page.target,
                            metadata_path=(ctx.root / page.step.notebook).parent, nav=nav, where=where,
                            source=source, links=links, replace=_staging(spec, ctx, page))
            record[page.target.name] = key
            rendered.append(ctx.rel(page.target))
            if verbose:
                print(f"  edition: {ctx.rel(page.target)}", flush=True)
        for folder, record in folders.items():
            files.write_json(folder / RECORD, {**_load_record(folder), **record})

    # shared pages, glossary and the shared index (which lists every region's edition)
    shared_extra = links_of(shared_pages)
    render_all(shared_pages, shared_pages, shared_index, labels["where_shared"], shared_extra)
    _glossary(renderer, glossary, _nav(labels, shared_index, glossary, glossary)[:1], labels, fingerprint)
    region_indexes, missing = {}, [p.step.name for p in shared_pages if p.source is None]
    for slug, value in regions.items():
        plist = pages(spec, ctx, slug)
        index = index_path(spec, ctx, slug)
        extra = links_of([p for p in plist if p.region])
        render_all([p for p in plist if p.region], plist, index,
                   labels["where_region"].format(region=label_of(value)), extra)
        _write_index(index, plist, labels, lang, ctx, glossary, extra,
                     labels["title_region"].format(region=label_of(value)), shared_index=shared_index,
                     region_label=label_of(value))
        region_indexes[slug] = index
        missing += [f"{p.step.name} [{slug}]" for p in plist if p.region and p.source is None]
    record = _load_record(shared)
    known = {**record.get("_regions", {}), **{slug: label_of(v) for slug, v in regions.items()}}
    known = {s: v for s, v in sorted(known.items()) if index_path(spec, ctx, s).is_file()}
    _write_index(shared_index, shared_pages, labels, lang, ctx, glossary, shared_extra, labels["title_shared"],
                 regions=[{"label": v, "href": _href(index_path(spec, ctx, s), shared_index)}
                          for s, v in known.items()])
    files.write_json(shared / RECORD, {**_load_record(shared), "_regions": known})
    return {"index": ctx.rel(shared_index), "regions": {s: ctx.rel(p) for s, p in region_indexes.items()},
            "rendered": rendered, "missing": missing}


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


def _glossary(renderer: _Renderer, target: Path, nav: list[dict], labels: dict, fingerprint: str) -> None:
    """The glossary (``notebooks/begrippenlijst.md``) as a page of the edition."""
    import nbformat

    src = paths.NOTEBOOKS / GLOSSARY_SOURCE
    if not src.is_file():
        return
    folder = target.parent
    record = _load_record(folder)
    nav = [{"text": n["text"], "href": n["href"]} for n in nav]
    key = files.sha256_bytes(json.dumps([files.sha256_file(src), fingerprint, nav, renderer.ctx.synthetic]).encode())
    if record.get(target.name) == key and target.is_file():
        return
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(src.read_text(encoding="utf-8"))])
    renderer.render(nb, target, metadata_path=paths.NOTEBOOKS, nav=nav, where=labels["glossary"],
                    source=f"notebooks/{GLOSSARY_SOURCE}", links={})
    record[target.name] = key
    files.write_json(folder / RECORD, record)


def _write_index(index: Path, page_list: list[Page], labels: dict, lang: str, ctx: Context, glossary: Path,
                 extra: list[tuple[str, Path]], title: str, *, shared_index: Path | None = None,
                 region_label: str = "", regions: list[dict] = ()) -> Path:
    import nbformat
    from jinja2 import Environment, FileSystemLoader

    sections: list[dict] = []          # consecutive shared or regional steps, in pipeline order
    for p in page_list:
        seen_region = any(q.region for q in page_list[:page_list.index(p)])
        name = (labels["regional"].format(region=region_label) if p.region
                else labels["shared_after"] if seen_region else labels["shared"])
        if not sections or sections[-1]["title"] != name:
            sections.append({"title": name, "rows": []})
        committed = ctx.root / p.step.notebook
        nb_for_title = p.source if p.source is not None else (committed if committed.is_file() else None)
        title_of = notebook_title(nbformat.read(nb_for_title, as_version=4)) if nb_for_title else ""
        command = "jhw-reproduce" + (" --synthetic" if ctx.synthetic else "") + (
            f" --region {region_label}" if p.region else "") + f" --only {p.step.name}"
        sections[-1]["rows"].append({
            "title": title_of or Path(p.step.notebook).name, "step": p.step.name, "run_id": p.run_id,
            "href": _href(p.target, index) if p.source is not None and p.target.is_file() else None,
            "command": command})
    nav = [{"text": labels["glossary"], "href": _href(glossary, index)}]
    if shared_index is not None:
        nav.insert(0, {"text": labels["shared_index"], "href": _href(shared_index, index)})
    nav += [{"text": t, "href": _href(p, index)} for t, p in extra]
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, keep_trailing_newline=True)
    text = env.get_template("index.html.j2").render(
        lang=lang, title=title, nav=nav, synthetic=ctx.synthetic, regions=list(regions),
        sections=sections,
        labels=labels)
    bad = external_resources(text)
    if bad:  # pragma: no cover - the template loads nothing
        raise EditionError(f"{index} would load {bad} from the network.")
    return files.write_text_atomic(index, text)


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
