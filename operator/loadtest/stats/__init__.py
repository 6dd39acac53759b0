"""Exact statistics: the 3-significant-digit histogram, window recording and merging, and the
versioned stats artifact contract (stats.json) that the gate, metrics and reports read.

May import `core` only.
"""
