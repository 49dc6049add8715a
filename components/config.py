"""The platform's one typed configuration model, read once from the stack and validated once.

Every stack file (`stacks/Pulumi.<stack>.yaml`) is an override of the defaults declared here.
Keys live in the `mlops-platform:` namespace; scalar keys are plain strings in Pulumi's config
map and structured sections are objects (Pulumi hands them to the program as JSON text).

`load_platform_config` turns that raw map into a frozen `PlatformConfig` or raises
`ConfigError` carrying one `ConfigProblem` per problem, each naming the stack file, the key path,
the bad value and what would be accepted. It runs before any resource is registered.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from components import sagemaker_catalog

PROJECT = "mlops-platform"
"""The Pulumi project name, and the namespace of every platform config key."""

ALLOWED_FOREIGN_NAMESPACES = ("pulumi",)
"""Config namespaces other than the project's that a stack file may use."""

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy)."""


def _exact_int(value: object) -> object:
    """A choice among integers takes an integer: not `true` (which equals 1) nor `60.0`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {type(value).__name__}")
    return value


LogRetentionDays = Annotated[
    Literal[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ],
    BeforeValidator(_exact_int),
]  # fmt: skip

EnvironmentName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,9}$")]
Region = Annotated[
    str, Field(pattern=r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob)-[a-z]+-\d$")
]
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
TagValue = Annotated[str, Field(pattern=r"^[\w .:/=+\-@]+$", max_length=256)]
TagKey = Annotated[str, Field(pattern=r"^[\w.:/=+\-@][\w .:/=+\-@]*$", max_length=128)]
VpcId = Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
SecurityGroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
SageMakerInstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
EndpointName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
ScheduleExpression = Annotated[
    str,
    Field(
        pattern=r"^(rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)"
        r"|cron\(\S+ \S+ \S+ \S+ \S+ \S+\))$"
    ),
]


class _Section(BaseModel):
    """Base of every config section: camelCase keys, unknown keys rejected, no coercion."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )


class Tags(_Section):
    """Cost-allocation and ownership tags put on every AWS resource by the provider."""

    cost_center: TagValue = Field(description="CostCenter tag: the budget that pays.")
    owner: TagValue = Field(description="Owner tag: the team or person accountable.")
    extra: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        description="More default tags; may not redefine the platform's own tag keys.",
    )


class Network(_Section):
    """An existing VPC the platform places its network-attached resources in."""

    vpc_id: VpcId = Field(description="VPC id, `vpc-…`.")
    subnet_ids: Annotated[list[SubnetId], MinLen(2), MaxLen(16)] = Field(
        description="Private subnet ids in at least two availability zones."
    )
    security_group_ids: Annotated[list[SecurityGroupId], MaxLen(5)] = Field(
        default_factory=list, description="Extra security groups for SageMaker jobs and endpoints."
    )


class Protection(_Section):
    """How stateful resources (keys, buckets, tables, registries) survive mistakes."""

    protect_stateful: bool = Field(
        default=False, description="Pulumi `protect`: deleting a stateful resource is an error."
    )
    retain_on_delete: bool = Field(
        default=False,
        description="Pulumi `retainOnDelete`: a deleted stateful resource stays in the account.",
    )


class Kms(_Section):
    """The platform's customer-managed KMS key."""

    deletion_window_days: Annotated[int, Ge(7), Le(30)] = Field(
        default=30, description="Waiting period before a scheduled key deletion completes."
    )
    rotation_period_days: Annotated[int, Ge(90), Le(2560)] = Field(
        default=365, description="Automatic key-material rotation period."
    )


class Logging(_Section):
    """CloudWatch Logs settings shared by every log group the platform creates."""

    retention_days: LogRetentionDays = Field(
        default=30, description="Retention of every platform log group (a CloudWatch value)."
    )


class ObjectLock(_Section):
    """S3 Object Lock on the model-artifact bucket."""

    enabled: bool = Field(default=False, description="Governance-mode Object Lock on.")
    retention_days: Annotated[int, Ge(1), Le(3650)] = Field(
        default=30, description="Default retention of each locked object version."
    )


StorageClass = Literal["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"]
IA_MINIMUM_DAYS = 30
"""S3 refuses a lifecycle transition to an infrequent-access class before 30 days."""


class StorageSchedule(_Section):
    """When objects under a lifecycle move to a cheaper storage class, and when they expire."""

    transition_days: Annotated[int, Ge(1), Le(3650)] = Field(
        default=30, description="Days after creation before the move to `storageClass`."
    )
    storage_class: StorageClass = Field(
        default="STANDARD_IA", description="The cheaper S3 storage class objects move to."
    )
    expiration_days: Annotated[int, Ge(2), Le(3650)] = Field(
        default=90, description="Days after creation before objects expire (after the move)."
    )


class DataLake(_Section):
    """Versioned data storage: the buckets, the Glue catalog and the Athena workgroup."""

    enabled: bool = Field(default=False, description="Create the data-lake buckets.")
    force_destroy: bool = Field(
        default=False,
        description="Let `pulumi destroy` empty and delete the buckets (dev tier only).",
    )
    abort_incomplete_upload_days: Annotated[int, Ge(1), Le(30)] = Field(
        default=7, description="Days before an unfinished multipart upload is aborted."
    )
    noncurrent_version_expiration_days: Annotated[int, Ge(1), Le(3650)] | None = Field(
        default=None,
        description="Days a replaced object version is kept; unset keeps every version.",
    )
    capture: StorageSchedule = Field(
        default_factory=lambda: StorageSchedule(
            transition_days=30, storage_class="STANDARD_IA", expiration_days=90
        ),
        description="Lifecycle of captured inference data.",
    )
    reports: StorageSchedule = Field(
        default_factory=lambda: StorageSchedule(
            transition_days=30, storage_class="GLACIER_IR", expiration_days=365
        ),
        description="Lifecycle of drift and quality reports and Athena results.",
    )
    access_logs_expiration_days: Annotated[int, Ge(1), Le(3650)] = Field(
        default=365, description="Days S3 server access logs are kept."
    )
    object_lock: ObjectLock = Field(
        default_factory=ObjectLock, description="Object Lock on the model-artifact bucket."
    )
    athena_bytes_scanned_cutoff_mb: Annotated[int, Ge(10), Le(10_000_000)] = Field(
        default=10_240, description="Athena stops a query that would scan more than this."
    )


FeatureName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$", max_length=64)]
FeatureGroupName = Annotated[str, Field(pattern=r"^[a-z0-9](-*[a-z0-9])*$", max_length=63)]
RESERVED_FEATURE_NAMES = ("is_deleted", "write_time", "api_invocation_time")
"""Column names SageMaker adds to every offline-store table itself."""
RECORD_IDENTIFIER_TYPES = ("String", "Integral")
EVENT_TIME_TYPES = ("String", "Fractional")


class Feature(_Section):
    """One feature (column) of a feature group."""

    name: FeatureName = Field(description="Feature name (letters, digits, `-`, `_`).")
    type: Literal["Integral", "Fractional", "String"] = Field(description="SageMaker feature type.")


class OnlineStore(_Section):
    """The low-latency store of a feature group (latest record per identifier)."""

    enabled: bool = Field(default=True, description="Create the online store.")
    ttl_days: Annotated[int, Ge(1), Le(3650)] | None = Field(
        default=None, description="Records expire this many days after their event time."
    )


class OfflineStore(_Section):
    """The historical store of a feature group (Iceberg table in the feature bucket)."""

    enabled: bool = Field(default=True, description="Create the offline store.")


class FeatureGroupSpec(_Section):
    """A feature group declared in stack config."""

    name: FeatureGroupName = Field(description="Feature group name (lower case, digits, `-`).")
    description: Annotated[str, MaxLen(128)] = Field(default="", description="Free text.")
    record_identifier: FeatureName = Field(
        description="The feature whose value identifies a record (String or Integral)."
    )
    event_time: FeatureName = Field(
        description="The feature holding the event time (String ISO-8601 or Fractional epoch)."
    )
    features: Annotated[list[Feature], MinLen(2), MaxLen(2500)] = Field(
        description="Every feature, including the record identifier and event time."
    )
    online_store: OnlineStore = Field(default_factory=OnlineStore, description="Online store.")
    offline_store: OfflineStore = Field(default_factory=OfflineStore, description="Offline store.")


class FeatureStore(_Section):
    """SageMaker Feature Store: the feature groups of this stack."""

    enabled: bool = Field(default=False, description="Create the declared feature groups.")
    feature_groups: Annotated[list[FeatureGroupSpec], MaxLen(100)] = Field(
        default_factory=list, description="The feature groups."
    )


ModelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=40)]


class ModelSpec(_Section):
    """A model the registry tracks: one model package group and one ECR repository."""

    name: ModelName = Field(description="Model name (lower case, digits, single `-`).")
    description: Annotated[str, MaxLen(1024)] = Field(default="", description="Free text.")
    latency_objective_p99_ms: Annotated[int, Ge(1), Le(600_000)] | None = Field(
        default=None,
        description="p99 model latency objective: an alarm on every endpoint serving the "
        "model (SageMaker: CloudWatch; Kubernetes: its Prometheus rule); none by default.",
    )


class ModelRegistry(_Section):
    """Model registry, image repositories and the approval workflow."""

    enabled: bool = Field(default=False, description="Create the model package groups.")
    approval: Literal["manual", "auto"] = Field(
        default="manual",
        description="New model versions wait for a person (`manual`) or are approved (`auto`).",
    )
    models: Annotated[list[ModelSpec], MaxLen(50)] = Field(
        default_factory=list, description="The models of this stack."
    )
    keep_images: Annotated[int, Ge(1), Le(1000)] = Field(
        default=30, description="ECR keeps this many most recent images per model."
    )
    promotion_account_id: AccountId | None = Field(
        default=None,
        description="Account allowed to read the registry (cross-account promotion); none.",
    )


class TrainingMetric(_Section):
    """The evaluation metric a new version must reach before it is registered."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")] = Field(
        default="auc", description="Key of the metric in the evaluation step's evaluation.json."
    )
    threshold: float = Field(description="The value the metric is compared with.")
    comparison: Literal["gte", "lte"] = Field(
        default="gte", description="`gte`: metric >= threshold passes; `lte`: metric <= it."
    )


class Column(_Section):
    """A column of a model's training data."""

    name: FeatureName = Field(description="Column name in the training data.")
    type: Literal["numeric", "categorical"] = Field(description="How the column is profiled.")


HyperparameterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,256}$")]
ScheduleTimezone = Annotated[str, Field(pattern=r"^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$")]


class PipelineSchedule(_Section):
    """When a pipeline runs on its own (EventBridge Scheduler)."""

    expression: ScheduleExpression = Field(
        description="Scheduler expression: rate(...) or cron(...)."
    )
    timezone: ScheduleTimezone = Field(
        default="UTC", description="IANA time zone of the expression."
    )
    flexible_window_minutes: Annotated[int, Ge(1), Le(1440)] | None = Field(
        default=None,
        description="Scheduler may start the run this many minutes late; off when unset.",
    )


class BatchTransform(_Section):
    """A scheduled batch-transform pipeline scoring a dataset with the latest approved version."""

    enabled: bool = Field(default=False, description="Create the batch-transform pipeline.")
    schedule: PipelineSchedule | None = Field(
        default=None, description="Its schedule; none when unset."
    )
    instance_type: SageMakerInstanceType = Field(
        default="ml.m5.xlarge", description="Transform instance type."
    )
    instance_count: Annotated[int, Ge(1), Le(100)] = Field(
        default=1, description="Transform instances."
    )


class TrainingPipelineSpec(_Section):
    """One model's training pipeline."""

    model: ModelName = Field(description="The registry model the pipeline registers versions of.")
    framework: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")] = Field(
        description="SageMaker framework image (sklearn, xgboost, pytorch, …), or `custom` "
        "for the model's own ECR repository."
    )
    framework_version: Annotated[str, Field(pattern=r"^[0-9][0-9A-Za-z.\-]{0,20}$")] | None = Field(
        default=None, description="Framework version (required unless framework is custom)."
    )
    py_version: Annotated[str, Field(pattern=r"^py[0-9]{1,3}$")] | None = Field(
        default=None, description="Python version of the framework image, e.g. py3."
    )
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] = Field(
        default="latest-approved", description="Tag of the model's ECR image (framework custom)."
    )
    entry_point: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]+\.py$")] = Field(
        default="train.py",
        description="Training script, in `pipelines/<model>/` of this repository.",
    )
    hyperparameters: Annotated[
        dict[
            Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,256}$")], Annotated[str, MaxLen(2500)]
        ],
        MaxLen(100),
    ] = Field(default_factory=dict, description="Hyperparameters passed to the training job.")
    target: FeatureName = Field(description="The label column.")
    columns: Annotated[list[Column], MinLen(1), MaxLen(2500)] = Field(
        description="The input columns, in order: validated, and profiled into the drift baseline."
    )
    metric: TrainingMetric = Field(description="The metric gate before registration.")
    instance_type: SageMakerInstanceType | None = Field(
        default=None, description="Overrides training.instanceType."
    )
    instance_count: Annotated[int, Ge(1), Le(100)] | None = Field(
        default=None, description="Overrides training.instanceCount (above 1: distributed)."
    )
    spot: bool | None = Field(default=None, description="Overrides training.spot.")
    max_runtime_hours: Annotated[int, Ge(1), Le(672)] | None = Field(
        default=None, description="Overrides training.maxRuntimeHours."
    )
    max_wait_hours: Annotated[int, Ge(1), Le(672)] | None = Field(
        default=None, description="Overrides training.maxWaitHours."
    )
    schedule: PipelineSchedule | None = Field(default=None, description="Retrain on a schedule.")
    batch_transform: BatchTransform = Field(
        default_factory=BatchTransform, description="Scheduled batch scoring."
    )


class Mlflow(_Section):
    """A SageMaker managed MLflow tracking server for the stack's training runs."""

    enabled: bool = Field(default=False, description="Create the tracking server.")
    size: Literal["Small", "Medium", "Large"] = Field(default="Small", description="Server size.")


class Training(_Section):
    """SageMaker training pipelines: one per model, built with the sagemaker SDK."""

    enabled: bool = Field(default=False, description="Create a training pipeline per model.")
    instance_type: SageMakerInstanceType = Field(
        default="ml.m5.xlarge", description="Training instance type."
    )
    instance_count: Annotated[int, Ge(1), Le(100)] = Field(
        default=1, description="Training instances per job."
    )
    spot: bool = Field(default=True, description="Managed Spot training with checkpoints.")
    max_runtime_hours: Annotated[int, Ge(1), Le(672)] = Field(
        default=24, description="Hard stop for one training job."
    )
    max_wait_hours: Annotated[int, Ge(1), Le(672)] = Field(
        default=48, description="Spot: longest wait for capacity plus run (>= maxRuntimeHours)."
    )
    volume_size_gb: Annotated[int, Ge(1), Le(16384)] = Field(
        default=30, description="Storage volume of each training instance."
    )
    processing_instance_type: SageMakerInstanceType = Field(
        default="ml.m5.large", description="Instance type of the validation and evaluation steps."
    )
    mlflow: Mlflow = Field(default_factory=Mlflow, description="Experiment tracking.")
    pipelines: Annotated[list[TrainingPipelineSpec], MaxLen(50)] = Field(
        default_factory=list, description="The models' training pipelines."
    )


SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
"""The memory sizes SageMaker serverless inference offers."""

ServerlessMemoryMb = Annotated[
    Literal[1024, 2048, 3072, 4096, 5120, 6144], BeforeValidator(_exact_int)
]

LATEST_APPROVED = "latest-approved"
"""The `modelVersion` resolved when the program runs: the newest approved model package."""


@dataclass(frozen=True)
class Accepts:
    """`Annotated` metadata: what a field accepts, in words (for types a union describes badly)."""

    text: str


def _model_version(value: object) -> int | str:
    if value == LATEST_APPROVED or (
        isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ):
        return value
    raise PydanticCustomError(
        "model_version", "not a model package version nor the literal latest-approved"
    )


ModelVersion = Annotated[
    int | str,
    PlainValidator(_model_version),
    Accepts(f'an integer >= 1 (a pinned model package version) or "{LATEST_APPROVED}"'),
]


class ServerlessSpec(_Section):
    """A serverless endpoint's capacity."""

    memory_mb: ServerlessMemoryMb = Field(default=2048, description="Memory of the endpoint.")
    max_concurrency: Annotated[int, Ge(1), Le(200)] = Field(
        default=5, description="Most invocations served at once."
    )
    provisioned_concurrency: Annotated[int, Ge(1), Le(200)] | None = Field(
        default=None,
        description="Warm capacity (<= maxConcurrency); none when unset (cold starts).",
    )


class RealtimeSpec(_Section):
    """A real-time endpoint's instances and autoscaling."""

    instance_type: SageMakerInstanceType | None = Field(
        default=None, description="Instance type; inference.instanceType when unset."
    )
    min_instances: Annotated[int, Ge(1), Le(100)] | None = Field(
        default=None, description="Autoscaling floor; inference.minInstances when unset."
    )
    max_instances: Annotated[int, Ge(1), Le(100)] | None = Field(
        default=None, description="Autoscaling ceiling; inference.maxInstances when unset."
    )
    target_invocations_per_instance: Annotated[int, Ge(1), Le(100_000)] = Field(
        default=200, description="Target tracking: invocations per instance per minute."
    )


@dataclass(frozen=True)
class Realtime:
    """A real-time endpoint's settings with the stack-wide defaults filled in."""

    instance_type: str
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int


class Rollout(_Section):
    """How a new endpoint configuration takes the traffic (SageMaker deployment guardrails)."""

    type: Literal["canary", "linear", "all-at-once"] = Field(
        default="canary", description="Blue/green traffic shifting."
    )
    canary_percent: Annotated[int, Ge(1), Le(100)] = Field(
        default=10, description="Canary: share of traffic shifted first (at most 50)."
    )
    linear_step_percent: Annotated[int, Ge(1), Le(100)] = Field(
        default=20, description="Linear: share of traffic shifted per step (at most 50)."
    )
    wait_interval_seconds: Annotated[int, Ge(0), Le(3600)] = Field(
        default=300, description="Wait between traffic shifts, watching the alarms."
    )
    termination_wait_seconds: Annotated[int, Ge(0), Le(3600)] = Field(
        default=300, description="The old fleet is kept this long after the shift."
    )
    auto_rollback: bool = Field(
        default=True, description="Roll back when the endpoint's alarms fire."
    )


class Shadow(_Section):
    """A shadow variant: a second model version served a copy of the traffic."""

    model_version: ModelVersion = Field(description="Model package version of the shadow.")
    sampling_percent: Annotated[int, Ge(1), Le(100)] = Field(
        default=100, description="Share of requests copied to the shadow."
    )


class Capture(_Section):
    """Data capture of an endpoint's requests and responses to the capture bucket."""

    sampling_percent: Annotated[int, Ge(0), Le(100)] = Field(
        default=100, description="Share of requests captured."
    )


class EndpointAlarms(_Section):
    """The endpoint's CloudWatch alarms: they roll a real-time rollout back, and page."""

    max_5xx_percent: Annotated[float, Gt(0), Le(100)] = Field(
        default=1.0,
        alias="max5xxPercent",
        description="Alarm when more than this share of invocations fail with a 5xx error.",
    )
    max_model_latency_ms: Annotated[int, Ge(1), Le(3_600_000)] = Field(
        default=1000, description="Alarm when the model's p99 latency exceeds this."
    )
    max_model_errors: Annotated[int, Ge(1), Le(1_000_000)] = Field(
        default=5, description="Alarm when the model returns more errors than this per period."
    )
    period_seconds: Annotated[Literal[60, 120, 300, 600, 900], BeforeValidator(_exact_int)] = Field(
        default=60,
        description="Length of each evaluated period (SageMaker's metrics are per minute).",
    )
    evaluation_periods: Annotated[int, Ge(1), Le(10)] = Field(
        default=2, description="Consecutive breaching periods before an alarm fires."
    )


class EndpointSpec(_Section):
    """A SageMaker endpoint declared in stack config."""

    name: EndpointName = Field(
        description="Endpoint name; the physical name is `mlops-platform-<stack>-<name>`."
    )
    model: ModelName = Field(description="The registry model served.")
    model_version: ModelVersion = Field(
        description="Pinned model package version (reviewable in a pull request), or "
        "`latest-approved` resolved when the program runs."
    )
    kind: Literal["serverless", "realtime"] = Field(description="Serverless or real-time.")
    serverless: ServerlessSpec | None = Field(
        default=None, description="Serverless capacity (kind serverless); defaults when unset."
    )
    realtime: RealtimeSpec | None = Field(
        default=None, description="Instances and autoscaling (kind realtime); defaults when unset."
    )
    rollout: Rollout = Field(default_factory=Rollout, description="Rollout of a new version.")
    shadow: Shadow | None = Field(
        default=None, description="Shadow variant (real-time only); none when unset."
    )
    capture: Capture = Field(default_factory=Capture, description="Data capture.")
    alarms: EndpointAlarms = Field(
        default_factory=EndpointAlarms,
        description="Alarms on 5xx rate, model latency and model errors (rollback and paging).",
    )
    network_isolation: bool = Field(
        default=True,
        description="Run the model's container without network access (false only for "
        "containers that must call out; the policy pack then needs it in allowWithoutIsolation).",
    )


class Inference(_Section):
    """SageMaker endpoints (issue 6). The instance keys are the defaults of real-time endpoints."""

    enabled: bool = Field(default=False, description="Create the declared endpoints.")
    instance_type: SageMakerInstanceType = Field(
        default="ml.m5.large", description="Real-time endpoint instance type."
    )
    min_instances: Annotated[int, Ge(1), Le(100)] = Field(
        default=1, description="Autoscaling floor of a real-time endpoint."
    )
    max_instances: Annotated[int, Ge(1), Le(100)] = Field(
        default=2, description="Autoscaling ceiling of a real-time endpoint."
    )
    endpoints: Annotated[list[EndpointSpec], MaxLen(20)] = Field(
        default_factory=list, description="The endpoints of this stack."
    )

    def realtime(self, endpoint: EndpointSpec) -> Realtime:
        """A real-time endpoint's settings, unset keys taken from this section."""
        spec = endpoint.realtime or RealtimeSpec()
        return Realtime(
            instance_type=self.instance_type if spec.instance_type is None else spec.instance_type,
            min_instances=self.min_instances if spec.min_instances is None else spec.min_instances,
            max_instances=self.max_instances if spec.max_instances is None else spec.max_instances,
            target_invocations_per_instance=spec.target_invocations_per_instance,
        )

    def serverless(self, endpoint: EndpointSpec) -> ServerlessSpec:
        """A serverless endpoint's settings (the defaults when its block is unset)."""
        return endpoint.serverless or ServerlessSpec()


EKS_VERSIONS = ("1.34", "1.35", "1.36")
"""Kubernetes versions in EKS standard support as of 2026-11 (EKS's release calendar: 1.34 leaves
it in 2026-12, 1.35 and 1.36 in 2027); older ones cost extended-support fees per cluster-hour
(SH EKS.2). Review this list with each EKS release."""

EksVersion = Literal["1.34", "1.35", "1.36"]
Ipv4Cidr = Annotated[
    str,
    Field(
        pattern=r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
        r"/([0-9]|[12][0-9]|3[0-2])$"
    ),
]
Ec2InstanceType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=40)]
SemVer = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
    ),
]
CPU_QUANTITY = r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$"
MEMORY_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
CpuQuantity = Annotated[str, Field(pattern=CPU_QUANTITY)]
MemoryQuantity = Annotated[str, Field(pattern=MEMORY_QUANTITY)]
MEMORY_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
"""Kubernetes quantity suffixes of memory: decimal (k, M, …) and binary (Ki, Mi, …)."""

PINNED_IMAGE_ACCEPTED = (
    "an image pinned by digest (<repository>@sha256:<64 hex digits>) or by a tag other than "
    "latest (<repository>:<tag>)"
)
_IMAGE_REPOSITORY = r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
_IMAGE_DIGEST = re.compile(rf"^{_IMAGE_REPOSITORY}@sha256:[0-9a-f]{{64}}$")
_IMAGE_TAG = re.compile(rf"^{_IMAGE_REPOSITORY}:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})$")


def _pinned_image(value: object) -> str:
    """A model-server image that names one build: a digest, or a tag that is not `latest`.

    A tag can still be re-pushed; a digest cannot. Both are accepted (the registry's ECR
    repositories are immutable), an unpinned reference is not: every rollout would pull
    whatever the repository holds that day."""
    if not isinstance(value, str):
        raise PydanticCustomError("pinned_image", "not an image reference")
    if _IMAGE_DIGEST.match(value):
        return value
    tagged = _IMAGE_TAG.match(value)
    if tagged is not None and tagged["tag"] != "latest":
        return value
    last = value.rsplit("/", 1)[-1]
    if "@" not in value and (":" not in last or last.partition(":")[2] in ("", "latest")):
        raise PydanticCustomError(
            "pinned_image",
            "image without a pinned tag or digest (no tag, an empty tag or latest), so what a "
            "rollout runs would change with every push",
        )
    raise PydanticCustomError("pinned_image", "not a well-formed image reference")


PinnedImage = Annotated[str, PlainValidator(_pinned_image), Accepts(PINNED_IMAGE_ACCEPTED)]

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)


@dataclass(frozen=True)
class EcrImage:
    """A tag-pinned image in an ECR registry: the program resolves it to its digest."""

    registry: str
    region: str
    repository: str
    tag: str

    @property
    def repository_url(self) -> str:
        return self.reference.rpartition(":")[0]

    @property
    def reference(self) -> str:
        dns = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.registry}.dkr.ecr.{self.region}.{dns}/{self.repository}:{self.tag}"


def ecr_image(image: str) -> EcrImage | None:
    """The parts of a tag-pinned ECR image reference; None for anything else (a digest)."""
    found = _ECR_IMAGE.match(image)
    if found is None:
        return None
    return EcrImage(found["registry"], found["region"], found["repository"], found["tag"])


KUBERNETES_IMAGE_ACCEPTED = (
    "an image pinned by digest (<repository>@sha256:<64 hex digits>), or an ECR image of the "
    "stack's region pinned by a tag (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>"
    "), which the program resolves to its digest"
)


class EksCluster(_Section):
    """An EKS cluster the platform creates."""

    mode: Literal["eks"] = Field(description="`eks`: the platform creates the cluster.")
    version: EksVersion = Field(description="Kubernetes version of the cluster.")
    subnet_ids: Annotated[list[SubnetId], MinLen(2), MaxLen(16)] | None = Field(
        default=None,
        description="Private subnets of the control plane's interfaces and the nodes, in at "
        "least two zones; default network.subnetIds.",
    )
    endpoint_public_access_cidrs: Annotated[list[Ipv4Cidr], MaxLen(40)] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the API server; empty: private endpoint only.",
    )
    node_instance_types: Annotated[list[Ec2InstanceType], MinLen(1), MaxLen(20)] = Field(
        default_factory=lambda: ["m6i.large"], description="Instance types of the node group."
    )
    min_nodes: Annotated[int, Ge(1), Le(450)] = Field(default=2, description="Node group floor.")
    max_nodes: Annotated[int, Ge(1), Le(450)] = Field(default=4, description="Node group ceiling.")


class ExistingCluster(_Section):
    """A cluster the platform deploys into but does not own."""

    mode: Literal["existing"] = Field(description="`existing`: deploy into a given cluster.")
    cluster_name: Annotated[str, Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")] = Field(
        description="The EKS cluster's name, for the workloads' Pod Identity associations (its "
        "kubeconfig is the secret key `kubeconfig`)."
    )
    version: EksVersion = Field(
        description="Kubernetes version of the cluster: the manifests are validated against it."
    )


CLUSTER_MODES: dict[str, type[EksCluster] | type[ExistingCluster]] = {
    "eks": EksCluster,
    "existing": ExistingCluster,
}
CLUSTER_ACCEPTED = (
    'a mapping with mode "eks" (required keys version; optional keys '
    "subnetIds, endpointPublicAccessCidrs, nodeInstanceTypes, minNodes, maxNodes) or mode "
    '"existing" (required keys clusterName, version; the kubeconfig in the secret key kubeconfig)'
)


def _cluster(value: object) -> EksCluster | ExistingCluster:
    """Validate a cluster as the model its `mode` names. A hand-made discriminated union:
    pydantic's own puts the tag in the error location (`cluster.eks.version`), which is not a
    key of the stack file; here errors point at `cluster.version`."""
    if isinstance(value, (EksCluster, ExistingCluster)):
        return value
    mode = value.get("mode", _ABSENT) if isinstance(value, dict) else _ABSENT
    model = CLUSTER_MODES.get(mode) if isinstance(mode, str) else None
    if model is None:
        raise PydanticCustomError(
            "cluster_mode",
            "cluster mode {mode} is neither eks nor existing",
            {"mode": _show(mode)},
        )
    return model.model_validate(value)


def _cluster_dump(value: EksCluster | ExistingCluster) -> dict[str, Any]:
    """The cluster as the stack file spells it (pydantic's union serializer, handed the
    validator's model, warns that it cannot tell which member it is)."""
    return value.model_dump(by_alias=True)


Cluster = Annotated[
    EksCluster | ExistingCluster,
    PlainValidator(_cluster),
    PlainSerializer(_cluster_dump),
    Accepts(CLUSTER_ACCEPTED),
]


class Replicas(_Section):
    """The horizontal pod autoscaler's bounds."""

    min: Annotated[int, Ge(1), Le(100)] = Field(default=2, description="HPA floor.")
    max: Annotated[int, Ge(1), Le(100)] = Field(default=4, description="HPA ceiling.")


class ResourceQuantities(_Section):
    """CPU and memory of the model-server container (Kubernetes quantities)."""

    cpu: CpuQuantity = Field(description="CPU, in cores (`1`, `0.5`) or millicores (`500m`).")
    memory: MemoryQuantity = Field(description="Memory, e.g. `512Mi`, `2Gi`, `1G`.")


class Resources(_Section):
    """Requests (what the scheduler reserves, and the HPA's 100%) and limits of a pod."""

    requests: ResourceQuantities = Field(
        default_factory=lambda: ResourceQuantities(cpu="500m", memory="1Gi"),
        description="Reserved CPU and memory.",
    )
    limits: ResourceQuantities = Field(
        default_factory=lambda: ResourceQuantities(cpu="1", memory="2Gi"),
        description="Most CPU (throttled above) and memory (killed above); >= requests.",
    )


class CanaryWeights(_Section):
    """Traffic split of a canary rollout, in percent; the two add up to 100."""

    stable: Annotated[int, Ge(0), Le(100)] = Field(description="Share of the stable version.")
    canary: Annotated[int, Ge(0), Le(100)] = Field(description="Share of the canary version.")


class KubernetesRollout(_Section):
    """How a service's traffic moves to a new model version."""

    strategy: Literal["blue-green", "canary"] = Field(
        default="blue-green", description="Blue/green switch, or a weighted canary."
    )
    active: Literal["blue", "green"] = Field(
        default="blue", description="Blue/green: the colour taking the traffic."
    )
    green_version: ModelVersion | None = Field(
        default=None, description="Blue/green: the green deployment's model version; none."
    )
    canary_version: ModelVersion | None = Field(
        default=None, description="Canary: the canary's model version (required for canary)."
    )
    weights: CanaryWeights | None = Field(
        default=None, description="Canary: the traffic split (required for canary)."
    )


class KubernetesShadow(_Section):
    """A shadow deployment receiving a mirrored copy of the traffic; its answers are dropped."""

    model_version: ModelVersion | None = Field(
        default=None, description="Model version of the shadow (required)."
    )
    mirror_percent: Annotated[int, Ge(1), Le(100)] = Field(
        default=100, description="Share of requests mirrored to the shadow."
    )


class ServiceObjectives(_Section):
    """What the Prometheus alerts of a Kubernetes service hold it to."""

    max_error_percent: Annotated[float, Gt(0), Le(100)] = Field(
        default=2.0, description="Share of requests answered 5xx that alerts."
    )
    latency_p99_ms: Annotated[int, Ge(1), Le(600_000)] = Field(
        default=500, description="p99 request latency that alerts, in milliseconds."
    )
    max_cpu_percent: Annotated[int, Ge(1), Le(1000)] = Field(
        default=90, description="Saturation: CPU use, in percent of the request, that alerts."
    )
    for_minutes: Annotated[int, Ge(1), Le(60)] = Field(
        default=5, description="How long a condition holds before its alert fires."
    )


class KubernetesService(_Section):
    """One model served on Kubernetes: a Deployment per version, an HPA, a PDB, a Service."""

    name: DnsLabel = Field(description="Service name (a DNS label: lower case, digits, `-`).")
    model: ModelName = Field(description="The registry model served.")
    model_version: ModelVersion = Field(
        description="Pinned model package version, or `latest-approved` resolved when the "
        "program runs."
    )
    image: PinnedImage = Field(description="Model-server image, pinned by digest or tag.")
    replicas: Replicas = Field(default_factory=Replicas, description="Autoscaling bounds.")
    pdb_min_available: Annotated[int, Ge(0), Le(99)] = Field(
        default=1,
        description="PodDisruptionBudget minAvailable; replicas.min must exceed it.",
    )
    resources: Resources = Field(default_factory=Resources, description="Requests and limits.")
    target_cpu_percent: Annotated[int, Ge(1), Le(100)] = Field(
        default=70, description="HPA target: average CPU use, in percent of the request."
    )
    rollout: KubernetesRollout = Field(
        default_factory=KubernetesRollout, description="Rollout of a new version."
    )
    shadow: KubernetesShadow | None = Field(
        default=None, description="Shadow deployment (mirrored traffic); none when unset."
    )
    capture: Capture = Field(default_factory=Capture, description="Data capture.")
    model_port: Annotated[int, Ge(1024), Le(65535)] = Field(
        default=8080,
        description="Port the model server listens on inside the pod (SageMaker's contract: "
        "8080, `POST /invocations`, `GET /ping`).",
    )
    objectives: ServiceObjectives = Field(
        default_factory=ServiceObjectives, description="Alert thresholds of the service."
    )


class KubernetesGateway(_Section):
    """The Gateway API entry of the services: a Gateway the platform creates per stack, served
    by an implementation (a GatewayClass) installed in the cluster beforehand."""

    class_name: DnsLabel = Field(
        default="eg", description="GatewayClass of the installed implementation (Envoy: `eg`)."
    )
    data_plane_namespace: DnsLabel = Field(
        default="envoy-gateway-system",
        description="Namespace the implementation's proxies run in; the services' network "
        "policies admit traffic from it only.",
    )


class Kubernetes(_Section):
    """Kubernetes inference (issue 9): model servers on EKS or an existing cluster."""

    enabled: bool = Field(default=False, description="Serve models on Kubernetes.")
    cluster: Cluster | None = Field(
        default=None, description="The cluster: created on EKS, or existing (required when on)."
    )
    prometheus_stack_chart_version: SemVer | None = Field(
        default=None,
        description="Pinned kube-prometheus-stack Helm chart version (required when on).",
    )
    prometheus_stack_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Helm values merged over the platform's own for kube-prometheus-stack.",
    )
    monitoring_namespace: DnsLabel = Field(
        default="monitoring", description="Namespace of Prometheus, Alertmanager and Grafana."
    )
    serving_sidecar_image: PinnedImage | None = Field(
        default=None,
        description="The serving sidecar's image (images/serving_sidecar: model fetch, capture, "
        "metrics), pinned (required when on).",
    )
    gateway: KubernetesGateway = Field(
        default_factory=KubernetesGateway, description="Gateway API entry of the services."
    )
    namespace_prefix: DnsLabel = Field(
        default="mlops", description="Namespaces are `<prefix>-<stack>`."
    )
    services: Annotated[list[KubernetesService], MaxLen(20)] = Field(
        default_factory=list, description="The model services of this stack."
    )


HttpsUrl = Annotated[
    str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$", max_length=2048)
]
SnsTopicArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
]


class Monitoring(_Section):
    """Dashboards, alarms and who hears about them (components/monitoring.py)."""

    enabled: bool = Field(default=False, description="Create the dashboards and alarms.")
    alarm_emails: Annotated[list[Email], MaxLen(20)] = Field(
        default_factory=list,
        description="Email subscriptions of the platform topic (each confirms by email).",
    )
    https_endpoints: Annotated[list[HttpsUrl], MaxLen(10)] = Field(
        default_factory=list,
        description="HTTPS subscriptions of the platform topic (an incident tool's webhook).",
    )
    chat_topic_arns: Annotated[list[SnsTopicArn], MaxLen(4)] = Field(
        default_factory=list,
        description="Existing topics of a chat integration (AWS Chatbot) the alarms also notify "
        "(CloudWatch takes 5 actions per alarm: the platform topic and 4 more).",
    )
    period_seconds: Annotated[Literal[60, 300, 900, 3600], BeforeValidator(_exact_int)] = Field(
        default=300, description="Period of the monitoring alarms."
    )
    evaluation_periods: Annotated[int, Ge(1), Le(24)] = Field(
        default=3, description="Consecutive breaching periods before a monitoring alarm fires."
    )
    max_error_percent: Annotated[float, Gt(0), Le(100)] = Field(
        default=2.0, description="Endpoint 4xx+5xx share of invocations that alarms."
    )
    max_latency_p99_ms: Annotated[int, Ge(1), Le(3_600_000)] = Field(
        default=2000, description="Endpoint p99 model latency that alarms."
    )
    max_drift_share: Annotated[float, Gt(0), Le(1)] = Field(
        default=0.3, description="Share of drifted features of a drift check that alarms."
    )
    drift_check_stale_hours: Annotated[int, Ge(1), Le(168)] = Field(
        default=48,
        description="No drift check result for this long alarms (the checks stopped); at most "
        "a week, the longest an alarm looks back.",
    )


class CapabilityBudgets(_Section):
    """Optional monthly budgets of single capabilities, filtered by the Capability tag."""

    training_usd: Annotated[float, Gt(0), Le(10_000_000)] | None = Field(
        default=None, description="Monthly budget of training (SageMaker training and pipelines)."
    )
    inference_usd: Annotated[float, Gt(0), Le(10_000_000)] | None = Field(
        default=None, description="Monthly budget of inference (endpoints, capture)."
    )


class Guardrail(_Section):
    """A budget action that stops new SageMaker spend in a non-prod environment."""

    enabled: bool = Field(
        default=False,
        description="At 100% of the budget, deny new training jobs and endpoints to the "
        "platform's roles (not allowed in prod).",
    )


class UsageProfile(_Section):
    """Expected monthly usage, for the offline plan's cost estimate (usage-driven costs)."""

    training_hours: Annotated[float, Ge(0), Le(100_000)] = Field(
        default=0, description="Training instance hours per month (all pipelines)."
    )
    processing_hours: Annotated[float, Ge(0), Le(100_000)] = Field(
        default=0, description="Processing (validation, evaluation) instance hours per month."
    )
    inference_requests: Annotated[float, Ge(0), Le(1e12)] = Field(
        default=0, description="Endpoint invocations per month (all endpoints)."
    )
    serverless_seconds_per_request: Annotated[float, Gt(0), Le(60)] = Field(
        default=0.1, description="Compute time of one serverless invocation, in seconds."
    )
    capture_gb: Annotated[float, Ge(0), Le(1_000_000)] = Field(
        default=0, description="GB of captured inference data written per month."
    )
    stored_gb: Annotated[float, Ge(0), Le(10_000_000)] = Field(
        default=0, description="GB stored in the data lake on average over the month."
    )
    lambda_gb_seconds: Annotated[float, Ge(0), Le(1e10)] = Field(
        default=0, description="Lambda GB-seconds per month (drift checks, proxies, triggers)."
    )


class Cost(_Section):
    """Budgets, anomaly detection, guardrail and the usage the estimate assumes."""

    enabled: bool = Field(
        default=False, description="Create the budgets, anomaly monitor and guardrail."
    )
    monthly_budget_usd: Annotated[float, Gt(0), Le(10_000_000)] = Field(
        default=100.0, description="Monthly budget of the environment, in US dollars."
    )
    anomaly_threshold_usd: Annotated[float, Gt(0), Le(1_000_000)] = Field(
        default=50.0, description="Cost anomaly impact that triggers an alert, in US dollars."
    )
    budget_emails: Annotated[list[Email], MaxLen(10)] = Field(
        default_factory=list,
        description="Emails told at 50, 80 and 100% of actual and 100% of forecast spend.",
    )
    capability_budgets: CapabilityBudgets = Field(
        default_factory=CapabilityBudgets, description="Budgets of single capabilities."
    )
    guardrail: Guardrail = Field(
        default_factory=Guardrail, description="Stop new SageMaker spend over the budget."
    )
    usage: UsageProfile = Field(
        default_factory=UsageProfile, description="Expected usage for the plan's cost estimate."
    )


class DriftThresholds(_Section):
    """When a feature, and the whole window, counts as drifted (see lambdas/drift_check)."""

    psi: Annotated[float, Gt(0), Le(10)] | None = Field(
        default=None, description="Population stability index above which a feature drifted."
    )
    wasserstein: Annotated[float, Gt(0), Le(100)] | None = Field(
        default=None, description="Wasserstein distance / reference std (numeric features)."
    )
    js: Annotated[float, Gt(0), Le(1)] | None = Field(
        default=None, description="Jensen-Shannon distance (categorical features)."
    )
    ks: Annotated[float, Gt(0), Le(1)] | None = Field(
        default=None, description="KS statistic (numeric); unset does not use KS to decide."
    )
    chi2_pvalue: Annotated[float, Gt(0), Lt(1)] | None = Field(
        default=None, description="Chi-square p-value below which (categorical); unset: unused."
    )
    missing_rate_delta: Annotated[float, Gt(0), Le(1)] | None = Field(
        default=None, description="Change of the missing rate above which a feature drifted."
    )
    unseen_share: Annotated[float, Gt(0), Le(1)] | None = Field(
        default=None, description="Share of categories the baseline never saw."
    )
    drift_share: Annotated[float, Gt(0), Le(1)] | None = Field(
        default=None, description="Share of drifted input features that makes the window drift."
    )

    def engine(self) -> dict[str, float]:
        """The set values, keyed as the engine's `Thresholds.from_dict` accepts them."""
        return {k: v for k, v in self.model_dump(by_alias=False).items() if v is not None}


class DriftMonitorSpec(_Section):
    """One endpoint watched for drift against its model's baseline."""

    model: ModelName = Field(description="The registry model whose baseline applies.")
    endpoint: EndpointName = Field(description="SageMaker endpoint whose capture is checked.")
    schedule: ScheduleExpression = Field(
        default="rate(1 day)", description="EventBridge Scheduler expression (UTC)."
    )
    window_hours: Annotated[int, Ge(1), Le(168)] = Field(
        default=24, description="Hours of capture each check reads, ending at the run time."
    )
    mode: Literal["single", "scaleout"] = Field(
        default="single",
        description="One Lambda, or a Step Functions Distributed Map for large windows.",
    )
    baseline_key: Annotated[str, MinLen(1), MaxLen(1024)] | None = Field(
        default=None,
        description="Baseline key in the model-artifact bucket (default "
        "`models/<model>/drift/baseline.json`).",
    )
    critical: Annotated[list[FeatureName], MaxLen(100)] = Field(
        default_factory=list, description="Features whose drift alone makes the window drift."
    )
    thresholds: DriftThresholds = Field(
        default_factory=DriftThresholds, description="This monitor's own thresholds."
    )
    feature_thresholds: Annotated[dict[FeatureName, DriftThresholds], MaxLen(500)] = Field(
        default_factory=dict,
        description="Thresholds of single features, over the monitor's and the stack's.",
    )


Fraction = Annotated[float, Ge(0), Le(1)]


class QualityAlarms(_Section):
    """Thresholds that alarm (to the platform topic) and retrain; unset ones do not alarm."""

    min_accuracy: Fraction | None = Field(default=None, description="Accuracy floor.")
    min_f1: Fraction | None = Field(default=None, description="F1 floor (positive class).")
    min_roc_auc: Fraction | None = Field(default=None, description="ROC AUC floor.")
    max_calibration_error: Fraction | None = Field(
        default=None, description="Expected calibration error ceiling."
    )
    max_mae: Annotated[float, Ge(0)] | None = Field(default=None, description="MAE ceiling.")
    max_rmse: Annotated[float, Ge(0)] | None = Field(default=None, description="RMSE ceiling.")
    min_r2: Annotated[float, Le(1)] | None = Field(default=None, description="R² floor.")
    min_label_coverage: Fraction | None = Field(
        default=None, description="Floor of the share of predictions with a label."
    )
    min_disparate_impact: Fraction | None = Field(
        default=None, description="Disparate impact ratio floor (the four-fifths rule: 0.8)."
    )
    max_demographic_parity_difference: Fraction | None = Field(
        default=None, description="Ceiling of the positive-rate gap between groups."
    )
    max_equalized_odds_difference: Fraction | None = Field(
        default=None, description="Ceiling of the TPR and FPR gaps between groups."
    )


class SensitiveFrom(_Section):
    """Where a sensitive attribute the capture does not carry is read: a feature group's online
    store, by a record identifier the capture does carry."""

    feature_group: FeatureGroupName = Field(
        description="A feature group of featureStore.featureGroups, with its online store on."
    )
    record_identifier_column: FeatureName = Field(
        description="The model's input feature holding the feature group's record identifier."
    )


class QualityMonitorSpec(_Section):
    """One model's predictions, joined with the labels that arrived, checked on a schedule."""

    model: ModelName = Field(description="The registry model whose baseline names the features.")
    endpoint: EndpointName = Field(
        description="Endpoint whose capture holds the predictions (and whose ground truth the "
        "labels are: `groundtruth/<endpoint>/` of the capture bucket)."
    )
    problem: Literal["classification", "regression"] = Field(
        default="classification", description="What the model predicts."
    )
    threshold: Fraction = Field(
        default=0.5, description="Classification: a score at or above it is the positive class."
    )
    positive_label: Annotated[str, MinLen(1), MaxLen(64)] | None = Field(
        default=None, description="Classification: the positive class's label (default 1/true)."
    )
    segment: FeatureName | None = Field(
        default=None, description="Input feature whose values split the metrics; none."
    )
    sensitive_attribute: FeatureName | None = Field(
        default=None,
        description="The attribute the fairness metrics compare groups of: an input feature, or "
        "a feature of `sensitiveFrom`'s feature group; none.",
    )
    sensitive_from: SensitiveFrom | None = Field(
        default=None,
        description="Read sensitiveAttribute from the feature store, not the capture; none.",
    )
    min_group_size: Annotated[int, Ge(1), Le(1_000_000)] = Field(
        default=30, description="Smaller segments and groups are reported as too small to judge."
    )
    schedule: ScheduleExpression = Field(
        default="rate(1 day)", description="EventBridge Scheduler expression (UTC)."
    )
    window_hours: Annotated[int, Ge(1), Le(720)] = Field(
        default=24, description="Hours of predictions each check judges."
    )
    label_delay_hours: Annotated[int, Ge(0), Le(2160)] = Field(
        default=24,
        description="How long labels take to arrive: the window ends this long before the run.",
    )
    alarms: QualityAlarms = Field(
        default_factory=QualityAlarms, description="Thresholds that alarm and retrain."
    )


class Quality(_Section):
    """Model quality and fairness when labels arrive (lambdas/drift_check, quality handler)."""

    enabled: bool = Field(default=False, description="Deploy the quality checks.")
    monitors: Annotated[list[QualityMonitorSpec], MaxLen(50)] = Field(
        default_factory=list, description="The models checked, one schedule each."
    )
    memory_mb: Annotated[int, Ge(512), Le(10240)] = Field(
        default=2048, description="Memory of the quality-check function."
    )
    timeout_seconds: Annotated[int, Ge(30), Le(900)] = Field(
        default=900, description="Timeout of the quality-check function."
    )
    reserved_concurrency: Annotated[int, Ge(1), Le(1000)] = Field(
        default=2, description="Reserved concurrency of the quality-check function."
    )


class Drift(_Section):
    """Drift checks on captured inference data (lambdas/drift_check)."""

    enabled: bool = Field(default=False, description="Deploy the drift checks.")
    monitors: Annotated[list[DriftMonitorSpec], MaxLen(50)] = Field(
        default_factory=list, description="The endpoints checked, one schedule each."
    )
    memory_mb: Annotated[int, Ge(512), Le(10240)] = Field(
        default=2048, description="Memory of each drift-check function."
    )
    timeout_seconds: Annotated[int, Ge(30), Le(900)] = Field(
        default=600, description="Timeout of each drift-check function."
    )
    reserved_concurrency: Annotated[int, Ge(1), Le(1000)] = Field(
        default=5, description="Reserved concurrency of each drift-check function."
    )
    min_rows: Annotated[int, Ge(1), Le(10_000_000)] = Field(
        default=100, description="Fewer rows in a window give `insufficient data`, no verdict."
    )
    thresholds: DriftThresholds = Field(
        default_factory=DriftThresholds,
        description="Stack defaults; unset keys take the engine's documented defaults.",
    )
    map_batch_size: Annotated[int, Ge(1), Le(1000)] = Field(
        default=20, description="Capture objects per scale-out worker invocation."
    )
    map_concurrency: Annotated[int, Ge(1), Le(1000)] = Field(
        default=10, description="Scale-out workers running at once."
    )


class Promotion(_Section):
    """What an approval in the model registry sets off (the trigger's promotion path)."""

    github_repository: (
        Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")]
        | None
    ) = Field(
        default=None,
        description="`owner/repo` whose deployment workflow a `repository_dispatch` starts; "
        "notify only when unset.",
    )
    token_secret_arn: (
        Annotated[
            str, Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
        ]
        | None
    ) = Field(
        default=None,
        description="Secrets Manager secret holding the GitHub token for the dispatch.",
    )
    event_type: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")] = Field(
        default="model-approved", description="The dispatch's `event_type`."
    )


class Retraining(_Section):
    """The retraining trigger (lambdas/retrain_trigger): drift, alarms and requests start the
    model's training pipeline, behind idempotency, cooldown, concurrency, cap and budget."""

    enabled: bool = Field(default=False, description="Deploy the retraining trigger.")
    cooldown_hours: Annotated[int, Ge(1), Le(720)] = Field(
        default=24, description="At most one retrain per model within this period."
    )
    daily_cap: Annotated[int, Ge(1), Le(24)] = Field(
        default=1, description="Most retrains per model per day (UTC)."
    )
    budget_max_share: Annotated[float, Gt(0), Le(1)] = Field(
        default=0.9,
        description="No retrain while the month's actual or forecast spend is at least this "
        "share of the stack's budget (needs cost.enabled; off otherwise).",
    )
    audit_retention_days: Annotated[int, Ge(1), Le(3650)] = Field(
        default=400, description="How long decision records are kept (DynamoDB TTL)."
    )
    reserved_concurrency: Annotated[int, Ge(1), Le(100)] = Field(
        default=5, description="Reserved concurrency of the trigger function."
    )
    promotion: Promotion = Field(
        default_factory=Promotion, description="What an approval in the registry sets off."
    )


class PlatformConfig(_Section):
    """The whole platform's configuration for one stack."""

    environment: EnvironmentName = Field(
        description="Short environment name used in physical names and the Environment tag."
    )
    tier: Literal["dev", "staging", "prod"] = Field(
        description="Which safety rules apply: `prod` demands protection and approvals."
    )
    region: Region = Field(default="us-east-1", description="AWS region of every resource.")
    allowed_account_ids: Annotated[list[AccountId], MaxLen(5)] = Field(
        default_factory=list,
        description="The AWS provider refuses any other account (required in prod).",
    )
    tags: Tags = Field(description="CostCenter and Owner tags, and extra default tags.")
    network: Network | None = Field(
        default=None, description="Existing VPC for network-attached resources; none by default."
    )
    protection: Protection = Field(
        default_factory=Protection, description="Protection of stateful resources."
    )
    kms: Kms = Field(default_factory=Kms, description="The platform KMS key.")
    logging: Logging = Field(default_factory=Logging, description="Log retention.")
    data_lake: DataLake = Field(default_factory=DataLake, description="Data storage.")
    feature_store: FeatureStore = Field(default_factory=FeatureStore, description="Feature store.")
    model_registry: ModelRegistry = Field(
        default_factory=ModelRegistry, description="Model registry."
    )
    training: Training = Field(default_factory=Training, description="Training pipelines.")
    inference: Inference = Field(default_factory=Inference, description="SageMaker inference.")
    kubernetes: Kubernetes = Field(default_factory=Kubernetes, description="Kubernetes inference.")
    kubeconfig: SecretStr | None = Field(
        default=None,
        description="Secret (`pulumi config set --secret kubeconfig`): the kubeconfig of an "
        "existing cluster (kubernetes.cluster.mode existing).",
    )
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Monitoring.")
    cost: Cost = Field(default_factory=Cost, description="Cost controls.")
    drift: Drift = Field(default_factory=Drift, description="Drift checks.")
    quality: Quality = Field(default_factory=Quality, description="Quality and fairness.")
    retraining: Retraining = Field(default_factory=Retraining, description="Retraining.")


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a stack's configuration."""

    key: str
    """Full key path, e.g. `mlops-platform:inference.minInstances`."""
    value: str
    """The offending value as written (`<missing>` when absent)."""
    problem: str
    """What is wrong."""
    accepted: str
    """What would be accepted instead."""

    def render(self, stack_file: str) -> str:
        return (
            f"{stack_file}: {self.key}: {self.problem} (got {self.value}); "
            f"accepted: {self.accepted}"
        )


class ConfigError(Exception):
    """A stack's configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, stack_file: str, problems: list[ConfigProblem]) -> None:
        self.stack_file = stack_file
        self.problems = problems
        lines = "\n".join(f"  - {p.render(stack_file)}" for p in problems)
        super().__init__(
            f"invalid configuration in {stack_file} ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


MISSING = "<missing>"
_ABSENT = object()


def _show(value: object) -> str:
    if value is _ABSENT:
        return MISSING
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------------------------
# Describing what a field accepts (shared by the error messages and the README reference)


def _constraint_text(metadata: list[Any], unit: str = "items") -> str:
    parts: list[str] = []
    for item in metadata:
        if isinstance(item, Ge):
            parts.append(f">= {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"<= {item.le}")
        elif isinstance(item, MinLen):
            parts.append(f"at least {item.min_length} {unit}")
        elif isinstance(item, MaxLen):
            parts.append(f"at most {item.max_length} {unit}")
        else:
            pattern = getattr(item, "pattern", None)
            if pattern:
                parts.append(f"matching `{pattern}`")
    return ", ".join(parts)


def describe_annotation(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A short human description of the values a type annotation accepts."""
    metadata = list(metadata or [])
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        nested: list[Any] = []
        for item in extra:
            if isinstance(item, FieldInfo):
                nested.extend(item.metadata)
            else:
                nested.append(item)
        return describe_annotation(inner, nested + metadata)
    said = next((m.text for m in metadata if isinstance(m, Accepts)), None)
    if said is not None:
        return said
    constraints = _constraint_text(metadata, "characters" if annotation is str else "items")
    suffix = f" {constraints}" if constraints else ""
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return f"integer{suffix}"
    if annotation is float:
        return f"number{suffix}"
    if annotation is str:
        return f"string{suffix}"
    if origin in (tuple, list):
        item = get_args(annotation)[0]
        return f"list of ({describe_annotation(item)}){suffix}"
    if origin is dict:
        key, val = get_args(annotation)
        return f"mapping of ({describe_annotation(key)}) to ({describe_annotation(val)})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        keys = ", ".join(
            f.alias or n for n, f in annotation.model_fields.items() if not f.is_required()
        )
        required = ", ".join(
            f.alias or n for n, f in annotation.model_fields.items() if f.is_required()
        )
        text = "a mapping"
        if required:
            text += f" with required keys {required}"
        if keys:
            text += f"{' and' if required else ' with'} optional keys {keys}"
        return text
    args = [a for a in get_args(annotation) if a is not type(None)]
    if args and len(args) < len(get_args(annotation)):
        return describe_annotation(args[0]) + ", or unset"
    return str(annotation)


def describe_field(info: FieldInfo) -> str:
    return describe_annotation(info.annotation, list(info.metadata))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _given_at(raw: Any, loc: tuple[str | int, ...]) -> Any:
    """The raw value at `loc` (keys as the stack file spells them), or None."""
    for part in loc:
        inside = (isinstance(raw, Mapping) and part in raw) or (
            isinstance(raw, list) and isinstance(part, int) and 0 <= part < len(raw)
        )
        if not inside:
            return None
        raw = raw[part]
    return raw


def _keys_at(loc: tuple[str | int, ...], raw: Mapping[str, Any] | None = None) -> list[str]:
    """The keys accepted at the mapping that contains `loc`'s last element. Where a union of
    sections is accepted (a cluster's modes), the section the given `mode` names."""
    parent = loc[:-1]
    model: type[BaseModel] | None = PlatformConfig
    if parent:
        annotation = _walk(parent)[1]
        unwrapped = _unwrap(annotation)[0] if annotation is not None else None
        model = _model_of(unwrapped) if unwrapped is not None else None
        mode = _given_at(raw, parent)
        mode = mode.get("mode") if isinstance(mode, Mapping) else None
        for candidate in get_args(unwrapped):
            field = candidate.model_fields.get("mode") if _model_of(candidate) else None
            if field is not None and get_args(field.annotation) == (mode,):
                model = candidate
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _problem_from_error(
    error: Mapping[str, Any], raw: Mapping[str, Any] | None = None
) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input", _ABSENT)
    if kind == "extra_forbidden":
        keys = _keys_at(loc, raw)
        close = [k for k in keys if k.lower() == str(loc[-1]).lower() or _near(str(loc[-1]), k)]
        hint = f" (did you mean {close[0]}?)" if close else ""
        return ConfigProblem(
            key=_walk(loc)[0],
            value=_show(value),
            problem=f"unknown key{hint}",
            accepted="one of the keys " + ", ".join(keys),
        )
    path, accepted = _locate(loc)
    if kind == "cluster_mode":
        # The cluster's own validator refuses it; the key at fault is its `mode`.
        mode = value.get("mode", _ABSENT) if isinstance(value, Mapping) else _ABSENT
        return ConfigProblem(
            key=f"{path}.mode",
            value=MISSING if mode is _ABSENT else _show(mode),
            problem=error["msg"],
            accepted=accepted or error["msg"],
        )
    if kind == "missing":
        return ConfigProblem(
            key=path,
            value=MISSING,
            problem="required key is missing",
            accepted=accepted or "a value",
        )
    return ConfigProblem(
        key=path,
        value=_show(value),
        # Only the first letter: the values and patterns the message quotes keep their case.
        problem=error["msg"][:1].lower() + error["msg"][1:].rstrip("."),
        accepted=accepted or error["msg"],
    )


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip `Annotated` (keeping its constraints) and `| None` from an annotation."""
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        args = [a for a in get_args(annotation) if a is not type(None)]
        if origin is not None and len(args) == 1 and len(get_args(annotation)) == 2:
            annotation = args[0]
            continue
        return annotation, metadata


def _locate(loc: tuple[str | int, ...]) -> tuple[str, str | None]:
    """The key path a pydantic error location points at, and what is accepted there."""
    path, annotation, metadata = _walk(loc)
    accepted = describe_annotation(annotation, metadata) if annotation is not None else None
    return path, accepted


def _walk(loc: tuple[str | int, ...]) -> tuple[str, Any, list[Any]]:
    """The key path of a pydantic error location, with the annotation and constraints there.

    Walks models by alias, list items by index and mappings by key (`["k"]`; pydantic's
    `[key]` marker means the mapping key itself was refused). Past an unknown key the
    annotation is None.
    """
    head, *rest = loc
    path = f"{PROJECT}:{head}"
    info = TOP_LEVEL_KEYS.get(str(head))
    annotation: Any = info.annotation if info else None
    metadata: list[Any] = list(info.metadata) if info else []
    index = 0
    while index < len(rest) and annotation is not None:
        part = rest[index]
        base, _ = _unwrap(annotation)
        origin = get_origin(base)
        if origin in (list, tuple) and isinstance(part, int):
            path += f"[{part}]"
            annotation, metadata = get_args(base)[0], []
        elif origin is dict:
            key_type, value_type = get_args(base)
            if index + 1 < len(rest) and rest[index + 1] == "[key]":
                path += f"[{json.dumps(str(part))}] (a key)"
                annotation = key_type
                index += 1
            else:
                path += f"[{json.dumps(str(part))}]"
                annotation = value_type
            metadata = []
        else:
            model = _model_of(base)
            field = (
                next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
                if model is not None
                else None
            )
            path += f".{part}"
            annotation = field.annotation if field is not None else None
            metadata = list(field.metadata) if field is not None else []
        index += 1
    for part in rest[index:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path, annotation, metadata


def _near(word: str, candidate: str) -> bool:
    """True when two keys differ by one edit (a likely typo)."""
    a, b = word.lower(), candidate.lower()
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diffs) == 1 or (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# --------------------------------------------------------------------------------------------
# Rules that span more than one key


def _cross_checks(
    cfg: PlatformConfig, stack: str, project_dir: Path | None = None
) -> list[ConfigProblem]:
    """Rules across keys; `project_dir` is the repository root, for the rules about its files
    (none of those run without it)."""
    problems: list[ConfigProblem] = []

    def add(key: str, value: object, problem: str, accepted: str) -> None:
        problems.append(ConfigProblem(f"{PROJECT}:{key}", _show(value), problem, accepted))

    prod = cfg.tier == "prod"
    shared = cfg.tier != "dev"
    for key, value in (
        ("protectStateful", cfg.protection.protect_stateful),
        ("retainOnDelete", cfg.protection.retain_on_delete),
    ):
        if shared and not value:
            add(
                f"protection.{key}",
                False,
                f"stateful resources must be kept safe when tier is {cfg.tier}",
                "true when tier is staging or prod",
            )
    if prod and not cfg.allowed_account_ids:
        add(
            "allowedAccountIds",
            [],
            "a prod stack must pin the AWS account it deploys to",
            "a list of 1 to 5 twelve-digit account ids when tier is prod",
        )
    if shared and cfg.model_registry.approval == "auto":
        add(
            "modelRegistry.approval",
            "auto",
            f"{cfg.tier} model versions must be approved by a person",
            '"manual" when tier is staging or prod',
        )
    if cfg.inference.min_instances > cfg.inference.max_instances:
        add(
            "inference.minInstances",
            cfg.inference.min_instances,
            f"greater than inference.maxInstances ({cfg.inference.max_instances})",
            f"an integer <= inference.maxInstances ({cfg.inference.max_instances})",
        )
    inherits_floor = any(
        e.kind == "realtime" and (e.realtime is None or e.realtime.min_instances is None)
        for e in cfg.inference.endpoints
    )
    # The section's floor is the floor of every real-time endpoint that does not set its own
    # (and of all of them when inference is enabled before any endpoint is declared).
    floor_used = inherits_floor or (cfg.inference.enabled and not cfg.inference.endpoints)
    if prod and floor_used and cfg.inference.min_instances < 2:
        add(
            "inference.minInstances",
            cfg.inference.min_instances,
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "an integer >= 2 when tier is prod",
        )
    if prod and cfg.data_lake.enabled and not cfg.data_lake.object_lock.enabled:
        add(
            "dataLake.objectLock.enabled",
            False,
            "the model-artifact bucket must use Object Lock when tier is prod (S3.15)",
            "true when tier is prod",
        )
    if cfg.feature_store.enabled and not cfg.data_lake.enabled:
        add(
            "featureStore.enabled",
            True,
            "the feature store's offline store lives in the data lake, which is disabled",
            "false, or dataLake.enabled: true",
        )
    if (
        cfg.network is not None
        and not cfg.network.security_group_ids
        and cfg.training.enabled
        and cfg.training.pipelines
    ):
        add(
            "network.securityGroupIds",
            [],
            "the training pipelines' jobs run in the network, and a SageMaker job in a VPC "
            "needs a security group (SageMaker refuses a job VpcConfig without one)",
            "1 to 5 security group ids (sg-...) of the VPC, allowing HTTPS out to the VPC's "
            "endpoints, when training pipelines are configured",
        )
    if cfg.retraining.enabled and not (cfg.training.enabled and cfg.model_registry.enabled):
        add(
            "retraining.enabled",
            True,
            "retraining needs training.enabled and modelRegistry.enabled",
            "false, or training and modelRegistry enabled",
        )
    problems.extend(_data_lake_checks(cfg))
    problems.extend(_feature_store_checks(cfg, stack))
    problems.extend(_model_registry_checks(cfg, stack))
    problems.extend(_drift_checks(cfg))
    problems.extend(_training_checks(cfg, project_dir))
    problems.extend(_inference_checks(cfg, stack))
    problems.extend(_retraining_checks(cfg))
    problems.extend(_cost_checks(cfg))
    problems.extend(_kubernetes_checks(cfg))
    problems.extend(_quality_checks(cfg))
    reserved = set(PLATFORM_TAG_KEYS) & set(cfg.tags.extra)
    if reserved:
        add(
            "tags.extra",
            sorted(reserved),
            "redefines tag keys the platform sets itself",
            "tag keys other than " + ", ".join(PLATFORM_TAG_KEYS),
        )
    return problems


def _problem(key: str, value: object, problem: str, accepted: str) -> ConfigProblem:
    return ConfigProblem(f"{PROJECT}:{key}", _show(value), problem, accepted)


def _data_lake_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    lake = cfg.data_lake
    problems: list[ConfigProblem] = []
    if lake.force_destroy and cfg.tier != "dev":
        problems.append(
            _problem(
                "dataLake.forceDestroy",
                True,
                f"buckets holding {cfg.tier} data may not be emptied by a destroy",
                "false when tier is staging or prod",
            )
        )
    for key, schedule in (("capture", lake.capture), ("reports", lake.reports)):
        if schedule.transition_days >= schedule.expiration_days:
            problems.append(
                _problem(
                    f"dataLake.{key}.transitionDays",
                    schedule.transition_days,
                    f"not before dataLake.{key}.expirationDays ({schedule.expiration_days}), "
                    "so objects would expire before they move",
                    f"an integer < {schedule.expiration_days}",
                )
            )
        if schedule.storage_class.endswith("_IA") and schedule.transition_days < IA_MINIMUM_DAYS:
            problems.append(
                _problem(
                    f"dataLake.{key}.transitionDays",
                    schedule.transition_days,
                    f"S3 moves objects to {schedule.storage_class} only after "
                    f"{IA_MINIMUM_DAYS} days",
                    f"an integer >= {IA_MINIMUM_DAYS}, or storageClass GLACIER_IR, GLACIER or "
                    "INTELLIGENT_TIERING",
                )
            )
    return problems


def _physical_length_problem(
    key: str, name: str, stack: str, limit: int, what: str
) -> ConfigProblem | None:
    prefix = f"{PROJECT}-{stack}-"
    if len(prefix) + len(name) <= limit:
        return None
    return _problem(
        key,
        name,
        f"{what} {prefix}{name} would be {len(prefix) + len(name)} characters; "
        f"SageMaker allows {limit}",
        f"a name of at most {limit - len(prefix)} characters in stack {stack}",
    )


def _duplicates(names: list[str]) -> dict[int, int]:
    """Index of each repeated name (compared case-insensitively) to its first index."""
    seen: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for index, name in enumerate(names):
        first = seen.setdefault(name.lower(), index)
        if first != index:
            repeats[index] = first
    return repeats


def _feature_store_checks(cfg: PlatformConfig, stack: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    groups = cfg.feature_store.feature_groups
    for index, first in _duplicates([g.name for g in groups]).items():
        problems.append(
            _problem(
                f"featureStore.featureGroups[{index}].name",
                groups[index].name,
                f"feature group already declared at featureGroups[{first}]",
                "a name used once per stack",
            )
        )
    for index, group in enumerate(groups):
        at = f"featureStore.featureGroups[{index}]"
        length = _physical_length_problem(
            f"{at}.name", group.name, stack, FEATURE_GROUP_NAME_LIMIT, "the feature group name"
        )
        if length is not None:
            problems.append(length)
        names = [f.name for f in group.features]
        for position, first in _duplicates(names).items():
            problems.append(
                _problem(
                    f"{at}.features[{position}].name",
                    names[position],
                    f"duplicate of features[{first}] ({names[first]!r}); the offline store's "
                    "columns ignore case",
                    "feature names unique regardless of case",
                )
            )
        for position, name in enumerate(names):
            if name.lower() in RESERVED_FEATURE_NAMES:
                problems.append(
                    _problem(
                        f"{at}.features[{position}].name",
                        name,
                        "a column SageMaker adds to the offline store itself",
                        "any name but " + ", ".join(RESERVED_FEATURE_NAMES),
                    )
                )
        types = {f.name: f.type for f in group.features}
        for key, feature, allowed, role in (
            ("recordIdentifier", group.record_identifier, RECORD_IDENTIFIER_TYPES, "identifier"),
            ("eventTime", group.event_time, EVENT_TIME_TYPES, "event time"),
        ):
            if feature not in types:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        feature,
                        "not one of the group's declared features",
                        "one of " + ", ".join(names),
                    )
                )
            elif types[feature] not in allowed:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        feature,
                        f"the {role} feature has type {types[feature]}",
                        f"a feature of type {' or '.join(allowed)}",
                    )
                )
        if not group.online_store.enabled and not group.offline_store.enabled:
            problems.append(
                _problem(
                    f"{at}.offlineStore.enabled",
                    False,
                    "a feature group needs an online store, an offline store or both",
                    "true, or onlineStore.enabled: true",
                )
            )
        if group.online_store.ttl_days is not None and not group.online_store.enabled:
            problems.append(
                _problem(
                    f"{at}.onlineStore.ttlDays",
                    group.online_store.ttl_days,
                    "a time to live applies to the online store, which is disabled",
                    "unset, or onlineStore.enabled: true",
                )
            )
    return problems


def _model_registry_checks(cfg: PlatformConfig, stack: str) -> list[ConfigProblem]:
    registry = cfg.model_registry
    problems: list[ConfigProblem] = []
    if registry.enabled and not cfg.data_lake.enabled:
        problems.append(
            _problem(
                "modelRegistry.enabled",
                True,
                "model artifacts live in the data lake's model-artifact bucket, which is disabled",
                "false, or dataLake.enabled: true",
            )
        )
    models = registry.models
    for index, first in _duplicates([m.name for m in models]).items():
        problems.append(
            _problem(
                f"modelRegistry.models[{index}].name",
                models[index].name,
                f"model already declared at models[{first}]",
                "a name used once per stack",
            )
        )
    for index, model in enumerate(models):
        length = _physical_length_problem(
            f"modelRegistry.models[{index}].name",
            model.name,
            stack,
            MODEL_PACKAGE_GROUP_NAME_LIMIT,
            "the model package group name",
        )
        if length is not None:
            problems.append(length)
    if registry.promotion_account_id in cfg.allowed_account_ids:
        problems.append(
            _problem(
                "modelRegistry.promotionAccountId",
                registry.promotion_account_id,
                "the stack's own account needs no cross-account grant",
                "another account's twelve-digit id, or unset",
            )
        )
    return problems


def _needs_lake_and_registry(cfg: PlatformConfig, key: str, why: str) -> ConfigProblem | None:
    """`key` (an `enabled` flag that is true) names the disabled sections it builds on."""
    disabled = [
        f"{section}.enabled"
        for section, enabled in (
            ("dataLake", cfg.data_lake.enabled),
            ("modelRegistry", cfg.model_registry.enabled),
        )
        if not enabled
    ]
    if not disabled:
        return None
    verb = "is" if len(disabled) == 1 else "are"
    return _problem(
        key,
        True,
        f"{why}, and {' and '.join(disabled)} {verb} false",
        "false, or dataLake.enabled and modelRegistry.enabled true",
    )


CLASSIFICATION_ALARMS = ("minAccuracy", "minF1", "minRocAuc", "maxCalibrationError")
REGRESSION_ALARMS = ("maxMae", "maxRmse", "minR2")
FAIRNESS_ALARMS = (
    "minDisparateImpact",
    "maxDemographicParityDifference",
    "maxEqualizedOddsDifference",
)


def _quality_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    """Quality monitors judge declared models; each alarm fits the monitor's problem, and the
    fairness alarms need the attribute whose groups they compare."""
    quality = cfg.quality
    if not quality.enabled:
        return []
    problems: list[ConfigProblem] = []
    needs = _needs_lake_and_registry(
        cfg,
        "quality.enabled",
        "quality checks read capture, ground truth and baselines from the data lake and registry",
    )
    if needs is not None:
        problems.append(needs)
    models = [m.name for m in cfg.model_registry.models]
    seen: dict[tuple[str, str], int] = {}
    for index, monitor in enumerate(quality.monitors):
        at = f"quality.monitors[{index}]"
        if cfg.model_registry.enabled and monitor.model not in models:
            problems.append(
                _problem(
                    f"{at}.model",
                    monitor.model,
                    "not a model of modelRegistry.models",
                    "one of " + (", ".join(models) or "(no models declared)"),
                )
            )
        first = seen.setdefault((monitor.model, monitor.endpoint), index)
        if first != index:
            problems.append(
                _problem(
                    f"{at}.endpoint",
                    monitor.endpoint,
                    f"model {monitor.model} already judges this endpoint at monitors[{first}]",
                    "one quality monitor per model and endpoint",
                )
            )
        columns = {
            c.name for p in cfg.training.pipelines if p.model == monitor.model for c in p.columns
        }
        source = monitor.sensitive_from
        for key, column in (
            ("segment", monitor.segment),
            ("sensitiveAttribute", None if source else monitor.sensitive_attribute),
            ("sensitiveFrom.recordIdentifierColumn", source and source.record_identifier_column),
        ):
            # The model's training pipeline names its input features; without one the check
            # finds out from the baseline when it runs.
            if column is not None and columns and column not in columns:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        column,
                        f"not an input feature of model {monitor.model} (its training pipeline's "
                        "columns)",
                        "one of " + ", ".join(sorted(columns)),
                    )
                )
        if source is not None:
            problems.extend(_sensitive_source_problems(cfg, at, monitor, source))
        alarms = monitor.alarms.model_dump(by_alias=True, exclude_none=True)
        wrong = REGRESSION_ALARMS if monitor.problem == "classification" else CLASSIFICATION_ALARMS
        for key in wrong:
            if key in alarms:
                problems.append(
                    _problem(
                        f"{at}.alarms.{key}",
                        alarms[key],
                        f"not a metric of a {monitor.problem} model",
                        "one of "
                        + ", ".join(
                            k
                            for k in (*CLASSIFICATION_ALARMS, *REGRESSION_ALARMS)
                            if k not in wrong
                        )
                        + ", minLabelCoverage, or problem: "
                        + (
                            "regression"
                            if monitor.problem == "classification"
                            else "classification"
                        ),
                    )
                )
        for key in FAIRNESS_ALARMS:
            if key in alarms and monitor.sensitive_attribute is None:
                problems.append(
                    _problem(
                        f"{at}.alarms.{key}",
                        alarms[key],
                        "a fairness alarm, and the monitor has no sensitiveAttribute to compare "
                        "groups of",
                        "an input feature in sensitiveAttribute, or this alarm unset",
                    )
                )
            if key in alarms and monitor.problem == "regression":
                problems.append(
                    _problem(
                        f"{at}.alarms.{key}",
                        alarms[key],
                        "fairness rates are of predicted classes, and the model is a regression",
                        "problem: classification, or this alarm unset",
                    )
                )
    return problems


def _sensitive_source_problems(
    cfg: PlatformConfig, at: str, monitor: QualityMonitorSpec, source: SensitiveFrom
) -> list[ConfigProblem]:
    """The feature group exists, serves online, and holds the attribute."""
    groups = {g.name: g for g in cfg.feature_store.feature_groups if cfg.feature_store.enabled}
    group = groups.get(source.feature_group)
    if group is None:
        return [
            _problem(
                f"{at}.sensitiveFrom.featureGroup",
                source.feature_group,
                "not a feature group of featureStore.featureGroups",
                "one of "
                + (
                    ", ".join(sorted(groups))
                    or "(no feature groups, or the feature store disabled)"
                ),
            )
        ]
    problems: list[ConfigProblem] = []
    if not group.online_store.enabled:
        problems.append(
            _problem(
                f"{at}.sensitiveFrom.featureGroup",
                source.feature_group,
                "its online store is off, and the check reads records by identifier from it",
                "a feature group with onlineStore.enabled: true",
            )
        )
    names = [f.name for f in group.features]
    if monitor.sensitive_attribute is None:
        problems.append(
            _problem(
                f"{at}.sensitiveAttribute",
                _ABSENT,
                "sensitiveFrom names where the attribute is read, and no attribute is named",
                "a feature of " + source.feature_group,
            )
        )
    elif monitor.sensitive_attribute not in names:
        problems.append(
            _problem(
                f"{at}.sensitiveAttribute",
                monitor.sensitive_attribute,
                f"not a feature of feature group {source.feature_group}",
                "one of " + ", ".join(names),
            )
        )
    return problems


def _drift_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    drift = cfg.drift
    problems: list[ConfigProblem] = []
    if not drift.enabled:
        return problems
    if not (cfg.data_lake.enabled and cfg.model_registry.enabled):
        problems.append(
            _problem(
                "drift.enabled",
                True,
                "drift checks read capture and baselines from the data lake and registry, "
                "which are disabled",
                "false, or dataLake.enabled and modelRegistry.enabled true",
            )
        )
    models = [m.name for m in cfg.model_registry.models]
    seen: dict[tuple[str, str], int] = {}
    for index, monitor in enumerate(drift.monitors):
        if cfg.model_registry.enabled and monitor.model not in models:
            problems.append(
                _problem(
                    f"drift.monitors[{index}].model",
                    monitor.model,
                    "not a model of modelRegistry.models",
                    "one of " + (", ".join(models) or "(no models declared)"),
                )
            )
        first = seen.setdefault((monitor.model, monitor.endpoint), index)
        if first != index:
            problems.append(
                _problem(
                    f"drift.monitors[{index}].endpoint",
                    monitor.endpoint,
                    f"model {monitor.model} already watches this endpoint at monitors[{first}]",
                    "one monitor per model and endpoint",
                )
            )
    return problems


MAX_SHIFT_PERCENT = 50
"""The largest first (canary) or per-step (linear) traffic shift of a blue/green rollout."""


def _inference_checks(cfg: PlatformConfig, stack: str) -> list[ConfigProblem]:
    """Rules of the `inference` section's endpoints (`inference.minInstances` in prod and the
    section's own min <= max are checked with the tier rules)."""
    inference = cfg.inference
    problems: list[ConfigProblem] = []
    if inference.enabled:
        needs = _needs_lake_and_registry(
            cfg,
            "inference.enabled",
            "endpoints serve registered model versions and capture to the data lake",
        )
        if needs is not None:
            problems.append(needs)
    endpoints = inference.endpoints
    for index, first in _duplicates([e.name for e in endpoints]).items():
        problems.append(
            _problem(
                f"inference.endpoints[{index}].name",
                endpoints[index].name,
                f"endpoint already declared at endpoints[{first}]; SageMaker endpoint names "
                "ignore case",
                "a name used once per stack",
            )
        )
    models = [m.name for m in cfg.model_registry.models]
    for index, endpoint in enumerate(endpoints):
        at = f"inference.endpoints[{index}]"
        length = _physical_length_problem(
            f"{at}.name", endpoint.name, stack, ENDPOINT_NAME_LIMIT, "the endpoint name"
        )
        if length is not None:
            problems.append(length)
        if cfg.model_registry.enabled and endpoint.model not in models:
            problems.append(
                _problem(
                    f"{at}.model",
                    endpoint.model,
                    "not a model of modelRegistry.models",
                    "one of " + (", ".join(models) or "(no models declared)"),
                )
            )
        if endpoint.kind == "serverless":
            problems.extend(_serverless_problems(at, endpoint))
        else:
            problems.extend(_realtime_problems(at, endpoint, cfg))
        problems.extend(_rollout_problems(f"{at}.rollout", endpoint.rollout))
    return problems


def _cost_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    """The guardrail stops spend in dev and staging only: in prod it would stop the business."""
    cost = cfg.cost
    problems: list[ConfigProblem] = []
    if cost.guardrail.enabled and cfg.tier == "prod":
        problems.append(
            _problem(
                "cost.guardrail.enabled",
                True,
                "the guardrail denies new training jobs and endpoints when the budget is "
                "exceeded, which in prod would stop rollouts and retraining",
                "false when tier is prod (the budget notifications and anomaly alerts still apply)",
            )
        )
    if cost.guardrail.enabled and not cost.enabled:
        problems.append(
            _problem(
                "cost.guardrail.enabled",
                True,
                "the guardrail is an action of the stack's budget, and cost.enabled is false",
                "false, or cost.enabled: true",
            )
        )
    return problems


def _cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _memory_bytes(quantity: str) -> float:
    number = re.match(r"^[0-9]+(\.[0-9]+)?", quantity)
    assert number is not None  # the field's pattern
    return float(number[0]) * MEMORY_UNITS[quantity[number.end() :]]


def _kubernetes_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    """Rules of the `kubernetes` section. The services' rules apply whether or not the section
    is enabled (a service is checked when it is declared, not when it is switched on); the
    section's own requirements only when it is enabled."""
    kubernetes = cfg.kubernetes
    problems: list[ConfigProblem] = []
    if kubernetes.enabled:
        needs = _needs_lake_and_registry(
            cfg,
            "kubernetes.enabled",
            "Kubernetes services serve registered model versions and capture to the data lake",
        )
        if needs is not None:
            problems.append(needs)
        if kubernetes.cluster is None:
            problems.append(
                _problem(
                    "kubernetes.cluster",
                    _ABSENT,
                    "required when kubernetes.enabled is true",
                    CLUSTER_ACCEPTED,
                )
            )
        if kubernetes.prometheus_stack_chart_version is None:
            problems.append(
                _problem(
                    "kubernetes.prometheusStackChartVersion",
                    _ABSENT,
                    "required when kubernetes.enabled is true: the monitoring chart is pinned",
                    'a kube-prometheus-stack chart version, e.g. "75.15.1"',
                )
            )
        if kubernetes.serving_sidecar_image is None:
            problems.append(
                _problem(
                    "kubernetes.servingSidecarImage",
                    _ABSENT,
                    "required when kubernetes.enabled is true: every model pod fetches its "
                    "model, captures and reports metrics through it",
                    PINNED_IMAGE_ACCEPTED + " (built from images/serving_sidecar)",
                )
            )
    problems.extend(_cluster_problems(cfg))
    images = [("kubernetes.servingSidecarImage", kubernetes.serving_sidecar_image)]
    images += [
        (f"kubernetes.services[{i}].image", s.image) for i, s in enumerate(kubernetes.services)
    ]
    for key, image in images:
        problem = _kubernetes_image_problem(image, cfg.region)
        if problem is not None:
            problems.append(_problem(key, image, problem, KUBERNETES_IMAGE_ACCEPTED))
    services = kubernetes.services
    for index, first in _duplicates([s.name for s in services]).items():
        problems.append(
            _problem(
                f"kubernetes.services[{index}].name",
                services[index].name,
                f"service already declared at services[{first}]",
                "a name used once per stack",
            )
        )
    models = [m.name for m in cfg.model_registry.models]
    for index, service in enumerate(services):
        at = f"kubernetes.services[{index}]"
        if cfg.model_registry.enabled and service.model not in models:
            problems.append(
                _problem(
                    f"{at}.model",
                    service.model,
                    "not a model of modelRegistry.models",
                    "one of " + (", ".join(models) or "(no models declared)"),
                )
            )
        problems.extend(_service_problems(at, service, cfg.tier))
    return problems


def _kubernetes_image_problem(image: str | None, region: str) -> str | None:
    """Pods run images by digest (CKV_K8S_43): given one, or a tag the program can resolve."""
    if image is None or "@sha256:" in image:
        return None
    ecr = ecr_image(image)
    if ecr is None:
        return (
            "pinned by a tag outside ECR: the program cannot resolve it to a digest, and a tag "
            "can be pushed again"
        )
    if ecr.region != region:
        return f"an ECR image of region {ecr.region}; the program resolves tags in {region} only"
    return None


def _cluster_problems(cfg: PlatformConfig) -> list[ConfigProblem]:
    cluster = cfg.kubernetes.cluster
    problems: list[ConfigProblem] = []
    if isinstance(cluster, EksCluster):
        if cluster.min_nodes > cluster.max_nodes:
            problems.append(
                _problem(
                    "kubernetes.cluster.minNodes",
                    cluster.min_nodes,
                    f"greater than cluster.maxNodes ({cluster.max_nodes})",
                    f"an integer <= {cluster.max_nodes}",
                )
            )
        if cfg.tier == "prod" and "0.0.0.0/0" in cluster.endpoint_public_access_cidrs:
            problems.append(
                _problem(
                    "kubernetes.cluster.endpointPublicAccessCidrs",
                    cluster.endpoint_public_access_cidrs,
                    "a prod cluster's API server may not be open to the whole internet",
                    "the CIDRs of the networks that administer the cluster, or [] (private "
                    "endpoint only) when tier is prod",
                )
            )
        if cluster.subnet_ids is None and cfg.network is None:
            problems.append(
                _problem(
                    "kubernetes.cluster.subnetIds",
                    _ABSENT,
                    "the cluster's control plane and nodes need subnets, and no network is set",
                    "private subnet ids in two or more zones, or network.subnetIds",
                )
            )
    elif isinstance(cluster, ExistingCluster) and cfg.kubeconfig is None:
        problems.append(
            ConfigProblem(
                f"{PROJECT}:kubeconfig",
                _show(_ABSENT),
                "required when kubernetes.cluster.mode is existing: the provider connects with it",
                "the cluster's kubeconfig as a secret: pulumi config set --secret kubeconfig "
                "< FILE",
            )
        )
    return problems


def _service_problems(at: str, service: KubernetesService, tier: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    replicas = service.replicas
    if replicas.min > replicas.max:
        problems.append(
            _problem(
                f"{at}.replicas.min",
                replicas.min,
                f"greater than replicas.max ({replicas.max})",
                f"an integer <= {replicas.max}",
            )
        )
    if tier == "prod" and replicas.min < 2:
        problems.append(
            _problem(
                f"{at}.replicas.min",
                replicas.min,
                "a prod service needs more than one replica to survive a node's loss",
                "an integer >= 2 when tier is prod",
            )
        )
    # At the HPA's floor a PDB allows replicas.min - pdbMinAvailable evictions; at 0 a node
    # drain (a cluster upgrade, a node replacement) waits forever.
    if replicas.min < service.pdb_min_available + 1:
        problems.append(
            _problem(
                f"{at}.pdbMinAvailable",
                service.pdb_min_available,
                f"not below replicas.min ({replicas.min}): at the autoscaler's floor the "
                "disruption budget allows no eviction, so node drains would block",
                f"an integer <= {replicas.min - 1}, or replicas.min >= "
                f"{service.pdb_min_available + 1}",
            )
        )
    requests, limits = service.resources.requests, service.resources.limits
    for key, request, limit, size in (
        ("cpu", requests.cpu, limits.cpu, _cpu_cores),
        ("memory", requests.memory, limits.memory, _memory_bytes),
    ):
        if size(limit) < size(request):
            problems.append(
                _problem(
                    f"{at}.resources.limits.{key}",
                    limit,
                    f"below resources.requests.{key} ({request}); Kubernetes refuses a limit "
                    "below the request",
                    f"a quantity >= {request}",
                )
            )
    problems.extend(_kubernetes_rollout_problems(f"{at}.rollout", service.rollout))
    if service.shadow is not None and service.shadow.model_version is None:
        problems.append(
            _problem(
                f"{at}.shadow.modelVersion",
                _ABSENT,
                f"shadow.mirrorPercent ({service.shadow.mirror_percent}) mirrors traffic to a "
                "shadow, and no shadow version is given",
                "a model version (" + describe_annotation(ModelVersion) + "), or shadow unset",
            )
        )
    return problems


def _kubernetes_rollout_problems(at: str, rollout: KubernetesRollout) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    given = rollout.model_fields_set
    if rollout.strategy == "canary":
        for key, name in (("active", "active"), ("greenVersion", "green_version")):
            if name in given:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        getattr(rollout, name),
                        "a blue/green setting, and the strategy is canary",
                        "unset, or strategy: blue-green",
                    )
                )
        for key, value in (("canaryVersion", rollout.canary_version), ("weights", rollout.weights)):
            if value is None:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        _ABSENT,
                        "required when strategy is canary",
                        "a model version (" + describe_annotation(ModelVersion) + ")"
                        if key == "canaryVersion"
                        else "a mapping {stable: <int>, canary: <int>} adding up to 100",
                    )
                )
        weights = rollout.weights
        if weights is not None and weights.stable + weights.canary != 100:
            problems.append(
                _problem(
                    f"{at}.weights",
                    weights.model_dump(by_alias=True),
                    f"the shares add up to {weights.stable + weights.canary}%, not 100%",
                    "stable + canary = 100",
                )
            )
        return problems
    for key, value in (("canaryVersion", rollout.canary_version), ("weights", rollout.weights)):
        if value is not None:
            problems.append(
                _problem(
                    f"{at}.{key}",
                    value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value,
                    "a canary setting, and the strategy is blue-green",
                    "unset, or strategy: canary",
                )
            )
    if rollout.active == "green" and rollout.green_version is None:
        problems.append(
            _problem(
                f"{at}.greenVersion",
                _ABSENT,
                "active is green, and the green deployment has no model version",
                "a model version (" + describe_annotation(ModelVersion) + "), or active: blue",
            )
        )
    return problems


def _retraining_checks(cfg: PlatformConfig) -> list[ConfigProblem]:
    """The trigger acts on what the drift monitors report, and dispatches only with a token."""
    retraining = cfg.retraining
    if not retraining.enabled:
        return []
    problems: list[ConfigProblem] = []
    pipelines = sorted({p.model for p in cfg.training.pipelines})
    declared = {m.name for m in cfg.model_registry.models}
    if cfg.drift.enabled and cfg.training.enabled:
        for index, monitor in enumerate(cfg.drift.monitors):
            # An undeclared model is reported by the drift rules already.
            if monitor.model in declared and monitor.model not in pipelines:
                problems.append(
                    _problem(
                        f"drift.monitors[{index}].model",
                        monitor.model,
                        "retraining is enabled and this model has no training pipeline, so its "
                        "drift could not be acted on",
                        "a model with an entry in training.pipelines ("
                        + (", ".join(pipelines) or "none declared")
                        + "), or retraining.enabled: false",
                    )
                )
    promotion = retraining.promotion
    if (promotion.github_repository is None) != (promotion.token_secret_arn is None):
        given, missing = (
            ("githubRepository", "tokenSecretArn")
            if promotion.github_repository is not None
            else ("tokenSecretArn", "githubRepository")
        )
        problems.append(
            _problem(
                f"retraining.promotion.{missing}",
                _ABSENT,
                f"promotion.{given} is set, and a deployment dispatch needs both the repository "
                "and the secret holding its token",
                "both githubRepository and tokenSecretArn, or neither (notify only)",
            )
        )
    return problems


def _serverless_problems(at: str, endpoint: EndpointSpec) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if endpoint.realtime is not None:
        problems.append(
            _problem(
                f"{at}.realtime",
                endpoint.realtime.model_dump(by_alias=True, exclude_unset=True),
                "instances and autoscaling apply to a real-time endpoint, and this one is "
                "serverless",
                "unset, or kind: realtime",
            )
        )
    if endpoint.shadow is not None:
        problems.append(
            _problem(
                f"{at}.shadow",
                endpoint.shadow.model_dump(by_alias=True, exclude_unset=True),
                "SageMaker has no shadow variants on serverless endpoints",
                "unset, or kind: realtime",
            )
        )
    serverless = endpoint.serverless
    if (
        serverless is not None
        and serverless.provisioned_concurrency is not None
        and serverless.provisioned_concurrency > serverless.max_concurrency
    ):
        problems.append(
            _problem(
                f"{at}.serverless.provisionedConcurrency",
                serverless.provisioned_concurrency,
                f"above serverless.maxConcurrency ({serverless.max_concurrency})",
                f"an integer from 1 to {serverless.max_concurrency}, or unset",
            )
        )
    return problems


def _realtime_problems(at: str, endpoint: EndpointSpec, cfg: PlatformConfig) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if endpoint.serverless is not None:
        problems.append(
            _problem(
                f"{at}.serverless",
                endpoint.serverless.model_dump(by_alias=True, exclude_unset=True),
                "serverless capacity applies to a serverless endpoint, and this one is real-time",
                "unset, or kind: serverless",
            )
        )
    spec = endpoint.realtime
    if spec is None:
        # Every value is the section's own, which the tier rules check.
        return problems
    resolved = cfg.inference.realtime(endpoint)
    if resolved.min_instances > resolved.max_instances:
        if spec.min_instances is not None:
            source = (
                "realtime.maxInstances"
                if spec.max_instances is not None
                else "inference.maxInstances"
            )
            problems.append(
                _problem(
                    f"{at}.realtime.minInstances",
                    resolved.min_instances,
                    f"greater than {source} ({resolved.max_instances})",
                    f"an integer <= {resolved.max_instances}",
                )
            )
        else:
            problems.append(
                _problem(
                    f"{at}.realtime.maxInstances",
                    resolved.max_instances,
                    f"below inference.minInstances ({resolved.min_instances})",
                    f"an integer >= {resolved.min_instances}, or realtime.minInstances set",
                )
            )
    if cfg.tier == "prod" and spec.min_instances is not None and spec.min_instances < 2:
        problems.append(
            _problem(
                f"{at}.realtime.minInstances",
                spec.min_instances,
                "a prod real-time endpoint needs more than one instance (SageMaker.4)",
                "an integer >= 2 when tier is prod",
            )
        )
    return problems


def _rollout_problems(at: str, rollout: Rollout) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    shift = {
        "canary": ("canaryPercent", rollout.canary_percent, "the canary's share"),
        "linear": ("linearStepPercent", rollout.linear_step_percent, "a linear step"),
    }.get(rollout.type)
    if shift is not None and shift[1] > MAX_SHIFT_PERCENT:
        key, value, what = shift
        problems.append(
            _problem(
                f"{at}.{key}",
                value,
                f"{what} is over {MAX_SHIFT_PERCENT}% of the traffic, so most requests reach "
                "the new version before the alarms had a chance",
                f"an integer from 1 to {MAX_SHIFT_PERCENT}, or type: all-at-once",
            )
        )
    if shift is not None and not rollout.auto_rollback:
        problems.append(
            _problem(
                f"{at}.autoRollback",
                False,
                f"blue/green without alarms: a {rollout.type} rollout shifts traffic in steps "
                "only to roll back when the alarms fire",
                "true, or type: all-at-once",
            )
        )
    return problems


SCORE_METRICS = ("auc", "accuracy", "f1", "precision", "recall", "r2")
"""Metrics where higher is better: their gate compares with `gte`."""
ERROR_METRICS = ("rmse", "mae", "mse", "logloss")
"""Metrics where lower is better: their gate compares with `lte`."""
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("auc", "accuracy", "f1", "precision", "recall"), (0.0, 1.0)),
    **dict.fromkeys(ERROR_METRICS, (0.0, math.inf)),
    "r2": (-math.inf, 1.0),
}
"""The values a well-known metric can take; other metric names accept any finite threshold."""

VERSIONS_LISTED = 12
"""At most this many framework versions are listed in a message (newest first)."""

INSTANCE_KINDS = {
    "training": (
        sagemaker_catalog.training_instance_types,
        "ml.m5.xlarge, ml.c5.2xlarge, ml.g5.xlarge",
    ),
    "processing": (
        sagemaker_catalog.processing_instance_types,
        "ml.m5.large, ml.m5.xlarge, ml.c5.xlarge",
    ),
    "batch transform": (
        sagemaker_catalog.transform_instance_types,
        "ml.m5.xlarge, ml.c5.xlarge, ml.g4dn.xlarge",
    ),
}
"""Job kind: (the instance types SageMaker offers for it, examples for the message)."""

PROCESSOR_EXAMPLES = {"cpu": "ml.m5.xlarge", "gpu": "ml.g5.xlarge"}


def _training_checks(cfg: PlatformConfig, project_dir: Path | None) -> list[ConfigProblem]:
    """Rules of the `training` section. The SageMaker facts (framework images, instance types)
    come from the SDKs' data files in the SDK's environment (`sagemaker_catalog`), read only
    when training is enabled."""
    training = cfg.training
    problems: list[ConfigProblem] = []
    if training.mlflow.enabled and not training.enabled:
        problems.append(
            _problem(
                "training.mlflow.enabled",
                True,
                "the tracking server records training runs, and training is disabled",
                "false, or training.enabled: true",
            )
        )
    if not training.enabled:
        return problems
    needs = _needs_lake_and_registry(
        cfg,
        "training.enabled",
        "training pipelines read the data lake and register versions in the model registry",
    )
    if needs is not None:
        problems.append(needs)
    problems.extend(
        _instance_type_problems("training.instanceType", training.instance_type, "training")
    )
    problems.extend(
        _instance_type_problems(
            "training.processingInstanceType", training.processing_instance_type, "processing"
        )
    )
    if training.spot and training.max_wait_hours < training.max_runtime_hours:
        problems.append(
            _problem(
                "training.maxWaitHours",
                training.max_wait_hours,
                f"below training.maxRuntimeHours ({training.max_runtime_hours}); a Spot job's "
                "wait includes its run",
                f"an integer >= {training.max_runtime_hours}, or training.spot: false",
            )
        )
    models = [m.name for m in cfg.model_registry.models]
    seen: dict[str, int] = {}
    for index, spec in enumerate(training.pipelines):
        at = f"training.pipelines[{index}]"
        if cfg.model_registry.enabled and spec.model not in models:
            problems.append(
                _problem(
                    f"{at}.model",
                    spec.model,
                    "not a model of modelRegistry.models",
                    "one of " + (", ".join(models) or "(no models declared)"),
                )
            )
        first = seen.setdefault(spec.model, index)
        if first != index:
            problems.append(
                _problem(
                    f"{at}.model",
                    spec.model,
                    f"model {spec.model} already has a pipeline at pipelines[{first}]",
                    "one pipeline per model",
                )
            )
        instance_problems = []
        if spec.instance_type is not None:
            instance_problems = _instance_type_problems(
                f"{at}.instanceType", spec.instance_type, "training"
            )
        problems.extend(instance_problems)
        problems.extend(
            _framework_problems(at, spec, training, check_processor=not instance_problems)
        )
        problems.extend(
            _instance_type_problems(
                f"{at}.batchTransform.instanceType",
                spec.batch_transform.instance_type,
                "batch transform",
            )
        )
        problems.extend(_spot_problems(at, spec, training))
        problems.extend(_metric_problems(f"{at}.metric", spec.metric))
        problems.extend(_column_problems(at, spec))
        problems.extend(_entry_point_problems(at, spec, project_dir))
    return problems


def _instance_type_problems(key: str, value: str, kind: str) -> list[ConfigProblem]:
    offered, examples = INSTANCE_KINDS[kind]
    if value in offered():
        return []
    return [
        _problem(
            key,
            value,
            f"not an instance type SageMaker offers for {kind} jobs",
            f"a SageMaker {kind} instance type, e.g. {examples}",
        )
    ]


def _listing(versions: list[str]) -> str:
    shown = ", ".join(versions[:VERSIONS_LISTED])
    return shown + (", …" if len(versions) > VERSIONS_LISTED else "")


def _framework_problems(
    at: str, spec: TrainingPipelineSpec, training: Training, check_processor: bool
) -> list[ConfigProblem]:
    """Framework, its version and Python version as the SDK knows them; the instance type's
    processor and count as the framework's images allow."""
    problems: list[ConfigProblem] = []
    if spec.framework == "custom":
        for key, value, what in (
            ("frameworkVersion", spec.framework_version, "framework version"),
            ("pyVersion", spec.py_version, "Python version to choose"),
        ):
            if value is not None:
                problems.append(
                    _problem(
                        f"{at}.{key}",
                        value,
                        f"framework custom runs the model's own image, which has no {what}",
                        "unset when framework is custom",
                    )
                )
        return problems
    known = sagemaker_catalog.known_frameworks()
    if spec.framework not in known:
        return [
            _problem(
                f"{at}.framework",
                spec.framework,
                "not a SageMaker framework image the training pipelines support",
                "one of " + ", ".join(known) + ", or custom (the model's own ECR image)",
            )
        ]
    # The pipeline registers the trained model with the framework's inference image of the
    # same version: only versions with both images are offered.
    versions = [
        v
        for v in sagemaker_catalog.training_versions(spec.framework)
        if sagemaker_catalog.resolve_version(spec.framework, v, "inference") is not None
    ]
    if spec.framework_version is None:
        return [
            _problem(
                f"{at}.frameworkVersion",
                _ABSENT,
                f"required for framework {spec.framework}",
                "one of " + _listing(versions),
            )
        ]
    version = sagemaker_catalog.resolve_training_version(spec.framework, spec.framework_version)
    if version is None:
        return [
            _problem(
                f"{at}.frameworkVersion",
                spec.framework_version,
                f"not a {spec.framework} training image version of the installed sagemaker SDK "
                f"({sagemaker_catalog.sdk_version()})",
                "one of " + _listing(versions),
            )
        ]
    if (
        sagemaker_catalog.resolve_version(spec.framework, spec.framework_version, "inference")
        is None
    ):
        return [
            _problem(
                f"{at}.frameworkVersion",
                spec.framework_version,
                f"the sagemaker SDK ({sagemaker_catalog.sdk_version()}) has a {spec.framework} "
                f"{version} training image but no inference image, which the registered model "
                "needs",
                "one of " + _listing(versions),
            )
        ]
    image = f"the {spec.framework} {version} training image"
    py_versions = sagemaker_catalog.training_py_versions(spec.framework, version)
    if spec.py_version is None and len(py_versions) > 1:
        problems.append(
            _problem(
                f"{at}.pyVersion",
                _ABSENT,
                f"required: {image} comes in several Python versions",
                "one of " + ", ".join(py_versions),
            )
        )
    elif spec.py_version is not None and py_versions and spec.py_version not in py_versions:
        problems.append(
            _problem(
                f"{at}.pyVersion",
                spec.py_version,
                f"not a Python version of {image}",
                "one of " + ", ".join(py_versions),
            )
        )
    own_type = spec.instance_type is not None
    instance_type = spec.instance_type or training.instance_type
    processor = sagemaker_catalog.processor_of(instance_type)
    processors = sagemaker_catalog.training_processors(spec.framework, version)
    # Inferentia and Trainium use other images (the SDK's neuron configs): not judged here.
    if (
        check_processor
        and processors
        and processor in PROCESSOR_EXAMPLES
        and processor not in processors
    ):
        fitting = [p for p in processors if p in PROCESSOR_EXAMPLES]
        problems.append(
            _problem(
                f"{at}.instanceType" if own_type else "training.instanceType",
                instance_type,
                f"{image} has no {processor} build"
                + ("" if own_type else f"; {at} uses this instance type"),
                f"a {' or '.join(fitting)} instance type, e.g. "
                + ", ".join(PROCESSOR_EXAMPLES[p] for p in fitting)
                + ("" if own_type else f", or {at}.instanceType set to one"),
            )
        )
    count = spec.instance_count or training.instance_count
    if spec.framework == "sklearn" and count > 1:
        own_count = spec.instance_count is not None
        problems.append(
            _problem(
                f"{at}.instanceCount" if own_count else "training.instanceCount",
                count,
                "scikit-learn trains on one instance only"
                + ("" if own_count else f"; {at} uses this count"),
                "1 for framework sklearn" + ("" if own_count else f", or {at}.instanceCount: 1"),
            )
        )
    return problems


def _spot_problems(at: str, spec: TrainingPipelineSpec, training: Training) -> list[ConfigProblem]:
    """Spot needs the wait (capacity plus run) no shorter than the run. The problem names the
    most specific key that makes it: the pipeline's maxWaitHours, then its maxRuntimeHours,
    then its spot; a pipeline inheriting all three shares the stack's problem (reported once,
    at training.maxWaitHours)."""
    spot = training.spot if spec.spot is None else spec.spot
    run = spec.max_runtime_hours or training.max_runtime_hours
    wait = spec.max_wait_hours or training.max_wait_hours
    if not spot or wait >= run:
        return []
    if spec.max_wait_hours is not None:
        run_key = (
            "maxRuntimeHours" if spec.max_runtime_hours is not None else "training.maxRuntimeHours"
        )
        return [
            _problem(
                f"{at}.maxWaitHours",
                wait,
                f"below {run_key} ({run}); a Spot job's wait includes its run",
                f"an integer >= {run}, or spot: false",
            )
        ]
    if spec.max_runtime_hours is not None:
        return [
            _problem(
                f"{at}.maxRuntimeHours",
                run,
                f"above training.maxWaitHours ({wait}); a Spot job's wait includes its run",
                f"an integer <= {wait}, maxWaitHours >= {run}, or spot: false",
            )
        ]
    if spec.spot and not training.spot:
        return [
            _problem(
                f"{at}.spot",
                True,
                f"Spot with training.maxWaitHours ({wait}) below training.maxRuntimeHours "
                f"({run}); a Spot job's wait includes its run",
                f"false, or maxWaitHours >= {run}",
            )
        ]
    return []


def _metric_problems(at: str, metric: TrainingMetric) -> list[ConfigProblem]:
    """The gate's threshold within what the metric can take, and compared the right way."""
    problems: list[ConfigProblem] = []
    name = metric.name.lower()
    threshold = metric.threshold
    if not math.isfinite(threshold):
        return [_problem(f"{at}.threshold", threshold, "not a finite number", "a finite number")]
    low, high = METRIC_RANGES.get(name, (-math.inf, math.inf))
    if not low <= threshold <= high:
        if math.isinf(high):
            accepted = f"a number >= {low:g}"
        elif math.isinf(low):
            accepted = f"a number <= {high:g}"
        else:
            accepted = f"a number from {low:g} to {high:g}"
        problems.append(
            _problem(
                f"{at}.threshold",
                threshold,
                f"{metric.name} never takes this value, so the gate would always pass or always "
                "fail",
                f"{accepted} for {metric.name}",
            )
        )
    if name in ERROR_METRICS and metric.comparison == "gte":
        problems.append(
            _problem(
                f"{at}.comparison",
                "gte",
                f"{metric.name} is an error metric, lower is better: gte would register worse "
                "models and refuse better ones",
                f'"lte" for {metric.name}',
            )
        )
    if name in SCORE_METRICS and metric.comparison == "lte":
        problems.append(
            _problem(
                f"{at}.comparison",
                "lte",
                f"{metric.name} is a score, higher is better: lte would register worse models "
                "and refuse better ones",
                f'"gte" for {metric.name}',
            )
        )
    return problems


def _column_problems(at: str, spec: TrainingPipelineSpec) -> list[ConfigProblem]:
    """Column names unique regardless of case; the label is not one of the input columns."""
    problems: list[ConfigProblem] = []
    names = [c.name for c in spec.columns]
    for position, first in _duplicates(names).items():
        problems.append(
            _problem(
                f"{at}.columns[{position}].name",
                names[position],
                f"duplicate of columns[{first}] ({names[first]!r}); column names are compared "
                "regardless of case",
                "column names unique regardless of case",
            )
        )
    clash = next((i for i, name in enumerate(names) if name.lower() == spec.target.lower()), None)
    if clash is not None:
        same = names[clash] == spec.target
        problems.append(
            _problem(
                f"{at}.target",
                spec.target,
                f"also input column columns[{clash}]"
                + ("" if same else f" ({names[clash]!r}, compared regardless of case)")
                + "; the label must not be an input",
                "a label column not among the columns",
            )
        )
    return problems


def _entry_point_problems(
    at: str, spec: TrainingPipelineSpec, project_dir: Path | None
) -> list[ConfigProblem]:
    """The training script stays in `pipelines/<model>/` and, when the repository root is known
    and has a `pipelines/` folder, exists there."""
    entry = spec.entry_point
    folder = f"pipelines/{spec.model}/"
    if entry.startswith("/") or ".." in entry.split("/"):
        return [
            _problem(
                f"{at}.entryPoint",
                entry,
                f"leaves {folder}",
                f"a path inside {folder}, e.g. train.py",
            )
        ]
    if project_dir is None or not (project_dir / "pipelines").is_dir():
        return []
    if (project_dir / folder / entry).is_file():
        return []
    return [
        _problem(
            f"{at}.entryPoint",
            entry,
            f"no file {folder}{entry} in the repository",
            f"the path of a training script in {folder}",
        )
    ]


FEATURE_GROUP_NAME_LIMIT = 64
MODEL_PACKAGE_GROUP_NAME_LIMIT = 63
ENDPOINT_NAME_LIMIT = 63

PLATFORM_TAG_KEYS = ("Project", "Environment", "CostCenter", "Owner", "ManagedBy")
"""The default tags every AWS resource carries through the provider."""


# --------------------------------------------------------------------------------------------
# Loading


def _is_structured(info: FieldInfo) -> bool:
    annotation = info.annotation
    if _model_of(annotation) is not None:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        origin = get_origin(get_args(annotation)[0])
    return origin in (tuple, dict, list)


TOP_LEVEL_KEYS: dict[str, FieldInfo] = {
    (f.alias or n): f for n, f in PlatformConfig.model_fields.items()
}


SECRET_KEYS = frozenset({"kubeconfig"})
"""Top-level keys that must be Pulumi secrets: given in plain text, they are refused."""


def load_platform_config(
    raw: Mapping[str, Any],
    stack: str,
    config_dir: str = "stacks",
    secret_keys: Collection[str] = (),
) -> PlatformConfig:
    """Validate a stack's raw config map (full `namespace:key` keys, Pulumi's string values).

    Raises `ConfigError` with every problem found in one pass: every key is checked on its own
    first; the rules across keys (tier prod, min <= max, dependencies between capabilities) are
    checked once every key is valid on its own, since they need the whole model. Structured
    values may be given as JSON text (as Pulumi passes them) or as parsed mappings and lists.

    `config_dir` is the directory of the stack files; its parent is taken as the repository
    root (a relative `config_dir` is resolved against the working directory, which is the
    project directory when Pulumi runs the program). The training checks look there for each
    pipeline's `pipelines/<model>/<entryPoint>`, and only when that root has a `pipelines/`
    folder: a config validated away from the repository (a temporary directory in a test)
    skips that one rule.

    `secret_keys` are the full keys Pulumi holds as secrets; a key of `SECRET_KEYS` outside it
    is refused, and its value is never shown in the error.
    """
    stack_file = f"{config_dir}/Pulumi.{stack}.yaml"
    problems: list[ConfigProblem] = []
    values: dict[str, Any] = {}
    # Secret keys refused below: the rules across keys do not report them missing as well.
    refused: set[str] = set()
    for full_key, given in sorted(raw.items()):
        value = given
        namespace, colon, key = full_key.partition(":")
        if not key:
            problem = "key has no name after its namespace" if colon else "key has no namespace"
            problems.append(ConfigProblem(full_key, _show(value), problem, f"{PROJECT}:<key>"))
            continue
        if namespace in ALLOWED_FOREIGN_NAMESPACES:
            continue
        if key in SECRET_KEYS and full_key not in secret_keys:
            refused.add(full_key)
            problems.append(
                ConfigProblem(
                    full_key,
                    "<plain text, not shown>",
                    "a secret given in plain text: it would be stored unencrypted in the stack "
                    "file and the state",
                    f"a Pulumi secret: pulumi config set --secret {key} < FILE",
                )
            )
            continue
        if key in SECRET_KEYS and not (isinstance(value, str) and value.strip()):
            refused.add(full_key)
            problems.append(
                ConfigProblem(
                    full_key, "<secret, not shown>", "empty or not text", "the file's text"
                )
            )
            continue
        if namespace != PROJECT:
            problems.append(
                ConfigProblem(
                    full_key,
                    _show(value),
                    f"unknown config namespace {namespace!r}; the platform builds its own AWS "
                    "provider from mlops-platform:region and ignores other namespaces",
                    f"keys {PROJECT}:<key> (see the README's configuration reference) or "
                    + ", ".join(f"{n}:<key>" for n in ALLOWED_FOREIGN_NAMESPACES),
                )
            )
            continue
        info = TOP_LEVEL_KEYS.get(key)
        if info is not None and _is_structured(info) and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append(
                    ConfigProblem(
                        f"{PROJECT}:{key}",
                        _show(value),
                        "expected a structured value, got text that is not JSON",
                        describe_field(info),
                    )
                )
                continue
        if info is not None and info.default is None and value == {}:
            # An empty mapping is how Pulumi.yaml spells "unset" for an optional section.
            continue
        values[key] = value
    try:
        cfg = PlatformConfig.model_validate(values, by_alias=True)
    except ValidationError as exc:
        problems.extend(_problem_from_error(e, values) for e in exc.errors())
        raise ConfigError(stack_file, problems) from None
    problems.extend(
        p
        for p in _cross_checks(cfg, stack, Path(config_dir).resolve().parent)
        if p.key not in refused
    )
    if problems:
        raise ConfigError(stack_file, problems)
    return cfg
