"""One S3 bucket with every control the platform demands, as a component.

`SecureBucket` (`mlops:storage:SecureBucket`) is a bucket plus its companions: all four public
access block flags, ACLs disabled (BucketOwnerEnforced), a TLS-only bucket policy, default
encryption with the platform key (bucket key on), versioning, server access logging to the log
bucket, lifecycle rules and, where asked, governance-mode Object Lock. The policy pack
(`policy/mlops_policies/s3.py`) checks each of these on every bucket of a plan.

The access-log bucket is the one exception to SSE-KMS: S3 server access logging cannot deliver
to a bucket whose default encryption is SSE-KMS, so that bucket uses SSE-S3 (AES256), does not
log to itself, and grants the S3 logging service `PutObject` for this account's buckets only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam
from components.naming import NameKind
from components.platform import PlatformContext

ROLE_TAG = "mlops:bucket-role"
"""Tag naming what a bucket holds; the policy pack reads it (e.g. model-artifacts)."""

LOGGING_SERVICE = "logging.s3.amazonaws.com"


@dataclass(frozen=True)
class Expiry:
    """A lifecycle schedule for the whole bucket: move, then expire."""

    transition_days: int | None = None
    """Days before the move to `storage_class`; None keeps objects where they are."""
    storage_class: str = "STANDARD_IA"
    """Storage class of the move."""
    expiration_days: int | None = None
    """Days before current versions expire; None never."""


@dataclass(frozen=True)
class SecureBucketArgs:
    """Inputs of `SecureBucket`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    role: str
    """What the bucket holds (raw, curated, …): its `mlops:bucket-role` tag."""
    name_part: str
    """The bucket name's part after project and stack (the role, or a shorter word for it)."""
    account_id: pulumi.Input[str]
    """This account: the only one whose buckets may deliver access logs to the log bucket."""
    kms_key_arn: pulumi.Input[str] | None
    """Key for default encryption; None only for the access-log bucket (SSE-S3, see above)."""
    log_bucket: pulumi.Input[str] | None
    """Bucket receiving this bucket's access logs; None only for the log bucket itself."""
    abort_incomplete_upload_days: int
    """Days before an unfinished multipart upload is aborted."""
    noncurrent_expiration_days: int | None = None
    """Days a replaced version is kept; None keeps every version."""
    expiry: Expiry = field(default_factory=Expiry)
    """Transition and expiration of current versions."""
    object_lock_days: int | None = None
    """Governance-mode default retention in days; None leaves Object Lock off."""
    force_destroy: bool = False
    """Let a destroy empty the bucket (dev only; the config refuses it elsewhere)."""


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket with public access blocked, TLS only, KMS, versioning, logs, lifecycle."""

    bucket_name: pulumi.Output[str]
    """The bucket's name (prefix from project, stack and role, plus a unique suffix)."""
    bucket_arn: pulumi.Output[str]
    """The bucket's ARN."""

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:storage:SecureBucket", name, None, opts)
        self._ctx = args.context
        self._args = args
        self.bucket = self._bucket(name)
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self._access_controls(name)
        self._encryption(name)
        self._versioning_and_lock(name)
        self._logging(name)
        self._lifecycle(name)
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return self._ctx.child_opts(self, pulumi.ResourceOptions(depends_on=depends_on))

    def _bucket(self, name: str) -> aws.s3.Bucket:
        args = self._args
        prefix = self._ctx.naming.physical(args.name_part, NameKind.S3_BUCKET_PREFIX)
        return aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=f"{prefix}-",
            force_destroy=args.force_destroy,
            # Object Lock can only be switched on when the bucket is created.
            object_lock_enabled=args.object_lock_days is not None,
            tags={ROLE_TAG: args.role},
            opts=self._ctx.stateful(self._child()),
        )

    def _access_controls(self, name: str) -> None:
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child(),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._child(),
        )
        policy = pulumi.Output.all(self.bucket.arn, self._args.account_id).apply(
            lambda values: self._policy(values[0], values[1])
        )
        # After the public access block, so no window exists in which a policy could be public.
        aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.bucket, policy=policy, opts=self._child([block])
        )

    def _policy(self, arn: str, account_id: str) -> str:
        resources = [arn, f"{arn}/*"]
        statements = [iam.deny_insecure_transport(resources), iam.deny_old_tls(resources)]
        if self._args.log_bucket is None:
            statements.append(
                {
                    "Sid": "S3ServerAccessLogsFromThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": LOGGING_SERVICE},
                    "Action": "s3:PutObject",
                    "Resource": f"{arn}/*",
                    # Any bucket of this account may deliver here; none of another account.
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            )
        return iam.document(*statements)

    def _encryption(self, name: str) -> None:
        key = self._args.kms_key_arn
        by_default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        )
        default = (
            by_default(sse_algorithm="aws:kms", kms_master_key_id=key)
            if key is not None
            else by_default(sse_algorithm="AES256")
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    # One data key per bucket instead of per object: far fewer KMS calls.
                    bucket_key_enabled=key is not None,
                )
            ],
            opts=self._child(),
        )

    def _versioning_and_lock(self, name: str) -> None:
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=self._child(),
        )
        days = self._args.object_lock_days
        if days is None:
            return
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=self.bucket.bucket,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    # Governance: a principal with s3:BypassGovernanceRetention can still
                    # remove a version deliberately; compliance mode could never be undone.
                    mode="GOVERNANCE",
                    days=days,
                )
            ),
            opts=self._child([versioning]),
        )

    def _logging(self, name: str) -> None:
        target = self._args.log_bucket
        if target is None:
            return  # the log bucket does not log into itself (every delivery would log again)
        aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=self.bucket.bucket,
            target_bucket=target,
            target_prefix=f"{self._args.role}/",
            # Date-partitioned keys, so Athena can prune a day's logs.
            target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                )
            ),
            opts=self._child(),
        )

    def _lifecycle(self, name: str) -> None:
        args = self._args
        rule = aws.s3.BucketLifecycleConfigurationRuleArgs
        rules = [
            rule(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=args.abort_incomplete_upload_days
                ),
            )
        ]
        expiry = args.expiry
        if expiry.transition_days is not None or expiry.expiration_days is not None:
            rules.append(
                rule(
                    id="current-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=expiry.transition_days, storage_class=expiry.storage_class
                        )
                    ]
                    if expiry.transition_days is not None
                    else None,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=expiry.expiration_days
                    )
                    if expiry.expiration_days is not None
                    else None,
                )
            )
        if args.noncurrent_expiration_days is not None:
            rules.append(
                rule(
                    id="noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_expiration_days
                    ),
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=self.bucket.bucket, rules=rules, opts=self._child()
        )
