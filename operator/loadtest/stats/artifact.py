"""The run's stats artifact (`results/<run_id>/stats.json`): the contract between the
Locust master plugin that writes it and everything that reads it (the gate, the
summary, the e2e tests).

Histograms are sorted ``[[value_ms, count], ...]`` pairs in the scheme named by
``bucket_scheme`` (see histogram.py). Times are Unix seconds (float).

Intervals are fixed windows of ``interval_s`` seconds aligned to the Unix epoch,
keyed by the completion time of each request as seen by the worker that made
it; ``t`` is the window's start. Summing every interval gives the cumulative
``endpoints`` exactly; excluding a warm-up means dropping whole windows that
start before the warm-up end rounded up to a window boundary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

import orjson

from loadtest.core.errors import GateError
from loadtest.core.fileio import gc_paused

STATS_SCHEMA = "loadtest.stats/v2"  # the summary here, the windows in the window log (stats/windows.py)
STATS_SCHEMA_V1 = "loadtest.stats/v1"  # every window inline in `intervals`; still read
SCHEMAS = (STATS_SCHEMA_V1, STATS_SCHEMA)
STATS_FILE = "stats.json"
STATUS_FILE = "status.json"  # the master's live status, rewritten every second


class EndpointStats(TypedDict):
    method: str  # "GET", ... ; "" for the aggregate
    name: str  # the Locust request name; "Aggregated" for the aggregate
    num_requests: int  # includes failures
    num_failures: int
    # [[value_ms, count], ...]; counts sum to num_requests, less requests a custom client
    # reported without a response time (Locust allows None; we never invent a 0 for them)
    histogram: list[list[float]]
    total_response_time_ms: float  # exact sum (not bucketed) for the mean
    min_response_time_ms: float | None  # exact, None when no requests
    max_response_time_ms: float | None
    # v2, cumulative entries only: [[t, value], ...] the largest (smallest) value of any window
    # starting at or after t, for the first t of each step (see recording.Staircase)
    max_after: NotRequired[list[list[float]]]
    min_after: NotRequired[list[list[float]]]


class IntervalStats(TypedDict):
    t: float  # window start (Unix s)
    users: int  # users running at the master at the end of the window (best effort)
    endpoints: list[EndpointStats]  # only endpoints with requests in this window


class WorkerSample(TypedDict):
    t: float  # when the worker's report reached the master
    cpu_percent: float  # worker process CPU over the report interval (100 = one core)
    # event-loop lag over the report interval, from a probe every 100 ms: the 90th percentile of
    # the probes (a saturated loop is late on most of them), and the single worst probe
    loop_lag_ms: float
    loop_lag_max_ms: float
    # share of the interval the worker was runnable but waiting for a CPU (/proc/self/schedstat):
    # high on an oversubscribed machine even when the worker's own CPU use looks modest
    runqueue_wait_percent: float
    users: int
    connections: NotRequired[int]  # WebSocket connections open on the worker (loadtest.locust.websocket)


class WorkerStats(TypedDict):
    id: str
    index: int
    state: str  # last state the master saw: ready | spawning | running | stopped | missing
    lost: bool  # the master lost its heartbeat before its final report
    lost_at: NotRequired[float | None]  # when it was lost
    resumed_at: NotRequired[float | None]  # when a lost worker reported again (its later reports merged)
    num_requests: int  # requests this worker recorded (every worker should have sent some)
    samples: list[WorkerSample]


class RefusedWorker(TypedDict):
    id: str  # the node id it connected with
    t: float  # first refusal
    reason: str  # no proof, wrong proof, surplus, spoofed sender
    messages: int  # messages dropped from it


class ErrorStats(TypedDict):
    method: str
    name: str
    error: str
    occurrences: int


class RunEvent(TypedDict):
    t: float
    kind: str  # e.g. "spawning_complete", "worker_lost", "cpu_warning", "abort"
    detail: str


class WindowsInfo(TypedDict):
    """v2: where the windows are and what a reader needs without reading them."""

    file: str  # the window log, relative to stats.json (windows.jsonl.gz)
    index: list[list[float]]  # [[t, users, requests, failures], ...] per window, oldest first
    late: list[float]  # windows with more than one line in the log (late reports)
    bytes: int  # the log's size when stats.json was written


class StatsArtifact(TypedDict):
    schema: str  # STATS_SCHEMA
    run_id: str
    scenario: str
    host: str
    bucket_scheme: str
    interval_s: float
    started_at: float | None  # first user spawned (test_start)
    spawn_complete_at: float | None  # every planned user spawned; the default warm-up end
    ended_at: float | None
    target_users: int
    # planned requests/s: users / mean wait (tasks/s, from the locustfile) x the requests per task the
    # workers observed (requests_per_task); None if unknown
    planned_rps: float | None
    worker_count_expected: int
    complete: bool  # False when the master could not collect every worker's final report
    endpoints: list[EndpointStats]
    aggregate: EndpointStats
    intervals: list[IntervalStats]  # v2: not in the file; `load` fills it from the window log on request
    errors: list[ErrorStats]
    workers: list[WorkerStats]
    events: list[RunEvent]
    locust_totals: dict[str, int]  # Locust's own master counters, for cross-checks
    # Optional in the same schema (artifacts written before them lack them; readers use .get):
    worker_auth: NotRequired[bool]  # workers proved the run's secret (False: only counted)
    refused_workers: NotRequired[list[RefusedWorker]]  # processes that tried to join and were never merged
    blocked_hosts: NotRequired[dict[str, int]]  # host:port -> requests refused by the allowlist guard
    allowlist: NotRequired[list[str] | None]  # the effective allowlist; None: not enforced
    requests_per_task: NotRequired[float | None]  # observed inside tasks; None: too few tasks to say
    windows: NotRequired[WindowsInfo]  # v2 only


def load(path: Path) -> StatsArtifact:
    """Read and minimally check a stats artifact; errors name the file and the fix.

    v2 keeps the windows in the window log next to it: this reads only the summary, with
    `intervals` empty and `windows.file` made absolute (the gate and the console summary need no
    more). `windows.load` reads the windows back into `intervals` too.

    An hour-long run's artifact is tens of MB of small lists: parsed with orjson and with the
    cyclic garbage collector paused (the objects are fresh and acyclic; collecting while
    millions are allocated cost 3/4 of the time: 1.5 s -> 0.4 s for 50 endpoints x 1 h)."""
    try:
        with gc_paused():
            raw: Any = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise GateError(
            f"stats artifact {path} does not exist",
            hint="pass the stats.json of a finished run: results/<run_id>/stats.json",
        ) from exc
    except json.JSONDecodeError as exc:
        raise GateError(f"stats artifact {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("schema") not in SCHEMAS:
        got = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
        newer = isinstance(got, str) and got.startswith("loadtest.stats/")
        raise GateError(
            f"{path}: field 'schema' is {got!r}, expected one of {', '.join(SCHEMAS)}",
            hint="written by a newer loadtest: upgrade this one to read it"
            if newer
            else "this file was not written by loadtest's master plugin",
        )
    stats = cast(StatsArtifact, raw)
    if "windows" not in stats:
        return stats
    stats["windows"]["file"] = str(path.parent / stats["windows"]["file"])
    stats["intervals"] = []
    return stats


def window_starts(stats: StatsArtifact) -> list[float]:
    """Every window's start, oldest first, without reading the windows themselves."""
    if "windows" in stats:
        return [float(row[0]) for row in stats["windows"]["index"]]
    return sorted(float(i["t"]) for i in stats["intervals"])
