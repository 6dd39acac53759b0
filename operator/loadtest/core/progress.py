"""Live progress: one redrawn line on a terminal, plain periodic lines elsewhere (CI logs)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from loadtest.core.spec import Progress

PLAIN_INTERVAL_S = 10.0  # CI logs get a line every 10 s: readable, not a flood


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_status(status: dict[str, Any], elapsed_s: float, duration_s: float | None) -> str:
    requests = int(status.get("requests") or 0)
    failures = int(status.get("failures") or 0)
    ratio = failures / requests * 100 if requests else 0.0
    p95 = status.get("p95_ms")
    p95_text = f"{p95:.0f} ms" if isinstance(p95, int | float) else "-"
    parts = [
        f"[{clock(elapsed_s)}]",
        f"users {status.get('users', 0)}/{status.get('target_users', 0)}",
        f"{float(status.get('rps') or 0):.1f} req/s",
        f"failures {failures} ({ratio:.2f}%)",
        f"p95 {p95_text}",
        _workers(status),
    ]
    if duration_s is not None:
        parts.append(f"{clock(duration_s - elapsed_s)} left")
    return " | ".join(parts)


def _workers(status: dict[str, Any]) -> str:
    """'workers 2/2', or 'workers 1/2 (1 lost, 3 refused)': the workers still reporting, live."""
    text = f"workers {status.get('workers_connected', 0)}"
    if status.get("workers_expected"):
        text += f"/{status['workers_expected']}"
    extra = [f"{status[k]} {word}" for k, word in (("workers_lost", "lost"), ("workers_refused", "refused"))
             if status.get(k)]  # fmt: skip
    return text + (f" ({', '.join(extra)})" if extra else "")


class ProgressDisplay:
    def __init__(self, mode: Progress, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == Progress.AUTO:
            mode = Progress.TTY if self.stream.isatty() and os.environ.get("TERM") != "dumb" else Progress.PLAIN
        self.mode = mode
        self._last_plain = 0.0
        self._drawn = False
        self._held: list[str] | None = None

    def hold(self) -> None:
        """Keep messages back until `release` (a run that may still be refused says nothing)."""
        self._held = []

    def release(self, show: bool = True) -> None:
        """Write the messages held back (`show=False`: drop them: the run was refused)."""
        held, self._held = self._held or [], None
        if show:
            for text in held:
                self.message(text)

    def update(self, status: dict[str, Any], elapsed_s: float, duration_s: float | None) -> None:
        self.show(format_status(status, elapsed_s, duration_s))

    def show(self, line: str) -> None:
        """One status line: redrawn in place on a terminal, at most every PLAIN_INTERVAL_S otherwise."""
        if self.mode == Progress.OFF:
            return
        if self.mode == Progress.TTY:
            self.stream.write("\r\033[K" + line)
            self._drawn = True
            self.stream.flush()
        elif time.monotonic() - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.mode == Progress.OFF:
            return
        if self._held is not None:
            self._held.append(text)
            return
        self.finish()
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
