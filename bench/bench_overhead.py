"""What the loadtest plugin costs against raw Locust: a worker's top rate, and the master's CPU.

One master and one worker drive the bundled demo target as fast as they can (bench_guard's
locustfile: FastHttpUser, no wait, /healthz; 20 users) for a fixed time, alternately as raw
Locust (`python -m locust`) and with the plugin (`python -m loadtest.locust.agent`: exact windows
on the worker; merging, the window log, status and stats.json on the master), in one invocation.
Both sides start as separate processes here; the local backend forks its processes from one
import instead (loadtest.locust.forking), which runs the same code.
Reported per kind, medians of the rounds: requests per second over the run (Locust's own count,
from its CSV), and the master's CPU seconds (its rusage at exit); and the plugin / raw ratios,
the median of each round's pair (the two runs of a round are back to back, so a round's ratio
holds when the machine's speed drifts: single rates here vary by +-20 % run to run).
Goal (issue 12): within 5 % of raw Locust's rate.

    python bench/bench_overhead.py [--rounds 5] [--seconds 15] [--users 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from bench_guard import alternating, master_and_worker  # noqa: E402


def one_run(target: str, plugin: bool, seconds: int, users: int, workdir: Path) -> tuple[float, float]:
    """(requests per second, master CPU seconds) of one run."""
    run = Path(tempfile.mkdtemp(dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env["PYTHONPATH"] = str(REPO / "operator")
    base = [sys.executable, "-m", "loadtest.locust.agent" if plugin else "locust", "-f", str(workdir / "locustfile.py")]
    extra = ["--csv", str(run / "locust")]
    extra += ["--loadtest-artifacts", str(run), "--loadtest-expect-workers", "1"] if plugin else []
    master, worker = master_and_worker(base, target, users, seconds, extra, env)
    _, _, usage = os.wait4(master.pid, 0)
    master.returncode = 0
    worker.wait(timeout=60)
    with open(run / "locust_stats.csv", newline="") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    return int(total["Request Count"]) / seconds, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    def run(target: str, plugin: bool, workdir: Path) -> tuple[float, float]:
        rate, cpu = one_run(target, plugin, args.seconds, args.users, workdir)
        print(f"{'plugin' if plugin else 'raw   '} {rate:8.1f} req/s, master CPU {cpu:.2f} s", flush=True)
        return rate, cpu

    results = alternating(args.rounds, run)
    raw = [statistics.median(x[i] for x in results[False]) for i in (0, 1)]
    ours = [statistics.median(x[i] for x in results[True]) for i in (0, 1)]
    print(f"bench_overhead: master + 1 worker, {args.users} users, no wait, {args.seconds} s; median of {args.rounds}")
    print(f"{'':<10}{'req/s':>10}{'master CPU s':>14}")
    print(f"{'raw':<10}{raw[0]:>10.1f}{raw[1]:>14.2f}")
    print(f"{'plugin':<10}{ours[0]:>10.1f}{ours[1]:>14.2f}")
    pairs = list(zip(results[True], results[False], strict=True))
    rate_ratio = statistics.median(p[0] / r[0] for p, r in pairs)
    cpu_ratio = statistics.median(p[1] / r[1] for p, r in pairs)
    print(f"{'ratio':<10}{rate_ratio:>9.3f}x{cpu_ratio:>13.2f}x   (median of the rounds' pairs)")
    print(f"rate {rate_ratio:.3f} of raw Locust's: {'within' if rate_ratio >= 0.95 else 'beyond'} 5 %")


if __name__ == "__main__":
    main()
