"""Shape arithmetic at its boundaries, and validation errors that name the option, the value and the fix."""

from __future__ import annotations

import json

import pytest

from loadtest.core.errors import SpecError
from loadtest.locust import shapes
from loadtest.locust.shapes import RampOptions, SpikeOptions, StepOptions


def test_ramp_asks_for_all_users_at_users_per_ramp_second_from_the_first_tick() -> None:
    options = RampOptions(users=100, duration_s=60, ramp_s=20)
    assert shapes.ramp(0.0, options) == (100, 5.0)
    assert shapes.ramp(59.5, options) == (100, 5.0)


def test_ramp_tick_never_changes_within_the_run_so_locust_starts_it_once() -> None:
    options = RampOptions(users=30, duration_s=10, ramp_s=3)
    ticks = {shapes.ramp(t / 10, options) for t in range(100)}
    assert ticks == {(30, 10.0)}


def test_ramp_ends_exactly_at_duration() -> None:
    options = RampOptions(users=10, duration_s=30, ramp_s=5)
    assert shapes.ramp(29.999, options) == (10, 2.0)
    assert shapes.ramp(30.0, options) is None
    assert shapes.ramp(31.0, options) is None


def test_zero_length_ramp_starts_every_user_within_one_second() -> None:
    assert shapes.ramp(0.0, RampOptions(users=40, duration_s=10, ramp_s=0)) == (40, 40.0)


def test_step_adds_step_users_at_each_step_boundary() -> None:
    options = StepOptions(users=20, step_users=5, step_s=2, duration_s=10)
    assert shapes.step(0.0, options) == (5, 5.0)
    assert shapes.step(1.999, options) == (5, 5.0)
    assert shapes.step(2.0, options) == (10, 5.0)
    assert shapes.step(4.0, options) == (15, 5.0)
    assert shapes.step(6.0, options) == (20, 5.0)


def test_step_holds_the_ceiling_once_reached() -> None:
    options = StepOptions(users=12, step_users=5, step_s=2, duration_s=20)
    assert shapes.step(4.0, options) == (12, 5.0)
    assert shapes.step(19.0, options) == (12, 5.0)
    assert shapes.step(20.0, options) is None


def test_step_boundary_is_not_lost_to_float_error() -> None:
    options = StepOptions(users=100, step_users=1, step_s=0.1, duration_s=1, spawn_rate=100)
    # 0.3 / 0.1 == 2.9999999999999996 in binary floating point; the fourth step starts at 0.3 s.
    assert shapes.step(0.3, options) == (4, 100.0)


def test_step_uses_an_explicit_spawn_rate() -> None:
    options = StepOptions(users=50, step_users=10, step_s=10, duration_s=60, spawn_rate=2)
    assert shapes.step(0.0, options) == (10, 2.0)


def test_spike_holds_base_then_spike_users_then_base_again() -> None:
    options = SpikeOptions(base_users=10, spike_users=50, spike_at_s=5, spike_s=3, duration_s=12)
    assert options.rate == 40.0
    assert shapes.spike(0.0, options) == (10, 40.0)
    assert shapes.spike(4.999, options) == (10, 40.0)
    assert shapes.spike(5.0, options) == (50, 40.0)
    assert shapes.spike(7.999, options) == (50, 40.0)
    assert shapes.spike(8.0, options) == (10, 40.0)
    assert shapes.spike(11.9, options) == (10, 40.0)
    assert shapes.spike(12.0, options) is None


def test_spike_may_end_exactly_when_the_run_ends() -> None:
    options = SpikeOptions(base_users=5, spike_users=10, spike_at_s=5, spike_s=5, duration_s=10)
    assert shapes.spike(9.9, options) == (10, 5.0)
    assert shapes.spike(10.0, options) is None


def test_tick_dispatches_on_the_options_type() -> None:
    assert shapes.tick(3.0, StepOptions(users=9, step_users=3, step_s=1, duration_s=5)) == (9, 3.0)
    assert shapes.tick(3.0, RampOptions(users=9, duration_s=5, ramp_s=3)) == (9, 3.0)
    spike = SpikeOptions(base_users=2, spike_users=4, spike_at_s=2, spike_s=2, duration_s=6)
    assert shapes.tick(3.0, spike) == (4, 2.0)


def test_peak_users_is_what_workers_must_be_sized_for() -> None:
    assert shapes.peak_users(RampOptions(users=300, duration_s=60, ramp_s=10)) == 300
    assert shapes.peak_users(StepOptions(users=120, step_users=40, step_s=10, duration_s=60)) == 120
    spike = SpikeOptions(base_users=100, spike_users=400, spike_at_s=30, spike_s=10, duration_s=60)
    assert shapes.peak_users(spike) == 400


@pytest.mark.parametrize(
    ("name", "raw", "option", "value"),
    [
        ("ramp", {"users": 0, "duration_s": 10, "ramp_s": 1}, "users", "0"),
        ("ramp", {"users": True, "duration_s": 10, "ramp_s": 1}, "users", "True"),
        ("ramp", {"users": 10, "duration_s": -1, "ramp_s": 1}, "duration_s", "-1"),
        ("ramp", {"users": 10, "duration_s": 10, "ramp_s": 11}, "ramp_s", "11"),
        ("ramp", {"users": 10, "duration_s": "2m", "ramp_s": 1}, "duration_s", "'2m'"),
        ("step", {"users": 10, "step_users": 11, "step_s": 1, "duration_s": 10}, "step_users", "11"),
        ("step", {"users": 10, "step_users": 5, "step_s": 0, "duration_s": 10}, "step_s", "0"),
        ("step", {"users": 10, "step_users": 5, "step_s": 20, "duration_s": 10}, "step_s", "20"),
        (
            "step",
            {"users": 10, "step_users": 5, "step_s": 1, "duration_s": 9, "spawn_rate": 1},
            "spawn_rate",
            "1",
        ),
        (
            "step",
            {"users": 10, "step_users": 5, "step_s": 1, "duration_s": 9, "spawn_rate": 0},
            "spawn_rate",
            "0",
        ),
        (
            "spike",
            {"base_users": 10, "spike_users": 10, "spike_at_s": 5, "spike_s": 1, "duration_s": 9},
            "spike_users",
            "10",
        ),
        (
            "spike",
            {"base_users": 10, "spike_users": 20, "spike_at_s": 5, "spike_s": 5, "duration_s": 9},
            "duration_s",
            "9",
        ),
        (
            "spike",
            {"base_users": 10, "spike_users": 20, "spike_at_s": 0.5, "spike_s": 1, "duration_s": 9},
            "spike_at_s",
            "0.5",
        ),
        (
            "spike",
            {
                "base_users": 10,
                "spike_users": 40,
                "spike_at_s": 5,
                "spike_s": 1,
                "duration_s": 9,
                "spawn_rate": 10,
            },
            "spike_s",
            "1",
        ),
    ],
)
def test_invalid_option_is_refused_naming_option_and_value(
    name: str, raw: dict[str, object], option: str, value: str
) -> None:
    with pytest.raises(SpecError) as caught:
        shapes.parse_options(name, raw)
    assert f"option {option} = {value} is invalid" in str(caught.value)
    assert caught.value.hint  # the fix, printed on its own hint: line


def test_slow_step_spawn_rate_error_says_which_rate_would_work() -> None:
    with pytest.raises(SpecError) as caught:
        StepOptions(users=100, step_users=50, step_s=10, duration_s=60, spawn_rate=2)
    assert "takes 25 s, longer than step_s = 10" in str(caught.value)
    assert caught.value.hint == "raise spawn_rate to >= 5 or lengthen step_s"


def test_unknown_shape_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        shapes.parse_options("sawtooth", {})
    assert "'sawtooth'" in str(caught.value)
    assert caught.value.hint == "choose one of ramp, step, spike"


def test_unknown_option_is_named_with_the_valid_ones() -> None:
    with pytest.raises(SpecError) as caught:
        shapes.parse_options("ramp", {"users": 5, "duration_s": 10, "ramp_s": 1, "rampup": 3})
    assert "unknown option rampup = 3" in str(caught.value)
    assert caught.value.hint == "remove it; ramp takes users, duration_s, ramp_s"


def test_missing_option_is_named() -> None:
    with pytest.raises(SpecError) as caught:
        shapes.parse_options("step", {"users": 5, "step_users": 1, "duration_s": 10})
    assert "option step_s is missing" in str(caught.value)


def test_shape_env_round_trips_through_options_from_env() -> None:
    options = SpikeOptions(base_users=3, spike_users=9, spike_at_s=4, spike_s=2, duration_s=10, spawn_rate=6)
    env = shapes.shape_env(options)
    assert env["LOADTEST_SHAPE"] == "spike"
    assert json.loads(env["LOADTEST_SHAPE_OPTIONS"])["spike_users"] == 9
    assert shapes.options_from_env(env) == options


def test_shape_env_leaves_out_defaulted_spawn_rate() -> None:
    env = shapes.shape_env(StepOptions(users=4, step_users=2, step_s=1, duration_s=3))
    assert json.loads(env["LOADTEST_SHAPE_OPTIONS"]) == {
        "users": 4,
        "step_users": 2,
        "step_s": 1,
        "duration_s": 3,
    }


def test_missing_shape_env_says_how_to_set_it() -> None:
    with pytest.raises(SpecError) as caught:
        shapes.options_from_env({})
    assert "LOADTEST_SHAPE is not set" in str(caught.value)


@pytest.mark.parametrize("text", ["{users: 3", "[1, 2]", ""])
def test_options_env_that_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        shapes.options_from_env({"LOADTEST_SHAPE": "ramp", "LOADTEST_SHAPE_OPTIONS": text})
    assert f"LOADTEST_SHAPE_OPTIONS = {text!r}" in str(caught.value)


def test_shapefile_path_points_at_the_shape_module() -> None:
    assert shapes.SHAPEFILE.name == "shapefile.py"
    assert "class SpecShape(LoadTestShape)" in shapes.SHAPEFILE.read_text()
