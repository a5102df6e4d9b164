"""Many runs: same numbers on any executor, resume after an interruption, failures reported."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sim.runner
import sim.runner.job
from sim.api import load, with_changes
from sim.runner import RunOutcome, RunSpec, RunStore, default_store, outcomes_frame, output_folder, run_many
from sim.scenario import Scenario

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
POLICIES = ("cheapest_first", "microsoft_first", "diversified")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return with_changes(load(TINY), {"horizon": "4d"})


def grid(n_reps: int = 4) -> list[RunSpec]:
    return [RunSpec(p, r) for p in POLICIES for r in range(n_reps)]


def table(outcomes: list[RunOutcome]) -> pd.DataFrame:
    return outcomes_frame(outcomes).drop(columns=["index"])


def needs_fork() -> None:
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("patching the worker's code needs fork-started workers")


@pytest.fixture(scope="module")
def serial(scenario: Scenario) -> pd.DataFrame:
    return table(list(run_many(scenario, grid(), workers=1)))


def test_same_numbers_on_one_and_two_processes(scenario: Scenario, serial: pd.DataFrame) -> None:
    outcomes = list(run_many(scenario, grid(), workers=2))
    assert all(o.ok for o in outcomes)
    assert sorted(o.index for o in outcomes) == list(range(len(grid())))
    pd.testing.assert_frame_equal(table(outcomes), serial)
    assert serial["error"].isna().all()
    # common random numbers: a replication's seed and world do not depend on the policy
    assert serial.groupby("replication")["jobs_total"].nunique().max() == 1


def test_execute_gives_the_numbers_of_sim_run(scenario: Scenario) -> None:
    from sim.api import run
    from sim.runner import execute

    spec = RunSpec("diversified", 2, changes=(("seed", 11),))
    outcome = execute(scenario, spec)
    result = run(with_changes(scenario, {"seed": 11}), policy="diversified", replication=2)
    assert outcome.ok and outcome.seed == 11
    assert pd.Series(outcome.metrics).equals(pd.Series(result.metrics()))
    assert outcome.summary == result.summary


def test_batches_do_not_change_numbers(scenario: Scenario, serial: pd.DataFrame) -> None:
    outcomes = list(run_many(scenario, grid(), workers=2, task_seconds=10.0))
    pd.testing.assert_frame_equal(table(outcomes), serial)


def test_resume_after_interruption_gives_the_same_table(scenario: Scenario, serial: pd.DataFrame,
                                                        tmp_path: Path) -> None:
    specs = grid()
    folder = default_store(scenario, root=tmp_path)
    seen = 0
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C half way
        for _ in run_many(scenario, specs, workers=2, store_dir=folder):
            seen += 1
            if seen == len(specs) // 2:
                raise KeyboardInterrupt
    kept = RunStore(folder, scenario).count()
    assert len(specs) // 2 <= kept < len(specs)
    skipped: list[int] = []
    outcomes = list(run_many(scenario, specs, workers=2, store_dir=folder, on_skip=skipped.append))
    assert skipped == [kept]
    assert sum(o.cached for o in outcomes) == kept
    pd.testing.assert_frame_equal(table(outcomes), serial)
    # everything done: nothing runs again; fresh forgets the store
    again = list(run_many(scenario, specs, workers=2, store_dir=folder, on_skip=skipped.append))
    assert skipped[-1] == len(specs) and all(o.cached for o in again)
    fresh = list(run_many(scenario, specs, workers=1, store_dir=folder, fresh=True,
                          on_skip=skipped.append))
    assert skipped[-1] == 0 and not any(o.cached for o in fresh)
    pd.testing.assert_frame_equal(table(fresh), serial)


def test_the_store_is_shared_by_grids_of_one_scenario(scenario: Scenario, serial: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    small = grid(2)
    list(run_many(scenario, small, workers=1, store_dir=tmp_path))
    skipped: list[int] = []
    outcomes = list(run_many(scenario, grid(), workers=2, store_dir=tmp_path,
                             on_skip=skipped.append))
    assert skipped == [len(small)]
    pd.testing.assert_frame_equal(table(outcomes), serial)
    # fresh forgets only the runs of the grid it is given
    list(run_many(scenario, small[:1], workers=1, store_dir=tmp_path, fresh=True))
    assert RunStore(tmp_path, scenario).count() == len(grid())
    # another scenario (here: another seed) never reuses these runs
    other = with_changes(scenario, {"seed": 8})
    list(run_many(other, small, workers=1, store_dir=tmp_path, on_skip=skipped.append))
    assert skipped[-1] == 0


def test_grid_folders_are_named_by_content(scenario: Scenario, tmp_path: Path) -> None:
    specs = grid()
    folder = output_folder(scenario, specs, root=tmp_path)
    assert folder.parent == tmp_path / "tiny" and folder.name.startswith("compare-")
    assert folder == output_folder(scenario, list(reversed(specs)), root=tmp_path)
    assert folder != output_folder(scenario, specs[:-1], root=tmp_path)
    assert folder != output_folder(with_changes(scenario, {"seed": 8}), specs, root=tmp_path)


def test_a_run_that_raises_is_reported_and_the_rest_complete(scenario: Scenario) -> None:
    specs = [*grid(2), RunSpec("no_such_policy", 0),
             RunSpec("cheapest_first", 0, changes=(("providers.nope.price", 1.0),))]
    for workers in (1, 2):
        outcomes = {o.index: o for o in run_many(scenario, specs, workers=workers)}
        assert len(outcomes) == len(specs)
        bad = [outcomes[len(specs) - 2], outcomes[len(specs) - 1]]
        assert all(not o.ok for o in bad)
        assert "no_such_policy" in bad[0].describe() and "seed 7" in bad[0].describe()
        assert "nope" in (bad[1].error or "") and "KeyError" in (bad[1].error or "")
        assert all(outcomes[i].ok for i in range(len(specs) - 2))


def test_failed_runs_are_not_stored(scenario: Scenario, tmp_path: Path) -> None:
    specs = [RunSpec("cheapest_first", 0), RunSpec("no_such_policy", 0)]
    list(run_many(scenario, specs, workers=1, store_dir=tmp_path))
    assert RunStore(tmp_path, scenario).count() == 1
    outcomes = list(run_many(scenario, specs, workers=1, store_dir=tmp_path))
    assert [o.cached for o in sorted(outcomes, key=lambda o: o.index)] == [True, False]


def test_half_written_files_never_count(scenario: Scenario, tmp_path: Path) -> None:
    specs = grid(1)
    store = RunStore(tmp_path, scenario)
    list(run_many(scenario, specs[:1], workers=1, store_dir=tmp_path))
    target = store.path(specs[1])
    (store.runs / f".{target.stem}.999.tmp").write_text('{"format": 1, "metr')  # killed mid-write
    store.path(specs[2]).write_text('{"format": 1, "metr')  # a torn file (not by us)
    assert store.count() == 2
    skipped: list[int] = []
    outcomes = list(run_many(scenario, specs, workers=1, store_dir=tmp_path, on_skip=skipped.append))
    assert skipped == [1]
    assert all(o.ok for o in outcomes) and store.load(specs[2]) is not None


def test_changes_and_seeds_follow_the_grid(scenario: Scenario) -> None:
    specs = [RunSpec("cheapest_first", 0, changes=(("seed", s),), labels=(("seed", s),))
             for s in (1, 2, 1)]
    outcomes = sorted(run_many(scenario, specs, workers=2), key=lambda o: o.index)
    assert [o.seed for o in outcomes] == [1, 2, 1]
    assert pd.Series(outcomes[0].metrics).equals(pd.Series(outcomes[2].metrics))
    assert not pd.Series(outcomes[0].metrics).equals(pd.Series(outcomes[1].metrics))


def _crash_on(replications: set[int], marker: Path | None) -> Any:
    real = sim.runner.job.execute

    def execute(scenario: Scenario, spec: RunSpec, index: int = -1, cache: Any = None) -> RunOutcome:
        if spec.replication in replications and (marker is None or not marker.exists()):
            if marker is not None:
                marker.write_text("crashed once")
            os._exit(3)  # the worker process dies
        return real(scenario, spec, index, cache)

    return execute


def test_a_dead_worker_has_its_run_retried(scenario: Scenario, serial: pd.DataFrame,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_fork()
    monkeypatch.setattr(sim.runner.job, "execute", _crash_on({2}, tmp_path / "crashed"))
    outcomes = list(run_many(scenario, grid(), workers=2))
    assert all(o.ok for o in outcomes)
    assert max(o.attempts for o in outcomes) == 2
    pd.testing.assert_frame_equal(table(outcomes), serial)


def test_a_worker_that_always_dies_is_reported(scenario: Scenario,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    needs_fork()
    monkeypatch.setattr(sim.runner.job, "execute", _crash_on({3}, None))
    outcomes = list(run_many(scenario, grid(), workers=2, retries=1))
    bad = [o for o in outcomes if not o.ok]
    assert len(outcomes) == len(grid())
    assert {o.spec.replication for o in bad} == {3} and len(bad) == len(POLICIES)
    assert all("its worker died 2 times" in (o.error or "") for o in bad)


def test_dask_local_cluster_same_numbers_and_resume(scenario: Scenario, serial: pd.DataFrame,
                                                    tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    specs = grid()
    first = []
    for outcome in run_many(scenario, specs, workers=2, dask="local", store_dir=tmp_path):
        first.append(outcome)
        if len(first) == 5:
            break  # stop half way
    outcomes = list(run_many(scenario, specs, workers=2, dask="local", store_dir=tmp_path))
    assert sum(o.cached for o in outcomes) >= 5
    pd.testing.assert_frame_equal(table(outcomes), serial)


def test_dask_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from sim.runner.backends import DaskMissingError, open_backend

    real_import = builtins.__import__

    def no_dask(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in {"distributed", "dask"}:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(DaskMissingError, match=r"pip install 'capsim\[dask\]'"):
        open_backend(dask="local")


CTRL_C_SCRIPT = """
import sys
from sim.api import load, with_changes
from sim.runner import RunSpec, run_many
s = with_changes(load(sys.argv[1]), {"horizon": "4d"})
specs = [RunSpec("cheapest_first", r) for r in range(2000)]
for n, outcome in enumerate(run_many(s, specs, workers=2, store_dir=sys.argv[2])):
    if n == 0:
        print("started", flush=True)
"""


def test_ctrl_c_stops_the_workers_and_keeps_finished_runs(scenario: Scenario,
                                                          tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, str(TINY), str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # States, not guesses: "started" follows the first saved run; then both workers exist.
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        workers: list[str] = []
        give_up = time.monotonic() + 120  # a safety net only
        while len(workers) < 2 and time.monotonic() < give_up:
            workers = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="],
                                     capture_output=True, text=True).stdout.split()
        assert len(workers) >= 2, workers
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in err
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    kept = RunStore(store, scenario).count()
    assert 1 <= kept < 2000
    specs = [RunSpec("cheapest_first", r) for r in range(2000)]
    assert sum(RunStore(store, scenario).load(spec) is not None for spec in specs) == kept


def test_ctrl_c_while_waiting_is_acted_on_outside_the_executor_and_leaves_no_thread_behind(
        scenario: Scenario) -> None:
    # A KeyboardInterrupt raised inside concurrent.futures (holding a future's lock) could
    # leave the pool's manager thread blocked, and the interpreter joins it at exit without a
    # timeout: the parent never exited. The interrupt must surface from run_many itself, and
    # every thread the pool started must then end.
    import os
    import signal
    import threading
    from concurrent.futures import process

    before = set(threading.enumerate())
    previous = signal.getsignal(signal.SIGINT)
    runs = run_many(scenario, [RunSpec("cheapest_first", r) for r in range(200)], workers=2)
    next(runs)
    os.kill(os.getpid(), signal.SIGINT)  # lands while the parent waits, or between runs
    with pytest.raises(KeyboardInterrupt) as info:
        for _ in runs:
            pass
    assert info.traceback[-1].frame.code.name == "_run_parallel"  # raised at its safe point
    assert signal.getsignal(signal.SIGINT) is previous  # the parent's handler is back
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=60)  # a safety net; a blocked manager thread never ends
        assert not thread.is_alive(), thread.name
    assert not [t for t in process._threads_wakeups if t.is_alive()]


def test_deferred_interrupts_set_the_event_then_raise_on_a_second_press() -> None:
    import os
    import signal

    from sim.runner.backends import deferred_interrupts

    previous = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as pressed:
        os.kill(os.getpid(), signal.SIGINT)
        assert pressed.wait(10)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes of the main thread
                pass
    assert signal.getsignal(signal.SIGINT) is previous
