"""Training runs waiting to start: in queue order, and indexed by group and size.

A group is the runs with the same candidate pools and the same claim. Within one queue pass
every run of a group that is at least as large as one that failed fails too, and every run of
one group and size would block the same pool; so a pass needs to look only at the first run
of each (group, size) that can still change something, and the index below finds it without
walking the whole queue.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.state import Job

QueueKey = tuple[int, float, int]  # (-priority, arrival, index): queue order
Group = tuple[tuple[int, ...], int]  # (candidates, claimed pool or -1)
Entry = tuple[QueueKey, "Job"]


def entry_key(entry: Entry) -> QueueKey:
    """Sort key of a queue entry."""
    return entry[0]


def _insort(entries: list[Entry], entry: Entry) -> None:
    """Insert in key order; newcomers usually go last (FIFO within a priority)."""
    if not entries or entries[-1][0] < entry[0]:
        entries.append(entry)
    else:
        bisect.insort(entries, entry, key=entry_key)


class WaitingRuns(list[Entry]):
    """The waiting runs as (queue key, job) in queue order (a list, so that emptiness and
    length cost what a list's do on the hot path), plus the same runs per group and size."""

    __slots__ = ("by_group",)

    def __init__(self) -> None:
        super().__init__()
        self.by_group: dict[Group, dict[int, list[Entry]]] = {}

    def jobs(self) -> Iterator[Job]:
        return (job for _, job in self)

    def last_key(self) -> QueueKey:
        return self[-1][0]

    def add(self, job: Job) -> None:
        """Queue `job` in order: higher priority first, then earlier arrival."""
        spec = job.spec
        entry = ((-spec.priority, spec.arrival, spec.index), job)
        job.group = group = (job.candidates or spec.candidates, job.claim)
        _insort(self, entry)
        sizes = self.by_group.get(group)
        if sizes is None:
            sizes = self.by_group[group] = {}
        same = sizes.get(spec.hold)
        if same is None:
            sizes[spec.hold] = [entry]
        else:
            _insort(same, entry)

    def remove(self, job: Job) -> None:
        """Take `job` out of the queue (it started or left)."""
        spec = job.spec
        key = (-spec.priority, spec.arrival, spec.index)
        # Runs mostly leave from the front (they start in queue order): look there first.
        i = 0 if self[0][1] is job else bisect.bisect_left(self, key, key=entry_key)
        assert self[i][1] is job
        del self[i]
        group = job.group
        assert group is not None
        job.group = None
        sizes = self.by_group[group]
        same = sizes[spec.hold]
        j = 0 if same[0][1] is job else bisect.bisect_left(same, key, key=entry_key)
        del same[j]
        if not same:
            del sizes[spec.hold]
            if not sizes:
                del self.by_group[group]
