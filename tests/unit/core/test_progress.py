"""Progress output: a redrawn line on a terminal, periodic plain lines in CI logs."""

from __future__ import annotations

import io

from loadtest.core.progress import ProgressDisplay, format_status
from loadtest.core.spec import Progress

STATUS = {"users": 1000, "target_users": 1000, "rps": 498.24, "requests": 2000, "failures": 5, "p95_ms": 23.4,
          "workers_connected": 2}  # fmt: skip


def test_the_status_line_shows_users_rate_failures_p95_workers_and_time_left() -> None:
    line = format_status(STATUS, elapsed_s=42, duration_s=60)
    assert line == (
        "[0:42] | users 1000/1000 | 498.2 req/s | failures 5 (0.25%) | p95 23 ms | workers 2 | 0:18 left"
    )


def test_no_samples_yet_shows_a_dash_not_a_fake_zero_p95() -> None:
    assert "p95 - |" in format_status({**STATUS, "p95_ms": None, "requests": 0}, 1, None)


def test_a_terminal_gets_one_redrawn_line() -> None:
    out = io.StringIO()
    display = ProgressDisplay(Progress.TTY, stream=out)
    display.update(STATUS, 1, 60)
    display.update(STATUS, 2, 60)
    display.finish()
    assert out.getvalue().count("\r\033[K") == 2 and out.getvalue().endswith("\n")


def test_plain_mode_prints_at_most_one_line_per_interval() -> None:
    out = io.StringIO()
    display = ProgressDisplay(Progress.PLAIN, stream=out)
    for second in range(5):
        display.update(STATUS, second, 60)
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue()


def test_auto_mode_is_plain_when_the_stream_is_not_a_terminal() -> None:
    assert ProgressDisplay(Progress.AUTO, stream=io.StringIO()).mode is Progress.PLAIN


def test_the_worker_count_is_live_and_says_lost_and_refused_workers() -> None:
    status = {**STATUS, "workers_connected": 1, "workers_expected": 2, "workers_lost": 1, "workers_refused": 3}
    assert "| workers 1/2 (1 lost, 3 refused) |" in format_status(status, 42, 60)
    assert "| workers 2/2 |" in format_status({**STATUS, "workers_expected": 2}, 42, 60)
