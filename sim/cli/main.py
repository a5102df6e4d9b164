"""The `capsim` command: a thin layer over the Python API, one module a command.

User mistakes (bad scenario files, unknown policies, bad options) print one clear line per problem
and exit with code 2, never a traceback."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sim.cli import compare, plan, plot, policies, report, run, schema, sweep, validate
from sim.cli.options import (
    EXIT_TERMINATED,
    EXIT_USER_ERROR,
)
from sim.errors import UserError


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C (workers stopped, finished runs kept), exit 143."""


def _sigterm_handler(owner: int) -> Callable[[int, object], None]:
    """A SIGTERM handler that stops the `capsim` process like Ctrl-C; a process forked from it
    (which inherits the handler) just ends, as it would by default."""

    def handle(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    return handle


class _Version(argparse.Action):
    """`--version`: print capsim's version and code digest (worked out only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from sim.about import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The `capsim` parser with every command registered by its module."""
    parser = argparse.ArgumentParser(
        prog="capsim", description="Multi-cloud capacity planning simulator for AI compute.")
    parser.add_argument("--version", action=_Version,
                        help="print capsim's version and the digest of its model code")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (run, validate, schema, policies, compare, sweep, plan, plot, report):
        command.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `capsim` command; returns the exit code."""
    from sim.scenario import ScenarioError
    from sim.scenario.models import MAX_INT

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "seed", None) is not None and not 0 <= args.seed <= MAX_INT:
        parser.error(f"--seed must be a whole number from 0 to {MAX_INT:,} (2^63 - 1), "
                     f"got {args.seed}")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_handler(os.getpid()))
    try:
        return int(args.func(args))
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except ScenarioError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # e.g. --out in a folder that cannot be created or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
