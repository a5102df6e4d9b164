"""Which capsim made a result: the package version and a short digest of the code.

The digest hashes the source a run's numbers depend on (`sim.runner.code_digest`), so two
results with the same digest came from the same model code even between releases.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def version() -> str:
    """capsim's installed version ('0.1.0'), or '0+unknown' when run from an uninstalled tree."""
    try:
        return metadata.version("capsim")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def code_digest(length: int = 12) -> str:
    """The first `length` hex digits of the digest of the code a run depends on."""
    from sim.runner import code_digest as full

    return full()[:length]


def version_text() -> str:
    """'capsim 0.1.0 (code 1a2b3c4d5e6f)': what `capsim --version` prints."""
    return f"capsim {version()} (code {code_digest()})"
