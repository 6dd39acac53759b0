"""Small file helpers shared by the plugin, the controller and the gate."""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small acyclic objects are made (a
    parsed stats artifact): otherwise each collection re-scans them, most of the parse time.
    Reference counting still frees everything; only cycles wait until the block ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_json_atomic(path: Path, data: Any, *, indent: bool = True) -> None:
    """Write JSON so that readers (the controller, a copy step) never see a half-written file.

    orjson: the standard library's encoder falls back to pure Python when indenting (23 s instead
    of 0.3 s for a 400 MB document). `indent=False` for big documents that tools read (stats.json:
    indenting puts every histogram number on a line of its own, 6x the bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
            body = orjson.dumps(data, option=option)
        except TypeError:  # a type orjson does not know: the standard library's default behaviour
            body = json.dumps(data, indent=1 if indent else None).encode()
        tmp.write_bytes(body)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def read_json(path: Path) -> Any:
    """The parsed file, or None when it does not exist (yet) or is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
