"""The demo target's WebSocket endpoint, `/ws`: a price feed pushed by the server, and quotes by
request and reply, for real-time load tests (the `realtime` scenario, `loadtest.locust.websocket`).

The protocol (JSON text frames):
- **Connect** to `ws://HOST/ws` with `Authorization: Bearer <token>` from `POST /api/auth/login`
  (or `?token=<token>` for clients that cannot set headers). A missing or bad token closes the
  handshake with 1008 before it is accepted (HTTP 403); accepted, the server says
  `{"type": "welcome", "user": ..., "ts": ...}`.
- **Request and reply.** The client sends `{"op": "quote", "id": ID, "symbol": "P123"}` and
  the reply carries the same `id`: `{"type": "quote", "id": ID, "symbol", "price", "ts"}`.
  `{"op": "subscribe", "id": ID, "channel": "prices", "interval_ms": 1000}` starts a feed and is
  answered `{"type": "subscribed", "id": ID, "channel"}`; `unsubscribe` stops it. A message the
  server cannot take is answered `{"type": "error", "id": ID or null, "detail": ...}` naming the
  field, the value and the fix; the connection stays open.
- **Pushes**: `{"type": "price", "channel", "seq", "symbol", "price", "ts"}` every `interval_ms`
  per subscription; `ts` is the server's clock when the push was made (the client's push latency
  is its arrival time minus `ts`: exact on one machine, off by the clock difference between two).

Counted exactly per process (`counters.py`; `/_control/stats` returns them under `websocket`):
connections accepted and refused, messages received, replies and pushes sent, connections the
server dropped (a fault) and connections the client closed. Faults (`--slow`, `--fail`,
`/_control/faults`): `WS push` with `delay_ms` delays every push after its timestamp was taken
(a slow push path); `WS /ws` with `delay_ms` delays the handshake, and with `error_rate` drops
the connection (close 1011) instead of sending a message, at that rate per message sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from loadtest.core.hosts import WEBSOCKET_PATH
from loadtest.demo_target.auth import TokenError, bearer_token, verify_token
from loadtest.demo_target.counters import ProcessCounters
from loadtest.demo_target.faults import FaultTable

PATH = WEBSOCKET_PATH  # where a run looks for it unless the spec names a websocket_url
FAULT_KEYS = ("WS /ws", "WS push")  # fault route keys, beside the HTTP routes'
ACCEPTED, REFUSED, RECEIVED, REPLIED, PUSHED, DROPPED, CLOSED = COUNTERS = (
    "WS accepted", "WS refused", "WS received", "WS replied", "WS pushed", "WS dropped", "WS closed",
)  # fmt: skip
CHANNELS = ("prices",)
MIN_INTERVAL_MS, MAX_INTERVAL_MS = 10, 60_000
MAX_SUBSCRIPTIONS = 4  # per connection
MAX_MESSAGE_BYTES = 4096
POLICY_VIOLATION, INTERNAL_ERROR = 1008, 1011  # RFC 6455 close codes


class MessageError(ValueError):
    """A client message the server cannot take: answered with an error message, not a close."""


def price_of(symbol: str, seq: int = 0) -> float:
    """A stable price per symbol that drifts with the feed's sequence number (no database hop)."""
    base = 5.0 + (zlib.crc32(symbol.encode()) % 99_500) / 100
    return round(base * (1 + 0.01 * math.sin(seq / 5)), 2)


def parse(text: str) -> dict[str, Any]:
    """One client message, checked: an object with a known `op` and the fields that op needs."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message: {len(text)} bytes; send at most {MAX_MESSAGE_BYTES}")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise MessageError(f'message: not JSON ({exc}); send a JSON object such as {{"op": "quote"}}') from exc
    if not isinstance(message, dict):
        raise MessageError(f'message: {type(message).__name__}, not an object; send {{"op": ...}}')
    op = message.get("op")
    if op not in ("quote", "subscribe", "unsubscribe"):
        raise MessageError(f"op: {op!r} is not an operation; use 'quote', 'subscribe' or 'unsubscribe'")
    if op == "quote":
        symbol = message.get("symbol")
        if not isinstance(symbol, str) or not 1 <= len(symbol) <= 32:
            raise MessageError(f"symbol: {symbol!r}; send a product symbol such as 'P123' (1 to 32 characters)")
    else:
        channel = message.get("channel")
        if channel not in CHANNELS:
            raise MessageError(f"channel: {channel!r} is not a channel; use one of {list(CHANNELS)}")
        interval = message.get("interval_ms", 1000)
        if op == "subscribe" and (
            not isinstance(interval, int) or isinstance(interval, bool)
            or not MIN_INTERVAL_MS <= interval <= MAX_INTERVAL_MS
        ):  # fmt: skip
            raise MessageError(
                f"interval_ms: {interval!r}; send a whole number of milliseconds from {MIN_INTERVAL_MS} "
                f"to {MAX_INTERVAL_MS}"
            )
    return message


class _Dropped(Exception):
    """The `WS /ws` fault dropped the connection."""


class Session:
    """One accepted connection: its reader (the caller's task) and one task per subscription."""

    def __init__(self, websocket: WebSocket, user: str, counters: ProcessCounters | None, faults: FaultTable | None):
        self.websocket = websocket
        self.user = user
        self.count: Callable[[str], None] = counters.increment if counters is not None else (lambda _key: None)
        self.faults = faults
        self.feeds: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()  # the reader's replies and the feeds' pushes share the socket
        self.dropped = False

    async def send(self, message: dict[str, Any], counter: str | None) -> None:
        fault = self.faults.lookup("WS /ws") if self.faults is not None else None
        if fault is not None and self.faults is not None and self.faults.should_fail(fault):
            self.dropped = True
            raise _Dropped
        async with self.send_lock:
            await self.websocket.send_text(json.dumps(message))
        if counter is not None:
            self.count(counter)

    async def feed(self, channel: str, interval_s: float) -> None:
        seq = 0
        next_at = time.monotonic()
        while True:
            next_at += interval_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            seq += 1
            symbol = f"P{seq % 100 + 1}"
            message = {"type": "price", "channel": channel, "seq": seq, "symbol": symbol,
                       "price": price_of(symbol, seq), "ts": time.time()}  # fmt: skip
            fault = self.faults.lookup("WS push") if self.faults is not None else None
            if fault is not None and fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)  # after the timestamp: the push arrives late
            try:
                await self.send(message, PUSHED)
            except _Dropped:
                await self._drop()
                return
            except Exception:  # noqa: BLE001 - the client went away mid-push: the reader sees the close
                return

    async def _drop(self) -> None:
        self.count(DROPPED)
        with contextlib.suppress(Exception):
            await self.websocket.close(code=INTERNAL_ERROR, reason="injected fault: WS /ws drops the connection")

    async def answer(self, text: str) -> None:
        try:
            message = parse(text)
        except MessageError as exc:
            ident = None
            with contextlib.suppress(ValueError, AttributeError):
                ident = json.loads(text).get("id")
            await self.send({"type": "error", "id": ident, "detail": str(exc)}, REPLIED)
            return
        op, ident = message["op"], message.get("id")
        if op == "quote":
            symbol = message["symbol"]
            await self.send({"type": "quote", "id": ident, "symbol": symbol, "price": price_of(symbol),
                             "ts": time.time()}, REPLIED)  # fmt: skip
            return
        channel = message["channel"]
        if op == "subscribe":
            if channel not in self.feeds and len(self.feeds) >= MAX_SUBSCRIPTIONS:
                await self.send({"type": "error", "id": ident, "detail": f"subscriptions: at most "
                                 f"{MAX_SUBSCRIPTIONS} per connection; unsubscribe first"}, REPLIED)  # fmt: skip
                return
            old = self.feeds.pop(channel, None)
            if old is not None:
                old.cancel()
            self.feeds[channel] = asyncio.create_task(self.feed(channel, message.get("interval_ms", 1000) / 1000))
            await self.send({"type": "subscribed", "id": ident, "channel": channel}, REPLIED)
        else:
            task = self.feeds.pop(channel, None)
            if task is not None:
                task.cancel()
            await self.send({"type": "unsubscribed", "id": ident, "channel": channel}, REPLIED)

    async def run(self) -> None:
        try:
            await self.send({"type": "welcome", "user": self.user, "ts": time.time()}, None)
            while not self.dropped:
                text = await self.websocket.receive_text()
                self.count(RECEIVED)
                await self.answer(text)
        except WebSocketDisconnect:
            if not self.dropped:
                self.count(CLOSED)
        except RuntimeError:  # a reply after a feed dropped the connection
            if not self.dropped:
                raise
        except _Dropped:
            await self._drop()
        finally:
            for task in self.feeds.values():
                task.cancel()


class Realtime:
    """The `/ws` endpoint, bound to one process's counters, faults and JWT secret."""

    def __init__(self, secret: str, counters: Callable[[], ProcessCounters | None],
                 faults: Callable[[], FaultTable | None]) -> None:  # fmt: skip
        self._secret = secret
        self._counters = counters  # resolved per connection: opened in the lifespan
        self._faults = faults

    async def endpoint(self, websocket: WebSocket) -> None:
        counters, faults = self._counters(), self._faults()
        token = websocket.query_params.get("token")
        try:
            user = verify_token(token or bearer_token(websocket.headers.get("authorization")), self._secret)
        except TokenError as exc:
            if counters is not None:
                counters.increment(REFUSED)
            await websocket.close(code=POLICY_VIOLATION, reason=str(exc)[:120])
            return
        fault = faults.lookup("WS /ws") if faults is not None else None
        if fault is not None and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)  # a slow handshake
        await websocket.accept()
        if counters is not None:
            counters.increment(ACCEPTED)
        await Session(websocket, user, counters, faults).run()
