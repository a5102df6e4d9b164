"""Plain-text tables of a comparison or a sweep: one row per metric, one column per policy."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from sim.analysis.metrics import Metric, format_delta, format_half_width, format_value


def _cell(metric: Metric, mean: float, low: float, high: float, start: datetime | None) -> str:
    text = format_value(metric, mean, start, unit=False)
    half = format_half_width(metric, (high - low) / 2, unit=False)
    return f"{text} {half}" if half else text


def _diff_cell(metric: Metric, row: pd.Series) -> str:
    if pd.isna(row["diff"]):
        return ""
    if row["diff"] == 0 and row["diff_ci_high"] == row["diff_ci_low"]:
        return "0"
    half = format_half_width(metric, (row["diff_ci_high"] - row["diff_ci_low"]) / 2, unit=False)
    star = " *" if row["excludes_zero"] else ""
    return f"{format_delta(metric, row['diff'], unit=False)} {half}".rstrip() + star


def metric_rows(table: pd.DataFrame, metrics: list[Metric], policies: list[str],
                baseline: str | None, start: datetime | None,
                replications: int | None = None) -> list[list[str]]:
    """Rows of strings: per metric, a line of means ± half-widths and a line of differences.

    A mean over fewer than `replications` runs (the others had no value, e.g. a run that did
    not finish) is marked with its count, `(n=3)`.
    """
    by_key = {(r.metric, r.policy): r for r in table.itertuples(index=False)}
    rows: list[list[str]] = []
    for m in metrics:
        present = [p for p in policies if (m.name, p) in by_key]
        if not present:
            continue
        unit = f" ({m.unit})" if m.kind in ("hours", "mw", "unit_hours", "cpu_hours", "seconds") else ""
        line = [f"{m.label}{unit}"]
        diff_line = [f"    Δ vs {baseline}"] if baseline else []
        for p in policies:
            r = by_key.get((m.name, p))
            if r is None:
                line.append("")
                diff_line.append("")
                continue
            cell = _cell(m, r.mean, r.ci_low, r.ci_high, start)
            if replications and 0 < r.n < replications:
                cell += f" (n={r.n})"
            line.append(cell)
            diff_line.append(_diff_cell(m, pd.Series(r._asdict())))
        rows.append(line)
        if baseline and any(diff_line[1:]):
            rows.append(diff_line)
    return rows


def render(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    lines.insert(1, "  ".join("─" * w for w in widths))
    return "\n".join(lines)
