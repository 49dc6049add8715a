"""The `inference` config section: endpoints, their capacity, rollout, shadow and capture, and
the rules across keys, with the exact message of each refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import (
    ConfigError,
    Inference,
    Realtime,
    Rollout,
    ServerlessSpec,
    load_platform_config,
)
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
VERSION_ACCEPTED = 'an integer >= 1 (a pinned model package version) or "latest-approved"'


def stack_values(stack: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, stack).values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = json.dumps(value)
    return values


def inference(*endpoints: dict[str, Any], **section: Any) -> dict[str, Any]:
    return {"enabled": True, "endpoints": list(endpoints), **section}


def serverless(**fields: Any) -> dict[str, Any]:
    return {"name": "churn", "model": "churn", "modelVersion": 3, "kind": "serverless", **fields}


def realtime(**fields: Any) -> dict[str, Any]:
    return {"name": "churn", "model": "churn", "modelVersion": 3, "kind": "realtime", **fields}


def problems(*endpoints: dict[str, Any], stack: str = "dev", **overrides: Any) -> list[str]:
    overrides.setdefault("inference", inference(*endpoints))
    with pytest.raises(ConfigError) as caught:
        load_platform_config(stack_values(stack, **overrides), stack)
    return [p.render(f"stacks/Pulumi.{stack}.yaml") for p in caught.value.problems]


def line(key: str, problem: str, got: str, accepted: str, stack: str = "dev") -> str:
    return f"stacks/Pulumi.{stack}.yaml: {NS}{key}: {problem} (got {got}); accepted: {accepted}"


E0 = "inference.endpoints[0]"


def test_a_serverless_dev_endpoint_is_accepted_with_its_defaults() -> None:
    cfg = load_platform_config(
        stack_values("dev", inference=inference(serverless(modelVersion="latest-approved"))),
        "dev",
    )
    (endpoint,) = cfg.inference.endpoints
    assert (endpoint.name, endpoint.model, endpoint.model_version) == (
        "churn",
        "churn",
        "latest-approved",
    )
    assert cfg.inference.serverless(endpoint) == ServerlessSpec(
        memory_mb=2048, max_concurrency=5, provisioned_concurrency=None
    )
    assert (endpoint.rollout.type, endpoint.rollout.auto_rollback) == ("canary", True)
    assert endpoint.capture.sampling_percent == 100
    assert endpoint.shadow is None


def test_a_realtime_prod_endpoint_is_accepted_and_inherits_the_stack_defaults() -> None:
    cfg = load_platform_config(
        stack_values(
            "prod",
            inference=inference(
                realtime(
                    modelVersion=12,
                    realtime={"maxInstances": 8, "targetInvocationsPerInstance": 500},
                    rollout={"type": "linear", "linearStepPercent": 25},
                    shadow={"modelVersion": 13, "samplingPercent": 20},
                    capture={"samplingPercent": 50},
                ),
                realtime(name="churn-batch", modelVersion=12),
                instanceType="ml.m5.xlarge",
                minInstances=2,
                maxInstances=6,
            ),
        ),
        "prod",
    )
    first, second = cfg.inference.endpoints
    assert cfg.inference.realtime(first) == Realtime("ml.m5.xlarge", 2, 8, 500)
    assert cfg.inference.realtime(second) == Realtime("ml.m5.xlarge", 2, 6, 200)
    assert first.model_version == 12
    assert first.shadow is not None
    assert (first.shadow.model_version, first.shadow.sampling_percent) == (13, 20)


def shipped(stack: str) -> Inference:
    """The inference section of a shipped stack, through the typed config model."""
    return load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack).inference


def test_shipped_dev_serves_churn_serverless() -> None:
    section = shipped("dev")
    assert section.enabled is True
    (endpoint,) = section.endpoints
    assert (endpoint.name, endpoint.model, endpoint.model_version, endpoint.kind) == (
        "churn",
        "churn",
        1,
        "serverless",
    )
    assert section.serverless(endpoint) == ServerlessSpec(
        memory_mb=2048, max_concurrency=5, provisioned_concurrency=None
    )
    assert (endpoint.realtime, endpoint.shadow) == (None, None)


def test_shipped_staging_serves_churn_realtime_with_a_shadow() -> None:
    section = shipped("staging")
    assert section.enabled is True
    (endpoint,) = section.endpoints
    assert (endpoint.name, endpoint.model, endpoint.model_version, endpoint.kind) == (
        "churn",
        "churn",
        3,
        "realtime",
    )
    assert endpoint.serverless is None
    assert section.realtime(endpoint) == Realtime("ml.m5.large", 1, 2, 200)
    assert endpoint.shadow is not None
    assert (endpoint.shadow.model_version, endpoint.shadow.sampling_percent) == (4, 50)
    assert endpoint.rollout == Rollout(
        type="canary", canary_percent=10, wait_interval_seconds=300, termination_wait_seconds=300
    )
    assert endpoint.capture.sampling_percent == 100


def test_shipped_prod_serves_churn_realtime_on_at_least_two_instances() -> None:
    section = shipped("prod")
    assert section.enabled is True
    (endpoint,) = section.endpoints
    assert (endpoint.name, endpoint.model, endpoint.model_version, endpoint.kind) == (
        "churn",
        "churn",
        3,
        "realtime",
    )
    assert endpoint.serverless is None
    # Instance type, floor and ceiling are the section's; only the target is the endpoint's.
    assert section.realtime(endpoint) == Realtime("ml.m5.xlarge", 2, 6, 300)
    assert endpoint.shadow is None
    assert endpoint.rollout == Rollout(
        type="linear",
        linear_step_percent=25,
        wait_interval_seconds=600,
        termination_wait_seconds=900,
    )
    assert endpoint.capture.sampling_percent == 25
    assert (endpoint.alarms.max_5xx_percent, endpoint.alarms.max_model_latency_ms) == (0.5, 300)


def test_serverless_memory_outside_the_allowed_values() -> None:
    assert problems(serverless(serverless={"memoryMb": 1500})) == [
        line(
            f"{E0}.serverless.memoryMb",
            "input should be 1024, 2048, 3072, 4096, 5120 or 6144",
            "1500",
            "one of 1024, 2048, 3072, 4096, 5120, 6144",
        )
    ]


def test_serverless_block_on_a_realtime_endpoint() -> None:
    assert problems(realtime(serverless={"memoryMb": 1024})) == [
        line(
            f"{E0}.serverless",
            "serverless capacity applies to a serverless endpoint, and this one is real-time",
            '{"memoryMb": 1024}',
            "unset, or kind: serverless",
        )
    ]


def test_realtime_block_on_a_serverless_endpoint() -> None:
    assert problems(serverless(realtime={"minInstances": 2})) == [
        line(
            f"{E0}.realtime",
            "instances and autoscaling apply to a real-time endpoint, and this one is serverless",
            '{"minInstances": 2}',
            "unset, or kind: realtime",
        )
    ]


def test_shadow_on_a_serverless_endpoint() -> None:
    assert problems(serverless(shadow={"modelVersion": 4, "samplingPercent": 10})) == [
        line(
            f"{E0}.shadow",
            "SageMaker has no shadow variants on serverless endpoints",
            '{"modelVersion": 4, "samplingPercent": 10}',
            "unset, or kind: realtime",
        )
    ]


def test_provisioned_concurrency_above_max_concurrency() -> None:
    found = problems(serverless(serverless={"maxConcurrency": 10, "provisionedConcurrency": 20}))
    assert found == [
        line(
            f"{E0}.serverless.provisionedConcurrency",
            "above serverless.maxConcurrency (10)",
            "20",
            "an integer from 1 to 10, or unset",
        )
    ]


def test_canary_share_over_half() -> None:
    assert problems(realtime(rollout={"canaryPercent": 60})) == [
        line(
            f"{E0}.rollout.canaryPercent",
            "the canary's share is over 50% of the traffic, so most requests reach the new "
            "version before the alarms had a chance",
            "60",
            "an integer from 1 to 50, or type: all-at-once",
        )
    ]


def test_linear_step_over_half() -> None:
    assert problems(realtime(rollout={"type": "linear", "linearStepPercent": 75})) == [
        line(
            f"{E0}.rollout.linearStepPercent",
            "a linear step is over 50% of the traffic, so most requests reach the new version "
            "before the alarms had a chance",
            "75",
            "an integer from 1 to 50, or type: all-at-once",
        )
    ]


def test_a_large_canary_share_is_ignored_by_an_all_at_once_rollout() -> None:
    cfg = load_platform_config(
        stack_values(
            "dev",
            inference=inference(realtime(rollout={"type": "all-at-once", "canaryPercent": 90})),
        ),
        "dev",
    )
    assert cfg.inference.endpoints[0].rollout.type == "all-at-once"


@pytest.mark.parametrize("kind", ["canary", "linear"])
def test_blue_green_without_alarms(kind: str) -> None:
    assert problems(realtime(rollout={"type": kind, "autoRollback": False})) == [
        line(
            f"{E0}.rollout.autoRollback",
            f"blue/green without alarms: a {kind} rollout shifts traffic in steps only to roll "
            "back when the alarms fire",
            "false",
            "true, or type: all-at-once",
        )
    ]


def test_prod_realtime_endpoint_with_one_instance() -> None:
    # The section's own floor is 2: only the endpoint's is refused.
    found = problems(
        stack="prod",
        inference=inference(realtime(realtime={"minInstances": 1}), minInstances=2, maxInstances=6),
    )
    assert found == [
        line(
            f"{E0}.realtime.minInstances",
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "1",
            "an integer >= 2 when tier is prod",
            stack="prod",
        )
    ]


def test_prod_realtime_endpoint_inheriting_one_instance() -> None:
    found = problems(
        stack="prod",
        inference={"endpoints": [realtime()], "minInstances": 1, "maxInstances": 4},
    )
    assert found == [
        line(
            "inference.minInstances",
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "1",
            "an integer >= 2 when tier is prod",
            stack="prod",
        )
    ]


def test_a_serverless_prod_endpoint_does_not_use_the_instance_floor() -> None:
    cfg = load_platform_config(
        stack_values("prod", inference=inference(serverless(), minInstances=1)), "prod"
    )
    assert cfg.inference.endpoints[0].kind == "serverless"


def test_endpoint_min_instances_above_its_max() -> None:
    assert problems(realtime(realtime={"minInstances": 5, "maxInstances": 3})) == [
        line(
            f"{E0}.realtime.minInstances",
            "greater than realtime.maxInstances (3)",
            "5",
            "an integer <= 3",
        )
    ]


def test_endpoint_min_instances_above_the_inherited_max() -> None:
    found = problems(inference=inference(realtime(realtime={"minInstances": 3}), maxInstances=2))
    assert found == [
        line(
            f"{E0}.realtime.minInstances",
            "greater than inference.maxInstances (2)",
            "3",
            "an integer <= 2",
        )
    ]


def test_endpoint_max_instances_below_the_inherited_min() -> None:
    found = problems(
        inference=inference(realtime(realtime={"maxInstances": 2}), minInstances=3, maxInstances=4)
    )
    assert found == [
        line(
            f"{E0}.realtime.maxInstances",
            "below inference.minInstances (3)",
            "2",
            "an integer >= 3, or realtime.minInstances set",
        )
    ]


def test_endpoint_names_are_unique_regardless_of_case() -> None:
    assert problems(serverless(), realtime(name="Churn")) == [
        line(
            "inference.endpoints[1].name",
            "endpoint already declared at endpoints[0]; SageMaker endpoint names ignore case",
            "'Churn'",
            "a name used once per stack",
        )
    ]


def test_endpoint_physical_name_too_long() -> None:
    name = "e" * 45
    assert problems(serverless(name=name)) == [
        line(
            f"{E0}.name",
            f"the endpoint name mlops-platform-dev-{name} would be 64 characters; "
            "SageMaker allows 63",
            repr(name),
            "a name of at most 44 characters in stack dev",
        )
    ]


def test_endpoint_of_an_undeclared_model() -> None:
    assert problems(serverless(model="fraud")) == [
        line(
            f"{E0}.model",
            "not a model of modelRegistry.models",
            "'fraud'",
            "one of churn",
        )
    ]


def test_inference_needs_the_lake_and_the_registry() -> None:
    found = problems(
        serverless(model="fraud"),
        modelRegistry={"enabled": False},
        featureStore={"enabled": False},
        dataLake={"enabled": False},
        # Drift, training and retraining need them too, and say so in problems of their own.
        drift={"enabled": False},
        training={"enabled": False},
        retraining={"enabled": False},
        quality={"enabled": False},
    )
    assert found == [
        line(
            "inference.enabled",
            "endpoints serve registered model versions and capture to the data lake, and "
            "dataLake.enabled and modelRegistry.enabled are false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


@pytest.mark.parametrize(
    ("version", "got"), [(0, "0"), (-1, "-1"), (True, "true"), ("latest", "'latest'"), ("3", "'3'")]
)
def test_model_version_is_a_positive_integer_or_latest_approved(version: Any, got: str) -> None:
    assert problems(serverless(modelVersion=version)) == [
        line(
            f"{E0}.modelVersion",
            "not a model package version nor the literal latest-approved",
            got,
            VERSION_ACCEPTED,
        )
    ]


def test_shadow_model_version_is_checked_too() -> None:
    assert problems(realtime(shadow={"modelVersion": "newest"})) == [
        line(
            f"{E0}.shadow.modelVersion",
            "not a model package version nor the literal latest-approved",
            "'newest'",
            VERSION_ACCEPTED,
        )
    ]


@pytest.mark.parametrize(
    ("fields", "key", "got"),
    [
        ({"kind": "batch"}, "kind", "'batch'"),
        ({"name": "churn_live"}, "name", "'churn_live'"),
        ({"serverless": {"maxConcurrency": 201}}, "serverless.maxConcurrency", "201"),
        ({"capture": {"samplingPercent": 101}}, "capture.samplingPercent", "101"),
        ({"rollout": {"waitIntervalSeconds": 3601}}, "rollout.waitIntervalSeconds", "3601"),
        ({"rollout": {"terminationWaitSeconds": -1}}, "rollout.terminationWaitSeconds", "-1"),
        ({"rollout": {"type": "blue-green"}}, "rollout.type", "'blue-green'"),
    ],
)
def test_bad_endpoint_fields_name_the_key(fields: dict[str, Any], key: str, got: str) -> None:
    (found,) = problems(serverless(**fields))
    assert found.startswith(f"stacks/Pulumi.dev.yaml: {NS}{E0}.{key}: ")
    assert f"(got {got}); accepted: " in found


@pytest.mark.parametrize(
    ("fields", "key", "got"),
    [
        ({"realtime": {"instanceType": "m5.large"}}, "realtime.instanceType", "'m5.large'"),
        (
            {"realtime": {"targetInvocationsPerInstance": 0}},
            "realtime.targetInvocationsPerInstance",
            "0",
        ),
        ({"shadow": {"modelVersion": 4, "samplingPercent": 0}}, "shadow.samplingPercent", "0"),
    ],
)
def test_bad_realtime_fields_name_the_key(fields: dict[str, Any], key: str, got: str) -> None:
    (found,) = problems(realtime(**fields))
    assert found.startswith(f"stacks/Pulumi.dev.yaml: {NS}{E0}.{key}: ")
    assert f"(got {got}); accepted: " in found


def test_too_many_endpoints() -> None:
    endpoints = [serverless(name=f"e{i}") for i in range(21)]
    (found,) = problems(*endpoints)
    assert found.startswith(f"stacks/Pulumi.dev.yaml: {NS}inference.endpoints: ")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"alarms": {"max5xxPercent": 0}},
            line(
                f"{E0}.alarms.max5xxPercent",
                "input should be greater than 0",
                "0",
                "number > 0, <= 100",
            ),
        ),
        (
            # SageMaker's endpoint metrics are per minute: a 30 s period would have no data.
            {"alarms": {"periodSeconds": 30}},
            line(
                f"{E0}.alarms.periodSeconds",
                "input should be 60, 120, 300, 600 or 900",
                "30",
                "one of 60, 120, 300, 600, 900",
            ),
        ),
        (
            {"alarms": {"evaluationPeriods": 11}},
            line(
                f"{E0}.alarms.evaluationPeriods",
                "input should be less than or equal to 10",
                "11",
                "integer >= 1, <= 10",
            ),
        ),
        (
            {"alarms": {"max5XxPercent": 2}},
            line(
                f"{E0}.alarms.max5XxPercent",
                "unknown key (did you mean max5xxPercent?)",
                "2",
                "one of the keys max5xxPercent, maxModelLatencyMs, maxModelErrors, "
                "periodSeconds, evaluationPeriods",
            ),
        ),
        (
            {"networkIsolation": "no"},
            line(
                f"{E0}.networkIsolation",
                "input should be a valid boolean",
                "'no'",
                "true or false",
            ),
        ),
    ],
)
def test_bad_alarm_and_isolation_settings(fields: dict[str, Any], expected: str) -> None:
    assert problems(serverless(**fields)) == [expected]


def test_alarm_defaults() -> None:
    cfg = load_platform_config(stack_values("dev", inference=inference(serverless())), "dev")
    (endpoint,) = cfg.inference.endpoints
    alarms = endpoint.alarms
    assert (
        alarms.max_5xx_percent,
        alarms.max_model_latency_ms,
        alarms.max_model_errors,
        alarms.period_seconds,
        alarms.evaluation_periods,
    ) == (1.0, 1000, 5, 60, 2)
    assert endpoint.network_isolation is True
