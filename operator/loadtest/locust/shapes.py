"""Reusable load shapes — ramp, step, spike — as pure functions of elapsed time.

Why pure functions rather than `LoadTestShape` subclasses: the arithmetic is
what can break, and it is testable without Locust, a clock or a process. The
one Locust-facing class lives in `shapefile.py` and only delegates here.

Each shape answers `(users, spawn_rate)` for a moment of the run, or `None`
once the run is over (Locust then stops the test). Within one phase the
answer is the *same tuple* every second: Locust only calls `runner.start()`
when the tick changes, and that call blocks until the phase's users are
spawned. The validation below therefore also refuses shapes whose phases
could not be reached at the chosen spawn rate before the next one begins
(Locust would silently skip them).

The controller chooses a shape from the run spec with `parse_options`, hands
it to every Locust process with `shape_env`, and passes `SHAPEFILE` as an
extra `-f` file; `shapefile.py` reads it back with `options_from_env`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Literal, TypeAlias

from loadtest.core.errors import SpecError

Tick: TypeAlias = tuple[int, float]
ShapeName: TypeAlias = Literal["ramp", "step", "spike"]
SHAPE_NAMES: tuple[ShapeName, ...] = ("ramp", "step", "spike")

SHAPE_ENV = "LOADTEST_SHAPE"  # ramp | step | spike, read by shapefile.py in every Locust process
SHAPE_OPTIONS_ENV = "LOADTEST_SHAPE_OPTIONS"  # the options object as JSON
SHAPEFILE = Path(__file__).with_name("shapefile.py")  # pass to Locust as an extra -f file
_EPSILON_S = 1e-9  # absorbs float error at phase boundaries (0.3 / 0.1 == 2.9999999999999996)


def _fail(shape: str, option: str, value: object, rule: str, fix: str) -> SpecError:
    return SpecError(f"{shape} shape: option {option} = {value!r} is invalid: {rule}", hint=fix)


def _positive_int(shape: str, option: str, value: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(shape, option, value, "it must be a whole number >= 1", fix)


def _seconds(shape: str, option: str, value: float, fix: str, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(shape, option, value, "it must be a number of seconds", fix)
    if value < 0 or (value == 0 and not allow_zero):
        rule = "it must be >= 0 seconds" if allow_zero else "it must be > 0 seconds"
        raise _fail(shape, option, value, rule, fix)


def _rate(shape: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise _fail(
            shape,
            "spawn_rate",
            value,
            "it must be a number of users per second > 0",
            "set spawn_rate to e.g. 10, or leave it out to use the shape's default",
        )


@dataclass(frozen=True)
class RampOptions:
    """Ramp from 0 to `users` over `ramp_s`, then hold until `duration_s`."""

    users: int
    duration_s: float
    ramp_s: float

    def __post_init__(self) -> None:
        _positive_int("ramp", "users", self.users, "set users to the number of users to reach, e.g. 100")
        _seconds("ramp", "duration_s", self.duration_s, "set duration_s to the run length, e.g. 120")
        _seconds(
            "ramp",
            "ramp_s",
            self.ramp_s,
            "set ramp_s to how long reaching users takes, e.g. 30",
            allow_zero=True,
        )
        if self.ramp_s > self.duration_s:
            raise _fail(
                "ramp",
                "ramp_s",
                self.ramp_s,
                f"it is longer than duration_s = {self.duration_s}",
                "set ramp_s <= duration_s, or lengthen duration_s",
            )

    @property
    def spawn_rate(self) -> float:
        """Users per second; a zero-length ramp starts everyone within one second."""
        return self.users / self.ramp_s if self.ramp_s > 0 else float(self.users)


@dataclass(frozen=True)
class StepOptions:
    """Add `step_users` every `step_s` (the first step at 0 s) up to `users`; stop at `duration_s`."""

    users: int
    step_users: int
    step_s: float
    duration_s: float
    spawn_rate: float | None = None  # default: step_users per second, each step reached in ~1 s

    def __post_init__(self) -> None:
        _positive_int("step", "users", self.users, "set users to the ceiling of the staircase, e.g. 100")
        _positive_int("step", "step_users", self.step_users, "set step_users to the users added per step")
        _seconds("step", "step_s", self.step_s, "set step_s to how long each step holds, e.g. 30")
        _seconds("step", "duration_s", self.duration_s, "set duration_s to the run length, e.g. 120")
        _rate("step", self.spawn_rate)
        if self.step_users > self.users:
            raise _fail(
                "step",
                "step_users",
                self.step_users,
                f"it is more than users = {self.users}",
                "set step_users <= users",
            )
        if self.step_s > self.duration_s:
            raise _fail(
                "step",
                "step_s",
                self.step_s,
                f"it is longer than duration_s = {self.duration_s}",
                "set step_s <= duration_s so at least one step completes",
            )
        if self.step_users / self.rate > self.step_s:
            raise _fail(
                "step",
                "spawn_rate",
                self.rate,
                f"spawning step_users = {self.step_users} takes {self.step_users / self.rate:g} s, "
                f"longer than step_s = {self.step_s}",
                f"raise spawn_rate to >= {self.step_users / self.step_s:g} or lengthen step_s",
            )

    @property
    def rate(self) -> float:
        return self.spawn_rate if self.spawn_rate is not None else float(self.step_users)


@dataclass(frozen=True)
class SpikeOptions:
    """Hold `base_users`; from `spike_at_s` for `spike_s` hold `spike_users`; then base again.

    `spike_users` is the total during the spike, not the extra users: what the workers must carry.
    """

    base_users: int
    spike_users: int
    spike_at_s: float
    spike_s: float
    duration_s: float
    spawn_rate: float | None = None  # default: each change reached in ~1 s

    def __post_init__(self) -> None:
        _positive_int("spike", "base_users", self.base_users, "set base_users to the steady load, e.g. 50")
        _positive_int("spike", "spike_users", self.spike_users, "set spike_users to the total during the spike")
        _seconds("spike", "spike_at_s", self.spike_at_s, "set spike_at_s to when the spike starts, e.g. 60")
        _seconds("spike", "spike_s", self.spike_s, "set spike_s to how long the spike lasts, e.g. 10")
        _seconds("spike", "duration_s", self.duration_s, "set duration_s to the run length, e.g. 120")
        _rate("spike", self.spawn_rate)
        if self.spike_users <= self.base_users:
            raise _fail(
                "spike",
                "spike_users",
                self.spike_users,
                f"it must be more than base_users = {self.base_users} (it is the total during the spike)",
                f"set spike_users > {self.base_users}",
            )
        end = self.spike_at_s + self.spike_s
        if end > self.duration_s:
            raise _fail(
                "spike",
                "duration_s",
                self.duration_s,
                f"the spike ends at spike_at_s + spike_s = {end:g} s, after the run",
                f"set duration_s >= {end:g} or move the spike earlier",
            )
        if self.base_users / self.rate > self.spike_at_s:
            raise _fail(
                "spike",
                "spike_at_s",
                self.spike_at_s,
                f"spawning base_users takes {self.base_users / self.rate:g} s at spawn_rate = {self.rate:g}",
                f"set spike_at_s >= {self.base_users / self.rate:g} or raise spawn_rate",
            )
        jump = self.spike_users - self.base_users
        if jump / self.rate > self.spike_s:
            raise _fail(
                "spike",
                "spike_s",
                self.spike_s,
                f"the spike needs {jump / self.rate:g} s to spawn {jump} users at spawn_rate = {self.rate:g}",
                f"set spike_s >= {jump / self.rate:g} or raise spawn_rate",
            )

    @property
    def rate(self) -> float:
        return (
            self.spawn_rate
            if self.spawn_rate is not None
            else float(max(self.base_users, self.spike_users - self.base_users))
        )


ShapeOptions: TypeAlias = RampOptions | StepOptions | SpikeOptions
_OPTION_TYPES: dict[ShapeName, type[ShapeOptions]] = {
    "ramp": RampOptions,
    "step": StepOptions,
    "spike": SpikeOptions,
}


def ramp(elapsed_s: float, options: RampOptions) -> Tick | None:
    """One constant tick for the run: Locust spawns at users / ramp_s, so users(t) = min(users, rate * t)."""
    if elapsed_s + _EPSILON_S >= options.duration_s:
        return None
    return (options.users, options.spawn_rate)


def step(elapsed_s: float, options: StepOptions) -> Tick | None:
    if elapsed_s + _EPSILON_S >= options.duration_s:
        return None
    steps_done = math.floor(max(elapsed_s, 0.0) / options.step_s + _EPSILON_S)
    return (min(options.users, options.step_users * (steps_done + 1)), options.rate)


def spike(elapsed_s: float, options: SpikeOptions) -> Tick | None:
    if elapsed_s + _EPSILON_S >= options.duration_s:
        return None
    in_spike = options.spike_at_s <= elapsed_s + _EPSILON_S < options.spike_at_s + options.spike_s
    return (options.spike_users if in_spike else options.base_users, options.rate)


def tick(elapsed_s: float, options: ShapeOptions) -> Tick | None:
    """The shape's answer at `elapsed_s`, whichever shape `options` configures."""
    match options:
        case RampOptions():
            return ramp(elapsed_s, options)
        case StepOptions():
            return step(elapsed_s, options)
        case SpikeOptions():
            return spike(elapsed_s, options)


def shape_name(options: ShapeOptions) -> ShapeName:
    return next(name for name, cls in _OPTION_TYPES.items() if isinstance(options, cls))


def peak_users(options: ShapeOptions) -> int:
    """The most users the shape ever asks for: what the worker count must be sized for."""
    match options:
        case RampOptions() | StepOptions():
            return options.users
        case SpikeOptions():
            return options.spike_users


def parse_options(name: str, raw: Mapping[str, object]) -> ShapeOptions:
    """Validate a shape name and its options (from the spec's YAML or JSON) into a typed options object."""
    if name not in _OPTION_TYPES:
        raise SpecError(f"shape = {name!r} is not a known load shape", hint=f"choose one of {', '.join(SHAPE_NAMES)}")
    cls = _OPTION_TYPES[name]
    known = [f.name for f in fields(cls)]
    required = [f.name for f in fields(cls) if f.default is MISSING]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SpecError(
            f"{name} shape: unknown option {unknown[0]} = {raw[unknown[0]]!r}",
            hint=f"remove it; {name} takes {', '.join(known)}",
        )
    missing = [key for key in required if key not in raw]
    if missing:
        raise SpecError(f"{name} shape: option {missing[0]} is missing", hint=f"{name} needs {', '.join(required)}")
    try:
        return cls(**raw)  # type: ignore[arg-type]  # each value is checked in __post_init__
    except TypeError as exc:  # a comparison between a valid and a wrongly typed option
        raise SpecError(
            f"{name} shape: options {dict(raw)!r} have a wrongly typed value ({exc})",
            hint="give numbers for every option",
        ) from exc


def shape_env(options: ShapeOptions) -> dict[str, str]:
    """The environment every Locust process needs for `SHAPEFILE` to rebuild exactly these options."""
    values = {f.name: getattr(options, f.name) for f in fields(options)}
    return {
        SHAPE_ENV: shape_name(options),
        SHAPE_OPTIONS_ENV: json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True),
    }


def options_from_env(environ: Mapping[str, str]) -> ShapeOptions:
    name = environ.get(SHAPE_ENV, "")
    if not name:
        raise SpecError(
            f"{SHAPE_ENV} is not set, but the shape file was passed to Locust",
            hint=f"set {SHAPE_ENV} to one of {', '.join(SHAPE_NAMES)} and {SHAPE_OPTIONS_ENV} "
            "to its options as JSON, or do not pass shapefile.py",
        )
    text = environ.get(SHAPE_OPTIONS_ENV, "")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SpecError(
            f"{SHAPE_OPTIONS_ENV} = {text!r} is not valid JSON ({exc})",
            hint='give a JSON object, e.g. {"users": 100, "duration_s": 120, "ramp_s": 30}',
        ) from exc
    if not isinstance(raw, dict):
        raise SpecError(
            f"{SHAPE_OPTIONS_ENV} = {text!r} is not a JSON object",
            hint='give a JSON object, e.g. {"users": 100, "duration_s": 120, "ramp_s": 30}',
        )
    return parse_options(name, raw)
