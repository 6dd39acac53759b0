"""A finished run's artifacts -> history rows: fingerprint, outcome, judged-window numbers.

The judged window is the gate's own (verdict.json's window start, the warm-up end rounded up
to an interval) until the run's end; without a verdict, from every user spawned. Numbers are
exact merges of the stats artifact's 1-s windows, like the gate's.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from loadtest.core.errors import LoadtestError
from loadtest.core.exitcodes import ExitCode
from loadtest.core.fileio import read_json
from loadtest.history.fingerprints import FINGERPRINT_FILE
from loadtest.history.models import EndpointRow, RunRow
from loadtest.stats import artifact, windows
from loadtest.stats.recording import AGGREGATE_NAME, EndpointAccum, aggregate

MAX_WINDOWS = 720  # per endpoint and run: what history keeps stays bounded however long a run is


class HistoryError(LoadtestError):
    """The history store or a run to record is unusable (the run's artifacts are never touched)."""

    exit_code = ExitCode.USAGE


def regressions(verdict: dict[str, Any]) -> int | None:
    """Failed regression checks in a verdict.json; None when it judged no regression."""
    judged = [c for c in verdict.get("checks") or [] if str(c.get("group", "")).startswith("regression")]
    if not any(c.get("metric") != "baseline" for c in judged):
        return None
    return sum(1 for c in judged if c.get("result") == "fail")


def _when(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


@dataclass(frozen=True)
class Recorded:
    run: RunRow
    endpoints: list[EndpointRow]


def rows(run_dir: Path) -> Recorded:
    """Build the rows for one run directory; HistoryError names what is missing."""
    stats_path = run_dir / artifact.STATS_FILE
    spec_path = run_dir / "spec.yaml"
    if not spec_path.is_file():
        raise HistoryError(
            f"{run_dir} is not a run's artifacts directory (no spec.yaml)",
            hint="pass results/<run_id>/ of a run started by `loadtest run`",
        )
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    verdict = read_json(run_dir / "verdict.json") or {}
    parts = read_json(run_dir / FINGERPRINT_FILE)
    if not isinstance(parts, dict) or "fingerprint" not in parts:
        raise HistoryError(
            f"{run_dir} has no {FINGERPRINT_FILE}: it was made before run history existed",
            hint="only runs of this loadtest version or later can be recorded",
        )
    run_id = str(spec.get("run_id") or run_dir.name)
    found = _numbers(*_identity(stats_path), (verdict.get("window") or {}).get("start"))
    start, end = found.start, found.end
    seconds = max(0.0, (end or 0.0) - start) if start is not None and end is not None else 0.0
    run = RunRow(
        run_id=run_id,
        scenario=str(found.scenario if found.scenario is not None else spec.get("scenario") or ""),
        fingerprint=str(parts["fingerprint"]),
        fingerprint_parts=json.dumps(parts, sort_keys=True),
        git_revision=str(parts.get("git_revision") or "unknown"),
        backend=str(spec.get("backend") or "local"),
        host=str(found.host if found.host is not None else spec.get("host") or ""),
        users=int(found.users if found.users is not None else spec.get("users") or 0),
        workers=int(spec.get("workers") or 0),
        started_at=_when(found.started_at),
        ended_at=_when(end),
        outcome=str(verdict.get("outcome") or "NONE"),
        gate=str(verdict.get("gate") or ("sla" if verdict else "none")),
        judged_from=start,
        judged_seconds=seconds,
        requests=found.requests,
        failures=found.failures,
        rps=found.requests / seconds if seconds > 0 else None,
        p95_ms=found.p95_ms,
        recorded_at=datetime.now(UTC),
        pinned=False,
        regressions=regressions(verdict),
    )
    return Recorded(run, [EndpointRow(run_id=run_id, **fields) for fields in found.endpoints])


@dataclass(frozen=True)
class _Numbers:
    """What a run's stats.json says over its judged window: plain values, shared by every caller."""

    scenario: str | None  # None (and below): no stats.json
    host: str | None
    users: int | None
    started_at: float | None
    end: float | None
    start: float | None  # the judged window's start
    requests: int
    failures: int
    p95_ms: float | None
    endpoints: tuple[dict[str, Any], ...]  # EndpointRow fields but run_id; the aggregate last


def _identity(stats_path: Path) -> tuple[str, tuple[int, int] | None]:
    """The stats file and its version (mtime, size): a rewritten file is read again."""
    try:
        st = stats_path.stat()
    except FileNotFoundError:
        return str(stats_path), None
    return str(stats_path), (st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=2)
def _numbers(stats_path: str, version: tuple[int, int] | None, verdict_start: float | None) -> _Numbers:
    """Read and merge stats.json once per run: `loadtest run` judges the run against its history,
    then records it, and both need these numbers (seconds for a long, wide run)."""
    if version is None:
        return _Numbers(None, None, None, None, None, verdict_start, 0, 0, None, ())
    stats = windows.load(Path(stats_path))
    start = verdict_start if verdict_start is not None else stats["spawn_complete_at"]
    per_key: dict[tuple[str, str], EndpointAccum] = {}
    # per window, exact merges; a long run's windows are merged into buckets of whole seconds so a
    # run never stores more than MAX_WINDOWS per endpoint (an hour: 5-s buckets)
    per_window: dict[tuple[str, str], dict[int, tuple[float, EndpointAccum]]] = {}
    if start is not None:
        judged = [i for i in stats["intervals"] if float(i["t"]) >= start]
        span = (float(judged[-1]["t"]) - start + 1.0) if judged else 0.0
        width = max(1, math.ceil(span / MAX_WINDOWS))
        for interval in judged:
            t = float(interval["t"])
            slot = int((t - start) // width)
            # a window with no request is a fact too (a stall): the aggregate keeps it
            per_window.setdefault(("", AGGREGATE_NAME), {}).setdefault(slot, (t, EndpointAccum("", AGGREGATE_NAME)))
            for e in interval["endpoints"]:
                key = (e["method"], e["name"])
                accum = EndpointAccum.from_stats(e)
                per_key.setdefault(key, EndpointAccum(method=key[0], name=key[1])).merge(accum)
                for k in (key, ("", AGGREGATE_NAME)):
                    slots = per_window.setdefault(k, {})
                    if slot not in slots:
                        slots[slot] = (t, EndpointAccum(method=k[0], name=k[1]))
                    slots[slot][1].merge(accum)
    total = aggregate(per_key.values())
    endpoints = tuple(
        _endpoint_fields(accum, [_window_row(t, a) for t, a in per_window.get(key, {}).values()])
        for key, accum in [*sorted(per_key.items()), (("", AGGREGATE_NAME), total)]
    )
    return _Numbers(
        scenario=stats["scenario"],
        host=stats["host"],
        users=stats["target_users"],
        started_at=stats["started_at"],
        end=stats["ended_at"],
        start=start,
        requests=total.num_requests,
        failures=total.num_failures,
        p95_ms=total.percentile(0.95),
        endpoints=endpoints,
    )


def _window_row(t: float, accum: EndpointAccum) -> list[Any]:
    return [t, accum.num_requests, accum.num_failures, *(accum.percentile(q) for q in (0.5, 0.95, 0.99))]


def _endpoint_fields(accum: EndpointAccum, windows: list[list[Any]]) -> dict[str, Any]:
    return {
        "method": accum.method,
        "name": accum.name,
        "requests": accum.num_requests,
        "failures": accum.num_failures,
        "p50_ms": accum.percentile(0.5),
        "p95_ms": accum.percentile(0.95),
        "p99_ms": accum.percentile(0.99),
        "histogram": json.dumps(sorted([v, c] for v, c in accum.histogram.items())),
        "windows": json.dumps(windows),
    }
