"""Grafana dashboards: importable alone, every panel queries through the datasource variable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "charts" / "loadtest" / "dashboards").glob("*.json"))
METRICS_DOC = ROOT / "docs" / "metrics.md"
REQUIRED_VARIABLES = {"datasource", "run_id", "scenario", "endpoint"}
METRIC_NAME = re.compile(r"\b(loadtest_[a-z0-9_]+|run_endpoint:[a-z0-9_:]+)")
PROMQL_WORDS = {"loadtest_run_info"}  # label_values() arguments are metric names too


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(dashboard) if p["type"] != "row"]


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_the_four_dashboards_exist_with_unique_uids_and_titles() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert names == {"loadtest-overview", "loadtest-endpoints", "loadtest-generators", "loadtest-comparison"}
    boards = [load(p) for p in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == 4
    assert len({b["title"] for b in boards}) == 4
    assert all("loadtest" in b["tags"] and b["schemaVersion"] >= 36 for b in boards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_template_variables_are_present_and_query_prometheus(path: Path) -> None:
    variables = {v["name"]: v for v in load(path)["templating"]["list"]}
    assert set(variables) >= REQUIRED_VARIABLES
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("run_id", "scenario", "endpoint"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert variables[name]["definition"].startswith("label_values(")
    assert variables["endpoint"]["includeAll"] and variables["endpoint"]["allValue"] == ".*"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_has_a_query_scoped_to_the_selected_run(path: Path) -> None:
    board = query_panels(load(path))
    assert board
    for panel in board:
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.strip(), f"{panel['title']} has an empty query"
            assert 'run_id=~"$run_id"' in expr and 'scenario=~"$scenario"' in expr, panel["title"]
            assert expr.count("(") == expr.count(")"), panel["title"]
            assert target["refId"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_no_datasource_uid_is_hard_coded(path: Path) -> None:
    data = load(path)
    refs = [value for key, value in walk(data) if key == "datasource" and isinstance(value, dict)]
    assert refs
    assert all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs)
    assert "__inputs" not in data and "${DS_" not in path.read_text()
    for panel in query_panels(data):
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_have_unique_ids_and_fit_the_grid(path: Path) -> None:
    all_panels = list(panels(load(path)))
    assert len({p["id"] for p in all_panels}) == len(all_panels)
    for p in all_panels:
        grid = p["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24


def test_every_metric_a_dashboard_queries_is_documented() -> None:
    documented = set(METRIC_NAME.findall(METRICS_DOC.read_text()))
    used = {name for path in DASHBOARDS for name in METRIC_NAME.findall(path.read_text())} | PROMQL_WORDS
    base_names = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}
    assert base_names - documented == set()
