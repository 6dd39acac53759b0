"""Run directories built with the project's own classes, and a reader for the report's numbers."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from loadtest.gate import evaluation, output, sla
from loadtest.stats import histogram
from loadtest.stats.artifact import STATS_SCHEMA_V1, ErrorStats, RunEvent, StatsArtifact, WorkerSample, WorkerStats
from loadtest.stats.recording import RunAggregate, WindowRecorder

T0 = 1_800_000_000.0


def synthetic_artifact(
    seconds: int,
    endpoints: Sequence[str],
    *,
    rps: int = 20,
    slow: dict[str, float] | None = None,
    fail_every: int = 0,
    spawn_s: float = 3.0,
    seed: int = 7,
    events: list[RunEvent] | None = None,
) -> StatsArtifact:
    """Requests recorded by a worker's WindowRecorder and merged by the master's RunAggregate."""
    rnd = random.Random(seed)
    recorder, master = WindowRecorder(), RunAggregate()
    slow = slow or {}
    n = 0
    for second in range(seconds):
        for i in range(rps):
            name = endpoints[(second * rps + i) % len(endpoints)]
            base = slow.get(name, 20.0)
            n += 1
            failed = bool(fail_every) and n % fail_every == 0
            recorder.record("GET", name, rnd.lognormvariate(0, 0.4) * base, failed, now=T0 + second + i / rps)
        master.add_windows(recorder.drain(), users=min(10, int((second + 1) * 10 / spawn_s)))
    total = master.total()
    samples = [
        WorkerSample(
            t=T0 + 3 * (k + 1), cpu_percent=10 + k % 5, loop_lag_ms=1.5, loop_lag_max_ms=3.0,
            runqueue_wait_percent=2.0, users=10,
        )
        for k in range(seconds // 3)
    ]  # fmt: skip
    errors = []
    if fail_every:
        occurrences = n // fail_every
        errors.append(ErrorStats(method="GET", name=endpoints[0], error="HTTPError('500')", occurrences=occurrences))
    return StatsArtifact(
        schema=STATS_SCHEMA_V1,
        run_id="unit-run",
        scenario="unit",
        host="http://127.0.0.1:1",
        bucket_scheme=histogram.BUCKET_SCHEME,
        interval_s=1.0,
        started_at=T0,
        spawn_complete_at=T0 + spawn_s,
        ended_at=T0 + seconds,
        target_users=10,
        planned_rps=float(rps),
        worker_count_expected=1,
        complete=True,
        endpoints=[a.to_stats() for a in master.endpoints()],
        aggregate=total.to_stats(),
        intervals=master.interval_stats(),
        errors=errors,
        workers=[WorkerStats(id="w-1", index=0, state="stopped", lost=False, num_requests=n, samples=samples)],
        events=events or [],
        locust_totals={"num_requests": n, "num_failures": total.num_failures},
    )


def write_run(run_dir: Path, stats: StatsArtifact, sla_doc: dict[str, Any] | None = None) -> Path:
    """A run directory as the controller leaves it: spec.yaml, stats.json and (with an SLA) the verdict."""
    run_dir.mkdir(parents=True)
    (run_dir / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    spec: dict[str, Any] = {"run_id": stats["run_id"], "scenario": stats["scenario"], "users": 10, "duration": 60.0}
    if sla_doc is not None:
        sla_path = run_dir.parent / f"{run_dir.name}-sla.yaml"
        sla_path.write_text(yaml.safe_dump({"version": 1, **sla_doc}), encoding="utf-8")
        spec["sla"] = str(sla_path)
        verdict = evaluation.evaluate(stats, sla.load(sla_path))
        output.write(verdict, run_dir)
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return run_dir


class ReportReader(HTMLParser):
    """The report's tables as data: rows by data-endpoint, cells by data-col, checks, embedded figures."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.endpoints: dict[str, dict[str, str]] = {}
        self.checks: list[dict[str, str]] = []
        self.comparison: dict[tuple[str, str], str] = {}  # (endpoint, metric) -> change
        self.worse: set[tuple[str, str]] = set()  # rows the comparison highlights
        self._row: dict[str, str] | None = None
        self._table: str | None = None
        self._script: str | None = None
        self.scripts: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table == "endpoints" and "data-endpoint" in a:
            self._row = self.endpoints.setdefault(a["data-endpoint"], {})
        elif tag == "tr" and self._table == "checks" and "data-metric" in a:
            self._row = {"metric": a["data-metric"], "subject": a["data-subject"], "class": a.get("class", "")}
            self.checks.append(self._row)
        elif tag == "tr" and self._table == "comparison" and "data-metric" in a:
            self._row = {"key": f"{a['data-endpoint']}|{a['data-metric']}", "class": a.get("class", "")}
            if "worse" in a.get("class", ""):
                self.worse.add((a["data-endpoint"], a["data-metric"]))
        elif tag == "td" and self._row is not None and "data-value" in a:
            col = a.get("data-col") or "measured"
            self._row[col] = a["data-value"]
            if self._table == "comparison":
                endpoint, metric = self._row["key"].split("|")
                self.comparison[(endpoint, metric)] = a["data-value"]
        elif tag == "script" and a.get("id"):
            self._script = a["id"]
            self.scripts[self._script] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tr":
            self._row = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data

    def figures(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.scripts["figures"])
        return result
