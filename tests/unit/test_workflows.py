"""The GitHub workflows: least privilege, actions pinned to a commit, deadlines, secrets only by reference."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_pinned_actions_and_timeouts(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert 0 < int(job["timeout-minutes"]) <= 180, name
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_the_nightly_is_scheduled_and_manual_and_reads_credentials_from_secrets() -> None:
    path = next(p for p in WORKFLOWS if p.name == "nightly.yml")
    workflow = load(path)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    text = path.read_text()
    for secret in ("STAGING_KUBECONFIG", "STAGING_HOST", "HISTORY_URL", "HISTORY_PASSWORD"):
        assert "${{ secrets." + secret + " }}" in text
    run = next(s for s in workflow["jobs"]["staging"]["steps"] if s.get("id") == "run")
    assert run["env"]["LOADTEST_BACKEND"] == "kubernetes"
    verdict = next(s for s in workflow["jobs"]["staging"]["steps"] if s.get("name") == "verdict")
    assert "::warning title=INCONCLUSIVE" in verdict["run"] and "exit 1" in verdict["run"]
    assert "::error title=REGRESSION" in verdict["run"] and "c['group'].startswith('regression')" in verdict["run"]
    upload = next(s for s in workflow["jobs"]["staging"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"


def test_the_nightly_names_each_regression_from_verdict_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verdict step's own Python, run on a verdict.json with one regression and one static failure."""
    path = next(p for p in WORKFLOWS if p.name == "nightly.yml")
    verdict_step = next(s for s in load(path)["jobs"]["staging"]["steps"] if s.get("name") == "verdict")
    code = re.search(r'regressions=\$\(python3 -c "(.+?)" "\$verdict"', verdict_step["run"])
    assert code is not None
    checks = [
        {"group": "regression.endpoints[0]", "name": "GET /a p95 vs baseline", "result": "fail", "reason": "REGRESSION: 10 ms -> 15 ms"},  # noqa: E501
        {"group": "regression.endpoints[0]", "name": "GET /b p95 vs baseline", "result": "pass", "reason": "fine"},
        {"group": "aggregate", "name": "aggregate p95", "result": "fail", "reason": "too slow"},
    ]  # fmt: skip
    (tmp_path / "verdict.json").write_text(json.dumps({"checks": checks}))
    monkeypatch.setattr(sys, "argv", ["-c", str(tmp_path / "verdict.json")])
    exec(code[1], {})  # noqa: S102 - the workflow's own one-liner, from this repository
    assert capsys.readouterr().out == "- GET /a p95 vs baseline: REGRESSION: 10 ms -> 15 ms\n"
