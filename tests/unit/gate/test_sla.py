"""The SLA file: what it accepts, its defaults, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.core.errors import GateError
from loadtest.core.exitcodes import ExitCode
from loadtest.gate.sla import (
    Limit,
    Sla,
    default_min_samples_for_error_budget,
    default_min_samples_for_percentile,
    load,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> GateError:
    with pytest.raises(GateError) as caught:
        load(write(tmp_path, text))
    assert caught.value.exit_code == ExitCode.USAGE
    return caught.value


@pytest.mark.parametrize(
    ("raw", "op", "value"),
    [
        (500, "<=", 500.0),
        ("< 500", "<", 500.0),
        ("<=500", "<=", 500.0),
        ("≤ 200 ms", "<=", 200.0),
        ("0.5", "<=", 0.5),
        (1e3, "<=", 1000.0),
    ],
)
def test_latency_limits_are_inclusive_unless_written_strict(tmp_path: Path, raw: object, op: str, value: float) -> None:
    sla = load(write(tmp_path, f"version: 1\naggregate:\n  p95: {raw!r}\n"))
    assert sla.aggregate is not None and sla.aggregate.p95 == Limit(op=op, value=value)  # type: ignore[arg-type]


def test_rates_are_percentages_and_success_is_a_lower_bound(tmp_path: Path) -> None:
    sla = load(write(tmp_path, "version: 1\naggregate:\n  error_rate: '< 5%'\n  success_rate: 95\n"))
    assert sla.aggregate is not None
    assert sla.aggregate.error_rate == Limit(op="<", value=5.0)
    assert sla.aggregate.success_rate == Limit(op=">=", value=95.0)


def test_defaults_for_a_minimal_file(tmp_path: Path) -> None:
    sla = load(write(tmp_path, "version: 1\n"))
    assert (sla.warmup, sla.unmatched, sla.aggregate, sla.endpoints) == ("spawn", None, None, [])
    limits = sla.saturation
    assert (limits.max_cpu_percent, limits.max_loop_lag_ms, limits.sustained_reports) == (90.0, 100.0, 2)


@pytest.mark.parametrize(("p", "n"), [(50, 5), (90, 29), (95, 59), (99, 299), (99.9, 2995), (100, 1)])
def test_default_min_samples_follow_the_95_percent_coverage_rule(p: float, n: int) -> None:
    assert default_min_samples_for_percentile(p) == n
    # n samples are enough exactly when the largest is above the true percentile with >= 95 % confidence
    if p < 100:
        assert 1 - (p / 100) ** n >= 0.95 > 1 - (p / 100) ** (n - 1)


@pytest.mark.parametrize(("budget", "n"), [(5, 59), (1, 299), (0, 1), (50, 5)])
def test_default_min_samples_for_an_error_budget(budget: float, n: int) -> None:
    assert default_min_samples_for_error_budget(budget) == n


def test_endpoint_selector_matches_name_pattern_and_method(tmp_path: Path) -> None:
    sla = load(
        write(
            tmp_path,
            (
                "version: 1\nendpoints:\n"
                "  - {name: /api/orders, method: post, p95: 1}\n"
                "  - {pattern: '^/api/products', p95: 1}\n"
            ),
        )
    )
    exact, regex = sla.endpoints
    assert exact.matches("POST", "/api/orders") and not exact.matches("GET", "/api/orders")
    assert not exact.matches("POST", "/api/orders/{id}")
    assert regex.matches("GET", "/api/products/{id}") and not regex.matches("GET", "/x/api/products")
    assert (exact.subject(), regex.subject()) == ("POST /api/orders", "~/^/api/products/")


def test_min_samples_resolution_order(tmp_path: Path) -> None:
    sla = load(
        write(
            tmp_path, "version: 1\nmin_samples: {p95: 10, 99.9: 50}\naggregate:\n  p95: 1\n  min_samples: {p95: 20}\n"
        )
    )
    assert sla.aggregate is not None
    assert sla.min_samples_for(sla.aggregate, "p95", 59) == 20
    assert sla.min_samples_for(sla.aggregate, "p99.9", 2995) == 50
    assert sla.min_samples_for(sla.aggregate, "p99", 299) == 299


# Bad input: each a GateError (exit code USAGE) whose message names the file and the field path.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nendpoints:\n  - {name: a, p95: 1}\n  - {name: b, p95: fast}\n",
            "endpoints[1].p95: 'fast' is not a number",
        ),
        ("version: 1\naggregate:\n  p95: 1\n  p96: 2\n", "aggregate.p96: unknown key 'p96'; allowed here: "),
        ("version: 1\nthresholds: []\n", "thresholds: unknown key 'thresholds'; allowed here: version, "),
        (
            "version: 1\nendpoints:\n  - {name: a, percentiles: {p150: 3}}\n",
            "endpoints[0].percentiles.p150: percentile 150 is outside 0–100",
        ),
        (
            "version: 1\naggregate:\n  min_samples: {-5: 3}\n",
            "aggregate.min_samples.-5: percentile -5 is outside 0–100",
        ),
        (
            "version: 1\nendpoints:\n  - {pattern: '([a', p95: 1}\n",
            "endpoints[0].pattern: '([a' is not a valid regular expression: unterminated character set",
        ),
        ("version: 1\naggregate: {error_rate: 120}\n", "aggregate.error_rate: 120 is outside 0–100"),
        ("version: 1\naggregate: {p95: '> 5'}\n", "aggregate.p95: '> 5' must be an upper bound"),
        ("version: 1\naggregate: {success_rate: '< 99'}\n", "aggregate.success_rate: '< 99' must be a lower bound"),
        ("version: 1\naggregate: {p95: '5%'}\n", "aggregate.p95: '5%': unit '%' does not apply here (use ms)"),
        ("version: 1\naggregate: {min_requests: many}\n", "aggregate.min_requests: 'many' is not a whole number"),
        ("version: 1\naggregate: {abort: maybe}\n", "aggregate.abort: 'maybe' is not true or false"),
        ("version: 1\nwarmup: soon\n", "warmup: 'soon' is neither 'spawn' nor a number of seconds >= 0"),
        ("version: 1\nunmatched: ignore\n", "unmatched: 'ignore' is not one of 'warn' or 'fail'"),
        ("version: 1\nendpoints:\n  - {p95: 1}\n", "endpoints[0]: give exactly one of 'name'"),
        ("version: 1\nendpoints: {a: 1}\n", "endpoints: expected a list"),
        ("version: 1\nsaturation: {max_cpu_percent: 0}\n", "saturation.max_cpu_percent: 0 must be greater than 0"),
        (
            "version: 1\nendpoints:\n  - {name: a, p95: 1, percentiles: {p95: 2}}\n",
            "endpoints[0]: percentiles.p95 and 'p95' set the same limit; keep one",
        ),
        (
            "version: 1\naggregate: {min_throughput_fraction: 1.5}\n",
            "aggregate.min_throughput_fraction: 1.5 must be at most 1",
        ),
        (
            "version: 1\nendpoints:\n  - {name: a, min_throughput_fraction: 0.5}\n",
            "endpoints[0].min_throughput_fraction: unknown key",
        ),
        ("version: 2\n", "version: version 2 is not supported; this loadtest reads version 1"),
        ("aggregate: {p95: 1}\n", "version: is required: write `version: 1`"),
    ],
)
def test_bad_input_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    error = error_for(tmp_path, text)
    assert f"{tmp_path / 'sla.yaml'}: {message}" in error.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = error_for(tmp_path, "version: 1\naggregate: {p95: x, p99: y}\n")
    assert error.message.splitlines() == [
        f"{tmp_path / 'sla.yaml'}: aggregate.p95: 'x' is not a number; write e.g. 500, '< 500' or '<= 500'",
        f"{tmp_path / 'sla.yaml'}: aggregate.p99: 'y' is not a number; write e.g. 500, '< 500' or '<= 500'",
    ]
    assert error.hint is not None and "sla.v1.json" in error.hint


def test_a_missing_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(GateError) as caught:
        load(tmp_path / "nope.yaml")
    assert caught.value.message == f"SLA file {tmp_path / 'nope.yaml'} does not exist"
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "expected a mapping of keys"),
        ("version: 1\naggregate: {p95: [\n", "not valid YAML (line 3, column 1)"),
    ],
)
def test_empty_or_malformed_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    assert error_for(tmp_path, text).message.startswith(f"{tmp_path / 'sla.yaml'}: {message}")


def test_the_model_rejects_unknown_keys_everywhere() -> None:
    for model in ("Sla", "AggregateThreshold", "EndpointThreshold", "Saturation"):
        import loadtest.gate.sla as module

        assert getattr(module, model).model_config["extra"] == "forbid"
    assert Sla.model_fields["version"].is_required()
