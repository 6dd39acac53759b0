"""`loadtest demo-target`: run the bundled demo target alone, in the foreground.

Every flag also reads `LOADTEST_DEMO_<NAME>` (flags win). The repeatable
`--slow`/`--fail` flags read a comma-separated list from their variable,
e.g. `LOADTEST_DEMO_SLOW="GET /api/products/{id}=300,GET /api/me=50"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest.core.errors import LoadtestError, SpecError
from loadtest.demo_target.app import FAULT_KEYS
from loadtest.demo_target.db import DEMO_PASSWORD, USER_COUNT
from loadtest.demo_target.faults import Fault, parse_flag

if TYPE_CHECKING:  # serving imports uvicorn: only `run` needs it, not `loadtest --help`
    from loadtest.demo_target.serving import ServerInfo

ENV_PREFIX = "LOADTEST_DEMO_"
DEFAULT_HOST = "127.0.0.1"  # loopback: the demo target is for this machine's load tests only
DEFAULT_PORT = 8080
DEFAULT_WORKERS = 2  # this machine has 2 cores and also runs Locust
MAX_WORKERS = 64


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo-target` subcommand; its `func` is `run`."""
    parser = subparsers.add_parser(
        "demo-target",
        help="run the bundled demo target (a JWT-protected product API on SQLite) in the foreground",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}; env {ENV_PREFIX}HOST)")
    parser.add_argument("--port", help=f"port (default {DEFAULT_PORT}, 0 = a free port; env {ENV_PREFIX}PORT)")
    parser.add_argument(
        "--workers", help=f"uvicorn worker processes (default {DEFAULT_WORKERS}; env {ENV_PREFIX}WORKERS)"
    )
    parser.add_argument(
        "--data-dir",
        help=f"directory for the database, state and log (default: a temp dir; env {ENV_PREFIX}DATA_DIR)",
    )
    parser.add_argument(
        "--slow", action="append", metavar="ROUTE=MS",
        help=f"delay a route, e.g. 'GET /api/products/{{id}}=300' (repeatable; env {ENV_PREFIX}SLOW)",
    )  # fmt: skip
    parser.add_argument(
        "--fail", action="append", metavar="ROUTE=RATE",
        help=f"fail a fraction of a route's requests with 503, e.g. 'GET /api/me=0.1' (env {ENV_PREFIX}FAIL)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def _setting(args: argparse.Namespace, env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    return env.get(ENV_PREFIX + name.upper(), default)


def _int_setting(args: argparse.Namespace, env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _setting(args, env, name, str(default))
    try:
        value = int(str(raw))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SpecError(
            f"--{name} ({ENV_PREFIX}{name.upper()}): {raw!r} is invalid; use a whole number from {low} to {high}"
        )
    return value


def resolve_faults(args: argparse.Namespace, env: Mapping[str, str]) -> list[Fault]:
    """Faults from --slow/--fail, or from LOADTEST_DEMO_SLOW/FAIL when the flag is absent."""
    faults: list[Fault] = []
    for name, field in (("slow", "delay_ms"), ("fail", "error_rate")):
        values: list[str] | None = getattr(args, name, None)
        if values is None:
            raw = env.get(ENV_PREFIX + name.upper(), "")
            values = [item for item in raw.split(",") if item.strip()]
        faults.extend(parse_flag(value, field, FAULT_KEYS) for value in values)
    return faults


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int, int, Path | None, list[Fault]]:
    """(host, port, workers, data_dir or None, faults), validated; flags win over the environment."""
    host = _setting(args, env, "host", DEFAULT_HOST) or DEFAULT_HOST
    port = _int_setting(args, env, "port", DEFAULT_PORT, 0, 65535)
    workers = _int_setting(args, env, "workers", DEFAULT_WORKERS, 1, MAX_WORKERS)
    data_dir = _setting(args, env, "data_dir", None)
    return host, port, workers, Path(data_dir) if data_dir else None, resolve_faults(args, env)


def _banner(info: ServerInfo, faults: list[Fault]) -> None:
    seeded = "copied from the seed cache" if info.db.cache_hit else "seeded"
    print(f"demo target: {info.url}  ({info.workers} workers, pid {info.pid})")
    print(f"database:    {info.db.path} ({seeded} in {info.db.seconds:.2f} s)")
    print(f"accounts:    user0001 ... user{USER_COUNT:04d}, password {DEMO_PASSWORD!r}")
    print(f"login:       curl -s -XPOST {info.url}/api/auth/login -H 'content-type: application/json' "
          f"-d '{{\"username\":\"user0001\",\"password\":\"{DEMO_PASSWORD}\"}}'")  # fmt: skip
    for fault in faults:
        print(f"fault:       {fault.route}: delay {fault.delay_ms} ms, error rate {fault.error_rate}")
    print("stop with Ctrl-C", flush=True)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C/SIGTERM; 0 on a clean stop. Errors print `error:`/`hint:` to stderr."""
    from loadtest.demo_target.serving import ServeOptions, serve

    owned: Path | None = None
    try:
        host, port, workers, data_dir, faults = resolve(args, os.environ)
        if data_dir is None:
            owned = data_dir = Path(tempfile.mkdtemp(prefix="loadtest-demo-target-"))
        options = ServeOptions(host=host, port=port, workers=workers, data_dir=data_dir, faults=faults)
        return serve(options, on_ready=lambda info: _banner(info, faults))
    except LoadtestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    finally:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only `demo-target`, for `python -m loadtest.demo_target`."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.demo_target")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
