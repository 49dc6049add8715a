"""SageMaker Feature Store: one feature group per `featureStore.featureGroups` entry.

`FeatureStore` (`mlops:features:FeatureStore`) gives each group:
- an offline store in the data lake's feature bucket under `offline/<group>/`, in Apache Iceberg
  table format, registered as a table of the lake's Glue database, encrypted with the platform
  key;
- an online store encrypted with the platform key, with the declared time to live;
- its own IAM role that SageMaker assumes for this group only, scoped to exactly that bucket
  prefix, that key (through S3 only) and that Glue table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import FeatureGroupSpec
from components.naming import NameKind
from components.platform import PlatformContext

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
OFFLINE_PREFIX = "offline"
GLUE_CATALOG = "AwsDataCatalog"


@dataclass(frozen=True)
class FeatureStoreArgs:
    """Inputs of `FeatureStore`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: online and offline store encryption."""
    bucket_name: pulumi.Input[str]
    """The data lake's feature bucket (offline stores)."""
    glue_database_name: pulumi.Input[str]
    """The lake's Glue database the offline tables are registered in."""
    account_id: pulumi.Input[str]
    """This account (role trust and Glue ARNs)."""


def feature_group_name(ctx: PlatformContext, group: str) -> str:
    """The physical feature group name (project, stack, group)."""
    return ctx.naming.physical(group, NameKind.SAGEMAKER_FEATURE_GROUP)


def glue_table_name(physical_name: str) -> str:
    """Glue table names are lower case with underscores."""
    return physical_name.replace("-", "_")


class FeatureStore(pulumi.ComponentResource):
    """The stack's SageMaker feature groups, each with its own scoped role."""

    feature_group_names: dict[str, str]
    """Physical feature group name by declared name."""
    feature_group_arns: dict[str, pulumi.Output[str]]
    """Feature group ARN by declared name."""

    def __init__(
        self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:features:FeatureStore", name, None, opts)
        self._ctx = args.context
        self._args = args
        self.feature_group_names = {}
        self.feature_group_arns = {}
        for spec in self._ctx.config.feature_store.feature_groups:
            group = self._feature_group(name, spec)
            self.feature_group_names[spec.name] = feature_group_name(self._ctx, spec.name)
            self.feature_group_arns[spec.name] = group.arn
        self.register_outputs(
            {
                "feature_group_names": self.feature_group_names,
                "feature_group_arns": self.feature_group_arns,
            }
        )

    def _feature_group(self, name: str, spec: FeatureGroupSpec) -> aws.sagemaker.FeatureGroup:
        ctx = self._ctx
        args = self._args
        physical = feature_group_name(ctx, spec.name)
        prefix = f"{OFFLINE_PREFIX}/{physical}"
        role, policy = self._role(name, spec, physical, prefix)
        online = (
            aws.sagemaker.FeatureGroupOnlineStoreConfigArgs(
                enable_online_store=True,
                storage_type="Standard",
                security_config=aws.sagemaker.FeatureGroupOnlineStoreConfigSecurityConfigArgs(
                    kms_key_id=args.kms_key_arn
                ),
                ttl_duration=aws.sagemaker.FeatureGroupOnlineStoreConfigTtlDurationArgs(
                    unit="Days", value=spec.online_store.ttl_days
                )
                if spec.online_store.ttl_days is not None
                else None,
            )
            if spec.online_store.enabled
            else None
        )
        offline = (
            aws.sagemaker.FeatureGroupOfflineStoreConfigArgs(
                table_format="Iceberg",
                disable_glue_table_creation=False,
                s3_storage_config=aws.sagemaker.FeatureGroupOfflineStoreConfigS3StorageConfigArgs(
                    s3_uri=pulumi.Output.concat("s3://", args.bucket_name, f"/{prefix}"),
                    kms_key_id=args.kms_key_arn,
                ),
                data_catalog_config=aws.sagemaker.FeatureGroupOfflineStoreConfigDataCatalogConfigArgs(
                    catalog=GLUE_CATALOG,
                    database=args.glue_database_name,
                    table_name=glue_table_name(physical),
                ),
            )
            if spec.offline_store.enabled
            else None
        )
        return aws.sagemaker.FeatureGroup(
            f"{name}-{spec.name}",
            feature_group_name=physical,
            description=spec.description or None,
            record_identifier_feature_name=spec.record_identifier,
            event_time_feature_name=spec.event_time,
            feature_definitions=[
                aws.sagemaker.FeatureGroupFeatureDefinitionArgs(
                    feature_name=f.name, feature_type=f.type
                )
                for f in spec.features
            ],
            role_arn=role.arn,
            online_store_config=online,
            offline_store_config=offline,
            # SageMaker checks the role's permissions when the group is created.
            opts=ctx.stateful(ctx.child_opts(self, pulumi.ResourceOptions(depends_on=[policy]))),
        )

    def _role(
        self, name: str, spec: FeatureGroupSpec, physical: str, prefix: str
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        ctx = self._ctx
        args = self._args
        part, region = ctx.partition, ctx.config.region
        role = ctx.service_role(
            f"{name}-{spec.name}-role",
            role_name=ctx.naming.physical(f"fs-{spec.name}", NameKind.IAM_ROLE),
            description=f"SageMaker offline store of feature group {physical}",
            service=SAGEMAKER_SERVICE,
            parent=self,
            source_arn=pulumi.Output.from_input(args.account_id).apply(
                lambda account: f"arn:{part}:sagemaker:{region}:{account}:feature-group/{physical}"
            ),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-{spec.name}-access",
            role=role.id,
            policy=pulumi.Output.all(
                args.bucket_name, args.kms_key_arn, args.glue_database_name, args.account_id
            ).apply(
                lambda values: offline_store_policy(
                    partition=part,
                    region=region,
                    account_id=values[3],
                    bucket=values[0],
                    prefix=prefix,
                    kms_key_arn=values[1],
                    database=values[2],
                    table=glue_table_name(physical),
                )
            ),
            opts=ctx.child_opts(self),
        )
        return role, policy


def offline_store_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    bucket: str,
    prefix: str,
    kms_key_arn: str,
    database: str,
    table: str,
) -> str:
    """What SageMaker needs to write one group's offline store, and nothing more."""
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    glue = f"arn:{partition}:glue:{region}:{account_id}"
    return iam.document(
        iam.allow(
            "ReadWriteOwnPrefix",
            ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            [f"{bucket_arn}/{prefix}/*"],
        ),
        iam.allow(
            "ListOwnPrefix",
            ["s3:ListBucket"],
            [bucket_arn],
            Condition={"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
        ),
        # Feature Store checks the bucket's ownership settings before writing.
        iam.allow("ReadBucketOwnership", ["s3:GetBucketAcl"], [bucket_arn]),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        iam.allow(
            "CommitOwnIcebergTable",
            ["glue:GetTable", "glue:UpdateTable"],
            [f"{glue}:catalog", f"{glue}:database/{database}", f"{glue}:table/{database}/{table}"],
        ),
    )
