"""The quality checks' deployment under Pulumi mocks: the function, its exact permissions, the
schedules and their events, the alarms, and the retraining trigger listening to them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from mlops_drift import settings

from components.drift import code_files
from components.quality import alarm_period
from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config

FUNCTION = "aws:lambda/function:Function"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LAYER = "aws:lambda/layerVersion:LayerVersion"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
NS = "mlops-platform:"
WHY = (
    "Missing data is not breaching: a check that has not run, or a metric the window could "
    "not define (too few labels, a single class), is not a quality breach; the function's "
    "errors and its dead-letter queue alarm when checks fail."
)


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def of_quality(plan: Plan, type_: str) -> list[Registration]:
    (component,) = plan.by_type("mlops:quality:QualityMonitor")
    return [r for r in plan.by_type(type_) if r.parent == component.urn]


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


def statements(record: Registration) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(record.inputs["policy"])["Statement"]
    return statements


def arns(stack: str, plan: Plan) -> dict[str, str]:
    region, account = "eu-west-1", ACCOUNTS[stack]
    return {
        "key": plan.outputs["kmsKeyArn"],
        "queue": f"arn:aws:sqs:{region}:{account}:mlops-platform-{stack}-quality-dlq",
        "function": (
            f"arn:aws:lambda:{region}:{account}:function:mlops-platform-{stack}-quality-check"
        ),
        "topic": f"arn:aws:sns:{region}:{account}:mlops-platform-{stack}-platform-events",
    }


# ---- the function and its role ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_function_is_hardened_on_the_drift_layer(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    account, a = ACCOUNTS[stack], arns(stack, plan)
    (function,) = of_quality(plan, FUNCTION)
    assert function.name == "quality-check"
    inputs = dict(function.inputs)
    code = inputs.pop("code")
    # The drift checks' archive: the engine, the drift handler (whose S3 helpers it uses) and
    # this handler.
    assert sorted(code["archive"]["assets"]) == code_files()
    assert "quality_handler.py" in code["archive"]["assets"]
    name = f"mlops-platform-{stack}-quality-check"
    assert inputs == {
        "name": name,
        "description": "Quality and fairness check; code in lambdas/drift_check "
        "(quality_handler.py).",
        "runtime": "python3.13",
        "architectures": ["arm64"],
        "handler": "quality_handler.lambda_handler",
        "role": f"arn:aws:iam::{account}:role/{name}",
        # No layer of its own: the drift checks' (same dependencies).
        "layers": [f"arn:aws:lambda:eu-west-1:{account}:layer:mlops-platform-{stack}-drift-deps:1"],
        # The shipped stacks keep quality's defaults.
        "memorySize": 2048,
        "timeout": 900,
        "reservedConcurrentExecutions": 2,
        "tracingConfig": {"mode": "Active"},
        "kmsKeyArn": a["key"],
        "deadLetterConfig": {"targetArn": a["queue"]},
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/{name}"},
        "environment": {
            "variables": {
                "QUALITY_CAPTURE_BUCKET": bucket(plan, "capture"),
                "QUALITY_BASELINE_BUCKET": bucket(plan, "model-artifacts"),
                "QUALITY_REPORTS_BUCKET": bucket(plan, "reports"),
                "POWERTOOLS_METRICS_NAMESPACE": "MLOpsPlatform/Quality",
                "POWERTOOLS_SERVICE_NAME": "quality-check",
            }
        },
    }
    assert of_quality(plan, LAYER) == []
    logs = named(plan, "quality-check-logs").inputs
    assert logs["name"] == f"/aws/lambda/{name}"
    assert logs["kmsKeyId"] == a["key"]
    asynchronous = named(plan, "quality-check-async").inputs
    assert asynchronous == {
        "functionName": name,
        "maximumRetryAttempts": 2,
        "maximumEventAgeInSeconds": 21600,
        "destinationConfig": {"onFailure": {"destination": a["queue"]}},
    }
    assert plan.outputs["qualityCheckFunction"] == a["function"]


def test_the_memory_timeout_and_concurrency_come_from_config(
    plan_stack: Callable[..., Plan],
) -> None:
    quality = dev_quality()
    quality.update(memoryMb=4096, timeoutSeconds=600, reservedConcurrency=7)
    plan = plan_stack("dev", {f"{NS}quality": quality})
    (function,) = of_quality(plan, FUNCTION)
    assert (
        function.inputs["memorySize"],
        function.inputs["timeout"],
        function.inputs["reservedConcurrentExecutions"],
    ) == (4096, 600, 7)


def test_the_role_grants_exactly_what_the_handler_calls_in_prod(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    a = arns("prod", plan)
    capture = f"arn:aws:s3:::{bucket(plan, 'capture')}"
    # Both monitored endpoints: the SageMaker one and the Kubernetes service's capture.
    prefixes = [
        "datacapture/mlops-platform-prod-churn/",
        "groundtruth/mlops-platform-prod-churn/",
        "datacapture/mlops-platform-prod-k8s-churn/",
        "groundtruth/mlops-platform-prod-k8s-churn/",
    ]
    role = named(plan, "quality-role").inputs
    assert role["name"] == "mlops-platform-prod-quality-check"
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert statements(named(plan, "quality-role-access")) == [
        {
            "Sid": "ListCaptureAndLabels",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [capture],
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
        },
        {
            "Sid": "ReadCaptureAndLabels",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{capture}/{p}*" for p in prefixes],
        },
        {
            "Sid": "ReadBaselines",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [
                f"arn:aws:s3:::{bucket(plan, 'model-artifacts')}/models/churn/drift/baseline.json"
            ],
        },
        {
            "Sid": "WriteReports",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket(plan, 'reports')}/quality/churn/*"],
        },
        {
            "Sid": "UsePlatformKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [a["key"]],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        },
        {
            "Sid": "DeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [a["queue"]],
        },
        {
            "Sid": "UsePlatformKeyForDeadLetters",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [a["key"]],
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}},
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                "arn:aws:logs:eu-west-1:111111111111:log-group:"
                "/aws/lambda/mlops-platform-prod-quality-check:*"
            ],
        },
        {
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": ["*"],
        },
    ]


def test_in_dev_the_role_reads_the_one_endpoint(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    capture = f"arn:aws:s3:::{bucket(plan, 'capture')}"
    found = {s["Sid"]: s for s in statements(named(plan, "quality-role-access"))}
    assert found["ListCaptureAndLabels"]["Condition"] == {
        "StringLike": {
            "s3:prefix": [
                "datacapture/mlops-platform-dev-churn/*",
                "groundtruth/mlops-platform-dev-churn/*",
            ]
        }
    }
    assert found["ReadCaptureAndLabels"]["Resource"] == [
        f"{capture}/datacapture/mlops-platform-dev-churn/*",
        f"{capture}/groundtruth/mlops-platform-dev-churn/*",
    ]
    # No metric permission: EMF goes through the function's logs.
    actions = {action for s in found.values() for action in s["Action"]}
    assert not any(action.startswith("cloudwatch:") for action in actions)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_scheduler_may_invoke_the_function_and_park_in_the_queue(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    a = arns(stack, plan)
    assert statements(named(plan, "quality-scheduler-access")) == [
        {
            "Sid": "InvokeCheck",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [a["function"]],
        },
        {"Sid": "DecryptSchedules", "Effect": "Allow", "Action": ["kms:Decrypt"],
         "Resource": [a["key"]]},
        {"Sid": "DeadLetters", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": [a["queue"]]},
        {
            "Sid": "UsePlatformKeyForDeadLetters",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [a["key"]],
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}},
        },
    ]  # fmt: skip


# ---- the schedules ------------------------------------------------------------------------------


def schedule(plan: Plan, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A schedule's inputs, and its target's input event parsed."""
    inputs = dict(named(plan, name).inputs)
    return inputs, json.loads(inputs["target"]["input"])


def test_dev_schedule_sends_the_event_of_the_window_before_yesterday(
    plans: dict[str, Plan],
) -> None:
    plan = plans["dev"]
    a = arns("dev", plan)
    inputs, event = schedule(plan, "quality-churn-mlops-platform-dev-churn")
    assert event == {
        "model": "churn",
        "endpoint": "mlops-platform-dev-churn",
        "variants": ["AllTraffic"],
        # A run at T judges predictions of [T - 48 h, T - 24 h), with labels uploaded until T.
        "window_end": "<aws.scheduler.scheduled-time>",
        "window_hours": 24,
        "label_delay_hours": 24,
        "problem": "classification",
        "threshold": 0.5,
        "segment": "contract_type",
        "min_group_size": 30,
    }
    assert inputs["name"] == "mlops-platform-dev-quality-churn-mlops-platform-dev-churn"
    assert inputs["scheduleExpression"] == "rate(1 day)"
    assert inputs["scheduleExpressionTimezone"] == "UTC"
    assert inputs["state"] == "ENABLED"
    assert inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert inputs["kmsKeyArn"] == a["key"]
    target = inputs["target"]
    assert target["arn"] == a["function"]
    assert (
        target["roleArn"] == "arn:aws:iam::123456789012:role/mlops-platform-dev-quality-scheduler"
    )
    assert target["retryPolicy"] == {"maximumRetryAttempts": 10, "maximumEventAgeInSeconds": 21600}
    assert target["deadLetterConfig"] == {"arn": a["queue"]}


def test_prod_schedules_one_per_monitor_with_their_variants(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    assert sorted(r.name for r in of_quality(plan, SCHEDULE)) == [
        "quality-churn-mlops-platform-prod-churn",
        "quality-churn-mlops-platform-prod-k8s-churn",
    ]
    inputs, event = schedule(plan, "quality-churn-mlops-platform-prod-churn")
    assert inputs["scheduleExpression"] == "cron(0 6 * * ? *)"
    assert event == {
        "model": "churn",
        "endpoint": "mlops-platform-prod-churn",
        "variants": ["AllTraffic"],
        "window_end": "<aws.scheduler.scheduled-time>",
        "window_hours": 24,
        "label_delay_hours": 72,
        "problem": "classification",
        "threshold": 0.5,
        "segment": "contract_type",
        "min_group_size": 100,
    }
    inputs, event = schedule(plan, "quality-churn-mlops-platform-prod-k8s-churn")
    assert inputs["scheduleExpression"] == "cron(30 6 * * ? *)"
    # The Kubernetes service's served variants (its capture folders), window_hours's default.
    assert event == {
        "model": "churn",
        "endpoint": "mlops-platform-prod-k8s-churn",
        "variants": ["blue", "green"],
        "window_end": "<aws.scheduler.scheduled-time>",
        "window_hours": 24,
        "label_delay_hours": 72,
        "problem": "classification",
        "threshold": 0.5,
        "segment": "contract_type",
        "min_group_size": 100,
    }


def test_the_schedule_event_is_what_the_handler_accepts(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler module makes its S3 client at import, as in Lambda, where a region is set.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    quality_handler = importlib.import_module("quality_handler")

    for plan in plans.values():
        for record in of_quality(plan, SCHEDULE):
            event = json.loads(record.inputs["target"]["input"])
            event["window_end"] = "2026-11-27T06:00:00Z"  # what Scheduler puts in its place
            quality_handler.QualityRequest.model_validate(event)


# ---- the alarms ---------------------------------------------------------------------------------


def alarm(
    name: str,
    endpoint: str,
    metric: str,
    comparison: str,
    threshold: float,
    description: str,
    *,
    stack: str = "prod",
    period: int = 86400,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNTS[stack]}:mlops-platform-{stack}-platform-events"
    return {
        "name": f"mlops-platform-{stack}-quality-{name}",
        "alarmDescription": f"{description} {WHY}",
        "namespace": "MLOpsPlatform/Quality",
        "metricName": metric,
        "dimensions": {
            "service": "quality-check",
            "Model": "churn",
            "Endpoint": endpoint,
            **(extra or {}),
        },
        "period": period,
        "statistic": "Minimum" if comparison == "LessThanThreshold" else "Maximum",
        "comparisonOperator": comparison,
        "threshold": threshold,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "treatMissingData": "notBreaching",
        "actionsEnabled": True,
        "alarmActions": [topic],
        "okActions": [topic],
    }


def test_prod_alarms_one_per_threshold_to_the_platform_topic(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    sm, k8s = "mlops-platform-prod-churn", "mlops-platform-prod-k8s-churn"
    less, greater = "LessThanThreshold", "GreaterThanThreshold"

    def measured(endpoint: str, metric: str, side: str, value: str, key: str) -> str:
        return f"The quality check of churn on {endpoint} measured {metric} {side} {value} ({key})."

    expected = {
        "quality-churn-churn-accuracy": alarm(
            "churn-churn-accuracy", sm, "Accuracy", less, 0.8,
            measured(sm, "Accuracy", "below", "0.8", "minAccuracy")),
        "quality-churn-churn-f1": alarm(
            "churn-churn-f1", sm, "F1", less, 0.6, measured(sm, "F1", "below", "0.6", "minF1")),
        "quality-churn-churn-roc-auc": alarm(
            "churn-churn-roc-auc", sm, "RocAuc", less, 0.75,
            measured(sm, "RocAuc", "below", "0.75", "minRocAuc")),
        "quality-churn-churn-calibration-error": alarm(
            "churn-churn-calibration-error", sm, "CalibrationError", greater, 0.08,
            measured(sm, "CalibrationError", "above", "0.08", "maxCalibrationError")),
        "quality-churn-churn-label-coverage": alarm(
            "churn-churn-label-coverage", sm, "LabelCoverage", less, 0.6,
            measured(sm, "LabelCoverage", "below", "0.6", "minLabelCoverage")),
        "quality-churn-k8s-churn-accuracy": alarm(
            "churn-k8s-churn-accuracy", k8s, "Accuracy", less, 0.8,
            measured(k8s, "Accuracy", "below", "0.8", "minAccuracy")),
        "quality-churn-k8s-churn-roc-auc": alarm(
            "churn-k8s-churn-roc-auc", k8s, "RocAuc", less, 0.75,
            measured(k8s, "RocAuc", "below", "0.75", "minRocAuc")),
    }  # fmt: skip
    assert {r.name: r.inputs for r in of_quality(plan, ALARM)} == expected
    assert plan.outputs["qualityAlarms"] == {
        "churn": [
            f"mlops-platform-prod-quality-{name.removeprefix('quality-')}" for name in expected
        ]
    }


def test_dev_alarms_on_accuracy_and_coverage(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    e = "mlops-platform-dev-churn"
    assert {r.name: r.inputs for r in of_quality(plan, ALARM)} == {
        "quality-churn-churn-accuracy": alarm(
            "churn-churn-accuracy", e, "Accuracy", "LessThanThreshold", 0.7,
            f"The quality check of churn on {e} measured Accuracy below 0.7 (minAccuracy).",
            stack="dev"),
        "quality-churn-churn-label-coverage": alarm(
            "churn-churn-label-coverage", e, "LabelCoverage", "LessThanThreshold", 0.2,
            f"The quality check of churn on {e} measured LabelCoverage below 0.2 "
            "(minLabelCoverage).", stack="dev"),
    }  # fmt: skip


def test_the_retraining_trigger_listens_to_latency_and_quality_alarms(
    plans: dict[str, Plan],
) -> None:
    for stack, plan in plans.items():
        pattern = json.loads(named(plan, "retraining-alarms-rule").inputs["eventPattern"])
        quality = plan.outputs["qualityAlarms"]["churn"]
        names = pattern["detail"]["alarmName"]
        assert set(quality) <= set(names), stack
        # The endpoints' latency alarms stay.
        assert f"mlops-platform-{stack}-churn-model-latency" in names, stack
        assert pattern["detail"]["state"] == {"value": ["ALARM"]}
        models = json.loads(
            named(plan, "retraining-trigger").inputs["environment"]["variables"]["RETRAIN_MODELS"]
        )
        assert set(quality) <= set(models["churn"]["alarms"]), stack
        assert sorted(models["churn"]["alarms"]) == sorted(names), stack


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 day)", 86400),
        ("rate(6 hours)", 21600),
        ("rate(1 hour)", 3600),
        ("rate(30 minutes)", 1800),
        ("rate(1 minute)", 60),
        ("rate(7 days)", 86400),  # an alarm looks back one period: at most a day
        ("cron(0 6 * * ? *)", 86400),
        ("cron(30 * * * ? *)", 86400),
    ],
)
def test_alarm_period_follows_the_cadence_up_to_a_day(expression: str, seconds: int) -> None:
    assert alarm_period(expression) == seconds


# ---- fairness, with a sensitive attribute --------------------------------------------------------


def dev_quality() -> dict[str, Any]:
    section: dict[str, Any] = json.loads(
        load_stack_config(PROJECT_DIR, "dev").values[f"{NS}quality"]
    )
    return section


@pytest.fixture(scope="module")
def fairness_plan() -> Plan:
    from tests.conftest import plan_with

    quality = dev_quality()
    quality["monitors"][0].update(
        sensitiveAttribute="contract_type",
        schedule="rate(6 hours)",
        alarms={
            "minAccuracy": 0.7,
            "minDisparateImpact": 0.8,
            "maxDemographicParityDifference": 0.1,
            "maxEqualizedOddsDifference": 0.15,
        },
    )
    return plan_with("dev", {f"{NS}quality": quality})


def test_fairness_alarms_compare_the_groups_of_the_sensitive_attribute(
    fairness_plan: Plan,
) -> None:
    e = "mlops-platform-dev-churn"
    group = {"SensitiveAttribute": "contract_type"}

    def measured(metric: str, side: str, value: str, key: str) -> str:
        return f"The quality check of churn on {e} measured {metric} {side} {value} ({key})."

    less, greater = "LessThanThreshold", "GreaterThanThreshold"
    assert {r.name: r.inputs for r in of_quality(fairness_plan, ALARM)} == {
        "quality-churn-churn-accuracy": alarm(
            "churn-churn-accuracy", e, "Accuracy", less, 0.7,
            measured("Accuracy", "below", "0.7", "minAccuracy"), stack="dev", period=21600),
        "quality-churn-churn-disparate-impact": alarm(
            "churn-churn-disparate-impact", e, "DisparateImpact", less, 0.8,
            measured("DisparateImpact", "below", "0.8", "minDisparateImpact"),
            stack="dev", period=21600, extra=group),
        "quality-churn-churn-demographic-parity": alarm(
            "churn-churn-demographic-parity", e, "DemographicParityDifference", greater, 0.1,
            measured("DemographicParityDifference", "above", "0.1",
                     "maxDemographicParityDifference"),
            stack="dev", period=21600, extra=group),
        # Equalized odds: one alarm on each gap.
        "quality-churn-churn-tpr-difference": alarm(
            "churn-churn-tpr-difference", e, "TprDifference", greater, 0.15,
            measured("TprDifference", "above", "0.15", "maxEqualizedOddsDifference"),
            stack="dev", period=21600, extra=group),
        "quality-churn-churn-fpr-difference": alarm(
            "churn-churn-fpr-difference", e, "FprDifference", greater, 0.15,
            measured("FprDifference", "above", "0.15", "maxEqualizedOddsDifference"),
            stack="dev", period=21600, extra=group),
    }  # fmt: skip
    _, event = schedule(fairness_plan, "quality-churn-mlops-platform-dev-churn")
    assert event["sensitive"] == "contract_type"
    # All five retrain churn.
    pattern = json.loads(named(fairness_plan, "retraining-alarms-rule").inputs["eventPattern"])
    assert {
        f"mlops-platform-dev-quality-churn-churn-{s}"
        for s in ("accuracy", "disparate-impact", "demographic-parity", "tpr-difference",
                  "fpr-difference")
    } <= set(pattern["detail"]["alarmName"])  # fmt: skip


def test_the_dashboard_gains_a_fairness_row(fairness_plan: Plan) -> None:
    (dashboard,) = fairness_plan.by_type(DASHBOARD)
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    fairness = [w for w in widgets if w["properties"]["title"].startswith("Fairness of churn")]
    dimensions = ["service", "quality-check", "Model", "churn", "Endpoint",
                  "mlops-platform-dev-churn", "SensitiveAttribute", "contract_type"]  # fmt: skip
    assert [(w["properties"]["title"], w["properties"]["metrics"]) for w in fairness] == [
        ("Fairness of churn by contract_type: Disparate impact",
         [["MLOpsPlatform/Quality", "DisparateImpact", *dimensions, {"label": "DisparateImpact"}]]),
        ("Fairness of churn by contract_type: Demographic parity difference",
         [["MLOpsPlatform/Quality", "DemographicParityDifference", *dimensions,
           {"label": "DemographicParityDifference"}]]),
        ("Fairness of churn by contract_type: Equalized odds: TPR and FPR differences",
         [["MLOpsPlatform/Quality", "TprDifference", *dimensions, {"label": "TprDifference"}],
          ["MLOpsPlatform/Quality", "FprDifference", *dimensions, {"label": "FprDifference"}]]),
    ]  # fmt: skip
    # One row of its own, the checks' cadence as the period, the alarms' thresholds drawn.
    assert {w["y"] for w in fairness} == {fairness[0]["y"]}
    assert [w["x"] for w in fairness] == [0, 8, 16]
    assert {w["properties"]["period"] for w in fairness} == {21600}
    assert [w["properties"].get("annotations") for w in fairness] == [
        {"horizontal": [{"label": "DisparateImpact alarm", "value": 0.8}]},
        {"horizontal": [{"label": "DemographicParityDifference alarm", "value": 0.1}]},
        {"horizontal": [{"label": "TprDifference alarm", "value": 0.15},
                        {"label": "FprDifference alarm", "value": 0.15}]},
    ]  # fmt: skip


def test_a_regression_monitor_alarms_on_its_errors(plan_stack: Callable[..., Plan]) -> None:
    quality = dev_quality()
    quality["monitors"][0].update(
        problem="regression", alarms={"maxMae": 5.0, "maxRmse": 7.5, "minR2": 0.3}
    )
    plan = plan_stack("dev", {f"{NS}quality": quality})
    found = {
        r.inputs["metricName"]: (r.inputs["comparisonOperator"], r.inputs["threshold"])
        for r in of_quality(plan, ALARM)
    }
    assert found == {
        "Mae": ("GreaterThanThreshold", 5.0),
        "Rmse": ("GreaterThanThreshold", 7.5),
        "R2": ("LessThanThreshold", 0.3),
    }
    _, event = schedule(plan, "quality-churn-mlops-platform-dev-churn")
    assert event["problem"] == "regression"
    assert "threshold" not in event


def test_without_drift_checks_the_function_brings_the_same_layer(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack("dev", {f"{NS}drift": {"enabled": False}})
    (layer,) = of_quality(plan, LAYER)
    assert layer.inputs["layerName"] == "mlops-platform-dev-quality-deps"
    assert layer.inputs["code"]["archive"]["path"].endswith("build/lambda/drift-layer.zip")
    (function,) = of_quality(plan, FUNCTION)
    assert function.inputs["layers"] == [
        "arn:aws:lambda:eu-west-1:123456789012:layer:mlops-platform-dev-quality-deps:1"
    ]


def test_disabled_quality_registers_nothing(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {f"{NS}quality": {"enabled": False}})
    assert plan.by_type("mlops:quality:QualityMonitor") == []
    assert "qualityAlarms" not in plan.outputs
    pattern = json.loads(named(plan, "retraining-alarms-rule").inputs["eventPattern"])
    assert not any("-quality-" in name for name in pattern["detail"]["alarmName"])


# ---- monitoring and the policy pack -------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_monitoring_alarms_on_the_function_and_its_queue(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    prefix = f"mlops-platform-{stack}-monitoring-"
    assert {
        f"{prefix}quality-check-errors",
        f"{prefix}quality-check-throttles",
        f"{prefix}quality-dlq-not-empty",
    } <= set(plan.outputs["platformAlarms"])


def test_the_policy_pack_passes(plans: dict[str, Plan], fairness_plan: Plan) -> None:
    for plan in (*plans.values(), fairness_plan):
        assert evaluate(plan.registrations).violations == [], plan.stack


def test_the_settings_name_what_the_component_builds() -> None:
    assert settings.QUALITY_METRICS_NAMESPACE == "MLOpsPlatform/Quality"
    assert settings.groundtruth_prefix("e") == "groundtruth/e/"
    assert settings.quality_report_key("m", "e", "2026/11/27/06") == (
        "quality/m/e/2026/11/27/06/report.json"
    )


# ---- the sensitive attribute from the feature store ---------------------------------------------


def test_a_sensitive_attribute_from_the_feature_store_is_read_by_record_identifier(
    plan_stack: Callable[..., Plan],
) -> None:
    # GIVEN the churn monitor comparing contract_type groups read from customer-features, by
    # the identifier the capture carries in tenure_months (a stand-in: the dev model has no
    # customer_id input; a real model would carry its customer_id)
    quality = dev_quality()
    quality["monitors"][0].update(
        sensitiveAttribute="contract_type",
        sensitiveFrom={
            "featureGroup": "customer-features",
            "recordIdentifierColumn": "tenure_months",
        },
        alarms={"minAccuracy": 0.7, "minDisparateImpact": 0.8},
    )
    # WHEN dev is planned
    plan = plan_stack("dev", {f"{NS}quality": quality})
    a = arns("dev", plan)
    group = "mlops-platform-dev-customer-features"
    # THEN the schedule names the feature group by its physical name (the feature store's)
    assert group in plan.outputs["featureGroups"].values()
    _, event = schedule(plan, "quality-churn-mlops-platform-dev-churn")
    assert event["sensitive"] == "contract_type"
    assert event["sensitive_from"] == {
        "feature_group": group,
        "record_identifier_column": "tenure_months",
    }
    # AND the role reads that feature group's records only, and the key through SageMaker only
    found = statements(named(plan, "quality-role-access"))
    sids = [s["Sid"] for s in found]
    assert sids.index("ReadSensitiveAttributes") == sids.index("UsePlatformKeyThroughS3") + 1
    by_sid = {s["Sid"]: s for s in found}
    assert by_sid["ReadSensitiveAttributes"] == {
        "Sid": "ReadSensitiveAttributes",
        "Effect": "Allow",
        "Action": ["sagemaker:BatchGetRecord"],
        "Resource": [f"arn:aws:sagemaker:eu-west-1:123456789012:feature-group/{group}"],
    }
    assert by_sid["UsePlatformKeyThroughFeatureStore"] == {
        "Sid": "UsePlatformKeyThroughFeatureStore",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [a["key"]],
        "Condition": {"StringEquals": {"kms:ViaService": "sagemaker.eu-west-1.amazonaws.com"}},
    }
    # AND the fairness alarm's dimension is the attribute, not the identifier column
    (impact,) = [r for r in of_quality(plan, ALARM) if r.inputs["metricName"] == "DisparateImpact"]
    assert impact.inputs["dimensions"]["SensitiveAttribute"] == "contract_type"


def test_without_a_feature_store_source_the_role_reads_no_feature_group(
    plans: dict[str, Plan],
) -> None:
    for plan in plans.values():
        actions = {
            action for s in statements(named(plan, "quality-role-access")) for action in s["Action"]
        }
        assert not any(action.startswith("sagemaker:") for action in actions)
        _, event = schedule(plan, next(r.name for r in of_quality(plan, SCHEDULE)))
        assert "sensitive_from" not in event
