"""The history store on SQLite: rows from a run's artifacts, idempotent recording, filters, URLs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect

from loadtest.core.errors import SpecError
from loadtest.history import fingerprints, record, store
from loadtest.history.command import parse_since
from loadtest.stats import histogram
from loadtest.stats.artifact import STATS_SCHEMA_V1
from loadtest.stats.recording import EndpointAccum

T0 = 1_800_000_000.0


def accum(name: str, values: list[float], failures: int = 0) -> EndpointAccum:
    a = EndpointAccum(method="GET", name=name)
    for i, v in enumerate(values):
        a.add(v, i < failures)
    return a


def make_run(root: Path, run_id: str, *, outcome: str = "PASS", slow: float = 1.0, start: float = T0) -> Path:
    """A run directory as the controller leaves it: spec, fingerprint, stats (4 s warm-up + 6 s), verdict."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    intervals = []
    for i in range(10):
        b = accum("/b", [50.0] * 5, failures=1 if i >= 4 else 0)
        eps = [accum("/a", [10.0 * slow] * 20).to_stats(), b.to_stats()]
        intervals.append({"t": start + i, "users": 10, "endpoints": eps})
    stats = {
        "schema": STATS_SCHEMA_V1, "run_id": run_id, "scenario": "shop", "host": "http://127.0.0.1:1",
        "bucket_scheme": histogram.BUCKET_SCHEME, "interval_s": 1.0, "started_at": start,
        "spawn_complete_at": start + 3.5, "ended_at": start + 10, "target_users": 10, "planned_rps": None,
        "worker_count_expected": 1, "complete": True, "endpoints": [], "aggregate": {}, "intervals": intervals,
        "errors": [], "workers": [], "events": [], "locust_totals": {},
    }  # fmt: skip
    (run_dir / "stats.json").write_text(json.dumps(stats))
    spec = {"run_id": run_id, "users": 10, "workers": 1, "backend": "local"}
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    verdict = {"outcome": outcome, "gate": "sla", "window": {"start": start + 4}}
    (run_dir / "verdict.json").write_text(json.dumps(verdict))
    parts = {"fingerprint": "f" * 64, "scenario": "shop", "git_revision": "abc1234"}
    (run_dir / record.FINGERPRINT_FILE).write_text(json.dumps(parts))
    return run_dir


def test_rows_hold_the_judged_window_exactly(tmp_path: Path) -> None:
    rec = record.rows(make_run(tmp_path, "r1"))
    run = rec.run
    assert (run.run_id, run.scenario, run.outcome, run.gate) == ("r1", "shop", "PASS", "sla")
    assert run.git_revision == "abc1234"
    assert run.judged_from == T0 + 4 and run.judged_seconds == 6.0
    assert (run.requests, run.failures) == (6 * 25, 6)  # the warm-up's 4 windows are not counted
    assert run.rps == pytest.approx(25.0)
    by_name = {e.name: e for e in rec.endpoints}
    assert set(by_name) == {"/a", "/b", "Aggregated"}
    assert by_name["/a"].p95_ms == 10.0 and by_name["/b"].p95_ms == 50.0
    windows = json.loads(by_name["/a"].windows)
    assert [w[0] for w in windows] == [T0 + i for i in range(4, 10)] and windows[0][1:3] == [20, 0]
    assert sum(c for _, c in json.loads(by_name["Aggregated"].histogram)) == 150


def test_a_directory_that_is_not_a_recordable_run_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(record.HistoryError, match="no spec.yaml"):
        record.rows(tmp_path)
    run_dir = make_run(tmp_path, "r1")
    (run_dir / record.FINGERPRINT_FILE).unlink()
    with pytest.raises(record.HistoryError, match="no fingerprint.json"):
        record.rows(run_dir)


def test_recording_is_idempotent_and_listing_filters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    st = store.open_store(url)
    assert st.record(record.rows(make_run(tmp_path, "r1", start=T0)))
    assert st.record(record.rows(make_run(tmp_path, "r2", outcome="FAIL", start=T0 + 3600)))
    assert not st.record(record.rows(tmp_path / "r1"))  # already recorded: nothing changes
    assert [r.run_id for r in st.runs()] == ["r2", "r1"]  # newest first
    assert [r.run_id for r in st.runs(outcomes=["FAIL"])] == ["r2"]
    since = datetime.fromtimestamp(T0 + 1800, UTC)
    assert [r.run_id for r in st.runs(since=since)] == ["r2"]
    assert st.runs(scenario="other") == []
    st.close()
    again = store.open_store(url)  # migrating an up-to-date store is a no-op
    assert len(again.runs()) == 2 and {"runs", "run_endpoints", "alembic_version"} <= set(
        inspect(again.engine).get_table_names()
    )
    again.close()


def test_where_the_store_is_and_how_it_is_shown(tmp_path: Path) -> None:
    assert store.url_for(tmp_path, {}) == f"sqlite:///{(tmp_path / 'history.sqlite3').resolve()}"
    assert store.url_for(tmp_path, {"LOADTEST_HISTORY_URL": "off"}) is None
    pg = "postgresql+psycopg://loadtest:s3cret@db:5432/lt"
    assert store.url_for(tmp_path, {"LOADTEST_HISTORY_URL": pg}) == pg
    assert "s3cret" not in store.shown(pg) and "***" in store.shown(pg)


def test_an_unusable_store_is_an_error_naming_the_variable_and_hiding_the_password(tmp_path: Path) -> None:
    with pytest.raises(record.HistoryError) as caught:
        store.open_store("not a url at all")
    assert "LOADTEST_HISTORY_URL" in caught.value.message and caught.value.hint
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(record.HistoryError) as caught:
        store.open_store(f"sqlite:///{blocker}/sub/h.sqlite3")
    assert "cannot be used" in caught.value.message


def test_the_fingerprint_follows_code_load_target_and_limits_but_not_the_revision(tmp_path: Path) -> None:
    lf, sla = tmp_path / "locustfile.py", tmp_path / "sla.yaml"
    lf.write_text("A = 1\n")
    sla.write_text("version: 1\n")
    spec = {"scenario": "shop", "users": 10, "duration": 60.0, "host": "http://x"}
    base = fingerprints.fingerprint(spec, [lf], sla)["fingerprint"]
    assert fingerprints.fingerprint(dict(spec), [lf], sla)["fingerprint"] == base
    assert fingerprints.fingerprint({**spec, "users": 11}, [lf], sla)["fingerprint"] != base
    assert fingerprints.fingerprint({**spec, "git_revision": "zzz"}, [lf], sla)["fingerprint"] == base
    lf.write_text("A = 2\n")
    assert fingerprints.fingerprint(spec, [lf], sla)["fingerprint"] != base


def test_since_takes_durations_and_dates() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(SpecError, match="--since = 'yesterday'"):
        parse_since("yesterday", now)
