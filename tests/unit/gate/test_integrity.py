"""Run checks that keep a verdict honest: refused workers, the allowlist, lost and resumed workers,
the baseline gate, and verdict files that survive a full disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stats_builders import T0, artifact, endpoint, only, sla, worker

from loadtest.core.exitcodes import ExitCode
from loadtest.gate import output
from loadtest.gate import sla as sla_module
from loadtest.gate.evaluation import evaluate
from loadtest.gate.verdict import unjudged

STEADY = {T0 + i: [endpoint("/a", [10.0] * 30)] for i in range(1, 6)}
PERMISSIVE = {"aggregate": {"error_rate": "< 5"}}


def test_a_refused_worker_fails_the_run_even_when_every_threshold_passed() -> None:
    stats = artifact(STEADY)
    stats["worker_auth"] = True
    stats["refused_workers"] = [
        {"id": "rogue_1", "t": T0 + 3, "reason": "joined without the run's proof", "messages": 4}
    ]
    verdict = evaluate(stats, sla(PERMISSIVE))
    check = only(verdict.checks, "workers_refused")
    assert (verdict.outcome, check.result, check.measured) == ("FAIL", "fail", 1.0)
    assert "rogue_1 (joined without the run's proof)" in check.reason and "never merged" in check.reason


def test_authenticated_workers_pass_and_unauthenticated_ones_warn() -> None:
    stats = artifact(STEADY)
    stats["worker_auth"], stats["refused_workers"] = True, []
    assert only(evaluate(stats, sla(PERMISSIVE)).checks, "workers_refused").result == "pass"
    stats["worker_auth"] = False
    verdict = evaluate(stats, sla(PERMISSIVE))
    assert only(verdict.checks, "workers_refused").result == "warn" and verdict.outcome == "PASS"


def test_requests_blocked_by_the_allowlist_fail_the_run_naming_each_host() -> None:
    stats = artifact(STEADY)
    stats["allowlist"] = ["127.0.0.1:8080"]
    stats["blocked_hosts"] = {"evil.example.com:443": 7, "127.0.0.2:9": 64}
    verdict = evaluate(stats, sla(PERMISSIVE))
    check = only(verdict.checks, "allowlist")
    assert (verdict.outcome, check.result, check.measured) == ("FAIL", "fail", 71.0)
    assert check.reason.index("127.0.0.2:9 (64)") < check.reason.index("evil.example.com:443 (7)")


def test_artifacts_older_than_the_integrity_fields_get_no_such_checks() -> None:
    metrics = {c.metric for c in evaluate(artifact(STEADY), sla(PERMISSIVE)).checks}
    assert not metrics & {"workers_refused", "allowlist"}


def test_a_worker_that_came_back_is_reported_as_resumed_not_as_missing_requests() -> None:
    back = worker("w2", [20.0, 20.0])
    back["lost"], back["lost_at"], back["resumed_at"] = True, T0 + 2, T0 + 9
    check = only(evaluate(artifact(STEADY, workers=[worker("w1", [20.0]), back]), sla(PERMISSIVE)).checks,
                 "workers_lost")  # fmt: skip
    assert check.result == "inconclusive" and check.measured == 1.0
    assert "w2 silent from 2 s to 9 s" in check.reason and "their reports were merged" in check.reason
    assert "missing" not in check.reason


def test_all_workers_lost_says_the_run_stopped_early() -> None:
    gone = worker("w1", [20.0], lost=True)
    gone["lost_at"] = T0 + 4
    stats = artifact(STEADY, workers=[gone], events=[
        {"t": T0 + 4, "kind": "worker_lost", "detail": "w1 stopped reporting during the run"},
        {"t": T0 + 4, "kind": "all_workers_lost",
         "detail": "every worker was lost; the run stopped early, 4 s after it started"},
    ])  # fmt: skip
    check = only(evaluate(stats, sla(PERMISSIVE)).checks, "workers_lost")
    assert check.result == "inconclusive"
    assert "w1 at 4 s" in check.reason and "the run stopped early" in check.reason


def test_the_baseline_gate_fails_on_errors_and_needs_requests() -> None:
    base = sla_module.baseline()
    failing = {T0 + i: [endpoint("/a", [10.0] * 30, failures=30)] for i in range(1, 6)}
    verdict = evaluate(artifact(failing), base, gate="baseline", gate_source="no SLA file")
    assert verdict.outcome == "FAIL" and verdict.gate == "baseline"
    assert only(verdict.checks, "error_rate").measured == 100.0
    assert evaluate(artifact({}), base).outcome == "INCONCLUSIVE"
    assert evaluate(artifact(STEADY), base).outcome == "PASS"
    assert "baseline gate (no SLA file)" in output.render_table(
        evaluate(artifact(STEADY), base, gate="baseline", gate_source="no SLA file")
    )


def test_a_broken_run_has_a_verdict_with_its_cause_and_exit_code_4(tmp_path: Path) -> None:
    verdict = unjudged("r1", "s", error="the master was killed by SIGKILL", gate="sla", gate_source="sla.yaml",
                       reason="run error: the master was killed by SIGKILL")  # fmt: skip
    output.write(verdict, tmp_path)
    data = json.loads((tmp_path / "verdict.json").read_text())
    assert (data["outcome"], data["exit_code"]) == ("INCONCLUSIVE", 4)
    assert data["error"] == "the master was killed by SIGKILL"
    assert 'type="inconclusive"' in (tmp_path / "junit.xml").read_text()
    assert output.exit_code(verdict) == ExitCode.RUN_ERROR


def test_a_reserved_verdict_is_overwritten_in_place_when_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    placeholder = unjudged("r1", "s", error="not finished", gate="sla", gate_source="", reason="not finished")
    output.reserve(tmp_path, placeholder)
    assert (tmp_path / "verdict.json").stat().st_size == output.RESERVE_BYTES

    def full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    final = evaluate(artifact(STEADY), sla(PERMISSIVE))
    output.write(final, tmp_path)
    assert json.loads((tmp_path / "verdict.json").read_text(encoding="utf-8"))["outcome"] == "PASS"
    assert not (tmp_path / "verdict.json.tmp").exists()
    with pytest.raises(OSError):  # no reservation: the error is not swallowed
        output.write(final, tmp_path / "elsewhere")
