"""The report on the real 2017 data: the HHS study area (Haaglanden) with the published figures,
and Rijnmond (JZ29) with its own numbers and no sentence about Haaglanden; both opened offline in
headless Chromium (skipped without it, a failure with JHW_REQUIRE_BROWSER=1)."""
from __future__ import annotations

import html as htmllib
import re

import pytest

from jeugdhulp_wijken import catalog, paths, pipeline, study
from jeugdhulp_wijken.report import browser

from _browser_helpers import check_interactive_maps, check_report, require_chromium
from _data_helpers import real_study_context

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
REGIONS = ("Haaglanden", "JZ29")


def visible_text(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    spec, ctx, mirror = real_study_context(tmp_path_factory, "real-report")
    steps = [s.name for s in spec.steps if s.name != "atlas"]
    manifest = pipeline.run(spec, ctx, regions=list(REGIONS), only=steps, progress=False, mirror=mirror,
                            online=False, jobs=1)
    assert manifest["status"] == "ok"
    out = {}
    for region in REGIONS:
        folder = ctx.figures / paths.region_slug(region)
        out[region] = (folder, catalog.path("report_html", folder).read_text(encoding="utf-8"),
                       catalog.read("key_numbers", folder))
    return ctx, manifest, out


def test_study_area_report_has_the_published_figures(real_reports):
    _, _, out = real_reports
    _, html, key = out["Haaglanden"]
    text = visible_text(html)
    rows = {r["figure"]: r for r in key["published_vs_reproduced"]}
    assert [rows[f]["published"]["text"] for f in ("nl_observed", "haaglanden_observed", "haaglanden_expected",
                                                   "haaglanden_share_differing")] == ["10,3%", "11,7%", "11,5%", "40%"]
    assert rows["nl_observed"]["reproduced"]["text"] == "10,31%"
    assert rows["nl_observed"]["aggregation"] == "observed_weighted"
    assert rows["haaglanden_observed"]["aggregation"] and rows["haaglanden_expected"]["aggregation"]
    assert rows["haaglanden_share_differing"]["aggregation"] in ("funnel95", "rel10", "abs1pp", "funnel95_phi")
    assert "bijna 40%" in text and "2.918 wijken" in text and "102 wijken" in text
    assert rows["agreement"]["reproduced"]["text"].startswith("0,9")
    for name, rec in key["numbers"].items():
        assert rec["text"] in text, name
    assert "SYNTHETISCHE" not in text and "HHS publiceerde geen cijfers" not in text


def test_another_region_has_its_own_numbers_and_no_haaglanden_sentence(real_reports):
    _, _, out = real_reports
    _, html, key = out["JZ29"]
    _, _, hl = out["Haaglanden"]
    text = visible_text(html)
    assert "Rijnmond" in key["region_name"]
    assert study.STUDY_AREA.lower() not in text.lower()
    assert f"HHS publiceerde geen cijfers voor {key['region_name']}" in " ".join(text.split())
    assert [r["figure"] for r in key["published_vs_reproduced"]] == ["nl_observed", "agreement"]
    assert key["numbers"]["region_n_wijken"]["value"] != hl["numbers"]["region_n_wijken"]["value"]
    assert key["numbers"]["region_observed_weighted"] != hl["numbers"]["region_observed_weighted"]
    for name, rec in key["numbers"].items():
        assert rec["text"] in text, name


def test_haaglanden_report_and_map_in_the_browser(real_reports):
    require_chromium()
    ctx, manifest, out = real_reports
    folder, _, _ = out["Haaglanden"]
    shots = ctx.runs / manifest["run_id"] / "screenshots"
    from jeugdhulp_wijken import report

    rep = report.build_report(ctx.derived / "national", ctx.derived / "haaglanden", ctx.derived / "qualitative",
                              ctx.figures, "Haaglanden", raw_dir=ctx.raw)
    with browser.Browser() as chrome:
        check_report(chrome, catalog.path("report_html", folder), rep, shots)
        check_interactive_maps(chrome, ctx.figures, "Haaglanden", ctx.derived / "haaglanden", False, shots)
    assert len(list(shots.glob("*.png"))) >= 3
