"""The teaching edition: the executed notebooks of a run as self-contained HTML pages with an index.

A tiny pipeline (a shared step, a per-region step and an atlas-like step) runs through the real runner
and papermill; the edition is built at the end of the run, from the cache records for cached steps.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from jeugdhulp_wijken import files, paths, pipeline
from jeugdhulp_wijken.pipeline import edition

KERNELSPEC = {"name": "jeugdhulp-wijken", "display_name": "Python (jeugdhulp-wijken)", "language": "python"}
EXTERNAL = '<script src="https://cdn.example.org/lib.js"></script><p>interactief</p>'


def make_notebook(path: Path, markdown: str, params: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


STAGES = {"national": {"derived": "{derived}/national", "figures": "{figures}/national"},
          "regional": {"derived": "{derived}/{region}", "figures": "{figures}/{region}", "per_region": True},
          "atlas": {"derived": "{figures}/atlas"}}


def tiny_study(root: Path, steps: list[dict]):
    """The spec (with ``steps``) and context of a tiny pipeline in ``root``."""
    (root / "pipeline.yml").write_text(yaml.safe_dump({"defaults": {"region": "Testland"}, "stages": STAGES,
                                                      "steps": steps}))
    ctx = pipeline.Context(synthetic=False, raw=root / "raw", derived=root / "derived", figures=root / "figures",
                           runs=root / "runs", root=root)
    return pipeline.load_spec(root / "pipeline.yml"), ctx


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("edition")
    (root / "nb").mkdir()
    make_notebook(root / "nb" / "01_one.ipynb",
                  "# 01 Stap een\n\nZie de [begrippenlijst](begrippenlijst.md) en [stap twee](02_two.ipynb).",
                  'output_dir = ""\nfigures_dir = ""\n',
                  "from pathlib import Path\n"
                  "import matplotlib.pyplot as plt\n"
                  "from IPython.display import HTML, display\n"
                  "Path(output_dir, 'result.txt').write_text('1')\n"
                  "print('geschreven naar', output_dir)\n"
                  "fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [1, 0]); display(fig); plt.close(fig)\n"
                  f"display(HTML({EXTERNAL!r}))\n")
    make_notebook(root / "nb" / "02_two.ipynb", "# 02 Stap twee per regio\n\nTerug naar [stap een](01_one.ipynb).",
                  'national_dir = ""\noutput_dir = ""\nregion = ""\n',
                  "from pathlib import Path\n"
                  "Path(output_dir, 'double.txt').write_text(region + Path(national_dir, 'result.txt').read_text())\n")
    make_notebook(root / "nb" / "03_three.ipynb", "# 03 Alle regio's", 'national_dir = ""\noutput_dir = ""\n',
                  "from pathlib import Path\n"
                  "Path(output_dir, 'summary.txt').write_text(Path(national_dir, 'result.txt').read_text())\n")
    spec, ctx = tiny_study(root, [
        {"name": "one", "notebook": "nb/01_one.ipynb", "stage": "national", "outputs": ["result.txt"]},
        {"name": "two", "notebook": "nb/02_two.ipynb", "stage": "regional",
         "inputs": ["national:result.txt"], "outputs": ["double.txt"]},
        {"name": "three", "notebook": "nb/03_three.ipynb", "stage": "atlas",
         "inputs": ["national:result.txt"], "outputs": ["summary.txt"]},
    ])
    run = dict(fetch=False, progress=False, check_regions=False)
    first = pipeline.run(spec, ctx, regions=["Testland", "Elders"], **run)
    second = pipeline.run(spec, ctx, regions=["Testland"], **run)
    third = pipeline.run(spec, ctx, regions=["Testland"], only=["two"], force=True, **run)
    return spec, ctx, first, second, third


def hrefs(page: Path) -> list[str]:
    return re.findall(r'href="([^"#]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8"))


def test_the_run_writes_pages_and_indexes_next_to_the_region(study):
    spec, ctx, first, _, _ = study
    assert first["edition"]["index"] == "figures/leerversie/index.html"
    assert first["edition"]["regions"] == {"testland": "figures/testland/leerversie/index.html",
                                           "elders": "figures/elders/leerversie/index.html"}
    # each region's worker rendered its own page, and the run rendered the pages of the shared step and of the
    # atlas step (which runs beside the regions) while the regions ran; the final build found them all current
    assert first["edition"]["rendered"] == []
    assert (ctx.figures / "leerversie" / "01_one.html").is_file()
    assert (ctx.figures / "leerversie" / "03_three.html").is_file()
    for slug in ("testland", "elders"):
        page = ctx.figures / slug / "leerversie" / "02_two.html"
        assert page.is_file()
    assert first["edition"]["missing"] == []
    assert (ctx.figures / "leerversie" / edition.GLOSSARY_PAGE).is_file()
    shared = (ctx.figures / "leerversie" / "index.html").read_text(encoding="utf-8")
    assert "../testland/leerversie/index.html" in shared and "../elders/leerversie/index.html" in shared
    region = (ctx.figures / "testland" / "leerversie" / "index.html").read_text(encoding="utf-8")
    # the whole study in pipeline order: shared step, the region's step, the step over all regions
    assert [m for m in re.findall(r'href="([^"]+\.html)"', region) if "index" not in m and "begrip" not in m] == [
        "../../leerversie/01_one.html", "02_two.html", "../../leerversie/03_three.html"]
    assert "01 Stap een" in region and "02 Stap twee per regio" in region


def test_pages_are_self_contained_and_their_links_resolve(study):
    _, ctx, _, _, _ = study
    pages = sorted(ctx.figures.rglob("leerversie/*.html"))
    assert len(pages) == 8  # 2 shared pages, 2 region pages, the glossary and 3 indexes
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert edition.external_resources(text) == [], page
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", text), page
        assert str(ctx.root) not in text, f"{page} shows the absolute path of the checkout"
        for href in hrefs(page):
            if not href.startswith(("http:", "https:", "mailto:")):
                assert (page.parent / href).resolve().is_file(), f"{page.name}: broken link {href}"
    one = (ctx.figures / "leerversie" / "01_one.html").read_text(encoding="utf-8")
    assert re.search(r'<img[^>]+src="data:image/png;base64,', one), "figures are embedded"
    assert '<script src="https://cdn.example.org' not in one and "jhw-omitted" in one, "an output loading from the internet is replaced"
    assert 'href="begrippenlijst.html"' in one and 'href="../testland/leerversie/02_two.html"' not in one
    assert "geschreven naar derived/national" in one, "paths are shown repository-relative"
    assert "MathJax" not in one and "require.js" not in one
    # for keyboard and screen-reader users: every image has an alt text (Dutch by default), every cell input and
    # output is a tab stop
    images = re.findall(r"<img\b[^>]*>", one)
    assert images and all(' alt="' in tag for tag in images)
    assert 'alt="Figuur of tabel uit de uitvoer van het notebook"' in one
    assert re.search(r'<div class="jp-Cell-inputWrapper" tabindex="0">', one)
    assert re.search(r'<div class="[^"]*\bjp-OutputArea-output\b[^"]*"[^>]* tabindex="0">', one)


def test_cached_steps_show_the_notebook_of_the_run_that_made_them(study):
    spec, ctx, first, second, third = study
    assert {s["status"] for s in second["steps"]} == {"cached"}
    assert second["edition"]["rendered"] == [], "nothing changed, so no page is rendered again"
    assert third["edition"]["rendered"] == ["figures/testland/leerversie/02_two.html"]
    region = (ctx.figures / "testland" / "leerversie" / "index.html").read_text(encoding="utf-8")
    assert first["run_id"] in region and third["run_id"] in region and second["run_id"] not in region
    step_one = spec.step("one")
    source, run_id = edition.executed_copy(spec, ctx, step_one)
    assert run_id == first["run_id"]
    ran = next(s for s in first["steps"] if s["name"] == "one")
    assert ctx.rel(source) == ran["executed_notebook"], "the edition finds the notebook the manifest names"
    assert "Elders" in (ctx.figures / "leerversie" / "index.html").read_text(encoding="utf-8"), \
        "the shared index keeps every region's edition"


def test_a_step_without_an_executed_copy_says_which_command_makes_it(study, tmp_path):
    spec, ctx, first, _, _ = study
    other = pipeline.Context(synthetic=True, raw=ctx.raw, derived=tmp_path / "d", figures=tmp_path / "f",
                             runs=ctx.runs, root=ctx.root)
    result = edition.build(spec, other, {"testland": "Testland"}, lang="en")
    assert result["missing"] == ["one", "three", "two [testland]"]
    index = (tmp_path / "f" / "testland" / "leerversie" / "index.html").read_text(encoding="utf-8")
    assert "jhw-reproduce --synthetic --region Testland --only two" in index
    assert "Not executed yet" in index and 'lang="en"' in index and "SYNTHETIC DATA" in index


def test_a_removed_run_folder_leaves_no_dangling_link(study, tmp_path):
    spec, ctx, first, _, _ = study
    copy_root = tmp_path / "copy"
    shutil.copytree(ctx.root, copy_root)
    moved = pipeline.Context(synthetic=False, raw=copy_root / "raw", derived=copy_root / "derived",
                             figures=copy_root / "figures", runs=copy_root / "runs", root=copy_root)
    shutil.rmtree(moved.runs / first["run_id"])
    spec2 = pipeline.load_spec(copy_root / "pipeline.yml")
    result = edition.build(spec2, moved, ["testland"])
    assert "one" in result["missing"]
    index = (moved.figures / "testland" / "leerversie" / "index.html").read_text(encoding="utf-8")
    assert "../../leerversie/01_one.html" not in index


@pytest.mark.parametrize("html, found", [
    ('<script src="https://x.org/a.js"></script>', ["https://x.org/a.js"]),
    ("<link rel='stylesheet' href='//x.org/a.css'>", ["//x.org/a.css"]),
    ('<iframe srcdoc="&lt;script src=&quot;https://x.org/l.js&quot;&gt;&lt;/script&gt;"></iframe>',
     ["https://x.org/l.js"]),
    ("<style>@import url(https://fonts.x.org/f.css);</style>", ["https://fonts.x.org/f.css"]),
    ('<img src="data:image/png;base64,AAAA"><a href="https://www.scp.nl/">SCP</a>', []),
])
def test_external_resources_are_found_but_links_are_fine(html, found):
    assert edition.external_resources(html) == found


def test_tab_stops_and_alt_texts_are_added_once_and_an_author_s_alt_text_is_kept():
    from jeugdhulp_wijken.pipeline.edition_html import _accessible

    body = ('<div class="jp-Cell-inputWrapper"><img src="data:image/png;base64,QUFB"></div>'
            '<div class="jp-RenderedImage jp-OutputArea-output " data-x="1"><img alt="kaart" src="a.png"></div>'
            '<div class="jp-OutputArea-outputs-more">x</div><div class="jp-OutputArea-output" tabindex="-1">y</div>')
    out = _accessible(body, 'figuur & "tabel"')
    assert out == ('<div class="jp-Cell-inputWrapper" tabindex="0">'
                   '<img alt="figuur &amp; &quot;tabel&quot;" src="data:image/png;base64,QUFB"></div>'
                   '<div class="jp-RenderedImage jp-OutputArea-output " data-x="1" tabindex="0">'
                   '<img alt="kaart" src="a.png"></div>'
                   '<div class="jp-OutputArea-outputs-more">x</div><div class="jp-OutputArea-output" tabindex="-1">y</div>')
    assert _accessible(out, "x") == out


def test_the_edition_of_the_real_pipeline_lives_next_to_the_report():
    spec = pipeline.load_spec()
    ctx = pipeline.Context.make(synthetic=True)
    assert edition.index_path(spec, ctx, "jz01") == paths.SYNTHETIC_FIGURES / "jz01" / "leerversie" / "index.html"
    assert edition.index_path(spec, ctx) == paths.SYNTHETIC_FIGURES / "leerversie" / "index.html"
    names = {s.name: edition.page_name(spec, s) for s in spec.steps}
    assert names["local_factors_nl"] == names["local_factors_region"] == "03_local_factors.html"
    report = edition._artefact_file(spec, ctx, "report_html", "jz01")
    assert report.parent == edition.region_dir(spec, ctx, "jz01").parent, "leerversie/ sits beside rapport.html"
    assert (paths.NOTEBOOKS / edition.GLOSSARY_SOURCE).is_file()


def test_sidecar_records_are_plain_json(study):
    _, ctx, _, _, _ = study
    record = files.read_json(ctx.figures / "leerversie" / edition.RECORD)
    assert set(record["_regions"]) == {"testland", "elders"}


def test_the_report_links_the_edition_index():
    """The report (rapport.html) links leerversie/index.html, the index of the region's edition."""
    import os

    spec = pipeline.load_spec()
    for synthetic in (False, True):
        ctx = pipeline.Context.make(synthetic)
        report = edition._artefact_file(spec, ctx, "report_html", "haaglanden")
        rel = Path(os.path.relpath(edition.index_path(spec, ctx, "haaglanden"), report.parent)).as_posix()
        for lang in ("nl", "en"):
            template = paths.PACKAGE / "templates" / "report" / f"rapport_{lang}.html.j2"
            assert f'href="{rel}"' in template.read_text(encoding="utf-8"), template.name


@pytest.mark.slow
def test_edition_pages_open_offline_in_a_browser(study):
    """Headless Chromium with every request intercepted: the index, a page with a figure and the glossary
    load without asking the network for anything, and every image is drawn."""
    from jeugdhulp_wijken.report import browser

    from _browser_helpers import require_chromium

    require_chromium()
    _, ctx, _, _, _ = study
    with browser.Browser() as chrome:
        for page_file in (ctx.figures / "testland" / "leerversie" / "index.html",
                          ctx.figures / "leerversie" / "01_one.html",
                          ctx.figures / "leerversie" / edition.GLOSSARY_PAGE):
            page = chrome.open(page_file)
            assert page.remote_requests == [] and page.blocked == [], page_file
            assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
            images = page.evaluate(browser.IMAGES_JS)
            assert all(i["complete"] and i["width"] > 0 for i in images), images
            assert page.evaluate("document.documentElement.lang") == "nl"
        assert len(images) == 0  # the glossary has no images
        page = chrome.open(ctx.figures / "leerversie" / "01_one.html")
        assert page.evaluate("document.images.length") >= 1
        assert page.evaluate("document.querySelector('nav.jhw-nav a').getAttribute('href')") == "index.html"


def test_a_single_region_run_renders_the_pages_of_finished_steps_while_its_last_step_runs(tmp_path, monkeypatch):
    from jeugdhulp_wijken.pipeline import runner

    (tmp_path / "nb").mkdir()
    make_notebook(tmp_path / "nb" / "01_one.ipynb", "# 01 Landelijk", 'output_dir = ""\n',
                  "from pathlib import Path\nPath(output_dir, 'result.txt').write_text('1')\n")
    make_notebook(tmp_path / "nb" / "02_two.ipynb", "# 02 Regio\n\nVerder in [het rapport](03_last.ipynb).",
                  'national_dir = ""\noutput_dir = ""\n',
                  "from pathlib import Path\nPath(output_dir, 'two.txt').write_text('2')\n")
    make_notebook(tmp_path / "nb" / "03_last.ipynb", "# 03 Rapport", 'input_dir = ""\noutput_dir = ""\n',
                  "import time\nfrom pathlib import Path\ntime.sleep(2)\n"
                  "Path(output_dir, 'last.txt').write_text(Path(input_dir, 'two.txt').read_text())\n")
    spec, ctx = tiny_study(tmp_path, [
        {"name": "one", "notebook": "nb/01_one.ipynb", "stage": "national", "outputs": ["result.txt"]},
        {"name": "two", "notebook": "nb/02_two.ipynb", "stage": "regional",
         "inputs": ["national:result.txt"], "outputs": ["two.txt"]},
        {"name": "last", "notebook": "nb/03_last.ipynb", "stage": "regional",
         "inputs": ["regional:two.txt"], "outputs": ["last.txt"]},
    ])
    calls = []
    early = runner.build_region

    def spy(spec, ctx, slug, value, *, lang, planned):
        last = ctx.derived / "testland" / "last.txt"
        calls.append((slug, set(planned), last.exists()))
        return early(spec, ctx, slug, value, lang=lang, planned=planned)

    monkeypatch.setattr(runner, "build_region", spy)
    manifest = pipeline.run(spec, ctx, regions=["Testland"], fetch=False, progress=False, check_regions=False,
                            jobs=2)
    assert calls == [("testland", {"last"}, False)], "once, while the last step still ran"
    folder = ctx.figures / "testland" / "leerversie"
    # the page of the finished step was made early, and the final build found it current: only the last
    # step's page (and the shared one) are rendered at the end
    assert manifest["edition"]["rendered"] == ["figures/leerversie/01_one.html",
                                               "figures/testland/leerversie/03_last.html"]
    assert 'href="03_last.html"' in (folder / "02_two.html").read_text(encoding="utf-8"), \
        "it links the page that was still to come"
    assert (folder / "03_last.html").is_file()
    monkeypatch.setattr(runner, "build_region", early)
    calls.clear()
    sequential = pipeline.run(spec, ctx, regions=["Testland"], fetch=False, progress=False, check_regions=False,
                              jobs=1, force=True)
    assert calls == [] and sequential["status"] == "ok", "one step at a time: no free slot, no early pages"
