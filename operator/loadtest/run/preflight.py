"""Checks before any load is sent: the target is allowed, and it answers.

The allowlist exists so that a typo cannot load-test production: when
`allowed_hosts` is set, a host that matches none of its entries is refused
before anything starts.
"""

from __future__ import annotations

import base64
import http.client
import math
import os
import urllib.error
import urllib.parse
import urllib.request

from loadtest.core import hosts
from loadtest.core.errors import PreflightError, SpecError

PREFLIGHT_TIMEOUT_S = 5.0  # one request; a slow staging box still answers within this


def check_allowed(host: str, allowed_hosts: list[str]) -> None:
    """Entries are hostnames, host:port, glob patterns (*.staging.example.com) or URLs (core.hosts)."""
    if not allowed_hosts or hosts.url_allowed(host, allowed_hosts):
        return
    raise PreflightError(
        f"host = {host!r} is not in allowed_hosts {allowed_hosts}",
        hint="nothing was started; fix the host, or add it to allowed_hosts (LOADTEST_ALLOWED_HOSTS) on purpose",
    )


def check_reachable(host: str, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> int:
    """One GET to the host's base URL. Any HTTP answer (even 404 or 500) means reachable."""
    request = urllib.request.Request(host + "/", method="GET", headers={"User-Agent": "loadtest-preflight"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PreflightError(
            f"host = {host!r} is unreachable: {reason}",
            hint="no worker was started; check the address, VPN or port (a pre-flight GET / must get any HTTP answer)",
        ) from exc


WEBSOCKET_ANSWERS = {101, 400, 401, 403, 426}  # a WebSocket endpoint answered (auth needed, bad handshake ...)


def check_websocket(url: str, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> int:
    """An upgrade request to the WebSocket endpoint, without credentials: the endpoint answers it
    (101, or 401/403 for want of a token ...); 404, another status or no answer refuses the run."""
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "wss" else http.client.HTTPConnection
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
               "User-Agent": "loadtest-preflight"}  # fmt: skip
    hint = "no worker was started; check websocket_url (--websocket-url, LOADTEST_WEBSOCKET_URL; default: host + /ws)"
    try:
        connection = connection_class(parts.netloc, timeout=timeout_s)
        try:
            connection.request("GET", parts.path or "/", headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        raise PreflightError(f"websocket_url = {url!r} is unreachable: {exc}", hint=hint) from exc
    if status not in WEBSOCKET_ANSWERS:
        what = "nothing there" if status == 404 else "not a WebSocket endpoint"
        said = f"websocket_url = {url!r} answered HTTP {status} to a WebSocket handshake: {what}"
        raise PreflightError(said, hint=hint)
    return status


FILES_RESERVE = 256  # open files a process needs besides its connections (libraries, logs, its master)


def open_files_needed(connections: int, workers: int, target_processes: int) -> int:
    """Open files the busiest process needs: a worker's share of the WebSocket connections, or (for
    the bundled demo target, `target_processes` > 0) a target process's share; plus the reserve."""
    share = math.ceil(connections / workers)
    if target_processes:
        share = max(share, math.ceil(connections / target_processes))
    return share + FILES_RESERVE


def file_limit(connections: int, workers: int, target_processes: int, soft: int, hard: int, what: str) -> int:
    """The soft limit on open files the run needs (at least `soft`; children inherit it), or a
    refusal before anything starts when even the hard limit is too low. `hard` < 0: unlimited."""
    need = open_files_needed(connections, workers, target_processes)
    if need <= soft:
        return soft
    if 0 <= hard < need:
        spread = math.ceil(connections / max(1, hard - FILES_RESERVE))
        raise SpecError(
            f"{what} plan {connections:,} WebSocket connections: {need:,} open files in one process "
            f"({connections:,} over {workers} workers" + (f" and {target_processes} demo target processes"
            if target_processes else "") + f"), but this machine allows {hard:,} (the hard limit, `ulimit -Hn`)",
            hint=f"raise the hard limit (ulimit -Hn, systemd LimitNOFILE, a container's nofile), or spread the "
            f"connections over at least {spread} processes: --workers, and --demo-workers for the demo target",
        )  # fmt: skip
    return need
