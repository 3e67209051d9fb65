"""The teaching edition's HTML: nbconvert pages, the glossary page, index pages and the offline check.

:mod:`.edition` decides which executed notebook becomes which page; this module renders them.
"""
from __future__ import annotations

import copy
import functools
import html
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import files, paths
from .execute import IMPORT_LOCK
from .plan import Context
from .spec import PipelineError, Step

@dataclass(frozen=True)
class Page:
    """A page of the edition: the executed notebook of one step (of one region), rendered as HTML."""

    step: Step
    region: str | None            # region slug of a per-region step, else None
    target: Path                  # the HTML page
    source: Path | None           # the executed notebook that made the step's current outputs
    run_id: str | None


TEMPLATES = paths.PACKAGE / "templates" / "edition"
RECORD = ".jhw_edition.json"
GLOSSARY_SOURCE = "begrippenlijst.md"

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
        "image_alt": "Figuur of tabel uit de uitvoer van het notebook",
        "yourself_title": "Zelf uitvoeren",
        "yourself": "Open de notebooks in JupyterLab met <code>make lab</code>. Zonder de echte data oefen je met "
                    "de synthetische studie: zet in de cel met parameters <code>synthetic = True</code> en maak de "
                    "invoer met <code>make demo</code>. De hele studie maak je met <code>make reproduce</code>.",
    },
    "en": {
        "edition": "Teaching edition", "index": "Contents", "glossary": "Glossary (Dutch)", "report": "Report",
        "atlas": "Atlas", "navigation": "Navigation", "shared_index": "National steps",
        "image_alt": "Figure or table from the notebook's output",
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
    text = files.without_data_uris(text)
    found = _LOADING.findall(text) + _CSS_IMPORT.findall(text)
    for doc in _SRCDOC.findall(text):
        found += external_resources(html.unescape(doc[1]))
    return sorted(set(found))


# --------------------------------------------------------------------------- rendering

_FOCUSABLE = re.compile(r'(<div\b[^>]*?\bclass="[^"]*?(?<![\w-])(?:jp-Cell-inputWrapper|jp-OutputArea-output)'
                        r'(?![\w-])[^"]*"(?![^>]*\stabindex=)[^>]*?)>')
_IMG = re.compile(r"<img\b(?![^>]*\salt=)")


def _accessible(body: str, image_alt: str) -> str:
    """What nbconvert's page pass adds for keyboard and screen-reader users: every cell input and output a tab
    stop (``tabindex="0"``), and an alt text on every image that has none."""
    alt = f'<img alt="{html.escape(image_alt)}"'
    return files.outside_data_uris(body, lambda text: _IMG.sub(alt, _FOCUSABLE.sub(r'\1 tabindex="0">', text)))


class _Memo:
    """A template filter that is a pure function of its arguments, computed once per distinct input
    (``key``: what of the arguments the result depends on; by default all of them). Every region's pages
    share the code cells and most of the text of the same notebooks, and highlighting, sanitising and
    rendering markdown are most of the cost of a page."""

    LIMIT = 20_000

    def __init__(self, fn, key=None):
        self.fn, self.key, self.done = fn, key or self._arguments, {}

    @staticmethod
    def _arguments(*args, **kwargs):
        return (args, json.dumps(kwargs, sort_keys=True, default=str))

    def __call__(self, *args, **kwargs):
        key = self.key(*args, **kwargs)
        if key not in self.done:
            if len(self.done) >= self.LIMIT:
                self.done.clear()
            self.done[key] = self.fn(*args, **kwargs)
        return self.done[key]


@functools.lru_cache(maxsize=1)
def _html_exporter():
    """One exporter per process: its templates load once, whatever the number of pages."""
    with IMPORT_LOCK:
        import IPython  # noqa: F401 - the ipython3 lexer's package, whole before any thread uses it
        from nbconvert import HTMLExporter
        from nbconvert.filters import Highlight2HTML, clean_html

    class _Exporter(HTMLExporter):
        """nbconvert's HTML exporter without the pass that parses and re-serialises the whole page with
        BeautifulSoup (about half the time of a page) to set image alt texts and tab stops:
        :func:`_accessible` sets those on the template's output."""

        def from_notebook_node(self, nb, resources=None, **kw):
            from nbconvert.exporters.templateexporter import TemplateExporter
            from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

            resources = self._init_resources(resources)
            self.register_filter("highlight_code", self.filters["highlight_code"])
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

        def _validate_preprocessor(self, nbc, preprocessor):
            """No schema validation after each of nbconvert's preprocessors (a fifth of a page's time): the
            page's notebook is validated once, before export (:meth:`_Renderer.render`)."""

    exporter = _Exporter(template_name="lab", extra_template_paths=[str(TEMPLATES)],
                         template_file="page.html.j2", embed_images=True, language_code="nl")
    # every notebook of the study runs the Python kernel, whose lexer is ipython3
    exporter.filters = {"highlight_code": _Memo(Highlight2HTML(pygments_lexer="ipython3", parent=exporter)),
                        "clean_html": _Memo(clean_html), "markdown2html": _markdown_memo(exporter)}
    return exporter


def _markdown_memo(exporter):
    """nbconvert's markdown filter (a context filter), memoised on all it reads: the text, the cell's
    attachments and the notebook's folder."""
    from jinja2 import pass_context

    def key(context, source):
        return (source, json.dumps(context.get("cell", {}).get("attachments", {}), sort_keys=True),
                context.get("resources", {}).get("metadata", {}).get("path", ""))

    memo = _Memo(exporter.markdown2html, key)
    return pass_context(lambda context, source: memo(context, source))


#: One page at a time per process: the exporter is shared (:func:`warm_up` may still be using it).
_EXPORTER_LOCK = threading.Lock()


def warm_up() -> None:
    """Load nbconvert, the templates and the Python lexer ahead of the first page. The runner calls this in a
    background thread while the kernels work, so that the pages after the last step cost only their rendering.
    A failure here is left to the real page, which reports it."""
    try:
        import nbformat

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# *x*"),
                                             nbformat.v4.new_code_cell("x = [1]  # x")])
        resources = {"metadata": {"name": "warm-up"},
                     "jhw": {"nav": [], "where": "", "source": "", "labels": LABELS["nl"], "synthetic": False}}
        with _EXPORTER_LOCK:
            _html_exporter().from_notebook_node(nb, resources=resources)
    except Exception:  # noqa: BLE001
        pass


class _Renderer:
    """nbconvert's HTML exporter with the edition template (imported only when a page needs rendering)."""

    def __init__(self, ctx: Context, lang: str):
        self.ctx, self.lang, self.labels = ctx, lang, LABELS[lang]

    @property
    def exporter(self):
        return _html_exporter()

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
        with _EXPORTER_LOCK:
            body, _ = self.exporter.from_notebook_node(nb, resources=resources)
        body = _accessible(body, self.labels["image_alt"])

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


@functools.lru_cache(maxsize=1)
def _index_environment():
    """The Jinja environment of the index pages, made once per process (it reloads a changed template)."""
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, keep_trailing_newline=True)


@functools.lru_cache(maxsize=256)
def _title_of(path: str, mtime_ns: int, size: int) -> str:
    import nbformat

    return notebook_title(nbformat.read(path, as_version=4))


def _title_of_file(path: Path) -> str:
    """A notebook's title, read once per version of the file (an index lists the same notebooks for every
    region, and a page of the edition has the title of the committed notebook it was executed from)."""
    return _title_of(*files.file_version(path))


def _write_index(index: Path, page_list: list[Page], labels: dict, lang: str, ctx: Context, glossary: Path,
                 extra: list[tuple[str, Path]], title: str, *, shared_index: Path | None = None,
                 region_label: str = "", regions: list[dict] = ()) -> Path:
    sections: list[dict] = []          # consecutive shared or regional steps, in pipeline order
    for p in page_list:
        seen_region = any(q.region for q in page_list[:page_list.index(p)])
        name = (labels["regional"].format(region=region_label) if p.region
                else labels["shared_after"] if seen_region else labels["shared"])
        if not sections or sections[-1]["title"] != name:
            sections.append({"title": name, "rows": []})
        committed = ctx.root / p.step.notebook
        nb_for_title = committed if committed.is_file() else p.source
        title_of = _title_of_file(nb_for_title) if nb_for_title else ""
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
    text = _index_environment().get_template("index.html.j2").render(
        lang=lang, title=title, nav=nav, synthetic=ctx.synthetic, regions=list(regions),
        sections=sections,
        labels=labels)
    bad = external_resources(text)
    if bad:  # pragma: no cover - the template loads nothing
        raise EditionError(f"{index} would load {bad} from the network.")
    return files.write_text_atomic(index, text)
