"""The report and the interactive map in a real browser: Debian's headless Chromium, driven over the
DevTools protocol, opens both from file:// with every request intercepted (anything not local is
refused before it leaves the machine). Asserts that every image loaded, that the map drew a shape
per wijk, and that nothing was asked of another host; saves screenshots under the run folder.

Without Chromium the tests are skipped; with JHW_REQUIRE_BROWSER=1 (set by .ci/run) a missing
browser is a failure.
"""
from __future__ import annotations

import os
import struct

import pytest

from jeugdhulp_wijken import catalog
from jeugdhulp_wijken.report import browser, write_report
from jeugdhulp_wijken.report import figures as report_figures

from _report_helpers import synthetic_report_study

pytestmark = pytest.mark.slow


def _require_chromium() -> str:
    exe = browser.find_chromium()
    if exe is None:
        if os.environ.get("JHW_REQUIRE_BROWSER") == "1":
            pytest.fail("JHW_REQUIRE_BROWSER=1 but Chromium is not installed (Debian: apt-get install chromium); "
                        ".ci/run installs it.")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); set JHW_REQUIRE_BROWSER=1 to "
                    "make this a failure.")
    return exe


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def chrome():
    _require_chromium()
    with browser.Browser() as b:
        yield b


@pytest.fixture(scope="module")
def study_run():
    return synthetic_report_study()


@pytest.fixture(scope="module")
def report_file(study_run):
    rep = study_run.build("nl")
    html, _ = write_report(rep, study_run.report_dir, synthetic=True)
    return html, rep


def _shots(study_run):
    return study_run.run_dir / "screenshots"


def test_report_loads_every_image_offline(chrome, report_file, study_run):
    html, rep = report_file
    page = chrome.open(html)
    images = page.evaluate(browser.IMAGES_JS)
    assert len(images) == sum(1 for f in rep.figures if f.kind == "image")
    assert all(i["complete"] and i["width"] > 0 for i in images), [i for i in images if not i["width"]]
    assert page.remote_requests == [] and page.blocked == []
    assert page.requests and all(u.startswith(("file:", "data:")) for u in page.requests)
    assert page.evaluate("document.documentElement.lang") == "nl"
    assert page.evaluate("document.querySelectorAll('section h2').length") == 6
    assert _shots(study_run).parent == study_run.run_dir
    full = page.screenshot(_shots(study_run) / "rapport.png")
    maps = page.screenshot(_shots(study_run) / "rapport_uitkomsten.png", selector="#uitkomsten")
    for shot in (full, maps):
        w, h = _png_size(shot)
        assert w >= 600 and h >= 600
    first_map = rep.figures[[f.section for f in rep.figures].index("uitkomsten")]
    assert page.evaluate(f"document.querySelector('#{first_map.anchor} img').naturalWidth") > 0


def test_interactive_map_draws_every_wijk_offline(chrome, study_run):
    located = report_figures.locate(study_run.figures_root, study_run.region, True)
    maps = [(fig, fs) for fig, _, fs in located if fig.formats == ("html",)]
    assert maps, "no interactive map in the figure registry"
    results = catalog.read("scp_results_region", study_run.region_dir, True)
    geometry = catalog.read("wijk_geometry_region", study_run.region_dir, True)
    n_shapes = len(set(results["wijk_code"]) & set(geometry["wijk_code"]))
    assert n_shapes > 10
    for fig, fs in maps:
        page = chrome.open(fs[0])
        drawn = page.wait_until(f"({browser.LEAFLET_SHAPES_JS}) >= {n_shapes} && ({browser.LEAFLET_SHAPES_JS})")
        assert page.remote_requests == [], f"{fig.id} asked the network for {page.remote_requests}"
        assert drawn and drawn >= n_shapes, f"{fig.id}: {drawn} shapes drawn for {n_shapes} wijken"
        assert page.evaluate("typeof L !== 'undefined' && document.querySelectorAll('.leaflet-container').length") == 1
        shot = page.screenshot(_shots(study_run) / f"{fig.file}.png")
        assert _png_size(shot)[0] >= 600


def test_pdf_is_printed(report_file, study_run, tmp_path):
    _require_chromium()
    html, _ = report_file
    pdf = browser.print_pdf(html, catalog.path("report_pdf", tmp_path, True))
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000


def test_pdf_is_skipped_without_chromium(report_file, tmp_path, monkeypatch, capsys):
    html, _ = report_file
    monkeypatch.setenv("JHW_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert browser.find_chromium() is None
    assert browser.print_pdf(html, tmp_path / "r.pdf") is None
    assert "PDF skipped" in capsys.readouterr().out and not (tmp_path / "r.pdf").exists()
