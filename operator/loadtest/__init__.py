"""loadtest: one run spec becomes a distributed Locust run with live metrics and an SLA gate."""

__version__ = "0.1.0"
