"""Child-process probe: import locustfiles the way Locust does and print one JSON line.

Run as `python -m loadtest.locust.probe FILE...`. Never raises: every
failure becomes {"error": {...}} naming the file and line of the user's code.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

WAIT_SAMPLES = 2000  # enough samples for a mean wait within ~1 % for between(1, 3)


def _user_frame(tb: traceback.StackSummary, files: list[str]) -> traceback.FrameSummary | None:
    for frame in reversed(tb):
        if any(Path(frame.filename).resolve() == Path(f).resolve() for f in files):
            return frame
    return None


def _mean_wait(cls: Any) -> float | None:
    wait_time = getattr(cls, "wait_time", None)
    if wait_time is None:
        return None

    class _Probe:  # a stand-in instance: between()/constant() only need `self`
        pass

    try:
        func = wait_time.__func__ if hasattr(wait_time, "__func__") else wait_time
        total = 0.0
        for _ in range(WAIT_SAMPLES):
            total += float(func(_Probe()))
        return total / WAIT_SAMPLES
    except Exception:  # constant_throughput & co need real user state: unknown, not a guess
        return None


def probe(files: list[str]) -> dict[str, Any]:
    try:
        from locust.util.load_locustfile import load_locustfile
    except Exception as exc:  # pragma: no cover - broken installation
        return {"error": {"kind": "ImportError", "message": f"cannot import locust: {exc}", "file": ""}}
    users: dict[str, Any] = {}
    shapes: list[str] = []
    for path in files:
        if not Path(path).is_file():
            return {"error": {"kind": "FileNotFoundError", "message": "no such file", "file": path}}
        try:
            user_classes, shape_classes = load_locustfile(path)
        except SyntaxError as exc:
            return {
                "error": {
                    "kind": "SyntaxError",
                    "message": f"{exc.msg}: {(exc.text or '').strip()}",
                    "file": exc.filename or path,
                    "line": exc.lineno,
                    "hint": "fix the syntax error; `python -m py_compile FILE` shows it too",
                }
            }
        except SystemExit as exc:
            return {"error": {"kind": "SystemExit", "message": f"exited with {exc.code} at import", "file": path}}
        except BaseException as exc:
            frame = _user_frame(traceback.extract_tb(exc.__traceback__), files)
            hint = "the locustfile failed at import time; run `python FILE` to see the full traceback"
            if _refused_by_allowlist(exc):
                hint = (
                    "the locustfile sent a request at import time to a host outside the run's allowlist; "
                    "nothing was sent and nothing was started: remove the call, or add the host to "
                    "allowed_hosts (LOADTEST_ALLOWED_HOSTS) on purpose"
                )
            return {
                "error": {
                    "kind": type(exc).__name__,
                    "message": str(exc),
                    "file": frame.filename if frame else path,
                    "line": frame.lineno if frame else None,
                    "hint": hint,
                }
            }
        users.update(user_classes)
        shapes.extend(type(s).__name__ for s in shape_classes)
    return {
        "user_classes": [user_class_fields(name, cls) for name, cls in sorted(users.items())],
        "shape_classes": shapes,
    }


def _refused_by_allowlist(exc: BaseException) -> bool:
    from loadtest.locust.allowlist import HostNotAllowed

    seen: BaseException | None = exc
    while seen is not None:  # requests and urllib wrap the refusal in their own errors
        if isinstance(seen, HostNotAllowed) or "not in the run's allowlist" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def user_class_fields(name: str, cls: Any) -> dict[str, Any]:
    """What the planned rate needs from a User class (the fields of locustfiles.UserClassInfo)."""
    return {
        "name": name,
        "weight": int(getattr(cls, "weight", 1) or 1),
        "fixed_count": int(getattr(cls, "fixed_count", 0) or 0),
        "mean_wait_s": _mean_wait(cls),
        "tasks": len(getattr(cls, "tasks", []) or []),
    }


def main(argv: list[str]) -> int:
    import locust  # noqa: F401  gevent's monkey-patching first, as in a real Locust process

    from loadtest.locust import allowlist

    allowlist.install_from_env()
    result = probe(argv)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
