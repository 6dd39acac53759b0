"""The verdict, written three ways: a table for people, verdict.json for tools, JUnit XML for CI.

JUnit mapping (one <testcase> per check):
- fail         -> <failure>: a threshold was breached; CI shows it as a failed test.
- inconclusive -> <error type="inconclusive">: JUnit's "the test could not reach a
  result". Not <skipped>: GitHub, GitLab and Jenkins render skipped tests as
  neutral, and a gate that could not decide must never look green. Keeping it
  apart from <failure> lets a dashboard tell "breached" from "unknown".
- warn         -> <skipped>: e.g. a threshold that matched no endpoint under
  ``unmatched: warn``; nothing was tested, and that is worth a visible note only.
- pass         -> a bare <testcase> with the measurement in <system-out>.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from loadtest.core.exitcodes import ExitCode
from loadtest.gate.verdict import RUN_GROUP, Check, Verdict, number

VERDICT_FILE = "verdict.json"
JUNIT_FILE = "junit.xml"
VERDICT_SCHEMA = "loadtest.verdict/v1"

_EXIT = {
    "PASS": ExitCode.PASS,
    "FAIL": ExitCode.FAIL,
    "INCONCLUSIVE": ExitCode.INCONCLUSIVE,
    "UNGATED": ExitCode.PASS,  # --no-gate: asked for, and said in the output and verdict.json
}
_COLORS = {"PASS": "32", "pass": "32", "FAIL": "31", "fail": "31", "INCONCLUSIVE": "33", "inconclusive": "33"}
_COLORS["warn"] = "35"


def exit_code(verdict: Verdict) -> ExitCode:
    """PASS 0, FAIL 1, INCONCLUSIVE 3, a run that broke 4 (USAGE 2 is raised before any verdict exists)."""
    if verdict.error is not None:
        return ExitCode.RUN_ERROR
    return _EXIT[verdict.outcome]


def gate_title(verdict: Verdict) -> str:
    """Which gate judged the run, for the table's first line."""
    if verdict.gate == "baseline":
        return f"baseline gate ({verdict.gate_source or 'no SLA file'})"
    if verdict.gate == "none":
        return f"no gate ({verdict.gate_source or '--no-gate'})"
    return f"SLA gate ({verdict.gate_source})" if verdict.gate_source else "SLA gate"


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") != "":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _paint(text: str, key: str, color: bool) -> str:
    code = _COLORS.get(key)
    return f"\033[{code}m{text}\033[0m" if color and code else text


def measured_text(check: Check) -> str:
    """The measured value as the table shows it (counts as integers, yes/no, units)."""
    if check.measured is None:
        return "n/a"
    if check.metric == "stats_complete":
        return "yes" if check.measured else "no"
    if check.metric in ("requests", "min_requests", "workers_lost", "unmatched"):
        return f"{check.measured:.0f}"
    unit = "%" if check.unit == "%" else f" {check.unit}" if check.unit else ""
    return f"{number(check.measured)}{unit}"


def check_label(check: Check) -> str:
    """The check's name, prefixed by its SLA group when the group is not the subject itself."""
    return f"{check.group}: {check.name}" if check.group not in (check.subject, RUN_GROUP) else check.name


def render_table(verdict: Verdict, *, color: bool = False, title: str | None = None) -> str:
    """One row per check: result, check, measured, limit, samples, reason; then the outcome.
    `title` replaces the first line (which gate, what was evaluated)."""
    header = ("RESULT", "CHECK", "MEASURED", "LIMIT", "SAMPLES", "REASON")
    rows = [
        (
            c.result.upper(),
            check_label(c),
            measured_text(c),
            c.limit,
            str(c.samples),
            c.reason,
        )
        for c in verdict.checks
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: tuple[str, ...], key: str | None = None) -> str:
        padded = [cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(cells)]
        if key is not None:
            padded[0] = _paint(padded[0], key, color)
        return "  ".join(padded).rstrip()

    w = verdict.window
    if w.start is None:
        scope = f"nothing evaluated: the warm-up ({w.rule}) never ended"
    else:
        scope = (
            f"evaluated {w.seconds:.0f} s in {w.intervals_kept} intervals; warm-up {w.rule}, "
            f"{w.intervals_dropped} interval(s) dropped"
        )
    if verdict.error is not None:
        scope = f"the run broke before it could be judged: {verdict.error}"
    out = [title or f"{gate_title(verdict)} for run {verdict.run_id} ({verdict.scenario}): {scope}", line(header)]
    out += [line(row, c.result) for row, c in zip(rows, verdict.checks, strict=True)]
    if verdict.aborted:
        out.append(f"the run was aborted early: {verdict.abort_reason}")
    out += verdict_lines(verdict, color)
    return "\n".join(out) + "\n"


def verdict_lines(verdict: Verdict, color: bool = False) -> list[str]:
    """'verdict: PASS — …' on one line; otherwise the outcome, then one line per deciding check."""
    head = f"verdict: {_paint(verdict.outcome, verdict.outcome, color)}"
    if verdict.outcome == "FAIL":
        deciding = [c for c in verdict.checks if c.result == "fail"]
    elif verdict.outcome == "INCONCLUSIVE":
        run = [c for c in verdict.checks if c.group == RUN_GROUP and c.result == "inconclusive"]
        deciding = run or [c for c in verdict.checks if c.result == "inconclusive"]
    else:
        deciding = []
    if not deciding:
        return [f"{head} — {verdict.reason}"]
    return [f"{head}, because:"] + [f"  - {check_label(c)}: {c.reason}" for c in deciding]


def to_json(verdict: Verdict) -> str:
    body = {"schema": VERDICT_SCHEMA, **verdict.to_dict(), "exit_code": int(exit_code(verdict))}
    return json.dumps(body, indent=2, sort_keys=False) + "\n"


def to_junit(verdict: Verdict) -> str:
    """JUnit XML, one testcase per check (mapping in the module docstring)."""
    counts = {k: sum(c.result == k for c in verdict.checks) for k in ("fail", "inconclusive", "warn")}
    attrs = {
        "name": f"loadtest SLA gate: {verdict.scenario}",
        "tests": str(len(verdict.checks)),
        "failures": str(counts["fail"]),
        "errors": str(counts["inconclusive"]),
        "skipped": str(counts["warn"]),
        "time": f"{verdict.window.seconds:.3f}",
    }
    suites = ET.Element("testsuites", attrs)
    suite = ET.SubElement(suites, "testsuite", {**attrs, "name": f"loadtest.gate.{verdict.run_id}"})
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("outcome", verdict.outcome),
        ("gate", verdict.gate),
        ("run_id", verdict.run_id),
        ("scenario", verdict.scenario),
        ("reason", verdict.reason),
    ):
        ET.SubElement(props, "property", {"name": key, "value": value})
    for c in verdict.checks:
        case = ET.SubElement(suite, "testcase", {"classname": f"sla.{c.group}", "name": c.name, "time": "0"})
        detail = f"measured {measured_text(c)}, limit {c.limit}, samples {c.samples}: {c.reason}"
        if c.result == "fail":
            ET.SubElement(case, "failure", {"type": "breach", "message": detail}).text = detail
        elif c.result == "inconclusive":
            ET.SubElement(case, "error", {"type": "inconclusive", "message": detail}).text = detail
        elif c.result == "warn":
            ET.SubElement(case, "skipped", {"message": detail})
        else:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RESERVE_BYTES = 64 * 1024  # space set aside per file at the start, so a full disk cannot lose the verdict


def reserve(out_dir: Path, verdict: Verdict) -> None:
    """Write placeholder verdict.json and junit.xml padded to RESERVE_BYTES before the run starts.

    If the disk fills during the run, `write` overwrites these in place, which needs
    no new blocks, instead of losing the verdict. The placeholder itself says that
    the run never finished, which is true if the controller itself is killed.
    """
    for name, text in ((VERDICT_FILE, to_json(verdict)), (JUNIT_FILE, to_junit(verdict))):
        data = text.encode("utf-8")
        (out_dir / name).write_bytes(data + b" " * max(0, RESERVE_BYTES - len(data)))


def write(
    verdict: Verdict, out_dir: Path | None, *, json_path: Path | None = None, junit_path: Path | None = None
) -> list[Path]:
    """Write verdict.json and junit.xml into out_dir (explicit paths win); returns what was written."""
    targets = [
        (json_path or (out_dir / VERDICT_FILE if out_dir else None), to_json, _compact_json),
        (junit_path or (out_dir / JUNIT_FILE if out_dir else None), to_junit, _compact_junit),
    ]
    written = []
    for path, render, compact in targets:
        if path is None:
            continue
        text = render(verdict)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)  # readers (CI, the exporter) never see half a file
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if not _write_in_place(path, text, compact(verdict)):
                raise exc
        written.append(path)
    return written


def _write_in_place(path: Path, text: str, shorter: str) -> bool:
    """Overwrite a reserved file without allocating: the full text if it fits, else the compact one."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    for candidate in (text, shorter):
        data = candidate.encode("utf-8")
        if len(data) <= size:
            with path.open("r+b") as f:
                f.write(data)
                f.truncate(len(data))
            return True
    return False


def _compact(verdict: Verdict) -> Verdict:
    """Only the checks that decided the outcome, for a verdict that must fit its reserved space."""
    from dataclasses import replace

    return replace(verdict, checks=tuple(c for c in verdict.checks if c.result != "pass")[:50])


def _compact_json(verdict: Verdict) -> str:
    return to_json(_compact(verdict))


def _compact_junit(verdict: Verdict) -> str:
    return to_junit(_compact(verdict))
