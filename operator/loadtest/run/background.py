"""The checks a local run makes while its processes start (controller._execute): run in a thread,
their refusal handed back to the main thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from loadtest.core.errors import LoadtestError


class Refused(Exception):
    """A check that ran while the processes started refused the run (carries the user's error)."""

    def __init__(self, error: LoadtestError) -> None:
        super().__init__(error.message)
        self.error = error


class Background:
    """A check run in a thread; `result` waits for it and raises Refused with its error."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(check,), name="loadtest-checks", daemon=True)
        self._thread.start()

    def _run(self, check: Callable[[], None]) -> None:
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> None:
        while self._thread.is_alive():
            self._thread.join(0.05)  # short joins: Ctrl-C still reaches the main thread
        if isinstance(self._error, LoadtestError):
            raise Refused(self._error) from self._error
        if self._error is not None:
            raise self._error
