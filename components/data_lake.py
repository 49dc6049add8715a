"""The data lake: one bucket per role, a Glue database and an Athena workgroup.

`DataLake` (`mlops:storage:DataLake`) creates the access-log bucket first, then the buckets that
hold data, each a `SecureBucket` logging into it:

| role            | holds                                            | lifecycle              |
|-----------------|--------------------------------------------------|------------------------|
| raw             | files as they arrive; the DVC remote (`dvc/`)    | versions kept          |
| curated         | Apache Iceberg tables of the Glue database       | versions kept          |
| features        | the feature store's offline store (Iceberg)      | versions kept          |
| model-artifacts | training outputs, registered model artifacts     | kept, Object Lock      |
| capture         | SageMaker endpoint data capture                  | `dataLake.capture`     |
| reports         | drift and quality reports, Athena query results  | `dataLake.reports`     |
| access-logs     | S3 server access logs of the buckets above       | `accessLogsExpiration…`|

Versioning of datasets: raw files keep every S3 object version (and DVC addresses them by
content); curated datasets are Iceberg tables, so Athena (engine version 3) can read any earlier
snapshot with `FOR TIMESTAMP AS OF` / `FOR VERSION AS OF`. The workgroup enforces its own
settings: results encrypted with the platform key, a per-query bytes-scanned limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.naming import NameKind
from components.platform import PlatformContext
from components.storage import Expiry, SecureBucket, SecureBucketArgs

DATA_ROLES = ("raw", "curated", "features", "model-artifacts", "capture", "reports")
"""The buckets holding data, in creation order."""
LOG_ROLE = "access-logs"
NAME_PARTS = {"model-artifacts": "models", LOG_ROLE: "logs"}
"""Shorter words in bucket names: a bucket prefix has 36 characters for project, stack and role."""
LOG_NONCURRENT_DAYS = 7
"""Expired logs and reports linger this long as noncurrent versions before they are gone."""
ATHENA_ENGINE = "Athena engine version 3"
"""The first Athena engine that reads and writes Iceberg tables with time travel."""
DVC_PREFIX = "dvc"
ATHENA_RESULTS_PREFIX = "athena-results"


@dataclass(frozen=True)
class DataLakeArgs:
    """Inputs of `DataLake`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: default encryption of every data bucket and of Athena results."""
    account_id: pulumi.Input[str]
    """This account: the expected bucket owner, and the only account that may log here."""


class DataLake(pulumi.ComponentResource):
    """The platform's buckets, Glue database and Athena workgroup."""

    buckets: dict[str, SecureBucket]
    """Every bucket by role (`raw`, `curated`, …, `access-logs`)."""
    glue_database_name: pulumi.Output[str]
    """Glue Data Catalog database of the curated Iceberg tables and the feature tables."""
    athena_workgroup_name: pulumi.Output[str]
    """Athena workgroup to query the lake with."""
    dvc_remote: pulumi.Output[dict[str, Any]]
    """DVC S3 remote settings for the raw bucket."""

    def __init__(
        self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:storage:DataLake", name, None, opts)
        ctx = args.context
        lake = ctx.config.data_lake
        self._ctx = ctx
        self._args = args

        logs = self._bucket(
            name,
            LOG_ROLE,
            kms_key_arn=None,
            log_bucket=None,
            noncurrent_expiration_days=LOG_NONCURRENT_DAYS,
            expiry=Expiry(expiration_days=lake.access_logs_expiration_days),
        )
        self.buckets = {LOG_ROLE: logs}
        schedules = {"capture": lake.capture, "reports": lake.reports}
        for role in DATA_ROLES:
            schedule = schedules.get(role)
            self.buckets[role] = self._bucket(
                name,
                role,
                kms_key_arn=args.kms_key_arn,
                log_bucket=logs.bucket_name,
                noncurrent_expiration_days=(
                    LOG_NONCURRENT_DAYS
                    if schedule is not None
                    else lake.noncurrent_version_expiration_days
                ),
                expiry=Expiry(
                    transition_days=schedule.transition_days,
                    storage_class=schedule.storage_class,
                    expiration_days=schedule.expiration_days,
                )
                if schedule is not None
                else Expiry(),
                object_lock_days=(
                    lake.object_lock.retention_days
                    if role == "model-artifacts" and lake.object_lock.enabled
                    else None
                ),
            )

        self._database = self._glue_database(name)
        self._workgroup = self._athena_workgroup(name)
        self.glue_database_name = self._database.name
        self.athena_workgroup_name = self._workgroup.name
        self.dvc_remote = pulumi.Output.all(
            self.buckets["raw"].bucket_name, args.kms_key_arn
        ).apply(lambda values: dvc_remote(values[0], ctx.config.region, values[1]))
        self.register_outputs(
            {
                "buckets": {role: b.bucket_name for role, b in self.buckets.items()},
                "glue_database_name": self.glue_database_name,
                "athena_workgroup_name": self.athena_workgroup_name,
                "dvc_remote": self.dvc_remote,
            }
        )

    def _bucket(
        self,
        name: str,
        role: str,
        *,
        kms_key_arn: pulumi.Input[str] | None,
        log_bucket: pulumi.Input[str] | None,
        noncurrent_expiration_days: int | None,
        expiry: Expiry,
        object_lock_days: int | None = None,
    ) -> SecureBucket:
        lake = self._ctx.config.data_lake
        return SecureBucket(
            f"{name}-{role}",
            SecureBucketArgs(
                context=self._ctx,
                role=role,
                name_part=NAME_PARTS.get(role, role),
                kms_key_arn=kms_key_arn,
                log_bucket=log_bucket,
                abort_incomplete_upload_days=lake.abort_incomplete_upload_days,
                noncurrent_expiration_days=noncurrent_expiration_days,
                expiry=expiry,
                object_lock_days=object_lock_days,
                force_destroy=lake.force_destroy,
                account_id=self._args.account_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _glue_database(self, name: str) -> aws.glue.CatalogDatabase:
        ctx = self._ctx
        curated = self.buckets["curated"].bucket_name
        return aws.glue.CatalogDatabase(
            f"{name}-database",
            name=ctx.naming.physical("lake", NameKind.GLUE_DATABASE),
            description="Curated datasets (Apache Iceberg) and feature-store offline tables.",
            location_uri=pulumi.Output.concat("s3://", curated, "/"),
            opts=ctx.stateful(ctx.child_opts(self)),
        )

    def _athena_workgroup(self, name: str) -> aws.athena.Workgroup:
        ctx = self._ctx
        lake = ctx.config.data_lake
        reports = self.buckets["reports"].bucket_name
        return aws.athena.Workgroup(
            f"{name}-workgroup",
            name=ctx.naming.physical("lake", NameKind.ATHENA_WORKGROUP),
            description="Queries over the data lake; results encrypted with the platform key.",
            state="ENABLED",
            force_destroy=lake.force_destroy,
            configuration=aws.athena.WorkgroupConfigurationArgs(
                # Clients cannot override encryption, location or the scan limit.
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=lake.athena_bytes_scanned_cutoff_mb * 1024 * 1024,
                requester_pays_enabled=False,
                engine_version=aws.athena.WorkgroupConfigurationEngineVersionArgs(
                    selected_engine_version=ATHENA_ENGINE
                ),
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=pulumi.Output.concat(
                        "s3://", reports, f"/{ATHENA_RESULTS_PREFIX}/"
                    ),
                    expected_bucket_owner=self._args.account_id,
                    encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_KMS", kms_key_arn=self._args.kms_key_arn
                    ),
                ),
            ),
            opts=ctx.child_opts(self),
        )


def dvc_remote(bucket: str, region: str, kms_key_arn: str) -> dict[str, Any]:
    """The DVC S3 remote settings for the raw bucket (`dvc remote modify` option names).

    No `acl` option: the bucket has ACLs disabled, and an upload that sets an ACL is refused.
    """
    return {
        "url": f"s3://{bucket}/{DVC_PREFIX}",
        "region": region,
        "sse": "aws:kms",
        "sse_kms_key_id": kms_key_arn,
    }
