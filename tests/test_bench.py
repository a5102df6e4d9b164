"""The benchmark script still runs (small sizes) and its three M/M/c models agree: the same
jobs through capsim, bare simpy and the heapq loop give the same starts and mean wait. No
timing is asserted: speed is for the bench's own report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_runs_and_models_agree(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--quick",
                           "--only", "mmc,year,growth", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "engine jobs/s" in done.stdout
    results = json.loads(out.read_text())
    mmc = results["mmc"]
    assert len(set(mmc["started"].values())) == 1 and mmc["started"]["capsim"] > 0
    waits = mmc["mean_wait_h"]
    assert max(waits.values()) - min(waits.values()) < 1e-9, waits
    assert results["year"]["events"] > 0
    for case, g in results["growth"].items():
        assert not g["timed_out"], case
        years = g["engine_s_per_simulated_year"]
        assert years and all(y > 0 for y in years) and sum(years) <= g["engine_s"], case
