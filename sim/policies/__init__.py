"""Placement policies, registered by name. Each lives in its own module in this package."""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel

from sim.policies.base import (
    REGISTRY,
    FirstRefusal,
    NoParams,
    Policy,
    PoolInfo,
    Request,
    WorldView,
    price_per_work,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def policy_names() -> list[str]:
    """Names of every registered policy, sorted."""
    return sorted(REGISTRY)


def make_policy(name: str, params: dict[str, object] | None = None) -> Policy:
    """The policy registered as `name`, with its parameters validated."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; known: {', '.join(policy_names())}") from None
    parsed: BaseModel = cls.Params.model_validate(params or {})
    return cls(parsed)


__all__ = [
    "REGISTRY",
    "FirstRefusal",
    "NoParams",
    "Policy",
    "PoolInfo",
    "Request",
    "WorldView",
    "make_policy",
    "policy_names",
    "price_per_work",
]
