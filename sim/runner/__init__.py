"""Run many simulations (policies × replications × changes), in parallel, without losing any.

Each run is described by a `RunSpec`; its random streams depend only on the (changed) scenario
seed and the replication index, never on the policy, the order of execution, the batch it ran
in or the executor, so the numbers are the same on 1 process, 8 processes or a Dask cluster, and
replication i of every policy sees the same world (common random numbers).

    for outcome in run_many(scenario, specs, workers=2, store_dir=default_store(scenario),
                            on_skip=lambda n: print(f"{n} runs already done")):
        ...  # outcome.ok, outcome.metrics, outcome.error, outcome.index (position in specs)

With `store_dir`, every finished run is written at once to `store_dir/<key>.json` (atomically);
the key hashes the scenario's full content, the source of the code a run depends on, and the
spec's policy, replication and changes. A later call yields runs found there without running
them again (`cached=True`), whatever grid they were part of; `fresh=True` forgets this grid's
runs first. The default store, `results/<scenario>/runs/`, is a cache shared by every command on
that scenario. A run that raises comes back as an outcome with `error` set (and is not stored,
so a re-run tries it again); a run whose worker died is retried up to `retries` times, then
reported the same way.
"""

from sim.runner.digest import STORE_FORMAT, scenario_digest, spec_digest
from sim.runner.job import execute
from sim.runner.outcomes import outcomes_frame
from sim.runner.schedule import TASK_SECONDS, run_many
from sim.runner.spec import RunOutcome, RunSpec
from sim.runner.store import RunStore, check_runs_folder, default_store, output_folder, record_checksum

__all__ = ["STORE_FORMAT", "TASK_SECONDS", "RunOutcome", "RunSpec", "RunStore", "check_runs_folder",
           "default_store", "execute", "outcomes_frame", "output_folder", "record_checksum", "run_many",
           "scenario_digest", "spec_digest"]
