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
import select
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36


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


def set_name(name: str) -> None:
    """Name this process (its comm: what top, `ps -e` and psutil's name() show; 15 bytes at most)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


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


class _Owned:
    """A process the controller owns: its own session (process group), a log file, always reaped."""

    name: str
    log_path: Path

    @property
    def pid(self) -> int:
        raise NotImplementedError

    def poll(self) -> int | None:
        raise NotImplementedError

    def wait(self, timeout_s: float) -> int | None:
        raise NotImplementedError

    def _reap(self) -> int:
        """Wait for the exit (after SIGKILL at worst), release what was held, return the exit code."""
        raise NotImplementedError

    def alive(self) -> bool:
        return self.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def stop(self, first: int = signal.SIGTERM, grace_s: float = 10.0) -> int:
        """Signal, wait `grace_s`, then SIGKILL the whole process group. Returns the exit code."""
        members = descendants(self.pid)
        if self.alive():
            self.send_signal(first)
            if self.wait(grace_s) is None:
                self.send_signal(signal.SIGKILL)
                self.wait(5.0)
        for member in members:  # grandchildren that left the group are still ours
            with contextlib.suppress(psutil.Error):
                member.kill()
        return self._reap()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


class Child(_Owned):
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

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def _reap(self) -> int:
        self._log.close()
        return self.proc.wait()


class Adopted(_Owned):
    """A process forked by one of our children that then exited: with `subreaper()` on, the kernel
    made it our child, so it is waited for like any other (see loadtest.locust.forking). It set up
    its own session, log file and parent-death signal."""

    def __init__(self, name: str, pid: int, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._pid = pid
        self._code: int | None = None
        self._fd = os.pidfd_open(pid)  # readable once the process exits: an exact wake, no polling

    @property
    def pid(self) -> int:
        return self._pid

    def poll(self) -> int | None:
        if self._code is None:
            pid, status = os.waitpid(self._pid, os.WNOHANG)  # ChildProcessError if never adopted: a bug
            if pid == self._pid:
                self._code = os.waitstatus_to_exitcode(status)
        return self._code

    def wait(self, timeout_s: float) -> int | None:
        if self.poll() is None:
            select.select([self._fd], [], [], max(0.0, timeout_s))
        return self.poll()

    def _reap(self) -> int:
        while (code := self.wait(1.0)) is None:  # after SIGKILL: moments
            pass
        os.close(self._fd)
        return code


def subreaper(on: bool) -> None:
    """Become (or stop being) the reaper of orphaned descendants (Linux PR_SET_CHILD_SUBREAPER):
    what a child forks and leaves behind becomes our child instead of init's, to be `Adopted`."""
    if _PRCTL is None:
        raise OSError("prctl is not available: forked processes cannot be adopted on this system")
    if _PRCTL(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
