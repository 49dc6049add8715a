"""The SageMaker, ECR, SNS, SQS and EventBridge policies: a compliant resource of each kind
passes the whole pack, and each broken control is reported by its policy with its message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from planner.mocks import Registration
from planner.policies import evaluate
from tests.policy.test_policies import TAGS, provider, record

ACCOUNT = "111111111111"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FEATURE_GROUP = "aws:sagemaker/featureGroup:FeatureGroup"
REGISTRY_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
REPOSITORY = "aws:ecr/repository:Repository"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:mlops-prod-events"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:mlops-prod-dlq"


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _pinned_provider() -> Registration:
    """The platform provider pinned to the stack's account, as in prod."""
    aws = provider(TAGS)
    aws.inputs["allowedAccountIds"] = json.dumps([ACCOUNT])
    return aws


EVENTS_PUBLISH = {
    "Sid": "EventsPublish",
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": TOPIC_ARN,
    "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/x"}},
}
ACCOUNT_READS = {
    "Sid": "AccountReads",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/platform-reader"},
    "Action": "sns:GetTopicAttributes",
    "Resource": TOPIC_ARN,
}
PROMOTION_READS = {
    "Sid": "PromotionAccountReads",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
    "Action": ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage",
               "sagemaker:ListModelPackages", "sagemaker:Get*"],
    "Resource": "*",
}  # fmt: skip


def compliant() -> dict[str, Registration]:
    """One compliant resource of each kind these policies govern."""
    return {
        "feature-group": record(
            FEATURE_GROUP,
            "features",
            {
                "featureGroupName": "customer-features",
                "offlineStoreConfig": {
                    "s3StorageConfig": {"s3Uri": "s3://features/offline", "kmsKeyId": KEY_ARN},
                    "tableFormat": "Iceberg",
                    "dataCatalogConfig": {"catalog": "AwsDataCatalog", "database": "d"},
                },
                "onlineStoreConfig": {
                    "enableOnlineStore": True,
                    "securityConfig": {"kmsKeyId": KEY_ARN},
                    "ttlDuration": {"unit": "Days", "value": 30},
                },
            },
        ),
        "registry-policy": record(
            REGISTRY_POLICY,
            "registry-sharing",
            {"modelPackageGroupName": "churn", "resourcePolicy": _document(PROMOTION_READS)},
        ),
        "repository": record(
            REPOSITORY,
            "images",
            {
                "imageScanningConfiguration": {"scanOnPush": True},
                "imageTagMutability": "IMMUTABLE",
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
            },
        ),
        "topic": record(TOPIC, "events", {"kmsMasterKeyId": KEY_ARN}),
        "topic-policy": record(
            TOPIC_POLICY,
            "events-policy",
            {"arn": TOPIC_ARN, "policy": _document(EVENTS_PUBLISH, ACCOUNT_READS)},
        ),
        "queue": record(
            QUEUE, "dlq", {"kmsMasterKeyId": KEY_ARN, "messageRetentionSeconds": 1_209_600}
        ),
        "queue-policy": record(
            QUEUE_POLICY,
            "dlq-policy",
            {
                "queueUrl": "https://sqs.eu-west-1.amazonaws.com/111111111111/mlops-prod-dlq",
                "policy": _document(
                    {**EVENTS_PUBLISH, "Action": "sqs:SendMessage", "Resource": QUEUE_ARN}
                ),
            },
        ),
        "event-target": record(
            EVENT_TARGET,
            "approvals-target",
            {
                "rule": "approvals",
                "arn": TOPIC_ARN,
                "retryPolicy": {"maximumRetryAttempts": 20, "maximumEventAgeInSeconds": 21_600},
                "deadLetterConfig": {"arn": QUEUE_ARN},
            },
        ),
    }


def findings(resource: Registration) -> list[tuple[str, str, str]]:
    report = evaluate([_pinned_provider(), resource])
    return [(v.policy, v.urn, v.message) for v in report.violations]


@pytest.mark.parametrize("kind", sorted(compliant()))
def test_compliant_resource_passes_the_whole_pack(kind: str) -> None:
    assert findings(compliant()[kind]) == []


def test_inline_topic_and_queue_policies_are_checked_too() -> None:
    resources = compliant()
    topic = resources["topic"]
    topic.inputs["policy"] = _document(EVENTS_PUBLISH)
    assert findings(topic) == []
    topic.inputs["policy"] = _document({**EVENTS_PUBLISH, "Principal": "*"})
    assert findings(topic) == [
        (
            "sns-topic-policy-not-public",
            topic.urn,
            "SNS topic (SH SNS.4) policy: statement 0 (EventsPublish) allows the public "
            'principal "*".',
        )
    ]
    queue = resources["queue"]
    queue.inputs["policy"] = _document({**EVENTS_PUBLISH, "Condition": {}})
    assert [(p, m) for p, _, m in findings(queue)] == [
        (
            "sqs-queue-policy-not-public",
            "SQS queue policy: statement 0 (EventsPublish) allows service principal(s) "
            "['events.amazonaws.com'] without an aws:SourceArn or aws:SourceAccount condition.",
        )
    ]


def test_account_principals_need_a_pinned_account() -> None:
    topic_policy = compliant()["topic-policy"]
    report = evaluate([provider(TAGS), topic_policy])  # no allowedAccountIds
    assert [(v.policy, v.message) for v in report.violations] == [
        (
            "sns-topic-policy-not-public",
            "SNS topic (SH SNS.4) policy: statement 1 (AccountReads) allows AWS principal(s) "
            "['arn:aws:iam::111111111111:role/platform-reader'], but the provider pins no "
            "allowedAccountIds, so they cannot be shown to be this account's.",
        )
    ]


def _with(kind: str, **changes: Any) -> Registration:
    resource = compliant()[kind]
    for key, value in changes.items():
        if value is None:
            resource.inputs.pop(key, None)
        else:
            resource.inputs[key] = value
    return resource


def _statement(**fields: Any) -> dict[str, Any]:
    return {"Sid": "S", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*", **fields}


def _read(**fields: Any) -> str:
    return _document({**PROMOTION_READS, **fields})


BAD_CASES: list[tuple[str, Registration, str, str]] = [
    # (id, resource, policy, message fragment)
    (
        "feature-group-offline-no-key",
        _with(
            "feature-group",
            offlineStoreConfig={"s3StorageConfig": {"s3Uri": "s3://f"}, "tableFormat": "Iceberg"},
        ),
        "sagemaker-feature-group-encryption",
        "feature group's offline store sets no s3StorageConfig.kmsKeyId; encrypt it with the "
        "platform key (SH SageMaker.17).",
    ),
    (
        "feature-group-online-no-key",
        _with("feature-group", onlineStoreConfig={"enableOnlineStore": True}),
        "sagemaker-feature-group-encryption",
        "feature group's online store sets no securityConfig.kmsKeyId; encrypt it with the "
        "platform key (SH SageMaker.18).",
    ),
    (
        "feature-group-no-store",
        _with(
            "feature-group",
            offlineStoreConfig=None,
            onlineStoreConfig={"enableOnlineStore": False},
        ),
        "sagemaker-feature-group-encryption",
        "feature group has neither an offline store nor an enabled online store.",
    ),
    (
        "registry-write-action",
        _with("registry-policy", resourcePolicy=_read(Action="sagemaker:UpdateModelPackage")),
        "sagemaker-registry-read-only-sharing",
        "statement 0 (PromotionAccountReads) allows ['sagemaker:UpdateModelPackage']; the "
        "registry is shared read-only",
    ),
    (
        "registry-wildcard-action",
        _with("registry-policy", resourcePolicy=_read(Action=["sagemaker:*", "sagemaker:D*"])),
        "sagemaker-registry-read-only-sharing",
        "allows ['sagemaker:*', 'sagemaker:D*']",
    ),
    (
        "registry-public",
        _with("registry-policy", resourcePolicy=_read(Principal={"AWS": "*"})),
        "sagemaker-registry-read-only-sharing",
        'statement 0 (PromotionAccountReads) allows the public principal "*".',
    ),
    (
        "registry-not-action",
        _with(
            "registry-policy",
            resourcePolicy=_document(
                {
                    **{k: v for k, v in PROMOTION_READS.items() if k != "Action"},
                    "NotAction": "sagemaker:Delete*",
                }
            ),
        ),
        "sagemaker-registry-read-only-sharing",
        "allows with NotAction, which grants every other action.",
    ),
    (
        "registry-policy-not-json",
        _with("registry-policy", resourcePolicy="{not json"),
        "sagemaker-registry-read-only-sharing",
        "resourcePolicy is not a JSON policy document with a Statement list.",
    ),
    (
        "ecr-no-scan",
        _with("repository", imageScanningConfiguration={"scanOnPush": False}),
        "ecr-scan-on-push",
        "ECR repository must scan images on push (imageScanningConfiguration.scanOnPush: true, "
        "SH ECR.1).",
    ),
    (
        "ecr-mutable",
        _with("repository", imageTagMutability="MUTABLE"),
        "ecr-immutable-tags",
        "ECR repository has imageTagMutability 'MUTABLE'; IMMUTABLE is required",
    ),
    (
        "ecr-aes256",
        _with("repository", encryptionConfigurations=[{"encryptionType": "AES256"}]),
        "ecr-kms-encryption",
        "ECR repository must be encrypted with the platform key",
    ),
    (
        "ecr-kms-default-key",
        _with("repository", encryptionConfigurations=[{"encryptionType": "KMS"}]),
        "ecr-kms-encryption",
        "SH ECR.3).",
    ),
    (
        "sns-unencrypted",
        _with("topic", kmsMasterKeyId=None),
        "sns-topic-kms-encryption",
        "SNS topic (CKV_AWS_26) sets no kmsMasterKeyId; encrypt it with the platform key.",
    ),
    (
        "sns-aws-managed-key",
        _with("topic", kmsMasterKeyId="alias/aws/sns"),
        "sns-topic-kms-encryption",
        "SNS topic (CKV_AWS_26) uses the AWS-managed key 'alias/aws/sns'",
    ),
    (
        "sns-policy-other-account",
        _with(
            "topic-policy",
            policy=_document(_statement(Principal={"AWS": ["arn:aws:iam::999999999999:root"]})),
        ),
        "sns-topic-policy-not-public",
        "SNS topic (SH SNS.4) policy: statement 0 (S) allows AWS principal(s) "
        "['arn:aws:iam::999999999999:root'] outside this stack's accounts ['111111111111'].",
    ),
    (
        "sns-policy-bare-other-account",
        _with("topic-policy", policy=_document(_statement(Principal={"AWS": "999999999999"}))),
        "sns-topic-policy-not-public",
        "allows AWS principal(s) ['999999999999'] outside this stack's accounts",
    ),
    (
        "sns-policy-federated",
        _with(
            "topic-policy",
            policy=_document(_statement(Principal={"Federated": "cognito-identity.amazonaws.com"})),
        ),
        "sns-topic-policy-not-public",
        "allows Federated principal(s) ['cognito-identity.amazonaws.com'].",
    ),
    (
        "sns-policy-service-from-other-account",
        _with(
            "topic-policy",
            policy=_document(
                _statement(
                    Principal={"Service": "events.amazonaws.com"},
                    Condition={"StringEquals": {"aws:SourceAccount": "999999999999"}},
                )
            ),
        ),
        "sns-topic-policy-not-public",
        "limits aws:SourceAccount to ['999999999999'], outside this stack's accounts",
    ),
    (
        "sqs-unencrypted",
        _with("queue", kmsMasterKeyId=None),
        "sqs-queue-kms-encryption",
        "SQS queue sets no kmsMasterKeyId; encrypt it with the platform key.",
    ),
    (
        "sqs-aws-managed-key",
        _with("queue", kmsMasterKeyId="alias/aws/sqs"),
        "sqs-queue-kms-encryption",
        "SQS queue uses the AWS-managed key 'alias/aws/sqs'",
    ),
    (
        "sqs-retention-implicit",
        _with("queue", messageRetentionSeconds=None),
        "sqs-queue-message-retention",
        "SQS queue sets no messageRetentionSeconds; state how long messages are kept (60 to "
        "1209600 seconds).",
    ),
    (
        "sqs-retention-too-long",
        _with("queue", messageRetentionSeconds=2_000_000),
        "sqs-queue-message-retention",
        "SQS queue messageRetentionSeconds is 2000000; 60 to 1209600 accepted.",
    ),
    (
        "sqs-policy-public",
        _with(
            "queue-policy",
            policy=_document(_statement(Principal="*", Action="sqs:SendMessage")),
        ),
        "sqs-queue-policy-not-public",
        'SQS queue policy: statement 0 (S) allows the public principal "*".',
    ),
    (
        "eventbridge-no-retry-policy",
        _with("event-target", retryPolicy=None),
        "eventbridge-target-retry-and-dlq",
        "EventBridge target sets no retryPolicy; set maximumRetryAttempts and "
        "maximumEventAgeInSeconds explicitly (the default retries for 24 hours).",
    ),
    (
        "eventbridge-event-age-too-short",
        _with(
            "event-target",
            retryPolicy={"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 30},
        ),
        "eventbridge-target-retry-and-dlq",
        "EventBridge target retryPolicy.maximumEventAgeInSeconds is 30; 60 to 86400 accepted.",
    ),
    (
        "eventbridge-no-dlq",
        _with("event-target", deadLetterConfig=None),
        "eventbridge-target-retry-and-dlq",
        "EventBridge target sets no deadLetterConfig.arn; without a dead-letter queue an event "
        "is dropped once its retries run out.",
    ),
    (
        "eventbridge-dlq-not-sqs",
        _with("event-target", deadLetterConfig={"arn": TOPIC_ARN}),
        "eventbridge-target-retry-and-dlq",
        "deadLetterConfig.arn 'arn:aws:sns:eu-west-1:111111111111:mlops-prod-events' is not an "
        "SQS queue.",
    ),
]


@pytest.mark.parametrize(
    ("resource", "policy", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_service_violations(resource: Registration, policy: str, message: str) -> None:
    found = findings(resource)
    assert [(p, u) for p, u, _ in found] == [(policy, resource.urn)], found
    assert message in found[0][2]


def test_eventbridge_reports_each_missing_retry_field() -> None:
    target = _with("event-target", retryPolicy={"maximumRetryAttempts": 3})
    assert [m for _, _, m in findings(target)] == [
        "EventBridge target sets no retryPolicy.maximumEventAgeInSeconds; set it explicitly "
        "(60 to 86400)."
    ]


def test_every_service_policy_has_a_violating_case() -> None:
    from policy.mlops_policies.ecr import ECR_POLICIES
    from policy.mlops_policies.messaging import MESSAGING_POLICIES
    from policy.mlops_policies.sagemaker import SAGEMAKER_POLICIES

    names = {p.name for p in (*SAGEMAKER_POLICIES, *ECR_POLICIES, *MESSAGING_POLICIES)}
    assert {case[2] for case in BAD_CASES} == names
