"""The platform program: validate the stack's config, then build the platform on one provider.

Capabilities are added here as components, each receiving the same `PlatformContext`; a
capability whose config section is disabled (or not built yet) registers nothing.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from components.config import PlatformConfig, load_platform_config
from components.data_lake import DataLake, DataLakeArgs
from components.drift import DriftMonitor, DriftMonitorArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.inference import InferenceArgs, SageMakerEndpoints
from components.kms import PlatformKey, PlatformKeyArgs
from components.model_registry import ModelRegistry, ModelRegistryArgs
from components.naming import Naming
from components.notifications import (
    PlatformEventBus,
    PlatformEventBusArgs,
    PlatformTopic,
    PlatformTopicArgs,
)
from components.platform import PlatformContext, aws_provider, partition_for
from components.training import TrainingPipelines, TrainingPipelinesArgs

STACK_CONFIG_DIR = "stacks"


def raw_stack_config() -> dict[str, Any]:
    """Every config key Pulumi handed this run (explicitly set map, then the environment's)."""
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def read_config() -> PlatformConfig:
    """The validated config of the current stack; raises ConfigError before any resource."""
    return load_platform_config(raw_stack_config(), pulumi.get_stack(), STACK_CONFIG_DIR)


def main() -> None:
    cfg = read_config()
    naming = Naming(pulumi.get_project(), pulumi.get_stack())
    provider = aws_provider("aws", cfg)
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    ctx = PlatformContext(
        config=cfg,
        naming=naming,
        provider=provider,
        partition=partition_for(cfg.region),
        account_id=identity.account_id,
    )
    key = PlatformKey("platform", PlatformKeyArgs(context=ctx))

    pulumi.export("environment", cfg.environment)
    pulumi.export("region", cfg.region)
    pulumi.export("kmsKeyArn", key.key_arn)
    pulumi.export("kmsKeyAlias", key.alias_name)

    lake: DataLake | None = None
    if cfg.data_lake.enabled:
        lake = DataLake(
            "lake", DataLakeArgs(context=ctx, kms_key_arn=key.key_arn, account_id=ctx.account_id)
        )
        pulumi.export("buckets", {role: b.bucket_name for role, b in lake.buckets.items()})
        pulumi.export("glueDatabase", lake.glue_database_name)
        pulumi.export("athenaWorkgroup", lake.athena_workgroup_name)
        pulumi.export("dvcRemote", lake.dvc_remote)

    if cfg.feature_store.enabled and lake is not None:
        features = FeatureStore(
            "features",
            FeatureStoreArgs(
                context=ctx,
                kms_key_arn=key.key_arn,
                bucket_name=lake.buckets["features"].bucket_name,
                glue_database_name=lake.glue_database_name,
                account_id=ctx.account_id,
            ),
        )
        pulumi.export("featureGroups", features.feature_group_names)

    if cfg.model_registry.enabled and lake is not None:
        topic = PlatformTopic(
            "platform-events",
            PlatformTopicArgs(context=ctx, kms_key_arn=key.key_arn, account_id=ctx.account_id),
        )
        registry = ModelRegistry(
            "registry",
            ModelRegistryArgs(
                context=ctx,
                kms_key_arn=key.key_arn,
                topic_arn=topic.topic_arn,
                account_id=ctx.account_id,
                artifact_bucket_name=lake.buckets["model-artifacts"].bucket_name,
            ),
        )
        pulumi.export("platformTopicArn", topic.topic_arn)
        pulumi.export("modelPackageGroups", registry.group_names)
        pulumi.export("imageRepositories", registry.repository_urls)
        pulumi.export("modelArtifactUris", registry.artifact_uris)
        pulumi.export("modelApprovalRule", registry.approval_rule_name)
        pulumi.export("initialModelApprovalStatus", registry.initial_approval_status)

        training: TrainingPipelines | None = None
        if cfg.training.enabled:
            training = TrainingPipelines(
                "training",
                TrainingPipelinesArgs(
                    context=ctx,
                    kms_key_arn=key.key_arn,
                    data_bucket=lake.buckets["curated"].bucket_name,
                    artifact_bucket=lake.buckets["model-artifacts"].bucket_name,
                    model_package_groups=registry.group_names,
                    repository_urls=registry.repository_urls,
                    topic_arn=topic.topic_arn,
                    approval_status=registry.initial_approval_status,
                ),
            )
            pulumi.export("trainingPipelines", training.pipeline_names)
            pulumi.export("trainingPipelineArns", training.pipeline_arns)
            if training.batch_pipeline_names:
                pulumi.export("batchTransformPipelines", training.batch_pipeline_names)
            if training.mlflow_tracking_server_url is not None:
                pulumi.export("mlflowTrackingServerUrl", training.mlflow_tracking_server_url)

        if cfg.inference.enabled:
            _inference(ctx, key=key, lake=lake, registry=registry, topic=topic, training=training)

    if cfg.drift.enabled and lake is not None:
        bus = PlatformEventBus(
            "platform-bus",
            PlatformEventBusArgs(context=ctx, archive_days=cfg.logging.retention_days),
        )
        drift = DriftMonitor(
            "drift",
            DriftMonitorArgs(
                context=ctx,
                kms_key_arn=key.key_arn,
                capture_bucket=lake.buckets["capture"].bucket_name,
                baseline_bucket=lake.buckets["model-artifacts"].bucket_name,
                reports_bucket=lake.buckets["reports"].bucket_name,
                event_bus_name=bus.bus_name,
                event_bus_arn=bus.bus_arn,
            ),
        )
        pulumi.export("platformEventBus", bus.bus_name)
        pulumi.export("driftCheckFunction", drift.check_function_arn)
        pulumi.export("driftDeadLetterQueue", drift.dead_letter_queue_arn)
        if drift.state_machine_arn is not None:
            pulumi.export("driftScaleOutStateMachine", drift.state_machine_arn)


def _inference(
    ctx: PlatformContext,
    *,
    key: PlatformKey,
    lake: DataLake,
    registry: ModelRegistry,
    topic: PlatformTopic,
    training: TrainingPipelines | None,
) -> None:
    """The SageMaker endpoints, their capture and verification, and their outputs."""
    endpoints = SageMakerEndpoints(
        "inference",
        InferenceArgs(
            context=ctx,
            kms_key_arn=key.key_arn,
            capture_bucket=lake.buckets["capture"].bucket_name,
            artifact_bucket=lake.buckets["model-artifacts"].bucket_name,
            model_package_groups=registry.group_names,
            repository_urls=registry.repository_urls,
            topic_arn=topic.topic_arn,
            framework_images=training.inference_images if training else None,
        ),
    )
    pulumi.export("endpoints", endpoints.endpoint_names)
    pulumi.export("endpointConfigs", endpoints.endpoint_config_names)
    pulumi.export("endpointModelVersions", endpoints.model_versions)
    pulumi.export("endpointIntendedState", endpoints.intended_state_parameters)
    pulumi.export("endpointVerifierFunction", endpoints.verifier_function_arn)
    if endpoints.capture_proxy_urls:
        pulumi.export("captureProxyUrls", endpoints.capture_proxy_urls)
