"""Finding and checking locustfiles before any process starts.

Importing a locustfile runs user code and gevent's monkey-patching, so the
check runs in a child interpreter (`python -m loadtest.locust.probe`) and
reports back as JSON: syntax and import errors with file and line, the User
classes with their weights and mean wait, and any LoadTestShape.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtest.core.errors import LocustfileError, SpecError
from loadtest.core.spec import RunSpec

PROBE_TIMEOUT_S = 60  # importing locust + a locustfile takes ~1-2 s; anything near this is a hang
_running: set[subprocess.Popen[str]] = set()  # probes under way (in any thread): stop_probes() kills them


def stop_probes() -> None:
    """Kill every probe child still running: the run was interrupted while it checked (the probe
    runs in a thread of its own, which Ctrl-C does not reach)."""
    for child in list(_running):
        if child.poll() is None:
            child.kill()


@dataclass(frozen=True)
class UserClassInfo:
    name: str
    weight: int
    fixed_count: int
    mean_wait_s: float | None  # sampled from wait_time; None when it cannot be sampled
    tasks: int


@dataclass(frozen=True)
class LocustfileInfo:
    files: list[Path]
    pythonpath: list[Path]
    user_classes: list[UserClassInfo]
    shape_classes: list[str]

    def planned_rps(self, users: int) -> float | None:
        return planned_rps(self.user_classes, users)


def planned_rps(classes: list[UserClassInfo], users: int) -> float | None:
    """Users / mean wait, split across classes the way Locust does (fixed counts first, then weights).

    This is the rate the spec plans for if responses were instantaneous; the
    gate's throughput floor and the README's capacity figures compare to it.
    """
    if not classes or any(c.mean_wait_s is None or c.mean_wait_s <= 0 for c in classes):
        return None
    fixed = sum(c.fixed_count for c in classes)
    weighted = [c for c in classes if not c.fixed_count]
    remaining = max(0, users - fixed)
    total_weight = sum(c.weight for c in weighted) or 1
    rate = 0.0
    for c in classes:
        count = c.fixed_count if c.fixed_count else remaining * c.weight / total_weight
        rate += count / (c.mean_wait_s or 1.0)
    return rate


MIN_TASKS_OBSERVED = 10  # fewer tasks say little about requests per task: assume one


def requests_per_task(tasks: int, task_requests: int) -> float | None:
    """Requests made inside tasks per task run, once enough tasks ran to say; else None."""
    return task_requests / tasks if tasks >= MIN_TASKS_OBSERVED else None


def planned_request_rate(planned_task_rate: float | None, tasks: int, task_requests: int) -> float | None:
    """Planned requests/s: planned tasks/s (users / mean wait) x observed requests per task (1 until known)."""
    if planned_task_rate is None:
        return None
    return planned_task_rate * (requests_per_task(tasks, task_requests) or 1.0)


CONNECTIONS_ATTRIBUTE = "websocket_connections"


def declared_connections(files: list[Path]) -> tuple[int, str | None]:
    """The most WebSocket connections one user of these files holds, and its class: the literal
    `websocket_connections = N` in a class body (read without importing anything, so workers and
    file limits are sized before any process starts). (0, None) when no class declares it."""
    most: tuple[int, str | None] = (0, None)
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # the probe reports it, with file and line
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                value: ast.expr | None
                if isinstance(stmt, ast.Assign):
                    targets, value = stmt.targets, stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    targets, value = [stmt.target], stmt.value
                else:
                    continue
                if not any(isinstance(t, ast.Name) and t.id == CONNECTIONS_ATTRIBUTE for t in targets):
                    continue
                if not isinstance(value, ast.Constant) or type(value.value) is not int or value.value < 0:
                    raise SpecError(
                        f"{path}:{stmt.lineno}: {node.name}.{CONNECTIONS_ATTRIBUTE} must be a whole number written "
                        "as a literal",
                        hint=f"write e.g. `{CONNECTIONS_ATTRIBUTE} = 1` in the class body",
                    )
                if value.value > most[0]:
                    most = (value.value, node.name)
    return most


def resolve_files(spec: RunSpec) -> tuple[list[Path], list[Path]]:
    """The locustfiles to run and the PYTHONPATH entries they need (the scenarios root for `lib`)."""
    root = spec.locustfiles_dir
    if spec.locustfiles:
        files = [p.resolve() for p in spec.locustfiles]
        for p in files:
            if not p.is_file():
                raise LocustfileError(
                    f"locustfile {p} does not exist",
                    hint="check --locustfiles (comma-separated paths) or use --scenario NAME",
                )
        return files, [root.resolve()] if root.is_dir() else []
    name = spec.scenario_name
    if not root.is_dir():
        raise SpecError(
            f"locustfiles_dir = '{root}' is not a directory",
            hint="run from the repository root or set --locustfiles-dir / LOADTEST_LOCUSTFILES_DIR",
        )
    path = root / name / "locustfile.py"
    if not path.is_file():
        known = sorted(p.parent.name for p in root.glob("*/locustfile.py"))
        raise SpecError(
            f"scenario = {name!r}: no {path}",
            hint="known scenarios: " + (", ".join(known) or "(none)"),
        )
    return [path.resolve()], [root.resolve()]


def probe(files: list[Path], pythonpath: list[Path], guard_hosts: list[str] | None = None) -> LocustfileInfo:
    """Import the locustfiles in a child; with `guard_hosts`, a request at import time to any other
    host fails there (locust.allowlist) instead of being sent."""
    env = dict(os.environ)
    if guard_hosts is not None:
        from loadtest.core import hosts

        env[hosts.ENV] = hosts.to_env(guard_hosts)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in pythonpath] + [env.get("PYTHONPATH", "")]).strip(
        os.pathsep
    )
    cmd = [sys.executable, "-m", "loadtest.locust.probe", *[str(f) for f in files]]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _running.add(child)
    try:
        stdout, stderr = child.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise LocustfileError(
            f"importing {', '.join(map(str, files))} did not finish within {PROBE_TIMEOUT_S} s",
            hint="a locustfile must not block at import time (network calls belong in on_start)",
        ) from exc
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _running.discard(child)
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise LocustfileError(
            f"could not inspect {', '.join(map(str, files))} (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
        ) from exc
    if report.get("error"):
        err = report["error"]
        where = f"{err['file']}:{err['line']}" if err.get("line") else err.get("file", "")
        raise LocustfileError(f"{where}: {err['kind']}: {err['message']}", hint=err.get("hint"))
    classes = [UserClassInfo(**c) for c in report["user_classes"]]
    if not classes:
        raise LocustfileError(
            f"{', '.join(map(str, files))} defines no User class",
            hint="define a class deriving from locust.HttpUser or FastHttpUser with at least one @task",
        )
    return LocustfileInfo(
        files=files, pythonpath=pythonpath, user_classes=classes, shape_classes=report["shape_classes"]
    )
