"""The bundled demo target: a JWT-protected product API on SQLite, served by uvicorn workers.

It stands in for staging when a run names no host. `DemoTarget` starts and
stops it from Python; `loadtest demo-target` runs it alone (cli.py). The HTTP
contract is api.md; route keys for faults and counters are `ROUTE_KEYS`.
"""

from loadtest.demo_target.api import ROUTE_KEYS
from loadtest.demo_target.db import DEMO_PASSWORD, PRODUCT_COUNT, USER_COUNT
from loadtest.demo_target.server import DemoTarget

__all__ = ["DEMO_PASSWORD", "PRODUCT_COUNT", "ROUTE_KEYS", "USER_COUNT", "DemoTarget"]
