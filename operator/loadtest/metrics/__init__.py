"""Live Prometheus metrics: the scrape-time collector over a `MetricsSource`, the text exposition
and its HTTP server, the histogram bucket scheme, and the local Prometheus server wrapper.

May import `stats` and `core`.
"""
