"""Physical names: unique per project and stack, valid for the AWS service, within its limit.

Pulumi auto-naming is preferred; these helpers are for the resources AWS needs a fixed name for
(KMS aliases, SageMaker resources, Glue databases, budgets…). A name that would be too long is
cut and given a short hash of the full name, so two long names never collide after the cut.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum


class NameKind(Enum):
    """An AWS naming rule: the longest name it accepts and the characters it allows."""

    # (max length, allowed characters other than [a-z0-9-], separator)
    S3_BUCKET = (63, "", "-")
    IAM_ROLE = (64, "", "-")
    IAM_POLICY = (128, "", "-")
    LAMBDA_FUNCTION = (64, "", "-")
    SAGEMAKER = (63, "", "-")
    KMS_ALIAS = (250, "", "-")  # 256 including the `alias/` prefix
    SQS_QUEUE = (80, "", "-")
    SNS_TOPIC = (256, "", "-")
    DYNAMODB_TABLE = (255, "", "-")
    LOG_GROUP = (512, "/", "-")
    ECR_REPOSITORY = (256, "/", "-")
    EVENTBRIDGE_RULE = (64, "", "-")
    GLUE_DATABASE = (255, "_", "_")  # Athena wants lower-case letters, digits and underscores
    ATHENA_WORKGROUP = (128, "", "-")
    BUDGET = (100, "", "-")

    @property
    def max_length(self) -> int:
        return int(self.value[0])

    @property
    def extra_chars(self) -> str:
        return str(self.value[1])

    @property
    def separator(self) -> str:
        return str(self.value[2])


HASH_LENGTH = 8


@dataclass(frozen=True)
class Naming:
    """Physical-name factory for one project and stack."""

    project: str
    stack: str

    def physical(self, name: str, kind: NameKind) -> str:
        """`<project>-<stack>-<name>`, normalised for `kind` and at most its length limit."""
        return physical_name(kind, self.project, self.stack, name)


def _normalise(text: str, kind: NameKind) -> str:
    sep = kind.separator
    allowed = "a-z0-9" + re.escape(kind.extra_chars) + re.escape(sep)
    text = re.sub(rf"[^{allowed}]+", sep, text.lower())
    text = re.sub(rf"{re.escape(sep)}{{2,}}", sep, text)
    return text.strip(sep + kind.extra_chars)


def physical_name(kind: NameKind, *parts: str) -> str:
    """Join `parts` into one name valid for `kind`.

    Raises ValueError if nothing usable remains or the name cannot start with a letter.
    """
    if not parts or not any(p.strip() for p in parts):
        raise ValueError("physical_name needs at least one non-empty part")
    full = _normalise(kind.separator.join(p for p in parts if p), kind)
    if not full or not full[0].isalpha():
        raise ValueError(
            f"physical name {full!r} from {parts!r} must start with a letter after "
            "normalisation; accepted: parts whose first character is a letter"
        )
    if len(full) <= kind.max_length:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_LENGTH]
    keep = kind.max_length - HASH_LENGTH - 1
    head = full[:keep].rstrip(kind.separator + kind.extra_chars)
    return f"{head}{kind.separator}{digest}"
