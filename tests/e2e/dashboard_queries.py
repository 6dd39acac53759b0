"""Every query of every dashboard, with its template variables substituted the way Grafana would."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from loadtest.metrics.prometheus import PrometheusServer

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "charts" / "loadtest" / "dashboards").glob("*.json"))


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str
    instant: bool


def panel_queries() -> list[PanelQuery]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append(PanelQuery(path.stem, panel["title"], target["expr"], bool(target.get("instant"))))
    return out


def regex_value(value: str) -> str:
    """A literal inside a PromQL regex string: regex metacharacters escaped, the backslash doubled."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", value)


@dataclass(frozen=True)
class DatasourceRef:
    dashboard: str
    panel: str
    ref: object  # a panel's or a target's "datasource" field, as written in the JSON


def datasource_refs() -> list[DatasourceRef]:
    """Every panel's and every target's datasource reference, to check each follows $datasource."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
            out += [DatasourceRef(path.stem, panel["title"], ref) for ref in refs]
    return out


def substitute_datasource(ref: object, uid: str) -> object:
    """What Grafana resolves a datasource reference to once $datasource is set to `uid`."""
    text = json.dumps(ref)
    return json.loads(text.replace("${datasource}", uid).replace("$datasource", uid))


def substitute(
    expr: str, *, run_id: str, scenario: str, rate_interval_s: int, range_s: int, endpoint: str | None = None
) -> str:
    """$run_id / $scenario as selected, $endpoint as "All" (.*) or one selected name, Grafana's
    interval macros as given. A selected value is regex-escaped as Grafana does for a multi-value
    variable (the endpoint variable is multi-select with "All")."""
    values = {
        "run_id": regex_value(run_id),
        "scenario": regex_value(scenario),
        "endpoint": ".*" if endpoint is None else regex_value(endpoint),
        "__rate_interval": f"{rate_interval_s}s",
        "__range": f"{range_s}s",
    }
    done = re.sub(r"\$\{?(__rate_interval|__range|run_id|scenario|endpoint)\}?", lambda m: values[m.group(1)], expr)
    assert "$" not in done, f"unsubstituted variable in {done}"
    return done


def empty_panels(
    prom: PrometheusServer,
    *,
    run_id: str,
    scenario: str,
    start: float,
    end: float,
    scrape_interval_s: float,
    endpoint: str | None = None,
) -> list[str]:
    """Panel queries that return no series: range queries over [start, end], instant ones at end."""
    rate_interval_s = max(4 * round(scrape_interval_s), 4)  # Grafana's $__rate_interval: >= 4 scrapes
    range_s = int(end - start) + 1
    step = max(1.0, scrape_interval_s)
    empty = []
    for q in panel_queries():
        expr = substitute(
            q.expr,
            run_id=run_id,
            scenario=scenario,
            rate_interval_s=rate_interval_s,
            range_s=range_s,
            endpoint=endpoint,
        )
        found = len(prom.query(expr, at=end)) if q.instant else len(prom.query_range(expr, start, end, step))
        if not found:
            empty.append(f"{q.dashboard} / {q.panel}: {expr}")
    return empty
