"""What remembering a run costs, and that the cost stops growing with the run's length.

Synthetic 1-, 10- and 60-minute runs at 300 req/s over 50 endpoints (bench_report's workload,
recorded with the project's own classes and judged by the real gate), each recorded into a fresh
SQLite store six times under different run ids, as six nightlies would be. Reported per length:
building the rows from the artifacts (`record.rows`, which reads stats.json: linear in the run's
length like any reader of it), the bytes stored per run, one insert, and the end-of-run work
`loadtest run` adds: the baseline query (the last five comparable runs) plus judging a
regression section over every endpoint. Ratios are against the 1-minute run.

    python bench/bench_history.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_report

from loadtest.gate import sla
from loadtest.history import record, regression, store

NIGHTS = 6
SECTION = sla.Regression.model_validate(
    {"aggregate": {"throughput": "-5%"}, "endpoints": [{"pattern": "^/api/", "p95": "+10%", "error_rate": "+0.5"}]}
)


def measure(root: Path, minutes: int) -> dict[str, float]:
    run_dir = bench_report.run_dir(root, minutes * 60)
    (run_dir / record.FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": "b" * 64, "git_revision": "bench"}))
    st = store.open_store(f"sqlite:///{root / f'history-{minutes}.sqlite3'}")
    build, insert = [], []
    try:
        for night in range(NIGHTS):
            record._numbers.cache_clear()  # a cold read each night: one `loadtest run` reads it once
            started = time.perf_counter()
            rows = record.rows(run_dir)
            build.append(time.perf_counter() - started)
            rows.run.run_id = f"night-{night}"
            rows.run.outcome = "PASS"  # the synthetic verdict may be INCONCLUSIVE; this measures cost, not verdicts
            rows.run.started_at = rows.run.started_at.replace(day=1 + night) if rows.run.started_at else None
            for e in rows.endpoints:
                e.run_id = rows.run.run_id
            size = sum(len(e.histogram) + len(e.windows) for e in rows.endpoints)
            started = time.perf_counter()
            st.record(rows)
            insert.append(time.perf_counter() - started)
        started = time.perf_counter()
        current = st.load(f"night-{NIGHTS - 1}")
        baseline = st.baseline(current.run, runs=5, min_runs=3)
        checks = regression.checks(SECTION, current, baseline)
        judge_s = time.perf_counter() - started
    finally:
        st.close()
    assert baseline.usable and len(checks) == 1 + 2 * 50, len(checks)
    return {
        "minutes": minutes,
        "rows_s": statistics.median(build),
        "stored_kb": size / 1e3,
        "insert_s": statistics.median(insert),
        "judge_s": judge_s,
        "windows": max(len(json.loads(e.windows)) for e in rows.endpoints),
    }


def main() -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in bench_report.MINUTES:
            print(f"recording a synthetic {minutes} min x {bench_report.ENDPOINTS}-endpoint run ...", file=sys.stderr)
            results.append(measure(Path(tmp), minutes))
    base = results[0]
    workload = f"{bench_report.ENDPOINTS} endpoints, {bench_report.RPS} req/s"
    print(f"history per run at {workload} (SQLite, median of {NIGHTS} nights)")
    print(f"{'run':>7}  {'rows s':>7}  {'x':>5}  {'stored KB':>9}  {'x':>5}  {'windows':>7}  "
          f"{'insert s':>8}  {'x':>5}  {'baseline+judge s':>16}  {'x':>5}")  # fmt: skip
    for r in results:
        print(f"{r['minutes']:>4} min  {r['rows_s']:>7.2f}  {r['rows_s'] / base['rows_s']:>5.1f}  "
              f"{r['stored_kb']:>9.0f}  {r['stored_kb'] / base['stored_kb']:>5.1f}  {r['windows']:>7}  "
              f"{r['insert_s']:>8.3f}  {r['insert_s'] / base['insert_s']:>5.1f}  "
              f"{r['judge_s']:>16.3f}  {r['judge_s'] / base['judge_s']:>5.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
