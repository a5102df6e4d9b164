"""Documentation a user gets with the repository: links that resolve inside it, a notebook
committed with its outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def markdown_sources() -> list[tuple[Path, str]]:
    out = [(ROOT / "README.md", (ROOT / "README.md").read_text()),
           (ROOT / "docs" / "model.md", (ROOT / "docs" / "model.md").read_text())]
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    out += [(NOTEBOOK, "".join(c["source"])) for c in cells if c["cell_type"] == "markdown"]
    return out


@pytest.mark.parametrize(("path", "text"), markdown_sources(),
                         ids=lambda x: x.name if isinstance(x, Path) else "")
def test_relative_links_resolve_inside_the_repository(path: Path, text: str) -> None:
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"
    assert "shared/MODEL.md" not in text


def test_notebook_is_committed_with_its_outputs_and_small_images() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "run the notebook before committing it"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    images = [o["data"]["image/png"] for c in code for o in c["outputs"]
              if "image/png" in o.get("data", {})]
    assert len(images) >= 10
    assert max(map(len, images)) < 200_000 and NOTEBOOK.stat().st_size < 1_500_000


def test_every_command_and_option_the_readme_names_exists() -> None:
    """`capsim CMD ... --opt` in the README: CMD is a command and --opt one of its options."""
    import argparse
    import re

    from sim.cli import build_parser

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    named = [m.group(1) for m in re.finditer(r"`(capsim [^`]+)`", readme)]
    assert len(named) > 10
    for text in named:
        words = text.split()
        cmd = words[1]
        if cmd.startswith("-"):
            assert cmd in parser._option_string_actions, text
            continue
        assert cmd in sub.choices or cmd.isupper(), f"README names a command that does not exist: {text}"
        if cmd not in sub.choices:
            continue
        options = sub.choices[cmd]._option_string_actions
        for opt in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text):
            assert opt in options, f"README: {text!r}: capsim {cmd} has no option {opt}"


def test_training_reliability_section_names_only_fields_and_columns_that_exist() -> None:
    """Every `snake_case` name in docs/model.md's "Training reliability at scale" is a scenario
    field (unit failures, restart, job traits, accelerator, pool) or a jobs column. Catches: the
    docs naming a field or column that was renamed or never built (e.g. `restart_time`)."""
    from sim.results.units import COLUMN_UNITS
    from sim.scenario.models import Accelerator, JobTraits, Pool, Restart, UnitFailures

    text = (ROOT / "docs" / "model.md").read_text()
    section = text.split("## Training reliability at scale", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z][a-z0-9_]*)(?::[^`]*)?`", section))
    known = {name for model in (UnitFailures, Restart, JobTraits, Accelerator, Pool)
             for name in model.model_fields} | set(COLUMN_UNITS["jobs"]) | {"auto"}
    assert {"failures", "mtbf", "planned_share", "checkpoint_write", "checkpoint_async",
            "restart", "spares", "ettr", "spare_idle_cost"} <= named
    assert named <= known, f"docs/model.md names what does not exist: {sorted(named - known)}"
