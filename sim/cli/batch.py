"""Running a batch command (compare, sweep): where runs go and are kept, Ctrl-C, saving the results
folder, the closing line and the exit code."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sim.cli.options import (
    out_dir,
)
from sim.cli.outputs import save_results
from sim.cli.progress import ProgressBar
from sim.errors import UserError


def report_failures(failures: list[Any]) -> int:
    """Warn about failed runs on stderr (the first ten); exit code 1 if any failed."""
    if not failures:
        return 0
    print(f"warning: {len(failures)} run(s) failed; their metrics are missing:", file=sys.stderr)
    for f in failures[:10]:
        print(f"  {f}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    return 1


def save_result(result: Any, out: Path, args: argparse.Namespace) -> None:
    """Write the results folder, with a progress bar of files written (several at once with
    --workers)."""
    extra: dict[str, Any] = {}
    if hasattr(args, "tables"):  # compare: full tables of replication 0 on request
        extra = {"tables": tables_asked(args.tables, result), "format": args.format}
    from sim.plots import figure_makers

    plots = {} if args.no_plots else figure_makers(result)
    with ProgressBar("write results", args.quiet, unit="files") as bar:
        save_results(lambda: result.save(out, plots=plots, workers=args.workers,
                                          progress=bar, **extra), out)


def run_options(args: argparse.Namespace, scenario: Any) -> dict[str, Any]:
    """`run_many` options from --workers, --dask and --fresh; finished runs are kept in
    results/<scenario>/runs/ (or runs/ beside --out) so that the same command run again skips
    them."""
    from sim.results.atomic import UnsafeFolderError
    from sim.runner import check_runs_folder, default_store
    from sim.runner.backends import DASK_HINT, default_workers

    if args.dask is not None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise UserError(f"--dask: {DASK_HINT}")
    args.workers = args.workers or default_workers()
    try:
        store = default_store(scenario)
        if args.out:
            out = Path(args.out)
            store = out.parent / ("runs" if out.name != "runs" else "runs-store")
        check_runs_folder(store)
    except UnsafeFolderError as exc:
        raise UserError(str(exc)) from None

    def on_skip(n: int) -> None:
        if n and not args.quiet:
            print(f"{n} run(s) already done are reused from {store}/ (--fresh runs them again)",
                  file=sys.stderr)

    return {"workers": args.workers, "dask": args.dask, "store_dir": store, "fresh": args.fresh,
            "on_skip": on_skip}


@contextlib.contextmanager
def interruptible(options: dict[str, Any]) -> Iterator[None]:
    """Ctrl-C says where the finished runs are kept; executor problems are user errors."""
    from sim.runner.backends import ExecutorError

    try:
        yield
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept in {options['store_dir']}/; run the same "
              "command again to go on from there", file=sys.stderr)
        raise
    except ExecutorError as exc:
        raise UserError(f"--dask: {exc}" if options["dask"] else str(exc)) from None


def where(args: argparse.Namespace) -> str:
    """Where the runs went, for the closing line ('2 workers', 'the Dask cluster at ...')."""
    if args.dask == "local":
        return f"a local Dask cluster of {args.workers} workers"
    if args.dask:
        return f"the Dask cluster at {args.dask}"
    return f"{args.workers} worker{'s' if args.workers > 1 else ''}"


def run_and_save(args: argparse.Namespace, scenario: Any, kind: str, n: int, plots: str,
                  start: Callable[[ProgressBar, dict[str, Any]], Any]) -> int:
    """Run a compare or sweep of `n` runs with a progress bar (Ctrl-C keeps finished runs),
    save it, print its report and timings; the exit code says whether any run failed."""
    out = out_dir(args, scenario.name, kind)
    t0 = time.perf_counter()
    options = run_options(args, scenario)
    with ProgressBar(f"{kind} {scenario.name}", args.quiet) as bar, interruptible(options):
        result = start(bar, options)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    save_result(result, out, args)
    saved = time.perf_counter() - t1
    print(result.report())
    if args.report:
        from sim.cli.report import write

        print(f"report: {write(out)}")
    new, reused = result.simulated, result.reused
    rate = f" ({new / elapsed:.2f} runs/s on {where(args)})" if new else ""
    again = f"; {reused} reused from the store" if reused else ""
    print(f"\n{new} of {n} runs simulated in {elapsed:.1f} s{rate}{again}; tables"
          f"{'' if args.no_plots else ' and ' + plots} written in {saved:.1f} s to {out}/")
    return report_failures(result.failures)


def tables_asked(text: str | None, result: Any) -> list[str]:
    """Policies whose full tables --tables asks for: none, the baseline (no value), 'all', or
    a comma-separated list of compared policies."""
    if text is None:
        return []
    if text == "":
        return [result.baseline]
    names = list(result.policies) if text.strip() == "all" else \
        [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in result.policies]
    if unknown:
        raise UserError(f"--tables: {', '.join(map(repr, unknown))} not among the policies "
                        f"compared ({', '.join(result.policies)})")
    missing = [p for p in names if p not in result.runs]
    if missing:
        print(f"warning: --tables: replication 0 of {', '.join(missing)} failed; no tables "
              "written for it", file=sys.stderr)
    return [p for p in names if p in result.runs]
