"""Documented process exit codes (README "Exit codes"). Stable: CI relies on them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0  # the run finished and the gate passed (or no gate was asked for)
    FAIL = 1  # the gate failed: a threshold was breached
    USAGE = 2  # bad spec, SLA file or arguments; nothing was started
    INCONCLUSIVE = 3  # the data cannot support a verdict (no requests, saturation, lost workers ...)
    RUN_ERROR = 4  # the run itself broke (a process died, a deadline expired)
    INTERRUPTED = 130  # Ctrl-C: the run was stopped cleanly, artifacts written
