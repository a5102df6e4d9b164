"""What one run of a grid is (`RunSpec`) and what it hands back (`RunOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """One simulation of a grid: which changes, which policy, which replication."""

    policy: str
    replication: int
    changes: tuple[tuple[str, Any], ...] = ()
    labels: tuple[tuple[str, Any], ...] = field(default=())

    def key(self) -> str:
        """A readable name for this run, used in messages and de-duplication."""
        parts = [f"{k}={v}" for k, v in self.changes]
        return "|".join([*parts, self.policy, f"rep{self.replication}"])


@dataclass
class RunOutcome:
    """What a run hands back: its spec and seed, flattened metrics and summary, or its error."""

    spec: RunSpec
    seed: int
    metrics: dict[str, float]
    summary: dict[str, Any]
    error: str | None = None  # "ExceptionType: message" when the run failed
    index: int = -1  # position of the spec in the list given to run_many
    scenario: str = ""
    elapsed_s: float = 0.0  # time the run took in its worker
    cpu_s: float = 0.0  # CPU time of the worker process during the run
    events: int = 0  # engine events processed
    attempts: int = 1  # workers it was sent to (more than 1 after a worker died)
    cached: bool = False  # read back from the store, not run again
    trace: str = ""  # traceback of the error, for debugging

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """Scenario, policy, seed, replication and changes, for messages."""
        changes = ", ".join(f"{k}={v}" for k, v in self.spec.changes)
        return (f"scenario {self.scenario}, policy {self.spec.policy}, seed {self.seed}, "
                f"replication {self.spec.replication}" + (f", {changes}" if changes else ""))

