"""The real-node tier: a control plane of its own with a real node (scripts/node-up.sh), once per session.

Unlike kwok, this node runs containers: containerd + runc start the runner image that `make image`
built (imported, no registry), pods get addresses on the node's own bridge and reach each other
through Services (kube-proxy) and cluster DNS (CoreDNS). The session brings it up in a fresh
cluster directory and takes it down at the end, and the teardown proves that nothing of it is
left on the host: no process, bridge, nftables table or iptables chain, ipset, mount or network
namespace, and every sysctl as it was.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from nodekit import BRIDGE, GUARD_TABLE

from loadtest.backends.kubernetes.cluster import LocalCluster

SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "vm.overcommit_memory", "kernel.panic",
           "kernel.panic_on_oops")  # fmt: skip


def sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key.replace(".", "/")).read_text().strip() for key in SYSCTLS}


def nft_tables() -> list[str]:
    done = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True)
    listed = json.loads(done.stdout)
    return [f"{t['table']['family']} {t['table']['name']}" for t in listed["nftables"] if "table" in t]


def leftovers(cluster_dir: Path) -> list[str]:
    """What a real node could leave on the host; empty when nothing is left."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if str(cluster_dir) in line or "/run/loadtest-node/" in line:
            found.append(f"process {proc.pid}: {line[:120]}")
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, check=False).returncode == 0:
        found.append(f"interface {BRIDGE}")
    found += [f"nftables table {t}" for t in nft_tables() if t.endswith((GUARD_TABLE, " kube-proxy"))]
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    found += [f"chain {line.split()[1]}" for line in ruleset.splitlines() if line.strip().startswith("chain KUBE-")]
    ipsets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=True).stdout.split()
    found += [f"ipset {n}" for n in ipsets if n.startswith(("KUBE-SRC-", "KUBE-DST-", "TMP-"))]  # kube-router's
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    mine = (str(cluster_dir), "/run/loadtest-node")
    found += [f"mount {m.split()[4]}" for m in mounts if m.split()[4].startswith(mine)]
    netns = Path("/run/netns")
    found += [f"netns {p.name}" for p in (netns.iterdir() if netns.is_dir() else []) if p.name.startswith("cni-")]
    if Path("/run/loadtest-node").exists():
        found.append("/run/loadtest-node")
    return found


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    before = sysctls()
    local = LocalCluster(tmp_path_factory.mktemp("realnode"))
    local.start()
    try:
        local.start_node()
        yield local
    finally:
        local.stop(purge=True)  # cluster-down takes the node down first (scripts/node-down.sh)
    assert leftovers(local.cluster_dir) == []
    assert sysctls() == before
