"""Serving /metrics fast enough for a gevent master: row families, a text encoder, a WSGI server.

Why not prometheus_client's own exposition: with 500 endpoints the run
exports ~50,000 samples (86 buckets each), and prometheus_client formats
every sample separately (sorting and escaping its labels): ~0.3 s of pure
Python per scrape, during which the gevent master handles no worker message.
`RowFamily` keeps one row per series (label values and value, or bucket
counts) and renders the text format with each series' labels escaped once;
it is still a regular `prometheus_client` Metric, whose `.samples` are
materialised on demand, so `CollectorRegistry.get_sample_value`,
`generate_latest` and OpenMetrics encoders see exactly the same data. Any
other family in the registry is encoded by prometheus_client itself.
"""

from __future__ import annotations

import functools
import gzip
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from loadtest.metrics.buckets import LE_LABELS

# What encode_text writes. (prometheus_client's CONTENT_TYPE_LATEST names its newer 1.0.0 variant.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 1  # level 9 (gzip's default) costs ~10x the time for ~1.3x smaller scrapes
SERVER_POLL_S = 0.2  # how quickly stop() is noticed by serve_forever()
STOP_TIMEOUT_S = 10.0


_LABEL_ESCAPES = str.maketrans({"\\": r"\\", "\n": r"\n", '"': r"\""})  # text format 0.0.4


@functools.lru_cache(maxsize=16384)  # ~10 label sets per endpoint; the same ones every scrape
def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join([f'{k}="{v.translate(_LABEL_ESCAPES)}"' for k, v in zip(names, values, strict=True)])


_LE_TAILS = tuple(f'{le}"}} ' for le in LE_LABELS)  # the end of each bucket line before its count


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else str(floatToGoString(value))  # type: ignore[no-untyped-call]


class HistogramSeries:
    """One histogram series: label values, cumulative counts per LE_LABELS bucket, exact sum.

    Its text is rendered once and kept, so a series that did not change since
    the last scrape costs nothing to render again when the caller reuses it.
    """

    __slots__ = ("values", "counts", "sum", "_text")

    def __init__(self, values: tuple[str, ...], counts: Sequence[int], sum_value: float) -> None:
        self.values = values
        self.counts = counts
        self.sum = sum_value
        self._text: tuple[str, str] | None = None  # (family name, text)

    def text(self, name: str, labelnames: tuple[str, ...]) -> str:
        if self._text is None or self._text[0] != name:
            labels = _labels(labelnames, self.values)
            bucket = f'{name}_bucket{{{labels},le="'
            lines = [f"{bucket}{le}{n}\n" for le, n in zip(_LE_TAILS, self.counts, strict=True)]
            lines.append(f"{name}_count{{{labels}}} {self.counts[-1]}\n")
            lines.append(f"{name}_sum{{{labels}}} {_number(self.sum)}\n")
            self._text = (name, "".join(lines))
        return self._text[1]


class RowFamily(Metric):
    """A counter, gauge or histogram family held as rows; `.samples` is built only when read."""

    def __init__(self, name: str, documentation: str, typ: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, typ)
        self.labelnames = tuple(labelnames)
        self.rows: list[tuple[tuple[str, ...], float]] = []
        self.histograms: list[HistogramSeries] = []

    # Metric.__init__ assigns `samples = []`; a property with a setter keeps that working.
    @property
    def samples(self) -> list[Sample]:
        return list(self._samples())

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:
            raise ValueError("RowFamily holds rows; add them with add() or add_histogram()")

    def add(self, values: tuple[str, ...], value: float) -> None:
        self.rows.append((values, value))

    def add_histogram(self, series: HistogramSeries) -> None:
        self.histograms.append(series)

    def _sample_name(self) -> str:
        return f"{self.name}_total" if self.type == "counter" else self.name

    def _samples(self) -> Iterator[Sample]:
        for values, value in self.rows:
            yield Sample(self._sample_name(), dict(zip(self.labelnames, values, strict=True)), value)
        for series in self.histograms:
            labels = dict(zip(self.labelnames, series.values, strict=True))
            for le, n in zip(LE_LABELS, series.counts, strict=True):
                yield Sample(f"{self.name}_bucket", {**labels, "le": le}, n)
            yield Sample(f"{self.name}_count", labels, series.counts[-1])
            yield Sample(f"{self.name}_sum", labels, series.sum)

    def render(self, out: list[str]) -> None:
        """Append this family in the Prometheus text format 0.0.4."""
        exposed = self._sample_name()
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {exposed} {doc}\n# TYPE {exposed} {self.type}\n")
        names = self.labelnames
        out.extend([f"{exposed}{{{_labels(names, values)}}} {_number(value)}\n" for values, value in self.rows])
        out.extend([series.text(self.name, names) for series in self.histograms])


class _Single:
    """A registry-like object holding one family, so prometheus_client can encode it alone."""

    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]


def encode_text(registry: Collector) -> bytes:
    """The whole registry in the Prometheus text format 0.0.4 (RowFamily fast, the rest as usual)."""
    out: list[str] = []
    for metric in registry.collect():
        if isinstance(metric, RowFamily):
            metric.render(out)
        else:
            out.append(generate_latest(_Single(metric)).decode("utf-8"))
    return "".join(out).encode("utf-8")


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(registry: Collector) -> WsgiApp:
    """GET (any path) serves the registry; gzip when the scraper accepts it."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        body = encode_text(registry)
        headers = [("Content-Type", CONTENT_TYPE)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, GZIP_LEVEL)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Scrapes every 2 s would flood the master's log."""


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # under gevent's monkey patching these are greenlets


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


@dataclass
class MetricsServer:
    """A running /metrics endpoint; `stop()` closes the socket and ends its serving thread."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Idempotent: stop accepting, wait for the serving loop to end, release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(STOP_TIMEOUT_S)
        self._server.server_close()


def serve(registry: Collector, host: str, port: int) -> MetricsServer:
    """Serve `registry` at http://host:port/metrics from a background thread (port 0 = a free port).

    Plain wsgiref with a threading mix-in: under gevent's monkey patching the
    threads become greenlets and the sockets cooperative, so it works inside
    the Locust master as well as in an ordinary process.
    """
    server_class = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
    server = make_server(host, port, make_wsgi_app(registry), server_class, _QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SERVER_POLL_S}, name="loadtest-metrics"
    )
    thread.daemon = True
    thread.start()
    return MetricsServer(host=host, port=int(server.server_port), _server=server, _thread=thread)
