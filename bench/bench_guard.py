"""What the allowlist guard and worker authentication cost a worker at full speed.

One master and one worker (`python -m loadtest.locust.agent`, as the local
backend starts them) drive the bundled demo target as fast as they can
(FastHttpUser, no wait) for a fixed time, alternately with the guard and the
run secret set and without them, in the same invocation. Reported: requests per
second of each run and the ratio guarded / bare (1.0 = free). Every request of a
guarded run passes the URL check, every new connection the socket check, and
every request the host-naming wrapper of the request event. End-to-end rates on a
2-core machine that also runs the target vary by +-20 % run to run, so the
in-process cost per request (request event bare vs wrapped, plus the URL check)
is printed too, as a share of what a request costs at the measured rate.

    python bench/bench_guard.py [--rounds 3] [--seconds 15] [--users 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.core import hosts  # noqa: E402
from loadtest.core.processes import free_port  # noqa: E402
from loadtest.stats import windows  # noqa: E402

T = TypeVar("T")
LOCUSTFILE = """
from locust import FastHttpUser, task, constant

class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/healthz")
"""


def master_and_worker(
    base: list[str], target: str, users: int, seconds: int, extra: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """A headless master (`base` + Locust options + `extra`) and one worker on a free loopback port."""
    port = free_port()
    master = subprocess.Popen(
        [*base, "--master", "--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", "1", "-H", target, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
         "--only-summary", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return master, worker


def one_run(target: str, guarded: bool, seconds: int, users: int, workdir: Path) -> float:
    artifacts = Path(tempfile.mkdtemp(dir=workdir))
    locustfile = workdir / "locustfile.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env["PYTHONPATH"] = str(REPO / "operator")
    if guarded:
        env[hosts.ENV] = hosts.to_env(hosts.entries_for(target, []))
        env["LOADTEST_RUN_SECRET"] = "b" * 64
    agent = [sys.executable, "-m", "loadtest.locust.agent", "-f", str(locustfile)]
    extra = ["--loadtest-artifacts", str(artifacts), "--loadtest-expect-workers", "1"]
    master, worker = master_and_worker(agent, target, users, seconds, extra, env)
    master.wait(timeout=seconds + 90)
    worker.wait(timeout=30)
    stats = windows.load(artifacts / "stats.json")
    assert stats.get("worker_auth") is guarded and not stats.get("refused_workers"), "the run was not as intended"
    assert not stats.get("blocked_hosts"), stats.get("blocked_hosts")
    window = (stats["ended_at"] or time.time()) - stats["spawn_complete_at"]
    steady = [i for i in stats["intervals"] if i["t"] >= stats["spawn_complete_at"] + 1]
    return float(sum(e["num_requests"] for i in steady for e in i["endpoints"]) / max(1.0, window - 1))


def per_request_cost_us(n: int = 200_000) -> tuple[float, float]:
    """In-process: microseconds a request spends in the request event, bare and with the guard's
    wrapper plus the URL check every HttpUser/FastHttpUser request passes."""
    import timeit

    from locust.env import Environment

    from loadtest.locust import allowlist

    env = Environment(host="http://127.0.0.1:8080")
    env.events.request.add_listener(lambda **kwargs: None)
    kwargs = {"request_type": "GET", "name": "/healthz", "response_time": 1.0, "response_length": 2,
              "exception": None, "context": {}, "url": "http://127.0.0.1:8080/healthz"}  # fmt: skip
    bare = timeit.timeit(lambda: env.events.request.fire(**kwargs), number=n) / n * 1e6
    guard = allowlist.Guard(["127.0.0.1:8080"])
    allowlist.name_other_hosts(env)
    url = str(kwargs["url"])

    def guarded() -> None:
        guard.url_allowed(url)
        env.events.request.fire(**kwargs)

    return bare, timeit.timeit(guarded, number=n) / n * 1e6


def alternating(rounds: int, run: Callable[[str, bool, Path], T]) -> dict[bool, list[T]]:
    """`run(target_url, flag, workdir)` against the bundled demo target (one uvicorn worker), both
    flags each round, their order alternating, LOCUSTFILE written to workdir/locustfile.py."""
    from loadtest.demo_target.server import DemoTarget

    results: dict[bool, list[T]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        workdir = Path(tmp)
        (workdir / "locustfile.py").write_text(LOCUSTFILE)
        target = DemoTarget(host="127.0.0.1", port=0, workers=1, data_dir=workdir / "demo").start(timeout_s=120)
        try:
            for r in range(rounds):
                for flag in (False, True) if r % 2 == 0 else (True, False):
                    print(f"round {r + 1}: ", end="", flush=True)
                    results[flag].append(run(str(target.url), flag, workdir))
        finally:
            target.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    plain_us, guarded_us = per_request_cost_us()  # first: Locust (gevent) before anything imports ssl

    def run(target: str, guarded: bool, workdir: Path) -> float:
        rate = one_run(target, guarded, args.seconds, args.users, workdir)
        print(f"{'guarded' if guarded else 'bare   '} {rate:8.1f} req/s", flush=True)
        return rate

    rates = alternating(args.rounds, run)
    bare, with_guard = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"median bare {bare:.1f} req/s, guarded {with_guard:.1f} req/s: ratio guarded/bare {with_guard / bare:.3f}")
    budget_us = 1e6 / bare  # one core's time per request at the bare rate (an upper bound of a worker's)
    print(
        f"per request in-process: request event {plain_us:.2f} us bare, {guarded_us:.2f} us with the guard "
        f"(+{guarded_us - plain_us:.2f} us = {100 * (guarded_us - plain_us) / budget_us:.2f} % of the "
        f"{budget_us:.0f} us a request costs at {bare:.0f} req/s)"
    )


if __name__ == "__main__":
    main()
