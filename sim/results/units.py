"""The unit of every column of the result tables, written beside them as `columns.csv`.

Column names stay short and stable (code reads them); their units live here, once, and go into
every saved run folder and into each Parquet column's metadata. "Reference units" are
accelerators of the scenario's reference speed (speed 1: the H100 in the shipped scenarios);
"units" are physical accelerators (GPUs, TPU chips) or vCPUs, whatever the pool holds.
"""

from __future__ import annotations

POOL_UNITS = "units (accelerators or vCPUs of the pool, step mean)"
REF_UNITS = ("reference units (speed-1 accelerators: H100-equivalent in the shipped scenarios; "
             "vCPUs for agents; step mean)")

_IDS = {"scenario": "", "policy": "", "replication": "", "seed": ""}

COLUMN_UNITS: dict[str, dict[str, str]] = {
    "steps": {
        **_IDS, "step": "step index", "hour": "h since start", "time": "date-time",
        "provider": "", "pool": "", "accelerator": "", "family": "gpu | tpu | cpu",
        "installed": POOL_UNITS, "outage_lost": POOL_UNITS,
        "in_repair": "units (failed units out for repair, step mean)", "tenant_cap": POOL_UNITS,
        "capacity": POOL_UNITS, "training": POOL_UNITS, "inference": POOL_UNITS,
        "agents": POOL_UNITS, "in_use": POOL_UNITS, "idle": POOL_UNITS,
        "committed": POOL_UNITS, "committed_used": POOL_UNITS,
        "price_per_hour": "$ per unit-hour", "spend_on_demand": "$ in the step",
        "spend_committed": "$ in the step", "spend": "$ in the step",
        "power_mw": "MW (step mean)", "power_ceiling_mw": "MW",
    },
    "jobs": {
        **_IDS, "job": "", "source": "", "frontier": "true | false", "priority": "",
        "units": "units (accelerators in the gang)",
        "spares": "units (held idle beside the gang, paid for)",
        "duration_h": "h of work on reference accelerators", "arrival_h": "h since start",
        "arrival": "date-time", "start_h": "h since start", "start": "date-time",
        "end_h": "h since start", "end": "date-time", "status": "", "wait_h": "h",
        "requeue_wait_h": "h",
        "provider": "", "pool": "", "first_provider": "", "accelerator": "",
        "restarts": "count (interruptions, every cause)", "interrupts_unit_failure": "count",
        "interrupts_planned": "count",
        "interrupts_outage": "count", "interrupts_preemption": "count", "interrupts_power": "count",
        "interrupts_reclaim": "count", "interrupts_capacity": "count",
        "work_done_h": "h of reference work",
        "work_lost_h": "h of reference work lost since the last checkpoint (recomputed)",
        "work_lost_unit_hours": "reference unit-h", "hours_writing_checkpoints": "h",
        "hours_restarting": "h", "checkpoint_interval_h": "h of work between checkpoints (last start)",
        "ettr": "fraction 0-1 (work kept / h from first start to end; empty if never started)",
        "mtti_h": "h from first start to end (horizon if unfinished) per interruption; empty "
                  "if never interrupted or never started",
        "unit_hours": "unit-h (units held × h, spares included)",
        "cost_at_list_price": "$ (spares included)", "spare_idle_cost": "$ (spares while idle)",
        "rofr_offer": "", "rofr_holder_free_units": POOL_UNITS,
        "waiting_for": "capacity | power | stockout | first_refusal",
    },
    "services": {
        **_IDS, "step": "step index", "hour": "h since start", "time": "date-time",
        "service": "", "kind": "inference | agents", "demand": REF_UNITS, "served": REF_UNITS,
        "unmet": REF_UNITS, "unmet_outage": REF_UNITS, "unmet_exclusivity": REF_UNITS,
        "unmet_capacity": REF_UNITS, "unmet_power": REF_UNITS, "unmet_stockout": REF_UNITS,
        "served_share": "fraction 0-1", "slo": "fraction 0-1",
        "slo_met": "true | false",
    },
    "service_providers": {
        **_IDS, "step": "step index", "hour": "h since start", "service": "", "provider": "",
        "served": REF_UNITS,
    },
    "events": {
        **_IDS, "hour": "h since start", "time": "date-time", "kind": "", "provider": "",
        "pool": "", "subject": "", "units": POOL_UNITS, "detail": "", "delay_h": "h",
    },
}


_SUFFIXES = (("_mw", "MW"), ("_h", "h"), ("_unit_hours", "unit-h"), ("_usd", "$"),
             ("cost", "$"), ("spend", "$"), ("_share", "fraction 0-1"))


def column_unit(table: str, column: str) -> str:
    """The unit of `table.column`: listed, else read from the name's suffix (`_h`, `_mw`,
    `cost`, `spend`...), else '' (a label or identifier)."""
    listed = COLUMN_UNITS.get(table, {}).get(column)
    if listed is not None:
        return listed
    for suffix, unit in _SUFFIXES:
        if column.endswith(suffix) or column.startswith(suffix):
            return unit
    return ""
