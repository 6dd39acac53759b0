"""Only the run's own workers count: each proves it holds the run's secret when it joins.

Locust's master accepts any process that connects to its port and merges
whatever it reports, so one stray or hostile process can forge a verdict. The
controller generates a secret per run and hands it to the master and the
workers only, through the environment (``LOADTEST_RUN_SECRET``; on Kubernetes
a Secret mounted into those two Deployments, never into values, ConfigMaps,
argv or logs).

- A worker adds ``HMAC-SHA256(secret, node id)`` to Locust's ``client_ready``
  message (`install_worker_proof`): the secret itself never crosses the wire,
  and a proof is only good for the node id (the ZeroMQ identity) it was made
  for.
- The master (`WorkerGate`) sees every message before Locust does. A node
  that has not joined with a valid proof, a node beyond the planned worker
  count, or a message whose node id is not the sender's own identity is
  refused: Locust never hears of it (no users are assigned to it, nothing it
  reports is merged), it is told to quit, and the refusal is logged, kept as an
  event and counted in the stats artifact, where the gate turns it into a FAIL.

Without a secret the master still refuses workers beyond the planned count,
and the artifact says that authentication was off.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("loadtest.locust.auth")

SECRET_ENV = "LOADTEST_RUN_SECRET"
PROOF_KEY = "loadtest_proof"


def proof(secret: str, node_id: str) -> str:
    return hmac.new(secret.encode(), b"loadtest-worker\0" + node_id.encode(), hashlib.sha256).hexdigest()


def secret_from_env() -> str | None:
    return os.environ.get(SECRET_ENV) or None


def install_worker_proof(secret: str) -> None:
    """Every client_ready this process sends carries its proof (Locust sends it at connect and after a stop)."""
    from locust.rpc import zmqrpc

    send = zmqrpc.Client.send
    if getattr(send, "_loadtest_proof", False):
        return

    def send_with_proof(self: Any, msg: Any) -> Any:
        if msg.type == "client_ready" and isinstance(msg.data, str):
            msg.data = {"version": msg.data, PROOF_KEY: proof(secret, msg.node_id)}
        return send(self, msg)

    send_with_proof._loadtest_proof = True  # type: ignore[attr-defined]
    zmqrpc.Client.send = send_with_proof  # type: ignore[method-assign]


@dataclass
class Refusal:
    id: str
    t: float
    reason: str
    messages: int = 1


class WorkerGate:
    """Wraps MasterRunner.handle_message: unknown, surplus or spoofing senders never reach Locust."""

    def __init__(
        self,
        runner: Any,
        secret: str | None,
        expected: int,
        on_refused: Callable[[Refusal], None],
        later: Callable[..., Any] | None = None,
        send: Callable[[str, str], None] | None = None,
    ) -> None:
        self.runner = runner
        self._later = later  # gevent.spawn_later in the master; injectable for tests
        self._send_to = send  # a Locust Message through the master's socket; injectable for tests
        self.secret = secret
        self.expected = expected
        self.on_refused = on_refused
        self.admitted: set[str] = set()
        self.refused: dict[str, Refusal] = {}
        self._handle = runner.handle_message

    def install(self) -> None:
        self.runner.handle_message = self.handle_message
        if self.secret is None:
            logger.warning("loadtest: %s is not set: workers are not authenticated (only counted)", SECRET_ENV)

    def handle_message(self, client_id: str, msg: Any) -> None:
        if client_id in self.refused:
            self.refused[client_id].messages += 1
            return
        if msg.node_id != client_id:
            self._refuse(client_id, f"sent a '{msg.type}' message in the name of {msg.node_id!r}")
            return
        if msg.type == "client_ready":
            reason = self._admission(client_id, msg.data)
            if reason is not None:
                self._refuse(client_id, reason)
                return
            self.admitted.add(client_id)
            msg.data = msg.data.get("version", "") if isinstance(msg.data, dict) else msg.data
        elif client_id not in self.admitted:
            self._refuse(client_id, f"sent '{msg.type}' without joining the run")
            return
        self._handle(client_id, msg)

    def _admission(self, client_id: str, data: Any) -> str | None:
        if self.secret is not None:
            given = data.get(PROOF_KEY) if isinstance(data, dict) else None
            if not isinstance(given, str):
                return "joined without the run's proof (not started by this run's controller)"
            if not hmac.compare_digest(given, proof(self.secret, client_id)):
                return "joined with a wrong proof (another run's secret, or a forged one)"
        if client_id in self.admitted or self.expected <= 0:
            return None
        present = [
            c.id for c in self.runner.clients.values() if c.id in self.admitted and c.state != "missing"
        ]
        if len(present) >= self.expected:
            return f"the run already has its {self.expected} planned worker(s)"
        return None

    def _send(self, client_id: str, kind: str) -> None:
        try:
            if self._send_to is not None:
                self._send_to(client_id, kind)
                return
            from locust.rpc.protocol import Message

            self.runner.server.send_to_client(Message(kind, None, client_id))  # type: ignore[no-untyped-call]
        except Exception:  # noqa: BLE001 - telling it to go away is a courtesy; refusing is what counts
            logger.exception("loadtest: could not send %s to refused worker %s", kind, client_id)

    def _refuse(self, client_id: str, reason: str) -> None:
        refusal = Refusal(id=client_id, t=time.time(), reason=reason)
        self.refused[client_id] = refusal
        self.admitted.discard(client_id)
        logger.error("loadtest: refused worker %s: %s", client_id, reason)
        self._send(client_id, "ack")
        # A Locust worker handles nothing before "ack", and starts its heartbeat greenlets right after
        # it: quit a moment later, so a stray worker exits now instead of retrying for minutes.
        # Nothing else is ever sent to it.
        if self._later is None:
            import gevent

            self._later = gevent.spawn_later
        self._later(1.0, self._send, client_id, "quit")
        self.on_refused(refusal)
