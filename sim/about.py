"""Which capsim made a result: the package version and a digest of the model code.

The digest hashes the source a run's numbers depend on, listed by name in `RUN_CODE`, so two
results with the same digest came from the same model code even between releases, and a change to
the planner, the plots or the CLI does not invalidate stored runs.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

# Modules and packages (relative to sim/) whose source changes a run's numbers or its summary.
RUN_CODE = (
    "fields.py", "timeparse.py", "errors.py",
    "scenario", "policies", "latency", "engine", "results",
    "runner/spec.py", "runner/job.py", "runner/digest.py",
)


@lru_cache(maxsize=1)
def version() -> str:
    """capsim's installed version ('0.1.0'), or '0+unknown' when run from an uninstalled tree."""
    try:
        return metadata.version("capsim")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def source_digest(package: Path = PACKAGE) -> str:
    """sha256 of the source of every module in `RUN_CODE` under `package` (path and content)."""
    h = hashlib.sha256()
    for name in RUN_CODE:
        root = package / name
        paths = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in paths:
            rel = path.relative_to(package).as_posix()
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_digest(length: int = 12) -> str:
    """The first `length` hex digits of `source_digest()`."""
    return source_digest()[:length]


def version_text() -> str:
    """'capsim 0.1.0 (code 1a2b3c4d5e6f)': what `capsim --version` prints."""
    return f"capsim {version()} (code {code_digest()})"


def provenance() -> dict[str, str]:
    """The version and code digest stamped on every result's metadata."""
    return {"capsim_version": version(), "code_digest": code_digest()}
