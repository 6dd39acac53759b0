"""Property: the gate's percentile of the merged histograms is numpy's percentile of the raw samples.

Samples are spread at random over workers and 1 s intervals, recorded by the
real worker recorder, merged by the real master aggregate, then judged by the
gate. Nearest rank commutes with the monotonic bucketing, so the only
difference allowed is the bucket rounding: histogram.relative_resolution().
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_builders import T0, artifact, only, sla

from loadtest.gate.evaluation import evaluate, percent_to_fraction
from loadtest.stats import histogram
from loadtest.stats.recording import RunAggregate, WindowRecorder

WORKERS = 4
INTERVALS = 6

latency = st.floats(min_value=0.05, max_value=120_000.0, allow_nan=False, allow_infinity=False)
placement = st.tuples(st.integers(0, WORKERS - 1), st.integers(0, INTERVALS - 1))
percent = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2)


def judged_percentile(samples: list[tuple[float, int, int]], p: Decimal) -> tuple[float | None, int]:
    recorders = [WindowRecorder() for _ in range(WORKERS)]
    for value, w, i in samples:
        recorders[w].record("GET", f"/e{i % 2}", value, failed=False, now=T0 + i + 0.5)
    master = RunAggregate()
    for recorder in reversed(recorders):  # arrival order must not matter
        master.add_windows(recorder.drain(), users=1)
    intervals = {s["t"]: s["endpoints"] for s in master.interval_stats()}
    key = f"p{float(p):g}"  # the SLA model normalises 4.70 to p4.7
    rules = sla({"warmup": 0, "aggregate": {"percentiles": {key: 1e9}, "min_samples": {key: 1}}})
    check = only(evaluate(artifact(intervals), rules).checks, key)
    return check.measured, check.samples


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(latency, *[st.integers(0, WORKERS - 1), st.integers(0, INTERVALS - 1)]), min_size=1, max_size=400
    ),
    percent,
)
def test_merged_percentile_matches_numpy_on_raw_samples(samples: list[tuple[float, int, int]], p: Decimal) -> None:
    measured, count = judged_percentile(samples, p)
    raw = np.array([value for value, _, _ in samples])
    expected = float(np.quantile(raw, percent_to_fraction(float(p)), method="inverted_cdf"))
    assert count == len(samples)
    assert measured is not None
    assert abs(measured - expected) <= histogram.relative_resolution() * expected
    assert measured == histogram.bucket(expected)  # the exact claim: nearest rank, then rounding


@settings(max_examples=100, deadline=None)
@given(st.lists(latency, min_size=1, max_size=200), st.sampled_from(["50", "90", "95", "99", "99.9"]))
def test_splitting_the_same_samples_differently_gives_the_same_percentile(values: list[float], p: str) -> None:
    one_place = [(v, 0, 0) for v in values]
    spread = [(v, k % WORKERS, (k * 7) % INTERVALS) for k, v in enumerate(values)]
    assert judged_percentile(one_place, Decimal(p)) == judged_percentile(spread, Decimal(p))
