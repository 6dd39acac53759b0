"""The embedded default, for real: a Locust master and workers as processes against the demo target."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import e2e_runs as runs
import yaml

from loadtest.demo_target.server import DemoTarget

REPORT_INTERVAL_S = 3.0  # Locust workers report to the master every 3 s


def test_two_workers_share_the_load_and_the_master_counts_what_the_target_served(
    demo_target: DemoTarget, tmp_path: Path, permissive_sla: Path
) -> None:
    before = demo_target.served(settle_s=0.5)
    result = runs.run(
        ["--host", demo_target.url, "--scenario", "api_browsing", "--users", "60", "--spawn-rate", "30",
         "--duration", "15s", "--workers", "2", "--sla", str(permissive_sla)],
        tmp_path / "results",
    )  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    served = demo_target.served(settle_s=1.0) - before
    stats = result.stats()

    # every worker sent requests, and the master merged exactly what the workers recorded
    assert len(stats["workers"]) == 2
    assert all(w["num_requests"] > 0 for w in stats["workers"]), stats["workers"]
    total = stats["aggregate"]["num_requests"]
    assert total == sum(w["num_requests"] for w in stats["workers"])
    assert total == stats["locust_totals"]["num_requests"]
    assert stats["complete"] is True

    # the target's own count agrees within one worker report interval of traffic
    seconds = stats["ended_at"] - stats["started_at"]
    tolerance = max(2, total / seconds * REPORT_INTERVAL_S)
    assert abs(served - total) <= tolerance, (served, total, tolerance)

    # histograms and intervals are consistent with the counts
    assert sum(c for _, c in stats["aggregate"]["histogram"]) == total
    assert sum(e["num_requests"] for i in stats["intervals"] for e in i["endpoints"]) == total
    assert {e["name"] for e in stats["endpoints"]} >= {"/api/products/{id}", "/api/auth/login"}

    # the artifacts exist and parse
    run_dir = result.run_dir
    assert run_dir is not None
    spec = yaml.safe_load((run_dir / "spec.yaml").read_text())
    assert spec["users"] == 60 and spec["workers"] == 2 and spec["host"] == demo_target.url
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events][0] == "run_started"
    assert "workers_connected" in {e["event"] for e in events}
    with (run_dir / "locust_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) == total
    assert "locust" in (run_dir / "locust_report.html").read_text().lower()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    report = (run_dir / "report.html").read_text()  # ours: the verdict and the judged window's numbers
    assert 'data-outcome="PASS"' in report
    judged = re.search(r'data-endpoint="Aggregated">\s*<td>Aggregated</td>\s*<td [^>]*data-value="(\d+)"', report)
    assert judged is not None
    assert int(judged.group(1)) == next(c["measured"] for c in verdict["checks"] if c["metric"] == "requests")
    assert verdict["outcome"] == "PASS"
    assert "<testsuite" in (run_dir / "junit.xml").read_text()
    assert "steady state" in result.stdout and f"artifacts: {run_dir}" in result.stdout.replace("//", "/")

    # nothing the run started is still alive
    assert result.descendants, "the controller should have had children"
    assert result.survivors() == []


def test_ctrl_c_mid_run_stops_cleanly_keeps_artifacts_and_leaves_no_process(
    demo_target: DemoTarget, tmp_path: Path, permissive_sla: Path
) -> None:
    artifacts = tmp_path / "results"
    proc = runs.start(
        ["--host", demo_target.url, "--scenario", "api_browsing", "--users", "20", "--spawn-rate", "20",
         "--duration", "5m", "--workers", "2", "--sla", str(permissive_sla), "--artifacts-dir", str(artifacts)]
    )  # fmt: skip
    result = runs.watch(
        proc, artifacts, timeout_s=120, interrupt_when=lambda s: s.get("state") == "running" and s["requests"] > 20
    )
    assert result.code == 130, result.stderr[-3000:]
    assert result.run_dir is not None
    stats = result.stats()
    assert stats["aggregate"]["num_requests"] > 20
    assert (result.run_dir / "locust_report.html").stat().st_size > 0
    assert result.run_dir.name in (result.run_dir / "report.html").read_text()  # ours, on the Ctrl-C path too
    events = [json.loads(line)["event"] for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert "interrupted" in events and events[-1] == "run_finished"
    assert len(result.descendants) >= 3  # master + 2 workers were running
    assert result.survivors() == []
