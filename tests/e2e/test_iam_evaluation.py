"""The IAM decision the loop harness puts in moto's place (`loop/iam.py`), on the plan's policies.

Each case states what AWS decides (IAM's documented evaluation logic) and, where it differs, what
moto's own evaluator (`moto.iam.access_control.IAMPolicy`) says for the same call: the reason the
harness does not rely on it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from loop.iam import (
    KeyLookups,
    Permission,
    WireRequest,
    condition_holds,
    evaluate,
    required,
    trusts_service,
)
from loop.stack import LoopPlan

NO_KEYS = KeyLookups(
    object_key=lambda bucket, key: None,
    bucket_default_key=lambda bucket: None,
    topic_key=lambda topic: None,
)


def policy_of(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allowed(policy: str, action: str, resource: str, **context: str) -> bool:
    return evaluate(
        [policy], action, resource, {k.replace("_", ":"): [v] for k, v in context.items()}
    ).allowed


def moto_permits(policy: str, action: str, resource: str) -> bool:
    return IAMPolicy(policy).is_action_permitted(action, resource) == PermissionResult.PERMITTED


def test_resource_scoped_statements_allow_their_resources_where_moto_checks_against_star(
    dev_plan: LoopPlan,
) -> None:
    policy = dev_plan.trigger.policy
    table = f"arn:aws:dynamodb:{dev_plan.region}:{dev_plan.account}:table/{dev_plan.table.name}"
    # moto checks every DynamoDB call against resource "*": the table's statement never matches
    assert not moto_permits(policy, "dynamodb:GetItem", "*")
    # the harness resolves the table's ARN from the request, as AWS does
    (need,) = required(
        WireRequest(
            "dynamodb:GetItem",
            "*",
            {"TableName": dev_plan.table.name},
            "/",
            dev_plan.account,
            dev_plan.region,
        ),
        NO_KEYS,
    )
    assert need == Permission("dynamodb:GetItem", table, need.context)
    assert allowed(policy, "dynamodb:GetItem", table)
    assert not allowed(policy, "dynamodb:Query", table)
    assert not allowed(policy, "dynamodb:GetItem", table + "-other")


def test_the_s3_prefix_condition_is_evaluated_where_moto_skips_it(dev_plan: LoopPlan) -> None:
    policy = dev_plan.drift.policy
    bucket = f"arn:aws:s3:::{dev_plan.buckets['capture']}"
    endpoint = dev_plan.check_request["endpoint"]
    assert moto_permits(policy, "s3:ListBucket", bucket)  # any prefix, or none
    assert not allowed(policy, "s3:ListBucket", bucket)  # no prefix: the StringLike fails
    assert allowed(policy, "s3:ListBucket", bucket, s3_prefix=f"datacapture/{endpoint}/AllTraffic/")
    assert not allowed(policy, "s3:ListBucket", bucket, s3_prefix="datacapture/another-endpoint/")


def test_kms_through_a_service_needs_that_service(dev_plan: LoopPlan) -> None:
    key = dev_plan.kms_key_arn
    region = dev_plan.region
    assert moto_permits(dev_plan.drift.policy, "kms:Decrypt", key)  # the condition is skipped
    assert not allowed(dev_plan.drift.policy, "kms:Decrypt", key)
    assert allowed(
        dev_plan.drift.policy, "kms:Decrypt", key, kms_ViaService=f"s3.{region}.amazonaws.com"
    )
    assert not allowed(
        dev_plan.drift.policy, "kms:Decrypt", key, kms_ViaService=f"sns.{region}.amazonaws.com"
    )
    assert allowed(
        dev_plan.trigger.policy,
        "kms:GenerateDataKey",
        key,
        kms_ViaService=f"sns.{region}.amazonaws.com",
    )


def test_s3_and_sns_use_of_a_key_is_checked_with_the_callers_identity() -> None:
    keys = KeyLookups(
        object_key=lambda bucket, key: ("1234abcd-12ab-34cd-56ef-1234567890ab", True),
        bucket_default_key=lambda bucket: ("alias/platform", False),
        topic_key=lambda topic: "arn:aws:kms:eu-west-1:123456789012:key/k",
    )

    def needs(
        operation: str, resource: str, params: dict[str, Any] | None = None
    ) -> list[tuple[str, str, str | None]]:
        request = WireRequest(operation, resource, params or {}, "/", "123456789012", "eu-west-1")
        return [(p.action, p.resource, p.via) for p in required(request, keys)]

    assert needs("s3:GetObject", "arn:aws:s3:::b/k.json") == [
        ("s3:GetObject", "arn:aws:s3:::b/k.json", None),
        (
            "kms:Decrypt",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "s3",
        ),
    ]
    assert needs("s3:PutObject", "arn:aws:s3:::b/k.json")[1] == (
        "kms:GenerateDataKey",
        "arn:aws:kms:eu-west-1:123456789012:alias/platform",
        "s3",
    )
    topic = "arn:aws:sns:eu-west-1:123456789012:t"
    assert needs("sns:Publish", "*", {"TopicArn": [topic]}) == [
        ("sns:Publish", topic, None),
        ("kms:GenerateDataKey", "arn:aws:kms:eu-west-1:123456789012:key/k", "sns"),
        ("kms:Decrypt", "arn:aws:kms:eu-west-1:123456789012:key/k", "sns"),
    ]


def test_budgets_and_sagemaker_are_checked_under_their_iam_names_and_arns(
    budget_plan: LoopPlan,
) -> None:
    policy = budget_plan.trigger.policy
    name = budget_plan.trigger.environment["RETRAIN_BUDGET_NAME"]
    request = WireRequest(
        "budgets:DescribeBudget",
        "*",
        {"AccountId": budget_plan.account, "BudgetName": name},
        "/",
        budget_plan.account,
        budget_plan.region,
    )
    ((action, resource),) = [(p.action, p.resource) for p in required(request, NO_KEYS)]
    assert (action, resource) == (
        "budgets:ViewBudget",
        f"arn:aws:budgets::{budget_plan.account}:budget/{name}",
    )
    assert allowed(policy, action, resource)
    assert not moto_permits(policy, "budgets:DescribeBudget", "*")  # moto's name for it
    # SageMaker writes pipeline ARNs in lowercase: a policy must name them so
    pipeline = WireRequest(
        "sagemaker:StartPipelineExecution", "*", {"PipelineName": "Churn-Training"}, "/", "1", "r"
    )
    ((need,),) = [required(pipeline, NO_KEYS)]
    assert need.resource == "arn:aws:sagemaker:r:1:pipeline/churn-training"
    mixed = policy_of(
        {
            "Effect": "Allow",
            "Action": "sagemaker:*",
            "Resource": "arn:aws:sagemaker:r:1:pipeline/Churn-Training",
        }
    )
    assert not allowed(mixed, need.action, need.resource)


def test_the_verifiers_ssm_and_sagemaker_reads_are_checked_on_their_arns(
    dev_plan: LoopPlan,
) -> None:
    assert dev_plan.verifier is not None
    policy = dev_plan.verifier.policy
    (deployment,) = dev_plan.endpoints
    account, region = dev_plan.account, dev_plan.region
    sagemaker = f"arn:aws:sagemaker:{region}:{account}"

    def resource(operation: str, **params: str) -> str:
        (need,) = required(WireRequest(operation, "*", params, "/", account, region), NO_KEYS)
        return need.resource

    # SSM: `parameter` + the name (a `/` added to a name without one); by path: the path's ARN
    by_path = deployment.parameter_name.rsplit("/", 1)[0]
    assert resource("ssm:GetParameter", Name=deployment.parameter_name) == (
        f"arn:aws:ssm:{region}:{account}:parameter{deployment.parameter_name}"
    )
    assert resource("ssm:GetParameter", Name="plain") == (
        f"arn:aws:ssm:{region}:{account}:parameter/plain"
    )
    path_arn = resource("ssm:GetParametersByPath", Path=by_path)
    assert path_arn == f"arn:aws:ssm:{region}:{account}:parameter{by_path}"
    assert allowed(policy, "ssm:GetParametersByPath", path_arn)
    assert not allowed(policy, "ssm:GetParametersByPath", path_arn + "-other")
    assert not moto_permits(policy, "ssm:GetParametersByPath", "*")  # moto checks against *
    # SageMaker: endpoint, endpoint config, model and package ARNs, names lowercased
    model, _, package = deployment.models[0]
    cases = [
        ("sagemaker:DescribeEndpoint", {"EndpointName": deployment.endpoint_name}, "endpoint"),
        (
            "sagemaker:DescribeEndpointConfig",
            {"EndpointConfigName": deployment.config_name},
            "endpoint-config",
        ),
        ("sagemaker:DescribeModel", {"ModelName": model}, "model"),
    ]
    for operation, params, kind in cases:
        (name,) = params.values()
        arn = resource(operation, **params)
        assert arn == f"{sagemaker}:{kind}/{name.lower()}"
        assert allowed(policy, operation, arn)
        assert not moto_permits(policy, operation, "*")
    assert resource("sagemaker:DescribeEndpoint", EndpointName="Churn-Prod") == (
        f"{sagemaker}:endpoint/churn-prod"
    )
    assert (
        resource("sagemaker:CreateEndpoint", EndpointName="e", EndpointConfigName="c")
        == f"{sagemaker}:endpoint/e"
    )
    assert resource("sagemaker:DescribeModelPackage", ModelPackageName=package) == package.lower()
    # dev approves automatically: its verifier reads no package (staging and prod do)
    assert not allowed(policy, "sagemaker:DescribeModelPackage", package.lower())
    assert resource("sagemaker:DescribeModelPackage", ModelPackageName="Unversioned") == (
        f"{sagemaker}:model-package/unversioned"
    )
    # another endpoint's reads are not the verifier's
    assert not allowed(policy, "sagemaker:DescribeEndpoint", f"{sagemaker}:endpoint/other")


def test_the_proxys_invoke_and_put_record_are_checked_on_the_endpoint_and_stream(
    dev_plan: LoopPlan,
) -> None:
    assert dev_plan.proxy is not None
    assert dev_plan.capture_stream is not None
    policy = dev_plan.proxy.policy
    account, region = dev_plan.account, dev_plan.region
    (deployment,) = dev_plan.endpoints
    # sagemaker-runtime names the endpoint in the path; its body is the model's payload
    invoke = WireRequest(
        "sagemaker:InvokeEndpoint",
        "*",
        {},
        f"/endpoints/{deployment.endpoint_name}/invocations",
        account,
        region,
    )
    ((need,),) = [required(invoke, NO_KEYS)]
    assert (
        need.resource == f"arn:aws:sagemaker:{region}:{account}:endpoint/{deployment.endpoint_name}"
    )
    assert allowed(policy, need.action, need.resource)
    assert not allowed(policy, need.action, need.resource + "-other")
    assert not moto_permits(policy, need.action, "*")
    put = WireRequest(
        "firehose:PutRecord",
        "*",
        {"DeliveryStreamName": dev_plan.capture_stream.name},
        "/",
        account,
        region,
    )
    ((need,),) = [required(put, NO_KEYS)]
    assert need.resource == (
        f"arn:aws:firehose:{region}:{account}:deliverystream/{dev_plan.capture_stream.name}"
    )
    assert allowed(policy, need.action, need.resource)
    assert not moto_permits(policy, need.action, "*")


@pytest.mark.parametrize(
    ("operator", "expected", "context", "holds"),
    [
        ("StringEquals", "a", {}, False),  # an absent key fails a positive operator
        ("StringNotEquals", "a", {}, True),  # ... and passes a negated one
        ("StringEqualsIfExists", "a", {}, True),
        ("StringEquals", ["a", "b"], {"k": ["b"]}, True),  # any listed value
        ("StringLike", "p/*", {"k": ["p/x/y"]}, True),
        ("StringLike", "p/?", {"k": ["p/xy"]}, False),
        ("ArnLike", "arn:aws:s3:::b/*", {"k": ["arn:aws:s3:::b/k"]}, True),
        ("Bool", "true", {"k": ["True"]}, True),
        ("Null", "true", {}, True),
        ("Null", "false", {}, False),
        ("NumericLessThan", "10", {"k": ["9"]}, True),
        ("ForAllValues:StringEquals", ["a", "b"], {"k": ["a", "b"]}, True),
        ("ForAllValues:StringEquals", ["a"], {"k": ["a", "c"]}, False),
        ("ForAnyValue:StringEquals", ["c"], {"k": ["a", "c"]}, True),
    ],
)
def test_condition_operators(
    operator: str, expected: Any, context: dict[str, list[str]], holds: bool
) -> None:
    assert condition_holds(operator, "k", expected, context) is holds


def test_what_is_not_evaluated_is_denied_and_a_deny_wins() -> None:
    dated = policy_of(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        }
    )
    verdict = evaluate([dated], "s3:GetObject", "arn:aws:s3:::b/k", {})
    assert not verdict.allowed
    assert "DateGreaterThan" in verdict.reason
    both = policy_of(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Sid": "No",
            "Effect": "Deny",
            "Action": "s3:Delete*",
            "NotResource": "arn:aws:s3:::keep/*",
        },
    )
    assert not allowed(both, "s3:DeleteObject", "arn:aws:s3:::b/k")
    assert allowed(both, "s3:DeleteObject", "arn:aws:s3:::keep/k")
    assert allowed(both, "S3:getobject", "arn:aws:s3:::b/k")  # actions ignore case


def test_the_plans_roles_trust_lambda_in_their_account_only(dev_plan: LoopPlan) -> None:
    for function in (dev_plan.drift, dev_plan.trigger):
        trust = function.trust_policy
        assert trusts_service(
            trust, "lambda.amazonaws.com", {"aws:SourceAccount": [dev_plan.account]}
        )
        assert not trusts_service(
            trust, "lambda.amazonaws.com", {"aws:SourceAccount": ["999999999999"]}
        )
        assert not trusts_service(
            trust, "states.amazonaws.com", {"aws:SourceAccount": [dev_plan.account]}
        )
