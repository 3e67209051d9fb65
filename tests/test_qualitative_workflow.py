"""Notebook glue, and the notebook itself on the fictional example (slow)."""
from __future__ import annotations

import json

import pytest

from _qualitative_helpers import build_hhs
from jeugdhulp_wijken import paths, pipeline
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


@pytest.mark.slow
def test_notebook_runs_on_the_example(tmp_path):
    pm = pytest.importorskip("papermill")
    out, fig = tmp_path / "out", tmp_path / "fig"
    pm.execute_notebook(str(paths.NOTEBOOKS / "04_qualitative_coding.ipynb"), str(tmp_path / "nb.ipynb"),
                        parameters={"output_dir": str(out), "figures_dir": str(fig)},
                        kernel_name=pipeline.KERNEL, cwd=str(paths.NOTEBOOKS), progress_bar=False)
    step = pipeline.load_spec().step("qualitative_coding")
    for name in step.outputs:
        assert (out / name).is_file(), name
    rep = json.loads((out / "04_agreement.json").read_text(encoding="utf-8"))
    assert rep["agreement"]["overall"]["krippendorff_alpha_nominal_pooled"] is not None
