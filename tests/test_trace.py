"""Trace replay: request traces (timestamp, prompt and output tokens) become inference demand.

Per-step request and token counts are checked exactly against an independent pandas computation
on the raw CSV, demand against the throughput parameters, and the planner's options (scale, shift,
repeat, on top of the service's curve) against their definitions. Bad traces fail validation
with exit code 2 and a message naming the file, the line and row, and the problem.
The two real Azure traces are read from ../shared/traces/ beside the checkout, never copied in.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.scenario import ScenarioError, scenario_from_data
from sim.scenario.traces import read_trace, replay, trace_steps

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "traces"
REAL_TRACES = ["AzureLLMInferenceTrace_conv.csv", "AzureLLMInferenceTrace_code.csv"]
SYNTHETIC = ROOT / "scenarios" / "traces" / "synthetic_chat.csv"
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
PREFILL, DECODE = 12000.0, 1500.0


def scenario_data(trace: dict[str, Any], horizon: str = "1h", step: str = "5min",
                  **service: Any) -> dict[str, Any]:
    return {
        "name": "trace", "start": "2025-01-06", "horizon": horizon, "step": step, "seed": 3,
        "accelerators": {"h100": {"family": "gpu", "power_kw": 1.0}},
        "providers": {"azure": {"pools": {"h100": {
            "accelerator": "h100", "price_per_hour": 3.0,
            "capacity": [{"at": "2025-01-06", "units": 100000}]}}}},
        "inference": {"chat": {"trace": {"prefill_tokens_per_second": PREFILL,
                                         "decode_tokens_per_second": DECODE, **trace},
                               **service}},
        "policy": {"default": "cheapest_first"},
    }


def make(trace: dict[str, Any], **kw: Any) -> sim.Scenario:
    return scenario_from_data(scenario_data(trace, **kw))


def independent_bins(csv: Path, step_s: float, n_steps: int) -> pd.DataFrame:
    """Requests and tokens per step straight from the CSV with pandas, trace start at hour 0."""
    raw = pd.read_csv(csv)
    t = pd.to_datetime(raw["TIMESTAMP"], format="ISO8601")
    seconds = (t - t.iloc[0]).dt.total_seconds().to_numpy()
    raw["step"] = np.floor(seconds / step_s).astype(int)
    got = raw[raw.step < n_steps].groupby("step").agg(
        requests=("TIMESTAMP", "size"), prompt_tokens=("ContextTokens", "sum"),
        output_tokens=("GeneratedTokens", "sum"))
    return got.reindex(range(n_steps), fill_value=0)


def expected_demand(bins: pd.DataFrame, step_s: float, scale: float = 1.0) -> np.ndarray:
    return scale * (bins.prompt_tokens.to_numpy() / (PREFILL * step_s)
                    + bins.output_tokens.to_numpy() / (DECODE * step_s))


def validate(tmp_path: Path, csv_text: str | bytes, capsys: pytest.CaptureFixture[str],
             name: str = "t.csv", **trace: Any) -> tuple[int, str, Path]:
    """`capsim validate` of a scenario replaying `csv_text`: exit code, stderr, the CSV's path."""
    csv = tmp_path / name
    if isinstance(csv_text, bytes):
        csv.write_bytes(csv_text)
    else:
        csv.write_text(csv_text)
    import yaml

    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump(scenario_data({"file": name, **trace}), sort_keys=False))
    code = main(["validate", str(scen)])
    return code, capsys.readouterr().err, csv


# ---------------------------------------------------------------- the real Azure traces

needs_real = pytest.mark.skipif(
    not all((REAL / name).is_file() for name in REAL_TRACES),
    reason=f"the real Azure traces are not at {REAL} (they live beside the checkout, in "
           "../shared/traces/, and are never copied into the repository)")


@needs_real
@pytest.mark.parametrize("name", REAL_TRACES)
@pytest.mark.parametrize("step", ["5min", "1h"])
def test_real_trace_counts_per_step_match_the_csv_exactly(name: str, step: str) -> None:
    csv = REAL / name
    s = make({"file": str(csv)}, horizon="2h", step=step)
    step_s = s.step * 3600
    got = trace_steps(s, "chat")
    want = independent_bins(csv, step_s, len(got))
    for col in ("requests", "prompt_tokens", "output_tokens"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    raw = pd.read_csv(csv)
    assert got.requests.sum() == len(raw)
    assert got.prompt_tokens.sum() == raw.ContextTokens.sum()
    assert got.output_tokens.sum() == raw.GeneratedTokens.sum()
    # Demand in a run follows from the throughput parameters alone.
    services = sim.run(s).services
    np.testing.assert_allclose(services.demand.to_numpy(), expected_demand(want, step_s),
                               rtol=1e-12, atol=0)


@needs_real
@pytest.mark.parametrize("name", REAL_TRACES)
def test_real_trace_scaled_shifted_and_repeated(name: str) -> None:
    csv = REAL / name
    raw = pd.read_csv(csv)
    s = make({"file": str(csv), "scale": 40, "shift": "3h", "repeat": True}, horizon="1d",
             step="1h")
    got = trace_steps(s, "chat")
    # The trace spans just under an hour, so each hour from the shift on holds one whole copy.
    assert (got.requests[:3] == 0).all()
    assert (got.requests[3:] == len(raw)).all()
    assert (got.prompt_tokens[3:] == raw.ContextTokens.sum()).all()
    assert (got.output_tokens[3:] == raw.GeneratedTokens.sum()).all()
    hourly = 40 * (raw.ContextTokens.sum() / (PREFILL * 3600)
                   + raw.GeneratedTokens.sum() / (DECODE * 3600))
    demand = sim.run(s).services.demand.to_numpy()
    np.testing.assert_allclose(demand, np.r_[np.zeros(3), np.full(21, hourly)], rtol=1e-12)


# ---------------------------------------------------------------- the shipped synthetic trace


def test_shipped_scenario_replays_the_synthetic_trace() -> None:
    s = sim.load(ROOT / "scenarios" / "trace_replay.yaml")
    trace = s.inference["chat"].trace
    assert trace is not None and Path(trace.file) == SYNTHETIC
    assert SYNTHETIC.stat().st_size < 200_000
    steps = trace_steps(s, "chat")
    step_s = s.step * 3600
    want = independent_bins(SYNTHETIC, step_s, 4)
    np.testing.assert_array_equal(steps.requests[:4].to_numpy(), want.requests.to_numpy())
    # Repeated every hour for the whole horizon.
    per_hour = steps.requests.to_numpy().reshape(-1, 4).sum(axis=1)
    assert (per_hour == len(pd.read_csv(SYNTHETIC))).all()
    r = sim.run(s, policy="cheapest_first")
    chat = r.services[r.services.service == "chat"]
    assert len(chat) == s.horizon / s.step and (chat.demand > 0).all()


def test_synthetic_trace_is_what_the_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_trace", ROOT / "scripts" /
                                                  "make_synthetic_trace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.synthetic_trace()
    text = HEADER + "".join(f"{t},{p},{o}\n" for t, p, o in rows)
    assert SYNTHETIC.read_text() == text


# ---------------------------------------------------------------- options


def write(tmp_path: Path, rows: list[tuple[str, int, int]], name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{t},{p},{o}\n" for t, p, o in rows))
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Eleven requests over 50 minutes, irregularly spaced."""
    rng = np.random.default_rng(5)
    seconds = np.sort(rng.uniform(0, 3000, 10))
    rows = [("2024-05-01 09:00:00", 1000, 100)] + [
        (str(pd.Timestamp("2024-05-01 09:00:00") + pd.Timedelta(seconds=float(x))), int(p), int(o))
        for x, p, o in zip(seconds, rng.integers(1, 5000, 10), rng.integers(1, 500, 10),
                           strict=True)]
    return write(tmp_path, rows)


def test_scale_multiplies_demand_but_not_the_counts(small: Path) -> None:
    one = replay(make({"file": str(small)}).inference["chat"].trace, 1 / 12, 12)
    five = replay(make({"file": str(small), "scale": 5}).inference["chat"].trace, 1 / 12, 12)
    np.testing.assert_array_equal(one.requests, five.requests)
    np.testing.assert_allclose(five.demand, 5 * one.demand, rtol=1e-15)


def test_shift_moves_the_trace_later(small: Path) -> None:
    base = trace_steps(make({"file": str(small)}, horizon="3h"), "chat")
    later = trace_steps(make({"file": str(small), "shift": "1h"}, horizon="3h"), "chat")
    assert (later.requests[:12] == 0).all()
    np.testing.assert_array_equal(later.requests[12:].to_numpy(), base.requests[:-12].to_numpy())


def test_without_repeat_the_trace_plays_once(small: Path) -> None:
    got = trace_steps(make({"file": str(small)}, horizon="5h"), "chat")
    assert got.requests.sum() == 11 and (got.requests[12:] == 0).all()


def test_repeat_fills_the_horizon_with_whole_copies(small: Path) -> None:
    got = trace_steps(make({"file": str(small), "repeat": True}, horizon="5h"), "chat")
    # Default period: the trace's span (just under 50 min) rounded up to whole 5-min steps.
    blocks = got.requests.to_numpy().reshape(6, 10)
    assert (blocks == blocks[0]).all() and blocks[0].sum() == 11
    hourly = trace_steps(make({"file": str(small), "repeat": True, "period": "1h"},
                              horizon="5h"), "chat")
    blocks = hourly.requests.to_numpy().reshape(5, 12)
    assert (blocks == blocks[0]).all() and blocks[0].sum() == 11 and (blocks[:, 10:] == 0).all()


def test_repeat_with_a_period_off_the_step_grid_matches_brute_force(small: Path) -> None:
    s = make({"file": str(small), "repeat": True, "period": "55min", "shift": "7min"},
             horizon="10h", step="15min")
    got = trace_steps(s, "chat")
    data = read_trace(small)
    want = np.zeros(40, dtype=int)
    tokens = np.zeros(40, dtype=int)
    k = 0
    while 7 * 60 + k * 55 * 60 < 10 * 3600:
        at = np.floor((7 * 60 + k * 55 * 60 + data.seconds) / 900).astype(int)
        inside = at < 40
        np.add.at(want, at[inside], 1)
        np.add.at(tokens, at[inside], data.prompt_tokens[inside])
        k += 1
    np.testing.assert_array_equal(got.requests.to_numpy(), want)
    np.testing.assert_array_equal(got.prompt_tokens.to_numpy(), tokens)


def test_on_top_multiplies_the_trace_by_the_services_curve(small: Path) -> None:
    curve = {"growth_per_month": 0.5, "daily_amplitude": 0.4, "peak_hour": 15,
             "weekly_amplitude": 0.3, "noise": 0.2,
             "spikes": [{"at": "2025-01-08", "multiplier": 2.0, "duration": "1d"}]}
    kw = {"horizon": "10d", "step": "1h"}
    on_top = make({"file": str(small), "repeat": True, "mode": "on_top"}, **kw, **curve)
    plain = scenario_data({"file": str(small)}, **kw, base_units=1.0, **curve)
    del plain["inference"]["chat"]["trace"]
    shape = sim.run(scenario_from_data(plain)).services.demand.to_numpy()
    trace = trace_steps(on_top, "chat").demand.to_numpy()
    demand = sim.run(on_top).services.demand.to_numpy()
    np.testing.assert_allclose(demand, trace * shape, rtol=1e-12)
    assert shape.std() > 0.1  # the curve really varies


def test_timestamps_in_seconds_time_zones_and_long_fractions(tmp_path: Path) -> None:
    seconds = write(tmp_path, [("0", 5, 1), ("1799.5", 6, 2), ("1800", 7, 3)], "s.csv")
    iso = write(tmp_path, [("2023-11-16T18:00:00.0000001+01:00", 5, 1),
                           ("2023-11-16 17:29:59.5000001Z", 6, 2),
                           ("2023-11-16 17:30:00.0000001", 7, 3)], "iso.csv")
    for path in (seconds, iso):
        got = trace_steps(make({"file": str(path)}, step="30min"), "chat")
        assert got.requests.tolist() == [2, 1], path.name
        assert got.prompt_tokens.tolist() == [11, 7]


def test_gzip_and_renamed_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"when,in,out,extra\n0,10,1,x\n60,20,2,y\n"))
    s = make({"file": str(path), "columns": {"timestamp": "when", "prompt_tokens": "in",
                                             "output_tokens": "out"}})
    got = trace_steps(s, "chat")
    assert got.prompt_tokens.sum() == 30 and got.output_tokens.sum() == 3


def test_relative_trace_files_are_read_from_the_scenario_folder(
        tmp_path: Path, small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    folder = tmp_path / "project"
    (folder / "traces").mkdir(parents=True)
    (folder / "traces" / "t.csv").write_text(small.read_text())
    scen = folder / "s.yaml"
    scen.write_text(yaml.safe_dump(scenario_data({"file": "traces/t.csv"})))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = sim.load(scen)
    assert s.inference["chat"].trace.file == str(folder / "traces" / "t.csv")
    # The stored path is absolute, so changed copies and their runs still find the trace.
    changed = sim.with_changes(s, {"inference.chat.trace.scale": 2.0})
    assert sim.run(changed).services.demand.sum() > 0


def test_a_trace_deleted_after_loading_fails_the_run_clearly(tmp_path: Path, small: Path) -> None:
    s = make({"file": str(small)})
    small.unlink()
    with pytest.raises(ScenarioError, match="no such file"):
        sim.run(s)


# ---------------------------------------------------------------- bad traces: exit 2, file:line


@pytest.mark.parametrize(("text", "line", "expect"), [
    pytest.param(HEADER.replace("ContextTokens", "Context") + "2024-01-01 00:00:00,1,1\n", 1,
                 ["header", "missing column ContextTokens"], id="missing-column"),
    pytest.param("TIMESTAMP,GeneratedTokens\n0,1\n", 1,
                 ["missing column ContextTokens"], id="missing-column-2"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1,1\n2024-13-01 00:00:00,1,1\n", 3,
                 ["row 2", "TIMESTAMP", "cannot read '2024-13-01 00:00:00' as a date-time"],
                 id="bad-timestamp"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1,1\nyesterday,1,1\n", 3,
                 ["row 2", "cannot read 'yesterday'"], id="unparsable-timestamp"),
    pytest.param(HEADER + "0,1,1\n5,1,1\nlater,1,1\n", 4,
                 ["row 3", "as a number of seconds"], id="seconds-then-text"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1,1\n2024-01-01 00:00:01,-7,1\n", 3,
                 ["row 2", "ContextTokens: cannot be negative, got -7"], id="negative-prompt"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1,-1\n", 2,
                 ["row 1", "GeneratedTokens: cannot be negative"], id="negative-output"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1,2.5\n", 2,
                 ["row 1", "expected a whole number of tokens, got '2.5'"], id="fraction"),
    pytest.param(HEADER + "2024-01-01 00:00:00,,2\n", 2,
                 ["row 1", "ContextTokens: the token count is empty"], id="empty-cell"),
    pytest.param(HEADER + "2024-01-01 00:00:00,1\n", 2,
                 ["row 1", "has 2 fields, expected 3"], id="short-row"),
    pytest.param(HEADER + "2024-01-01 00:10:00,1,1\n2024-01-01 00:20:00,1,1\n"
                 "2024-01-01 00:05:00,1,1\n", 4,
                 ["row 3", "rows are not in time order", "line 3"], id="unsorted"),
    pytest.param("", 1, ["the file is empty"], id="empty-file"),
    pytest.param("\n\n", 1, ["the file is empty"], id="blank-file"),
    pytest.param(HEADER, 1, ["has a header but no requests"], id="header-only"),
    pytest.param(b"TIMESTAMP,ContextTokens,GeneratedTokens\n0,1,\xff\n", 2, ["not UTF-8"],
                 id="not-utf8"),
])
def test_bad_trace_exits_2_naming_file_row_and_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, line: int,
        expect: list[str]) -> None:
    code, err, csv = validate(tmp_path, text, capsys)
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"error: {csv}:{line}:"), err
    for part in expect:
        assert part in first, err
    # The scenario line that names the trace is reported too.
    assert "s.yaml:" in err and "inference.chat.trace.file: the trace" in err


def test_capsim_run_of_a_bad_trace_exits_2_without_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validate(tmp_path, HEADER + "2024-01-01 00:00:00,1,1\n2024-01-01 00:00:01,-7,1\n", capsys)
    out = tmp_path / "results"
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 't.csv'}:3: row 2: ContextTokens: cannot be negative" in err
    assert not out.exists()


def test_many_bad_rows_are_counted_not_all_listed(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"{i},-1,1\n" for i in range(50))
    code, err, _ = validate(tmp_path, HEADER + rows, capsys)
    assert code == 2
    assert err.count("cannot be negative") == 20
    assert "50 rows have problems; the first 20 are shown" in err


def test_missing_trace_file_points_at_the_scenario_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, csv = validate(tmp_path, HEADER + "0,1,1\n", capsys)
    assert code == 0
    csv.unlink()
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"inference.chat.trace.file: no such file: {csv}" in err
    assert err.startswith(f"error: {tmp_path / 's.yaml'}:")


def test_period_shorter_than_the_trace_is_rejected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = validate(tmp_path, HEADER + "0,1,1\n3000,1,1\n", capsys, repeat=True,
                            period="30min")
    assert code == 2 and "inference.chat.trace.period: the period (0.5 h) is shorter" in err


@pytest.mark.parametrize(("service", "expect"), [
    ({"base_units": 5}, "inference.chat.base_units: has no effect with a trace"),
    ({"growth_per_month": 0.1}, "growth_per_month: has no effect with trace mode replace"),
    ({"noise": 0.1}, "noise: has no effect with trace mode replace"),
])
def test_settings_a_trace_would_silently_ignore_are_errors(small: Path, service: dict[str, Any],
                                                           expect: str) -> None:
    with pytest.raises(ScenarioError, match=expect):
        scenario_from_data(scenario_data({"file": str(small)}, **service))
    # With the trace on top of the curve, growth and noise are used.
    if "base_units" not in service:
        scenario_from_data(scenario_data({"file": str(small), "mode": "on_top"}, **service))


def test_a_service_needs_base_units_or_a_trace() -> None:
    data = scenario_data({"file": "x.csv"})
    del data["inference"]["chat"]["trace"]
    with pytest.raises(ScenarioError, match="base_units: required field is missing"):
        scenario_from_data(copy.deepcopy(data))
    assert math.isclose(
        scenario_from_data({**data, "inference": {"chat": {"base_units": 2}}})
        .inference["chat"].base_units or 0, 2)


# ---------------------------------------------------------------- the column reader (pyarrow)


def _both(text: str) -> tuple[Any, Any]:
    """The trace read column by column (pyarrow) and row by row (csv), from the same bytes."""
    from sim.scenario.models import TraceColumns
    from sim.scenario.traces import _parse_columns, parse_trace

    return _parse_columns(text.encode(), "t.csv", TraceColumns()), parse_trace(text, "t.csv")


@pytest.mark.parametrize("text", [
    "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
    "2023-11-16 18:15:46.6805901,1,0\n2023-11-16 18:16,5,6\n2023-11-17,0,7\n",
    "TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,1\n0.25,20,2\n1e3,30,3\n\n",
    "Extra,GeneratedTokens,TIMESTAMP,ContextTokens\nx,1,2023-11-16T00:00:00.123456789,2\n"
    "\"a,b\",3,2023-11-16T00:00:01,4\n",
])
def test_the_column_reader_gives_the_row_readers_numbers(text: str) -> None:
    """Date-times to the nanosecond (any decimals up to nine, minutes only, a bare date), plain
    seconds (with an exponent, a trailing blank line), columns in any order beside extra and
    quoted ones: the fast reader accepts each and agrees with the row-by-row reader exactly.
    Catches seconds rounded through float before the subtraction, columns taken by position."""
    fast, slow = _both(text)
    assert fast is not None
    for name in ("seconds", "prompt_tokens", "output_tokens"):
        got, want = getattr(fast, name), getattr(slow, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert fast.first == slow.first


@pytest.mark.parametrize("row", ["2023-11-16 18:15:40,1,1", "2023-11-16 18:15:50+01:00,1,1",
                                 "2023-11-16 18:15:50,-1,1", "2023-11-16 18:15:50,1.0,1",
                                 "2023-11-16 18:15:50,1", "2023-11-16 18:15:50.1234567891,1,1",
                                 "not a time,1,1", "2223-11-16 18:15:50,1,1"])
def test_the_column_reader_leaves_every_doubtful_row_to_the_row_reader(row: str) -> None:
    """Out of time order, a zone, a negative or written-as-float count, a short row, ten
    decimals, no time at all, beyond the span limit: the fast reader declines (None), so the
    row-by-row reader says where and why (or, for 1.0 and the zone, accepts it as it always did).
    Catches a fast path that lets a bad row through or reads a zone as local time."""
    from sim.scenario.models import TraceColumns
    from sim.scenario.traces import _parse_columns

    text = f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,1\n{row}\n"
    assert _parse_columns(text.encode(), "t.csv", TraceColumns()) is None


def test_a_bad_row_deep_in_a_large_trace_is_still_located_by_its_line(tmp_path: Path) -> None:
    """200,000 good rows and one bad token count at row 150,000: the error names line 150,001
    (the header is line 1) and the row, as the row-by-row reader always did."""
    rows = [f"{i * 0.01:.2f},{i % 500},{i % 7}" for i in range(200_000)]
    rows[149_999] = "1499.99,many,3"
    path = tmp_path / "big.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "\n".join(rows) + "\n")
    with pytest.raises(ScenarioError) as exc:
        read_trace(path)
    [problem] = exc.value.problems
    assert (problem.line, problem.path) == (150_001, "row 150000")
    assert "ContextTokens" in problem.message and "many" in problem.message
