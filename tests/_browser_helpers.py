"""Checks of a report and an interactive map in headless Chromium, shared by the synthetic and the
real-data browser tests."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from jeugdhulp_wijken import catalog
from jeugdhulp_wijken.report import browser
from jeugdhulp_wijken.report import figures as report_figures


def require_chromium() -> str:
    """Chromium, or a skip (a failure when JHW_REQUIRE_BROWSER=1, as .ci/run sets it)."""
    exe = browser.find_chromium()
    if exe is None:
        if os.environ.get("JHW_REQUIRE_BROWSER") == "1":
            pytest.fail("JHW_REQUIRE_BROWSER=1 but Chromium is not installed (Debian: apt-get install chromium); "
                        ".ci/run installs it.")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); set JHW_REQUIRE_BROWSER=1 to "
                    "make this a failure.")
    return exe


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def check_report(chrome: browser.Browser, html: Path, rep, shots: Path, lang: str = "nl") -> None:
    """Every <img> loaded, nothing asked of the network, six chapters; screenshots of the whole report
    and of the results chapter (the maps)."""
    page = chrome.open(html)
    images = page.evaluate(browser.IMAGES_JS)
    assert len(images) == sum(1 for f in rep.figures if f.kind == "image")
    assert all(i["complete"] and i["width"] > 0 for i in images), [i for i in images if not i["width"]]
    assert page.remote_requests == [] and page.blocked == []
    assert page.requests and all(u.startswith(("file:", "data:")) for u in page.requests)
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.evaluate("document.querySelectorAll('section h2').length") == 6
    first_map = next(f for f in rep.figures if f.section == "uitkomsten" and f.kind == "image")
    assert page.evaluate(f"document.querySelector('#{first_map.anchor} img').naturalWidth") > 0
    for shot in (page.screenshot(shots / f"{html.stem}.png"),
                 page.screenshot(shots / f"{html.stem}_uitkomsten.png", selector="#uitkomsten")):
        w, h = png_size(shot)
        assert w >= 600 and h >= 600, shot


def region_shapes(region_dir: Path, synthetic: bool) -> int:
    """The number of wijken of the region that have a polygon (each must be drawn on the map)."""
    results = catalog.read("scp_results_region", region_dir, synthetic)
    geometry = catalog.read("wijk_geometry_region", region_dir, synthetic)
    return len(set(results["wijk_code"]) & set(geometry["wijk_code"]))


def check_interactive_maps(chrome: browser.Browser, figures_root: Path, region, region_dir: Path,
                           synthetic: bool, shots: Path) -> None:
    """Every interactive (HTML) figure of the region draws a shape per wijk, offline."""
    maps = [(fig, fs) for fig, _, fs in report_figures.locate(figures_root, region, synthetic)
            if fig.formats == ("html",)]
    assert maps, "no interactive map in the figure registry"
    n_shapes = region_shapes(region_dir, synthetic)
    assert n_shapes > 10
    count = browser.LEAFLET_SHAPES_JS
    for fig, fs in maps:
        page = chrome.open(fs[0])
        drawn = page.wait_until(f"({count}) >= {n_shapes} && ({count})")
        assert page.remote_requests == [], f"{fig.id} asked the network for {page.remote_requests}"
        assert drawn and drawn >= n_shapes, f"{fig.id}: {drawn} shapes drawn for {n_shapes} wijken"
        assert page.evaluate("document.querySelectorAll('.leaflet-container').length") == 1
        assert png_size(page.screenshot(shots / f"{fs[0].stem}.png"))[0] >= 600
