"""`DemoTarget`: start and stop the demo target from Python (the controller, tests).

    with DemoTarget(workers=2) as target:      # start(): seeded, listening, every worker up
        target.set_fault("GET /api/products/{id}", delay_ms=300)
        ...
        assert target.served(settle_s=0.5) == sent

The server runs as `python -m loadtest.demo_target demo-target` in a session
of its own, so stopping it can signal its whole process group. Its supervisor
gets PR_SET_PDEATHSIG: it is told to exit when the *thread* that started it
exits, so call `start()` from a thread that outlives the target (normally
the main thread). `stop()` verifies that no process of the tree survives.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

from loadtest.core import interrupts
from loadtest.core.errors import RunError
from loadtest.core.processes import alive, descendants, die_with_parent, kill_all
from loadtest.demo_target.app import COUNTER_KEYS, FAULT_KEYS, WS_COUNTERS
from loadtest.demo_target.config import LOG_FILENAME, SERVER_INFO_FILENAME
from loadtest.demo_target.counters import process_ids, read_file
from loadtest.demo_target.db import PreparedDb, prepare_database

POLL_S = 0.05  # readiness polling step: start-up takes ~1 s, so 50 ms adds little latency
HTTP_TIMEOUT_S = 5.0  # a control request on loopback answers in milliseconds; 5 s means "hung"
LOG_TAIL_LINES = 30  # how much of the server log an error message quotes
_CHILD_ENV_DROP = ("LOADTEST_DEMO_SLOW", "LOADTEST_DEMO_FAIL")  # DemoTarget starts with no faults


class DemoTarget:
    """The demo target as a managed subprocess tree (supervisor + `workers` uvicorn workers)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        data_dir: Path | None = None,
        *,
        cache_dir: Path | None = None,
        keep_data: bool = False,
    ) -> None:
        self.host, self.port, self.workers = host, port, workers
        self._requested_data_dir = data_dir
        self._cache_dir = cache_dir
        self._keep_data = keep_data
        self.data_dir: Path | None = None
        self.prepared: PreparedDb | None = None  # how the database was made (seconds, cache hit)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._owned_dir = False
        self._url: str | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> DemoTarget:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RunError("DemoTarget.url: the demo target is not running; call start() first")
        return self._url

    @property
    def log_path(self) -> Path:
        if self.data_dir is None:
            raise RunError("DemoTarget.log_path: the demo target was never started; call start() first")
        return self.data_dir / LOG_FILENAME

    @property
    def pid(self) -> int | None:
        """The supervisor's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 30.0) -> DemoTarget:
        """Seed or copy the database, spawn the server, wait until every worker serves."""
        if self._proc is not None:
            raise RunError(f"DemoTarget.start: already running at {self._url}; call stop() first")
        deadline = time.monotonic() + timeout_s
        if self._requested_data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="loadtest-demo-target-"))
            self._owned_dir = True
        else:
            self.data_dir = self._requested_data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepared = prepare_database(self.data_dir, self._cache_dir)
        (self.data_dir / SERVER_INFO_FILENAME).unlink(missing_ok=True)
        env = {key: value for key, value in os.environ.items() if key not in _CHILD_ENV_DROP}
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach the file as they happen
        command = [
            sys.executable, "-m", "loadtest.demo_target", "demo-target",
            "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers), "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            with interrupts.held():  # a Ctrl-C lands once the server is ours to stop, not half-way
                self._proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=functools.partial(die_with_parent, signal.SIGTERM, expected_parent=os.getpid()),
                )
            self._wait_ready(deadline, timeout_s)
        except BaseException:
            with contextlib.suppress(RunError):
                self.stop()
            raise
        return self

    def _wait_ready(self, deadline: float, timeout_s: float) -> None:
        """Three stages, each named in the timeout error: socket bound, /healthz, all workers up."""
        assert self._proc is not None and self.data_dir is not None
        stage, detail = "socket", ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RunError(
                    f"demo target exited with code {self._proc.returncode} while waiting for "
                    f"{self._describe(stage, detail)}; log {self.log_path} ends with:\n{self.log_tail()}"
                )
            if stage == "socket":
                with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                    info = json.loads((self.data_dir / SERVER_INFO_FILENAME).read_text())
                    self.port, self._url = int(info["port"]), str(info["url"])
                    stage = "health"
            if stage == "health":
                with contextlib.suppress(OSError, RunError):
                    if self._request("GET", "/healthz").get("status") == "ok":
                        stage = "workers"
            if stage == "workers":
                ready = len(set(self.worker_pids()) & set(process_ids(self._counters_dir())))
                if ready >= self.workers:
                    return
                detail = f"{ready} so far"
            time.sleep(POLL_S)
        raise RunError(
            f"demo target not ready within {timeout_s:g} s: "
            f"still waiting for {self._describe(stage, detail)}; "
            f"log {self.log_path} ends with:\n{self.log_tail()}",
            hint="raise the start timeout, or look for the error in the log",
        )

    def _describe(self, stage: str, detail: str) -> str:
        if stage == "socket":
            return f"{SERVER_INFO_FILENAME} (the supervisor seeding and binding {self.host}:{self.port})"
        if stage == "health":
            return f"GET {self._url}/healthz to answer 200"
        return f"{self.workers} worker(s) to open their counters ({detail})"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the supervisor, SIGKILL whatever is left at the deadline; verify nothing survives."""
        proc = self._proc
        if proc is None:
            if self._log is not None:  # interrupted before the server started
                self._log.close()
                self._log = None
            return
        deadline = time.monotonic() + timeout_s
        tree = [psutil.Process(proc.pid), *descendants(proc.pid)] if proc.poll() is None else []
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The session is the supervisor's own: this reaches every process it started, even unseen ones.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
        survivors = kill_all(alive(tree), timeout_s=2.0) if alive(tree) else []
        self._proc, self._url = None, None
        if self._log is not None:
            self._log.close()
            self._log = None
        if survivors:
            raise RunError(f"demo target: processes {[p.pid for p in survivors]} survived SIGKILL; kill them by hand")
        if self._owned_dir and not self._keep_data and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- inspection --------------------------------------------------------------------------
    def worker_pids(self) -> list[int]:
        """The supervisor's live descendants (uvicorn workers and multiprocessing's helpers)."""
        return [p.pid for p in descendants(self._proc.pid)] if self._proc is not None else []

    def process_tree(self) -> list[psutil.Process]:
        """The supervisor and all its descendants (for survival checks)."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        return [psutil.Process(self._proc.pid), *descendants(self._proc.pid)]

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, RunError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _counters_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "state" / "counters"

    # --- control API -------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"content-type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                payload: dict[str, Any] = json.loads(response.read())
                return payload
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RunError(f"demo target: {method} {path} answered {exc.code}: {detail}") from exc

    def stats(self) -> dict[str, Any]:
        """`GET /_control/stats`: {"served": n, "by_route": {...}, "websocket": {...}} over every process."""
        return self._request("GET", "/_control/stats")

    def served(self, settle_s: float = 0.0, timeout_s: float = 10.0) -> int:
        """Requests served so far; with `settle_s`, re-read every settle_s until two reads agree."""
        current = int(self.stats()["served"])
        if settle_s <= 0:
            return current
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(settle_s)
            previous, current = current, int(self.stats()["served"])
            if previous == current:
                return current
        raise RunError(f"demo target: served count still changing after {timeout_s:g} s (last {current})")

    def served_by_process(self, route: str | None = None) -> dict[int, int]:
        """Each server process's own count (pid -> served), of every route or only `route`.

        Tests use it to prove that load (or a fault) reached more than one process.
        """
        result = {}
        for path in sorted(self._counters_dir().glob("*.bin")):
            counts = read_file(path, COUNTER_KEYS)
            if counts is not None and path.stem.isdigit():
                served = sum(n for key, n in counts.items() if key not in WS_COUNTERS)  # HTTP requests only
                result[int(path.stem)] = served if route is None else counts.get(route, 0)
        return result

    def set_fault(self, route: str, delay_ms: int = 0, error_rate: float = 0.0, status: int = 503,
                  seed: int | None = None) -> None:  # fmt: skip
        """Slow and/or fail `route` ("METHOD template", e.g. "GET /api/products/{id}") in every process."""
        if route not in FAULT_KEYS:
            raise RunError(f"DemoTarget.set_fault: route {route!r} is unknown; use one of {list(FAULT_KEYS)}")
        body: dict[str, Any] = {
            "route": route,
            "delay_ms": delay_ms,
            "error_rate": error_rate,
            "status": status,
        }
        if seed is not None:
            body["seed"] = seed
        self._request("PUT", "/_control/faults", body)

    def clear_faults(self, route: str | None = None) -> None:
        """Remove every fault, or only `route`'s."""
        query = "?" + urllib.parse.urlencode({"route": route}) if route is not None else ""
        self._request("DELETE", "/_control/faults" + query)

    def faults(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._request("GET", "/_control/faults")["items"]
        return items
