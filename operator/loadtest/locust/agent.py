"""`python -m loadtest.locust.agent <Locust options>`: Locust's own main with the loadtest plugin loaded.

Used for the master and every worker, locally and in the chart's pods, so
both backends record, merge and export stats through the same code.
"""

from __future__ import annotations

import sys


def main() -> None:
    from locust.main import main as locust_main

    import loadtest.locust.plugin  # noqa: F401  registers the plugin's listeners on locust.events

    sys.argv[0] = "locust"
    locust_main()


if __name__ == "__main__":
    main()
