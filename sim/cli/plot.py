"""`capsim plot`: redraw the plots of a results folder without rerunning."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import UserError


def command(args: argparse.Namespace) -> int:
    """Redraw the plots of a compare, sweep or run folder."""
    from sim.analysis import Comparison, Sweep
    from sim.analysis.compare import save_figures
    from sim.results import RunResult, has_tables

    folder = Path(args.results)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    out = Path(args.out) if args.out else folder
    if (folder / "compare.json").exists() or (folder / "sweep.json").exists():
        from sim.plots import figure_makers

        kind = Comparison if (folder / "compare.json").exists() else Sweep
        figures = {name: make() for name, make in figure_makers(kind.load(folder)).items()}
    elif has_tables(folder):
        from sim.plots import run_figures

        figures = run_figures(RunResult.load(folder))
    else:
        raise UserError(f"{folder}: not a capsim results folder (expected compare.json from "
                        f"`capsim compare`, sweep.json from `capsim sweep`, or summary.json "
                        f"from `capsim run`)")
    out.mkdir(parents=True, exist_ok=True)
    paths = save_figures(figures, out)
    for p in paths:
        print(p)
    return 0


def add(sub: Any) -> None:
    """Register `capsim plot`."""
    p = sub.add_parser("plot", help="redraw the plots of a results folder without rerunning",
                       description="Redraw plots from the folder of `capsim compare`, `capsim "
                                   "sweep` or `capsim run`.")
    p.add_argument("results", help="results folder")
    p.add_argument("--out", help="where to write the PNGs (default: the results folder)")
    p.set_defaults(func=command)
