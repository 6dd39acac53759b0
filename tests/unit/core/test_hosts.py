"""The allowlist's matching, shared by the pre-flight and the in-process guard."""

from __future__ import annotations

import pytest

from loadtest.core import hosts


@pytest.mark.parametrize(
    ("url", "entries", "allowed"),
    [
        ("http://127.0.0.1:8080/x", ["127.0.0.1:8080"], True),
        ("http://127.0.0.1:9999/x", ["127.0.0.1:8080"], False),
        ("http://127.0.0.1:9999/x", ["127.0.0.1"], True),
        ("https://api.staging.example.com/x", ["*.staging.example.com"], True),
        ("https://api.prod.example.com/x", ["*.staging.example.com"], False),
        ("https://API.Staging.Example.com/x", ["https://api.staging.example.com"], True),
        ("http://[::1]:8080/", ["[::1]:8080"], True),
        ("http://127.0.0.2:80/", [], False),
        ("http://host:notaport/", ["host"], False),
    ],
)
def test_url_allowed(url: str, entries: list[str], allowed: bool) -> None:
    assert hosts.url_allowed(url, entries) is allowed


def test_the_effective_allowlist_always_holds_the_target() -> None:
    assert hosts.entries_for("http://127.0.0.1:8080", []) == ["127.0.0.1:8080"]
    assert hosts.entries_for("https://a.example.com", ["*.example.com"]) == ["*.example.com", "a.example.com"]
    assert hosts.entries_for(None, [" b.example.com ", ""]) == ["b.example.com"]


def test_the_environment_form_round_trips_and_tells_unset_from_empty() -> None:
    assert hosts.from_env(hosts.to_env(["a:1", "*.b"])) == ["a:1", "*.b"]
    assert hosts.from_env(None) is None
    assert hosts.from_env("") == []


def test_ws_url_follows_the_hosts_scheme_and_refuses_what_is_not_a_url() -> None:
    assert hosts.ws_url("http://127.0.0.1:8080", "/ws") == "ws://127.0.0.1:8080/ws"
    assert hosts.ws_url("https://staging.example.com/base/", "/ws") == "wss://staging.example.com/ws"
    assert hosts.ws_url("wss://feed.example.com", "/prices") == "wss://feed.example.com/prices"
    for bad in ("ftp://example.com", "127.0.0.1:8080", "http://"):
        with pytest.raises(ValueError, match="is not an http"):
            hosts.ws_url(bad, "/ws")


def test_a_websocket_url_is_checked_against_the_allowlist_as_its_http_twin() -> None:
    assert hosts.http_form("wss://feed.example.com:8443/ws") == "https://feed.example.com:8443/ws"
    assert hosts.http_form("ws://127.0.0.1:8080/ws") == "http://127.0.0.1:8080/ws"
    assert hosts.http_form("http://unchanged/") == "http://unchanged/"
