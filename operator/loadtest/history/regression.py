"""This run against its baseline: the comparison (`loadtest compare`) and the regression gate.

The method (README "Regression gate"), per subject (the aggregate, an endpoint, a group) and
metric (p50, p95, p99, throughput, error rate):

- Each run contributes one value: the exact percentile of its merged histogram over its judged
  window, its requests per second, its failed share. Latency and throughput are compared as
  ratios (on a log scale), the error rate in percentage points.
- The reference is the geometric mean of the baseline runs' values (the plain mean for the
  error rate), or the pinned run's value.
- The noise is the spread of the baseline runs' values around their mean: the sample standard
  deviation s of the last N comparable runs, at least 1 % (the histogram's resolution); for the
  error rate s also holds the binomial error of the new run's share. Run-to-run noise on a busy
  machine is exactly what this measures, so a noisy history demands a larger step.
- A new run is one more draw: its distance from the reference beyond the allowed change, in
  units of s * sqrt(1 + 1/n) (s * sqrt(2) against a pinned run), follows Student's t with n - 1
  degrees of freedom when nothing changed (a one-sided prediction interval). The confidence is
  that t's distribution function.
- A regression is a change beyond its limit *and* a confidence of at least `confidence`
  (0.95 by default). Both are reported on every check, as is the baseline.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtest.core.text import columns
from loadtest.gate.sla import DEFAULT_REGRESSION_CONFIDENCE, REGRESSION_METRICS, Regression, RegressionLimits, Selector
from loadtest.gate.verdict import Check, number
from loadtest.history.models import EndpointRow, RunRow
from loadtest.stats.recording import AGGREGATE_NAME, EndpointAccum

MIN_SPREAD = 0.01  # 1 %: the histogram's resolution; no history is quieter than its own rounding
# `loadtest compare`: a change is significant when the gate's test with a zero limit is this sure it
# moved in the direction it moved; the regression gate's default confidence, so every regression
# the gate reports is also a significant change in `compare` (one-sided both, same level)
SIGNIFICANCE = DEFAULT_REGRESSION_CONFIDENCE
LATENCY_METRICS = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
UNITS = {"p50": "ms", "p95": "ms", "p99": "ms", "throughput": "req/s", "error_rate": "%"}
GROUP = "regression"


# -- Student's t ----------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function P(T <= t) with `df` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


# -- values per run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunData:
    """A recorded (or about to be recorded) run with its endpoints, detached from any session."""

    run: RunRow
    endpoints: Sequence[EndpointRow]

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @functools.cached_property
    def _parsed(self) -> list[EndpointAccum]:
        """Each endpoint row's histogram, parsed once (judging reads each many times)."""
        return [_accum(e) for e in self.endpoints]

    def accum(self, select: Selector | None, name: str | None = None) -> EndpointAccum | None:
        """The subject's merged histogram (read-only): the aggregate (select None), one endpoint by
        name, or a group."""
        matched = []
        for a in self._parsed:
            if a.name == AGGREGATE_NAME and a.method == "":
                if select is None and name is None:
                    return a
                continue
            if name is not None and f"{a.method} {a.name}" != name:
                continue
            if select is not None and not select.matches(a.method, a.name):
                continue
            matched.append(a)
        if len(matched) == 1:
            return matched[0] if matched[0].num_requests > 0 else None
        total = EndpointAccum(method="", name=AGGREGATE_NAME)
        for a in matched:
            total.merge(a)
        return total if matched and total.num_requests > 0 else None

    def endpoint_names(self) -> list[str]:
        return [f"{e.method} {e.name}" for e in self.endpoints if not (e.method == "" and e.name == AGGREGATE_NAME)]


def _accum(e: EndpointRow) -> EndpointAccum:
    return EndpointAccum(
        method=e.method,
        name=e.name,
        num_requests=e.requests,
        num_failures=e.failures,
        histogram={float(v): int(c) for v, c in json.loads(e.histogram)},
    )


def value(run: RunData, accum: EndpointAccum, metric: str) -> float | None:
    """One run's value of a metric for one subject."""
    if metric in LATENCY_METRICS:
        return accum.percentile(LATENCY_METRICS[metric])
    if metric == "throughput":
        seconds = run.run.judged_seconds
        return accum.num_requests / seconds if seconds > 0 else None
    return 100.0 * accum.num_failures / accum.num_requests if accum.num_requests else None


# -- the test -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    metric: str
    baseline: float  # the reference: geometric mean of the baseline runs (mean for the error rate), or pinned
    new: float
    change: float  # % for latency and throughput, points for the error rate
    spread: float  # s: log-scale for latency and throughput, points for the error rate
    runs: int  # baseline runs the spread came from
    confidence: float  # that the change is beyond `allowed` (the limit, 0 for `compare`) in its direction


def judge(
    metric: str,
    baseline_values: Sequence[float],
    new: float,
    *,
    allowed: float,
    pinned: float | None = None,
    new_requests: int = 0,
) -> Judgement | None:
    """Test `new` against the baseline values; None without at least two baseline values (no spread).

    `allowed` is the limit (% rise for latency, % fall for throughput, points rise for the error
    rate); the confidence is that the new run moved further than that in the limit's direction.
    """
    values = [v for v in baseline_values if v is not None and (metric == "error_rate" or v > 0)]
    n = len(values)
    if n < 2 or (metric != "error_rate" and (new <= 0 or (pinned is not None and pinned <= 0))):
        return None  # no spread, or a ratio to or from zero
    if metric == "error_rate":
        reference = pinned if pinned is not None else statistics.fmean(values)
        requests = max(new_requests, 1)
        # the binomial error of the new share, never below that of one request in `requests`
        p = min(max(new, reference, 100.0 / requests), 100.0 - 100.0 / requests, 50.0) / 100.0
        p = max(p, 1.0 / requests)
        binomial = 100.0 * math.sqrt(p * (1 - p) / requests)
        spread = math.hypot(statistics.stdev(values), binomial)
        distance = new - reference - allowed
        change, shown = new - reference, reference
    else:
        logs = [math.log(v) for v in values]
        reference = math.log(pinned) if pinned is not None else statistics.fmean(logs)
        spread = max(statistics.stdev(logs), MIN_SPREAD)
        moved = math.log(new) - reference
        if metric == "throughput":  # a fall is the bad direction
            margin = math.log1p(-allowed / 100.0) if allowed < 100.0 else -math.inf
            distance = margin - moved
        else:
            distance = moved - math.log1p(allowed / 100.0)
        change, shown = 100.0 * math.expm1(moved), math.exp(reference)
    scale = spread * (math.sqrt(2.0) if pinned is not None else math.sqrt(1.0 + 1.0 / n))
    if math.isinf(distance) or scale <= 0.0:
        confidence = 1.0 if distance > 0 else 0.0
    else:
        confidence = t_cdf(distance / scale, n - 1)
    return Judgement(metric, shown, new, change, spread, n, confidence)


def breached(metric: str, j: Judgement, allowed: float, confidence: float) -> bool:
    beyond = -j.change > allowed if metric == "throughput" else j.change > allowed
    return beyond and j.confidence >= confidence


# -- baselines ------------------------------------------------------------------------------------


@dataclass
class Baseline:
    """The runs a run is compared with, and in words why these (or why none)."""

    runs: list[RunData]  # the last N comparable runs, newest first (the spread, and the reference unless pinned)
    pinned: RunData | None
    why: str
    usable: bool

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    def reference_ids(self) -> list[str]:
        return [self.pinned.run_id] if self.pinned is not None else self.run_ids


def differences(a: str, b: str) -> list[str]:
    """Fingerprint parts that differ between two runs ('users 50 -> 100')."""
    pa, pb = json.loads(a or "{}"), json.loads(b or "{}")
    skip = {"fingerprint", "git_revision"}
    keys = [k for k in sorted(set(pa) | set(pb)) if k not in skip and pa.get(k) != pb.get(k)]
    return [f"{k} {pb.get(k)!r} -> {pa.get(k)!r}" for k in keys]


# -- the gate's checks ----------------------------------------------------------------------------


def _subjects(limits: RegressionLimits, current: RunData) -> list[tuple[str, Selector | None, str | None]]:
    """(subject shown, selector, endpoint name) for one entry: the aggregate, each match, or a group."""
    if not isinstance(limits, Selector):
        return [("aggregate", None, None)]
    if limits.scope == "group":
        return [(limits.subject(), limits, None)]
    names = [n for n in current.endpoint_names() if limits.matches(*n.split(" ", 1))]
    return [(n, None, n) for n in names]


def checks(regression: Regression, current: RunData, baseline: Baseline) -> list[Check]:
    """The regression section judged: one check per subject and metric; 'no baseline yet' warns."""
    if not baseline.usable:
        return [Check(GROUP, "run", "baseline", None, f">= {regression.min_baseline_runs} runs", "",
                      len(baseline.runs), "warn", f"no baseline yet: {baseline.why}")]  # fmt: skip
    out: list[Check] = []
    ids = ", ".join(baseline.reference_ids())
    for path, limits in regression.subjects():
        subjects = _subjects(limits, current)
        if not subjects:
            assert isinstance(limits, Selector)
            seen = ", ".join(current.endpoint_names()) or "none"
            exact = limits.name is not None
            field_ = f"{path}.{'name' if exact else 'pattern'}"
            given = limits.name if exact else limits.pattern
            out.append(Check(path, limits.subject(), "matched", 0.0, ">= 1 endpoint", "", 0,
                             "fail" if exact else "warn",
                             f"{field_} = {given!r} matched no endpoint of this run (seen: {seen}); "
                             "fix the name or pattern"))  # fmt: skip
            continue
        for shown, select, name in subjects:
            accum = current.accum(select, name)
            for metric, allowed in limits.limits():
                args = (path, shown, metric, allowed, regression, current, accum, baseline, select, name, ids)
                out.append(_check(*args))
    return out


def _check(
    path: str,
    subject: str,
    metric: str,
    allowed: float,
    regression: Regression,
    current: RunData,
    accum: EndpointAccum | None,
    baseline: Baseline,
    select: Selector | None,
    name: str | None,
    ids: str,
) -> Check:
    unit = UNITS[metric]
    limit = f"{'-' if metric == 'throughput' else '+'}{allowed:g}{' points' if metric == 'error_rate' else '%'}"
    new = value(current, accum, metric) if accum is not None else None
    series = _series(baseline.runs, select, name, metric)
    pinned = None
    if baseline.pinned is not None:
        pinned_accum = baseline.pinned.accum(select, name)
        pinned = value(baseline.pinned, pinned_accum, metric) if pinned_accum is not None else None
    samples = accum.num_requests if accum is not None else 0
    metric_name = f"{metric} vs baseline"
    if new is None or (baseline.pinned is not None and pinned is None):
        which = "this run" if new is None else "the pinned run"
        why = f"not judged: {which} has no {metric} for it"
        return Check(path, subject, metric_name, new, limit, unit, samples, "warn", why)
    j = judge(metric, series, new, allowed=allowed, pinned=pinned, new_requests=samples)
    if j is None:
        why = f"no baseline yet for this subject: {len(series)} of the baseline runs measured it, 2 needed"
        return Check(path, subject, metric_name, new, limit, unit, samples, "warn", why)
    bad = breached(metric, j, allowed, regression.confidence)
    change = f"{j.change:+.1f} points" if metric == "error_rate" else f"{j.change:+.1f}%"
    moved = f"{_shown(j.baseline, unit)} -> {_shown(j.new, unit)}"
    reason = (
        f"{'REGRESSION: ' if bad else ''}{moved} ({change}, limit {limit}); "
        f"{100 * j.confidence:.1f}% confident it moved beyond the limit (needs {100 * regression.confidence:g}%); "
        f"baseline {ids}"
    )
    return Check(path, subject, metric_name, new, limit, unit, samples, "fail" if bad else "pass", reason)


def _shown(v: float, unit: str) -> str:
    return f"{number(v)}%" if unit == "%" else f"{number(v)} {unit}"


def _series(runs: Iterable[RunData], select: Selector | None, name: str | None, metric: str) -> list[float]:
    out = []
    for r in runs:
        accum = r.accum(select, name)
        v = value(r, accum, metric) if accum is not None else None
        if v is not None:
            out.append(v)
    return out


# -- `loadtest compare` ---------------------------------------------------------------------------


@dataclass
class Row:
    subject: str
    metric: str
    unit: str
    baseline: float | None
    new: float | None
    change: float | None
    confidence: float | None
    significant: bool | None


@dataclass
class Comparison:
    run_id: str
    baseline_ids: list[str]
    pinned: str | None
    spread_runs: list[str]
    why: str
    warnings: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(current: RunData, baseline: Baseline, reference: RunData | None = None) -> Comparison:
    """Every endpoint and the aggregate, every metric: baseline, new, change, significant or not.

    `reference` (an explicit BASELINE run) replaces the baseline's reference, as a pinned run does;
    significance then still comes from the spread of the baseline runs.
    """
    pinned = reference or baseline.pinned
    refs = [pinned] if pinned is not None else baseline.runs
    comparison = Comparison(
        run_id=current.run_id,
        baseline_ids=[r.run_id for r in refs],
        pinned=pinned.run_id if pinned is not None else None,
        spread_runs=baseline.run_ids,
        why=baseline.why,
    )
    subjects: list[tuple[str, str | None]] = [(n, n) for n in current.endpoint_names()]
    subjects.append(("aggregate", None))
    for shown, name in subjects:
        accum = current.accum(None, name)
        for metric in REGRESSION_METRICS:
            new = value(current, accum, metric) if accum is not None else None
            ref_values = _series(refs, None, name, metric)
            base = _center(metric, ref_values)
            spread = _series(baseline.runs, None, name, metric)
            j = None
            if new is not None and ref_values:
                j = judge(metric, spread, new, allowed=0.0, pinned=base if pinned is not None else None,
                          new_requests=accum.num_requests if accum is not None else 0)  # fmt: skip
            change = None
            if new is not None and base is not None:
                change = new - base if metric == "error_rate" else (100.0 * (new / base - 1.0) if base > 0 else None)
            # the confidence that it moved in the direction it moved
            confidence = max(j.confidence, 1.0 - j.confidence) if j is not None else None
            comparison.rows.append(
                Row(
                    shown,
                    metric,
                    UNITS[metric],
                    base,
                    new,
                    change,
                    confidence,
                    None if confidence is None else confidence >= SIGNIFICANCE,
                )  # fmt: skip
            )
    return comparison


def _center(metric: str, values: Sequence[float]) -> float | None:
    if not values:
        return None
    if metric == "error_rate":
        return statistics.fmean(values)
    positive = [v for v in values if v > 0]
    return statistics.geometric_mean(positive) if positive else None


def table(comparison: Comparison) -> str:
    header = ("ENDPOINT", "METRIC", "BASELINE", "NEW", "CHANGE", "SIGNIFICANT")
    rows = []
    for r in comparison.rows:
        change = "-" if r.change is None else f"{r.change:+.2f} pt" if r.metric == "error_rate" else f"{r.change:+.1f}%"
        significant = (
            "-" if r.significant is None else (f"{'yes' if r.significant else 'no'} ({100 * (r.confidence or 0):.0f}%)")
        )
        rows.append((
            r.subject, r.metric,
            "-" if r.baseline is None else _shown(r.baseline, r.unit),
            "-" if r.new is None else _shown(r.new, r.unit),
            change, significant,
        ))  # fmt: skip
    return columns([header, *rows])
