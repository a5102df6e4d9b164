"""The benchmark script still runs (small sizes) and its three M/M/c models agree: the same
jobs through capsim, bare simpy and the heapq loop give the same starts and mean wait; its
unit-failures section times the scenario it says, with failures off and on. No timing is
asserted: speed is for the bench's own report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from sim.api import load, with_changes

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("capsim_bench", ROOT / "bench" / "bench.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
STATED = {"rate": 2.0e-5, "mtbf": None, "planned_share": 0.1, "repair": 48.0}  # the brief's rates


def test_bench_quick_runs_and_models_agree(tmp_path: Path) -> None:
    """Catches a section that no longer runs, M/M/c models that drift apart, a failures-off run
    that still fails units or is not the plain scenario, and stated rates not applied."""
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--quick",
                           "--only", "mmc,year,growth,failures", "--out", str(out)],
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
    failures = results["failures"]
    off, on = failures["off"], failures["on"]
    assert off["interrupts"]["unit_failure"] == off["interrupts"]["planned"] == 0
    # tiny.yaml sets its own unit failures, so its run with them is growth's "horizon x1" run
    assert on["events"] == results["growth"]["horizon x1"]["events"]
    assert failures["rates"] == "file"
    tiny = load(bench.TINY)
    assert failures["failures_on"] == {n: a.failures.model_dump() if a.failures else None
                                       for n, a in tiny.accelerators.items()}
    assert on["interruptions"] == sum(on["interrupts"].values())
    assert "unit failures on" in done.stdout and "≤ 0.5 s (issue 21)" in done.stdout


def test_failure_scenarios_keep_the_files_rates_or_state_them() -> None:
    """Catches rates set over a file's own, an accelerator left without the stated rate, and a
    failures-off run that keeps one accelerator's failures."""
    tiny = with_changes(load(bench.TINY), {f"accelerators.{n}.failures": None
                                          for n in load(bench.TINY).accelerators})
    off, on, source = bench.failure_scenarios(tiny)
    assert source == "stated"
    assert all(a.failures is None for a in off.accelerators.values())
    assert {n: a.failures.model_dump() if a.failures else None
            for n, a in on.accelerators.items()} == dict.fromkeys(tiny.accelerators, STATED)
    own = {"rate": 1e-4, "planned_share": 0.5, "repair": 10.0}
    with_own = with_changes(tiny, {"accelerators.h100.failures": own})
    off, on, source = bench.failure_scenarios(with_own)
    assert source == "file"
    assert all(a.failures is None for a in off.accelerators.values())
    assert on.accelerators["h100"].failures is not None
    assert on.accelerators["h100"].failures.model_dump() == {**own, "mtbf": None}
    assert on.accelerators["tpu-v5"].failures is None
