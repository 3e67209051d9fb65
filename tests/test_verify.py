"""jhw-verify: a run compared with a reference manifest, artefact by artefact.

The runs here are small but real: table and figure files on disk and a run manifest in the
runner's format (outputs as {path: sha256} per step), with absolute and relative paths. The whole
synthetic pipeline checked against its own reference is in tests/test_study_synthetic.py.
"""
from __future__ import annotations

import shutil

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from jeugdhulp_wijken import catalog, figures, files, verify

RUN_ID = "20260101T000000000000Z_jz01"


@pytest.fixture
def study(tmp_path):
    """A finished run in ``tmp_path`` (the repository root), and a reference manifest made from it."""
    region = tmp_path / "data" / "derived" / "jz01"
    results = pd.DataFrame({"wijk_code": ["WK000101", "WK000102", "WK000103"],
                            "observed": [10.25, 12.5, float("nan")],
                            "expected_scp": [11.0, 12.0, 9.75], "deviation_class": ["lager", "zoals", ""]})
    table = catalog.write(results, "scp_results_region", region)
    gemeenten = catalog.write(pd.DataFrame({"gemeente_code": ["GM0001", "GM0002"], "observed_weighted": [9.5, 11.0]}),
                              "scp_gemeente_table", region)
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    png = files.write_bytes_atomic(tmp_path / "figures" / "jz01" / "fig05_scatter.png", figures.figure_bytes(fig, "png"))
    plt.close(fig)
    run_dir = tmp_path / "data" / "runs" / RUN_ID
    manifest = {"run_id": RUN_ID, "status": "ok", "synthetic": False, "platform": "test", "python": "3",
                "steps": [
                    # the runner today writes absolute paths; the reference has repo-relative ones
                    {"name": "regio", "outputs": {str(table): files.sha256_file(table),
                                                  str(gemeenten): files.sha256_file(gemeenten)}},
                    {"name": "figures", "outputs": {"figures/jz01/fig05_scatter.png": files.sha256_file(png)}}]}
    files.write_json(run_dir / "manifest.json", manifest)
    files.write_json(tmp_path / "data" / "runs" / "latest.json",
                     {"run_id": RUN_ID, "manifest": str(run_dir / "manifest.json")})
    reference = tmp_path / "notebooks" / "reference" / "reference_manifest.json"
    verify.write_reference(run_dir / "manifest.json", reference, root=tmp_path)
    return tmp_path, reference, table


def _squeezed(out: str) -> str:
    """The report with runs of spaces as one space: the status column's width is not the test's concern."""
    return "\n".join(" ".join(line.split()) for line in out.splitlines())


def _verify(root, reference, *extra):
    return verify.main(["latest", "--root", str(root), "--runs-root", str(root / "data" / "runs"),
                        "--reference", str(reference), *extra])


def test_reference_manifest_has_repo_relative_paths_hashes_and_column_fingerprints(study):
    root, reference, _ = study
    ref = files.read_json(reference)
    assert sorted(ref["artefacts"]) == ["data/derived/jz01/05_scp_gemeente_table.csv",
                                        "data/derived/jz01/05_scp_wijk_results_region.parquet",
                                        "figures/jz01/fig05_scatter.png"]
    assert str(root) not in reference.read_text()
    entry = ref["artefacts"]["data/derived/jz01/05_scp_wijk_results_region.parquet"]
    assert entry["step"] == "regio" and len(entry["sha256"]) == 64 and entry["rows"] == 3
    assert entry["columns"]["observed"]["missing"] == 1 and entry["columns"]["observed"]["sum"] == 22.75
    assert "sum" not in entry["columns"]["deviation_class"]
    assert ref["run_id"] == RUN_ID and ref["platform"] == "test"


def test_unchanged_run_passes(study, capsys):
    root, reference, _ = study
    assert _verify(root, reference) == 0
    out = capsys.readouterr().out
    assert out.count("identical  ") == 3
    assert "3 identical, 0 identical except provenance, 0 within tolerance, 0 different, 0 missing, 0 extra. PASS." in out


def _change_one_number(table, delta):
    df = pd.read_parquet(table)
    df.loc[1, "expected_scp"] += delta
    catalog.write(df, "scp_results_region", table.parent)


def test_one_changed_number_fails_and_names_the_artefact_and_column(study, capsys):
    root, reference, table = study
    _change_one_number(table, 0.004)
    assert _verify(root, reference) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "05_scp_wijk_results_region.parquet" in x)
    assert line.startswith("different")
    assert "column expected_scp: largest difference 0.004 in its " in out
    assert "column observed" not in out  # only the changed column is named
    assert "the file changed after the run wrote it" in out
    assert "FAIL: 1 artefact(s) differ" in out


def test_reference_data_gives_the_row_and_both_values(study, tmp_path_factory, capsys):
    root, reference, table = study
    data = tmp_path_factory.mktemp("reference-data")
    shutil.copytree(root / "data", data / "data")
    _change_one_number(table, 0.004)
    assert _verify(root, reference, "--reference-data", str(data)) == 1
    out = capsys.readouterr().out
    assert "column expected_scp: largest difference 0.004 at wijk_code WK000102 (run 12.004, reference 12.0)" in out


def test_tolerance_passes_a_small_difference_and_says_so(study, capsys):
    root, reference, table = study
    _change_one_number(table, 1e-9)
    assert _verify(root, reference) == 1
    capsys.readouterr()
    assert _verify(root, reference, "--tolerance", "1e-6") == 0
    out = capsys.readouterr().out
    assert "within tolerance data/derived/jz01/05_scp_wijk_results_region.parquet" in _squeezed(out)
    assert "Tolerance 1e-06 was used for numeric table values" in out
    assert "1 artefact(s) passed only because of it" in out
    assert out.rstrip().endswith("PASS.")
    _change_one_number(table, 0.5)
    assert _verify(root, reference, "--tolerance", "1e-6") == 1


def test_tolerance_never_excuses_changed_text(study, tmp_path_factory, capsys):
    root, reference, table = study
    data = tmp_path_factory.mktemp("reference-data")
    shutil.copytree(root / "data", data / "data")
    df = pd.read_parquet(table)
    df.loc[0, "deviation_class"] = "hoger"
    catalog.write(df, "scp_results_region", table.parent)
    for extra in ((), ("--reference-data", str(data))):
        assert _verify(root, reference, "--tolerance", "0.1", *extra) == 1
        out = capsys.readouterr().out
        assert "column deviation_class" in out


def test_missing_and_extra_artefacts_are_reported(study, capsys):
    root, reference, _ = study
    manifest_path = root / "data" / "runs" / RUN_ID / "manifest.json"
    manifest = files.read_json(manifest_path)
    manifest["steps"][1]["outputs"] = {"figures/jz01/fig06_new.png": "0" * 64}
    files.write_json(manifest_path, manifest)
    files.write_bytes_atomic(root / "figures" / "jz01" / "fig06_new.png", b"png")
    assert _verify(root, reference) == 1
    out = capsys.readouterr().out
    assert "missing figures/jz01/fig05_scatter.png" in _squeezed(out)
    assert "extra figures/jz01/fig06_new.png" in _squeezed(out)
    assert "1 missing, 1 extra" in out


def test_a_changed_figure_is_different(study, capsys):
    root, reference, _ = study
    (root / "figures" / "jz01" / "fig05_scatter.png").write_bytes(b"not the figure")
    assert _verify(root, reference) == 1
    assert "different figures/jz01/fig05_scatter.png" in _squeezed(capsys.readouterr().out)


def test_reference_is_made_only_from_a_complete_unchanged_run(study):
    root, reference, table = study
    manifest_path = root / "data" / "runs" / RUN_ID / "manifest.json"
    _change_one_number(table, 1.0)
    with pytest.raises(verify.VerifyError, match="changed since run"):
        verify.write_reference(manifest_path, reference, root=root)
    manifest = files.read_json(manifest_path)
    manifest["status"] = "failed"
    files.write_json(manifest_path, manifest)
    with pytest.raises(verify.VerifyError, match="not 'ok'"):
        verify.write_reference(manifest_path, reference, root=root)


def test_write_reference_from_the_command_line_copies_the_tables(study, tmp_path_factory, capsys):
    root, _, _ = study
    out, data = tmp_path_factory.mktemp("ref") / "ref.json", tmp_path_factory.mktemp("ref-data")
    assert _verify(root, out, "--write-reference", "--reference-data", str(data)) == 0
    assert files.read_json(out)["run_id"] == RUN_ID
    assert sorted(p.name for p in data.rglob("*") if p.is_file()) == ["05_scp_gemeente_table.csv",
                                                                     "05_scp_wijk_results_region.parquet"]


def test_unknown_run_and_missing_reference_are_errors_that_say_what_to_do(study, capsys):
    root, reference, _ = study
    assert verify.main(["nope", "--root", str(root), "--runs-root", str(root / "data" / "runs"),
                        "--reference", str(reference)]) == 2
    assert "Give `latest`, a run id" in capsys.readouterr().err
    assert _verify(root, root / "none.json") == 2
    assert "does not exist" in capsys.readouterr().err


def test_paths_are_normalised_against_the_root(tmp_path):
    assert verify.relative_path(str(tmp_path / "data" / "x.csv"), tmp_path) == "data/x.csv"
    assert verify.relative_path("data/derived/../derived/x.csv", tmp_path) == "data/derived/../derived/x.csv"
    assert verify.relative_path("./figures/a.png", tmp_path) == "figures/a.png"
    assert verify.relative_path(str(tmp_path.parent / "elsewhere" / "x.csv"), tmp_path) == "../elsewhere/x.csv"


def test_same_numbers_written_differently_and_swapped_rows_are_told_apart(study, capsys):
    root, reference, _ = study
    csv = root / "data" / "derived" / "jz01" / "05_scp_gemeente_table.csv"
    csv.write_text(csv.read_text().replace("9.5", "9.50"))
    assert _verify(root, reference) == 1
    assert "column observed_weighted: the same numbers, written differently" in capsys.readouterr().out
    assert _verify(root, reference, "--tolerance", "1e-12") == 0
    capsys.readouterr()
    csv.write_text("gemeente_code,observed_weighted\nGM0001,11.0\nGM0002,9.5\n")
    assert _verify(root, reference, "--tolerance", "1e-6") == 1
    out = capsys.readouterr().out
    assert "column observed_weighted: values moved between rows" in out
    assert "column gemeente_code" not in out


def _report_files(root, commit):
    """A report page and key-numbers JSON that name the commit they were made at, as the report step's do."""
    page = (f'<p>Uitkomst 11,7%</p><dl><dt>Git-commit</dt><dd class="code" data-provenance>{commit}</dd>'
            f'<dt>Runmanifest</dt><dd class="code" data-provenance>{commit[::-1]}</dd></dl>')
    html = files.write_bytes_atomic(root / "figures" / "jz01" / "rapport.html", page.encode("utf-8"))
    key = files.write_json(root / "figures" / "jz01" / "06_key_numbers.json",
                           {"observed_pct": 11.7, "colophon": {"git": {"commit": commit, "dirty": False},
                                                               "manifest_sha256": commit[::-1], "python": "3"}})
    return html, key


def _run_with_report(root, commit):
    html, key = _report_files(root, commit)
    path = root / "data" / "runs" / RUN_ID / "manifest.json"
    manifest = files.read_json(path)
    manifest["steps"].append({"name": "report", "outputs": {str(p): files.sha256_file(p) for p in (html, key)}})
    files.write_json(path, manifest)
    return path


def test_a_new_commit_alone_is_identical_except_provenance_but_a_changed_number_is_not(study, capsys):
    root, reference, _ = study
    verify.write_reference(_run_with_report(root, "a" * 40), reference, root=root)
    entry = files.read_json(reference)["artefacts"]["figures/jz01/rapport.html"]
    assert len(entry["sha256_without_provenance"]) == 64 and entry["sha256_without_provenance"] != entry["sha256"]
    assert "sha256_without_provenance" not in files.read_json(reference)["artefacts"]["figures/jz01/fig05_scatter.png"]

    _run_with_report(root, "b" * 40)       # the same study, made at another commit
    assert _verify(root, reference) == 0
    out = capsys.readouterr().out
    assert out.count("identical except provenance  figures/jz01/") == 2
    assert "differs only in the git commit and run-manifest hash it names" in out
    assert "PASS." in out

    html = root / "figures" / "jz01" / "rapport.html"
    html.write_text(html.read_text(encoding="utf-8").replace("11,7%", "11,8%"), encoding="utf-8")
    key = root / "figures" / "jz01" / "06_key_numbers.json"
    key.write_text(key.read_text(encoding="utf-8").replace("11.7", "11.8"), encoding="utf-8")
    assert _verify(root, reference) == 1
    out = capsys.readouterr().out
    assert "different figures/jz01/rapport.html" in _squeezed(out)
    assert "different figures/jz01/06_key_numbers.json" in _squeezed(out)


def test_provenance_is_blanked_only_where_marked():
    page = '<dd data-provenance>abc</dd><dd class="code">abc</dd>'
    assert verify._PROVENANCE_HTML.sub(r"\1\3", page) == '<dd data-provenance></dd><dd class="code">abc</dd>'
    assert verify._drop_provenance({"a": 1, "git": 2, "b": [{"manifest_sha256": 3, "c": 4}]}) == {"a": 1, "b": [{"c": 4}]}
