"""The local backend: one Locust master and N workers as child processes on free loopback ports.

May import `stats` and `core`.
"""
