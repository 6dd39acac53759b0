"""The load shape chosen by the run spec, as the one `LoadTestShape` Locust finds.

Pass this file to Locust as an extra `-f` file (`-f scenario.py,<this file>`;
its path is `loadtest.locust.shapes.SHAPEFILE`). Locust instantiates every shape
class it finds when it loads its files, so this module defines exactly one,
and that one reads `LOADTEST_SHAPE` / `LOADTEST_SHAPE_OPTIONS` from the
environment at load time: a bad option stops Locust before a user spawns,
with the same message the controller's own validation gives. Workers load
the file too (they never tick), so every process needs the environment;
`loadtest.locust.shapes.shape_env(options)` builds it.

Keep this module tiny: the arithmetic lives in `loadtest.locust.shapes`, where it is
tested without Locust.
"""

from __future__ import annotations

import os
import sys

from locust import LoadTestShape

from loadtest.core.errors import SpecError
from loadtest.core.exitcodes import ExitCode
from loadtest.locust import shapes


class SpecShape(LoadTestShape):
    """Delegates every tick to `loadtest.locust.shapes.tick` with options from the environment."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        try:
            self.options = shapes.options_from_env(os.environ)
        except SpecError as exc:
            # Locust would print a traceback; a user gets the message and the fix instead.
            sys.stderr.write(f"error: {exc}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
            raise SystemExit(ExitCode.USAGE) from exc

    def tick(self) -> shapes.Tick | None:
        elapsed_s = float(self.get_run_time())  # type: ignore[no-untyped-call]
        return shapes.tick(elapsed_s, self.options)
