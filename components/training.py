"""Training pipelines: one SageMaker pipeline per model, its role, code, schedule and alerts.

`TrainingPipelines` (`mlops:training:TrainingPipelines`) creates, for every entry of
`training.pipelines`:

- the pipeline's code in the model-artifact bucket under a content-addressed prefix
  (`pipelines/<model>/code/<hash>/`): the training source directory as `sourcedir.tar.gz`, the
  validation and evaluation step scripts, and the drift engine the validation step profiles
  the data with, so a code change is a new definition and an old run keeps its code;
- an `aws.sagemaker.Pipeline` whose definition `components/pipeline_definition.py` generates at
  plan time with the sagemaker SDK, offline, in the SDK's own environment (`.venv-sagemaker`,
  reached through `components/sagemaker_sdk.py`: one SDK process for the whole plan);
- an execution role that grants what the pipeline's jobs do, derived from the definition itself
  (the images it pulls, the buckets and prefixes it reads and writes, the key, its own group)
  with `iam:PassRole` only for itself and only to SageMaker;
- optionally a schedule (EventBridge Scheduler, retry policy, dead-letter queue) that starts it
  with `TriggerReason=schedule`, and a batch-transform pipeline with its own schedule;
- one EventBridge rule for the stack's pipelines that sends failed executions to the platform
  topic, with retries and a dead-letter queue (`EventRoute`).

An optional SageMaker managed MLflow tracking server (`training.mlflow`) stores its artifacts in
the model-artifact bucket (encrypted with the platform key by the bucket's default) through a
role scoped to its prefix; pipelines log to it and its URL is a stack output.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam, sagemaker_sdk
from components.config import PipelineSchedule, TrainingPipelineSpec
from components.cost import CAPABILITY_TAG
from components.drift import CLI_ONLY
from components.naming import NameKind
from components.notifications import EventRoute, EventRouteArgs
from components.pipeline_definition import batch_pipeline_name, schema_document
from components.pipeline_inputs import ColumnSpec, TrainingPipelineInputs
from components.platform import PlatformComponent, PlatformContext, default_tags

ROOT = Path(__file__).resolve().parent.parent
PIPELINES_DIR = ROOT / "pipelines"
STEPS_DIR = PIPELINES_DIR / "steps"
ENGINE_DIR = ROOT / "lambdas" / "drift_check" / "mlops_drift"
BUILD_DIR = ROOT / "build" / "pipelines"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
SCHEDULE_RETRIES = 10
SCHEDULE_MAX_AGE_SECONDS = 6 * 3600
HOUR = 3600
START_PIPELINE_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"


@dataclass(frozen=True)
class TrainingPipelinesArgs:
    """Inputs of `TrainingPipelines`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: job volumes, outputs, checkpoints, queue, schedules."""
    data_bucket: pulumi.Input[str]
    """The curated bucket: training data under `<model>/training/`, batch input."""
    artifact_bucket: pulumi.Input[str]
    """The model-artifact bucket: code, checkpoints, models, baselines, evaluations."""
    model_package_groups: dict[str, str]
    """Model package group name by model (from the registry)."""
    repository_urls: dict[str, pulumi.Output[str]]
    """The models' ECR repositories (images of `custom` pipelines)."""
    topic_arn: pulumi.Input[str]
    """The platform topic receiving failed executions."""
    approval_status: str
    """Status new versions are registered with (PendingManualApproval or Approved)."""


# ---- code packaging ------------------------------------------------------------------------------


def _files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    )


MLFLOW_CLIENT = ("mlflow==3.17.2", "sagemaker-mlflow==0.5.0")
"""What a training container installs to log to the managed MLflow server (`requirements.txt`
in the source directory, installed by the framework container at start; those runs have the
network, see the README)."""


def source_tarball(model: str, requirements: tuple[str, ...] = ()) -> bytes:
    """`pipelines/<model>/` as a gzip tarball, byte-for-byte reproducible (fixed times, owners).

    `requirements` become a `requirements.txt` at the tarball's root (the model's own file
    wins when it has one).
    """
    directory = PIPELINES_DIR / model
    members = {p.relative_to(directory).as_posix(): p.read_bytes() for p in _files(directory)}
    if requirements:
        members.setdefault("requirements.txt", "".join(f"{r}\n" for r in requirements).encode())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as tar:
        for member, data in sorted(members.items()):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    # gzip stamps the time in its header; zero it so equal sources give equal bytes.
    raw = bytearray(buffer.getvalue())
    raw[4:8] = b"\0\0\0\0"
    return bytes(raw)


def code_objects(
    model: str, schema: str, requirements: tuple[str, ...] = ()
) -> dict[str, bytes | Path]:
    """What a pipeline's code prefix holds: key (relative to the prefix) to bytes or file.

    The layout is the one `pipeline_definition.code_files` documents: the training source
    directory, the step scripts, the drift engine and the data schema.
    """
    objects: dict[str, bytes | Path] = {
        "train/sourcedir.tar.gz": source_tarball(model, requirements),
        "schema/schema.json": schema.encode(),
    }
    for path in _files(STEPS_DIR):
        objects[f"steps/{path.relative_to(STEPS_DIR).as_posix()}"] = path
    for path in _files(ENGINE_DIR):
        if path.suffix == ".py" and f"mlops_drift/{path.name}" not in CLI_ONLY:
            objects[f"engine/mlops_drift/{path.relative_to(ENGINE_DIR).as_posix()}"] = path
    return objects


def code_hash(objects: dict[str, bytes | Path]) -> str:
    """A short content hash of the code objects: the prefix changes exactly when code does."""
    digest = hashlib.sha256()
    for key in sorted(objects):
        value = objects[key]
        digest.update(key.encode())
        digest.update(value if isinstance(value, bytes) else value.read_bytes())
    return digest.hexdigest()[:16]


# ---- the component ------------------------------------------------------------------------------


class TrainingPipelines(PlatformComponent):
    """The stack's training pipelines, their roles, schedules and failure alerts."""

    pipeline_names: dict[str, str]
    """Training pipeline name by model."""
    pipeline_arns: dict[str, pulumi.Output[str]]
    """Training pipeline ARN by model (what the retraining trigger starts)."""
    batch_pipeline_names: dict[str, str]
    """Batch-transform pipeline name by model (only models that have one)."""
    mlflow_tracking_server_url: pulumi.Output[str] | None
    """URL of the MLflow tracking server (None without one)."""
    inference_images: dict[str, pulumi.Output[str]]
    """The inference image each model's pipeline registers its versions with, by model (what
    an endpoint serving the model pulls)."""

    def __init__(
        self, name: str, args: TrainingPipelinesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:training:TrainingPipelines", name, args.context, opts)
        self._args = args
        training = self._ctx.config.training
        if training.pipelines:
            # The SDK's process imports the SDK (about 1.5 s) while the resources below are
            # registered; the definitions are asked of it once their inputs resolve.
            sagemaker_sdk.start()

        self._queue = self._ctx.dead_letter_queue(
            f"{name}-dlq",
            queue_name=self._physical("dlq", NameKind.SQS_QUEUE),
            kms_key_arn=args.kms_key_arn,
            parent=self,
        )
        self.mlflow_tracking_server_url = None
        self._mlflow_arn: pulumi.Output[str] | None = None
        if training.mlflow.enabled:
            self._mlflow()

        self.pipeline_names = {}
        self.pipeline_arns = {}
        self.batch_pipeline_names = {}
        self._batch_arns: dict[str, pulumi.Output[str]] = {}
        self._code_prefixes: dict[str, str] = {}
        targets: list[pulumi.Output[str]] = []
        self.inference_images = {}
        for spec in training.pipelines:
            pipeline = self._pipeline(spec)
            self.pipeline_arns[spec.model] = pipeline.arn
            self.inference_images[spec.model] = self._inputs(
                spec, self._code_prefixes[spec.model]
            ).apply(lambda i: sagemaker_sdk.images(i)["inference"])
            targets.append(pipeline.arn)
            if spec.batch_transform.enabled:
                targets.append(self._batch_pipeline(spec).arn)
        self._scheduler_role = self._schedule_role(targets)
        for spec in training.pipelines:
            if spec.schedule is not None:
                self._schedule(
                    f"{spec.model}-training",
                    spec.schedule,
                    self.pipeline_names[spec.model],
                    window=True,
                )
            if spec.batch_transform.enabled and spec.batch_transform.schedule is not None:
                self._schedule(
                    f"{spec.model}-batch",
                    spec.batch_transform.schedule,
                    self.batch_pipeline_names[spec.model],
                    window=False,
                )
        self._failures = EventRoute(
            f"{name}-failures",
            EventRouteArgs(
                context=self._ctx,
                description="Failed training and batch-transform pipeline executions.",
                # SageMaker spells pipeline ARNs in lower case.
                event_pattern=self._ctx.account_id.apply(
                    lambda account: failure_event_pattern(
                        f"arn:{self._ctx.partition}:sagemaker:{self._ctx.config.region}:"
                        f"{account}:pipeline/{self._physical('', NameKind.SAGEMAKER)}".lower()
                    )
                ),
                target_arn=args.topic_arn,
                kms_key_arn=args.kms_key_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "pipeline_names": self.pipeline_names,
                "pipeline_arns": self.pipeline_arns,
                "batch_pipeline_names": self.batch_pipeline_names,
                "mlflow_tracking_server_url": self.mlflow_tracking_server_url,
            }
        )

    # ---- MLflow --------------------------------------------------------------------------------
    def _mlflow(self) -> None:
        ctx = self._ctx
        args = self._args
        name = self._physical("mlflow", NameKind.SAGEMAKER)
        prefix = "mlflow/"
        role = ctx.service_role(
            f"{self._name}-mlflow-role",
            role_name=self._physical("mlflow", NameKind.IAM_ROLE),
            description="SageMaker managed MLflow: its artifact store in the artifact bucket.",
            service=SAGEMAKER_SERVICE,
            parent=self,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-mlflow-access",
            role=role.id,
            policy=pulumi.Output.all(args.artifact_bucket, args.kms_key_arn).apply(
                lambda v: mlflow_policy(ctx.partition, ctx.config.region, v[0], prefix, v[1])
            ),
            opts=self._opts(),
        )
        server = aws.sagemaker.MlflowTrackingServer(
            f"{self._name}-mlflow",
            tracking_server_name=name,
            tracking_server_size=ctx.config.training.mlflow.size,
            artifact_store_uri=pulumi.Output.concat("s3://", args.artifact_bucket, f"/{prefix}"),
            role_arn=role.arn,
            automatic_model_registration=False,
            opts=self._opts([policy]),
        )
        self._mlflow_arn = server.arn
        self.mlflow_tracking_server_url = server.tracking_server_url

    # ---- one pipeline --------------------------------------------------------------------------
    def _upload_code(self, spec: TrainingPipelineSpec) -> str:
        """Upload the pipeline's code; returns its key prefix in the artifact bucket."""
        requirements = MLFLOW_CLIENT if self._ctx.config.training.mlflow.enabled else ()
        objects = code_objects(spec.model, schema_document(self._template(spec, "")), requirements)
        prefix = f"pipelines/{spec.model}/code/{code_hash(objects)}"
        for key, value in sorted(objects.items()):
            path = value if isinstance(value, Path) else BUILD_DIR / spec.model / key
            if isinstance(value, bytes):
                # S3 needs the tarball's bytes; an asset is a file, so write it under build/.
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(value)
            aws.s3.BucketObjectv2(
                f"{self._name}-{spec.model}-code-{key.replace('/', '-')}",
                bucket=self._args.artifact_bucket,
                key=f"{prefix}/{key}",
                source=pulumi.FileAsset(str(path)),
                server_side_encryption="aws:kms",
                kms_key_id=self._args.kms_key_arn,
                bucket_key_enabled=True,
                opts=self._opts(),
            )
        self._code_prefixes[spec.model] = prefix
        return prefix

    def _template(self, spec: TrainingPipelineSpec, code_prefix: str) -> TrainingPipelineInputs:
        """The pipeline's inputs from config alone; resource outputs are filled in later."""
        ctx = self._ctx
        args = self._args
        training = ctx.config.training
        network = ctx.config.network
        spot = training.spot if spec.spot is None else spec.spot
        runtime = (spec.max_runtime_hours or training.max_runtime_hours) * HOUR
        wait = (spec.max_wait_hours or training.max_wait_hours) * HOUR
        return TrainingPipelineInputs(
            pipeline_name=ctx.naming.physical(f"{spec.model}-training", NameKind.SAGEMAKER),
            model=spec.model,
            region=ctx.config.region,
            partition=ctx.partition,
            account_id="",
            role_arn="",
            kms_key_arn="",
            data_bucket="",
            artifact_bucket="",
            code_prefix=code_prefix,
            model_package_group=args.model_package_groups[spec.model],
            approval_status=args.approval_status,
            framework=spec.framework,
            framework_version=spec.framework_version,
            py_version=spec.py_version,
            custom_image_uri=None,
            entry_point=spec.entry_point,
            hyperparameters=dict(spec.hyperparameters),
            target=spec.target,
            columns=tuple(ColumnSpec(c.name, c.type) for c in spec.columns),
            metric_name=spec.metric.name,
            metric_threshold=spec.metric.threshold,
            metric_comparison=spec.metric.comparison,
            training_instance_type=spec.instance_type or training.instance_type,
            training_instance_count=spec.instance_count or training.instance_count,
            processing_instance_type=training.processing_instance_type,
            volume_size_gb=training.volume_size_gb,
            spot=spot,
            max_runtime_seconds=runtime,
            max_wait_seconds=wait if spot else None,
            subnet_ids=tuple(network.subnet_ids) if network else (),
            security_group_ids=tuple(network.security_group_ids) if network else (),
            # The jobs a pipeline starts carry no provider tags: the platform's, and the
            # capability the training budget filters on.
            tags={**default_tags(ctx.config), CAPABILITY_TAG: "training"},
        )

    def _inputs(self, spec: TrainingPipelineSpec, code_prefix: str) -> pulumi.Output[Any]:
        """The pipeline's inputs with the resolved account, key, buckets, image and MLflow."""
        ctx = self._ctx
        args = self._args
        template = self._template(spec, code_prefix)
        image: pulumi.Input[str | None] = (
            pulumi.Output.concat(args.repository_urls[spec.model], ":", spec.image_tag)
            if spec.framework == "custom"
            else None
        )
        return pulumi.Output.all(
            ctx.account_id,
            args.kms_key_arn,
            args.data_bucket,
            args.artifact_bucket,
            image,
            self._mlflow_arn,
        ).apply(
            lambda v: replace(
                template,
                account_id=v[0],
                role_arn=role_arn(ctx.partition, v[0], template.pipeline_name),
                kms_key_arn=v[1],
                data_bucket=v[2],
                artifact_bucket=v[3],
                custom_image_uri=v[4],
                mlflow_tracking_server_arn=v[5],
            )
        )

    def _pipeline(self, spec: TrainingPipelineSpec) -> aws.sagemaker.Pipeline:
        code_prefix = self._upload_code(spec)
        inputs = self._inputs(spec, code_prefix)
        definition = inputs.apply(sagemaker_sdk.definition)
        name = self._ctx.naming.physical(f"{spec.model}-training", NameKind.SAGEMAKER)
        role, policy = self._role(spec.model, name, inputs, definition)
        pipeline = aws.sagemaker.Pipeline(
            f"{self._name}-{spec.model}",
            pipeline_name=name,
            pipeline_display_name=name,
            pipeline_description=f"Trains, evaluates and registers versions of {spec.model}.",
            role_arn=role.arn,
            pipeline_definition=definition,
            parallelism_configuration=aws.sagemaker.PipelineParallelismConfigurationArgs(
                max_parallel_execution_steps=5
            ),
            opts=self._opts([policy]),
        )
        self.pipeline_names[spec.model] = name
        return pipeline

    def _batch_pipeline(self, spec: TrainingPipelineSpec) -> aws.sagemaker.Pipeline:
        batch = spec.batch_transform
        name = batch_pipeline_name(self._template(spec, ""))
        # The batch pipeline's jobs run with its own role (same naming rule as the pipeline).
        inputs = self._inputs(spec, self._code_prefixes[spec.model]).apply(
            lambda i: replace(i, role_arn=role_arn(i.partition, i.account_id, name))
        )
        definition = inputs.apply(
            lambda i: sagemaker_sdk.batch_definition(i, batch.instance_type, batch.instance_count)
        )
        role, policy = self._role(f"{spec.model}-batch", name, inputs, definition)
        pipeline = aws.sagemaker.Pipeline(
            f"{self._name}-{spec.model}-batch",
            pipeline_name=name,
            pipeline_display_name=name,
            pipeline_description=f"Scores a dataset with the latest approved {spec.model}.",
            role_arn=role.arn,
            pipeline_definition=definition,
            opts=self._opts([policy]),
        )
        self.batch_pipeline_names[spec.model] = name
        self._batch_arns[spec.model] = pipeline.arn
        return pipeline

    def _role(
        self,
        key: str,
        pipeline_name: str,
        inputs: pulumi.Output[Any],
        definition: pulumi.Output[str],
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        ctx = self._ctx
        role = ctx.service_role(
            f"{self._name}-{key}-role",
            role_name=pipeline_name,
            description=f"Execution role of the SageMaker pipeline {pipeline_name}.",
            service=SAGEMAKER_SERVICE,
            parent=self,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-{key}-access",
            role=role.id,
            policy=pulumi.Output.all(inputs, definition).apply(
                lambda v: execution_policy(v[0], json.loads(v[1]))
            ),
            opts=self._opts(),
        )
        return role, policy

    # ---- schedules -----------------------------------------------------------------------------
    def _schedule_role(self, targets: list[pulumi.Output[str]]) -> aws.iam.Role:
        ctx = self._ctx
        args = self._args
        role = ctx.service_role(
            f"{self._name}-scheduler-role",
            role_name=self._physical("scheduler", NameKind.IAM_ROLE),
            description="EventBridge Scheduler: start the training and batch pipelines.",
            service=SCHEDULER_SERVICE,
            parent=self,
        )
        self._scheduler_policy = aws.iam.RolePolicy(
            f"{self._name}-scheduler-access",
            role=role.id,
            policy=pulumi.Output.all(self._queue.arn, args.kms_key_arn, *targets).apply(
                lambda v: pipeline_scheduler_policy(ctx.config.region, v[0], v[1], list(v[2:]))
            ),
            opts=self._opts(),
        )
        return role

    def _schedule(
        self, key: str, schedule: PipelineSchedule, pipeline_name: str, *, window: bool
    ) -> None:
        aws.scheduler.Schedule(
            f"{self._name}-{key}-schedule",
            name=self._physical(key, NameKind.SCHEDULE),
            description=f"Starts the pipeline {pipeline_name} ({schedule.expression}).",
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            state="ENABLED",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(
                mode="FLEXIBLE", maximum_window_in_minutes=schedule.flexible_window_minutes
            )
            if schedule.flexible_window_minutes
            else aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=self._args.kms_key_arn,
            target=aws.scheduler.ScheduleTargetArgs(
                # The SDK-call target, because only its Input gets Scheduler's context
                # attributes: the run's time becomes WindowEnd (part of the validation step's
                # cache key) and its execution id the idempotency token, so a retried
                # delivery never starts a second execution.
                arn=START_PIPELINE_TARGET,
                role_arn=self._scheduler_role.arn,
                input=scheduled_start_input(pipeline_name, window=window),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=SCHEDULE_RETRIES,
                    maximum_event_age_in_seconds=SCHEDULE_MAX_AGE_SECONDS,
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                    arn=self._queue.arn
                ),
            ),
            opts=self._opts([self._scheduler_policy]),
        )


# ---- documents ----------------------------------------------------------------------------------


def role_arn(partition: str, account_id: str, pipeline_name: str) -> str:
    """The execution role's ARN, known before the role exists (its name is the pipeline's)."""
    return f"arn:{partition}:iam::{account_id}:role/{pipeline_name}"


def scheduled_start_input(pipeline_name: str, *, window: bool) -> str:
    """StartPipelineExecution's request for a scheduled run (`window`: pass WindowEnd)."""
    parameters = [{"Name": "TriggerReason", "Value": "schedule"}]
    if window:
        parameters.append({"Name": "WindowEnd", "Value": "<aws.scheduler.scheduled-time>"})
    return json.dumps(
        {
            "PipelineName": pipeline_name,
            "PipelineExecutionDescription": "Scheduled run",
            "ClientRequestToken": "<aws.scheduler.execution-id>",
            "PipelineParameters": parameters,
        },
        sort_keys=True,
    )


def failure_event_pattern(pipeline_arn_prefix: str) -> dict[str, Any]:
    """Failed executions of this stack's pipelines (their ARNs share the stack's prefix)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [STATUS_CHANGE],
        "detail": {
            "currentPipelineExecutionStatus": ["Failed"],
            "pipelineArn": [{"prefix": pipeline_arn_prefix}],
        },
    }


def _images(definition: dict[str, Any]) -> list[str]:
    """Every container image the definition's jobs and models use."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ImageUri", "TrainingImage", "Image") and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(definition)
    return sorted(found)


_JOB_KINDS: dict[str, tuple[list[str], str]] = {
    "Processing": (
        [
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob",
        ],
        "processing-job",
    ),
    "Training": (
        [
            "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob",
        ],
        "training-job",
    ),
    "Transform": (
        [
            "sagemaker:CreateTransformJob",
            "sagemaker:DescribeTransformJob",
            "sagemaker:StopTransformJob",
        ],
        "transform-job",
    ),
    "Model": (["sagemaker:CreateModel", "sagemaker:DescribeModel"], "model"),
}
"""Per step type of a definition: what SageMaker Pipelines does with the role for it (create,
follow and, when the execution stops, stop the job), and the resource type it names."""


def _steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step of a definition, those in condition branches included."""
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            yield from _steps([*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])])


def _looks_up_packages(step: dict[str, Any]) -> bool:
    """A job that lists the registry's versions itself (the batch pipeline's lookup)."""
    app = step.get("Arguments", {}).get("AppSpecification", {})
    return "--model-package-group" in (app.get("ContainerArguments") or [])


def execution_policy(inputs: TrainingPipelineInputs, definition: dict[str, Any]) -> str:
    """What the pipeline's jobs do, and nothing else; derived from the generated definition."""
    part, region, account = inputs.partition, inputs.region, inputs.account_id
    sm = f"arn:{part}:sagemaker:{region}:{account}"
    data = f"arn:{part}:s3:::{inputs.data_bucket}"
    artifacts = f"arn:{part}:s3:::{inputs.artifact_bucket}"
    model = inputs.model
    steps = list(_steps(definition.get("Steps", [])))
    kinds = [k for k in _JOB_KINDS if any(step.get("Type") == k for step in steps)]
    # The registry: registering (a RegisterModel step) or looking the versions up (a job that
    # lists them itself); reading a version (DescribeModelPackage, and its group) goes with both.
    registry = [
        *(
            ["sagemaker:CreateModelPackage"]
            if any(s.get("Type") == "RegisterModel" for s in steps)
            else []
        ),
        *(["sagemaker:ListModelPackages"] if any(_looks_up_packages(s) for s in steps) else []),
    ]
    statements = [
        iam.allow(
            "RunOwnJobs",
            [*(a for k in kinds for a in _JOB_KINDS[k][0]), "sagemaker:AddTags"],
            [f"{sm}:{_JOB_KINDS[k][1]}/pipelines-*" for k in kinds],
        ),
        *(
            [
                iam.allow(
                    "RegisterVersions",
                    [
                        *registry,
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:DescribeModelPackageGroup",
                    ],
                    [
                        f"{sm}:model-package-group/{inputs.model_package_group}",
                        f"{sm}:model-package/{inputs.model_package_group}/*",
                    ],
                )
            ]
            if registry
            else []
        ),
        # iam:PassRole of this role only, to SageMaker only: the pipeline's steps run as it.
        iam.allow(
            "PassOwnRoleToSageMaker",
            ["iam:PassRole"],
            [inputs.role_arn],
            Condition={"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
        ),
        iam.allow(
            "ReadTrainingData",
            ["s3:GetObject"],
            [f"{data}/{model}/*"],
        ),
        iam.allow(
            "ListTrainingData",
            ["s3:ListBucket"],
            [data],
            Condition={"StringLike": {"s3:prefix": [f"{model}/*"]}},
        ),
        iam.allow(
            "ReadWriteModelArtifacts",
            ["s3:GetObject", "s3:PutObject"],
            [f"{artifacts}/models/{model}/*", f"{artifacts}/pipelines/{model}/*"],
        ),
        iam.allow(
            "ListModelArtifacts",
            ["s3:ListBucket"],
            [artifacts],
            Condition={"StringLike": {"s3:prefix": [f"models/{model}/*", f"pipelines/{model}/*"]}},
        ),
        iam.allow(
            "UsePlatformKey",
            ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            [inputs.kms_key_arn],
        ),
        # Encrypted job volumes: SageMaker attaches them through a grant made with this role.
        iam.allow(
            "GrantVolumeEncryption",
            ["kms:CreateGrant"],
            [inputs.kms_key_arn],
            Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        iam.allow(
            "PullImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            sorted({iam.ecr_repository_arn(i, part) for i in _images(definition)}),
        ),
        # ecr:GetAuthorizationToken, the registry login, takes no resource (AWS cannot scope
        # it); the token only serves the pull actions above, scoped to named repositories.
        iam.allow("LogInToRegistries", ["ecr:GetAuthorizationToken"], ["*"]),
        iam.allow(
            "WriteJobLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:{part}:logs:{region}:{account}:log-group:/aws/sagemaker/*"],
        ),
        # cloudwatch:PutMetricData takes no resource; the namespace condition keeps the job
        # metrics to SageMaker's.
        iam.allow(
            "PutJobMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ),
    ]
    if inputs.subnet_ids:
        # In the VPC, SageMaker places each job's network interfaces with this role
        # (ec2:CreateNetworkInterfacePermission lets it attach them: permissions management,
        # scoped to the account's interfaces in the region).
        statements += iam.network_interface_statements(
            "ManageJobNetworkInterfaces",
            partition=part,
            region=region,
            account_id=account,
            subnet_ids=inputs.subnet_ids,
            security_group_ids=inputs.security_group_ids,
        )
    if inputs.mlflow_tracking_server_arn:
        statements.append(
            iam.allow(
                "LogToMlflow",
                [
                    "sagemaker-mlflow:AccessUI",
                    "sagemaker-mlflow:CreateExperiment",
                    "sagemaker-mlflow:SearchExperiments",
                    "sagemaker-mlflow:CreateRun",
                    "sagemaker-mlflow:UpdateRun",
                    "sagemaker-mlflow:LogMetric",
                    "sagemaker-mlflow:LogParam",
                    "sagemaker-mlflow:LogBatch",
                    "sagemaker-mlflow:SetTag",
                    "sagemaker-mlflow:GetRun",
                ],
                [inputs.mlflow_tracking_server_arn],
            )
        )
    return iam.document(*statements)


def mlflow_policy(partition: str, region: str, bucket: str, prefix: str, kms_key_arn: str) -> str:
    """The tracking server reads and writes its artifact store, nothing else."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return iam.document(
        iam.allow(
            "ArtifactStore",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [f"{arn}/{prefix}*"],
        ),
        iam.allow(
            "ListArtifactStore",
            ["s3:ListBucket"],
            [arn],
            Condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        ),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
    )


def pipeline_scheduler_policy(
    region: str, queue_arn: str, kms_key_arn: str, pipeline_arns: Iterable[str]
) -> str:
    """Start the stack's pipelines; park undeliverable starts in the dead-letter queue."""
    statements = [
        iam.allow("StartPipelines", ["sagemaker:StartPipelineExecution"], sorted(pipeline_arns)),
        iam.allow("DecryptSchedules", ["kms:Decrypt"], [kms_key_arn]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
    ]
    return iam.document(*statements)
