"""The runner image (Dockerfile) agrees with the chart: same user, read-only-root friendly, pinned helm.

The image itself is built by `make image` and checked in tests/image; these checks keep the
Dockerfile and the chart from drifting apart.
"""

from __future__ import annotations

import re

import yaml
from chartkit import CHART, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
DOCKERIGNORE = (REPO / ".dockerignore").read_text().splitlines()
INSTALL = (REPO / "scripts" / "image" / "install.sh").read_text()  # the Dockerfile's (and make image's) steps
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def instructions(name: str) -> list[str]:
    """Arguments of every `name` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.MULTILINE)]


def test_the_image_runs_as_the_charts_numeric_non_root_user() -> None:
    users = instructions("USER")
    assert users == ["10001:10001"]
    uid, gid = (int(x) for x in users[0].split(":"))
    assert uid == VALUES["podSecurityContext"]["runAsUser"] == VALUES["containerSecurityContext"]["runAsUser"]
    assert gid == VALUES["podSecurityContext"]["runAsGroup"]


def test_the_image_writes_nothing_outside_tmp_at_run_time() -> None:
    env = " ".join(instructions("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env
    assert "compileall" in INSTALL


def test_the_image_builds_helm_with_the_projects_pinned_script() -> None:
    assert "bash /src/scripts/install-helm.sh" in DOCKERFILE
    assert "LOADTEST_HELM=/usr/local/bin/helm" in DOCKERFILE and "LOADTEST_CHART=/app/charts/loadtest" in DOCKERFILE


def test_the_image_installs_the_hash_pinned_lock() -> None:
    assert '--require-hashes -r "$SRC/requirements.lock"' in INSTALL


def test_every_copied_path_is_in_the_build_context() -> None:
    allowed = {line[1:].rstrip("/") for line in DOCKERIGNORE if line.startswith("!")}
    copied = []
    for args in instructions("COPY"):
        if args.startswith("--from"):
            continue
        copied += args.split()[:-1]
    assert copied and all(any(src == a or src.startswith(a + "/") for a in allowed) for src in copied), copied


def test_the_chart_defaults_to_this_image() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert VALUES["image"]["repository"] == "loadtest-runner" and VALUES["image"]["tag"] == ""
    assert f"loadtest-runner:{chart['appVersion']}" in DOCKERFILE
