"""Child processes the controller owns: started in their own session, logged to a file,
tied to the controller's life, and always reaped.

Each child gets its own session so a terminal's Ctrl-C reaches only the
controller, which then stops the children in the right order (the master
first, so it can collect the workers' final reports). PR_SET_PDEATHSIG makes
the kernel kill a child if the controller itself is killed, so even SIGKILL of
the controller leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psutil

from loadtest.procs import descendants, die_with_parent


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
