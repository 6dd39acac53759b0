"""Injected faults (slow or failing routes), shared by every server process.

The fault list lives in one JSON file, `<state>/faults.json`, replaced
atomically under an flock by whichever process handles `PUT`/`DELETE
/_control/faults`. Every process stats the file before each request it
serves (about a microsecond) and reloads it when its inode, size or mtime
changed, and re-reads it at least every RECHECK_S regardless. A change thus
applies in every process from its next request (at worst RECHECK_S later),
inside the 0.2 s the API promises, with no background task to manage.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtest.core.errors import SpecError

MAX_DELAY_MS = 60_000  # a minute: longer than any client timeout worth testing
DEFAULT_STATUS = 503  # api.md: an injected failure is "service unavailable" unless asked otherwise
FAULT_FIELDS = ("route", "delay_ms", "error_rate", "status", "seed")
RECHECK_S = 0.05  # worst-case staleness of a process's view: a quarter of the 0.2 s api.md allows


class FaultSpecError(SpecError):
    """A fault definition (control API body, --slow/--fail flag) is invalid."""


@dataclass(frozen=True)
class Fault:
    """Slow `route` by `delay_ms` and fail a fraction `error_rate` of its requests with `status`."""

    route: str
    delay_ms: int = 0
    error_rate: float = 0.0
    status: int = DEFAULT_STATUS
    seed: int | None = None  # fixes the failure draws of each process; None = unpredictable

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _int_field(data: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"fault.{name}: {value!r} is invalid; use a whole number from {low} to {high}")
    return value


def parse_fault(data: object, known_routes: Sequence[str]) -> Fault:
    """Validate a fault from JSON; every error names the field, the value and the fix."""
    if not isinstance(data, dict):
        raise FaultSpecError(
            f"fault: {data!r} is not an object; send "
            '{"route": "GET /api/products/{id}", "delay_ms": 300, "error_rate": 0.0, "status": 503}'
        )
    unknown = sorted(set(data) - set(FAULT_FIELDS))
    if unknown:
        raise FaultSpecError(f"fault: unknown field(s) {unknown}; allowed: {list(FAULT_FIELDS)}")
    route = data.get("route")
    if route not in known_routes:
        raise FaultSpecError(
            f"fault.route: {route!r} is not a route of the demo target; "
            f"use METHOD + template exactly as in /_control/stats, one of: {', '.join(known_routes)}"
        )
    rate = data.get("error_rate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"fault.error_rate: {rate!r} is invalid; use a probability from 0.0 to 1.0")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultSpecError(f"fault.seed: {seed!r} is invalid; use a whole number or leave it out")
    return Fault(
        route=str(route),
        delay_ms=_int_field(data, "delay_ms", 0, 0, MAX_DELAY_MS),
        error_rate=float(rate),
        status=_int_field(data, "status", DEFAULT_STATUS, 400, 599),
        seed=seed,
    )


def parse_flag(text: str, field: str, known_routes: Sequence[str]) -> Fault:
    """Parse `--slow ROUTE=MS` (field "delay_ms") or `--fail ROUTE=RATE` (field "error_rate")."""
    route, sep, value = text.rpartition("=")
    flag = "--slow" if field == "delay_ms" else "--fail"
    example = "'GET /api/products/{id}=300'" if field == "delay_ms" else "'GET /api/products/{id}=0.5'"
    if not sep or not route.strip():
        raise FaultSpecError(f"{flag}: {text!r} is not ROUTE=VALUE; write e.g. {flag} {example}")
    try:
        number: int | float = int(value) if field == "delay_ms" else float(value)
    except ValueError as exc:
        raise FaultSpecError(f"{flag}: value {value!r} in {text!r} is not a number; e.g. {example}") from exc
    return parse_fault({"route": route.strip(), field: number}, known_routes)


def merge(faults: Sequence[Fault]) -> list[Fault]:
    """One fault per route; for the same route a later delay or failure adds to an earlier one."""
    merged: dict[str, Fault] = {}
    for fault in faults:
        old = merged.get(fault.route)
        if old is not None:
            fault = Fault(
                fault.route,
                fault.delay_ms or old.delay_ms,
                fault.error_rate or old.error_rate,
                fault.status,
                fault.seed if fault.seed is not None else old.seed,
            )
        merged[fault.route] = fault
    return list(merged.values())


class FaultTable:
    """This process's view of `faults.json`, plus a per-fault RNG for the failure draws."""

    def __init__(self, path: Path, known_routes: Sequence[str]) -> None:
        self.path = path
        self.known_routes = tuple(known_routes)
        self._faults: dict[str, Fault] = {}
        self._rngs: dict[str, random.Random] = {}
        self._version: tuple[int, int, int] | None = None
        self._read_at = float("-inf")
        self._raw = b""

    def refresh(self) -> None:
        """Reload if the file changed since the last look: one stat, plus a re-read every
        RECHECK_S in case a replacement reused the inode, size and coarse mtime of the old file."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            version = None
        else:
            version = (st.st_ino, st.st_mtime_ns, st.st_size)
        now = time.monotonic()
        if version == self._version and now - self._read_at < RECHECK_S:
            return
        self._read_at = now
        self._version = version
        try:
            raw = self.path.read_bytes() if version is not None else b""
        except FileNotFoundError:
            raw = b""
        if raw == self._raw:
            return
        self._raw = raw
        self._install(self._parse(raw))

    def _parse(self, raw: bytes) -> list[Fault]:
        if not raw:
            return []
        return [parse_fault(item, self.known_routes) for item in json.loads(raw).get("items", [])]

    def _read(self) -> list[Fault]:
        try:
            return self._parse(self.path.read_bytes())
        except FileNotFoundError:
            return []

    def _install(self, faults: Sequence[Fault]) -> None:
        new = {fault.route: fault for fault in faults}
        rngs: dict[str, random.Random] = {}
        for route, fault in new.items():
            if self._faults.get(route) == fault and route in self._rngs:
                rngs[route] = self._rngs[route]  # unchanged fault: its draw sequence continues
            else:
                rngs[route] = random.Random(f"{fault.seed}:{route}") if fault.seed is not None else random.Random()
        self._faults, self._rngs = new, rngs

    def lookup(self, route: str) -> Fault | None:
        """The fault for `route` as of now (refreshes first)."""
        self.refresh()
        return self._faults.get(route)

    def should_fail(self, fault: Fault) -> bool:
        """One Bernoulli draw with probability `fault.error_rate` from the route's RNG."""
        if fault.error_rate <= 0.0:
            return False
        rng = self._rngs.setdefault(fault.route, random.Random())
        return rng.random() < fault.error_rate

    def items(self) -> list[Fault]:
        self.refresh()
        return sorted(self._faults.values(), key=lambda fault: fault.route)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, faults: Sequence[Fault]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"items": [fault.to_json() for fault in faults]}, indent=1))
        os.replace(tmp, self.path)

    def put(self, fault: Fault) -> None:
        """Add or replace the fault for `fault.route`, in every process."""
        with self._locked():
            current = {item.route: item for item in self._read()}
            current[fault.route] = fault
            self._write(sorted(current.values(), key=lambda item: item.route))
        self.refresh()

    def replace_all(self, faults: Sequence[Fault]) -> None:
        """Set the whole list (start-up from --slow/--fail flags)."""
        with self._locked():
            self._write(merge(faults))
        self.refresh()

    def clear(self, route: str | None = None) -> None:
        """Remove the fault of `route`, or all faults."""
        with self._locked():
            remaining = [] if route is None else [item for item in self._read() if item.route != route]
            self._write(remaining)
        self.refresh()
