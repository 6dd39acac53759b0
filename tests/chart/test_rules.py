"""The Prometheus rules: valid for promtool, and their unit tests pass and can fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from chartkit import tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "loadtest" / "rules" / "loadtest.rules.yaml"
RULE_TESTS = Path(__file__).with_name("rules_test.yaml")


@pytest.fixture(scope="module")
def promtool() -> Path:
    return tool("promtool", "install-prometheus.sh")


def run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=120, check=False)


def test_rules_file_passes_promtool_check(promtool: Path) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 13 rules found" in result.stdout


def test_every_alert_and_recording_rule_has_a_unit_test() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    tests = RULE_TESTS.read_text()
    assert len(alerts) == 6
    assert {a for a in alerts if f"alertname: {a}" not in tests} == set()
    assert {r for r in records if r not in tests} == set()


def test_promtool_rule_tests_pass(promtool: Path) -> None:
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ("loadtest_worker_cpu_usage_ratio > 0.9", "loadtest_worker_cpu_usage_ratio > 0.96"),
        ('{name="Aggregated"} > 0.10', '{name="Aggregated"} > 0.25'),
        ("for: 15s", "for: 5m"),
        ('loadtest_sla_response_time_limit_seconds{percentile="95"}', "loadtest_sla_response_time_limit_seconds"),
    ],
)
def test_the_rule_tests_catch_a_changed_rule(promtool: Path, tmp_path: Path, original: str, mutant: str) -> None:
    text = RULES.read_text()
    assert text.count(original) == 1
    (tmp_path / "rules.yaml").write_text(text.replace(original, mutant))
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "rules_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run(promtool, "test", "rules", str(tmp_path / "rules_test.yaml"))
    assert result.returncode != 0, f"rule tests still pass with {mutant!r}"
