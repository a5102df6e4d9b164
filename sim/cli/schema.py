"""`capsim schema`: the JSON Schema of scenario files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def command(args: argparse.Namespace) -> int:
    """Print (or write) the JSON Schema of scenario files."""
    from sim.scenario.schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def add(sub: Any) -> None:
    """Register `capsim schema`."""
    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(func=command)
