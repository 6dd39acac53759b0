"""`loadtest gate`: judge a finished run's stats.json against an SLA file (or the baseline gate).

Stands alone (CI, the chart's gate Job) and is what `loadtest run` calls at
its end through `run_gate`. Every flag also reads ``LOADTEST_GATE_<FLAG>`` and
then ``LOADTEST_<FLAG>`` (flags win), so the Job and the controller can pass the
same values as environment. Exit codes: PASS 0, FAIL 1, USAGE 2 (bad SLA file,
stats file or arguments), INCONCLUSIVE 3.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from loadtest.core.errors import GateError
from loadtest.gate import evaluation, output, sla
from loadtest.gate.verdict import Verdict
from loadtest.stats import artifact

Unmatched = Literal["warn", "fail"]


def env_value(flag: str, environ: Mapping[str, str] | None = None) -> str | None:
    """LOADTEST_GATE_<FLAG>, else LOADTEST_<FLAG>; empty counts as unset."""
    env = os.environ if environ is None else environ
    key = flag.upper().replace("-", "_")
    for name in (f"LOADTEST_GATE_{key}", f"LOADTEST_{key}"):
        if env.get(name):
            return env[name]
    return None


def run_gate(
    stats_path: Path,
    sla_path: Path | None,
    out_dir: Path | None,
    *,
    unmatched: Unmatched | None = None,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    baseline_why: str = "no SLA file",
) -> Verdict:
    """Load both files, decide, write verdict.json and junit.xml; for the run controller.

    The SLA file is read first so a bad one fails (GateError, exit USAGE) before
    anything else; without one the built-in baseline gate judges (`sla.baseline`).
    `out_dir` None writes only the explicit paths given.
    """
    sla_model = sla.load(sla_path) if sla_path is not None else sla.baseline()
    stats = artifact.load(stats_path)
    verdict = evaluation.evaluate(
        stats,
        sla_model,
        unmatched=unmatched,
        gate="sla" if sla_path is not None else "baseline",
        gate_source=str(sla_path) if sla_path is not None else baseline_why,
    )
    output.write(verdict, out_dir, json_path=json_path, junit_path=junit_path)
    return verdict


def register(subparsers: Any) -> None:
    """Add the `gate` subcommand to the CLI's subparsers; sets `func=run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gate",
        help="judge a run's stats.json against an SLA file (PASS/FAIL/INCONCLUSIVE)",
        description=(
            "Evaluate the exact merged histograms of a finished run against an SLA file. "
            "Exit codes: 0 PASS, 1 FAIL, 2 usage or configuration error, 3 INCONCLUSIVE. "
            "Every flag also reads LOADTEST_GATE_<FLAG> or LOADTEST_<FLAG>."
        ),
    )
    parser.add_argument("--stats", type=Path, help="the run's stats.json (env LOADTEST_GATE_STATS)")
    parser.add_argument(
        "--sla",
        type=Path,
        help="the SLA file, e.g. locustfiles/<scenario>/sla.yaml; without it the built-in baseline gate judges",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for verdict.json and junit.xml (default: the directory of --stats)",
    )
    parser.add_argument("--junit", type=Path, help="JUnit XML path (default: <out>/junit.xml)")
    parser.add_argument("--json", type=Path, help="verdict JSON path (default: <out>/verdict.json)")
    parser.add_argument(
        "--unmatched",
        choices=("warn", "fail"),
        help="override the SLA file: a threshold no request matched warns or fails",
    )
    parser.set_defaults(func=run)


def _resolve(args: argparse.Namespace, name: str, environ: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    return env_value(name, environ)


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """The `loadtest gate` command: print the table, write the files, return the exit code."""
    env = os.environ if environ is None else environ
    stats_raw, sla_raw = _resolve(args, "stats", env), _resolve(args, "sla", env)
    if stats_raw is None:
        raise GateError("--stats is required", hint="pass --stats PATH or set LOADTEST_GATE_STATS")
    unmatched = _resolve(args, "unmatched", env)
    if unmatched not in (None, "warn", "fail"):
        raise GateError(
            f"--unmatched (from the environment) is {unmatched!r}",
            hint="use LOADTEST_GATE_UNMATCHED=warn or =fail",
        )
    stats_path = Path(stats_raw)
    out_raw = _resolve(args, "out", env)
    out_dir = Path(out_raw) if out_raw is not None else stats_path.parent
    json_raw, junit_raw = _resolve(args, "json", env), _resolve(args, "junit", env)
    verdict = run_gate(
        stats_path,
        Path(sla_raw) if sla_raw else None,
        out_dir,
        unmatched=unmatched,  # type: ignore[arg-type]
        json_path=Path(json_raw) if json_raw else None,
        junit_path=Path(junit_raw) if junit_raw else None,
    )
    sys.stdout.write(output.render_table(verdict, color=output.use_color(sys.stdout, env)))
    return int(output.exit_code(verdict))
