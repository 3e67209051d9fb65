"""The study for another jeugdzorgregio (JZ01, every step) and for the whole country (NL),
on the real 2017 data through papermill, as `jhw-reproduce --region ...` runs it."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from jeugdhulp_wijken import figures, pipeline

from _data_helpers import real_study_context

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return real_study_context(tmp_path_factory, "real-regions")


def test_another_jeugdzorgregio_runs_every_step(roots):
    spec, ctx, mirror = roots
    manifest = pipeline.run(spec, ctx, region="JZ01", force=True, progress=False, mirror=mirror, online=False)
    assert manifest["status"] == "ok" and len(manifest["steps"]) == len(spec.steps)
    d = ctx.derived / "jz01"
    region = pd.read_parquet(d / "01_wijk_table_region.parquet")
    assert len(region) > 0 and set(region["jz_code"]) == {"JZ01"}
    m = json.loads((d / "02_scp_metrics.json").read_text())
    assert m["meta"]["region"]["kind"] == "jeugdzorgregio" and m["meta"]["region"]["n_wijken"] == len(region)
    res = pd.read_parquet(d / "02_scp_wijk_results_region.parquet")
    assert set(res["wijk_code"]) == set(region["wijk_code"])
    classes = {"hoger dan verwacht", "lager dan verwacht", "conform verwachting"}
    assert set(res["deviation_class"].dropna()) <= classes | {"geen gegevens"}
    assert set(res.loc[res["observed"].notna(), "deviation_class"]) <= classes
    gem = pd.read_csv(d / "02_scp_gemeente_table.csv")
    assert set(gem["gemeente_code"]) == set(region["gemeente_code"])
    lf = json.loads((d / "03_local_factor_metrics.json").read_text())
    assert lf["scopes"]["region"]["n_wijken_in_scope"] == len(region)
    for fig in figures.load_registry().values():
        fig_dir = ctx.figures / ("qualitative" if fig.step == "qualitative_coding" else "jz01")
        for f in figures.figure_files(fig, fig_dir, False):
            assert f.is_file() and f.stat().st_size > 0, f
    caption = json.loads((ctx.figures / "jz01" / "fig02_observed_map.json").read_text())["caption"]
    assert "JZ01" in caption or m["meta"]["region"]["name"] in caption


def test_the_whole_country(roots):
    spec, ctx, mirror = roots
    manifest = pipeline.run(spec, ctx, region="NL", only=["data_preparation", "scp_model", "local_factors"],
                            force=True, progress=False, mirror=mirror, online=False)
    assert manifest["status"] == "ok"
    d = ctx.derived / "nl"
    res = pd.read_parquet(d / "02_scp_wijk_results_region.parquet")
    assert len(res) == 2918 and res["in_region"].all()
    m = json.loads((d / "02_scp_metrics.json").read_text())
    assert m["headline"]["nl_observed_pct_weighted"] == pytest.approx(10.3, abs=0.05)
    assert m["headline"]["region_n_wijken"] == 2918
    lf = json.loads((d / "03_local_factor_metrics.json").read_text())
    assert set(lf["scopes"]) == {"nl"}
    assert (ctx.figures / "nl" / "fig02_difference_map.png").is_file()
