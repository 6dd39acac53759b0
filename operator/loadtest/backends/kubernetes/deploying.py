"""The kubernetes backend: one run = one Helm release of charts/loadtest, installed through pyhelm3.

The controller renders values from the run spec, installs the release, waits
for the master and every worker Deployment to be available (and, where the
master is reachable through the API server, for every worker to be connected),
follows the run to its end — the gate Job's completion when an SLA applies,
the run time otherwise — collects artifacts, and uninstalls per the cleanup
policy: also on error, timeout and Ctrl-C. The gate Job's exit code is the
run's exit code, so a nightly CronJob and CI read the same verdict.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyhelm3  # type: ignore[import-untyped]
import yaml

from loadtest.backends.kubernetes import bundle
from loadtest.backends.kubernetes.kube_api import KubeApi
from loadtest.backends.kubernetes.rendering import chart_path, collect_locustfiles, helm_error_detail, helm_path
from loadtest.core.errors import ClusterError, RunError
from loadtest.core.eventlog import EventLog
from loadtest.core.exitcodes import ExitCode
from loadtest.core.progress import ProgressDisplay, clock
from loadtest.core.spec import Cleanup, RunSpec

POLL_S = 2.0  # Kubernetes object status changes at the pace of controllers, not milliseconds
HELM_TIMEOUT = "5m"  # helm's own deadline for install/uninstall calls
GATE_SLACK_S = 120.0  # beyond run time + start-up, the gate Job has this long to report
METRICS_PORT = 9646  # the chart's default master.ports.metrics
SHAPEFILE_IN_IMAGE = "/app/shapefile.py"  # the Dockerfile's stable path of loadtest/locust/shapefile.py
GATE_EXIT = {0: ExitCode.PASS, 1: ExitCode.FAIL, 2: ExitCode.USAGE, 3: ExitCode.INCONCLUSIVE}


@dataclass
class KubeOutcome:
    exit_code: int
    interrupted: bool = False
    gate: str | None = None


# Where an SLA file from outside the locustfiles folder goes among the chart's locustfiles
# (not a Python package name, so it can never shadow a scenario's folder).
SLA_FOLDER_IN_CHART = "sla-file"
DEMO_TARGET_PORT = 8080  # the chart's demoTarget.port default
DEMO_TARGET_FILE = "demo-target.json"  # the in-cluster demo target's own counters, collected at the end


def chart_values(
    spec: RunSpec, run_id: str, workers: int, sla_file: str | None, shape_env: dict[str, str],
    *, sla_text: str | None = None,
) -> dict[str, Any]:
    """The chart values for one run (spec.helm_values merged over them last). `sla_file` is the SLA's
    path among the locustfiles; `sla_text` its content when it is not one of them (--sla elsewhere)."""
    scenario = spec.scenario_name
    if spec.locustfiles:
        files = {p.name: p.read_text(encoding="utf-8") for p in spec.locustfiles}
        if (spec.locustfiles_dir / "lib").is_dir():
            files.update(collect_locustfiles(spec.locustfiles_dir, "lib"))
        locustfile = ",".join(p.name for p in spec.locustfiles)
    else:
        files = collect_locustfiles(spec.locustfiles_dir, scenario)
        locustfile = f"{scenario}/locustfile.py"
    if sla_file is not None and sla_text is not None:
        files[sla_file] = sla_text
    values: dict[str, Any] = {
        "run": {
            "id": run_id,
            "scenario": scenario,
            "host": spec.host or "",
            "users": 0 if spec.shape else spec.users,
            "spawnRate": 0 if spec.shape else spec.effective_spawn_rate,
            "runTime": "" if spec.shape else f"{int(spec.duration)}s",
            "stopTimeout": int(spec.stop_timeout),
            "tags": list(spec.tags),
            "excludeTags": list(spec.exclude_tags),
            "allowedHosts": list(spec.allowed_hosts),
            "hold": True,
            "env": shape_env,
        },
        "workers": {"replicas": workers},
        "locustfiles": {
            "files": files,
            "locustfile": locustfile,
            "extraPaths": [SHAPEFILE_IN_IMAGE] if spec.shape else [],
        },
        "sla": {"file": sla_file or ""},
        # Every run is judged: by its SLA file, else by the baseline gate; --no-gate judges none.
        "gate": {"enabled": not spec.no_gate},
        "artifacts": {"persistence": {"enabled": not spec.no_gate}},
        # No host: the release deploys the bundled demo target and the run aims at it (the chart's
        # loadtest.targetHost), as the local backend starts it on loopback.
        "demoTarget": {"enabled": spec.host is None, "workers": spec.demo_workers},
        # The runner's ServiceAccount and Role are for the release that schedules runs (the
        # CronJob); a run's own pods mount no token. Creating them would also need the right to
        # grant roles, which the runner's Role rightly lacks: the in-cluster controller failed here.
        "rbac": {"create": False},
        "serviceAccount": {"create": False},
    }
    return _merge(values, spec.helm_values)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class KubeBackend:
    def __init__(
        self,
        spec: RunSpec,
        run_id: str,
        run_dir: Path,
        values: dict[str, Any],
        log: EventLog,
        progress: ProgressDisplay,
    ) -> None:
        self.spec = spec
        self.release = run_id
        self.run_dir = run_dir
        self.values = values
        self.log = log
        self.progress = progress
        self.api = KubeApi(spec.namespace, spec.kubeconfig, spec.kube_context)
        self.helm = pyhelm3.Client(
            executable=str(helm_path()),
            kubeconfig=spec.kubeconfig,
            kubecontext=spec.kube_context,
            default_timeout=HELM_TIMEOUT,
        )
        self.installed = False

    # helm through pyhelm3 ------------------------------------------------------------------

    def _helm(self, what: str, coro: Any) -> Any:
        try:
            return asyncio.run(coro)
        except pyhelm3.errors.Error as exc:
            raise ClusterError(f"helm {what} of release {self.release!r} failed: {helm_error_detail(exc)}") from exc

    def install(self) -> None:
        async def go() -> Any:
            chart = await self.helm.get_chart(chart_path())
            return await self.helm.install_or_upgrade_release(
                self.release, chart, self.values, namespace=self.spec.namespace, create_namespace=False, wait=False
            )

        self.installed = True  # from here on, cleanup must run even if install half-failed
        revision = self._helm("install", go())
        self.log("helm_installed", release=self.release, namespace=self.spec.namespace, revision=revision.revision)
        manifests = self._helm("get manifest", revision.resources())
        (self.run_dir / "manifests.yaml").write_text(yaml.safe_dump_all(list(manifests)), encoding="utf-8")

    def uninstall(self) -> None:
        self._helm("uninstall", self.helm.uninstall_release(self.release, namespace=self.spec.namespace, wait=True))
        deadline = time.monotonic() + 120
        left = self.api.leftovers(self.release)
        while left and time.monotonic() < deadline:
            time.sleep(POLL_S)
            left = self.api.leftovers(self.release)
        if left:
            raise ClusterError(f"objects of release {self.release!r} still exist after uninstall: {left}")
        self.log("helm_uninstalled", release=self.release)

    # the run ---------------------------------------------------------------------------------

    def run(self, run_seconds: float | None) -> KubeOutcome:
        self.api.check_namespace()
        outcome = KubeOutcome(exit_code=ExitCode.RUN_ERROR)
        succeeded = False
        try:
            self.install()
            self._wait_available()
            outcome = self._follow(run_seconds)
            succeeded = outcome.exit_code == ExitCode.PASS
        except KeyboardInterrupt:
            outcome = KubeOutcome(exit_code=ExitCode.INTERRUPTED, interrupted=True)
            self.log("interrupted", detail="Ctrl-C or SIGTERM: collecting artifacts and cleaning up")
            self.progress.message("interrupted: collecting artifacts and cleaning up ...")
        finally:
            if self.installed:
                self._collect()
                if self.spec.cleanup == Cleanup.ALWAYS or (self.spec.cleanup == Cleanup.ON_SUCCESS and succeeded):
                    self.uninstall()
                else:
                    self.progress.message(f"release {self.release} kept (cleanup={self.spec.cleanup.value})")
        return outcome

    def _wait_available(self) -> None:
        workers = int(self.values["workers"]["replicas"])
        deadline = time.monotonic() + self.spec.start_timeout
        master = worker = (0, -1)
        while time.monotonic() < deadline:
            master = self.api.deployment_available(self.release, "master")
            worker = self.api.deployment_available(self.release, "worker")
            if master[0] >= 1 and worker[0] >= workers:
                self.log("deployments_available", master=master[0], workers=worker[0])
                break
            time.sleep(POLL_S)
        else:
            raise RunError(
                f"after {self.spec.start_timeout:.0f} s only {max(master[0], 0)} of 1 master and "
                f"{max(worker[0], 0)} of {workers} worker pods are available in namespace {self.spec.namespace!r}",
                hint=f"kubectl -n {self.spec.namespace} describe pods -l app.kubernetes.io/instance={self.release}",
            )
        if self.spec.wait_for_workers:
            self._wait_connected(workers, deadline)

    def _wait_connected(self, workers: int, deadline: float) -> None:
        """Workers connected to the master, read from its /metrics through the API server."""
        port = int(self.values.get("master", {}).get("ports", {}).get("metrics", METRICS_PORT))
        connected = 0
        while time.monotonic() < deadline:
            service = self.api.service(self.release, "master")
            text = (self.api.proxy_get(service, port, "metrics") if service else None) or ""
            connected = _connected_workers(text)
            if connected >= workers:
                self.log("workers_connected", count=connected)
                return
            time.sleep(POLL_S)
        raise RunError(
            f"only {connected} of {workers} workers connected to the master within {self.spec.start_timeout:.0f} s",
            hint="check the worker logs in the artifacts; set wait_for_workers=false where the master "
            "cannot be reached through the API server",
        )

    def _follow(self, run_seconds: float | None) -> KubeOutcome:
        gate = bool(self.values["gate"]["enabled"])
        started = time.monotonic()
        planned = run_seconds or 0.0
        limit = planned + self.spec.stop_timeout + GATE_SLACK_S + (3600.0 if run_seconds is None else 0.0)
        while True:
            elapsed = time.monotonic() - started
            left = f", {clock(planned - elapsed)} of run time left" if run_seconds else ""
            watching = "waiting for the gate Job" if gate else "running"
            self.progress.show(f"[{clock(elapsed)}] release {self.release}: {watching}{left}")
            if gate:
                state = self.api.gate_job(self.release)
                if state is not None and state.done:
                    code = (
                        GATE_EXIT.get(state.exit_code or 0, ExitCode.RUN_ERROR)
                        if not state.succeeded
                        else ExitCode.PASS
                    )
                    self.log("gate_finished", state=state.reason, exit_code=state.exit_code, result=int(code))
                    self._write_gate(state.reason, state.exit_code, code)
                    return KubeOutcome(exit_code=code, gate=state.reason)
            elif elapsed >= planned + self.spec.stop_timeout:
                self.log("run_time_elapsed", seconds=round(elapsed, 1))
                return KubeOutcome(exit_code=ExitCode.PASS)
            if elapsed > limit:
                raise RunError(
                    f"the gate Job of release {self.release!r} did not finish within {limit:.0f} s",
                    hint="see logs/gate.log and events.json in the artifacts",
                )
            time.sleep(POLL_S)

    def _write_gate(self, reason: str, exit_code: int | None, code: ExitCode) -> None:
        outcome = {ExitCode.PASS: "PASS", ExitCode.FAIL: "FAIL", ExitCode.INCONCLUSIVE: "INCONCLUSIVE"}.get(
            code, "ERROR"
        )
        data = {
            "outcome": outcome,
            "source": f"gate Job of release {self.release}",
            "job": reason,
            "exit_code": exit_code,
        }
        (self.run_dir / "gate.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    def _collect(self) -> None:
        """Logs of every pod, the release's events and pod states: written whatever happened."""
        try:
            logs = self.run_dir / "logs"
            logs.mkdir(exist_ok=True)
            pods = self.api.pods(self.release)
            states = []
            unpacked: list[str] = []
            for pod in pods:
                name = pod.metadata.name
                component = (pod.metadata.labels or {}).get("app.kubernetes.io/component", "pod")
                text = self.api.pod_log(name)
                if component == "gate":
                    unpacked += bundle.extract(text, self.run_dir)
                    text = text.split(bundle.BEGIN)[0]  # the bundle itself is now files, not log
                (logs / f"{component}-{name}.log").write_text(text, encoding="utf-8")
                states.append({"pod": name, "component": component, "phase": pod.status.phase})
            self.log("artifacts_unpacked" if unpacked else "artifacts_bundle_missing", files=unpacked)
            (self.run_dir / "pods.json").write_text(json.dumps(states, indent=1) + "\n", encoding="utf-8")
            events = self.api.events(self.release)
            (self.run_dir / "events.json").write_text(json.dumps(events, indent=1) + "\n", encoding="utf-8")
            self._collect_target_counts()
            self.log("artifacts_collected", pods=len(pods), events=len(events))
        except ClusterError as exc:
            self.log("artifacts_incomplete", error=str(exc))
            self.progress.message(f"warning: could not collect every artifact: {exc}")

    def _collect_target_counts(self) -> None:
        """The in-cluster demo target's own counters (what it served, by route), as demo-target.json:
        the platform's request counts can be checked against the target's, as locally."""
        if not self.values.get("demoTarget", {}).get("enabled"):
            return
        service = self.api.service(self.release, "demo-target")
        port = int(self.values["demoTarget"].get("port", DEMO_TARGET_PORT))
        text = self.api.proxy_get(service, port, "_control/stats") if service else None
        if text is None:
            self.log("demo_target_counts_missing", service=service)
            return
        (self.run_dir / DEMO_TARGET_FILE).write_text(text, encoding="utf-8")
        self.log("demo_target_counts", file=DEMO_TARGET_FILE)


def _connected_workers(metrics_text: str) -> int:
    """Sum of loadtest_workers in the ready/spawning/running states from a /metrics body."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("loadtest_workers{") and any(
            f'state="{s}"' in line for s in ("ready", "spawning", "running")
        ):
            total += float(line.rsplit(" ", 1)[-1])
    return int(total)
