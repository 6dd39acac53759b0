"""Does the master's work grow with elapsed time? 60, 600 and 3,600 one-second windows x 50 and 500 endpoints.

The real MasterPlugin (a Locust Environment, no runner) is fed two workers' reports, every 3 s out
of phase, as on_worker_report receives them, and writes its window log every second as its status
loop does. Traffic: 2 requests per endpoint per second, Zipf-distributed over the endpoints,
log-normal response times (bench_scrape's workload), 1 % failures. At the end of each run:

  report   - merging one worker report (3 windows)           CPU ms, median of REPEATS
  status   - the status line the controller shows every second   "
  abort    - the abort check (abort: true thresholds on every endpoint), after a new report
  scrape   - one /metrics body (live: a new report between scrapes)
  finish   - the end of the run: the last windows and stats.json      wall ms, once
  gate     - `python -m loadtest gate` on the artifacts, a fresh process: wall s and peak RSS MiB
  on disk  - stats.json + windows.jsonl.gz

Each figure is also given as a ratio to the 60- (and 600-) window run with the same endpoints:
flat (~1x) means the cost does not grow with the run's length. keys/ep is the mean number of
distinct histogram keys per endpoint: what percentiles and the cumulative histograms cost
follows it, and it stops growing once the 3-significant-digit scheme's keys in the latency
range are filled (a few minutes at these rates); the window log alone grows with the run.
Goals (issue 12): 1 h x 500 endpoints on disk <= 25 MiB, gate <= 1 s and <= 300 MiB, scrape
< 100 ms.

Run: .venv/bin/python bench/bench_long_run.py [--quick]   (--quick: 60 and 600 windows only)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from bench_scrape import REPEATS, Workload, timed
from locust.env import Environment
from prometheus_client import CollectorRegistry

from loadtest.locust.master import MasterPlugin
from loadtest.locust.master_metrics import MasterMetricsSource
from loadtest.metrics import collector, exposition
from loadtest.stats import windows
from loadtest.stats.artifact import STATS_FILE
from loadtest.stats.recording import WindowPayload

SEED = 20261204
T0 = 1_790_000_000.0
REPO = Path(__file__).resolve().parents[1]


def sla_file(directory: Path) -> Path:
    path = directory / "sla.yaml"
    path.write_text(
        "version: 1\n"
        "warmup: 30\n"
        "aggregate: {p95: 60000, error_rate: '<= 50%'}\n"
        "endpoints:\n"
        "  - {pattern: '.*', p99: 60000, max: 600000, abort: true}\n",
        encoding="utf-8",
    )
    return path


def cpu_ms(fn: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    return timed(fn, before) * 1000  # bench_scrape's: CPU seconds, median of its REPEATS


class Feed:
    """Two workers' reports of the synthetic traffic, fed to the master second by second."""

    def __init__(self, master: MasterPlugin, endpoints: int) -> None:
        self.master = master
        self.work = Workload(endpoints, random.Random(SEED))
        self.per_window = 2 * endpoints
        self.second = 0
        self.queued: list[list[WindowPayload]] = [[], []]

    def tick(self) -> None:
        t = T0 + self.second
        for w in (0, 1):
            self.queued[w].append(self.work.window(t, self.per_window // 2))
        self.second += 1
        for w in (0, 1):
            if self.second % 3 == w:
                self.report(w)
        self.master._write_windows()

    def report(self, w: int, final: bool = False) -> None:
        windows_, self.queued[w] = self.queued[w], []
        self.master.on_worker_report(f"worker-{w}", {"loadtest": {"windows": windows_, "final": final}})


def run_case(seconds: int, endpoints: int, directory: Path) -> dict[str, float]:
    sla = sla_file(directory)
    options = Namespace(
        loadtest_run_id=f"bench-{seconds}x{endpoints}", loadtest_scenario="bench", loadtest_artifacts=str(directory),
        loadtest_sla=str(sla), loadtest_expect_workers=2, num_users=endpoints, csv_prefix=None, html_file=None,
    )  # fmt: skip
    env = Environment(user_classes=[], parsed_options=options, host="http://127.0.0.1:9")
    master = MasterPlugin(env)
    master.open_artifacts()
    master.started_at = master.spawn_complete_at = T0
    clock = {"now": T0}
    real_time = time.time
    time.time = lambda: clock["now"]  # type: ignore[assignment]  # the reports' clock is the synthetic run's
    try:
        feed = Feed(master, endpoints)
        for w in (0, 1):
            master.on_worker_connect(f"worker-{w}")
        for _ in range(seconds):
            clock["now"] = T0 + feed.second + 0.5
            feed.tick()
        monitor = master.abort_monitor
        assert monitor is not None
        judged = master._judged
        monitor.check(master.snapshot(live=True), judged=judged)  # the judged merge is set up once

        def advance() -> None:
            clock["now"] += 1
            feed.tick()

        registry = CollectorRegistry()
        registry.register(collector.LoadtestCollector(MasterMetricsSource(master, None), max_endpoints=endpoints))
        exposition.encode_text(registry)
        out = {
            "report": cpu_ms(lambda: feed.report(0), lambda: feed.queued[0].extend(
                feed.work.window(T0 + feed.second + i, feed.per_window // 2) for i in range(3))),
            "status": cpu_ms(master.status, advance),
            "abort": cpu_ms(lambda: monitor.check(master.snapshot(live=True), judged=judged), advance),
            "scrape": cpu_ms(lambda: exposition.encode_text(registry), advance),
        }  # fmt: skip
        out["keys/ep"] = sum(len(a.histogram) for a in master.aggregate.endpoints()) / endpoints
        for w in (0, 1):
            feed.report(w, final=True)
        master.sla = ""  # the gate is measured on its own below, in a fresh process
        start = time.perf_counter()
        master.finish()
        out["finish"] = (time.perf_counter() - start) * 1000
    finally:
        time.time = real_time  # type: ignore[assignment]
    stats = directory / STATS_FILE
    out["disk MiB"] = (stats.stat().st_size + (directory / windows.WINDOWS_FILE).stat().st_size) / 2**20
    out["gate s"], out["gate MiB"] = gate(stats, sla, directory)
    return out


def gate(stats: Path, sla: Path, directory: Path) -> tuple[float, float]:
    """`loadtest gate` in a fresh process: wall seconds and its peak resident memory."""
    code = (
        "import resource, sys, time; from loadtest.cli import main; t = time.perf_counter(); "
        "rc = main(sys.argv[1:]); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rc)"
    )
    args = ["gate", "--stats", str(stats), "--sla", str(sla), "--out", str(directory / "gate")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600, cwd=REPO, check=False
    )
    last = done.stdout.strip().splitlines()[-1].split()
    if last[2] not in ("0", "1", "3"):
        raise SystemExit(f"the gate failed: {done.stdout}\n{done.stderr}")
    return float(last[0]), float(last[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 and 600 windows only")
    lengths = [60, 600] if parser.parse_args().quick else [60, 600, 3600]
    results: dict[tuple[int, int], dict[str, float]] = {}
    for endpoints in (50, 500):
        for seconds in lengths:
            with tempfile.TemporaryDirectory(prefix="bench-long-run-") as tmp:
                began = time.perf_counter()
                results[(seconds, endpoints)] = run_case(seconds, endpoints, Path(tmp))
                print(f"  {seconds} windows x {endpoints} endpoints: {time.perf_counter() - began:.0f} s", flush=True)
    keys = ["report", "status", "abort", "scrape", "finish", "gate s", "gate MiB", "disk MiB", "keys/ep"]
    units = {"report": "ms", "status": "ms", "abort": "ms", "scrape": "ms", "finish": "ms"}
    print(f"\nbench_long_run: 2 req/s per endpoint, 2 workers; CPU ms median of {REPEATS} (finish: wall ms)")
    header = f"{'':<10}{'endpoints':>10}" + "".join(f"{k + (' ' + units[k] if k in units else ''):>14}" for k in keys)
    print(header)
    for endpoints in (50, 500):
        for seconds in lengths:
            r = results[(seconds, endpoints)]
            print(f"{seconds:>6} s  {endpoints:>10}" + "".join(f"{r[k]:>14.2f}" for k in keys))
            for ref in (60, 600):
                if seconds > ref and (ref, endpoints) in results:
                    ref_r = results[(ref, endpoints)]
                    ratios = "".join(f"{r[k] / ref_r[k] if ref_r[k] else 0.0:>13.2f}x" for k in keys)
                    print(f"{f'  vs {ref} s':<10}{'':>10}{ratios}")
    top = results[(lengths[-1], 500)]
    checks: list[tuple[str, bool]] = [
        (f"disk {top['disk MiB']:.1f} MiB <= 25 MiB", top["disk MiB"] <= 25),
        (f"gate {top['gate s']:.2f} s <= 1 s", top["gate s"] <= 1.0),
        (f"gate {top['gate MiB']:.0f} MiB <= 300 MiB", top["gate MiB"] <= 300),
        (f"scrape {top['scrape']:.0f} ms < 100 ms", top["scrape"] < 100),
    ]
    print(f"\n{lengths[-1]} windows x 500 endpoints: " + "; ".join(f"{t} {'yes' if ok else 'NO'}" for t, ok in checks))


if __name__ == "__main__":
    os.environ.setdefault("LOADTEST_LOG", "warning")
    main()
