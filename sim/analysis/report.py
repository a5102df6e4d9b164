"""Plain-text tables of a comparison or a sweep: one row per metric, one column per policy."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from sim.analysis.metrics import Metric, format_delta, format_half_width, format_value
from sim.results.shares import format_share


def _cell(metric: Metric, mean: float, low: float, high: float, start: datetime | None,
          cut: bool = False) -> str:
    """'12.3 ±0.4', or '267k [0, 870k]' when the interval was cut to the metric's range (it
    is no longer symmetric about the mean)."""
    text = format_value(metric, mean, start, unit=False)
    if cut:
        mean_t, low_t, high_t = _texts(metric, [mean, low, high], high - low, start)
        return f"{mean_t} [{low_t}, {high_t}]"
    half = format_half_width(metric, (high - low) / 2, unit=False)
    return f"{text} {half}" if half else text


def _texts(metric: Metric, values: list[float], width: float,
           start: datetime | None) -> list[str]:
    """Values as text; shares with enough decimals that `width` (a fraction) shows, so a share
    of 99.996 % is not printed as 100.0 % beside its own interval."""
    if metric.kind != "share" or not math.isfinite(width) or width <= 0:
        return [format_value(metric, v, start, unit=False) for v in values]
    decimals = min(6, max(1, math.ceil(-math.log10(width * 100)) + 1))
    return [_share_text(v, decimals) for v in values]


def _share_text(v: float, decimals: int) -> str:
    """A share to `decimals` decimals, or more (format_share) where that would round it to
    100 % or 0 % when it is not exactly that."""
    if not math.isfinite(v):
        return "—"
    text = f"{v * 100:.{decimals}f}"
    if float(text) in (0.0, 100.0) and v not in (0.0, 1.0):
        return format_share(v)
    return f"{text} %"


def _spread_cell(metric: Metric, row: object, start: datetime | None) -> str:
    values = [float(getattr(row, k, math.nan)) for k in ("min", "p95", "max")]
    return " / ".join(_texts(metric, values, values[2] - values[0], start))


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
    """Rows of strings: per metric, a line of means ± half-widths and a line of differences;
    for rare-event metrics (and any whose interval was cut to its range) a line of min / p95 /
    max over replications.

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
        spread_line = ["    min / p95 / max"]
        show_spread = m.rare
        for p in policies:
            r = by_key.get((m.name, p))
            if r is None:
                line.append("")
                diff_line.append("")
                spread_line.append("")
                continue
            cut = bool(getattr(r, "ci_cut", False))
            show_spread = show_spread or (cut and r.n > 1)
            cell = _cell(m, r.mean, r.ci_low, r.ci_high, start, cut)
            spread_line.append(_spread_cell(m, r, start) if r.n > 1 else "")
            if replications and 0 < r.n < replications:
                cell += f" (n={r.n})"
            line.append(cell)
            diff_line.append(_diff_cell(m, pd.Series(r._asdict())))
        rows.append(line)
        if show_spread and any(spread_line[1:]):
            rows.append(spread_line)
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
