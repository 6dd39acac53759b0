"""The master's worker gate: only senders that proved the run's secret reach Locust, within the count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.locust import auth


@dataclass
class Msg:
    type: str
    data: Any
    node_id: str


@dataclass
class Node:
    id: str
    state: str = "ready"


@dataclass
class FakeRunner:
    """Only what WorkerGate touches: handle_message and clients (messages out are injected)."""

    handled: list[tuple[str, str]] = field(default_factory=list)
    clients: dict[str, Node] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)

    def handle_message(self, client_id: str, msg: Msg) -> None:
        self.handled.append((client_id, msg.type))
        if msg.type == "client_ready":
            assert msg.data == "2.47.0", msg.data  # Locust sees its own version string, never the proof
            self.clients[client_id] = Node(client_id)


def ready(node: str, secret: str | None) -> Msg:
    data: Any = {"version": "2.47.0", auth.PROOF_KEY: auth.proof(secret, node)} if secret else "2.47.0"
    return Msg("client_ready", data, node)


def gate(expected: int = 1, secret: str | None = "s3cret") -> tuple[FakeRunner, auth.WorkerGate, list[auth.Refusal]]:
    runner, refused = FakeRunner(), []
    g = auth.WorkerGate(
        runner,
        secret,
        expected,
        refused.append,
        later=lambda _delay, send, *args: send(*args),
        send=lambda node, kind: runner.sent.append((node, kind)),
    )
    g.install()
    return runner, g, refused


def test_a_worker_with_the_proof_joins_and_its_reports_reach_locust() -> None:
    runner, _, refused = gate()
    runner.handle_message("w1", ready("w1", "s3cret"))
    runner.handle_message("w1", Msg("stats", {"x": 1}, "w1"))
    assert runner.handled == [("w1", "client_ready"), ("w1", "stats")] and refused == []


def test_no_proof_a_wrong_proof_or_a_proof_made_for_another_node_is_refused() -> None:
    runner, _, refused = gate(expected=5)
    runner.handle_message("r1", ready("r1", None))
    runner.handle_message("r2", ready("r2", "another-runs-secret"))
    runner.handle_message("r3", Msg("client_ready", ready("w1", "s3cret").data, "r3"))  # a replayed proof
    runner.handle_message("r1", Msg("stats", {"x": 1}, "r1"))
    assert runner.handled == []
    assert [r.id for r in refused] == ["r1", "r2", "r3"]
    assert "without the run's proof" in refused[0].reason and "wrong proof" in refused[1].reason
    assert refused[0].messages == 2  # counted, never merged
    assert runner.sent[:2] == [("r1", "ack"), ("r1", "quit")]  # told to go, once


def test_a_surplus_worker_is_refused_even_with_the_secret() -> None:
    runner, _, refused = gate(expected=1)
    runner.handle_message("w1", ready("w1", "s3cret"))
    runner.handle_message("w2", ready("w2", "s3cret"))
    assert [r.id for r in refused] == ["w2"] and "already has its 1 planned worker" in refused[0].reason
    runner.clients["w1"].state = "missing"  # a lost worker's replacement may join
    runner.handle_message("w3", ready("w3", "s3cret"))
    assert ("w3", "client_ready") in runner.handled


def test_a_message_in_another_nodes_name_is_refused() -> None:
    runner, _, refused = gate()
    runner.handle_message("w1", ready("w1", "s3cret"))
    runner.handle_message("rogue", Msg("stats", {"x": 1}, "w1"))
    assert runner.handled == [("w1", "client_ready")] and refused[0].id == "rogue"


def test_without_a_secret_only_the_count_is_enforced() -> None:
    runner, _, refused = gate(expected=1, secret=None)
    runner.handle_message("w1", ready("w1", None))
    runner.handle_message("w2", ready("w2", None))
    assert runner.handled == [("w1", "client_ready")] and [r.id for r in refused] == ["w2"]
