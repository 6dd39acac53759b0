"""Every pod the chart can create meets the Pod Security "restricted" profile, in every scenario."""

from __future__ import annotations

from typing import Any

import pytest
from chartkit import SCENARIOS, WORKLOAD_KINDS, pod_specs, scenario_id

# Volume types the restricted profile allows (hostPath and friends are forbidden).
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
WRITABLE_VOLUME_TYPES = {"emptyDir", "persistentVolumeClaim", "ephemeral"}


def effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A security setting as the kubelet applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


def violations(pod: dict[str, Any]) -> list[str]:
    """Every way one pod spec breaks the restricted profile (and our read-only-root rule)."""
    found: list[str] = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"{flag} is set")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for name, volume in volumes.items():
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {name} has type {kinds - RESTRICTED_VOLUME_TYPES}")
    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        where = f"container {c['name']}"
        sc = c.get("securityContext", {})
        if effective(pod, c, "runAsNonRoot") is not True:
            found.append(f"{where}: runAsNonRoot is not true")
        uid = effective(pod, c, "runAsUser")
        if not isinstance(uid, int) or uid == 0:
            found.append(f"{where}: runAsUser {uid!r} is not a non-zero number")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            found.append(f"{where}: privileged")
        seccomp = (effective(pod, c, "seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            found.append(f"{where}: seccomp profile {seccomp!r} is not RuntimeDefault")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: root filesystem is writable")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{where}: hostPort {port['hostPort']}")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        if "/tmp" not in mounts or "emptyDir" not in volumes[mounts["/tmp"]["name"]]:
            found.append(f"{where}: /tmp is not an emptyDir (Python and Locust need a writable /tmp)")
        for path, mount in mounts.items():
            volume = volumes[mount["name"]]
            if not mount.get("readOnly") and not set(volume) & WRITABLE_VOLUME_TYPES:
                found.append(f"{where}: {path} is mounted writable from {set(volume) - {'name'}}")
    return found


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_every_pod_spec_meets_the_restricted_profile(rendered: Any, values: Any) -> None:
    objects = rendered[scenario_id(values)]
    specs = list(pod_specs(objects))
    assert len(specs) == sum(1 for o in objects if o["kind"] in WORKLOAD_KINDS)
    assert specs, "no pod specs rendered"
    problems = {name: violations(spec) for name, _, spec in specs}
    assert {name: p for name, p in problems.items() if p} == {}


def test_the_policy_check_catches_a_root_container() -> None:
    """Guards the test above: it must flag what the restricted profile forbids."""
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "c",
                "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
    }
    found = " | ".join(violations(pod))
    for expected in ("hostPath", "runAsUser 0", "allowPrivilegeEscalation", "drop ALL", "SYS_ADMIN", "writable"):
        assert expected in found


def test_pods_that_need_no_api_access_mount_no_service_account_token(rendered: Any) -> None:
    for scenario in rendered.paths:
        for name, meta, spec in pod_specs(rendered[scenario]):
            runner = meta["labels"]["app.kubernetes.io/component"] == "runner"
            assert spec["automountServiceAccountToken"] is runner, f"{scenario}: {name}"
