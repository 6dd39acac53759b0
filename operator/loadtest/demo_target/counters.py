"""Exact served-request counters shared by every server process.

Each process owns one small file, `<state>/counters/<pid>.bin`, memory-mapped
as a header and one little-endian int64 slot per route key. An increment is a
store into the shared mapping: no syscall, no lock, nothing to flush, and the
value is in the page cache for every reader at once — even if the process is
later killed with SIGKILL. `/_control/stats` sums every file, so the total is
exact across processes (and across a worker that uvicorn restarted: the dead
pid's file stays and keeps its count).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Sequence
from pathlib import Path

MAGIC = b"LTC1"  # identifies a counter file of this layout (bump with the layout)
HEADER = struct.Struct("<4sI")  # magic, slot count
SLOT = struct.Struct("<q")
UNMATCHED = "* <unmatched>"  # requests that matched no route (404s for unknown paths) still count


class ProcessCounters:
    """This process's counters: `increment(key)` is all the request path does."""

    def __init__(self, directory: Path, keys: Sequence[str], *, pid: int | None = None) -> None:
        self.keys = tuple(keys)
        self._slots = {key: HEADER.size + i * SLOT.size for i, key in enumerate(self.keys)}
        self._values = dict.fromkeys(self.keys, 0)
        size = HEADER.size + len(self.keys) * SLOT.size
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid() if pid is None else pid}.bin"
        # Build the file under a temporary name, then rename: a reader never sees a short file.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(HEADER.pack(MAGIC, len(self.keys)) + bytes(size - HEADER.size))
        os.replace(tmp, self.path)
        with self.path.open("r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), size)

    def increment(self, key: str) -> None:
        """Count one request for `key` (unknown keys count as UNMATCHED if that slot exists)."""
        if key not in self._slots:
            key = UNMATCHED
        value = self._values[key] + 1
        self._values[key] = value
        SLOT.pack_into(self._map, self._slots[key], value)

    def snapshot(self) -> dict[str, int]:
        """This process's own counts (tests; the aggregate comes from `read_totals`)."""
        return dict(self._values)

    def close(self) -> None:
        """Flush and unmap. The file stays: its counts belong to the run's total."""
        if not self._map.closed:
            self._map.flush()
            self._map.close()


def read_file(path: Path, keys: Sequence[str]) -> dict[str, int] | None:
    """One process's counts, or None if the file is not a counter file for these keys."""
    data = path.read_bytes()
    if len(data) < HEADER.size:
        return None
    magic, count = HEADER.unpack_from(data)
    if magic != MAGIC or count != len(keys) or len(data) < HEADER.size + count * SLOT.size:
        return None
    return {key: SLOT.unpack_from(data, HEADER.size + i * SLOT.size)[0] for i, key in enumerate(keys)}


def read_totals(directory: Path, keys: Sequence[str]) -> tuple[int, dict[str, int]]:
    """Sum every process's file: (served, non-zero counts by route key)."""
    totals = dict.fromkeys(keys, 0)
    for path in sorted(directory.glob("*.bin")):
        counts = read_file(path, keys)
        if counts is None:
            continue
        for key, value in counts.items():
            totals[key] += value
    by_route = {key: value for key, value in totals.items() if value}
    return sum(by_route.values()), by_route


def process_ids(directory: Path) -> list[int]:
    """The pids that have published counters (readiness: one file per started worker)."""
    return sorted(int(path.stem) for path in directory.glob("*.bin") if path.stem.isdigit())


def reset(directory: Path) -> None:
    """Remove every counter file: done by the supervisor before it starts the workers."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.iterdir():
        if path.suffix in {".bin", ".tmp"}:
            path.unlink(missing_ok=True)
