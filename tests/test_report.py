"""`capsim report` and `--report`: one self-contained HTML page per results folder, read back
with the standard library's HTML parser; its figures are checked against the files the
commands wrote (summary.json, table.csv, plan.json), reading the numbers as a person would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from report_pages import agrees, capsim, png_size, read_page


@pytest.fixture(scope="module")
def folders(report_folders: dict[str, Path]) -> dict[str, Path]:
    return report_folders


def _parts(text: str) -> list[str]:
    """'mean [low, high] *' -> [mean, low, high]; a lone figure -> [figure]."""
    text = text.removesuffix(" *").strip()
    if " [" not in text:
        return [text]
    mean, rest = text.split(" [", 1)
    return [mean, *rest.removesuffix("]").split(", ")]


@pytest.mark.parametrize("kind", ["run", "compare", "sweep", "plan"])
def test_report_is_one_self_contained_page(folders: dict[str, Path], kind: str) -> None:
    page = read_page(folders[kind] / "report.html")
    assert page.sections[0] == "about" and "plots" in page.sections
    assert page.sections[-1] == "scenario"
    assert page.images, "no plot in the report"
    for src in page.images:
        width, height = png_size(src)
        assert width > 0 and height > 0
    assert all(u.startswith(("data:", "#")) for u in page.urls), page.urls
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert (folders[kind] / "report.html").stat().st_size < 5_000_000
    assert not list(folders[kind].glob(".capsim-report-*")), "temporary file left behind"


def test_the_scenario_file_is_in_the_page_verbatim(folders: dict[str, Path]) -> None:
    for kind, name in (("run", "scenario.yaml"), ("compare", "scenario.yaml"),
                       ("sweep", "scenario.yaml"), ("plan", "plan.yaml")):
        page = read_page(folders[kind] / "report.html")
        assert page.pres["scenario-file"] == (folders[kind] / name).read_text(), kind


def test_markup_in_the_scenario_file_stays_text(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(folders["run"], folder)
    text = (folder / "scenario.yaml").read_text() + "# </pre><script>alert(1)</script> & <b>\n"
    (folder / "scenario.yaml").write_text(text)
    r = capsim("report", str(folder), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = read_page(folder / "report.html")
    assert "script" not in page.tags and "b" not in page.tags
    assert page.pres["scenario-file"] == text


def test_run_headline_figures_are_the_summary(folders: dict[str, Path]) -> None:
    summary = json.loads((folders["run"] / "summary.json").read_text())
    cells = [(a, t) for a, t in read_page(folders["run"] / "report.html").cells
             if "data-metric" in a]
    assert {"cost_total", "spend_total", "committed_utilisation",
            "inference.served_share"} <= {a["data-metric"] for a, _ in cells}
    for attrs, text in cells:
        value: object = summary
        for part in attrs["data-metric"].split("."):
            value = value[part]  # type: ignore[index]
        assert float(attrs["data-value"]) == value
        if attrs["data-metric"] != "frontier_end_h":  # shown as a date
            assert agrees(text, float(value)), (attrs["data-metric"], text, value)  # type: ignore[arg-type]


def test_compare_figures_and_differences_are_the_compare_table(folders: dict[str, Path]) -> None:
    table = pd.read_csv(folders["compare"] / "table.csv").set_index(["metric", "policy"])
    cells = read_page(folders["compare"] / "report.html").cells
    heads = [(a, t) for a, t in cells if "data-mean" in a]
    diffs = [(a, t) for a, t in cells if "data-diff" in a]
    meta = json.loads((folders["compare"] / "compare.json").read_text())
    assert {a["data-policy"] for a, _ in heads} == set(meta["policies"])
    assert {a["data-policy"] for a, _ in diffs} == set(meta["policies"]) - {meta["baseline"]}
    assert "cost_total" in {a["data-metric"] for a, _ in diffs}
    for attrs, text in heads:
        row = table.loc[(attrs["data-metric"], attrs["data-policy"])]
        expected = [row["mean"], row["ci_low"], row["ci_high"]]
        assert [float(attrs[k]) for k in ("data-mean", "data-low", "data-high")] == expected
        if attrs["data-metric"] != "frontier_end_h":
            parts = _parts(text)
            assert all(agrees(t, v) for t, v in zip(parts, expected, strict=False)), (attrs, text)
    for attrs, text in diffs:
        row = table.loc[(attrs["data-metric"], attrs["data-policy"])]
        expected = [row["diff"], row["diff_ci_low"], row["diff_ci_high"]]
        assert [float(attrs[k]) for k in ("data-diff", "data-low", "data-high")] == expected
        assert text.endswith(" *") == bool(row["excludes_zero"])
        if attrs["data-metric"] != "frontier_end_h":
            assert all(agrees(t, v) for t, v in zip(_parts(text), expected, strict=True)), text


def test_sweep_has_a_table_per_point(folders: dict[str, Path]) -> None:
    cells = [a for a, _ in read_page(folders["sweep"] / "report.html").cells if "data-mean" in a]
    table = pd.read_csv(folders["sweep"] / "table.csv")
    assert len(cells) == len(table[table["metric"].isin({a["data-metric"] for a in cells})])


def test_plan_decisions_and_figures_are_plan_json(folders: dict[str, Path]) -> None:
    plan = json.loads((folders["plan"] / "plan.json").read_text())
    cells = read_page(folders["plan"] / "report.html").cells
    chosen = {a["data-decision"]: float(a["data-chosen"]) for a, _ in cells if "data-chosen" in a}
    assert chosen == {d["decision"]: d["chosen"] for d in plan["decision"]}
    expected = {a["data-expected"]: t for a, t in cells if "data-expected" in a}
    assert agrees(expected["cost_total"], plan["expected"]["cost_total"])
    evaluation = {(a["data-figure"], a["data-plan"]): t for a, t in cells if "data-figure" in a}
    saving = plan["evaluation"]["cost_total"]["chosen - hand"]
    assert [agrees(t, saving[k]) for t, k in
            zip(_parts(evaluation[("cost_total", "chosen - hand")]), ("mean", "low", "high"),
                strict=True)] == [True] * 3


def test_report_of_no_results_folder_is_a_one_line_error(folders: dict[str, Path],
                                                         tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "compare.json").write_text("{not json")
    shutil.copy(folders["compare"] / ".capsim-result", tmp_path / "broken")
    (tmp_path / "mine").mkdir()  # the user's own folder with a file of that name: not touched
    (tmp_path / "mine" / "summary.json").write_text("{}")
    store = folders["compare"].parent / "runs"
    record = next(p for p in store.iterdir() if p.is_dir())
    for folder, message in (("missing", "missing: no such folder"),
                            ("empty", "empty: not a capsim results folder"),
                            ("mine", "mine: not a capsim results folder"),
                            (str(record), "is inside the runs cache"),
                            ("broken", "compare.json: cannot be read as JSON")):
        r = capsim("report", folder, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("error: ") and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "empty" / "report.html").exists()
    assert not (tmp_path / "mine" / "report.html").exists() and not (record / "report.html").exists()
