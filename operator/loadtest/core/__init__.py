"""The shared bottom: the run spec, errors and exit codes, the event log, the progress display,
child processes and atomic file writes.

Everything above uses these; they import nothing from loadtest outside `core`.
"""
