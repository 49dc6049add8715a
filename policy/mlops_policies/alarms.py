"""CloudWatch alarm controls: an alarm tells someone, and says how it treats missing data.

An alarm with its actions disabled, or with no alarm action, changes state where nobody looks.
An alarm that leaves `treatMissingData` to CloudWatch's default (`missing`) goes to
INSUFFICIENT_DATA whenever its metric is quiet, which is wrong for most metrics in one of two
opposite ways: a quiet endpoint is healthy (`notBreaching`), a drift check that stopped
reporting is the problem (`breaching`). The default is also what the AWS provider fills in for
an unset input, and what a policy sees after the provider's check during a preview; so
`missing` cannot be told from "not set" and is not accepted: the choice is `breaching`,
`notBreaching` or `ignore`, made per alarm kind with its reason.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import is_set, known

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
ALARMS = {METRIC_ALARM: "CloudWatch metric alarm", COMPOSITE_ALARM: "CloudWatch composite alarm"}
DELIBERATE_MISSING_DATA = ("breaching", "notBreaching", "ignore")
"""What an alarm may choose for missing data (`missing` is CloudWatch's default)."""


def _actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    what = ALARMS.get(args.resource_type)
    if what is None:
        return
    if known(args.props, "actionsEnabled") is False:
        report(
            f"{what} sets actionsEnabled false; its state changes would reach nobody. Enable "
            "its actions.",
            None,
        )
    if not is_set(args.props, "alarmActions"):
        report(
            f"{what} has no alarmActions; send it to the platform topic (and the chat topics).",
            None,
        )


def _missing_data(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != METRIC_ALARM:
        return
    value = args.props.get("treatMissingData")
    if value is None:
        report(
            "CloudWatch metric alarm sets no treatMissingData; choose breaching, notBreaching "
            "or ignore for what a quiet metric means to this alarm.",
            None,
        )
    elif value not in DELIBERATE_MISSING_DATA:
        accepted = ", ".join(DELIBERATE_MISSING_DATA)
        report(
            f"CloudWatch metric alarm treatMissingData is {value!r}; {accepted} accepted "
            "('missing' is the default, which cannot be told from leaving it unset).",
            None,
        )


def _policy(name: str, description: str, validate: ResourceValidation) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


ALARM_POLICIES = (
    _policy(
        "cloudwatch-alarm-actions",
        "CloudWatch metric and composite alarms have their actions enabled and at least one "
        "alarm action.",
        _actions,
    ),
    _policy(
        "cloudwatch-alarm-missing-data",
        "CloudWatch metric alarms choose how missing data counts (breaching, notBreaching or "
        "ignore), not CloudWatch's default.",
        _missing_data,
    ),
)
