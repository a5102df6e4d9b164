"""Results you can keep: capsim deletes only what it made, never loses a result, never trusts a
damaged run record, and leaves no worker behind.

Most tests run the real `capsim` command in a scratch folder, as a user would, and compare every
file (hidden ones included) before and after.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sim.api import load, run, with_changes
from sim.results import RunResult
from sim.results.atomic import UnsafeFolderError, inside
from sim.runner import RunOutcome, RunSpec, RunStore, default_store, run_many

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
BIG = ROOT / "scenarios" / "openai_2025.yaml"  # runs long enough to be killed mid-way
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}  # this checkout's capsim
LINUX_PROC = Path("/proc/self/status").exists()


def capsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under `folder` (hidden ones too): path -> bytes (None: a folder)."""
    return {p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


def user_files(folder: Path) -> dict[str, bytes | None]:
    """A folder of a user's things: notes, a sub-folder, a hidden folder."""
    (folder / "keep").mkdir(parents=True)
    (folder / "keep" / "data.csv").write_text("a,b\n1,2\n")
    (folder / "notes.txt").write_text("hi\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    return snapshot(folder)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


# ---------------------------------------------------------------- --out never deletes user files


OUT_COMMANDS = {
    "run": ["run", str(TINY)],
    "compare": ["compare", str(TINY), "-n", "2", "--policies", "cheapest_first,microsoft_first",
                "--workers", "1", "--no-plots", "-q"],
    "sweep": ["sweep", str(TINY), "--set", "seed=1,2", "-n", "1", "--workers", "1",
              "--no-plots", "-q"],
}


@pytest.mark.parametrize("command", list(OUT_COMMANDS))
def test_out_into_a_folder_with_user_files_is_refused_and_they_survive(
        command: str, tmp_path: Path) -> None:
    user_files(tmp_path / "x")
    before = snapshot(tmp_path)
    line = one_error_line(capsim(*OUT_COMMANDS[command], "--out", "x", cwd=tmp_path))
    assert line.startswith("error: --out x: already holds files capsim did not write")
    assert "keep" in line and "notes.txt" in line  # says what is there
    assert snapshot(tmp_path) == before  # nothing deleted, nothing written (no runs/ either)


@pytest.mark.parametrize("out", [".", "..", "results", "ABS_CWD"])
def test_out_at_the_current_folder_its_parents_or_results_is_refused(
        out: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    user_files(work)
    (work / "results").mkdir()
    before = snapshot(tmp_path)
    out = str(work) if out == "ABS_CWD" else out
    line = one_error_line(capsim("run", str(TINY), "--out", out, cwd=work))
    assert line.startswith(f"error: --out {out}: ")
    assert snapshot(tmp_path) == before


def report(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The table `capsim compare` prints, without its timing line."""
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if " runs simulated in " not in line]


@pytest.fixture(scope="module")
def cached_compare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A folder where `capsim compare` ran once (results/tiny/runs/, results/tiny/compare-*/),
    and the table it printed."""
    cwd = tmp_path_factory.mktemp("cached")
    table = report(capsim(*OUT_COMMANDS["compare"], cwd=cwd))
    # 2 policies x 2 replications, replication 0 included
    assert len(list((cwd / "results" / "tiny" / "runs").glob("*.json"))) == 4
    return cwd, table


@pytest.mark.parametrize("out", ["results/tiny", "results/tiny/runs", "results/tiny/runs/sub"])
def test_out_at_the_runs_cache_or_its_scenario_folder_is_refused(
        out: str, cached_compare: tuple[Path, list[str]]) -> None:
    cwd = cached_compare[0]
    before = snapshot(cwd)
    line = one_error_line(capsim("run", str(TINY), "--out", out, cwd=cwd))
    assert line.startswith(f"error: --out {out}: ")
    if "runs" in out:
        assert "runs cache" in line
    assert snapshot(cwd) == before


def test_runs_beside_out_into_a_user_folder_named_runs_is_refused(tmp_path: Path) -> None:
    user_files(tmp_path / "runs")  # compare --out x keeps finished runs in ./runs
    before = snapshot(tmp_path)
    line = one_error_line(capsim(*OUT_COMMANDS["compare"], "--out", "x", cwd=tmp_path))
    assert "runs" in line and "other files" in line
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- replacing a result


@pytest.fixture(scope="module")
def two_results() -> tuple[RunResult, RunResult]:
    """Two small, different results; the second has no scenario.yaml, the first has."""
    s = with_changes(load(TINY), {"horizon": "4d"})
    return run(s, seed=1), replace(run(s, seed=2), scenario_yaml="")


def test_replacing_a_capsim_result_keeps_exactly_the_new_one(
        two_results: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    old, new = two_results
    target = tmp_path / "run"
    old.save(target)
    new.save(tmp_path / "reference")
    assert (target / "scenario.yaml").exists()
    new.save(target)
    assert snapshot(target) == snapshot(tmp_path / "reference")  # no file of the old one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "run"]  # no leftovers


def test_saving_over_an_empty_folder_is_allowed(
        two_results: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    two_results[0].save(tmp_path / "run")
    assert RunResult.load(tmp_path / "run").meta["seed"] == 1


def test_the_python_api_refuses_a_user_folder_too(
        two_results: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    before = user_files(tmp_path / "mine")
    with pytest.raises(UnsafeFolderError, match="did not write"):
        two_results[0].save(tmp_path / "mine")
    assert snapshot(tmp_path / "mine") == before
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


SAVE_SCRIPT = """
import os, sys, time
from pathlib import Path
import sim
target, seed, crash = Path(sys.argv[1]).absolute(), int(sys.argv[2]), sys.argv[3]
result = sim.run(sim.with_changes(sim.load(sys.argv[4]), {"horizon": "4d"}), seed=seed)
real_replace, real_write = os.replace, Path.write_text
if crash == "between":  # the old result is aside, the new one not yet in place
    def replace(src, dst):
        if os.fspath(dst) == os.fspath(target):
            os._exit(9)
        return real_replace(src, dst)
    os.replace = replace
if crash in ("writing", "hang"):  # half-way through writing the new files
    def write_text(self, *args, **kwargs):
        if self.name == "summary.json":
            if crash == "writing":
                os._exit(9)
            print("hanging", flush=True)
            time.sleep(600)
        return real_write(self, *args, **kwargs)
    Path.write_text = write_text
result.save(target)
"""


def save_in_a_process(target: Path, seed: int, crash: str = "none") -> int:
    """Save a tiny result in a new process that dies where `crash` says (exit code 9)."""
    done = subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(target), str(seed), crash,
                           str(TINY)], env=ENV, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def test_a_crash_between_the_renames_leaves_a_complete_result(
        two_results: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    target = tmp_path / "run"
    two_results[0].save(target)  # seed 1
    assert save_in_a_process(target, 2, crash="between") == 9
    hidden = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(hidden) == 2  # the old result aside and the complete new one, nothing lost yet
    assert save_in_a_process(tmp_path / "other", 3) == 0  # the next save into the same parent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run"]
    recovered = RunResult.load(target)  # complete: every table reads back
    assert recovered.meta["seed"] == 2  # the new one, which was complete
    assert save_in_a_process(tmp_path / "reference", 2) == 0
    assert snapshot(target) == snapshot(tmp_path / "reference")


def test_a_crash_while_writing_keeps_the_old_result_and_the_leftover_is_cleaned(
        two_results: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    target = tmp_path / "run"
    two_results[0].save(target)
    before = snapshot(target)
    assert save_in_a_process(target, 2, crash="writing") == 9
    assert snapshot(target) == before  # the old result is untouched
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".")]) == 1  # the leftover
    assert save_in_a_process(tmp_path / "other", 3) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run"]
    assert snapshot(target) == before


def test_cleaning_spares_user_hidden_folders_and_a_save_still_running(tmp_path: Path) -> None:
    hang = subprocess.Popen([sys.executable, "-c", SAVE_SCRIPT, str(tmp_path / "slow"), "1",
                             "hang", str(TINY)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert hang.stdout is not None and hang.stdout.readline().strip() == "hanging"
        running = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert len(running) == 1
        old = time.time() - 3600
        os.utime(running[0], (old, old))  # looks old: only its live owner protects it
        assert save_in_a_process(tmp_path / "broken", 2, crash="writing") == 9
        lookalike = tmp_path / ".capsim-tmp-notes-1-abcdefgh"  # a user's, no capsim marker
        lookalike.mkdir()
        (lookalike / "notes.txt").write_text("mine\n")
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "config").write_text("[core]\n")
        os.utime(lookalike, (old, old))
        users = {k: v for k, v in snapshot(tmp_path).items()
                 if k.startswith((".git", lookalike.name))}
        assert save_in_a_process(tmp_path / "next", 3) == 0
        after = snapshot(tmp_path)
        assert {k: v for k, v in after.items() if k.startswith((".git", lookalike.name))} == users
        assert running[0].is_dir()  # the live save's folder is left alone
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted([".git", lookalike.name, running[0].name, "next"])  # stale gone
    finally:
        hang.kill()
        hang.wait(timeout=30)


# ---------------------------------------------------------------- names that would leave results/


DOT_NAMES = ["..", "."]


@pytest.mark.parametrize("name", DOT_NAMES)
@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_scenario_named_dot_or_dotdot_is_refused_and_writes_nothing(
        name: str, command: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    user_files(work / "microsoft_first-seed7")  # where `name: ..` used to write, after deleting
    (work / "results").mkdir()
    text = re.sub(r"(?m)^name: .*$", f'name: "{name}"', TINY.read_text())
    (work / "s.yaml").write_text(text)
    before = snapshot(tmp_path)
    args = [command, "s.yaml", *OUT_COMMANDS[command][2:]]
    line = one_error_line(capsim(*args, cwd=work))
    assert line.startswith("error: s.yaml:") and "name: must not start with '.'" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("names", [("..",), (".",), ("",), ("a/../..",), ("a", ".."),
                                   ("x\ny",), (".capsim-tmp-x-1-y",)])
def test_a_path_from_names_cannot_leave_its_root(names: tuple[str, ...]) -> None:
    with pytest.raises(UnsafeFolderError):
        inside("results", *names)


def test_paths_are_checked_even_for_a_scenario_that_skipped_validation() -> None:
    assert inside("results", "tiny", "runs") == Path("results/tiny/runs")
    unchecked = load(TINY).model_copy(update={"name": ".."})
    with pytest.raises(UnsafeFolderError):
        default_store(unchecked)


# ---------------------------------------------------------------- run records


SPECS = [RunSpec(p, 0) for p in ("cheapest_first", "microsoft_first", "diversified")]


def same_numbers(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


@pytest.fixture(scope="module")
def small() -> Any:
    return with_changes(load(TINY), {"horizon": "4d"})


@pytest.fixture(scope="module")
def originals(small: Any) -> list[RunOutcome]:
    return sorted(run_many(small, SPECS, workers=1), key=lambda o: o.index)


def _times_1000(record: Any) -> Any:
    key = next(k for k in record["metrics"] if k.startswith("spend_total"))
    record["metrics"][key] *= 1000
    return record


DAMAGE = {
    "altered numbers": lambda text, other: json.dumps(_times_1000(json.loads(text))),
    "empty list": lambda text, other: "[]",
    "no seed": lambda text, other: json.dumps(
        {k: v for k, v in json.loads(text).items() if k != "seed"}),
    "seed as text": lambda text, other: json.dumps({**json.loads(text), "seed": "7"}),
    "cut short": lambda text, other: text[: len(text) // 2],
    "another run's record": lambda text, other: other,
    "most fields missing": lambda text, other: json.dumps({"format": 2}),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_record_is_run_again_with_one_warning(
        damage: str, small: Any, originals: list[RunOutcome], tmp_path: Path) -> None:
    store_dir = tmp_path / "runs"
    list(run_many(small, SPECS, workers=1, store_dir=store_dir))
    store = RunStore(store_dir, small)
    path, other = store.path(SPECS[0]), store.path(SPECS[1])
    path.write_text(DAMAGE[damage](path.read_text(), other.read_text()))
    warnings: list[str] = []
    again = sorted(run_many(small, SPECS, workers=1, store_dir=store_dir), key=lambda o: o.index)
    # the warning goes through RunStore's default (stderr); repeat with a collector to count it
    path.write_text(DAMAGE[damage](path.read_text(), other.read_text()))
    collected = RunStore(store_dir, small, warn=warnings.append)
    assert collected.load(SPECS[0]) is None
    assert len(warnings) == 1 and str(path) in warnings[0] and "\n" not in warnings[0]
    assert [o.cached for o in again] == [False, True, True]
    for before, after in zip(originals, again, strict=True):
        assert same_numbers(after.metrics, before.metrics)
        assert after.seed == before.seed


def test_the_warning_is_one_line_on_stderr_and_the_record_is_repaired(
        small: Any, originals: list[RunOutcome], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    store_dir = tmp_path / "runs"
    list(run_many(small, SPECS, workers=1, store_dir=store_dir))
    path = RunStore(store_dir, small).path(SPECS[0])
    path.write_text("[]")
    capsys.readouterr()
    list(run_many(small, SPECS, workers=1, store_dir=store_dir))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: {path}: ")
    third = list(run_many(small, SPECS, workers=1, store_dir=store_dir))
    assert all(o.cached for o in third) and capsys.readouterr().err == ""


def test_half_written_records_of_dead_processes_are_removed_on_the_next_save(
        small: Any, tmp_path: Path) -> None:
    store_dir = tmp_path / "runs"
    list(run_many(small, SPECS[:1], workers=1, store_dir=store_dir))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    old = time.time() - 3600
    stale = store_dir / f".{'a' * 24}.{int(dead.stdout)}.tmp"
    live = store_dir / f".{'b' * 24}.{os.getpid()}.tmp"  # a write in progress in a live process
    for path in (stale, live):
        path.write_text("{")
        os.utime(path, (old, old))
    list(run_many(small, SPECS[1:2], workers=1, store_dir=store_dir))
    assert not stale.exists() and live.exists()


def test_capsim_compare_ignores_a_tampered_record(
        cached_compare: tuple[Path, list[str]], tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "work"
    shutil.copytree(cached_compare[0], work)
    record = sorted((work / "results" / "tiny" / "runs").glob("*.json"))[0]
    record.write_text(json.dumps(_times_1000(json.loads(record.read_text()))))
    done = capsim(*OUT_COMMANDS["compare"], cwd=work)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and record.name in warnings[0] and "Traceback" not in done.stderr
    assert report(done) == cached_compare[1]  # the same table: the record was run again


# ---------------------------------------------------------------- workers end with their parent


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.M):
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by init is not)."""
    text = _status(pid)
    return bool(text) and not re.search(r"^State:\s+Z", text, re.M)


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {seconds:.0f} s for {what}")
        time.sleep(0.1)


def start_long_compare(cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "sim", "compare", str(BIG), "-n", "200",
                             "--workers", "2", "-q", "--no-plots", "--out", "c"], cwd=cwd,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _end(pids: list[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


needs_proc = pytest.mark.skipif(not LINUX_PROC, reason="reads processes from /proc")


@needs_proc
def test_sigkill_of_compare_leaves_no_worker(tmp_path: Path) -> None:
    proc = start_long_compare(tmp_path)
    workers: list[int] = []
    try:
        wait_for(lambda: len(children(proc.pid)) >= 2, 300, "two workers to start")
        workers = children(proc.pid)
        proc.kill()
        proc.communicate(timeout=60)
        wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
        _end(workers)


@needs_proc
def test_sigterm_of_compare_exits_143_keeps_finished_runs_and_ends_workers(
        tmp_path: Path) -> None:
    proc = start_long_compare(tmp_path)
    workers: list[int] = []
    runs = tmp_path / "runs"
    try:
        wait_for(lambda: runs.is_dir() and any(runs.glob("*.json")), 600, "a finished run")
        workers = children(proc.pid)
        kept_before = len(list(runs.glob("*.json")))
        proc.terminate()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "terminated" in err
        wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to end")
        assert len(list(runs.glob("*.json"))) >= kept_before
        assert not (tmp_path / "c").exists()  # no half-written results folder
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
        _end(workers)


WATCHDOG_SCRIPT = """
import os, sys, time
import sim.runner.backends as ex
ex.PR_SET_PDEATHSIG = 0  # an invalid prctl option: only the watchdog thread is left
pool = ex.process_pool(1)
print(pool.submit(os.getpid).result(), flush=True)
time.sleep(600)
"""


@needs_proc
def test_without_prctl_the_watchdog_still_ends_a_worker() -> None:
    proc = subprocess.Popen([sys.executable, "-c", WATCHDOG_SCRIPT], env=ENV,
                            stdout=subprocess.PIPE, text=True)
    worker = 0
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        assert alive(worker)
        proc.kill()
        proc.wait(timeout=60)
        wait_for(lambda: not alive(worker), 10, "the worker to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        if worker:
            _end([worker])
