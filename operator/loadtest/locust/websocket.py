"""WebSocket sessions for locustfiles: connect, request/reply by correlation id, server pushes.

    from loadtest.locust.websocket import WebSocketSession, ws_url

    class Trader(FastHttpUser):
        def on_start(self):
            token = ...  # POST /api/auth/login
            self.ws = WebSocketSession(self.environment, ws_url(self.host, "/ws"),
                                       headers={"Authorization": f"Bearer {token}"})
            self.ws.connect()
            self.ws.call("subscribe", channel="prices", interval_ms=1000)

        @task
        def quote(self):
            self.ws.call("quote", symbol="P7")

        def on_stop(self):
            self.ws.close()

Built on websocket-client, whose sockets are gevent's once Locust has monkey-patched the process:
a session's reader is one greenlet blocked in `recv`, so thousands of open connections cost the
worker's event loop nothing while they are idle, and the allowlist guard checks every connect like
any other socket's. Each kind of timing is its own request type, never mixed into the HTTP
percentiles (`loadtest.stats.recording.WEBSOCKET_TYPES` keeps them out of the Aggregated row):

- `WSCONNECT` (name: the URL path): TCP connect plus the upgrade handshake, auth included; a
  failure is a refused or failed connect.
- `WSCALL` (name: the op): from the send to the arrival of the reply with the same `id`; a
  failure is an error reply, no reply in time, or the connection lost first.
- `WSPUSH` (name: the channel): arrival minus the message's server timestamp.
- `WSCLOSE` (name: the URL path): how long the connection had been open; every close the user
  did not ask for is one (a failure), a close the user asked for is not recorded.

Push latency compares two clocks: exact when the target runs on the same machine (the local
backend's demo target), off by the clock difference between the two machines otherwise (NTP keeps
it to milliseconds on a LAN; a negative difference is recorded as 0).

The message format is the demo target's (`loadtest.demo_target.realtime`): JSON objects, `op` and
`id` on requests, the same `id` on the reply, `channel` and `ts` (seconds since the epoch) on
pushes. Other servers differ: override `reply_id`, `push_of` or `encode` in a subclass.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from gevent.event import AsyncResult
from locust.env import Environment

from loadtest.core.hosts import WEBSOCKET_ENV, websocket_endpoint, ws_url
from loadtest.stats.recording import WS_CALL, WS_CLOSE, WS_CONNECT, WS_PUSH

__all__ = ["ConnectionLost", "WebSocketSession", "endpoint_url", "open_connections", "ws_url"]

CLOSE_WAIT_S = 2.0  # for the server's answer to our close frame
_open = 0  # this process's open connections: each worker reports it (the connections gauge)


def endpoint_url(host: str | None) -> str:
    """The run's WebSocket endpoint: the spec's websocket_url (LOADTEST_WEBSOCKET_URL, set by the
    controller), else the target host's /ws."""
    return websocket_endpoint(os.environ.get(WEBSOCKET_ENV), host or "")


def open_connections() -> int:
    """WebSocket connections open in this process right now (every session's, connected and not closed)."""
    return _open


class ConnectionLost(Exception):
    """The connection closed while a call waited for its reply."""


class WebSocketSession:
    """One WebSocket connection of one user: every connect, call, push and close is recorded."""

    def __init__(
        self,
        environment: Environment,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.environment = environment
        self.url = url
        self.path = urlsplit(url).path or "/"
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.on_message = on_message  # messages that are neither replies nor pushes (a welcome, ...)
        self.ws: websocket.WebSocket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, AsyncResult] = {}
        self._reader: gevent.Greenlet | None = None
        self._opened = 0.0
        self._closing = False  # ended: closed by the user or lost (no longer in the open-connections gauge)

    # what a subclass may change for another server's messages
    def encode(self, message: dict[str, Any]) -> str:
        return json.dumps(message, separators=(",", ":"))

    def reply_id(self, message: dict[str, Any]) -> str | None:
        ident = message.get("id")
        return None if ident is None else str(ident)

    def push_of(self, message: dict[str, Any]) -> tuple[str, float] | None:
        """(name, server timestamp in seconds) if `message` is a push, else None."""
        channel, ts = message.get("channel"), message.get("ts")
        if isinstance(channel, str) and isinstance(ts, (int, float)) and "id" not in message:
            return channel, float(ts)
        return None

    # recording
    def _fire(self, kind: str, name: str, ms: float, length: int = 0, exception: BaseException | None = None) -> None:
        self.environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=kind, name=name, response_time=ms, response_length=length, exception=exception, context={}
        )

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.connected and not self._closing

    def connect(self) -> bool:
        """Open the connection (recorded as WSCONNECT); False if it failed (recorded as a failure)."""
        header = [f"{k}: {v}" for k, v in self.headers.items()]
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(self.url, timeout=self.timeout_s, header=header, enable_multithread=True)
        except Exception as exc:  # noqa: BLE001 - refused, 403 on the upgrade, a timeout, the allowlist ...
            self._fire(WS_CONNECT, self.path, (time.perf_counter() - started) * 1000, exception=exc)
            return False
        self._fire(WS_CONNECT, self.path, (time.perf_counter() - started) * 1000)
        ws.settimeout(None)  # the reader blocks in its own greenlet; calls have their own timeouts
        global _open
        self.ws, self._opened, self._closing = ws, time.monotonic(), False
        _open += 1
        self._reader = gevent.spawn(self._read, ws)
        return True

    def send(self, message: dict[str, Any]) -> None:
        """Send without waiting for anything (not recorded: nothing comes back to time)."""
        if self.ws is None:
            raise ConnectionLost(f"{self.url}: not connected")
        self.ws.send(self.encode(message))

    def call(self, op: str, *, name: str | None = None, timeout_s: float | None = None, **fields: Any) -> Any:
        """Send `{"op": op, "id": ..., **fields}` and wait for the reply with that id (recorded as
        WSCALL `name or op`). Returns the reply, or None when it failed (recorded as a failure)."""
        name = name or op
        if not self.connected:
            self._fire(WS_CALL, name, 0, exception=ConnectionLost(f"{self.url}: not connected"))
            return None
        ident = str(next(self._ids))
        result = AsyncResult()
        self._pending[ident] = result
        started = time.perf_counter()
        try:
            self.send({"op": op, "id": ident, **fields})
            arrived, reply, length = result.get(timeout=self.timeout_s if timeout_s is None else timeout_s)
        except gevent.Timeout:
            waited = timeout_s or self.timeout_s
            late = TimeoutError(f"no reply to {op!r} within {waited:g} s")
            self._fire(WS_CALL, name, (time.perf_counter() - started) * 1000, exception=late)
            return None
        except Exception as exc:  # noqa: BLE001 - lost on the way (ConnectionLost, a send on a closed socket)
            self._fire(WS_CALL, name, (time.perf_counter() - started) * 1000, exception=exc)
            return None
        finally:
            self._pending.pop(ident, None)
        ms = (arrived - started) * 1000  # the reader's arrival time: not the wake-up of this greenlet
        error = reply.get("detail") if reply.get("type") == "error" else None
        self._fire(WS_CALL, name, ms, length, exception=RuntimeError(error) if error else None)
        return reply

    def _read(self, ws: websocket.WebSocket) -> None:
        try:
            while True:
                opcode, data = ws.recv_data()
                arrived, now = time.perf_counter(), time.time()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    reason = data[2:].decode("utf-8", "replace")
                    self._lost(f"the server closed the connection: code {code}" + (f" ({reason})" if reason else ""))
                    return
                try:
                    message = json.loads(data)
                except ValueError:
                    continue  # not JSON: nothing of ours to time
                if not isinstance(message, dict):
                    continue
                ident = self.reply_id(message)
                if ident is not None and ident in self._pending:
                    self._pending[ident].set((arrived, message, len(data)))
                    continue
                push = self.push_of(message)
                if push is not None:
                    self._fire(WS_PUSH, push[0], max(0.0, (now - push[1]) * 1000), len(data))
                elif self.on_message is not None:
                    self.on_message(message)
        except Exception as exc:  # noqa: BLE001 - a reset, EOF, a protocol error: the connection is gone
            self._lost(f"the connection broke: {type(exc).__name__}: {exc}")

    def _end(self) -> bool:
        """Mark the connection ended, once (the gauge counts it out); False if it already was."""
        global _open
        if self._closing:
            return False
        self._closing = True
        _open -= 1
        return True

    def _lost(self, why: str) -> None:
        if not self._end():
            return  # the close we asked for
        lived_ms = (time.monotonic() - self._opened) * 1000
        self._fire(WS_CLOSE, self.path, lived_ms, exception=ConnectionError(f"unexpected close: {why}"))
        for result in list(self._pending.values()):
            result.set_exception(ConnectionLost(why))
        if self.ws is not None:
            self.ws.shutdown()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the connection as a client should (close frame, the server's answer); not a failure."""
        ws, reader = self.ws, self._reader
        if ws is None or not self._end():
            return
        with contextlib.suppress(Exception):  # already broken: nothing to say goodbye to
            ws.send_close()
        if reader is not None:
            reader.join(timeout=CLOSE_WAIT_S)  # it sees the server's close frame and ends
            reader.kill(block=False)
        ws.shutdown()  # type: ignore[no-untyped-call]
