"""One format for shares (served share, SLO attainment, share of spend) everywhere they are shown."""

from __future__ import annotations

import math

MOST_DECIMALS = 15


def format_share(share: float | None) -> str:
    """`share` (0..1) as a percentage with one decimal, more where one decimal would round a
    share that is not exactly 1 (or 0) to 100.0 % (or 0.0 %); '—' when unknown."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "—"
    if share == 1:
        return "100 %"
    if share == 0:
        return "0 %"
    pct = share * 100
    for decimals in range(1, MOST_DECIMALS + 1):
        text = f"{pct:,.{decimals}f}"
        if float(text.replace(",", "")) not in (0.0, 100.0):
            return f"{text} %"
    return "< 100 %" if 0 < share < 1 and pct > 50 else f"{pct:.3g} %"
