"""Shared by the report tests: results folders of the tiny scenario (and a small plan) made with
`--report`, an HTML reader from the standard library, and a reader of the figures as shown."""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny.yaml"
PLAN_SMALL = """\
name: plan_small
start: 2025-01-06
horizon: 14d
step: 1h
seed: 11
accelerators:
  h100: {family: gpu, power_kw: 1.0}
providers:
  azure:
    pools:
      h100:
        accelerator: h100
        capacity: [{at: 2025-01-06, units: 2000}]
        price_per_hour: 3.0
inference:
  chat: {base_units: 800, daily_amplitude: 0.4, noise: 0.1, value_per_unit_hour: 6.0}
policy:
  default: open_market
plan:
  buy:
    - pool: azure/h100
      commitment: {start: 2025-01-06, term: 14d, price_per_hour: 2.0,
                   units: {min: 0, max: 1600, step: 200}}
  worlds:
    base: {weight: 0.5}
    busy: {weight: 0.5, changes: {inference.chat.base_units: 1000}}
  replications: 2
  check_replications: 6
  candidates: 3
"""


BROWSER_MISSING = ("no headless browser for the report test: install the system Chromium "
                   "(Debian: apt-get install chromium) and playwright (pip install -e '.[test]')")


def system_chromium() -> str | None:
    """The system's Chromium: $CAPSIM_CHROMIUM, else the first of the usual names on PATH."""
    given = os.environ.get("CAPSIM_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing() -> bool:
    """True where the browser test cannot run (no playwright, or no system Chromium)."""
    import importlib.util

    return importlib.util.find_spec("playwright") is None or system_chromium() is None


def capsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def make_folders(base: Path, plan_scenario: str = PLAN_SMALL) -> dict[str, Path]:
    """A run, a compare, a sweep and a plan, each written with --report."""
    (base / "plan_small.yaml").write_text(plan_scenario)
    commands = {
        "run": ["run", str(TINY)],
        "compare": ["compare", str(TINY), "-n", "3", "--workers", "1", "--quiet"],
        "sweep": ["sweep", str(TINY), "--set", "horizon=3d,5d", "-n", "2", "--workers", "1",
                  "--quiet"],
        "plan": ["plan", "plan_small.yaml", "--workers", "1", "--quiet",
                 "--check-replications", "3", "--candidates", "2"],
    }
    out = {}
    for kind, args in commands.items():
        folder = base / kind
        r = capsim(*args, "--out", str(folder), "--report", cwd=base)
        assert r.returncode == 0, r.stderr
        assert f"report: {folder}/report.html" in r.stdout.replace(str(folder.resolve()),
                                                                      str(folder))
        out[kind] = folder
    return out


@dataclass
class Page:
    """What the parser saw: sections, images, cells with data-* attributes, <pre> texts,
    every URL the page refers to."""

    sections: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    cells: list[tuple[dict[str, str], str]] = field(default_factory=list)
    pres: dict[str, str] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._cell: dict[str, str] | None = None
        self._pre: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.page.tags.add(tag)
        for key in ("src", "href", "action", "poster"):
            if key in a:
                self.page.urls.append(a[key])
        if tag == "section":
            self.page.sections.append(a.get("id", ""))
        elif tag == "img":
            self.page.images.append(a.get("src", ""))
        elif tag == "td":
            self._cell, self._text = a, []
        elif tag == "pre":
            self._pre, self._text = a.get("id", f"pre-{len(self.page.pres)}"), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.page.cells.append((self._cell, "".join(self._text)))
            self._cell = None
        elif tag == "pre" and self._pre is not None:
            self.page.pres[self._pre] = "".join(self._text)
            self._pre = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None or self._pre is not None:
            self._text.append(data)


def read_page(path: Path) -> Page:
    reader = _Reader()
    reader.feed(path.read_text(encoding="utf-8"))
    reader.close()
    return reader.page


def png_size(src: str) -> tuple[int, int]:
    """Width and height of a data:image/png;base64 URI, read from its IHDR chunk."""
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


SUFFIX = {"": 1.0, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
NUMBER = re.compile(r"^([+-]?)\$?([+-]?)([\d,]*\.?\d+)([kMBT]?)\s*(%|pp|h|d|MW|ref-unit-h|vCPU-h)?$")


def shown(text: str) -> tuple[float, float] | None:
    """A figure as a reader sees it ('$1.40k', '82.0 %', '-0.3 pp', '3.0 h') as (value,
    half a unit of its last digit); None for what is no number (a date, '—')."""
    match = NUMBER.match(text.strip())
    if not match:
        return None
    sign1, sign2, digits, suffix, unit = match.groups()
    sign = -1.0 if "-" in (sign1 + sign2) else 1.0
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = SUFFIX[suffix] * (0.01 if unit in ("%", "pp") else 1.0) * (24 if unit == "d" else 1)
    value = sign * float(digits.replace(",", "")) * scale
    return value, 0.5 * 10 ** -decimals * scale


def agrees(text: str, value: float) -> bool:
    """True when `text` shows `value` rounded to the digits it shows."""
    got = shown(text)
    assert got is not None, f"not a figure: {text!r}"
    figure, half = got
    return math.isclose(figure, value, abs_tol=half * 1.0001 + 1e-12)
