"""Where independent runs execute: in this process, in local worker processes, or on Dask.

`open_backend` turns the user's choice (`workers`, `dask`, or a ready `concurrent.futures.Executor`)
into a `Backend` the runner submits to. A local process pool that breaks (a worker died) is
replaced; a Dask cluster reschedules work of a dead worker by itself. Dask is optional:
`pip install 'capsim[dask]'`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

DASK_HINT = "Dask is not installed; install it with: pip install 'capsim[dask]'"


class ExecutorError(RuntimeError):
    """The chosen executor cannot be used (not installed, or cannot be reached)."""


class DaskMissingError(ExecutorError, ImportError):
    """`dask=` was asked for but `dask.distributed` cannot be imported."""

    def __init__(self) -> None:
        super().__init__(DASK_HINT)


def default_workers() -> int:
    """Cores this process may use (all of them unless restricted by affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


POLL_SECONDS = 0.2
"""How often the parent, waiting for runs, looks whether Ctrl-C was pressed."""
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5  # how often a worker checks that its parent is still there


def _die_with_parent(parent: int) -> None:
    """End this worker when `parent` ends, however it ends (SIGKILL included).

    On Linux the kernel sends SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); everywhere,
    a daemon thread checks every WATCH_SECONDS that the parent is still alive and still our
    parent (which also covers a parent that died before prctl took effect)."""
    if sys.platform.startswith("linux") and os.getppid() == parent:
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    first_ppid = os.getppid()

    def gone() -> bool:
        if os.getppid() != first_ppid:  # re-parented: the parent (or a fork server) is gone
            return True
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def watch() -> None:
        while not gone():
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    if gone():
        os._exit(1)
    threading.Thread(target=watch, name="capsim-parent-watch", daemon=True).start()


def init_worker(parent: int) -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them in order; they take the
    default SIGTERM (not a handler inherited from the parent) and end when the parent ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)


@contextlib.contextmanager
def deferred_interrupts() -> Any:
    """While waiting for workers, Ctrl-C sets the event yielded instead of raising wherever the
    main thread is: a KeyboardInterrupt raised inside concurrent.futures (holding a future's
    lock, or writing to the manager's wake-up pipe) can leave its manager thread blocked, and
    the interpreter joins that thread at exit without a timeout. The caller checks the event
    and stops at a safe point; a second Ctrl-C raises at once. Outside the main thread: no-op."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def handle(signum: int, frame: object) -> None:
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Backend:
    """An executor to submit runs to, how many run at once, and how to renew and close it."""

    executor: Executor
    slots: int
    description: str
    renew_with: Callable[[], Executor] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    generation: int = 0

    def renew(self) -> bool:
        """Replace a broken executor by a fresh one; False when this backend cannot."""
        if self.renew_with is None:
            return False
        _stop_pool(self.executor)
        self.executor = self.renew_with()
        self.generation += 1
        return True

    def close(self) -> None:
        """Stop what this backend started (not an executor the caller handed in)."""
        if self.renew_with is not None:
            _stop_pool(self.executor)
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):  # best effort on the way out
                close()


def _stop_pool(executor: Executor) -> None:
    """Cancel queued work and stop a process pool's workers now, without waiting for them."""
    if isinstance(executor, ProcessPoolExecutor):
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=2)
            if process.is_alive():  # SIGTERM not acted on in time (a loaded machine): SIGKILL
                process.kill()
                process.join(timeout=2)
    else:
        executor.shutdown(wait=False, cancel_futures=True)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A local pool of `workers` processes that ignore Ctrl-C (the parent handles it) and end
    when this process ends, even by SIGKILL."""
    return ProcessPoolExecutor(max_workers=workers, initializer=init_worker,
                               initargs=(os.getpid(),))


def dask_client(address: str, workers: int | None = None) -> tuple[Any, list[Callable[[], None]]]:
    """A Dask `Client` for `address`, or for a new `LocalCluster` when `address` is "local"."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise DaskMissingError() from exc
    if address == "local":
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                               processes=True, dashboard_address=":0")
        client = Client(cluster)
        return client, [cluster.close, client.close]
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    return client, [client.close]


def open_backend(workers: int | None = None, dask: str | None = None,
                 executor: Executor | None = None) -> Backend:
    """The backend for a choice: a given executor, a Dask address (or "local"), or local processes.

    `workers` is the number of local processes (default: every core); with `dask="local"` it is
    the number of Dask workers started.
    """
    if executor is not None:
        slots = workers or getattr(executor, "_max_workers", None) or default_workers()
        return Backend(executor, slots, f"{type(executor).__name__}")
    if dask is not None:
        client, closers = dask_client(dask, workers)
        slots = max(1, sum(client.nthreads().values()))
        where = "a local Dask cluster" if dask == "local" else f"Dask at {dask}"
        return Backend(client.get_executor(pure=False), slots, f"{where} ({slots} threads)",
                       closers=closers)
    n = workers or default_workers()
    return Backend(process_pool(n), n, f"{n} local processes", renew_with=lambda: process_pool(n))


__all__ = ["DASK_HINT", "Backend", "DaskMissingError", "ExecutorError", "default_workers",
           "init_worker", "open_backend", "process_pool"]
