"""The runner image `make image` built (scripts/build-image.py) holds what the Dockerfile's
definition says: the locked packages at their locked versions without the test tools, the
loadtest package, user 10001, /app, helm, and a config that runs as 10001 with a read-only root.

Read from the OCI archive itself (its index, manifest, config and layer), so what is checked is
what a runtime imports."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path.home() / ".cache" / "loadtest"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def _archive(name: str) -> Path:
    path = Path(os.environ.get("LOADTEST_CACHE", CACHE)) / "images" / f"{name}.oci.tar"
    assert path.is_file(), f"{path} is missing: `make image` builds it (make test runs it first)"
    return path


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    member = archive.extractfile(f"blobs/sha256/{digest.split(':')[1]}")
    assert member is not None
    return member.read()


@cache
def image(name: str) -> tuple[dict[str, Any], dict[str, tarfile.TarInfo], bytes]:
    """(config, layer members by path, the layer's bytes) of the archive's one image."""
    with tarfile.open(_archive(name)) as archive:
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]
        (entry,) = index["manifests"]
        manifest = json.loads(_blob(archive, entry["digest"]))
        config = json.loads(_blob(archive, manifest["config"]["digest"]))
        (layer,) = manifest["layers"]
        raw = gzip.decompress(_blob(archive, layer["digest"]))
    with tarfile.open(fileobj=io.BytesIO(raw)) as files:
        members = {m.name.lstrip("./"): m for m in files.getmembers()}
    return config, members, raw


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^ \\\n;]+)", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def _dev_only() -> set[str]:
    lines = (REPO / "scripts/image/dev-only.txt").read_text().splitlines()
    return {re.sub(r"[-_.]+", "-", x.strip()).lower() for x in lines if x.strip() and not x.startswith("#")}


def test_the_venv_holds_the_locked_versions_and_no_test_tool() -> None:
    _, members, _ = image("runner")
    site = "opt/venv/lib/python3.11/site-packages/"
    installed = {}
    for path in members:
        m = re.match(re.escape(site) + r"([^/]+)-([^-/]+)\.dist-info/METADATA$", path)
        if m:
            installed[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    locked, dev = _locked(), _dev_only()
    assert installed.pop("loadtest") == re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(),
                                                  re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert dev <= set(locked) and not dev & set(installed), dev & set(installed)
    assert "pip" not in locked and installed.pop("pip")  # the venv's own (Debian's python3-venv), not the lock's
    wrong = {name: (version, locked.get(name)) for name, version in installed.items() if locked.get(name) != version}
    assert wrong == {}, f"installed but not at the locked version: {wrong}"
    assert set(locked) - dev - set(installed) == set(), "locked but not installed"
    assert {"locust", "gevent", "websocket-client", "prometheus-client", "pydantic", "pyhelm3"} <= set(installed)


def test_the_image_is_debians_python_with_user_10001_app_and_helm() -> None:
    _, members, _ = image("runner")
    assert members["usr/bin/python3.11"].isfile()
    passwd = (REPO / "scripts/image/install.sh").read_text()
    assert "--uid 10001" in passwd
    assert members["usr/local/bin/helm"].isfile() and members["usr/local/bin/helm"].mode & 0o111
    assert members["app/charts/loadtest/Chart.yaml"].isfile()
    assert members["app/locustfiles/realtime/locustfile.py"].isfile()
    assert members["app/shapefile.py"].issym()
    assert "src/requirements.lock" not in members and not any(p.startswith("src/") for p in members)
    assert any(p.startswith("opt/venv/lib/python3.11/site-packages/loadtest/locust/__pycache__/") for p in members)


def test_the_config_is_the_dockerfiles_last_stage() -> None:
    config, _, _ = image("runner")
    c = config["config"]
    assert c["User"] == "10001:10001" and c["WorkingDir"] == "/app"
    assert c["Cmd"] == ["python", "-m", "loadtest.locust.agent", "--help"]
    env = dict(e.split("=", 1) for e in c["Env"])
    assert env["HOME"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PATH"].startswith("/opt/venv/bin:")
    assert set(c["ExposedPorts"]) == {"5557/tcp", "8089/tcp", "9646/tcp"}
    assert c["Labels"]["org.opencontainers.image.title"] == "loadtest-runner"


def test_the_pause_image_is_one_static_binary_run_as_nobody() -> None:
    config, members, _ = image("pause")
    assert config["config"]["Entrypoint"] == ["/bin/pause"] and config["config"]["User"] == "65535:65535"
    assert set(members) == {"bin", "bin/pause"}
    assert members["bin/pause"].size < 4 * 2**20


@pytest.mark.parametrize("name", ["runner", "pause"])
def test_the_archive_names_its_image_for_the_runtime(name: str) -> None:
    with tarfile.open(_archive(name)) as archive:
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]
        assert json.loads(archive.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}  # type: ignore[union-attr]
    ref = index["manifests"][0]["annotations"]["io.containerd.image.name"]
    assert ref.startswith(f"docker.io/library/loadtest-{name}:")


def test_it_runs_as_10001_on_a_read_only_root_with_only_tmp_writable(tmp_path: Path) -> None:
    """The layer unpacked, mounted read-only with a tmpfs on /tmp (what the chart gives a pod), and
    the agent, the gate and the controller started in a chroot as user 10001: nothing else is written."""
    config, _, raw = image("runner")
    root, ro = tmp_path / "rootfs", tmp_path / "ro"
    root.mkdir()
    ro.mkdir()
    with tarfile.open(fileobj=io.BytesIO(raw)) as files:
        files.extractall(root, filter="fully_trusted")
    mounted: list[Path] = []
    try:
        subprocess.run(["mount", "--bind", str(root), str(ro)], check=True)
        mounted.append(ro)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ro / "tmp")], check=True)
        mounted.append(ro / "tmp")
        env = dict(e.split("=", 1) for e in config["config"]["Env"])  # as the runtime starts it
        imports = "import loadtest.locust.plugin, loadtest.locust.websocket, loadtest.run.controller"
        commands = [["python", "-m", "loadtest.locust.agent", "--help"], ["python", "-m", "loadtest", "gate", "--help"],
                    ["python", "-c", imports], ["helm", "version", "--short"]]  # fmt: skip
        for argv in commands:
            result = subprocess.run([CHROOT, "--userspec=10001:10001", str(ro), *argv], env=env,
                                    capture_output=True, text=True, timeout=120)  # fmt: skip
            assert result.returncode == 0, (argv, result.stderr[-2000:])
        probe = subprocess.run([CHROOT, "--userspec=10001:10001", str(ro), "touch", "/app/x"], env=env,
                               capture_output=True, text=True)  # fmt: skip
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", str(target)], check=False)
