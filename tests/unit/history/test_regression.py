"""The regression gate's arithmetic, checks and baselines: Student's t against published values,
the test's decisions on planted steps and on noise, the checks' words, and baseline selection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from test_history_store import T0, make_run

from loadtest.core.errors import GateError
from loadtest.gate import evaluation, sla
from loadtest.gate.verdict import Check, Verdict, Window, from_dict
from loadtest.history import fingerprints, record, regression, store
from loadtest.history.models import EndpointRow, RunRow
from loadtest.history.regression import Baseline, RunData, judge, t_cdf
from loadtest.stats.recording import AGGREGATE_NAME, EndpointAccum


@pytest.mark.parametrize(
    ("t", "df", "expected"),
    [
        (0.0, 5, 0.5),
        (1.0, 1, 0.75),  # Cauchy: 1/2 + atan(1)/pi
        (2.776, 4, 0.975),  # the two-sided 95 % critical values of t tables
        (9.925, 2, 0.995),
        (-1.812, 10, 0.05),
        (3.747, 4, 0.99),
        (1.96, 100_000, 0.975),  # the normal limit
    ],
)
def test_t_distribution_matches_published_critical_values(t: float, df: int, expected: float) -> None:
    assert t_cdf(t, df) == pytest.approx(expected, abs=2e-4)


def test_unchanged_runs_are_not_a_regression_and_a_large_step_is() -> None:
    base = [100.0, 103.0, 98.0, 101.0, 99.0]
    same = judge("p95", base, 102.0, allowed=10.0)
    assert same is not None and same.confidence < 0.05 and not regression.breached("p95", same, 10.0, 0.95)
    step = judge("p95", base, 150.0, allowed=10.0)
    assert step is not None and step.change == pytest.approx(49.9, abs=0.2)
    assert step.confidence > 0.999 and regression.breached("p95", step, 10.0, 0.95)


def test_a_step_inside_the_limit_never_fails_however_certain() -> None:
    j = judge("p95", [100.0, 100.5, 99.5], 108.0, allowed=10.0)
    assert j is not None and j.change == pytest.approx(8.0, abs=0.1)
    assert not regression.breached("p95", j, 10.0, 0.95)


def test_noisy_history_demands_a_larger_step() -> None:
    quiet = judge("p95", [100.0, 101.0, 99.0, 100.0], 125.0, allowed=10.0)
    noisy = judge("p95", [80.0, 120.0, 95.0, 110.0], 125.0, allowed=10.0)
    assert quiet is not None and noisy is not None
    assert quiet.confidence > 0.99 and regression.breached("p95", quiet, 10.0, 0.95)
    assert noisy.confidence < 0.8 and not regression.breached("p95", noisy, 10.0, 0.95)


def test_throughput_fails_on_a_fall_and_error_rate_in_points() -> None:
    fall = judge("throughput", [80.0, 81.0, 79.5], 60.0, allowed=5.0)
    rise = judge("throughput", [80.0, 81.0, 79.5], 120.0, allowed=5.0)
    assert fall is not None and regression.breached("throughput", fall, 5.0, 0.95)
    assert rise is not None and not regression.breached("throughput", rise, 5.0, 0.95)
    errors = judge("error_rate", [0.0, 0.0, 0.0], 3.0, allowed=0.5, new_requests=10_000)
    assert errors is not None and errors.change == pytest.approx(3.0)
    assert regression.breached("error_rate", errors, 0.5, 0.95)
    few = judge("error_rate", [0.0, 0.0, 0.0], 2.0, allowed=0.5, new_requests=50)  # 1 failure in 50
    assert few is not None and not regression.breached("error_rate", few, 0.5, 0.95)
    everything_failed = judge("error_rate", [100.0, 100.0], 100.0, allowed=0.5, new_requests=700)
    assert everything_failed is not None and everything_failed.confidence < 0.5


def test_one_baseline_value_has_no_spread_and_is_no_baseline() -> None:
    assert judge("p95", [100.0], 200.0, allowed=10.0) is None


def test_against_a_pinned_run_the_reference_is_that_run() -> None:
    j = judge("p95", [100.0, 101.0, 99.0], 130.0, allowed=10.0, pinned=120.0)
    assert j is not None and j.baseline == pytest.approx(120.0) and j.change == pytest.approx(8.33, abs=0.01)
    assert not regression.breached("p95", j, 10.0, 0.95)


# -- checks over whole runs -----------------------------------------------------------------------


def run_data(run_id: str, a_ms: float, b_ms: float = 50.0, seconds: float = 10.0) -> RunData:
    a, b = EndpointAccum("GET", "/a"), EndpointAccum("GET", "/b")
    for _ in range(200):
        a.add(a_ms, False)
        b.add(b_ms, False)
    total = EndpointAccum("", AGGREGATE_NAME)
    total.merge(a)
    total.merge(b)
    rows = [EndpointRow(run_id=run_id, **record._endpoint_fields(x, [])) for x in (a, b, total)]
    run = RunRow(run_id=run_id, scenario="shop", fingerprint="f" * 64, fingerprint_parts="{}", judged_seconds=seconds)
    return RunData(run, rows)


SECTION = sla.Regression.model_validate(
    {
        "min_baseline_runs": 2,
        "aggregate": {"throughput": "-5%"},
        "endpoints": [{"pattern": "^/", "p95": "+10%"}, {"name": "/b", "method": "GET", "p99": 20}],
    }
)
BASE = [run_data("b1", 10.0), run_data("b2", 10.2), run_data("b3", 9.9)]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {f"{c.group} {c.name}": c for c in checks}


def test_the_slowed_endpoint_fails_with_its_numbers_and_nothing_else_does() -> None:
    found = by_name(regression.checks(SECTION, run_data("new", 15.0), Baseline(BASE, None, "3 runs", True)))
    slowed = found["regression.endpoints[0] GET /a p95 vs baseline"]
    assert slowed.result == "fail" and slowed.measured == 15.0
    assert slowed.reason.startswith("REGRESSION: 10.03 ms -> 15 ms (+49.5%, limit +10%)")
    assert "b1, b2, b3" in slowed.reason
    assert [k for k, c in found.items() if c.result == "fail"] == ["regression.endpoints[0] GET /a p95 vs baseline"]
    assert found["regression.endpoints[1] GET /b p99 vs baseline"].result == "pass"
    assert found["regression.aggregate aggregate throughput vs baseline"].result == "pass"


def test_unchanged_run_passes_every_regression_check() -> None:
    found = regression.checks(SECTION, run_data("new", 10.1), Baseline(BASE, None, "3 runs", True))
    assert found and all(c.result == "pass" for c in found)


def test_an_unknown_endpoint_name_fails_naming_the_field_and_a_pattern_warns() -> None:
    section = sla.Regression.model_validate(
        {"endpoints": [{"name": "/orderz", "p95": 10}, {"pattern": "^/nothing", "p95": 10}]}
    )
    found = regression.checks(section, run_data("new", 10.0), Baseline(BASE, None, "3 runs", True))
    assert [(c.group, c.result) for c in found] == [
        ("regression.endpoints[0]", "fail"),
        ("regression.endpoints[1]", "warn"),
    ]
    assert "regression.endpoints[0].name = '/orderz' matched no endpoint" in found[0].reason
    assert "seen: GET /a, GET /b" in found[0].reason


def test_too_thin_a_baseline_is_a_warning_saying_so() -> None:
    thin = Baseline(BASE[:1], None, "1 comparable run(s) before this one, 3 needed", False)
    (only,) = regression.checks(SECTION, run_data("new", 50.0), thin)
    assert only.result == "warn" and only.reason == "no baseline yet: 1 comparable run(s) before this one, 3 needed"


def test_a_group_is_judged_on_its_merged_histogram() -> None:
    section = sla.Regression.model_validate(
        {"endpoints": [{"pattern": "^/", "scope": "group", "label": "api", "p95": "+10%"}]}
    )
    (check,) = regression.checks(section, run_data("new", 60.0), Baseline(BASE, None, "3 runs", True))
    assert check.subject == "api" and check.result == "fail" and check.measured == 60.0


def test_compare_reports_every_endpoint_and_metric_with_significance() -> None:
    comparison = regression.compare(run_data("new", 15.0), Baseline(BASE, None, "3 runs", True))
    rows = {(r.subject, r.metric): r for r in comparison.rows}
    assert len(rows) == 3 * 5
    slowed = rows[("GET /a", "p95")]
    assert slowed.baseline == pytest.approx(10.03, abs=0.01)
    assert (slowed.new, slowed.significant) == (15.0, True)
    assert slowed.change == pytest.approx(49.5, abs=0.2)
    assert rows[("GET /b", "p95")].significant is False and rows[("GET /b", "p95")].change == pytest.approx(0.0)
    assert "GET /a" in regression.table(comparison) and json.loads(json.dumps(comparison.to_dict()))["run_id"] == "new"


# -- the SLA section ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"aggregate": {"p95": "-10%"}}, "regression.aggregate.p95: '-10%': this limit is how far the value may rise"),
        ({"aggregate": {"throughput": "+5%"}}, "throughput: '+5%': this limit is how far the value may fall"),
        ({"aggregate": {"error_rate": "1%"}}, "error_rate: '1%': this change is percentage points"),
        ({"aggregate": {"p95": "fast"}}, "regression.aggregate.p95: 'fast' is not a change; write e.g. '+10%'"),
        ({"aggregate": {}}, "regression.aggregate: no limit given"),
        ({}, "regression: give 'aggregate' or 'endpoints' limits"),
        ({"min_baseline_runs": 6, "aggregate": {"p95": 10}}, "min_baseline_runs = 6 exceeds baseline_runs = 5"),
        ({"confidence": 1.5, "aggregate": {"p95": 10}}, "regression.confidence"),
        ({"endpoints": [{"p95": 10}]}, "regression.endpoints[0]: give exactly one of 'name'"),
    ],
)  # fmt: skip
def test_a_malformed_regression_section_names_the_field_the_value_and_the_fix(section: object, message: str) -> None:
    with pytest.raises(GateError) as caught:
        sla.parse({"version": 1, "regression": section}, "sla.yaml")
    assert message in caught.value.message


def test_regression_limits_stay_outside_the_fingerprint(tmp_path: Path) -> None:
    def digest(text_: str) -> str:
        path = tmp_path / "sla.yaml"
        path.write_text(text_)
        return str(fingerprints.fingerprint({}, [], path)["fingerprint"])

    plain = digest("version: 1\naggregate: {p95: 500}\n")
    assert digest("version: 1\naggregate: {p95: 500}\nregression: {aggregate: {p95: 10}}\n") == plain
    assert digest("version: 1\naggregate: {p95: 400}\n") != plain


# -- verdicts -------------------------------------------------------------------------------------


def test_a_verdict_read_back_takes_regression_checks_and_is_decided_again() -> None:
    window = Window(1.0, 2.0, 12.0, 10.0, 10, 2, "spawn")
    passed = Check("aggregate", "aggregate", "p95", 10.0, "<= 500 ms", "ms", 100, "pass", "ok")
    verdict = Verdict("PASS", "all 1 SLA checks passed", (passed,), window, "r1", "shop")
    again = from_dict(json.loads(json.dumps({**verdict.to_dict(), "schema": "x", "exit_code": 0})))
    assert again == verdict
    bad = Check("regression.aggregate", "aggregate", "p95 vs baseline", 20.0, "+10%", "ms", 100, "fail", "slower")
    failed = evaluation.extend(again, [bad])
    assert failed.outcome == "FAIL" and failed.checks[-1] == bad and "slower" in failed.reason
    warned = evaluation.extend(again, [Check("regression", "run", "baseline", None, "", "", 0, "warn", "thin")])
    assert warned.outcome == "PASS" and warned.warnings == ("regression: thin",)


# -- baselines from a store -----------------------------------------------------------------------


def stored(tmp_path: Path, runs: list[tuple[str, str, float]]) -> store.Store:
    """Record runs (id, outcome, /a latency factor), one a minute apart, into a new SQLite store."""
    st = store.open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    for i, (run_id, outcome, slow) in enumerate(runs):
        st.record(record.rows(make_run(tmp_path / "runs", run_id, outcome=outcome, slow=slow, start=T0 + 60 * i)))
    return st


def test_the_baseline_is_the_last_n_comparable_runs_before_the_run(tmp_path: Path) -> None:
    st = stored(tmp_path, [(f"r{i}", "INCONCLUSIVE" if i == 2 else "PASS", 1.0) for i in range(6)])
    try:
        base = st.baseline(st.require("r5"), runs=3, min_runs=3)
        assert base.usable and base.run_ids == ["r4", "r3", "r1"]  # r2 was INCONCLUSIVE
        early = st.baseline(st.require("r1"), runs=3, min_runs=3)
        assert not early.usable and early.run_ids == ["r0"]
        assert early.why.startswith("1 comparable run(s) before this one (fingerprint ffffffffffff), 3 needed")
    finally:
        st.close()


def test_a_pinned_run_is_the_reference_and_pinning_another_unpins_it(tmp_path: Path) -> None:
    st = stored(tmp_path, [(f"r{i}", "PASS", 1.0) for i in range(5)])
    try:
        st.pin("r0")
        st.pin("r1")
        assert [r.run_id for r in st.runs(limit=10) if r.pinned] == ["r1"]
        base = st.baseline(st.require("r4"), runs=5, min_runs=3)
        assert base.pinned is not None and base.pinned.run_id == "r1" and "r1" not in base.run_ids
        assert base.usable and base.why.startswith("pinned run r1")
        st.pin("r1", pinned=False)
        assert st.baseline(st.require("r4"), runs=5, min_runs=3).pinned is None
        with pytest.raises(record.HistoryError, match="run 'nope' is not in the history store"):
            st.pin("nope")
    finally:
        st.close()


def test_runs_with_another_fingerprint_are_never_a_baseline_and_the_reason_says_why(tmp_path: Path) -> None:
    st = store.open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    try:
        for i, users in enumerate((10, 10, 50)):
            rows = record.rows(make_run(tmp_path / "runs", f"r{i}", start=T0 + 60 * i))
            rows.run.fingerprint = "f" * 64 if users == 10 else "e" * 64
            rows.run.fingerprint_parts = json.dumps({"users": users})
            st.record(rows)
        base = st.baseline(st.require("r2"), runs=5, min_runs=2)
        assert not base.usable and base.runs == []
        assert "runs of scenario 'shop' with another fingerprint are never compared" in base.why
        assert "users 10 -> 50" in base.why
    finally:
        st.close()


def test_migrating_a_revision_0001_store_keeps_its_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(store.MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO runs (run_id, scenario, fingerprint, fingerprint_parts, git_revision, backend, host, "
                "users, workers, outcome, gate, judged_seconds, requests, failures, recorded_at, pinned) VALUES "
                "('old', 'shop', 'f', '{}', 'abc', 'local', 'h', 1, 1, 'PASS', 'sla', 1, 5, 0, :now, 0)"
            ),
            {"now": datetime.now(UTC) - timedelta(days=1)},
        )
    engine.dispose()
    st = store.open_store(url)
    try:
        old = st.require("old")
        assert (old.requests, old.regressions) == (5, None)
    finally:
        st.close()


def test_endpoint_rows_round_trip_into_run_data(tmp_path: Path) -> None:
    st = stored(tmp_path, [("r0", "PASS", 1.0)])
    try:
        data = st.load("r0")
        assert isinstance(data.endpoints[0], EndpointRow)
        a = data.accum(None, "GET /a")
        assert a is not None and a.percentile(0.95) == 10.0 and data.endpoint_names() == ["GET /a", "GET /b"]
    finally:
        st.close()


def test_a_long_run_keeps_at_most_max_windows_per_endpoint_exactly_merged(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "long")
    stats = json.loads((run_dir / "stats.json").read_text())
    one = stats["intervals"][5]
    stats["intervals"] = [{**one, "t": T0 + i} for i in range(3000)]  # 50 minutes of 1-s windows
    stats["ended_at"] = T0 + 3000
    (run_dir / "stats.json").write_text(json.dumps(stats))
    rows = {e.name: e for e in record.rows(run_dir).endpoints}
    windows = json.loads(rows["/a"].windows)
    assert len(windows) <= record.MAX_WINDOWS and len(windows) == pytest.approx(2996 / 5, abs=1)
    assert sum(w[1] for w in windows) == rows["/a"].requests == 2996 * 20  # judged from T0 + 4
    assert windows[1][0] - windows[0][0] == 5.0  # 5-s buckets, as in the README
    aggregate = json.loads(rows[AGGREGATE_NAME].windows)
    assert sum(w[1] for w in aggregate) == 2996 * 25 and aggregate[0][4] == 50.0  # p95 of the merged bucket


def test_a_ratio_to_or_from_zero_is_not_judged() -> None:
    assert judge("p95", [1.0, 1.1], 0.0, allowed=10.0) is None
    assert judge("p95", [1.0, 1.1], 5.0, allowed=10.0, pinned=0.0) is None
    assert judge("error_rate", [0.0, 0.0], 0.0, allowed=0.5, pinned=0.0, new_requests=100) is not None


@pytest.mark.parametrize("new_ms", [13.0, 14.0, 14.6, 16.0, 20.0])  # 14.6: the gate fails it just
def test_every_regression_the_gate_reports_is_significant_in_compare(new_ms: float) -> None:
    """A noisy three-run history (sd ~ 8 %): where the one-sided gate fails a p95, compare's
    significance (the same test with a zero limit, same level) says so too."""
    noisy = [run_data("b1", 10.0), run_data("b2", 11.0), run_data("b3", 9.4)]
    current = run_data("new", new_ms)
    section = sla.Regression.model_validate({"min_baseline_runs": 2, "endpoints": [{"name": "/a", "p95": "+10%"}]})
    (check,) = regression.checks(section, current, Baseline(noisy, None, "3 runs", True))
    rows = {(r.subject, r.metric): r for r in regression.compare(current, Baseline(noisy, None, "3 runs", True)).rows}
    if check.result == "fail":
        assert rows[("GET /a", "p95")].significant is True
    assert check.result == ("fail" if new_ms >= 14.6 else "pass"), check.reason


def test_judging_then_recording_a_run_reads_its_stats_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = make_run(tmp_path, "once")
    loads = []
    real = record.artifact.load
    monkeypatch.setattr(record.artifact, "load", lambda path: loads.append(path) or real(path))
    first, second = record.rows(run_dir), record.rows(run_dir)
    assert len(loads) == 1 and first.run.requests == second.run.requests == 150
    assert [e.windows for e in first.endpoints] == [e.windows for e in second.endpoints]
    assert first.endpoints[0] is not second.endpoints[0]  # each caller gets its own ORM rows
    stats = json.loads((run_dir / "stats.json").read_text())
    stats["intervals"] = stats["intervals"][:8]
    (run_dir / "stats.json").write_text(json.dumps(stats))  # rewritten: read again
    assert record.rows(run_dir).run.requests == 4 * 25 and len(loads) == 2
