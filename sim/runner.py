"""Run many simulations (policies × replications × changes), in parallel, without losing any.

Each run is described by a `RunSpec`; its random streams depend only on the (changed) scenario
seed and the replication index, never on the policy, the order of execution, the batch it ran
in or the executor, so the numbers are the same on 1 process, 8 processes or a Dask cluster, and
replication i of every policy sees the same world (common random numbers).

    for outcome in run_many(scenario, specs, workers=2, store_dir=default_store(scenario),
                            on_skip=lambda n: print(f"{n} runs already done")):
        ...  # outcome.ok, outcome.metrics, outcome.error, outcome.index (position in specs)

With `store_dir`, every finished run is written at once to `store_dir/<key>.json` (atomically);
the key hashes the scenario's full content, the source of the code a run depends on, and the
spec's policy, replication and changes. A later call yields runs found there without running
them again (`cached=True`), whatever grid they were part of; `fresh=True` forgets this grid's
runs first. The default store, `results/<scenario>/runs/`, is a cache shared by every command on
that scenario. A run that raises comes back as an outcome with `error` set (and is not stored,
so a re-run tries it again); a run whose worker died is retried up to `retries` times, then
reported the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

STORE_FORMAT = 2  # 2: records carry their key and a checksum
_WARNED: set[tuple[str, int]] = set()  # damaged records already reported by this process
TASK_SECONDS = 0.25  # work per task sent to a worker: per-task costs stay near 1 %


@dataclass(frozen=True)
class RunSpec:
    """One simulation of a grid: which changes, which policy, which replication."""

    policy: str
    replication: int
    changes: tuple[tuple[str, Any], ...] = ()
    labels: tuple[tuple[str, Any], ...] = field(default=())

    def key(self) -> str:
        """A readable name for this run, used in messages and de-duplication."""
        parts = [f"{k}={v}" for k, v in self.changes]
        return "|".join([*parts, self.policy, f"rep{self.replication}"])


@dataclass
class RunOutcome:
    """What a run hands back: its spec and seed, flattened metrics and summary, or its error."""

    spec: RunSpec
    seed: int
    metrics: dict[str, float]
    summary: dict[str, Any]
    error: str | None = None  # "ExceptionType: message" when the run failed
    index: int = -1  # position of the spec in the list given to run_many
    scenario: str = ""
    elapsed_s: float = 0.0  # time the run took in its worker
    cpu_s: float = 0.0  # CPU time of the worker process during the run
    events: int = 0  # engine events processed
    attempts: int = 1  # workers it was sent to (more than 1 after a worker died)
    cached: bool = False  # read back from the store, not run again
    trace: str = ""  # traceback of the error, for debugging

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """Scenario, policy, seed, replication and changes, for messages."""
        changes = ", ".join(f"{k}={v}" for k, v in self.spec.changes)
        return (f"scenario {self.scenario}, policy {self.spec.policy}, seed {self.seed}, "
                f"replication {self.spec.replication}" + (f", {changes}" if changes else ""))


# ---------------------------------------------------------------- running one spec


def _scenario_for(scenario: Scenario, spec: RunSpec,
                  cache: dict[tuple[tuple[str, Any], ...], Scenario] | None = None) -> Scenario:
    if not spec.changes:
        return scenario
    from sim.api import with_changes

    key = spec.changes
    try:
        if cache is not None and key in cache:
            return cache[key]
    except TypeError:  # unhashable change values (lists): no caching
        cache = None
    s = with_changes(scenario, dict(spec.changes))
    if cache is not None:
        cache[key] = s
    return s


def execute(scenario: Scenario, spec: RunSpec, index: int = -1,
            cache: dict[tuple[tuple[str, Any], ...], Scenario] | None = None) -> RunOutcome:
    """Run one spec in this process; an exception becomes an outcome with `error` set."""
    from sim.engine import Simulation, compile_scenario
    from sim.policies import make_policy
    from sim.results import RunResult

    t0 = time.perf_counter()
    c0 = time.process_time()
    seed = scenario.seed
    try:
        s = _scenario_for(scenario, spec, cache)
        seed = s.seed
        policy = make_policy(spec.policy, s.policy.params.get(spec.policy))
        raw = Simulation(compile_scenario(s, replication=spec.replication), policy).run()
        result = RunResult.from_raw(raw)  # no resolved YAML: only the summary is kept
        return RunOutcome(spec, seed, result.metrics(), result.summary, index=index,
                          scenario=scenario.name, elapsed_s=time.perf_counter() - t0,
                          cpu_s=time.process_time() - c0, events=raw.event_count)
    except Exception as exc:
        return RunOutcome(spec, seed, {}, {}, error=f"{type(exc).__name__}: {exc}", index=index,
                          scenario=scenario.name, elapsed_s=time.perf_counter() - t0,
                          trace=traceback.format_exc())


def _run_batch(scenario_blob: bytes, items: list[tuple[int, RunSpec]]) -> list[RunOutcome]:
    """Worker side: run a batch of specs of one (pickled) scenario."""
    scenario = pickle.loads(scenario_blob)
    cache: dict[tuple[tuple[str, Any], ...], Scenario] = {}
    return [execute(scenario, spec, index, cache) for index, spec in items]


# ---------------------------------------------------------------- the store of finished runs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_NOT_IN_RUNS = ("analysis", "plots", "cli", "executors", "__main__")


def code_digest() -> str:
    """A hash of the source of everything a run's numbers depend on (scenario, engine, policies,
    results, this module): a stored run is reused only by the code that made it."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if not rel.startswith(_NOT_IN_RUNS):
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _data_files(scenario: Scenario) -> list[list[str]]:
    """Path and content hash of each file the scenario reads (request traces)."""
    out = []
    for section in (scenario.inference, scenario.agents):
        for svc in section.values():
            trace = getattr(svc, "trace", None)
            if trace is not None:
                try:
                    digest = hashlib.sha256(Path(trace.file).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                out.append([trace.file, digest])
    return out


def scenario_digest(scenario: Scenario) -> str:
    """A hash of the scenario's full content (every default filled in), of the trace files it
    reads and of capsim's code."""
    text = _canonical([STORE_FORMAT, code_digest(), scenario.model_dump(mode="json"),
                       _data_files(scenario)])
    return hashlib.sha256(text.encode()).hexdigest()


def spec_digest(scenario_hash: str, spec: RunSpec) -> str:
    """The store key of one run: scenario content, policy, replication and changes (not labels)."""
    text = _canonical([scenario_hash, spec.policy, spec.replication,
                       [[k, v] for k, v in spec.changes]])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def default_store(scenario: Scenario, root: str | Path = "results") -> Path:
    """`root/<scenario>/runs`: where finished runs of a scenario are kept for resuming."""
    from sim.results.atomic import inside

    return inside(root, scenario.name, "runs")


def output_folder(scenario: Scenario, specs: Iterable[RunSpec], kind: str = "compare",
                  root: str | Path = "results") -> Path:
    """`root/<scenario>/<kind>-<hash>`: the same scenario and grid always give the same name."""
    digest = scenario_digest(scenario)
    keys = sorted(spec_digest(digest, spec) for spec in specs)
    grid = hashlib.sha256(_canonical([digest, keys]).encode()).hexdigest()[:12]
    from sim.results.atomic import inside

    return inside(root, scenario.name, f"{kind}-{grid}")


class RunStore:
    """Finished runs of one scenario, one small JSON file each in `folder`.

    Files are written to a temporary name and renamed into place, so a file that exists is
    complete; temporary leftovers of an interrupted write are ignored (and removed by `clear`).
    Each record carries the key it was made for and a sha256 of its content: a record that is
    damaged, altered or misplaced is ignored with a warning and its run done again. The folder
    is marked as a runs cache (`.capsim-runs`); a folder holding anything else is refused.
    """

    def __init__(self, folder: str | Path, scenario: Scenario,
                 warn: Callable[[str], None] | None = None) -> None:
        self.runs = Path(folder)
        self.scenario = scenario
        self.digest = scenario_digest(scenario)
        self.warn = warn if warn is not None else _warn_stderr
        self._tidied = False
        check_runs_folder(self.runs)

    def path(self, spec: RunSpec) -> Path:
        return self.runs / f"{spec_digest(self.digest, spec)}.json"

    def _warn_once(self, path: Path, message: str) -> None:
        """One warning per damaged record and process, however many stores read it (compare
        reads replication 0 twice: to decide what to run, then for its tables)."""
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        if key not in _WARNED:
            _WARNED.add(key)
            self.warn(message)

    def load(self, spec: RunSpec, index: int = -1) -> RunOutcome | None:
        """The stored outcome of `spec`, or None if it has not finished; a record that cannot be
        trusted gives None and a one-line warning, so the run is done again."""
        path = self.path(spec)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn_once(path, f"warning: {path}: cannot read this run record "
                                  f"({exc.strerror or exc}); running it again")
            return None
        record, problem = _checked_record(text, path.stem, self.digest)
        if record is None:
            self._warn_once(path, f"warning: {path}: ignored a damaged run record ({problem}); "
                                  "running it again")
            return None
        return RunOutcome(spec, record["seed"], record["metrics"], record["summary"], index=index,
                          scenario=record["scenario"], elapsed_s=record["elapsed_s"],
                          cpu_s=record["cpu_s"], events=record["events"],
                          attempts=record["attempts"], cached=True)

    def save(self, outcome: RunOutcome) -> Path:
        """Write a finished (successful) run atomically, with its key and checksum."""
        spec = outcome.spec
        target = self.path(spec)
        record = {
            "format": STORE_FORMAT, "key": target.stem, "scenario": outcome.scenario,
            "scenario_hash": self.digest,
            "spec": {"policy": spec.policy, "replication": spec.replication,
                     "changes": [[k, v] for k, v in spec.changes],
                     "labels": [[k, v] for k, v in spec.labels]},
            "seed": outcome.seed, "elapsed_s": outcome.elapsed_s, "cpu_s": outcome.cpu_s,
            "events": outcome.events,
            "attempts": outcome.attempts, "metrics": outcome.metrics, "summary": outcome.summary,
        }
        record = json.loads(json.dumps(record, default=str))  # exactly what a reader sees
        record["checksum"] = record_checksum(record)
        self._claim()
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(record))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def _claim(self) -> None:
        """Create the folder and mark it as a runs cache (checked again: it may have changed)."""
        from sim.results.atomic import RUNS_MARKER

        check_runs_folder(self.runs)
        self.runs.mkdir(parents=True, exist_ok=True)
        marker = self.runs / RUNS_MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"made_by": "capsim", "kind": "runs"}) + "\n")
            return
        if not self._tidied:
            self._tidied = True
            _remove_stale_temporaries(self.runs)
    def tables_path(self, spec: RunSpec) -> Path:
        """Folder of the full tables of `spec`, kept for runs whose time series are plotted."""
        return self.runs / spec_digest(self.digest, spec)

    def save_tables(self, spec: RunSpec, result: Any) -> Path:
        """Keep the full tables of a finished run (a `RunResult`), as Parquet, atomically."""
        return result.save(self.tables_path(spec), cache=True)

    def load_tables(self, spec: RunSpec) -> Any:
        """The stored `RunResult` of `spec` with its tables, or None (not kept, or unreadable)."""
        from sim.results import RunResult, has_tables

        folder = self.tables_path(spec)
        if self.load(spec) is None or not has_tables(folder):
            return None
        try:
            return RunResult.load(folder)
        except (OSError, ValueError, KeyError):
            return None

    def count(self) -> int:
        """Finished runs on disk (temporary files not counted)."""
        return sum(1 for _ in self.runs.glob("[!.]*.json")) if self.runs.exists() else 0

    def forget(self, specs: Iterable[RunSpec]) -> None:
        """Delete the stored runs of `specs` (`--fresh`)."""
        for spec in specs:
            self.path(spec).unlink(missing_ok=True)
            shutil.rmtree(self.tables_path(spec), ignore_errors=True)

    def clear(self) -> None:
        """Delete the whole folder: every stored run and temporary leftover (only a folder that
        is a runs cache: checked again here)."""
        if self.runs.is_dir():
            check_runs_folder(self.runs)
            shutil.rmtree(self.runs)


_RECORD_FILE = re.compile(r"^(?:[0-9a-f]{24}\.json|\.[0-9a-f]{24}\.\d+\.tmp)$")
_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (int,), "key": (str,), "scenario": (str,), "scenario_hash": (str,),
    "seed": (int,), "elapsed_s": (int, float), "cpu_s": (int, float), "events": (int,),
    "attempts": (int,), "metrics": (dict,), "summary": (dict,), "checksum": (str,),
}


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def check_runs_folder(folder: Path) -> None:
    """Refuse a runs folder that holds anything but runs (a user's folder, a result folder)."""
    from sim.results.atomic import MARKER, RUNS_MARKER, UnsafeFolderError

    if not folder.exists():
        return
    if not folder.is_dir():
        raise UnsafeFolderError(f"{folder}: is a file; the runs cache must be a folder")
    if (folder / RUNS_MARKER).is_file():
        return
    names = [p.name for p in folder.iterdir()]
    if MARKER in names or not all(_RECORD_FILE.match(n) for n in names):
        listing = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
        raise UnsafeFolderError(
            f"{folder}: capsim keeps finished runs here, but the folder holds other files "
            f"({listing}); move them away or choose another --out")


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written records (`.<key>.<pid>.tmp`) of processes that are gone."""
    from sim.results.atomic import PROCESS_START, process_alive

    for path in folder.glob(".*.tmp"):
        m = _RECORD_FILE.match(path.name)
        pid = path.name.rsplit(".", 2)[-2]
        if m is None or not pid.isdigit() or process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < PROCESS_START:
                path.unlink()


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of a run record's canonical JSON, without its own checksum field."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _checked_record(text: str, key: str, digest: str) -> tuple[dict[str, Any] | None, str]:
    """The record in `text` if it is whole and was made for `key` (else None and why)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}"
    missing = [name for name in _FIELDS if name not in record]
    if missing:
        return None, f"missing {', '.join(missing)}"
    for name, types in _FIELDS.items():
        value = record[name]
        if not isinstance(value, types) or isinstance(value, bool):
            return None, f"{name} has the wrong type ({type(value).__name__})"
    if record["format"] != STORE_FORMAT:
        return None, f"format {record['format']}, expected {STORE_FORMAT}"
    if record["checksum"] != record_checksum(record):
        return None, "checksum does not match the content: edited or corrupted"
    if record["key"] != key or record["scenario_hash"] != digest:
        return None, "made for another run: key mismatch"
    if not all(isinstance(k, str) and (v is None or isinstance(v, int | float))
               and not isinstance(v, bool) for k, v in record["metrics"].items()):
        return None, "metrics are not all numbers"
    return record, ""


# ---------------------------------------------------------------- many runs


def run_many(scenario: Scenario, specs: Iterable[RunSpec], workers: int | None = None,
             executor: Executor | None = None, *, dask: str | None = None,
             store_dir: str | Path | None = None, fresh: bool = False, retries: int = 2,
             on_skip: Callable[[int], None] | None = None,
             task_seconds: float = TASK_SECONDS) -> Iterator[RunOutcome]:
    """Outcomes of `specs` as they finish (in any order; `outcome.index` is the position).

    Where: `executor` (any `concurrent.futures.Executor`, e.g. `Client.get_executor()`), else a
    Dask cluster at `dask` ("local" starts a `LocalCluster` of `workers` workers), else `workers`
    local processes (default: every core; 1 runs in this process). Short runs are batched so each
    task carries about `task_seconds` of work.

    With `store_dir`, finished runs are saved there as they complete, and runs saved by an
    earlier call are yielded from disk (`cached=True`) after `on_skip(count)` is called;
    `fresh=True` deletes the stored runs of `specs` first. Failed runs come back with `error`
    set; runs on a worker that died are retried `retries` times first. Stopping the iterator
    (or Ctrl-C) stops the workers; every run finished by then is kept.
    """
    from sim.executors import default_workers

    specs = list(specs)
    store = RunStore(store_dir, scenario) if store_dir is not None else None
    if store is not None and fresh:
        store.forget(specs)
    pending: list[tuple[int, RunSpec]] = []
    done: list[RunOutcome] = []
    for i, spec in enumerate(specs):
        outcome = store.load(spec, i) if store is not None else None
        if outcome is None:
            pending.append((i, spec))
        else:
            done.append(outcome)
    if on_skip is not None and store is not None:
        on_skip(len(done))
    yield from done
    del done
    if not pending:
        return
    n = workers if workers is not None else default_workers()
    if executor is None and dask is None and (n <= 1 or len(pending) == 1):
        cache: dict[tuple[tuple[str, Any], ...], Scenario] = {}
        for i, spec in pending:
            outcome = execute(scenario, spec, i, cache)
            if store is not None and outcome.ok:
                store.save(outcome)
            yield outcome
        return
    yield from _run_parallel(scenario, pending, store, n if workers is not None else None,
                             executor, dask, retries, task_seconds)


def _run_parallel(scenario: Scenario, pending: list[tuple[int, RunSpec]], store: RunStore | None,
                  workers: int | None, executor: Executor | None, dask: str | None,
                  retries: int, task_seconds: float) -> Iterator[RunOutcome]:
    """Batches on a backend, at most two tasks per worker in flight.

    When a task is lost (its worker died), its specs become suspects: each is then run alone, with
    nothing else in flight, so a death is charged to the one spec that caused it; a spec that
    dies alone more than `retries` times is reported, and innocent bystanders are not charged.
    """
    from sim.executors import POLL_SECONDS, deferred_interrupts, open_backend

    blob = pickle.dumps(scenario)
    queue = deque(pending)
    suspects: deque[tuple[int, RunSpec]] = deque()
    sent: dict[int, int] = {}  # times a spec was sent to a worker
    deaths: dict[int, int] = {}  # worker deaths charged to a spec (it was running alone)
    inflight: dict[Future[list[RunOutcome]], tuple[list[tuple[int, RunSpec]], int, bool]] = {}
    per_run = math.nan  # mean seconds per run so far, for sizing batches
    timed = 0
    backend = open_backend(workers, dask, executor)
    interrupts = deferred_interrupts()
    pressed = interrupts.__enter__()
    try:
        while queue or suspects or inflight:
            if pressed.is_set():  # Ctrl-C, acted on here, outside concurrent.futures' locks
                raise KeyboardInterrupt
            while queue or suspects:
                if suspects:
                    if inflight:
                        break  # a suspect runs alone
                    chunk, alone = [suspects.popleft()], True
                elif len(inflight) < 2 * backend.slots:
                    size = 1
                    if timed:
                        balance = math.ceil(len(queue) / (2 * backend.slots))
                        size = max(1, min(round(task_seconds / max(per_run, 1e-6)), balance))
                    chunk, alone = [queue.popleft() for _ in range(min(size, len(queue)))], False
                else:
                    break
                try:
                    future = backend.executor.submit(_run_batch, blob, chunk)
                except RuntimeError as exc:  # a broken or shut-down executor refuses new work
                    if backend.renew():
                        suspects.extend(chunk)
                        continue
                    yield from _abandon([*chunk, *suspects, *queue], exc, sent, scenario)
                    queue.clear()
                    suspects.clear()
                    break
                inflight[future] = (chunk, backend.generation, alone)
                for i, _ in chunk:
                    sent[i] = sent.get(i, 0) + 1
            if not inflight:
                break
            finished, _ = wait(list(inflight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk, generation, alone = inflight.pop(future)
                try:
                    outcomes = future.result()
                except Exception as exc:  # the worker died, or the task could not run there
                    if isinstance(exc, BrokenProcessPool) and generation == backend.generation:
                        backend.renew()
                    if not alone:
                        suspects.extend(chunk)
                        continue
                    i, spec = chunk[0]
                    deaths[i] = deaths.get(i, 0) + 1
                    if deaths[i] <= retries:
                        suspects.append((i, spec))
                    else:
                        yield _lost(i, spec, scenario, sent[i],
                                    f"its worker died {deaths[i]} times; "
                                    f"last: {type(exc).__name__}: {exc}")
                    continue
                for outcome in outcomes:
                    outcome.attempts = sent.get(outcome.index, 1)
                    if outcome.ok:
                        timed += 1
                        per_run = (outcome.elapsed_s if timed == 1
                                   else per_run + (outcome.elapsed_s - per_run) / timed)
                        if store is not None:
                            store.save(outcome)
                    yield outcome
    finally:
        for future in inflight:
            future.cancel()
        backend.close()
        interrupts.__exit__(None, None, None)


def _lost(i: int, spec: RunSpec, scenario: Scenario, attempts: int, error: str) -> RunOutcome:
    seed = dict(spec.changes).get("seed", scenario.seed)
    return RunOutcome(spec, seed, {}, {}, index=i, scenario=scenario.name, attempts=attempts,
                      error=error)


def _abandon(items: list[tuple[int, RunSpec]], exc: BaseException, sent: dict[int, int],
             scenario: Scenario) -> list[RunOutcome]:
    """Report every spec not yet run when the executor can take no more work."""
    return [_lost(i, spec, scenario, sent.get(i, 0),
                  f"not run: the executor refused work ({type(exc).__name__}: {exc})")
            for i, spec in items]


def outcomes_frame(outcomes: Iterable[RunOutcome]) -> pd.DataFrame:
    """One row per run in grid order: changes, labels, policy, replication, seed, error, metrics."""
    import pandas as pd

    rows = []
    for o in sorted(outcomes, key=lambda o: o.index):
        row: dict[str, Any] = {"index": o.index, **dict(o.spec.changes), **dict(o.spec.labels),
                               "policy": o.spec.policy, "replication": o.spec.replication,
                               "seed": o.seed, "error": o.error}
        row.update(o.metrics)
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["RunOutcome", "RunSpec", "RunStore", "check_runs_folder", "default_store", "execute",
           "outcomes_frame", "output_folder", "record_checksum", "run_many", "scenario_digest",
           "spec_digest"]
