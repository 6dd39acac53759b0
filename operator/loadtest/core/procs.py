"""Process hygiene: children that die with their parent, and stopping a whole tree.

PR_SET_PDEATHSIG makes the kernel signal a child when the thread that forked
it exits, so a SIGKILLed controller (or supervisor) cannot leave a demo target
behind. It is set twice: on the supervisor (by the controller, in
`preexec_fn`) and on each uvicorn worker (by the worker itself, first thing
in its app factory).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable, Iterable

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
