"""The risk a plan is held to: none, CVaR of total cost at a level (with or without a bound in
dollars), or a bound on the share of service hours that miss their target."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal


class RiskError(ValueError):
    """A risk text that does not parse; the message says what was expected."""


@dataclass(frozen=True)
class Risk:
    """`kind` none | cvar | shortfall; `level` the CVaR level (cvar) or the bound itself
    (shortfall); `bound` the largest acceptable value (None: the hand plan's own risk)."""

    kind: Literal["none", "cvar", "shortfall"] = "none"
    level: float = 0.95
    bound: float | None = None


def risk_measure(risk: Risk) -> str:
    """What a candidate's risk figure measures: the share of service hours below target, else
    the CVaR of cost_total at the level (also with no bound, where it is only reported)."""
    return ("share of service hours below target" if risk.kind == "shortfall"
            else f"CVaR{risk.level:g} of cost_total")


EXPECTED = "none, cvar:LEVEL, cvar:LEVEL<=DOLLARS or shortfall:PROB (e.g. cvar:0.95, shortfall:0.01)"
_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?"


def parse_risk(text: str | None) -> Risk:
    """Parse `none`, `cvar:0.95`, `cvar:0.95<=2.5e10` or `shortfall:0.01` (spaces ignored)."""
    if text is None:
        return Risk()
    t = re.sub(r"\s+", "", str(text)).lower()
    if t in {"", "none"}:
        return Risk()
    m = re.fullmatch(rf"cvar:({_NUMBER})(?:<=({_NUMBER}))?", t)
    if m:
        level = float(m.group(1))
        if not 0 < level < 1:
            raise RiskError(f"cvar level must lie between 0 and 1 (e.g. 0.95), got {level:g}")
        bound = float(m.group(2)) if m.group(2) else None
        if bound is not None and not math.isfinite(bound):
            raise RiskError(f"cvar bound must be a finite number of dollars, got {m.group(2)}")
        return Risk("cvar", level, bound)
    m = re.fullmatch(rf"shortfall:({_NUMBER})", t)
    if m:
        p = float(m.group(1))
        if not 0 <= p <= 1:
            raise RiskError(f"shortfall probability must lie between 0 and 1, got {p:g}")
        return Risk("shortfall", p, p)
    raise RiskError(f"expected {EXPECTED}, got {text!r}")
