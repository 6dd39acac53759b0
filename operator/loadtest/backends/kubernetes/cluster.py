"""The local Kubernetes control plane (scripts/cluster-up.sh) as a Python context manager.

Why a wrapper around the scripts rather than Python that starts the processes itself: the
same scripts back `make cluster-up` / `make cluster-down`, so a developer's cluster and the
test tier's cluster are one thing, and the scripts stay usable without Python.

`LocalCluster` starts the control plane unless it is already up, and on exit stops it only if
it started it, so a cluster a developer keeps running is reused and left alone. `kubectl`
runs the pinned kubectl against the cluster's admin kubeconfig.

Where things are found (each overridable):
- the scripts: `$LOADTEST_SCRIPTS_DIR`, else `scripts/` of this source tree;
- the state: `$LOADTEST_CLUSTER_DIR`, else `${LOADTEST_CACHE:-~/.cache/loadtest}/cluster`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from loadtest.core.errors import ClusterError

# A cold cluster-up builds the control plane from source first: several minutes per binary
# on two cores. A warm one takes well under a minute; the script has its own per-step deadlines.
START_TIMEOUT_S = 3600.0
STOP_TIMEOUT_S = 120.0  # cluster-down gives each of 5 components 15 s before SIGKILL
KUBECTL_TIMEOUT_S = 60.0  # one kubectl call against a loopback API server
NAMESPACE = "loadtest"  # made by cluster-up, labelled pod-security.kubernetes.io/enforce=restricted
BUILD_HINT = "run `bash scripts/build-control-plane.sh` (or `make cluster-up`), which builds it"


def cache_dir() -> Path:
    """The tools cache shared by the scripts (LOADTEST_CACHE)."""
    return Path(os.environ.get("LOADTEST_CACHE") or Path.home() / ".cache" / "loadtest")


def scripts_dir() -> Path:
    """Where cluster-up.sh, cluster-down.sh and control-plane.env live."""
    explicit = os.environ.get("LOADTEST_SCRIPTS_DIR")
    path = Path(explicit) if explicit else Path(__file__).resolve().parents[4] / "scripts"
    if not (path / "cluster-up.sh").is_file():
        raise ClusterError(
            f"scripts directory {path} has no cluster-up.sh",
            hint="run from the loadtest source tree or set LOADTEST_SCRIPTS_DIR to its scripts/ directory",
        )
    return path


@dataclass(frozen=True)
class ControlPlaneVersions:
    """The pinned versions of scripts/control-plane.env (what the binaries report)."""

    kubernetes: str
    etcd: str
    kwok: str


def read_versions(env_file: Path | None = None) -> ControlPlaneVersions:
    """Parse control-plane.env: KEY=VALUE lines, '#' comments (the file is shell-sourced too)."""
    path = env_file or scripts_dir() / "control-plane.env"
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise ClusterError(f"{path}:{number}: {raw!r} is not a KEY=VALUE line", hint="fix the line in that file")
        values[key] = value
    try:
        return ControlPlaneVersions(
            kubernetes=values["KUBERNETES_VERSION"], etcd=values["ETCD_VERSION"], kwok=values["KWOK_VERSION"]
        )
    except KeyError as missing:
        raise ClusterError(f"{path} does not set {missing.args[0]}", hint="add it as KEY=VALUE") from None


class LocalCluster:
    """The loopback control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok.

    Use as `with LocalCluster() as cluster: cluster.kubectl("get", "nodes")`.
    """

    def __init__(self, cluster_dir: Path | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.cluster_dir = cluster_dir or Path(os.environ.get("LOADTEST_CLUSTER_DIR") or cache_dir() / "cluster")
        self.versions = read_versions()
        self.namespace = NAMESPACE
        self.started_here = False  # True when start() brought it up, so exit should stop it
        self._env = {**os.environ, **(env or {}), "LOADTEST_CLUSTER_DIR": str(self.cluster_dir)}

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (certificates embedded; current namespace `loadtest`)."""
        return self.cluster_dir / "kubeconfig"

    @property
    def kubectl_path(self) -> Path:
        """The kubectl built at the cluster's Kubernetes version."""
        return Path(self._env.get("LOADTEST_CACHE") or cache_dir()) / "bin" / f"kubectl-{self.versions.kubernetes}"

    @property
    def api_server_url(self) -> str:
        """https://127.0.0.1:<port> of the running API server (ports.env, written by cluster-up)."""
        ports = self._read_ports()
        return f"https://127.0.0.1:{ports['APISERVER_PORT']}"

    def _read_ports(self) -> dict[str, str]:
        path = self.cluster_dir / "ports.env"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ClusterError(f"{path} does not exist: the cluster was never started", hint="run cluster-up") from None
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def _script(self, name: str, *args: str, timeout: float) -> str:
        script = scripts_dir() / name
        try:
            done = subprocess.run(
                ["bash", str(script), *args],
                env=self._env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            raise ClusterError(
                f"{name} did not finish within {timeout:.0f}s",
                hint=f"see the logs in {self.cluster_dir / 'logs'}",
            ) from expired
        if done.returncode != 0:
            raise ClusterError(
                f"{name} exited with {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}",
                hint=f"see the logs in {self.cluster_dir / 'logs'}",
            )
        return done.stdout

    def start(self, timeout: float = START_TIMEOUT_S) -> str:
        """Run cluster-up (builds missing binaries first); returns its output."""
        out = self._script("cluster-up.sh", timeout=timeout)
        self.started_here = "already up" not in out
        return out

    def stop(self, *, purge: bool = False, timeout: float = STOP_TIMEOUT_S) -> str:
        """Run cluster-down; with purge the cluster directory is removed too."""
        out = self._script("cluster-down.sh", *(["--purge"] if purge else []), timeout=timeout)
        self.started_here = False
        return out

    def start_node(self, timeout: float = START_TIMEOUT_S) -> str:
        """Run node-up: a real node (kubelet, containerd, CNI, kube-proxy, CoreDNS) joins the cluster."""
        return self._script("node-up.sh", timeout=timeout)

    def stop_node(self, timeout: float = STOP_TIMEOUT_S) -> str:
        """Run node-down: the real node's pods, processes, mounts, bridge and rules are gone after it."""
        return self._script("node-down.sh", timeout=timeout)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = KUBECTL_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl with the admin kubeconfig; check=True raises on a non-zero exit."""
        if not self.kubectl_path.is_file():
            raise ClusterError(f"kubectl was not found at {self.kubectl_path}", hint=BUILD_HINT)
        command = [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args]
        try:
            done = subprocess.run(
                command, input=input, capture_output=True, text=True, timeout=timeout, check=False, env=self._env
            )
        except subprocess.TimeoutExpired as expired:
            raise ClusterError(f"`kubectl {' '.join(args)}` did not finish within {timeout:.0f}s") from expired
        if check and done.returncode != 0:
            raise ClusterError(f"`kubectl {' '.join(args)}` exited with {done.returncode}: {done.stderr.strip()}")
        return done

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.started_here:
            self.stop()
