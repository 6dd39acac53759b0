"""Everything that runs inside Locust or describes a locustfile: the `agent` entry point, the
plugin's worker side (exact 1-s windows) and master side (merging, status, stats.json, abort,
the gate at the end, /metrics), load shapes and the locustfile probe.

May import `gate`, `metrics`, `stats` and `core`. Modules here import gevent/Locust; the
controller process imports only `locustfiles` and `shapes`, which do not.
"""
