"""`python -m loadtest.locust.forking PLAN`: import Locust once, then fork the master and every worker.

A local run's processes all run the same code (Locust, gevent, the plugin), and importing it costs
~0.5 s of CPU per process: on a 2-core machine the master and two workers, each importing it,
were most of the wait before the first request. This process imports it once and forks each of
them, ready to run (copy-on-write, after `gc.freeze()` so the imported objects stay shared). The
locustfiles are still imported by each process itself, as Locust's main does, after the fork.

PLAN is a JSON file: {"parent": pid, "pids_file": path, "processes": [{"name", "argv", "log"}]}.
The forks' pids are written to `pids_file`, then this process exits at once, so the kernel hands
its forks to the controller (`parent`), which made itself their subreaper: it waits for them, reads
their exit codes and signals them like the processes it starts itself (`core.processes.Adopted`).
Each fork first does what `core.processes.Child` does for those: its own session, its own log
file (stdout and stderr), and the parent-death signal, set once the controller is its parent.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from loadtest.core.fileio import write_json_atomic

ADOPTION_WAIT_S = 10.0  # the forking process exits microseconds after the last fork


def _become(process: dict[str, Any], parent: int) -> None:
    """In the fork: detach, log to its own file, wait to be the controller's child, run Locust."""
    os.setsid()
    fd = os.open(process["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    deadline = time.monotonic() + ADOPTION_WAIT_S
    while os.getppid() != parent:  # the forking process has not exited yet (or the controller died)
        if time.monotonic() > deadline or os.getppid() == 1:
            os._exit(70)  # nobody to report to: no run without its controller
        time.sleep(0.001)
    from loadtest.core.processes import die_with_parent, set_name

    set_name(f"locust-{process['name']}")  # top and `ps -e` tell the master and each worker apart
    die_with_parent(signal.SIGKILL, expected_parent=parent)  # as for the controller's own children
    from loadtest.locust import agent

    sys.argv = ["locust", *process["argv"]]
    agent.main()


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import locust.main  # noqa: F401  Locust, gevent (monkey-patched) and ...

    import loadtest.locust.plugin  # noqa: F401  ... the plugin: imported once, for every fork

    sys.stdout.flush()
    sys.stderr.flush()
    gc.collect()
    gc.freeze()  # what is imported stays shared: the forks never touch its reference counts
    pids: dict[str, int] = {}
    for process in plan["processes"]:
        pid = os.fork()  # gevent's fork: the fork's event loop is reinitialised
        if pid == 0:
            # Locust's main ends with sys.exit: it unwinds from here and the fork exits like any
            # Python process (atexit, flushed streams), never returning into this loop.
            _become(process, int(plan["parent"]))
            sys.exit(0)
        pids[process["name"]] = pid
    write_json_atomic(Path(plan["pids_file"]), pids)
    os._exit(0)  # now: the forks are adopted by the controller


if __name__ == "__main__":
    main()
