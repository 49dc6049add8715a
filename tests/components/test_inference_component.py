"""SageMaker endpoints under Pulumi mocks: the exact inputs SageMaker, Application Auto Scaling,
CloudWatch, Firehose, Lambda and SSM would receive for each shipped stack, the replacement
ordering that keeps a live endpoint's configuration until its update finished, and the
protection of the instance count autoscaling chose."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import capture_settings
import pytest
import verifier_settings
from moto import mock_aws

from components.config import LATEST_APPROVED
from components.inference import (
    CAPTURE_PROXY_DIR,
    INSTANCE_COUNT_PATH,
    digest,
    without_instance_count,
)
from components.model_versions import ModelVersionError
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
FUNCTION = "aws:lambda/function:Function"
STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
PARAMETER = "aws:ssm/parameter:Parameter"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
REGION = "eu-west-1"
# What the inference budget filters on; the provider's default tags come on top at deploy time.
INFERENCE_TAGS = {"Capability": "inference"}


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


def statements(record: Registration, field: str = "policy") -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(record.inputs[field])["Statement"]}


def package(stack: str, version: int) -> str:
    return (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNTS[stack]}:model-package/"
        f"mlops-platform-{stack}-churn/{version}"
    )


def capture_block(plan: Plan, sampling: int) -> dict[str, Any]:
    return {
        "enableCapture": True,
        "initialSamplingPercentage": sampling,
        "destinationS3Uri": f"s3://{bucket(plan, 'capture')}/datacapture",
        "kmsKeyId": plan.outputs["kmsKeyArn"],
        "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        "captureContentTypeHeader": {
            "csvContentTypes": ["text/csv"],
            "jsonContentTypes": ["application/json"],
        },
    }


def local_imports(handler: Path) -> set[str]:
    """The files of the handler's own folder that it imports (`import x`, `from x import y`)."""
    tree = ast.parse(handler.read_text())
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    return {f"{n}.py" for n in names if (handler.parent / f"{n}.py").is_file()}


def model_name(plan: Plan, role: str = "production") -> str:
    return str(named(plan, f"inference-churn-{role}-model").inputs["name"])


# ---- endpoint configurations ----------------------------------------------------------------


def test_dev_serves_a_serverless_configuration_without_instance_controls(
    plans: dict[str, Plan],
) -> None:
    plan = plans["dev"]
    config = named(plan, "inference-churn-config")
    assert config.inputs == {
        "name": config.inputs["name"],
        "productionVariants": [
            {
                "variantName": "AllTraffic",
                "modelName": model_name(plan),
                "serverlessConfig": {"memorySizeInMb": 2048, "maxConcurrency": 5},
            }
        ],
        "tags": INFERENCE_TAGS,
    }
    # Serverless: no volume key, no data capture (the proxy captures), nothing autoscaled.
    assert config.ignore_changes == []
    assert not plan.by_type(TARGET)
    assert not plan.by_type(SCALING_POLICY)
    endpoint = named(plan, "inference-churn")
    assert endpoint.inputs == {
        "name": "mlops-platform-dev-churn",
        "endpointConfigName": config.inputs["name"],
        "tags": INFERENCE_TAGS,
    }


def test_staging_serves_a_realtime_configuration_with_a_captured_shadow(
    plans: dict[str, Plan],
) -> None:
    plan = plans["staging"]
    config = named(plan, "inference-churn-config")
    assert config.inputs == {
        "name": config.inputs["name"],
        "kmsKeyArn": plan.outputs["kmsKeyArn"],
        "productionVariants": [
            {
                "variantName": "AllTraffic",
                "modelName": model_name(plan),
                "instanceType": "ml.m5.large",
                "initialInstanceCount": 1,
                "initialVariantWeight": 1.0,
            }
        ],
        "shadowProductionVariants": [
            {
                "variantName": "Shadow",
                "modelName": model_name(plan, "shadow"),
                "instanceType": "ml.m5.large",
                "initialInstanceCount": 1,
                # 50% of the requests are copied: weight relative to production's 1.0.
                "initialVariantWeight": 0.5,
            }
        ],
        # One capture configuration covers both variants; each has its own variant folder.
        "dataCaptureConfig": capture_block(plan, 100),
        "tags": INFERENCE_TAGS,
    }
    assert model_name(plan).startswith("mlops-platform-staging-churn-v3-")
    assert model_name(plan, "shadow").startswith("mlops-platform-staging-churn-shadow-v4-")


def test_prod_runs_two_instances_captures_a_quarter_and_shifts_linearly(
    plans: dict[str, Plan],
) -> None:
    plan = plans["prod"]
    config = named(plan, "inference-churn-config")
    assert config.inputs == {
        "name": config.inputs["name"],
        "kmsKeyArn": plan.outputs["kmsKeyArn"],
        "productionVariants": [
            {
                "variantName": "AllTraffic",
                "modelName": model_name(plan),
                "instanceType": "ml.m5.xlarge",
                "initialInstanceCount": 2,
                "initialVariantWeight": 1.0,
            }
        ],
        "dataCaptureConfig": capture_block(plan, 25),
        "tags": INFERENCE_TAGS,
    }
    endpoint = named(plan, "inference-churn")
    assert endpoint.inputs["deploymentConfig"] == {
        "blueGreenUpdatePolicy": {
            "trafficRoutingConfiguration": {
                "type": "LINEAR",
                "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
                "waitIntervalInSeconds": 600,
            },
            "terminationWaitInSeconds": 900,
        },
        "autoRollbackConfiguration": {
            "alarms": [
                {"alarmName": "mlops-platform-prod-churn-5xx-rate"},
                {"alarmName": "mlops-platform-prod-churn-model-errors"},
                {"alarmName": "mlops-platform-prod-churn-model-latency"},
            ]
        },
    }


def test_staging_rolls_out_a_ten_percent_canary(plans: dict[str, Plan]) -> None:
    routing = named(plans["staging"], "inference-churn").inputs["deploymentConfig"]
    assert routing["blueGreenUpdatePolicy"] == {
        "trafficRoutingConfiguration": {
            "type": "CANARY",
            "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
            "waitIntervalInSeconds": 300,
        },
        "terminationWaitInSeconds": 300,
    }


def test_models_come_from_the_registry_isolated_with_their_own_role(
    plans: dict[str, Plan],
) -> None:
    for stack, version in (("dev", 1), ("staging", 3), ("prod", 3)):
        plan = plans[stack]
        model = named(plan, "inference-churn-production-model")
        assert model.inputs == {
            "name": model.inputs["name"],
            "executionRoleArn": (
                f"arn:aws:iam::{ACCOUNTS[stack]}:role/mlops-platform-{stack}-churn-model"
            ),
            "primaryContainer": {"modelPackageName": package(stack, version)},
            "enableNetworkIsolation": True,
            "tags": INFERENCE_TAGS,
        }, stack
        # The role's permissions exist before SageMaker checks the container.
        assert named(plan, "inference-churn-model-access").urn in model.dependencies


def test_local_nvme_instances_get_no_volume_key(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack(
        "staging",
        {f"{NS}inference": {**_staging_inference(), "instanceType": "ml.m5d.large"}},
    )
    config = named(plan, "inference-churn-config")
    assert "kmsKeyArn" not in config.inputs
    assert config.inputs["dataCaptureConfig"]["kmsKeyId"] == plan.outputs["kmsKeyArn"]


# ---- replacement: never delete the configuration in use, never reset autoscaling ------------


def test_configuration_is_replaced_create_before_delete_after_the_endpoint(
    plans: dict[str, Plan],
) -> None:
    for stack in ("dev", "staging", "prod"):
        plan = plans[stack]
        config = named(plan, "inference-churn-config")
        endpoint = named(plan, "inference-churn")
        # Pulumi creates the replacement first and deletes the old configuration only after
        # every resource depending on it (the endpoint, whose update waits for InService) was
        # updated: the default for a resource without deleteBeforeReplace.
        assert config.delete_before_replace is False
        assert endpoint.property_dependencies["endpointConfigName"] == [config.urn]
        # The name is a digest of what SageMaker receives, so the replacement never collides
        # with the configuration the endpoint still runs.
        name = config.inputs["name"]
        assert name.startswith(f"mlops-platform-{stack}-churn-")
        assert len(name.rsplit("-", 1)[1]) == 8


def _staging_inference(**endpoint: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "churn",
        "model": "churn",
        "modelVersion": 3,
        "kind": "realtime",
        "rollout": {"type": "canary", "canaryPercent": 10},
        "shadow": {"modelVersion": 4, "samplingPercent": 50},
    }
    return {
        "enabled": True,
        "minInstances": 1,
        "maxInstances": 2,
        "endpoints": [{**base, **endpoint}],
    }


def test_a_new_version_is_a_new_configuration_and_a_new_model(
    plans: dict[str, Plan], plan_stack: Callable[..., Plan]
) -> None:
    before = plans["staging"]
    after = plan_stack("staging", {f"{NS}inference": _staging_inference(modelVersion=5)})
    old, new = (named(p, "inference-churn-config").inputs["name"] for p in (before, after))
    assert old != new
    assert model_name(after).startswith("mlops-platform-staging-churn-v5-")
    assert named(after, "inference-churn-config").inputs["productionVariants"][0][
        "modelName"
    ] == model_name(after)


def test_scaling_range_changes_neither_replace_nor_reset_the_configuration(
    plans: dict[str, Plan], plan_stack: Callable[..., Plan]
) -> None:
    before = plans["staging"]
    after = plan_stack(
        "staging",
        {f"{NS}inference": {**_staging_inference(), "minInstances": 2, "maxInstances": 5}},
    )
    config = named(after, "inference-churn-config")
    # The name (what forces a replacement) ignores the count ...
    assert config.inputs["name"] == named(before, "inference-churn-config").inputs["name"]
    # ... the count itself is the engine's to keep from the state after creation ...
    assert config.ignore_changes == [INSTANCE_COUNT_PATH]
    assert INSTANCE_COUNT_PATH == "productionVariants[0].initialInstanceCount"
    # ... and the new range goes to Application Auto Scaling, which holds no desired count.
    target = named(after, "inference-churn-scaling")
    assert target.inputs == {
        "serviceNamespace": "sagemaker",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": "endpoint/mlops-platform-staging-churn/variant/AllTraffic",
        "minCapacity": 2,
        "maxCapacity": 5,
    }


def test_configuration_name_is_the_digest_of_its_inputs_without_the_count() -> None:
    inputs = {
        "kmsKeyArn": "k",
        "productionVariants": [
            {"variantName": "AllTraffic", "modelName": "m", "initialInstanceCount": 2}
        ],
    }
    recount = {**inputs, "productionVariants": [{**inputs["productionVariants"][0], "x": 1}]}
    assert without_instance_count(inputs) == {
        "kmsKeyArn": "k",
        "productionVariants": [{"variantName": "AllTraffic", "modelName": "m"}],
    }
    assert digest(without_instance_count(inputs)) == digest(
        without_instance_count(
            {
                **inputs,
                "productionVariants": [
                    {"variantName": "AllTraffic", "modelName": "m", "initialInstanceCount": 7}
                ],
            }
        )
    )
    assert digest(without_instance_count(recount)) != digest(without_instance_count(inputs))


@pytest.mark.parametrize(
    ("stack", "floor", "ceiling", "target"),
    [
        ("staging", 1, 2, 200.0),
        ("prod", 2, 6, 300.0),
    ],
)
def test_autoscaling_tracks_invocations_per_instance(
    plans: dict[str, Plan], stack: str, floor: int, ceiling: int, target: float
) -> None:
    plan = plans[stack]
    resource = f"endpoint/mlops-platform-{stack}-churn/variant/AllTraffic"
    scaling = named(plan, "inference-churn-scaling")
    assert scaling.inputs == {
        "serviceNamespace": "sagemaker",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": resource,
        "minCapacity": floor,
        "maxCapacity": ceiling,
    }
    # Registered once the endpoint exists (its name is the resource id).
    assert named(plan, "inference-churn").urn in scaling.dependencies
    assert named(plan, "inference-churn-scaling-policy").inputs == {
        "name": f"mlops-platform-{stack}-churn-invocations",
        "policyType": "TargetTrackingScaling",
        "serviceNamespace": "sagemaker",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": resource,
        "targetTrackingScalingPolicyConfiguration": {
            "targetValue": target,
            "predefinedMetricSpecification": {
                "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "scaleInCooldown": 300,
            "scaleOutCooldown": 60,
        },
    }


# ---- alarms -----------------------------------------------------------------------------------


def test_prod_alarms_use_the_stack_thresholds_and_page_the_topic(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    topic = plan.outputs["platformTopicArn"]
    dims = {"EndpointName": "mlops-platform-prod-churn", "VariantName": "AllTraffic"}
    common = {
        "alarmActions": [topic],
        "okActions": [topic],
        "evaluationPeriods": 2,
        "datapointsToAlarm": 2,
        "treatMissingData": "notBreaching",
        "comparisonOperator": "GreaterThanThreshold",
    }

    def query(metric_id: str, name: str) -> dict[str, Any]:
        return {
            "id": metric_id,
            "returnData": False,
            "metric": {
                "namespace": "AWS/SageMaker",
                "metricName": name,
                "dimensions": dims,
                "period": 60,
                "stat": "Sum",
            },
        }

    rate = named(plan, "inference-churn-5xx-rate").inputs
    assert rate == {
        **common,
        "name": "mlops-platform-prod-churn-5xx-rate",
        "alarmDescription": (
            "More than 0.5% of mlops-platform-prod-churn's invocations fail with a 5xx error; "
            "rolls a rollout back."
        ),
        "threshold": 0.5,
        "metricQueries": [
            query("errors", "Invocation5XXErrors"),
            query("invocations", "Invocations"),
            {
                "id": "rate",
                "label": "5xx rate (%)",
                "returnData": True,
                "expression": "IF(invocations > 0, 100 * errors / invocations, 0)",
            },
        ],
    }
    latency = named(plan, "inference-churn-latency").inputs
    assert latency == {
        **common,
        "name": "mlops-platform-prod-churn-model-latency",
        "alarmDescription": (
            "mlops-platform-prod-churn's p99 model latency is above 300 ms; rolls a rollout back."
        ),
        "namespace": "AWS/SageMaker",
        "metricName": "ModelLatency",
        "dimensions": dims,
        "period": 60,
        "extendedStatistic": "p99",
        "threshold": 300_000.0,  # microseconds
    }
    errors = named(plan, "inference-churn-model-errors").inputs
    assert errors["metricName"] == "InvocationModelErrors"
    assert (errors["statistic"], errors["threshold"]) == ("Sum", 5.0)
    # The alarms exist before an endpoint update may need them to roll back.
    endpoint = named(plan, "inference-churn")
    for name in ("5xx-rate", "latency", "model-errors"):
        assert named(plan, f"inference-churn-{name}").urn in endpoint.dependencies


def test_serverless_endpoints_are_alarmed_but_roll_out_all_at_once(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    assert {r.name for r in plan.by_type(ALARM) if r.name.startswith("inference-")} == {
        "inference-churn-5xx-rate",
        "inference-churn-latency",
        "inference-churn-model-errors",
        "inference-churn-latency-objective",
    }
    assert "deploymentConfig" not in named(plan, "inference-churn").inputs


def objective_alarm(stack: str, topic: str, objective_ms: int) -> dict[str, Any]:
    """The latency objective alarm's inputs, written out (ModelLatency is in microseconds)."""
    endpoint = f"mlops-platform-{stack}-churn"
    return {
        "name": f"{endpoint}-latency-objective",
        "alarmDescription": (
            f"{endpoint}'s p99 model latency stayed above its model's objective of "
            f"{objective_ms} ms for 5 minutes; retrains the model (no traffic is not slowness: "
            "missing data does not breach)."
        ),
        "namespace": "AWS/SageMaker",
        "metricName": "ModelLatency",
        "dimensions": {"EndpointName": endpoint, "VariantName": "AllTraffic"},
        "period": 60,
        "extendedStatistic": "p99",
        "evaluationPeriods": 5,
        "datapointsToAlarm": 5,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": objective_ms * 1000.0,
        "treatMissingData": "notBreaching",
        "alarmActions": [topic],
        "okActions": [topic],
    }


@pytest.mark.parametrize(
    ("stack", "objective_ms"),
    [
        ("dev", 1000),  # serverless: SageMaker reports ModelLatency for it too
        ("staging", 300),
        ("prod", 250),  # real-time; below prod's 300 ms rollback threshold
    ],
)
def test_the_models_latency_objective_alarms_on_every_endpoint_serving_it(
    plans: dict[str, Plan], stack: str, objective_ms: int
) -> None:
    plan = plans[stack]
    topic = plan.outputs["platformTopicArn"]
    alarm = named(plan, "inference-churn-latency-objective")
    assert alarm.inputs == objective_alarm(stack, topic, objective_ms)
    assert alarm.parent == named(plan, "inference").urn


def retrain_alarms(plan: Plan, model: str) -> list[str]:
    """The endpoint alarms the retraining trigger retrains `model` on (`model_alarms`, as the
    trigger's environment carries them); other components' alarms left out."""
    variables = named(plan, "retraining-trigger").inputs["environment"]["variables"]
    alarms = json.loads(variables["RETRAIN_MODELS"])[model]["alarms"]
    ours = {r.inputs["name"] for r in plan.by_type(ALARM) if r.name.startswith("inference-")}
    return [name for name in alarms if name in ours]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_latency_objective_retrains_but_never_rolls_back(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    endpoint = f"mlops-platform-{stack}-churn"
    # A model staying slower than its objective retrains, as a rollout's slow model does.
    assert sorted(retrain_alarms(plan, "churn")) == [
        f"{endpoint}-latency-objective",
        f"{endpoint}-model-latency",
    ]
    rule = json.loads(named(plan, "retraining-alarms-rule").inputs["eventPattern"])
    assert f"{endpoint}-latency-objective" in rule["detail"]["alarmName"]
    # It never rolls a rollout back: only the three rollback alarms are the endpoint's.
    deployment = named(plan, "inference-churn").inputs.get("deploymentConfig", {})
    rollback = deployment.get("autoRollbackConfiguration", {"alarms": []})["alarms"]
    assert f"{endpoint}-latency-objective" not in [a["alarmName"] for a in rollback]
    objective = named(plan, "inference-churn-latency-objective")
    assert objective.urn not in named(plan, "inference-churn").dependencies


def test_a_model_without_an_objective_gets_no_objective_alarm(
    plan_stack: Callable[..., Plan],
) -> None:
    registry = json.loads(load_stack_config(PROJECT_DIR, "prod").values[f"{NS}modelRegistry"])
    for model in registry["models"]:
        del model["latencyObjectiveP99Ms"]
    plan = plan_stack("prod", {f"{NS}modelRegistry": registry})
    assert not [r for r in plan.by_type(ALARM) if r.name.endswith("-latency-objective")]
    assert retrain_alarms(plan, "churn") == ["mlops-platform-prod-churn-model-latency"]


def test_a_rollout_without_auto_rollback_keeps_all_at_once_and_no_alarm_list(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack(
        "staging",
        {
            f"{NS}inference": _staging_inference(
                rollout={"type": "all-at-once", "autoRollback": False}
            )
        },
    )
    assert named(plan, "inference-churn").inputs["deploymentConfig"] == {
        "blueGreenUpdatePolicy": {
            "trafficRoutingConfiguration": {"type": "ALL_AT_ONCE", "waitIntervalInSeconds": 300},
            "terminationWaitInSeconds": 300,
        }
    }


# ---- intended state and verification ------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_intended_state_is_on_record_before_the_endpoint_updates(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    parameter = named(plan, "inference-churn-intended")
    endpoint = named(plan, "inference-churn")
    name = f"/mlops-platform/{stack}/endpoints/mlops-platform-{stack}-churn"
    assert parameter.inputs["name"] == name
    assert parameter.inputs["type"] == "String"
    assert parameter.urn in endpoint.dependencies
    document = json.loads(parameter.inputs["insecureValue"])
    config = named(plan, "inference-churn-config").inputs
    expected_variants = [
        {
            "variantName": "AllTraffic",
            "shadow": False,
            "modelName": model_name(plan),
            "modelPackageArn": package(stack, {"dev": 1, "staging": 3, "prod": 3}[stack]),
            "instanceType": None
            if stack == "dev"
            else config["productionVariants"][0]["instanceType"],
            "serverless": {"memorySizeInMb": 2048, "maxConcurrency": 5} if stack == "dev" else None,
        }
    ]
    if stack == "staging":
        expected_variants.append(
            {
                "variantName": "Shadow",
                "shadow": True,
                "modelName": model_name(plan, "shadow"),
                "modelPackageArn": package(stack, 4),
                "instanceType": "ml.m5.large",
                "serverless": None,
            }
        )
    assert document == {
        "schemaVersion": verifier_settings.SCHEMA_VERSION,
        "endpointName": f"mlops-platform-{stack}-churn",
        "endpointConfigName": config["name"],
        "kind": "serverless" if stack == "dev" else "realtime",
        # Approval is manual in staging and prod: the verifier also checks it.
        "requireApproved": stack != "dev",
        "variants": expected_variants,
    }
    assert plan.outputs["endpointIntendedState"] == {"churn": name}


def test_verifier_runs_on_state_changes_and_hourly(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    rule = named(plan, "inference-verify-state-rule")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {
            "EndpointName": ["mlops-platform-prod-churn"],
            "EndpointStatus": [{"anything-but": ["DELETING"]}],
        },
    }
    hourly = named(plan, "inference-verify-hourly-rule")
    assert hourly.inputs["scheduleExpression"] == "rate(1 hour)"
    assert "eventPattern" not in hourly.inputs
    assert json.loads(named(plan, "inference-verify-hourly-target").inputs["input"]) == {
        "endpoints": "all"
    }
    function = named(plan, "inference-verifier")
    assert function.inputs["handler"] == "verifier.lambda_handler"
    assert function.inputs["environment"]["variables"] == {
        verifier_settings.ENV_PARAMETER_PREFIX: "/mlops-platform/prod/endpoints/",
        verifier_settings.ENV_TOPIC_ARN: plan.outputs["platformTopicArn"],
        verifier_settings.ENV_METRICS_NAMESPACE: verifier_settings.METRICS_NAMESPACE,
        verifier_settings.ENV_SERVICE_NAME: verifier_settings.SERVICE_NAME,
    }
    for kind in ("state", "hourly"):
        permission = named(plan, f"inference-verify-{kind}-invoke").inputs
        assert permission["principal"] == "events.amazonaws.com"
        assert permission["sourceArn"].endswith(
            f":rule/mlops-platform-prod-inference-verify-{kind}"
        )
    granted = statements(named(plan, "inference-verifier-access"))
    sm = f"arn:aws:sagemaker:{REGION}:111111111111"
    assert granted["DescribeEndpoints"]["Resource"] == [f"{sm}:endpoint/mlops-platform-prod-churn"]
    assert granted["DescribePackages"]["Resource"] == [
        f"{sm}:model-package/mlops-platform-prod-churn/*"
    ]
    assert granted["ReadIntendedState"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:111111111111:parameter/mlops-platform/prod/endpoints",
        f"arn:aws:ssm:{REGION}:111111111111:parameter/mlops-platform/prod/endpoints/*",
    ]
    assert granted["Report"]["Resource"] == [plan.outputs["platformTopicArn"]]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_proxy_and_verifier_run_on_the_stacks_shared_layer(
    plans: dict[str, Plan], stack: str
) -> None:
    """The Powertools layer is the stack's (`powertools-layer`, shared with the retraining
    trigger), not the inference component's: one version per stack."""
    plan = plans[stack]
    layer = named(plan, "powertools-layer")
    assert layer.inputs["layerName"] == f"mlops-platform-{stack}-powertools"
    assert layer.inputs["compatibleRuntimes"] == ["python3.13"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    assert layer.inputs["code"]["archive"]["path"].endswith("build/lambda/powertools-layer.zip")
    assert layer.parent.endswith(f"pulumi:pulumi:Stack::mlops-platform-{stack}")
    assert [r.name for r in plan.by_type(layer.type) if "powertools" in r.name] == [layer.name]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNTS[stack]}:layer:mlops-platform-{stack}-powertools:1"
    # Only dev serves serverless, behind the capture proxy.
    proxy = ["inference-churn-capture-proxy"] if stack == "dev" else []
    for name in ["inference-verifier", *proxy]:
        function = named(plan, name)
        assert function.inputs["layers"] == [arn], name
        assert function.property_dependencies["layers"] == [layer.urn], name


# ---- serverless capture --------------------------------------------------------------------------


def test_serverless_capture_goes_through_the_proxy_and_firehose(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    key = plan.outputs["kmsKeyArn"]
    capture = bucket(plan, "capture")
    stream = named(plan, "inference-churn-capture-stream")
    assert stream.inputs == {
        "name": "mlops-platform-dev-churn-capture",
        "destination": "extended_s3",
        "serverSideEncryption": {
            "enabled": True,
            "keyType": "CUSTOMER_MANAGED_CMK",
            "keyArn": key,
        },
        "extendedS3Configuration": {
            "roleArn": "arn:aws:iam::123456789012:role/mlops-platform-dev-churn-firehose",
            "bucketArn": f"arn:aws:s3:::{capture}",
            "prefix": capture_settings.firehose_prefix("mlops-platform-dev-churn", "AllTraffic"),
            "errorOutputPrefix": capture_settings.firehose_error_prefix(
                "mlops-platform-dev-churn", "AllTraffic"
            ),
            "bufferingSize": 5,
            "bufferingInterval": 60,
            "compressionFormat": "GZIP",
            "kmsKeyArn": key,
            "cloudwatchLoggingOptions": {
                "enabled": True,
                "logGroupName": "/aws/kinesisfirehose/mlops-platform-dev-churn-capture",
                "logStreamName": "DestinationDelivery",
            },
        },
    }
    proxy = named(plan, "inference-churn-capture-proxy")
    inputs = dict(proxy.inputs)
    code = inputs.pop("code")
    assert sorted(code["archive"]["assets"]) == [
        "capture_format.py",
        "capture_settings.py",
        "proxy.py",
    ]
    # Every module of the proxy's folder that the handler imports is in its package.
    assert local_imports(CAPTURE_PROXY_DIR / "proxy.py") <= set(code["archive"]["assets"])
    assert inputs["handler"] == "proxy.lambda_handler"
    assert inputs["reservedConcurrentExecutions"] == 5  # the endpoint's maxConcurrency
    assert inputs["environment"]["variables"] == {
        capture_settings.ENV_ENDPOINT_NAME: "mlops-platform-dev-churn",
        capture_settings.ENV_VARIANT_NAME: "AllTraffic",
        capture_settings.ENV_DELIVERY_STREAM: "mlops-platform-dev-churn-capture",
        capture_settings.ENV_SAMPLING_PERCENT: "100",
        capture_settings.ENV_METRICS_NAMESPACE: capture_settings.METRICS_NAMESPACE,
        capture_settings.ENV_SERVICE_NAME: capture_settings.SERVICE_NAME,
    }
    url = named(plan, "inference-churn-capture-url")
    assert url.inputs == {
        "functionName": "mlops-platform-dev-churn-capture-proxy",
        "authorizationType": "AWS_IAM",
        "invokeMode": "BUFFERED",
    }
    assert plan.outputs["captureProxyUrls"]["churn"].startswith("https://")
    granted = statements(named(plan, "inference-churn-proxy-access"))
    assert granted["InvokeOwnEndpoint"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mlops-platform-dev-churn"
    ]
    assert granted["RecordCapture"] == {
        "Sid": "RecordCapture",
        "Effect": "Allow",
        "Action": ["firehose:PutRecord"],
        "Resource": [
            "arn:aws:firehose:eu-west-1:123456789012:deliverystream/mlops-platform-dev-churn-capture"
        ],
    }
    # Firehose encrypts with its own grant: the producer gets no key permission for it.
    assert not [
        sid
        for sid, statement in granted.items()
        if "firehose" in json.dumps(statement.get("Condition", {}))
    ]
    delivered = statements(named(plan, "inference-churn-firehose-access"))
    assert delivered["DeliverCapture"]["Resource"] == [
        f"arn:aws:s3:::{capture}/datacapture/mlops-platform-dev-churn/*",
        f"arn:aws:s3:::{capture}/datacapture-errors/mlops-platform-dev-churn/*",
    ]
    # Realtime stacks capture with SageMaker itself: no proxy, no stream.
    for stack in ("staging", "prod"):
        assert not plans[stack].by_type(STREAM)
        assert "captureProxyUrls" not in plans[stack].outputs


def test_firehose_prefix_lands_where_the_drift_check_lists_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Firehose fills `!{timestamp:yyyy/MM/dd/HH}` with the arrival hour (UTC); the drift check
    # lists `datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/` (handler.list_window_keys).
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # the handler module makes clients
    import handler  # the drift check's module (lambdas/drift_check)

    prefix = capture_settings.firehose_prefix("ep", "AllTraffic")
    arrival = datetime(2026, 11, 27, 9, 41, tzinfo=UTC)
    key = prefix.replace("!{timestamp:yyyy/MM/dd/HH}", arrival.strftime("%Y/%m/%d/%H")) + "x.gz"
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="cap", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="cap", Key=key, Body=gzip.compress(b"{}\n"))
        window = handler.Window(end=datetime(2026, 11, 27, 10, tzinfo=UTC), hours=1)
        assert handler.list_variants(s3, "cap", "ep") == ["AllTraffic"]
        assert handler.list_window_keys(s3, "cap", "ep", window, ["AllTraffic"]) == [key]


# ---- model versions: pinned or latest approved ---------------------------------------------


def _seed_registry(statuses: list[str]) -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    client.create_model_package_group(ModelPackageGroupName="mlops-platform-staging-churn")
    spec = {
        "Containers": [{"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    for status in statuses:
        client.create_model_package(
            ModelPackageGroupName="mlops-platform-staging-churn",
            ModelApprovalStatus=status,
            InferenceSpecification=spec,
        )


def test_latest_approved_is_resolved_from_sagemaker_and_exported(
    plan_stack: Callable[..., Plan],
) -> None:
    with mock_aws():
        _seed_registry(["Approved", "Approved", "PendingManualApproval", "Rejected"])
        plan = plan_stack(
            "staging",
            {f"{NS}inference": _staging_inference(modelVersion=LATEST_APPROVED, shadow=None)},
        )
    assert plan.outputs["endpointModelVersions"] == {"churn": {"production": 2}}
    model = named(plan, "inference-churn-production-model")
    assert model.inputs["primaryContainer"] == {"modelPackageName": package("staging", 2)}


def test_latest_approved_without_an_approved_version_stops_the_program(
    plan_stack: Callable[..., Plan],
) -> None:
    registered: list[Registration] = []
    with mock_aws():
        _seed_registry(["PendingManualApproval"])
        with pytest.raises(ModelVersionError) as caught:
            plan_stack(
                "staging",
                {f"{NS}inference": _staging_inference(modelVersion=LATEST_APPROVED, shadow=None)},
                (),
                registered,
            )
    assert str(caught.value) == (
        "modelVersion latest-approved: model package group 'mlops-platform-staging-churn' has "
        "no Approved version; approve one (sagemaker update-model-package "
        "--model-approval-status Approved) or pin a version (an integer)"
    )
    assert not [r for r in registered if r.type.startswith("aws:sagemaker/endpoint")]


# ---- drift checks read the production variant only ----------------------------------------------


def test_drift_checks_of_platform_endpoints_skip_the_shadow(plans: dict[str, Plan]) -> None:
    schedule = next(
        r
        for r in plans["staging"].by_type("aws:scheduler/schedule:Schedule")
        if r.name.startswith("drift-")
    )
    assert json.loads(schedule.inputs["target"]["input"])["variants"] == ["AllTraffic"]


# ---- network -----------------------------------------------------------------------------------

NETWORK = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
}


def test_models_join_the_stacks_vpc_with_a_closed_security_group(
    plan_stack: Callable[..., Plan],
) -> None:
    # Without security groups of its own; training (whose SDK then refuses the VPC) is off, and
    # so is retraining, which needs training.
    off = {"enabled": False}
    plan = plan_stack(
        "staging", {f"{NS}network": NETWORK, f"{NS}training": off, f"{NS}retraining": off}
    )
    group = named(plan, "inference-churn-model-sg")
    assert group.inputs["vpcId"] == NETWORK["vpcId"]
    assert group.inputs["ingress"] == []
    assert [(e["protocol"], e["fromPort"], e["toPort"]) for e in group.inputs["egress"]] == [
        ("tcp", 443, 443)
    ]
    for role in ("production", "shadow"):
        model = named(plan, f"inference-churn-{role}-model")
        assert model.inputs["vpcConfig"] == {
            "subnets": NETWORK["subnetIds"],
            "securityGroupIds": [group.id],
        }
    granted = statements(named(plan, "inference-churn-model-access"))
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNTS['staging']}"
    # The group is the platform's own (its id is known once created): any of the account's.
    assert granted["ManageModelNetworkInterfaces"]["Resource"] == [
        f"{ec2}:network-interface/*",
        *(f"{ec2}:subnet/{s}" for s in NETWORK["subnetIds"]),
        f"{ec2}:security-group/*",
    ]
    assert granted["LookUpNetwork"]["Resource"] == ["*"]
    assert not {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"} & set(
        granted["LookUpNetwork"]["Action"]
    )


def test_given_security_groups_are_used_as_they_are(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack(
        "staging", {f"{NS}network": {**NETWORK, "securityGroupIds": ["sg-0123456789abcdef0"]}}
    )
    assert not plan.by_type("aws:ec2/securityGroup:SecurityGroup")
    model = named(plan, "inference-churn-production-model")
    assert model.inputs["vpcConfig"]["securityGroupIds"] == ["sg-0123456789abcdef0"]
    granted = statements(named(plan, "inference-churn-model-access"))
    assert granted["ManageModelNetworkInterfaces"]["Resource"][-1] == (
        f"arn:aws:ec2:{REGION}:{ACCOUNTS['staging']}:security-group/sg-0123456789abcdef0"
    )


def test_without_a_network_the_role_manages_no_interfaces(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    granted = statements(named(plan, "inference-churn-model-access"))
    assert "ManageModelNetworkInterfaces" not in granted
    assert "LookUpNetwork" not in granted
    assert "vpcConfig" not in named(plan, "inference-churn-production-model").inputs


def test_model_role_reads_only_its_models_artifacts_and_writes_only_its_capture(
    plans: dict[str, Plan],
) -> None:
    plan = plans["staging"]
    artifacts, capture = bucket(plan, "model-artifacts"), bucket(plan, "capture")
    granted = statements(named(plan, "inference-churn-model-access"))
    assert granted["ReadModelArtifacts"]["Resource"] == [
        f"arn:aws:s3:::{artifacts}/models/churn/*",
        f"arn:aws:s3:::{artifacts}/pipelines/churn/*",
    ]
    assert granted["WriteCapture"]["Resource"] == [
        f"arn:aws:s3:::{capture}/datacapture/mlops-platform-staging-churn/*"
    ]
    # The model's own repository and the framework image its pipeline registers.
    pulled = granted["PullImages"]["Resource"]
    assert f"arn:aws:ecr:{REGION}:123456789012:repository/mlops-platform-staging-churn" in pulled
    assert any("sagemaker-scikit-learn" in arn for arn in pulled), pulled
    trust = statements(named(plan, "inference-churn-model-role"), "assumeRolePolicy")
    assert trust["ServiceAssumesRole"]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


@pytest.mark.parametrize(
    ("image", "arn"),
    [
        (
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/churn@sha256:abc",
            "arn:aws:ecr:eu-west-1:123456789012:repository/team/churn",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/churn:v1@sha256:abc",
            "arn:aws:ecr:eu-west-1:123456789012:repository/team/churn",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn",
            "arn:aws:ecr:eu-west-1:123456789012:repository/churn",
        ),
    ],
)
def test_image_uris_become_repository_arns(image: str, arn: str) -> None:
    from components.iam import ecr_repository_arn

    assert ecr_repository_arn(image, "aws") == arn


# ---- the policy pack over the component --------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_pack_finds_nothing_wrong_with_the_shipped_endpoints(
    plans: dict[str, Plan], stack: str
) -> None:
    from planner.policies import evaluate

    report = evaluate(plans[stack].registrations)
    assert report.violations == []


def test_a_model_without_isolation_is_refused_by_the_pack(plan_stack: Callable[..., Plan]) -> None:
    from planner.policies import evaluate

    plan = plan_stack("staging", {f"{NS}inference": _staging_inference(networkIsolation=False)})
    assert named(plan, "inference-churn-production-model").inputs["enableNetworkIsolation"] is False
    report = evaluate(plan.registrations)
    assert sorted({v.policy for v in report.violations}) == ["sagemaker-model-network-isolation"]
    assert len(report.violations) == 2  # the production model and the shadow's
