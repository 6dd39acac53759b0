"""How often the regression gate cries wolf on unchanged runs, and how often it catches a real step.

Real runs (`loadtest run`, local backend) of a two-endpoint locustfile against the bundled demo
target, whose fault injection gives both endpoints a steady 100 ms backend delay: first
`--unchanged` runs with nothing changed, then `--slowed` runs for each planted slowdown of
10 %, 20 % and 50 % of `GET /api/categories`' p95 (an added backend delay in whole
milliseconds, scaled after one calibration run per level so that p95 itself moves by about that
much; the share each run actually reached is printed). Every run is recorded the way `loadtest run`
records it (history rows from its artifacts), then judged offline, exactly as the gate judges:

- false alarms: each unchanged run against every choice of `--baseline` others among the
  unchanged runs (leave-one-out); a false alarm is any failed regression check;
- detection: each slowed run against every choice of `--baseline` unchanged runs; detected is
  the slowed endpoint's p95 check failing; a failed check on the untouched endpoint or the
  throughput counts as a false alarm there too.

Rates are given for the limits +10 % and +5 % on p95, at the default confidence (0.95) and at
0.99. The run-to-run spread of each endpoint's p95 is printed as the noise the method faces.

    python bench/bench_regression.py [--unchanged 10] [--slowed 3] [--seconds 10] [--baseline 5] [--backend-ms 100]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.demo_target.server import DemoTarget  # noqa: E402
from loadtest.gate import sla  # noqa: E402
from loadtest.history import record  # noqa: E402
from loadtest.history.regression import Baseline, RunData, checks  # noqa: E402

SLOWED = "GET /api/categories"
UNTOUCHED = "GET /api/products"
BACKEND_DELAY_MS = 100  # large against the ~5 ms of tail noise a loaded 2-core machine adds, so p95 follows it
LOCUSTFILE = REPO / "tests" / "e2e" / "locustfiles" / "two_endpoints.py"  # the e2e test's workload


def one_run(target: DemoTarget, workdir: Path, seconds: int, users: int) -> RunData:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env["LOADTEST_HISTORY_URL"] = "off"  # judged offline below, against chosen baselines
    artifacts = workdir / "results"
    before = set(artifacts.glob("*")) if artifacts.is_dir() else set()
    subprocess.run(
        [sys.executable, "-m", "loadtest", "run", "--locustfiles", str(LOCUSTFILE),
         "--host", target.url, "--users", str(users), "--duration", f"{seconds}s",
         "--artifacts-dir", str(artifacts), "--progress", "off"],
        cwd=REPO, env={**env, "PYTHONPATH": str(REPO / "operator")}, check=False,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 180,
    )  # fmt: skip
    (run_dir,) = [d for d in artifacts.glob("*") if d.is_dir() and d not in before]
    rows = record.rows(run_dir)
    return RunData(rows.run, rows.endpoints)


def p95(run: RunData, name: str) -> float:
    accum = run.accum(None, name)
    assert accum is not None, name
    value = accum.percentile(0.95)
    assert value is not None
    return value


def regression(limit: float, confidence: float, baseline_runs: int) -> sla.Regression:
    return sla.Regression.model_validate(
        {
            "baseline_runs": baseline_runs,
            "min_baseline_runs": baseline_runs,
            "confidence": confidence,
            "aggregate": {"throughput": "-10%", "error_rate": "+0.5"},
            "endpoints": [{"pattern": "^/api/", "p95": f"+{limit:g}%"}],
        }
    )


def judge(section: sla.Regression, run: RunData, base: tuple[RunData, ...]) -> dict[str, bool]:
    """Which checks failed, by '<subject> <metric>'."""
    found = checks(section, run, Baseline(list(base), None, "bench", True))
    return {f"{c.subject} {c.metric}": c.result == "fail" for c in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unchanged", type=int, default=10)
    parser.add_argument("--slowed", type=int, default=3, help="runs per planted slowdown")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--baseline", type=int, default=5, help="baseline runs per judgement")
    parser.add_argument(
        "--backend-ms", type=int, default=BACKEND_DELAY_MS, help="steady delay of both endpoints (20: a noisier p95)"
    )
    args = parser.parse_args()
    if args.unchanged <= args.baseline:
        parser.error("--unchanged must exceed --baseline (leave-one-out needs a run to leave out)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-regression-") as tmp:
        workdir = Path(tmp)
        target = DemoTarget(host="127.0.0.1", port=0, workers=2, data_dir=workdir / "demo-target")
        target.start(timeout_s=180)
        try:
            for route in (SLOWED, UNTOUCHED):
                target.set_fault(route, delay_ms=args.backend_ms)
            unchanged = []
            for i in range(args.unchanged):
                unchanged.append(one_run(target, workdir, args.seconds, args.users))
                print(f"unchanged run {i + 1}/{args.unchanged}: {SLOWED} p95 {p95(unchanged[-1], SLOWED):.1f} ms, "
                      f"{UNTOUCHED} p95 {p95(unchanged[-1], UNTOUCHED):.1f} ms", flush=True)  # fmt: skip
            reference = statistics.fmean(p95(r, SLOWED) for r in unchanged)
            slowed: dict[int, list[tuple[float, RunData]]] = {}
            for pct in (10, 20, 50):
                # added backend delay does not move p95 one for one (queueing changes with it): one
                # calibration run per level scales the delay so p95 itself rises by about pct
                extra = max(1, round(reference * pct / 100))
                for _ in range(2):  # two secant steps: p95 is not linear in the delay at small delays
                    target.set_fault(SLOWED, delay_ms=args.backend_ms + extra)
                    probe = 100 * (p95(one_run(target, workdir, args.seconds, args.users), SLOWED) / reference - 1)
                    extra = max(1, round(extra * pct / max(probe, pct / 4)))
                    print(f"calibration for {pct}%: p95 {probe:+.1f}%, so the delay becomes +{extra} ms", flush=True)
                target.set_fault(SLOWED, delay_ms=args.backend_ms + extra)
                for i in range(args.slowed):
                    run = one_run(target, workdir, args.seconds, args.users)
                    reached = 100 * (p95(run, SLOWED) / reference - 1)
                    slowed.setdefault(pct, []).append((reached, run))
                    print(f"planted {pct}% (+{extra} ms) run {i + 1}/{args.slowed}: p95 {p95(run, SLOWED):.1f} ms "
                          f"({reached:+.1f}% over the unchanged mean)", flush=True)  # fmt: skip
            target.set_fault(SLOWED, delay_ms=args.backend_ms)
        finally:
            target.stop()
    elapsed = time.monotonic() - started
    print(f"\n{len(unchanged) + sum(len(v) for v in slowed.values())} runs of {args.seconds} s in {elapsed:.0f} s")
    for name in (SLOWED, UNTOUCHED):
        values = [p95(r, name) for r in unchanged]
        spread = 100 * statistics.stdev(values) / statistics.fmean(values)
        print(f"run-to-run noise, {name} p95: mean {statistics.fmean(values):.2f} ms, sd {spread:.1f}% "
              f"(min {min(values):.1f}, max {max(values):.1f})")  # fmt: skip
    print(f"\n{'p95 limit':>9}  {'confidence':>10}  {'false alarms (unchanged)':>26}  "
          f"{'detected 10%':>12}  {'detected 20%':>12}  {'detected 50%':>12}  {'other checks failed':>19}")
    for limit, confidence in itertools.product((10.0, 5.0), (0.95, 0.99)):
        section = regression(limit, confidence, args.baseline)
        alarms = total = 0
        for i, run in enumerate(unchanged):
            others = unchanged[:i] + unchanged[i + 1 :]
            for base in itertools.combinations(others, args.baseline):
                alarms += any(judge(section, run, base).values())
                total += 1
        cells = [f"{alarms}/{total} = {100 * alarms / total:.1f}%"]
        stray = stray_total = 0
        for pct in (10, 20, 50):
            hit = n = 0
            for _, run in slowed[pct]:
                for base in itertools.combinations(unchanged, args.baseline):
                    failed = judge(section, run, base)
                    hit += failed[f"{SLOWED} p95 vs baseline"]
                    stray += sum(v for k, v in failed.items() if not k.startswith(SLOWED + " p95"))
                    stray_total += 1
                    n += 1
            cells.append(f"{100 * hit / n:.0f}%")
        cells.append(f"{stray}/{stray_total}")
        print(f"{'+' + format(limit, 'g') + '%':>9}  {confidence:>10}  {cells[0]:>26}  "
              f"{cells[1]:>12}  {cells[2]:>12}  {cells[3]:>12}  {cells[4]:>19}")  # fmt: skip
    planted = {pct: statistics.fmean(r for r, _ in runs) for pct, runs in slowed.items()}
    print("planted slowdowns reached: " + ", ".join(f"{p}% -> {v:+.1f}%" for p, v in planted.items()))


if __name__ == "__main__":
    main()
