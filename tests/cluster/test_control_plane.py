"""The control plane itself: pinned versions, TLS-only API, kwok nodes, idempotent start/stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from clusterkit import condition, get_json

from loadtest.backends.kubernetes.cluster import LocalCluster, read_versions, scripts_dir


def test_api_server_reports_the_pinned_kubernetes_version(cluster: LocalCluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    pinned = read_versions().kubernetes
    assert version["gitVersion"] == pinned
    assert f"v{version['major']}.{version['minor']}" == pinned.rsplit(".", 1)[0]
    client = json.loads(cluster.kubectl("version", "--client", "-o", "json").stdout)
    assert client["clientVersion"]["gitVersion"] == pinned


def test_api_server_refuses_a_client_without_a_certificate_or_token(cluster: LocalCluster) -> None:
    ca = cluster.cluster_dir / "pki" / "ca.crt"
    url = cluster.api_server_url
    anonymous = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca), "-o", "/dev/null", "-w", "%{http_code}", f"{url}/api/v1/namespaces"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert anonymous.stdout == "403"  # anonymous is authenticated as system:anonymous, RBAC says no
    plain_http = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url.replace("https://", "http://") + "/version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert plain_http.stdout == "400"  # the port speaks TLS only


def test_kwok_node_is_ready_and_reports_loopback_addresses(cluster: LocalCluster) -> None:
    nodes = get_json(cluster, "nodes", "-l", "type=kwok")["items"]
    assert [node["metadata"]["name"] for node in nodes] == ["kwok-node-0"]
    node = nodes[0]
    assert condition(node, "Ready") == "True"
    assert {a["type"]: a["address"] for a in node["status"]["addresses"]}["InternalIP"] == "127.0.0.1"
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("kwok-")
    assert read_versions().kwok.lstrip("v") in node["status"]["nodeInfo"]["kubeletVersion"]


def test_loadtest_namespace_enforces_the_restricted_profile(cluster: LocalCluster) -> None:
    labels = get_json(cluster, "namespace", "loadtest")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_cluster_up_again_says_already_up_and_changes_nothing(cluster: LocalCluster) -> None:
    pids_before = {p.name: p.read_text() for p in (cluster.cluster_dir / "run").glob("*.pid")}
    owned = cluster.started_here
    out = cluster.start()
    cluster.started_here = owned  # start() saw it up; ownership stays with the session fixture
    assert "already up" in out
    assert {p.name: p.read_text() for p in (cluster.cluster_dir / "run").glob("*.pid")} == pids_before


def _running(pid: int) -> bool:
    """Alive and not a zombie: an exited process stays a zombie until init reaps it, which here can take seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_cluster_down_leaves_no_process_and_no_listening_port(tmp_path: Path) -> None:
    """A second, two-node cluster on its own ports: up, then down, then nothing of it is left."""
    second = LocalCluster(tmp_path / "second", env={"LOADTEST_KWOK_NODES": "2"})
    second.start()
    try:
        nodes = get_json(second, "nodes", "-l", "type=kwok")["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == ["kwok-node-0", "kwok-node-1"]
        assert all(condition(n, "Ready") == "True" for n in nodes)
        pids = [int(p.read_text()) for p in (second.cluster_dir / "run").glob("*.pid")]
        ports = [int(line.split("=")[1]) for line in (second.cluster_dir / "ports.env").read_text().split()]
        assert len(pids) == 5
        assert all(_listening(port) for port in ports if port != ports[1])  # the etcd peer port may idle
    finally:
        out = second.stop(purge=True)
    assert "stopped kwok kube-scheduler kube-controller-manager kube-apiserver etcd" in out
    assert [pid for pid in pids if _running(pid)] == []
    assert [port for port in ports if _listening(port)] == []
    assert not second.cluster_dir.exists()


def test_cluster_down_refuses_to_purge_a_directory_cluster_up_did_not_make(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    done = subprocess.run(
        ["bash", str(scripts_dir() / "cluster-down.sh"), "--purge"],
        env={**os.environ, "LOADTEST_CLUSTER_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "refusing to purge" in done.stderr
    assert keep.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_cluster_up_refuses_a_directory_that_holds_something_else(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    done = subprocess.run(
        ["bash", str(scripts_dir() / "cluster-up.sh")],
        env={**os.environ, "LOADTEST_CLUSTER_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"{tmp_path} is not empty and was not made by cluster-up" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("bad", ["0", "two"])
def test_cluster_up_refuses_a_bad_node_count_before_starting_anything(tmp_path: Path, bad: str) -> None:
    done = subprocess.run(
        ["bash", str(scripts_dir() / "cluster-up.sh")],
        env={**os.environ, "LOADTEST_CLUSTER_DIR": str(tmp_path / "c"), "LOADTEST_KWOK_NODES": bad},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"LOADTEST_KWOK_NODES='{bad}' is not a positive integer" in done.stderr
    assert not (tmp_path / "c").exists()
