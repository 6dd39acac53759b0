"""The trends dashboard over the history database: Grafana's PostgreSQL data source through a
variable, every query scoped to the selected scenario and time range, and every column it names
exists in the history schema (tests/e2e/test_history.py runs each query on a real PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loadtest.history.models import EndpointRow, RunRow

CHART = Path(__file__).resolve().parents[3] / "charts" / "loadtest"
BOARD_PATH = CHART / "dashboards" / "history" / "loadtest-trends.json"
BOARD: dict[str, Any] = json.loads(BOARD_PATH.read_text())
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "${history}"}
COLUMNS = {"r": set(RunRow.__table__.columns.keys()), "e": set(EndpointRow.__table__.columns.keys())}


def queries() -> list[tuple[str, str]]:
    """(panel or variable, SQL) for every query of the board."""
    out = [(p["title"], t["rawSql"]) for p in BOARD["panels"] for t in p["targets"]]
    out += [(v["name"], v["query"]) for v in BOARD["templating"]["list"] if v["type"] == "query"]
    return out


def test_the_board_reads_the_history_database_through_a_variable() -> None:
    variables = {v["name"]: v for v in BOARD["templating"]["list"]}
    assert variables["history"]["type"] == "datasource"
    assert variables["history"]["query"] == DATASOURCE["type"]
    assert variables["endpoint"]["multi"] and variables["endpoint"]["includeAll"]
    refs = [p["datasource"] for p in BOARD["panels"]] + [t["datasource"] for p in BOARD["panels"] for t in p["targets"]]
    refs += [variables[n]["datasource"] for n in ("scenario", "endpoint")]
    assert refs and all(ref == DATASOURCE for ref in refs)
    assert BOARD["uid"] == "loadtest-trends" and "loadtest" in BOARD["tags"]


def test_every_panel_query_is_scoped_to_the_scenario_and_the_time_range() -> None:
    assert len(BOARD["panels"]) >= 6
    for panel in BOARD["panels"]:
        (target,) = panel["targets"]
        sql = target["rawSql"]
        assert target["rawQuery"] and target["format"] in ("time_series", "table"), panel["title"]
        assert "$__timeFilter(r.started_at)" in sql and "r.scenario = '$scenario'" in sql, panel["title"]
        assert sql.count("(") == sql.count(")"), panel["title"]


def test_every_column_a_query_names_exists_in_the_history_schema() -> None:
    for where, sql in queries():
        for alias, column in re.findall(r"\b([re])\.([a-z_]+)\b", sql):
            assert column in COLUMNS[alias], f"{where}: {alias}.{column} is not a column of the history schema"
        assert set(re.findall(r"\bFROM (\w+)|\bJOIN (\w+)", sql)) <= {("runs", ""), ("run_endpoints", ""), ("", "runs")}


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    ids = [p["id"] for p in BOARD["panels"]]
    assert len(set(ids)) == len(ids)
    for p in BOARD["panels"]:
        grid = p["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24
