"""The SLA file (`sla.yaml`, version 1): what a run must achieve for the gate to PASS.

A pydantic model is the single source of truth: it validates the YAML, and the
JSON schema shipped in ``schemas/sla.v1.json`` is generated from it
(``tests/unit/test_sla_schema.py`` fails when the two drift; regenerate with
``python -m loadtest.gate.sla``). Errors name the file and the field path the way a
user reads them (``sla.yaml: endpoints[1].p95: 'fast' is not a number``).

Limits are written as a bare number or with an explicit operator:
``p95: 500`` means p95 <= 500 ms (a bare number is an inclusive bound),
``p95: "< 500"`` means strictly below. Rates are percentages (``error_rate: "< 5"``
or ``"< 5%"``). Latencies are compared after the 3-significant-digit bucketing
(see histogram.py), so a true 500.4 ms is measured as 500 ms: it passes
``<= 500`` and fails ``< 500``.

Default sample minimums follow one rule: a percentile p needs the smallest n for
which the largest of n samples lies above the true p-th percentile with 95 %
confidence, n = ceil(ln 0.05 / ln p): p50 -> 5, p90 -> 29, p95 -> 59, p99 -> 299.
A rate limit L (error_rate < L, or success_rate >= 100 - L) uses the same rule
with p = 1 - L (error_rate < 5 % -> 59, success >= 99 % -> 299): with fewer
requests, even zero errors cannot show the rate is below L. ``max`` and a zero
error budget are statements about the requests actually sent, not estimates,
so one sample suffices; ask for volume with ``min_requests``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from loadtest.core.errors import GateError
from loadtest.gate import sla_errors

SLA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "sla.v1.json"
CONFIDENCE = 0.95  # the default min_samples rule: 95 % confidence the sample covers the percentile
DEFAULT_MAX_CPU_PERCENT = 90.0  # Locust's own cpu_warning threshold, applied to every report
DEFAULT_MAX_LOOP_LAG_MS = 100.0  # lag adds straight onto measured response times; 100 ms is visible
# A generator waiting for a core a fifth of the time stamps its timings late; a healthy 1,000-user run
# on the 2-core reference machine waits 3-5 %, an oversubscribed 5,000-user one 30-50 % while spawning.
DEFAULT_MAX_RUNQUEUE_WAIT_PERCENT = 20.0
DEFAULT_SUSTAINED_REPORTS = 2  # one hot report (a GC pause, spawning) is noise; two in a row are not

_LIMIT = re.compile(r"^\s*(<=|<|≤|>=|>|≥)?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|%)?\s*$")
_PERCENTILE_KEY = re.compile(r"^p?([-+]?(?:\d+\.?\d*|\.\d+))$")
LATENCY_FIELDS = ("p50", "p90", "p95", "p99", "max")


class Limit(BaseModel):
    """One parsed bound: ``measured <op> value``."""

    model_config = ConfigDict(frozen=True)
    op: Literal["<", "<=", ">", ">="]
    value: float

    def holds(self, measured: float) -> bool:
        return {
            "<": measured < self.value,
            "<=": measured <= self.value,
            ">": measured > self.value,
            ">=": measured >= self.value,
        }[self.op]

    def describe(self, unit: str) -> str:
        shown = f"{self.value:g}"
        return f"{self.op} {shown}{'%' if unit == '%' else ' ' + unit}"


def _parse_limit(raw: Any, *, upper: bool, unit: str, ceiling: float | None) -> Limit:
    if isinstance(raw, Limit):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise PydanticCustomError("limit", f"{raw!r} is not a number")
    if isinstance(raw, int | float):
        op, value, suffix = ("<=" if upper else ">="), float(raw), None
    else:
        match = _LIMIT.match(raw)
        if match is None:
            raise PydanticCustomError(
                "limit",
                f"{raw!r} is not a number; write e.g. 500, '< 500' or '<= 500'",
            )
        op = {"≤": "<=", "≥": ">="}.get(match.group(1) or "", match.group(1) or ("<=" if upper else ">="))
        value, suffix = float(match.group(2)), match.group(3)
        if suffix is not None and suffix != unit:
            raise PydanticCustomError("limit", f"{raw!r}: unit '{suffix}' does not apply here (use {unit})")
    if upper and op not in ("<", "<="):
        raise PydanticCustomError("limit", f"{raw!r} must be an upper bound: use '<' or '<='")
    if not upper and op not in (">", ">="):
        raise PydanticCustomError("limit", f"{raw!r} must be a lower bound: use '>' or '>='")
    if value < 0 or (ceiling is not None and value > ceiling) or math.isnan(value):
        bounds = f"0–{ceiling:g}" if ceiling is not None else ">= 0"
        raise PydanticCustomError("limit", f"{raw!r} is outside {bounds}")
    return Limit(op=op, value=value)  # type: ignore[arg-type]


def _number_or_text_schema(description: str, pattern: str) -> dict[str, Any]:
    """A limit is a bare non-negative number or a string the pattern describes."""
    forms = [{"type": "number", "minimum": 0}, {"type": "string", "pattern": pattern}]
    return {"description": description, "anyOf": forms}


def _limit_schema(description: str, upper: bool, unit: str) -> dict[str, Any]:
    ops = "<|<=|≤" if upper else ">|>=|≥"
    return _number_or_text_schema(description, rf"^\s*({ops})?\s*[0-9.]+([eE][-+]?[0-9]+)?\s*({unit})?\s*$")


LatencyLimit = Annotated[
    Limit,
    BeforeValidator(lambda v: _parse_limit(v, upper=True, unit="ms", ceiling=None)),
    WithJsonSchema(_limit_schema("Upper bound in ms: 500 (<= 500), '< 500' or '<= 500 ms'", True, "ms")),
]
ErrorRateLimit = Annotated[
    Limit,
    BeforeValidator(lambda v: _parse_limit(v, upper=True, unit="%", ceiling=100.0)),
    WithJsonSchema(_limit_schema("Maximum failed share in percent: 5 (<= 5), '< 5' or '< 5%'", True, "%")),
]
SuccessRateLimit = Annotated[
    Limit,
    BeforeValidator(lambda v: _parse_limit(v, upper=False, unit="%", ceiling=100.0)),
    WithJsonSchema(_limit_schema("Minimum successful share in percent: 99 (>= 99) or '> 99%'", False, "%")),
]


def percentile_of_key(key: Any) -> float:
    """'p99.9' or 99.9 -> 99.9; raises the user-facing error for anything else."""
    match = _PERCENTILE_KEY.match(str(key).strip())
    if isinstance(key, bool) or match is None:
        raise PydanticCustomError("percentile", f"{key!r} is not a percentile such as p99.9")
    value = float(match.group(1))
    if not 0.0 <= value <= 100.0:
        raise PydanticCustomError("percentile", f"percentile {value:g} is outside 0–100")
    return value


def _min_samples_key(key: Any) -> str:
    if key in ("max", "error_rate", "success_rate"):
        return str(key)
    return f"p{percentile_of_key(key):g}"


_KEY_SCHEMA = r"^p?[0-9]+(\.[0-9]+)?$"
_CLOSED: dict[str, Any] = {"additionalProperties": False}  # schema: keys outside the pattern are errors
PercentileKey = Annotated[
    str,
    BeforeValidator(lambda k: f"p{percentile_of_key(k):g}"),
    WithJsonSchema({"type": "string", "pattern": _KEY_SCHEMA}),
]
MinSamplesKey = Annotated[
    str,
    BeforeValidator(_min_samples_key),
    WithJsonSchema({"type": "string", "pattern": r"^(p?[0-9]+(\.[0-9]+)?|max|error_rate|success_rate)$"}),
]
MinSamples = dict[MinSamplesKey, Annotated[int, Field(ge=1)]]


def default_min_samples_for_percentile(p: float) -> int:
    """Smallest n with P(max of n samples > true p-th percentile) >= 95 %; p in percent."""
    if p >= 100.0:
        return 1  # the max: a fact about the samples sent, see the module docstring
    if p <= 0.0:
        return 1
    return math.ceil(math.log(1 - CONFIDENCE) / math.log(p / 100.0) - 1e-9)


def default_min_samples_for_error_budget(allowed_error_percent: float) -> int:
    """Requests needed before zero errors shows the error rate is below the budget (95 %)."""
    if allowed_error_percent <= 0.0 or allowed_error_percent >= 100.0:
        return 1
    return default_min_samples_for_percentile(100.0 - allowed_error_percent)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    """Limits that apply to one subject: the aggregate, one endpoint, or a group of endpoints."""

    description: str | None = Field(default=None, description="Free text shown nowhere but here.")
    p50: LatencyLimit | None = None
    p90: LatencyLimit | None = None
    p95: LatencyLimit | None = None
    p99: LatencyLimit | None = None
    max: LatencyLimit | None = None
    percentiles: dict[PercentileKey, LatencyLimit] = Field(
        default_factory=dict,
        description="Any other percentile, e.g. {p99.9: '< 800'}.",
        json_schema_extra=_CLOSED,
    )
    error_rate: ErrorRateLimit | None = None
    success_rate: SuccessRateLimit | None = None
    min_requests: int | None = Field(default=None, ge=1, description="Fewer requests after warm-up: INCONCLUSIVE.")
    min_throughput: float | None = Field(
        default=None, gt=0, description="Requests per second after warm-up; below it: INCONCLUSIVE."
    )
    min_samples: MinSamples = Field(
        default_factory=dict,
        description="Overrides, e.g. {p95: 100, p99: 500, error_rate: 20}.",
        json_schema_extra=_CLOSED,
    )
    abort: bool = Field(default=False, description="Stop the run within one reporting interval once breached.")

    def latency_limits(self) -> list[tuple[str, float, Limit]]:
        """(metric name, percentile in percent, limit); the max is percentile 100."""
        out: list[tuple[str, float, Limit]] = []
        for name in LATENCY_FIELDS:
            limit = getattr(self, name)
            if limit is not None:
                out.append((name, 100.0 if name == "max" else float(name[1:]), limit))
        for key, limit in self.percentiles.items():
            out.append((key, float(key[1:]), limit))
        return out

    @model_validator(mode="after")
    def _no_duplicate_percentile(self) -> Threshold:
        for key in self.percentiles:
            field = "max" if key == "p100" else key
            if field in LATENCY_FIELDS and getattr(self, field) is not None:
                raise PydanticCustomError("duplicate", f"percentiles.{key} and '{field}' set the same limit; keep one")
        return self


class AggregateThreshold(Threshold):
    """Limits over every request of the run together."""

    min_throughput_fraction: float | None = Field(
        default=None, gt=0, le=1, description="Achieved rps at least this share of the planned rps (0–1]."
    )


class Selector(_Strict):
    """Which endpoints an entry applies to: an exact name or a regex, an optional method."""

    name: str | None = Field(default=None, description="Exact Locust request name.")
    pattern: str | None = Field(default=None, description="Regular expression searched in the request name.")
    method: str | None = Field(default=None, description="HTTP method; any method when omitted.")
    scope: Literal["each", "group"] = Field(
        default="each", description="each: every matching endpoint on its own; group: their merged requests."
    )
    label: str | None = Field(default=None, description="Name for a group in the verdict, e.g. 'orders API'.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise PydanticCustomError("regex", f"{v!r} is not a valid regular expression: {exc}") from exc
        return v

    @field_validator("method")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        return v.upper() if v is not None else None

    @model_validator(mode="after")
    def _one_selector(self) -> Selector:
        if (self.name is None) == (self.pattern is None):
            raise PydanticCustomError(
                "selector", "give exactly one of 'name' (exact) or 'pattern' (regular expression)"
            )
        return self

    def matches(self, method: str, name: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        if self.name is not None:
            return name == self.name
        assert self.pattern is not None
        return re.search(self.pattern, name) is not None

    def subject(self) -> str:
        if self.label:
            return self.label
        method = f"{self.method} " if self.method else ""
        return f"{method}{self.name}" if self.name is not None else f"{method}~/{self.pattern}/"


class EndpointThreshold(Threshold, Selector):
    """Limits for the endpoints one selector matches (exact name or regex, optional method)."""


_CHANGE = re.compile(r"^\s*([-+])?\s*((?:\d+\.?\d*|\.\d+))\s*(%|pt|points?)?\s*$")


def _parse_change(raw: Any, *, sign: str, unit: str) -> float:
    """'+10%' / 10 (a rise of at most 10 %), '-5%' (a fall), '+0.5' points: the allowed change, >= 0."""
    example = {"%": f"{sign}10%", "points": f"{sign}0.5"}[unit]
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise PydanticCustomError("change", f"{raw!r} is not a change; write e.g. '{example}'")
    if isinstance(raw, int | float):
        value, given_sign, given_unit = float(raw), None, None
    else:
        match = _CHANGE.match(raw)
        if match is None:
            raise PydanticCustomError("change", f"{raw!r} is not a change; write e.g. '{example}'")
        given_sign, value, given_unit = match.group(1), float(match.group(2)), match.group(3)
    if given_sign is not None and given_sign != sign:
        direction = "rise" if sign == "+" else "fall"
        raise PydanticCustomError(
            "change", f"{raw!r}: this limit is how far the value may {direction}; write e.g. '{example}'"
        )
    if given_unit is not None and (given_unit == "%") != (unit == "%"):
        fix = "a percentage such as '+10%'" if unit == "%" else "percentage points such as '+0.5' (not '%')"
        raise PydanticCustomError("change", f"{raw!r}: this change is {fix}")
    if math.isnan(value) or value < 0 or (unit == "points" or sign == "-") and value > 100:
        raise PydanticCustomError("change", f"{raw!r} is outside 0–100")
    return value


def _change_schema(description: str, sign: str, unit: str) -> dict[str, Any]:
    suffix = "%" if unit == "%" else "(pt|points?)"
    return _number_or_text_schema(description, rf"^\s*[{sign}]?\s*[0-9.]+\s*{suffix}?\s*$")


LatencyRise = Annotated[
    float,
    BeforeValidator(lambda v: _parse_change(v, sign="+", unit="%")),
    WithJsonSchema(_change_schema("How far the percentile may rise over the baseline: 10 or '+10%'", "+", "%")),
]
ThroughputFall = Annotated[
    float,
    BeforeValidator(lambda v: _parse_change(v, sign="-", unit="%")),
    WithJsonSchema(_change_schema("How far requests per second may fall below the baseline: 5 or '-5%'", "-", "%")),
]
ErrorRateRise = Annotated[
    float,
    BeforeValidator(lambda v: _parse_change(v, sign="+", unit="points")),
    WithJsonSchema(_change_schema("How many percentage points the error rate may rise: 0.5 or '+0.5'", "+", "pt")),
]
REGRESSION_METRICS = ("p50", "p95", "p99", "throughput", "error_rate")


class RegressionLimits(_Strict):
    """How far one subject may move against its baseline before it is a regression."""

    p50: LatencyRise | None = None
    p95: LatencyRise | None = None
    p99: LatencyRise | None = None
    throughput: ThroughputFall | None = None
    error_rate: ErrorRateRise | None = None

    def limits(self) -> list[tuple[str, float]]:
        """(metric, allowed change) in a fixed order; latency and throughput in %, error rate in points."""
        return [(m, getattr(self, m)) for m in REGRESSION_METRICS if getattr(self, m) is not None]

    @model_validator(mode="after")
    def _some_limit(self) -> RegressionLimits:
        if not self.limits():
            raise PydanticCustomError(
                "empty", f"no limit given; set at least one of {', '.join(REGRESSION_METRICS)}, e.g. p95: '+10%'"
            )
        return self


class RegressionEndpoint(RegressionLimits, Selector):
    """Regression limits for the endpoints one selector matches."""


DEFAULT_BASELINE_RUNS = 5
DEFAULT_MIN_BASELINE_RUNS = 3
DEFAULT_REGRESSION_CONFIDENCE = 0.95


class Regression(_Strict):
    """This run against earlier comparable runs (same fingerprint) from the run history."""

    baseline_runs: int = Field(
        default=DEFAULT_BASELINE_RUNS, ge=2, le=100, description="The baseline: the last N comparable runs."
    )
    min_baseline_runs: int = Field(
        default=DEFAULT_MIN_BASELINE_RUNS,
        ge=2,
        le=100,
        description="Fewer comparable runs than this: 'no baseline yet' (a warning, not a failure).",
    )
    confidence: float = Field(
        default=DEFAULT_REGRESSION_CONFIDENCE,
        ge=0.5,
        lt=1,
        description="A change beyond its limit is a regression only with at least this confidence.",
    )
    aggregate: RegressionLimits | None = None
    endpoints: list[RegressionEndpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Regression:
        if self.min_baseline_runs > self.baseline_runs:
            raise PydanticCustomError(
                "runs",
                f"min_baseline_runs = {self.min_baseline_runs} exceeds baseline_runs = {self.baseline_runs}; "
                "lower it or raise baseline_runs",
            )
        if self.aggregate is None and not self.endpoints:
            raise PydanticCustomError("empty", "give 'aggregate' or 'endpoints' limits, e.g. aggregate: {p95: '+10%'}")
        return self

    def subjects(self) -> list[tuple[str, RegressionLimits]]:
        """(path, limits) in file order: 'regression.aggregate', 'regression.endpoints[0]', ..."""
        out: list[tuple[str, RegressionLimits]] = []
        if self.aggregate is not None:
            out.append(("regression.aggregate", self.aggregate))
        out.extend((f"regression.endpoints[{i}]", e) for i, e in enumerate(self.endpoints))
        return out


class Saturation(_Strict):
    """When the load generators themselves are the bottleneck the latencies are theirs: INCONCLUSIVE."""

    max_cpu_percent: float = Field(
        default=DEFAULT_MAX_CPU_PERCENT,
        gt=0,
        le=100,
        description="Worker process CPU per report (100 = one core).",
    )
    max_loop_lag_ms: float = Field(
        default=DEFAULT_MAX_LOOP_LAG_MS,
        gt=0,
        description="Event-loop lag a worker saw per report (90th percentile of its 100 ms probes).",
    )
    max_runqueue_wait_percent: float = Field(
        default=DEFAULT_MAX_RUNQUEUE_WAIT_PERCENT,
        gt=0,
        le=100,
        description="Share of a report interval a worker waited for a CPU (oversubscribed machine).",
    )
    sustained_reports: int = Field(
        default=DEFAULT_SUSTAINED_REPORTS,
        ge=1,
        description="Reports of one worker over a limit before it counts.",
    )
    locust_cpu_warning: bool = Field(default=True, description="Also treat Locust's own cpu_warning as saturation.")
    window: Literal["run", "evaluated"] = Field(
        default="evaluated",
        description="evaluated: only reports inside the judged window (after warm-up, before the stop), "
        "like latency; spawning and stopping are reported, not judged. run: every report.",
    )


class WebSocketLimits(_Strict):
    """The connections of WebSocket sessions (loadtest.locust.websocket), judged over the whole run:
    users connect while they spawn, before any warm-up ends. Timings of calls and pushes are
    endpoint thresholds (method WSCALL / WSPUSH), judged after warm-up like any endpoint's."""

    connect: Threshold | None = Field(
        default=None,
        description="Limits on every connect of the run (the WSCONNECT rows merged): e.g. {p95: 500, "
        "success_rate: '>= 99'}.",
    )
    disconnect_rate: ErrorRateLimit | None = Field(
        default=None,
        description="Unexpected closes (WSCLOSE) per connection opened, in percent: e.g. '< 1%'.",
    )
    min_connections: int | None = Field(
        default=None,
        ge=1,
        description="Connections the workers held open together at every report after warm-up, until the stop.",
    )
    min_samples: int | None = Field(
        default=None, ge=1, description="Connections needed to judge disconnect_rate (default: from the limit)."
    )

    @model_validator(mode="after")
    def _no_abort(self) -> WebSocketLimits:
        if self.connect is not None and self.connect.abort:
            raise PydanticCustomError("abort", "websocket.connect is judged after the run: 'abort' does not apply")
        return self


class Sla(_Strict):
    """A whole SLA file."""

    version: Literal[1] = Field(description="Format version; this loadtest reads 1.")
    description: str | None = None
    warmup: Literal["spawn"] | Annotated[float, Field(ge=0)] = Field(
        default="spawn", description="'spawn': until every user is spawned; or seconds after the first user."
    )
    unmatched: Literal["warn", "fail"] | None = Field(
        default=None,
        description="A threshold no request matched: a warning or a failure. Unset: an exact 'name' fails "
        "(a typo must not pass), a 'pattern' warns.",
    )
    min_samples: MinSamples = Field(
        default_factory=dict, description="Defaults for every threshold.", json_schema_extra=_CLOSED
    )
    saturation: Saturation = Field(default_factory=lambda: Saturation())
    aggregate: AggregateThreshold | None = None
    endpoints: list[EndpointThreshold] = Field(default_factory=list)
    websocket: WebSocketLimits | None = None
    regression: Regression | None = Field(
        default=None, description="Limits against earlier comparable runs from the run history (README)."
    )

    def min_samples_for(self, threshold: Threshold, metric: str, default: int) -> int:
        return threshold.min_samples.get(metric, self.min_samples.get(metric, default))

    def thresholds(self) -> list[tuple[str, Threshold]]:
        """(path, threshold) in file order: 'aggregate', 'endpoints[0]', ..."""
        out: list[tuple[str, Threshold]] = []
        if self.aggregate is not None:
            out.append(("aggregate", self.aggregate))
        out.extend((f"endpoints[{i}]", t) for i, t in enumerate(self.endpoints))
        return out


BASELINE_MAX_ERROR_PERCENT = 5.0  # the baseline gate's error-rate limit (README "The baseline gate")


def baseline() -> Sla:
    """The gate for a run without an SLA file: evidence, not targets.

    Every run check applies (stats complete, no worker lost or refused, no request
    outside the allowlist, at least one request after warm-up, generators not
    saturated) plus one threshold: fewer than 5 % of requests failed, judged with
    the same minimum sample rule as any error_rate (59 requests for 5 %).
    """
    return Sla.model_validate(
        {
            "version": 1,
            "description": "built-in baseline gate (no SLA file)",
            "aggregate": {"error_rate": f"< {BASELINE_MAX_ERROR_PERCENT:g}"},
        }
    )


def parse(data: Any, origin: str) -> Sla:
    """Validate already-parsed YAML; `origin` (the file name) prefixes every error."""
    if data is None:
        raise GateError(f"{origin}: the file is empty", hint="an SLA file starts with `version: 1`")
    if not isinstance(data, dict):
        raise GateError(
            f"{origin}: expected a mapping of keys (version, aggregate, endpoints ...), got {type(data).__name__}"
        )
    try:
        return Sla.model_validate(data)
    except ValidationError as exc:
        raise GateError(
            sla_errors.describe(exc, origin, Sla),
            hint=f"the SLA format is described by {SCHEMA_PATH.name} (loadtest/gate/schemas)",
        ) from exc


def load(path: Path) -> Sla:
    """Read and validate an SLA file. Raises GateError (exit code USAGE) naming file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise GateError(
            f"SLA file {path} does not exist",
            hint="pass --sla with an existing file, e.g. locustfiles/<scenario>/sla.yaml",
        ) from exc
    except OSError as exc:
        raise GateError(f"SLA file {path} cannot be read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise GateError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    return parse(data, str(path))


def json_schema() -> dict[str, Any]:
    schema = Sla.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://loadtest.invalid/schemas/sla.v1.json"
    schema["title"] = "loadtest SLA file, version 1"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":
    write_schema()
    print(f"wrote {SCHEMA_PATH}")
