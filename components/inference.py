"""SageMaker endpoints: models from the registry, safe rollouts, autoscaling and capture.

`SageMakerEndpoints` (`mlops:inference:SageMakerEndpoints`) serves the endpoints declared in
`inference.endpoints`:

- **Models** from the registry: a SageMaker model per served version, created from the model
  package ARN (`modelVersion` pinned, or `latest-approved` resolved by `model_versions`), with
  network isolation, the stack's VPC when it has one, and a role per endpoint that reads only
  that model's artifacts and images and writes only that endpoint's capture.
- **Endpoint configurations** named after a digest of everything SageMaker would receive, so a
  new version is a new configuration created next to the old one: Pulumi replaces it
  create-before-delete and deletes the old one only after the endpoint's update finished (the
  endpoint depends on the configuration). `productionVariants[0].initialInstanceCount` is not
  part of the digest and is ignored after creation (`ignoreChanges`), so changing the scaling
  range never replaces the configuration and never resets the count autoscaling chose; the
  Application Auto Scaling target carries min and max, and no desired count.
- **Real-time** endpoints: KMS on the instance volumes (except local-NVMe types, which SageMaker
  encrypts itself and where it refuses a key), data capture of inputs and outputs to the capture
  bucket, target tracking on invocations per instance, blue/green updates with canary, linear or
  all-at-once traffic shifting and auto-rollback on this component's alarms (5xx rate, p99 model
  latency, model errors), and an optional shadow variant whose answers are captured too.
- **The model's latency objective** (`modelRegistry.models[].latencyObjectiveP99Ms`): on every
  endpoint serving the model, real-time and serverless, an alarm on the production variant's
  p99 `ModelLatency` that pages and retrains the model (`model_alarms`); not a rollback alarm.
- **Serverless** endpoints: memory, max and provisioned concurrency. SageMaker has no data capture
  for them, so each gets the capture proxy of `lambdas/capture_proxy` (a Lambda with an
  AWS_IAM Function URL) and a Firehose delivery stream writing the same JSON Lines records to
  the same `datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/` layout.
- **Post-deployment verification**: the intended state of each endpoint (configuration name,
  variants, model package ARNs) is written to an SSM parameter before the endpoint is updated;
  the verifier of `lambdas/endpoint_verifier` compares the live endpoint with it on every
  SageMaker endpoint state change and every hour, and reports a mismatch (a rolled-back update,
  a version that did not take effect) to the platform topic and as a metric; CI runs the same
  check after `pulumi up`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import capture_settings
import pulumi
import pulumi_aws as aws
import verifier_settings

from components import functions, iam
from components.config import EndpointAlarms, EndpointSpec, PlatformConfig
from components.cost import CAPABILITY_TAG
from components.model_versions import VersionResolver, boto3_resolver, package_arn
from components.naming import NameKind
from components.notifications import EventRoute, EventRouteArgs
from components.platform import PlatformComponent, PlatformContext

ROOT = Path(__file__).resolve().parent.parent
CAPTURE_PROXY_DIR = ROOT / "lambdas" / "capture_proxy"
VERIFIER_DIR = ROOT / "lambdas" / "endpoint_verifier"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
FIREHOSE_SERVICE = "firehose.amazonaws.com"
EVENTS_SERVICE = "events.amazonaws.com"

PRODUCTION_VARIANT = "AllTraffic"
"""The production variant's name, the same in every configuration: SageMaker's blue/green
updates require the new configuration to keep the variant name."""
SHADOW_VARIANT = "Shadow"
"""The shadow variant's name; its captured answers land under `datacapture/<endpoint>/Shadow/`."""
CAPTURE_CSV_TYPES = ["text/csv"]
CAPTURE_JSON_TYPES = ["application/json"]
DIGEST_LENGTH = 8
INFERENCE_TAGS = {CAPABILITY_TAG: "inference"}
"""Besides the provider's default tags: what the inference budget filters on."""
RETRAIN_ALARMS = ("latency",)
"""The rollback alarms whose firing retrains the served model (the retraining trigger's route):
a slower model. 5xx and model errors are the container's, which a retrain does not fix. The
model's latency objective alarm (`OBJECTIVE_ALARM`) retrains too."""
OBJECTIVE_ALARM = "latency-objective"
"""The alarm of the served model's p99 latency objective (`latencyObjectiveP99Ms`): it pages and
retrains (`model_alarms`), but never rolls a rollout back (that is `alarms.maxModelLatencyMs`)."""
OBJECTIVE_PERIOD_SECONDS = 60
"""SageMaker publishes ModelLatency per minute: the finest period there is."""
OBJECTIVE_EVALUATION_PERIODS = 5
"""Five breaching minutes in a row: slowness that lasts, not a cold start or one slow batch,
and the same five minutes a Kubernetes service's latency alert holds (`forMinutes` 5). A retrain
is expensive; the rollback alarm stays the fast guard of a rollout."""
INSTANCE_COUNT_PATH = "productionVariants[0].initialInstanceCount"
"""The configuration input autoscaling owns after creation (`ignoreChanges`)."""

LOCAL_NVME_INSTANCES = re.compile(r"^ml\.(?:[a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p5|p5e|p5en|trn1)\.")
"""Instance types with local NVMe storage: SageMaker encrypts it in hardware and rejects a
`KmsKeyId` in their endpoint configuration."""

SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60
PROXY_MEMORY_MB = 256
PROXY_TIMEOUT_SECONDS = 75
"""InvokeEndpoint on a serverless endpoint may take 60 s (plus a cold start), and one retry."""
VERIFIER_MEMORY_MB = 256
VERIFIER_TIMEOUT_SECONDS = 120
VERIFIER_CONCURRENCY = 2
VERIFY_SCHEDULE = "rate(1 hour)"
FIREHOSE_BUFFER_MB = 5
FIREHOSE_BUFFER_SECONDS = 60
FIREHOSE_LOG_STREAM = "DestinationDelivery"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"


@dataclass(frozen=True)
class InferenceArgs:
    """Inputs of `SageMakerEndpoints`."""

    context: PlatformContext
    kms_key_arn: pulumi.Input[str]
    """The platform key: volumes, capture, logs, environments, Firehose, parameters."""
    capture_bucket: pulumi.Input[str]
    """The data lake's capture bucket."""
    artifact_bucket: pulumi.Input[str]
    """The model-artifact bucket (the models' `models/<model>/` and `pipelines/<model>/`)."""
    model_package_groups: Mapping[str, str]
    """Registry model name to its model package group name."""
    repository_urls: Mapping[str, pulumi.Input[str]]
    """Registry model name to its ECR repository URL (images of `custom` models)."""
    topic_arn: pulumi.Input[str]
    """The platform topic: alarm notifications and verification failures."""
    powertools_layer_arn: pulumi.Input[str]
    """The light layer (`functions.powertools_layer`) of the proxy and the verifier."""
    framework_images: Mapping[str, pulumi.Input[str]] | None = None
    """Model name to the inference image its training pipeline registers (pulled by the model)."""
    resolver: VersionResolver | None = None
    """Resolves `latest-approved` (default: boto3 in the stack's region)."""


@dataclass(frozen=True)
class ServedVersions:
    """The model package versions an endpoint serves."""

    production: int
    shadow: int | None


def digest(value: Any) -> str:
    """A short, stable digest of a JSON-able value (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


class SageMakerEndpoints(PlatformComponent):
    """The stack's SageMaker endpoints, their capture and their verification."""

    endpoint_names: dict[str, str]
    """Config name to the endpoint's physical name."""
    endpoint_config_names: dict[str, pulumi.Output[str]]
    """Config name to the endpoint configuration it should run."""
    model_versions: dict[str, dict[str, int]]
    """Config name to the served versions (`production`, and `shadow` when there is one)."""
    capture_proxy_urls: dict[str, pulumi.Output[str]]
    """Serverless endpoint name to its capture proxy's Function URL (invoke through it)."""
    intended_state_parameters: dict[str, str]
    """Config name to the SSM parameter holding the endpoint's intended state."""
    verifier_function_arn: pulumi.Output[str]
    model_alarms: dict[str, list[str]]
    """Model to the names of its endpoints' alarms that retrain it: the rollback latency alarm
    (`RETRAIN_ALARMS`) and, when the model has one, its latency objective's."""

    def __init__(
        self, name: str, args: InferenceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:inference:SageMakerEndpoints", name, args.context, opts)
        self._args = args
        cfg = self._ctx.config
        resolver = args.resolver or boto3_resolver(cfg.region)
        self.endpoint_names = {}
        self.endpoint_config_names = {}
        self.model_versions = {}
        self.capture_proxy_urls = {}
        self.intended_state_parameters = {}
        self.model_alarms = {}
        self._parameter_prefix = f"/{self._ctx.naming.project}/{self._ctx.naming.stack}/endpoints/"
        self._queue = self._ctx.dead_letter_queue(
            f"{name}-dlq",
            queue_name=self._physical("dlq", NameKind.SQS_QUEUE),
            kms_key_arn=args.kms_key_arn,
            parent=self,
        )
        for spec in cfg.inference.endpoints:
            group = args.model_package_groups[spec.model]
            versions = ServedVersions(
                production=resolver.resolve(group, spec.model_version),
                shadow=(
                    resolver.resolve(group, spec.shadow.model_version)
                    if spec.shadow is not None
                    else None
                ),
            )
            self._endpoint(spec, versions)
        self.verifier_function_arn = self._verifier()
        self.register_outputs(
            {
                "endpoint_names": self.endpoint_names,
                "endpoint_config_names": self.endpoint_config_names,
                "model_versions": self.model_versions,
                "capture_proxy_urls": self.capture_proxy_urls,
                "verifier_function_arn": self.verifier_function_arn,
            }
        )

    # ---- helpers -------------------------------------------------------------------------------
    def _log_group(self, resource_name: str, group_name: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            resource_name,
            name=group_name,
            retention_in_days=self._ctx.config.logging.retention_days,
            kms_key_id=self._args.kms_key_arn,
            opts=self._opts(),
        )

    # ---- one endpoint --------------------------------------------------------------------------
    def _endpoint(self, spec: EndpointSpec, versions: ServedVersions) -> None:
        ctx = self._ctx
        args = self._args
        cfg = ctx.config
        endpoint_name = ctx.naming.physical(spec.name, NameKind.SAGEMAKER)
        self.endpoint_names[spec.name] = endpoint_name
        self.model_versions[spec.name] = {"production": versions.production}
        if versions.shadow is not None:
            self.model_versions[spec.name]["shadow"] = versions.shadow
        group = args.model_package_groups[spec.model]

        def arn_of(version: int) -> pulumi.Output[str]:
            return ctx.account_id.apply(
                lambda account: package_arn(ctx.partition, cfg.region, account, group, version)
            )

        package_arns = {"production": arn_of(versions.production)}
        if versions.shadow is not None:
            package_arns["shadow"] = arn_of(versions.shadow)

        role, role_policy = self._model_role(spec, endpoint_name)
        security_groups = self._security_groups(spec)
        models = {
            role_name: self._model(
                spec,
                role_name=role_name,
                version_arn=version_arn,
                role=role,
                role_policy=role_policy,
                security_groups=security_groups,
            )
            for role_name, version_arn in package_arns.items()
        }
        alarms = self._alarms(spec, endpoint_name)
        self._latency_objective(spec, endpoint_name)
        config = self._endpoint_config(spec, endpoint_name, models)
        self.endpoint_config_names[spec.name] = config.name

        parameter = self._intended_state(spec, endpoint_name, config, models, package_arns)
        deployment = self._deployment_config(spec, alarms) if spec.kind == "realtime" else None
        endpoint = aws.sagemaker.Endpoint(
            f"{self._name}-{spec.name}",
            name=endpoint_name,
            endpoint_config_name=config.name,
            deployment_config=deployment,
            tags=INFERENCE_TAGS,
            # The intended state is on record before SageMaker starts the update, so the
            # verifier never compares a finished update with the previous intent.
            opts=self._opts([parameter, *alarms]),
        )
        if spec.kind == "realtime":
            self._autoscaling(spec, endpoint)
        else:
            self._capture_proxy(spec, endpoint_name, endpoint)

    def _model_role(self, spec: EndpointSpec, endpoint_name: str) -> tuple[Any, Any]:
        ctx = self._ctx
        args = self._args
        role = ctx.service_role(
            f"{self._name}-{spec.name}-model-role",
            role_name=ctx.naming.physical(f"{spec.name}-model", NameKind.IAM_ROLE),
            description=f"SageMaker model of endpoint {endpoint_name}: pull, read, capture.",
            service=SAGEMAKER_SERVICE,
            parent=self,
        )
        images: list[pulumi.Input[str]] = [args.repository_urls[spec.model]]
        framework = (args.framework_images or {}).get(spec.model)
        if framework is not None:
            images.append(framework)
        network = ctx.config.network
        policy = aws.iam.RolePolicy(
            f"{self._name}-{spec.name}-model-access",
            role=role.id,
            policy=pulumi.Output.all(
                ctx.account_id,
                args.artifact_bucket,
                args.capture_bucket,
                args.kms_key_arn,
                *images,
            ).apply(
                lambda v: model_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    account_id=v[0],
                    model=spec.model,
                    endpoint_name=endpoint_name,
                    artifact_bucket=v[1],
                    capture_bucket=v[2],
                    kms_key_arn=v[3],
                    repository_arns=sorted(
                        {iam.ecr_repository_arn(i, ctx.partition) for i in v[4:]}
                    ),
                    subnet_ids=network.subnet_ids if network else (),
                    security_group_ids=network.security_group_ids if network else (),
                )
            ),
            opts=self._opts(),
        )
        return role, policy

    def _security_groups(self, spec: EndpointSpec) -> list[pulumi.Input[str]]:
        network = self._ctx.config.network
        if network is None:
            return []
        if network.security_group_ids:
            return list(network.security_group_ids)
        group = aws.ec2.SecurityGroup(
            f"{self._name}-{spec.name}-model-sg",
            # A security group name takes what a role name takes (letters, digits, hyphens).
            name=self._ctx.naming.physical(f"{spec.name}-model", NameKind.IAM_ROLE),
            description=f"SageMaker model of endpoint {spec.name}: no inbound, HTTPS out only.",
            vpc_id=network.vpc_id,
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="Model artifacts and images through the VPC's endpoints or NAT",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            opts=self._opts(),
        )
        return [group.id]

    def _model(
        self,
        spec: EndpointSpec,
        *,
        role_name: str,
        version_arn: pulumi.Output[str],
        role: aws.iam.Role,
        role_policy: aws.iam.RolePolicy,
        security_groups: list[pulumi.Input[str]],
    ) -> aws.sagemaker.Model:
        network = self._ctx.config.network
        version = version_arn.apply(lambda arn: arn.rsplit("/", 1)[-1])
        base = f"{spec.name}-{'shadow-' if role_name == 'shadow' else ''}v"
        inputs = pulumi.Output.all(version_arn, role.arn, security_groups).apply(
            lambda v: {
                "package": v[0],
                "role": v[1],
                "isolation": spec.network_isolation,
                "subnets": list(network.subnet_ids) if network else [],
                "groups": v[2],
            }
        )
        name = pulumi.Output.all(version, inputs).apply(
            lambda v: self._ctx.naming.physical(f"{base}{v[0]}-{digest(v[1])}", NameKind.SAGEMAKER)
        )
        return aws.sagemaker.Model(
            f"{self._name}-{spec.name}-{role_name}-model",
            name=name,
            execution_role_arn=role.arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                model_package_name=version_arn
            ),
            enable_network_isolation=spec.network_isolation,
            tags=INFERENCE_TAGS,
            vpc_config=(
                aws.sagemaker.ModelVpcConfigArgs(
                    subnets=list(network.subnet_ids), security_group_ids=security_groups
                )
                if network is not None
                else None
            ),
            # The role must be able to pull and read before SageMaker checks the container.
            opts=self._opts([role_policy]),
        )

    def _alarms(self, spec: EndpointSpec, endpoint_name: str) -> list[aws.cloudwatch.MetricAlarm]:
        topic = self._args.topic_arn
        found = []
        for kind, definition in alarm_definitions(
            endpoint_name, PRODUCTION_VARIANT, spec.alarms
        ).items():
            found.append(
                aws.cloudwatch.MetricAlarm(
                    f"{self._name}-{spec.name}-{kind}",
                    alarm_actions=[topic],
                    ok_actions=[topic],
                    **definition,
                    opts=self._opts(),
                )
            )
            if kind in RETRAIN_ALARMS:
                self.model_alarms.setdefault(spec.model, []).append(definition["name"])
        return found

    def _latency_objective(self, spec: EndpointSpec, endpoint_name: str) -> None:
        """The served model's p99 latency objective, when it has one: pages, and retrains a
        model that stays slower than it (not a rollback alarm: kept out of `_alarms`)."""
        objective = model_latency_objective(self._ctx.config, spec.model)
        if objective is None:
            return
        topic = self._args.topic_arn
        definition = latency_objective_definition(endpoint_name, PRODUCTION_VARIANT, objective)
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.name}-{OBJECTIVE_ALARM}",
            alarm_actions=[topic],
            ok_actions=[topic],
            **definition,
            opts=self._opts(),
        )
        self.model_alarms.setdefault(spec.model, []).append(definition["name"])

    def _endpoint_config(
        self, spec: EndpointSpec, endpoint_name: str, models: dict[str, aws.sagemaker.Model]
    ) -> aws.sagemaker.EndpointConfiguration:
        ctx = self._ctx
        args = self._args
        cfg = ctx.config
        realtime = spec.kind == "realtime"
        settings = cfg.inference.realtime(spec) if realtime else None
        local_nvme = settings is not None and bool(
            LOCAL_NVME_INSTANCES.match(settings.instance_type)
        )
        key = args.kms_key_arn if realtime and not local_nvme else None
        shadow_model = models.get("shadow")
        values = pulumi.Output.all(
            models["production"].name,
            shadow_model.name if shadow_model is not None else None,
            args.capture_bucket,
            key,
            args.kms_key_arn,
        ).apply(
            lambda v: endpoint_config_inputs(
                spec,
                cfg,
                production_model=v[0],
                shadow_model=v[1],
                capture_bucket=v[2],
                volume_key=v[3],
                capture_key=v[4],
            )
        )
        name = values.apply(
            lambda v: ctx.naming.physical(
                f"{spec.name}-{digest(without_instance_count(v))}", NameKind.SAGEMAKER
            )
        )
        return aws.sagemaker.EndpointConfiguration(
            f"{self._name}-{spec.name}-config",
            name=name,
            production_variants=values.apply(lambda v: v["productionVariants"]),
            shadow_production_variants=values.apply(lambda v: v.get("shadowProductionVariants")),
            data_capture_config=values.apply(lambda v: v.get("dataCaptureConfig")),
            kms_key_arn=key,
            tags=INFERENCE_TAGS,
            opts=pulumi.ResourceOptions.merge(
                self._opts(list(models.values())),
                # The count autoscaling manages: never a reason to replace the configuration.
                pulumi.ResourceOptions(ignore_changes=[INSTANCE_COUNT_PATH] if realtime else None),
            ),
        )

    def _deployment_config(
        self, spec: EndpointSpec, alarms: list[aws.cloudwatch.MetricAlarm]
    ) -> pulumi.Output[Any]:
        return pulumi.Output.all(*[a.name for a in alarms]).apply(
            lambda names: deployment_config(spec, list(names))
        )

    def _intended_state(
        self,
        spec: EndpointSpec,
        endpoint_name: str,
        config: aws.sagemaker.EndpointConfiguration,
        models: dict[str, aws.sagemaker.Model],
        package_arns: dict[str, pulumi.Output[str]],
    ) -> aws.ssm.Parameter:
        cfg = self._ctx.config
        shadow = models.get("shadow")
        parameter_name = verifier_settings.parameter_name(self._parameter_prefix, endpoint_name)
        self.intended_state_parameters[spec.name] = parameter_name
        document = pulumi.Output.all(
            config.name,
            models["production"].name,
            package_arns["production"],
            shadow.name if shadow is not None else None,
            package_arns.get("shadow"),
        ).apply(
            lambda v: verifier_settings.intended_document(
                endpoint_name=endpoint_name,
                endpoint_config_name=v[0],
                kind=spec.kind,
                require_approved=cfg.model_registry.approval == "manual",
                variants=intended_variants(
                    spec,
                    cfg,
                    production_model=v[1],
                    production_package=v[2],
                    shadow_model=v[3],
                    shadow_package=v[4],
                ),
            )
        )
        return aws.ssm.Parameter(
            f"{self._name}-{spec.name}-intended",
            name=parameter_name,
            description=f"What endpoint {endpoint_name} should run (read by the verifier).",
            type="String",
            tier="Standard",
            # Not a secret: the preview of a pull request shows what the endpoint will run.
            insecure_value=document,
            opts=self._opts(),
        )

    def _autoscaling(self, spec: EndpointSpec, endpoint: aws.sagemaker.Endpoint) -> None:
        settings = self._ctx.config.inference.realtime(spec)
        target = aws.appautoscaling.Target(
            f"{self._name}-{spec.name}-scaling",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=endpoint.name.apply(
                lambda name: f"endpoint/{name}/variant/{PRODUCTION_VARIANT}"
            ),
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
            opts=self._opts(),
        )
        aws.appautoscaling.Policy(
            f"{self._name}-{spec.name}-scaling-policy",
            name=self._ctx.naming.physical(f"{spec.name}-invocations", NameKind.IAM_POLICY),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=(
                aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=float(settings.target_invocations_per_instance),
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                    ),
                    scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
                    scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
                )
            ),
            opts=self._opts(),
        )

    # ---- serverless capture: Firehose and the proxy --------------------------------------------
    def _capture_proxy(
        self, spec: EndpointSpec, endpoint_name: str, endpoint: aws.sagemaker.Endpoint
    ) -> None:
        ctx = self._ctx
        args = self._args
        stream_name = ctx.naming.physical(f"{spec.name}-capture", NameKind.LAMBDA_FUNCTION)
        stream_logs = self._log_group(
            f"{self._name}-{spec.name}-firehose-logs", f"/aws/kinesisfirehose/{stream_name}"
        )
        log_stream = aws.cloudwatch.LogStream(
            f"{self._name}-{spec.name}-firehose-log-stream",
            name=FIREHOSE_LOG_STREAM,
            log_group_name=stream_logs.name,
            opts=self._opts(),
        )
        firehose_role = ctx.service_role(
            f"{self._name}-{spec.name}-firehose-role",
            role_name=ctx.naming.physical(f"{spec.name}-firehose", NameKind.IAM_ROLE),
            description=f"Firehose: deliver {endpoint_name}'s capture to the capture bucket.",
            service=FIREHOSE_SERVICE,
            parent=self,
            source_arn=self._arn("firehose", f"deliverystream/{stream_name}"),
        )
        firehose_policy = aws.iam.RolePolicy(
            f"{self._name}-{spec.name}-firehose-access",
            role=firehose_role.id,
            policy=pulumi.Output.all(args.capture_bucket, args.kms_key_arn, stream_logs.arn).apply(
                lambda v: firehose_policy_document(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    capture_bucket=v[0],
                    kms_key_arn=v[1],
                    log_group_arn=v[2],
                    endpoint_name=endpoint_name,
                )
            ),
            opts=self._opts(),
        )
        stream = aws.kinesis.FirehoseDeliveryStream(
            f"{self._name}-{spec.name}-capture-stream",
            name=stream_name,
            destination="extended_s3",
            server_side_encryption=aws.kinesis.FirehoseDeliveryStreamServerSideEncryptionArgs(
                enabled=True, key_type="CUSTOMER_MANAGED_CMK", key_arn=args.kms_key_arn
            ),
            extended_s3_configuration=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs(
                role_arn=firehose_role.arn,
                bucket_arn=pulumi.Output.from_input(args.capture_bucket).apply(
                    lambda b: f"arn:{ctx.partition}:s3:::{b}"
                ),
                prefix=capture_settings.firehose_prefix(endpoint_name, PRODUCTION_VARIANT),
                error_output_prefix=capture_settings.firehose_error_prefix(
                    endpoint_name, PRODUCTION_VARIANT
                ),
                buffering_size=FIREHOSE_BUFFER_MB,
                buffering_interval=FIREHOSE_BUFFER_SECONDS,
                compression_format="GZIP",
                kms_key_arn=args.kms_key_arn,
                cloudwatch_logging_options=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationCloudwatchLoggingOptionsArgs(
                    enabled=True,
                    log_group_name=stream_logs.name,
                    log_stream_name=log_stream.name,
                ),
            ),
            opts=self._opts([firehose_policy]),
        )

        function_name = ctx.naming.physical(f"{spec.name}-capture-proxy", NameKind.LAMBDA_FUNCTION)
        role = ctx.service_role(
            f"{self._name}-{spec.name}-proxy-role",
            role_name=ctx.naming.physical(f"{spec.name}-capture-proxy", NameKind.IAM_ROLE),
            description=f"Capture proxy of {endpoint_name}: invoke it, record to Firehose.",
            service=functions.LAMBDA_SERVICE,
            parent=self,
        )
        role_policy = aws.iam.RolePolicy(
            f"{self._name}-{spec.name}-proxy-access",
            role=role.id,
            policy=pulumi.Output.all(
                endpoint.arn,
                stream.arn,
                args.kms_key_arn,
                self._queue.arn,
                functions.log_group_arn(ctx, function_name),
            ).apply(
                lambda v: proxy_policy(
                    region=ctx.config.region,
                    endpoint_arn=v[0],
                    stream_arn=v[1],
                    kms_key_arn=v[2],
                    queue_arn=v[3],
                    log_group_arn=v[4],
                )
            ),
            opts=self._opts(),
        )
        serverless = ctx.config.inference.serverless(spec)
        function = functions.hardened_function(
            ctx,
            self,
            f"{self._name}-{spec.name}-capture-proxy",
            functions.FunctionSpec(
                name=function_name,
                description=f"Invokes {endpoint_name} and records capture (lambdas/capture_proxy).",
                handler="proxy.lambda_handler",
                code=pulumi.AssetArchive(
                    {
                        f: pulumi.FileAsset(str(CAPTURE_PROXY_DIR / f))
                        # The record format is `capture_format` (shared with the serving
                        # sidecar): without it the handler's import fails at the first call.
                        for f in ("proxy.py", "capture_format.py", "capture_settings.py")
                    }
                ),
                layers=[args.powertools_layer_arn],
                role_arn=role.arn,
                memory_mb=PROXY_MEMORY_MB,
                timeout_seconds=PROXY_TIMEOUT_SECONDS,
                # The endpoint serves at most maxConcurrency at once; more would be throttled.
                reserved_concurrency=serverless.max_concurrency,
                environment={
                    capture_settings.ENV_ENDPOINT_NAME: endpoint_name,
                    capture_settings.ENV_VARIANT_NAME: PRODUCTION_VARIANT,
                    capture_settings.ENV_DELIVERY_STREAM: stream_name,
                    capture_settings.ENV_SAMPLING_PERCENT: str(spec.capture.sampling_percent),
                    capture_settings.ENV_METRICS_NAMESPACE: capture_settings.METRICS_NAMESPACE,
                    capture_settings.ENV_SERVICE_NAME: capture_settings.SERVICE_NAME,
                },
                # Called synchronously through its URL; the queue takes any asynchronous call.
                invoked_asynchronously=False,
            ),
            kms_key_arn=args.kms_key_arn,
            queue_arn=self._queue.arn,
            depends_on=[role_policy, stream],
        )
        url = aws.lambda_.FunctionUrl(
            f"{self._name}-{spec.name}-capture-url",
            function_name=function.name,
            authorization_type="AWS_IAM",
            invoke_mode="BUFFERED",
            opts=self._opts(),
        )
        self.capture_proxy_urls[spec.name] = url.function_url

    # ---- verification --------------------------------------------------------------------------
    def _verifier(self) -> pulumi.Output[str]:
        ctx = self._ctx
        args = self._args
        function_name = self._physical("verifier", NameKind.LAMBDA_FUNCTION)
        role = ctx.service_role(
            f"{self._name}-verifier-role",
            role_name=self._physical("verifier", NameKind.IAM_ROLE),
            description="Endpoint verifier: compare live endpoints with their intended state.",
            service=functions.LAMBDA_SERVICE,
            parent=self,
        )
        endpoints = sorted(self.endpoint_names.values())
        # Approval is read from the registry only where the stack requires it.
        groups = (
            sorted({args.model_package_groups[e.model] for e in ctx.config.inference.endpoints})
            if ctx.config.model_registry.approval == "manual"
            else []
        )
        role_policy = aws.iam.RolePolicy(
            f"{self._name}-verifier-access",
            role=role.id,
            policy=pulumi.Output.all(
                ctx.account_id,
                args.topic_arn,
                args.kms_key_arn,
                self._queue.arn,
                functions.log_group_arn(ctx, function_name),
            ).apply(
                lambda v: verifier_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    account_id=v[0],
                    topic_arn=v[1],
                    kms_key_arn=v[2],
                    queue_arn=v[3],
                    log_group_arn=v[4],
                    parameter_prefix=self._parameter_prefix,
                    endpoint_names=endpoints,
                    model_package_groups=groups,
                )
            ),
            opts=self._opts(),
        )
        function = functions.hardened_function(
            ctx,
            self,
            f"{self._name}-verifier",
            functions.FunctionSpec(
                name=function_name,
                description="Verifies endpoints run their intended state "
                "(lambdas/endpoint_verifier).",
                handler="verifier.lambda_handler",
                code=pulumi.AssetArchive(
                    {p.name: pulumi.FileAsset(str(p)) for p in sorted(VERIFIER_DIR.glob("*.py"))}
                ),
                layers=[args.powertools_layer_arn],
                role_arn=role.arn,
                memory_mb=VERIFIER_MEMORY_MB,
                timeout_seconds=VERIFIER_TIMEOUT_SECONDS,
                reserved_concurrency=VERIFIER_CONCURRENCY,
                environment={
                    verifier_settings.ENV_PARAMETER_PREFIX: self._parameter_prefix,
                    verifier_settings.ENV_TOPIC_ARN: args.topic_arn,
                    verifier_settings.ENV_METRICS_NAMESPACE: verifier_settings.METRICS_NAMESPACE,
                    verifier_settings.ENV_SERVICE_NAME: verifier_settings.SERVICE_NAME,
                },
            ),
            kms_key_arn=args.kms_key_arn,
            queue_arn=self._queue.arn,
            depends_on=[role_policy],
        )
        for kind, pattern in (
            ("state", endpoint_state_pattern(endpoints)),
            ("hourly", None),
        ):
            route = EventRoute(
                f"{self._name}-verify-{kind}",
                EventRouteArgs(
                    context=ctx,
                    description=(
                        "Verify an endpoint when its state changes."
                        if pattern is not None
                        else "Verify every endpoint each hour."
                    ),
                    event_pattern=pattern,
                    schedule_expression=None if pattern is not None else VERIFY_SCHEDULE,
                    target_arn=function.arn,
                    target_input=(
                        None if pattern is not None else json.dumps({"endpoints": "all"})
                    ),
                    kms_key_arn=args.kms_key_arn,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.lambda_.Permission(
                f"{self._name}-verify-{kind}-invoke",
                function=function.name,
                action="lambda:InvokeFunction",
                principal=EVENTS_SERVICE,
                source_arn=route.rule_arn,
                opts=self._opts(),
            )
        return function.arn


# ---- documents and inputs (plain functions, tested on their own) ------------------------------


def capture_destination(bucket: str) -> str:
    """Where SageMaker writes data capture; it appends `<endpoint>/<variant>/YYYY/MM/DD/HH/`."""
    return f"s3://{bucket}/{capture_settings.CAPTURE_PREFIX}"


def endpoint_config_inputs(
    spec: EndpointSpec,
    cfg: PlatformConfig,
    *,
    production_model: str,
    shadow_model: str | None,
    capture_bucket: str,
    volume_key: str | None,
    capture_key: str,
) -> dict[str, Any]:
    """The endpoint configuration's variants and capture, as SageMaker will receive them."""
    inputs: dict[str, Any] = {"kmsKeyArn": volume_key}
    if spec.kind == "serverless":
        serverless = cfg.inference.serverless(spec)
        config: dict[str, Any] = {
            "maxConcurrency": serverless.max_concurrency,
            "memorySizeInMb": serverless.memory_mb,
        }
        if serverless.provisioned_concurrency is not None:
            config["provisionedConcurrency"] = serverless.provisioned_concurrency
        inputs["productionVariants"] = [
            {
                "variantName": PRODUCTION_VARIANT,
                "modelName": production_model,
                "serverlessConfig": config,
            }
        ]
        return inputs
    settings = cfg.inference.realtime(spec)
    inputs["productionVariants"] = [
        {
            "variantName": PRODUCTION_VARIANT,
            "modelName": production_model,
            "instanceType": settings.instance_type,
            "initialInstanceCount": settings.min_instances,
            "initialVariantWeight": 1.0,
        }
    ]
    if spec.shadow is not None and shadow_model is not None:
        inputs["shadowProductionVariants"] = [
            {
                "variantName": SHADOW_VARIANT,
                "modelName": shadow_model,
                "instanceType": settings.instance_type,
                "initialInstanceCount": 1,
                # Relative to the production variant's weight 1.0: the share of requests copied.
                "initialVariantWeight": spec.shadow.sampling_percent / 100,
            }
        ]
    inputs["dataCaptureConfig"] = {
        "enableCapture": True,
        "initialSamplingPercentage": spec.capture.sampling_percent,
        "destinationS3Uri": capture_destination(capture_bucket),
        "kmsKeyId": capture_key,
        "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        "captureContentTypeHeader": {
            "csvContentTypes": CAPTURE_CSV_TYPES,
            "jsonContentTypes": CAPTURE_JSON_TYPES,
        },
    }
    return inputs


def without_instance_count(inputs: dict[str, Any]) -> dict[str, Any]:
    """The configuration's inputs minus the production variants' initial instance count: what
    names a configuration (the count is autoscaling's, and never replaces it)."""
    variants = [
        {k: v for k, v in variant.items() if k != "initialInstanceCount"}
        for variant in inputs["productionVariants"]
    ]
    return {**inputs, "productionVariants": variants}


def deployment_config(spec: EndpointSpec, alarm_names: list[str]) -> dict[str, Any]:
    """Blue/green with the rollout's traffic shifting, rolled back on the endpoint's alarms."""
    rollout = spec.rollout
    routing: dict[str, Any] = {"waitIntervalInSeconds": rollout.wait_interval_seconds}
    if rollout.type == "canary":
        routing["type"] = "CANARY"
        routing["canarySize"] = {"type": "CAPACITY_PERCENT", "value": rollout.canary_percent}
    elif rollout.type == "linear":
        routing["type"] = "LINEAR"
        routing["linearStepSize"] = {
            "type": "CAPACITY_PERCENT",
            "value": rollout.linear_step_percent,
        }
    else:
        routing["type"] = "ALL_AT_ONCE"
    config: dict[str, Any] = {
        "blueGreenUpdatePolicy": {
            "trafficRoutingConfiguration": routing,
            "terminationWaitInSeconds": rollout.termination_wait_seconds,
        }
    }
    if rollout.auto_rollback:
        config["autoRollbackConfiguration"] = {
            "alarms": [{"alarmName": name} for name in sorted(alarm_names)]
        }
    return config


def alarm_definitions(
    endpoint_name: str, variant: str, alarms: EndpointAlarms
) -> dict[str, dict[str, Any]]:
    """The endpoint's three alarms, keyed by kind: 5xx rate, p99 model latency, model errors.

    Missing data (no traffic) is not breaching: a quiet endpoint is not a failing one.
    """
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant}
    common = {
        "evaluation_periods": alarms.evaluation_periods,
        "datapoints_to_alarm": alarms.evaluation_periods,
        "treat_missing_data": "notBreaching",
        "comparison_operator": "GreaterThanThreshold",
    }

    def metric(metric_id: str, name: str, stat: str, returned: bool) -> dict[str, Any]:
        return {
            "id": metric_id,
            "return_data": returned,
            "metric": {
                "namespace": "AWS/SageMaker",
                "metric_name": name,
                "dimensions": dimensions,
                "period": alarms.period_seconds,
                "stat": stat,
            },
        }

    return {
        "5xx-rate": {
            **common,
            "name": f"{endpoint_name}-5xx-rate",
            "alarm_description": (
                f"More than {alarms.max_5xx_percent}% of {endpoint_name}'s invocations fail "
                "with a 5xx error; rolls a rollout back."
            ),
            "threshold": alarms.max_5xx_percent,
            "metric_queries": [
                metric("errors", "Invocation5XXErrors", "Sum", returned=False),
                metric("invocations", "Invocations", "Sum", returned=False),
                {
                    "id": "rate",
                    "label": "5xx rate (%)",
                    "return_data": True,
                    "expression": "IF(invocations > 0, 100 * errors / invocations, 0)",
                },
            ],
        },
        "latency": {
            **common,
            "name": f"{endpoint_name}-model-latency",
            "alarm_description": (
                f"{endpoint_name}'s p99 model latency is above {alarms.max_model_latency_ms} ms; "
                "rolls a rollout back."
            ),
            "namespace": "AWS/SageMaker",
            "metric_name": "ModelLatency",
            "dimensions": dimensions,
            "period": alarms.period_seconds,
            "extended_statistic": "p99",
            # ModelLatency is reported in microseconds.
            "threshold": float(alarms.max_model_latency_ms * 1000),
        },
        "model-errors": {
            **common,
            "name": f"{endpoint_name}-model-errors",
            "alarm_description": (
                f"{endpoint_name}'s model returned more than {alarms.max_model_errors} errors "
                "in a period; rolls a rollout back."
            ),
            "namespace": "AWS/SageMaker",
            "metric_name": "InvocationModelErrors",
            "dimensions": dimensions,
            "period": alarms.period_seconds,
            "statistic": "Sum",
            "threshold": float(alarms.max_model_errors),
        },
    }


def model_latency_objective(cfg: PlatformConfig, model: str) -> int | None:
    """The model's p99 latency objective in milliseconds (`latencyObjectiveP99Ms`), or None."""
    return next(
        (m.latency_objective_p99_ms for m in cfg.model_registry.models if m.name == model), None
    )


def latency_objective_definition(
    endpoint_name: str, variant: str, objective_ms: int
) -> dict[str, Any]:
    """The alarm of the served model's p99 latency objective on one endpoint's variant.

    Missing data (no traffic) is not breaching: a quiet endpoint is not a slow one.
    """
    return {
        "name": f"{endpoint_name}-{OBJECTIVE_ALARM}",
        "alarm_description": (
            f"{endpoint_name}'s p99 model latency stayed above its model's objective of "
            f"{objective_ms} ms for {OBJECTIVE_EVALUATION_PERIODS} minutes; retrains the model "
            "(no traffic is not slowness: missing data does not breach)."
        ),
        "namespace": "AWS/SageMaker",
        "metric_name": "ModelLatency",
        "dimensions": {"EndpointName": endpoint_name, "VariantName": variant},
        "period": OBJECTIVE_PERIOD_SECONDS,
        "extended_statistic": "p99",
        "evaluation_periods": OBJECTIVE_EVALUATION_PERIODS,
        "datapoints_to_alarm": OBJECTIVE_EVALUATION_PERIODS,
        "comparison_operator": "GreaterThanThreshold",
        # ModelLatency is reported in microseconds.
        "threshold": float(objective_ms * 1000),
        "treat_missing_data": "notBreaching",
    }


def intended_variants(
    spec: EndpointSpec,
    cfg: PlatformConfig,
    *,
    production_model: str,
    production_package: str,
    shadow_model: str | None,
    shadow_package: str | None,
) -> list[verifier_settings.IntendedVariant]:
    """The variants of the verifier's intended-state document."""
    if spec.kind == "serverless":
        serverless = cfg.inference.serverless(spec)
        return [
            verifier_settings.IntendedVariant(
                variant_name=PRODUCTION_VARIANT,
                model_name=production_model,
                model_package_arn=production_package,
                serverless=verifier_settings.ServerlessSpec(
                    memory_size_in_mb=serverless.memory_mb,
                    max_concurrency=serverless.max_concurrency,
                    provisioned_concurrency=serverless.provisioned_concurrency,
                ),
            )
        ]
    instance_type = cfg.inference.realtime(spec).instance_type
    variants = [
        verifier_settings.IntendedVariant(
            variant_name=PRODUCTION_VARIANT,
            model_name=production_model,
            model_package_arn=production_package,
            instance_type=instance_type,
        )
    ]
    if shadow_model is not None and shadow_package is not None:
        variants.append(
            verifier_settings.IntendedVariant(
                variant_name=SHADOW_VARIANT,
                model_name=shadow_model,
                model_package_arn=shadow_package,
                shadow=True,
                instance_type=instance_type,
            )
        )
    return variants


def endpoint_state_pattern(endpoint_names: list[str]) -> dict[str, Any]:
    """SageMaker's endpoint state changes of these endpoints, except their deletion (a
    `pulumi destroy` deletes the endpoint before its intended state: not a mismatch)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [ENDPOINT_STATE_CHANGE],
        "detail": {
            "EndpointName": endpoint_names,
            "EndpointStatus": [{"anything-but": ["DELETING"]}],
        },
    }


def model_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    model: str,
    endpoint_name: str,
    artifact_bucket: str,
    capture_bucket: str,
    kms_key_arn: str,
    repository_arns: list[str],
    subnet_ids: Sequence[str] = (),
    security_group_ids: Sequence[str] = (),
) -> str:
    """The model's container: pull its images, read its artifacts, write the endpoint's capture
    and logs, and (in a VPC: `subnet_ids`) manage its network interfaces; `security_group_ids`
    are the configured groups (none: the platform creates the endpoint's group)."""
    artifacts = f"arn:{partition}:s3:::{artifact_bucket}"
    capture = f"arn:{partition}:s3:::{capture_bucket}"
    statements = [
        iam.allow(
            "PullImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            repository_arns,
        ),
        # ecr:GetAuthorizationToken, the registry login, takes no resource (AWS cannot scope
        # it); the token only serves the pull actions above, scoped to named repositories.
        iam.allow("LogInToRegistries", ["ecr:GetAuthorizationToken"], ["*"]),
        iam.allow(
            "ReadModelArtifacts",
            ["s3:GetObject"],
            [f"{artifacts}/models/{model}/*", f"{artifacts}/pipelines/{model}/*"],
        ),
        iam.allow(
            "WriteCapture",
            ["s3:PutObject"],
            [f"{capture}/{capture_settings.CAPTURE_PREFIX}/{endpoint_name}/*"],
        ),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        iam.allow(
            "WriteEndpointLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [
                f"arn:{partition}:logs:{region}:{account_id}:log-group:"
                f"/aws/sagemaker/Endpoints/{endpoint_name}:*"
            ],
        ),
        # cloudwatch:PutMetricData takes no resource; the namespace condition keeps it to
        # SageMaker's metrics.
        iam.allow(
            "PutEndpointMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ),
    ]
    if subnet_ids:
        # In the VPC, SageMaker places the model's network interfaces with this role
        # (ec2:CreateNetworkInterfacePermission lets it attach them: permissions management,
        # scoped to the account's interfaces in the region).
        statements += iam.network_interface_statements(
            "ManageModelNetworkInterfaces",
            partition=partition,
            region=region,
            account_id=account_id,
            subnet_ids=subnet_ids,
            security_group_ids=security_group_ids,
        )
    return iam.document(*statements)


def firehose_policy_document(
    *,
    partition: str,
    region: str,
    capture_bucket: str,
    kms_key_arn: str,
    log_group_arn: str,
    endpoint_name: str,
) -> str:
    """Firehose writes the endpoint's capture (and failed records) and logs delivery errors."""
    bucket = f"arn:{partition}:s3:::{capture_bucket}"
    prefixes = [
        f"{bucket}/{capture_settings.CAPTURE_PREFIX}/{endpoint_name}/*",
        f"{bucket}/{capture_settings.CAPTURE_ERRORS_PREFIX}/{endpoint_name}/*",
    ]
    return iam.document(
        iam.allow(
            "DeliverCapture",
            ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            prefixes,
        ),
        iam.allow(
            "FindBucket",
            ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
            [bucket],
        ),
        # The capture bucket uses an S3 Bucket Key (components/storage.py), so S3 asks KMS with
        # the bucket's ARN as the encryption context, not the object's; the object prefixes
        # stay for a bucket without one. (Proven: tests/e2e/test_service_role_sufficiency.py.)
        iam.allow(
            "EncryptCaptureObjects",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            [kms_key_arn],
            Condition={
                "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, *prefixes]},
            },
        ),
        iam.allow("LogDeliveryErrors", ["logs:PutLogEvents"], [f"{log_group_arn}:*"]),
    )


def proxy_policy(
    *,
    region: str,
    endpoint_arn: str,
    stream_arn: str,
    kms_key_arn: str,
    queue_arn: str,
    log_group_arn: str,
) -> str:
    """The capture proxy: invoke its endpoint, put records on its stream, log and trace."""
    return iam.document(
        iam.allow("InvokeOwnEndpoint", ["sagemaker:InvokeEndpoint"], [endpoint_arn]),
        # No KMS grant for the records: Firehose encrypts a stream under a customer-managed key
        # with the grant it made itself when the stream was created (Firehose API Reference,
        # DeliveryStreamEncryptionConfigurationInput), not with the producer's identity.
        iam.allow("RecordCapture", ["firehose:PutRecord"], [stream_arn]),
        iam.allow(
            "WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
        # xray:PutTraceSegments and xray:PutTelemetryRecords take no resource: AWS cannot
        # scope them.
        iam.allow("Trace", functions.XRAY_ACTIONS, ["*"]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
    )


def verifier_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    topic_arn: str,
    kms_key_arn: str,
    queue_arn: str,
    log_group_arn: str,
    parameter_prefix: str,
    endpoint_names: list[str],
    model_package_groups: list[str],
) -> str:
    """The verifier reads the endpoints, their configurations, models and (where approval is
    required: `model_package_groups`) packages, and the intended-state parameters; it reports
    to the platform topic."""
    sm = f"arn:{partition}:sagemaker:{region}:{account_id}"
    parameters = f"arn:{partition}:ssm:{region}:{account_id}:parameter{parameter_prefix}"
    return iam.document(
        iam.allow(
            "DescribeEndpoints",
            ["sagemaker:DescribeEndpoint"],
            [f"{sm}:endpoint/{name.lower()}" for name in endpoint_names],
        ),
        # Live configurations and models are named by digest: the prefix is the endpoint's.
        iam.allow(
            "DescribeConfigurationsAndModels",
            ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
            [f"{sm}:endpoint-config/{name.lower()}-*" for name in endpoint_names]
            + [f"{sm}:model/{name.lower()}-*" for name in endpoint_names],
        ),
        *(
            [
                iam.allow(
                    "DescribePackages",
                    ["sagemaker:DescribeModelPackage"],
                    [f"{sm}:model-package/{group.lower()}/*" for group in model_package_groups],
                )
            ]
            if model_package_groups
            else []
        ),
        iam.allow(
            "ReadIntendedState",
            ["ssm:GetParameter", "ssm:GetParametersByPath"],
            [parameters.rstrip("/"), f"{parameters}*"],
        ),
        iam.allow("Report", ["sns:Publish"], [topic_arn]),
        iam.allow(
            "EncryptReports",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        ),
        iam.allow(
            "WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
        # xray:PutTraceSegments and xray:PutTelemetryRecords take no resource: AWS cannot
        # scope them.
        iam.allow("Trace", functions.XRAY_ACTIONS, ["*"]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
    )
