"""The model registry: a model package group and an image repository per model, and approvals.

`ModelRegistry` (`mlops:registry:ModelRegistry`) creates, for each model in
`modelRegistry.models`, a SageMaker model package group and an ECR repository (scan on push,
immutable tags, KMS, a lifecycle keeping the newest `keepImages` images). Model artifacts live
in the data lake's model-artifact bucket under `models/<model>/` (`artifact_uris`).

Approval workflow: `initial_approval_status` is what new versions are registered with —
`PendingManualApproval` when `approval` is `manual` (required in staging and prod), `Approved`
otherwise. An EventBridge rule on "SageMaker Model Package State Change" for these groups
forwards approvals and rejections to the platform topic; later capabilities (deployment) attach
more targets to the same rule (`approval_rule_name`).

Optional cross-account read: with `promotionAccountId` set, each group gets a resource policy
letting that account describe and list its versions (metadata only; see the README for what a
promotion account further needs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.naming import NameKind
from components.notifications import EventRoute, EventRouteArgs
from components.platform import PlatformContext

STATE_CHANGE = "SageMaker Model Package State Change"
DECISIONS = ("Approved", "Rejected")
UNTAGGED_IMAGE_DAYS = 7
ARTIFACT_PREFIX = "models"
READ_ACTIONS = (
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
)


def initial_approval_status(approval: str) -> str:
    """The ModelApprovalStatus new versions are registered with."""
    return "PendingManualApproval" if approval == "manual" else "Approved"


@dataclass(frozen=True)
class ModelRegistryArgs:
    """Inputs of `ModelRegistry`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: ECR image encryption and the dead-letter queue."""
    topic_arn: pulumi.Input[str]
    """The platform topic receiving approval decisions."""
    account_id: pulumi.Input[str]
    """This account (ARNs in the promotion policy)."""
    artifact_bucket_name: pulumi.Input[str]
    """The data lake's model-artifact bucket; each model's artifacts go under `models/<model>/`."""


class ModelRegistry(pulumi.ComponentResource):
    """Model package groups, ECR repositories and the approval-event route."""

    group_names: dict[str, str]
    """Model package group name by model."""
    repository_urls: dict[str, pulumi.Output[str]]
    """ECR repository URL by model."""
    artifact_uris: dict[str, pulumi.Output[str]]
    """S3 prefix for each model's artifacts in the model-artifact bucket."""
    approval_rule_name: pulumi.Output[str]
    """The EventBridge rule matching approval decisions (the hook for deployment)."""
    initial_approval_status: str
    """Status new model versions are registered with."""

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:registry:ModelRegistry", name, None, opts)
        self._ctx = args.context
        self._args = args
        registry = self._ctx.config.model_registry
        self.initial_approval_status = initial_approval_status(registry.approval)
        self.group_names = {}
        self.repository_urls = {}
        self.artifact_uris = {}
        for model in registry.models:
            self.artifact_uris[model.name] = pulumi.Output.concat(
                "s3://", args.artifact_bucket_name, f"/{ARTIFACT_PREFIX}/{model.name}/"
            )
            group = self._group(name, model.name, model.description)
            self.group_names[model.name] = model_group_name(self._ctx, model.name)
            self.repository_urls[model.name] = self._repository(name, model.name).repository_url
            if registry.promotion_account_id is not None:
                self._promotion_policy(name, model.name, group, registry.promotion_account_id)
        self._route = EventRoute(
            f"{name}-approvals",
            EventRouteArgs(
                context=self._ctx,
                description="Model package approvals and rejections of this stack's models.",
                event_pattern=approval_event_pattern(sorted(self.group_names.values())),
                target_arn=args.topic_arn,
                kms_key_arn=args.kms_key_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.approval_rule_name = self._route.rule_name
        self.register_outputs(
            {
                "group_names": self.group_names,
                "repository_urls": self.repository_urls,
                "artifact_uris": self.artifact_uris,
                "approval_rule_name": self.approval_rule_name,
                "initial_approval_status": self.initial_approval_status,
            }
        )

    def _group(self, name: str, model: str, description: str) -> aws.sagemaker.ModelPackageGroup:
        ctx = self._ctx
        return aws.sagemaker.ModelPackageGroup(
            f"{name}-{model}-group",
            model_package_group_name=model_group_name(ctx, model),
            model_package_group_description=description or f"Versions of the {model} model.",
            opts=ctx.stateful(ctx.child_opts(self)),
        )

    def _repository(self, name: str, model: str) -> aws.ecr.Repository:
        ctx = self._ctx
        repository = aws.ecr.Repository(
            f"{name}-{model}-images",
            name=ctx.naming.physical(model, NameKind.ECR_REPOSITORY),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=self._args.kms_key_arn
                )
            ],
            force_delete=ctx.config.data_lake.force_destroy,
            opts=ctx.stateful(ctx.child_opts(self)),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-{model}-images-lifecycle",
            repository=repository.name,
            policy=image_lifecycle_policy(ctx.config.model_registry.keep_images),
            opts=ctx.child_opts(self),
        )
        return repository

    def _promotion_policy(
        self,
        name: str,
        model: str,
        group: aws.sagemaker.ModelPackageGroup,
        promotion_account: str,
    ) -> None:
        ctx = self._ctx
        group_name = model_group_name(ctx, model)
        policy = pulumi.Output.all(group.arn, self._args.account_id).apply(
            lambda values: promotion_policy(
                values[0],
                group_name,
                account_id=values[1],
                promotion_account=promotion_account,
                partition=ctx.partition,
                region=ctx.config.region,
            )
        )
        aws.sagemaker.ModelPackageGroupPolicy(
            f"{name}-{model}-promotion",
            model_package_group_name=group.model_package_group_name,
            resource_policy=policy,
            opts=ctx.child_opts(self),
        )


def model_group_name(ctx: PlatformContext, model: str) -> str:
    """The physical model package group name of a model."""
    return ctx.naming.physical(model, NameKind.SAGEMAKER)


def approval_event_pattern(group_names: list[str]) -> dict[str, object]:
    """Approval decisions (not registrations of pending versions) of the given groups."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [STATE_CHANGE],
        "detail": {
            "ModelPackageGroupName": group_names,
            "ModelApprovalStatus": list(DECISIONS),
        },
    }


def image_lifecycle_policy(keep: int) -> str:
    """Expire untagged layers after a week; keep the newest `keep` images of any tag."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_IMAGE_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the newest {keep} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


def promotion_policy(
    group_arn: str,
    group_name: str,
    *,
    account_id: str,
    promotion_account: str,
    partition: str,
    region: str,
) -> str:
    """Read-only access to a group's versions for the promotion account."""
    packages = f"arn:{partition}:sagemaker:{region}:{account_id}:model-package/{group_name}/*"
    return iam.document(
        {
            "Sid": "PromotionAccountReadsVersions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{promotion_account}:root"},
            "Action": list(READ_ACTIONS),
            "Resource": [group_arn, packages],
        }
    )
