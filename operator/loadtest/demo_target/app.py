"""The demo target's ASGI application (Starlette), one instance per server process.

`create_app(config)` builds it; `worker_app()` is the uvicorn factory used in
each worker process. A pure-ASGI middleware in front of the router counts
every request to a non-control, non-health path (exactly, see counters.py)
and applies injected faults (faults.py) before the request reaches its
handler, so a fault slows or fails a route whatever its handler would do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from loadtest.core.processes import die_with_parent
from loadtest.demo_target.api import ROUTE_KEYS, ROUTES, Api
from loadtest.demo_target.config import AppConfig
from loadtest.demo_target.counters import UNMATCHED, ProcessCounters, read_totals
from loadtest.demo_target.faults import FaultSpecError, FaultTable, parse_fault
from loadtest.demo_target.queries import Store
from loadtest.demo_target.realtime import COUNTERS as WS_COUNTERS
from loadtest.demo_target.realtime import FAULT_KEYS as WS_FAULT_KEYS
from loadtest.demo_target.realtime import PATH as WS_PATH
from loadtest.demo_target.realtime import Realtime

__all__ = ["COUNTER_KEYS", "FAULT_KEYS", "WS_COUNTERS", "create_app", "worker_app"]

COUNTER_KEYS: tuple[str, ...] = (*ROUTE_KEYS, UNMATCHED, *WS_COUNTERS)
FAULT_KEYS: tuple[str, ...] = (*ROUTE_KEYS, *WS_FAULT_KEYS)
UNCOUNTED_PREFIXES = ("/_control/", "/healthz")  # api.md: control and health are never "served"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass
class Runtime:
    """Per-process resources opened in the lifespan (not at import: workers are spawned)."""

    config: AppConfig
    store: Store | None = None
    counters: ProcessCounters | None = None
    faults: FaultTable | None = None

    def open(self) -> None:
        self.store = Store(self.config.db_path)
        self.counters = ProcessCounters(self.config.counters_dir, COUNTER_KEYS)
        self.faults = FaultTable(self.config.faults_path, FAULT_KEYS)

    def close(self) -> None:
        if self.counters is not None:
            self.counters.close()
        if self.store is not None:
            self.store.close()

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the demo target's store is used before the lifespan opened it")
        return self.store


class ServedMiddleware:
    """Count each served request by route key, then apply the route's fault if one is set."""

    def __init__(self, app: ASGIApp, runtime: Runtime, routes: list[tuple[str, Route]]) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes

    def route_key(self, scope: Scope) -> str:
        for key, route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return key
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        if scope["type"] != "http" or str(scope["path"]).startswith(UNCOUNTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        key = self.route_key(scope)
        if runtime.counters is not None:
            runtime.counters.increment(key)
        fault = runtime.faults.lookup(key) if runtime.faults is not None and key != UNMATCHED else None
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)  # asynchronous: other requests keep flowing
            if runtime.faults is not None and runtime.faults.should_fail(fault):
                response = JSONResponse(
                    {"detail": f"injected fault: {key} fails with {fault.status} at rate {fault.error_rate}"},
                    status_code=fault.status,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise HTTPException(status_code=403, detail=f"fault control answers loopback clients only, not {host!r}")


class Control:
    """`/healthz` and `/_control/*`: never counted, never faulted, no auth; faults loopback only."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _faults(self) -> FaultTable:
        if self.runtime.faults is None:
            raise RuntimeError("the fault table is used before the lifespan opened it")
        return self.runtime.faults

    def _listing(self) -> JSONResponse:
        return JSONResponse({"items": [fault.to_json() for fault in self._faults().items()]})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats(self, request: Request) -> Response:
        # Read-only counts, for any client: in a cluster the controller reads them through the API
        # server's service proxy, which connects from the node's address (never loopback).
        _, counts = read_totals(self.runtime.config.counters_dir, COUNTER_KEYS)
        by_route = {key: n for key, n in counts.items() if key not in WS_COUNTERS}
        websocket = {key: counts.get(key, 0) for key in WS_COUNTERS}  # every counter, zeros too
        return JSONResponse({"served": sum(by_route.values()), "by_route": by_route, "websocket": websocket})

    async def get_faults(self, request: Request) -> Response:
        _loopback_only(request)
        return self._listing()

    async def put_fault(self, request: Request) -> Response:
        _loopback_only(request)
        try:
            body = json.loads(await request.body())
            fault = parse_fault(body, FAULT_KEYS)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=f"body: not JSON ({exc})") from exc
        except FaultSpecError as exc:
            raise HTTPException(status_code=422, detail=exc.message) from exc
        self._faults().put(fault)
        return self._listing()

    async def delete_faults(self, request: Request) -> Response:
        _loopback_only(request)
        route = request.query_params.get("route")
        if route is not None and route not in FAULT_KEYS:
            raise HTTPException(
                status_code=422, detail=f"route: {route!r} is not a route; use one of {list(FAULT_KEYS)}"
            )
        self._faults().clear(route)
        return self._listing()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


def create_app(config: AppConfig) -> Starlette:
    """The application for one process; resources open in its lifespan."""
    runtime = Runtime(config)
    api = Api(runtime.require_store, config.jwt_secret)
    handlers = api.handlers()
    api_routes = [
        (f"{method} {template}", Route(template, handlers[name], methods=[method])) for method, template, name in ROUTES
    ]
    control = Control(runtime)
    routes = [route for _, route in api_routes] + [
        Route("/healthz", control.healthz, methods=["GET"]),
        Route("/_control/stats", control.stats, methods=["GET"]),
        Route("/_control/faults", control.get_faults, methods=["GET"]),
        Route("/_control/faults", control.put_fault, methods=["PUT"]),
        Route("/_control/faults", control.delete_faults, methods=["DELETE"]),
        WebSocketRoute(WS_PATH, Realtime(config.jwt_secret, lambda: runtime.counters, lambda: runtime.faults).endpoint),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.open()
        try:
            yield
        finally:
            runtime.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.add_middleware(ServedMiddleware, runtime=runtime, routes=api_routes)
    app.state.runtime = runtime
    return app


def worker_app() -> Starlette:
    """uvicorn's factory in each worker: die with the supervisor, then build from the shared config."""
    parent = multiprocessing.parent_process()
    die_with_parent(expected_parent=parent.pid if parent is not None else None)
    return create_app(AppConfig.from_env())
