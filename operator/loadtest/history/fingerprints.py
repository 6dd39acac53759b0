"""What makes two runs comparable: the fingerprint the controller writes when a run starts.

Apart from `record` (and the database behind it), so a run writes its fingerprint without importing
the history store.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

FINGERPRINT_FILE = "fingerprint.json"  # written by the controller when the run starts


def fingerprint(spec: dict[str, Any], files: list[Path], sla: Path | None) -> dict[str, Any]:
    """What makes two runs comparable, and its sha256. Same fingerprint: same load, same target, same
    limits, same code."""
    digest = hashlib.sha256()
    for path in sorted(files, key=str):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    parts = {
        "scenario": spec.get("scenario") or "",
        "locustfiles_sha256": digest.hexdigest(),
        "users": spec.get("users"),
        "duration": spec.get("duration"),
        "shape": spec.get("shape"),
        "shape_options": spec.get("shape_options") or {},
        "host": spec.get("host") or "demo-target",
        "tags": spec.get("tags") or [],
        "exclude_tags": spec.get("exclude_tags") or [],
        "sla_sha256": _sla_digest(sla),
    }
    parts["fingerprint"] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return parts


def _sla_digest(sla: Path | None) -> str | None:
    """The SLA file's limits, without its `regression` section and descriptions: tightening the
    regression limits must not throw away the runs they are judged against."""
    if sla is None or not sla.is_file():
        return None
    raw = sla.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return hashlib.sha256(raw).hexdigest()
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("regression", "description")}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
