"""What the engine's parts share: the event record simpy runs, a training run's state, and the
small rules about a pool's room that training, rate demand and supply changes all apply."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.engine.compile import CompiledJob
from sim.engine.pools import PoolState


class _Call:
    """The lightest event simpy's loop accepts: already triggered, with our callback and data."""

    __slots__ = ("args", "callbacks")
    _ok = True
    _value = None

    def __init__(self, callback: Callable[[Any], None], args: Any) -> None:
        self.callbacks = [callback]
        self.args = args


@dataclass(slots=True, eq=False)
class Job:
    """A training run in progress: its spec plus what has happened to it."""

    spec: CompiledJob
    remaining: float
    token: int = 0
    start: float = math.nan
    end: float = math.nan
    pool: int = -1
    seg_start: float = 0.0
    seg_setup: float = 0.0
    seg_speed: float = 1.0
    restarts: int = 0
    lost: float = 0.0
    productive: float = 0.0  # reference-accelerator hours of useful work done (incl. lost)
    held: float = 0.0  # unit-hours held
    cost: float = 0.0  # at list price
    ported: set[str] | None = None
    offer: str = ""
    holder_free_at_placement: float = math.nan
    waiting_for: str = ""  # a run still waiting at the end: capacity, power or first_refusal
    status: str = "waiting"
    claim: int = -1  # pool whose units this interrupted run keeps a claim on
    group: tuple[tuple[int, ...], int] | None = None  # (candidates, claim) while it waits
    first_pool: int = -1
    requeued_at: float = math.nan  # when it last went back to waiting after an interruption
    requeue_wait: float = 0.0  # hours waited to restart after interruptions (to the horizon)
    causes: dict[str, int] = field(default_factory=dict)  # interruptions by cause
    seg_tau: float = 0.0  # wall hours of work between checkpoints in this segment (0: none)
    writing: float = 0.0  # hours progress stalled writing checkpoints
    restarting: float = 0.0  # hours spent restarting (detection, rescheduling, load, porting)
    kept: float = 0.0  # wall hours of work kept (saved at a checkpoint or finished)
    hold_now: int = 0  # units it holds while running: the gang and the spares not in repair
    spares_now: int = 0  # spares it holds now (one fewer for each swapped in and in repair)
    spare_cost: float = 0.0  # dollars (list price) for its spares while they sat idle
    candidates: tuple[int, ...] | None = None  # pools it may wait for, if fewer than its spec's


def rate_hold(p: PoolState) -> float:
    """Units rate demand keeps from training in `p`: its recent peak, or its use now if more."""
    rate = p.infer + p.agents
    return p.reserve if p.reserve > rate else rate


def could_ever_hold(p: PoolState, units: int) -> bool:
    """Could `p` hold a run of `units` once its training ends? (Where a blocked run waits.)"""
    return p.avail - rate_hold(p) >= units


def claim_on_rate(p: PoolState) -> float:
    """Claimed units kept from rate demand: only once the pool can hold the claimants again
    (until then, demand served step by step may use what is left)."""
    claimed = p.claimed
    return claimed if claimed and p.avail - p.train >= claimed else 0.0


def call_plain(ev: _Call) -> None:
    ev.args()


def eviction_order(job: Job) -> tuple[int, float]:
    """Evict lowest priority first, then the most recently started."""
    return (job.spec.priority, -job.seg_start)
