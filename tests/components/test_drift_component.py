"""The drift checks' deployment under Pulumi mocks: functions, layer, schedules, the scale-out
state machine, the event bus and the exact permissions of each role."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mlops_drift import settings

from components.drift import CLI_ONLY, HANDLERS, code_files
from planner.mocks import Registration
from planner.run import Plan

FUNCTION = "aws:lambda/function:Function"
SCHEDULE = "aws:scheduler/schedule:Schedule"
MACHINE = "aws:sfn/stateMachine:StateMachine"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def of_drift(plan: Plan, type_: str) -> list[Registration]:
    """The resources of `type_` that the drift component registers itself (other components,
    such as inference, register functions too)."""
    (component,) = plan.by_type("mlops:drift:DriftMonitor")
    return [r for r in plan.by_type(type_) if r.parent == component.urn]


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


def statements(record: Registration, field: str = "policy") -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(record.inputs[field])["Statement"]}


# stack: (memory, timeout, reserved concurrency, retention days, functions)
SETTINGS = {
    "dev": (1024, 300, 2, 14, {"check"}),
    "staging": (2048, 600, 5, 90, {"check"}),
    "prod": (4096, 900, 20, 365, {"check", "plan", "profile", "reduce"}),
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_functions_are_hardened(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    memory, timeout, concurrency, retention, kinds = SETTINGS[stack]
    key = plan.outputs["kmsKeyArn"]
    queue = f"arn:aws:sqs:eu-west-1:{ACCOUNTS[stack]}:mlops-platform-{stack}-drift-dlq"
    layer = named(plan, "drift-layer")
    functions = {r.name.removeprefix("drift-"): r for r in of_drift(plan, FUNCTION)}
    assert set(functions) == kinds
    for kind, function in functions.items():
        name = f"mlops-platform-{stack}-drift-{kind}"
        inputs = dict(function.inputs)
        code = inputs.pop("code")
        assert sorted(code["archive"]["assets"]) == code_files()
        assert inputs == {
            "name": name,
            "description": f"Drift check ({kind}); code in lambdas/drift_check.",
            "runtime": "python3.13",
            "architectures": ["arm64"],
            "handler": HANDLERS[kind],
            "role": f"arn:aws:iam::{ACCOUNTS[stack]}:role/mlops-platform-{stack}-drift-functions",
            "layers": [
                f"arn:aws:lambda:eu-west-1:{ACCOUNTS[stack]}:layer:{layer.inputs['layerName']}:1"
            ],
            "memorySize": memory,
            "timeout": timeout,
            "reservedConcurrentExecutions": concurrency,
            "tracingConfig": {"mode": "Active"},
            "kmsKeyArn": key,
            "deadLetterConfig": {"targetArn": queue},
            "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/{name}"},
            "environment": {
                "variables": {
                    settings.ENV_CAPTURE_BUCKET: bucket(plan, "capture"),
                    settings.ENV_BASELINE_BUCKET: bucket(plan, "model-artifacts"),
                    settings.ENV_REPORTS_BUCKET: bucket(plan, "reports"),
                    settings.ENV_EVENT_BUS: f"mlops-platform-{stack}-platform-bus",
                    settings.ENV_METRICS_NAMESPACE: "MLOpsPlatform/Drift",
                    settings.ENV_SERVICE_NAME: "drift-check",
                    "MALLOC_MMAP_THRESHOLD_": "1073741824",
                    "MALLOC_TRIM_THRESHOLD_": "1073741824",
                    "MALLOC_TOP_PAD_": "268435456",
                }
            },
        }
        logs = named(plan, f"drift-{kind}-logs")
        assert logs.inputs == {
            "name": f"/aws/lambda/{name}",
            "retentionInDays": retention,
            "kmsKeyId": key,
        }
        invoke = named(plan, f"drift-{kind}-async")
        assert invoke.inputs == {
            "functionName": name,
            "maximumRetryAttempts": 2,
            "maximumEventAgeInSeconds": 21600,
            "destinationConfig": {"onFailure": {"destination": queue}},
        }
        # The role's permissions exist before the function can run.
        assert named(plan, "drift-role-access").urn in function.dependencies


def test_deployed_code_is_the_handlers_and_engine_without_the_cli() -> None:
    files = code_files()
    assert "handler.py" in files
    assert "mlops_drift/settings.py" in files
    assert "mlops_drift/check.py" in files
    assert not set(files) & CLI_ONLY
    assert all(f.endswith(".py") and "__pycache__" not in f for f in files)


def test_layer_is_built_for_the_functions_runtime_and_architecture(plans: dict[str, Plan]) -> None:
    layer = named(plans["dev"], "drift-layer")
    assert layer.inputs["compatibleRuntimes"] == ["python3.13"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    assert layer.inputs["code"]["archive"]["path"].endswith("build/lambda/drift-layer.zip")


def test_dead_letter_queue_is_encrypted_and_kept_two_weeks(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    assert named(plan, "drift-dlq").inputs == {
        "name": "mlops-platform-prod-drift-dlq",
        "kmsMasterKeyId": plan.outputs["kmsKeyArn"],
        "kmsDataKeyReusePeriodSeconds": 300,
        "messageRetentionSeconds": 1209600,
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_function_role_grants_exactly_the_reads_and_writes(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    account = ACCOUNTS[stack]
    capture = f"arn:aws:s3:::{bucket(plan, 'capture')}"
    reports = f"arn:aws:s3:::{bucket(plan, 'reports')}"
    models = f"arn:aws:s3:::{bucket(plan, 'model-artifacts')}"
    # Prod watches the SageMaker endpoint and the Kubernetes service; dev the endpoint only.
    endpoints = [f"mlops-platform-{stack}-churn"]
    if stack == "prod":
        endpoints.append(f"mlops-platform-{stack}-k8s-churn")
    key = plan.outputs["kmsKeyArn"]
    role = named(plan, "drift-role")
    trust = statements(role, "assumeRolePolicy")["ServiceAssumesRole"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    granted = statements(named(plan, "drift-role-access"))
    assert granted == {
        "ListWindowCapture": {
            "Sid": "ListWindowCapture",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [capture],
            "Condition": {"StringLike": {"s3:prefix": [f"datacapture/{e}/*" for e in endpoints]}},
        },
        "ReadWindowCapture": {
            "Sid": "ReadWindowCapture",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{capture}/datacapture/{e}/*" for e in endpoints],
        },
        "ReadBaselines": {
            "Sid": "ReadBaselines",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{models}/models/churn/drift/baseline.json"],
        },
        # The scale-out partials only where a monitor scales out (prod).
        "WriteReports": {
            "Sid": "WriteReports",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{reports}/drift/churn/*"]
            + ([f"{reports}/drift-partials/churn/*"] if stack == "prod" else []),
        },
        **(
            {
                "ReadPartials": {
                    "Sid": "ReadPartials",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{reports}/drift-partials/churn/*"],
                },
                "ListPartials": {
                    "Sid": "ListPartials",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [reports],
                    "Condition": {"StringLike": {"s3:prefix": ["drift-partials/churn/*"]}},
                },
            }
            if stack == "prod"
            else {}
        ),
        "UsePlatformKeyThroughS3": {
            "Sid": "UsePlatformKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        },
        "PutDriftEvents": {
            "Sid": "PutDriftEvents",
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Resource": [
                f"arn:aws:events:eu-west-1:{account}:event-bus/mlops-platform-{stack}-platform-bus"
            ],
        },
        "DeadLetters": {
            "Sid": "DeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [f"arn:aws:sqs:eu-west-1:{account}:mlops-platform-{stack}-drift-dlq"],
        },
        "UsePlatformKeyForDeadLetters": {
            "Sid": "UsePlatformKeyForDeadLetters",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key],
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}},
        },
        "WriteOwnLogs": {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/lambda/"
                f"mlops-platform-{stack}-drift*:log-stream:*"
            ],
        },
        "WriteTraces": {
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": ["*"],
        },
    }


@pytest.mark.parametrize(("stack", "scaleout"), [("dev", False), ("prod", True)])
def test_schedule_sends_the_monitor_with_retries_and_a_dead_letter_queue(
    plans: dict[str, Plan], stack: str, scaleout: bool
) -> None:
    plan = plans[stack]
    account = ACCOUNTS[stack]
    # The drift monitor's schedule (training pipelines have schedules of their own).
    schedule = named(plan, f"drift-churn-mlops-platform-{stack}-churn")
    target = schedule.inputs["target"]
    expected_target = (
        f"arn:aws:states:eu-west-1:{account}:stateMachine:mlops-platform-{stack}-drift-scaleout"
        if scaleout
        else f"arn:aws:lambda:eu-west-1:{account}:function:mlops-platform-{stack}-drift-check"
    )
    assert target["arn"] == expected_target
    assert (
        target["roleArn"] == f"arn:aws:iam::{account}:role/mlops-platform-{stack}-drift-scheduler"
    )
    assert target["retryPolicy"] == {"maximumRetryAttempts": 10, "maximumEventAgeInSeconds": 21600}
    assert target["deadLetterConfig"] == {
        "arn": f"arn:aws:sqs:eu-west-1:{account}:mlops-platform-{stack}-drift-dlq"
    }
    assert schedule.inputs["kmsKeyArn"] == plan.outputs["kmsKeyArn"]
    assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule.inputs["scheduleExpressionTimezone"] == "UTC"
    event = json.loads(target["input"])
    expected: dict[str, Any] = {
        "model": "churn",
        "endpoint": f"mlops-platform-{stack}-churn",
        "window_end": "<aws.scheduler.scheduled-time>",
        "min_rows": 100,
        # The stack declares this endpoint (inference.endpoints), so the check reads its
        # production variant's capture only.
        "variants": ["AllTraffic"],
    }
    if stack == "dev":
        expected |= {"window_hours": 6, "critical": []}
        assert schedule.inputs["scheduleExpression"] == "rate(6 hours)"
    else:
        expected |= {
            "window_hours": 24,
            "critical": ["contract_type", "tenure_months"],
            "thresholds": {"psi": 0.15, "drift_share": 0.3},
        }
        assert schedule.inputs["scheduleExpression"] == "cron(0 * * * ? *)"
    assert event == expected
    if stack == "prod":
        # The Kubernetes service's check: its served colours, never a shadow's copies.
        k8s = named(plan, "drift-churn-mlops-platform-prod-k8s-churn")
        assert k8s.inputs["scheduleExpression"] == "cron(30 * * * ? *)"
        assert k8s.inputs["target"]["arn"] == expected_target
        assert json.loads(k8s.inputs["target"]["input"]) == {
            **expected,
            "endpoint": "mlops-platform-prod-k8s-churn",
            "variants": ["blue", "green"],
        }


@pytest.mark.parametrize(("stack", "scaleout"), [("dev", False), ("prod", True)])
def test_scheduler_role_may_start_only_the_checks(
    plans: dict[str, Plan], stack: str, scaleout: bool
) -> None:
    plan = plans[stack]
    account = ACCOUNTS[stack]
    trust = statements(named(plan, "drift-scheduler-role"), "assumeRolePolicy")
    assert trust["ServiceAssumesRole"]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["ServiceAssumesRole"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account}
    }
    granted = statements(named(plan, "drift-scheduler-access"))
    assert granted["DeadLetters"]["Resource"] == [
        f"arn:aws:sqs:eu-west-1:{account}:mlops-platform-{stack}-drift-dlq"
    ]
    if scaleout:
        # every prod monitor scales out: the schedules start the state machine, never the
        # check function
        assert "InvokeCheck" not in granted
        assert granted["StartScaleOut"] == {
            "Sid": "StartScaleOut",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [
                f"arn:aws:states:eu-west-1:{account}:stateMachine:"
                f"mlops-platform-{stack}-drift-scaleout"
            ],
        }
        assert granted["EncryptScaleOutInput"] == {
            "Sid": "EncryptScaleOutInput",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey"],
            "Resource": [plan.outputs["kmsKeyArn"]],
            "Condition": {"StringEquals": {"kms:ViaService": "states.eu-west-1.amazonaws.com"}},
        }
    else:
        assert granted["InvokeCheck"]["Action"] == ["lambda:InvokeFunction"]
        assert granted["InvokeCheck"]["Resource"] == [
            f"arn:aws:lambda:eu-west-1:{account}:function:mlops-platform-{stack}-drift-check"
        ]
        assert set(granted) == {
            "InvokeCheck",
            "DecryptSchedules",
            "DeadLetters",
            "UsePlatformKeyForDeadLetters",
        }
    assert granted["DecryptSchedules"]["Resource"] == [plan.outputs["kmsKeyArn"]]


def test_scaleout_state_machine(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    account = ACCOUNTS["prod"]
    machine = plan.one(MACHINE)
    functions = {
        k: f"arn:aws:lambda:eu-west-1:{account}:function:mlops-platform-prod-drift-{k}"
        for k in ("plan", "profile", "reduce")
    }
    assert machine.inputs["type"] == "STANDARD"
    assert machine.inputs["tracingConfiguration"] == {"enabled": True}
    assert machine.inputs["encryptionConfiguration"] == {
        "type": "CUSTOMER_MANAGED_KMS_KEY",
        "kmsKeyId": plan.outputs["kmsKeyArn"],
        "kmsDataKeyReusePeriodSeconds": 300,
    }
    assert machine.inputs["loggingConfiguration"] == {
        "logDestination": f"arn:aws:logs:eu-west-1:{account}:log-group:"
        "/aws/vendedlogs/states/mlops-platform-prod-drift-scaleout:*",
        "includeExecutionData": False,
        "level": "ERROR",
    }
    definition = json.loads(machine.inputs["definition"])
    states = definition["States"]
    assert definition["StartAt"] == "PlanWindow"
    assert states["PlanWindow"]["Parameters"]["FunctionName"] == functions["plan"]
    assert states["PlanWindow"]["Next"] == "ProfileObjects"
    mapped = states["ProfileObjects"]
    assert mapped["Type"] == "Map"
    assert mapped["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert mapped["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": bucket(plan, "reports"), "Key.$": "$.manifest_key"},
    }
    assert mapped["ItemBatcher"] == {
        "MaxItemsPerBatch": 20,
        "BatchInput": {"run_id.$": "$.run_id", "request.$": "$.request"},
    }
    assert mapped["MaxConcurrency"] == 20
    assert mapped["ToleratedFailurePercentage"] == 0
    worker = mapped["ItemProcessor"]["States"]["ProfileBatch"]
    assert worker["Parameters"]["FunctionName"] == functions["profile"]
    assert worker["Retry"][0]["MaxAttempts"] == 6
    assert mapped["Next"] == "Reduce"
    assert states["Reduce"]["Parameters"]["FunctionName"] == functions["reduce"]
    assert states["Reduce"]["End"] is True

    granted = statements(named(plan, "drift-scaleout-access"))
    assert granted["InvokeDriftFunctions"]["Resource"] == list(functions.values())
    assert granted["ReadManifest"]["Resource"] == [
        f"arn:aws:s3:::{bucket(plan, 'reports')}/drift-partials/*"
    ]
    machine_arn = (
        f"arn:aws:states:eu-west-1:{account}:stateMachine:mlops-platform-prod-drift-scaleout"
    )
    assert granted["RunMapChildren"]["Resource"] == [machine_arn]
    trust = statements(named(plan, "drift-scaleout-role"), "assumeRolePolicy")
    assert trust["ServiceAssumesRole"]["Condition"]["ArnLike"] == {"aws:SourceArn": machine_arn}


def test_event_bus_archives_every_event(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    bus = plan.one("aws:cloudwatch/eventBus:EventBus")
    assert bus.inputs["name"] == "mlops-platform-staging-platform-bus"
    archive = plan.one("aws:cloudwatch/eventArchive:EventArchive")
    assert archive.inputs["eventSourceArn"] == (
        "arn:aws:events:eu-west-1:123456789012:event-bus/mlops-platform-staging-platform-bus"
    )
    assert archive.inputs["retentionDays"] == 90
    assert "eventPattern" not in archive.inputs  # everything, not a selection


def test_drift_disabled_registers_nothing_of_it(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {"mlops-platform:drift": {"enabled": False}})
    assert not plan.by_type("mlops:drift:DriftMonitor")
    assert not [r for r in plan.registrations if r.name.startswith("drift-")]
    # Inference (the verifier, dev's capture proxy) and retraining (its trigger) still deploy
    # their functions, on the stack's one shared layer; the quality check, on the drift
    # checks' dependencies, brings that layer itself; nothing else does.
    functions = [r for r in plan.registrations if r.type.startswith(("aws:lambda", "aws:sfn"))]
    assert {r.name.split("-", 1)[0] for r in functions} == {
        "inference",
        "retraining",
        "powertools",
        "quality",
    }
    assert [r.name for r in functions if r.name.startswith("powertools")] == ["powertools-layer"]
    assert sorted(
        r.name for r in functions if r.type == "aws:lambda/layerVersion:LayerVersion"
    ) == [
        "powertools-layer",
        "quality-layer",
    ]
    # The only schedule left is the quality check's.
    assert [r.name for r in plan.by_type(SCHEDULE)] == ["quality-churn-mlops-platform-dev-churn"]
    assert "driftCheckFunction" not in plan.outputs


def test_monitor_overrides_stack_thresholds_and_names_its_baseline(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack(
        "dev",
        {
            "mlops-platform:drift": {
                "enabled": True,
                "thresholds": {"psi": 0.3, "js": 0.2},
                "minRows": 500,
                "monitors": [
                    {
                        "model": "churn",
                        "endpoint": "churn-shadow",
                        "baselineKey": "baselines/churn-v7.json",
                        "thresholds": {"psi": 0.1, "missingRateDelta": 0.05},
                        "featureThresholds": {"tenure_months": {"wasserstein": 0.3}},
                    }
                ],
            }
        },
    )
    (schedule,) = of_drift(plan, SCHEDULE)  # the other is the quality check's
    event = json.loads(schedule.inputs["target"]["input"])
    assert event["thresholds"] == {"psi": 0.1, "js": 0.2, "missing_rate_delta": 0.05}
    assert event["feature_thresholds"] == {"tenure_months": {"wasserstein": 0.3}}
    assert event["min_rows"] == 500
    assert event["baseline_key"] == "baselines/churn-v7.json"
    granted = statements(named(plan, "drift-role-access"))
    assert granted["ReadBaselines"]["Resource"] == [
        f"arn:aws:s3:::{bucket(plan, 'model-artifacts')}/baselines/churn-v7.json"
    ]


def _walk_states(states: dict[str, Any], start: str) -> list[str]:
    """Every state reachable from `start`; asserts each transition names a state that exists."""
    seen: list[str] = []
    todo = [start]
    while todo:
        name = todo.pop()
        assert name in states, f"transition to a missing state {name!r}"
        if name in seen:
            continue
        seen.append(name)
        state = states[name]
        assert state.get("End") is True or "Next" in state, f"{name} neither ends nor moves on"
        if "Next" in state:
            todo.append(state["Next"])
    return seen


def test_scaleout_definition_is_well_formed_amazon_states_language(plans: dict[str, Plan]) -> None:
    definition = json.loads(plans["prod"].one(MACHINE).inputs["definition"])
    states = definition["States"]
    assert sorted(_walk_states(states, definition["StartAt"])) == sorted(states)
    inner = states["ProfileObjects"]["ItemProcessor"]
    assert sorted(_walk_states(inner["States"], inner["StartAt"])) == sorted(inner["States"])
    tasks = [s for s in states.values() if s["Type"] == "Task"] + [
        s for s in inner["States"].values() if s["Type"] == "Task"
    ]
    for task in tasks:
        # The optimised Lambda integration; its payload is the state's input.
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"]["Payload.$"] == "$"
        for retry in task["Retry"]:
            assert retry["BackoffRate"] >= 1
            assert retry["MaxAttempts"] >= 1
    assert {s["Type"] for s in states.values()} <= {"Task", "Map", "Pass", "Choice", "Succeed"}
