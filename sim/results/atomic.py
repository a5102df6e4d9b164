"""Write a results folder safely: never delete what capsim did not make, never lose a result.

Every folder capsim writes carries a small marker file (`.capsim-result`; `.capsim-runs` for a
runs cache). `atomic_folder` writes into a hidden temporary sibling and replaces the target only
if the target is missing, empty, or a capsim result: old renamed aside, new renamed in, old
removed. A crash at any point leaves a complete old or a complete new result; the next save into
the same parent puts back a result a crash left aside and removes stale temporary folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".capsim-result"  # in every result folder capsim writes
RUNS_MARKER = ".capsim-runs"  # in a runs cache (results/<scenario>/runs/)
_TEMP = re.compile(r"^\.capsim-(?P<kind>tmp|old)-(?P<name>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
PROCESS_START = time.time()  # temporary folders older than this and not ours may be stale


class UnsafeFolderError(ValueError):
    """Writing to this folder could delete something capsim did not make; nothing was written."""


def is_result(folder: Path) -> bool:
    """True for a folder capsim wrote (it holds the result marker)."""
    return (folder / MARKER).is_file()


def _write_marker(folder: Path, complete: bool) -> None:
    text = json.dumps({"made_by": "capsim", "kind": "result", "complete": complete})
    (folder / MARKER).write_text(text + "\n")


def _complete(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / MARKER).read_text()).get("complete"))
    except (OSError, ValueError, AttributeError):
        return False


def _is_ancestor_or_same(folder: Path, other: Path) -> bool:
    return folder == other or folder in other.parents


def check_target(directory: str | Path, results_root: str | Path | None = None,
                 cache: bool = False) -> Path:
    """`directory` resolved, if writing a result there deletes nothing capsim did not make.

    Refused (UnsafeFolderError): the current folder or one of its parents, `results_root` or
    one of its parents, a runs cache or anything inside one, a file, and an existing non-empty
    folder without the capsim marker (the user's files)."""
    target = Path(directory).absolute()
    resolved = target.resolve()
    cwd = Path.cwd().resolve()
    if _is_ancestor_or_same(resolved, cwd):
        raise UnsafeFolderError(
            f"{directory}: is the current folder or one of its parents; capsim replaces the "
            "whole output folder, so give a new folder (e.g. --out results/mine)")
    if results_root is not None and _is_ancestor_or_same(resolved, Path(results_root).resolve()):
        raise UnsafeFolderError(
            f"{directory}: holds every result under {results_root}/; give a folder of its own "
            f"(e.g. {Path(results_root) / 'mine'})")
    for folder in () if cache else (resolved, *resolved.parents):  # the cache keeps its own
        if (folder / RUNS_MARKER).is_file():
            raise UnsafeFolderError(
                f"{directory}: is inside the runs cache {folder}/ (finished runs reused by "
                "compare and sweep); give a folder outside it")
    if resolved.exists() and not resolved.is_dir():
        raise UnsafeFolderError(f"{directory}: is a file, not a folder; give a folder")
    if resolved.is_dir() and not is_result(resolved) and any(resolved.iterdir()):
        shown = sorted(p.name for p in resolved.iterdir())
        listing = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        legacy = any((resolved / n).is_file() for n in ("meta.json", "compare.json",
                                                         "sweep.json"))
        hint = (" (if it is a result of a capsim older than its .capsim-result marker, delete "
                "it yourself)" if legacy else "")
        raise UnsafeFolderError(
            f"{directory}: already holds files capsim did not write ({listing}); capsim "
            "replaces its output folder and will not delete them: give a new or empty folder, "
            f"or move them away first{hint}")
    return target


def process_alive(pid: int) -> bool:
    """True while process `pid` exists (ours included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover(parent: str | Path) -> None:
    """Tidy what an interrupted save left in `parent`: put a complete result back where a crash
    left none (the new one if it was complete, else the old one), remove the rest.

    Touches only hidden folders with capsim's prefix and marker, made by a process that is gone
    and older than this process, so a save running now elsewhere is left alone."""
    parent = Path(parent)
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    stale: dict[str, list[tuple[str, Path]]] = {}
    for path in entries:
        m = _TEMP.match(path.name)
        if m is None or not path.is_dir() or path.is_symlink() or not is_result(path):
            continue
        try:
            old_enough = path.stat().st_mtime < PROCESS_START
        except OSError:
            continue
        if old_enough and not process_alive(int(m["pid"])):
            stale.setdefault(m["name"], []).append((m["kind"], path))
    for name, found in stale.items():
        target = parent / name
        if not target.exists():
            news = [p for kind, p in found if kind == "tmp" and _complete(p)]
            olds = [p for kind, p in found if kind == "old"]
            keep = max(news or olds, key=lambda p: p.stat().st_mtime, default=None)
            if keep is not None:
                os.replace(keep, target)
                found = [(k, p) for k, p in found if p != keep]
        for _, path in found:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def atomic_folder(directory: str | Path, cache: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `directory`; on success it replaces `directory`, on any
    failure (Ctrl-C included) it is removed, so no half-written folder ever looks complete.

    Raises UnsafeFolderError, before writing anything, when `directory` holds files capsim did
    not write (see `check_target`). `cache`: a run's tables the runs cache keeps inside itself."""
    target = check_target(directory, cache=cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".capsim-tmp-{target.name}-{os.getpid()}-",
                                dir=target.parent))
    try:
        _write_marker(tmp, complete=False)
        yield tmp
        _write_marker(tmp, complete=True)
        check_target(target, cache=cache)  # the user may have put files there while we ran
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the old result aside, the new one in, then remove the old one; if the second
    rename fails, the old one goes back."""
    aside: Path | None = None
    if target.exists():
        aside = target.with_name(f".capsim-old-{target.name}-{os.getpid()}-"
                                 f"{secrets.token_hex(4)}")
        os.rename(target, aside)  # a fresh name: nothing there to replace
    try:
        os.replace(tmp, target)
    except BaseException:
        if aside is not None and not target.exists():
            os.replace(aside, target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def inside(root: str | Path, *names: str) -> Path:
    """`root/names...`, checked to stay inside `root` (no name may be '.', '..', empty, hidden
    or hold a separator), so a name from a scenario or a policy never leads elsewhere."""
    path = Path(root)
    for name in names:
        if (not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name
                or any(ord(c) < 32 for c in name)):
            raise UnsafeFolderError(f"{name!r} cannot name a folder under {root}/")
        path = path / name
    base = Path(root).resolve()
    if not path.resolve().is_relative_to(base) or path.resolve() == base:
        raise UnsafeFolderError(f"{path}: leaves {root}/")
    return path


__all__ = ["MARKER", "RUNS_MARKER", "UnsafeFolderError", "atomic_folder", "check_target",
           "inside", "is_result", "process_alive", "recover"]
