"""Analysis over many runs: compare policies, sweep scenario fields, intervals and tables.

Results are tidy DataFrames (one row per run and metric) plus tables of means with t-based 95%
confidence intervals and paired differences to a baseline policy (common random numbers make
replication i of every policy a pair).
"""

from sim.analysis.collect import Failure
from sim.analysis.compare import DEFAULT_POLICIES, Comparison, compare
from sim.analysis.metrics import HEADLINE, KEY_METRICS, Metric
from sim.analysis.stats import Interval, mean_ci, paired_diff_ci, t_quantile
from sim.analysis.sweep import SettingError, Sweep, parse_setting, sweep
from sim.analysis.tables import interval_table

__all__ = [
    "DEFAULT_POLICIES", "HEADLINE", "KEY_METRICS", "Comparison", "Failure", "Interval", "Metric",
    "SettingError", "Sweep", "compare", "interval_table", "mean_ci", "paired_diff_ci",
    "parse_setting", "sweep", "t_quantile",
]
