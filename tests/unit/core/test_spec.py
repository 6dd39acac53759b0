"""Run spec: validation, precedence file < environment < flags, and the worker-count rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.core.errors import SpecError
from loadtest.core.spec import (
    USERS_PER_WORKER_DEFAULT,
    Backend,
    parse_duration,
    resolve,
    worker_count_for,
)


def test_defaults_make_a_short_local_run_of_the_browsing_scenario() -> None:
    spec = resolve(spec_file=None, environ={}, flags={})
    assert spec.backend is Backend.LOCAL
    assert spec.scenario_name == "api_browsing"
    assert spec.duration <= 120
    assert spec.host is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1m30s", 90), ("0.5s", 0.5), (45, 45)],
)
def test_durations_parse_in_the_documented_forms(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "", "10x", "-5s", "0", "m"])
def test_unparsable_durations_are_rejected_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="e.g. 90s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("flags", "field", "fix"),
    [
        ({"users": 0}, "users", "at least 1"),
        ({"users": -3}, "users", "at least 1"),
        ({"spawn_rate": 0}, "spawn_rate", "greater than 0"),
        ({"spawn_rate": -1.5}, "spawn_rate", "greater than 0"),
        ({"duration": "soon"}, "duration", "e.g. 90s"),
        ({"workers": 0}, "workers", "at least 1"),
        ({"host": "staging.example.com"}, "host", "http:// or https://"),
        ({"backend": "docker"}, "backend", "local"),
        ({"run_id": "Bad_ID"}, "run_id", "lowercase"),
    ],
)
def test_bad_values_name_the_field_the_value_and_the_fix(flags: dict[str, object], field: str, fix: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve(spec_file=None, environ={}, flags=flags)
    message = str(info.value)
    assert field in message
    assert repr(next(iter(flags.values()))) in message
    assert fix in message
    assert info.value.hint is not None and f"--{field.replace('_', '-')}" in info.value.hint


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("users: 10\nspawn_rate: 1\nduration: 30s\nscenario: mixed_users\n")
    environ = {"LOADTEST_USERS": "20", "LOADTEST_SPAWN_RATE": "2"}
    spec = resolve(spec_file=spec_file, environ=environ, flags={"users": "30"})
    assert spec.users == 30  # flag beats env and file
    assert spec.spawn_rate == 2  # env beats file
    assert spec.duration == 30  # file value kept
    assert spec.scenario == "mixed_users"


def test_an_error_says_which_source_the_bad_value_came_from(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="environment variable LOADTEST_USERS"):
        resolve(spec_file=None, environ={"LOADTEST_USERS": "0"}, flags={})
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("users: 0\n")
    with pytest.raises(SpecError, match=str(spec_file)):
        resolve(spec_file=spec_file, environ={}, flags={})


def test_unknown_spec_file_fields_are_refused_with_the_known_ones(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("userz: 10\n")
    with pytest.raises(SpecError, match="unknown field 'userz'") as info:
        resolve(spec_file=spec_file, environ={}, flags={})
    assert info.value.hint is not None and "users" in info.value.hint


def test_a_missing_spec_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        resolve(spec_file=tmp_path / "nope.yaml", environ={}, flags={})


def test_list_fields_read_comma_separated_environment_values() -> None:
    spec = resolve(spec_file=None, environ={"LOADTEST_ALLOWED_HOSTS": "a.example.com, *.staging.example.com"}, flags={})
    assert spec.allowed_hosts == ["a.example.com", "*.staging.example.com"]


def test_scenario_and_explicit_locustfiles_are_mutually_exclusive() -> None:
    with pytest.raises(SpecError, match="either 'scenario' or 'locustfiles'"):
        resolve(spec_file=None, environ={}, flags={"scenario": "a", "locustfiles": ["x.py"]})


@pytest.mark.parametrize(
    ("users", "per_worker", "workers"),
    [(1, 500, 1), (500, 500, 1), (501, 500, 2), (1000, 500, 2), (1001, 500, 3), (5000, 500, 10), (7, 3, 3)],
)
def test_worker_count_is_one_per_budget_of_users_rounded_up(users: int, per_worker: int, workers: int) -> None:
    assert worker_count_for(users, per_worker) == workers


def test_explicit_workers_win_over_the_derived_count() -> None:
    spec = resolve(spec_file=None, environ={}, flags={"users": 1000, "workers": 7})
    assert spec.worker_count == 7
    derived = resolve(spec_file=None, environ={}, flags={"users": 1000})
    assert derived.worker_count == worker_count_for(1000, USERS_PER_WORKER_DEFAULT)


def test_default_spawn_rate_brings_all_users_up_in_about_ten_seconds() -> None:
    assert resolve(spec_file=None, environ={}, flags={"users": 1000}).effective_spawn_rate == 100
    assert resolve(spec_file=None, environ={}, flags={"users": 5}).effective_spawn_rate == 1


def test_the_default_warm_up_scales_with_a_short_run() -> None:
    spec = resolve(spec_file=None, environ={}, flags={"users": 100, "duration": "10s"})
    assert spec.effective_spawn_rate == 50  # up in 2 s: a fifth of the run, 8 s left to judge
    assert resolve(spec_file=None, environ={}, flags={"users": 100}).effective_spawn_rate == 10


def test_a_spawn_rate_that_spawns_for_the_whole_run_is_refused_naming_both() -> None:
    with pytest.raises(SpecError) as caught:
        resolve(spec_file=None, environ={}, flags={"users": 100, "spawn_rate": 1, "duration": "60s"})
    message = caught.value.message
    assert "spawn_rate = 1 brings users = 100 up in 100 s" in message and "duration = 60 s" in message
    assert "raise spawn_rate to at least 9" in message
    # a shape sets its own pace
    resolve(spec_file=None, environ={}, flags={"users": 100, "spawn_rate": 1, "shape": "ramp"})
