"""`capsim report`: one self-contained HTML file (report.html) of a run, compare, sweep or plan
folder, written into that folder atomically; it opens from disk and loads nothing from the
network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sim.report.build import ReportError, folder_kind, report_html

REPORT_NAME = "report.html"


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
