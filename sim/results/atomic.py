"""Write a results folder atomically: into a temporary sibling, moved into place at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(directory: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `directory`; on success it replaces `directory`, on any
    failure (Ctrl-C included) it is removed, so no half-written folder ever looks complete."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
