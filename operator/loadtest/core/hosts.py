"""Where load may go: the target allowlist, matched the same way before the run and inside it.

Entries are hostnames, host:port, glob patterns (``*.staging.example.com``) or
URLs (their host[:port] counts). An empty ``allowed_hosts`` allows the run's
own target and nothing else: load goes only where the user pointed it. The
controller's pre-flight (`run.preflight`) and the guard in every Locust
process (`locust.allowlist`) both call `matches`, so the two cannot disagree.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

ENV = "LOADTEST_GUARD_HOSTS"  # the effective allowlist, comma-separated, set for every Locust process


def pattern_of(entry: str) -> str:
    """One allowlist entry as a lower-case host or host:port glob."""
    pattern = entry.strip().lower()
    if "://" in pattern:
        pattern = urlsplit(pattern).netloc
    # brackets are IPv6 literals ([::1]:8080) here, never glob character classes
    return "".join({"[": "[[]", "]": "[]]"}.get(ch, ch) for ch in pattern)


def netloc(url: str) -> str:
    """'https://Api.Example.com:8443/x' -> 'api.example.com:8443'."""
    return urlsplit(url).netloc.lower()


def host_port(hostname: str, port: int | None) -> str:
    """The form a blocked destination is named by: host:port, IPv6 in brackets."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{host}:{port}" if port else host


def matches(hostname: str, port: int | None, entries: Sequence[str]) -> bool:
    """True when hostname (or hostname:port) matches an entry."""
    hostname = hostname.lower().strip("[]")
    candidates = {hostname, host_port(hostname, port)}
    return any(fnmatch.fnmatchcase(c, pattern_of(e)) for e in entries if e.strip() for c in candidates)


def url_allowed(url: str, entries: Sequence[str]) -> bool:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    return matches(parts.hostname or "", port, entries)


def entries_for(host: str | None, allowed_hosts: Sequence[str]) -> list[str]:
    """The effective allowlist of a run: the target (checked against allowed_hosts before the run)
    and every allowed_hosts entry."""
    out = [e.strip() for e in allowed_hosts if e.strip()]
    if host and netloc(host) not in out:
        out.append(netloc(host))
    return out


def to_env(entries: Sequence[str]) -> str:
    return ",".join(entries)


def from_env(value: str | None) -> list[str] | None:
    """None when the variable is unset (no guard); a list (maybe empty: nothing allowed) otherwise."""
    if value is None:
        return None
    return [e.strip() for e in value.split(",") if e.strip()]


WEBSOCKET_ENV = "LOADTEST_WEBSOCKET_URL"  # the run's WebSocket endpoint, for every Locust process
WEBSOCKET_PATH = "/ws"  # on the target host when the spec names no websocket_url (the demo target's)


def http_form(url: str) -> str:
    """A ws(s):// URL as the http(s):// URL of the same host and port (for the allowlist)."""
    return re.sub(r"^ws(s?)://", r"http\1://", url)


def websocket_endpoint(websocket_url: str | None, host: str) -> str:
    """The run's WebSocket endpoint: the spec's websocket_url, else the target host's /ws."""
    return websocket_url or ws_url(host, WEBSOCKET_PATH)


def ws_url(host: str, path: str) -> str:
    """The WebSocket URL for `path` on a host: http -> ws, https -> wss (ws and wss stay)."""
    parts = urlsplit(host)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"host: {host!r} is not an http(s):// or ws(s):// URL; pass e.g. http://127.0.0.1:8080")
    return urlunsplit((scheme, parts.netloc, path, "", ""))
