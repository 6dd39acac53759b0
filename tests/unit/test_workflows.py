"""The GitHub workflows: least privilege, actions pinned to a commit, deadlines, secrets only by reference."""

from __future__ import annotations

import re
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
    upload = next(s for s in workflow["jobs"]["staging"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
