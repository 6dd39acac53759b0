"""What the rendered objects promise: network isolation, Secret-only credentials, namespaced RBAC,
a run that holds instead of restarting, the gate Job, monitors, dashboards and NOTES."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from chartkit import CHART, NAMESPACE, RELEASE, Helm, env_of, find, pod_specs

WORKER_SELECTOR = {
    "app.kubernetes.io/name": "loadtest",
    "app.kubernetes.io/instance": RELEASE,
    "app.kubernetes.io/component": "worker",
}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions with In) selects `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: meta["labels"] for name, meta, _ in pod_specs(objects)}


def test_only_this_releases_workers_may_reach_the_master_port(rendered: Any) -> None:
    for scenario in rendered.paths:
        objects = rendered[scenario]
        policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
        master_pods = find(objects, "Deployment", "-master")["spec"]["template"]["metadata"]["labels"]
        worker_pods = find(objects, "Deployment", "-worker")["spec"]["template"]["metadata"]["labels"]
        master_policies = [p for p in policies if selects(p["spec"]["podSelector"], master_pods)]
        assert len(master_policies) == 1, scenario
        ingress = master_policies[0]["spec"]["ingress"]
        assert all(rule.get("ports") for rule in ingress), "a rule without ports opens every port"
        to_5557 = [rule for rule in ingress if any(p["port"] == 5557 for p in rule["ports"])]
        assert len(to_5557) == 1
        assert to_5557[0]["from"] == [{"podSelector": {"matchLabels": WORKER_SELECTOR}}]
        peer = to_5557[0]["from"][0]["podSelector"]
        assert selects(peer, worker_pods)
        assert not selects(peer, master_pods)
        assert not selects(peer, {**worker_pods, "app.kubernetes.io/instance": "another-run"})
        others = {name: labels for name, labels in pod_labels(objects).items() if "-worker" not in name}
        assert [name for name, labels in others.items() if selects(peer, labels)] == []


def test_workers_accept_no_ingress_at_all(rendered: Any) -> None:
    objects = rendered["defaults"]
    worker_pods = find(objects, "Deployment", "-worker")["spec"]["template"]["metadata"]["labels"]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy" and selects(o["spec"]["podSelector"], worker_pods)]
    assert len(policies) == 1
    assert policies[0]["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in policies[0]["spec"]


def test_the_web_port_admits_only_the_listed_peers_and_the_helm_test_pod(rendered: Any) -> None:
    objects = rendered["monitors"]
    ingress = find(objects, "NetworkPolicy", "-master")["spec"]["ingress"]
    web = [rule for rule in ingress if any(p["port"] == 8089 for p in rule["ports"])]
    assert len(web) == 1
    values = yaml.safe_load((CHART / "ci" / "monitors-values.yaml").read_text())
    test_peer = {"podSelector": {"matchLabels": {**WORKER_SELECTOR, "app.kubernetes.io/component": "test"}}}
    assert web[0]["from"] == [*values["networkPolicy"]["web"]["from"], test_peer]


def test_target_credentials_come_only_from_secret_key_refs(rendered: Any) -> None:
    values = yaml.safe_load((CHART / "ci" / "gate-values.yaml").read_text())
    auth = values["targetAuth"]
    objects = rendered["gate"]
    # the chart makes one Secret of its own, the run secret; target credentials are never in one it makes
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"] == [f"{RELEASE}-loadtest-run"]
    for suffix in ("-master", "-worker"):
        container = find(objects, "Deployment", suffix)["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        for name, key in auth["env"].items():
            assert env[name] == {
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": auth["existingSecret"], "key": key}},
            }
    for scenario in rendered.paths:
        for name, _, spec in pod_specs(rendered[scenario]):
            for container in spec["containers"]:
                plain = [e["name"] for e in container.get("env", []) if "value" in e]
                assert [n for n in plain if any(w in n for w in ("TOKEN", "PASSWORD", "SECRET"))] == [], name


def test_the_run_secret_reaches_the_master_and_the_workers_only(rendered: Any) -> None:
    for scenario in rendered.paths:
        objects = rendered[scenario]
        secret = find(objects, "Secret", "-run")
        assert secret["type"] == "Opaque" and len(secret["data"]["run-secret"]) >= 48
        ref = {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "run-secret"}}
        holders = sorted(
            name
            for name, _, spec in pod_specs(objects)
            for c in spec["containers"]
            if any(e.get("valueFrom") == ref for e in c.get("env", []))
        )
        assert [h.rsplit("-", 1)[-1] for h in holders] == ["master", "worker"], (scenario, holders)
        mounted = [n for n, _, spec in pod_specs(objects) for v in spec.get("volumes", []) if "secret" in v]
        assert mounted == [], scenario


def test_the_allowlist_guard_gets_the_target_and_the_allowed_hosts(helm: Helm) -> None:
    values = {"run": {"host": "https://api.staging.example.com:8443", "allowedHosts": ["*.cdn.example.com"]}}
    objects = helm.template(values=values)
    for suffix in ("-master", "-worker"):
        env = env_of(find(objects, "Deployment", suffix)["spec"]["template"]["spec"]["containers"][0])
        assert env["LOADTEST_GUARD_HOSTS"]["value"] == "*.cdn.example.com,api.staging.example.com:8443"
    gate = helm.template(values={})
    env = env_of(find(gate, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0])
    assert "LOADTEST_GUARD_HOSTS" not in env  # no host and no allowlist: the locustfile's own host


def test_rbac_is_a_namespaced_role_without_wildcards_or_cluster_resources(rendered: Any) -> None:
    cluster_scoped = {"nodes", "namespaces", "persistentvolumes", "clusterroles", "clusterrolebindings"}
    for scenario in rendered.paths:
        objects = rendered[scenario]
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, scenario
        role = find(objects, "Role", "-runner")
        binding = find(objects, "RoleBinding", "-runner")
        assert role["metadata"]["namespace"] == NAMESPACE == binding["metadata"]["namespace"]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"],
        }  # fmt: skip
        assert binding["subjects"][0]["namespace"] == NAMESPACE
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not set(rule["resources"]) & cluster_scoped
            escalation = {"roles", "rolebindings", "escalate", "bind", "impersonate"}
            assert not escalation & set(rule["resources"] + rule["verbs"])


def test_a_finished_run_holds_instead_of_restarting(rendered: Any) -> None:
    objects = rendered["users-1000"]
    master = find(objects, "Deployment", "-master")
    workers = find(objects, "Deployment", "-worker")
    master_args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--loadtest-hold" in master_args and "--headless" in master_args
    assert "--loadtest-hold" in workers["spec"]["template"]["spec"]["containers"][0]["args"]
    assert master["spec"]["replicas"] == 1 and master["spec"]["strategy"] == {"type": "Recreate"}
    assert "livenessProbe" not in master["spec"]["template"]["spec"]["containers"][0]


def test_the_1000_user_scenario_runs_10_workers_that_the_master_waits_for(rendered: Any) -> None:
    objects = rendered["users-1000"]
    assert find(objects, "Deployment", "-worker")["spec"]["replicas"] == 10
    args = find(objects, "Deployment", "-master")["spec"]["template"]["spec"]["containers"][0]["args"]
    for expected in ("--users=1000", "--spawn-rate=50", "--run-time=10m", "--expect-workers=10",
                     "--loadtest-expect-workers=10", "--host=https://staging.example.com",
                     "--loadtest-sla=/locust/api_browsing/sla.yaml",
                     "--loadtest-artifacts=/artifacts/api-browsing-20261121-0200-ab12"):  # fmt: skip
        assert expected in args
    assert args[args.index("--tags") + 1 : args.index("--tags") + 3] == ["catalog", "search"]


def test_the_gate_job_evaluates_the_runs_stats_from_the_shared_claim_once(rendered: Any) -> None:
    objects = rendered["gate"]
    job = find(objects, "Job", "-gate")
    spec = job["spec"]["template"]["spec"]
    assert job["spec"]["backoffLimit"] == 0 and spec["restartPolicy"] == "Never"
    claim = find(objects, "PersistentVolumeClaim", "-artifacts")["metadata"]["name"]
    master = find(objects, "Deployment", "-master")["spec"]["template"]["spec"]
    for pod in (spec, master):
        artifacts = next(v for v in pod["volumes"] if v["name"] == "artifacts")
        assert artifacts["persistentVolumeClaim"]["claimName"] == claim
    env = env_of(spec["containers"][0])
    assert env["LOADTEST_GATE_STATS"]["value"] == "/artifacts/checkout-nightly/stats.json"
    assert env["LOADTEST_GATE_SLA"]["value"] == "/locust/checkout/sla.yaml"
    script = spec["containers"][0]["command"][2]
    assert 'loadtest gate --stats "$LOADTEST_GATE_STATS"' in script
    bundle = script.index("python -m loadtest.backends.kubernetes.bundle")
    assert script.index("loadtest gate") < bundle < script.index('exit "$code"')
    affinity = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert affinity["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "master"


def test_the_cron_job_runs_the_controller_under_the_namespaced_service_account(rendered: Any) -> None:
    objects = rendered["cron"]
    cron = find(objects, "CronJob", "-scheduled")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == find(objects, "ServiceAccount", "-runner")["metadata"]["name"]
    env = env_of(pod["containers"][0])
    assert env["LOADTEST_BACKEND"]["value"] == "kubernetes" and env["LOADTEST_NAMESPACE"]["value"] == NAMESPACE
    assert env["LOADTEST_USERS"]["value"] == "1000"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["timeZone"] == "Europe/Berlin"


def test_monitors_select_the_master_metrics_port(rendered: Any) -> None:
    objects = rendered["monitors"]
    master_service = find(objects, "Service", "-master")
    service_monitor = find(objects, "ServiceMonitor")
    assert selects(service_monitor["spec"]["selector"], master_service["metadata"]["labels"])
    assert service_monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert "metrics" in {p["name"] for p in master_service["spec"]["ports"]}
    master_pod = find(objects, "Deployment", "-master")["spec"]["template"]["metadata"]
    assert selects(find(objects, "PodMonitor")["spec"]["selector"], master_pod["labels"])
    assert master_pod["annotations"]["prometheus.io/port"] == "9646"
    assert service_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_the_prometheus_rule_carries_the_rules_file_unchanged(rendered: Any) -> None:
    rules = yaml.safe_load((CHART / "rules" / "loadtest.rules.yaml").read_text())
    rule = find(rendered["monitors"], "PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"] and rules["groups"]


def test_every_dashboard_ships_as_a_configmap_with_the_sidecar_label(rendered: Any) -> None:
    dashboards = sorted((CHART / "dashboards").rglob("*.json"))  # Prometheus boards, and history/ (PostgreSQL)
    assert dashboards, "charts/loadtest/dashboards/*.json is missing"
    maps = [o for o in rendered["monitors"] if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]]
    assert len(maps) == len(dashboards)
    shipped = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Load tests"}
        shipped.update(cm["data"])
    assert shipped == {p.name: p.read_text() for p in dashboards}
    assert all(json.loads(text) for text in shipped.values())
    assert [o for o in rendered["defaults"] if "-dashboard-" in o["metadata"]["name"]] == []


def test_the_dashboard_label_is_configurable(helm: Helm) -> None:
    values = {"grafana": {"dashboards": {"enabled": True, "label": "dash", "labelValue": "yes"}}}
    maps = [o for o in helm.template(values=values) if "-dashboard-" in o["metadata"]["name"]]
    assert maps and all(m["metadata"]["labels"]["dash"] == "yes" for m in maps)


def test_notes_print_the_commands_to_watch_the_run(helm: Helm, tmp_path: Path) -> None:
    """helm template does not render NOTES.txt, so render a copy of it as a ConfigMap."""
    chart = tmp_path / "loadtest"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "zz-notes.yaml").write_text(
        '{{- define "notes.text" -}}\n' + notes + "\n{{- end -}}\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ include "notes.text" . | quote }}\n'
    )
    text = helm.template_text(CHART / "ci" / "gate-values.yaml", chart=chart)
    rendered_notes = next(d for d in yaml.safe_load_all(text) if d and d["metadata"]["name"] == "notes")
    out = rendered_notes["data"]["notes"]
    for command in (
        f"kubectl -n {NAMESPACE} rollout status deployment/lt-loadtest-master deployment/lt-loadtest-worker",
        f"kubectl -n {NAMESPACE} logs -f deployment/lt-loadtest-master",
        "cat /artifacts/checkout-nightly/status.json",
        f"kubectl -n {NAMESPACE} wait --for=condition=complete job/lt-loadtest-gate",
        f"helm test -n {NAMESPACE} {RELEASE}",
    ):
        assert command in out


def test_without_an_sla_file_the_gate_job_applies_the_baseline_gate(helm: Helm) -> None:
    values = {"gate": {"enabled": True}, "artifacts": {"persistence": {"enabled": True}}}
    job = find(helm.template(values=values), "Job", "-gate")["spec"]["template"]["spec"]["containers"][0]
    assert "LOADTEST_GATE_SLA" not in env_of(job)  # `loadtest gate` without --sla: the baseline gate
    assert "--sla" not in job["command"][2]
    with_sla = {**values, "sla": {"file": "locustfile.py"}}
    job = find(helm.template(values=with_sla), "Job", "-gate")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(job)["LOADTEST_GATE_SLA"]["value"] == "/locust/locustfile.py"


def test_scheduled_runs_record_into_the_store_named_by_a_secret(helm: Helm) -> None:
    values = {"cron": {"enabled": True, "history": {"existingSecret": "nightly-history"}}}
    runner = find(helm.template(values=values), "CronJob", "-scheduled")
    pod = runner["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["LOADTEST_HISTORY_URL"]["valueFrom"] == {"secretKeyRef": {"name": "nightly-history", "key": "url"}}
    password = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "nightly-history", "key": "password", "optional": True}
    assert "value" not in env["LOADTEST_HISTORY_URL"]
    results = next(v for v in pod["volumes"] if v["name"] == "results")
    assert "emptyDir" in results  # without persistence: the SQLite fallback would not outlive the night


def test_without_a_history_secret_the_sqlite_store_lives_on_the_artifacts_claim(helm: Helm) -> None:
    values = {"cron": {"enabled": True}, "artifacts": {"persistence": {"enabled": True}}}
    objects = helm.template(values=values)
    pod = find(objects, "CronJob", "-scheduled")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "LOADTEST_HISTORY_URL" not in env_of(pod["containers"][0])
    results = next(v for v in pod["volumes"] if v["name"] == "results")
    claim = find(objects, "PersistentVolumeClaim")["metadata"]["name"]
    assert results["persistentVolumeClaim"] == {"claimName": claim}
