"""`capsim report`: one self-contained HTML file (report.html) of a run, compare, sweep or plan
folder, written into that folder atomically; it opens from disk and loads nothing from the
network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sim.report.build import ReportError, compare_page, folder_kind, run_page, sweep_page
from sim.report.plan_page import plan_page

REPORT_NAME = "report.html"
PAGES = {"compare": compare_page, "sweep": sweep_page, "run": run_page, "plan": plan_page}


def report_html(folder: str | Path) -> str:
    """The report of the results folder `folder` as one self-contained HTML page."""
    d = Path(folder)
    kind = folder_kind(d)
    try:
        return PAGES[kind](d)
    except KeyError as exc:
        raise ReportError(f"{d}: its {kind} files lack {exc} (written by another capsim "
                          f"version?)") from None


def write_report(folder: str | Path) -> Path:
    """Write `folder`/report.html (a temporary file renamed over it: a reader never sees half a
    page) and return its path."""
    d = Path(folder)
    text = report_html(d)
    fd, tmp = tempfile.mkstemp(prefix=".capsim-report-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, d / REPORT_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return d / REPORT_NAME


__all__ = ["REPORT_NAME", "ReportError", "folder_kind", "report_html", "write_report"]
