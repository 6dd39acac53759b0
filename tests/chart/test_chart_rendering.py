"""pyhelm3 renders what the helm CLI renders; the locustfiles checksum tracks script content only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import NAMESPACE, RELEASE, REPO, SCENARIOS, Helm, find, pod_specs, scenario_id

from loadtest.backends.kubernetes import rendering
from loadtest.core.errors import ClusterError

CHECKSUM = "checksum/locustfiles"
FILES = {
    "shop/locustfile.py": "from lib import Api\n\nprint('v1')\n",
    "shop/sla.yaml": "version: 1\n",
    "lib/__init__.py": "",
    "lib/api.py": "class Api: ...\n",
}


def values_with(files: dict[str, str], **run: Any) -> dict[str, Any]:
    return {"locustfiles": {"files": files, "locustfile": "shop/locustfile.py"}, "run": {"users": 10, **run}}


def checksums(objects: list[dict[str, Any]]) -> set[str]:
    """The checksum annotation on the ConfigMap and every load pod (they must agree)."""
    found = {find(objects, "ConfigMap", "-locustfiles")["metadata"]["annotations"][CHECKSUM]}
    for _, meta, _ in pod_specs(objects):
        if meta["labels"]["app.kubernetes.io/component"] in ("master", "worker", "gate"):
            found.add(meta["annotations"][CHECKSUM])
    return found


@pytest.fixture(scope="module")
def helm_binary(helm: Helm) -> Path:
    return helm.path


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_pyhelm3_renders_the_same_objects_as_the_helm_cli(helm: Helm, helm_binary: Path, values: Path) -> None:
    cli = helm.template(values)
    via_pyhelm3 = rendering.render(
        yaml.safe_load(values.read_text()) or {}, release=RELEASE, namespace=NAMESPACE, helm=helm_binary
    )
    assert masked(via_pyhelm3) == masked(cli)  # the run secret is random per render, by design
    assert len(cli) >= 8


def masked(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with the run secret's random value replaced, after checking it is there."""
    out = []
    for obj in objects:
        if obj["kind"] == "Secret" and obj["metadata"]["name"].endswith("-run"):
            assert len(obj["data"]["run-secret"]) == 64  # base64 of 48 random characters
            obj = {**obj, "data": {"run-secret": "<random>"}}
        out.append(obj)
    return out


def test_render_works_inside_a_running_event_loop(helm_binary: Path) -> None:
    async def caller() -> list[dict[str, Any]]:
        return rendering.render({}, release="inloop", namespace="ns", helm=helm_binary)

    objects = asyncio.run(caller())
    assert find(objects, "Deployment", "-master")["metadata"]["namespace"] == "ns"


def test_render_reports_bad_values_as_a_cluster_error_naming_the_key(helm_binary: Path) -> None:
    with pytest.raises(ClusterError) as caught:
        rendering.render({"workers": {"replicas": "many"}}, release="bad", namespace="ns", helm=helm_binary)
    assert "/workers/replicas" in caught.value.message and caught.value.hint


def test_render_finds_helm_in_the_tools_cache_and_the_chart_in_the_source_tree(
    helm_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOADTEST_HELM", raising=False)
    monkeypatch.delenv("LOADTEST_CHART", raising=False)
    monkeypatch.setenv("LOADTEST_CACHE", str(helm_binary.parent.parent))
    assert rendering.helm_path() == helm_binary
    assert rendering.chart_path() == REPO / "charts" / "loadtest"


def test_a_missing_helm_is_an_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOADTEST_HELM", str(tmp_path / "helm"))
    with pytest.raises(ClusterError) as caught:
        rendering.helm_path()
    assert "install-helm.sh" in (caught.value.hint or "")


def test_changing_a_locustfile_changes_the_checksum_annotation(helm: Helm) -> None:
    before = checksums(helm.template(values=values_with(FILES)))
    after = checksums(helm.template(values=values_with({**FILES, "shop/locustfile.py": "print('v2')\n"})))
    assert len(before) == 1 and len(after) == 1 and before != after


def test_changing_a_lib_helper_or_adding_a_file_changes_the_checksum(helm: Helm) -> None:
    base = checksums(helm.template(values=values_with(FILES)))
    helper = checksums(helm.template(values=values_with({**FILES, "lib/api.py": "class Api: pass\n"})))
    added = checksums(helm.template(values=values_with({**FILES, "lib/extra.py": ""})))
    assert len({*base, *helper, *added}) == 3


def test_the_checksum_is_stable_when_nothing_or_only_run_settings_change(helm: Helm) -> None:
    first = checksums(helm.template(values=values_with(FILES)))
    again = checksums(helm.template(values=values_with(dict(reversed(FILES.items())))))
    other_run = checksums(helm.template(values=values_with(FILES, users=500, runTime="5m")))
    assert len(first) == 1 and first == again == other_run


def test_locustfiles_reach_the_pods_byte_for_byte_at_their_relative_paths(helm: Helm) -> None:
    objects = helm.template(values=values_with(FILES))
    config_map = find(objects, "ConfigMap", "-locustfiles")
    master = find(objects, "Deployment", "-master")["spec"]["template"]["spec"]
    volume = next(v for v in master["volumes"] if v["name"] == "locustfiles")
    mapped = {item["path"]: config_map["data"][item["key"]] for item in volume["configMap"]["items"]}
    assert mapped == FILES
    container = master["containers"][0]
    assert {"name": "PYTHONPATH", "value": "/locust"} in container["env"]
    assert container["args"][:2] == ["-f", "/locust/shop/locustfile.py"]


def test_collect_locustfiles_takes_the_scenario_folder_and_the_shared_lib(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "locustfile.py").write_text("x = 1\n")
    (tmp_path / "shop" / "sla.yaml").write_text("version: 1\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "locustfile.py").write_text("y = 2\n")
    (tmp_path / "lib" / "__pycache__").mkdir(parents=True)
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "__pycache__" / "api.cpython-311.pyc").write_bytes(b"\0")
    assert rendering.collect_locustfiles(tmp_path, "shop") == {
        "lib/__init__.py": "",
        "shop/locustfile.py": "x = 1\n",
        "shop/sla.yaml": "version: 1\n",
    }


def test_the_repository_scenarios_render_through_collect_locustfiles(helm_binary: Path) -> None:
    scenarios = sorted(p.parent.name for p in (REPO / "locustfiles").glob("*/locustfile.py"))
    assert scenarios, "no locustfiles/<scenario>/locustfile.py in the repository"
    for scenario in scenarios:
        files = rendering.collect_locustfiles(REPO / "locustfiles", scenario)
        values = {"locustfiles": {"files": files, "locustfile": f"{scenario}/locustfile.py"}}
        objects = rendering.render(values, release="repo", namespace="ns", helm=helm_binary)
        data = find(objects, "ConfigMap", "-locustfiles")["data"]
        assert data[f"{scenario}--locustfile.py"] == files[f"{scenario}/locustfile.py"]
        assert any(key.startswith("lib--") for key in data)
