"""The run's event log (`events.jsonl`): one JSON object a line, flushed as it happens,
so a run that dies still leaves the story of what it did."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self.lost = 0  # records a full disk swallowed

    def __call__(self, event: str, **fields: Any) -> None:
        """Append one record; a full disk loses the record, never the run (the verdict has reserved room)."""
        record = {"t": round(time.time(), 3), "event": event, **fields}
        try:
            self._file.write(json.dumps(record, default=str) + "\n")
            self._file.flush()
        except OSError:
            self.lost += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
