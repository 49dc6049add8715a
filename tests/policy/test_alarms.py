"""The CloudWatch alarm policies: a metric alarm and a composite alarm as the monitoring component
builds them pass the whole pack; an alarm whose actions are off or missing, or that leaves missing
data to CloudWatch's default, is reported by its policy with its exact message; and the same
through the analyzer, as the Pulumi CLI runs the pack in a preview (where the alarm actions are
the topic's ARN, not known yet)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc

from planner.mocks import Registration
from planner.policies import evaluate
from policy.mlops_policies.alarms import ALARM_POLICIES
from tests.policy.test_lambda_iam_policies import UNKNOWN_STRING, _analyze_request
from tests.policy.test_policies import TAGS, provider, record

TOPIC_ARN = "arn:aws:sns:eu-west-1:111111111111:mlops-platform-prod-platform-events"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
ACTIONS = "cloudwatch-alarm-actions"
MISSING_DATA = "cloudwatch-alarm-missing-data"


def metric_alarm(**changes: Any) -> Registration:
    inputs: dict[str, Any] = {
        "name": "mlops-platform-prod-monitoring-churn-drift",
        "namespace": "MLOpsPlatform/Drift",
        "metricName": "DriftedShare",
        "dimensions": {"service": "drift-check", "model": "churn"},
        "statistic": "Maximum",
        "period": 300,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 0.3,
        "treatMissingData": "ignore",
        "actionsEnabled": True,
        "alarmActions": [TOPIC_ARN],
        "okActions": [TOPIC_ARN],
    }
    for key, value in changes.items():
        if value is None:
            inputs.pop(key, None)
        else:
            inputs[key] = value
    return record(METRIC_ALARM, "monitoring-churn-drift", inputs)


def composite_alarm(**changes: Any) -> Registration:
    inputs: dict[str, Any] = {
        "alarmName": "mlops-platform-prod-monitoring-churn-unhealthy",
        "alarmRule": 'ALARM("mlops-platform-prod-monitoring-churn-drift")',
        "actionsEnabled": True,
        "alarmActions": [TOPIC_ARN],
        "okActions": [TOPIC_ARN],
    }
    for key, value in changes.items():
        if value is None:
            inputs.pop(key, None)
        else:
            inputs[key] = value
    return record(COMPOSITE_ALARM, "monitoring-churn-unhealthy", inputs)


def findings(resource: Registration) -> list[tuple[str, str]]:
    report = evaluate([provider(TAGS), resource])
    return [(v.policy, v.message) for v in report.violations]


@pytest.mark.parametrize(
    "resource",
    [metric_alarm(), composite_alarm()],
    ids=["metric", "composite"],
)
def test_compliant_alarm_passes_the_whole_pack(resource: Registration) -> None:
    assert findings(resource) == []


@pytest.mark.parametrize("choice", ["breaching", "notBreaching", "ignore"])
def test_each_deliberate_missing_data_choice_passes(choice: str) -> None:
    assert findings(metric_alarm(treatMissingData=choice)) == []


def test_actions_enabled_left_to_the_default_passes() -> None:
    # The provider's default is true; the preview shows it filled in, the offline plan absent.
    assert findings(metric_alarm(actionsEnabled=None)) == []
    assert findings(composite_alarm(actionsEnabled=None)) == []


DISABLED = (
    "{what} sets actionsEnabled false; its state changes would reach nobody. Enable its actions."
)
NO_ACTIONS = "{what} has no alarmActions; send it to the platform topic (and the chat topics)."
METRIC, COMPOSITE = "CloudWatch metric alarm", "CloudWatch composite alarm"

BAD_CASES: list[tuple[str, Registration, list[tuple[str, str]]]] = [
    (
        "metric-actions-disabled",
        metric_alarm(actionsEnabled=False),
        [(ACTIONS, DISABLED.format(what=METRIC))],
    ),
    (
        "composite-actions-disabled",
        composite_alarm(actionsEnabled=False),
        [(ACTIONS, DISABLED.format(what=COMPOSITE))],
    ),
    (
        "metric-no-alarm-actions",
        metric_alarm(alarmActions=None),
        [(ACTIONS, NO_ACTIONS.format(what=METRIC))],
    ),
    (
        "metric-empty-alarm-actions",
        metric_alarm(alarmActions=[]),
        [(ACTIONS, NO_ACTIONS.format(what=METRIC))],
    ),
    (
        "metric-ok-actions-only",
        metric_alarm(alarmActions=None, okActions=[TOPIC_ARN]),
        [(ACTIONS, NO_ACTIONS.format(what=METRIC))],
    ),
    (
        "composite-no-alarm-actions",
        composite_alarm(alarmActions=None),
        [(ACTIONS, NO_ACTIONS.format(what=COMPOSITE))],
    ),
    (
        "composite-disabled-and-silent",
        composite_alarm(actionsEnabled=False, alarmActions=[]),
        [
            (ACTIONS, DISABLED.format(what=COMPOSITE)),
            (ACTIONS, NO_ACTIONS.format(what=COMPOSITE)),
        ],
    ),
    (
        "missing-data-unset",
        metric_alarm(treatMissingData=None),
        [
            (
                MISSING_DATA,
                "CloudWatch metric alarm sets no treatMissingData; choose breaching, "
                "notBreaching or ignore for what a quiet metric means to this alarm.",
            )
        ],
    ),
    (
        "missing-data-default",
        metric_alarm(treatMissingData="missing"),
        [
            (
                MISSING_DATA,
                "CloudWatch metric alarm treatMissingData is 'missing'; breaching, "
                "notBreaching, ignore accepted ('missing' is the default, which cannot be told "
                "from leaving it unset).",
            )
        ],
    ),
    (
        "missing-data-misspelt",
        metric_alarm(treatMissingData="not_breaching"),
        [
            (
                MISSING_DATA,
                "CloudWatch metric alarm treatMissingData is 'not_breaching'; breaching, "
                "notBreaching, ignore accepted ('missing' is the default, which cannot be told "
                "from leaving it unset).",
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("resource", "expected"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_broken_control_is_reported_with_its_message(
    resource: Registration, expected: list[tuple[str, str]]
) -> None:
    assert findings(resource) == expected


def test_composite_alarms_have_no_missing_data_to_treat() -> None:
    """A composite alarm evaluates other alarms' states, never a metric."""
    assert findings(composite_alarm(treatMissingData=None)) == []


def test_other_resources_are_not_alarms() -> None:
    topic = record("aws:sns/topic:Topic", "t", {"kmsMasterKeyId": "alias/platform"})
    report = evaluate([provider(TAGS), topic], ALARM_POLICIES)
    assert report.violations == []


# ---- through the analyzer, as the Pulumi CLI runs the pack ------------------------------------


def _analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, resource: Registration
) -> list[tuple[str, str]]:
    response = analyzer.Analyze(_analyze_request(resource, provider(TAGS)))
    descriptions = {p.name: p.description for p in ALARM_POLICIES}
    # The analyzer prefixes the policy's description to the reported message.
    return [
        (d.policyName, d.message.removeprefix(f"{descriptions.get(d.policyName, '')}\n"))
        for d in response.diagnostics
    ]


def test_preview_values_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """In a preview the topic's ARN is not known yet: wired, the actions count as set."""
    wired = metric_alarm(alarmActions=[UNKNOWN_STRING], okActions=[UNKNOWN_STRING])
    assert _analyze(analyzer, wired) == []
    assert _analyze(analyzer, composite_alarm(alarmActions=[UNKNOWN_STRING])) == []
    silent = metric_alarm(alarmActions=None, treatMissingData="missing")
    assert _analyze(analyzer, silent) == [
        (ACTIONS, NO_ACTIONS.format(what=METRIC)),
        (
            MISSING_DATA,
            "CloudWatch metric alarm treatMissingData is 'missing'; breaching, notBreaching, "
            "ignore accepted ('missing' is the default, which cannot be told from leaving it "
            "unset).",
        ),
    ]
