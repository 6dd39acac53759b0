"""Fixtures of the chart tier: the real helm, kubeconform and generated Kubernetes schemas.

Nothing here skips: a missing tool or schema set is an installation bug, and the test
fails with the install command (scripts/install-helm.sh, install-kubeconform.sh,
k8s-schemas.sh; all run by `make tools`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chartkit import SCENARIOS, Helm, scenario_id, schema_versions, tool


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(tool("helm", "install-helm.sh"))


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    return tool("kubeconform", "install-kubeconform.sh")


@pytest.fixture(scope="session")
def schema_root() -> Path:
    """Where scripts/k8s-schemas.sh put the strict schemas; each version must be there."""
    root = tool("helm", "install-helm.sh").parent.parent / "k8s-schemas"
    wanted = [root / f"v{v}-standalone-strict" for v in schema_versions()] + [root / "crds"]
    missing = [str(d) for d in wanted if not (d / ".stamp").is_file()]
    if missing:
        pytest.fail(f"Kubernetes JSON schemas missing: {missing}; run `bash scripts/k8s-schemas.sh` (or `make tools`)")
    return root


class Rendered:
    """Each ci/*-values.yaml scenario rendered by the helm CLI at most once, on first use.

    Lazy, so a scenario that fails to render fails its own tests only.
    """

    def __init__(self, helm: Helm) -> None:
        self.helm = helm
        self.paths = {scenario_id(path): path for path in SCENARIOS}
        self.cache: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, scenario: str) -> list[dict[str, Any]]:
        if scenario not in self.cache:
            self.cache[scenario] = self.helm.template(self.paths[scenario])
        return self.cache[scenario]


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> Rendered:
    assert SCENARIOS, "charts/loadtest/ci/ has no *-values.yaml scenarios"
    return Rendered(helm)
