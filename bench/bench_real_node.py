"""1,000 users on the real node (issue 10): how fast a cluster run gets going, and whether it keeps up.

A control plane and a real node start in a temporary directory (scripts/cluster-up.sh,
scripts/node-up.sh: containerd, kubelet, kube-proxy, CoreDNS; images imported from `make image`).
Then `loadtest run --backend kubernetes --users 1000` with no host: master, workers, gate and the
bundled demo target run as pods, and the same run on the local backend is the baseline, in the same
invocation. Figures:
  node ready      - node-up's own time, and the image import within it;
  installed ->    - from `helm install` done to every worker connected, and to the first users;
  wall            - the controller's whole command, install to uninstall;
  rate            - requests per second over the run, against the planned rate (users / mean wait
                    of api_browsing's between(1, 3): 500/s) and against the local backend's.
Goal: at least 90 % of the planned rate with a PASS.

Run: .venv/bin/python bench/bench_real_node.py   (BENCH_DURATION=60s by default; root; make image first)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.backends.kubernetes.cluster import LocalCluster  # noqa: E402

USERS = 1000
DURATION = os.environ.get("BENCH_DURATION", "60s")
PLANNED_RATE = USERS / 2.0  # api_browsing waits between(1, 3) s: 2 s on average


def run(args: list[str], artifacts: Path) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", "--users", str(USERS), "--duration", DURATION,
         "--progress", "plain", "--artifacts-dir", str(artifacts), *args],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    run_dir = sorted(artifacts.glob("*/"))[-1]
    stats = json.loads((run_dir / "stats.json").read_text())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    verdict = json.loads((run_dir / "verdict.json").read_text())["outcome"]
    seconds = stats["ended_at"] - stats["started_at"]
    figures: dict[str, Any] = {
        "exit": done.returncode, "verdict": verdict, "requests": stats["aggregate"]["num_requests"],
        "rate": stats["aggregate"]["num_requests"] / seconds, "events": {e["event"]: e["t"] for e in events},
        "started_at": stats["started_at"],
    }  # fmt: skip
    if (run_dir / "demo-target.json").is_file():
        figures["target_served"] = json.loads((run_dir / "demo-target.json").read_text())["served"]
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return wall, figures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-real-node-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster")
        t0 = time.monotonic()
        cluster.start()
        control_plane = time.monotonic() - t0
        t0 = time.monotonic()
        try:
            out = cluster.start_node()
            node = time.monotonic() - t0
            imports = [int(ms) for ms in re.findall(r"imported \S+runner\S* in (\d+) ms", out)]
            kube_wall, kube = run(["--backend", "kubernetes", "--kubeconfig", str(cluster.kubeconfig),
                                   "--start-timeout", "180s"], Path(tmp) / "kube")  # fmt: skip
        finally:
            cluster.stop(purge=True)
        local_wall, local = run(["--backend", "local"], Path(tmp) / "local")
    ev = kube["events"]
    print(f"control plane up {control_plane:.1f} s; node ready {node:.1f} s "
          f"(runner image import {imports[0] / 1000 if imports else 0:.1f} s)")  # fmt: skip
    print(f"installed -> workers connected {ev['workers_connected'] - ev['helm_installed']:.1f} s, "
          f"-> first users {kube['started_at'] - ev['helm_installed']:.1f} s")  # fmt: skip
    for name, wall, fig in (("kubernetes", kube_wall, kube), ("local", local_wall, local)):
        print(f"{name:10s} {fig['verdict']:12s} exit {fig['exit']}  {fig['requests']:6d} requests  "
              f"{fig['rate']:6.1f}/s = {fig['rate'] / PLANNED_RATE:.1%} of planned  wall {wall:5.1f} s"
              + (f"  target served {fig['target_served']}" if "target_served" in fig else ""))  # fmt: skip
    print(f"ratio kubernetes/local: rate {kube['rate'] / local['rate']:.3f}, wall {kube_wall / local_wall:.2f}")
    ok = kube["verdict"] == "PASS" and kube["rate"] >= 0.9 * PLANNED_RATE
    print("goal (PASS, >= 90 % of the planned rate):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
