"""The master plugin's view of a run as `collector.MetricsSource`, and the /metrics server it starts.

Kept apart from master.py (which never imports it: plugin.py wires the two) so the exporter sees a narrow, documented
interface and the master's bookkeeping stays in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from loadtest.metrics import collector
from loadtest.metrics.collector import RunInfo, SlaLimit, WorkerView
from loadtest.stats.recording import AGGREGATE_NAME, REPORT_INTERVAL_S, RunAggregate

if TYPE_CHECKING:
    from loadtest.gate.sla import Sla
    from loadtest.locust.master import MasterPlugin


class MasterMetricsSource:
    """Implements collector.MetricsSource over the master plugin's live state."""

    def __init__(self, master: MasterPlugin, sla: Sla | None) -> None:
        self.master = master
        self.sla = sla

    @property
    def info(self) -> RunInfo:
        m = self.master
        return RunInfo(
            run_id=m.run_id,
            scenario=m.scenario,
            host=m.environment.host or "",
            target_users=m.target_users,
            git_revision=m.git_revision if m.git_revision != "unknown" else "",
        )

    @property
    def aggregate(self) -> RunAggregate:
        return self.master.aggregate

    @property
    def report_window_s(self) -> float:
        return REPORT_INTERVAL_S

    def runner_state(self) -> str:
        if self.master.finished:
            return "stopped"
        runner = self.master.environment.runner
        return str(runner.state) if runner is not None else "init"

    def user_count(self) -> int:
        runner = self.master.environment.runner
        return int(runner.user_count) if runner is not None else 0

    def target_user_count(self) -> int:
        runner = self.master.environment.runner
        return int(getattr(runner, "target_user_count", 0) or 0)

    def workers(self) -> Sequence[WorkerView]:
        runner = self.master.environment.runner
        clients = getattr(runner, "clients", {})
        views = []
        for wid, track in self.master.workers.items():
            node = clients.get(wid)
            views.append(
                WorkerView(
                    id=wid,
                    state=node.state if node is not None else track.state,
                    cpu_percent=float(node.cpu_usage) if node is not None else track.cpu_percent,
                    memory_bytes=int(node.memory_usage) if node is not None else track.memory_bytes,
                    users=int(node.user_count) if node is not None else track.users,
                    loop_lag_ms=track.loop_lag_ms if track.samples else None,
                    connections=0 if track.gone else track.connections,
                )
            )
        return views

    def verdict(self) -> str | None:
        return self.master.verdict

    def sla_limits(self) -> Sequence[SlaLimit]:
        """Latency and error-ratio limits per exact endpoint name, patterns resolved against the
        endpoints seen so far (a group's limit is shown on each of its endpoints)."""
        if self.sla is None:
            return []
        from loadtest.gate.sla import AggregateThreshold, EndpointThreshold

        names = [(a.method, a.name) for a in self.master.aggregate.endpoints()]
        out: list[SlaLimit] = []
        for _, threshold in self.sla.thresholds():
            if isinstance(threshold, AggregateThreshold):
                targets = [AGGREGATE_NAME]
            elif isinstance(threshold, EndpointThreshold):
                targets = sorted({name for method, name in names if threshold.matches(method, name)})
            else:  # pragma: no cover - the SLA model has only these two kinds
                continue
            for metric, _percent, limit in threshold.latency_limits():
                if metric in ("p50", "p90", "p95", "p99", "max"):
                    out += [SlaLimit(name=n, metric=metric, value=limit.value / 1000.0) for n in targets]
            if threshold.error_rate is not None:
                ratio = threshold.error_rate.value / 100.0
                out += [SlaLimit(name=n, metric="error_ratio", value=ratio) for n in targets]
            elif threshold.success_rate is not None:
                ratio = 1.0 - threshold.success_rate.value / 100.0
                out += [SlaLimit(name=n, metric="error_ratio", value=ratio) for n in targets]
        return out


def start_metrics_server(master: MasterPlugin, sla_path: str, host: str, port: int) -> collector.MetricsServer:
    sla = None
    if sla_path:
        from loadtest.gate import sla as sla_module

        sla = sla_module.load(Path(sla_path))
    registry = CollectorRegistry()
    collector.register(registry, MasterMetricsSource(master, sla))
    return collector.serve(registry, host, port)
