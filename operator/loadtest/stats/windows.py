"""The window log (`results/<run_id>/windows.jsonl.gz`): every 1-s window of a run, written as it settles.

Why this format. A run's exact stats are one small record per (window, endpoint): an hour at
500 endpoints is 1.8 million of them. Pretty-printed JSON made that 392 MiB, written in one go at
the end of the run (23 s, longer than the master's stop grace). Here each window is one line of
compact JSON, endpoints are numbered once (a declaration line) instead of named in every window,
times are kept to the microsecond, and the lines are gzip-compressed in one gzip member per flush
and appended. So:

- size follows what happened: a quiet endpoint costs nothing in a window, and the rest compresses
  ~10x (1 h x 500 endpoints: ~20 MiB; `bench/bench_long_run.py`);
- it is written while the run goes: the master appends the windows every live worker has reported
  past, once a second, so a killed master loses only windows it had not received from every worker
  yet (at most one report interval, 3 s), and an interrupted one loses nothing;
- it is read with the standard library (zlib, one line at a time) and orjson; a truncated last
  member (a kill in the middle of a write) loses only that member's lines;
- it stays exact: a window that gets a late report after it was written gets a second line with
  the same ``t``; readers add lines with the same ``t`` (counts add, like every merge here).

A columnar or binary histogram encoding (HdrHistogram) would be smaller still, but would need
numpy or a C extension in the runner image and a second histogram scheme; SQLite compresses
nothing and costs a transaction per window. The gate does not read every window at all (see
`judged`): the summary in stats.json carries the cumulative histograms, and the judged window is
the cumulative minus the warm-up windows at the start of the log.

Line kinds (one JSON object per line; unknown keys are ignored by readers):
  {"schema": "loadtest.windows/v1", "run_id": ..., "interval_s": 1.0, "bucket_scheme": "sig3-ms"}
  {"endpoint": 3, "method": "GET", "name": "/items"}         declared before its first use
  {"t": 1733300000.0, "u": 50, "e": [[3, n, failures, sum_ms, min_ms, max_ms, v1, c1, v2, c2, ...]]}
  {"meta": {"started_at": ..., "spawn_complete_at": ..., ...}}  the run's times as they happen
  {"event": {"t": ..., "kind": ..., "detail": ...}}          the master's events as they happen
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from loadtest.core.errors import GateError
from loadtest.core.fileio import gc_paused
from loadtest.stats import artifact
from loadtest.stats.artifact import EndpointStats, IntervalStats, StatsArtifact
from loadtest.stats.recording import (
    EndpointAccum,
    EndpointKey,
    RunAggregate,
    Staircase,
    WindowPayload,
    in_aggregate,
    subtract,
)
from loadtest.stats.recording import aggregate as aggregate_of

WINDOWS_SCHEMA = "loadtest.windows/v1"
WINDOWS_FILE = "windows.jsonl.gz"
COMPRESSION_LEVEL = 6  # zlib's default: ~3x smaller than level 1 for these lines, ~20 MB/s is plenty
READ_CHUNK = 1 << 20
NOT_OURS = "the two files are not from the same loadtest run, or were changed since; rerun the run"


def _us(value: float | None) -> float | None:
    """Milliseconds kept to the microsecond: the clock's noise below that only costs bytes."""
    return None if value is None else round(value, 3)


def encode_entry(endpoint_id: int, accum: EndpointAccum) -> list[Any]:
    row: list[Any] = [
        endpoint_id,
        accum.num_requests,
        accum.num_failures,
        _us(accum.total_response_time_ms),
        _us(accum.min_response_time_ms),
        _us(accum.max_response_time_ms),
    ]
    for key in sorted(accum.histogram):
        count = accum.histogram[key]
        if count:
            row.append(key)
            row.append(count)
    return row


def decode_entry(row: Sequence[Any], key: EndpointKey) -> EndpointAccum:
    pairs = row[6:]
    return EndpointAccum(
        method=key[0],
        name=key[1],
        num_requests=int(row[1]),
        num_failures=int(row[2]),
        histogram={float(pairs[i]): int(pairs[i + 1]) for i in range(0, len(pairs), 2)},
        total_response_time_ms=float(row[3]),
        min_response_time_ms=row[4],
        max_response_time_ms=row[5],
    )


class WindowLog:
    """Appends lines to the log as gzip members; the master's only writer.

    A failed write (a full disk) is truncated away, so the file always ends with whole members,
    and raises: the caller keeps the lines and retries on its next flush.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.ids: dict[EndpointKey, int] = {}
        self.bytes = 0
        self._pending_lines: list[bytes] = [orjson.dumps({"schema": WINDOWS_SCHEMA, **header})]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def note(self, line: dict[str, Any]) -> None:
        """Queue a meta or event line ({"meta": {...}} / {"event": {...}}): what `recover` needs
        besides the windows to rebuild stats.json after the master was killed."""
        self._pending_lines.append(orjson.dumps(line))

    def window(self, t: float, users: int, endpoints: Iterable[EndpointAccum]) -> None:
        """Queue one window's (or a late report's) lines; `flush` writes them."""
        rows = []
        for accum in endpoints:
            key = (accum.method, accum.name)
            endpoint_id = self.ids.get(key)
            if endpoint_id is None:
                endpoint_id = self.ids[key] = len(self.ids)
                self._pending_lines.append(
                    orjson.dumps({"endpoint": endpoint_id, "method": accum.method, "name": accum.name})
                )
            rows.append(encode_entry(endpoint_id, accum))
        self._pending_lines.append(orjson.dumps({"t": t, "u": users, "e": rows}))

    def flush(self) -> int:
        """Write the queued lines as one gzip member; returns the bytes written."""
        if not self._pending_lines:
            return 0
        compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31)
        data = b"\n".join(self._pending_lines) + b"\n"
        member = compressor.compress(data) + compressor.flush()
        with open(self.path, "ab") as f:
            start = f.tell()
            try:
                f.write(member)
                f.flush()
            except OSError:
                f.truncate(start)
                raise
        self._pending_lines = []
        self.bytes += len(member)
        return len(member)


@dataclass
class LogContents:
    header: dict[str, Any]
    names: dict[int, EndpointKey] = field(default_factory=dict)
    truncated: bool = False  # the last member was cut short (a killed writer): its lines are lost
    meta: dict[str, Any] = field(default_factory=dict)  # the run's times and targets, latest value wins
    events: list[dict[str, Any]] = field(default_factory=list)
    repeated: set[float] = field(default_factory=set)  # windows with more than one line (late reports)


def lines(path: Path, contents: LogContents | None = None) -> Iterator[dict[str, Any]]:
    """The window lines of the log, in file order; the header and the endpoint declarations are
    read into `contents` (when given). A torn or cut last member ends the lines early and sets
    `contents.truncated`."""
    contents = contents if contents is not None else LogContents({})
    decompressor = zlib.decompressobj(31)
    in_member = False  # the current member has started but not ended
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            data: list[bytes] = []
            while chunk:
                in_member = True
                try:
                    data.append(decompressor.decompress(chunk))
                except zlib.error:
                    contents.truncated = True  # a torn member: keep what came before it
                    break
                if not decompressor.eof:
                    break
                in_member = False
                chunk = decompressor.unused_data
                decompressor = zlib.decompressobj(31)
            buf = tail + b"".join(data)
            cut = buf.rfind(b"\n")
            tail = buf[cut + 1 :]
            if cut >= 0:
                yield from _parse(buf[:cut].split(b"\n"), contents)
            if contents.truncated:
                return
    if tail or in_member:
        contents.truncated = True


def _parse(raw_lines: list[bytes], contents: LogContents) -> Iterator[dict[str, Any]]:
    for raw in raw_lines:
        if not raw:
            continue
        line = orjson.loads(raw)
        if "t" in line:
            yield line
        elif "endpoint" in line:
            contents.names[int(line["endpoint"])] = (str(line["method"]), str(line["name"]))
        elif "meta" in line:
            contents.meta.update(line["meta"])
        elif "event" in line:
            contents.events.append(line["event"])
        elif "schema" in line:
            contents.header = line


def _add(into: dict[EndpointKey, EndpointAccum], line: dict[str, Any], contents: LogContents) -> None:
    """Merge one window line's endpoints into `into` (counts add)."""
    for row in line["e"]:
        key = contents.names[int(row[0])]
        accum = decode_entry(row, key)
        if key in into:
            into[key].merge(accum)
        else:
            into[key] = accum


def intervals(path: Path) -> tuple[list[IntervalStats], LogContents]:
    """Every window, lines with the same ``t`` added: what stats.json v1 held in `intervals`."""
    contents = LogContents({})
    merged: dict[float, tuple[int, dict[EndpointKey, EndpointAccum]]] = {}
    for line in lines(path, contents):
        t = float(line["t"])
        if t in merged:
            contents.repeated.add(t)
        users, window = merged.get(t, (0, {}))
        _add(window, line, contents)
        merged[t] = (max(users, int(line.get("u", 0))), window)
    out = [
        IntervalStats(t=t, users=users, endpoints=[window[k].to_stats() for k in sorted(window)])
        for t, (users, window) in sorted(merged.items())
    ]
    return out, contents


def load(path: Path) -> StatsArtifact:
    """artifact.load, and a v2 artifact's windows read back into `intervals` (what v1 held
    inline): O(windows x endpoints), for readers that need every window (the report, history)."""
    stats = artifact.load(path)
    if "windows" not in stats:
        return stats
    log = Path(stats["windows"]["file"])
    try:
        with gc_paused():  # millions of fresh acyclic objects (see artifact.load)
            stats["intervals"], contents = intervals(log)
    except FileNotFoundError as exc:
        raise GateError(
            f"{path}: its window log {log} does not exist",
            hint="copy the run directory whole: stats.json and windows.jsonl.gz belong together",
        ) from exc
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        raise GateError(f"{log} is unreadable: {exc}") from exc
    if contents.header.get("schema") != WINDOWS_SCHEMA:
        got = contents.header.get("schema")
        raise GateError(f"{log}: first line's 'schema' is {got!r}, expected {WINDOWS_SCHEMA!r}")
    return stats


def before(path: Path, start: float, late: Sequence[float]) -> dict[EndpointKey, EndpointAccum]:
    """The exact merge of every window that starts before `start`.

    Windows are written in time order, so reading stops at the first window at or after `start`
    unless a late line for an earlier window was appended later (the summary lists those)."""
    contents = LogContents({})
    out: dict[EndpointKey, EndpointAccum] = {}
    read_all = any(t < start for t in late)
    if not path.is_file():
        raise GateError(
            f"the window log {path} does not exist",
            hint="copy the run directory whole: stats.json and windows.jsonl.gz belong together",
        )
    try:
        for line in lines(path, contents):
            t = float(line["t"])
            if t >= start:
                if read_all:
                    continue
                break
            _add(out, line, contents)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GateError(f"{path} is unreadable: {type(exc).__name__}: {exc}", hint=NOT_OURS) from exc
    return out


def judged(
    cumulative: Iterable[EndpointStats], prior: dict[EndpointKey, EndpointAccum], start: float
) -> dict[EndpointKey, EndpointAccum]:
    """Per endpoint, the exact merge of the windows from `start` on: the cumulative stats less the
    windows before `start`, min and max from each endpoint's staircases (`min_after`, `max_after`)."""
    out: dict[EndpointKey, EndpointAccum] = {}
    for stats in cumulative:
        key = (stats["method"], stats["name"])
        total = EndpointAccum.from_stats(stats)
        part = prior.get(key)
        try:
            accum = subtract(total, part) if part is not None else total
        except ValueError as exc:  # more in the warm-up windows than in the whole run
            raise GateError(f"stats.json and its window log disagree: {exc}", hint=NOT_OURS) from exc
        accum.max_response_time_ms = Staircase.at_steps(stats.get("max_after", []), start)
        accum.min_response_time_ms = Staircase.at_steps(stats.get("min_after", []), start)
        if accum.num_requests:
            out[key] = accum
    return out


def judged_total(
    aggregate: EndpointStats, prior: dict[EndpointKey, EndpointAccum], judged_: dict[EndpointKey, EndpointAccum]
) -> EndpointAccum:
    """The merge of `judged(...)`'s endpoints, from the summary's aggregate less the windows before
    the start: no merge of every endpoint's whole histogram."""
    total = EndpointAccum.from_stats(aggregate)
    part = aggregate_of(prior.values())
    try:
        out = subtract(total, part)
    except ValueError as exc:
        raise GateError(f"stats.json and its window log disagree: {exc}", hint=NOT_OURS) from exc
    counted = [a for a in judged_.values() if in_aggregate(a.method)]
    highs = [a.max_response_time_ms for a in counted if a.max_response_time_ms is not None]
    lows = [a.min_response_time_ms for a in counted if a.min_response_time_ms is not None]
    out.max_response_time_ms = max(highs, default=None)
    out.min_response_time_ms = min(lows, default=None)
    return out


def recover(stats_path: Path, log: Path) -> StatsArtifact | None:
    """Rebuild stats.json from the window log of a master that was killed before writing it: every
    window it had written (all but the last few seconds), marked incomplete. None without windows."""
    merged, contents = intervals(log)
    if not merged:
        return None
    totals = RunAggregate(float(contents.header.get("interval_s", 1.0)))  # what the master would have kept
    for window in merged:
        totals.add_windows([WindowPayload(t=window["t"], endpoints=window["endpoints"])], users=window["users"])
    meta, header = contents.meta, contents.header
    interval = float(header.get("interval_s", 1.0))
    last = float(merged[-1]["t"]) + interval
    detail = (
        f"the master stopped before writing stats.json; rebuilt from {log.name}: {len(merged)} windows up to "
        f"{last:.0f} (Unix s){', its last write torn' if contents.truncated else ''}; the last seconds and the "
        "workers' final reports are missing"
    )
    events = [*contents.events, {"t": last, "kind": "recovered", "detail": detail}]
    summary: dict[str, Any] = {
        "schema": artifact.STATS_SCHEMA, "run_id": header.get("run_id", stats_path.parent.name),
        "scenario": header.get("scenario", ""), "host": meta.get("host", ""),
        "bucket_scheme": header.get("bucket_scheme", ""), "interval_s": interval,
        "started_at": meta.get("started_at"), "spawn_complete_at": meta.get("spawn_complete_at"),
        "ended_at": meta.get("ended_at") or last, "target_users": int(meta.get("target_users", 0)),
        "planned_rps": None, "worker_count_expected": int(meta.get("worker_count_expected", 0)), "complete": False,
        "endpoints": [totals.summary(a) for a in totals.endpoints()], "aggregate": totals.total().to_stats(),
        "intervals": [], "errors": [], "workers": [], "events": events, "locust_totals": {},
        "windows": {"file": log.name, "index": totals.index_rows(), "late": sorted(contents.repeated),
                    "bytes": log.stat().st_size},
    }  # fmt: skip
    return cast(StatsArtifact, summary)
