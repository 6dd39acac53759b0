"""The shared bottom: the run spec, errors and exit codes, the event log, the progress display,
child processes, atomic file writes and plain-text tables.

Everything above uses these; they import nothing from loadtest outside `core`.
"""
