"""The window log and the master's incremental aggregates: exact, bounded, and readable after a kill."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from loadtest.stats import histogram, windows
from loadtest.stats.artifact import EndpointStats
from loadtest.stats.recording import EndpointAccum, EndpointKey, RunAggregate, Staircase, WindowRecorder, aggregate

NAMES = ["/a", "/b", "/c", "/d"]
T0 = 1_700_000_000.0


def _simulate(log: Path | None, seconds: int = 60, seed: int = 3, late_at: float | None = None) -> tuple[
    RunAggregate, RunAggregate, windows.WindowLog | None
]:
    """Two workers reporting every 3 s, out of phase, into a master that writes its log every
    second; `reference` gets everything and never forgets. `late_at`: one worker's report for
    that window is held back until the end (a worker that was slow)."""
    rng = random.Random(seed)
    workers = [WindowRecorder(), WindowRecorder()]
    master, reference = RunAggregate(), RunAggregate()
    wlog = windows.WindowLog(log, {"run_id": "t", "interval_s": 1.0}) if log is not None else None
    held: list = []
    for tenth in range(seconds * 10):
        now = T0 + tenth / 10
        for w, rec in enumerate(workers):
            for _ in range(rng.randrange(0, 4)):
                name = rng.choice(NAMES if w == 0 else NAMES[:2])
                rec.record("GET", name, rng.lognormvariate(3, 1), rng.random() < 0.05, now=now + rng.random() / 10)
        if tenth % 10 == 0:
            for w, rec in enumerate(workers):
                if (tenth // 10) % 3 == w:  # each worker reports every 3 s, out of phase
                    report = rec.drain()
                    if late_at is not None and w == 1:
                        held += [x for x in report if x["t"] == late_at]
                        report = [x for x in report if x["t"] != late_at]
                    master.add_windows(report, users=5, worker=str(w), received=now)
                    reference.add_windows(report, users=5)
            if wlog is not None:
                for t, users, accums in master.take_writable(master.complete_until(["0", "1"])):
                    wlog.window(t, users, accums)
                wlog.flush()
    for w, rec in enumerate(workers):
        report = rec.drain() + (held if w == 1 else [])
        master.add_windows(report, users=5, worker=str(w), received=T0 + seconds + 1)
        reference.add_windows(report, users=5)
    if wlog is not None:
        for t, users, accums in master.take_writable(math.inf):
            wlog.window(t, users, accums)
        wlog.flush()
    return master, reference, wlog


def _exact(stats: list[EndpointStats]) -> list[dict]:
    """Everything but the float sum, whose last bits depend on the order of additions; the log
    keeps times to the microsecond."""
    us = ("min_response_time_ms", "max_response_time_ms")
    return [
        {k: round(v, 3) if k in us and v is not None else v for k, v in s.items() if k != "total_response_time_ms"}
        for s in stats
    ]


def _merge_from(reference: RunAggregate, start: float) -> dict[EndpointKey, EndpointAccum]:
    out: dict[EndpointKey, EndpointAccum] = {}
    for t, window in reference.intervals.items():
        if t >= start:
            for key, accum in window.items():
                out.setdefault(key, EndpointAccum(*key)).merge(accum)
    return out


def _cumulative(master: RunAggregate) -> list[EndpointStats]:
    out = []
    for accum in master.endpoints():
        stats = accum.to_stats()
        key = (accum.method, accum.name)
        stats["max_after"] = master.max_after[key].steps()
        stats["min_after"] = master.min_after[key].steps()
        out.append(stats)
    return out


def test_the_log_holds_every_window_exactly_and_the_master_forgets_written_ones(tmp_path: Path) -> None:
    master, reference, wlog = _simulate(tmp_path / "w.jsonl.gz", seconds=120)
    read, contents = windows.intervals(tmp_path / "w.jsonl.gz")
    assert not contents.truncated and contents.header["schema"] == windows.WINDOWS_SCHEMA
    expected = reference.interval_stats()
    assert [i["t"] for i in read] == [i["t"] for i in expected] and len(read) >= 119
    assert [_exact(i["endpoints"]) for i in read] == [_exact(i["endpoints"]) for i in expected]
    # the master keeps only the recent past in memory; its totals still cover the whole run
    assert len(master.intervals) <= RunAggregate.KEEP_S + 2
    assert _exact([e.to_stats() for e in master.endpoints()]) == _exact([e.to_stats() for e in reference.endpoints()])
    assert master.total().num_requests == sum(r[2] for r in master.index_rows()) == reference.total().num_requests
    assert not master.late  # every window was written once: both workers had reported past it


def test_a_late_report_is_written_as_a_second_line_and_read_back_added(tmp_path: Path) -> None:
    log = tmp_path / "w.jsonl.gz"
    master, reference, _ = _simulate(log, seconds=40, late_at=T0 + 7)
    assert master.late == [T0 + 7]
    lines = [line["t"] for line in windows.lines(log)]
    assert lines.count(T0 + 7) == 2 and lines[-1] == T0 + 7
    read, _ = windows.intervals(log)
    assert [_exact(i["endpoints"]) for i in read] == [_exact(i["endpoints"]) for i in reference.interval_stats()]


@pytest.mark.parametrize("late_at", [None, T0 + 7])
def test_the_judged_merge_from_the_summary_and_the_warmup_windows_equals_merging_every_window(
    tmp_path: Path, late_at: float | None
) -> None:
    log = tmp_path / "w.jsonl.gz"
    master, reference, _ = _simulate(log, seconds=50, late_at=late_at)
    cumulative = _cumulative(master)
    for start in (T0, T0 + 5, T0 + 8, T0 + 30, T0 + 49, T0 + 200):
        prior = windows.before(log, start, master.late)
        got = windows.judged(cumulative, prior, start)
        want = _merge_from(reference, start)
        assert sorted(got) == sorted(want), start
        total = windows.judged_total(master.total().to_stats(), prior, got)  # from the summary's aggregate
        whole = aggregate(want.values())
        assert (total.num_requests, total.num_failures, total.histogram) == (
            whole.num_requests, whole.num_failures, whole.histogram
        )
        assert (total.min_response_time_ms, total.max_response_time_ms) == pytest.approx(
            (whole.min_response_time_ms, whole.max_response_time_ms), abs=0.0006
        )
        for key, accum in want.items():
            g = got[key]
            assert (g.num_requests, g.num_failures) == (accum.num_requests, accum.num_failures)
            assert g.histogram == accum.histogram
            # min and max are exact (the staircases), not the bucketed histogram ends
            assert (g.min_response_time_ms, g.max_response_time_ms) == pytest.approx(
                (accum.min_response_time_ms, accum.max_response_time_ms), abs=0.0006
            )
            # each window's sum is kept to the microsecond: the mean is exact to half a microsecond
            assert g.total_response_time_ms / g.num_requests == pytest.approx(
                accum.total_response_time_ms / accum.num_requests, abs=0.0005
            )


def test_the_masters_running_judged_merge_stays_exact_as_reports_arrive(tmp_path: Path) -> None:
    log = tmp_path / "w.jsonl.gz"
    master, reference, wlog = _simulate(log, seconds=30)
    start = T0 + 12
    assert wlog is not None

    def written_before(at: float, late: list[float]) -> dict[EndpointKey, EndpointAccum]:
        return windows.before(log, at, late)

    before_more = master.judged(start, written_before)[0][("GET", "/a")].num_requests
    # more reports after the judged merge was set up: a window after start and a late one before it
    rec = WindowRecorder()
    rec.record("GET", "/a", 5.0, False, now=T0 + 31.5)
    rec.record("GET", "/a", 999.0, True, now=T0 + 3.5)
    more = rec.drain()
    master.add_windows(more, users=5, worker="0", received=T0 + 33)
    reference.add_windows(more, users=5)
    now, total = master.judged(start, written_before)
    want = _merge_from(reference, start)
    assert now[("GET", "/a")].num_requests == before_more + 1
    for key, accum in want.items():
        assert (now[key].num_requests, now[key].histogram) == (accum.num_requests, accum.histogram)
        assert now[key].max_response_time_ms == pytest.approx(accum.max_response_time_ms, abs=0.0006)
    assert 999.0 not in now[("GET", "/a")].histogram  # the late window is before the judged start
    assert total.num_requests == sum(a.num_requests for a in want.values())
    assert total.histogram == histogram.merged(a.histogram for a in want.values())


def test_a_log_cut_in_the_middle_of_a_write_loses_only_that_write(tmp_path: Path) -> None:
    log = tmp_path / "w.jsonl.gz"
    wlog = windows.WindowLog(log, {"run_id": "t"})
    for second in range(5):
        wlog.window(T0 + second, 1, [EndpointAccum("GET", "/a", 1, 0, {10.0: 1}, 10.0, 10.0, 10.0)])
        wlog.flush()
    whole = log.stat().st_size
    wlog.window(T0 + 5, 1, [EndpointAccum("GET", "/a", 1, 0, {10.0: 1}, 10.0, 10.0, 10.0)])
    wlog.flush()
    data = log.read_bytes()
    for cut in (whole + 3, len(data) - 9, len(data) - 1):
        log.write_bytes(data[:cut])
        contents = windows.LogContents({})
        ts = [line["t"] for line in windows.lines(log, contents)]
        # the earlier writes are whole; the torn one gives its complete lines or none
        assert ts[:5] == [T0 + s for s in range(5)] and ts[5:] in ([], [T0 + 5]) and contents.truncated, cut
    log.write_bytes(data)
    contents = windows.LogContents({})
    assert len(list(windows.lines(log, contents))) == 6 and not contents.truncated


def test_a_failed_append_leaves_whole_members_and_keeps_the_lines_for_the_next_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "w.jsonl.gz"
    wlog = windows.WindowLog(log, {"run_id": "t"})
    wlog.window(T0, 1, [EndpointAccum("GET", "/a", 1, 0, {10.0: 1}, 10.0, 10.0, 10.0)])
    wlog.flush()
    size = log.stat().st_size
    wlog.window(T0 + 1, 1, [EndpointAccum("GET", "/a", 2, 0, {10.0: 2}, 20.0, 10.0, 10.0)])
    real_open = open

    class Full:
        def __init__(self, f: object) -> None:
            self.f = f

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

        def tell(self) -> int:
            return self.f.tell()  # type: ignore[attr-defined,no-any-return]

        def truncate(self, n: int) -> None:
            self.f.truncate(n)  # type: ignore[attr-defined]

        def write(self, data: bytes) -> None:
            self.f.write(data[: len(data) // 2])  # type: ignore[attr-defined]
            self.f.flush()  # type: ignore[attr-defined]
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

    monkeypatch.setattr("builtins.open", lambda *a, **k: Full(real_open(*a, **k)))
    with pytest.raises(OSError, match="No space"):
        wlog.flush()
    monkeypatch.undo()
    assert log.stat().st_size == size  # the torn member was cut off again
    wlog.flush()
    assert [line["t"] for line in windows.lines(log)] == [T0, T0 + 1]


def test_the_staircase_gives_the_exact_extreme_from_any_time_on() -> None:
    rng = random.Random(11)
    for _ in range(50):
        values = [(T0 + rng.randrange(0, 40), rng.lognormvariate(3, 1)) for _ in range(rng.randrange(1, 60))]
        high, low = Staircase(), Staircase(smallest=True)
        for t, v in values:
            high.add(t, v)
            low.add(t, v)
        for start in [T0 + s for s in range(-1, 42)]:
            after = [v for t, v in values if t >= start]
            assert high.at(start) == (max(after) if after else None)
            assert low.at(start) == (min(after) if after else None)
        assert len(high.steps()) <= len({t for t, _ in values})
        assert Staircase(False, high.steps()).steps() == high.steps()  # the stored form reads back


def test_the_progress_rate_is_requests_over_the_seconds_actually_covered() -> None:
    """A steady 100 req/s from two workers reporting 3 s apart: the rate reads 100, not the 1.4x of
    dividing the last 10 s of windows by 7."""
    master = RunAggregate()
    workers = [WindowRecorder(), WindowRecorder()]
    rates = []
    for tenth in range(0, 400):
        now = T0 + tenth / 10
        for rec in workers:
            for i in range(5):  # 50 req/s per worker, spread evenly
                rec.record("GET", "/a", 10.0, False, now=now + i / 50)
        if tenth % 10 == 0 and tenth:
            for w, rec in enumerate(workers):
                if (tenth // 10) % 3 == w:
                    master.add_windows(rec.drain(), users=2, worker=str(w), received=now)
            until = master.complete_until(["0", "1"])
            requests, seconds, p95 = master.rate(until, 10.0)
            if seconds:
                rates.append(requests / seconds)
                assert p95 == 10.0
    assert rates and all(r == pytest.approx(100.0) for r in rates), rates
    assert histogram.count(master.total().histogram) == master.total().num_requests


def test_a_missing_or_foreign_window_log_is_a_clear_gate_error(tmp_path: Path) -> None:
    from loadtest.core.errors import GateError

    log = tmp_path / "w.jsonl.gz"
    master, _, _ = _simulate(log, seconds=20)
    with pytest.raises(GateError, match="does not exist") as missing:
        windows.before(tmp_path / "nope.jsonl.gz", T0 + 5, [])
    assert "belong together" in (missing.value.hint or "")
    other = tmp_path / "other.jsonl.gz"
    _simulate(other, seconds=20, seed=99)  # another run's windows: more in its warm-up than in this run
    cumulative = _cumulative(master)
    with pytest.raises(GateError, match="disagree"):
        windows.judged(cumulative, windows.before(other, T0 + 15, []), T0 + 15)
    log.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    contents = windows.LogContents({})
    assert list(windows.lines(log, contents)) == [] and contents.truncated


def test_a_killed_masters_log_rebuilds_an_incomplete_stats_json_the_gate_reads(tmp_path: Path) -> None:
    from loadtest.core.fileio import write_json_atomic
    from loadtest.gate import evaluation
    from loadtest.gate.sla import parse
    from loadtest.stats import artifact

    log = tmp_path / windows.WINDOWS_FILE
    wlog = windows.WindowLog(log, {"run_id": "killed", "scenario": "shop", "interval_s": 1.0})
    wlog.note({"meta": {"host": "http://127.0.0.1:9", "started_at": T0, "spawn_complete_at": None}})
    wlog.note({"meta": {"spawn_complete_at": T0 + 2, "target_users": 5}})
    wlog.note({"event": {"t": T0 + 2, "kind": "spawning_complete", "detail": "5 users"}})
    wlog.flush()
    master, reference, _ = RunAggregate(), RunAggregate(), None
    rng = random.Random(4)
    for second in range(30):
        rec = WindowRecorder()
        for _ in range(20):
            rec.record("GET", rng.choice(NAMES), rng.lognormvariate(3, 1), rng.random() < 0.1, now=T0 + second + 0.5)
        report = rec.drain()
        master.add_windows(report, users=5)
        if second < 25:  # the master is killed before it writes the last five windows
            reference.add_windows(report, users=5)
            for t, users, accums in master.take_writable(T0 + second + 1):
                wlog.window(t, users, accums)
            wlog.flush()
    summary = windows.recover(tmp_path / "stats.json", log)
    assert summary is not None
    assert (summary["run_id"], summary["scenario"], summary["complete"]) == ("killed", "shop", False)
    assert (summary["started_at"], summary["spawn_complete_at"], summary["target_users"]) == (T0, T0 + 2, 5)
    assert [e["kind"] for e in summary["events"]] == ["spawning_complete", "recovered"]
    assert len(summary["windows"]["index"]) == 25
    assert _exact(summary["endpoints"]) == _exact(  # type: ignore[arg-type]
        [{**e.to_stats(), "max_after": summary["endpoints"][i]["max_after"],
          "min_after": summary["endpoints"][i]["min_after"]} for i, e in enumerate(reference.endpoints())]
    )  # fmt: skip
    write_json_atomic(tmp_path / "stats.json", summary, indent=False)
    stats = artifact.load(tmp_path / "stats.json")
    verdict = evaluation.evaluate(stats, parse({"version": 1, "warmup": 5}, "sla"))
    assert verdict.outcome == "INCONCLUSIVE" and "final report" in verdict.reason
    requests = next(c for c in verdict.checks if c.metric == "requests")
    assert requests.measured == sum(a.num_requests for a in _merge_from(reference, T0 + 5).values())
