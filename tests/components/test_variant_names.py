"""A new endpoint configuration keeps the variant names (control REL-2), across an update.

The policy `sagemaker-variant-names-stable` sees one plan; this is the proof across two: each
shipped stack with a SageMaker endpoint is planned as shipped and again with the endpoint's
pinned model version moved on (staging: the shadow promoted, the next version shadowing). The
endpoint configuration is replaced (its name is a digest of its content), while its variants,
by name and kind in order, and the variant names its alarms and scaling targets key on stay
the same.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.inference import PRODUCTION_VARIANT, SHADOW_VARIANT
from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config
from policy.mlops_policies import POLICIES
from policy.mlops_policies.inference import PRODUCTION_VARIANT_NAMES, SHADOW_VARIANT_NAMES
from tests.conftest import plan_with

INFERENCE = "mlops-platform:inference"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
VARIANT_RESOURCE = re.compile(r"^endpoint/([^/]+)/variant/([^/]+)$")
STACKS_WITH_ENDPOINTS = ("dev", "staging", "prod")


def _inference(stack: str) -> dict[str, Any]:
    value = load_stack_config(PROJECT_DIR, stack).values[INFERENCE]
    document = json.loads(value) if isinstance(value, str) else value
    assert isinstance(document, dict)
    return document


def _next_versions(stack: str) -> dict[str, Any]:
    """The stack's inference config with every endpoint's pinned version moved on: production
    takes the next version (the shadow's, when there is one) and the shadow the one after."""
    inference = _inference(stack)
    for endpoint in inference["endpoints"]:
        version = endpoint["modelVersion"]
        assert isinstance(version, int), f"{stack}: {endpoint['name']} pins no version"
        endpoint["modelVersion"] = version + 1
        if endpoint.get("shadow") is not None:
            shadow = endpoint["shadow"]["modelVersion"]
            assert isinstance(shadow, int)
            endpoint["shadow"]["modelVersion"] = max(shadow, version + 1) + 1
    return inference


def _of_type(plan: Plan, type_: str) -> list[Registration]:
    return [r for r in plan.registrations if r.type == type_]


def _configs(plan: Plan) -> dict[str, Registration]:
    """Each endpoint's configuration (by the endpoint's logical name), through the endpoint's
    property dependency on it."""
    by_urn = {r.urn: r for r in _of_type(plan, CONFIG)}
    found: dict[str, Registration] = {}
    for endpoint in _of_type(plan, ENDPOINT):
        (config_urn,) = endpoint.property_dependencies["endpointConfigName"]
        found[endpoint.name] = by_urn[config_urn]
    return found


def _variants(config: Registration) -> list[tuple[str, str]]:
    """The configuration's variants in order: (variant name, production or shadow)."""
    return [
        (variant["variantName"], kind)
        for field, kind in (
            ("productionVariants", "production"),
            ("shadowProductionVariants", "shadow"),
        )
        for variant in config.inputs.get(field) or []
    ]


def _alarm_variants(plan: Plan, endpoint_names: set[str]) -> dict[str, list[tuple[str, str]]]:
    """Each alarm on one of the endpoints: its (EndpointName, VariantName) dimensions, from its
    metric and its metric queries' metrics."""
    found: dict[str, list[tuple[str, str]]] = {}
    for alarm in _of_type(plan, ALARM):
        sets = [alarm.inputs.get("dimensions") or {}]
        sets += [
            (q.get("metric") or {}).get("dimensions") or {}
            for q in alarm.inputs.get("metricQueries") or []
        ]
        keyed = [
            (d["EndpointName"], d["VariantName"])
            for d in sets
            if d.get("EndpointName") in endpoint_names and "VariantName" in d
        ]
        if keyed:
            found[alarm.name] = keyed
    return found


def _target_variants(plan: Plan) -> dict[str, tuple[str, str]]:
    """Each scaling target of an endpoint variant: (endpoint name, variant name)."""
    found: dict[str, tuple[str, str]] = {}
    for target in _of_type(plan, TARGET):
        match = VARIANT_RESOURCE.match(target.inputs.get("resourceId", ""))
        if match is not None:
            found[target.name] = (match.group(1), match.group(2))
    return found


@pytest.fixture(scope="module", params=STACKS_WITH_ENDPOINTS)
def update(request: pytest.FixtureRequest) -> tuple[str, Plan, Plan]:
    stack = request.param
    return stack, plan_with(stack), plan_with(stack, {INFERENCE: _next_versions(stack)})


def test_the_policy_defaults_are_the_names_the_component_gives() -> None:
    assert PRODUCTION_VARIANT_NAMES == (PRODUCTION_VARIANT,) == ("AllTraffic",)
    assert SHADOW_VARIANT_NAMES == (SHADOW_VARIANT,) == ("Shadow",)


def test_the_update_serves_other_models_from_a_new_configuration(
    update: tuple[str, Plan, Plan],
) -> None:
    stack, before, after = update
    old, new = _configs(before), _configs(after)
    assert old, f"{stack} has no SageMaker endpoint"
    assert old.keys() == new.keys()
    for endpoint in old:
        # The configuration is replaced: its name is the digest of its content ...
        assert old[endpoint].inputs["name"] != new[endpoint].inputs["name"]
        # ... because it serves other models (the new versions).
        models = [v["modelName"] for v in old[endpoint].inputs["productionVariants"]]
        assert models != [v["modelName"] for v in new[endpoint].inputs["productionVariants"]]
    versions = {r.name: r.inputs["name"] for r in _of_type(after, MODEL)}
    assert versions != {r.name: r.inputs["name"] for r in _of_type(before, MODEL)}


def test_the_new_configuration_keeps_the_variant_names_and_kinds(
    update: tuple[str, Plan, Plan],
) -> None:
    stack, before, after = update
    old, new = _configs(before), _configs(after)
    for endpoint in old:
        assert _variants(old[endpoint]) == _variants(new[endpoint])
        assert _variants(old[endpoint])[0] == (PRODUCTION_VARIANT, "production")
    if stack == "staging":
        assert _variants(new["inference-churn"]) == [
            (PRODUCTION_VARIANT, "production"),
            (SHADOW_VARIANT, "shadow"),
        ]


def test_alarms_and_scaling_targets_key_on_the_same_variants(
    update: tuple[str, Plan, Plan],
) -> None:
    stack, before, after = update
    names = {r.inputs["name"] for r in _of_type(before, ENDPOINT)}
    assert names == {r.inputs["name"] for r in _of_type(after, ENDPOINT)}
    alarms = _alarm_variants(before, names)
    assert alarms, f"{stack}: no alarm keys on an endpoint variant"
    assert alarms == _alarm_variants(after, names)
    targets = _target_variants(before)
    assert targets == _target_variants(after)
    if stack != "dev":  # dev's endpoint is serverless: no instance count to scale
        assert set(targets.values()) == {(name, PRODUCTION_VARIANT) for name in names}
    # And every one of them names a variant of the new configuration.
    served = {variant for config in _configs(after).values() for variant, _ in _variants(config)}
    assert {v for keyed in alarms.values() for _, v in keyed} <= served
    assert {v for _, v in targets.values()} <= served


def test_both_plans_keep_the_policy(update: tuple[str, Plan, Plan]) -> None:
    _, before, after = update
    policy = tuple(p for p in POLICIES if p.name == "sagemaker-variant-names-stable")
    for plan in (before, after):
        report = evaluate(plan.registrations, policy)
        assert report.violations == []
        assert report.not_applicable == []
