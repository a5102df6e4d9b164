"""pytest plugin that bench/mutation.py loads in its copies: each test phase (setup, call,
teardown) is stopped by SIGALRM after CAPSIM_MUTATION_TEST_SECONDS, so a mutant that makes one
test loop forever fails that test within seconds instead of holding the worker for the whole
subset's timeout. The test fails with a TimeoutError, which counts as killed (a hang)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, FrameType

import pytest

LIMIT = float(os.environ.get("CAPSIM_MUTATION_TEST_SECONDS", "0"))
HANG_EXIT = 97


_fired = [False]


def _alarm(signum: int, frame: FrameType | None) -> None:
    message = f"test phase ran past {LIMIT:.0f} s: the mutant hangs"
    if not _fired[0]:
        _fired[0] = True
        raise TimeoutError(message)
    # Raised once and still running: something caught it (hypothesis retries a failing
    # example, and the retry hangs again). Stop the whole run, with the exit status that
    # bench/mutation.py reads as a hang (the output is captured: a message would be lost).
    os._exit(HANG_EXIT)


def _timed() -> Iterator[None]:
    if LIMIT <= 0:
        yield
        return
    _fired[0] = False
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT, 5.0)  # and again every 5 s until it ends
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


# ---------------------------------------------------------------- which tests reach which code
# With CAPSIM_MUTATION_CALLS set (the unmutated run), every test's calls into the copy's sim/
# are recorded as "file:first line of the code object" and written there as JSON: a mutant can
# only change a test that runs the function it is in. Calls made while a fixture of wider than
# function scope is set up count for every test that uses the fixture (its value carries them);
# calls made outside any test (imports, collection) go to "outside", which bench/mutation.py
# treats as reached by every test.

CALLS = os.environ.get("CAPSIM_MUTATION_CALLS", "")
_SRC = str(Path.cwd() / "sim") + os.sep
_keys: dict[CodeType, str] = {}
_outside: set[str] = set()
_active: list[set[str]] = [_outside]
_tests: dict[str, set[str]] = {}
_fixtures: dict[tuple[str, str], set[str]] = {}


def _trace(frame: FrameType, event: str, arg: object) -> None:
    code = frame.f_code
    key = _keys.get(code)
    if key is None:
        name = code.co_filename
        key = _keys[code] = (f"sim/{name[len(_SRC):]}:{code.co_firstlineno}"
                             if name.startswith(_SRC) else "")
    if key:
        for s in _active:
            s.add(key)
    return None  # no line events: calls only, cheap


if CALLS:
    sys.settrace(_trace)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object],
                         request: pytest.FixtureRequest) -> Iterator[None]:
    if not CALLS or fixturedef.scope == "function":
        yield
        return
    mine = _fixtures.setdefault((fixturedef.baseid, fixturedef.argname), set())
    _active.append(mine)
    try:
        yield
    finally:
        _active.remove(mine)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not CALLS:
        yield
        return
    mine = _tests.setdefault(item.nodeid, set())
    _active[:] = [mine]
    try:
        yield
    finally:
        _active[:] = [_outside]
        info = getattr(item, "_fixtureinfo", None)
        for defs in (info.name2fixturedefs.values() if info is not None else ()):
            for d in defs:
                mine |= _fixtures.get((d.baseid, d.argname), set())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if CALLS:
        sys.settrace(None)
        Path(CALLS).write_text(json.dumps({
            "outside": sorted(_outside),
            "tests": {nodeid: sorted(keys) for nodeid, keys in _tests.items()}}))
