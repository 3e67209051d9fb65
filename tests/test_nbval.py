"""nbval with the reference notebooks' sanitize file, and reference notebooks made from a run.

nbval runs in a pytest subprocess with the options `make verify` uses. The fixture notebook
(tests/fixtures/nbval/reference: a reference notebook, so it keeps its outputs) was executed
elsewhere: its stored paths, run id, times, object address and progress bar all differ from a new
run, and it still passes; a copy with one printed number changed fails on exactly that cell.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

from jeugdhulp_wijken import files, paths, pipeline, reference

FIXTURE = Path(__file__).parent / "fixtures" / "nbval" / "reference" / "sanitized_outputs.ipynb"
SANITIZE = reference.SANITIZE_FILE


def run_nbval(*targets: Path, cwd: Path) -> subprocess.CompletedProcess:
    """pytest --nbval as in `make verify` (same sanitize file and kernel)."""
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--rootdir", str(cwd),
           "--nbval", *map(str, targets), "--nbval-sanitize-with", str(SANITIZE),
           "--nbval-kernel-name", pipeline.KERNEL]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("text", [
    "Totaal: 45", "0.6667", "n = 102 wijken, 9 gemeenten", "jaar 2017", "GM0518 WK051801", "12,5 %",
    "p = 0.05, tau^2 = 0.0123", "1/3 van de wijken", "observed/expected = 1.07", "2017-01-01",
    "Delft  0.1234", "zie https://opendata.cbs.nl/statline/#/CBS/nl/ (tabel 83765NED)", "in 2017 12 s-wijken"])
def test_sanitize_masks_no_study_number(text):
    assert sanitize(text) == text


@pytest.mark.parametrize("text, masked", [
    ("Run 20261130T005429871401Z_haaglanden", "Run RUN-ID_haaglanden"),
    ("/work/main/data/derived/nl/01_wijk_table_nl.parquet", "<DIR>/01_wijk_table_nl.parquet"),
    ("../../data/derived/nl/01_wijk_table_nl.parquet", "<DIR>/01_wijk_table_nl.parquet"),
    ("[PosixPath('/tmp/r/staging/scp/figures/fig02.png')]", "[Path('<DIR>/fig02.png')]"),
    ("WindowsPath('C:/Users/a/jhw/figures/fig02.png')", "Path('<DIR>/fig02.png')"),
    ("C:\\Users\\a\\jhw\\data\\x.csv", "<DIR>/x.csv"),
    ("<object object at 0x7f00d366f3b0>", "<object object at 0xADDRESS>"),
    ("klaar in 12.31 s", "klaar in TIME"),
    ('"duration_s": 3.25', '"duration_s": TIME'),
    ("gestart 2026-11-30T00:54:29+00:00", "gestart DATETIME"),
    ("Wall time: 1.2 s", "Wall time: TIME"),
    (" 50%|█████     | 1/2 [00:00<00:00, 42.5it/s]", "PROGRESS"),
])
def test_sanitize_masks_what_varies_between_runs(text, masked):
    assert sanitize(text) == masked


def _changed_copy(target: Path, cell: int, old: str, new: str) -> Path:
    nb = json.loads(FIXTURE.read_text(encoding="utf-8"))
    text = json.dumps(nb["cells"][cell]["outputs"], ensure_ascii=False)
    assert old in text
    nb["cells"][cell]["outputs"] = json.loads(text.replace(old, new))
    target.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    return target


def test_nbval_passes_the_fixture_and_fails_on_the_cell_with_a_changed_number(tmp_path):
    ok = shutil.copy(FIXTURE, tmp_path / "fixture_ok.ipynb")
    total = _changed_copy(tmp_path / "fixture_changed_total.ipynb", 1, "Totaal: 45", "Totaal: 46")
    table = _changed_copy(tmp_path / "fixture_changed_table.ipynb", 7, "0.0987", "0.0988")
    result = run_nbval(ok, total, table, cwd=tmp_path)
    failed = sorted(re.findall(r"^FAILED (\S+\.ipynb::Cell \d+)", result.stdout, re.M))
    assert failed == ["fixture_changed_table.ipynb::Cell 6", "fixture_changed_total.ipynb::Cell 0"], result.stdout
    n_code = sum(c["cell_type"] == "code" for c in json.loads(FIXTURE.read_text())["cells"])
    passed = re.findall(r"^fixture_ok(?:\.|::)ipynb::Cell \d+ PASSED", result.stdout, re.M)
    assert len(passed) == n_code, result.stdout
    assert "Totaal: 46" in result.stdout and "Totaal: 45" in result.stdout  # nbval shows both values
    assert result.returncode == 1


def test_reference_notebook_from_a_run_passes_nbval_in_its_own_folder(tmp_path):
    """A step executed by papermill with absolute paths becomes a reference notebook whose
    parameters are relative to its folder under notebooks/reference; nbval re-runs it there and
    it passes, writing into the scratch folder, not into the study's folders."""
    import papermill as pm

    root = tmp_path / "repo"
    (root / "data" / "derived" / "nl").mkdir(parents=True)
    (root / "data" / "derived" / "nl" / "getal.txt").write_text("21")
    (root / "data" / "examples").mkdir(parents=True)
    (root / "data" / "examples" / "extra.txt").write_text("voorbeeld")
    source = root / "notebooks" / "09_stap.ipynb"
    params = nbformat.v4.new_code_cell('input_dir = "../data/derived/nl"\noutput_dir = "../data/derived/nl"\n'
                                       'extra = "../data/examples/extra.txt"\nregion = "NL"')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Een stap."), params,
        nbformat.v4.new_code_cell('from pathlib import Path\n\nwaarde = int((Path(input_dir) / "getal.txt").read_text())\n'
                                  'print("Waarde:", 2 * waarde, Path(extra).read_text(), region)'),
        nbformat.v4.new_code_cell('uit = Path(output_dir) / "uit.txt"\nuit.parent.mkdir(parents=True, exist_ok=True)\n'
                                  'uit.write_text(str(waarde))\nprint("Geschreven:", uit.resolve())'),
        nbformat.v4.new_code_cell('%matplotlib inline\nimport matplotlib.pyplot as plt\n\nplt.plot([1, 2], [waarde, 0])'),
    ], metadata={"kernelspec": {"name": pipeline.KERNEL, "display_name": pipeline.KERNEL, "language": "python"}})
    source.parent.mkdir(parents=True)
    nbformat.write(nb, source)
    run_dir = root / "data" / "runs" / "20260101T000000000000Z_nl"
    executed = run_dir / "notebooks" / "national" / source.name
    executed.parent.mkdir(parents=True)
    pm.execute_notebook(str(source), str(executed), kernel_name=pipeline.KERNEL, cwd=str(source.parent),
                        progress_bar=False, parameters={"input_dir": str(root / "data" / "derived" / "nl"),
                                                        "output_dir": str(run_dir / "staging" / "national" / "stap" / "output"),
                                                        "region": "NL"})
    files.write_json(run_dir / "manifest.json", {"run_id": run_dir.name, "status": "ok", "steps": [
        {"name": "stap", "region": None, "executed_notebook": str(executed.relative_to(root)), "outputs": {}}]})
    files.write_json(root / "data" / "runs" / "latest.json", {"run_id": run_dir.name,
                                                              "manifest": str((run_dir / "manifest.json").relative_to(root))})
    out = root / "notebooks" / "reference"
    out.mkdir()
    (out / "old").mkdir()
    (out / "old" / "00_stale.ipynb").write_text("{}")
    written = reference.make_reference(root=root, out_dir=out)

    assert [p.relative_to(out).as_posix() for p in written] == ["national/09_stap.ipynb", "reference_manifest.json"]
    assert not (out / "old" / "00_stale.ipynb").exists()
    nb_ref = out / "national" / "09_stap.ipynb"
    ref = nbformat.read(nb_ref, as_version=4)
    injected = next(c for c in ref.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'input_dir = "../../../data/derived/nl"' in injected.source
    assert 'output_dir = "../../../data/runs/nbval/national/stap/output"' in injected.source
    assert 'extra = "../../../data/examples/extra.txt"' in injected.source  # a default, rebased
    assert 'region = "NL"' in injected.source
    assert str(root) not in injected.source and "papermill" not in json.dumps([c.metadata for c in ref.cells])
    image_outputs = [o for c in ref.cells for o in c.get("outputs", []) if "jhw_stripped" in o.get("metadata", {})]
    assert len(image_outputs) == 1 and "image/png" not in image_outputs[0]["data"]
    assert image_outputs[0]["metadata"]["jhw_stripped"]["image/png"].startswith("sha256:")
    first = nb_ref.read_bytes()
    assert reference.make_reference(root=root, out_dir=out)[0].read_bytes() == first  # stable bytes

    result = run_nbval(nb_ref, cwd=root)
    assert result.returncode == 0, result.stdout
    assert "Waarde: 42 voorbeeld NL" in nb_ref.read_text()
    assert (root / "data" / "runs" / "nbval" / "national" / "stap" / "output" / "uit.txt").read_text() == "21"
    assert not (root / "data" / "derived" / "nl" / "uit.txt").exists()
    assert paths.ROOT not in (root / "data").parents


def test_the_reference_conftest_loads_and_gives_nbval_kernels_one_blas_thread(monkeypatch):
    """`make verify` loads notebooks/reference/conftest.py: it must import, and set one thread per kernel."""
    import os
    import runpy

    from jeugdhulp_wijken import paths
    from jeugdhulp_wijken.pipeline import THREAD_VARIABLES

    for var in THREAD_VARIABLES:
        monkeypatch.setenv(var, "8")  # restored after the test
    runpy.run_path(str(paths.NOTEBOOKS / "reference" / "conftest.py"))
    assert {os.environ[var] for var in THREAD_VARIABLES} == {"1"}
