"""Per-process counter files add up exactly, whoever reads them."""

from __future__ import annotations

from pathlib import Path

from loadtest.demo_target.counters import UNMATCHED, ProcessCounters, process_ids, read_totals, reset

KEYS = ("GET /api/me", "GET /api/products", UNMATCHED)


def test_counts_of_several_processes_sum_exactly(tmp_path: Path) -> None:
    first = ProcessCounters(tmp_path, KEYS, pid=101)
    second = ProcessCounters(tmp_path, KEYS, pid=202)
    for _ in range(1_234):
        first.increment("GET /api/me")
    for _ in range(766):
        second.increment("GET /api/me")
    second.increment("GET /api/products")
    served, by_route = read_totals(tmp_path, KEYS)
    assert served == 2_001
    assert by_route == {"GET /api/me": 2_000, "GET /api/products": 1}
    assert process_ids(tmp_path) == [101, 202]


def test_counts_are_readable_before_close_and_survive_it(tmp_path: Path) -> None:
    counters = ProcessCounters(tmp_path, KEYS, pid=7)
    counters.increment("GET /api/products")
    assert read_totals(tmp_path, KEYS)[0] == 1  # no flush needed: the mapping is shared
    counters.close()
    assert read_totals(tmp_path, KEYS) == (1, {"GET /api/products": 1})


def test_an_unknown_key_counts_as_unmatched(tmp_path: Path) -> None:
    counters = ProcessCounters(tmp_path, KEYS, pid=9)
    counters.increment("DELETE /nowhere")
    assert counters.snapshot()[UNMATCHED] == 1
    assert read_totals(tmp_path, KEYS) == (1, {UNMATCHED: 1})


def test_files_of_another_layout_are_ignored(tmp_path: Path) -> None:
    ProcessCounters(tmp_path, ("GET /old",), pid=1).increment("GET /old")
    (tmp_path / "2.bin").write_bytes(b"garbage")
    ProcessCounters(tmp_path, KEYS, pid=3).increment("GET /api/me")
    assert read_totals(tmp_path, KEYS) == (1, {"GET /api/me": 1})


def test_reset_removes_every_counter_file(tmp_path: Path) -> None:
    ProcessCounters(tmp_path, KEYS, pid=5).increment("GET /api/me")
    reset(tmp_path)
    assert read_totals(tmp_path, KEYS) == (0, {})
    assert process_ids(tmp_path) == []
