"""Scenario `realtime`: traders who hold a WebSocket session while they browse over HTTP.

Each user logs in over HTTP, opens one WebSocket connection to the demo target's `/ws` with its
JWT, subscribes to the price feed (one push per second), then repeats: ask for a quote over the
WebSocket (request and reply), open a product or its account over HTTP, wait `between(2, 4)` s.
A connection the server dropped is opened again at the next quote, as a real client would.
See README.md for the message plan and what the SLA judges.
"""

from __future__ import annotations

import os
import random

from lib import Api
from locust import FastHttpUser, between, task

from loadtest.locust.websocket import WebSocketSession, endpoint_url

# The pace, from the environment (the defaults are the plan in README.md): the feed's interval per
# connection, and a user's mean think time between tasks. Slower paces hold more connections on
# one machine (README: "10,000 connections").
PUSH_INTERVAL_MS = int(os.environ.get("REALTIME_PUSH_MS", "1000"))
THINK_S = float(os.environ.get("REALTIME_THINK_S", "3"))
SYMBOLS = 100  # quotes ask for P1 .. P100


class Trader(FastHttpUser):
    """One trader: an HTTP session and one long-lived WebSocket connection."""

    wait_time = between(THINK_S * 2 / 3, THINK_S * 4 / 3)  # mean THINK_S: 2-4 s by default
    websocket_connections = 1  # read by the controller: workers and open-file limits are sized for it

    def on_start(self) -> None:
        self.api = Api(self.client)
        self.ws: WebSocketSession | None = None
        if self.api.login():
            self._open()

    def _open(self) -> None:
        self.ws = WebSocketSession(
            self.environment, endpoint_url(self.host), headers={"Authorization": f"Bearer {self.api.token}"}
        )
        if self.ws.connect():
            self.ws.call("subscribe", channel="prices", interval_ms=PUSH_INTERVAL_MS)

    @task(6)
    def quote(self) -> None:
        if self.ws is None or not self.ws.connected:
            if self.api.token is None:
                return
            self._open()  # the server dropped it (or it never opened): a real client reconnects
        if self.ws is not None and self.ws.connected:
            self.ws.call("quote", symbol=f"P{random.randint(1, SYMBOLS)}")

    @task(3)
    def product(self) -> None:
        self.api.product()

    @task(1)
    def me(self) -> None:
        self.api.me()

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
