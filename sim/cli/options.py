"""Options and helpers several commands share: exit codes, whole-number options, policy lists,
results folders and the options of every batch command (compare, sweep)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sim.cli.checks import add_check_options
from sim.cli.outputs import output_path
from sim.errors import UserError

EXIT_USER_ERROR = 2
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by SIGTERM


def positive(name: str) -> Callable[[str], int]:
    """An argparse type for a whole number of at least 1, with the option named in errors."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") \
                from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {value}")
        return value
    return parse


def policy_list(text: str | None, default: list[str]) -> list[str]:
    """The policies a --policies text names ('all', or names separated by commas)."""
    from sim.policies import policy_names

    if text is None:
        return default
    if text.strip() == "all":
        return list(policy_names())
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise UserError("--policies: give policy names separated by commas "
                        f"(known: {', '.join(policy_names())})")
    return names


def out_dir(args: argparse.Namespace, scenario: str, kind: str) -> Path:
    """--out (checked: it must not hold files capsim did not write), else a new
    results/<scenario>/<kind>-<time>."""
    if args.out:
        return output_path(args.out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = output_path(None, scenario, f"{kind}-{stamp}")
    n = 2
    while out.exists():  # two runs in the same second
        out = output_path(None, scenario, f"{kind}-{stamp}-{n}")
        n += 1
    return out


def add_common_options(p: argparse.ArgumentParser, replications: int) -> None:
    """The options of every batch command: replications, baseline, workers, Dask, store, output."""
    p.add_argument("--replications", "-n", type=positive("--replications"),
                   default=replications, metavar="N",
                   help=f"replications per policy (and per swept point; default: {replications})")
    p.add_argument("--baseline", metavar="POLICY", help="policy that differences are taken against "
                                      "(default: the first of --policies)")
    p.add_argument("--workers", type=positive("--workers"), metavar="N",
                   help="local processes to run on, or Dask workers with --dask local "
                        "(default: every core)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on the Dask cluster at ADDRESS (e.g. tcp://host:8786), or 'local' "
                        "to start a LocalCluster; needs pip install 'capsim[dask]'")
    p.add_argument("--fresh", action="store_true",
                   help="run everything again instead of reusing runs finished earlier "
                        "(kept in results/<scenario>/runs/, or runs/ beside --out)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: results/<scenario>/<command>-<time>)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--report", action="store_true",
                   help="also write report.html into the results folder: one self-contained "
                        "page (figures, plots, scenario) to open in any browser")

    add_check_options(p)
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (the final table is still printed)")
