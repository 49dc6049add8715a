"""Physical names: unique per project and stack, valid for the AWS service, within its limit.

Pulumi auto-naming is preferred; these helpers are for the resources AWS needs a fixed name for
(KMS aliases, SageMaker resources, Glue databases, budgets…). A name that would be too long is
cut and given a short hash of the full name, so two long names never collide after the cut. A
name AWS would refuse (too short, reserved S3 prefix or suffix) raises ValueError saying why.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum

HASH_LENGTH = 8

# S3 refuses bucket names with these prefixes and suffixes (reserved for its own features).
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


class NameKind(Enum):
    """An AWS naming rule: length limits, the characters allowed besides [a-z0-9], separator."""

    # label (keeps members distinct), max length, min length, extra characters, separator
    S3_BUCKET = ("s3-bucket", 63, 3, "", "-")
    # `bucket_prefix`: the AWS provider appends 26 characters and a `-` goes before them.
    S3_BUCKET_PREFIX = ("s3-bucket-prefix", 36, 1, "", "-")
    IAM_ROLE = ("iam-role", 64, 1, "", "-")
    IAM_POLICY = ("iam-policy", 128, 1, "", "-")
    LAMBDA_FUNCTION = ("lambda-function", 64, 1, "", "-")
    SAGEMAKER = ("sagemaker", 63, 1, "", "-")
    SAGEMAKER_FEATURE_GROUP = ("sagemaker-feature-group", 64, 1, "", "-")
    KMS_ALIAS = ("kms-alias", 250, 1, "", "-")  # 256 including the `alias/` prefix
    SQS_QUEUE = ("sqs-queue", 80, 1, "", "-")
    SNS_TOPIC = ("sns-topic", 256, 1, "", "-")
    DYNAMODB_TABLE = ("dynamodb-table", 255, 3, "", "-")
    LOG_GROUP = ("log-group", 512, 1, "/", "-")
    ECR_REPOSITORY = ("ecr-repository", 256, 2, "/", "-")
    EVENTBRIDGE_RULE = ("eventbridge-rule", 64, 1, "", "-")
    GLUE_DATABASE = ("glue-database", 255, 1, "", "_")  # Athena: lower case, digits, underscore
    ATHENA_WORKGROUP = ("athena-workgroup", 128, 1, "", "-")
    BUDGET = ("budget", 100, 1, "", "-")
    SFN_STATE_MACHINE = ("sfn-state-machine", 80, 1, "", "-")
    SCHEDULE = ("schedule", 64, 1, "", "-")
    EVENT_BUS = ("event-bus", 256, 1, "", "-")
    EKS_CLUSTER = ("eks-cluster", 100, 1, "", "-")

    def __init__(
        self, label: str, max_length: int, min_length: int, extra_chars: str, separator: str
    ) -> None:
        self.label = label
        self.max_length = max_length
        self.min_length = min_length
        self.extra_chars = extra_chars
        self.separator = separator


@dataclass(frozen=True)
class Naming:
    """Physical-name factory for one project and stack."""

    project: str
    stack: str

    def physical(self, name: str, kind: NameKind) -> str:
        """`<project>-<stack>-<name>`, normalised for `kind` and at most its length limit."""
        if not name.strip():
            raise ValueError("a physical name needs a non-empty name after project and stack")
        return physical_name(kind, self.project, self.stack, name)


def _normalise(text: str, kind: NameKind) -> str:
    punctuation = re.escape(kind.extra_chars + kind.separator)
    text = re.sub(rf"[^a-z0-9{punctuation}]+", kind.separator, text.lower())
    # A run of punctuation (`--`, `//`, `-/`) becomes its first character: ECR and S3 refuse
    # doubled separators and a separator next to a slash.
    text = re.sub(rf"([{punctuation}])[{punctuation}]+", r"\1", text)
    return text.strip(kind.separator + kind.extra_chars)


def _check_s3(name: str) -> None:
    for prefix in S3_RESERVED_PREFIXES:
        if name.startswith(prefix):
            raise ValueError(f"S3 bucket name {name!r} starts with the reserved {prefix!r}")
    for suffix in S3_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            raise ValueError(f"S3 bucket name {name!r} ends with the reserved {suffix!r}")


def physical_name(kind: NameKind, *parts: str) -> str:
    """Join `parts` into one name valid for `kind`.

    Raises ValueError when nothing usable remains, when the name does not start with a letter,
    is shorter than AWS accepts, or (S3) uses a reserved prefix or suffix.
    """
    if not parts or not any(p.strip() for p in parts):
        raise ValueError("physical_name needs at least one non-empty part")
    full = _normalise(kind.separator.join(p for p in parts if p), kind)
    if not full or not full[0].isalpha():
        raise ValueError(
            f"physical name {full!r} from {parts!r} must start with a letter after "
            "normalisation; accepted: parts whose first character is a letter"
        )
    if len(full) < kind.min_length:
        raise ValueError(
            f"physical name {full!r} is shorter than the {kind.min_length} characters a "
            f"{kind.label} name needs"
        )
    if len(full) > kind.max_length:
        digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_LENGTH]
        keep = kind.max_length - HASH_LENGTH - 1
        head = full[:keep].rstrip(kind.separator + kind.extra_chars)
        full = f"{head}{kind.separator}{digest}"
    if kind in (NameKind.S3_BUCKET, NameKind.S3_BUCKET_PREFIX):
        _check_s3(full)
    return full
