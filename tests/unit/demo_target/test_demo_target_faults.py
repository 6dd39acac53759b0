"""Fault definitions are validated, shared through the file, and drawn from a seedable RNG."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadtest.demo_target.api import ROUTE_KEYS
from loadtest.demo_target.faults import Fault, FaultSpecError, FaultTable, merge, parse_fault, parse_flag

DETAIL = "GET /api/products/{id}"


def test_a_full_fault_parses_with_its_values() -> None:
    body = {"route": DETAIL, "delay_ms": 300, "error_rate": 0.25, "status": 500, "seed": 7}
    assert parse_fault(body, ROUTE_KEYS) == Fault(DETAIL, 300, 0.25, 500, 7)


def test_omitted_fields_take_the_documented_defaults() -> None:
    assert parse_fault({"route": DETAIL}, ROUTE_KEYS) == Fault(DETAIL, 0, 0.0, 503, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"route": "GET /api/product/{id}"}, "fault.route: 'GET /api/product/{id}' is not a route"),
        ({"route": DETAIL, "delay_ms": -1}, "fault.delay_ms: -1 is invalid"),
        ({"route": DETAIL, "delay_ms": 1.5}, "fault.delay_ms: 1.5 is invalid"),
        ({"route": DETAIL, "error_rate": 1.5}, "fault.error_rate: 1.5 is invalid"),
        ({"route": DETAIL, "error_rate": True}, "fault.error_rate: True is invalid"),
        (
            {"route": DETAIL, "status": 200},
            "fault.status: 200 is invalid; use a whole number from 400 to 599",
        ),
        ({"route": DETAIL, "seed": "x"}, "fault.seed: 'x' is invalid"),
        ({"route": DETAIL, "delay": 3}, "unknown field(s) ['delay']"),
        (["GET /api/me"], "is not an object"),
    ],
)
def test_an_invalid_fault_names_field_and_value(body: object, message: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_fault(body, ROUTE_KEYS)
    assert message in caught.value.message


def test_flags_parse_route_and_value_split_on_the_last_equals() -> None:
    assert parse_flag("GET /api/me=250", "delay_ms", ROUTE_KEYS) == Fault("GET /api/me", delay_ms=250)
    assert parse_flag(f"{DETAIL}=0.5", "error_rate", ROUTE_KEYS) == Fault(DETAIL, error_rate=0.5)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("GET /api/me", "delay_ms", "--slow: 'GET /api/me' is not ROUTE=VALUE"),
        ("GET /api/me=fast", "delay_ms", "--slow: value 'fast'"),
        ("GET /api/me=lots", "error_rate", "--fail: value 'lots'"),
        ("/api/me=0.5", "error_rate", "fault.route: '/api/me' is not a route"),
    ],
)
def test_a_bad_flag_says_what_to_write(text: str, field: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_flag(text, field, ROUTE_KEYS)
    assert message in caught.value.message


def test_slow_and_fail_on_one_route_merge_into_one_fault() -> None:
    merged = merge([Fault(DETAIL, delay_ms=100), Fault(DETAIL, error_rate=0.5), Fault("GET /api/me", 5)])
    assert merged == [Fault(DETAIL, 100, 0.5), Fault("GET /api/me", 5)]


def test_a_fault_put_by_one_process_is_seen_by_another(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    writer, reader = FaultTable(path, ROUTE_KEYS), FaultTable(path, ROUTE_KEYS)
    assert reader.lookup(DETAIL) is None
    writer.put(Fault(DETAIL, delay_ms=300))
    assert reader.lookup(DETAIL) == Fault(DETAIL, delay_ms=300)
    assert reader.lookup("GET /api/me") is None
    writer.put(Fault(DETAIL, delay_ms=400))
    assert reader.lookup(DETAIL) == Fault(DETAIL, delay_ms=400)
    writer.clear()
    assert reader.lookup(DETAIL) is None
    assert reader.items() == []


def test_a_same_size_rewrite_within_one_mtime_tick_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    writer, reader = FaultTable(path, ROUTE_KEYS), FaultTable(path, ROUTE_KEYS)
    writer.put(Fault(DETAIL, delay_ms=300))
    assert reader.lookup(DETAIL) == Fault(DETAIL, delay_ms=300)
    st = os.stat(path)
    writer.put(Fault(DETAIL, delay_ms=400))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # worst case: same mtime and size
    reader._read_at -= 1.0  # the periodic re-read is due
    assert reader.lookup(DETAIL) == Fault(DETAIL, delay_ms=400)


def test_clearing_one_route_keeps_the_others(tmp_path: Path) -> None:
    table = FaultTable(tmp_path / "faults.json", ROUTE_KEYS)
    table.replace_all([Fault(DETAIL, delay_ms=1), Fault("GET /api/me", error_rate=1.0)])
    table.clear(DETAIL)
    assert table.items() == [Fault("GET /api/me", error_rate=1.0)]


def test_a_seeded_error_rate_is_reproducible_and_close_to_the_rate(tmp_path: Path) -> None:
    fault = Fault(DETAIL, error_rate=0.3, seed=42)
    draws = []
    for name in ("a", "b"):
        table = FaultTable(tmp_path / f"{name}.json", ROUTE_KEYS)
        table.put(fault)
        found = table.lookup(DETAIL)
        assert found == fault
        draws.append([table.should_fail(fault) for _ in range(2_000)])
    assert draws[0] == draws[1]
    assert 0.27 < sum(draws[0]) / 2_000 < 0.33


def test_rates_zero_and_one_are_never_and_always(tmp_path: Path) -> None:
    table = FaultTable(tmp_path / "faults.json", ROUTE_KEYS)
    never, always = Fault(DETAIL, error_rate=0.0), Fault("GET /api/me", error_rate=1.0)
    assert not any(table.should_fail(never) for _ in range(500))
    assert all(table.should_fail(always) for _ in range(500))
