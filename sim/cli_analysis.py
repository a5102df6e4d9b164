"""The `capsim compare`, `capsim sweep` and `capsim plot` commands (registered in sim.cli).

Each is a thin layer over `sim.analysis` and `sim.plots`: parse options, check them before any
run starts (mistakes are a `UserError`, exit code 2), show progress on stderr, print the table
on stdout, write tables and plots to a results folder.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sim.errors import UserError
from sim.outputs import output_path, save_results


class ProgressBar:
    """A rich progress bar on stderr (runs done, rate, time left), started on the first update.

    When stderr is not a terminal rich draws only the final state; `quiet` draws nothing.
    """

    def __init__(self, label: str, quiet: bool = False, unit: str = "runs") -> None:
        self.label = label
        self.quiet = quiet
        self.unit = unit
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or (total == 0 and self.progress is None):  # nothing to do: no bar
            return
        if self.progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
            from rich.text import Text

            unit = self.unit

            class StatusColumn(ProgressColumn):
                """'12/40 runs · 2.31 runs/s · 0:00:05 elapsed · 0:00:12 left' on one line."""

                def render(self, task: Any) -> Text:
                    speed = task.finished_speed or task.speed
                    rate = f"{speed:.2f} {unit}/s" if speed else f"– {unit}/s"
                    left = task.time_remaining
                    left_text = ("0:00:00" if task.finished else
                                 _clock(left) if left is not None else "–:––:––")
                    return Text(f"{int(task.completed)}/{int(task.total or 0)} {unit} · {rate} · "
                                f"{_clock(task.finished_time or task.elapsed or 0.0)} elapsed · "
                                f"{left_text} left", no_wrap=True)

            console = Console(stderr=True)
            bar = [BarColumn(bar_width=24)] if console.is_terminal else []  # piped: text only
            self.progress = Progress(TextColumn("{task.description}"), *bar, StatusColumn(),
                                     console=console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _positive(name: str) -> Callable[[str], int]:
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


def _policies(text: str | None, default: list[str]) -> list[str]:
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


def _out_dir(args: argparse.Namespace, scenario: str, kind: str) -> Path:
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


def _report_failures(failures: list[Any]) -> int:
    if not failures:
        return 0
    print(f"warning: {len(failures)} run(s) failed; their metrics are missing:", file=sys.stderr)
    for f in failures[:10]:
        print(f"  {f}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more", file=sys.stderr)
    return 1


def _save(result: Any, out: Path, args: argparse.Namespace) -> None:
    """Write the results folder, with a progress bar of files written (several at once with
    --workers)."""
    extra: dict[str, Any] = {}
    if hasattr(args, "tables"):  # compare: full tables of replication 0 on request
        extra = {"tables": _tables(args.tables, result), "format": args.format}
    from sim.plots import figure_makers

    plots = {} if args.no_plots else figure_makers(result)
    with ProgressBar("write results", args.quiet, unit="files") as bar:
        save_results(lambda: result.save(out, plots=plots, workers=args.workers,
                                          progress=bar, **extra), out)


def _tables(text: str | None, result: Any) -> list[str]:
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


def _run_options(args: argparse.Namespace, scenario: Any) -> dict[str, Any]:
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
def _interruptible(options: dict[str, Any]) -> Iterator[None]:
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


def _where(args: argparse.Namespace) -> str:
    if args.dask == "local":
        return f"a local Dask cluster of {args.workers} workers"
    if args.dask:
        return f"the Dask cluster at {args.dask}"
    return f"{args.workers} worker{'s' if args.workers > 1 else ''}"


def _cmd_compare(args: argparse.Namespace) -> int:
    from sim.analysis import DEFAULT_POLICIES, compare
    from sim.analysis.compare import check_policies
    from sim.checks import check_runs, load_checked

    scenario = load_checked(args)
    policies = _policies(args.policies, list(DEFAULT_POLICIES))
    try:
        check_policies(policies, args.baseline)
    except ValueError as exc:
        raise UserError(f"--policies: {exc}" if "baseline" not in str(exc)
                        else f"--baseline: {exc}") from None
    check_runs(args, scenario, len(policies) * args.replications)
    return _run_and_save(
        args, scenario, "compare", len(policies) * args.replications, "plots",
        lambda bar, options: compare(scenario, policies, args.replications, args.baseline,
                                     progress=bar, **options))


def _run_and_save(args: argparse.Namespace, scenario: Any, kind: str, n: int, plots: str,
                  start: Callable[[ProgressBar, dict[str, Any]], Any]) -> int:
    """Run a compare or sweep of `n` runs with a progress bar (Ctrl-C keeps finished runs),
    save it, print its report and timings; the exit code says whether any run failed."""
    out = _out_dir(args, scenario.name, kind)
    t0 = time.perf_counter()
    options = _run_options(args, scenario)
    with ProgressBar(f"{kind} {scenario.name}", args.quiet) as bar, _interruptible(options):
        result = start(bar, options)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    _save(result, out, args)
    saved = time.perf_counter() - t1
    print(result.report())
    new, reused = result.simulated, result.reused
    rate = f" ({new / elapsed:.2f} runs/s on {_where(args)})" if new else ""
    again = f"; {reused} reused from the store" if reused else ""
    print(f"\n{new} of {n} runs simulated in {elapsed:.1f} s{rate}{again}; tables"
          f"{'' if args.no_plots else ' and ' + plots} written in {saved:.1f} s to {out}/")
    return _report_failures(result.failures)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.analysis import SettingError, parse_setting, sweep
    from sim.analysis.compare import check_policies
    from sim.analysis.sweep import check_settings
    from sim.checks import check_runs, load_checked

    scenario = load_checked(args)
    settings: dict[str, list[Any]] = {}
    try:
        for text in args.set:
            path, values = parse_setting(text)
            if path in settings:
                raise SettingError(f"{path}: given twice; put every value in one --set")
            settings[path] = values
        combos = check_settings(scenario, settings)
    except SettingError as exc:
        raise UserError(f"--set {exc}") from None
    if not args.force:  # a swept horizon or step can make one point too big
        from sim.engine.compile import size_problems
        from sim.scenario.changes import with_changes

        for combo in combos:
            for problem in size_problems(with_changes(scenario, combo)):
                shown = ", ".join(f"{k}={v}" for k, v in combo.items())
                raise UserError(f"--set {shown}: {'.'.join(problem.path)}: {problem.message}")
    policies = _policies(args.policies, list(dict.fromkeys(["open_market", scenario.policy.default])))
    try:
        check_policies(policies, args.baseline)
    except ValueError as exc:
        raise UserError(f"--policies: {exc}") from None
    points = math.prod(len(values) for values in settings.values())
    check_runs(args, scenario, points * len(policies) * args.replications)
    return _run_and_save(
        args, scenario, "sweep", points * len(policies) * args.replications, "plot",
        lambda bar, options: sweep(scenario, settings, policies, args.replications,
                                   args.baseline, progress=bar, **options))


def _cmd_plan(args: argparse.Namespace) -> int:
    """capsim plan: propose with the fast model, check with the engine, write plan.yaml/json."""
    from sim.checks import load_checked
    from sim.planning.planner import plan, plan_section
    from sim.scenario.risk import RiskError, parse_risk

    scenario = load_checked(args)
    plan_section(scenario, args.file)  # before any output folder is checked or runs start
    if args.risk is not None and args.max_shortfall_prob is not None:
        raise UserError("--risk and --max-shortfall-prob: give one of them")
    risk_text = args.risk
    if args.max_shortfall_prob is not None:
        if not 0 <= args.max_shortfall_prob <= 1:
            raise UserError(f"--max-shortfall-prob: a probability from 0 to 1, got "
                            f"{args.max_shortfall_prob}")
        risk_text = f"shortfall:{args.max_shortfall_prob}"
    try:
        risk = parse_risk(risk_text) if risk_text is not None else None
    except RiskError as exc:
        raise UserError(f"--risk: {exc}") from None
    if args.portfolio is not None and not Path(args.portfolio).is_file():
        raise UserError(f"--portfolio: {args.portfolio}: no such file")
    out = _out_dir(args, scenario.name, "plan")
    options = _run_options(args, scenario)
    t0 = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    with ProgressBar(f"plan {scenario.name}: engine checks", args.quiet) as bar, \
            _interruptible(options):
        result = plan(args.file, portfolio=args.portfolio, risk=risk, policy=args.policy,
                      replications=args.replications, check_replications=args.check_replications,
                      candidates=args.candidates, progress=bar, log=log, **options)
    elapsed = time.perf_counter() - t0
    from sim.plots import figure_makers

    plots = {} if args.no_plots else figure_makers(result)
    save_results(lambda: result.save(out, plots), out)
    print(result.report())
    print(f"\n{result.simulated} engine runs simulated, {result.reused} reused, in "
          f"{elapsed:.1f} s; plan.yaml, plan.json and tables written to {out}/")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
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


def _common(p: argparse.ArgumentParser, replications: int) -> None:
    p.add_argument("--replications", "-n", type=_positive("--replications"),
                   default=replications, metavar="N",
                   help=f"replications per policy (and per swept point; default: {replications})")
    p.add_argument("--baseline", metavar="POLICY", help="policy that differences are taken against "
                                      "(default: the first of --policies)")
    p.add_argument("--workers", type=_positive("--workers"), metavar="N",
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
    from sim.checks import add_check_options

    add_check_options(p)
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (the final table is still printed)")


def add_commands(sub: Any) -> None:
    """Register compare, sweep, plan and plot on the `capsim` subcommand parser."""
    p = sub.add_parser(
        "compare",
        help="compare policies over replications: a table with 95%% intervals, and plots",
        description="Run every policy × replication with common random numbers and print each "
                    "summary metric as mean ± 95% CI per policy, with the paired difference "
                    "to the baseline policy; write the tables and plots to a results folder.")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--policies", metavar="NAMES", help="comma-separated policy names, or 'all' "
                   "(default: open_market,microsoft_first,perf_per_dollar,diversified; the "
                   "first is the baseline)")
    _common(p, 10)
    p.add_argument("--tables", nargs="?", const="", metavar="POLICIES",
                   help="also write the full tables (steps, jobs, services, ...) of replication "
                        "0 of these policies to tables/<policy>/: comma-separated names, 'all', "
                        "or no value for the baseline (default: none; every run's summary "
                        "figures are always in metrics.csv)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="format of full run tables written with --tables (default: parquet; "
                        "csv is about ten times larger and slower)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "sweep",
        help="run a scenario over values of its fields: a table and a plot per metric",
        description="Run every combination of --set values × policies × replications; print "
                    "the headline metrics per point and write the tables and a plot.")
    p.add_argument("file", help="scenario YAML file")
    p.add_argument("--set", action="append", required=True, metavar="PATH=V1,V2,...",
                   help="a scenario field by dotted path and the values to try (YAML), e.g. "
                        "providers.gcp.pools.tpu-v6e.price_per_hour=1.5,1.9,2.5; repeat for a "
                        "grid")
    p.add_argument("--policies", metavar="NAMES", help="comma-separated policy names, or 'all' "
                   "(default: open_market and the scenario's policy.default; the first is the "
                   "baseline)")
    _common(p, 5)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "plan",
        help="choose what to commit where: cheapest expected total cost within a risk bound",
        description="Read the scenario's `plan:` section (what may be bought, and the what-if "
                    "worlds), propose plans with a fast fluid model (a linear program), check "
                    "the best with the engine on unseen seeds, and write plan.yaml (the scenario "
                    "with the chosen purchases), plan.json, tables and plots.")
    p.add_argument("file", help="scenario YAML file with a `plan:` section")
    p.add_argument("--portfolio", metavar="FILE",
                   help="a YAML file with a `worlds:` mapping that replaces the section's worlds")
    p.add_argument("--risk", metavar="SPEC",
                   help="none | cvar:LEVEL (bound: the hand plan's CVaR) | cvar:LEVEL<=DOLLARS | "
                        "shortfall:PROB (default: the section's `risk`)")
    p.add_argument("--max-shortfall-prob", type=float, metavar="P",
                   help="bound on the share of service hours below target (= --risk "
                        "shortfall:P)")
    p.add_argument("--policy", metavar="NAME",
                   help="policy plans are judged under (default: the section's, else the "
                        "scenario's policy.default)")
    p.add_argument("--replications", "-n", type=_positive("--replications"), metavar="N",
                   help="replications per world for the fast model (default: the section's)")
    p.add_argument("--check-replications", type=_positive("--check-replications"), metavar="N",
                   help="engine replications per world and candidate (default: the section's)")
    p.add_argument("--candidates", type=_positive("--candidates"), metavar="N",
                   help="proposals the engine checks besides the hand plan (default: the "
                        "section's)")
    p.add_argument("--workers", type=_positive("--workers"), metavar="N",
                   help="local processes to run on (default: every core)")
    p.add_argument("--dask", metavar="ADDRESS", help="run the engine checks on a Dask cluster")
    p.add_argument("--fresh", action="store_true",
                   help="run the engine checks again instead of reusing finished runs")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: results/<scenario>/plan-<time>)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    from sim.checks import add_check_options

    add_check_options(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("plot", help="redraw the plots of a results folder without rerunning",
                       description="Redraw plots from the folder of `capsim compare`, `capsim "
                                   "sweep` or `capsim run`.")
    p.add_argument("results", help="results folder")
    p.add_argument("--out", help="where to write the PNGs (default: the results folder)")
    p.set_defaults(func=_cmd_plot)
