"""The study for another jeugdzorgregio (JZ01, every step) and for the whole country (NL),
on the real 2017 data through papermill, as `jhw-reproduce --region ...` runs it."""
from __future__ import annotations

import json

import pytest

from jeugdhulp_wijken import catalog, figures, pipeline

from _data_helpers import real_study_context

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return real_study_context(tmp_path_factory, "real-regions")


def test_another_jeugdzorgregio_runs_every_step(roots):
    spec, ctx, mirror = roots
    manifest = pipeline.run(spec, ctx, region="JZ01", force=True, progress=False, mirror=mirror, online=False)
    assert manifest["status"] == "ok" and manifest["regions"] == ["jz01"]
    d = ctx.derived / "jz01"
    region = catalog.read("wijk_table_region", d)
    assert len(region) > 0 and set(region["jz_code"]) == {"JZ01"}
    m = catalog.read("region_metrics", d)
    assert m["region"]["kind"] == "jeugdzorgregio" and m["summary"]["n_wijken"] == len(region)
    res = catalog.read("scp_results_region", d)
    assert set(res["wijk_code"]) == set(region["wijk_code"])
    classes = {"hoger dan verwacht", "lager dan verwacht", "conform verwachting"}
    assert set(res["deviation_class"].dropna()) <= classes | {"geen gegevens"}
    assert set(res.loc[res["observed"].notna(), "deviation_class"]) <= classes
    gem = catalog.read("scp_gemeente_table", d)
    assert set(gem["gemeente_code"]) == set(region["gemeente_code"])
    lf = catalog.read("lf_metrics", d)
    assert lf["n_wijken_in_scope"] == len(region)
    folders = {s.name: ("jz01" if spec.per_region(s) else spec.stages[s.stage].name) for s in spec.steps}
    for fig in figures.load_registry().values():
        if fig.step == "atlas":
            continue
        for f in figures.figure_files(fig, ctx.figures / folders[fig.step], False):
            assert f.is_file() and f.stat().st_size > 0, f
    caption = catalog.read("region_metrics", d)["region"]["name"]
    assert caption in json.loads((ctx.figures / "jz01" / "fig05_observed_map.json").read_text())["caption"]


def test_the_whole_country_after_a_region_reuses_the_national_stage(roots):
    spec, ctx, mirror = roots
    manifest = pipeline.run(spec, ctx, region="NL", progress=False, mirror=mirror, online=False)
    assert manifest["status"] == "ok"
    shared = {s.name for s in spec.steps if not spec.per_region(s)}
    assert all(s["status"] == "cached" for s in manifest["steps"] if s["name"] in shared)
    d = ctx.derived / "nl"
    res = catalog.read("scp_results_region", d)
    assert len(res) == 2918
    m = catalog.read("region_metrics", d)
    assert m["summary"]["observed_weighted"] == pytest.approx(10.3, abs=0.05)
    assert m["summary"]["n_wijken"] == 2918
    lf = catalog.read("lf_metrics", d)
    assert "region" in lf["scopes"]
    assert (ctx.figures / "nl" / "fig05_difference_map.png").is_file()
