"""Process hygiene and the child processes the controller owns.

Each child is started in its own session, logs to a file, is tied to the
controller's life and is always reaped. Its own session means a terminal's
Ctrl-C reaches only the controller, which then stops the children in the
right order (the master first, so it can collect the workers' final reports).

PR_SET_PDEATHSIG makes the kernel signal a child when the thread that forked
it exits, so even a SIGKILLed controller (or demo-target supervisor) leaves
nothing behind. For the demo target it is set twice: on the supervisor (by
the controller, in `preexec_fn`) and on each uvicorn worker (by the worker
itself, first thing in its app factory).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, "prctl", None)


# Resolved once at import: `die_with_parent` also runs in a `preexec_fn`, between fork and exec,
# where loading a library is unsafe but calling an already-resolved function is fine.
_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGTERM, *, expected_parent: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; no-op elsewhere).

    If `expected_parent` is given and is no longer our parent, it died before
    prctl took effect: nobody will signal us, so we signal ourselves now.
    """
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)


def descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of `pid` (empty if `pid` is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (zombies count as gone: they only wait to be reaped)."""
    result = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                result.append(proc)
    return result


def kill_all(processes: Iterable[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """SIGKILL each process and wait up to `timeout_s`; return those still alive (should be none)."""
    procs = list(processes)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _, still = psutil.wait_procs(procs, timeout=timeout_s)
    return alive(still)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    die_with_parent(signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host`. Two runs on one machine each get their own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Child:
    """One child process with its log file."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, first: int = signal.SIGTERM, grace_s: float = 10.0) -> int:
        """Signal, wait `grace_s`, then SIGKILL the whole process group. Returns the exit code."""
        members = descendants(self.proc.pid)
        if self.alive():
            self.send_signal(first)
            if self.wait(grace_s) is None:
                self.send_signal(signal.SIGKILL)
                self.wait(5.0)
        for member in members:  # grandchildren that left the group are still ours
            with contextlib.suppress(psutil.Error):
                member.kill()
        self._log.close()
        code = self.proc.wait()
        return code

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])
