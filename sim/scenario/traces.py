"""Replay of request traces as inference (or agent) demand.

A trace is a CSV file with one line per request: when it arrived and how many prompt (prefill)
and output (decode) tokens it had. The default columns are those of the public Azure LLM inference
traces, `TIMESTAMP,ContextTokens,GeneratedTokens`; `trace.columns` renames them; other columns
are ignored; a `.gz` file is read compressed. Timestamps are ISO date-times
(`2023-11-16 18:15:46.6805900`: any number of decimals, kept to the nanosecond; a time zone, if
given, is converted to UTC, and times without one are taken as UTC) or, in every row, plain
numbers of seconds. Rows must be in time order; token counts are whole numbers, 0 or more.

Requests are placed on the scenario's clock (the first request lands `shift` after the start),
binned into steps by arrival, and their tokens become reference-accelerator demand:

    demand[k] = scale × (prompt tokens arriving in step k ÷ (prefill_tokens_per_second × step s)
                         + output tokens arriving in step k ÷ (decode_tokens_per_second × step s))

that is, how many reference accelerators the step's tokens keep busy for the whole step. All of a
request's tokens count in the step it arrives in. With `repeat`, copies of the trace follow each
other every `period` (default: the trace's span rounded up to whole steps) until the horizon; a
trace that is not repeated gives no demand after its end. With `mode: on_top` the trace's demand
is multiplied by the service's own curve (growth, daily and weekly cycle, spikes, noise) taken
with `base_units` 1.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.scenario.limits import TRACE_MAX_BYTES, ReadError, gunzip_capped, read_capped, shown
from sim.scenario.models import Trace, TraceColumns
from sim.scenario.problems import Problem, ScenarioError, decoded
from sim.scenario.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

MAX_TOKENS = 1_000_000_000
"""Most tokens one request may have (real ones have thousands); keeps sums far inside int64."""
MAX_SPAN_YEARS = 100
"""Most time from a trace's first request to its last."""
SHOWN_PROBLEMS = 20
"""At most this many bad rows are listed; the rest are counted."""

_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?)?\s*"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_INT = re.compile(r"^[+-]?\d+$")
_EPOCH = datetime(1970, 1, 1)
_NS = 1_000_000_000


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class TraceData:
    """The requests of one trace file, in time order."""

    file: str
    seconds: np.ndarray  # float64: arrival, seconds after the first request
    prompt_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    first: str  # the first request's timestamp as written

    @property
    def requests(self) -> int:
        return len(self.seconds)

    @property
    def span_s(self) -> float:
        """Seconds from the first request to the last."""
        return float(self.seconds[-1])


@dataclass(frozen=True)
class TraceSteps:
    """A replayed trace on the scenario's step grid (token and request counts before `scale`)."""

    requests: np.ndarray  # int64 per step
    prompt_tokens: np.ndarray  # int64 per step
    output_tokens: np.ndarray  # int64 per step
    demand: np.ndarray  # float64 per step: reference units, `scale` applied
    copies: int  # copies of the trace that start inside the horizon
    period_h: float | None  # hours between copies when repeating


# ---------------------------------------------------------------- reading and checking


def read_trace(path: str | Path, columns: TraceColumns | None = None) -> TraceData:
    """The requests in a trace CSV; ScenarioError names the file, line, row and problem."""
    path = Path(path)
    columns = columns or TraceColumns()
    try:
        stat = path.stat()
    except OSError:
        stat = None  # a missing file or a symlink loop: read_capped says which
    if stat is None or not S_ISREG(stat.st_mode):
        _read_bytes(str(path))  # raises the reason (folder, FIFO, device, loop, missing)
        raise AssertionError(path)  # pragma: no cover - _read_bytes raised
    return _read_cached(str(path), stat.st_mtime_ns, stat.st_size, columns)


def _read_bytes(file: str) -> bytes:
    """The bytes of a trace file, decompressed if it ends in .gz; ScenarioError if it cannot be
    read or is larger than TRACE_MAX_BYTES (before or after decompression)."""
    try:
        raw = read_capped(file, TRACE_MAX_BYTES, "a trace CSV file")
        return gunzip_capped(raw, TRACE_MAX_BYTES, "a trace CSV file") if file.endswith(".gz") \
            else raw
    except ReadError as exc:
        raise ScenarioError([Problem(file, None, "", str(exc))]) from None


@lru_cache(maxsize=16)
def _read_cached(file: str, _mtime_ns: int, _size: int, columns: TraceColumns) -> TraceData:
    """`read_trace` of a file as it is on disk now (the key changes when the file does)."""
    raw = _read_bytes(file)
    text = decoded(raw, file, "utf-8-sig")
    if "\0" in text[:1 << 16]:
        raise ScenarioError([Problem(file, text[:text.index("\0")].count("\n") + 1, "",
                                     "holds NUL bytes: binary data, expected a CSV text file")])
    fast = _parse_columns(raw.removeprefix(b"\xef\xbb\xbf"), file, columns)
    return fast if fast is not None else parse_trace(text, file, columns)


def _parse_columns(raw: bytes, file: str, columns: TraceColumns) -> TraceData | None:
    """The trace read column by column with pyarrow.csv (hundreds of MB/s), or None when any
    row is not plainly valid: then the row-by-row reader runs, to say which row and why. It
    accepts only what that reader accepts (the same time formats, whole token counts, time
    order, the span limit) and gives the same numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    names = (columns.timestamp, columns.prompt_tokens, columns.output_tokens)
    if len(set(names)) < 3:
        return None
    try:
        table = pcsv.read_csv(
            pa.py_buffer(raw),
            convert_options=pcsv.ConvertOptions(
                include_columns=list(names), strings_can_be_null=False,
                column_types={names[0]: pa.string(), names[1]: pa.int64(),
                              names[2]: pa.int64()}))
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowTypeError, KeyError, ValueError):
        return None
    header = raw.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split(",")
    if table.num_rows == 0 or any(header.count(n) != 1 for n in names):
        return None
    stamps = table.column(names[0])
    counts = [table.column(n) for n in names[1:]]
    if any(c.null_count for c in counts):
        return None
    prompt, output = (c.to_numpy() for c in counts)
    if prompt.min() < 0 or output.min() < 0 or max(prompt.max(), output.max()) > MAX_TOKENS:
        return None
    try:
        numbers = stamps.cast(pa.float64()).to_numpy()
        numeric = True
    except pa.ArrowInvalid:
        numeric = False
    if numeric:
        if not np.isfinite(numbers).all():
            return None
        seconds = numbers - numbers[0]
        limit = MAX_SPAN_YEARS * 365.25 * 86400
    else:
        if not pc.all(pc.match_substring_regex(stamps, _ISO.pattern)).as_py():
            return None
        try:
            ns = stamps.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # a zone, more than 9 decimals, ...: the row-by-row reader
            return None
        deltas = ns - ns[0]
        limit = MAX_SPAN_YEARS * 365.25 * 86400
        if (np.diff(deltas) < 0).any() or np.abs(deltas).max() > limit * _NS:
            return None
        seconds = deltas / _NS
    if (np.diff(seconds) < 0).any() or np.abs(seconds).max() > limit:
        return None
    first = stamps[0].as_py().strip()
    return TraceData(file, np.ascontiguousarray(seconds, dtype=np.float64),
                     prompt.astype(np.int64), output.astype(np.int64), first)


def parse_trace(text: str, file: str = "<trace>", columns: TraceColumns | None = None) -> TraceData:
    """Requests from the text of a trace CSV; every problem is reported with its line and row."""
    columns = columns or TraceColumns()
    names = (columns.timestamp, columns.prompt_tokens, columns.output_tokens)
    expected = ",".join(names)
    if not text.strip():
        raise ScenarioError([Problem(file, 1, "", f"the file is empty; expected a header line "
                                     f"{expected} and then one line per request")])
    reader = csv.reader(io.StringIO(text))
    try:
        return _parse_rows(reader, file, names)
    except csv.Error as exc:
        raise ScenarioError([Problem(file, reader.line_num or None, "",
                                     f"not a readable CSV file: {shown(str(exc), quote=False)}")]) \
            from None


def _parse_rows(reader: Any, file: str, names: tuple[str, str, str]) -> TraceData:
    expected = ",".join(names)
    header = [h.strip() for h in next(reader)]
    missing = [n for n in names if n not in header]
    twice = [n for n in names if header.count(n) > 1]
    if missing or twice:
        what = (f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}" if missing
                else f"column {', '.join(twice)} appears twice")
        raise ScenarioError([Problem(file, 1, "header", (
            f"{what}; the header is {shown(','.join(header))}, expected {expected} (rename the "
            "columns or set trace.columns)"))])
    at = [header.index(n) for n in names]
    width = max(at) + 1

    times: list[float] = []  # seconds, or integer nanoseconds for date-times
    prompt: list[int] = []
    output: list[int] = []
    problems: list[Problem] = []
    bad_rows = 0
    numeric: bool | None = None  # seconds (True) or date-times (False), fixed by the first row
    first = ""
    prev_time, prev_line = -math.inf, 0
    row = 0
    span_limit = MAX_SPAN_YEARS * 365.25 * 86400  # seconds; times in ns are scaled below
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line (e.g. at the end of the file)
        row += 1
        found: list[tuple[str, str]] = []
        when = math.nan
        counts = [0, 0]
        if len(fields) < width:
            found.append(("", f"has {len(fields)} field{'s' if len(fields) != 1 else ''}, "
                              f"expected {len(header)} like the header "
                              f"({shown(','.join(header), quote=False)})"))
        else:
            stamp = fields[at[0]].strip()
            if numeric is None:
                numeric = _seconds(stamp) is not None
                first = stamp
                span_limit *= 1 if numeric else _NS
            value = _seconds(stamp) if numeric else _iso_seconds(stamp)
            if value is None:
                found.append((names[0], _bad_time(stamp, bool(numeric))))
            else:
                when = value
            for j, name in enumerate(names[1:]):
                count, message = _count(fields[at[j + 1]])
                if message:
                    found.append((name, message))
                else:
                    counts[j] = count
        if not found and times and abs(when - times[0]) > span_limit:
            found.append((names[0], f"{shown(fields[at[0]].strip())} is more than "
                                    f"{MAX_SPAN_YEARS} years after the first request "
                                    f"({shown(first)}); a trace spans at most that"))
        if not found and when < prev_time:
            found.append((names[0], f"rows are not in time order: {shown(fields[at[0]].strip())} is "
                                    f"earlier than the row before it (line {prev_line}); sort "
                                    f"the file by {names[0]}"))
        if found:
            bad_rows += 1
            if bad_rows <= SHOWN_PROBLEMS:
                problems += [Problem(file, line, f"row {row}", f"{col + ': ' if col else ''}{msg}")
                             for col, msg in found]
            continue
        prev_time, prev_line = when, line
        times.append(when)
        prompt.append(counts[0])
        output.append(counts[1])
    if bad_rows > SHOWN_PROBLEMS:
        problems.append(Problem(file, None, "", f"{bad_rows} rows have problems; the first "
                                f"{SHOWN_PROBLEMS} are shown"))
    if problems:
        raise ScenarioError(problems)
    if not times:
        raise ScenarioError([Problem(file, 1, "", "has a header but no requests; expected one "
                                     "line per request after it")])
    if numeric:
        t = np.asarray(times, dtype=np.float64)
        seconds = t - t[0]
    else:  # integer nanoseconds since 1970: subtract exactly (Python ints), then convert
        ns0 = int(times[0])
        seconds = np.asarray([int(t) - ns0 for t in times], dtype=np.int64) / _NS
    return TraceData(file, seconds, np.asarray(prompt, dtype=np.int64),
                     np.asarray(output, dtype=np.int64), first)


def _seconds(text: str) -> float | None:
    """A timestamp written as a plain number of seconds."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _iso_seconds(text: str) -> int | None:
    """A date-time as integer nanoseconds since 1970 (UTC if it has a zone), exact to the digit."""
    m = _ISO.match(text)
    if m is None:
        return None
    day, clock, fraction, zone = m.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{clock or '00:00'}{zone or ''}")
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    whole: timedelta = moment - _EPOCH
    return (whole.days * 86400 + whole.seconds) * _NS + int((fraction or "0").ljust(9, "0")[:9])


def _bad_time(text: str, numeric: bool) -> str:
    if not text:
        return "the timestamp is empty"
    if numeric:
        return (f"cannot read {shown(text)} as a number of seconds (the first row's timestamp is one, "
                "so every row's must be)")
    return (f"cannot read {shown(text)} as a date-time such as 2023-11-16 18:15:46.68 (or, in every "
            "row, a number of seconds)")


def _count(text: str) -> tuple[int, str]:
    """A token count, or the reason it is not one."""
    text = text.strip()
    if not text:
        return 0, "the token count is empty"
    if _INT.match(text):
        value = int(text)
    else:
        try:
            number = float(text)
        except ValueError:
            return 0, f"expected a whole number of tokens, got {shown(text)}"
        if not math.isfinite(number) or not number.is_integer():
            return 0, f"expected a whole number of tokens, got {shown(text)}"
        if abs(number) > MAX_TOKENS:
            return 0, (f"{shown(text, quote=False)} tokens in one request is more than the "
                       f"{MAX_TOKENS:,} a request may have")
        value = int(number)
    if value < 0:
        return 0, f"cannot be negative, got {shown(text, quote=False)}"
    if value > MAX_TOKENS:
        return 0, (f"{shown(text, quote=False)} tokens in one request is more than the "
                   f"{MAX_TOKENS:,} a request may have")
    return value, ""


def period_problem(trace: Trace, data: TraceData) -> str:
    """Why a repeated trace's `period` cannot be used (copies would overlap), or ''."""
    if trace.repeat and trace.period is not None and trace.period * 3600 < data.span_s - 1e-6:
        return (f"the period ({trace.period:g} h) is shorter than the trace, which spans "
                f"{data.span_s / 3600:.4g} h from its first request to its last; copies would "
                "overlap")
    return ""


# ---------------------------------------------------------------- replay on the step grid


def default_period_h(data: TraceData, step: float) -> float:
    """The trace's span rounded up to whole steps (at least one step)."""
    return max(1, math.ceil(data.span_s / (step * 3600) - 1e-9)) * step


def replay(trace: Trace, step: float, n_steps: int) -> TraceSteps:
    """The trace's requests, tokens and demand per step of a run with `n_steps` steps of `step` h."""
    data = read_trace(trace.file, trace.columns)
    return _replay_cached(trace, step, n_steps, data)


@lru_cache(maxsize=64)
def _replay_cached(trace: Trace, step: float, n_steps: int, data: TraceData) -> TraceSteps:
    problem = period_problem(trace, data)
    if problem:
        raise ScenarioError([Problem(trace.file, None, "", f"trace.period: {problem}")])
    step_s = step * 3600.0
    horizon_s = n_steps * step_s
    shift_s = trace.shift * 3600.0
    period_h = (trace.period or default_period_h(data, step)) if trace.repeat else None
    if shift_s >= horizon_s:
        starts = np.zeros(0)
    elif period_h is None:
        starts = np.array([shift_s])
    else:
        period_s = period_h * 3600.0
        n = math.ceil((horizon_s - shift_s) / period_s) + 1
        starts = shift_s + period_s * np.arange(n)
        starts = starts[starts < horizon_s]
    weights = (None, data.prompt_tokens.astype(np.float64), data.output_tokens.astype(np.float64))
    totals = np.zeros((3, n_steps))
    whole_steps = period_h is not None and abs(period_h / step - round(period_h / step)) < 1e-9
    if len(starts) and (len(starts) == 1 or whole_steps):
        # Every copy falls on the grid the same way: bin one, add it at each copy's first step.
        q0 = math.floor(shift_s / step_s)
        offset = shift_s - q0 * step_s
        # Requests past the horizon never count: bin only those inside it (a trace may span
        # far more steps than the run has).
        inside = int(np.searchsorted(data.seconds, n_steps * step_s - offset, "left"))
        bins = np.floor((offset + data.seconds[:inside]) / step_s).astype(np.int64)
        width = int(bins[-1]) + 1 if inside else 1
        base = np.stack([np.bincount(bins, None if w is None else w[:inside], minlength=width)
                         for w in weights])
        first = q0 + np.rint((starts - starts[0]) / step_s).astype(np.int64)
        where = first[:, None] + np.arange(width)[None, :]
        keep = where < n_steps
        for j in range(3):
            np.add.at(totals[j], where[keep], np.broadcast_to(base[j], where.shape)[keep])
    elif len(starts):
        # Copies fall on the grid differently. Count what arrived before each step boundary: every
        # earlier copy whole (copies do not overlap) plus the part of the latest one begun.
        bounds = np.arange(n_steps + 1) * step_s
        latest = np.searchsorted(starts, bounds, side="left") - 1
        begun = latest >= 0
        upto = np.zeros(n_steps + 1, dtype=np.int64)
        upto[begun] = np.searchsorted(data.seconds, bounds[begun] - starts[latest[begun]], "left")
        for j, w in enumerate(weights):
            prefix = np.concatenate([[0.0], np.cumsum(np.ones(data.requests) if w is None else w)])
            cumulative = np.where(begun, latest * prefix[-1] + prefix[upto], 0.0)
            totals[j] = np.diff(cumulative)
    requests, prompt, output = np.rint(totals).astype(np.int64)
    demand = trace.scale * (prompt / (trace.prefill_tokens_per_second * step_s)
                            + output / (trace.decode_tokens_per_second * step_s))
    for array in (requests, prompt, output, demand):
        array.setflags(write=False)
    return TraceSteps(requests, prompt, output, demand, len(starts), period_h)


def trace_steps(scenario: Scenario | str | Path, service: str) -> pd.DataFrame:
    """Per step of `scenario`, the trace of `service`: requests, tokens and demand (before the
    service's own curve in `on_top` mode). Token and request counts are the trace's, unscaled."""
    import pandas as pd

    from sim.scenario.loader import load_scenario

    s = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    svc = s.inference.get(service) or s.agents.get(service)
    if svc is None:
        known = ", ".join([*s.inference, *s.agents]) or "none"
        raise KeyError(f"no inference service or agent fleet {service!r}; known: {known}")
    if svc.trace is None:
        raise ValueError(f"service {service!r} does not replay a trace")
    n_steps = max(1, math.ceil(s.horizon / s.step - 1e-9))
    r = replay(svc.trace, s.step, n_steps)
    hours = np.arange(n_steps) * s.step
    return pd.DataFrame({
        "step": np.arange(n_steps), "hour": hours,
        "time": pd.Timestamp(s.start) + pd.to_timedelta(hours, unit="h"),
        "requests": r.requests, "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
        "demand": r.demand,
    })


def describe(data: TraceData) -> dict[str, Any]:
    """A few facts about a trace, for messages and notebooks."""
    return {"file": data.file, "requests": data.requests, "first": data.first,
            "span_h": data.span_s / 3600, "prompt_tokens": int(data.prompt_tokens.sum()),
            "output_tokens": int(data.output_tokens.sum())}
