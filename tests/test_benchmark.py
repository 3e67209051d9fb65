"""The benchmark script runs end to end on the synthetic study and reports every figure.

No speed is asserted here (timings belong to the benchmark's printout, not to tests)."""
from __future__ import annotations

import json
import subprocess
import sys

from jeugdhulp_wijken import paths, pipeline


def test_benchmark_reports_every_figure_on_the_synthetic_study(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(paths.ROOT / "scripts" / "benchmark.py"), "--synthetic",
                           "--repeats", "1", "--json", str(out)], capture_output=True, text=True, check=True)
    result = json.loads(out.read_text())
    steps = [s.name for s in pipeline.load_spec().steps]
    assert list(result["per_step_s"]) == steps and list(result["plain_python_per_step_s"]) == steps
    assert result["cached_statuses"] == ["cached"] * len(steps)
    assert all(v > 0 for v in result["per_step_s"].values())
    assert result["overhead_ratio"] > 0 and result["cold_full_run_s"] > 0
    for line in ("Cold full run", "Cached re-run", "Per step", "Notebook overhead ratio", "Machine:"):
        assert line in proc.stdout
