"""`cheapest_first`: lowest marginal price per unit of work, any provider (commitments are sunk)."""

from __future__ import annotations

from sim.policies.open_market import OpenMarket


class CheapestFirst(OpenMarket):
    """The same ranking as `open_market` (which is defined as microsoft_first without the right,
    and follows that policy's rules if they change); kept under its own name for scenarios and
    comparisons that use it."""

    name = "cheapest_first"
    summary = ("lowest marginal price per unit of work: idle committed units first (already "
               "paid), then list price / speed, any provider")
