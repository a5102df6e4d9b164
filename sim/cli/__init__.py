"""The `capsim` command, one module a command (run, validate, schema, policies, compare, sweep,
plan, plot), with the options they share (options.py, batch.py, progress.py), the checks made
before any work (checks.py) and where results may be written (outputs.py)."""

from sim.cli.main import build_parser, main
from sim.cli.options import EXIT_USER_ERROR
from sim.cli.run import summary_text

__all__ = ["EXIT_USER_ERROR", "build_parser", "main", "summary_text"]
