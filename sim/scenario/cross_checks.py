"""Rules that span fields (names that must exist, dates in order, procurement, plan and trace
settings), each yielding (path, message) so every problem is reported in one pass."""

from __future__ import annotations

import copy
import difflib
import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.scenario.limits import (
    shown,
)
from sim.scenario.messages import (
    clean_loc,
    friendly,
)
from sim.scenario.models import Service
from sim.scenario.paths import set_path
from sim.scenario.plan import purchase_keys
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_lines import PathT, dotted
from sim.timeparse import format_hours, hours_between


def bools_as_numbers(raw: Any, value: Any, path: PathT = ()) -> Iterator[tuple[PathT, str]]:
    """Places where YAML's true/false (also written yes/no/on/off) was taken as a number."""
    if isinstance(raw, bool):
        if not isinstance(value, bool):
            yield path, ("expected a number, got true/false (YAML reads yes, no, on and off "
                         "as true/false)")
    elif isinstance(raw, dict):
        for key, item in raw.items():
            if isinstance(value, BaseModel):
                child = getattr(value, key, None) if key in type(value).model_fields else None
            else:
                child = value.get(key) if isinstance(value, dict) else None
            if child is not None:
                yield from bools_as_numbers(item, child, (*path, key))
    elif isinstance(raw, list) and isinstance(value, list | tuple) and len(raw) == len(value):
        for i, (item, child) in enumerate(zip(raw, value, strict=True)):
            yield from bools_as_numbers(item, child, (*path, i))


def cross_check(s: Scenario, dates: bool = True) -> Iterator[tuple[PathT, str]]:
    """Rules across fields: references exist, dates in the horizon, policies known and valid.

    `dates=False` leaves out the checks of dates against the start and horizon (when those are
    stand-ins for values already reported)."""
    from sim.policies import REGISTRY

    end = s.horizon
    if dates and (datetime.max - s.start).total_seconds() / 3600 < end:
        yield ("horizon",), (f"the scenario would end after the year 9999 ({end:g} h after "
                             f"{_moment(s.start)})")
        dates = False

    def inside(path: PathT, moment: datetime, what: str = "date") -> Iterator[tuple[PathT, str]]:
        # A date after the horizon is allowed: the run clips it and says so in its metadata,
        # so a shorter horizon (`--set horizon=180d`) works on any scenario.
        if not dates:
            return
        if hours_between(s.start, moment) < 0:
            yield path, (f"{what} {_moment(moment)} is before the scenario starts "
                         f"({_moment(s.start)}; it runs to "
                         f"{_moment(format_hours(s.start, end))})")

    if dates and s.step > s.horizon:
        yield ("step",), "the step is longer than the horizon"
    for pname, provider in s.providers.items():
        for poolname, pool in provider.pools.items():
            base: PathT = ("providers", pname, "pools", poolname)
            if pool.accelerator not in s.accelerators:
                yield (*base, "accelerator"), _unknown("accelerator", pool.accelerator, s.accelerators)
            if not pool.capacity and pool.buildout is None and pool.blocks is None:
                yield base, "a pool needs `capacity`, `buildout` or `blocks`"
            yield from _procurement_checks(s, pname, poolname, inside)
            for i, step in enumerate(pool.capacity):
                yield from inside((*base, "capacity", i, "at"), step.at)
            if pool.capacity and any(b.at < a.at for a, b in zip(pool.capacity, pool.capacity[1:],
                                                                  strict=False)):
                yield (*base, "capacity"), "capacity steps must be in date order"
            if pool.buildout:
                for i, site in enumerate(pool.buildout.sites):
                    yield from inside((*base, "buildout", "sites", i, "online"), site.online)
            for i, cap in enumerate(pool.tenant_cap or []):
                yield from inside((*base, "tenant_cap", i, "at"), cap.at)
    for i, outage in enumerate(s.outages):
        yield from _outage_refs(s, ("outages", i), outage)
        yield from inside(("outages", i, "start"), outage.start)
    if s.power:
        for i, p in enumerate(s.power.ceiling):
            yield from inside(("power", "ceiling", i, "at"), p.at)
        for name, steps in s.power.providers.items():
            if name not in s.providers:
                yield ("power", "providers", name), _unknown("provider", name, s.providers)
            for i, p in enumerate(steps):
                yield from inside(("power", "providers", name, i, "at"), p.at)
    names: set[str] = set()
    for i, job in enumerate(s.training.jobs):
        base = ("training", "jobs", i)
        if job.name in names:
            yield (*base, "name"), f"two jobs are named {shown(job.name)}"
        names.add(job.name)
        yield from inside((*base, "arrival"), job.arrival)
        yield from _trait_refs(s, base, job.accelerators, job.providers)
    for gname, gen in s.training.generators.items():
        base = ("training", "generators", gname)
        yield from _trait_refs(s, base, gen.accelerators, gen.providers)
        for key in ("start", "end"):
            moment = getattr(gen, key)
            if moment is not None:
                yield from inside((*base, key), moment)
        if gen.start and gen.end and gen.end <= gen.start:
            yield (*base, "end"), "end must come after start"
        for key in ("units", "duration"):
            dist = getattr(gen, key)
            if dist.dist == "uniform" and dist.high < dist.low:
                yield (*base, key, "high"), "high must be at least low"
            if dist.dist == "choice" and dist.weights is not None:
                if len(dist.weights) != len(dist.values):
                    yield (*base, key, "weights"), "needs one weight per value"
                elif any(w < 0 for w in dist.weights) or sum(dist.weights) <= 0:
                    yield (*base, key, "weights"), "weights must be non-negative with a positive sum"
    for section in ("inference", "agents"):
        services: dict[str, Service] = getattr(s, section)
        for sname, svc in services.items():
            base = (section, sname)
            for j, prov in enumerate(svc.providers or []):
                if prov not in s.providers:
                    yield (*base, "providers", j), _unknown("provider", prov, s.providers)
            for j, spike in enumerate(svc.spikes):
                yield from inside((*base, "spikes", j, "at"), spike.at)
            if svc.trace is not None:
                yield from _trace_checks(s, base, svc)
    if s.policy.default not in REGISTRY:
        yield ("policy", "default"), _unknown("policy", s.policy.default, REGISTRY)
    if s.plan is not None:
        yield from _plan_checks(s, inside)
    for pname, params in s.policy.params.items():
        if pname not in REGISTRY:
            yield ("policy", "params", pname), _unknown("policy", pname, REGISTRY)
            continue
        model = REGISTRY[pname].Params
        try:
            parsed = model.model_validate(params)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                if err["type"] == "extra_forbidden":
                    known = list(model.model_fields)
                    guess = difflib.get_close_matches(str(err["loc"][-1]), known, n=1, cutoff=0.6)
                    msg = (f"unknown parameter of {pname}; did you mean {guess[0]!r}?" if guess else
                           f"unknown parameter of {pname}; known: {', '.join(known) or 'none'}")
                else:
                    msg = friendly(err, model)
                yield ("policy", "params", pname, *err["loc"]), msg
        else:
            for path, msg in bools_as_numbers(params, parsed):
                yield ("policy", "params", pname, *path), msg
            holder = params.get("provider")
            if isinstance(holder, str) and holder not in s.providers:
                yield ("policy", "params", pname, "provider"), _unknown("provider", holder,
                                                                        s.providers)


def _plan_checks(s: Scenario, inside: Any) -> Iterator[tuple[PathT, str]]:
    """The `plan:` section: the pools it buys in exist (with a blocks offer for blocks), each
    decision is named once, the worlds' changes and outages fit the scenario, the policy is
    known."""
    from sim.policies import REGISTRY

    assert s.plan is not None
    first: dict[str, int] = {}
    for i, item in enumerate(s.plan.buy):
        base: PathT = ("plan", "buy", i)
        pname, poolname = item.provider_and_pool
        if not pname:
            yield (*base, "pool"), f"expected provider/pool, e.g. azure/gb200, got {shown(item.pool)}"
            continue
        if pname not in s.providers:
            yield (*base, "pool"), _unknown("provider", pname, s.providers)
            continue
        pools = s.providers[pname].pools
        if poolname not in pools:
            yield (*base, "pool"), _unknown(f"pool of {pname}", poolname, pools)
            continue
        if "." in pname or "." in poolname:
            yield (*base, "pool"), (f"{shown(item.pool)}: a plan cannot buy in a provider or "
                                    "pool whose name holds '.' (its purchases are set by dotted "
                                    "path); rename it")
            continue
        offer = pools[poolname].blocks
        if item.blocks is not None:
            if offer is None:
                yield (*base, "blocks"), (f"{item.pool} has no `blocks` offer to order from; add "
                                          "one to the pool, or buy a `commitment` instead")
                continue
            if item.blocks.term is not None and item.blocks.term < offer.min_term:
                yield (*base, "blocks", "term"), (
                    f"{item.blocks.term / 24:g} days is shorter than the offer's minimum term "
                    f"({offer.min_term / 24:g} days)")
            for j, moment in enumerate(item.blocks.at):
                yield from inside((*base, "blocks", "at", j), moment)
        for key in purchase_keys(s, item):
            if key in first:
                yield (*base, "pool"), (f"the decision {key!r} is also made by "
                                        f"plan.buy[{first[key]}]; give each purchase once")
            first.setdefault(key, i)
    yield from world_problems(s, s.plan.worlds, ("plan", "worlds"))
    if s.plan.policy is not None and s.plan.policy not in REGISTRY:
        yield ("plan", "policy"), _unknown("policy", s.plan.policy, REGISTRY)


def world_problems(s: Scenario, worlds: dict[str, Any],
                   base: PathT) -> Iterator[tuple[PathT, str]]:
    """What is wrong with what-if worlds (`PlanWorld`s) of `s`, at `base` + world name: a change
    path that does not exist or a value the field refuses, an outage of an unknown provider or
    pool or dated before the start. A `file` world is checked when it is read (sim/plan)."""
    dump: dict[str, Any] | None = None
    for name, world in worlds.items():
        at: PathT = (*base, name)
        if world.changes:
            if dump is None:
                dump = s.model_dump(mode="json")
                dump["plan"] = None
            data = copy.deepcopy(dump)
            bad = False
            for path, value in world.changes.items():
                try:
                    set_path(data, str(path), copy.deepcopy(value))
                except KeyError as exc:
                    bad = True
                    yield (*at, "changes", path), f"no such field: {exc.args[0]}"
            if not bad:
                try:
                    Scenario.model_validate(data)
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    where = dotted(clean_loc(tuple(err["loc"]), data))
                    yield (*at, "changes"), (f"the world's scenario is not valid: {where}: "
                                             f"{friendly(err)}")
        for k, outage in enumerate(world.outages or []):
            yield from _outage_refs(s, (*at, "outages", k), outage)
            if hours_between(s.start, outage.start) < 0:
                yield (*at, "outages", k, "start"), (
                    f"date {_moment(outage.start)} is before the scenario starts "
                    f"({_moment(s.start)})")


def _dated_in_order(path: PathT, moments: list[datetime]) -> Iterator[tuple[PathT, str]]:
    if any(b < a for a, b in itertools.pairwise(moments)):
        yield path, "steps must be in date order"


def _procurement_checks(s: Scenario, pname: str, poolname: str,
                        inside: Any) -> Iterator[tuple[PathT, str]]:
    """Blocks, price schedules, availability, region and programme of one pool."""
    provider = s.providers[pname]
    pool = provider.pools[poolname]
    base: PathT = ("providers", pname, "pools", poolname)
    if pool.blocks is not None:
        b = pool.blocks
        for i, order in enumerate(b.orders):
            yield from inside((*base, "blocks", "orders", i, "at"), order.at)
            if order.term is not None and order.term < b.min_term:
                yield (*base, "blocks", "orders", i, "term"), (
                    f"{order.term / 24:g} days is shorter than the offer's minimum term "
                    f"({b.min_term / 24:g} days)")
        yield from _dated_in_order((*base, "blocks", "orders"), [o.at for o in b.orders])
    if pool.prices is not None:
        for i, step in enumerate(pool.prices.steps):
            yield from inside((*base, "prices", "steps", i, "at"), step.at)
        yield from _dated_in_order((*base, "prices", "steps"), [p.at for p in pool.prices.steps])
    if pool.availability is not None and pool.availability.series is not None:
        series = pool.availability.series
        for i, point in enumerate(series):
            yield from inside((*base, "availability", "series", i, "at"), point.at)
        yield from _dated_in_order((*base, "availability", "series"), [p.at for p in series])
    if pool.region is not None and pool.region not in provider.regions:
        known = ", ".join(sorted(provider.regions)) or f"none (add `regions:` to {pname})"
        yield (*base, "region"), f"unknown region {pool.region!r} of {pname}; known: {known}"
    programme = pool.buildout.programme if pool.buildout is not None else None
    if programme is not None and programme not in s.programmes:
        known = ", ".join(sorted(s.programmes)) or "none (add top-level `programmes:`)"
        yield (*base, "buildout", "programme"), f"unknown programme {programme!r}; known: {known}"


def _trait_refs(s: Scenario, base: PathT, accelerators: list[str] | None,
                providers: list[str] | None) -> Iterator[tuple[PathT, str]]:
    for j, acc in enumerate(accelerators or []):
        if acc not in s.accelerators:
            yield (*base, "accelerators", j), _unknown("accelerator", acc, s.accelerators)
    for j, prov in enumerate(providers or []):
        if prov not in s.providers:
            yield (*base, "providers", j), _unknown("provider", prov, s.providers)


def _moment(moment: datetime | str) -> str:
    """A date, with its time only when it is not midnight."""
    text = moment if isinstance(moment, str) else moment.isoformat(timespec="minutes")
    return text.removesuffix("T00:00")


def _outage_refs(s: Scenario, path: PathT, outage: Any) -> Iterator[tuple[PathT, str]]:
    """A scripted outage names a provider of `s` and, if it names a pool, one of its pools."""
    if outage.provider not in s.providers:
        yield (*path, "provider"), _unknown("provider", outage.provider, s.providers)
    elif outage.pool is not None and outage.pool not in s.providers[outage.provider].pools:
        yield (*path, "pool"), _unknown(f"pool of {outage.provider}", outage.pool,
                                        s.providers[outage.provider].pools)


def _unknown(what: str, name: object, known: Iterable[str]) -> str:
    names = sorted(known)
    listed = ", ".join(shown(n, 40, quote=False) for n in names[:20])
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"unknown {what} {shown(name)}; known: {listed}{more}"


def _trace_checks(s: Scenario, base: PathT, svc: Service) -> Iterator[tuple[PathT, str]]:
    """A service that replays a trace: fields the trace makes meaningless, and its timing."""
    assert svc.trace is not None
    if svc.base_units is not None:
        yield (*base, "base_units"), ("has no effect with a trace (demand comes from the trace); "
                                      "remove it, or use trace.scale to change the volume")
    if svc.trace.mode == "replace":
        for key in ("growth_per_month", "daily_amplitude", "weekly_amplitude", "noise", "spikes"):
            if getattr(svc, key):
                yield (*base, key), ("has no effect with trace mode replace; set `mode: on_top` "
                                     "in the trace to apply it to the trace, or remove it")
    if svc.trace.shift >= s.horizon:
        yield (*base, "trace", "shift"), (f"the trace would start {svc.trace.shift:g} h into the "
                                          f"scenario, beyond its horizon ({s.horizon:g} h)")
