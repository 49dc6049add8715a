"""Every policy of the pack, in one list, importable without starting a policy server."""

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from .ecr import ECR_POLICIES
from .kms import KMS_POLICIES
from .messaging import MESSAGING_POLICIES
from .provider import PROVIDER_POLICIES
from .s3 import S3_POLICIES
from .sagemaker import SAGEMAKER_POLICIES
from .tags import TAG_POLICIES

PACK_NAME = "mlops-platform-controls"

POLICIES: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = (
    *KMS_POLICIES,
    *TAG_POLICIES,
    *PROVIDER_POLICIES,
    *S3_POLICIES,
    *SAGEMAKER_POLICIES,
    *ECR_POLICIES,
    *MESSAGING_POLICIES,
)

__all__ = ["PACK_NAME", "POLICIES"]
