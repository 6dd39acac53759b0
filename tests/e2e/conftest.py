"""Session fixtures that start real things once: the demo target on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer

from loadtest.demo_target.server import DemoTarget


@pytest.fixture(scope="session")
def demo_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTarget]:
    target = DemoTarget(host="127.0.0.1", port=0, workers=2, data_dir=tmp_path_factory.mktemp("demo-target"))
    target.start(timeout_s=180)
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def permissive_sla(tmp_path: Path) -> Path:
    """An SLA the healthy demo target always meets, so the exit code is about the run itself."""
    path = tmp_path / "sla.yaml"
    path.write_text("version: 1\naggregate:\n  error_rate: '< 1%'\n  min_requests: 1\n")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port for the whole session."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()
