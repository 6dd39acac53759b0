"""A Locust worker that replays a long synthetic run at full speed: `python scripted_worker.py PORT SECONDS ENDPOINTS`.

It speaks Locust's own protocol (zmqrpc, client_ready with the run's proof, heartbeats, stats
reports carrying the loadtest payload) but records nothing itself: it sends SECONDS one-second
windows ending now, ENDPOINTS endpoints each, in reports of 3 windows as fast as the master takes
them. It prints "sent <requests>" when every window is out, answers the master's quit with a final
(empty) report, and exits. Run in its own process: importing Locust patches the interpreter.
"""

from __future__ import annotations

import math
import os
import random
import sys
import threading
import time

import gevent
from locust import __version__
from locust.rpc import Message, zmqrpc
from locust.stats import RequestStats

from loadtest.locust import auth
from loadtest.stats import histogram


def window(t: float, endpoints: int, rng: random.Random) -> dict:
    out = []
    for i in range(endpoints):
        samples = [rng.lognormvariate(3 + i % 5 / 2, 0.6) for _ in range(1 + (i % 3))]
        hist: dict[float, int] = {}
        for ms in samples:
            hist[histogram.bucket(ms)] = hist.get(histogram.bucket(ms), 0) + 1
        out.append({
            "method": "GET", "name": f"/api/r{i}", "num_requests": len(samples), "num_failures": int(i % 17 == 0),
            "histogram": histogram.to_pairs(hist), "total_response_time_ms": sum(samples),
            "min_response_time_ms": min(samples), "max_response_time_ms": max(samples),
        })  # fmt: skip
    return {"t": t, "endpoints": out}


def main() -> None:
    port, seconds, endpoints = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    node = f"scripted_{os.getpid()}"
    client = zmqrpc.Client("127.0.0.1", port, node)
    secret = os.environ["LOADTEST_RUN_SECRET"]
    client.send(Message("client_ready", {"version": __version__, auth.PROOF_KEY: auth.proof(secret, node)}, node))
    empty = RequestStats()

    def report(windows: list[dict], final: bool = False) -> None:
        data = {
            "stats": [], "stats_total": empty.total.get_stripped_report(), "errors": {}, "user_count": 1,
            "user_classes_count": {}, "loadtest": {"windows": windows, "final": final, "users": 1},
        }  # fmt: skip
        client.send(Message("stats", data, node))

    def heartbeat() -> None:
        while True:
            client.send(Message("heartbeat", {"state": "ready", "current_cpu_usage": 5.0,
                                              "current_memory_usage": 1}, node))  # fmt: skip
            gevent.sleep(1.0)

    gevent.spawn(heartbeat)
    rng = random.Random(12)
    first = math.floor(time.time()) - seconds
    requests = 0
    for start in range(0, seconds, 3):
        batch = [window(float(first + s), endpoints, rng) for s in range(start, min(seconds, start + 3))]
        requests += sum(e["num_requests"] for w in batch for e in w["endpoints"])
        report(batch)
        gevent.sleep(0)  # let the heartbeat through
    print(f"sent {requests}", flush=True)
    quit_seen = threading.Event()
    while not quit_seen.is_set():
        msg = client.recv()
        if msg.type == "quit":
            report([], final=True)
            gevent.sleep(0.5)
            quit_seen.set()
    client.close()


if __name__ == "__main__":
    main()
