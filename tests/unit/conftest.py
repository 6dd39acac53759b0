"""Unit tests are pure: a real network connection or subprocess fails loudly instead of hanging."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


class NotInUnitTests(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network_no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse_connect(self: socket.socket, address: Any) -> None:
        raise NotInUnitTests(f"unit tests must not connect to {address!r}; move this test to tests/e2e")

    def refuse_popen(*args: Any, **kwargs: Any) -> None:
        raise NotInUnitTests(f"unit tests must not start processes ({args[0]!r}); move this test to tests/e2e")

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connect)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_popen)
    yield
