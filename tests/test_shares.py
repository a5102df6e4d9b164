"""Shares shown to a user: never 100 % (or 0 %) unless exactly that; one format everywhere."""

from __future__ import annotations

import pytest

from sim.results.shares import format_share


@pytest.mark.parametrize(("share", "text"), [
    (1.0, "100 %"), (0.0, "0 %"), (0.5, "50.0 %"), (0.123, "12.3 %"),
    (0.99999, "99.999 %"),      # one decimal would say 100.0 %
    (0.9996, "99.96 %"), (0.999, "99.9 %"),
    (1e-7, "0.00001 %"),        # one decimal would say 0.0 %
    (None, "—"), (float("nan"), "—"),
])
def test_hand_cases(share: float | None, text: str) -> None:
    assert format_share(share) == text


@pytest.mark.parametrize("share", [1 - 1e-15, 1 - 2**-52, 0.9999999, 5e-324, 1e-300])
def test_no_share_short_of_whole_or_above_nothing_is_shown_as_100_or_0(share: float) -> None:
    text = format_share(share)
    assert text not in {"100 %", "0 %"} and not text.startswith(("100.", "0.0 %")), text
    assert float(text.replace(" %", "").replace("< ", "").replace(",", "")) not in (0.0,) \
        or text.startswith("<")


def test_the_run_summary_shows_unmet_agents_as_short_of_100(tmp_path) -> None:
    from sim.cli import summary_text

    kinds = {"demand_unit_hours": 1e9, "served_share": 1 - 19.6e6 / 4e12, "slo_attainment": 1.0,
             "unmet_by_reason_unit_hours": {"outage": 0.0, "exclusivity": 0.0, "capacity": 19.6e6},
             "services": {}}
    import json
    from pathlib import Path

    summary = json.loads((Path(__file__).parent / "golden" / "summaries.json").read_text())
    one = next(iter(summary.values())) if isinstance(summary, dict) else summary[0]
    one = dict(one.get("summary", one))
    one["agents"] = {**one.get("agents", {}), **kinds}
    text = summary_text(one)
    line = next(x for x in text.splitlines() if "served share" in x and "99.99" in x)
    assert "100 %" not in line and "100.0" not in line
