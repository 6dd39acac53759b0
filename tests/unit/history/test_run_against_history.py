"""The end of `loadtest run` against the history (run.against_history) on real artifacts and a
real SQLite store: the verdict files rewritten with the regression checks, the exit code that
follows, and every way it cannot judge said in the verdict."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from test_history_store import T0, make_run

from loadtest.gate import output
from loadtest.gate.verdict import Check, Verdict, Window
from loadtest.history import record, store
from loadtest.run import against_history

SLA = "version: 1\nregression:\n  min_baseline_runs: 2\n  endpoints:\n    - {pattern: '^/', p95: '+10%'}\n"


def judged_run(root: Path, run_id: str, *, slow: float, start: float, outcome: str = "PASS") -> Path:
    run_dir = make_run(root, run_id, slow=slow, start=start)
    result = "pass" if outcome == "PASS" else "inconclusive"
    check = Check("run", "run", "requests", 150.0, "> 0", "", 150, result, "150 requests after warm-up")
    window = Window(T0 + 3.5, start + 4, start + 10, 6.0, 6, 4, "spawn")
    output.write(Verdict(outcome, "ok", (check,), window, run_id, "shop"), run_dir)  # type: ignore[arg-type]
    return run_dir


def history(tmp_path: Path, slows: list[float]) -> None:
    st = store.open_store(store.url_for(tmp_path))  # type: ignore[arg-type]
    try:
        for i, slow in enumerate(slows):
            st.record(record.rows(judged_run(tmp_path, f"b{i}", slow=slow, start=T0 + 60 * i)))
    finally:
        st.close()


def judge(tmp_path: Path, run_dir: Path, sla: str | None = SLA, code: int = 0) -> tuple[int, dict[str, Any], str]:
    sla_path = None
    if sla is not None:
        sla_path = tmp_path / "sla.yaml"
        sla_path.write_text(sla)
    out, err = io.StringIO(), io.StringIO()
    new = against_history.judge(run_dir, sla_path, tmp_path, code, out, err)
    assert err.getvalue() == ""
    return new, json.loads((run_dir / "verdict.json").read_text()), out.getvalue()


def test_a_slowed_run_fails_and_its_verdict_files_say_so(tmp_path: Path) -> None:
    history(tmp_path, [1.0, 1.01, 0.99])
    run_dir = judged_run(tmp_path / "new", "slow", slow=1.6, start=T0 + 600)
    code, verdict, shown = judge(tmp_path, run_dir)
    assert code == 1 and verdict["outcome"] == "FAIL" and verdict["exit_code"] == 1
    failed = [c for c in verdict["checks"] if c["result"] == "fail"]
    assert [(c["subject"], c["metric"]) for c in failed] == [("GET /a", "p95 vs baseline")]
    assert failed[0]["reason"].startswith("REGRESSION: 10 ms -> 16 ms (+60.0%, limit +10%)")
    assert "GET /a p95 vs baseline" in (run_dir / "junit.xml").read_text()
    assert "regression gate for run slow: baseline the last 3 comparable runs" in shown
    compared = json.loads((run_dir / against_history.COMPARE_FILE).read_text())
    assert compared["baseline_ids"] == ["b2", "b1", "b0"]
    # report.html compares with the baseline runs whose artifacts are here
    assert against_history.baseline_dirs(run_dir, tmp_path) == [tmp_path / "b2", tmp_path / "b1", tmp_path / "b0"]


def test_an_inconclusive_run_is_not_judged_and_says_so(tmp_path: Path) -> None:
    history(tmp_path, [1.0, 1.0])
    run_dir = judged_run(tmp_path / "new", "inc", slow=3.0, start=T0 + 600, outcome="INCONCLUSIVE")
    code, verdict, _ = judge(tmp_path, run_dir, code=3)
    assert code == 3 and verdict["outcome"] == "INCONCLUSIVE"
    (note,) = [c for c in verdict["checks"] if c["group"] == "regression"]
    assert note["result"] == "warn" and note["reason"].startswith("not judged: the run is INCONCLUSIVE")


def test_history_off_warns_and_an_unusable_store_is_inconclusive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = judged_run(tmp_path / "new", "r", slow=1.0, start=T0)
    monkeypatch.setenv(store.URL_ENV, "off")
    code, verdict, _ = judge(tmp_path, run_dir)
    assert code == 0 and verdict["checks"][-1]["reason"] == "not judged: history is off (LOADTEST_HISTORY_URL=off)"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(store.URL_ENV, f"sqlite:///{tmp_path / 'file'}/history.sqlite3")
    run_dir = judged_run(tmp_path / "new", "r2", slow=1.0, start=T0)
    code, verdict, _ = judge(tmp_path, run_dir)
    assert code == 3 and verdict["outcome"] == "INCONCLUSIVE"
    assert verdict["checks"][-1]["reason"].startswith("not judged: the history store sqlite:///")


def test_without_a_regression_section_the_verdict_is_untouched_but_compare_json_is_written(tmp_path: Path) -> None:
    history(tmp_path, [1.0, 1.01, 0.99])
    run_dir = judged_run(tmp_path / "new", "plain", slow=1.6, start=T0 + 600)
    before = (run_dir / "verdict.json").read_text()
    code, _, shown = judge(tmp_path, run_dir, sla=None)
    assert code == 0 and (run_dir / "verdict.json").read_text() == before and shown == ""
    rows = json.loads((run_dir / against_history.COMPARE_FILE).read_text())["rows"]
    slowed = next(r for r in rows if (r["subject"], r["metric"]) == ("GET /a", "p95"))
    assert slowed["change"] == pytest.approx(60.0, abs=0.01) and slowed["significant"] is True
