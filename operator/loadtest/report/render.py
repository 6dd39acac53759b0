"""report.html: a Jinja2 template filled from a Summary, with plotly.js embedded.

Self-contained: the page makes no network request when opened (CI artifacts, air-gapped
clusters). plotly.js comes from the pinned `plotly` Python package (`get_plotlyjs`), gzip-
compressed and base64-encoded into the page (1.5 MB instead of 4.8 MB); the page inflates it
with the browser's own DecompressionStream. The tables and sparklines are plain HTML and SVG,
readable even where scripts are blocked.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import json
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from loadtest.core.fileio import gc_paused
from loadtest.gate import output
from loadtest.report import figures, model
from loadtest.report.model import Comparison, Summary, checks, compare, load_run, summarize

REPORT_FILE = "report.html"
SPARK_W, SPARK_H = 120, 24


@functools.cache
def plotly_bundle() -> tuple[str, str]:
    """(plotly.js version, gzip+base64 of plotly.min.js), computed once per process."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs().encode("utf-8")
    version = metadata.version("plotly")
    return version, base64.b64encode(gzip.compress(js, compresslevel=6, mtime=0)).decode("ascii")


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("loadtest.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = ms
    env.filters["num"] = num
    env.filters["pct"] = pct
    env.filters["when"] = when
    env.filters["measured"] = output.measured_text
    env.filters["check_label"] = output.check_label
    env.globals["sparkline"] = sparkline
    return env


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def when(value: float | None) -> str:
    if value is None:
        return "–"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sparkline(values: Sequence[float | None]) -> str:
    """An inline SVG path of the values (gaps where a bucket had no requests); '' when empty."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    top = max(present) or 1.0
    step = SPARK_W / max(1, len(values) - 1)
    path, pen_down = [], False
    for i, v in enumerate(values):
        if v is None:
            pen_down = False
            continue
        x, y = i * step, SPARK_H - 2 - (v / top) * (SPARK_H - 4)
        path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return (
        f'<svg class="spark" width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" '
        f'role="img" aria-label="p95 over the run, max {top:.3g} ms">'
        f'<path d="{" ".join(path)}" fill="none" stroke="#1f77b4" stroke-width="1.2"/></svg>'
    )


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<' at all, so nothing in a request
    name can close the element or open a comment (JSON reads \\u003c back as '<')."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _spec_rows(spec: dict[str, Any]) -> list[tuple[str, str]]:
    keep = (
        "scenario", "backend", "host", "users", "spawn_rate", "duration", "shape", "shape_options", "workers",
        "locustfiles", "tags", "exclude_tags", "sla", "allowed_hosts", "namespace", "stop_timeout",
    )  # fmt: skip
    rows = []
    for key in keep:
        value = spec.get(key)
        if value in (None, [], {}, ""):
            continue
        rows.append((key, value if isinstance(value, str) else json.dumps(value)))
    return rows


def render(summary: Summary, comparison: Comparison | None = None) -> str:
    run = summary.run
    figs = figures.time_series(summary)
    dist = figures.distributions(summary)
    if dist is not None:
        figs["fig-distribution"] = dist
    if comparison is not None:
        figs["fig-trend"] = figures.trend(summary, comparison)
    version, bundle = plotly_bundle()
    stats = run.stats
    uname = os.uname()  # not platform.platform(): that may start a process
    environment = [
        ("loadtest", _version("loadtest")),
        ("Locust", _version("locust")),
        ("plotly.js (embedded)", version),
        ("report built on", f"{uname.nodename} · Python {sys.version.split()[0]} · {uname.sysname} {uname.release}"),
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            run=run,
            s=summary,
            stats=stats,
            verdict=run.verdict,
            checks=checks(run),
            spec_rows=_spec_rows(run.spec),
            environment=environment,
            comparison=comparison,
            deltas=comparison.deltas if comparison else {},
            figure_ids=list(figs),
            figures_json=_json_for_script(figs),
            plotly_b64=bundle,
            generated=when(dt.datetime.now(dt.UTC).timestamp()),
            num=num,
            worse_latency=model.WORSE_LATENCY_PERCENT,
            worse_errors=model.WORSE_ERROR_POINTS,
            worse_rps=model.WORSE_THROUGHPUT_PERCENT,
        )
    )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def build(run_dir: Path, baseline_dirs: Sequence[Path] = (), out: Path | None = None) -> Path:
    """Read the run (and its baselines), write the report atomically; returns its path."""
    with gc_paused():  # the artifacts are large and acyclic: freed by reference counting on return
        summary = summarize(load_run(run_dir))
        baselines = [summarize(load_run(d), detail=False) for d in baseline_dirs]
        html = render(summary, compare(summary, baselines))
    path = out or run_dir / REPORT_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
