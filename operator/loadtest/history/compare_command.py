"""`loadtest compare RUN [BASELINE]`: a recorded run against its baseline, per endpoint and metric.

Without BASELINE the baseline is the run's own (the pinned run of its fingerprint, else the last
N comparable runs before it); with BASELINE that run is the reference, and the last N comparable
runs still measure the noise that decides what is significant. The table goes to stdout, the
same as JSON to ``--json`` (default ``<artifacts_dir>/<RUN>/compare.json``, or ``compare-<BASELINE>.json``,
when that directory exists, else ``<RUN>-compare.json`` here). Exit codes: 0 compared, 2 unknown run, no baseline, or an
unusable store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from loadtest.core.errors import SpecError
from loadtest.gate.sla import DEFAULT_BASELINE_RUNS


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="a recorded run against its baseline (or another run): p50/p95/p99, error rate, throughput",
        description=__doc__,
    )
    parser.add_argument("run_id", metavar="RUN", help="a recorded run id (`loadtest history` lists them)")
    parser.add_argument("baseline_id", metavar="BASELINE", nargs="?", help="compare with this run instead")
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_BASELINE_RUNS,
        help=f"the last N comparable runs make the baseline and its noise (default {DEFAULT_BASELINE_RUNS})",
    )
    parser.add_argument("--json", type=Path, help="where to write the comparison as JSON ('-': stdout only)")
    parser.add_argument(
        "--artifacts-dir", type=Path, help="where the default SQLite store lives [LOADTEST_ARTIFACTS_DIR]"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from loadtest.history import regression, store  # SQLAlchemy: imported when used
    from loadtest.history.record import HistoryError

    if args.runs < 2:
        raise SpecError(f"--runs = {args.runs} must be at least 2", hint="the noise needs two runs to measure")
    artifacts = args.artifacts_dir or Path(os.environ.get("LOADTEST_ARTIFACTS_DIR") or "results")
    url = store.url_for(artifacts)
    if url is None:
        raise SpecError(f"{store.URL_ENV} is off: there is no history store", hint=f"unset {store.URL_ENV}")
    st = store.open_store(url)
    try:
        current = st.load(args.run_id)
        reference = st.load(args.baseline_id) if args.baseline_id else None
        if reference is not None and reference.run_id == current.run_id:
            raise HistoryError(f"BASELINE {reference.run_id!r} is RUN itself", hint="name an earlier run")
        baseline = st.baseline(current.run, args.runs, 2)
    finally:
        st.close()
    if reference is None and not baseline.usable:
        raise HistoryError(
            f"run {current.run_id} has no baseline: {baseline.why}",
            hint="name one: loadtest compare RUN BASELINE, or pin one: loadtest history pin RUN_ID",
        )
    comparison = regression.compare(current, baseline, reference)
    if reference is not None and reference.run.fingerprint != current.run.fingerprint:
        diffs = regression.differences(current.run.fingerprint_parts, reference.run.fingerprint_parts)
        comparison.warnings.append(
            f"{reference.run_id} is not comparable with {current.run_id} (another fingerprint: "
            f"{', '.join(diffs) or 'other code'}); compared because you asked"
        )
    head = f"{current.run_id} against " + (
        f"{reference.run_id}" if reference is not None else baseline.why
    )
    body = json.dumps(comparison.to_dict(), indent=1) + "\n"
    sys.stdout.write(f"{head}\n{regression.table(comparison)}\n")
    for warning in comparison.warnings:
        sys.stdout.write(f"warning: {warning}\n")
    if args.json != Path("-"):
        path = args.json or _default_path(artifacts, current.run_id, args.baseline_id)
        path.write_text(body, encoding="utf-8")
        sys.stdout.write(f"comparison: {path}\n")
    else:
        sys.stdout.write(body)
    return 0


def _default_path(artifacts: Path, run_id: str, baseline_id: str | None) -> Path:
    """Beside the run's artifacts when they are here; compare.json is the run's own baseline."""
    name = f"compare-{baseline_id}.json" if baseline_id else "compare.json"
    run_dir = artifacts / run_id
    return run_dir / name if run_dir.is_dir() else Path(f"{run_id}-{name}")
