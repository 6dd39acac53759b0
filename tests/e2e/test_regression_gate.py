"""The issue's acceptance: three unchanged runs and one with one endpoint slowed, through SQLite
and through a real PostgreSQL server. `loadtest run` FAILs the slowed run on that endpoint only,
with its numbers; the unchanged runs pass; `loadtest history` and `loadtest compare` agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import pytest
from pgserver import PostgresServer

REPO = Path(__file__).resolve().parents[2]
SLOWED, UNTOUCHED = "GET /api/categories", "GET /api/products"
# A steady backend delay on both endpoints, large against the few ms of tail noise a busy 2-core CI
# machine adds (bench_regression: p95 run-to-run sd 0.8 % at 100 ms, 3 % at 20 ms); the slowed
# run adds ~150 % to one p95, far beyond the +10 % limit even against a noisy three-run history.
# (With ~100 requests per endpoint a run's p95 rests on its top five: one stall of the machine
# once made a baseline run's p95 128 ms, a spread of 13 %, against which +60 % was only 92.8 %
# confident, short of the 95 % the gate needs; +150 % is 98 % confident even at that spread.)
BACKEND_MS, SLOWED_MS = 100, 250
LOCUSTFILE = Path(__file__).parent / "locustfiles" / "two_endpoints.py"  # the benchmark's workload too
SLA = """
version: 1
aggregate:
  error_rate: "< 5%"   # judged from 59 requests: a 6-s run at 100 ms sends ~250
regression:
  min_baseline_runs: 2
  aggregate: {throughput: "-25%"}
  endpoints:
    - pattern: "^/api/"
      p95: "+10%"
      error_rate: "+0.5"
"""


@pytest.fixture
def faults(demo_target: Any) -> Iterator[Any]:
    try:
        yield demo_target
    finally:
        demo_target.clear_faults()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    return subprocess.run([sys.executable, "-m", "loadtest", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**clean, **env})  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_slowed_run_fails_on_that_endpoint_only_and_unchanged_runs_pass(
    backend: str, tmp_path: Path, faults: Any, postgres: PostgresServer
) -> None:
    if backend == "postgresql":
        env = {"LOADTEST_HISTORY_URL": postgres.new_database("regression"), "PGPASSWORD": postgres.password}
    else:
        env = {"LOADTEST_HISTORY_URL": f"sqlite:///{tmp_path / 'history.sqlite3'}"}
    (tmp_path / "sla.yaml").write_text(SLA)
    args = ["--locustfiles", str(LOCUSTFILE), "--sla", str(tmp_path / "sla.yaml"),
            "--host", faults.url, "--users", "10", "--duration", "6s"]  # fmt: skip
    finished = []
    for delay in (BACKEND_MS, BACKEND_MS, BACKEND_MS, SLOWED_MS):
        faults.set_fault(SLOWED, delay_ms=delay)
        faults.set_fault(UNTOUCHED, delay_ms=BACKEND_MS)
        finished.append(runs.run(args, tmp_path / "results", timeout_s=150, env=env))
    verdicts = [runs.verdict(f) for f in finished]
    ids = [f.run_dir.name for f in finished if f.run_dir is not None]

    # runs 1 and 2: no baseline yet (a warning, not a failure); run 3: judged against 1 and 2, passes
    for v in verdicts[:2]:
        (note,) = [c for c in v["checks"] if c["group"].startswith("regression")]
        assert note["result"] == "warn" and note["reason"].startswith("no baseline yet: ")
    assert [f.code for f in finished[:3]] == [0, 0, 0], [f.stdout[-2000:] for f in finished]
    third = [c for c in verdicts[2]["checks"] if c["group"].startswith("regression")]
    assert len(third) == 5 and {c["result"] for c in third} == {"pass"}, third
    assert all(f"baseline {ids[1]}, {ids[0]}" in c["reason"] for c in third)

    # run 4: FAIL on the slowed endpoint's p95 only, with baseline, new value, change, confidence
    slowed = finished[3]
    assert slowed.code == 1 and verdicts[3]["outcome"] == "FAIL", slowed.stdout[-3000:]
    failed = [c for c in verdicts[3]["checks"] if c["result"] == "fail"]
    assert [(c["subject"], c["metric"]) for c in failed] == [(SLOWED, "p95 vs baseline")], failed
    reason = failed[0]["reason"]
    assert reason.startswith("REGRESSION: ") and "limit +10%" in reason and "% confident" in reason
    change = float(reason.split("(")[1].split("%")[0])
    assert 100.0 < change < 200.0, reason
    assert f"baseline {ids[2]}, {ids[1]}, {ids[0]}" in reason
    untouched = [c for c in verdicts[3]["checks"] if c["subject"] == UNTOUCHED and c["metric"] == "p95 vs baseline"]
    assert untouched[0]["result"] == "pass"
    assert "regression gate for run" in slowed.stdout and "REGRESSION:" in slowed.stdout
    junit = ET.parse(slowed.run_dir / "junit.xml").getroot() if slowed.run_dir else None
    assert junit is not None
    failures = [tc.get("name") for tc in junit.iter("testcase") if tc.find("failure") is not None]
    assert failures == [f"{SLOWED} p95 vs baseline"]

    # the history shows it, `loadtest compare` agrees, report.html compares with the local baselines
    listed = cli("history", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    regressions = {r["run_id"]: r["regressions"] for r in json.loads(listed.stdout)}
    assert [regressions[i] for i in ids] == [None, None, 0, 1]
    compared = cli("compare", ids[3], "--json", "-", env=env)
    assert compared.returncode == 0, compared.stderr
    body = json.loads(compared.stdout[compared.stdout.index("{") :])
    rows = {(r["subject"], r["metric"]): r for r in body["rows"]}
    assert body["baseline_ids"] == [ids[2], ids[1], ids[0]]
    assert rows[(SLOWED, "p95")]["significant"] is True and rows[(SLOWED, "p95")]["change"] > 100
    assert rows[(UNTOUCHED, "p95")]["change"] < 10
    assert slowed.run_dir is not None and json.loads((slowed.run_dir / "compare.json").read_text())["run_id"] == ids[3]
    report = (slowed.run_dir / "report.html").read_text()
    assert "fig-trend" in report and all(i in report for i in ids[:3])

    # one run as the reference: pinned, or named
    pinned = cli("history", "pin", ids[0], env=env)
    assert pinned.returncode == 0 and f"{ids[0]} pinned" in pinned.stdout, pinned.stderr
    against = cli("compare", ids[3], ids[1], "--json", "-", env=env)
    body = json.loads(against.stdout[against.stdout.index("{") :])
    assert against.returncode == 0 and body["baseline_ids"] == [ids[1]] and body["pinned"] == ids[1]
    unknown = cli("compare", "no-such-run", env=env)
    assert unknown.returncode == 2 and "run 'no-such-run' is not in the history store" in unknown.stderr
    assert "`loadtest history` lists the recorded runs" in unknown.stderr


def test_regression_against_an_unreachable_store_is_inconclusive_and_loses_no_run(
    tmp_path: Path, demo_target: Any
) -> None:
    sla = tmp_path / "sla.yaml"
    sla.write_text("version: 1\nregression:\n  aggregate: {p95: '+10%'}\n")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the store's directory should be")
    result = runs.run(
        ["--host", demo_target.url, "--users", "5", "--duration", "5s", "--sla", str(sla)],
        tmp_path / "results",
        timeout_s=120,
        env={"LOADTEST_HISTORY_URL": f"sqlite:///{blocked}/history.sqlite3"},
    )
    verdict = runs.verdict(result)
    (check,) = [c for c in verdict["checks"] if c["group"] == "regression"]
    assert check["result"] == "inconclusive" and check["reason"].startswith("not judged: the history store")
    assert verdict["outcome"] == "INCONCLUSIVE" and result.code == 3
    assert f"loadtest history import {result.run_dir}" in result.stderr
    assert result.run_dir is not None and (result.run_dir / "stats.json").is_file()
