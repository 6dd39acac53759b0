"""Helpers of the cluster tests: read objects, wait with a deadline, read conditions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from loadtest.backends.kubernetes.cluster import LocalCluster

WAIT_TIMEOUT_S = 60.0  # kwok acts within a second; a minute means a controller is stuck
POLL_S = 0.25


def get_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def wait_until(what: str, probe: Callable[[], Any], timeout: float = WAIT_TIMEOUT_S) -> Any:
    """Poll probe until it returns a truthy value; at the deadline fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(POLL_S)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last observed: {last!r}")


def condition(obj: dict[str, Any], kind: str) -> str | None:
    """The status ('True'/'False') of a status condition, None when absent."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def wait_for_condition(cluster: LocalCluster, kind: str, name: str, cond: str, *, namespace: str = "loadtest") -> Any:
    """Wait until the object's status condition `cond` is True; return the object then."""

    def probe() -> Any:
        obj = get_json(cluster, kind, name, "-n", namespace)
        return obj if condition(obj, cond) == "True" else None

    return wait_until(f"{kind} {namespace}/{name} condition {cond}=True", probe)
