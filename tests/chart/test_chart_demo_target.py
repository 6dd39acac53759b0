"""A kubernetes run without a host: the controller's values deploy the bundled demo target with the
release and aim the run (and the allowlist) at it; an SLA file from elsewhere travels with the run."""

from __future__ import annotations

from typing import Any

from chartkit import Helm, env_of, find

from loadtest.backends.kubernetes.deploying import SLA_FOLDER_IN_CHART, chart_values
from loadtest.core.spec import resolve

RUN_ID = "smoke-1"


def objects(helm: Helm, host: str | None) -> list[dict[str, Any]]:
    flags = {"backend": "kubernetes", "scenario": "api_browsing", **({"host": host} if host else {})}
    spec = resolve(spec_file=None, environ={}, flags=flags)
    sla = f"{SLA_FOLDER_IN_CHART}/mine.yaml"
    return helm.template(values=chart_values(spec, RUN_ID, 2, sla, {}, sla_text="version: 1\n"))


def master_args(docs: list[dict[str, Any]]) -> list[str]:
    container = find(docs, "Deployment", "-master")["spec"]["template"]["spec"]["containers"][0]
    return list(container["args"])


def test_no_host_deploys_the_demo_target_and_aims_the_run_at_it(helm: Helm) -> None:
    docs = objects(helm, None)
    target = find(docs, "Deployment", "-demo-target")
    service = find(docs, "Service", "-demo-target")
    url = f"http://{service['metadata']['name']}:8080"
    assert f"--host={url}" in master_args(docs)
    worker = find(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(worker)["LOADTEST_GUARD_HOSTS"]["value"] == f"{service['metadata']['name']}:8080"
    # the master starts no user before the target answers
    waiting = find(docs, "Deployment", "-master")["spec"]["template"]["spec"]["initContainers"][0]
    assert waiting["command"][-1] == url
    # only this release's workers (the load) and master (the wait above) reach the target
    policy = find(docs, "NetworkPolicy", "-demo-target")
    assert policy["spec"]["podSelector"]["matchLabels"] == target["spec"]["selector"]["matchLabels"]
    peers = policy["spec"]["ingress"][0]["from"]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in peers] == ["worker", "master"]
    release = target["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]
    assert {p["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] for p in peers} == {release}


def test_a_host_keeps_the_demo_target_out(helm: Helm) -> None:
    docs = objects(helm, "https://staging.example.com")
    assert not [d for d in docs if d["metadata"]["name"].endswith("-demo-target")]
    assert "--host=https://staging.example.com" in master_args(docs)
    assert "initContainers" not in find(docs, "Deployment", "-master")["spec"]["template"]["spec"]


def test_an_sla_file_from_elsewhere_is_shipped_with_the_locustfiles(helm: Helm) -> None:
    docs = objects(helm, "https://staging.example.com")
    data = find(docs, "ConfigMap", "-locustfiles")["data"]
    assert "version: 1\n" in data.values()
    assert f"--loadtest-sla=/locust/{SLA_FOLDER_IN_CHART}/mine.yaml" in master_args(docs)
