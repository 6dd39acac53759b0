"""How many WebSocket connections can this machine hold, and what does each cost?

Runs `loadtest run` against the bundled demo target (started here, 2 server processes) with a
locustfile whose users each log in over HTTP, hold one WebSocket connection to /ws, subscribe to
the price feed (one push every PUSH_S seconds) and ask for a quote every ~QUOTE_S seconds; two
runs in one invocation: a BASELINE-connection run and the TARGET run, each ramping up at RAMP
users/s and then holding every connection for HOLD seconds. The gate judges each run
(websocket.min_connections = its users: every connection held at every report after warm-up;
disconnect_rate < 1 %; push p95; the saturation checks), so a machine that saturates says so.

Reported per run, from psutil samples every second during the hold (after every user spawned):
the verdict and its deciding checks, connections held, pushes and calls per second, CPU of the
workers, the master and the demo target (100 % = one core), and their resident memory; and the
memory per connection as the TARGET / BASELINE difference (the marginal cost of a connection:
what the processes hold without any cancels out), for the workers (user, session, socket,
greenlet) and the demo target (its connection state, task and socket). The open-file limits
the controller checked are printed too.

    python bench/bench_websocket.py [--users 1000,10000] [--hold 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.demo_target import DemoTarget  # noqa: E402

PUSH_S = 10  # the feed's pace per connection
QUOTE_S = 30  # mean seconds between a user's quotes
RAMP = 250  # users started per second
LOCUSTFILE = f"""
import random

from locust import FastHttpUser, between, task
from loadtest.locust.websocket import WebSocketSession, ws_url


class Holder(FastHttpUser):
    wait_time = between({QUOTE_S * 0.5}, {QUOTE_S * 1.5})
    websocket_connections = 1

    def on_start(self):
        self.ws = None
        account = {{"username": f"user{{random.randint(1, 500):04d}}", "password": "demo-password"}}
        with self.client.post("/api/auth/login", json=account, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"login: HTTP {{r.status_code}}")
                return
            token = r.json()["access_token"]
        auth = {{"Authorization": "Bearer " + token}}
        self.ws = WebSocketSession(self.environment, ws_url(self.host, "/ws"), headers=auth, timeout_s=30)
        if self.ws.connect():
            self.ws.call("subscribe", channel="prices", interval_ms={PUSH_S * 1000})

    @task
    def quote(self):
        if self.ws is not None and self.ws.connected:
            self.ws.call("quote", symbol="P7")

    def on_stop(self):
        if self.ws is not None:
            self.ws.close()
"""


def _sla(users: int) -> str:
    return f"""version: 1
warmup: spawn
endpoints:
  - {{name: prices, method: WSPUSH, p95: "< 1000"}}
  - {{name: quote, method: WSCALL, p95: "< 1000", min_samples: {{p95: 20}}}}
websocket:
  connect: {{success_rate: ">= 99"}}
  disconnect_rate: "< 1%"
  min_connections: {users}
"""


def _role(proc: psutil.Process, target_pids: set[int]) -> str | None:
    name = proc.name()
    if name == "locust-master":
        return "master"
    if name.startswith("locust-worker"):
        return "workers"
    if proc.pid in target_pids:
        return "target"
    return None


def run(users: int, hold: int, workers: int, target: DemoTarget, workdir: Path) -> dict[str, object]:
    locustfile, sla = workdir / "holder.py", workdir / f"sla-{users}.yaml"
    locustfile.write_text(LOCUSTFILE)
    sla.write_text(_sla(users))
    artifacts = workdir / f"results-{users}"
    ramp_s = users / RAMP
    cmd = [sys.executable, "-m", "loadtest", "run", "--locustfiles", str(locustfile), "--host", target.url,
           "--users", str(users), "--spawn-rate", str(RAMP), "--duration", f"{int(ramp_s + hold)}s",
           "--workers", str(workers), "--sla", str(sla), "--progress", "plain", "--artifacts-dir", str(artifacts),
           "--start-timeout", "120s", "--stop-timeout", "30s"]  # fmt: skip
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}, "LOADTEST_HISTORY_URL": "off"}
    controller = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    me = psutil.Process(controller.pid)
    target_pids = {p.pid for p in target.process_tree()}
    tracked: dict[int, tuple[str, psutil.Process]] = {}
    cpu: dict[str, list[float]] = {"workers": [], "master": [], "target": []}
    rss: dict[str, list[float]] = {"workers": [], "master": [], "target": []}
    before = target.stats()["websocket"]
    held_from: float | None = None
    status_path = None
    while controller.poll() is None:
        time.sleep(1.0)
        for proc in [*me.children(recursive=True), *map(psutil.Process, target_pids)]:
            if proc.pid not in tracked:
                try:
                    role = _role(proc, target_pids)
                    if role:
                        proc.cpu_percent(None)
                        tracked[proc.pid] = (role, proc)
                except psutil.Error:
                    pass
        status_path = status_path or next(iter(artifacts.glob("*/status.json")), None)
        try:
            status = json.loads(status_path.read_text()) if status_path else {}
        except (OSError, ValueError):
            status = {}
        if held_from is None and status.get("spawn_complete_at") and status.get("connections", 0) >= users:
            held_from = time.time()
        if held_from is None or status.get("state") != "running":
            for _, proc in tracked.values():
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent(None)  # restart the CPU interval: only the hold is measured
            continue
        totals = {"workers": [0.0, 0.0], "master": [0.0, 0.0], "target": [0.0, 0.0]}
        for role, proc in tracked.values():
            try:
                totals[role][0] += proc.cpu_percent(None)
                totals[role][1] += proc.memory_info().rss / 2**20
            except psutil.Error:
                pass
        for role, (c, m) in totals.items():
            cpu[role].append(c)
            rss[role].append(m)
    output = controller.stdout.read() if controller.stdout else ""
    after = target.stats()["websocket"]
    run_dir = next(artifacts.glob("*/"))
    verdict = json.loads((run_dir / "verdict.json").read_text())
    stats = json.loads((run_dir / "stats.json").read_text())
    rows = {(e["method"], e["name"]): e for e in stats["endpoints"]}
    seconds = max(1.0, stats["ended_at"] - stats["started_at"])
    deciding = [f"{c['subject']} {c['metric']} {c['result']}: {c['reason']}" for c in verdict["checks"]
                if c["result"] != "pass"]  # fmt: skip
    return {
        "users": users,
        "exit": controller.returncode,
        "outcome": verdict["outcome"],
        "deciding": deciding,
        "held": next((c["measured"] for c in verdict["checks"] if c["metric"] == "min_connections"), None),
        "accepted": after["WS accepted"] - before["WS accepted"],
        "dropped": after["WS dropped"] - before["WS dropped"],
        "pushes_per_s": rows.get(("WSPUSH", "prices"), {}).get("num_requests", 0) / seconds,
        "calls_per_s": rows.get(("WSCALL", "quote"), {}).get("num_requests", 0) / seconds,
        "push_p95_ms": next((c["measured"] for c in verdict["checks"] if c["subject"] == "WSPUSH prices"), None),
        "hold_samples": len(cpu["workers"]),
        "cpu": {k: statistics.median(v) if v else float("nan") for k, v in cpu.items()},
        "rss_mib": {k: statistics.median(v) if v else float("nan") for k, v in rss.items()},
        "tail": output[-1500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="1000,10000", help="baseline,target connections")
    parser.add_argument("--hold", type=int, default=60, help="seconds every connection is held")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base, top = (int(x) for x in args.users.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"bench_websocket: {base:,} then {top:,} connections, {args.workers} workers, held {args.hold} s; "
          f"push every {PUSH_S} s, a quote every ~{QUOTE_S} s per connection; "
          f"open files: soft {soft}, hard {hard}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-websocket-") as tmp:
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # for the demo target started here
        with DemoTarget(host="127.0.0.1", port=0, workers=2, data_dir=Path(tmp) / "target") as target:
            results = [run(n, args.hold, args.workers, target, Path(tmp)) for n in (base, top)]
    for r in results:
        print(f"\n{r['users']:,} users: verdict {r['outcome']} (exit {r['exit']}); held {r['held']}, accepted "
              f"{r['accepted']}, dropped {r['dropped']}; {r['pushes_per_s']:.0f} pushes/s, {r['calls_per_s']:.0f} "
              f"calls/s, push p95 {r['push_p95_ms']} ms; {r['hold_samples']} samples while held")  # fmt: skip
        cpu, rss = r["cpu"], r["rss_mib"]
        print(f"  CPU % (100 = a core): workers {cpu['workers']:.0f}, master {cpu['master']:.0f}, "  # type: ignore[index]
              f"target {cpu['target']:.0f};  RSS MiB: workers {rss['workers']:.0f}, master {rss['master']:.0f}, "  # type: ignore[index]
              f"target {rss['target']:.0f}")  # type: ignore[index]
        for line in r["deciding"]:  # type: ignore[attr-defined]
            print(f"  - {line}")
        if r["outcome"] == "INCONCLUSIVE" or r["exit"] not in (0, 1):
            print("  output tail:\n" + str(r["tail"]))
    b, t = results
    extra = t["users"] - b["users"]  # type: ignore[operator]
    for role in ("workers", "target"):
        per = (t["rss_mib"][role] - b["rss_mib"][role]) * 1024 / extra  # type: ignore[index]
        print(f"memory per connection, {role}: {per:.1f} KiB ((RSS at {t['users']:,} - at {b['users']:,}) / {extra:,})")
    ratio = t["cpu"]["workers"] / b["cpu"]["workers"] if b["cpu"]["workers"] else float("nan")  # type: ignore[index]
    times = t["users"] / b["users"]  # type: ignore[operator]
    print(f"worker CPU {t['users']:,} / {b['users']:,}: {ratio:.2f}x for {times:.0f}x the connections")


if __name__ == "__main__":
    main()
