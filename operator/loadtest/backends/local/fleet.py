"""The local backend: a Locust master and N workers as processes on loopback.

Ports are chosen free per run, so two runs on one machine never collide.
Start-up waits for every worker with a deadline; a worker that dies on the
way is reported with the tail of its log. Whatever happens — success, a
deadline, a crash, Ctrl-C — the master is stopped first (it gathers the
workers' final reports and writes the artifacts), then every worker, and no
process survives.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.core import interrupts
from loadtest.core.errors import RunError
from loadtest.core.eventlog import EventLog
from loadtest.core.fileio import read_json, write_json_atomic
from loadtest.core.processes import Adopted, Child, free_port, subreaper
from loadtest.core.progress import ProgressDisplay
from loadtest.stats.artifact import STATUS_FILE

FORKING = "loadtest.locust.forking"  # imports Locust once and forks the master and the workers
POLL_S = 0.5  # how often the controller looks at the master's status file
MASTER_STOP_GRACE_S = 20.0  # the master needs the workers' final reports before it exits
WORKER_EXIT_GRACE_S = 10.0  # workers exit by themselves once the master says quit
END_SLACK_S = 60.0  # beyond run time + stop timeout, a master that has not exited is stuck


@dataclass
class LocalPlan:
    """Everything the local backend needs, resolved and validated by the controller."""

    run_dir: Path
    locust_files: list[Path]
    pythonpath: list[Path]
    host: str
    workers: int
    master_args: list[str]  # Locust + plugin options for the master (users, time, tags, artifacts ...)
    worker_args: list[str]  # Locust options every worker also needs (tags ...)
    env: dict[str, str]
    start_timeout_s: float
    run_seconds: float | None  # None for a shape that ends by itself
    stop_timeout_s: float
    # Checks still running when the fleet starts (the locustfile probe): the master starts no user
    # until `start_file` exists, which is created only once `checks` returned; a refusal (an
    # exception from `checks`) stops every process before any request.
    checks: Callable[[], None] | None = None
    start_file: Path | None = None


@dataclass
class LocalOutcome:
    master_exit: int | None
    interrupted: bool = False
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)


class LocalBackend:
    def __init__(self, plan: LocalPlan, log: EventLog, progress: ProgressDisplay) -> None:
        self.plan = plan
        self.log = log
        self.progress = progress
        self.master: Adopted | None = None
        self.workers: list[Adopted] = []
        self.connected = False  # every worker connected to the master (which then tells them to quit)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.plan.env)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            [str(p) for p in self.plan.pythonpath] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        return env

    def status(self) -> dict[str, object]:
        data = read_json(self.plan.run_dir / STATUS_FILE)
        return data if isinstance(data, dict) else {}

    def run(self) -> LocalOutcome:
        """Start, follow and stop the run. Ctrl-C (KeyboardInterrupt) is handled here."""
        outcome = LocalOutcome(master_exit=None)
        try:
            self._start()
            if self.plan.checks is not None:
                self.plan.checks()
            if self.plan.start_file is not None:
                self.plan.start_file.touch()
                self.log("checks_passed", detail="the master may start users")
            self._wait_for_workers()
            self._follow(outcome)
        except KeyboardInterrupt:
            outcome.interrupted = True
            self.log("interrupted", detail="Ctrl-C or SIGTERM: stopping the run, writing artifacts")
            self.progress.message("interrupted: stopping the run and writing artifacts ...")
        finally:
            with _deferred_interrupts():
                outcome.master_exit = self._stop_all(interrupted=outcome.interrupted or outcome.timed_out)
        return outcome

    def _start(self) -> None:
        """One process imports Locust and forks the master and the workers (loadtest.locust.forking),
        which become this process's children; it returns once they run (their pids are known)."""
        port = free_port()
        logs = self.plan.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        master_args = [
            "--master",
            "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(port),
            "--expect-workers", str(self.plan.workers),
            "--expect-workers-max-wait", str(int(self.plan.start_timeout_s) + 5),
            "--loadtest-expect-workers", str(self.plan.workers),
            *(["--loadtest-start-when", str(self.plan.start_file)] if self.plan.start_file else []),
            *self.plan.master_args,
        ]  # fmt: skip
        worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *self.plan.worker_args]
        processes = [("master", master_args)] + [(f"worker-{i}", worker_args) for i in range(self.plan.workers)]
        files = ",".join(str(f) for f in self.plan.locust_files)
        plan = {
            "parent": os.getpid(),
            "pids_file": str(logs / "fork-pids.json"),
            "processes": [{"name": n, "argv": ["-f", files, *a], "log": str(logs / f"{n}.log")} for n, a in processes],
        }
        write_json_atomic(logs / "fork-plan.json", plan)
        subreaper(True)  # from here until the forking process is reaped: its forks become ours
        forker: Child | None = None
        code = waited = None
        pids: object = None
        try:
            with interrupts.held():  # a Ctrl-C lands once `forker` is set, for the `finally` to stop it
                forker = Child("fork", [sys.executable, "-m", FORKING, str(logs / "fork-plan.json")],
                               logs / "fork.log", env=self._env())  # fmt: skip
            waited = forker.wait(self.plan.start_timeout_s)
        finally:
            with interrupts.held():  # the forks are owned (stopped by _stop_all) before a Ctrl-C lands
                if forker is not None:  # reaped: every fork it made is ours now; else (Ctrl-C, the deadline)
                    # it and its forks are killed before they run anything; 0 if it had finished (even when a
                    # Ctrl-C cut the wait short): then its forks are to be adopted and stopped like any
                    code = forker.stop(first=signal.SIGKILL)
                subreaper(False)
                pids = read_json(logs / "fork-pids.json") if code == 0 else None
                if isinstance(pids, dict):
                    self._adopt(pids, logs)
        assert forker is not None
        if not isinstance(pids, dict):
            how = f"exited with code {code}" if waited is not None else f"ran {self.plan.start_timeout_s:.0f} s"
            raise RunError(
                f"the process that starts the master and the workers {how}; its log ({forker.log_path}) ends:\n"
                + forker.log_tail(),
                hint="it imports Locust and the loadtest plugin: check the virtualenv (make setup)",
            )
        assert self.master is not None
        self.log("master_started", pid=self.master.pid, port=port, argv=["-f", files, *master_args])
        for i, child in enumerate(self.workers):
            self.log("worker_started", index=i, pid=child.pid)

    def _adopt(self, pids: dict[str, object], logs: Path) -> None:
        """The forks, by the pids the forking process wrote: the controller's own children now."""
        adopted = {name: Adopted(name, int(str(pid)), logs / f"{name}.log") for name, pid in pids.items()}
        self.master = adopted["master"]
        self.workers.extend(adopted[f"worker-{i}"] for i in range(self.plan.workers))

    def _check_children(self, phase: str) -> None:
        assert self.master is not None
        for child in self.workers:
            code = child.poll()
            if code is not None:
                raise RunError(
                    f"{child.name} exited with code {code} during {phase}; its log ({child.log_path}) ends:\n"
                    + child.log_tail(),
                    hint="a worker that dies at start-up usually cannot import the locustfile or reach the master",
                )
        code = self.master.poll()
        if code is not None:
            raise RunError(
                f"the master exited with code {code} during {phase}; its log ({self.master.log_path}) ends:\n"
                + self.master.log_tail()
            )

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.plan.start_timeout_s
        connected = 0
        self.progress.message(f"waiting for {self.plan.workers} workers to connect ...")
        while time.monotonic() < deadline:
            self._check_children("start-up")
            connected = int(self.status().get("workers_connected", 0) or 0)  # type: ignore[call-overload]
            if connected >= self.plan.workers:
                self.log("workers_connected", count=connected)
                self.connected = True
                return
            time.sleep(POLL_S)
        message = f"only {connected} of {self.plan.workers} workers connected within {self.plan.start_timeout_s:.0f} s"
        hint = "raise start_timeout (LOADTEST_START_TIMEOUT), or lower workers on a busy machine"
        silent = [c for c in self.workers if c.alive()]
        if silent and connected == 0:
            tails = [
                f"{c.name}: " + (f"its log ends: {c.log_tail(1)}" if c.log_tail(1) else "its log is empty")
                for c in silent
            ]
            message += (
                f"; {len(silent)} still running but never connected ({'; '.join(tails)}): a locustfile that "
                "blocks at import (a module-level network call, input(), a long sleep) does this"
            )
            hint = "run `python LOCUSTFILE` to see where it blocks; or " + hint
        raise RunError(message, hint=hint)

    def _follow(self, outcome: LocalOutcome) -> None:
        assert self.master is not None
        started = time.monotonic()
        run_seconds = self.plan.run_seconds or 24 * 3600
        limit = run_seconds + self.plan.start_timeout_s + self.plan.stop_timeout_s + END_SLACK_S
        lost_reported: set[str] = set()
        while self.master.poll() is None:
            elapsed = time.monotonic() - started
            status = self.status()
            self.progress.update(status, elapsed, self.plan.run_seconds)
            for child in self.workers:
                # Workers exit on the master's quit message at the end; only an exit while users
                # are still running is a lost worker.
                if child.poll() is not None and child.name not in lost_reported:
                    lost_reported.add(child.name)
                    code = child.poll()
                    self.log("worker_exited", worker=child.name, code=code, master_state=status.get("state"))
                    if status.get("state") in ("spawning", "running") or code:
                        self.progress.message(f"warning: {child.name} exited with code {code} during the run")
            if elapsed > limit:
                outcome.timed_out = True
                self.log("timeout", detail=f"master still running {elapsed:.0f} s after start")
                self.progress.message(f"error: the run did not end within {limit:.0f} s; stopping it")
                return
            self.master.wait(POLL_S)  # returns the moment the master exits: no poll at the end
        self.progress.finish()

    def _stop_all(self, interrupted: bool) -> int | None:
        """Master first (SIGINT lets Locust write its report and our stats), then the workers."""
        code: int | None = None
        if self.master is not None:
            first = signal.SIGINT if self.master.alive() else signal.SIGTERM
            code = self.master.stop(first=first, grace_s=MASTER_STOP_GRACE_S)
            self.log("master_exited", code=code, interrupted=interrupted)
        # Workers quit by themselves when the master tells them to: it does when it exits on its own
        # and they had connected. Else (killed before its handlers were set, never connected) at once.
        told = self.connected and code is not None and code >= 0
        deadline = time.monotonic() + (WORKER_EXIT_GRACE_S if told else 0.0)
        for child in self.workers:
            child.wait(max(0.1, deadline - time.monotonic()))
            worker_code = child.stop(first=signal.SIGTERM, grace_s=5.0)
            self.log("worker_exited", worker=child.name, code=worker_code)
        return code


class _deferred_interrupts:
    """While cleaning up, a second Ctrl-C must not abandon children half-stopped."""

    def __enter__(self) -> None:
        self._old: dict[int, Callable[..., object] | int | None] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
