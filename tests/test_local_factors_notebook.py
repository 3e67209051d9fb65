"""Notebook 03 runs for both scopes on the synthetic study: the national stage (scope nl) and the
regional stage (scope region, reading the national artefacts from national_dir), each writing its
catalog artefacts and the registered figures of its step."""
from __future__ import annotations

import pytest

from jeugdhulp_wijken import catalog, figures, local_factors as lf, paths, wijktable
from jeugdhulp_wijken.pipeline.cache import KERNEL


@pytest.fixture(scope="module")
def national_dir(tmp_path_factory):
    """National artefacts as the national stage leaves them (results from the published values)."""
    from _data_helpers import synthetic_build, synthetic_raw_dir
    raw = synthetic_raw_dir()
    table, geometry, _ = synthetic_build()
    out = tmp_path_factory.mktemp("national")
    data, meta, _ = wijktable.build_public_local_factors(raw, table, synthetic=True)
    lf.write_factor_file(data, meta, catalog.path("local_factors_public", out, True))
    catalog.write(lf.results_from_wijk_table(table).drop(columns="in_region"), "scp_results_nl", out, True)
    catalog.write(geometry, "wijk_geometry_nl", out, True)
    return raw, out


@pytest.mark.parametrize("scope", ["nl", "region"])
def test_notebook_runs_for_the_scope(national_dir, scope, tmp_path):
    import papermill as pm
    raw, national = national_dir
    out, figs = tmp_path / "out", tmp_path / "figures"
    pm.execute_notebook(str(paths.NOTEBOOKS / "03_local_factors.ipynb"), str(tmp_path / "executed.ipynb"),
                        cwd=str(paths.NOTEBOOKS), kernel_name=KERNEL, progress_bar=False,
                        parameters={"raw_dir": str(raw), "national_dir": str(national), "input_dir": str(national),
                                    "output_dir": str(out), "figures_dir": str(figs), "synthetic": True,
                                    "region": "JZ01", "scope": scope, "moran_permutations": 0})
    for art in ("lf_metrics", "lf_correlations", "lf_regressions", "lf_factor_table", "lf_influence"):
        assert catalog.path(art, out, True).is_file(), art
    metrics = catalog.read("lf_metrics", out, True)
    assert metrics["scope"] == scope and metrics["step"] == lf.figure_step(scope)
    assert scope in metrics["scopes"] and metrics["headline"][f"{scope}_correlations_robust"] == "eenzaam"
    if scope == "nl":
        assert metrics["scopes"]["nl_elan_gebied"]["coverage_label"].startswith("ELAN-gebied")
    for spec in figures.figures_of_step(lf.figure_step(scope)):
        assert all(p.is_file() for p in figures.figure_files(spec, figs, True)), spec.id
