"""The benchmark script runs end to end on the synthetic study and reports every figure.

No speed is asserted here (timings belong to the benchmark's printout, not to tests)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from jeugdhulp_wijken import paths


def test_benchmark_reports_every_figure_on_the_synthetic_study(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(paths.ROOT / "scripts" / "benchmark.py"), "--synthetic",
                           "--repeats", "1", "--json", str(out)], capture_output=True, text=True, check=True)
    result = json.loads(out.read_text())
    assert set(result["cached_statuses"]) == {"cached"}
    assert list(result["per_step_s"]) == list(result["plain_python_per_step_s"])
    assert all(v > 0 for v in result["per_step_s"].values())
    assert result["n_regions"] >= 3 and result["all_regions_over_single"] > 0
    assert "JZ99" in result["unknown_region_message"]
    assert result["region_new_process_s"] > 0 and result["third_region"] not in (result["region"],
                                                                                 result["second_region"])
    assert not list(Path(tempfile.gettempdir()).glob("jhw-bk-*")), "its kernel servers and their folder are gone"
    for line in ("Cold single-region run", "Cached re-run", "Second region", "in a new jhw-reproduce process",
                 "All regions / single region",
                 "Unknown region refused", "Notebook overhead ratio", "Machine:"):
        assert line in proc.stdout
