"""Before anything starts: the target allowlist refuses a host, and a run's WebSocket connections
fit the open-file limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.core.errors import PreflightError, SpecError
from loadtest.locust.locustfiles import declared_connections
from loadtest.run import preflight
from loadtest.run.preflight import check_allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("https://staging.example.com", ["staging.example.com"]),
        ("https://api.staging.example.com", ["*.staging.example.com"]),
        ("http://127.0.0.1:8080", ["127.0.0.1:8080"]),
        ("http://127.0.0.1:8080", ["http://127.0.0.1:8080"]),
        ("https://anything.example.com", []),
    ],
)
def test_hosts_matching_the_allowlist_pass(host: str, allowed: list[str]) -> None:
    check_allowed(host, allowed)


def test_a_typo_towards_production_is_refused_with_host_and_list_named() -> None:
    with pytest.raises(PreflightError) as info:
        check_allowed("https://www.example.com", ["staging.example.com", "*.staging.example.com"])
    assert "'https://www.example.com'" in str(info.value)
    assert "staging.example.com" in str(info.value)
    assert info.value.hint is not None and "nothing was started" in info.value.hint


# WebSocket connections and open files ---------------------------------------------------------


def test_the_busiest_process_needs_its_share_of_the_connections_and_a_reserve() -> None:
    assert preflight.open_files_needed(10_000, 2, 0) == 5_000 + preflight.FILES_RESERVE  # an external target
    assert preflight.open_files_needed(10_000, 4, 2) == 5_000 + preflight.FILES_RESERVE  # the demo target's share
    assert preflight.open_files_needed(10_001, 3, 0) == 3_334 + preflight.FILES_RESERVE


def test_the_soft_limit_is_raised_only_as_far_as_needed_and_only_when_needed() -> None:
    assert preflight.file_limit(1_000, 1, 0, soft=20_000, hard=20_000, what="x") == 20_000  # enough already
    assert preflight.file_limit(10_000, 2, 0, soft=1_024, hard=65_536, what="x") == 5_256
    assert preflight.file_limit(10_000, 1, 0, soft=1_024, hard=-1, what="x") == 10_256  # unlimited


def test_a_hard_limit_below_the_plan_is_refused_with_the_numbers_and_the_fix() -> None:
    what = "users = 10,000 with Trader.websocket_connections = 1"
    with pytest.raises(SpecError) as caught:
        preflight.file_limit(10_000, 2, 2, soft=1_024, hard=4_096, what=what)
    error = caught.value
    assert error.message.startswith("users = 10,000 with Trader.websocket_connections = 1 plan 10,000 WebSocket")
    assert "5,256 open files in one process (10,000 over 2 workers and 2 demo target processes)" in error.message
    assert "allows 4,096 (the hard limit, `ulimit -Hn`)" in error.message
    assert error.hint is not None and "at least 3 processes" in error.hint  # 10,000 / (4,096 - 256)


def test_connections_are_declared_by_a_literal_class_attribute_read_without_importing(tmp_path: Path) -> None:
    path = tmp_path / "lf.py"
    path.write_text(
        "import sys\nsys.exit('never imported')\n"
        "class Browser:\n    weight = 3\n"
        "class Trader:\n    websocket_connections = 1\n"
        "class Desk:\n    websocket_connections: int = 4\n"
    )
    assert declared_connections([path]) == (4, "Desk")
    plain = tmp_path / "plain.py"
    plain.write_text("class U:\n    wait_time = 1\n")
    assert declared_connections([plain]) == (0, None)
    computed = tmp_path / "computed.py"
    computed.write_text("N = 2\nclass U:\n    websocket_connections = N\n")
    with pytest.raises(SpecError, match=r"computed.py:3: U.websocket_connections must be a whole number"):
        declared_connections([computed])
