"""The SLA gate: the SLA file model and its error messages, the verdict model, evaluation of exact
histograms (thresholds, warm-up, sample counts, saturation, abort), and its outputs (table, JSON,
JUnit) and `loadtest gate` command.

May import `stats` and `core`.
"""
