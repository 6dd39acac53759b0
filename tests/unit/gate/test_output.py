"""Verdict output (table, verdict.json, JUnit XML), exit codes, and the `loadtest gate` command."""

from __future__ import annotations

import argparse
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from stats_builders import T0, artifact, endpoint, sla, worker

from loadtest.core.errors import GateError
from loadtest.core.exitcodes import ExitCode
from loadtest.gate import command, output
from loadtest.gate.evaluation import evaluate
from loadtest.gate.verdict import Verdict

SLA_TEXT = (
    "version: 1\naggregate: {p95: '< 500', error_rate: '< 5%'}\n"
    "endpoints:\n  - {pattern: ^/gone$, label: /gone, p95: 1}\n"
)


def mixed_verdict() -> Verdict:
    """One pass, one fail, one inconclusive, one warning."""
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 60 + [900.0] * 40), endpoint("/b", [10.0] * 10)]})
    rules = sla(
        {
            "aggregate": {"p95": "< 500", "error_rate": "< 5"},
            "endpoints": [{"name": "/b", "p95": 100}, {"pattern": "^/gone$", "label": "/gone", "p95": 100}],
        }
    )
    return evaluate(run, rules)


@pytest.mark.parametrize(("outcome", "code"), [("PASS", 0), ("FAIL", 1), ("INCONCLUSIVE", 3)])
def test_exit_codes_are_the_documented_ones(outcome: str, code: int) -> None:
    verdict = mixed_verdict()
    forced = Verdict(outcome, "", verdict.checks, verdict.window, "r", "s")  # type: ignore[arg-type]
    assert output.exit_code(forced) == code
    assert int(ExitCode.USAGE) == 2  # bad SLA/stats/arguments: raised as GateError before any verdict


def test_the_table_shows_measured_limit_samples_and_result_for_every_check() -> None:
    verdict = mixed_verdict()
    table = output.render_table(verdict, color=False)
    body = table.splitlines()[2 : table.splitlines().index("verdict: FAIL, because:")]
    rows = {line.split()[0] + " " + line.split("  ")[1].strip(): line for line in body}
    assert "\033[" not in table
    fail = next(line for line in body if "aggregate p95" in line)
    assert fail.split()[:6] == ["FAIL", "aggregate", "p95", "900", "ms", "<"]
    assert " 110 " in fail and "breaches < 500 ms over 110 samples" in fail  # /a and /b together
    assert any(r.startswith("INCONCLUSIVE") and "GET /b p95" in r for r in rows.values())
    assert any(r.startswith("WARN") and "/gone unmatched" in r for r in rows.values())
    lines = table.splitlines()
    assert lines[-2] == "verdict: FAIL, because:"
    assert lines[-1].startswith("  - aggregate p95: p95 900 ms breaches")


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert output.use_color(Tty(), {}) is True
    assert output.use_color(Tty(), {"NO_COLOR": "1"}) is False
    assert output.use_color(io.StringIO(), {}) is False
    assert "\033[31mFAIL" in output.render_table(mixed_verdict(), color=True)


def test_verdict_json_carries_every_check_and_the_exit_code() -> None:
    body = json.loads(output.to_json(mixed_verdict()))
    assert (body["schema"], body["outcome"], body["exit_code"]) == ("loadtest.verdict/v1", "FAIL", 1)
    p95 = next(c for c in body["checks"] if c["name"] == "aggregate p95")
    assert {k: p95[k] for k in ("measured", "limit", "samples", "result")} == {
        "measured": 900.0,
        "limit": "< 500 ms",
        "samples": 110,
        "result": "fail",
    }
    assert body["window"]["intervals_kept"] == 1 and body["warnings"]


def test_junit_has_one_testcase_per_check_with_failure_error_and_skipped() -> None:
    verdict = mixed_verdict()
    root = ET.fromstring(output.to_junit(verdict))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(verdict.checks)
    by_name = {c.get("name"): c for c in cases}
    failure = by_name["aggregate p95"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("measured 900 ms, limit < 500 ms, samples 110")
    error = by_name["GET /b p95"].find("error")
    assert error is not None and error.get("type") == "inconclusive"
    assert by_name["/gone unmatched"].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        str(len(cases)),
        "1",
        "1",
        "1",
    )


def write_inputs(tmp_path: Path, sla_text: str = SLA_TEXT) -> tuple[Path, Path]:
    stats = tmp_path / "run" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps(artifact({T0 + 1: [endpoint("/a", [10.0] * 100)]})), encoding="utf-8")
    sla_path = tmp_path / "sla.yaml"
    sla_path.write_text(sla_text, encoding="utf-8")
    return stats, sla_path


def test_run_gate_writes_verdict_json_and_junit_next_to_the_stats(tmp_path: Path) -> None:
    stats, sla_path = write_inputs(tmp_path)
    verdict = command.run_gate(stats, sla_path, stats.parent)
    assert verdict.outcome == "PASS"
    assert json.loads((stats.parent / "verdict.json").read_text())["outcome"] == "PASS"
    assert ET.parse(stats.parent / "junit.xml").getroot().tag == "testsuites"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="loadtest")
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["gate", *argv])


def test_gate_command_prints_the_table_and_returns_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats, sla_path = write_inputs(tmp_path)
    junit = tmp_path / "ci" / "gate.xml"
    args = parse(["--stats", str(stats), "--sla", str(sla_path), "--junit", str(junit), "--unmatched", "fail"])
    assert args.func(args, environ={}) == ExitCode.FAIL  # /gone matched nothing and --unmatched fail
    out = capsys.readouterr().out
    assert "FAIL" in out and "/gone unmatched" in out
    assert junit.is_file() and (stats.parent / "verdict.json").is_file()


def test_gate_flags_come_from_loadtest_gate_then_loadtest_environment(tmp_path: Path) -> None:
    stats, sla_path = write_inputs(tmp_path)
    env = {"LOADTEST_GATE_STATS": str(stats), "LOADTEST_SLA": str(sla_path), "LOADTEST_OUT": str(tmp_path / "o")}
    assert command.run(parse([]), environ=env) == ExitCode.PASS
    assert (tmp_path / "o" / "verdict.json").is_file()
    assert command.env_value("sla", {"LOADTEST_GATE_SLA": "a", "LOADTEST_SLA": "b"}) == "a"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "--stats is required"),
        (["--stats", "x.json"], {}, "stats artifact x.json does not exist"),
        (
            ["--stats", "x.json", "--sla", "s.yaml"],
            {"LOADTEST_GATE_UNMATCHED": "never"},
            "--unmatched (from the environment) is 'never'",
        ),
    ],
)
def test_gate_usage_errors(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(GateError) as caught:
        command.run(parse(argv), environ=env)
    assert (caught.value.message, caught.value.exit_code) == (message, ExitCode.USAGE)


def test_a_bad_sla_file_fails_before_the_stats_are_read(tmp_path: Path) -> None:
    _, sla_path = write_inputs(tmp_path, "version: 1\naggregate: {p95: fast}\n")
    with pytest.raises(GateError) as caught:
        command.run_gate(tmp_path / "missing.json", sla_path, None)
    assert caught.value.message.startswith(f"{sla_path}: aggregate.p95: 'fast' is not a number")


def test_a_missing_stats_file_is_a_usage_error(tmp_path: Path) -> None:
    _, sla_path = write_inputs(tmp_path)
    with pytest.raises(GateError) as caught:
        command.run_gate(tmp_path / "missing.json", sla_path, None)
    assert caught.value.exit_code == ExitCode.USAGE and "does not exist" in caught.value.message


def test_an_inconclusive_run_says_why_one_reason_a_line(tmp_path: Path) -> None:
    run = artifact(
        {T0 + 1: [endpoint("/a", [10.0] * 100)]},
        workers=[worker("w1", [99.0, 99.0, 99.0], runqueue=[50.0, 50.0, 50.0])],
    )
    verdict = evaluate(run, sla({"aggregate": {"p99": 100}}))  # p99 also short of samples: not a reason
    tail = output.render_table(verdict).splitlines()[-3:]
    assert tail[0] == "verdict: INCONCLUSIVE, because:"
    assert tail[1].startswith("  - generators cpu_percent: worker w1 reached 90% in 3 of 3")
    assert tail[2].startswith("  - generators runqueue_wait_percent: worker w1 reached 20% in 3 of 3")
    assert all(len(line) < 300 for line in tail)
