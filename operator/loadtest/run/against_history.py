"""The end of a run, against the runs before it: the SLA's regression section judged, compare.json.

Runs after the gate (local or the Kubernetes gate Job) and before the run is recorded, so a run
is never its own baseline. The regression checks join verdict.json, junit.xml and the table like
every other check, and the exit code follows the new outcome. Whatever the store does, the run's
verdict stands and nothing is lost: a store that cannot be reached makes a configured regression
check INCONCLUSIVE (it could not be judged) and says how to record the run later.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TextIO

from loadtest.core.errors import LoadtestError
from loadtest.core.fileio import read_json
from loadtest.gate import evaluation, output, sla
from loadtest.gate.verdict import Check, Result, from_dict
from loadtest.history import record, regression, store
from loadtest.history.fingerprints import FINGERPRINT_FILE

COMPARE_FILE = "compare.json"


def judge(run_dir: Path, sla_path: Path | None, artifacts_dir: Path, code: int, out: TextIO, err: TextIO) -> int:
    """Add the regression checks to the run's verdict when its SLA has a `regression` section, write
    compare.json when the run has a baseline; returns the (possibly new) exit code. A bug here says
    so and leaves the verdict as the gate wrote it."""
    try:
        return _judge(run_dir, sla_path, artifacts_dir, code, out)
    except Exception as exc:  # noqa: BLE001 - the gate's verdict stands; the run is still recorded
        err.write(
            f"history: the run was not compared with its baseline ({type(exc).__name__}: {exc}); the verdict "
            "above stands. "
            "This is a bug in loadtest: please report it\n"
        )
        return code


def _judge(run_dir: Path, sla_path: Path | None, artifacts_dir: Path, code: int, out: TextIO) -> int:
    data = read_json(run_dir / output.VERDICT_FILE)
    if not isinstance(data, dict) or data.get("error") or data.get("outcome") not in ("PASS", "FAIL", "INCONCLUSIVE"):
        return code  # broken, or --no-gate: nothing was judged, nothing to add
    if not (run_dir / FINGERPRINT_FILE).is_file():
        return code
    section = sla.load(sla_path).regression if sla_path is not None else None
    if data["outcome"] == "INCONCLUSIVE":
        if section is None:
            return code
        why = "not judged: the run is INCONCLUSIVE, so its numbers are no evidence either way"
        return _finish(run_dir, data, [_unjudged("warn", why)], out)
    url = store.url_for(artifacts_dir)
    if url is None:
        if section is None:
            return code
        return _finish(run_dir, data, [_unjudged("warn", f"not judged: history is off ({store.URL_ENV}=off)")], out)
    runs = section.baseline_runs if section else sla.DEFAULT_BASELINE_RUNS
    min_runs = section.min_baseline_runs if section else sla.DEFAULT_MIN_BASELINE_RUNS
    try:
        recorded = record.rows(run_dir)
        current = regression.RunData(recorded.run, recorded.endpoints)
        st = store.open_store(url)
        try:
            baseline = st.baseline(current.run, runs, min_runs)
        finally:
            st.close()
    except LoadtestError as exc:
        if section is None:
            return code
        why = f"not judged: {exc.message}"
        return _finish(run_dir, data, [_unjudged("inconclusive", why)], out)
    if baseline.usable:
        comparison = regression.compare(current, baseline)
        (run_dir / COMPARE_FILE).write_text(json.dumps(comparison.to_dict(), indent=1) + "\n", encoding="utf-8")
    if section is None:
        return code
    return _finish(run_dir, data, regression.checks(section, current, baseline), out, baseline.why)


def _unjudged(result: Result, why: str) -> Check:
    return Check(regression.GROUP, "run", "baseline", None, "a baseline", "", 0, result, why)


def _finish(run_dir: Path, data: dict[str, Any], checks: list[Check], out: TextIO, why: str = "") -> int:
    """verdict.json (as the gate wrote it) with the regression checks: decided again, written, shown."""
    final = evaluation.extend(from_dict(data), checks)
    output.write(final, run_dir)
    title = f"regression gate for run {final.run_id}" + (f": baseline {why}" if why else "")
    shown = dataclasses.replace(final, checks=tuple(checks))  # the table: only what this step added
    out.write("\n" + output.render_table(shown, color=output.use_color(out), title=title) + "\n")
    return int(output.exit_code(final))


def baseline_dirs(run_dir: Path, artifacts_dir: Path) -> list[Path]:
    """The run directories of the baseline in compare.json that are on this machine (for report.html)."""
    data = read_json(run_dir / COMPARE_FILE)
    if not isinstance(data, dict):
        return []
    ids = [str(i) for i in data.get("baseline_ids") or []]
    return [artifacts_dir / i for i in ids if (artifacts_dir / i / "stats.json").is_file()]
