"""`loadtest history`: list recorded runs, record runs from their artifacts (`import`), pin a
run as the baseline of its fingerprint (`pin`, `unpin`).

The store is ``LOADTEST_HISTORY_URL``, else ``<artifacts_dir>/history.sqlite3`` (``--artifacts-dir``,
``LOADTEST_ARTIFACTS_DIR``, default ``results``). Exit codes: 0 done, 2 bad arguments or an
unusable store or run directory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loadtest.core.errors import SpecError
from loadtest.core.text import columns

OUTCOMES = ("PASS", "FAIL", "INCONCLUSIVE", "UNGATED", "NONE")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "history",
        help="list recorded runs, or record finished runs (history import results/<run_id>)",
        description=__doc__,
    )
    _artifacts_flag(parser, None)
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION")
    listing = sub.add_parser("list", help="recorded runs, newest first (the default action)")
    _list_flags(listing, argparse.SUPPRESS)
    importing = sub.add_parser("import", help="record finished runs from their artifacts directories")
    importing.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="results/<run_id>/")
    _artifacts_flag(importing, argparse.SUPPRESS)
    for action, text in (
        ("pin", "make a run the baseline of every later run with its fingerprint (unpins any other)"),
        ("unpin", "back to the last N comparable runs as the baseline"),
    ):
        pinning = sub.add_parser(action, help=text)
        pinning.add_argument("run_id", metavar="RUN_ID")
        _artifacts_flag(pinning, argparse.SUPPRESS)
    _list_flags(parser, None)
    parser.set_defaults(func=run)


def _artifacts_flag(parser: argparse.ArgumentParser, default: Any) -> None:
    """On the command and on each action (SUPPRESS there, so an action's absent flag keeps the command's)."""
    parser.add_argument(
        "--artifacts-dir",
        type=Path,
        default=default,
        help="where the default SQLite store lives [LOADTEST_ARTIFACTS_DIR]",
    )


def _list_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    if default is argparse.SUPPRESS:
        _artifacts_flag(parser, default)
    parser.add_argument("--scenario", default=default, help="only this scenario")
    parser.add_argument("--since", default=default, help="only runs started since: 7d, 12h, or a date 2026-12-01")
    parser.add_argument(
        "--verdict", action="append", default=default, choices=OUTCOMES, help="only these outcomes (repeatable)"
    )
    parser.add_argument(
        "--limit", type=int, default=20 if default is None else default, help="at most this many runs (default 20)"
    )
    parser.add_argument(
        "--json", action="store_true", default=False if default is None else default, help="print JSON, not a table"
    )


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'7d', '12h', '30m' or an ISO date/time (UTC when no zone is given)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if match:
        amount, unit = int(match[1]), match[2]
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise SpecError(
            f"--since = {text!r} is neither a duration nor a date", hint="use e.g. 7d, 12h or 2026-12-01"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from loadtest.history import store  # SQLAlchemy: imported when used, not for every command line

    artifacts = args.artifacts_dir or Path(os.environ.get("LOADTEST_ARTIFACTS_DIR") or "results")
    url = store.url_for(artifacts)
    if url is None:
        raise SpecError(
            f"{store.URL_ENV} is off: there is no history store", hint=f"unset {store.URL_ENV} or set a URL"
        )
    if args.history_command == "import":
        return _import(url, args.run_dirs)
    if args.history_command in ("pin", "unpin"):
        st = store.open_store(url)
        try:
            row = st.pin(args.run_id, pinned=args.history_command == "pin")
        finally:
            st.close()
        what = "pinned: the baseline of later runs with" if row.pinned else "unpinned: runs with"
        tail = "" if row.pinned else " are compared with the last N comparable runs again"
        sys.stdout.write(f"{row.run_id} {what} fingerprint {row.fingerprint[:12]}{tail}\n")
        return 0
    since = parse_since(args.since) if args.since else None
    if args.limit < 1:
        raise SpecError(f"--limit = {args.limit} must be at least 1")
    st = store.open_store(url)
    try:
        runs = st.runs(scenario=args.scenario, since=since, outcomes=args.verdict or (), limit=args.limit)
    finally:
        st.close()
    if args.json:
        sys.stdout.write(json.dumps([_as_dict(r) for r in runs], indent=2) + "\n")
    else:
        sys.stdout.write(table(runs) + f"\n{len(runs)} run(s) in {store.shown(url)}\n")
    return 0


def _import(url: str, run_dirs: list[Path]) -> int:
    from loadtest.history import record, store

    recorded = [record.rows(d) for d in run_dirs]  # every directory checked before anything is written
    st = store.open_store(url)
    try:
        for d, r in zip(run_dirs, recorded, strict=True):
            new = st.record(r)
            sys.stdout.write(f"{'recorded' if new else 'already recorded'}: {r.run.run_id} ({d})\n")
    finally:
        st.close()
    return 0


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "scenario": row.scenario,
        "started_at": _utc(row.started_at).isoformat() if row.started_at else None,
        "outcome": row.outcome,
        "gate": row.gate,
        "requests": row.requests,
        "failures": row.failures,
        "rps": row.rps,
        "p95_ms": row.p95_ms,
        "users": row.users,
        "git_revision": row.git_revision,
        "fingerprint": row.fingerprint,
        "pinned": row.pinned,
        "regressions": row.regressions,
    }


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def table(runs: list[Any]) -> str:
    header = ("RUN", "STARTED (UTC)", "VERDICT", "REQUESTS", "REQ/S", "P95 MS", "REGRESSIONS", "USERS", "REVISION")
    rows = [
        (
            r.run_id,
            r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "-",
            r.outcome,
            str(r.requests),
            f"{r.rps:.1f}" if r.rps is not None else "-",
            f"{r.p95_ms:.1f}" if r.p95_ms is not None else "-",
            "-" if r.regressions is None else str(r.regressions),
            str(r.users) + (" (pinned)" if r.pinned else ""),
            r.git_revision,
        )
        for r in runs
    ]
    return columns([header, *rows])
