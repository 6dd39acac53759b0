"""values.yaml and values.schema.json: documented, camelCase, strict; bad values named in helm's error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from chartkit import CHART, Helm

VALUES = CHART / "values.yaml"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z][A-Za-z0-9_]*):(\s|$)")


def schema_nodes(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from schema_nodes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from schema_nodes(value, f"{path}[{i}]")


def test_every_values_key_has_a_comment_line_above_it() -> None:
    lines = VALUES.read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if not match:
            continue
        above = lines[i - 1].strip() if i else ""
        if not above.startswith("#"):
            undocumented.append(f"line {i + 1}: {match['key']}")
    assert undocumented == []


def test_every_values_key_is_camel_case() -> None:
    keys = [m["key"] for line in VALUES.read_text().splitlines() if (m := KEY_LINE.match(line))]
    assert len(keys) > 100
    assert [k for k in keys if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", k)] == []


def test_resources_are_unset_by_default() -> None:
    values = yaml.safe_load(VALUES.read_text())
    for section in ("master", "workers", "gate", "cron"):
        assert values[section]["resources"] == {}, section


def test_integrations_are_off_by_default() -> None:
    values = yaml.safe_load(VALUES.read_text())
    assert values["metrics"]["serviceMonitor"]["enabled"] is False
    assert values["metrics"]["podMonitor"]["enabled"] is False
    assert values["metrics"]["prometheusRule"]["enabled"] is False
    assert values["grafana"]["dashboards"]["enabled"] is False
    assert values["cron"]["enabled"] is False
    assert values["gate"]["enabled"] is False


def test_schema_forbids_unknown_keys_in_every_object_and_describes_every_property() -> None:
    loose, undescribed = [], []
    for path, node in schema_nodes(SCHEMA):
        if "properties" in node and node.get("additionalProperties") is not False:
            loose.append(path)
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and not prop.get("description"):
                undescribed.append(f"{path}.{name}")
    assert loose == [] and undescribed == []


def test_schema_covers_exactly_the_keys_of_values_yaml() -> None:
    values = yaml.safe_load(VALUES.read_text())

    def missing(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
        if "$ref" in schema:
            schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
        props = schema.get("properties")
        if not isinstance(value, dict) or props is None:
            return
        for key, sub in value.items():
            if key not in props:
                yield f"{path}.{key}"
            else:
                yield from missing(sub, props[key], f"{path}.{key}")

    assert list(missing(values, SCHEMA, "")) == []


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"replicas": 3}, "'replicas'"),
        ({"workers": {"replica": 3}}, "'replica'"),
        ({"run": {"userz": 10}}, "'userz'"),
        ({"metrics": {"serviceMonitor": {"enable": True}}}, "'enable'"),
        ({"targetAuth": {"password": "hunter2"}}, "'password'"),
        ({"master": {"resources": {"limit": {"cpu": 1}}}}, "'limit'"),
    ],
)
def test_unknown_keys_are_rejected_with_the_key_named(helm: Helm, values: dict[str, Any], named: str) -> None:
    error = helm.template_error(values)
    assert "additional properties" in error and named in error


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"workers": {"replicas": "ten"}}, "/workers/replicas"),
        ({"run": {"users": "1000"}}, "/run/users"),
        ({"run": {"hold": "yes"}}, "/run/hold"),
        ({"master": {"ports": {"metrics": 70000}}}, "/master/ports/metrics"),
        ({"workers": {"replicas": 0}}, "/workers/replicas"),
        ({"run": {"host": "staging.example.com"}}, "/run/host"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ],
)
def test_wrong_types_and_values_are_rejected_with_the_key_named(helm: Helm, values: dict[str, Any], path: str) -> None:
    error = helm.template_error(values)
    assert f"at '{path}" in error


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"gate": {"enabled": True}}, "artifacts.persistence.enabled"),
        ({"gate": {"enabled": True}, "sla": {"file": "locustfile.py"}}, "artifacts.persistence.enabled"),
        ({"sla": {"file": "checkout/sla.yaml"}}, "sla.file"),
        ({"locustfiles": {"locustfile": "missing.py"}}, "locustfiles.locustfile"),
        ({"targetAuth": {"env": {"TOKEN": "token"}}}, "targetAuth.existingSecret"),
        ({"locustfiles": {"files": {"a/b.py": "", "a--b.py": ""}, "locustfile": "a/b.py"}}, "locustfiles.files"),
    ],
)
def test_inconsistent_values_fail_with_the_key_and_the_fix(helm: Helm, values: dict[str, Any], named: str) -> None:
    error = helm.template_error(values)
    assert named in error


def test_a_locustfile_path_that_escapes_the_mount_is_rejected_by_name(helm: Helm) -> None:
    for bad in ("../etc/passwd", "/abs/locustfile.py", "lib/../../x.py"):
        error = helm.template_error({"locustfiles": {"files": {bad: "x"}, "locustfile": bad}})
        assert f"'{bad}'" in error


def test_the_readme_values_table_lists_every_leaf_key_of_values_yaml() -> None:
    values = yaml.safe_load(VALUES.read_text())

    def leaves(node: Any, path: str) -> Iterator[str]:
        if isinstance(node, dict) and node and not path.endswith(("SecurityContext", "seccompProfile", "capabilities")):
            for key, value in node.items():
                yield from leaves(value, f"{path}.{key}" if path else key)
        elif not path.startswith(("podSecurityContext", "containerSecurityContext")):
            yield path

    readme = (CHART / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Za-z.]+)` \|", readme, re.MULTILINE))
    assert set(leaves(values, "")) == documented
