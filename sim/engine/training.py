"""Training runs: arrival, the waiting queue with priorities, backfill and blocks, gang placement,
starts, ends, interruptions and checkpoint/restart."""

from __future__ import annotations

import math
from bisect import bisect_right
from heapq import heapify, heappop, heappush

from simpy.core import NORMAL

from sim.engine.compile import CompiledJob
from sim.engine.pools import PoolState
from sim.engine.state import (
    Job,
    _Call,
    could_ever_hold,
    rate_hold,
)
from sim.engine.waiting import Group, entry_key


class TrainingQueue:
    """Part of `Simulation`: places gang-scheduled training runs (state lives on the simulation)."""

    def _arrive_ev(self, ev: _Call) -> None:
        """Run `ev.args` asks for capacity: offered to the first-refusal holder, or queued."""
        i = ev.args
        jobs = self.c.jobs
        if i + 1 < len(jobs):  # arrivals are sorted: the next one is never in the past
            env = self.env
            heappush(env._queue, (jobs[i + 1].arrival, NORMAL, next(env._eid),
                                  _Call(self._arrive_ev, i + 1)))
        spec = jobs[i]
        job = Job(spec, spec.duration)
        self.jobs.append(job)
        now = self.env.now
        # Every arrival and first start is logged when it happens, in the job log (one of each
        # per run: flat lists, no record per event); Little's law is checked from them.
        self.job_hours.append(now)
        self.job_codes.append(i)
        self.job_at.append(len(self.events))
        if not spec.candidates:
            job.status = "unplaceable"
            job.end = now  # turned away on arrival
            self.log("job_unplaceable", None, spec.name, spec.units)
            return
        if self.desk is not None and self.desk.offer_run(job):
            return
        self._enqueue(job)

    # What the first-refusal desk asks of the training side.

    def place_contracted(self, job: Job) -> bool:
        """Start `job` on idle committed units (already contracted: no offer needed), if a
        candidate pool's idle commitment holds the whole run and it has room."""
        spec = job.spec
        for k in self._ranking(spec, spec.candidates):
            p = self.pools[k]
            if self._committed_room(p) + 1e-9 >= spec.hold and self._has_room(p, False, spec.hold):
                self._start(job, p)
                return True
        return False

    def holder_room(self, job: Job, holder_pools: frozenset[int]) -> int:
        """The first holder pool (in the policy's order) that could start `job` now, or -1."""
        spec = job.spec
        for k in self._ranking(spec, spec.candidates):
            if k in holder_pools and self._has_room(self.pools[k], False, spec.hold):
                return k
        return -1

    def start_on(self, job: Job, pool: int) -> None:
        self._start(job, self.pools[pool])

    def set_aside(self, job: Job, pool: int) -> None:
        """Keep `job`'s units in `pool` for it (a claim) until it starts there."""
        job.claim = pool
        self.pools[pool].claimed += job.spec.hold

    def start_set_aside(self, job: Job, holder_pools: tuple[int, ...]) -> None:
        """Start `job` on the units set aside for it; if they are gone (an outage, failed
        units), it waits in the queue with its claim like an interrupted run, for the holder's
        pools only: the holder accepted it, so it is the holder's to supply."""
        if not self._place(job, (job.claim,), ()):  # tries its own claim's room
            job.candidates = holder_pools
            self._enqueue(job)

    def enqueue(self, job: Job) -> None:
        self._enqueue(job)

    def _enqueue(self, job: Job) -> None:
        if self.queue:
            if not self._join_after_pass(job):
                self._queue_add(job)
                self._schedule_queue()
        elif not self._place(job, job.candidates or job.spec.candidates, ()):
            self._queue_add(job)
            self._schedule_queue()
        max_wait = job.spec.max_wait
        if max_wait is not None and job.status == "waiting" and math.isnan(job.start):
            deadline = job.spec.arrival + max_wait
            if deadline <= self.env.now:
                self._abandon(job)
            elif deadline < self.end:
                self.at(deadline, lambda: self._abandon(job))

    def _join_after_pass(self, job: Job) -> bool:
        """Join the end of the queue using the last pass's outcome, when that still holds (no
        room gained, nobody joined or left since): only the newcomer needs deciding. False
        when a full pass is needed instead.

        The resets of `_queue_changed` to False (here and after a pass) only let a later pass
        be skipped or shortened; left True, the next pass runs in full and gives the same
        answer (tests/test_queue_pass.py), so their mutants are equivalent: no mutate."""
        last = self._last_pass
        spec = job.spec
        if (last is None or self._queue_changed or self._room_changed
                or not self._skip
                or (-spec.priority, spec.arrival, spec.index) < self.queue.last_key()):
            return False
        blocked, failed, complete, block_sizes = last
        candidates = job.candidates or spec.candidates
        group = (candidates, job.claim)
        smallest_failed = failed.get(group)
        if smallest_failed is None or spec.hold < smallest_failed:
            if not self.backfill:  # the head is stuck: nobody passes it
                self._queue_add(job)
                self._queue_changed = False  # pragma: no mutate (skip flag: _join_after_pass)
                return True
            if not complete:
                return False  # blocks of runs after where the pass stopped are not known
            if self._place(job, candidates, blocked):
                return True  # placing takes room only: every waiting run still fails
            failed[group] = spec.hold
            ranked = self._ranked
        elif spec.hold == smallest_failed:
            self._queue_add(job)  # same request as one that failed: same answer, same block
            self._queue_changed = False  # pragma: no mutate (skip flag: _join_after_pass)
            return True
        else:
            ranked = None
        k = self._block(candidates, spec, ranked)
        if k >= 0:
            blocked.add(k)
            block_sizes.append((k, spec.hold))
        self._queue_add(job)
        self._queue_changed = False  # pragma: no mutate (skip flag: _join_after_pass)
        return True

    def _abandon(self, job: Job) -> None:
        """A job that never started within its `max_wait` leaves the queue unserved."""
        if job.status != "waiting" or not math.isnan(job.start):
            return
        if job.group is not None:
            self._queue_remove(job)  # a block it held may be gone
        job.status = "abandoned"
        job.end = self.env.now
        self.log("job_abandoned", None, job.spec.name, job.spec.units, "max_wait")

    def _training_free(self, p: PoolState) -> float:
        return p.avail - p.train - p.claimed - rate_hold(p)

    def _holder_free(self, candidates: tuple[int, ...]) -> float:
        return max((self._training_free(self.pools[k]) for k in candidates
                    if self.infos[k].provider == self.holder), default=0.0)

    def _place(self, job: Job, candidates: tuple[int, ...],
               blocked: frozenset[int] | set[int] | tuple[()]) -> bool:
        spec = job.spec
        units = spec.hold
        pools = self.pools
        claim = job.claim
        ranked = self._ranking(spec, candidates)
        self._ranked = ranked  # if it fails, its block follows from the same ranking
        if self.sunk and self._any_committed:
            # Idle committed units are already paid for: among the pools that could start it,
            # the lowest marginal price per unit of work (list price only for the units above
            # the idle commitment), ties in the policy's order.
            best, best_key = -1, None
            for pos, k in enumerate(ranked):
                if k != claim and blocked and k in blocked:
                    continue
                p = pools[k]
                if not self._has_room(p, k == claim, units):
                    continue
                paid = min(units, max(0.0, self._committed_room(p))) if p.committed else 0.0
                key = self.policy.marginal_key(p.info, p.price * (units - paid) / units
                                               / p.train_speed, pos)
                if best_key is None or key < best_key:
                    best, best_key = k, key
            if best < 0:
                return False
            if self.holder is not None and self.infos[best].provider != self.holder:
                job.holder_free_at_placement = self._holder_free(spec.candidates)
            self._start(job, pools[best])
            return True
        for k in ranked:
            if k != claim and blocked and k in blocked:
                continue  # kept for a blocked run (its own claim is not blocked to it)
            p = pools[k]
            if not self._has_room(p, k == claim, units):
                continue
            if self.holder is not None and self.infos[k].provider != self.holder:
                job.holder_free_at_placement = self._holder_free(spec.candidates)
            self._start(job, p)
            return True
        return False

    def _ranking(self, spec: CompiledJob, candidates: tuple[int, ...]) -> list[int]:
        """The policy's order of `candidates` for a training run (kept for static rankings)."""
        ranked = self._train_rank.get(candidates)  # filled only for static rankings
        if ranked is None:
            ranked = self.rank("training", spec.name, spec.hold, spec.priority, candidates, spec)
            if self.policy.static_ranking:
                self._train_rank[candidates] = ranked
        return ranked

    @staticmethod
    def _committed_room(p: PoolState) -> float:
        """Committed units of `p` a training run would leave idle otherwise: after training and
        the mean rate use over the reserve window (rate demand cycles; at its peak the run
        pays on-demand, off-peak it uses what would sit idle)."""
        rate = p.infer + p.agents
        return p.committed - p.train - (p.rate_mean if p.rate_mean > rate else rate)

    def _has_room(self, p: PoolState, own_claim: bool, units: int, power: bool = True) -> bool:
        """Could a run of `units` start in pool `p` now, blocks aside? Training leaves rate
        demand's reserve and others' claims free; back on its own claim the reserve does not
        apply to it. Power counts too, unless `power` is False. (The hottest test of a queue
        pass: rate_hold is written out.)"""
        if own_claim:
            if p.avail - p.train - (p.claimed - units) - (p.infer + p.agents) + 1e-9 < units:
                return False
        else:
            rate = p.infer + p.agents
            if p.avail - p.train - p.claimed - (p.reserve if p.reserve > rate else rate) + 1e-9 < units:
                return False
        return not (power and self._powered and p.kw_busy
                    and units * p.kw_busy > self._power_room(p) + 1e-6)

    def _waiting_for(self, job: Job) -> str:
        """Why a run still waits: an open first-refusal offer; room in units that the power
        ceilings leave unpowered (power); units other tenants hold that would have made room
        (stockout); else no candidate pool with room for it (capacity)."""
        if job.offer == "pending" and job.claim < 0:
            return "first_refusal"
        units = job.spec.hold
        last = min(int(self.end / self.step) - 1, self.c.n_steps - 1)
        reason = "capacity"
        for k in job.candidates or job.spec.candidates:
            p = self.pools[k]
            if self._has_room(p, k == job.claim, units):
                return "capacity"  # it fits now: held back by a block or the queue order
            if self._powered and p.kw_busy and self._has_room(p, k == job.claim, units, power=False):
                return "power"
            held = self._withheld[k]
            # (No `held[last] > 0` test: with nothing withheld this is the room test, without
            # power, that just failed, so it fails too; it was an equivalent mutant's home.)
            if len(held) and (p.avail + held[last] - p.train - p.claimed
                              - rate_hold(p) + 1e-9 >= units):
                reason = "stockout"
        return reason

    def _fits(self, candidates: tuple[int, ...], claim: int, units: int) -> bool:
        """Could a run of `units` (with its claim) start in any of `candidates` now, whatever
        the ranking and blocks?"""
        pools = self.pools
        return any(self._has_room(pools[k], k == claim, units) for k in candidates)

    def _queue_add(self, job: Job) -> None:
        self.queue.add(job)
        self._queue_changed = True

    def _queue_remove(self, job: Job) -> None:
        self.queue.remove(job)
        self._queue_changed = True

    def _block(self, candidates: tuple[int, ...], spec: CompiledJob,
               ranked: list[int] | None = None) -> int:
        """The pool a blocked run keeps first claim on: the first it ranks that it could ever
        fit in with this moment's capacity and rate demand (-1 if none). `ranked`: the
        ranking a failed placement of the same run just made, with nothing changed since."""
        units = spec.hold
        if ranked is None:
            ranked = self.rank("training", spec.name, units, spec.priority, candidates, spec)
        pools = self.pools
        for j in ranked:
            if could_ever_hold(pools[j], units):
                return j
        return -1

    def _schedule_queue(self) -> None:
        """Start waiting jobs in queue order; with backfill, later jobs may pass a blocked one,
        and each blocked job keeps first claim on the pool it ranks first and could ever fit.

        Within a pass placements take room and blocks only grow, so a job fails if one of
        its group (same candidates and claim) as large or smaller failed, and the first
        blocked job of each group and size fixes the block for the rest of them. The pass
        therefore visits, in queue order, only the first job of each (group, size) that can
        still start or add a block (a heap of one cursor per group and size), and ends once no
        group can start anything: its work grows with the number of groups and sizes, not with
        the queue's length. The one placement that frees room, a run restarting away from the
        pool it kept a claim on, starts that reasoning afresh from where the pass is.
        """
        queue = self.queue
        if not queue or not (self._queue_changed or self._room_changed or not self._skip):
            return  # nothing joined or left the queue and no pool gained room: same answer
        by_group = queue.by_group
        backfill = self.backfill
        blocked: set[int] = set()
        failed: dict[Group, int] = {}  # smallest size that failed, per group
        finished: set[Group] = set()  # groups none of whose jobs can start in this pass
        blocks: dict[tuple[tuple[int, ...], int], int] = {}  # (candidates, size) -> pool or -1
        # One cursor per (group, size): (queue key of its next job, group, size, list index).
        cursors = [(same[0][0], g, u, 0) for g, sizes in by_group.items()
                   for u, same in sizes.items()]
        if len(cursors) == 1:  # one group and size (a plain FIFO queue): start runs in order
            self._walk_one(cursors[0][1], cursors[0][2])
            return
        hopeless: set[Group] = set()  # groups whose smallest run fits nowhere now
        if backfill:
            # Such a group starts nothing in this pass (room only shrinks, blocks only grow):
            # found up front without ranking, its runs are not tried, only their blocks kept.
            for g, sizes in by_group.items():
                if not self._fits(g[0], g[1], min(sizes)):
                    hopeless.add(g)
            if len(hopeless) == len(by_group):  # nothing can start: overloaded, the usual case
                # As if each group failed at its smallest size (blocks only matter to runs
                # that could start: a newcomer that might start gets a full pass).
                self._last_pass = (blocked, {g: min(by_group[g]) for g in hopeless}, False, [])
                self._queue_changed = self._room_changed = False  # pragma: no mutate (skip flag)
                return
            finished |= hopeless
        heapify(cursors)
        complete = True
        freed = False  # a claim was let go of during this pass
        while cursors:
            at, g, u, idx = heappop(cursors)
            smallest_failed = failed.get(g)
            same = by_group[g][u]
            job = same[idx][1]
            spec = job.spec
            ranked = None
            if smallest_failed is None or u < smallest_failed:
                if g not in hopeless and self._place(job, g[0], blocked):
                    queue.remove(job)
                    if self._claim_freed:  # room grew: what failed so far may fit now
                        self._claim_freed = False
                        freed = True
                        failed.clear()
                        finished.clear()
                        hopeless.clear()
                        cursors = [(same[i][0], g, u, i) for g, sizes in by_group.items()
                                   for u, same in sizes.items()
                                   if (i := bisect_right(same, at, key=entry_key)) < len(same)]
                        heapify(cursors)
                    elif idx < len(same):  # its next job of this group and size, if any
                        heappush(cursors, (same[idx][0], g, u, idx))
                    continue
                if not backfill:
                    complete = False
                    break  # the head is stuck: nobody passes it
                failed[g] = u
                if g not in hopeless:
                    ranked = self._ranked  # the failed placement's ranking, for its block
                if u <= min(by_group[g]):
                    finished.add(g)  # every waiting job of this group is at least this large
                    if len(finished) == len(by_group):
                        complete = False
                        break  # blocks matter only to jobs that could still start
            elif u == smallest_failed:
                continue  # same request as one that failed: same answer, same block
            bkey = (g[0], u)
            k = blocks.get(bkey, -2)
            if k == -2:
                k = blocks[bkey] = self._block(g[0], spec, ranked)
            if k >= 0 and k not in blocked:
                blocked.add(k)
                for other in by_group:  # jobs bound to blocked pools only cannot start
                    if other[1] < 0 and other not in finished and blocked.issuperset(other[0]):
                        # pruning only: not marked, their runs are tried and fail on the blocks
                        finished.add(other)  # pragma: no mutate
                if len(finished) == len(by_group):
                    complete = False
                    break
            # Later jobs of this group and size fail too and would block the same pool.
        self._last_pass = (blocked, failed, complete and not freed,
                           [(k, size) for (_, size), k in blocks.items() if k >= 0])
        self._queue_changed = False  # pragma: no mutate (skip flag: _join_after_pass)
        self._room_changed = freed  # jobs the pass went by before the claim was freed may fit

    def _walk_one(self, group: Group, size: int) -> None:
        """The pass when every waiting run has the same group and size: start them in queue
        order until one does not fit; the rest would not fit either and block the same pool."""
        same = self.queue.by_group[group][size]
        failed: dict[Group, int] = {}
        freed = False
        while same:
            job = same[0][1]
            if not self._place(job, group[0], ()):
                if self.backfill:
                    failed[group] = size
                break
            self.queue.remove(job)
            if self._claim_freed:  # room grew, but the next run is tried next anyway
                self._claim_freed = False
                freed = True
        self._last_pass = (set(), failed, not same and not freed, [])
        self._queue_changed = False  # pragma: no mutate (skip flag: _join_after_pass)
        self._room_changed = freed

    def _start(self, job: Job, p: PoolState) -> None:
        now = self.env.now
        spec = job.spec
        p.flush(now)
        p.train += spec.hold
        job.hold_now = spec.hold
        job.spares_now = spec.spares
        if p.kw_busy:
            self._draw(p, spec.units * p.kw_busy)  # spares sit idle: their idle share only
        p.running[spec.index] = job
        if job.restarts or job.claim >= 0 or p.family != spec.native_family or spec.frontier:
            setup = self._setup(job, p)
        else:
            setup = 0.0  # the common case: a first start on its own family
        if job.first_pool < 0:
            job.first_pool = p.index
        job.pool = p.index
        job.candidates = None  # once started, an interrupted run may restart on any it may use
        job.status = "running"
        if job.start != job.start:  # NaN: first start
            job.start = now
            self.job_hours.append(now)
            self.job_codes.append(~(spec.index * self.n_pools + p.index))
            self.job_at.append(len(self.events))
        else:  # a restart: it waited again since its interruption
            job.requeue_wait += now - job.requeued_at
        self._begin(job, p, setup)

    def _begin(self, job: Job, p: PoolState, setup: float) -> None:
        """Start a segment of running `job` in `p` now: its checkpoint interval, and the
        earlier of its end and its next unit failure pushed (a later one never happens)."""
        now = self.env.now
        spec = job.spec
        job.seg_start = now
        job.seg_setup = setup
        job.seg_speed = p.train_speed
        # Defensive, equivalent: _release already moved the token on since any earlier start.
        job.token += 1  # pragma: no mutate
        failures = self.failures
        if spec.checkpoint_auto:
            tau = job.seg_tau = failures.auto_interval(spec, p.index)
        else:
            tau = job.seg_tau = spec.checkpoint_interval or 0.0
        run = job.remaining / job.seg_speed
        if spec.checkpoint_stall and tau:  # a checkpoint after each interval, the last too
            run += math.ceil(run / tau - 1e-9) * spec.checkpoint_stall
        at = now + setup + run
        callback = self._finish_ev
        if failures.active:
            fail = failures.next_failure(spec, p.index, now)
            if fail < at:
                at, callback = fail, failures.fail_ev
        if at < self.end:  # never in the past: pushed straight onto simpy's queue
            env = self.env
            heappush(env._queue, (at, NORMAL, next(env._eid), _Call(callback, (job, job.token))))

    def restart_in_place(self, job: Job, reason: str, spare: bool) -> None:
        """A unit of running `job` failed and another takes its place at once (one of its
        spares, or else a free unit of its pool): it goes back to its last checkpoint and
        restarts where it is, without waiting for the repair."""
        now = self.env.now
        p = self.pools[job.pool]
        p.flush(now)
        self._roll_back(job, now, reason, p.index)
        if spare:  # the failed unit leaves the run's hold for repair
            job.hold_now -= 1
            job.spares_now -= 1
            p.train -= 1
            self.log("spare_swap", p.index, job.spec.name, 1.0, "a spare takes the failed unit's place")
        self.log("job_restart", p.index, job.spec.name, job.spec.units,
                 f"restart {job.restarts} in place")
        self._begin(job, p, job.spec.restart_overhead)

    def spare_back(self, job: Job) -> None:
        """A repaired unit rejoins running `job`'s spares; its idle hours are billed from now
        (the segment's bill at its end counts the units held then over the whole segment)."""
        now = self.env.now
        p = self.pools[job.pool]
        p.flush(now)
        p.train += 1
        job.hold_now += 1
        job.spares_now += 1
        self.log("spare_back", p.index, job.spec.name, 1.0, "a repaired unit rejoins the spares")
        dollars = self._unit_dollars(job.pool, job.seg_start, now)
        job.held -= now - job.seg_start
        job.cost -= dollars
        job.spare_cost -= dollars

    def _setup(self, job: Job, p: PoolState) -> float:
        """Hours before a (re)started run does useful work: restart overhead, porting to a
        family it has not run on; releases its claim and logs restarts and frontier starts."""
        spec = job.spec
        setup = spec.restart_overhead if job.restarts else 0.0
        family = p.family
        if family != spec.native_family and (job.ported is None or family not in job.ported):
            setup += spec.porting
            job.ported = {family} if job.ported is None else job.ported | {family}
        if job.claim >= 0:
            self.pools[job.claim].claimed -= spec.hold
            if job.claim != p.index:  # restarted elsewhere: the claimed units are free now
                self._claim_freed = True
            # Any negative claim means none (every test of it is >= 0, < 0 or == a pool index):
            # -1 is a convention, and -2 would be the same.
            job.claim = -1  # pragma: no mutate
        if job.restarts:
            self.log("job_restart", p.index, spec.name, spec.units, f"restart {job.restarts}")
        return setup

    def _release(self, job: Job, now: float) -> PoolState:
        p = self.pools[job.pool]
        p.flush(now)
        p.train -= job.hold_now
        if p.train < 1e-9:
            p.train = 0.0
        if p.kw_busy:
            self._draw(p, -job.spec.units * p.kw_busy)
        del p.running[job.spec.index]
        job.token += 1
        self._room_changed = True
        return p

    def _list_price_hours(self, pool: int, t0: float, t1: float) -> float:
        """Dollars per unit for holding a unit of `pool` from `t0` to `t1` at its list price,
        which changes from step to step (a price schedule; a pool with one list price never
        comes here, `_close_segment` prices it directly)."""
        schedule = self._price_schedule[pool]
        assert schedule is not None
        step = self.step
        k0 = int(t0 / step + 1e-9)
        k1 = min(int(t1 / step - 1e-9), len(schedule) - 1)
        if k1 <= k0:
            return (t1 - t0) * float(schedule[min(k0, len(schedule) - 1)])
        inner = float(schedule[k0 + 1:k1].sum()) * step
        return ((k0 + 1) * step - t0) * float(schedule[k0]) + inner + (t1 - k1 * step) * float(schedule[k1])

    def _unit_dollars(self, pool: int, t0: float, t1: float) -> float:
        """Dollars for holding one unit of `pool` from `t0` to `t1` at its list price."""
        if self._price_schedule[pool] is None:  # the common case: one list price
            return (t1 - t0) * self.infos[pool].price_per_hour
        return self._list_price_hours(pool, t0, t1)

    def _close_segment(self, job: Job, now: float, finished: bool) -> float:
        """Account a segment's held hours, cost and useful work; returns work done in it."""
        wall = now - job.seg_start
        held = job.hold_now
        job.held += held * wall
        dollars = self._unit_dollars(job.pool, job.seg_start, now)
        job.cost += held * dollars
        if job.spares_now:
            job.spare_cost += job.spares_now * dollars
        if job.restarts:
            job.restarting += min(wall, job.seg_setup)
        stall = job.spec.checkpoint_stall
        tau = job.seg_tau
        if finished:
            productive = job.remaining
            if stall and tau:
                job.writing += math.ceil(job.remaining / job.seg_speed / tau - 1e-9) * stall
        else:
            busy = max(0.0, wall - job.seg_setup)
            if stall and tau:  # cycles of tau hours of work and a write
                cycles = math.floor(busy / (tau + stall) + 1e-9)
                part = busy - cycles * (tau + stall)
                job.writing += cycles * stall + max(0.0, part - tau)
                busy = cycles * tau + min(part, tau)
            productive = busy * job.seg_speed
        job.productive += productive
        return productive

    def _finish_ev(self, ev: _Call) -> None:
        job, token = ev.args
        if token != job.token:
            return  # interrupted since this end was scheduled
        now = self.env.now
        self._release(job, now)
        self._close_segment(job, now, finished=True)
        job.kept += job.remaining / job.seg_speed
        job.remaining = 0.0
        job.end = now
        job.status = "finished"
        if self.queue:
            self._schedule_queue()
        if self.desk is not None and self.desk.waiting:
            self.desk.recheck()

    def _interrupt(self, job: Job, reason: str) -> None:
        """Stop a running job: work since its last checkpoint is lost; it waits again."""
        now = self.env.now
        spec = job.spec
        p = self._release(job, now)
        self._roll_back(job, now, reason, p.index)
        job.status = "waiting"
        job.requeued_at = now
        if reason in {"outage", "scheduled_outage", "spot_reclaim", "unit_failure", "planned"}:
            # The run keeps a claim on its pool's units: it restarts there once they are back.
            job.claim = p.index
            p.claimed += spec.hold
        self._queue_add(job)
        self._queue_soon()  # it restarts at once wherever it can, rate demand or not

    def _roll_back(self, job: Job, now: float, reason: str, pool: int) -> None:
        """Close an interrupted segment: the work since the last written checkpoint is lost."""
        spec = job.spec
        progress = self._close_segment(job, now, finished=False)
        saved_work = 0.0  # without checkpoints a restart starts from scratch
        tau = job.seg_tau
        if tau:  # checkpoints whose write had finished (a cycle is tau of work and a write)
            busy = max(0.0, now - job.seg_start - job.seg_setup)
            saved = math.floor(busy / (tau + spec.checkpoint_stall) + 1e-9)
            saved_work = min(saved * tau * job.seg_speed, job.remaining)
            job.kept += saved_work / job.seg_speed
        lost = progress - saved_work
        job.remaining -= saved_work
        job.lost += lost
        job.restarts += 1
        job.causes[reason] = job.causes.get(reason, 0) + 1
        self.log("preemption" if reason == "inference" else "job_interrupted", pool, spec.name,
                 spec.units, f"{reason}; lost {lost:.1f} ref-h")
