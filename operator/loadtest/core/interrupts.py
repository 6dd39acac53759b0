"""SIGTERM and Ctrl-C as KeyboardInterrupt, never in the middle of an import or of a `held` section.

An exception raised while a module's top level runs leaves its package half-initialised: Python
drops the package from sys.modules but keeps the submodules that finished, so the next import of
the package (asyncio from SQLAlchemy, on the way out of an interrupted run) fails with
``NameError: name 'base_events' is not defined``. The handler therefore raises only outside
imports; inside one it asks again shortly after, from a timer thread, so the interrupt lands as
soon as the import is over (imports in the controller are its own modules and libraries: short).

`held()` marks a section that an interrupt must not cut in two: from starting a child process to
storing it where the cleanup finds it. An interrupt meanwhile is raised when the section ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

RETRY_S = 0.02
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_held = 0  # depth of `held` sections in the main thread (where Python runs signal handlers)
_pending = False


def importing(frame: FrameType | None) -> bool:
    """True when this frame runs inside an import (a module's top level, or the import machinery)."""
    while frame is not None:
        if frame.f_code.co_filename in _IMPORT_MACHINERY:
            return True
        frame = frame.f_back
    return False


def interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler: KeyboardInterrupt now, or once the import or the held section under way is over."""
    global _pending
    if _held:
        _pending = True
        return
    if importing(frame):
        retry = threading.Timer(RETRY_S, signal.raise_signal, (signum,))
        retry.daemon = True
        retry.start()
        return
    raise KeyboardInterrupt


def interrupt_on(*signums: signal.Signals) -> None:
    """Install `interrupt` for these signals (from the main thread, as every signal handler)."""
    for signum in signums:
        signal.signal(signum, interrupt)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold `interrupt` off for this section (main thread only; elsewhere signals never land anyway)."""
    global _held, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _pending:
            _pending = False
            raise KeyboardInterrupt
