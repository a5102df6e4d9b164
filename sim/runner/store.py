"""The store of finished runs: one checked JSON record per run, written atomically, in a folder
marked as capsim's runs cache (`results/<scenario>/runs/` by default)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.results.atomic import (
    MARKER,
    PROCESS_START,
    RUNS_MARKER,
    UnsafeFolderError,
    inside,
    process_alive,
)
from sim.runner.digest import STORE_FORMAT, canonical, scenario_digest, spec_digest
from sim.runner.spec import RunOutcome, RunSpec
from sim.scenario import Scenario

_WARNED: set[tuple[str, int]] = set()  # damaged records already reported by this process


def default_store(scenario: Scenario, root: str | Path = "results") -> Path:
    """`root/<scenario>/runs`: where finished runs of a scenario are kept for resuming."""
    return inside(root, scenario.name, "runs")


def output_folder(scenario: Scenario, specs: Iterable[RunSpec], kind: str = "compare",
                  root: str | Path = "results") -> Path:
    """`root/<scenario>/<kind>-<hash>`: the same scenario and grid always give the same name."""
    digest = scenario_digest(scenario)
    keys = sorted(spec_digest(digest, spec) for spec in specs)
    grid = hashlib.sha256(canonical([digest, keys]).encode()).hexdigest()[:12]
    return inside(root, scenario.name, f"{kind}-{grid}")


class RunStore:
    """Finished runs of one scenario, one small JSON file each in `folder`.

    Files are written to a temporary name and renamed into place, so a file that exists is
    complete; temporary leftovers of an interrupted write are ignored (and removed by `clear`).
    Each record carries the key it was made for and a sha256 of its content: a record that is
    damaged, altered or misplaced is ignored with a warning and its run done again. The folder
    is marked as a runs cache (`.capsim-runs`); a folder holding anything else is refused.
    """

    def __init__(self, folder: str | Path, scenario: Scenario,
                 warn: Callable[[str], None] | None = None) -> None:
        self.runs = Path(folder)
        self.scenario = scenario
        self.digest = scenario_digest(scenario)
        self.warn = warn if warn is not None else _warn_stderr
        self._tidied = False
        check_runs_folder(self.runs)

    def path(self, spec: RunSpec) -> Path:
        return self.runs / f"{spec_digest(self.digest, spec)}.json"

    def _warn_once(self, path: Path, message: str) -> None:
        """One warning per damaged record and process, however many stores read it (compare
        reads replication 0 twice: to decide what to run, then for its tables)."""
        key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        if key not in _WARNED:
            _WARNED.add(key)
            self.warn(message)

    def load(self, spec: RunSpec, index: int = -1) -> RunOutcome | None:
        """The stored outcome of `spec`, or None if it has not finished; a record that cannot be
        trusted gives None and a one-line warning, so the run is done again."""
        path = self.path(spec)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn_once(path, f"warning: {path}: cannot read this run record "
                                  f"({exc.strerror or exc}); running it again")
            return None
        record, problem = _checked_record(text, path.stem, self.digest)
        if record is None:
            self._warn_once(path, f"warning: {path}: ignored a damaged run record ({problem}); "
                                  "running it again")
            return None
        return RunOutcome(spec, record["seed"], record["metrics"], record["summary"], index=index,
                          scenario=record["scenario"], elapsed_s=record["elapsed_s"],
                          cpu_s=record["cpu_s"], events=record["events"],
                          attempts=record["attempts"], cached=True)

    def save(self, outcome: RunOutcome) -> Path:
        """Write a finished (successful) run atomically, with its key and checksum."""
        spec = outcome.spec
        target = self.path(spec)
        record = {
            "format": STORE_FORMAT, "key": target.stem, "scenario": outcome.scenario,
            "scenario_hash": self.digest,
            "spec": {"policy": spec.policy, "replication": spec.replication,
                     "changes": [[k, v] for k, v in spec.changes],
                     "labels": [[k, v] for k, v in spec.labels]},
            "seed": outcome.seed, "elapsed_s": outcome.elapsed_s, "cpu_s": outcome.cpu_s,
            "events": outcome.events,
            "attempts": outcome.attempts, "metrics": outcome.metrics, "summary": outcome.summary,
        }
        record = json.loads(json.dumps(record, default=str))  # exactly what a reader sees
        record["checksum"] = record_checksum(record)
        self._claim()
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(record))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def _claim(self) -> None:
        """Create the folder and mark it as a runs cache (checked again: it may have changed)."""
        check_runs_folder(self.runs)
        self.runs.mkdir(parents=True, exist_ok=True)
        marker = self.runs / RUNS_MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"made_by": "capsim", "kind": "runs"}) + "\n")
            return
        if not self._tidied:
            self._tidied = True
            _remove_stale_temporaries(self.runs)
    def tables_path(self, spec: RunSpec) -> Path:
        """Folder of the full tables of `spec`, kept for runs whose time series are plotted."""
        return self.runs / spec_digest(self.digest, spec)

    def save_tables(self, spec: RunSpec, result: Any) -> Path:
        """Keep the full tables of a finished run (a `RunResult`), as Parquet, atomically."""
        return result.save(self.tables_path(spec), cache=True)

    def load_tables(self, spec: RunSpec) -> Any:
        """The stored `RunResult` of `spec` with its tables, or None (not kept, or unreadable)."""
        from sim.results import RunResult, has_tables

        folder = self.tables_path(spec)
        if self.load(spec) is None or not has_tables(folder):
            return None
        try:
            return RunResult.load(folder)
        except (OSError, ValueError, KeyError):
            return None

    def count(self) -> int:
        """Finished runs on disk (temporary files not counted)."""
        return sum(1 for _ in self.runs.glob("[!.]*.json")) if self.runs.exists() else 0

    def forget(self, specs: Iterable[RunSpec]) -> None:
        """Delete the stored runs of `specs` (`--fresh`)."""
        for spec in specs:
            self.path(spec).unlink(missing_ok=True)
            shutil.rmtree(self.tables_path(spec), ignore_errors=True)

    def clear(self) -> None:
        """Delete the whole folder: every stored run and temporary leftover (only a folder that
        is a runs cache: checked again here)."""
        if self.runs.is_dir():
            check_runs_folder(self.runs)
            shutil.rmtree(self.runs)


_RECORD_FILE = re.compile(r"^(?:[0-9a-f]{24}\.json|\.[0-9a-f]{24}\.\d+\.tmp)$")
_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (int,), "key": (str,), "scenario": (str,), "scenario_hash": (str,),
    "seed": (int,), "elapsed_s": (int, float), "cpu_s": (int, float), "events": (int,),
    "attempts": (int,), "metrics": (dict,), "summary": (dict,), "checksum": (str,),
}


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def check_runs_folder(folder: Path) -> None:
    """Refuse a runs folder that holds anything but runs (a user's folder, a result folder)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UnsafeFolderError(f"{folder}: is a file; the runs cache must be a folder")
    if (folder / RUNS_MARKER).is_file():
        return
    names = [p.name for p in folder.iterdir()]
    if MARKER in names or not all(_RECORD_FILE.match(n) for n in names):
        listing = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
        raise UnsafeFolderError(
            f"{folder}: capsim keeps finished runs here, but the folder holds other files "
            f"({listing}); move them away or choose another --out")


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written records (`.<key>.<pid>.tmp`) of processes that are gone."""
    for path in folder.glob(".*.tmp"):
        m = _RECORD_FILE.match(path.name)
        pid = path.name.rsplit(".", 2)[-2]
        if m is None or not pid.isdigit() or process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < PROCESS_START:
                path.unlink()


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of a run record's canonical JSON, without its own checksum field."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _checked_record(text: str, key: str, digest: str) -> tuple[dict[str, Any] | None, str]:
    """The record in `text` if it is whole and was made for `key` (else None and why)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}"
    missing = [name for name in _FIELDS if name not in record]
    if missing:
        return None, f"missing {', '.join(missing)}"
    for name, types in _FIELDS.items():
        value = record[name]
        if not isinstance(value, types) or isinstance(value, bool):
            return None, f"{name} has the wrong type ({type(value).__name__})"
    if record["format"] != STORE_FORMAT:
        return None, f"format {record['format']}, expected {STORE_FORMAT}"
    if record["checksum"] != record_checksum(record):
        return None, "checksum does not match the content: edited or corrupted"
    if record["key"] != key or record["scenario_hash"] != digest:
        return None, "made for another run: key mismatch"
    if not all(isinstance(k, str) and (v is None or isinstance(v, int | float))
               and not isinstance(v, bool) for k, v in record["metrics"].items()):
        return None, "metrics are not all numbers"
    return record, ""


# ---------------------------------------------------------------- many runs
