"""`capsim policies`: the placement policies and their parameters with units."""

from __future__ import annotations

import argparse
from typing import Any


def param_text(field: Any) -> str:
    """A policy parameter's default with its unit: '48 h', '0.4 (fraction 0-1)', "'azure'"."""
    from pydantic.functional_validators import BeforeValidator

    from sim.timeparse import parse_duration

    value = field.default
    if any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in field.metadata):
        return f"{value:g} h" + (f" ({value / 24:g} d)" if value >= 48 and value % 24 == 0 else "")
    bounds = {type(m).__name__: m for m in field.metadata}
    if isinstance(value, float) and ("Le" in bounds or "Lt" in bounds) and (
            getattr(bounds.get("Le"), "le", None) == 1 or getattr(bounds.get("Lt"), "lt", None) == 1):
        return f"{value:g} (fraction 0-1)"
    return repr(value)


def command(args: argparse.Namespace) -> int:
    """List the registered policies with their parameters and defaults."""
    from sim.policies import REGISTRY

    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        print(f"{name:<18} {cls.summary}")
        fields = cls.Params.model_fields
        width = max((len(k) + len(param_text(v)) for k, v in fields.items()), default=0) + 3
        for k, v in fields.items():
            setting = f"{k} = {param_text(v)}"
            print(f"{'':<18}   {setting:<{width}}  {v.description or ''}".rstrip())
    print("\nSet parameters in a scenario under policy.params.<name>; durations take units "
          "(48h, 2d, 1w).")
    return 0


def add(sub: Any) -> None:
    """Register `capsim policies`."""
    p = sub.add_parser("policies", help="list the placement policies and their parameters")
    p.set_defaults(func=command)
