"""Prints the validation figures (theory or peer, capsim, 95% interval) after the tests run."""

from __future__ import annotations

import math
from typing import Any

from validation.queueing import REPORT


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "—"
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:,.0f}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    tr = terminalreporter
    tr.section("capsim validation figures")
    tr.write_line("| check | model | reference | reference figure | capsim | capsim 95% CI | n |")
    tr.write_line("| --- | --- | --- | --- | --- | --- | --- |")
    for r in REPORT:
        ci = "—" if math.isnan(r["lo"]) else f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}]"
        note = f" ({r['note']})" if r["note"] else ""
        tr.write_line(f"| {r['check']} | {r['model']} | {r['reference']} | {_fmt(r['expected'])} "
                      f"| {_fmt(r['capsim'])} | {ci} | {r['n']}{note} |")
