"""Plotly figures as plain dicts (the JSON plotly.js reads), built from a report Summary.

Plain dicts rather than plotly.graph_objects: the figure schema is the same, and skipping the
Python-side validation keeps a 1 h, 50-endpoint report well under a second to build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtest.report.model import AGGREGATE, Comparison, Summary, Timing

Figure = dict[str, Any]
VISIBLE_ENDPOINTS = 8  # latency distributions and trends: the busiest are shown, the rest one click away

WARMUP_FILL = "rgba(128, 128, 128, 0.15)"
LIMIT_LINE = {"color": "#d62728", "dash": "dash", "width": 1.5}


def _markers(t: Timing) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The warm-up shaded (run start to first judged window) and the abort point marked."""
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if t.judged_start is not None and t.judged_start > t.t0:
        shapes.append(
            {
                "type": "rect", "xref": "x", "yref": "paper", "x0": 0, "x1": round(t.judged_start - t.t0, 3),
                "y0": 0, "y1": 1, "fillcolor": WARMUP_FILL, "line": {"width": 0}, "layer": "below",
            }
        )  # fmt: skip
        notes.append(_note(0, "warm-up (not judged)", "left"))
    if t.abort_at is not None:
        x = round(t.abort_at - t.t0, 3)
        shapes.append(
            {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": LIMIT_LINE}
        )
        notes.append(_note(x, "aborted", "right"))
    return shapes, notes


def _note(x: float, text: str, anchor: str) -> dict[str, Any]:
    return {"x": x, "y": 1, "xref": "x", "yref": "paper", "text": text, "showarrow": False,
            "xanchor": anchor, "yanchor": "bottom", "font": {"size": 11, "color": "#666"}}  # fmt: skip


def _title(text: str) -> dict[str, Any]:
    """Left-aligned, so the plot's tool bar on the right never covers it."""
    return {"text": text, "font": {"size": 15}, "x": 0.01, "xanchor": "left"}


def _layout(title: str, y_title: str, summary: Summary, **extra: Any) -> dict[str, Any]:
    shapes, notes = _markers(summary.timing)
    return {
        "title": _title(title),
        "xaxis": {"title": {"text": "seconds since the run started"}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "shapes": shapes,
        "annotations": notes,
        "height": 300,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
        "legend": {"orientation": "h", "y": -0.25},
        "hovermode": "x unified",
        **extra,
    }


def _line(name: str, x: Sequence[float | str], y: Sequence[Any], **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, **extra}


def _hline(name: str, x: list[float], value: float) -> dict[str, Any]:
    ends = [x[0], x[-1]] if x else [0, 1]
    return _line(name, ends, [value, value], line=LIMIT_LINE, hoverinfo="skip")


def time_series(summary: Summary) -> dict[str, Figure]:
    """The run's figures, keyed by element id."""
    s = summary.series
    if s is None or not s.x:
        return {}
    figs: dict[str, Figure] = {}
    step = f"{s.step_s:g} s" if s.step_s != 1 else "1 s"
    rps = [_line("requests/s", s.x, [round(v, 3) for v in s.rps])]
    planned = summary.run.stats["planned_rps"] if summary.run.stats else None
    if planned:
        rps.append(_hline(f"planned {planned:.1f} req/s", s.x, round(planned, 3)))
    figs["fig-throughput"] = {"data": rps, "layout": _layout(f"Throughput ({step} windows)", "req/s", summary)}
    figs["fig-latency"] = {
        "data": [_line(name, s.x, values) for name, values in (("p50", s.p50), ("p95", s.p95), ("p99", s.p99))],
        "layout": _layout(f"Response time percentiles, exact per {step} window", "ms", summary),
    }
    failures = [
        {"type": "bar", "name": label, "x": s.x, "y": [round(v, 3) for v in values]}
        for label, values in s.failures.items()
    ]
    if not failures:  # an empty chart still says "no failures", with the axis to prove it
        failures = [{"type": "bar", "name": "failures/s", "x": s.x, "y": [0] * len(s.x)}]
    figs["fig-failures"] = {
        "data": failures,
        "layout": _layout("Failures per second, by endpoint", "failures/s", summary, barmode="stack"),
    }
    figs["fig-users"] = {
        "data": [_line("users", s.x, s.users, line={"shape": "hv"})],
        "layout": _layout("Users", "users", summary),
    }
    limits = summary.limits
    for fig_id, title, attr, unit, limit in (
        ("fig-cpu", "Worker CPU (100 % = one core)", "cpu_percent", "%", limits.max_cpu_percent),
        ("fig-lag", "Worker event-loop lag (p90 of 100 ms probes)", "loop_lag_ms", "ms", limits.max_loop_lag_ms),
        ("fig-runqueue", "Worker run-queue wait", "runqueue_wait_percent", "%", limits.max_runqueue_wait_percent),
    ):
        data = [
            _line(w.id[:18] + (" (lost)" if w.lost else ""), w.x, [round(v, 2) for v in getattr(w, attr)])
            for w in summary.workers
        ]
        all_x = [x for w in summary.workers for x in w.x] or s.x
        data.append(_hline(f"limit {limit:g} {unit}", [min(all_x), max(all_x)], limit))
        figs[fig_id] = {"data": data, "layout": _layout(title, unit, summary)}
    return figs


def distributions(summary: Summary) -> Figure | None:
    """Cumulative latency distribution per endpoint over the judged window, from the exact histograms."""
    rows = sorted([summary.aggregate, *summary.rows], key=lambda r: -r.requests)
    rows = [r for r in rows if r.hist]
    if not rows:
        return None
    data = []
    for rank, row in enumerate(rows):
        total = sum(row.hist.values())
        keys = sorted(row.hist)
        seen, ys = 0, []
        for k in keys:
            seen += row.hist[k]
            ys.append(round(seen / total * 100.0, 3))
        trace = _line(row.label, keys, ys, line={"shape": "hv"})
        if rank >= VISIBLE_ENDPOINTS and row.key != AGGREGATE:
            trace["visible"] = "legendonly"
        data.append(trace)
    layout = {
        "title": _title("Latency distribution over the judged window (cumulative)"),
        "xaxis": {"title": {"text": "response time (ms)"}, "type": "log"},
        "yaxis": {"title": {"text": "% of requests at or below"}, "range": [0, 100.5]},
        "height": 420,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
        "legend": {"orientation": "v"},
    }
    return {"data": data, "layout": layout}


def trend(summary: Summary, comparison: Comparison) -> Figure:
    """p95 across the baseline runs and this one, for the aggregate and the busiest endpoints."""
    keys = sorted(comparison.trend_p95, key=lambda k: -summary.by_key[k].requests)
    data = []
    for rank, key in enumerate(keys):
        trace = _line(summary.by_key[key].label, comparison.trend_runs, comparison.trend_p95[key], mode="lines+markers")
        if rank > VISIBLE_ENDPOINTS and key != AGGREGATE:
            trace["visible"] = "legendonly"
        data.append(trace)
    layout = {
        "title": _title("p95 across earlier runs and this one"),
        "xaxis": {"title": {"text": "run"}, "type": "category"},
        "yaxis": {"title": {"text": "p95 (ms)"}, "rangemode": "tozero"},
        "height": 360,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 80},
        "legend": {"orientation": "v"},
    }
    return {"data": data, "layout": layout}
