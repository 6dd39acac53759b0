"""Run the demo target in the foreground: seed, bind, then supervise uvicorn workers.

The socket is bound here, in the supervisor, before any worker exists: with
`--port 0` the kernel picks a free port and we know it at once (written to
`<data_dir>/server.json`), there is no pick-then-bind race, and every worker
accepts on the same inherited socket.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from loadtest.core.errors import RunError
from loadtest.demo_target import counters
from loadtest.demo_target.app import FAULT_KEYS
from loadtest.demo_target.config import CONFIG_ENV, CONFIG_FILENAME, SERVER_INFO_FILENAME, AppConfig
from loadtest.demo_target.db import PreparedDb, prepare_database
from loadtest.demo_target.faults import Fault, FaultTable

LISTEN_BACKLOG = 2048  # 1,000 Locust users may connect at once during a fast spawn
KEEP_ALIVE_S = 30  # Locust users wait 1-3 s between requests: keep their connections open
GRACEFUL_SHUTDOWN_S = 5  # bound on finishing in-flight requests (a 60 s injected delay must not hang stop)
APP_FACTORY = "loadtest.demo_target.app:worker_app"


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    data_dir: Path
    faults: Sequence[Fault] = field(default_factory=tuple)
    log_level: str = "info"
    access_log: bool = False  # a log line per request costs more than the request at 500 req/s


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    host: str
    port: int
    workers: int
    url: str
    data_dir: Path
    db: PreparedDb

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "workers": self.workers,
            "url": self.url,
            "data_dir": str(self.data_dir),
        }


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, remembering whether it stopped on request or because workers failed."""

    stopped_by_signal = False

    def handle_int(self) -> None:
        self.stopped_by_signal = True
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by_signal = True
        super().handle_term()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free port chosen by the kernel)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunError(
            f"--port: cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another --port, or --port 0 for a free one",
        ) from exc
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def prepare(options: ServeOptions) -> tuple[AppConfig, PreparedDb]:
    """Seed (or copy) the database, write the shared config, reset counters, install start-up faults."""
    db = prepare_database(options.data_dir)
    config = AppConfig.for_data_dir(options.data_dir, db.path)
    config.write(options.data_dir / CONFIG_FILENAME)
    counters.reset(config.counters_dir)
    FaultTable(config.faults_path, FAULT_KEYS).replace_all(list(options.faults))
    return config, db


def serve(options: ServeOptions, on_ready: Callable[[ServerInfo], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM; 0 on a requested stop, RUN_ERROR if the workers could not start."""
    options.data_dir.mkdir(parents=True, exist_ok=True)
    info_path = options.data_dir / SERVER_INFO_FILENAME
    info_path.unlink(missing_ok=True)
    _, db = prepare(options)
    os.environ[CONFIG_ENV] = str(options.data_dir / CONFIG_FILENAME)  # spawned workers inherit it
    sock = bind(options.host, options.port)
    port = int(sock.getsockname()[1])
    info = ServerInfo(os.getpid(), options.host, port, options.workers, url_for(options.host, port),
                      options.data_dir, db)  # fmt: skip
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2))
    os.replace(tmp, info_path)
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=options.host,
        port=port,
        workers=options.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=options.access_log,
        log_level=options.log_level,
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        proxy_headers=False,
        server_header=False,
    )
    supervisor = _Supervisor(config, sockets=[sock])  # installs its signal handlers: before on_ready
    if on_ready is not None:
        on_ready(info)
    try:
        supervisor.run()
    finally:
        sock.close()
        info_path.unlink(missing_ok=True)
    if not supervisor.stopped_by_signal:
        raise RunError(
            "the demo target's workers stopped without being asked to (start-up failure?)",
            hint=f"see the worker errors above, or the log in {options.data_dir}",
        )
    return 0
