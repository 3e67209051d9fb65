"""Notebook glue, and the notebook itself on the fictional example (slow)."""
from __future__ import annotations

import json

import pytest

from _qualitative_helpers import build_hhs, build_rhk
from jeugdhulp_wijken import catalog, paths, pipeline
from jeugdhulp_wijken.qualitative import CodingTableError, agreement, coding, precoder, workflow


def test_pseudonymised_folder_default_and_override(tmp_path):
    assert workflow.pseudonymised_folder("", tmp_path, "hhs") == tmp_path / "04_pseudonymised" / "hhs"
    assert workflow.pseudonymised_folder(str(tmp_path / "p"), "x", "hhs") == tmp_path / "p" / "hhs"


def test_load_human_coding_needs_a_source_and_report_is_complete(tmp_path):
    corpus, cb, table = build_hhs(tmp_path)
    with pytest.raises(CodingTableError, match="coding_files"):
        workflow.load_human_coding([], "", cb, corpus)
    m = coding.unit_matrix(table, corpus, cb)
    pc = agreement.agreement_per_code(m, cb)
    rep = workflow.build_report(corpus=corpus, codebook=cb, table=table,
                                agreement=agreement.agreement_summary(m, pc, level="theme"),
                                precoder_eval=precoder.evaluate_precoder(precoder.precode(corpus, cb), table, corpus, cb),
                                parameters={"min_cell": 3})
    assert rep["corpus"]["fictional"] is True and rep["deviations"]
    json.dumps(rep)


def test_anonymisation_log_covers_every_run_with_counts_per_kind(tmp_path):
    hhs, _, _ = build_hhs(tmp_path)
    rhk, _, _ = build_rhk(tmp_path)
    path = workflow.write_anonymisation_log({"hhs": hhs, "rondom_het_kind": rhk}, tmp_path / "out")
    assert path == catalog.path("qual_anonymisation_log", tmp_path / "out")
    log = catalog.read("qual_anonymisation_log", tmp_path / "out")
    assert log["replacements_total"] == {k: hhs.log["replacements_total"][k] + rhk.log["replacements_total"][k]
                                         for k in hhs.log["replacements_total"]}
    assert log["corpora"]["hhs"]["replacements_per_session"] == hhs.log["replacements_per_session"]
    assert log["needs_human_check"] == [f"hhs/{s}" for s in hhs.log["needs_human_check"]] + \
        [f"rondom_het_kind/{s}" for s in rhk.log["needs_human_check"]]
    text = path.read_text(encoding="utf-8").casefold()
    for name in ("kuipers", "klaverweidestraat", "06-48213377"):
        assert name not in text


@pytest.mark.slow
def test_notebook_runs_on_the_example(tmp_path):
    pm = pytest.importorskip("papermill")
    out, fig = tmp_path / "out", tmp_path / "fig"
    pm.execute_notebook(str(paths.NOTEBOOKS / "04_qualitative_coding.ipynb"), str(tmp_path / "nb.ipynb"),
                        parameters={"output_dir": str(out), "figures_dir": str(fig)},
                        kernel_name=pipeline.KERNEL, cwd=str(paths.NOTEBOOKS), progress_bar=False)
    step = pipeline.load_spec().step("qualitative_coding")
    for name in step.outputs:
        assert catalog.path(name, out).is_file(), name
    rep = json.loads((out / "04_agreement.json").read_text(encoding="utf-8"))
    assert rep["agreement"]["overall"]["krippendorff_alpha_nominal_pooled"] is not None
    log = catalog.read("qual_anonymisation_log", out)
    assert set(log["corpora"]) == {"hhs", "rondom_het_kind"} and log["replacements_total"]["PERSOON"] > 0
