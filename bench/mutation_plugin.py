"""pytest plugin that bench/mutation.py loads in its copies: each test phase (setup, call,
teardown) is stopped by SIGALRM after CAPSIM_MUTATION_TEST_SECONDS, so a mutant that makes one
test loop forever fails that test within seconds instead of holding the worker for the whole
subset's timeout. The test fails with a TimeoutError, which counts as killed (a hang)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

LIMIT = float(os.environ.get("CAPSIM_MUTATION_TEST_SECONDS", "0"))


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"test phase ran past {LIMIT:.0f} s: the mutant hangs")


def _timed() -> Iterator[None]:
    if LIMIT <= 0:
        yield
        return
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _timed()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _timed()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _timed()
