"""The report and the interactive map in a real browser: Debian's headless Chromium, driven over the
DevTools protocol, opens both from file:// with every request intercepted (anything not local is
refused before it leaves the machine). Asserts that every image loaded, that the map drew a shape
per wijk, and that nothing was asked of another host; saves screenshots under the run folder.

Without Chromium the tests are skipped; with JHW_REQUIRE_BROWSER=1 (set by .ci/run) a missing
browser is a failure. The same checks on the real Haaglanden report are in test_report_real.py.
"""
from __future__ import annotations

import pytest

from jeugdhulp_wijken import catalog
from jeugdhulp_wijken.report import browser, write_report

from _browser_helpers import check_interactive_maps, check_report, require_chromium
from _report_helpers import synthetic_report_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chrome():
    require_chromium()
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


def test_report_loads_every_image_offline(chrome, report_file, study_run):
    html, rep = report_file
    shots = study_run.run_dir / "screenshots"
    check_report(chrome, html, rep, shots)
    assert {p.name for p in shots.glob("*.png")} >= {"synthetic_rapport.png", "synthetic_rapport_uitkomsten.png"}


def test_english_report_in_the_browser(chrome, study_run, tmp_path):
    rep = study_run.build("en")
    html, _ = write_report(rep, tmp_path, synthetic=True)
    check_report(chrome, html, rep, tmp_path, lang="en")


def test_interactive_map_draws_every_wijk_offline(chrome, study_run):
    check_interactive_maps(chrome, study_run.figures_root, study_run.region, study_run.region_dir, True,
                           study_run.run_dir / "screenshots")


def test_pdf_is_printed(report_file, tmp_path):
    require_chromium()
    html, _ = report_file
    pdf = browser.print_pdf(html, catalog.path("report_pdf", tmp_path, True))
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000


def test_pdf_is_skipped_without_chromium(report_file, tmp_path, monkeypatch, capsys):
    html, _ = report_file
    monkeypatch.setenv("JHW_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert browser.find_chromium() is None
    assert browser.print_pdf(html, tmp_path / "r.pdf") is None
    assert "PDF skipped" in capsys.readouterr().out and not (tmp_path / "r.pdf").exists()


def test_a_profile_that_a_helper_process_still_writes_to_is_removed_all_the_same(tmp_path):
    """Chromium's helper processes can write into the profile for a moment after the browser has gone
    (rmtree then fails with "Directory not empty"): the removal tries again until the folder is gone."""
    import threading
    import time

    profile = tmp_path / "jhw-chromium-x"
    (profile / "Default").mkdir(parents=True)
    stop = time.monotonic() + 0.5

    def helper():
        i = 0
        while time.monotonic() < stop:
            try:
                (profile / "Default" / f"journal-{i}").write_text("x")
            except OSError:  # the folder is being removed
                pass
            i += 1

    writer = threading.Thread(target=helper)
    writer.start()
    browser.remove_profile(profile)
    writer.join()
    assert not profile.exists(), "once the folder is gone, the helper cannot write into it again"


def test_leaving_the_browser_stops_chromium_and_removes_its_profile(tmp_path):
    import os

    require_chromium()
    page = tmp_path / "p.html"
    page.write_text("<!doctype html><title>p</title><p>p</p>", encoding="utf-8")
    with browser.Browser() as b:
        profile, proc = b._profile, b.proc
        assert b.open(page).evaluate("document.title") == "p"
        assert proc.pid in browser.live_processes(proc.pid), "Chromium leads a process group of its own"
    assert proc.poll() is not None
    assert not os.path.exists(profile)
    assert browser.live_processes(proc.pid) == [], "a helper process of that Chromium still runs"
