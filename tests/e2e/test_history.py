"""Every run is recorded: into a real PostgreSQL server and into SQLite; concurrent writers lose
nothing; a store that cannot be reached loses no run (import it later)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import e2e_runs as runs
import pytest
import yaml
from pgserver import PostgresServer

from loadtest.core.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def history(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    return subprocess.run(
        [sys.executable, "-m", "loadtest", "history", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**clean, **(env or {})},
    )  # fmt: skip


def pg_env(pg: PostgresServer, database: str | None = None) -> dict[str, str]:
    url = pg.url if database is None else pg.url.rsplit("/", 1)[0] + f"/{database}"
    return {"LOADTEST_HISTORY_URL": url, "PGPASSWORD": pg.password}


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, demo_target: Any) -> runs.Finished:
    """One real run, recorded into PostgreSQL at its end (the password only in PGPASSWORD)."""
    root = tmp_path_factory.mktemp("history")
    sla = root / "sla.yaml"
    sla.write_text("version: 1\naggregate:\n  error_rate: '< 1%'\n  min_requests: 1\n")
    result = runs.run(
        ["--host", demo_target.url, "--users", "10", "--duration", "8s", "--sla", str(sla)],
        root / "results",
        timeout_s=120,
        env=pg_env(postgres),
    )
    assert result.run_dir is not None, result.stderr
    return result


def test_a_run_is_recorded_into_postgresql_without_its_password_anywhere(
    recorded_run: runs.Finished, postgres: PostgresServer
) -> None:
    shown = f"postgresql+psycopg://loadtest@127.0.0.1:{postgres.port}/loadtest"
    assert f"history: recorded in {shown}" in recorded_run.stdout
    listed = history("list", "--json", env=pg_env(postgres))
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert recorded_run.run_dir is not None
    verdict = json.loads((recorded_run.run_dir / "verdict.json").read_text())
    mine = [r for r in rows if r["run_id"] == recorded_run.run_dir.name]
    assert len(mine) == 1 and mine[0]["outcome"] == verdict["outcome"]
    stats = recorded_run.stats()
    judged = [i for i in stats["intervals"] if i["t"] >= verdict["window"]["start"]]
    assert mine[0]["requests"] == sum(e["num_requests"] for i in judged for e in i["endpoints"]) > 0
    fingerprint = json.loads((recorded_run.run_dir / "fingerprint.json").read_text())
    assert mine[0]["fingerprint"] == fingerprint["fingerprint"]
    everything = recorded_run.stdout + recorded_run.stderr + listed.stdout + listed.stderr
    everything += "".join(p.read_text(errors="replace") for p in recorded_run.run_dir.rglob("*") if p.is_file())
    assert postgres.password not in everything


def _copies(run_dir: Path, root: Path, count: int) -> list[Path]:
    """The same run under other run ids (what N runs finishing at once would leave)."""
    out = []
    for i in range(count):
        copy = root / f"{run_dir.name[:30]}-c{i}"
        shutil.copytree(run_dir, copy)
        spec = yaml.safe_load((copy / "spec.yaml").read_text())
        spec["run_id"] = copy.name
        (copy / "spec.yaml").write_text(yaml.safe_dump(spec))
        out.append(copy)
    return out


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_concurrent_writers_on_a_fresh_store_lose_nothing(
    recorded_run: runs.Finished, postgres: PostgresServer, tmp_path: Path, backend: str
) -> None:
    assert recorded_run.run_dir is not None
    dirs = _copies(recorded_run.run_dir, tmp_path, 6)
    if backend == "postgresql":
        postgres.new_database("concurrent")
        env = pg_env(postgres, "concurrent")
    else:
        env = {"LOADTEST_HISTORY_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "loadtest", "history", "import", str(d)], cwd=REPO,
                         env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for d in dirs
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    listed = history("list", "--json", "--limit", "100", env=env)
    assert sorted(r["run_id"] for r in json.loads(listed.stdout)) == sorted(d.name for d in dirs)


def test_an_unreachable_store_loses_no_run(tmp_path: Path, demo_target: Any) -> None:
    dead = f"postgresql+psycopg://loadtest:hunter2@127.0.0.1:{free_port()}/loadtest"
    result = runs.run(
        ["--host", demo_target.url, "--users", "5", "--duration", "5s"],
        tmp_path / "results",
        timeout_s=120,
        env={"LOADTEST_HISTORY_URL": dead},
    )
    assert result.run_dir is not None and result.code in (0, 1, 3), result.stderr  # the verdict's, not the store's
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert result.code == verdict["exit_code"]
    assert "history: the run was not recorded" in result.stderr
    assert f"loadtest history import {result.run_dir}" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "***" in result.stderr
    later = {"LOADTEST_HISTORY_URL": f"sqlite:///{tmp_path / 'later.sqlite3'}"}
    imported = history("import", str(result.run_dir), env=later)
    assert imported.returncode == 0 and f"recorded: {result.run_dir.name}" in imported.stdout, imported.stderr
    again = history("import", str(result.run_dir), env=later)
    assert "already recorded" in again.stdout


def test_history_refuses_bad_input_clearly(tmp_path: Path) -> None:
    env = {"LOADTEST_HISTORY_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}"}
    not_a_run = history("import", str(tmp_path), env=env)
    assert not_a_run.returncode == 2
    assert "no spec.yaml" in not_a_run.stderr and "Traceback" not in not_a_run.stderr
    bad_url = history("list", env={"LOADTEST_HISTORY_URL": "nonsense://"})
    assert bad_url.returncode == 2 and "LOADTEST_HISTORY_URL" in bad_url.stderr
    bad_since = history("list", "--since", "yesterday", env=env)
    assert bad_since.returncode == 2 and "--since = 'yesterday'" in bad_since.stderr


TRENDS = REPO / "charts" / "loadtest" / "dashboards" / "history" / "loadtest-trends.json"


def grafana_sql(sql: str, *, scenario: str, endpoints: list[str], start: datetime, end: datetime) -> str:
    """What Grafana's PostgreSQL data source sends: $__timeFilter as a BETWEEN on UTC instants,
    single values as typed, a multi-value variable as a list of quoted literals."""
    quoted = ",".join("'" + e.replace("'", "''") + "'" for e in endpoints)
    done = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m[1]} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'",
        sql,
    )
    done = done.replace("$scenario", scenario.replace("'", "''")).replace("$endpoint", quoted)
    assert "$" not in done, done
    return done


def test_every_trends_panel_returns_the_recorded_numbers_from_postgresql(
    recorded_run: runs.Finished, postgres: PostgresServer
) -> None:
    import psycopg

    assert recorded_run.run_dir is not None
    run_id, scenario = recorded_run.run_dir.name, recorded_run.stats()["scenario"]
    board = json.loads(TRENDS.read_text())
    variables = {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "query"}
    now = datetime.now(UTC)
    window = {"start": now - timedelta(days=30), "end": now + timedelta(minutes=1)}
    with psycopg.connect(postgres.dsn()) as conn:
        scenarios = [row[0] for row in conn.execute(variables["scenario"])]
        assert scenario in scenarios
        endpoint_sql = variables["endpoint"].replace("$scenario", scenario)
        endpoints = [row[0] for row in conn.execute(endpoint_sql)]
        stored = {
            f"{m} {n}": p95
            for m, n, p95 in conn.execute(
                "SELECT method, name, p95_ms FROM run_endpoints WHERE run_id = %s AND method <> ''", (run_id,)
            )
        }
        assert stored and set(stored) <= set(endpoints)
        for panel in board["panels"]:
            (target,) = panel["targets"]
            sql = grafana_sql(target["rawSql"], scenario=scenario, endpoints=endpoints, **window)
            rows = conn.execute(sql).fetchall()
            if "regressions IS NOT NULL" in sql:  # this run had no regression section: it is left out
                assert all(r[0] != run_id for r in rows), panel["title"]
                continue
            assert rows, f"{panel['title']} returned nothing: {sql}"
            if target["format"] == "time_series":
                assert all(isinstance(r[0], datetime) for r in rows), panel["title"]
        p95_panel = next(p for p in board["panels"] if p["title"].startswith("p95 per endpoint"))
        sql = grafana_sql(p95_panel["targets"][0]["rawSql"], scenario=scenario, endpoints=endpoints, **window)
        at = conn.execute("SELECT started_at FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        assert at is not None
        mine = {metric: value for t, metric, value in conn.execute(sql) if t == at[0]}
        assert mine == stored
        table = next(p for p in board["panels"] if p["type"] == "table")
        sql = grafana_sql(table["targets"][0]["rawSql"], scenario=scenario, endpoints=endpoints, **window)
        verdict = json.loads((recorded_run.run_dir / "verdict.json").read_text())
        assert (run_id, verdict["outcome"]) in {(r[1], r[2]) for r in conn.execute(sql)}
