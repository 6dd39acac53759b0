"""The SLA gate: PASS, FAIL or INCONCLUSIVE from the exact merged histograms of a run.

Evaluation drops whole 1 s intervals that start before the warm-up end rounded
up to an interval boundary, merges the rest exactly (histogram counts add), and
checks every threshold of the SLA file against the merge. Each check records what
was measured, the limit, the sample count, the result and a reason, so a verdict
explains itself.

Outcome rules, in order:
1. Any *run* check INCONCLUSIVE (no requests after warm-up, stats incomplete,
   workers lost or missing, generators saturated) -> INCONCLUSIVE: every number
   measured on such a run is suspect, breaches included.
2. Otherwise any check FAIL (a breached threshold, an SLA abort, an unmatched
   threshold under ``unmatched: fail`` or an unmatched exact ``name`` by default,
   a refused worker, a request outside the allowlist) -> FAIL: a breach on valid
   data is definite even when another threshold lacked samples.
3. Otherwise any check INCONCLUSIVE (too few samples, throughput or request
   floor not reached) -> INCONCLUSIVE.
4. Otherwise PASS. Zero requests can never get here: rule 1 catches it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loadtest.gate import saturation
from loadtest.gate.sla import (
    AggregateThreshold,
    EndpointThreshold,
    Limit,
    Sla,
    Threshold,
    default_min_samples_for_error_budget,
    default_min_samples_for_percentile,
)
from loadtest.gate.verdict import RUN_GROUP, Check, Gate, Outcome, Result, Verdict, Window, number
from loadtest.stats import windows
from loadtest.stats.artifact import EndpointStats, StatsArtifact, window_starts
from loadtest.stats.recording import (
    AGGREGATE_NAME,
    WS_CLOSE,
    WS_CONNECT,
    EndpointAccum,
    EndpointKey,
    aggregate,
    in_aggregate,
)


def percent_to_fraction(p: float) -> float:
    """99.9 -> 0.999 exactly as written: 99.9 / 100 is 0.99900000000000011 in floats, and the
    nearest-rank ceil(0.99900000000000011 * 1000) would pick rank 1000 instead of 999."""
    return round(p / 100.0, 12)


def evaluation_window(artifact: StatsArtifact, sla: Sla) -> Window:
    """Warm-up end -> first kept interval; the default warm-up lasts until every user spawned."""
    interval = float(artifact["interval_s"]) or 1.0
    starts = window_starts(artifact)
    if sla.warmup == "spawn":
        warmup_end = artifact["spawn_complete_at"]
        rule = "until every user was spawned"
    else:
        origin = artifact["started_at"] if artifact["started_at"] is not None else min(starts, default=None)
        warmup_end = None if origin is None else origin + float(sla.warmup)
        rule = f"{float(sla.warmup):g} s after the first user started"
    if warmup_end is None:
        return Window(None, None, None, 0.0, 0, len(starts), rule + " (never reached)")
    start = math.ceil(warmup_end / interval - 1e-9) * interval
    ended = artifact["ended_at"]
    end = ended if ended is not None else (max(starts) + interval if starts else start)
    kept = sum(1 for t in starts if t >= start)
    return Window(warmup_end, start, end, max(0.0, end - start), kept, len(starts) - kept, rule)


def merged_endpoints(artifact: StatsArtifact, window: Window) -> dict[EndpointKey, EndpointAccum]:
    """Exact merge, per (method, name), of every interval that starts inside the window."""
    return judged_merge(artifact, window)[0]


def judged_merge(artifact: StatsArtifact, window: Window) -> tuple[dict[EndpointKey, EndpointAccum], EndpointAccum]:
    """merged_endpoints and their total.

    A v2 artifact is not read window by window: the cumulative stats less the warm-up windows at
    the head of the window log (O(endpoints + warm-up windows), however long the run)."""
    if "windows" in artifact and window.start is not None:
        info = artifact["windows"]
        prior = windows.before(Path(info["file"]), window.start, info["late"])
        merged = windows.judged(artifact["endpoints"], prior, window.start)
        return merged, windows.judged_total(artifact["aggregate"], prior, merged)
    merged = _merged_intervals(artifact, window)
    return merged, aggregate(merged.values())


def _merged_intervals(artifact: StatsArtifact, window: Window) -> dict[EndpointKey, EndpointAccum]:
    out: dict[EndpointKey, EndpointAccum] = {}
    if window.start is None:
        return out
    for interval in artifact["intervals"]:
        if float(interval["t"]) >= window.start:
            _merge_into(out, interval["endpoints"])
    return out


def _merge_into(out: dict[EndpointKey, EndpointAccum], endpoints: Iterable[EndpointStats]) -> None:
    for stats in endpoints:
        key = (stats["method"], stats["name"])
        if key not in out:
            out[key] = EndpointAccum(method=key[0], name=key[1])
        out[key].merge(EndpointAccum.from_stats(stats))


def _known_endpoints(artifact: StatsArtifact) -> list[EndpointKey]:
    """Every endpoint any request used during the whole run (warm-up included)."""
    keys = {(e["method"], e["name"]) for e in artifact["endpoints"]}
    keys.update((e["method"], e["name"]) for i in artifact["intervals"] for e in i["endpoints"])
    keys.discard(("", AGGREGATE_NAME))
    return sorted(keys)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{number(value)}{'%' if unit == '%' else ' ' + unit if unit else ''}"


@dataclass
class _Subject:
    """What one threshold entry is checked against."""

    group: str
    name: str
    accum: EndpointAccum


def _threshold_checks(
    sla: Sla, threshold: Threshold, subj: _Subject, seconds: float, planned_rps: float | None
) -> list[Check]:
    checks: list[Check] = []
    acc = subj.accum

    def add(metric: str, measured: float | None, limit: str, unit: str, n: int, res: Result, why: str) -> None:
        checks.append(Check(subj.group, subj.name, metric, measured, limit, unit, n, res, why, threshold.abort))

    def judge(
        metric: str,
        measured: float | None,
        limit: Limit,
        unit: str,
        n: int,
        need: int,
        *,
        scarce: str,
        passed: str,
        failed: str,
    ) -> None:
        """Too few samples is INCONCLUSIVE before the limit is even looked at; then pass or fail."""
        text = limit.describe(unit)
        if n < need or measured is None:
            add(
                metric,
                measured,
                text,
                unit,
                n,
                "inconclusive",
                f"{scarce} needs at least {need} (min_samples.{metric})",
            )
        elif limit.holds(measured):
            add(metric, measured, text, unit, n, "pass", passed)
        else:
            add(metric, measured, text, unit, n, "fail", f"{metric} {_fmt(measured, unit)} breaches {text}{failed}")

    timed = sum(acc.histogram.values())
    for metric, p, limit in threshold.latency_limits():
        need = sla.min_samples_for(threshold, metric, default_min_samples_for_percentile(p))
        measured = acc.max_response_time_ms if metric == "max" else acc.percentile(percent_to_fraction(p))
        judge(
            metric,
            measured,
            limit,
            "ms",
            timed,
            need,
            scarce=f"only {timed} samples; {metric}",
            passed=f"{_fmt(measured, 'ms')} {limit.describe('ms')}",
            failed=f" over {timed} samples",
        )
    for metric in ("error_rate", "success_rate"):
        rate: Limit | None = getattr(threshold, metric)
        if rate is None:
            continue
        budget = rate.value if metric == "error_rate" else 100.0 - rate.value
        need = sla.min_samples_for(threshold, metric, default_min_samples_for_error_budget(budget))
        n = acc.num_requests
        errors = 100.0 * acc.num_failures / n if n else None
        measured = None if errors is None else (errors if metric == "error_rate" else 100.0 - errors)
        failures = f"{acc.num_failures} of {n} requests failed"
        judge(
            metric,
            measured,
            rate,
            "%",
            n,
            need,
            scarce=f"only {n} requests; {metric} {rate.describe('%')}",
            passed=failures,
            failed=f": {failures}",
        )
    if threshold.min_requests is not None:
        n, need = acc.num_requests, threshold.min_requests
        ok = n >= need
        add(
            "min_requests",
            float(n),
            f">= {need}",
            "",
            n,
            "pass" if ok else "inconclusive",
            f"{n} requests after warm-up" + ("" if ok else f", fewer than the {need} the SLA needs"),
        )
    floors: list[tuple[str, float | None, str]] = []
    if threshold.min_throughput is not None:
        floors.append(("min_throughput", threshold.min_throughput, f">= {threshold.min_throughput:g} rps"))
    if isinstance(threshold, AggregateThreshold) and threshold.min_throughput_fraction is not None:
        frac = threshold.min_throughput_fraction
        floor = None if planned_rps is None else frac * planned_rps
        floors.append(
            (
                "min_throughput_fraction",
                floor,
                f">= {frac:g} × planned" + ("" if floor is None else f" = {number(floor)} rps"),
            )
        )
    for metric, floor, text in floors:
        rps = acc.num_requests / seconds if seconds > 0 else None
        n = acc.num_requests
        if floor is None:
            add(metric, rps, text, "rps", n, "inconclusive", "the planned rate is unknown (planned_rps)")
        elif rps is None:
            add(metric, rps, text, "rps", n, "inconclusive", "no evaluated time after warm-up")
        elif rps >= floor:
            add(metric, rps, text, "rps", n, "pass", f"{n} requests in {seconds:.0f} s")
        else:
            add(
                metric,
                rps,
                text,
                "rps",
                n,
                "inconclusive",
                f"achieved {number(rps)} rps is below the floor {number(floor)} rps: the load was not applied",
            )
    return checks


def threshold_checks(
    artifact: StatsArtifact,
    sla: Sla,
    window: Window,
    merged: dict[EndpointKey, EndpointAccum],
    *,
    only: Callable[[Threshold], bool] = lambda t: True,
    unmatched: Literal["warn", "fail"] | None = None,
    total: EndpointAccum | None = None,
) -> list[Check]:
    """Checks for every SLA threshold entry (filtered by `only`, e.g. abort: true entries).
    `total`: the merge of `merged`, when the caller has it (a merge of every histogram)."""
    known = _known_endpoints(artifact)
    planned = artifact["planned_rps"]
    checks: list[Check] = []
    for path, threshold in sla.thresholds():
        if not only(threshold):
            continue
        if not isinstance(threshold, EndpointThreshold):
            if total is None:
                total = aggregate(merged.values())
            subject = _Subject(path, "aggregate", total)
            checks += _threshold_checks(sla, threshold, subject, window.seconds, planned)
            continue
        keys = [k for k in known if threshold.matches(*k)]
        if not keys:
            mode = unmatched or sla.unmatched or ("fail" if threshold.name is not None else "warn")
            checks.append(
                Check(
                    path,
                    threshold.subject(),
                    "unmatched",
                    0.0,
                    "matches >= 1 endpoint",
                    "",
                    0,
                    "warn" if mode == "warn" else "fail",
                    f"no request used an endpoint matching {threshold.subject()!r}; check the name, "
                    f"pattern and method (unmatched: {mode})",
                    threshold.abort,
                )
            )
            continue
        empty = EndpointAccum
        groups: Iterable[tuple[str, list[EndpointKey]]]
        if threshold.scope == "group":
            groups = [(threshold.subject(), keys)]
        else:
            groups = [(f"{m} {n}".strip(), [(m, n)]) for m, n in keys]
        for name, members in groups:
            if len(members) == 1 and members[0] in merged:
                accum = merged[members[0]]  # read only below: no copy of a long run's histogram
            else:
                accum = aggregate(merged.get(k, empty(method=k[0], name=k[1])) for k in members)
            checks += _threshold_checks(sla, threshold, _Subject(path, name, accum), window.seconds, planned)
    return checks


def held_connections(artifact: StatsArtifact, start: float, end: float) -> tuple[int, float] | None:
    """The fewest WebSocket connections the workers held open together from `start` to `end`, and
    when: each worker's count as of its last report (every ~3 s), summed once every worker has
    reported in the window; a lost worker holds none from its loss on. None: no report in it."""
    changes: list[tuple[float, str, int]] = []
    for worker in artifact["workers"]:
        changes += [(s["t"], worker["id"], int(s.get("connections", 0))) for s in worker["samples"]]
        lost_at = worker.get("lost_at")
        if lost_at is not None and worker.get("resumed_at") is None:
            changes.append((lost_at, worker["id"], 0))
    reporting = {wid for t, wid, _ in changes if start <= t <= end}
    held: dict[str, int] = {}
    fewest: tuple[int, float] | None = None
    for t, wid, n in sorted(changes):
        if not start <= t <= end:
            continue
        held[wid] = n
        if len(held) == len(reporting) and (fewest is None or sum(held.values()) < fewest[0]):
            fewest = (sum(held.values()), t)
    return fewest


def websocket_checks(artifact: StatsArtifact, sla: Sla, window: Window) -> list[Check]:
    """The `websocket` section: connects and unexpected closes over the whole run (every endpoint
    row of the summary: connections open and drop while users spawn too), and the connections
    held after warm-up."""
    limits = sla.websocket
    if limits is None:
        return []
    rows: dict[str, EndpointAccum] = {kind: EndpointAccum(method=kind, name="") for kind in (WS_CONNECT, WS_CLOSE)}
    for stats in artifact["endpoints"]:
        if stats["method"] in rows:
            rows[stats["method"]].merge(EndpointAccum.from_stats(stats))
    checks: list[Check] = []
    if limits.connect is not None:
        subject = _Subject("websocket", "connect", rows[WS_CONNECT])
        checks += _threshold_checks(sla, limits.connect, subject, 0.0, None)
    if limits.disconnect_rate is not None:
        rate = limits.disconnect_rate
        opened = rows[WS_CONNECT].num_requests - rows[WS_CONNECT].num_failures
        closes = rows[WS_CLOSE].num_requests
        need = limits.min_samples or default_min_samples_for_error_budget(rate.value)
        measured = 100.0 * closes / opened if opened else None
        text = rate.describe("%")
        said = f"{closes} unexpected closes of {opened} connections opened"
        if measured is None or opened < need:
            result: Result = "inconclusive"
            why = f"only {opened} connections opened; disconnect_rate {text} needs at least {need} (min_samples)"
        elif rate.holds(measured):
            result, why = "pass", said
        else:
            result, why = "fail", f"disconnect_rate {_fmt(measured, '%')} breaches {text}: {said}"
        checks.append(Check("websocket", "connections", "disconnect_rate", measured, text, "%", opened, result, why))
    if limits.min_connections is not None:
        need = limits.min_connections
        fewest = None
        if window.start is not None and window.end is not None:
            fewest = held_connections(artifact, window.start, window.end)
        if fewest is None:
            checks.append(Check("websocket", "connections", "min_connections", None, f">= {need}", "", 0,
                                "inconclusive", "no worker reported its connections after warm-up"))  # fmt: skip
        else:
            low, at = fewest
            since = at - (window.start or at)
            ok = low >= need
            why = (f"at least {low} connections open at every report after warm-up" if ok else
                   f"only {low} connections open {since:.0f} s after warm-up, fewer than {need}")  # fmt: skip
            checks.append(Check("websocket", "connections", "min_connections", float(low), f">= {need}", "", low,
                                "pass" if ok else "fail", why))  # fmt: skip
    return checks


def _run_checks(
    artifact: StatsArtifact, sla: Sla, window: Window, total: EndpointAccum, merged: dict[EndpointKey, EndpointAccum]
) -> list[Check]:
    checks: list[Check] = []
    complete = artifact["complete"]
    checks.append(
        Check(
            RUN_GROUP,
            "run",
            "stats_complete",
            1.0 if complete else 0.0,
            "complete",
            "",
            len(artifact["workers"]),
            "pass" if complete else "inconclusive",
            "every worker's final report was collected"
            if complete
            else "the master could not collect every worker's final report: the stats are partial",
        )
    )
    checks.append(saturation.workers_check(artifact))
    checks.extend(integrity_checks(artifact))
    checks.extend(saturation.saturation_checks(artifact, sla.saturation, window.start))
    # every request is evidence that load ran, WebSocket calls and pushes too (not in `total`)
    websocket = sum(a.num_requests for (method, _), a in merged.items() if not in_aggregate(method))
    n = total.num_requests + websocket
    if window.start is None:
        why = f"the warm-up ({window.rule}) never ended, so no request can be evaluated"
    elif n:
        why = f"{n} requests after warm-up" + (f" ({websocket} of them WebSocket messages)" if websocket else "")
    else:
        why = "zero requests after warm-up: nothing to judge"
    checks.append(Check(RUN_GROUP, "run", "requests", float(n), "> 0", "", n, "pass" if n > 0 else "inconclusive", why))
    for event in artifact["events"]:
        if event["kind"] == "abort":
            checks.append(
                Check(
                    RUN_GROUP,
                    "run",
                    "aborted",
                    None,
                    "not aborted",
                    "",
                    n,
                    "fail",
                    f"the run was aborted: {event['detail']}",
                    True,
                )
            )
    return checks


def integrity_checks(artifact: StatsArtifact) -> list[Check]:
    """Was every merged number the run's own, sent where it was allowed to go? A breach is a FAIL.

    Older artifacts without these fields get no such checks (they predate them).
    """
    out: list[Check] = []
    if "refused_workers" in artifact:
        refused = artifact.get("refused_workers") or []
        auth = artifact.get("worker_auth", False)
        if refused:
            names = "; ".join(f"{r['id']} ({r['reason']})" for r in refused[:5])
            more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
            result: Result = "fail"
            why = (
                f"{len(refused)} process(es) tried to join the run as workers and were refused, never merged: "
                f"{names}{more}; something that is not this run's worker reaches the master's port"
            )
        elif auth:
            result, why = "pass", "every worker proved it belongs to the run (per-run secret)"
        else:
            result, why = "warn", "worker authentication was off (no LOADTEST_RUN_SECRET): workers were only counted"
        out.append(Check(RUN_GROUP, "run", "workers_refused", float(len(refused)), "0", "", len(refused), result, why))
    if "blocked_hosts" in artifact:
        blocked = artifact.get("blocked_hosts") or {}
        entries = artifact.get("allowlist")
        total = sum(blocked.values())
        if blocked:
            hosts = ", ".join(f"{h} ({n})" for h, n in sorted(blocked.items(), key=lambda kv: -kv[1]))
            result, why = (
                "fail",
                (f"{total} request(s) to hosts outside the allowlist {entries} were refused before sending: {hosts}"),
            )
        elif entries is None:
            result, why = "warn", "the allowlist was not enforced in the Locust processes (no LOADTEST_GUARD_HOSTS)"
        else:
            result, why = "pass", f"every request went to an allowed host {entries}"
        out.append(Check(RUN_GROUP, "run", "allowlist", float(total), "0 blocked", "", total, result, why))
    return out


def _outcome(checks: list[Check]) -> tuple[Outcome, str]:
    def reasons(pick: Callable[[Check], bool]) -> str:
        return "; ".join(f"{c.name}: {c.reason}" for c in checks if pick(c))

    if any(c.group == RUN_GROUP and c.result == "inconclusive" for c in checks):
        return "INCONCLUSIVE", reasons(lambda c: c.group == RUN_GROUP and c.result == "inconclusive")
    if any(c.result == "fail" for c in checks):
        return "FAIL", reasons(lambda c: c.result == "fail")
    if any(c.result == "inconclusive" for c in checks):
        return "INCONCLUSIVE", reasons(lambda c: c.result == "inconclusive")
    return "PASS", f"all {sum(c.group != RUN_GROUP for c in checks)} SLA checks passed"


def evaluate(
    artifact: StatsArtifact,
    sla: Sla,
    *,
    unmatched: Literal["warn", "fail"] | None = None,
    gate: Gate = "sla",
    gate_source: str = "",
) -> Verdict:
    """Decide the run. `unmatched` overrides the SLA file's setting (the --unmatched flag)."""
    window = evaluation_window(artifact, sla)
    merged, total = judged_merge(artifact, window)
    checks = _run_checks(artifact, sla, window, total, merged)
    checks += threshold_checks(artifact, sla, window, merged, unmatched=unmatched, total=total)
    checks += websocket_checks(artifact, sla, window)
    outcome, reason = _outcome(checks)
    aborts = [e["detail"] for e in artifact["events"] if e["kind"] == "abort"]
    return Verdict(
        outcome=outcome,
        reason=reason,
        checks=tuple(checks),
        window=window,
        run_id=artifact["run_id"],
        scenario=artifact["scenario"],
        aborted=bool(aborts),
        abort_reason=aborts[0] if aborts else None,
        warnings=tuple(f"{c.group}: {c.reason}" for c in checks if c.result == "warn"),
        gate=gate,
        gate_source=gate_source,
    )


def extend(verdict: Verdict, more: Sequence[Check]) -> Verdict:
    """The verdict with more checks (the regression gate's), outcome and warnings decided again."""
    if not more:
        return verdict
    checks = [*verdict.checks, *more]
    outcome, reason = _outcome(checks)
    return dataclasses.replace(
        verdict,
        outcome=outcome,
        reason=reason,
        checks=tuple(checks),
        warnings=(*verdict.warnings, *(f"{c.group}: {c.reason}" for c in more if c.result == "warn")),
    )


class AbortMonitor:
    """Called by the master plugin every reporting interval with the artifact so far.

    `check` returns the reason to abort once a threshold marked ``abort: true`` is
    breached after warm-up with at least its minimum samples, else None. After the
    first breach it keeps returning the same reason, so a caller that retries the
    stop sees a stable message. Thresholds without enough samples never abort.
    """

    def __init__(self, sla: Sla) -> None:
        self.sla = sla
        self.enabled = any(t.abort for _, t in sla.thresholds())
        self.reason: str | None = None

    def check(
        self,
        artifact_so_far: StatsArtifact,
        judged: Callable[[float], tuple[dict[EndpointKey, EndpointAccum], EndpointAccum]] | None = None,
    ) -> str | None:
        """`judged(start)`: the master's running merge from `start` on, per endpoint and in total
        (recording.RunAggregate.judged), so a check merges nothing; without it (a finished
        artifact) the judged window is merged as the gate merges it."""
        if self.reason is not None or not self.enabled:
            return self.reason
        window = evaluation_window(artifact_so_far, self.sla)
        if window.start is None:
            return None
        merged, total = judged(window.start) if judged is not None else judged_merge(artifact_so_far, window)
        for c in threshold_checks(artifact_so_far, self.sla, window, merged, only=lambda t: t.abort, total=total):
            if c.result == "fail" and c.metric != "unmatched":
                where = c.name if c.group == c.subject else f"{c.group} {c.name}"
                self.reason = f"{where}: {c.reason} (abort: true)"
                return self.reason
        return None
