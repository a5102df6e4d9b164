"""No silent skips in CI: when CI=true, a run that skipped a test fails unless the skip is on
ALLOWED_SKIPS, with the reason it may be skipped there and the condition that makes it so.

A skip hides a check; in CI every dependency of the test extra is installed, so a skip there
means a check that never runs (as the scipy cross-check once did, for months).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "traces"  # as test_trace.py
REAL_TRACES = ("AzureLLMInferenceTrace_conv.csv", "AzureLLMInferenceTrace_code.csv")


@dataclass(frozen=True)
class AllowedSkip:
    """Skips whose reason contains `reason_contains` are allowed while `applies()` is true."""

    reason_contains: str
    why: str
    applies: Callable[[], bool]


ALLOWED_SKIPS = [
    AllowedSkip("the real Azure traces are not at",
                "the real traces live beside the checkout (../shared/traces/) and are never "
                "copied into the repository; a CI checkout does not have them",
                lambda: not all((TRACES / name).is_file() for name in REAL_TRACES)),
    AllowedSkip("no headless browser for the report test",
                "the browser test needs the system Chromium, which .ci/run installs where it "
                "can (apt-get); where it cannot, the report's HTML is still parsed and checked "
                "by tests/test_report.py",
                lambda: _browser_missing()),
]


@pytest.fixture(scope="session")
def report_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run, a compare, a sweep and a plan written with --report, shared by the report tests
    (parsed and in a browser), made once."""
    from report_pages import make_folders

    return make_folders(tmp_path_factory.mktemp("report"))


def _browser_missing() -> bool:
    from report_pages import browser_missing

    return browser_missing()

_skipped: list[tuple[str, str]] = []


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append((report.nodeid, _reason(report)))


def disallowed(skipped: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The skips not covered by an allowed entry whose condition holds now."""
    return [(node, reason) for node, reason in skipped
            if not any(a.reason_contains in reason and a.applies() for a in ALLOWED_SKIPS)]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _in_ci() and disallowed(_skipped) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    bad = disallowed(_skipped)
    if not _in_ci() or not _skipped:
        return
    tr = terminalreporter
    tr.section("skips in CI")
    for node, reason in _skipped:
        verdict = "NOT ALLOWED" if (node, reason) in bad else "allowed"
        tr.write_line(f"{verdict}: {node}: {reason}")
    if bad:
        tr.write_line(f"{len(bad)} test(s) skipped in CI without an allowed reason: install the "
                      "test extra (pip install -e '.[test]') or add the skip, with its reason, "
                      "to ALLOWED_SKIPS in tests/conftest.py", red=True)
