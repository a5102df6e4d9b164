"""Many runs on local processes or Dask, batched, with dead workers' runs retried and every
finished run kept (see the package docstring)."""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from sim.runner import job
from sim.runner.backends import POLL_SECONDS, default_workers, deferred_interrupts, open_backend
from sim.runner.spec import RunOutcome, RunSpec
from sim.runner.store import RunStore
from sim.scenario import Scenario

TASK_SECONDS = 0.25  # work per task sent to a worker: per-task costs stay near 1 %


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
            outcome = job.execute(scenario, spec, i, cache)
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
                    future = backend.executor.submit(job.run_batch, blob, chunk)
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
