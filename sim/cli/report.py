"""`capsim report`: one self-contained HTML page of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def write(folder: Path) -> Path:
    """Write the folder's report.html; a folder that cannot be written is a user error."""
    from sim.errors import UserError
    from sim.report import write_report

    try:
        return write_report(folder)
    except OSError as exc:
        raise UserError(f"cannot write the report into {folder}/: {exc.strerror or exc}") from None


def command(args: argparse.Namespace) -> int:
    """Write report.html into the folder and print its path."""
    print(write(Path(args.results)))
    return 0


def add(sub: Any) -> None:
    """Register `capsim report`."""
    p = sub.add_parser(
        "report", help="write one self-contained HTML report of a results folder",
        description="Write report.html into the folder of `capsim run`, `compare`, `sweep` or "
                    "`plan`: what was run, the headline figures with intervals, differences to "
                    "the baseline, the plots and the scenario file, in one file that opens from "
                    "disk in any browser and loads nothing from the network.")
    p.add_argument("results", help="results folder")
    p.set_defaults(func=command)
