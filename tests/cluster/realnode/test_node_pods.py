"""Pods on the real node: the runner image starts restricted and read-only, finds Services by name,
and its traffic cannot leave the node's bridge."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from clusterkit import get_json, wait_until
from nodekit import BRIDGE, GUARD_TABLE, NODE_NAME, last_json, run_pod

from loadtest.backends.kubernetes.cluster import LocalCluster

PROBE = """
    import errno, json, os, socket
    out = {"uid": os.getuid(), "gid": os.getgid()}
    try:
        open("/written-by-the-probe", "w")
        out["root_write"] = "written"
    except OSError as exc:
        out["root_write"] = errno.errorcode[exc.errno]
    out["kubernetes"] = socket.gethostbyname("kubernetes.default.svc.cluster.local")
    try:
        out["outside_name"] = socket.gethostbyname("deb.debian.org")
    except OSError as exc:
        out["outside_name"] = type(exc).__name__
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: nothing answers it anywhere
        out["outside_connect"] = "connected"
    except OSError as exc:
        out["outside_connect"] = errno.errorcode.get(exc.errno, type(exc).__name__)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("10.244.0.1", 10250))  # the node's kubelet: not for pods
        out["node_kubelet"] = "connected"
    except OSError as exc:
        out["node_kubelet"] = errno.errorcode.get(exc.errno) or type(exc).__name__
    out["routes"] = open("/proc/net/route").read().split("\\n")[1:]
    print(json.dumps(out))
"""


def test_the_runner_image_runs_restricted_and_read_only_and_sees_only_the_cluster(
    node_cluster: LocalCluster, name: str
) -> None:
    node = get_json(node_cluster, "node", NODE_NAME)
    assert {"type": "Ready", "status": "True"}.items() <= {
        k: v for c in node["status"]["conditions"] if c["type"] == "Ready" for k, v in c.items()
    }.items()
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.6.")

    phase, logs = run_pod(node_cluster, name, PROBE)
    assert phase == "Succeeded", logs
    seen = last_json(logs)
    assert (seen["uid"], seen["gid"]) == (10001, 10001)  # the image's user, under `restricted` admission
    assert seen["root_write"] == "EROFS"  # read-only root filesystem
    assert seen["kubernetes"] == "10.96.0.1"  # cluster DNS (CoreDNS) answers Service names
    assert seen["outside_name"] == "gaierror"  # and nothing else: no upstream resolver
    assert seen["outside_connect"] == "ENETUNREACH"  # no default route out of the pod
    assert seen["node_kubelet"] == "TimeoutError"  # the node answers pods on DNS and the API port only
    gateways = {line.split("\t")[1] for line in seen["routes"] if line.strip()}
    assert "00000000" not in gateways, seen["routes"]  # no 0.0.0.0/0 destination


def guard_drops() -> int:
    """Packets the guard dropped as they tried to leave the bridge."""
    listed = json.loads(subprocess.run(["nft", "-j", "list", "table", "inet", GUARD_TABLE],
                                       capture_output=True, text=True, check=True).stdout)  # fmt: skip
    for item in listed["nftables"]:
        rule: dict[str, Any] = item.get("rule") or {}
        if "leave the bridge" in rule.get("comment", ""):
            return sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError(f"no guard rule in {listed}")


def test_a_service_pointing_off_the_node_is_dropped_by_the_guard(node_cluster: LocalCluster, name: str) -> None:
    """A Service whose endpoint is outside the pod network: kube-proxy rewrites the pod's packet to
    that address, the node would forward it out, and the guard drops it on the way."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "loadtest"},
               "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}  # fmt: skip
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-off", "namespace": "loadtest", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    node_cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                               "items": [service, endpoints]}))  # fmt: skip
    ip = get_json(node_cluster, "service", name, "-n", "loadtest")["spec"]["clusterIP"]  # set on creation
    wait_until("kube-proxy to program the Service", lambda: ip in subprocess.run(
        ["nft", "list", "table", "ip", "kube-proxy"], capture_output=True, text=True, check=False).stdout)  # fmt: skip
    before = guard_drops()
    script = f"""
        import errno, json, socket
        s = socket.socket()
        s.settimeout(4)
        try:
            s.connect(("{ip}", 80))
            print(json.dumps("connected"))
        except OSError as exc:
            print(json.dumps(errno.errorcode.get(exc.errno) or type(exc).__name__))
    """
    phase, logs = run_pod(node_cluster, f"{name}-client", script)
    assert phase == "Succeeded", logs
    assert last_json(logs) in ("TimeoutError", "ETIMEDOUT", "EHOSTUNREACH"), logs  # never "connected"
    assert guard_drops() > before  # dropped by the guard, not merely unanswered
    node_cluster.kubectl("delete", "service", "-n", "loadtest", name, "--wait=false")
    node_cluster.kubectl("delete", "endpointslice", "-n", "loadtest", f"{name}-off", "--wait=false")
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, check=False).returncode == 0
