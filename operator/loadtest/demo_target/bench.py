"""Measure the demo target's sustained throughput with a closed-loop keep-alive client.

    python -m loadtest.demo_target.bench --url http://127.0.0.1:8080 --duration 10 --connections 32

Each connection logs in once, then sends the API mix of scenario (a) back to
back for a bounded duration and reports requests/s, status counts and
latency percentiles. `--think 1,3` makes each connection wait a uniform 1-3 s
between requests, like Locust users with `between(1, 3)`: 1,000 such
connections plan 500 requests/s. It is a measurement tool for `make bench`
and the report, not a timed test: loopback only, bounded in time and size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

MAX_DURATION_S = 60.0  # bounded: this machine is shared
MAX_CONNECTIONS = 2_000  # two Locust-like populations of 1,000 users
# (weight, path template): roughly scenario (a)'s browsing mix
MIX: tuple[tuple[int, str], ...] = (
    (6, "/api/products?page={page}&page_size=20"),
    (8, "/api/products/{id}"),
    (3, "/api/products?category={category}&in_stock=true&page={small}"),
    (2, "/api/products?min_price=10&max_price=50&page={small}"),
    (3, "/api/products/search?q={term}&limit=20"),
    (1, "/api/categories"),
    (1, "/api/stats/summary"),
    (2, "/api/dashboard"),
    (1, "/api/me"),
    (1, "/api/orders?page=1&page_size=20"),
)
CATEGORIES = ("books", "electronics", "garden", "kitchen", "toys", "sports")
TERMS = ("kettle", "red", "lamp", "tent", "puzzle", "compact", "guitar")


@dataclass
class Result:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def _path(rng: random.Random) -> str:
    template = rng.choices([t for _, t in MIX], weights=[w for w, _ in MIX])[0]
    return template.format(
        page=rng.randint(1, 500), id=rng.randint(1, 10_000), small=rng.randint(1, 5),
        category=rng.choice(CATEGORIES), term=rng.choice(TERMS),
    )  # fmt: skip


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _request(method: str, host: str, path: str, token: str | None = None, body: bytes = b"") -> bytes:
    headers = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if token:
        headers.append(f"Authorization: Bearer {token}")
    if body:
        headers.append("Content-Type: application/json")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _connection(
    host: str, port: int, index: int, stop_at: float, think: tuple[float, float], result: Result
) -> None:
    rng = random.Random(index)
    await asyncio.sleep(rng.uniform(0, think[1]))  # spread the logins like a spawn ramp
    reader, writer = await asyncio.open_connection(host, port)
    try:
        login = json.dumps({"username": f"user{index % 500 + 1:04d}", "password": "demo-password"}).encode()
        status, body = await _exchange(reader, writer, _request("POST", host, "/api/auth/login", body=login))
        result.statuses[status] += 1
        token = json.loads(body)["access_token"]
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            status, _ = await _exchange(reader, writer, _request("GET", host, _path(rng), token))
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1
            if think[1] > 0:
                await asyncio.sleep(min(rng.uniform(*think), max(0.0, stop_at - time.monotonic())))
    finally:
        writer.close()


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, round(pct / 100 * len(sorted_values)))  # nearest rank
    return sorted_values[rank - 1]


async def run_bench(
    url: str, duration_s: float, connections: int, think: tuple[float, float] = (0.0, 0.0)
) -> dict[str, object]:
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    result = Result()
    started = time.monotonic()
    stop_at = started + duration_s
    await asyncio.gather(*(_connection(host, port, i, stop_at, think, result) for i in range(connections)))
    elapsed = time.monotonic() - started
    latencies = sorted(result.latencies)
    total = sum(result.statuses.values())
    mean_think = sum(think) / 2
    return {
        "connections": connections,
        "planned_per_s": round(connections / mean_think, 1) if mean_think else None,
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(total / elapsed, 1),
        "statuses": dict(result.statuses),
        "latency_ms": {f"p{p}": round(_percentile(latencies, p) * 1000, 2) for p in (50, 95, 99)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.demo_target.bench", description=__doc__)
    parser.add_argument("--url", required=True, help="the demo target, e.g. http://127.0.0.1:8080")
    parser.add_argument("--duration", type=float, default=10.0, help=f"seconds (max {MAX_DURATION_S:g})")
    parser.add_argument("--connections", type=int, default=32, help=f"concurrent connections (max {MAX_CONNECTIONS})")
    parser.add_argument("--think", default="0,0", help="MIN,MAX seconds between a connection's requests")
    args = parser.parse_args(argv)
    try:
        low, high = (float(part) for part in args.think.split(","))
    except ValueError:
        low, high = -1.0, -1.0
    if not 0 <= low <= high:
        print(f"error: --think: {args.think!r} is invalid; write MIN,MAX seconds, e.g. 1,3", file=sys.stderr)
        return 2
    host = urllib.parse.urlsplit(args.url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"error: --url: {args.url!r} is not loopback; the bench only loads this machine", file=sys.stderr)
        return 2
    if not 0 < args.duration <= MAX_DURATION_S or not 0 < args.connections <= MAX_CONNECTIONS:
        print(f"error: --duration must be in (0, {MAX_DURATION_S:g}], --connections in [1, {MAX_CONNECTIONS}]",
              file=sys.stderr)  # fmt: skip
        return 2
    print(json.dumps(asyncio.run(run_bench(args.url, args.duration, args.connections, (low, high))), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
