"""The inference policies over hand-built registrations in the pulumi-aws input shapes: a
real-time stack (model, endpoint configuration, endpoint) that follows the controls passes the
whole pack; each broken control is reported by its policy, on the resource at fault, with its
message; serverless configurations, non-production stacks, local-storage instance types and
models listed in the policy config are marked not applicable with the reason; an endpoint
is linked to its configuration by property dependency or by name; and the variant names are the
accepted ones, which the endpoint's alarms, scaling target and rollback alarms key on."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

from planner.mocks import Registration
from planner.policies import PolicyReport, evaluate
from policy.mlops_policies import POLICIES
from tests.policy.test_policies import TAGS, provider, record

ACCOUNT = "111111111111"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-prod-churn-inference"
MODEL_PACKAGE = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/churn/7"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:appautoscaling/target:Target"
CONFIG_URN = f"urn:pulumi:prod::mlops-platform::{CONFIG}::churn"
ENDPOINT_URN = f"urn:pulumi:prod::mlops-platform::{ENDPOINT}::churn"
MODEL_URN = f"urn:pulumi:prod::mlops-platform::{MODEL}::churn"
STACK_URN = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
ERRORS_ALARM_URN = f"urn:pulumi:prod::mlops-platform::{ALARM}::churn-5xx"
LATENCY_ALARM_URN = f"urn:pulumi:prod::mlops-platform::{ALARM}::churn-latency"
TARGET_URN = f"urn:pulumi:prod::mlops-platform::{TARGET}::churn-scaling"
ENDPOINT_NAME = "mlops-prod-churn"
VARIANT_NAMES = "sagemaker-variant-names-stable"

INFERENCE_POLICY_NAMES = [
    "sagemaker-endpoint-config-kms",
    "sagemaker-endpoint-data-capture",
    "sagemaker-endpoint-instance-count",
    "sagemaker-endpoint-safe-rollout",
    "sagemaker-variant-names-stable",
    "sagemaker-model-network-isolation",
    "sagemaker-model-vpc",
]


def _model_inputs() -> dict[str, Any]:
    return {
        "name": "mlops-prod-churn-v7",
        "executionRoleArn": ROLE_ARN,
        "primaryContainer": {"modelPackageName": MODEL_PACKAGE},
        "enableNetworkIsolation": True,
        "vpcConfig": {"subnets": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-1"]},
    }


def _variant(name: str = "AllTraffic", **inputs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "variantName": name,
        "modelName": "mlops-prod-churn-v7",
        "instanceType": "ml.m5.large",
        "initialInstanceCount": 2,
        "initialVariantWeight": 1,
    }
    base.update(inputs)
    return {k: v for k, v in base.items() if v is not None}


def _serverless_variant(name: str = "AllTraffic") -> dict[str, Any]:
    return {
        "variantName": name,
        "modelName": "mlops-dev-churn-v7",
        "serverlessConfig": {"memorySizeInMb": 2048, "maxConcurrency": 5},
    }


def _config_inputs() -> dict[str, Any]:
    return {
        "name": "mlops-prod-churn-7",
        "kmsKeyArn": KEY_ARN,
        "productionVariants": [_variant()],
        "shadowProductionVariants": [_variant("Shadow", initialInstanceCount=1)],
        "dataCaptureConfig": {
            "enableCapture": True,
            "initialSamplingPercentage": 20,
            "destinationS3Uri": "s3://mlops-prod-capture/churn",
            "kmsKeyId": KEY_ARN,
            "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        },
    }


def _endpoint_inputs() -> dict[str, Any]:
    return {
        "name": "mlops-prod-churn",
        "endpointConfigName": "mlops-prod-churn-7",
        "deploymentConfig": {
            "blueGreenUpdatePolicy": {
                "trafficRoutingConfiguration": {
                    "type": "CANARY",
                    "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
                    "waitIntervalInSeconds": 600,
                },
                "terminationWaitInSeconds": 600,
                "maximumExecutionTimeoutInSeconds": 3600,
            },
            "autoRollbackConfiguration": {
                "alarms": [
                    {"alarmName": "mlops-prod-churn-5xx"},
                    {"alarmName": "mlops-prod-churn-latency"},
                ]
            },
        },
    }


def _dimensions(variant: str = "AllTraffic", endpoint: str = ENDPOINT_NAME) -> dict[str, str]:
    return {"EndpointName": endpoint, "VariantName": variant}


def _errors_alarm(variant: str = "AllTraffic") -> dict[str, Any]:
    """The 5xx-rate rollback alarm: a metric math alarm, its variant in its metric queries."""

    def query(metric_id: str, metric: str) -> dict[str, Any]:
        return {
            "id": metric_id,
            "returnData": False,
            "metric": {
                "namespace": "AWS/SageMaker",
                "metricName": metric,
                "dimensions": _dimensions(variant),
                "period": 60,
                "stat": "Sum",
            },
        }

    return {
        "name": "mlops-prod-churn-5xx",
        "alarmActions": ["arn:aws:sns:eu-west-1:111111111111:mlops-prod-events"],
        "treatMissingData": "notBreaching",
        "comparisonOperator": "GreaterThanThreshold",
        "evaluationPeriods": 2,
        "threshold": 1.0,
        "metricQueries": [
            query("errors", "Invocation5XXErrors"),
            query("invocations", "Invocations"),
            {"id": "rate", "returnData": True, "expression": "100 * errors / invocations"},
        ],
    }


def _latency_alarm(variant: str = "AllTraffic") -> dict[str, Any]:
    return {
        "name": "mlops-prod-churn-latency",
        "alarmActions": ["arn:aws:sns:eu-west-1:111111111111:mlops-prod-events"],
        "treatMissingData": "notBreaching",
        "comparisonOperator": "GreaterThanThreshold",
        "evaluationPeriods": 2,
        "threshold": 300000.0,
        "namespace": "AWS/SageMaker",
        "metricName": "ModelLatency",
        "dimensions": _dimensions(variant),
        "period": 60,
        "extendedStatistic": "p99",
    }


def _target_inputs(variant: str = "AllTraffic") -> dict[str, Any]:
    return {
        "serviceNamespace": "sagemaker",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "resourceId": f"endpoint/{ENDPOINT_NAME}/variant/{variant}",
        "minCapacity": 2,
        "maxCapacity": 4,
    }


def _records(
    model: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    endpoint: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    errors_alarm: dict[str, Any] | None = None,
    latency_alarm: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    **endpoint_options: Any,
) -> list[Registration]:
    """The real-time stack: model, configuration, endpoint, its two rollback alarms and its
    scaling target."""
    return [
        provider(tags),
        record(MODEL, "churn", _model_inputs() if model is None else model),
        record(CONFIG, "churn", _config_inputs() if config is None else config),
        record(
            ENDPOINT,
            "churn",
            _endpoint_inputs() if endpoint is None else endpoint,
            **endpoint_options,
        ),
        record(ALARM, "churn-5xx", _errors_alarm() if errors_alarm is None else errors_alarm),
        record(
            ALARM, "churn-latency", _latency_alarm() if latency_alarm is None else latency_alarm
        ),
        record(TARGET, "churn-scaling", _target_inputs() if target is None else target),
    ]


def _report(records: list[Registration], policies: Any = None) -> PolicyReport:
    return evaluate(records) if policies is None else evaluate(records, policies)


def findings(records: list[Registration]) -> list[tuple[str, str, str]]:
    return [(v.policy, v.urn, v.message) for v in _report(records).violations]


def not_applicable(records: list[Registration]) -> list[tuple[str, str, str]]:
    """The inference policies marked not applicable, with the urn and the reason."""
    return [
        (n.policy, n.urn, n.message)
        for n in _report(records).not_applicable
        if n.policy in INFERENCE_POLICY_NAMES
    ]


def _edited(build: Callable[[], dict[str, Any]], *path: Any, value: Any) -> dict[str, Any]:
    """`build()` with the field at `path` set to `value` (removed when value is None)."""
    inputs = copy.deepcopy(build())
    node: Any = inputs
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return inputs


# ---- the compliant stack ---------------------------------------------------------------------


def test_every_inference_policy_is_registered() -> None:
    prefixes = ("sagemaker-endpoint-", "sagemaker-variant-", "sagemaker-model-")
    assert [p.name for p in POLICIES if p.name.startswith(prefixes)] == INFERENCE_POLICY_NAMES


def test_compliant_real_time_stack_passes_the_whole_pack() -> None:
    records = _records()
    assert findings(records) == []
    assert not_applicable(records) == []


# ---- each broken control ---------------------------------------------------------------------

_CAPTURE = "dataCaptureConfig"
_ROUTING = ("deploymentConfig", "blueGreenUpdatePolicy", "trafficRoutingConfiguration")
_ROUTING_TEXT = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"
_SUBJECT = "SageMaker endpoint 'churn'"

BAD_CASES: list[tuple[str, str, dict[str, Any], str, str, str]] = [
    # (id, which resource, its inputs, policy, urn, message)
    (
        "config-without-key",
        "config",
        _edited(_config_inputs, "kmsKeyArn", value=None),
        "sagemaker-endpoint-config-kms",
        CONFIG_URN,
        "endpoint configuration sets no kmsKeyArn; encrypt it with the platform's "
        "customer-managed key. (CKV_AWS_98)",
    ),
    (
        "config-aws-managed-key",
        "config",
        _edited(_config_inputs, "kmsKeyArn", value="alias/aws/sagemaker"),
        "sagemaker-endpoint-config-kms",
        CONFIG_URN,
        "endpoint configuration kmsKeyArn 'alias/aws/sagemaker' is an AWS-managed key; use the "
        "platform's customer-managed key, whose policy the platform controls. (CKV_AWS_98)",
    ),
    (
        "no-data-capture",
        "config",
        _edited(_config_inputs, _CAPTURE, value=None),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration sets no dataCaptureConfig; capture inputs and outputs to the "
        "capture bucket, encrypted, for the drift checks.",
    ),
    (
        "capture-disabled",
        "config",
        _edited(_config_inputs, _CAPTURE, "enableCapture", value=False),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration dataCaptureConfig.enableCapture is False; set it to true.",
    ),
    (
        "capture-enable-unset",
        "config",
        _edited(_config_inputs, _CAPTURE, "enableCapture", value=None),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration dataCaptureConfig.enableCapture is None; set it to true.",
    ),
    (
        "capture-input-only",
        "config",
        _edited(_config_inputs, _CAPTURE, "captureOptions", value=[{"captureMode": "Input"}]),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration dataCaptureConfig.captureOptions do not capture Output; capture "
        "both Input and Output.",
    ),
    (
        "capture-no-destination",
        "config",
        _edited(_config_inputs, _CAPTURE, "destinationS3Uri", value=""),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration dataCaptureConfig sets no destinationS3Uri; capture to the "
        "capture bucket.",
    ),
    (
        "capture-no-key",
        "config",
        _edited(_config_inputs, _CAPTURE, "kmsKeyId", value=None),
        "sagemaker-endpoint-data-capture",
        CONFIG_URN,
        "endpoint configuration dataCaptureConfig sets no kmsKeyId; encrypt it with the "
        "platform's customer-managed key.",
    ),
    (
        "one-instance-in-prod",
        "config",
        _edited(_config_inputs, "productionVariants", 0, "initialInstanceCount", value=1),
        "sagemaker-endpoint-instance-count",
        CONFIG_URN,
        "endpoint configuration production variant 'AllTraffic' initialInstanceCount is 1; in "
        "production a real-time variant runs more than one instance, so SageMaker can spread "
        "it across Availability Zones (SH SageMaker.4).",
    ),
    (
        "instance-count-unset-in-prod",
        "config",
        _edited(_config_inputs, "productionVariants", 0, "initialInstanceCount", value=None),
        "sagemaker-endpoint-instance-count",
        CONFIG_URN,
        "endpoint configuration production variant 'AllTraffic' initialInstanceCount is None; in "
        "production a real-time variant runs more than one instance, so SageMaker can spread "
        "it across Availability Zones (SH SageMaker.4).",
    ),
    (
        "all-at-once",
        "endpoint",
        _edited(
            _endpoint_inputs, *_ROUTING, value={"type": "ALL_AT_ONCE", "waitIntervalInSeconds": 600}
        ),
        "sagemaker-endpoint-safe-rollout",
        ENDPOINT_URN,
        f"{_SUBJECT} {_ROUTING_TEXT}.type is 'ALL_AT_ONCE'; shift traffic with CANARY or LINEAR "
        "so a bad version meets only part of the traffic before its alarms roll it back.",
    ),
    (
        "canary-over-half",
        "endpoint",
        _edited(_endpoint_inputs, *_ROUTING, "canarySize", "value", value=60),
        "sagemaker-endpoint-safe-rollout",
        ENDPOINT_URN,
        f"{_SUBJECT} {_ROUTING_TEXT}.canarySize is 60 percent; a canary takes more than 0 and at "
        "most 50 percent of the capacity.",
    ),
    (
        "canary-without-size",
        "endpoint",
        _edited(_endpoint_inputs, *_ROUTING, "canarySize", value=None),
        "sagemaker-endpoint-safe-rollout",
        ENDPOINT_URN,
        f"{_SUBJECT} {_ROUTING_TEXT} is CANARY but sets no canarySize.",
    ),
    (
        "linear-without-step",
        "endpoint",
        _edited(
            _endpoint_inputs, *_ROUTING, value={"type": "LINEAR", "waitIntervalInSeconds": 300}
        ),
        "sagemaker-endpoint-safe-rollout",
        ENDPOINT_URN,
        f"{_SUBJECT} {_ROUTING_TEXT} is LINEAR but sets no linearStepSize.",
    ),
    (
        "no-rollback-alarms",
        "endpoint",
        _edited(
            _endpoint_inputs, "deploymentConfig", "autoRollbackConfiguration", "alarms", value=[]
        ),
        "sagemaker-endpoint-safe-rollout",
        ENDPOINT_URN,
        f"{_SUBJECT} sets no deploymentConfig.autoRollbackConfiguration.alarms; a rollout rolls "
        "back automatically when one of its CloudWatch alarms fires.",
    ),
    (
        "model-not-isolated",
        "model",
        _edited(_model_inputs, "enableNetworkIsolation", value=False),
        "sagemaker-model-network-isolation",
        MODEL_URN,
        "model enableNetworkIsolation is False; set it to true so the container makes no "
        "outbound network calls (SH SageMaker.5, CKV_AWS_370), or list the model in the policy "
        "config allowWithoutIsolation.",
    ),
    (
        "model-isolation-unset",
        "model",
        _edited(_model_inputs, "enableNetworkIsolation", value=None),
        "sagemaker-model-network-isolation",
        MODEL_URN,
        "model enableNetworkIsolation is not set; set it to true so the container makes no "
        "outbound network calls (SH SageMaker.5, CKV_AWS_370), or list the model in the policy "
        "config allowWithoutIsolation.",
    ),
    (
        "model-one-subnet",
        "model",
        _edited(_model_inputs, "vpcConfig", "subnets", value=["subnet-a", "subnet-a"]),
        "sagemaker-model-vpc",
        MODEL_URN,
        "model vpcConfig.subnets has 1 distinct subnet(s); give at least 2, in different "
        "Availability Zones, so the endpoint's instances are not confined to one zone.",
    ),
    (
        "model-no-security-group",
        "model",
        _edited(_model_inputs, "vpcConfig", "securityGroupIds", value=[]),
        "sagemaker-model-vpc",
        MODEL_URN,
        "model vpcConfig sets no securityGroupIds; give at least one.",
    ),
]


@pytest.mark.parametrize(
    ("which", "inputs", "policy", "urn", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_each_broken_control_is_reported(
    which: str, inputs: dict[str, Any], policy: str, urn: str, message: str
) -> None:
    assert findings(_records(**{which: inputs})) == [(policy, urn, message)]


def test_endpoint_without_deployment_config_misses_both_halves() -> None:
    records = _records(endpoint=_edited(_endpoint_inputs, "deploymentConfig", value=None))
    assert findings(records) == [
        (
            "sagemaker-endpoint-safe-rollout",
            ENDPOINT_URN,
            f"{_SUBJECT} sets no deploymentConfig.blueGreenUpdatePolicy; a real-time endpoint "
            "updates blue/green with CANARY or LINEAR traffic shifting.",
        ),
        (
            "sagemaker-endpoint-safe-rollout",
            ENDPOINT_URN,
            f"{_SUBJECT} sets no deploymentConfig.autoRollbackConfiguration.alarms; a rollout "
            "rolls back automatically when one of its CloudWatch alarms fires.",
        ),
    ]


def test_a_rolling_update_is_not_a_blue_green_rollout() -> None:
    deployment = {
        "rollingUpdatePolicy": {
            "maximumBatchSize": {"type": "CAPACITY_PERCENT", "value": 25},
            "waitIntervalInSeconds": 300,
        },
        "autoRollbackConfiguration": {"alarms": [{"alarmName": "mlops-prod-churn-5xx"}]},
    }
    records = _records(endpoint=_edited(_endpoint_inputs, "deploymentConfig", value=deployment))
    assert findings(records) == [
        (
            "sagemaker-endpoint-safe-rollout",
            ENDPOINT_URN,
            f"{_SUBJECT} sets no deploymentConfig.blueGreenUpdatePolicy (not rollingUpdatePolicy); "
            "a real-time endpoint updates blue/green with CANARY or LINEAR traffic shifting.",
        )
    ]


def test_canary_by_instance_count_and_linear_shifting_pass() -> None:
    by_count = _edited(
        _endpoint_inputs, *_ROUTING, "canarySize", value={"type": "INSTANCE_COUNT", "value": 1}
    )
    linear = _edited(
        _endpoint_inputs,
        *_ROUTING,
        value={
            "type": "LINEAR",
            "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
            "waitIntervalInSeconds": 300,
        },
    )
    assert findings(_records(endpoint=by_count)) == []
    assert findings(_records(endpoint=linear)) == []


def test_every_instance_based_production_variant_is_counted() -> None:
    config = _config_inputs()
    config["productionVariants"].append(_variant("canary", initialInstanceCount=1))
    counted = [f for f in findings(_records(config=config)) if f[0] != VARIANT_NAMES]
    assert counted == [
        (
            "sagemaker-endpoint-instance-count",
            CONFIG_URN,
            "endpoint configuration production variant 'canary' initialInstanceCount is 1; in "
            "production a real-time variant runs more than one instance, so SageMaker can "
            "spread it across Availability Zones (SH SageMaker.4).",
        )
    ]


# ---- not applicable, with the reason ---------------------------------------------------------


def _serverless_config() -> dict[str, Any]:
    return {"name": "mlops-prod-churn-7", "productionVariants": [_serverless_variant()]}


def test_serverless_configuration_and_endpoint_are_not_applicable() -> None:
    serverless = "the endpoint configuration is serverless only: "
    endpoint = _endpoint_inputs()
    del endpoint["deploymentConfig"]
    records = _records(config=_serverless_config(), endpoint=endpoint)
    assert findings(records) == []
    assert not_applicable(records) == [
        (
            "sagemaker-endpoint-config-kms",
            CONFIG_URN,
            f"{serverless}a serverless endpoint has no instance storage volume for kmsKeyArn to "
            "encrypt, and SageMaker does not accept the key for it",
        ),
        (
            "sagemaker-endpoint-data-capture",
            CONFIG_URN,
            f"{serverless}serverless endpoints do not support SageMaker data capture; the "
            "platform's capture proxy records their traffic in the same format",
        ),
        (
            "sagemaker-endpoint-instance-count",
            CONFIG_URN,
            f"{serverless}serverless variants have no instance count",
        ),
        (
            "sagemaker-endpoint-safe-rollout",
            STACK_URN,
            "every endpoint of the stack serves a serverless configuration; blue/green traffic "
            "shifting, rolling updates and shadow variants do not apply to serverless endpoints",
        ),
    ]


def test_instance_count_is_not_applicable_outside_production() -> None:
    config = _edited(_config_inputs, "productionVariants", 0, "initialInstanceCount", value=1)
    records = _records(config=config, tags={**TAGS, "Environment": "dev"})
    assert findings(records) == []
    assert not_applicable(records) == [
        (
            "sagemaker-endpoint-instance-count",
            CONFIG_URN,
            "the endpoint configuration is not in a production environment",
        )
    ]


def test_kms_is_not_applicable_on_local_storage_instances() -> None:
    config = _edited(_config_inputs, "kmsKeyArn", value=None)
    config["productionVariants"][0]["instanceType"] = "ml.g5.xlarge"
    records = _records(config=config)
    assert findings(records) == []
    assert not_applicable(records) == [
        (
            "sagemaker-endpoint-config-kms",
            CONFIG_URN,
            "production variant 'AllTraffic' (ml.g5.xlarge) run(s) on an instance type with local "
            "NVMe storage, which SageMaker encrypts in hardware; it rejects a kmsKeyArn for such "
            "a configuration",
        )
    ]


def test_rollout_is_not_applicable_without_endpoints() -> None:
    records = [provider(), record(MODEL, "churn", _model_inputs())]
    assert not_applicable(records) == [
        ("sagemaker-endpoint-safe-rollout", STACK_URN, "the stack has no SageMaker endpoints"),
        (
            "sagemaker-variant-names-stable",
            STACK_URN,
            "the stack has no SageMaker endpoint configurations or endpoints",
        ),
    ]


def test_model_vpc_is_not_applicable_without_vpc_config() -> None:
    records = _records(model=_edited(_model_inputs, "vpcConfig", value=None))
    assert findings(records) == []
    assert not_applicable(records) == [
        (
            "sagemaker-model-vpc",
            MODEL_URN,
            "the model sets no vpcConfig (whether the stack's config gives a network is not "
            "visible to the policy)",
        )
    ]


def test_models_listed_in_the_policy_config_may_run_without_isolation() -> None:
    isolation = next(p for p in POLICIES if p.name == "sagemaker-model-network-isolation")
    assert isinstance(isolation, ResourceValidationPolicy)
    allowing = ResourceValidationPolicy(
        name=isolation.name,
        description=isolation.description,
        validate=isolation.validate,
        enforcement_level=isolation.enforcement_level,
        config_schema=PolicyConfigSchema(
            properties={
                "allowWithoutIsolation": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": ["mlops-*-churn-*"],
                }
            }
        ),
    )
    records = _records(model=_edited(_model_inputs, "enableNetworkIsolation", value=False))
    report = _report(records, (allowing,))
    assert report.violations == []
    assert [(n.policy, n.urn, n.message) for n in report.not_applicable] == [
        (
            isolation.name,
            MODEL_URN,
            "'mlops-prod-churn-v7' matches 'mlops-*-churn-*' in the policy config "
            "allowWithoutIsolation",
        )
    ]
    other = _edited(_model_inputs, "enableNetworkIsolation", value=False)
    other["name"] = "mlops-prod-fraud-v1"
    assert [v.policy for v in _report(_records(model=other), (allowing,)).violations] == [
        isolation.name
    ]


# ---- linking an endpoint to its configuration ------------------------------------------------


def test_endpoint_links_to_its_configuration_by_dependency() -> None:
    """An auto-named configuration: the endpoint's name for it is not known, only the property
    dependency says which configuration it serves."""
    config = _serverless_config()
    del config["name"]
    endpoint = _endpoint_inputs()
    del endpoint["deploymentConfig"]
    del endpoint["endpointConfigName"]
    records = _records(
        config=config,
        endpoint=endpoint,
        property_dependencies={"endpointConfigName": [CONFIG_URN]},
    )
    assert findings(records) == []
    assert ("sagemaker-endpoint-safe-rollout", STACK_URN) in [
        n[:2] for n in not_applicable(records)
    ]


def test_endpoint_of_a_real_time_configuration_linked_by_dependency_is_judged() -> None:
    config = _config_inputs()
    del config["name"]
    endpoint = _edited(_endpoint_inputs, "endpointConfigName", value=None)
    endpoint["deploymentConfig"]["autoRollbackConfiguration"] = {}
    records = _records(
        config=config,
        endpoint=endpoint,
        property_dependencies={"endpointConfigName": [CONFIG_URN]},
    )
    assert [(f[0], f[1]) for f in findings(records)] == [
        ("sagemaker-endpoint-safe-rollout", ENDPOINT_URN)
    ]


def test_an_endpoint_whose_configuration_is_not_in_the_stack_is_held_to_the_control() -> None:
    endpoint = _edited(_endpoint_inputs, "endpointConfigName", value="elsewhere")
    endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"] = []
    records = _records(config=_serverless_config(), endpoint=endpoint)
    assert findings(records) == [
        (
            "sagemaker-endpoint-safe-rollout",
            ENDPOINT_URN,
            f"{_SUBJECT} (its endpointConfigName 'elsewhere' is not an EndpointConfiguration of "
            "this stack, so it is held to the real-time control) sets no "
            "deploymentConfig.autoRollbackConfiguration.alarms; a rollout rolls back "
            "automatically when one of its CloudWatch alarms fires.",
        )
    ]


def test_mixed_stack_judges_only_real_time_endpoints() -> None:
    """A serverless endpoint without a deployment config next to a compliant real-time one."""
    serverless_config = _serverless_config()
    serverless_config["name"] = "mlops-prod-churn-lite-7"
    serverless_endpoint = {
        "name": "mlops-prod-churn-lite",
        "endpointConfigName": "mlops-prod-churn-lite-7",
    }
    records = [
        *_records(),
        record(CONFIG, "lite", serverless_config),
        record(ENDPOINT, "lite", serverless_endpoint),
    ]
    assert findings(records) == []
    assert [n for n in not_applicable(records) if n[0] == "sagemaker-endpoint-safe-rollout"] == []


# ---- stable variant names (REL-2) ------------------------------------------------------------

_KEEPS = (
    "every configuration of an endpoint keeps the same variant names, without a model version "
    "in them, so its alarms and autoscaling keep following the variant."
)
_OF_CONFIG = "of its endpoint configuration 'churn'"
_ALARM_FIX = "key it on a variant name every configuration of the endpoint keeps."
_TARGET_FIX = "scale a production variant every configuration of the endpoint keeps."


def _renamed(field: str, name: str) -> dict[str, Any]:
    return _edited(_config_inputs, field, 0, "variantName", value=name)


def test_the_compliant_stack_keeps_its_variant_names() -> None:
    """Judged, not skipped: the policy runs on the compliant stack and finds nothing."""
    report = _report(_records())
    assert [v for v in report.violations if v.policy == VARIANT_NAMES] == []
    assert [n for n in report.not_applicable if n.policy == VARIANT_NAMES] == []


def test_a_versioned_production_variant_name_and_what_keys_on_the_old_name() -> None:
    records = _records(config=_renamed("productionVariants", "churn-v4"))
    variants = f"the variants ['churn-v4', 'Shadow'] {_OF_CONFIG}"
    assert findings(records) == [
        (
            VARIANT_NAMES,
            CONFIG_URN,
            "SageMaker endpoint configuration 'churn' production variant 'churn-v4' is not one "
            "of the accepted production variant names ['AllTraffic'] (policy config "
            f"productionVariantNames); {_KEEPS}",
        ),
        (
            VARIANT_NAMES,
            ERRORS_ALARM_URN,
            f"CloudWatch alarm 'churn-5xx' watches variant 'AllTraffic' of {_SUBJECT}, not one "
            f"of {variants}; {_ALARM_FIX}",
        ),
        (
            VARIANT_NAMES,
            LATENCY_ALARM_URN,
            f"CloudWatch alarm 'churn-latency' watches variant 'AllTraffic' of {_SUBJECT}, not "
            f"one of {variants}; {_ALARM_FIX}",
        ),
        (
            VARIANT_NAMES,
            TARGET_URN,
            f"Application Auto Scaling target 'churn-scaling' scales variant 'AllTraffic' of "
            f"{_SUBJECT}, not one of the production variants ['churn-v4'] {_OF_CONFIG}; "
            f"{_TARGET_FIX}",
        ),
    ]


def test_a_renamed_shadow_variant() -> None:
    records = _records(config=_renamed("shadowProductionVariants", "churn-v8"))
    assert findings(records) == [
        (
            VARIANT_NAMES,
            CONFIG_URN,
            "SageMaker endpoint configuration 'churn' shadow variant 'churn-v8' is not one of "
            "the accepted shadow variant names ['Shadow'] (policy config shadowVariantNames); "
            f"{_KEEPS}",
        )
    ]


def test_a_serverless_configuration_keeps_its_variant_name_too() -> None:
    config = _serverless_config()
    config["productionVariants"][0]["variantName"] = "churn-v1"
    endpoint = _endpoint_inputs()
    del endpoint["deploymentConfig"]
    records = [r for r in _records(config=config, endpoint=endpoint) if r.type == CONFIG]
    records.insert(0, provider())
    assert findings(records) == [
        (
            VARIANT_NAMES,
            CONFIG_URN,
            "SageMaker endpoint configuration 'churn' production variant 'churn-v1' is not one "
            "of the accepted production variant names ['AllTraffic'] (policy config "
            f"productionVariantNames); {_KEEPS}",
        )
    ]


def test_an_alarm_on_a_variant_the_configuration_does_not_have() -> None:
    records = _records(latency_alarm=_latency_alarm("Canary"), errors_alarm=_errors_alarm("v4"))
    variants = f"the variants ['AllTraffic', 'Shadow'] {_OF_CONFIG}"
    assert findings(records) == [
        (
            VARIANT_NAMES,
            ERRORS_ALARM_URN,
            f"CloudWatch alarm 'churn-5xx' watches variant 'v4' of {_SUBJECT}, not one of "
            f"{variants}; {_ALARM_FIX}",
        ),
        (
            VARIANT_NAMES,
            LATENCY_ALARM_URN,
            f"CloudWatch alarm 'churn-latency' watches variant 'Canary' of {_SUBJECT}, not one "
            f"of {variants}; {_ALARM_FIX}",
        ),
    ]


def test_alarms_of_other_endpoints_and_without_a_variant_are_not_keyed_on_its_variants() -> None:
    other = _latency_alarm("Canary")
    other["dimensions"] = _dimensions("Canary", endpoint="mlops-prod-fraud")
    endpoint_wide = _errors_alarm()
    for query in endpoint_wide["metricQueries"][:2]:
        del query["metric"]["dimensions"]["VariantName"]
    endpoint = _endpoint_inputs()
    endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"] = [
        {"alarmName": "mlops-prod-churn-5xx"}
    ]
    records = _records(endpoint=endpoint, latency_alarm=other, errors_alarm=endpoint_wide)
    assert findings(records) == [
        (
            VARIANT_NAMES,
            ENDPOINT_URN,
            f"{_SUBJECT} rolls back on alarm 'mlops-prod-churn-5xx' (CloudWatch alarm "
            f"'churn-5xx'), which watches none of the variants ['AllTraffic', 'Shadow'] "
            f"{_OF_CONFIG}; a rollback alarm watches the endpoint's variant by its EndpointName "
            "and VariantName.",
        )
    ]


@pytest.mark.parametrize("variant", ["Shadow", "churn-v4"])
def test_a_scaling_target_on_a_variant_that_is_not_a_production_variant(variant: str) -> None:
    assert findings(_records(target=_target_inputs(variant))) == [
        (
            VARIANT_NAMES,
            TARGET_URN,
            f"Application Auto Scaling target 'churn-scaling' scales variant {variant!r} of "
            f"{_SUBJECT}, not one of the production variants ['AllTraffic'] {_OF_CONFIG}; "
            f"{_TARGET_FIX}",
        )
    ]


def test_a_rollback_alarm_that_is_not_in_the_stack() -> None:
    endpoint = _endpoint_inputs()
    endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"].append(
        {"alarmName": "mlops-prod-churn-gone"}
    )
    assert findings(_records(endpoint=endpoint)) == [
        (
            VARIANT_NAMES,
            ENDPOINT_URN,
            f"{_SUBJECT} rolls back on alarm 'mlops-prod-churn-gone' "
            "(deploymentConfig.autoRollbackConfiguration), which is not a CloudWatch metric "
            "alarm of this stack; roll back on the stack's alarms on the endpoint's variants.",
        )
    ]


def test_an_endpoint_whose_configuration_is_not_in_the_stack_keys_on_the_accepted_names() -> None:
    endpoint = _edited(_endpoint_inputs, "endpointConfigName", value="elsewhere")
    records = _records(endpoint=endpoint, latency_alarm=_latency_alarm("Canary"))
    assert findings(records) == [
        (
            VARIANT_NAMES,
            LATENCY_ALARM_URN,
            f"CloudWatch alarm 'churn-latency' watches variant 'Canary' of {_SUBJECT}, not one "
            "of the variants ['AllTraffic', 'Shadow'] accepted by the policy config (its "
            "endpointConfigName 'elsewhere' is not an EndpointConfiguration of this stack); "
            f"{_ALARM_FIX}",
        )
    ]


def test_the_endpoint_is_linked_to_its_configuration_by_dependency() -> None:
    config = _renamed("productionVariants", "churn-v4")
    del config["name"]
    endpoint = _edited(_endpoint_inputs, "endpointConfigName", value=None)
    records = _records(
        config=config,
        endpoint=endpoint,
        property_dependencies={"endpointConfigName": [CONFIG_URN]},
    )
    assert [(f[0], f[1]) for f in findings(records)] == [
        (VARIANT_NAMES, CONFIG_URN),
        (VARIANT_NAMES, ERRORS_ALARM_URN),
        (VARIANT_NAMES, LATENCY_ALARM_URN),
        (VARIANT_NAMES, TARGET_URN),
    ]


def _variant_names_policy(production: list[str], shadow: list[str]) -> StackValidationPolicy:
    """The pack's policy with other accepted names, as a policy pack config would give them."""
    policy = next(p for p in POLICIES if p.name == VARIANT_NAMES)
    assert isinstance(policy, StackValidationPolicy)
    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=policy.validate,
        enforcement_level=policy.enforcement_level,
        config_schema=PolicyConfigSchema(
            properties={
                "productionVariantNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": production,
                },
                "shadowVariantNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": shadow,
                },
            }
        ),
    )


def test_the_accepted_names_come_from_the_policy_config() -> None:
    policy = next(p for p in POLICIES if p.name == VARIANT_NAMES)
    assert isinstance(policy, StackValidationPolicy)
    assert policy.enforcement_level is not None
    assert policy.enforcement_level.value == "mandatory"
    assert policy.config_schema is not None
    assert policy.config_schema.properties == {
        "productionVariantNames": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "default": ["AllTraffic"],
        },
        "shadowVariantNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["Shadow"],
        },
    }
    overridden = (_variant_names_policy(["live", "canary"], ["mirror"]),)
    config = _config_inputs()
    config["productionVariants"] = [_variant("live"), _variant("canary")]
    config["shadowProductionVariants"] = [_variant("mirror", initialInstanceCount=1)]
    records = _records(
        config=config,
        errors_alarm=_errors_alarm("canary"),
        latency_alarm=_latency_alarm("mirror"),
        target=_target_inputs("live"),
    )
    assert _report(records, overridden).violations == []
    # The shipped names are not accepted under that config.
    report = _report(_records(), overridden)
    assert [(v.policy, v.urn, v.message) for v in report.violations] == [
        (
            VARIANT_NAMES,
            CONFIG_URN,
            "SageMaker endpoint configuration 'churn' production variant 'AllTraffic' is not "
            "one of the accepted production variant names ['live', 'canary'] (policy config "
            f"productionVariantNames); {_KEEPS}",
        ),
        (
            VARIANT_NAMES,
            CONFIG_URN,
            "SageMaker endpoint configuration 'churn' shadow variant 'Shadow' is not one of the "
            "accepted shadow variant names ['mirror'] (policy config shadowVariantNames); "
            f"{_KEEPS}",
        ),
    ]


def test_variant_names_are_not_applicable_without_endpoints_or_configurations() -> None:
    records = [provider(), record(MODEL, "churn", _model_inputs())]
    assert [n for n in not_applicable(records) if n[0] == VARIANT_NAMES] == [
        (
            VARIANT_NAMES,
            STACK_URN,
            "the stack has no SageMaker endpoint configurations or endpoints",
        )
    ]
