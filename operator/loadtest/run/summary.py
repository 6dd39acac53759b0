"""The end-of-run summary table, computed from the exact stats artifact."""

from __future__ import annotations

import math

from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats, StatsArtifact
from loadtest.stats.recording import in_aggregate


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _row(e: EndpointStats, seconds: float) -> list[str]:
    h = histogram.from_pairs(e["histogram"])
    n = e["num_requests"]
    fail = e["num_failures"]
    return [
        (f"{e['method']} {e['name']}").strip(),
        str(n),
        f"{fail} ({fail / n * 100:.1f}%)" if n else "0",
        _ms(histogram.percentile(h, 0.50)),
        _ms(histogram.percentile(h, 0.95)),
        _ms(histogram.percentile(h, 0.99)),
        _ms(e["max_response_time_ms"]),
        f"{n / seconds:.1f}" if seconds > 0 else "-",
    ]


def render(stats: StatsArtifact) -> str:
    start, end = stats.get("started_at"), stats.get("ended_at")
    seconds = (end - start) if start and end else 0.0
    header = ["endpoint", "requests", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms", "req/s"]
    rows = [_row(e, seconds) for e in stats["endpoints"]]
    rows.append(_row(stats["aggregate"], seconds))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    rule = "-" * len(fmt(header))
    lines = [fmt(header), rule, *[fmt(r) for r in rows[:-1]], rule, fmt(rows[-1])]
    planned = stats.get("planned_rps")
    steady = steady_state_rps(stats)
    if planned and steady is not None:
        rate, window = steady
        lines.append(
            f"steady state: {rate:.1f} req/s over {window:.0f} s after every user spawned, "
            f"{rate / planned * 100:.0f}% of the planned {planned:.1f} req/s (users / mean wait"
            + (f" x {per_task:.2f} requests per task)" if (per_task := stats.get("requests_per_task")) else ")")
        )
    return "\n".join(lines)


def steady_state_rps(stats: StatsArtifact) -> tuple[float, float] | None:
    """Requests per second over the whole 1-s windows between the end of spawning and the stop.

    Ramp-up and the stop are excluded so the figure compares with the planned
    rate (users / mean wait), which only holds once every user is running.
    """
    spawned, ended = stats.get("spawn_complete_at"), stats.get("ended_at")
    if spawned is None or ended is None:
        return None
    step = stats["interval_s"]
    first = math.ceil(spawned / step) * step
    if "windows" in stats:  # v2: the window index has every window's request count
        rows = [(float(r[0]), int(r[2])) for r in stats["windows"]["index"]]
    else:
        rows = [
            (float(i["t"]), sum(int(e["num_requests"]) for e in i["endpoints"] if in_aggregate(e["method"])))
            for i in stats["intervals"]
        ]
    steady = [(t, n) for t, n in rows if t >= first and t + step <= ended]
    if not steady:
        return None
    requests = sum(n for _, n in steady)
    span = (max(t for t, _ in steady) + step) - first
    return requests / span, span
