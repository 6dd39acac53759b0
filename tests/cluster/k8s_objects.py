"""Kubernetes objects the cluster tests create, as plain dicts (kubectl takes them as JSON).

Every pod template meets the Pod Security "restricted" profile, like the chart's pods, so the
`loadtest` namespace admits them; `privileged_pod` is the one that must be refused.
"""

from __future__ import annotations

import json
from typing import Any

IMAGE = "registry.invalid/loadtest:never-pulled"  # kwok never pulls or runs an image
FAILED_OUTCOME = "loadtest.local/kwok-outcome"  # scripts/kwok-stages.yaml: "failed" fails a Job's pod
EXIT_CODE = "loadtest.local/kwok-exit-code"  # the failed container's exit code (default 1)
RUN_FOR = "loadtest.local/kwok-run-for"  # a Go duration a Job's pod stays Running before it ends


def restricted_container(name: str = "main") -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
    }


def restricted_pod_spec(**extra: Any) -> dict[str, Any]:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [restricted_container()],
        **extra,
    }


def pod(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def privileged_pod(name: str, namespace: str) -> dict[str, Any]:
    spec = restricted_pod_spec()
    spec["securityContext"] = {}
    spec["containers"] = [{"name": "main", "image": IMAGE, "securityContext": {"privileged": True}}]
    return pod(name, namespace, spec)


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": restricted_pod_spec()},
        },
    }


def job(name: str, namespace: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,  # like the chart's gate Job: a failure is final, never retried
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": restricted_pod_spec(restartPolicy="Never"),
            },
        },
    }


def as_json(*objects: dict[str, Any]) -> str:
    """One kubectl input document (a List) holding every object."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})


def claim(name: str, namespace: str) -> dict[str, Any]:
    """A claim with no storageClassName: the cluster's default StorageClass provisions it."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
