"""The report in a real browser: the system's headless Chromium, driven by playwright, opens
report.html from disk with no console errors and no request beyond the file, decodes every
plot, and shows the headline figures of summary.json and table.csv."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_pages import BROWSER_MISSING, agrees, browser_missing, system_chromium

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if browser_missing():
        pytest.skip(BROWSER_MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=system_chromium(), headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def folders(report_folders: dict[str, Path], browser: Any) -> dict[str, Path]:
    return report_folders


def _open(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """The page loaded from disk, its console errors and page errors, and every URL asked."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, errors, requests


@pytest.mark.parametrize("kind", ["run", "compare", "sweep", "plan"])
def test_page_loads_with_every_plot_decoded(browser: Any, folders: dict[str, Path],
                                            kind: str) -> None:
    page, errors, requests = _open(browser, folders[kind] / "report.html")
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    page.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert sizes and all(done and w > 0 and h > 0 for done, w, h in sizes), sizes


def test_compare_headline_shown_is_the_compare_table(browser: Any,
                                                     folders: dict[str, Path]) -> None:
    page, _, _ = _open(browser, folders["compare"] / "report.html")
    shown = page.eval_on_selector_all(
        "#headline-table td[data-mean]",
        "tds => tds.map(t => [t.dataset.metric, t.dataset.policy, t.innerText])")
    page.close()
    table = pd.read_csv(folders["compare"] / "table.csv").set_index(["metric", "policy"])
    assert {m for m, _, _ in shown} >= {"cost_total", "spend_total", "delay_cost"}
    for metric, policy, text in shown:
        if metric == "frontier_end_h":  # a date
            continue
        mean = text.split(" [")[0]
        assert agrees(mean, float(table.loc[(metric, policy), "mean"])), (metric, policy, text)


def test_run_headline_shown_is_the_summary(browser: Any, folders: dict[str, Path]) -> None:
    page, _, _ = _open(browser, folders["run"] / "report.html")
    shown = dict(page.eval_on_selector_all(
        "#headline-table td[data-metric]", "tds => tds.map(t => [t.dataset.metric, t.innerText])"))
    page.close()
    summary = json.loads((folders["run"] / "summary.json").read_text())
    for name in ("cost_total", "spend_total", "committed_utilisation"):
        assert agrees(shown[name], summary[name]), (name, shown[name])
    assert agrees(shown["inference.served_share"], summary["inference"]["served_share"])
