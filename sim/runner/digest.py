"""Store keys: hashes of a scenario's full content, the trace files it reads, capsim's model code
(`sim.about.source_digest`) and a spec's policy, replication and changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sim.about import source_digest
from sim.runner.spec import RunSpec
from sim.scenario import Scenario

STORE_FORMAT = 2  # 2: records carry their key and a checksum


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _data_files(scenario: Scenario) -> list[list[str]]:
    """Path and content hash of each file the scenario reads (request traces)."""
    out = []
    for section in (scenario.inference, scenario.agents):
        for svc in section.values():
            trace = getattr(svc, "trace", None)
            if trace is not None:
                try:
                    digest = hashlib.sha256(Path(trace.file).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                out.append([trace.file, digest])
    return out


def scenario_digest(scenario: Scenario) -> str:
    """A hash of the scenario's full content (every default filled in), of the trace files it
    reads and of capsim's code."""
    text = canonical([STORE_FORMAT, source_digest(), scenario.model_dump(mode="json"),
                       _data_files(scenario)])
    return hashlib.sha256(text.encode()).hexdigest()


def spec_digest(scenario_hash: str, spec: RunSpec) -> str:
    """The store key of one run: scenario content, policy, replication and changes (not labels)."""
    text = canonical([scenario_hash, spec.policy, spec.replication,
                       [[k, v] for k, v in spec.changes]])
    return hashlib.sha256(text.encode()).hexdigest()[:24]
