"""The Locust plugin loaded by `loadtest.locust.agent` into the master and every worker.

Workers record every request into exact 1-second windows (recording.py) and
ship them, with their CPU and event-loop lag, inside Locust's own worker
reports. The master merges them into a RunAggregate, keeps a live status file
for the controller, watches workers, and on quit writes the stats artifact,
runs the gate when an SLA is given, and optionally holds (so a Deployment
never restarts a finished run) or lingers (so Prometheus scrapes final values).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import gevent
import gevent.event
import psutil
from locust import events, stats
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.locust import allowlist, auth
from loadtest.locust.master import MasterPlugin
from loadtest.locust.master_metrics import start_metrics_server
from loadtest.locust.websocket import open_connections as websocket_connections
from loadtest.stats.recording import WindowRecorder, in_aggregate

logger = logging.getLogger("loadtest.locust.plugin")

# Before Locust imports the locustfile: requests it makes, even at import time, meet the allowlist,
# and this process's client_ready carries the run's proof (a no-op in the master).
_guard = allowlist.install_from_env()
_secret = auth.secret_from_env()
if _secret is not None:
    auth.install_worker_proof(_secret)

LOOP_LAG_PROBE_S = 0.1  # how often the worker's event loop is probed for lag


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("loadtest", "loadtest plugin (set by the loadtest controller)")
    group.add_argument("--loadtest-run-id", default="", help="run id labelling artifacts and metrics")
    group.add_argument("--loadtest-scenario", default="", help="scenario name for labels")
    group.add_argument("--loadtest-artifacts", default="", help="directory for stats.json and status.json")
    group.add_argument("--loadtest-sla", default="", help="SLA file; the master runs the gate on quit")
    group.add_argument("--loadtest-metrics-host", default="127.0.0.1", help="bind address of /metrics")
    group.add_argument("--loadtest-metrics-port", type=int, default=-1, help="/metrics port; -1 off, 0 free")
    group.add_argument("--loadtest-expect-workers", type=int, default=0, help="workers the run plans for")
    group.add_argument(
        "--loadtest-linger", type=float, default=0.0, help="seconds to keep serving metrics after the run"
    )
    group.add_argument(
        "--loadtest-run-time",
        type=float,
        default=0.0,
        help="seconds from the start of the users to the end of the run (Locust's -t counts from the master's start)",
    )
    group.add_argument(
        "--loadtest-start-when",
        default="",
        help="start no user until this file exists (the controller's checks, run meanwhile, passed)",
    )
    group.add_argument(
        "--loadtest-hold",
        action="store_true",
        default=False,
        help="after the run, stay alive in the stopped state until SIGTERM (no restart loop in a pod)",
    )


class WorkerPlugin:
    """Records requests into windows and adds them, CPU and loop lag to each report."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.recorder = WindowRecorder()
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # prime: the first call always returns 0.0
        self.lags_ms: list[float] = []
        self.stopped = False
        self._sched = _schedstat()
        # Tasks run and the requests made inside them, since the last report: the planned rate
        # (users / mean wait) counts tasks, so the master scales it by requests per task.
        self.tasks = 0
        self.task_requests = 0
        self._in_task: set[int] = set()  # greenlets running a task right now

    def install(self) -> None:
        ev = self.environment.events
        ev.request.add_listener(self.on_request)
        ev.report_to_master.add_listener(self.on_report_to_master)
        ev.test_stop.add_listener(self.on_test_stop)
        ev.test_start.add_listener(self.on_test_start)
        allowlist.name_other_hosts(self.environment)
        self._count_tasks()
        gevent.spawn(self._probe_loop_lag)

    def _count_tasks(self) -> None:
        """Wrap Locust's task execution (User tasks run through DefaultTaskSet, TaskSets through TaskSet)."""
        from locust.user.task import DefaultTaskSet, TaskSet

        plugin = self
        for cls in (TaskSet, DefaultTaskSet):
            original = cls.__dict__["execute_task"]

            def counting(taskset: Any, task: Any, _original: Any = original) -> Any:
                if isinstance(task, type) and issubclass(task, TaskSet):
                    return _original(taskset, task)  # a nested TaskSet: its own tasks are counted
                me = id(gevent.getcurrent())
                plugin.tasks += 1
                plugin._in_task.add(me)
                try:
                    return _original(taskset, task)
                finally:
                    plugin._in_task.discard(me)

            cls.execute_task = counting  # type: ignore[method-assign]

    def on_request(
        self, request_type: str, name: str, response_time: float | None, exception: Any = None, **_: Any
    ) -> None:
        self.recorder.record(request_type, name, response_time, exception is not None)
        if id(gevent.getcurrent()) in self._in_task and in_aggregate(request_type):  # the planned rate's requests
            self.task_requests += 1

    def on_test_start(self, **_: Any) -> None:
        self.stopped = False

    def on_test_stop(self, **_: Any) -> None:
        self.stopped = True

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        lags, self.lags_ms = sorted(self.lags_ms), []
        runner = self.environment.runner
        data["loadtest"] = {
            "windows": self.recorder.drain(),
            "cpu_percent": self.process.cpu_percent(None),
            "memory_bytes": self.process.memory_info().rss,
            # p90 of the ~30 probes since the last report: a saturated loop is late on most probes,
            # while one GC pause or a brief CPU steal is late on one; the max is kept beside it.
            "loop_lag_ms": lags[int(0.9 * (len(lags) - 1))] if lags else 0.0,
            "loop_lag_max_ms": lags[-1] if lags else 0.0,
            "runqueue_wait_percent": self._runqueue_wait_percent(),
            "users": runner.user_count if runner else 0,
            "connections": websocket_connections(),
            "final": self.stopped,
            "blocked": _guard.drain() if _guard is not None else {},
            "tasks": self.tasks,
            "task_requests": self.task_requests,
        }
        self.tasks = self.task_requests = 0

    def _runqueue_wait_percent(self) -> float:
        """Share of wall time since the last report this process was runnable but not running.

        This is what an oversubscribed machine does to a load generator even when
        its own CPU use looks modest: its timers and response timings stretch
        while it waits for a core, so the latencies it records are not the
        target's alone.
        """
        now = _schedstat()
        before, self._sched = self._sched, now
        if now is None or before is None or now[0] <= before[0]:
            return 0.0
        return 100.0 * (now[1] - before[1]) / (now[0] - before[0])

    def _probe_loop_lag(self) -> None:
        """A greenlet that should wake every 100 ms; lateness is time the loop was busy elsewhere."""
        while True:
            start = time.perf_counter()
            gevent.sleep(LOOP_LAG_PROBE_S)
            self.lags_ms.append(max(0.0, (time.perf_counter() - start - LOOP_LAG_PROBE_S) * 1000.0))


_master: MasterPlugin | None = None
_terminating = gevent.event.Event()  # SIGTERM arrived: a pod is being deleted, never hold then


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    global _master
    # libev calls every watcher of a signal, so this runs beside Locust's own SIGTERM shutdown.
    gevent.signal_handler(signal.SIGTERM, _terminating.set)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        WorkerPlugin(environment).install()
        environment.events.quit.add_listener(lambda **_: _after_run(environment))
    elif isinstance(runner, MasterRunner):
        _master = MasterPlugin(environment)
        _master.csv_pass = _csv_pass
        _master.install()
        _serve_metrics(_master)
        environment.events.quit.add_listener(lambda **_: _master_quit(environment))
    else:
        logger.warning("loadtest plugin: standalone (non-distributed) Locust runs are not recorded")


_csv_writers: list[stats.StatsCSVFileWriter] = []
_csv_writer_init = stats.StatsCSVFileWriter.__init__


def _remember_csv_writer(self: stats.StatsCSVFileWriter, *args: Any, **kwargs: Any) -> None:
    _csv_writer_init(self, *args, **kwargs)
    _csv_writers.append(self)


stats.StatsCSVFileWriter.__init__ = _remember_csv_writer  # type: ignore[method-assign]


def _csv_pass() -> None:
    """One pass of Locust's CSV writer (StatsCSVFileWriter.stats_writer's loop body, Locust 2.47),
    so the CSVs include the final reports without waiting a second for its next pass."""
    for w in _csv_writers:
        w.requests_csv_filehandle.seek(0)
        w.requests_csv_writer.writerow(w.requests_csv_columns)
        w._requests_data_rows(w.requests_csv_writer)
        w.requests_csv_filehandle.truncate()
        w._stats_history_data_rows(w.stats_history_csv_writer, time.time())
        w.failures_csv_filehandle.seek(w.failures_csv_data_start)
        w._failures_data_rows(w.failures_csv_writer)
        w.failures_csv_filehandle.truncate()
        w.exceptions_csv_filehandle.seek(w.exceptions_csv_data_start)
        w._exceptions_data_rows(w.exceptions_csv_writer)
        w.exceptions_csv_filehandle.truncate()
        w.requests_flush()
        w.stats_history_flush()
        w.failures_flush()
        w.exceptions_flush()


def _serve_metrics(master: MasterPlugin) -> None:
    """Start the master's /metrics server when the controller asked for one (--loadtest-metrics-port)."""
    options = master.environment.parsed_options
    port = int(getattr(options, "loadtest_metrics_port", -1))
    if port >= 0:
        host = getattr(options, "loadtest_metrics_host", "127.0.0.1")
        master.metrics_server = start_metrics_server(master, master.sla, host, port)
        master.event("metrics_serving", f"{host}:{master.metrics_server.port}/metrics")


def _master_quit(environment: Environment) -> None:
    if _master is not None:
        _master.finish()
    _after_run(environment)


def _after_run(environment: Environment) -> None:
    """Linger for a last scrape, or hold until SIGTERM, before Locust's process exits."""
    options = environment.parsed_options
    if options is None:
        return
    if options.loadtest_linger > 0:
        gevent.sleep(options.loadtest_linger)
    if options.loadtest_hold and not _terminating.is_set():
        logger.info("run finished; holding in the stopped state until SIGTERM (--loadtest-hold)")
        _terminating.wait()


def _schedstat() -> tuple[int, int] | None:
    """(monotonic ns, ns spent waiting on a run queue) for this process, or None off Linux."""
    try:
        with open("/proc/self/schedstat", encoding="ascii") as f:
            fields = f.read().split()
        return time.monotonic_ns(), int(fields[1])
    except (OSError, IndexError, ValueError):
        return None
