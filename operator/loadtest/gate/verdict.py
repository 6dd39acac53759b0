"""The verdict's data: one Check per threshold or run condition, the Window evaluated, the Verdict.

Plain frozen dataclasses so gating, saturation and the output writers share
them without importing each other; ``Verdict.to_dict`` is the verdict.json form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal


def number(value: float) -> str:
    """4 significant digits, but never exponent notation: 13800, 512, 36.1, 0.5321."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


Result = Literal["pass", "fail", "inconclusive", "warn"]
# UNGATED: `--no-gate`, the run was asked to skip judging; it says so, and exits 0 only for that reason
Outcome = Literal["PASS", "FAIL", "INCONCLUSIVE", "UNGATED"]
Gate = Literal["sla", "baseline", "none"]
RUN_GROUP = "run"


@dataclass(frozen=True)
class Check:
    """One line of the verdict: a threshold (or a run-validity condition) and what was found."""

    group: str  # "run", "aggregate", "endpoints[0]" (the SLA path the check comes from)
    subject: str  # "run", "aggregate", "GET /items", "orders API"
    metric: str  # "p95", "error_rate", "requests", "saturation_cpu" ...
    measured: float | None
    limit: str  # human form: "< 500 ms", ">= 99%", "0 lost"
    unit: str
    samples: int
    result: Result
    reason: str
    abort: bool = False

    @property
    def name(self) -> str:
        return f"{self.subject} {self.metric}"


@dataclass(frozen=True)
class Window:
    """The evaluated part of the run."""

    warmup_end: float | None  # None: the warm-up never ended (not every user spawned)
    start: float | None  # first kept interval start (warm-up end rounded up to an interval)
    end: float | None
    seconds: float
    intervals_kept: int
    intervals_dropped: int
    rule: str  # how the warm-up end was chosen, for the report


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    checks: tuple[Check, ...]
    window: Window
    run_id: str
    scenario: str
    aborted: bool = False
    abort_reason: str | None = None
    warnings: tuple[str, ...] = field(default=())
    gate: Gate = "sla"  # which gate judged: the SLA file, the built-in baseline, or none (--no-gate)
    gate_source: str = ""  # the SLA file's path, or why the baseline applied
    error: str | None = None  # the run broke before it could be judged (exit code 4): what happened

    def to_dict(self) -> dict[str, Any]:
        """asdict, field by field: dataclasses.asdict deep-copies every value of every check
        (0.12 s for the thousand checks of a 500-endpoint SLA)."""
        names = [f.name for f in fields(Check)]
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["checks"] = [{**{n: getattr(c, n) for n in names}, "name": c.name} for c in self.checks]
        out["window"] = asdict(self.window)
        out["warnings"] = list(self.warnings)
        return out


def from_dict(data: dict[str, Any]) -> Verdict:
    """verdict.json back into a Verdict (the inverse of `Verdict.to_dict`)."""
    checks = tuple(Check(**{k: v for k, v in c.items() if k != "name"}) for c in data["checks"])
    rest = {k: v for k, v in data.items() if k not in ("checks", "window", "warnings", "schema", "exit_code")}
    return Verdict(**rest, checks=checks, window=Window(**data["window"]), warnings=tuple(data.get("warnings") or ()))


def unjudged(run_id: str, scenario: str, *, error: str | None, gate: Gate, gate_source: str, reason: str) -> Verdict:
    """A verdict for a run that was not judged: it broke first (`error`), or --no-gate asked for none."""
    if error is not None:
        check = Check(RUN_GROUP, "run", "completed", None, "completed", "", 0, "inconclusive", error)
        outcome: Outcome = "INCONCLUSIVE"
    else:
        check = Check(RUN_GROUP, "run", "gate", None, "a gate", "", 0, "warn", reason)
        outcome = "UNGATED"
    return Verdict(
        outcome=outcome,
        reason=reason,
        checks=(check,),
        window=Window(None, None, None, 0.0, 0, 0, "not evaluated"),
        run_id=run_id,
        scenario=scenario,
        gate=gate,
        gate_source=gate_source,
        error=error,
    )
