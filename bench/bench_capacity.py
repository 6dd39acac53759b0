"""Capacity of the local backend on this machine: achieved vs planned rate, failures, CPU per process.

Runs the api_browsing scenario against the bundled demo target twice in one
invocation — a 100-user baseline and the 1,000-user run `make loadtest
USERS=1000` does — and reports each run's steady-state rate as a ratio of its
planned rate (users / mean wait), the failures, and the mean CPU of every
process (100 % = one core), sampled with psutil once a second.

    python bench/bench_capacity.py [--users 100,1000] [--duration 70s]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.run.summary import steady_state_rps  # noqa: E402
from loadtest.stats import artifact  # noqa: E402


def _role(proc: psutil.Process) -> str:
    argv = proc.cmdline()
    cmd = " ".join(argv)
    if proc.name().startswith("locust-"):  # forked and named by loadtest.locust.forking
        return "locust master" if proc.name() == "locust-master" else f"locust worker pid {proc.pid}"
    if "demo_target" in cmd or "uvicorn" in cmd or "multiprocessing" in cmd:
        return f"demo target pid {proc.pid}"
    return f"other pid {proc.pid}: {cmd[:40]}"


def measure(users: int, duration: str, workers: int | None) -> dict[str, object]:
    artifacts = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    cmd = [sys.executable, "-m", "loadtest", "run", "--users", str(users), "--duration", duration,
           "--progress", "off", "--artifacts-dir", str(artifacts)]  # fmt: skip
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "NO_COLOR": "1"}
    controller = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[str, list[float]] = defaultdict(list)
    tracked: dict[int, psutil.Process] = {}
    me = psutil.Process(controller.pid)
    while controller.poll() is None:
        try:
            for child in [me, *me.children(recursive=True)]:
                if child.pid not in tracked:
                    child.cpu_percent(None)  # prime
                    tracked[child.pid] = child
        except psutil.NoSuchProcess:
            pass
        time.sleep(1.0)
        status = _status(artifacts)
        if status.get("state") != "running":
            continue  # only the steady part counts
        for pid, proc in list(tracked.items()):
            try:
                role = "controller" if pid == controller.pid else _role(proc)
                cpu[role].append(proc.cpu_percent(None))
            except psutil.NoSuchProcess:
                tracked.pop(pid)
    run_dir = next(artifacts.glob("*/"))
    stats = artifact.load(run_dir / "stats.json")
    steady = steady_state_rps(stats)
    planned = stats["planned_rps"] or 0.0
    return {
        "users": users,
        "exit": controller.returncode,
        "planned_rps": planned,
        "steady_rps": steady[0] if steady else 0.0,
        "ratio": (steady[0] / planned) if steady and planned else 0.0,
        "requests": stats["aggregate"]["num_requests"],
        "failures": stats["aggregate"]["num_failures"],
        "cpu": {role: sum(v) / len(v) for role, v in sorted(cpu.items()) if v},
        "run_dir": str(run_dir),
    }


def _status(artifacts: Path) -> dict[str, object]:
    for path in artifacts.glob("*/status.json"):
        try:
            data = json.loads(path.read_text())
            return data if isinstance(data, dict) else {}
        except (json.JSONDecodeError, FileNotFoundError):
            return {}
    return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="100,1000", help="comma-separated; the first is the baseline")
    parser.add_argument("--duration", default="70s")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    results = [measure(int(u), args.duration, args.workers) for u in args.users.split(",")]
    base = results[0]
    print(f"{'users':>6} {'planned/s':>10} {'steady/s':>9} {'of plan':>8} {'failures':>9} {'vs baseline':>12}")
    for r in results:
        scale = (r["steady_rps"] / base["steady_rps"]) if base["steady_rps"] else 0.0  # type: ignore[operator]
        print(
            f"{r['users']:>6} {r['planned_rps']:>10.1f} {r['steady_rps']:>9.1f} {r['ratio']:>8.1%} "
            f"{r['failures']:>9} {scale:>11.2f}x"
        )
        for role, value in r["cpu"].items():  # type: ignore[attr-defined]
            print(f"         cpu {value:6.1f}%  {role}")
        print(f"         artifacts {r['run_dir']} (exit {r['exit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
