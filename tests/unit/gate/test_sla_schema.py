"""The shipped JSON schema is the model's, and every SLA file in the repository obeys both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from loadtest.gate import sla

REPO = Path(__file__).resolve().parents[3]
SLA_FILES = sorted([*REPO.glob("locustfiles/*/sla.yaml"), *REPO.glob("docs/sla-examples/*.yaml")])
VALIDATOR = jsonschema.Draft202012Validator(json.loads(sla.SCHEMA_PATH.read_text(encoding="utf-8")))


def test_the_shipped_schema_is_generated_from_the_model() -> None:
    shipped = sla.SCHEMA_PATH.read_text(encoding="utf-8")
    assert shipped == sla.schema_text(), "schema drifted: run `.venv/bin/python -m loadtest.gate.sla` and commit it"


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(sla.schema_text()))


def test_every_scenario_ships_an_sla_file_and_the_three_targets_have_examples() -> None:
    scenarios = {p.parent.name for p in REPO.glob("locustfiles/*/locustfile.py")}
    assert {"api_browsing", "mixed_users"} <= scenarios
    assert scenarios <= {p.parent.name for p in SLA_FILES}
    names = {p.name for p in SLA_FILES}
    assert {"aggregate-p95-error-rate.yaml", "api-groups.yaml", "every-endpoint-p95.yaml"} <= names


@pytest.mark.parametrize("path", SLA_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_sla_file_loads_and_validates_against_the_schema(path: Path) -> None:
    model = sla.load(path)
    assert model.version == 1 and model.thresholds()
    VALIDATOR.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_issue_targets_parse_to_the_limits_they_state() -> None:
    target1 = sla.load(REPO / "docs/sla-examples/aggregate-p95-error-rate.yaml").aggregate
    assert target1 is not None
    assert (target1.p95, target1.error_rate) == (sla.Limit(op="<", value=500), sla.Limit(op="<", value=5))
    groups = sla.load(REPO / "docs/sla-examples/api-groups.yaml").endpoints
    assert [(g.scope, g.p95, g.success_rate) for g in groups] == [
        ("group", sla.Limit(op="<=", value=v), sla.Limit(op=">=", value=s))
        for v, s in ((200, 99), (500, 95), (300, 95))
    ]
    (every,) = sla.load(REPO / "docs/sla-examples/every-endpoint-p95.yaml").endpoints
    assert (every.scope, every.p95, every.matches("DELETE", "/anything")) == (
        "each",
        sla.Limit(op="<", value=100),
        True,
    )


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "aggregate": {"p96": 1}},
        {"version": 1, "aggregate": {"p95": "fast"}},
        {"version": 1, "aggregate": {"min_samples": {"p95x": 3}}},
        {"version": 1, "endpoints": [{"name": "a", "percentiles": {"q9": 1}}]},
        {"version": 2},
        {"version": 1, "warmup": "soon"},
    ],
)
def test_schema_and_model_reject_the_same_mistakes(document: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(document)
    with pytest.raises(Exception, match="sla.yaml: "):
        sla.parse(document, "sla.yaml")
