"""Which model package version an endpoint serves: pinned in config, or the latest approved.

A pinned version (`modelVersion: 3`) is the default: the version is in the stack file, so a
pull request shows it and its review is the approval to deploy it. `latest-approved` is
resolved here, when the program runs (`pulumi preview` and `pulumi up`), by asking SageMaker
for the newest `Approved` package of the model's group; the resolved number is exported, so
the preview comment of a pull request shows which version an `up` would deploy. The trade-off
is written up in the README ("Model versions").

This is the one place the program reads live AWS state. It uses the credentials and region of
the deployment (the provider's), through boto3, which the Pulumi CLI's Python host provides
from the program's environment. Offline plans therefore need pinned versions, or a reachable
SageMaker API (the tests use moto's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.config import LATEST_APPROVED

APPROVED = "Approved"


class ModelVersionError(RuntimeError):
    """`latest-approved` could not be resolved; the message says why and what to do."""


def package_arn(partition: str, region: str, account_id: str, group: str, version: int) -> str:
    """The ARN of version `version` of model package group `group` (SageMaker lowercases it)."""
    return (
        f"arn:{partition}:sagemaker:{region}:{account_id}:model-package/{group.lower()}/{version}"
    )


def latest_approved(client: Any, group: str) -> int:
    """The newest `Approved` version of `group` (by creation time), from SageMaker."""
    try:
        response = client.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus=APPROVED,
            ModelPackageType="Versioned",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
    except Exception as error:  # botocore's errors are generated classes: report any of them
        raise ModelVersionError(
            f"modelVersion latest-approved: listing the approved versions of model package group "
            f"{group!r} failed ({error}); pin a version (an integer) or give the deployment "
            "sagemaker:ListModelPackages on the group"
        ) from error
    summaries = response.get("ModelPackageSummaryList") or []
    if not summaries:
        raise ModelVersionError(
            f"modelVersion latest-approved: model package group {group!r} has no Approved "
            "version; approve one (sagemaker update-model-package --model-approval-status "
            "Approved) or pin a version (an integer)"
        )
    summary = summaries[0]
    version = summary.get("ModelPackageVersion")
    if not isinstance(version, int):
        arn = str(summary.get("ModelPackageArn", ""))
        tail = arn.rsplit("/", 1)[-1]
        if not tail.isdigit():
            raise ModelVersionError(
                f"modelVersion latest-approved: SageMaker returned a package of {group!r} "
                f"without a version ({arn!r})"
            )
        version = int(tail)
    return version


@dataclass
class VersionResolver:
    """Resolves `modelVersion` values, asking SageMaker at most once per group."""

    client_factory: Callable[[], Any]
    """Builds the SageMaker client (only when a `latest-approved` value is met)."""
    _client: Any = None
    _cache: dict[str, int] | None = None

    def resolve(self, group: str, version: int | str) -> int:
        """The version number: `version` itself when pinned, else the latest approved."""
        if isinstance(version, int):
            return version
        if version != LATEST_APPROVED:
            raise ModelVersionError(
                f"modelVersion {version!r}: accepted: an integer >= 1 or {LATEST_APPROVED!r}"
            )
        if self._cache is None:
            self._cache = {}
        if group not in self._cache:
            if self._client is None:
                self._client = self.client_factory()
            self._cache[group] = latest_approved(self._client, group)
        return self._cache[group]


def boto3_resolver(region: str) -> VersionResolver:
    """A resolver using boto3 with the deployment's credentials, in the stack's region."""

    def factory() -> Any:
        import boto3  # noqa: PLC0415 - only a stack with latest-approved needs it
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "sagemaker",
            region_name=region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5),
        )

    return VersionResolver(factory)
