"""Master side of the plugin: merge worker windows, watch workers, write status and artifacts."""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import MasterRunner

from loadtest.core.fileio import gc_paused, write_json_atomic
from loadtest.locust import allowlist, auth
from loadtest.locust.locustfiles import UserClassInfo, planned_request_rate, planned_rps, requests_per_task
from loadtest.locust.probe import user_class_fields
from loadtest.stats import histogram, windows
from loadtest.stats.artifact import (
    STATS_FILE,
    STATS_SCHEMA,
    STATUS_FILE,
    EndpointStats,
    RunEvent,
    StatsArtifact,
    WindowsInfo,
    WorkerSample,
    WorkerStats,
)
from loadtest.stats.recording import (
    INTERVAL_S,
    REPORT_INTERVAL_S,
    EndpointAccum,
    EndpointKey,
    RunAggregate,
    window_start,
)

logger = logging.getLogger("loadtest.locust.plugin")

STATUS_INTERVAL_S = 1.0  # the controller's progress line refreshes at this pace
RECENT_WINDOW_S = 10.0  # "current" p95 / rps look back this far, like Locust's own current_rps
GO_POLL_S = 0.01  # how often a held start looks for the controller's go file
SETTLE_S = 10.0  # a window this old is written to the log even if a worker has not reported past it
FINAL_REPORT_WAIT_S = 30.0  # a worker stopping thousands of users can take seconds to send its last report


@dataclass
class WorkerTrack:
    id: str
    index: int
    state: str = "ready"
    lost: bool = False
    lost_at: float | None = None
    resumed_at: float | None = None
    final: bool = False
    cpu_percent: float = 0.0
    memory_bytes: int = 0
    loop_lag_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    runqueue_wait_percent: float = 0.0
    users: int = 0
    connections: int = 0  # WebSocket connections open on it, as of its last report
    num_requests: int = 0
    samples: list[WorkerSample] = field(default_factory=list)

    @property
    def gone(self) -> bool:
        """Lost and not back: nothing more will come from it."""
        return self.lost and self.resumed_at is None

    def to_stats(self) -> WorkerStats:
        keys = ("id", "index", "state", "lost", "lost_at", "resumed_at", "num_requests", "samples")
        return cast(WorkerStats, {k: getattr(self, k) for k in keys})


class MasterPlugin:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        options = environment.parsed_options
        self.run_id: str = getattr(options, "loadtest_run_id", "") or "adhoc"
        self.scenario: str = getattr(options, "loadtest_scenario", "") or "custom"
        artifacts = getattr(options, "loadtest_artifacts", "")
        self.artifacts: Path | None = Path(artifacts) if artifacts else None
        self.sla: str = getattr(options, "loadtest_sla", "")
        self.expect_workers: int = int(getattr(options, "loadtest_expect_workers", 0) or 0)
        self.target_users: int = int(getattr(options, "num_users", 0) or 0)
        self.aggregate = RunAggregate()
        self.workers: dict[str, WorkerTrack] = {}
        self.events: list[RunEvent] = []
        self.started_at: float | None = None
        self.spawn_complete_at: float | None = None
        self.ended_at: float | None = None
        self.verdict: str | None = None
        self.git_revision = os.environ.get("LOADTEST_GIT_REVISION", "unknown")
        self.planned_task_rate = self._planned_rps()  # users / mean wait: tasks per second
        self.tasks = 0  # tasks the workers ran, and the requests made inside them
        self.task_requests = 0
        self.finished = False
        self.abort_monitor = self._abort_monitor()
        self._last_abort_check = 0.0
        self.metrics_server: Any = None
        self.secret = auth.secret_from_env()
        self.refused: list[auth.Refusal] = []
        self.blocked_hosts: Counter[str] = Counter()
        self.stopped_early: str | None = None
        self.window_log: windows.WindowLog | None = None
        self.final_report = gevent.event.Event()  # set by every final report: the end waits on it
        # plugin.py sets this to one pass of Locust's CSV writer, so the CSVs end with the final reports
        self.csv_pass: Callable[[], None] | None = None

    # Wiring -----------------------------------------------------------------------------

    def install(self) -> None:
        ev = self.environment.events
        ev.worker_report.add_listener(self.on_worker_report)
        ev.worker_connect.add_listener(self.on_worker_connect)
        ev.spawning_complete.add_listener(self.on_spawning_complete)
        ev.test_start.add_listener(self.on_test_start)
        ev.test_stop.add_listener(self.on_test_stop)
        ev.cpu_warning.add_listener(self.on_cpu_warning)
        self.open_artifacts()
        runner = self.environment.runner
        if runner is not None:
            runner.quit = self._quit_after_final_reports  # type: ignore[method-assign]
            options = self.environment.parsed_options
            go = getattr(options, "loadtest_start_when", "")
            self._hold_start(runner, Path(go) if go else None, float(getattr(options, "loadtest_run_time", 0) or 0))
            auth.WorkerGate(runner, self.secret, self.expect_workers, self.on_worker_refused).install()
        gevent.spawn(self._status_loop)

    def _hold_start(self, runner: Any, go: Path | None, run_time_s: float) -> None:
        """No user starts before `go` exists (when given): the controller starts the fleet while its
        last checks (the locustfile probe, the pre-flight request) run, and creates `go` only once
        they passed. Workers connect meanwhile; a refusal stops every process before any request.
        `run_time_s` (when > 0) ends the run that long after the users started (Locust's -t would
        count the hold too)."""
        timer: list[Any] = []
        for name in ("start", "start_shape"):
            original = getattr(runner, name)

            def held(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                while go is not None and not go.exists():
                    gevent.sleep(GO_POLL_S)
                if run_time_s > 0 and not timer:
                    timer.append(gevent.spawn_later(run_time_s, self._run_time_reached, runner, run_time_s))
                return _original(*args, **kwargs)

            setattr(runner, name, held)

    def _run_time_reached(self, runner: Any, run_time_s: float) -> None:
        logger.info("loadtest: run time of %g s reached, shutting down", run_time_s)
        runner.quit()

    def open_artifacts(self) -> None:
        """The artifacts directory and the window log, written from the first window on."""
        if self.artifacts is None or self.window_log is not None:
            return
        self.artifacts.mkdir(parents=True, exist_ok=True)
        header = {
            "run_id": self.run_id, "scenario": self.scenario, "interval_s": INTERVAL_S,
            "bucket_scheme": histogram.BUCKET_SCHEME,
        }  # fmt: skip
        self.window_log = windows.WindowLog(self.artifacts / windows.WINDOWS_FILE, header)
        self._note_meta()

    def _note_meta(self) -> None:
        """The run's times and targets into the window log as they change (for windows.recover)."""
        if self.window_log is not None:
            self.window_log.note({"meta": {
                "host": self.environment.host or "", "started_at": self.started_at,
                "spawn_complete_at": self.spawn_complete_at, "ended_at": self.ended_at,
                "target_users": self.target_users, "worker_count_expected": self.expect_workers,
            }})  # fmt: skip

    def event(self, kind: str, detail: str) -> None:
        self.events.append(RunEvent(t=time.time(), kind=kind, detail=detail))
        logger.info("loadtest event %s: %s", kind, detail)
        if self.window_log is not None:
            self.window_log.note({"event": self.events[-1]})

    # Locust events ----------------------------------------------------------------------

    def on_worker_connect(self, client_id: str, **_: Any) -> None:
        if client_id not in self.workers:
            self.workers[client_id] = WorkerTrack(id=client_id, index=len(self.workers))
            self.event("worker_connected", client_id)

    def on_worker_refused(self, refusal: auth.Refusal) -> None:
        self.refused.append(refusal)
        self.event("worker_refused", f"{refusal.id}: {refusal.reason}")

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        payload = data.get("loadtest")
        if not payload:
            return
        for host, count in (payload.get("blocked") or {}).items():
            if not self.blocked_hosts[str(host)]:
                self.event("request_blocked", f"{client_id} tried {host}, outside the allowlist")
            self.blocked_hosts[str(host)] += int(count)
        runner = self.environment.runner
        users = runner.user_count if runner else 0
        self.aggregate.add_windows(payload["windows"], users=users, worker=client_id, received=time.time())
        track = self.workers.get(client_id) or self.workers.setdefault(
            client_id, WorkerTrack(id=client_id, index=len(self.workers))
        )
        track.cpu_percent = float(payload.get("cpu_percent", 0.0))
        track.memory_bytes = int(payload.get("memory_bytes", 0))
        track.loop_lag_ms = float(payload.get("loop_lag_ms", 0.0))
        track.loop_lag_max_ms = float(payload.get("loop_lag_max_ms", 0.0))
        track.runqueue_wait_percent = float(payload.get("runqueue_wait_percent", 0.0))
        track.users = int(payload.get("users", 0))
        track.connections = int(payload.get("connections", 0))
        track.final = track.final or bool(payload.get("final"))
        if track.final:
            self.final_report.set()
        track.num_requests += sum(e["num_requests"] for w in payload["windows"] for e in w["endpoints"])
        self.tasks += int(payload.get("tasks", 0))
        self.task_requests += int(payload.get("task_requests", 0))
        track.samples.append(
            WorkerSample(
                t=time.time(),
                cpu_percent=track.cpu_percent,
                loop_lag_ms=track.loop_lag_ms,
                loop_lag_max_ms=track.loop_lag_max_ms,
                runqueue_wait_percent=track.runqueue_wait_percent,
                users=track.users,
                connections=track.connections,
            )
        )

    def on_spawning_complete(self, user_count: int, **_: Any) -> None:
        if self.spawn_complete_at is None:
            self.spawn_complete_at = time.time()
        self.target_users = max(self.target_users, int(user_count))  # a shape's peak, for the artifact
        self.event("spawning_complete", f"{user_count} users")
        self._note_meta()

    def on_test_start(self, **_: Any) -> None:
        if self.started_at is None:
            self.started_at = time.time()
        runner = self.environment.runner
        if runner is not None and runner.target_user_count:
            self.target_users = max(self.target_users, int(runner.target_user_count))
        self.event("test_start", f"target {self.target_users} users")
        self._note_meta()

    def on_test_stop(self, **_: Any) -> None:
        self.ended_at = time.time()
        self.event("test_stop", "users stopped")
        self._note_meta()

    def on_cpu_warning(self, cpu_usage: float, **kwargs: Any) -> None:
        self.event("cpu_warning", f"a load generator at {cpu_usage:.0f}% CPU")

    # Live status ------------------------------------------------------------------------

    def _status_loop(self) -> None:
        while not self.finished:
            try:
                self._check_workers()
                self._write_windows()
                self._check_abort()
                if self.artifacts is not None:
                    write_json_atomic(self.artifacts / STATUS_FILE, self.status())
            except Exception:  # a status hiccup must never kill the run
                logger.exception("loadtest status update failed")
            gevent.sleep(STATUS_INTERVAL_S)

    def _quit_after_final_reports(self) -> None:
        """MasterRunner.quit, but waiting for every worker's final report instead of a fixed 0.5 s.

        Locust's master sends `quit` and kills its message loop half a second
        later; a worker still stopping a few thousand users misses that and its
        last seconds of samples are lost (the stats would be incomplete). This
        keeps the loop alive until each worker that has not been lost says its
        report is final, with a deadline.
        """
        from locust.rpc import Message

        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        runner.stop(send_stop_to_client=False)
        for client in list(runner.clients.all):
            runner.server.send_to_client(Message("quit", None, client.id))
        deadline = time.monotonic() + FINAL_REPORT_WAIT_S
        while time.monotonic() < deadline and any(not w.final and not w.gone for w in self.workers.values()):
            self.final_report.clear()
            # a final report wakes this at once (every listener of its message has run by then); the
            # timeout notices a worker lost meanwhile
            self.final_report.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        waiting = [w.id for w in self.workers.values() if not w.final and not w.gone]
        if waiting:
            self.event("final_report_missing", f"no final report within {FINAL_REPORT_WAIT_S:.0f} s from {waiting}")
        runner.greenlet.kill(block=True)

    def _abort_monitor(self) -> Any:
        if not self.sla:
            return None
        from loadtest.gate import sla as sla_module
        from loadtest.gate.evaluation import AbortMonitor

        monitor = AbortMonitor(sla_module.load(Path(self.sla)))
        return monitor if monitor.enabled else None

    def _check_abort(self) -> None:
        """An `abort: true` threshold breached after warm-up stops the run within one report interval."""
        runner = self.environment.runner
        if self.abort_monitor is None or runner is None or runner.state not in ("spawning", "running"):
            return
        if time.monotonic() - self._last_abort_check < REPORT_INTERVAL_S:
            return
        self._last_abort_check = time.monotonic()
        reason = self.abort_monitor.check(self.snapshot(live=True), judged=self._judged)
        if reason:
            self.event("abort", reason)
            logger.error("loadtest: aborting the run: %s", reason)
            gevent.spawn(runner.quit)

    def _check_workers(self) -> None:
        """Lost (no heartbeat before its final report) and resumed workers; all lost ends the run now."""
        runner = self.environment.runner
        if runner is None:
            return
        clients = getattr(runner, "clients", {})
        running = runner.state in ("spawning", "running")
        now = time.time()
        for wid, track in self.workers.items():
            node = clients.get(wid)
            state = node.state if node is not None else ("missing" if running else "stopped")
            if state == "missing" and not track.lost and not track.final:
                track.lost, track.lost_at, track.resumed_at = True, now, None
                self.event("worker_lost", f"{wid} stopped reporting during the run")
            elif track.lost and state not in ("missing", "stopped") and track.resumed_at is None:
                track.resumed_at = now
                gap = now - (track.lost_at or now)
                self.event("worker_resumed", f"{wid} reported again after {gap:.0f} s; its later reports were merged")
            track.state = state
        live = [w for w in self.workers.values() if not w.gone]
        if self.workers and not live and self.stopped_early is None and not self.finished:
            elapsed = now - (self.started_at or now)
            self.stopped_early = f"every worker was lost; the run stopped early, {elapsed:.0f} s after it started"
            self.event("all_workers_lost", self.stopped_early)
            logger.error("loadtest: %s", self.stopped_early)
            gevent.spawn(runner.quit)

    # The window log ----------------------------------------------------------------------

    def _complete_until(self) -> float:
        """Windows before this have every worker's requests: reported past by each worker still
        sending (a final or lost one sends no more), or older than SETTLE_S anyway."""
        sending = [w.id for w in self.workers.values() if not w.final and not w.gone]
        until = self.aggregate.complete_until(sending) if sending else (math.inf if self.workers else -math.inf)
        return max(until, window_start(time.time()) - SETTLE_S)

    def _write_windows(self, until: float | None = None) -> None:
        """Append the complete windows (and late deltas) to the log: O(new windows) per call."""
        if self.window_log is None:
            return
        for t, users, accums in self.aggregate.take_writable(self._complete_until() if until is None else until):
            self.window_log.window(t, users, accums)
        try:
            self.window_log.flush()
        except OSError as exc:  # kept queued; retried next second (ENOSPC is named at the end)
            logger.error("loadtest: could not append to %s: %s", self.window_log.path, exc)

    def _judged(self, start: float) -> tuple[dict[EndpointKey, EndpointAccum], EndpointAccum]:
        log = self.window_log

        def written_before(at: float, late: Sequence[float]) -> dict[EndpointKey, EndpointAccum]:
            return windows.before(log.path, at, late) if log is not None and log.bytes else {}

        return self.aggregate.judged(start, written_before)

    def status(self) -> dict[str, Any]:
        runner = self.environment.runner
        now = time.time()
        recent_total, seconds, p95 = self.aggregate.rate(self._complete_until(), RECENT_WINDOW_S)
        total = self.aggregate.total()
        states: dict[str, int] = {}
        for node in getattr(runner, "clients", {}).values():
            states[node.state] = states.get(node.state, 0) + 1
        live = sum(n for state, n in states.items() if state != "missing")
        return {
            "t": now,
            "run_id": self.run_id,
            "state": runner.state if runner else "init",
            "users": runner.user_count if runner else 0,
            # a shape moves its target: show the current one, not the peak
            "target_users": int(getattr(runner, "target_user_count", 0) or self.target_users),
            "workers_connected": live,
            "workers_expected": self.expect_workers,
            "workers_by_state": states,
            "workers_lost": sum(1 for w in self.workers.values() if w.gone),
            "workers_refused": len(self.refused),
            "requests_blocked": sum(self.blocked_hosts.values()),
            "requests": total.num_requests,
            "failures": total.num_failures,
            # requests over the seconds they cover, in the last windows every worker has reported
            "rps": recent_total / seconds if seconds else 0.0,
            "p95_ms": p95,
            "started_at": self.started_at,
            "spawn_complete_at": self.spawn_complete_at,
            "max_worker_cpu": max((w.cpu_percent for w in self.workers.values()), default=0.0),
            "connections": sum(w.connections for w in self.workers.values() if not w.gone),
            "metrics_port": self.metrics_server.port if self.metrics_server is not None else None,
        }

    # Artifacts --------------------------------------------------------------------------

    def _endpoint_stats(self, accum: EndpointAccum, live: bool) -> EndpointStats:
        if live:  # the abort check needs the names, not the histograms (it has the judged merge)
            return EndpointStats(
                method=accum.method, name=accum.name, num_requests=accum.num_requests,
                num_failures=accum.num_failures, histogram=[], total_response_time_ms=0.0,
                min_response_time_ms=None, max_response_time_ms=None,
            )  # fmt: skip
        return self.aggregate.summary(accum)

    def snapshot(self, live: bool = False) -> StatsArtifact:
        """The summary (stats.json v2): O(endpoints) plus one small row per window; the windows are
        in the window log. `live`: without histograms, for the abort check every 3 s."""
        endpoints = self.aggregate.endpoints()
        total = self.aggregate.total()
        runner = self.environment.runner
        locust_total = runner.stats.total if runner else None
        incomplete = [w.id for w in self.workers.values() if not w.final and not w.gone]
        return StatsArtifact(
            schema=STATS_SCHEMA,
            run_id=self.run_id,
            scenario=self.scenario,
            host=self.environment.host or "",
            bucket_scheme=histogram.BUCKET_SCHEME,
            interval_s=INTERVAL_S,
            started_at=self.started_at,
            spawn_complete_at=self.spawn_complete_at,
            ended_at=self.ended_at,
            target_users=self.target_users,
            planned_rps=self.planned_rps,
            requests_per_task=self.requests_per_task,
            worker_count_expected=self.expect_workers or len(self.workers),
            complete=bool(self.workers) and not incomplete,
            endpoints=[self._endpoint_stats(e, live) for e in endpoints],
            aggregate=self._endpoint_stats(total, live),
            intervals=[],
            windows=WindowsInfo(
                file=windows.WINDOWS_FILE,
                index=self.aggregate.index_rows(),
                late=sorted(set(self.aggregate.late)),
                bytes=self.window_log.bytes if self.window_log is not None else 0,
            ),
            errors=[
                {"method": e.method or "", "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
                for e in (runner.stats.errors.values() if runner else [])
            ],
            workers=[w.to_stats() for w in self.workers.values()],
            events=list(self.events),
            locust_totals={
                "num_requests": locust_total.num_requests if locust_total else 0,
                "num_failures": locust_total.num_failures if locust_total else 0,
            },
            worker_auth=self.secret is not None,
            refused_workers=[asdict(r) for r in self.refused],  # type: ignore[misc]
            blocked_hosts=dict(self._blocked_hosts()),
            allowlist=allowlist.guard().entries if allowlist.guard() is not None else None,  # type: ignore[union-attr]
        )

    def _blocked_hosts(self) -> Counter[str]:
        """Refusals from the workers' reports plus the master's own (a locustfile it imported)."""
        own = allowlist.guard()
        if own is not None:
            self.blocked_hosts.update(own.drain())
        return self.blocked_hosts

    def finish(self) -> None:
        """Called on Locust's `quit` event, after the final worker reports were merged."""
        if self.finished:
            return
        self._check_workers()
        self.finished = True
        if self.ended_at is None:
            self.ended_at = time.time()
        if self.artifacts is None:
            return
        try:
            self._write_windows(until=math.inf)
        except Exception:
            logger.exception("loadtest: could not write the last windows")
        try:
            with gc_paused():  # ~a million fresh acyclic lists: collecting while they are made is wasted
                write_json_atomic(self.artifacts / STATS_FILE, self.snapshot(), indent=False)
            write_json_atomic(self.artifacts / STATUS_FILE, {**self.status(), "state": "finished"})
        except OSError as exc:  # e.g. ENOSPC: the controller names the cause in verdict.json
            logger.error("loadtest: could not write %s: %s", STATS_FILE, exc)
            return
        self._write_html_if_missing()
        if self.csv_pass is not None:  # Locust's CSVs end with the final reports too
            try:
                self.csv_pass()
            except Exception:
                logger.exception("loadtest: could not bring Locust's CSV files up to date")
        if self.sla:
            self._run_gate()

    def _run_gate(self) -> None:
        if self.artifacts is None:
            return
        try:
            from loadtest.gate.command import run_gate

            self.verdict = run_gate(self.artifacts / STATS_FILE, Path(self.sla), self.artifacts).outcome
        except Exception:
            logger.exception("loadtest: the gate failed inside the master; the controller will retry it")

    def _write_html_if_missing(self) -> None:
        """Locust writes its HTML report on a normal end or Ctrl-C, but not on SIGTERM."""
        options = self.environment.parsed_options
        html = getattr(options, "html_file", None)
        if not html or Path(html).exists():
            return
        try:
            from locust.html import get_html_report

            Path(html).write_text(get_html_report(self.environment, show_download_link=False), encoding="utf-8")
        except Exception:
            logger.exception("loadtest: could not write the HTML report")

    @property
    def requests_per_task(self) -> float | None:
        """Observed: a task that makes two requests plans twice the rate of one that makes one."""
        return requests_per_task(self.tasks, self.task_requests)

    @property
    def planned_rps(self) -> float | None:
        """Planned requests per second: planned tasks per second x observed requests per task."""
        return planned_request_rate(self.planned_task_rate, self.tasks, self.task_requests)

    def _planned_rps(self) -> float | None:
        classes = [UserClassInfo(**user_class_fields(c.__name__, c)) for c in self.environment.user_classes or []]
        return planned_rps(classes, self.target_users) if self.target_users else None
