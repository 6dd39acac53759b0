"""One small error hierarchy. Every message names the field, the value and the fix.

`hint` carries the fix when it does not fit in the message; the CLI prints it
on its own `hint:` line. `exit_code` lets each family map to a documented
process exit code without the CLI knowing every subclass.
"""

from __future__ import annotations

from loadtest.core.exitcodes import ExitCode


class LoadtestError(Exception):
    """Base of every error the tool reports to a user (never a traceback)."""

    exit_code: int = ExitCode.RUN_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class SpecError(LoadtestError):
    """The run spec (file, environment or flags) is invalid. Nothing was started."""

    exit_code = ExitCode.USAGE


class LocustfileError(SpecError):
    """A locustfile is missing, does not import, or defines no User class."""


class PreflightError(LoadtestError):
    """A check before any load (target reachability, allowlist) failed."""

    exit_code = ExitCode.USAGE


class RunError(LoadtestError):
    """The run could not be carried out (a process died, a deadline expired)."""

    exit_code = ExitCode.RUN_ERROR


class GateError(LoadtestError):
    """The SLA file or the stats artifact given to the gate is invalid."""

    exit_code = ExitCode.USAGE


class ClusterError(LoadtestError):
    """The Kubernetes backend failed (API, helm, a rollout deadline)."""

    exit_code = ExitCode.RUN_ERROR


class ReportError(LoadtestError):
    """`loadtest report` was given something that is not a finished run's directory."""

    exit_code = ExitCode.USAGE
