"""`demo-target` settings: flags win over LOADTEST_DEMO_* variables, which win over defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loadtest.core.errors import SpecError
from loadtest.demo_target.cli import build_parser, resolve, run
from loadtest.demo_target.faults import Fault


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["demo-target", *argv])


def test_defaults_are_loopback_8080_two_workers_no_faults() -> None:
    assert resolve(parse(), {}) == ("127.0.0.1", 8080, 2, None, [])


def test_environment_variables_fill_in_for_missing_flags() -> None:
    env = {
        "LOADTEST_DEMO_HOST": "::1",
        "LOADTEST_DEMO_PORT": "0",
        "LOADTEST_DEMO_WORKERS": "3",
        "LOADTEST_DEMO_DATA_DIR": "/tmp/x",
        "LOADTEST_DEMO_SLOW": "GET /api/me=50,GET /api/products=20",
        "LOADTEST_DEMO_FAIL": "GET /api/me=0.5",
    }
    host, port, workers, data_dir, faults = resolve(parse(), env)
    assert (host, port, workers, data_dir) == ("::1", 0, 3, Path("/tmp/x"))
    assert faults == [
        Fault("GET /api/me", delay_ms=50),
        Fault("GET /api/products", delay_ms=20),
        Fault("GET /api/me", error_rate=0.5),
    ]


def test_flags_win_over_environment_variables() -> None:
    env = {"LOADTEST_DEMO_PORT": "9000", "LOADTEST_DEMO_WORKERS": "3", "LOADTEST_DEMO_SLOW": "GET /api/me=50"}
    args = parse("--port", "9100", "--workers", "1", "--slow", "GET /api/orders=5")
    _, port, workers, _, faults = resolve(args, env)
    assert (port, workers, faults) == (9100, 1, [Fault("GET /api/orders", delay_ms=5)])


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "70000"], {}, "--port (LOADTEST_DEMO_PORT): '70000' is invalid"),
        ([], {"LOADTEST_DEMO_WORKERS": "zero"}, "--workers (LOADTEST_DEMO_WORKERS): 'zero' is invalid"),
        (["--workers", "0"], {}, "use a whole number from 1 to 64"),
        (["--slow", "GET /api/me"], {}, "--slow: 'GET /api/me' is not ROUTE=VALUE"),
    ],
)
def test_invalid_settings_name_the_flag_and_value(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        resolve(parse(*argv), env)
    assert message in caught.value.message


def test_run_reports_a_bad_setting_as_usage_error_without_starting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(parse("--fail", "GET /api/me=2"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: fault.error_rate: 2.0 is invalid")


def test_subcommand_sets_run_as_its_func() -> None:
    assert parse().func is run
