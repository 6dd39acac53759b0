"""Where a run's Locust fleet lives: `local` (processes on this machine) and `kubernetes`
(a Helm release of the chart).

May import `locust`, `stats`, `gate`, `metrics` and `core`; never `run` (the controller passes
them what they need).
"""
