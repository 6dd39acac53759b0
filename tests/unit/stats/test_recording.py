"""Exact accounting: worker windows merged on the master lose and invent nothing."""

from __future__ import annotations

import random

from loadtest.stats import histogram
from loadtest.stats.recording import (
    WEBSOCKET_TYPES,
    EndpointAccum,
    RunAggregate,
    WindowRecorder,
    aggregate,
    in_aggregate,
    window_start,
)


def test_requests_land_in_the_window_of_their_completion_second() -> None:
    recorder = WindowRecorder()
    recorder.record("GET", "/a", 10.0, False, now=100.2)
    recorder.record("GET", "/a", 20.0, True, now=100.999)
    recorder.record("GET", "/a", 30.0, False, now=101.0)
    windows = recorder.drain()
    assert [w["t"] for w in windows] == [100.0, 101.0]
    first = windows[0]["endpoints"][0]
    assert (first["num_requests"], first["num_failures"], first["histogram"]) == (2, 1, [[10.0, 1], [20.0, 1]])
    assert recorder.drain() == []  # drained means empty


def test_merging_many_workers_and_reports_equals_recording_everything_in_one_place() -> None:
    rng = random.Random(7)
    samples = [(rng.choice(["/a", "/b", "/c"]), rng.lognormvariate(3, 1), rng.random() < 0.1, 1000 + rng.random() * 30)
               for _ in range(5000)]  # fmt: skip
    single = WindowRecorder()
    workers = [WindowRecorder() for _ in range(3)]
    master = RunAggregate()
    for i, (name, rt, failed, t) in enumerate(samples):
        single.record("GET", name, rt, failed, now=t)
        workers[i % 3].record("GET", name, rt, failed, now=t)
        if i % 700 == 0:  # workers report at arbitrary points, windows arrive in pieces
            for w in workers:
                master.add_windows(w.drain(), users=3)
    for w in workers:
        master.add_windows(w.drain(), users=3)
    reference = RunAggregate()
    reference.add_windows(single.drain(), users=3)

    def exact(stats: list) -> list:  # float sums depend on addition order; everything else is exact
        return [{k: v for k, v in s.items() if k != "total_response_time_ms"} for s in stats]

    assert exact([e.to_stats() for e in master.endpoints()]) == exact([e.to_stats() for e in reference.endpoints()])
    assert [exact(i["endpoints"]) for i in master.interval_stats()] == [
        exact(i["endpoints"]) for i in reference.interval_stats()
    ]
    total = master.total()
    assert total.num_requests == 5000
    assert total.num_failures == sum(1 for s in samples if s[2])
    assert histogram.count(total.histogram) == 5000
    assert abs(total.total_response_time_ms - sum(s[1] for s in samples)) < 1e-6


def test_recent_merges_only_windows_from_the_given_start() -> None:
    master = RunAggregate()
    recorder = WindowRecorder()
    for t in (10.5, 11.5, 12.5, 12.7):
        recorder.record("GET", "/a", t, False, now=t)
    master.add_windows(recorder.drain(), users=1)
    recent = master.recent(since=12.0)
    assert recent[("GET", "/a")].num_requests == 2
    assert master.total().num_requests == 4


def test_a_request_without_a_response_time_is_counted_but_never_given_a_fake_latency() -> None:
    recorder = WindowRecorder()
    recorder.record("GET", "/a", None, True, now=5.0)
    stats = recorder.drain()[0]["endpoints"][0]
    assert stats["num_requests"] == 1 and stats["histogram"] == []
    assert stats["min_response_time_ms"] is None


def test_window_start_aligns_to_the_epoch() -> None:
    assert window_start(1234.99) == 1234.0
    assert window_start(1234.99, interval_s=5.0) == 1230.0


def test_percentiles_of_a_long_lived_total_match_the_reference_rule_as_it_grows() -> None:
    """The master's totals find a percentile by blocks of keys, kept up to date as samples and
    merges arrive; every answer equals histogram.percentile's on the same histogram."""
    rng = random.Random(5)
    total = EndpointAccum("GET", "/a")
    assert total.percentile(0.5) is None
    values = [0.0, 0.3, 0.29999, 1.0, 9.999, 10.0, 999.6, 1e-4, 12.345]  # edges of decades and digits
    for step in range(400):
        if step % 3:
            total.add(values[step] if step < len(values) else rng.lognormvariate(3, 2), False)
        else:
            part = EndpointAccum("GET", "/a")
            for _ in range(rng.randrange(1, 20)):
                part.add(rng.lognormvariate(1, 3), False)
            total.merge(part)
        for p in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
            assert total.percentile(p) == histogram.percentile(total.histogram, p), (step, p)
    assert total.sorted_keys() == sorted(total.histogram)


def test_websocket_timings_keep_their_rows_but_stay_out_of_the_aggregate() -> None:
    recorder = WindowRecorder()
    for i in range(40):
        recorder.record("GET", "/api", 10.0 + i, i % 10 == 0, now=500.5)
        recorder.record("WSPUSH", "prices", 900.0, False, now=500.5)  # slow pushes: not an HTTP latency
        recorder.record("WSCLOSE", "/ws", 60_000.0, True, now=500.5)  # every unexpected close fails
    master = RunAggregate()
    master.add_windows(recorder.drain(), users=1)
    rows = {(a.method, a.name): a for a in master.endpoints()}
    assert rows[("WSPUSH", "prices")].num_requests == 40 and rows[("WSCLOSE", "/ws")].num_failures == 40
    total = master.total()
    assert (total.num_requests, total.num_failures, total.max_response_time_ms) == (40, 4, 49.0)
    assert master.index_rows()[-1][2:] == [40, 4]  # the window's requests and failures: HTTP only
    judged, judged_total = master.judged(500.0, lambda start, late: {})
    assert set(judged) == {("GET", "/api"), ("WSPUSH", "prices"), ("WSCLOSE", "/ws")}
    assert (judged_total.num_requests, judged_total.max_response_time_ms) == (40, 49.0)
    assert aggregate(judged.values()).num_requests == 40
    assert [in_aggregate(m) for m in ("GET", "POST", "grpc", *WEBSOCKET_TYPES)] == [True] * 3 + [False] * 4
