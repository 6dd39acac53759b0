"""Render the loadtest Helm chart through pyhelm3 (the real helm binary) into Kubernetes objects.

Why pyhelm3 and not our own `subprocess` call: the kubernetes backend installs, upgrades
and uninstalls releases with pyhelm3, and rendering through the same client means the
objects the tests check are exactly the ones an install would create. pyhelm3 is async;
`render` wraps it for the controller's synchronous code and works whether or not an
event loop is already running in the calling thread.

Where things are found (each overridable, so the runner image can relocate them):
- helm: `$LOADTEST_HELM`, else `${LOADTEST_CACHE:-~/.cache/loadtest}/bin/helm` (installed by
  scripts/install-helm.sh), else `helm` on PATH;
- the chart: `$LOADTEST_CHART`, else `charts/loadtest` of this source tree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyhelm3  # type: ignore[import-untyped]

from loadtest.core.errors import ClusterError, SpecError

RENDER_TIMEOUT_S = 60.0  # helm template of this chart takes ~0.1 s; a minute means helm hangs
HELM_INSTALL_HINT = "install it with `bash scripts/install-helm.sh` (or `make tools`), or set LOADTEST_HELM"
LOCUSTFILE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".csv", ".txt")  # what a scenario ships


def cache_dir() -> Path:
    """The tools cache shared by every scripts/install-*.sh (LOADTEST_CACHE)."""
    return Path(os.environ.get("LOADTEST_CACHE") or Path.home() / ".cache" / "loadtest")


def helm_path() -> Path:
    """The helm binary to use; a missing one is an installation bug, reported with the fix."""
    explicit = os.environ.get("LOADTEST_HELM")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ClusterError(f"LOADTEST_HELM={explicit!r} is not an executable file", hint=HELM_INSTALL_HINT)
        return path
    cached = cache_dir() / "bin" / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    found = shutil.which("helm")
    if found:
        return Path(found)
    raise ClusterError(f"helm was not found in {cached.parent} nor on PATH", hint=HELM_INSTALL_HINT)


def chart_path() -> Path:
    """The loadtest chart directory (LOADTEST_CHART, else the source tree's charts/loadtest)."""
    explicit = os.environ.get("LOADTEST_CHART")
    path = Path(explicit) if explicit else Path(__file__).resolve().parents[4] / "charts" / "loadtest"
    if not (path / "Chart.yaml").is_file():
        raise ClusterError(
            f"the loadtest chart was not found at {path} (no Chart.yaml)",
            hint="set LOADTEST_CHART to the charts/loadtest directory",
        )
    return path


def collect_locustfiles(locustfiles_dir: Path, scenario: str) -> dict[str, str]:
    """The chart's `locustfiles.files` for one scenario: its folder plus the shared lib/.

    Keys are paths relative to `locustfiles_dir` ("api_browsing/locustfile.py",
    "lib/api.py"), which is how the pods see them under /locust (on PYTHONPATH), so
    `from lib import Api` works in the cluster as it does locally.
    """
    out: dict[str, str] = {}
    for folder in (locustfiles_dir / scenario, locustfiles_dir / "lib"):
        if not folder.is_dir():
            if folder.name == scenario:
                raise SpecError(
                    f"scenario {scenario!r}: folder {folder} does not exist",
                    hint=f"pick a folder under {locustfiles_dir}/",
                )
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in LOCUSTFILE_SUFFIXES and "__pycache__" not in path.parts:
                out[path.relative_to(locustfiles_dir).as_posix()] = path.read_text(encoding="utf-8")
    return out


def helm_error_detail(exc: Any) -> str:
    """helm's own message from a pyhelm3 error (it names the values key at fault)."""
    return str(exc.stderr.decode("utf-8", "replace").strip() or f"exit code {exc.returncode}")


async def render_async(
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str,
    chart: Path | None = None,
    helm: Path | None = None,
    timeout_s: float = RENDER_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """`helm template` through pyhelm3: the objects an install of `values` would create (hooks too)."""
    chart_dir = chart or chart_path()
    client = pyhelm3.Client(executable=str(helm or helm_path()))
    try:
        loaded = await asyncio.wait_for(client.get_chart(chart_dir), timeout_s)
        docs = await asyncio.wait_for(
            client.template_resources(loaded, release, dict(values), namespace=namespace), timeout_s
        )
        return [doc for doc in docs if doc]
    except pyhelm3.errors.Error as exc:
        raise ClusterError(
            f"helm could not render chart {chart_dir} for release {release!r}: {helm_error_detail(exc)}",
            hint="the message names the values key at fault; see charts/loadtest/values.yaml",
        ) from exc
    except TimeoutError as exc:
        raise ClusterError(
            f"helm did not render chart {chart_dir} within {timeout_s:.0f}s",
            hint="check that the helm binary works: helm version",
        ) from exc


def render(
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str,
    chart: Path | None = None,
    helm: Path | None = None,
    timeout_s: float = RENDER_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Synchronous `render_async`, callable with or without a running event loop."""
    coro_args: dict[str, Any] = {
        "release": release,
        "namespace": namespace,
        "chart": chart,
        "helm": helm,
        "timeout_s": timeout_s,
    }
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(render_async(values, **coro_args))
    # Inside a running loop (e.g. an async caller using the sync API): use a private loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, render_async(values, **coro_args)).result()
