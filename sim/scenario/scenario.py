"""The whole scenario: the root model of a scenario file, built from the parts in `models.py`
and the `plan:` section in `plan.py` (so each of those imports only what is below it)."""

from __future__ import annotations

from pydantic import Field, field_validator

from sim.scenario.models import (
    MAX_INT,
    Accelerator,
    Hours,
    PolicySection,
    Power,
    Preemption,
    Programme,
    Provider,
    ScheduledOutage,
    Scheduling,
    Service,
    Strict,
    Training,
    When,
)
from sim.scenario.plan import PlanSection


class Scenario(Strict):
    """A whole capacity-planning scenario: the clock, supply, demand, policy, and what
    `capsim plan` may buy.

    Sections in file order: clock (name .. seed) -> supply (accelerators, providers, outages,
    programmes, power) -> demand (training, inference, agents) -> rules (policy, preemption,
    scheduling) -> plan.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="used in results paths")
    description: str = ""
    start: When = Field(description="date of simulation hour 0")
    horizon: Hours = Field(gt=0, description="length of the run, e.g. 365d")
    step: Hours = Field(default=1.0, gt=0, description="time step for rate demand")
    seed: int = Field(default=0, ge=0, le=MAX_INT, description="root of every random stream")
    accelerators: dict[str, Accelerator] = Field(min_length=1)
    providers: dict[str, Provider] = Field(min_length=1)
    outages: list[ScheduledOutage] = Field(default_factory=list, description="scripted outages")
    programmes: dict[str, Programme] = Field(
        default_factory=dict, description="build-out programmes whose sites slip together"
    )
    power: Power | None = Field(default=None, description="power ceiling (default: none)")
    training: Training = Field(default_factory=Training)
    inference: dict[str, Service] = Field(default_factory=dict)
    agents: dict[str, Service] = Field(default_factory=dict)
    policy: PolicySection = Field(default_factory=PolicySection)
    preemption: Preemption = Field(default_factory=Preemption)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    plan: PlanSection | None = Field(
        default=None, description="what `capsim plan` may buy and the worlds it judges plans "
        "in; `capsim run` ignores it")

    @field_validator("name")
    @classmethod
    def _name_is_one_folder(cls, name: str) -> str:
        """The name is a folder under results/: '.', '..' or a hidden name would leave it or
        clash with capsim's own temporary folders."""
        if name.startswith("."):
            raise ValueError(f"must not start with '.' (it names a folder under results/), "
                             f"got {name!r}")
        if len(name) > 100:
            raise ValueError(f"must be at most 100 characters (it names a folder), "
                             f"got {len(name)}")
        return name
