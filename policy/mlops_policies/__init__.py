"""Every policy of the pack, in one list, importable without starting a policy server."""

from pulumi_policy import ResourceValidationPolicy

from .kms import KMS_POLICIES
from .provider import PROVIDER_POLICIES
from .tags import TAG_POLICIES

PACK_NAME = "mlops-platform-controls"

POLICIES: tuple[ResourceValidationPolicy, ...] = (
    *KMS_POLICIES,
    *TAG_POLICIES,
    *PROVIDER_POLICIES,
)

__all__ = ["PACK_NAME", "POLICIES"]
