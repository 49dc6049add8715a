"""The platform program: validate the stack's config, then build the platform on one provider.

Capabilities are added here as components, each receiving the same `PlatformContext`; a
capability whose config section is disabled (or not built yet) registers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from components.config import PlatformConfig, load_platform_config
from components.cost import CostArgs, CostControls, monthly_budget_name
from components.data_lake import DataLake, DataLakeArgs
from components.drift import DriftMonitor, DriftMonitorArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.functions import powertools_layer
from components.inference import InferenceArgs, SageMakerEndpoints
from components.kms import PlatformKey, PlatformKeyArgs
from components.kubernetes_cluster import KubernetesCluster, KubernetesClusterArgs
from components.kubernetes_inference import KubernetesInference, KubernetesInferenceArgs
from components.kubernetes_monitoring import KubernetesMonitoring, KubernetesMonitoringArgs
from components.model_registry import ModelRegistry, ModelRegistryArgs
from components.monitoring import MonitoringArgs, PlatformMonitoring, model_signals
from components.naming import Naming
from components.notifications import (
    PlatformEventBus,
    PlatformEventBusArgs,
    PlatformTopic,
    PlatformTopicArgs,
)
from components.platform import PlatformContext, aws_provider, partition_for
from components.quality import QualityMonitor, QualityMonitorArgs
from components.retraining import RetrainingArgs, RetrainingTrigger
from components.training import TrainingPipelines, TrainingPipelinesArgs

STACK_CONFIG_DIR = "stacks"


def raw_stack_config() -> dict[str, Any]:
    """Every config key Pulumi handed this run (explicitly set map, then the environment's)."""
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def read_config() -> PlatformConfig:
    """The validated config of the current stack; raises ConfigError before any resource."""
    raw = raw_stack_config()
    # The CLI hands the secret keys in the environment; the mocks set them in the runtime.
    secret = set(runtime_config.get_config_secret_keys_env())
    secret.update(key for key in raw if runtime_config.is_config_secret(key))
    return load_platform_config(raw, pulumi.get_stack(), STACK_CONFIG_DIR, secret)


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
    platform = Platform(ctx, PlatformKey("platform", PlatformKeyArgs(context=ctx)))
    platform.build()


@dataclass
class Platform:
    """The capabilities of one stack, built in dependency order; each one that is disabled in
    config (or lacks what it builds on) registers nothing."""

    ctx: PlatformContext
    key: PlatformKey
    lake: DataLake | None = None
    topic: PlatformTopic | None = None
    registry: ModelRegistry | None = None
    training: TrainingPipelines | None = None
    endpoints: SageMakerEndpoints | None = None
    kubernetes: KubernetesInference | None = None
    bus: PlatformEventBus | None = None
    drift: DriftMonitor | None = None
    quality: QualityMonitor | None = None
    _layer: aws.lambda_.LayerVersion | None = field(default=None, repr=False)

    @property
    def cfg(self) -> PlatformConfig:
        return self.ctx.config

    def build(self) -> None:
        cfg = self.cfg
        pulumi.export("environment", cfg.environment)
        pulumi.export("region", cfg.region)
        pulumi.export("kmsKeyArn", self.key.key_arn)
        pulumi.export("kmsKeyAlias", self.key.alias_name)
        if cfg.data_lake.enabled:
            self._data_lake()
        if cfg.feature_store.enabled:
            self._feature_store()
        if cfg.model_registry.enabled:
            self._registry()
        if cfg.training.enabled:
            self._training()
        if cfg.inference.enabled:
            self._inference()
        if cfg.kubernetes.enabled:
            self._kubernetes()
        if cfg.drift.enabled:
            self._drift()
        # Before retraining (which listens to its alarms) and monitoring (which alarms on its
        # function and queue, and draws its metrics).
        if cfg.quality.enabled:
            self._quality()
        if cfg.retraining.enabled:
            self._retraining()
        if cfg.cost.enabled:
            self._cost()
        if cfg.monitoring.enabled:
            self._monitoring()

    def powertools_layer_arn(self) -> pulumi.Output[str]:
        """The light Lambda layer, created once for the functions that use it."""
        if self._layer is None:
            self._layer = powertools_layer(self.ctx)
        return self._layer.arn

    def platform_topic(self) -> PlatformTopic:
        """The platform topic, created once for the capabilities that notify."""
        if self.topic is None:
            ctx = self.ctx
            self.topic = PlatformTopic(
                "platform-events",
                PlatformTopicArgs(
                    context=ctx, kms_key_arn=self.key.key_arn, account_id=ctx.account_id
                ),
            )
            pulumi.export("platformTopicArn", self.topic.topic_arn)
        return self.topic

    def event_bus(self) -> PlatformEventBus:
        """The platform bus, created once for the capabilities that put or read events."""
        if self.bus is None:
            self.bus = PlatformEventBus(
                "platform-bus",
                PlatformEventBusArgs(
                    context=self.ctx, archive_days=self.cfg.logging.retention_days
                ),
            )
            pulumi.export("platformEventBus", self.bus.bus_name)
        return self.bus

    def _data_lake(self) -> None:
        ctx = self.ctx
        lake = self.lake = DataLake(
            "lake",
            DataLakeArgs(context=ctx, kms_key_arn=self.key.key_arn, account_id=ctx.account_id),
        )
        pulumi.export("buckets", {role: b.bucket_name for role, b in lake.buckets.items()})
        pulumi.export("glueDatabase", lake.glue_database_name)
        pulumi.export("athenaWorkgroup", lake.athena_workgroup_name)
        pulumi.export("dvcRemote", lake.dvc_remote)

    def _feature_store(self) -> None:
        if self.lake is None:
            return
        features = FeatureStore(
            "features",
            FeatureStoreArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                bucket_name=self.lake.buckets["features"].bucket_name,
                glue_database_name=self.lake.glue_database_name,
                account_id=self.ctx.account_id,
            ),
        )
        pulumi.export("featureGroups", features.feature_group_names)

    def _registry(self) -> None:
        if self.lake is None:
            return
        ctx = self.ctx
        topic = self.platform_topic()
        registry = self.registry = ModelRegistry(
            "registry",
            ModelRegistryArgs(
                context=ctx,
                kms_key_arn=self.key.key_arn,
                topic_arn=topic.topic_arn,
                account_id=ctx.account_id,
                artifact_bucket_name=self.lake.buckets["model-artifacts"].bucket_name,
            ),
        )
        pulumi.export("modelPackageGroups", registry.group_names)
        pulumi.export("imageRepositories", registry.repository_urls)
        pulumi.export("modelArtifactUris", registry.artifact_uris)
        pulumi.export("modelApprovalRule", registry.approval_rule_name)
        pulumi.export("initialModelApprovalStatus", registry.initial_approval_status)

    def _training(self) -> None:
        if self.lake is None or self.registry is None or self.topic is None:
            return
        training = self.training = TrainingPipelines(
            "training",
            TrainingPipelinesArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                data_bucket=self.lake.buckets["curated"].bucket_name,
                artifact_bucket=self.lake.buckets["model-artifacts"].bucket_name,
                model_package_groups=self.registry.group_names,
                repository_urls=self.registry.repository_urls,
                topic_arn=self.topic.topic_arn,
                approval_status=self.registry.initial_approval_status,
            ),
        )
        pulumi.export("trainingPipelines", training.pipeline_names)
        pulumi.export("trainingPipelineArns", training.pipeline_arns)
        if training.batch_pipeline_names:
            pulumi.export("batchTransformPipelines", training.batch_pipeline_names)
        if training.mlflow_tracking_server_url is not None:
            pulumi.export("mlflowTrackingServerUrl", training.mlflow_tracking_server_url)

    def _inference(self) -> None:
        """The SageMaker endpoints, their capture and verification, and their outputs."""
        if self.lake is None or self.registry is None or self.topic is None:
            return
        endpoints = self.endpoints = SageMakerEndpoints(
            "inference",
            InferenceArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                capture_bucket=self.lake.buckets["capture"].bucket_name,
                artifact_bucket=self.lake.buckets["model-artifacts"].bucket_name,
                model_package_groups=self.registry.group_names,
                repository_urls=self.registry.repository_urls,
                topic_arn=self.topic.topic_arn,
                powertools_layer_arn=self.powertools_layer_arn(),
                framework_images=self.training.inference_images if self.training else None,
            ),
        )
        pulumi.export("endpoints", endpoints.endpoint_names)
        pulumi.export("endpointConfigs", endpoints.endpoint_config_names)
        pulumi.export("endpointModelVersions", endpoints.model_versions)
        pulumi.export("endpointIntendedState", endpoints.intended_state_parameters)
        pulumi.export("endpointVerifierFunction", endpoints.verifier_function_arn)
        if endpoints.capture_proxy_urls:
            pulumi.export("captureProxyUrls", endpoints.capture_proxy_urls)

    def _kubernetes(self) -> None:
        """The cluster (or the existing one's provider), the model services, their monitoring."""
        if self.lake is None or self.registry is None:
            return
        ctx = self.ctx
        existing = self.cfg.kubernetes.cluster is not None and (
            self.cfg.kubernetes.cluster.mode == "existing"
        )
        cluster = KubernetesCluster(
            "cluster",
            KubernetesClusterArgs(
                context=ctx,
                kms_key_arn=self.key.key_arn,
                kubeconfig=pulumi.Config().require_secret("kubeconfig") if existing else None,
            ),
        )
        services = self.kubernetes = KubernetesInference(
            "k8s-inference",
            KubernetesInferenceArgs(
                context=ctx,
                cluster=cluster,
                kms_key_arn=self.key.key_arn,
                capture_bucket=self.lake.buckets["capture"].bucket_name,
                artifact_bucket=self.lake.buckets["model-artifacts"].bucket_name,
                model_package_groups=self.registry.group_names,
            ),
        )
        monitoring = KubernetesMonitoring(
            "k8s-monitoring",
            KubernetesMonitoringArgs(
                context=ctx,
                cluster=cluster,
                topic_arn=self.platform_topic().topic_arn,
                kms_key_arn=self.key.key_arn,
                services=services.monitored,
                # The ServiceMonitors and rules live in the services' namespaces.
                depends_on=[services],
            ),
        )
        pulumi.export("kubernetesCluster", cluster.cluster_name)
        pulumi.export("kubernetesGateway", f"{services.gateway_namespace}/{services.gateway_name}")
        pulumi.export(
            "kubernetesServices",
            {
                name: {
                    "namespace": plan.namespace,
                    "captureEndpoint": plan.endpoint,
                    "path": f"/models/{name}/",
                    "variants": {v.name: v.version for v in plan.variants},
                }
                for name, plan in services.services.items()
            },
        )
        pulumi.export("kubernetesMonitoringNamespace", monitoring.namespace_name)

    def _drift(self) -> None:
        if self.lake is None:
            return
        bus = self.event_bus()
        drift = self.drift = DriftMonitor(
            "drift",
            DriftMonitorArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                capture_bucket=self.lake.buckets["capture"].bucket_name,
                baseline_bucket=self.lake.buckets["model-artifacts"].bucket_name,
                reports_bucket=self.lake.buckets["reports"].bucket_name,
                event_bus_name=bus.bus_name,
                event_bus_arn=bus.bus_arn,
            ),
        )
        pulumi.export("driftCheckFunction", drift.check_function_arn)
        pulumi.export("driftDeadLetterQueue", drift.dead_letter_queue_arn)
        if drift.state_machine_arn is not None:
            pulumi.export("driftScaleOutStateMachine", drift.state_machine_arn)

    def _quality(self) -> None:
        """The quality and fairness checks and their alarms (to the platform topic)."""
        if self.lake is None or self.registry is None:
            return
        quality = self.quality = QualityMonitor(
            "quality",
            QualityMonitorArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                capture_bucket=self.lake.buckets["capture"].bucket_name,
                baseline_bucket=self.lake.buckets["model-artifacts"].bucket_name,
                reports_bucket=self.lake.buckets["reports"].bucket_name,
                topic_arn=self.platform_topic().topic_arn,
                layer_arn=self.drift.layer_arn if self.drift is not None else None,
            ),
        )
        pulumi.export("qualityCheckFunction", quality.function_arn)
        pulumi.export("qualityAlarms", quality.model_alarms)

    def retrain_alarms(self) -> dict[str, list[str]]:
        """Model to the alarms whose firing retrains it: its endpoints' latency alarms and its
        quality alarms."""
        alarms: dict[str, list[str]] = {}
        for source in (
            self.endpoints.model_alarms if self.endpoints else {},
            self.quality.model_alarms if self.quality else {},
        ):
            for model, names in source.items():
                alarms.setdefault(model, []).extend(names)
        return alarms

    def _retraining(self) -> None:
        if self.lake is None or self.registry is None or self.topic is None:
            return
        if self.training is None:
            return
        bus = self.event_bus()
        trigger = RetrainingTrigger(
            "retraining",
            RetrainingArgs(
                context=self.ctx,
                kms_key_arn=self.key.key_arn,
                topic_arn=self.topic.topic_arn,
                event_bus_name=bus.bus_name,
                event_bus_arn=bus.bus_arn,
                pipeline_names=self.training.pipeline_names,
                data_bucket=self.lake.buckets["curated"].bucket_name,
                model_package_groups=self.registry.group_names,
                alarm_names=self.retrain_alarms(),
                powertools_layer_arn=self.powertools_layer_arn(),
                budget_name=monthly_budget_name(self.ctx.naming) if self.cfg.cost.enabled else None,
                watch_drift=self.cfg.drift.enabled,
            ),
        )
        pulumi.export("retrainingTrigger", trigger.function_arn)
        pulumi.export("retrainingDecisions", trigger.table_name)
        pulumi.export("retrainingDeadLetterQueue", trigger.dead_letter_queue_arn)

    def _cost(self) -> None:
        """Budgets, anomaly alerts and the guardrail, last: the guardrail covers every role."""
        cost = CostControls(
            "cost",
            CostArgs(
                context=self.ctx,
                topic_arn=self.platform_topic().topic_arn,
                guarded_role_names=tuple(self.ctx.inventory.role_names),
            ),
        )
        pulumi.export("budget", cost.budget_name)
        pulumi.export("costAnomalyMonitor", cost.anomaly_monitor_arn)
        if cost.guardrail_policy_arn is not None:
            pulumi.export("costGuardrailPolicy", cost.guardrail_policy_arn)

    def _monitoring(self) -> None:
        """Dashboards and alarms, last: they watch every function and queue built before."""
        ctx = self.ctx
        monitoring = PlatformMonitoring(
            "monitoring",
            MonitoringArgs(
                context=ctx,
                topic_arn=self.platform_topic().topic_arn,
                models=model_signals(
                    self.cfg,
                    self.endpoints.endpoint_names if self.endpoints else {},
                    self.training.pipeline_names if self.training else {},
                ),
                function_names=ctx.inventory.function_names,
                queue_names=ctx.inventory.queue_names,
            ),
        )
        pulumi.export("dashboards", monitoring.dashboard_names)
        pulumi.export("modelAlarms", monitoring.alarm_names)
        pulumi.export("platformAlarms", monitoring.platform_alarm_names)
