"""The target allowlist refuses a host before anything starts."""

from __future__ import annotations

import pytest

from loadtest.core.errors import PreflightError
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
