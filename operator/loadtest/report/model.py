"""What the report shows, computed from a run's artifacts: plain data, no HTML.

Every number comes from the exact artifacts: percentiles from the merged 3-significant-digit
histograms (the same nearest-rank rule as the gate), the judged window from verdict.json (the
gate's own warm-up), checks as verdict.json has them. Time series are drawn from buckets of
whole 1 s windows: a run of up to ``MAX_POINTS`` seconds keeps every window; a longer one merges
consecutive windows into buckets of ``step_s`` seconds, and each bucket's percentiles are exact
for its merged histogram (never an average of percentiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from loadtest.core.errors import GateError, ReportError
from loadtest.core.fileio import read_json
from loadtest.gate import output
from loadtest.gate import sla as sla_module
from loadtest.gate.sla import Saturation
from loadtest.gate.verdict import Check
from loadtest.stats import artifact, histogram, windows
from loadtest.stats.artifact import StatsArtifact

MAX_POINTS = 720  # per time-series line: a 1 h run is drawn from 5 s buckets
SPARK_POINTS = 60  # per sparkline
FAILURE_SERIES = 8  # endpoints with the most failures get their own series; the rest is "other"
SPEC_FILE = "spec.yaml"
GATE_FILE = "gate.json"  # the Kubernetes backend's record of the gate Job

# Changes the comparison highlights (display only: the SLA file's gate decides the verdict)
WORSE_LATENCY_PERCENT = 10.0
WORSE_THROUGHPUT_PERCENT = 5.0
WORSE_ERROR_POINTS = 0.5

Hist = dict[float, int]
Key = tuple[str, str]  # (method, name); ("", "Aggregated") is the aggregate
AGGREGATE: Key = ("", "Aggregated")


@dataclass
class Run:
    """One run's artifacts as read from its directory; what is missing is listed in `problems`."""

    run_dir: Path
    run_id: str
    stats: StatsArtifact | None
    verdict: dict[str, Any] | None
    spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def load_run(run_dir: Path) -> Run:
    """Read a run directory. Refuses (ReportError) only what is not a run directory at all."""
    if not run_dir.is_dir():
        raise ReportError(
            f"run directory {run_dir} does not exist",
            hint="pass a run's artifacts directory (results/<run_id>) or its run id",
        )
    names = (artifact.STATS_FILE, output.VERDICT_FILE, SPEC_FILE)
    if not any((run_dir / n).exists() for n in names):
        raise ReportError(
            f"{run_dir} is not a run directory: it has none of {', '.join(names)}",
            hint="pass a run's artifacts directory (results/<run_id>) or its run id",
        )
    problems: list[str] = []
    stats: StatsArtifact | None = None
    if (run_dir / artifact.STATS_FILE).exists():
        try:
            stats = windows.load(run_dir / artifact.STATS_FILE)
        except GateError as exc:
            problems.append(f"stats.json is unusable: {exc.message}")
    else:
        problems.append("no stats.json: the master wrote no stats (logs/master.log and events.jsonl say why)")
    if stats is not None and not stats["complete"]:
        problems.append("stats are incomplete: the master did not collect every worker's final report")
    verdict = read_json(run_dir / output.VERDICT_FILE)
    if not isinstance(verdict, dict):
        verdict = None
        gate = read_json(run_dir / GATE_FILE)
        if isinstance(gate, dict) and gate.get("outcome"):  # Kubernetes: the gate Job's exit code
            problems.append(
                f"no verdict.json among the collected artifacts; the {gate.get('source', 'gate Job')} "
                f"reported {gate['outcome']} (exit code {gate.get('exit_code')}: {gate.get('job', '')})"
            )
        else:
            problems.append("no verdict.json: no SLA gate judged this run")
    spec: Any = None
    if (run_dir / SPEC_FILE).exists():
        try:
            spec = yaml.safe_load((run_dir / SPEC_FILE).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"spec.yaml is unreadable: {exc}")
    candidates = [
        stats["run_id"] if stats else None,
        verdict.get("run_id") if verdict else None,
        spec.get("run_id") if isinstance(spec, dict) else None,
    ]
    run_id = str(next((c for c in candidates if c), run_dir.name))
    return Run(run_dir, run_id, stats, verdict, spec if isinstance(spec, dict) else {}, problems)


@dataclass(frozen=True)
class Timing:
    """The run's time line, in Unix seconds; the report's x axes are seconds since `t0`."""

    t0: float
    judged_start: float | None  # first judged window (the gate's warm-up end rounded up)
    judged_end: float | None
    judged_seconds: float
    warmup_end: float | None
    abort_at: float | None
    end: float | None


def timing(run: Run) -> Timing:
    stats, verdict = run.stats, run.verdict
    if stats is None:
        return Timing(0.0, None, None, 0.0, None, None, None)
    starts = [float(i["t"]) for i in stats["intervals"]]
    interval = float(stats["interval_s"]) or 1.0
    t0 = stats["started_at"] if stats["started_at"] is not None else min(starts, default=0.0)
    end = stats["ended_at"] if stats["ended_at"] is not None else (max(starts) + interval if starts else None)
    abort_at = next((float(e["t"]) for e in stats["events"] if e["kind"] == "abort"), None)
    if verdict is not None:
        w = verdict["window"]
        return Timing(t0, w["start"], w["end"], float(w["seconds"]), w["warmup_end"], abort_at, end)
    # No gate ran: the default warm-up (every user spawned), as the gate would judge it.
    spawned = stats["spawn_complete_at"]
    start = None if spawned is None else math.ceil(spawned / interval - 1e-9) * interval
    seconds = max(0.0, end - start) if start is not None and end is not None else 0.0
    return Timing(t0, start, end, seconds, spawned, abort_at, end)


@dataclass(frozen=True)
class Latency:
    p50: float | None
    p95: float | None
    p99: float | None


def latency(h: Hist) -> Latency:
    return Latency(*(histogram.percentile(h, p) for p in (0.50, 0.95, 0.99)))


@dataclass
class EndpointRow:
    """One endpoint (or the aggregate) over the judged window; `run_requests` over the whole run."""

    key: Key
    requests: int = 0
    failures: int = 0
    max_ms: float | None = None
    hist: Hist = field(default_factory=dict)
    run_requests: int = 0
    spark: list[float | None] = field(default_factory=list)  # p95 per sparkline bucket, whole run

    @property
    def label(self) -> str:
        return "Aggregated" if self.key == AGGREGATE else f"{self.key[0]} {self.key[1]}".strip()

    @property
    def latency(self) -> Latency:
        return latency(self.hist)

    @property
    def error_rate(self) -> float | None:
        """Percent of requests that failed; None without requests."""
        return self.failures / self.requests * 100.0 if self.requests else None

    def rps(self, seconds: float) -> float | None:
        return self.requests / seconds if seconds > 0 else None


@dataclass
class Series:
    """Time series over the whole run, one point per bucket of `step_s` seconds."""

    step_s: float
    x: list[float] = field(default_factory=list)  # bucket start, seconds since t0
    rps: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p95: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    failures: dict[str, list[float]] = field(default_factory=dict)  # failures/s per endpoint label


@dataclass
class WorkerSeries:
    id: str
    x: list[float]
    cpu_percent: list[float]
    loop_lag_ms: list[float]
    runqueue_wait_percent: list[float]
    lost: bool
    requests: int


@dataclass
class Summary:
    """Everything the report needs of one run."""

    run: Run
    timing: Timing
    rows: list[EndpointRow]  # endpoints by name, without the aggregate
    aggregate: EndpointRow
    series: Series | None = None
    workers: list[WorkerSeries] = field(default_factory=list)
    limits: Saturation = field(default_factory=Saturation)

    @property
    def by_key(self) -> dict[Key, EndpointRow]:
        return {r.key: r for r in [*self.rows, self.aggregate]}


def _add(into: Hist, pairs: list[list[float]]) -> None:
    get = into.get
    for key, n in pairs:
        into[key] = get(key, 0) + int(n)


def summarize(run: Run, *, detail: bool = True) -> Summary:
    """One pass over the windows: the judged per-endpoint merge, and (detail) the time series."""
    t = timing(run)
    rows: dict[Key, EndpointRow] = {}
    stats = run.stats
    if stats is None:
        return Summary(run, t, [], EndpointRow(AGGREGATE), Series(1.0) if detail else None)
    intervals = sorted(stats["intervals"], key=lambda i: float(i["t"]))
    interval_s = float(stats["interval_s"]) or 1.0
    first = float(intervals[0]["t"]) if intervals else t.t0
    last_end = float(intervals[-1]["t"]) + interval_s if intervals else first
    span = max(interval_s, (t.end or last_end) - first)
    step = interval_s * max(1, math.ceil(span / interval_s / MAX_POINTS))
    spark_step = interval_s * max(1, math.ceil(span / interval_s / SPARK_POINTS))
    n_buckets = max(1, math.ceil(span / step))
    # Sparkline buckets start at the judged window, so the judged merge is the sum of the whole
    # buckets from `judged_bucket` on: each request's histogram is added twice, not three times.
    judged_start = t.judged_start
    origin = judged_start if judged_start is not None and judged_start >= first else first
    judged_bucket = math.ceil((origin - first) / spark_step - 1e-9)
    spark_zero = origin - judged_bucket * spark_step
    n_spark = max(1, math.ceil(((t.end or last_end) - spark_zero) / spark_step - 1e-9))
    bucket_hist: list[Hist] = [{} for _ in range(n_buckets)] if detail else []
    bucket_req = [0] * n_buckets
    bucket_users = [0] * n_buckets
    bucket_fail: dict[Key, list[int]] = {}
    spark_hist: dict[Key, list[Hist]] = {}

    for e in stats["endpoints"]:
        key = (e["method"], e["name"])
        rows[key] = EndpointRow(key, run_requests=int(e["num_requests"]))
    for interval in intervals:
        start = float(interval["t"])
        judged = judged_start is not None and start >= judged_start
        b = min(n_buckets - 1, int((start - first) // step))
        sb = min(n_spark - 1, max(0, int((start - spark_zero) // spark_step)))
        if detail:
            bucket_users[b] = int(interval["users"])
        for e in interval["endpoints"]:
            key = (e["method"], e["name"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = EndpointRow(key)
            pairs = e["histogram"]
            if judged:
                row.requests += int(e["num_requests"])
                row.failures += int(e["num_failures"])
                high = e["max_response_time_ms"]
                if high is not None and (row.max_ms is None or high > row.max_ms):
                    row.max_ms = float(high)
                if not detail:
                    _add(row.hist, pairs)
            if detail:
                bucket_req[b] += int(e["num_requests"])
                if e["num_failures"]:
                    bucket_fail.setdefault(key, [0] * n_buckets)[b] += int(e["num_failures"])
                _add(bucket_hist[b], pairs)
                hists = spark_hist.get(key)
                if hists is None:
                    hists = spark_hist[key] = [{} for _ in range(n_spark)]
                _add(hists[sb], pairs)

    endpoint_rows = [rows[k] for k in sorted(rows)]
    if detail and judged_start is not None:
        for key, hists in spark_hist.items():
            rows[key].hist = histogram.merged(hists[judged_bucket:])
    total = EndpointRow(AGGREGATE, run_requests=int(stats["aggregate"]["num_requests"]))
    for row in endpoint_rows:
        total.requests += row.requests
        total.failures += row.failures
        if row.max_ms is not None and (total.max_ms is None or row.max_ms > total.max_ms):
            total.max_ms = row.max_ms
        histogram.merge(total.hist, row.hist)
    summary = Summary(run, t, endpoint_rows, total, limits=_limits(run))
    if not detail:
        return summary

    for row in endpoint_rows:
        row.spark = [histogram.percentile(h, 0.95) for h in spark_hist.get(row.key, [])]
    series = Series(step)
    for b in range(n_buckets):
        b_start = first + b * step
        covered = min(step, (t.end or last_end) - b_start) if b == n_buckets - 1 else step
        lat = latency(bucket_hist[b])
        series.x.append(round(b_start - t.t0, 3))
        series.rps.append(bucket_req[b] / covered if covered > 0 else 0.0)
        series.p50.append(lat.p50)
        series.p95.append(lat.p95)
        series.p99.append(lat.p99)
        series.users.append(bucket_users[b])
    ranked = sorted(bucket_fail, key=lambda k: (-sum(bucket_fail[k]), k))
    for key in ranked[:FAILURE_SERIES]:
        series.failures[rows[key].label] = [n / step for n in bucket_fail[key]]
    if len(ranked) > FAILURE_SERIES:
        other = [sum(bucket_fail[k][b] for k in ranked[FAILURE_SERIES:]) / step for b in range(n_buckets)]
        series.failures["other endpoints"] = other
    summary.series = series
    summary.workers = [_worker_series(w, t.t0) for w in stats["workers"]]
    return summary


def _worker_series(worker: Any, t0: float) -> WorkerSeries:
    """Per-report samples; a long run keeps the highest value of each group of reports (the worst
    moment is what saturation is about, and a mean would hide it)."""
    samples = sorted(worker["samples"], key=lambda s: s["t"])
    group = max(1, math.ceil(len(samples) / MAX_POINTS))
    chunks = [samples[i : i + group] for i in range(0, len(samples), group)]
    return WorkerSeries(
        id=str(worker["id"]),
        x=[round(c[0]["t"] - t0, 3) for c in chunks],
        cpu_percent=[max(s["cpu_percent"] for s in c) for c in chunks],
        loop_lag_ms=[max(s["loop_lag_ms"] for s in c) for c in chunks],
        runqueue_wait_percent=[max(s["runqueue_wait_percent"] for s in c) for c in chunks],
        lost=bool(worker["lost"]),
        requests=int(worker["num_requests"]),
    )


def _limits(run: Run) -> Saturation:
    """The saturation limits the gate used: the run's SLA file when it is still readable."""
    path = run.spec.get("sla")
    if isinstance(path, str) and Path(path).is_file():
        try:
            return sla_module.load(Path(path)).saturation
        except GateError:
            pass
    return Saturation()


def checks(run: Run) -> list[Check]:
    """verdict.json's checks, as the gate's own objects (so the table formats them the same way)."""
    if run.verdict is None:
        return []
    names = {f.name for f in fields(Check)}
    return [Check(**{k: v for k, v in c.items() if k in names}) for c in run.verdict["checks"]]


@dataclass(frozen=True)
class Delta:
    """One metric of one endpoint: the baseline's value, the new value and the change."""

    metric: str  # p50 | p95 | p99 | error_rate | rps
    baseline: float | None
    new: float | None
    change: float | None  # percent for latency and throughput, points for the error rate
    worse: bool

    @property
    def unit(self) -> str:
        return "points" if self.metric == "error_rate" else "%"


@dataclass
class Comparison:
    """The run against its baselines: pooled baseline histograms per endpoint, and the trend."""

    baseline_ids: list[str]
    deltas: dict[Key, list[Delta]]
    trend_runs: list[str]  # baselines oldest first, then this run
    trend_p95: dict[Key, list[float | None]]


def _delta(metric: str, old: float | None, new: float | None) -> Delta:
    if old is None or new is None:
        return Delta(metric, old, new, None, False)
    if metric == "error_rate":
        change = new - old
        return Delta(metric, old, new, change, change > WORSE_ERROR_POINTS)
    if not old:
        return Delta(metric, old, new, None, False)
    change = (new - old) / old * 100.0
    worse = change < -WORSE_THROUGHPUT_PERCENT if metric == "rps" else change > WORSE_LATENCY_PERCENT
    return Delta(metric, old, new, change, worse)


def compare(current: Summary, baselines: Sequence[Summary]) -> Comparison | None:
    """Each endpoint against the pooled judged windows of the baseline runs (exact merges)."""
    if not baselines:
        return None
    ordered = sorted(baselines, key=lambda s: s.timing.t0)
    deltas: dict[Key, list[Delta]] = {}
    for key, row in current.by_key.items():
        pooled = EndpointRow(key)
        rates: list[float] = []
        for base in ordered:
            other = base.by_key.get(key)
            if other is None:
                continue
            pooled.requests += other.requests
            pooled.failures += other.failures
            histogram.merge(pooled.hist, other.hist)
            rate = other.rps(base.timing.judged_seconds)
            if rate is not None:
                rates.append(rate)
        if not pooled.requests:
            continue
        old, new = pooled.latency, row.latency
        deltas[key] = [
            _delta("p50", old.p50, new.p50),
            _delta("p95", old.p95, new.p95),
            _delta("p99", old.p99, new.p99),
            _delta("error_rate", pooled.error_rate, row.error_rate),
            _delta("rps", sum(rates) / len(rates) if rates else None, row.rps(current.timing.judged_seconds)),
        ]
    runs = [*ordered, current]
    trend = {key: [s.by_key[key].latency.p95 if key in s.by_key else None for s in runs] for key in current.by_key}
    labels: list[str] = []
    seen: dict[str, int] = {}
    for s in runs:  # a category axis merges equal labels: a copied run must stay a point of its own
        seen[s.run.run_id] = seen.get(s.run.run_id, 0) + 1
        labels.append(s.run.run_id if seen[s.run.run_id] == 1 else f"{s.run.run_id} ({seen[s.run.run_id]})")
    return Comparison([b.run.run_id for b in ordered], deltas, labels, trend)
