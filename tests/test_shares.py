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


NEAR = [1 - 1e-6, 1 - 1e-9, 0.99996, 1e-7, 4e-6]


def _percentages(text: str) -> list[float]:
    import re

    return [float(x.replace(",", "")) for x in re.findall(r"([\d,]*\.?\d+)\s?%", text)]


@pytest.mark.parametrize("share", NEAR)
def test_no_report_table_plan_or_plot_label_shows_a_near_share_as_100_or_0(share: float) -> None:
    """Every place a share is shown: compare/sweep tables (with and without a cut interval),
    the HTML report, the plan's shortfall risk and the plots' unmet label."""
    import pandas as pd

    from sim.analysis.metrics import describe, format_value
    from sim.analysis.report import metric_rows
    from sim.plots.inference import _share
    from sim.report.build import interval_text, value_text

    m = describe("inference.served_share")
    low, high = max(0.0, share - 1e-9), min(1.0, share + 1e-9)
    rows = []
    for cut in (False, True):
        table = pd.DataFrame([{"policy": "p", "metric": m.name, "n": 5, "mean": share,
                               "ci_low": low, "ci_high": high, "ci_cut": cut, "min": low,
                               "p95": high, "max": high, "diff": None, "diff_ci_low": None,
                               "diff_ci_high": None, "excludes_zero": False}])
        rows += metric_rows(table, [m], ["p"], None, None, 5)
    texts = [format_value(m, share), value_text(m, share, None),
             interval_text(m, share, low, high, None), _share(share),
             *(c for r in rows for c in r[1:])]
    for text in texts:
        shown = _percentages(text)
        assert shown, text
        assert shown[0] not in (0.0, 100.0), text


def test_the_plan_report_shows_shortfall_risk_in_the_share_format() -> None:
    from types import SimpleNamespace

    from sim.planning.report import _risk_text

    result = SimpleNamespace(risk=SimpleNamespace(kind="shortfall"))
    assert _risk_text(result, 1 - 1e-7) == format_share(1 - 1e-7)  # type: ignore[arg-type]
