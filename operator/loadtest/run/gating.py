"""The gate at the end of a run: the SLA or the baseline gate, or none (--no-gate); a local run is
judged once (the master's own verdict is reused when it judged the same stats with the same SLA)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from loadtest.stats import artifact

if TYPE_CHECKING:
    from loadtest.gate.verdict import Verdict


def masters_verdict(run_dir: Path, sla_path: Path | None) -> Verdict | None:
    """The verdict the master computed from this stats.json with this SLA file, if it did: a local
    run is judged once. Anything else (no verdict, an older one, another SLA) is judged again."""
    from loadtest.gate import output
    from loadtest.gate.verdict import from_dict

    stats, path = run_dir / artifact.STATS_FILE, run_dir / output.VERDICT_FILE
    try:
        if sla_path is None or path.stat().st_mtime_ns < stats.stat().st_mtime_ns:
            return None
        verdict = from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if verdict.gate != "sla" or verdict.error is not None or verdict.run_id != run_dir.name:
        return None
    if Path(verdict.gate_source).resolve() != sla_path.resolve():
        return None
    return dataclasses.replace(verdict, gate_source=str(sla_path))


def gate_after_run(
    run_dir: Path,
    sla_path: Path | None,
    out: TextIO,
    *,
    gate: Literal["sla", "baseline", "none"] = "sla",
    source: str = "",
    scenario: str = "",
) -> int:
    """Decide from the exact stats artifact (the SLA, or the baseline gate); print the table; the
    verdict is the exit code. --no-gate writes an UNGATED verdict that says so."""
    from loadtest.gate import output
    from loadtest.gate.command import run_gate
    from loadtest.gate.verdict import unjudged

    if gate == "none":
        verdict = unjudged(
            run_dir.name, scenario, error=None, gate="none", gate_source=source,
            reason="no gate was applied (--no-gate): exit code 0 says only that the run completed",
        )  # fmt: skip
        output.write(verdict, run_dir)
    elif (masters := masters_verdict(run_dir, sla_path) if gate == "sla" else None) is not None:
        verdict = masters
        output.write(verdict, run_dir)
    else:
        verdict = run_gate(run_dir / artifact.STATS_FILE, sla_path, run_dir, baseline_why=source)
    out.write("\n" + output.render_table(verdict, color=output.use_color(out)) + "\n")
    return int(output.exit_code(verdict))
