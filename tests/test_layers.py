"""The layers run one way down (pyproject.toml's import-linter contract: cli > plots > planning >
analysis > api > runner > results > engine > latency > scenario > policies > about/fields >
timeparse/errors), imports inside functions included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the `sim` package found under `root`, with the project's contract."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=root, env={"PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contract_is_kept() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_inside_a_function_breaks_it(tmp_path: Path) -> None:
    """The scenario layer reaching up to the engine from inside a function (the kind of import
    that once closed an 18-module loop) is caught."""
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    paths = tmp_path / "sim" / "scenario" / "paths.py"
    paths.write_text(paths.read_text() + "\n\ndef _up() -> None:\n    from sim.engine import pools  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "sim.scenario.paths -> sim.engine.pools" in done.stdout
