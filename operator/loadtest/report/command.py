"""`loadtest report RUN [--baseline RUN ...]`: rebuild a run's report.html, or compare it with earlier runs.

RUN and each baseline are a run directory (results/<run_id>) or a run id under the
artifacts directory (``--artifacts-dir``, else ``LOADTEST_ARTIFACTS_DIR``, else ``results``).
Exit codes: 0 the report was written, 2 a run could not be found or read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtest.core.errors import ReportError
from loadtest.core.exitcodes import ExitCode
from loadtest.report import render


def resolve_run(value: str, artifacts_dir: Path, what: str) -> Path:
    """A directory as given, else <artifacts_dir>/<value>; the error says where it looked."""
    given = Path(value)
    if given.is_dir():
        return given
    under = artifacts_dir / value
    if under.is_dir():
        return under
    known = sorted(p.name for p in artifacts_dir.iterdir() if p.is_dir())[-3:] if artifacts_dir.is_dir() else []
    if known:
        hint = f"recent runs in {artifacts_dir}/: {', '.join(known)}"
    else:
        hint = f"{artifacts_dir}/ holds no runs; pass a run's directory or --artifacts-dir"
    raise ReportError(f"{what} {value!r}: no directory {given} nor {under}", hint=hint)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="rebuild a run's self-contained report.html, optionally against earlier runs",
        description=(
            "Write <run>/report.html from the run's stats.json, verdict.json and spec.yaml: the verdict "
            "and every check, time series from the exact 1 s windows, per-endpoint table and latency "
            "distributions; with --baseline, each endpoint against the earlier runs and the p95 trend. "
            "Exit codes: 0 written, 2 a run could not be found or read."
        ),
    )
    parser.add_argument("run", metavar="RUN", help="run directory (results/<run_id>) or run id")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RUN",
        help="an earlier run to compare with (repeat for several: their judged windows are pooled)",
    )
    parser.add_argument("--out", type=Path, help="where to write the report (default: <run>/report.html)")
    parser.add_argument(
        "--artifacts-dir",
        type=Path,
        help="where run ids are looked up (env LOADTEST_ARTIFACTS_DIR, default: results)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    artifacts_dir = args.artifacts_dir or Path(env.get("LOADTEST_ARTIFACTS_DIR") or "results")
    run_dir = resolve_run(args.run, artifacts_dir, "RUN")
    baselines = [resolve_run(b, artifacts_dir, "--baseline") for b in args.baseline]
    if any(b.resolve() == run_dir.resolve() for b in baselines):
        raise ReportError(f"--baseline {run_dir} is the run itself", hint="compare with an earlier run")
    started = time.monotonic()
    path = render.build(run_dir, baselines, out=args.out)
    size = path.stat().st_size / 1e6
    sys.stdout.write(f"report: {path} ({size:.1f} MB, built in {time.monotonic() - started:.1f} s)\n")
    return int(ExitCode.PASS)
