"""Where the CLI writes results, refused up front when writing there could delete something
capsim did not make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.errors import UserError

RESULTS_ROOT = Path("results")


def output_path(out: str | None, *default: str) -> Path:
    """--out if given, else results/<default...>; refused (UserError) before any work starts
    when writing there could delete something capsim did not make."""
    from sim.results.atomic import UnsafeFolderError, check_target, inside

    try:
        path = Path(out) if out else inside(RESULTS_ROOT, *default)
        check_target(path, results_root=RESULTS_ROOT)
    except UnsafeFolderError as exc:
        raise UserError(f"--out {exc}" if out else str(exc)) from None
    return path


def save_results(save: Any, out: Path) -> None:
    """Call `save()`; a folder that cannot be written, or may no longer be replaced, is a
    UserError."""
    from sim.results.atomic import UnsafeFolderError

    try:
        save()
    except OSError as exc:
        raise UserError(f"cannot write the results to {out}/: {exc.strerror or exc}") from None
    except UnsafeFolderError as exc:
        raise UserError(str(exc)) from None
