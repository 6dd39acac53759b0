"""Fixtures of the cluster tier: a real control plane (scripts/cluster-up.sh), once per session.

Nothing skips: a missing binary is built by scripts/build-control-plane.sh. That build runs
right after collection, outside any test's timeout (cold, it takes several minutes per binary;
warm, milliseconds). The session then starts its own cluster in a fresh directory on free
ports, so concurrent sessions never share state, and purges it at the end. Set
LOADTEST_CLUSTER_DIR to reuse a cluster you keep running (`make cluster-up`): the session then
uses it as it is and leaves it running.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.backends.kubernetes.cluster import LocalCluster, scripts_dir

HERE = Path(__file__).resolve().parent


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing control-plane binaries before the first cluster test (no test timeout)."""
    if not any(HERE in Path(str(item.path)).parents for item in session.items):
        return
    started = time.monotonic()
    capture = session.config.pluginmanager.getplugin("capturemanager")
    # Show the build's progress as it happens: a cold build is long and should not look hung.
    with capture.global_and_fixture_disabled():
        done = subprocess.run(["bash", str(scripts_dir() / "build-control-plane.sh")], check=False)
    if done.returncode != 0:
        raise pytest.UsageError(
            f"scripts/build-control-plane.sh exited with {done.returncode} after {time.monotonic() - started:.0f}s;"
            " the cluster tier cannot run without the control plane (see the output above)"
        )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reuse = os.environ.get("LOADTEST_CLUSTER_DIR")
    local = LocalCluster(Path(reuse) if reuse else tmp_path_factory.mktemp("cluster"))
    local.start()
    yield local
    if local.started_here:
        local.stop(purge=True)


@pytest.fixture
def name() -> str:
    """A unique object name per test, so tests never see each other's objects."""
    return f"t-{uuid.uuid4().hex[:8]}"
