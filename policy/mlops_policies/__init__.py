"""Every policy of the pack, in one list, importable without starting a policy server."""

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from .alarms import ALARM_POLICIES
from .dynamodb import DYNAMODB_POLICIES
from .ecr import ECR_POLICIES
from .eks import EKS_POLICIES
from .firehose import FIREHOSE_POLICIES
from .iam import IAM_POLICIES
from .inference import INFERENCE_POLICIES
from .kms import KMS_POLICIES
from .kubernetes import KUBERNETES_POLICIES
from .lambda_ import LAMBDA_POLICIES
from .logs import LOG_POLICIES
from .messaging import MESSAGING_POLICIES
from .orchestration import ORCHESTRATION_POLICIES
from .provider import PROVIDER_POLICIES
from .s3 import S3_POLICIES
from .sagemaker import SAGEMAKER_POLICIES
from .tags import TAG_POLICIES
from .training import TRAINING_POLICIES

PACK_NAME = "mlops-platform-controls"

POLICIES: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = (
    *KMS_POLICIES,
    *TAG_POLICIES,
    *PROVIDER_POLICIES,
    *S3_POLICIES,
    *SAGEMAKER_POLICIES,
    *TRAINING_POLICIES,
    *INFERENCE_POLICIES,
    *ECR_POLICIES,
    *MESSAGING_POLICIES,
    *DYNAMODB_POLICIES,
    *FIREHOSE_POLICIES,
    *IAM_POLICIES,
    *LAMBDA_POLICIES,
    *LOG_POLICIES,
    *ORCHESTRATION_POLICIES,
    *ALARM_POLICIES,
    *KUBERNETES_POLICIES,
    *EKS_POLICIES,
)

__all__ = ["PACK_NAME", "POLICIES"]
