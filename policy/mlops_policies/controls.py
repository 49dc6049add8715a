"""Every control of `../shared/SECURITY-CONTROLS.md`, and what enforces it.

One `Control` per control of the file (its bullets split into single requirements). A control is
exactly one of:

- enforced: `enforced_by` names the pack's policies that enforce it (each in `POLICIES`), and,
  where a test of the suite checks it as well or instead, that test (`EXTERNAL_ENFORCERS`);
- not applicable: `not_applicable` says why (the platform creates no such resource);
- not encoded: `not_encoded` says what is missing. These apply to the platform but no policy
  enforces them yet; they are listed honestly rather than mapped to a policy that does not
  check them.

`PLATFORM_POLICIES` lists the pack's policies that enforce the project's own rules beyond the
file, each with its reason. tests/policy/test_controls.py checks this table against the file
and the pack; `make docs` renders it into the README.

Self-contained on purpose: the pack runs in its own environment, without the platform's code.
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKOV = "checkov (tests/kubernetes)"
IAM_LINT = "IAM lint (tests/security/test_iam_lint.py)"
PROTECTION_TEST = "protection test (tests/security/test_protection.py)"
VARIANT_NAMES_TEST = "variant-name test (tests/components/test_variant_names.py)"
ROLE_PROOFS = "role proofs (tests/e2e/test_role_minimality.py)"

EXTERNAL_ENFORCERS: dict[str, str] = {
    CHECKOV: "checkov's Kubernetes checks over every shipped stack's rendered manifests "
    "(planner/k8s_manifests.py REQUIRED_CHECKS)",
    IAM_LINT: "parliament and the project's own checks over every IAM document of every "
    'shipped stack\'s plan, and the source comments next to Resource "*"',
    PROTECTION_TEST: "protect and retain_on_delete of every stateful registration of every "
    "shipped stack, as the stack's protection config says",
    ROLE_PROOFS: "every role of every shipped stack run under moto with exactly its rendered "
    "policy (tests/e2e): its users' calls are allowed, and every grant is used by a call or "
    "listed with the reason it cannot be exercised",
    VARIANT_NAMES_TEST: "every shipped stack planned twice, the second time with another model "
    "version: the endpoint configuration is replaced and its variant names stay",
}
"""Enforcers outside the pack: tests of the suite, run by `make test` in CI."""


@dataclass(frozen=True)
class Control:
    id: str
    """This project's id for the control, e.g. `S3-1`."""
    section: str
    """The file's section (the start of its `##` heading)."""
    bullet: str
    """The start of the file's bullet that states the control, verbatim."""
    text: str
    """The control, short."""
    sources: tuple[str, ...] = ()
    """The source ids the file cites for it, expanded (`SH S3.1`, `CKV_AWS_53`, ...)."""
    enforced_by: tuple[str, ...] = ()
    """Pack policy names, and `EXTERNAL_ENFORCERS` keys."""
    not_applicable: str = ""
    """Why the control cannot apply to anything the platform creates."""
    not_encoded: str = ""
    """What is missing: the control applies, but nothing enforces it yet."""


S3 = "S3"
SM = "SageMaker"
LAMBDA = "Lambda"
IAM = "IAM"
SERVICES = "KMS, SNS, DynamoDB, ECR, EventBridge"
EKS = "EKS and Kubernetes workloads"
REL = "Reliability practices"

_NO_NOTEBOOKS = (
    "the platform creates no SageMaker notebook instances (training and inference run as "
    "pipeline jobs and endpoints)"
)

CONTROLS: tuple[Control, ...] = (
    # ---- S3 --------------------------------------------------------------------------------
    Control(
        "S3-1",
        S3,
        "All four public-access-block flags on",
        "All four public-access-block flags on.",
        ("SH S3.1", "SH S3.8", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"),
        ("s3-public-access-block",),
    ),
    Control(
        "S3-2",
        S3,
        "All four public-access-block flags on",
        "ACLs disabled, BucketOwnerEnforced.",
        ("SH S3.12",),
        ("s3-acls-disabled",),
    ),
    Control(
        "S3-3",
        S3,
        "Bucket policy denies non-TLS requests",
        "Bucket policy denies non-TLS requests.",
        ("SH S3.5",),
        ("s3-tls-only-policy",),
    ),
    Control(
        "S3-4",
        S3,
        "Bucket policy denies non-TLS requests",
        "Bucket policy grants nothing to `*` or other accounts.",
        ("SH S3.6",),
        ("s3-tls-only-policy",),
    ),
    Control(
        "S3-5",
        S3,
        "Default encryption SSE-KMS",
        "Default encryption SSE-KMS with the platform's customer-managed key (the access-log "
        "bucket SSE-S3, which S3 server access logging requires).",
        ("SH S3.17", "CKV_AWS_145"),
        ("s3-kms-encryption",),
    ),
    Control("S3-6", S3, "Versioning on", "Versioning on.", ("SH S3.14",), ("s3-versioning",)),
    Control(
        "S3-7",
        S3,
        "Versioning on",
        "Lifecycle rules, including abort of incomplete multipart uploads.",
        ("SH S3.13",),
        ("s3-lifecycle",),
    ),
    Control(
        "S3-8",
        S3,
        "Versioning on",
        "Server access logging to a log bucket.",
        ("SH S3.9",),
        ("s3-access-logging",),
    ),
    Control(
        "S3-9",
        S3,
        "Object Lock available",
        "Object Lock for the model-artifact bucket in prod, configurable.",
        ("SH S3.15",),
        ("s3-object-lock",),
    ),
    # ---- SageMaker ---------------------------------------------------------------------------
    Control(
        "SM-1",
        SM,
        "Models: network isolation",
        "Models (and training jobs) network-isolated where the container allows it.",
        ("SH SageMaker.5", "CKV_AWS_370"),
        ("sagemaker-model-network-isolation", "sagemaker-pipeline-network-isolation"),
    ),
    Control(
        "SM-2",
        SM,
        "Models: network isolation",
        "Training and processing in a VPC when the stack config gives one (the policy tells "
        "that the stack has a network from its VPC-placed models and jobs; not applicable "
        "without one).",
        (),
        ("sagemaker-pipeline-jobs-in-vpc",),
    ),
    Control(
        "SM-3",
        SM,
        "Endpoint configs: KMS key set",
        "Endpoint configs: KMS key set (not applicable to serverless and local-NVMe instance "
        "types, which take no key).",
        ("CKV_AWS_98",),
        ("sagemaker-endpoint-config-kms",),
    ),
    Control(
        "SM-4",
        SM,
        "Endpoint configs: KMS key set",
        "Real-time production variants have more than one instance in prod.",
        ("SH SageMaker.4",),
        ("sagemaker-endpoint-instance-count",),
    ),
    Control(
        "SM-5",
        SM,
        "Endpoint configs: KMS key set",
        "Data capture encrypted with the platform key.",
        (),
        ("sagemaker-endpoint-data-capture",),
    ),
    Control(
        "SM-6",
        SM,
        "Feature groups: offline store and online store",
        "Feature groups: offline and online stores encrypted with KMS.",
        ("SH SageMaker.17", "SH SageMaker.18"),
        ("sagemaker-feature-group-encryption",),
    ),
    Control(
        "SM-7",
        SM,
        "Training jobs and pipelines:",
        "Training jobs and pipelines: volume and output KMS.",
        (),
        ("sagemaker-pipeline-job-encryption",),
    ),
    Control(
        "SM-8",
        SM,
        "Training jobs and pipelines:",
        "Training jobs and pipelines: inter-container traffic encryption.",
        (),
        ("sagemaker-pipeline-traffic-encryption",),
    ),
    Control(
        "SM-9",
        SM,
        "Training jobs and pipelines:",
        "Training jobs and pipelines: managed Spot with checkpoints where enabled.",
        (),
        ("sagemaker-pipeline-spot-checkpoints",),
    ),
    Control(
        "SM-10",
        SM,
        "Training jobs and pipelines:",
        "Training jobs and pipelines: a maximum runtime.",
        (),
        ("sagemaker-pipeline-max-runtime",),
    ),
    Control(
        "SM-11",
        SM,
        "Notebook instances, if any",
        "Notebook instances: no direct internet access.",
        ("SH SageMaker.1",),
        not_applicable=_NO_NOTEBOOKS,
    ),
    Control(
        "SM-12",
        SM,
        "Notebook instances, if any",
        "Notebook instances: in a VPC.",
        ("SH SageMaker.2",),
        not_applicable=_NO_NOTEBOOKS,
    ),
    Control(
        "SM-13",
        SM,
        "Notebook instances, if any",
        "Notebook instances: no root access.",
        ("SH SageMaker.3",),
        not_applicable=_NO_NOTEBOOKS,
    ),
    # ---- Lambda ------------------------------------------------------------------------------
    Control(
        "LAMBDA-1",
        LAMBDA,
        "Function policy not public",
        "Function policy not public (invoke permissions and function URLs).",
        ("SH Lambda.1", "CKV_AWS_301"),
        ("lambda-permission-not-public", "lambda-function-url-auth"),
    ),
    Control(
        "LAMBDA-2",
        LAMBDA,
        "Function policy not public",
        "Invoke permissions for service principals limited by SourceArn or SourceAccount.",
        ("CKV_AWS_364",),
        ("lambda-permission-not-public",),
    ),
    Control(
        "LAMBDA-3",
        LAMBDA,
        "Supported runtime",
        "Supported runtime.",
        ("SH Lambda.2",),
        ("lambda-supported-runtime",),
    ),
    Control(
        "LAMBDA-4",
        LAMBDA,
        "Supported runtime",
        "X-Ray tracing.",
        ("CKV_AWS_50",),
        ("lambda-xray-tracing",),
    ),
    Control(
        "LAMBDA-5",
        LAMBDA,
        "Supported runtime",
        "Reserved concurrency set.",
        ("CKV_AWS_115",),
        ("lambda-reserved-concurrency",),
    ),
    Control(
        "LAMBDA-6",
        LAMBDA,
        "Supported runtime",
        "A dead-letter queue or on-failure destination for async invocations.",
        ("CKV_AWS_116",),
        ("lambda-async-failure-destination",),
    ),
    Control(
        "LAMBDA-7",
        LAMBDA,
        "Supported runtime",
        "Environment encrypted with KMS.",
        ("CKV_AWS_173",),
        ("lambda-environment-kms-encryption",),
    ),
    Control(
        "LAMBDA-8",
        LAMBDA,
        "Supported runtime",
        "Environment holds no secrets.",
        ("CKV_AWS_45",),
        ("lambda-environment-no-secrets",),
    ),
    Control(
        "LAMBDA-9",
        LAMBDA,
        "Log groups with explicit retention",
        "Log groups with explicit retention, managed by the stack.",
        ("SH CloudWatch.16", "CKV_AWS_338"),
        ("cloudwatch-log-group-retention", "lambda-log-group-managed"),
    ),
    Control(
        "LAMBDA-10",
        LAMBDA,
        "Log groups with explicit retention",
        "Log groups encrypted with KMS.",
        ("CKV_AWS_158",),
        ("cloudwatch-log-group-kms", "lambda-log-group-managed"),
    ),
    # ---- IAM ---------------------------------------------------------------------------------
    Control(
        "IAM-1",
        IAM,
        "No `*` action",
        "No `*` action (nor NotAction).",
        ("SH IAM.21", "CKV_AWS_63"),
        ("iam-least-privilege", IAM_LINT),
    ),
    Control(
        "IAM-2",
        IAM,
        "No `*` action",
        "No `*:*` admin (statement or managed policy).",
        ("SH IAM.1", "CKV_AWS_62"),
        ("iam-least-privilege", "iam-no-admin-managed-policies", IAM_LINT),
    ),
    Control(
        "IAM-3",
        IAM,
        "No `*` action",
        "No privilege escalation: `iam:PassRole` only for named roles to named services.",
        ("CKV_AWS_286", "CKV_AWS_287"),
        ("iam-no-privilege-escalation", IAM_LINT),
    ),
    Control(
        "IAM-4",
        IAM,
        "No `*` action",
        'No unconstrained write, permissions management or exfiltration: `Resource: "*"` '
        "only for actions AWS cannot scope.",
        ("CKV_AWS_288", "CKV_AWS_289", "CKV_AWS_290", "CKV_AWS_355"),
        ("iam-least-privilege", IAM_LINT),
    ),
    Control(
        "IAM-5",
        IAM,
        "Each role grants only what its users call",
        "Each role grants only what its users call (a policy cannot see calls: the role proofs "
        "run the users and compare).",
        (),
        (ROLE_PROOFS,),
    ),
    Control(
        "IAM-6",
        IAM,
        "Each role grants only what its users call",
        'Every `Resource: "*"` has a comment saying which AWS action cannot be scoped (a '
        "policy sees no source comments, so the IAM lint checks it).",
        (),
        (IAM_LINT,),
    ),
    # ---- KMS, SNS, DynamoDB, ECR, EventBridge ------------------------------------------------
    Control(
        "KMS-1",
        SERVICES,
        "KMS: rotation on",
        "KMS: rotation on.",
        ("SH KMS.4", "CKV_AWS_7"),
        ("kms-key-rotation",),
    ),
    Control(
        "KMS-2",
        SERVICES,
        "KMS: rotation on",
        "KMS: key policy defined, without a wildcard principal.",
        ("SH KMS.5", "CKV2_AWS_64"),
        ("kms-key-policy",),
    ),
    Control(
        "KMS-3",
        SERVICES,
        "KMS: rotation on",
        "KMS: deletion window, and protect in prod.",
        ("SH KMS.3",),
        ("kms-key-deletion-protection",),
    ),
    Control(
        "SNS-1",
        SERVICES,
        "SNS: topic encrypted with KMS",
        "SNS: topic encrypted with KMS.",
        ("CKV_AWS_26",),
        ("sns-topic-kms-encryption",),
    ),
    Control(
        "SNS-2",
        SERVICES,
        "SNS: topic encrypted with KMS",
        "SNS: policy not public, no cross-account.",
        ("SH SNS.4",),
        ("sns-topic-policy-not-public",),
    ),
    Control(
        "DDB-1",
        SERVICES,
        "DynamoDB: point-in-time recovery",
        "DynamoDB: point-in-time recovery.",
        ("SH DynamoDB.2",),
        ("dynamodb-point-in-time-recovery",),
    ),
    Control(
        "DDB-2",
        SERVICES,
        "DynamoDB: point-in-time recovery",
        "DynamoDB: deletion protection in prod.",
        ("SH DynamoDB.6",),
        ("dynamodb-deletion-protection",),
    ),
    Control(
        "DDB-3",
        SERVICES,
        "DynamoDB: point-in-time recovery",
        "DynamoDB: customer-managed key.",
        ("CKV_AWS_119",),
        ("dynamodb-kms-encryption",),
    ),
    Control(
        "ECR-1",
        SERVICES,
        "ECR: scan on push",
        "ECR: scan on push.",
        ("SH ECR.1",),
        ("ecr-scan-on-push",),
    ),
    Control(
        "ECR-2",
        SERVICES,
        "ECR: scan on push",
        "ECR: immutable tags.",
        ("SH ECR.2",),
        ("ecr-immutable-tags",),
    ),
    Control(
        "ECR-3",
        SERVICES,
        "ECR: scan on push",
        "ECR: KMS encryption.",
        ("SH ECR.3",),
        ("ecr-kms-encryption",),
    ),
    Control(
        "EVB-1",
        SERVICES,
        "EventBridge targets: retry policy",
        "EventBridge (and EventBridge Scheduler) targets: retry policy and dead-letter queue "
        "set explicitly.",
        (),
        ("eventbridge-target-retry-and-dlq", "scheduler-schedule-retry-and-dlq"),
    ),
    # ---- EKS and Kubernetes ------------------------------------------------------------------
    Control(
        "EKS-1",
        EKS,
        "EKS: private or CIDR-restricted",
        "EKS: private or CIDR-restricted API endpoint.",
        ("SH EKS.1",),
        ("eks-endpoint-restricted",),
    ),
    Control(
        "EKS-2",
        EKS,
        "EKS: private or CIDR-restricted",
        "EKS: supported version.",
        ("SH EKS.2",),
        ("eks-supported-version",),
    ),
    Control(
        "EKS-3",
        EKS,
        "EKS: private or CIDR-restricted",
        "EKS: secrets encryption with KMS.",
        ("SH EKS.3",),
        ("eks-secrets-encryption",),
    ),
    Control(
        "EKS-4",
        EKS,
        "EKS: private or CIDR-restricted",
        "EKS: control-plane logging.",
        ("SH EKS.8",),
        ("eks-control-plane-logging",),
    ),
    Control(
        "K8S-1",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: liveness and readiness probes.",
        ("CKV_K8S_8", "CKV_K8S_9"),
        ("kubernetes-pod-probes", CHECKOV),
    ),
    Control(
        "K8S-2",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: CPU and memory requests and limits.",
        ("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"),
        ("kubernetes-pod-resources", CHECKOV),
    ),
    Control(
        "K8S-3",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: image tag pinned, never `latest` (checkov: by digest).",
        ("CKV_K8S_14", "CKV_K8S_43"),
        ("kubernetes-image-pinned", CHECKOV),
    ),
    Control(
        "K8S-4",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: not privileged, no privilege escalation.",
        ("CKV_K8S_16", "CKV_K8S_20"),
        ("kubernetes-container-privileges", CHECKOV),
    ),
    Control(
        "K8S-5",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: no host namespaces.",
        ("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"),
        ("kubernetes-host-namespaces", CHECKOV),
    ),
    Control(
        "K8S-6",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: non-root with a high UID.",
        ("CKV_K8S_23", "CKV_K8S_40"),
        ("kubernetes-run-as-non-root", CHECKOV),
    ),
    Control(
        "K8S-7",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: read-only root filesystem.",
        ("CKV_K8S_22",),
        ("kubernetes-container-privileges", CHECKOV),
    ),
    Control(
        "K8S-8",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: capabilities dropped.",
        ("CKV_K8S_28", "CKV_K8S_37"),
        ("kubernetes-container-privileges", CHECKOV),
    ),
    Control(
        "K8S-9",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: seccomp RuntimeDefault.",
        ("CKV_K8S_31",),
        ("kubernetes-seccomp-runtime-default", CHECKOV),
    ),
    Control(
        "K8S-10",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: not in the default namespace.",
        ("CKV_K8S_21",),
        ("kubernetes-not-default-namespace", CHECKOV),
    ),
    Control(
        "K8S-11",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: own service account, token mounted only where needed (checkov requires "
        "CKV_K8S_38; CKV_K8S_41 by the policy).",
        ("CKV_K8S_38", "CKV_K8S_41"),
        ("kubernetes-service-account", CHECKOV),
    ),
    Control(
        "K8S-12",
        EKS,
        "Pods: liveness and readiness probes",
        "Pods: a NetworkPolicy for every pod.",
        ("CKV2_K8S_6",),
        ("kubernetes-network-policy", CHECKOV),
    ),
    # ---- Reliability practices ---------------------------------------------------------------
    Control(
        "REL-1",
        REL,
        "SageMaker real-time endpoints update blue/green",
        "Real-time endpoints update blue/green, canary or linear, with auto-rollback on "
        "CloudWatch alarms (the policy marks serverless endpoints not applicable).",
        (),
        ("sagemaker-endpoint-safe-rollout",),
    ),
    Control(
        "REL-2",
        REL,
        "SageMaker real-time endpoints update blue/green",
        "A new endpoint config keeps the variant name (the policy holds variant names to a "
        "fixed set that alarms and scaling key on; a test plans a version change and compares).",
        (),
        ("sagemaker-variant-names-stable", VARIANT_NAMES_TEST),
    ),
    Control(
        "REL-3",
        REL,
        "EventBridge targets retry up to 24 h",
        "EventBridge targets set a dead-letter queue (else events are dropped after retries).",
        (),
        ("eventbridge-target-retry-and-dlq", "scheduler-schedule-retry-and-dlq"),
    ),
    Control(
        "REL-4",
        REL,
        "EventBridge targets retry up to 24 h",
        "Lambda async invocations keep failed events (dead-letter queue or on-failure "
        "destination).",
        (),
        ("lambda-async-failure-destination",),
    ),
    Control(
        "REL-5",
        REL,
        "`protect` makes a delete an error",
        "Stateful resources carry `protect` as the stack's config says (KMS keys: by policy).",
        (),
        ("kms-key-deletion-protection", PROTECTION_TEST),
    ),
    Control(
        "REL-6",
        REL,
        "`protect` makes a delete an error",
        "`retain_on_delete` as the stack's config says (policies cannot see it, so it is "
        "unit-tested).",
        (),
        (PROTECTION_TEST,),
    ),
)

PLATFORM_POLICIES: dict[str, str] = {
    "required-tags": "cost-allocation and ownership tags (the project's tagging rule)",
    "provider-default-tags": "the tagging rule, enforced at the provider",
    "aws-explicit-provider": "every resource uses the platform's provider (region, tags)",
    "s3-bucket-role": "each bucket declares its role, which the S3 policies key on",
    "sagemaker-registry-read-only-sharing": "cross-account model sharing is read-only",
    "sagemaker-pipeline-role": "pipeline jobs run as named IAM roles, never a wildcard",
    "sagemaker-model-vpc": "a model in a VPC spans two subnets and has a security group",
    "sqs-queue-kms-encryption": "dead-letter queues hold events: encrypted like SNS topics",
    "sqs-queue-message-retention": "dead-letter queues keep events long enough to replay",
    "sqs-queue-policy-not-public": "queue policies, like topic policies, stay private",
    "firehose-encryption": "the capture stream holds inference payloads: encrypted at rest",
    "firehose-delivery-errors": "failed capture deliveries are kept and logged, not lost",
    "iam-role-trust-policy": "trust policies guard against the confused deputy",
    "scheduler-schedule-kms": "schedules carry payloads: encrypted with the platform key",
    "sfn-state-machine-logging": "orchestration failures are visible in CloudWatch",
    "sfn-state-machine-tracing": "orchestration is traced, like the Lambda functions",
    "sfn-state-machine-kms": "state machine data encrypted with the platform key",
    "cloudwatch-alarm-actions": "alarms (rollback and drift) notify someone",
    "cloudwatch-alarm-missing-data": "alarms say how missing data counts",
    "ec2-launch-template-imdsv2": "EKS nodes require IMDSv2 (CKV_AWS_79, beyond the file)",
    "eks-node-group-imdsv2": "EKS node groups run on an IMDSv2-only launch template",
}
"""Pack policies for the project's own rules beyond the file, with the reason for each."""

__all__ = [
    "CHECKOV",
    "CONTROLS",
    "EXTERNAL_ENFORCERS",
    "IAM_LINT",
    "PLATFORM_POLICIES",
    "PROTECTION_TEST",
    "Control",
]
