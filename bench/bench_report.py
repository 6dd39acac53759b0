"""report.html size and build time for a long, wide run, as a ratio against a 1-minute run.

Goal (issue: a run report): a 1-hour, 50-endpoint run's report under ~5 MB, built in under ~3 s
on the project's 2-core machine. Workload: synthetic runs recorded with the project's own classes
(a worker's WindowRecorder, the master's RunAggregate) at 300 req/s over 50 endpoints (Zipf
traffic, log-normal response times with per-endpoint medians of 5-800 ms, 1 % failures), judged
by the real gate (verdict.json), then `render.build` on the run directory as `loadtest run` does
at its end: read stats.json and verdict.json, compute, render, write.

Build time is wall time of a cold build (plotly.js compressed again each time), median of REPEATS.
Figures are printed for 1, 10 and 60 minutes; ratios are against the 1-minute run.

Run: .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from loadtest.gate import evaluation, output, sla
from loadtest.report import render
from loadtest.stats import histogram
from loadtest.stats.artifact import STATS_SCHEMA_V1, StatsArtifact, WorkerSample, WorkerStats
from loadtest.stats.recording import RunAggregate, WindowRecorder

ENDPOINTS = 50
RPS = 300
MINUTES = (1, 10, 60)
REPEATS = 3
SEED = 20261203
T0 = 1_800_000_000.0
SLA_DOC = {
    "version": 1,
    "aggregate": {"p95": "< 2000", "error_rate": "< 5%"},
    "endpoints": [{"pattern": "^/api/", "scope": "each", "p99": "< 5000"}],
}


def synthetic(seconds: int) -> StatsArtifact:
    rnd = random.Random(SEED)
    names = [f"/api/resource{i:02d}/{{id}}" for i in range(ENDPOINTS)]
    weights = [1 / (i + 1) for i in range(ENDPOINTS)]
    medians = [5 * (160 ** (i / (ENDPOINTS - 1))) for i in range(ENDPOINTS)]  # 5 ms .. 800 ms
    recorder, master = WindowRecorder(), RunAggregate()
    for second in range(seconds):
        picks = rnd.choices(range(ENDPOINTS), weights, k=RPS)
        for i, e in enumerate(picks):
            t = T0 + second + i / RPS
            recorder.record("GET", names[e], rnd.lognormvariate(0, 0.5) * medians[e], rnd.random() < 0.01, now=t)
        if second % 3 == 2 or second == seconds - 1:
            master.add_windows(recorder.drain(), users=100)
    samples = [
        WorkerSample(t=T0 + 3 * k, cpu_percent=30 + k % 7, loop_lag_ms=2.0, loop_lag_max_ms=6.0,
                     runqueue_wait_percent=3.0, users=50)
        for k in range(seconds // 3)
    ]  # fmt: skip
    total = master.total()
    return StatsArtifact(
        schema=STATS_SCHEMA_V1, run_id=f"bench-{seconds}s", scenario="bench", host="http://127.0.0.1:1",
        bucket_scheme=histogram.BUCKET_SCHEME, interval_s=1.0, started_at=T0, spawn_complete_at=T0 + 10,
        ended_at=T0 + seconds, target_users=100, planned_rps=float(RPS), worker_count_expected=2, complete=True,
        endpoints=[a.to_stats() for a in master.endpoints()], aggregate=total.to_stats(),
        intervals=master.interval_stats(), errors=[],
        workers=[WorkerStats(id=f"w{w}", index=w, state="stopped", lost=False, num_requests=0, samples=samples)
                 for w in range(2)],
        events=[], locust_totals={"num_requests": total.num_requests, "num_failures": total.num_failures},
    )  # fmt: skip


def run_dir(root: Path, seconds: int) -> Path:
    stats = synthetic(seconds)
    d = root / stats["run_id"]
    d.mkdir()
    (d / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    sla_path = root / "sla.yaml"
    sla_path.write_text(yaml.safe_dump(SLA_DOC), encoding="utf-8")
    output.write(evaluation.evaluate(stats, sla.load(sla_path)), d)
    (d / "spec.yaml").write_text(yaml.safe_dump({"run_id": stats["run_id"], "scenario": "bench"}), encoding="utf-8")
    return d


def main() -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in MINUTES:
            print(f"recording a synthetic {minutes} min x {ENDPOINTS}-endpoint run ...", file=sys.stderr, flush=True)
            d = run_dir(Path(tmp), minutes * 60)
            times = []
            for _ in range(REPEATS):
                render.plotly_bundle.cache_clear()
                started = time.perf_counter()
                path = render.build(d)
                times.append(time.perf_counter() - started)
            stats_mb = (d / "stats.json").stat().st_size / 1e6
            results.append((minutes, statistics.median(times), path.stat().st_size / 1e6, stats_mb))
    base_t, base_size = results[0][1], results[0][2]
    print(f"report.html at {ENDPOINTS} endpoints, {RPS} req/s (median of {REPEATS} cold builds)")
    print(f"{'run':>7}  {'stats.json':>10}  {'build s':>8}  {'x 1 min':>7}  {'report MB':>9}  {'x 1 min':>7}")
    for minutes, seconds, size, stats_mb in results:
        print(f"{minutes:>4} min  {stats_mb:>8.1f} MB  {seconds:>8.2f}  {seconds / base_t:>7.2f}  "
              f"{size:>9.2f}  {size / base_size:>7.2f}")  # fmt: skip
    hour = results[-1]
    ok = hour[1] < 3.0 and hour[2] < 5.0
    print(f"goal (1 h: < 3 s, < 5 MB): {'met' if ok else 'NOT met'} ({hour[1]:.2f} s, {hour[2]:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
