"""The run spec: one validated object from a YAML file, LOADTEST_* variables and CLI flags.

Precedence is file < environment < flags: a flag always wins, so a CI job can
pin a spec file and still override `users` for one run. Every source keeps its
origin so an error can say where a bad value came from. The whole spec is
validated before anything is started.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from loadtest.core.errors import SpecError

USERS_PER_WORKER_DEFAULT = 500  # measured on a 2-core runner: see README "Choosing the worker count"
CONNECTIONS_PER_WORKER_DEFAULT = 5000  # WebSocket connections one worker holds: README "WebSocket load"
DEFAULT_DURATION = "1m"  # `make loadtest` must finish within two minutes including start-up
# 50 users of the bundled scenario make ~25 req/s: a 1-minute run gives every SLA group the samples
# its p95 and success rate need (10 users left the smallest groups short: INCONCLUSIVE by default)
DEFAULT_USERS = 50
SPAWN_SECONDS_DEFAULT = 10  # the default spawn rate brings every user up in about ten seconds ...
SPAWN_SHARE_DEFAULT = 0.2  # ... or a fifth of the run, if that is shorter: a 10 s run judges 8 s
ENV_PREFIX = "LOADTEST_"

_DURATION_RE = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")
_RUN_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


class Backend(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"


class Cleanup(StrEnum):
    ALWAYS = "always"
    ON_SUCCESS = "on-success"
    NEVER = "never"


class Shape(StrEnum):
    RAMP = "ramp"
    STEP = "step"
    SPIKE = "spike"


class Progress(StrEnum):
    AUTO = "auto"  # a live line on a terminal, plain periodic lines otherwise
    TTY = "tty"
    PLAIN = "plain"
    OFF = "off"


def parse_duration(value: str | int | float) -> float:
    """'90', '90s', '2m', '1h30m', '1m30s' -> seconds. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        match = _DURATION_RE.match(text) if text else None
        if match is None or not any(match.groupdict().values()):
            raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 2m, 1h30m")
        seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + float(match["s"] or 0)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} must be a positive duration; use e.g. 90s, 2m")
    return seconds


def new_run_id(scenario: str) -> str:
    """Sortable, unique and DNS-label safe (it becomes a Helm release and label value)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")[:12] or "run"
    return f"{slug}-{stamp}-{secrets.token_hex(2)}"


class RunSpec(BaseModel):
    """The validated run spec. Field names are the YAML keys and map to --flags and LOADTEST_* vars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str | None = Field(None, description="folder under locustfiles/ (default api_browsing)")
    locustfiles: list[Path] = Field(default_factory=list, description="explicit locustfile paths")
    locustfiles_dir: Path = Field(Path("locustfiles"), description="where scenarios live")
    host: str | None = Field(None, description="target base URL; none starts the bundled demo target")
    websocket_url: str | None = Field(
        None,
        description="the WebSocket endpoint of a locustfile that declares websocket_connections (ws:// or "
        "wss://); default: the host's /ws",
    )
    users: int = Field(DEFAULT_USERS, description="peak number of simulated users")
    spawn_rate: float | None = Field(None, description="users started per second")
    duration: float = Field(parse_duration(DEFAULT_DURATION), description="run time in seconds")
    shape: Shape | None = Field(None, description="ramp | step | spike (overrides users/duration)")
    shape_options: dict[str, Any] = Field(default_factory=dict)
    workers: int | None = Field(None, description="worker processes/pods; default from users")
    users_per_worker: int = Field(USERS_PER_WORKER_DEFAULT)
    connections_per_worker: int = Field(
        CONNECTIONS_PER_WORKER_DEFAULT,
        description="WebSocket connections one worker holds; with a locustfile that declares "
        "websocket_connections, workers >= planned connections / this",
    )
    tags: list[str] = Field(default_factory=list)
    exclude_tags: list[str] = Field(default_factory=list)
    sla: Path | None = Field(None, description="SLA file; default the scenario's sla.yaml")
    no_gate: bool = Field(
        False,
        description="judge nothing: no SLA and no baseline gate; verdict.json says UNGATED and the exit "
        "code says only that the run completed",
    )
    backend: Backend = Backend.LOCAL
    namespace: str = "loadtest"
    kube_context: str | None = None
    kubeconfig: Path | None = Field(
        None, description="kubeconfig file (default $KUBECONFIG, ~/.kube/config or in-cluster)"
    )
    wait_for_workers: bool = Field(
        True,
        description="kubernetes: wait until every worker is connected, read from the master's /metrics "
        "through the API server; off where the master cannot be reached (the kwok test cluster)",
    )
    helm_values: dict[str, Any] = Field(default_factory=dict, description="extra chart values merged last")
    allowed_hosts: list[str] = Field(default_factory=list, description="target allowlist")
    artifacts_dir: Path = Path("results")
    cleanup: Cleanup = Cleanup.ALWAYS
    run_id: str | None = None
    start_timeout: float = Field(60.0, description="seconds to wait for every worker to connect")
    stop_timeout: float = Field(10.0, description="seconds users get to finish their task at the end")
    prometheus: bool = False
    demo_workers: int = Field(2, description="server processes of the bundled demo target")
    progress: Progress = Progress.AUTO

    @field_validator("users", "users_per_worker", "connections_per_worker", "demo_workers")
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be at least 1")
        return v

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError("must be at least 1 (or leave it unset to derive it from users)")
        return v

    @field_validator("spawn_rate")
    @classmethod
    def _spawn_rate(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError("must be greater than 0 users per second")
        return v

    @field_validator("duration", "start_timeout", "stop_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        if isinstance(v, str | int | float):
            return parse_duration(v)
        raise ValueError(f"{v!r} is not a duration; use e.g. 90s, 2m, 1h30m")

    @field_validator("host", "websocket_url")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or v == "":
            return None
        scheme, example = ("https?", "an http:// or https:// URL, e.g. https://staging.example.com")
        if info.field_name == "websocket_url":
            scheme, example = ("wss?", "a ws:// or wss:// URL, e.g. wss://staging.example.com/ws")
        if not re.match(rf"^{scheme}://[^/\s]+", v):
            raise ValueError(f"must be {example}")
        return v.rstrip("/") if info.field_name == "host" else v

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, v: str | None) -> str | None:
        if v is not None and not _RUN_ID_RE.match(v):
            raise ValueError("must be 1-40 lowercase letters, digits or '-' (it names a Helm release)")
        return v

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9_.-]+$", v):
            raise ValueError("must be a folder name under locustfiles/, e.g. api_browsing")
        return v

    @model_validator(mode="after")
    def _one_source_of_locustfiles(self) -> RunSpec:
        if self.scenario and self.locustfiles:
            raise ValueError("set either 'scenario' or 'locustfiles', not both")
        return self

    @model_validator(mode="after")
    def _spawning_leaves_time_to_judge(self) -> RunSpec:
        """The gate judges after every user spawned: spawning for the whole run would judge nothing."""
        if self.shape is None and self.spawn_rate is not None:
            spawn_s = self.users / self.spawn_rate
            if spawn_s >= self.duration:
                raise ValueError(
                    f"spawn_rate = {self.spawn_rate:g} brings users = {self.users} up in {spawn_s:g} s, "
                    f"not shorter than duration = {self.duration:g} s: the warm-up (until every user is "
                    f"spawned) would leave nothing to judge; raise spawn_rate to at least "
                    f"{math.ceil(self.users / (SPAWN_SHARE_DEFAULT * self.duration))}, or lengthen duration"
                )
        return self

    # Derived values -------------------------------------------------------------------

    @property
    def scenario_name(self) -> str:
        if self.scenario:
            return self.scenario
        if self.locustfiles:
            return (
                self.locustfiles[0].stem
                if self.locustfiles[0].stem != "locustfile"
                else (self.locustfiles[0].parent.name or "custom")
            )
        return "api_browsing"

    @property
    def effective_spawn_rate(self) -> float:
        """The spawn rate given, else every user up within min(10 s, a fifth of the run)."""
        if self.spawn_rate is not None:
            return self.spawn_rate
        return max(1.0, self.users / min(SPAWN_SECONDS_DEFAULT, SPAWN_SHARE_DEFAULT * self.duration))

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else worker_count_for(self.users, self.users_per_worker)


def worker_count_for(users: int, users_per_worker: int) -> int:
    """One worker per `users_per_worker` users, at least one."""
    return max(1, math.ceil(users / users_per_worker))


# Field name <-> flag / env var -----------------------------------------------------------

LIST_FIELDS = {"locustfiles", "tags", "exclude_tags", "allowed_hosts"}
PATH_FIELDS = {"locustfiles_dir", "sla", "artifacts_dir", "kubeconfig"}


def env_var(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _from_env(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for field in RunSpec.model_fields:
        name = env_var(field)
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        value: Any = raw
        if field in LIST_FIELDS:
            value = [item.strip() for item in raw.split(",") if item.strip()]
        elif field in ("shape_options", "helm_values"):
            value = _yaml_mapping(raw, name)
        out[field] = (value, f"environment variable {name}")
    return out


def _yaml_mapping(raw: str, origin: str) -> dict[str, Any]:
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SpecError(f"{origin}: {raw!r} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SpecError(f"{origin}: {raw!r} must be a mapping, e.g. {{users: 100, ramp_s: 30}}")
    return parsed


def _from_file(path: Path) -> dict[str, tuple[Any, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"spec file {path} does not exist", hint="pass an existing YAML file to --spec") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"spec file {path} must be a mapping of field: value, got {type(data).__name__}")
    out: dict[str, tuple[Any, str]] = {}
    for key, value in data.items():
        field = str(key).replace("-", "_")
        if field not in RunSpec.model_fields:
            raise SpecError(
                f"{path}: unknown field {key!r}",
                hint="known fields: " + ", ".join(sorted(RunSpec.model_fields)),
            )
        if field in PATH_FIELDS | {"locustfiles"} and value is not None:
            # Paths in a spec file are relative to the file, so a spec can live beside its scripts.
            if field == "locustfiles":
                value = [str(path.parent / str(p)) for p in (value if isinstance(value, list) else [value])]
            else:
                value = str(path.parent / str(value))
        out[field] = (value, f"{path}")
    return out


def resolve(
    *, spec_file: Path | None, environ: Mapping[str, str] | None = None, flags: Mapping[str, Any] | None = None
) -> RunSpec:
    """Merge file < environment < flags and validate the whole spec at once."""
    environ = os.environ if environ is None else environ
    merged: dict[str, tuple[Any, str]] = {}
    if spec_file is None and environ.get(env_var("spec")):
        spec_file = Path(environ[env_var("spec")])
    if spec_file is not None:
        merged.update(_from_file(spec_file))
    merged.update(_from_env(environ))
    for field, value in (flags or {}).items():
        if value is not None and value != []:
            merged[field] = (value, f"flag {flag(field)}")
    values = {field: value for field, (value, _) in merged.items()}
    try:
        return RunSpec(**values)
    except ValidationError as exc:
        raise _spec_error(exc, merged) from exc


def _spec_error(exc: ValidationError, merged: Mapping[str, tuple[Any, str]]) -> SpecError:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        field = loc[0] if loc else "spec"
        value, origin = merged.get(field, (err.get("input"), "the spec"))
        message = str(err["msg"]).removeprefix("Value error, ")
        where = ".".join(loc) if loc else "spec"
        lines.append(f"{where} = {value!r} (from {origin}): {message}")
    first_field = str(exc.errors()[0]["loc"][0]) if exc.errors() and exc.errors()[0]["loc"] else "spec"
    hint = None
    if first_field in RunSpec.model_fields:
        hint = f"fix it in the spec file, {env_var(first_field)} or {flag(first_field)}"
    return SpecError("invalid run spec: " + "; ".join(lines), hint=hint)


def to_yaml(spec: RunSpec, **extra: Any) -> str:
    """The resolved spec as written to the artifacts (re-loadable with --spec)."""
    data = spec.model_dump(mode="json")
    data.update(extra)
    return yaml.safe_dump(data, sort_keys=True)
