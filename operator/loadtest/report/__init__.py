"""The HTML run report (`results/<run_id>/report.html`, `loadtest report`): one self-contained page
with the verdict and every check, the spec, time series from the exact 1 s windows, the
per-endpoint table with sparklines and latency distributions, and the comparison with earlier runs.

It only reads artifacts (stats.json, verdict.json, spec.yaml), so it can be rebuilt at any time.
May import `gate`, `stats` and `core`.
"""
