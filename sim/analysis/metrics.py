"""The summary metrics a comparison reports, with labels, units and formatting.

Every flattened summary figure (`RunResult.metrics()`) goes into the tidy tables; this catalogue
picks the ones that answer the planner's questions and says how to show them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Metric:
    """How to show one metric: a label, its kind (for units and formatting), which way is better."""

    name: str
    label: str
    kind: str  # money | share | hours | date | count | mw | unit_hours | cpu_hours | index
    better: str = ""  # "lower", "higher" or "" (neither)
    rare: bool = False  # mostly zero with rare large values: show min / p95 / max too

    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    @property
    def bounds(self) -> tuple[float, float]:
        """The range the metric's values cannot leave (its intervals are cut to it)."""
        return metric_bounds(self.name, self.kind)


UNITS = {"money": "$", "share": "%", "hours": "h", "date": "date", "count": "", "mw": "MW",
         "unit_hours": "ref-unit-h", "cpu_hours": "vCPU-h", "index": "0-1", "seconds": "s"}
"""Units shown with each kind; `ref-unit-h` is hours of reference-speed accelerators (speed 1:
the H100 in the shipped scenarios), so faster chips count for more than one."""

UNIT_NAMES = {"money": "US dollars", "share": "fraction 0-1", "hours": "hours",
              "date": "hours since start", "count": "count", "mw": "MW",
              "unit_hours": "reference-accelerator hours (H100-equivalent)",
              "cpu_hours": "vCPU hours", "index": "index 0-1", "seconds": "seconds"}
"""Units as written in table.csv (shares as fractions there, shown as % in reports)."""

_UNBOUNDED_NAMES = ("min_power_headroom_mw",)  # negative when the ceiling is breached


def metric_bounds(name: str, kind: str | None = None) -> tuple[float, float]:
    """[0, 1] for shares, utilisation and HHI; [0, inf) for spend, counts, hours and other
    amounts; unbounded for what can be negative (power headroom) or is not known."""
    kind = kind or describe(name).kind
    if name in _UNBOUNDED_NAMES:
        return (-math.inf, math.inf)
    if kind in ("share", "index"):
        return (0.0, 1.0)
    if kind in ("money", "hours", "date", "count", "mw", "unit_hours", "cpu_hours", "seconds"):
        return (0.0, math.inf)
    return (-math.inf, math.inf)

LATENCY_METRICS = (("ttft_mean_s", "mean time to first token", "seconds"),
                   ("ttft_p99_s", "p99 time to first token", "seconds"),
                   ("hours_above_target", "hours above latency target", "hours"),
                   ("failed_share", "requests failed (past ceiling)", "share"),
                   ("refused_share", "requests refused (rate limit)", "share"))
"""Per inference service with a latency model: rows inserted after inference demand unmet."""

KEY_METRICS: tuple[Metric, ...] = (
    # Total cost and its parts first: plans are ranked by what they cost in all, so one that
    # serves less or finishes later does not look cheaper for spending less.
    Metric("cost_total", "Cost, total (spend + shortfall + delay)", "money", "lower"),
    Metric("shortfall_cost", "Shortfall cost (demand unserved)", "money", "lower"),
    Metric("delay_cost", "Delay cost (training late)", "money", "lower"),
    Metric("early_finish_credit", "Credit for finishing early", "money", "higher"),
    Metric("spend_total", "Spend, total", "money", "lower"),
    # spend_by_provider.<name> rows are inserted here, one per provider
    Metric("spend_committed_used", "Spend committed, used", "money", ""),
    Metric("committed_idle_cost", "Paid for idle commitments", "money", "lower"),
    Metric("spend_on_demand", "Spend on demand", "money", ""),
    Metric("spend_spot", "Spend on spot", "money", ""),
    Metric("committed_utilisation", "Committed capacity used", "share", "higher"),
    Metric("training_wait_mean_h", "Training wait, mean", "hours", "lower"),
    Metric("training_wait_p95_h", "Training wait, p95", "hours", "lower"),
    Metric("jobs_finished", "Training jobs finished", "count", "higher"),
    Metric("frontier_end_h", "Frontier run finishes", "date", "lower"),
    # Effective training time ratio: hours of work kept / hours from first start to end, the
    # mean over the frontier runs that started.
    Metric("frontier_ettr", "Frontier run ETTR (work kept / time)", "share", "higher"),
    Metric("inference.served_share", "Inference demand served", "share", "higher"),
    Metric("inference.slo_attainment", "Inference steps meeting SLO", "share", "higher"),
    Metric("inference.unmet_unit_hours", "Inference demand unmet", "unit_hours", "lower",
           rare=True),
    Metric("agents.served_share", "Agent demand served", "share", "higher"),
    Metric("agents.unmet_unit_hours", "Agent demand unmet", "cpu_hours", "lower", rare=True),
    Metric("peak_power_mw", "Peak power", "mw", "lower"),
    Metric("hhi_spend", "Concentration of spend (HHI)", "index", "lower"),
    Metric("hhi_accelerator_hours", "Concentration of use (HHI)", "index", "lower"),
)


HEADLINE = ("cost_total", "spend_total", "shortfall_cost", "delay_cost",
            "committed_utilisation", "training_wait_mean_h", "frontier_end_h",
            "inference.served_share", "inference.unmet_unit_hours", "peak_power_mw", "hhi_spend")
"""The few metrics a sweep prints and plots by default."""


OPTIONAL = frozenset({"early_finish_credit", "spend_spot"})
"""Parts most scenarios never have (no early-finish credit, no spot pools): reported only
where some run has them."""


def key_metrics(available: list[str] | set[str],
                nonzero: set[str] | None = None) -> list[Metric]:
    """The catalogue's metrics present in `available`, with one spend row per provider;
    `OPTIONAL` ones only if in `nonzero` (when given)."""
    have = set(available)
    if nonzero is not None:
        have -= OPTIONAL - nonzero
    out: list[Metric] = []
    for m in KEY_METRICS:
        if m.name in have:
            out.append(m)
        if m.name == "spend_total":
            out += [Metric(n, f"  at {n.split('.', 1)[1]}", "money", "")
                    for n in sorted(x for x in have if x.startswith("spend_by_provider."))]
        if m.name == "inference.unmet_unit_hours":
            services = sorted({x.split(".")[2] for x in have
                               if x.startswith("inference.services.") and x.endswith(".ttft_p99_s")})
            out += [Metric(f"inference.services.{svc}.{key}", f"  {svc}: {label}", kind, "lower")
                    for svc in services for key, label, kind in LATENCY_METRICS
                    if f"inference.services.{svc}.{key}" in have]
    return out


def describe(name: str) -> Metric:
    """The catalogue entry for `name`, or a plain one whose kind (unit) is read off its name."""
    for m in KEY_METRICS:
        if m.name == name:
            return m
    if name.startswith("spend_by_provider."):
        return Metric(name, f"Spend at {name.split('.', 1)[1]}", "money")
    part, _, provider = name.partition("_by_provider.")
    if provider:
        base = describe(part)
        return Metric(name, f"{base.label} at {provider}", "money")
    if name.endswith("cost") or name.endswith("credit"):
        return Metric(name, name, "money")
    if name.endswith("_h"):
        return Metric(name, name, "hours")
    if name.endswith("_mw"):
        return Metric(name, name, "mw")
    if name.endswith("unit_hours") or "unit_hours." in name:
        return Metric(name, name, "cpu_hours" if name.startswith("agents.") else "unit_hours")
    if name.startswith("hhi_"):
        return Metric(name, name, "index")
    if "share" in name or name.endswith(("attainment", "utilisation")):
        return Metric(name, name, "share")
    if "spend" in name or "cost" in name or name.endswith("_usd"):
        return Metric(name, name, "money")
    return Metric(name, name, "count")


def _figures(x: float, digits: int = 3) -> str:
    """`digits` significant figures without exponents for |x| >= 1 (12.3, 123, 1234)."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 10 ** (digits - 1):
        return f"{x:.0f}"
    if a >= 1:
        return f"{x:.{digits - 1 - math.floor(math.log10(a))}f}"
    return f"{x:.{digits}g}"


def short_number(x: float, digits: int = 3) -> str:
    """1234567 -> '1.23M' (`digits` significant figures, k/M/B/T suffixes)."""
    a = abs(x)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:
            return f"{_figures(x / div, digits)}{suffix}"
    return _figures(x, digits)


def format_value(metric: Metric, value: float | None, start: datetime | None = None,
                 unit: bool = True) -> str:
    """A metric's value, e.g. '$15.1B', '99.1%', '48.0 h', '2025-12-24' (`unit=False` leaves
    off units that a table's label already gives: h, MW, unit-h)."""
    if value is None or not math.isfinite(value):
        return "—"
    k = metric.kind
    u = f" {metric.unit}" if unit else ""
    if k == "money":
        return f"${short_number(value)}"
    if k == "share":
        from sim.results.shares import format_share

        return format_share(value)
    if k == "hours":
        return f"{value:.1f}{u}"
    if k == "seconds":
        return f"{_figures(value)}{u}"
    if k == "date":
        return (start + timedelta(hours=value)).strftime("%Y-%m-%d") if start else f"{value:.0f} h"
    if k == "mw":
        return f"{value:,.0f}{u}" if abs(value) >= 100 else f"{_figures(value)}{u}"
    if k in ("unit_hours", "cpu_hours"):
        return f"{short_number(value)}{u}"
    if k == "index":
        return f"{value:.3f}"
    return f"{value:,.0f}" if abs(value) >= 100 else _figures(value)


def format_delta(metric: Metric, value: float | None, unit: bool = True, digits: int = 3,
                 signed: bool = True) -> str:
    """A difference in the metric's unit: '+$0.94B', '-0.3 pp', '+5.1 d' ('0' when none)."""
    if value is None or not math.isfinite(value):
        return "—"
    k = metric.kind
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else ""
    a = abs(value)
    u = f" {metric.unit}" if unit else ""
    if a == 0:
        return "0"
    if k == "money":
        return f"{sign}${short_number(a, digits)}"
    if k == "share":
        return f"{sign}{_figures(a * 100, digits)} pp"
    if k == "date":
        return f"{sign}{_figures(a / 24, digits)} d"
    if k in ("unit_hours", "cpu_hours"):
        return f"{sign}{short_number(a, digits)}{u}"
    if k in ("hours", "mw", "seconds"):
        return f"{sign}{_figures(a, digits)}{u}"
    return f"{sign}{_figures(a, digits)}"


def format_half_width(metric: Metric, half: float | None, unit: bool = True) -> str:
    """'±$0.1B' style half-width of an interval (two significant figures)."""
    if half is None or not math.isfinite(half):
        return ""
    return "±" + format_delta(metric, half, unit, digits=2, signed=False)


def short_path(path: str) -> str:
    """The end of a dotted path with its last two names: `tpu-v6e.price_per_hour`,
    `tenant_cap.2.units` (list indices do not count as names)."""
    parts = path.split(".")
    names, i = 0, len(parts)
    while i > 0 and names < 2:
        i -= 1
        names += not parts[i].isdigit()
    return ".".join(parts[i:])
