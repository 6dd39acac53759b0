"""Is the load generator the bottleneck? Then its latencies are its own: INCONCLUSIVE.

Locust's own signal (a cpu_warning once a worker passes 90 % CPU) stays silent
in short runs and in runs so overloaded that the check itself is starved, so we
decide from the per-report samples every worker sends the master: process CPU,
event-loop lag (the 90th percentile of a 100 ms probe), and the share of the
interval the worker waited on a run queue for a core (/proc/self/schedstat) —
the last one catches an oversubscribed machine where every process looks
modestly busy but none gets a core when it needs one. A worker is saturated
when a limit is reached in at least ``sustained_reports`` of its reports inside
the evaluated window (or in all of them when it sent fewer): one hot report
(spawning, a GC pause) is noise. The measured value shown is that sustained
level: the ``sustained_reports``-th highest report of the busiest worker.

By default (``window: evaluated``) only the reports inside the judged window
count — after the warm-up and before the run's end — the same window as the
latency thresholds: a run is judged on its steady state. Spawning thousands of
users on a small machine makes loop lag and run-queue wait spike for seconds
(on this project's 2-core machine a 3,000-user run reached 103 % of its planned
rate with 5 ms loop lag in steady state, yet waited for a core 30-50 % of the
time while spawning); those phases are named in the check's reason as
information, never as the result. ``window: run`` judges every report,
spawning and stopping included, for who wants the stricter reading.
"""

from __future__ import annotations

from loadtest.gate.sla import Saturation
from loadtest.gate.verdict import RUN_GROUP, Check, number
from loadtest.stats.artifact import StatsArtifact, WorkerSample
from loadtest.stats.recording import REPORT_INTERVAL_S


def _check(metric: str, measured: float | None, limit: str, unit: str, n: int, ok: bool, why: str) -> Check:
    return Check(RUN_GROUP, "generators", metric, measured, limit, unit, n, "pass" if ok else "inconclusive", why)


Phase = dict[str, list[WorkerSample]]


def _phases(artifact: StatsArtifact, start: float | None, window: str) -> tuple[Phase, str, dict[str, Phase]]:
    """(the samples judged, how they were chosen, the phases left out but reported)."""
    every = {w["id"]: list(w["samples"]) for w in artifact["workers"]}
    if window == "run":
        return every, "whole run, spawning included", {}
    if start is None:
        return every, "whole run (the warm-up never ended)", {}
    end = artifact["ended_at"]
    # a report describes the REPORT_INTERVAL_S before it arrived: the first one after the warm-up
    # still covers spawning, so a report counts from one interval after the judged window starts
    first = start + REPORT_INTERVAL_S
    inside = {wid: [s for s in ss if s["t"] >= first and (end is None or s["t"] <= end)] for wid, ss in every.items()}
    if not any(inside.values()):
        return every, "whole run (no report inside the judged window)", {}
    spawning = {wid: [s for s in ss if s["t"] < first] for wid, ss in every.items()}
    stopping = {wid: [s for s in ss if end is not None and s["t"] > end] for wid, ss in every.items()}
    return inside, "judged window, after warm-up", {"spawning": spawning, "stopping": stopping}


def _sustained(values: list[float], reports: int) -> float:
    ranked = sorted(values, reverse=True)
    return ranked[min(reports, len(ranked)) - 1]


def _busiest(samples: Phase, key: str, limits: Saturation, limit: float) -> tuple[str, float, int, int]:
    """(worker, its sustained level, reports at or over the limit, reports) for the busiest worker."""
    worst_id, worst, hot_count, total = "", -1.0, 0, 0
    for wid, ws in samples.items():
        values = [float(s.get(key, 0.0)) for s in ws]  # type: ignore[arg-type]
        if not values:
            continue
        level = _sustained(values, limits.sustained_reports)
        if level > worst:
            worst_id, worst = wid, level
            hot_count, total = sum(v >= limit for v in values), len(values)
    return worst_id, worst, hot_count, total


def saturation_checks(artifact: StatsArtifact, limits: Saturation, start: float | None) -> list[Check]:
    """Three run checks: worker CPU (with Locust's cpu_warning), event-loop lag and run-queue wait.

    With ``window: evaluated`` (the default) only the reports inside the judged window
    count, like the latency thresholds; saturation while spawning or stopping is named
    in the reason as information and never decides the result.
    """
    samples, scope, others = _phases(artifact, start, limits.window)
    n = sum(len(s) for s in samples.values())
    out: list[Check] = []
    for metric, key, limit, unit in (
        ("cpu_percent", "cpu_percent", limits.max_cpu_percent, "%"),
        ("loop_lag_ms", "loop_lag_ms", limits.max_loop_lag_ms, "ms"),
        ("runqueue_wait_percent", "runqueue_wait_percent", limits.max_runqueue_wait_percent, "%"),
    ):
        text = f"< {limit:g}{'%' if unit == '%' else ' ms'} sustained"
        if n == 0:
            out.append(
                _check(
                    metric,
                    None,
                    text,
                    unit,
                    0,
                    False,
                    "no worker reported a sample: saturation cannot be ruled out",
                )
            )
            continue
        shown = f"{limit:g}{'%' if unit == '%' else ' ms'}"
        suffix = "%" if unit == "%" else " ms"
        worst_id, worst, hot_count, total = _busiest(samples, key, limits, limit)
        saturated = worst >= limit
        why = (
            f"worker {worst_id} reached {shown} in {hot_count} of {total} reports ({scope}): "
            "the load generator could not keep up, so its timings are not the target's"
            if saturated
            else f"busiest worker {worst_id} sustained {number(worst)}{suffix} ({scope})"
        )
        for phase, phase_samples in others.items():
            pid, level, hot, count = _busiest(phase_samples, key, limits, limit)
            if count and level >= limit:
                why += f"; while {phase} (not judged) worker {pid} reached {shown} in {hot} of {count} reports"
        ok = not saturated
        if metric == "cpu_percent" and limits.locust_cpu_warning and ok:
            end = artifact["ended_at"]
            warnings = [
                e
                for e in artifact["events"]
                if e["kind"] == "cpu_warning"
                and (not others or (start is None or e["t"] >= start) and (end is None or e["t"] <= end))
            ]
            if warnings:
                ok = False
                why = f"Locust raised cpu_warning ({warnings[0]['detail']}); " + why
        out.append(_check(metric, worst, text, unit, n, ok, why))
    return out


def workers_check(artifact: StatsArtifact) -> Check:
    """Lost workers or fewer workers than planned: the load and the stats are not what was asked."""
    workers = artifact["workers"]
    started = artifact["started_at"]
    gone = [w for w in workers if w["lost"] and not w.get("resumed_at")]
    resumed = [w for w in workers if w["lost"] and w.get("resumed_at")]
    lost_events = [e for e in artifact["events"] if e["kind"] == "worker_lost"]
    lost = len(gone) + len(resumed) or len(lost_events)
    expected = artifact["worker_count_expected"]
    missing = max(0, expected - len(workers))

    def at(t: float | None) -> str:
        return f"{t - started:.0f} s" if t is not None and started is not None else "?"

    reasons = []
    if gone:
        names = ", ".join(f"{w['id']} at {at(w.get('lost_at'))}" for w in gone)
        reasons.append(f"{len(gone)} worker(s) lost during the run ({names}): their later requests are missing")
    if resumed:
        names = ", ".join(
            f"{w['id']} silent from {at(w.get('lost_at'))} to {at(w.get('resumed_at'))}" for w in resumed
        )
        reasons.append(
            f"{len(resumed)} worker(s) stopped reporting and came back ({names}): their reports were merged, "
            "but their users did not run during the gap"
        )
    if not gone and not resumed and lost_events:
        reasons.append(f"{len(lost_events)} worker(s) lost: " + "; ".join(e["detail"] for e in lost_events))
    early = [e["detail"] for e in artifact["events"] if e["kind"] == "all_workers_lost"]
    if early:
        ended = artifact["ended_at"]
        reasons.append(early[0] + (f" (ended at {at(ended)})" if ended is not None else ""))
    if missing:
        reasons.append(f"only {len(workers)} of {expected} expected workers ever reported")
    why = "; ".join(reasons) if reasons else f"all {len(workers)} workers reported to the end"
    return _check(
        "workers_lost", float(lost + missing), "0 lost or missing", "", len(workers), lost + missing == 0, why
    )
