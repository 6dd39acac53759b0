"""The allowlist inside every Locust process: a request to any other host fails before it is sent.

The controller checks the target before anything starts (`run.preflight`);
this guard holds for every request the locustfile makes afterwards, including
at import time. Two layers, both installed when ``LOADTEST_GUARD_HOSTS`` is set
(the controller and the chart set it; see `core.hosts`):

- **URLs.** Locust's HttpSession (requests) and FastHttpSession
  (geventhttpclient) refuse an absolute URL whose host is not allowed before
  they open a connection; the request is reported as a failure. Any request to
  another host than the target is named with its host (`name_other_hosts`:
  ``GET http://other:8080/x``), never as the bare path that would hide it.
- **Sockets.** Every TCP connect of the process (redirects, urllib, raw
  sockets, any other client) is checked: a destination is allowed when it is a
  literal allowed address, or when an allowed hostname resolved to it in this
  process (names are pinned as they are resolved, so globs such as
  ``*.staging.example.com`` work). Anything else raises `HostNotAllowed`, a
  ConnectionRefusedError, so every client reports it as a failed request.

Refusals are counted per destination; the worker ships the counts to the master
(`drain`), the stats artifact keeps them (``blocked_hosts``) and the gate FAILs
the run naming each host. What this does not stop: code that deliberately
undoes the guard (ctypes, re-importing a raw socket module). A locustfile is
arbitrary code; on Kubernetes an egress policy is the boundary for that.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from loadtest.core import hosts

logger = logging.getLogger("loadtest.locust.allowlist")


class HostNotAllowed(ConnectionRefusedError):
    """A connection or request to a destination outside the run's allowlist, refused before sending."""


class Guard:
    def __init__(self, entries: Sequence[str]) -> None:
        self.entries = list(entries)
        self._pinned: set[tuple[str, int | None]] = set()  # (ip, port or None = any port)
        self._names: dict[str, str] = {}  # ip -> the first name it was resolved from, for the counts
        self._blocked: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._urls: dict[str, bool] = {}  # scheme://netloc -> allowed: a run talks to few hosts

    # Decisions -----------------------------------------------------------------------------------

    def url_allowed(self, url: str) -> bool:
        """Decided once per scheme://host:port (every request of a run asks; a dict lookup after the first)."""
        origin = _origin(url)
        known = self._urls.get(origin)
        if known is None:
            known = self._urls[origin] = hosts.url_allowed(origin, self.entries)
        return known

    def resolved(self, host: str, port: Any, addresses: Sequence[str]) -> None:
        """A name was resolved in this process: pin its addresses when the name is allowed."""
        number = _port(port)
        if hosts.matches(host, number, self.entries):
            keep = number if not hosts.matches(host, None, self.entries) else None
            self._pinned.update((ip, keep) for ip in addresses)
        else:
            for ip in addresses:
                self._names.setdefault(ip, host)

    def connect_allowed(self, ip: str, port: int) -> bool:
        return (
            (ip, None) in self._pinned
            or (ip, port) in self._pinned
            or hosts.matches(ip, port, self.entries)
        )

    def refuse(self, destination: str) -> HostNotAllowed:
        with self._lock:
            self._blocked[destination] += 1
            first = self._blocked[destination] == 1
        if first:
            logger.error("loadtest allowlist: refused a request to %s (allowed: %s)", destination, self.entries)
        return HostNotAllowed(f"{destination} is not in the run's allowlist {self.entries}: not sent")

    def name_of(self, ip: str, port: int) -> str:
        return hosts.host_port(self._names.get(ip, ip), port)

    def drain(self) -> dict[str, int]:
        """Refusals since the last call, per destination (host:port)."""
        with self._lock:
            out, self._blocked = dict(self._blocked), Counter()
        return out


_guard: Guard | None = None


def _origin(url: str) -> str:
    """'http://host:8080/a/b?q' -> 'http://host:8080', without a full parse."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    return f"{scheme.lower()}://{rest[:end].lower()}"


def guard() -> Guard | None:
    return _guard


def install_from_env(environ: dict[str, str] | None = None) -> Guard | None:
    """Install the guard when LOADTEST_GUARD_HOSTS is set (an empty value allows nothing)."""
    env = os.environ if environ is None else environ
    entries = hosts.from_env(env.get(hosts.ENV))
    if entries is None:
        return None
    return install(entries)


def install(entries: Sequence[str]) -> Guard:
    """Patch name resolution, socket connects and Locust's two HTTP clients (once per process)."""
    global _guard
    if _guard is not None:
        _guard.entries = list(entries)
        return _guard
    _guard = Guard(entries)
    _patch_sockets(_guard)
    _patch_http_clients(_guard)
    return _guard


def _port(port: Any) -> int | None:
    """A port from getaddrinfo's argument or a netloc's tail; None when there is none."""
    try:
        return int(port) if port not in (None, "", 0) else None
    except (TypeError, ValueError):
        return None


def _patch_sockets(g: Guard) -> None:
    import gevent.socket as gsocket

    modules: list[Any] = [socket, gsocket]
    try:
        import gevent._socketcommon as common

        modules.append(common)
    except ImportError:  # pragma: no cover - gevent layout changed
        pass
    for module in modules:
        original = module.getaddrinfo
        if getattr(original, "_loadtest_guarded", False):
            continue
        module.getaddrinfo = _resolving(g, original)

    classes = {socket.socket, gsocket.socket}
    for cls in classes:
        for method in ("connect", "connect_ex"):
            original = getattr(cls, method)
            if not getattr(original, "_loadtest_guarded", False):
                setattr(cls, method, _connecting(g, original))


def _resolving(g: Guard, original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        results = original(host, port, *args, **kwargs)
        if isinstance(host, bytes):
            host = host.decode("idna")
        if isinstance(host, str):
            g.resolved(host, port, [r[4][0] for r in results])
        return results

    getaddrinfo._loadtest_guarded = True  # type: ignore[attr-defined]
    return getaddrinfo


def _connecting(g: Guard, original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            ip, port = str(address[0]), int(address[1])
            if not g.connect_allowed(ip, port):
                raise g.refuse(g.name_of(ip, port))
        return original(self, address, *args, **kwargs)

    connect._loadtest_guarded = True  # type: ignore[attr-defined]
    return connect


def _patch_http_clients(g: Guard) -> None:
    """URL-level refusal in Locust's HttpSession (requests) and FastHttpSession (geventhttpclient)."""
    import requests
    from locust.contrib.fasthttp import LocustUserAgent

    def refused_url(url: str) -> HostNotAllowed | None:
        if not url.lower().startswith(("http://", "https://")) or g.url_allowed(url):
            return None
        parts = urlsplit(url)
        return g.refuse(hosts.host_port(parts.hostname or "", _port(parts.netloc.rpartition(":")[2])))

    class RequestRefused(requests.exceptions.ConnectionError):
        """HttpSession reports a requests ConnectionError as a failed request, never sending it."""

    session_request = requests.Session.request

    def guarded_session_request(self: Any, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        error = refused_url(str(url))
        if error is not None:
            raise RequestRefused(str(error))
        return session_request(self, method, url, *args, **kwargs)

    requests.Session.request = guarded_session_request  # type: ignore[method-assign]

    urlopen = LocustUserAgent.urlopen

    def guarded_urlopen(self: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        error = refused_url(str(url))
        if error is not None:
            raise error  # FastHttpSession turns a ConnectionRefusedError into a failed request
        return urlopen(self, url, *args, **kwargs)

    LocustUserAgent.urlopen = guarded_urlopen  # type: ignore[method-assign]



def name_other_hosts(environment: Any) -> None:
    """A request to another host than the target is named with that host, whatever client sent it.

    Wraps the environment's request event, so every listener (Locust's stats, our windows)
    sees the same name: ``http://other:8080/x`` instead of the bare ``/x`` that would hide it
    (absolute URLs, redirects to another host, an explicit name= on such a request).
    """
    hook = environment.events.request
    fire = hook.fire
    base: dict[str, str] = {}  # environment.host -> its netloc (the host arrives with the first spawn)

    def fire_named(*args: Any, **kwargs: Any) -> Any:
        url, name = kwargs.get("url"), kwargs.get("name")
        if isinstance(url, str) and isinstance(name, str) and "://" in url and "://" not in name:
            host = str(environment.host or "")
            if host not in base:
                base[host] = hosts.netloc(host)
            origin = _origin(url)
            scheme, _, netloc = origin.partition("://")
            if base[host] and netloc != base[host] and scheme in ("http", "https", "ws", "wss"):
                kwargs["name"] = origin + name if name.startswith("/") else f"{origin} {name}"
        return fire(*args, **kwargs)

    hook.fire = fire_named
