"""`python -m loadtest.locust.agent <Locust options>`: Locust's own main with the loadtest plugin loaded.

Used for the master and every worker, locally and in the chart's pods, so
both backends record, merge and export stats through the same code.

One change to Locust's own main: a headless master waits for `--expect-workers` in a loop that
sleeps a whole second between looks, so a run started together with its workers lost half a
second on average before the first user. Here that sleep also ends the moment a worker connects.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType
from typing import Any


class _WakeOnWorker:
    """locust.main's `time`, whose sleep returns early when a worker connects (gevent event)."""

    def __init__(self, real: ModuleType) -> None:
        import gevent.event
        from locust import events

        self._real = real
        self._connected = gevent.event.Event()
        events.worker_connect.add_listener(lambda **_: self._connected.set())

    def sleep(self, seconds: float) -> None:
        self._connected.wait(timeout=seconds)  # a gevent wait: the master's loop keeps running
        self._connected.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def main() -> None:
    import locust.main
    from locust.main import main as locust_main

    import loadtest.locust.plugin  # noqa: F401  registers the plugin's listeners on locust.events

    locust.main.time = _WakeOnWorker(time)  # type: ignore[assignment,attr-defined]
    sys.argv[0] = "locust"
    locust_main()


if __name__ == "__main__":
    main()
