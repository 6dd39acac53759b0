"""The few Kubernetes API calls the backend makes, on the official client.

Everything is namespaced: the controller's RBAC is one Role in the run's
namespace, so nothing here lists or watches across namespaces or touches a
cluster-scoped object. Configuration comes from a kubeconfig (and context) or,
inside a pod (the CronJob), from its ServiceAccount.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from loadtest.core.errors import ClusterError

INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
REQUEST_TIMEOUT_S = 30  # one API call against a healthy API server takes milliseconds


@dataclass(frozen=True)
class JobState:
    done: bool
    succeeded: bool
    exit_code: int | None  # the gate container's exit code once it terminated
    reason: str


class KubeApi:
    def __init__(self, namespace: str, kubeconfig: Path | None = None, context: str | None = None) -> None:
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.context = context
        try:
            if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
            else:
                config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)
        except (config.ConfigException, FileNotFoundError, OSError) as exc:
            raise ClusterError(
                f"cannot load Kubernetes credentials (kubeconfig={kubeconfig or '$KUBECONFIG/~/.kube/config'}, "
                f"context={context or 'current'}): {exc}",
                hint="pass --kubeconfig / --kube-context, or run `make cluster-up` for the local control plane",
            ) from exc
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()
        self.batch = client.BatchV1Api()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except ApiException as exc:
            hint = None
            if exc.status == 403:
                hint = f"the controller's ServiceAccount/user lacks a permission in namespace {self.namespace!r}"
            raise ClusterError(f"Kubernetes API: {what} failed: {exc.status} {exc.reason}", hint=hint) from exc
        except Exception as exc:  # urllib3 connection errors and the like
            raise ClusterError(f"Kubernetes API: {what} failed: {exc}") from exc

    def selector(self, release: str, component: str | None = None) -> str:
        out = f"{INSTANCE_LABEL}={release}"
        return out + (f",{COMPONENT_LABEL}={component}" if component else "")

    def check_namespace(self) -> None:
        """A namespaced Role cannot read the Namespace object, so probe with a namespaced list."""
        self._call(
            f"listing pods in namespace {self.namespace!r}", self.core.list_namespaced_pod, self.namespace, limit=1
        )

    def deployment_available(self, release: str, component: str) -> tuple[int, int]:
        """(available replicas, desired replicas) of the release's master or worker Deployment."""
        items = self._call(
            f"listing {component} Deployments",
            self.apps.list_namespaced_deployment,
            self.namespace,
            label_selector=self.selector(release, component),
        ).items
        if not items:
            return 0, -1
        d = items[0]
        return int(d.status.available_replicas or 0), int(d.spec.replicas or 0)

    def gate_job(self, release: str) -> JobState | None:
        jobs = self._call(
            "listing the gate Job",
            self.batch.list_namespaced_job,
            self.namespace,
            label_selector=self.selector(release, "gate"),
        ).items
        if not jobs:
            return None
        status = jobs[0].status
        succeeded, failed = int(status.succeeded or 0), int(status.failed or 0)
        if not succeeded and not failed:
            return JobState(False, False, None, "running")
        code = self._gate_exit_code(release)
        reason = (
            "succeeded"
            if succeeded
            else f"failed ({(status.conditions or [None])[-1] and status.conditions[-1].reason})"
        )
        return JobState(True, bool(succeeded), 0 if succeeded and code is None else code, reason)

    def _gate_exit_code(self, release: str) -> int | None:
        pods = self._call(
            "listing gate pods",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=self.selector(release, "gate"),
        ).items
        for pod in pods:
            for cs in pod.status.container_statuses or []:
                term = cs.state.terminated if cs.state else None
                if term is not None:
                    return int(term.exit_code)
        return None

    def pods(self, release: str) -> list[Any]:
        return list(
            self._call(
                "listing pods", self.core.list_namespaced_pod, self.namespace, label_selector=self.selector(release)
            ).items
        )

    def pod_log(self, name: str) -> str:
        try:
            return str(
                self._call(f"reading the log of pod {name}", self.core.read_namespaced_pod_log, name, self.namespace)
            )
        except ClusterError as exc:
            return f"(log unavailable: {exc})\n"

    def events(self, release: str) -> list[dict[str, Any]]:
        """Events of this release's objects (names start with the release name)."""
        items = self._call("listing events", self.core.list_namespaced_event, self.namespace).items
        return [
            {
                "time": str(e.last_timestamp or e.event_time or e.first_timestamp),
                "type": e.type,
                "reason": e.reason,
                "object": f"{e.involved_object.kind}/{e.involved_object.name}",
                "message": e.message,
            }
            for e in items
            if (e.involved_object.name or "").startswith(release)
        ]

    def leftovers(self, release: str) -> list[str]:
        """Objects of the release still present (after an uninstall this must become empty)."""
        sel = self.selector(release)
        found: list[str] = []
        for kind, fn in (
            ("Deployment", self.apps.list_namespaced_deployment),
            ("Job", self.batch.list_namespaced_job),
            ("Pod", self.core.list_namespaced_pod),
            ("ConfigMap", self.core.list_namespaced_config_map),
            ("Service", self.core.list_namespaced_service),
            ("PersistentVolumeClaim", self.core.list_namespaced_persistent_volume_claim),
        ):
            found += [
                f"{kind}/{o.metadata.name}"
                for o in self._call(f"listing {kind}s", fn, self.namespace, label_selector=sel).items
            ]
        return found

    def service(self, release: str, component: str) -> str | None:
        """The name of the release's Service of one component (master, demo-target); None if absent."""
        items = self._call(
            f"listing the {component} Service",
            self.core.list_namespaced_service,
            self.namespace,
            label_selector=self.selector(release, component),
        ).items
        return str(items[0].metadata.name) if items else None

    def proxy_get(self, service: str, port: int, path: str) -> str | None:
        """GET a Service's `path` through the API server's service proxy; None when unreachable."""
        try:  # the raw body: the client would turn a JSON answer into a Python repr
            answer = self.core.connect_get_namespaced_service_proxy_with_path(
                f"{service}:{port}", self.namespace, path, _request_timeout=5, _preload_content=False
            )
            body: bytes = getattr(answer, "data", b"")  # a urllib3 response (typed as str by the client)
            return body.decode("utf-8", errors="replace")
        except Exception:
            return None
