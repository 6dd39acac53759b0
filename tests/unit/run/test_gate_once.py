"""A local run is judged once: the controller takes the master's verdict when it judged these very
stats with this very SLA file, and judges again in every other case."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from loadtest.gate import output
from loadtest.gate.command import run_gate
from loadtest.gate.verdict import unjudged
from loadtest.run import gating
from loadtest.stats import histogram
from loadtest.stats.artifact import STATS_SCHEMA_V1
from loadtest.stats.recording import EndpointAccum

T0 = 1_790_000_000.0


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "r-1"
    directory.mkdir()
    accum = EndpointAccum("GET", "/a")
    for _ in range(200):
        accum.add(10.0, False)
    intervals = [{"t": T0 + i, "users": 1, "endpoints": [accum.to_stats()]} for i in range(3)]
    stats = {
        "schema": STATS_SCHEMA_V1, "run_id": "r-1", "scenario": "s", "host": "http://127.0.0.1:1",
        "bucket_scheme": histogram.BUCKET_SCHEME, "interval_s": 1.0, "started_at": T0, "spawn_complete_at": T0,
        "ended_at": T0 + 3, "target_users": 1, "planned_rps": None, "worker_count_expected": 1, "complete": True,
        "endpoints": [], "aggregate": accum.to_stats(), "intervals": intervals, "errors": [],
        "workers": [{"id": "w", "index": 0, "state": "stopped", "lost": False, "num_requests": 600, "samples": [
            {"t": T0 + i, "cpu_percent": 20.0, "loop_lag_ms": 1.0, "loop_lag_max_ms": 2.0,
             "runqueue_wait_percent": 0.0, "users": 1} for i in range(3)]}],
        "events": [], "locust_totals": {},
    }  # fmt: skip
    (directory / "stats.json").write_text(json.dumps(stats))
    return directory


def _sla(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("version: 1\naggregate:\n  p95: 500\n  min_requests: 1\n")  # this run passes
    return path


def _masters_verdict(run_dir: Path, sla: Path, *, newer: bool = True) -> None:
    """What the master leaves at its end: the gate run with the absolute SLA path it was given,
    its outcome marked (FAIL) so a test can tell the master's verdict from a second judgment."""
    run_gate(run_dir / "stats.json", sla.resolve(), run_dir)
    path = run_dir / output.VERDICT_FILE
    verdict = json.loads(path.read_text())
    path.write_text(json.dumps({**verdict, "outcome": "FAIL", "reason": "the master's"}))
    stamp = (run_dir / "stats.json").stat().st_mtime_ns + (1_000_000 if newer else -1_000_000_000)
    os.utime(path, ns=(stamp, stamp))


def test_the_masters_verdict_is_reused_with_the_path_the_user_gave(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _masters_verdict(run_dir, _sla(tmp_path, "sla.yaml"))
    monkeypatch.chdir(tmp_path)
    code = gating.gate_after_run(run_dir, Path("sla.yaml"), io.StringIO(), gate="sla", scenario="s")
    verdict = json.loads((run_dir / output.VERDICT_FILE).read_text())
    assert (code, verdict["outcome"], verdict["reason"]) == (1, "FAIL", "the master's")
    assert verdict["gate_source"] == "sla.yaml"  # as the user wrote it, not the master's absolute path


@pytest.mark.parametrize("case", ["older than the stats", "another SLA file", "the placeholder", "none"])
def test_anything_but_the_masters_own_verdict_is_judged_again(run_dir: Path, tmp_path: Path, case: str) -> None:
    sla = _sla(tmp_path, "sla.yaml")
    if case == "older than the stats":
        _masters_verdict(run_dir, sla, newer=False)
    elif case == "another SLA file":
        _masters_verdict(run_dir, _sla(tmp_path, "other.yaml"))
    elif case == "the placeholder":
        placeholder = unjudged("r-1", "s", error="the run never finished", gate="sla", gate_source=str(sla), reason="")
        output.reserve(run_dir, placeholder)
    code = gating.gate_after_run(run_dir, sla, io.StringIO(), gate="sla", scenario="s")
    verdict = json.loads((run_dir / output.VERDICT_FILE).read_text())
    assert (code, verdict["outcome"], verdict["gate_source"]) == (0, "PASS", str(sla))
