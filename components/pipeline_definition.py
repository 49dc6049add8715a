"""SageMaker Pipelines definitions of a model's training and batch-transform pipelines.

Built with the sagemaker SDK's (v2) workflow classes at plan time, offline. The SDK is not in
the Pulumi program's environment (it pins packaging < 25, the Pulumi SDK needs >= 26): this
module runs in the SDK's own environment, `.venv-sagemaker`, as

    python -m components.pipeline_definition definition|schema|images  < inputs.json
    python -m components.pipeline_definition batch INSTANCE_TYPE COUNT  < inputs.json
    python -m components.pipeline_definition serve     (JSON lines, components/sagemaker_sdk.py)

with `TrainingPipelineInputs` as JSON (`pipeline_inputs.to_json`) on stdin and the result on
stdout. The program calls it through `components/sagemaker_sdk.py`. The SDK is imported inside
the functions only, so the standard-library helpers (`schema_document`, `code_files`,
`batch_pipeline_name`, `task_of`) import without it, in either environment. The session is a
`PipelineSession` on a credential-less boto3 session with the artifact bucket as its default
bucket, every S3 URI is explicit (the SDK uploads nothing and
never resolves a default bucket) and the SDK's config files are not read (`sagemaker_config`
is given), so the same inputs always give the same JSON and no AWS call is made.

What the plan must upload to the artifact bucket before a pipeline runs (see `code_files`):

    <code_prefix>/train/sourcedir.tar.gz     pipelines/<model>/ as a gzipped tar, entry point at
                                             its root (the training code; its own
                                             requirements.txt is pip-installed by the
                                             framework container when present)
    <code_prefix>/steps/validate.py          pipelines/steps/validate.py
    <code_prefix>/steps/evaluate.py          pipelines/steps/evaluate.py
    <code_prefix>/steps/latest_approved.py   pipelines/steps/latest_approved.py (batch transform)
    <code_prefix>/engine/mlops_drift/*.py    lambdas/drift_check/mlops_drift/*.py
    <code_prefix>/schema/schema.json         `schema_document(inputs)`, byte for byte

The step scripts' contract (inputs, outputs, file names, metric keys) is pipelines/README.md.
"""

# ruff: noqa: PLC0415 - the SDK is imported inside the functions, on purpose (import time).

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from components.pipeline_inputs import TrainingPipelineInputs, from_json

PROCESSING_SKLEARN_VERSION = "1.4-2"
"""The scikit-learn image of the validation and latest-approved steps (pandas, numpy, boto3)."""

CLASSIFICATION_METRICS = ("auc", "accuracy", "f1", "precision", "recall")
REGRESSION_METRICS = ("rmse", "mae", "r2")

STEP_VALIDATE = "ValidateData"
STEP_TRAIN = "Train"
STEP_EVALUATE = "Evaluate"
STEP_CHECK = "CheckMetric"
STEP_REGISTER = "RegisterModel"
STEP_FAIL = "MetricBelowThreshold"
STEP_LATEST = "LatestApprovedPackage"
STEP_CREATE_MODEL = "CreateModel"
STEP_TRANSFORM = "BatchTransform"

VALIDATE_CACHE_EXPIRY = "P30D"

_PROCESSING = "/opt/ml/processing"


def task_of(metric_name: str) -> str:
    """`classification` or `regression`: the task a gate metric belongs to."""
    if metric_name in CLASSIFICATION_METRICS:
        return "classification"
    if metric_name in REGRESSION_METRICS:
        return "regression"
    known = ", ".join(CLASSIFICATION_METRICS + REGRESSION_METRICS)
    raise ValueError(
        f"metric {metric_name!r} is not written by the evaluation step; accepted: {known}"
    )


def schema_document(inputs: TrainingPipelineInputs) -> str:
    """The data contract the validation and evaluation steps read (`schema/schema.json`).

    A file rather than job arguments: a processing job takes at most 256 arguments of 256
    characters, and a model may declare 2,500 columns. Its SHA-256 is an argument of the
    steps, so a changed schema changes the definition (and the validation step's cache key)
    and a stale upload fails the step instead of validating against the wrong schema.
    """
    document = {
        "columns": [{"name": c.name, "kind": c.kind} for c in inputs.columns],
        "target": inputs.target,
        "task": task_of(inputs.metric_name),
    }
    return json.dumps(document, sort_keys=True, indent=1) + "\n"


def code_files(inputs: TrainingPipelineInputs) -> dict[str, str]:
    """S3 key (in the artifact bucket) -> what to upload there (repository path or `schema`)."""
    prefix = inputs.code_prefix.strip("/")
    return {
        f"{prefix}/train/sourcedir.tar.gz": f"pipelines/{inputs.model}/ (tar.gz)",
        f"{prefix}/steps/validate.py": "pipelines/steps/validate.py",
        f"{prefix}/steps/evaluate.py": "pipelines/steps/evaluate.py",
        f"{prefix}/steps/latest_approved.py": "pipelines/steps/latest_approved.py",
        f"{prefix}/engine/mlops_drift/": "lambdas/drift_check/mlops_drift/*.py",
        f"{prefix}/schema/schema.json": "schema_document(inputs)",
    }


# ---- the SDK, offline ---------------------------------------------------------------------------


def _quiet_sdk() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # The config loader logs at INFO where it looks for config files (the definition reads
    # none) and the telemetry decorator at INFO on every call.
    for name in ("sagemaker.config", "sagemaker", "sagemaker.telemetry"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _no_telemetry(*_args: Any, **_kwargs: Any) -> None:
    return None


@contextmanager
def _offline_sdk() -> Iterator[None]:
    """The SDK, quiet and offline while a definition is built.

    No v2 deprecation banner, config-file or telemetry logs, nor the "Running within a
    PipelineSession" warning each job emits. Telemetry is switched off: every estimator.fit
    and processor.run otherwise asks STS for the account and sends a GET to the SDK's
    telemetry bucket. The documented opt-out is a `TelemetryOptOut` entry in the SDK config,
    but any non-empty config is validated against its JSON schema on every lookup (~150 ms
    each, ~100 lookups per definition), so the sender is replaced for the duration instead.
    """
    _quiet_sdk()
    from sagemaker.telemetry import telemetry_logging

    sender = telemetry_logging._send_telemetry_request
    telemetry_logging._send_telemetry_request = _no_telemetry
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        telemetry_logging._send_telemetry_request = sender


def _session(inputs: TrainingPipelineInputs) -> Any:
    import boto3
    from sagemaker.workflow.pipeline_context import PipelineSession

    # No credentials are needed: boto3 resolves them only when a request is signed.
    boto_session = boto3.Session(region_name=inputs.region)
    session: Any = PipelineSession(
        boto_session=boto_session,
        default_bucket=inputs.artifact_bucket,
        # Given, so the SDK reads no config file of the machine running the plan (which could
        # add its own defaults, tags, keys or subnets, to the jobs, or name an S3 config) ...
        sagemaker_config={"SchemaVersion": "1.0"},
    )
    # ... and then emptied, so that no lookup of a default re-validates it (see above).
    session.sagemaker_config = {}
    # default_bucket() would otherwise check the bucket exists (an S3 call) the first time it
    # is asked; every URI below is explicit, this only makes a stray lookup harmless.
    session._default_bucket = inputs.artifact_bucket
    return session


def _retry_policies() -> list[Any]:
    from sagemaker.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )

    return [
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
            interval_seconds=10,
            backoff_rate=2.0,
            max_attempts=5,
        ),
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            interval_seconds=60,
            backoff_rate=2.0,
            max_attempts=5,
        ),
    ]


def _api_retry_policies() -> list[Any]:
    """For steps that call an API rather than run a job (model and model package creation)."""
    return _retry_policies()[:1]


def _tags(inputs: TrainingPipelineInputs) -> Any:
    return [{"Key": k, "Value": v} for k, v in sorted(inputs.tags.items())] or None


def _network(inputs: TrainingPipelineInputs, *, isolated: bool) -> Any:
    from sagemaker.network import NetworkConfig

    return NetworkConfig(
        enable_network_isolation=isolated,
        encrypt_inter_container_traffic=True,
        security_group_ids=list(inputs.security_group_ids) or None,
        subnets=list(inputs.subnet_ids) or None,
    )


def _vpc_config(inputs: TrainingPipelineInputs) -> dict[str, list[str]] | None:
    if not inputs.subnet_ids:
        return None
    return {"Subnets": list(inputs.subnet_ids), "SecurityGroupIds": list(inputs.security_group_ids)}


def _code_uri(inputs: TrainingPipelineInputs, key: str) -> str:
    return f"s3://{inputs.artifact_bucket}/{inputs.code_prefix.strip('/')}/{key}"


def _run_uri(inputs: TrainingPipelineInputs, *parts: str) -> Any:
    """`s3://<artifact>/models/<model>/runs/<execution id>/<parts>/`, resolved at run time."""
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.functions import Join

    return Join(
        on="/",
        values=[
            f"s3://{inputs.artifact_bucket}/models/{inputs.model}/runs",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            *parts,
            "",
        ],
    )


def training_image_uri(inputs: TrainingPipelineInputs, scope: str = "training") -> str:
    """The training (or inference) image: the model's ECR image, or the framework's for the
    region (from the SDK's bundled image table: offline)."""
    if inputs.framework == "custom":
        if not inputs.custom_image_uri:
            raise ValueError(f"model {inputs.model!r}: framework custom needs custom_image_uri")
        return inputs.custom_image_uri
    return _image_uri(
        inputs.framework,
        inputs.region,
        inputs.framework_version,
        inputs.py_version,
        inputs.training_instance_type,
        scope,
    )


@functools.lru_cache(maxsize=256)
def _image_uri(  # noqa: PLR0917 - a cache key: positional, hashable
    framework: str,
    region: str,
    version: str | None,
    py_version: str | None,
    instance_type: str,
    scope: str,
) -> str:
    """Memoised: each lookup parses the SDK's image tables (tens of ms a call)."""
    _quiet_sdk()
    from sagemaker import image_uris

    uri: str = image_uris.retrieve(
        framework,
        region,
        version=version,
        py_version=py_version,
        instance_type=instance_type,
        image_scope=scope,
    )
    return uri


def processing_image_uri(inputs: TrainingPipelineInputs) -> str:
    """The scikit-learn processing image of the region (validation, latest-approved lookup)."""
    return _image_uri(
        "sklearn",
        inputs.region,
        PROCESSING_SKLEARN_VERSION,
        "py3",
        inputs.processing_instance_type,
        "training",
    )


def _processor(inputs: TrainingPipelineInputs, session: Any, image: str, *, isolated: bool) -> Any:
    from sagemaker.processing import ScriptProcessor

    return ScriptProcessor(
        role=inputs.role_arn,
        image_uri=image,
        command=["python3"],
        instance_type=inputs.processing_instance_type,
        instance_count=1,
        volume_size_in_gb=inputs.volume_size_gb,
        volume_kms_key=inputs.kms_key_arn,
        output_kms_key=inputs.kms_key_arn,
        max_runtime_in_seconds=inputs.max_runtime_seconds,
        sagemaker_session=session,
        network_config=_network(inputs, isolated=isolated),
        tags=_tags(inputs),
    )


# ---- the training pipeline ----------------------------------------------------------------------


def pipeline_definition(inputs: TrainingPipelineInputs) -> str:
    """The training pipeline's definition JSON (sorted keys), generated offline.

    ValidateData -> Train -> Evaluate -> CheckMetric -> RegisterModel | MetricBelowThreshold.
    """
    with _offline_sdk():
        return _training_definition(inputs)


def _training_definition(inputs: TrainingPipelineInputs) -> str:  # noqa: PLR0915 - one graph
    from sagemaker.drift_check_baselines import DriftCheckBaselines
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

    task_of(inputs.metric_name)  # refuses a metric the evaluation step does not write
    if inputs.metric_comparison not in ("gte", "lte"):
        raise ValueError(f"metric_comparison must be gte or lte, got {inputs.metric_comparison!r}")
    session = _session(inputs)
    schema = schema_document(inputs)
    schema_sha = hashlib.sha256(schema.encode()).hexdigest()

    data_uri = ParameterString(name="DataUri", default_value=inputs.data_uri)
    window_end = ParameterString(name="WindowEnd", default_value="none")
    instance_type = ParameterString(
        name="TrainingInstanceType", default_value=inputs.training_instance_type
    )
    trigger_reason = ParameterString(name="TriggerReason", default_value="manual")
    # What the retraining trigger saw: the drift report's URI, the alarm, the request.
    trigger_detail = ParameterString(name="TriggerDetail", default_value="none")

    # ---- ValidateData: schema check, seeded split, drift baseline -------------------------------
    validator = _processor(inputs, session, processing_image_uri(inputs), isolated=True)
    validate_args = validator.run(
        code=_code_uri(inputs, "steps/validate.py"),
        inputs=[
            ProcessingInput(
                source=data_uri, destination=f"{_PROCESSING}/input/data", input_name="data"
            ),
            ProcessingInput(
                source=_code_uri(inputs, "engine/"),
                destination=f"{_PROCESSING}/input/engine",
                input_name="engine",
            ),
            ProcessingInput(
                source=_code_uri(inputs, "schema/schema.json"),
                destination=f"{_PROCESSING}/input/schema",
                input_name="schema",
            ),
        ],
        outputs=[
            ProcessingOutput(
                output_name=name,
                source=f"{_PROCESSING}/output/{name}",
                destination=_run_uri(inputs, name),
            )
            for name in ("train", "test", "baseline")
        ],
        # WindowEnd is an argument so that it is part of the cache key (see below).
        arguments=["--schema-sha256", schema_sha, "--window-end", window_end],
    )
    validate = ProcessingStep(
        name=STEP_VALIDATE,
        step_args=validate_args,
        # Safe to cache: the step is a pure function of its arguments and inputs, and the cache
        # key holds all of them (DataUri, WindowEnd, the schema's hash, the code's S3 URIs).
        # The contract that makes it so: the data under DataUri for one WindowEnd does not
        # change (schedules and the retrain trigger pass a new WindowEnd; a manual run over new
        # data at the same prefix must too), and code is uploaded under a content-addressed
        # code_prefix. A hit reuses the earlier run's split and baseline, which still exist.
        cache_config=CacheConfig(enable_caching=True, expire_after=VALIDATE_CACHE_EXPIRY),
        retry_policies=_retry_policies(),
    )
    train_uri = validate.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri
    test_uri = validate.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri
    baseline_dir = validate.properties.ProcessingOutputConfig.Outputs["baseline"].S3Output.S3Uri
    baseline_uri = Join(on="/", values=[baseline_dir, "baseline.json"])

    # ---- Train ----------------------------------------------------------------------------------
    image = training_image_uri(inputs)
    mlflow = inputs.mlflow_tracking_server_arn
    environment: dict[str, Any] = {}
    if mlflow:
        # The v2 SDK has no pipeline-level MLflow configuration: the job gets the standard
        # MLflow variables (the sagemaker-mlflow plugin takes the tracking server ARN as the
        # tracking URI) and the run's context. Logging needs the network, so such a job runs
        # without network isolation (still in the stack's VPC when it has one).
        environment = {
            "MLFLOW_TRACKING_URI": mlflow,
            "MLFLOW_EXPERIMENT_NAME": inputs.pipeline_name,
            "MLOPS_PIPELINE_EXECUTION_ID": ExecutionVariables.PIPELINE_EXECUTION_ID,
            "MLOPS_TRIGGER_REASON": trigger_reason,
            "MLOPS_TRIGGER_DETAIL": trigger_detail,
        }
    hyperparameters: dict[str, Any] = {"target": inputs.target, **inputs.hyperparameters}
    estimator = Estimator(
        image_uri=image,
        role=inputs.role_arn,
        instance_count=inputs.training_instance_count,
        instance_type=instance_type,
        volume_size=inputs.volume_size_gb,
        volume_kms_key=inputs.kms_key_arn,
        output_kms_key=inputs.kms_key_arn,
        output_path=_run_uri(inputs, "model"),
        max_run=inputs.max_runtime_seconds,
        use_spot_instances=inputs.spot,
        max_wait=inputs.max_wait_seconds if inputs.spot else None,
        # Per execution: a shared prefix would make the next run resume from the last run's
        # checkpoint. A retried job (Spot capacity) in the same execution resumes from it.
        checkpoint_s3_uri=Join(
            on="/",
            values=[
                inputs.checkpoint_uri.rstrip("/"),
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                "",
            ],
        ),
        checkpoint_local_path="/opt/ml/checkpoints",
        # The SDK uploads nothing for an S3 source_dir; with network isolation it passes the
        # tarball as the `code` input channel and points sagemaker_submit_directory at it.
        source_dir=_code_uri(inputs, "train/sourcedir.tar.gz"),
        entry_point=inputs.entry_point,
        hyperparameters=hyperparameters,
        environment=environment or None,
        encrypt_inter_container_traffic=True,
        enable_network_isolation=not mlflow,
        subnets=list(inputs.subnet_ids) or None,
        security_group_ids=list(inputs.security_group_ids) or None,
        sagemaker_session=session,
        disable_profiler=True,
        tags=_tags(inputs),
    )
    train = TrainingStep(
        name=STEP_TRAIN,
        step_args=estimator.fit(
            inputs={"train": TrainingInput(s3_data=train_uri, content_type="text/csv")}
        ),
        # Not cached: a hit would skip training and register the earlier run's artifact
        # again as a new version (with this run's trigger reason), and Spot training with
        # checkpoints is not a pure function of its inputs.
        retry_policies=_retry_policies(),
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    # ---- Evaluate ---------------------------------------------------------------------------
    # Run on the training image: it unpickles the model with the libraries that pickled it.
    evaluator = _processor(inputs, session, image, isolated=True)
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(
        name=STEP_EVALUATE,
        step_args=evaluator.run(
            code=_code_uri(inputs, "steps/evaluate.py"),
            inputs=[
                ProcessingInput(
                    source=model_data, destination=f"{_PROCESSING}/input/model", input_name="model"
                ),
                ProcessingInput(
                    source=test_uri, destination=f"{_PROCESSING}/input/test", input_name="test"
                ),
                ProcessingInput(
                    source=_code_uri(inputs, "schema/schema.json"),
                    destination=f"{_PROCESSING}/input/schema",
                    input_name="schema",
                ),
            ],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    source=f"{_PROCESSING}/output/evaluation",
                    destination=_run_uri(inputs, "evaluation"),
                )
            ],
            arguments=["--schema-sha256", schema_sha],
        ),
        property_files=[report],
        # Not cached: its input is this execution's model artifact, so a hit is impossible
        # while Train is not cached.
        retry_policies=_retry_policies(),
    )
    evaluation_uri = Join(
        on="/",
        values=[
            evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
            "evaluation.json",
        ],
    )

    # ---- RegisterModel ------------------------------------------------------------------------
    model = Model(
        # The framework's inference image (the training image itself for sklearn and xgboost).
        image_uri=training_image_uri(inputs, "inference"),
        model_data=model_data,
        role=inputs.role_arn,
        # The training script puts itself under code/ in model.tar.gz (the layout the SDK's
        # repack produces), so the serving container needs no network to load it.
        env={
            "SAGEMAKER_PROGRAM": inputs.entry_point.rsplit("/", 1)[-1],
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": inputs.region,
        },
        enable_network_isolation=True,
        sagemaker_session=session,
    )
    register = ModelStep(
        name=STEP_REGISTER,
        step_args=model.register(
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=[inputs.processing_instance_type],
            transform_instances=[inputs.processing_instance_type],
            model_package_group_name=inputs.model_package_group,
            approval_status=inputs.approval_status,
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(
                    s3_uri=evaluation_uri, content_type="application/json"
                )
            ),
            # The drift engine's own baseline (not Model Monitor's statistics.json): the API
            # takes any JSON document; `mlops_drift.baseline.load_baseline` reads both.
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource(
                    s3_uri=baseline_uri, content_type="application/json"
                )
            ),
            customer_metadata_properties={
                "mlops:drift-baseline": baseline_uri,
                "mlops:trigger-reason": trigger_reason,
                "mlops:trigger-detail": trigger_detail,
                "mlops:pipeline-execution": ExecutionVariables.PIPELINE_EXECUTION_ARN,
                "mlops:metric": inputs.metric_name,
            },
            description=f"{inputs.model}: trained by {inputs.pipeline_name}",
        ),
        retry_policies=_api_retry_policies(),
    )

    # ---- CheckMetric / MetricBelowThreshold ---------------------------------------------------
    # Typed Any: the SDK's condition hints omit JsonGet, which the conditions accept.
    metric: Any = JsonGet(
        step_name=STEP_EVALUATE,
        property_file=report,
        json_path=f"metrics.{inputs.metric_name}.value",
    )
    gte = inputs.metric_comparison == "gte"
    condition = (
        ConditionGreaterThanOrEqualTo(left=metric, right=inputs.metric_threshold)
        if gte
        else ConditionLessThanOrEqualTo(left=metric, right=inputs.metric_threshold)
    )
    fail = FailStep(
        name=STEP_FAIL,
        error_message=Join(
            on=" ",
            values=[
                f"Model {inputs.model}: metric {inputs.metric_name} =",
                metric,
                "is " + ("below" if gte else "above"),
                f"the threshold {inputs.metric_threshold!r}"
                f" (required: {inputs.metric_name} {'>=' if gte else '<='}"
                f" {inputs.metric_threshold!r}); no model version was registered.",
            ],
        ),
    )
    check = ConditionStep(
        name=STEP_CHECK,
        conditions=[condition],
        if_steps=[register],
        else_steps=[fail],
    )

    pipeline = Pipeline(
        name=inputs.pipeline_name,
        parameters=[data_uri, instance_type, trigger_reason, trigger_detail, window_end],
        steps=[validate, train, evaluate, check],
        sagemaker_session=session,
    )
    return _canonical(pipeline.definition())


# ---- the batch-transform pipeline -----------------------------------------------------------


def batch_pipeline_name(inputs: TrainingPipelineInputs) -> str:
    """`<pipeline name without -training>-batch`."""
    return inputs.pipeline_name.removesuffix("-training") + "-batch"


def batch_transform_definition(
    inputs: TrainingPipelineInputs, instance_type: str, instance_count: int
) -> str:
    """The batch-transform pipeline's definition JSON: latest approved version -> model ->
    transform of `s3://<data>/<model>/batch/input/` (CSV lines, no header, the declared columns
    in order) into `s3://<artifact>/models/<model>/batch/<execution id>/`."""
    with _offline_sdk():
        return _batch_definition(inputs, instance_type, instance_count)


def _batch_definition(
    inputs: TrainingPipelineInputs, instance_type: str, instance_count: int
) -> str:
    from sagemaker.processing import ProcessingOutput
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import ProcessingStep, TransformStep

    session = _session(inputs)
    input_uri = ParameterString(
        name="BatchInputUri",
        default_value=f"s3://{inputs.data_bucket}/{inputs.model}/batch/input/",
    )
    trigger_reason = ParameterString(name="TriggerReason", default_value="schedule")
    batch_prefix = f"s3://{inputs.artifact_bucket}/models/{inputs.model}/batch"

    # No SDK-native lookup of "the latest approved version" exists without a Lambda step: a
    # small processing job asks the registry. It calls the SageMaker API, so it runs without
    # network isolation (in the stack's VPC when given: the VPC needs the sagemaker.api
    # endpoint or a NAT route).
    lookup = _processor(inputs, session, processing_image_uri(inputs), isolated=False)
    package = PropertyFile(name="LatestApproved", output_name="package", path="package.json")
    latest = ProcessingStep(
        name=STEP_LATEST,
        step_args=lookup.run(
            code=_code_uri(inputs, "steps/latest_approved.py"),
            outputs=[
                ProcessingOutput(
                    output_name="package",
                    source=f"{_PROCESSING}/output/package",
                    destination=Join(
                        on="/",
                        values=[batch_prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, "package"],
                    ),
                )
            ],
            arguments=[
                "--model-package-group",
                inputs.model_package_group,
                "--region",
                inputs.region,
            ],
        ),
        property_files=[package],
        # Not cached: "latest approved" changes whenever a version is approved.
        retry_policies=_retry_policies(),
    )
    package_arn = JsonGet(step_name=STEP_LATEST, property_file=package, json_path="ModelPackageArn")

    model = _PackageModel(
        package_arn,
        role=inputs.role_arn,
        vpc_config=_vpc_config(inputs),
        enable_network_isolation=True,
        sagemaker_session=session,
    )
    create = ModelStep(
        name=STEP_CREATE_MODEL,
        step_args=model.create(instance_type=instance_type, tags=_tags(inputs)),
        retry_policies=_api_retry_policies(),
    )

    transformer = Transformer(
        model_name=create.properties.ModelName,
        instance_count=instance_count,
        instance_type=instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        output_path=Join(
            on="/", values=[batch_prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, ""]
        ),
        output_kms_key=inputs.kms_key_arn,
        volume_kms_key=inputs.kms_key_arn,
        max_payload=6,
        env={"MLOPS_TRIGGER_REASON": trigger_reason},
        tags=_tags(inputs),
        sagemaker_session=session,
    )
    transform = TransformStep(
        name=STEP_TRANSFORM,
        step_args=transformer.transform(data=input_uri, content_type="text/csv", split_type="Line"),
        retry_policies=_retry_policies(),
    )
    pipeline = Pipeline(
        name=batch_pipeline_name(inputs),
        parameters=[input_uri, trigger_reason],
        steps=[latest, create, transform],
        sagemaker_session=session,
    )
    return _canonical(pipeline.definition())


def _package_model_class() -> type:
    from sagemaker.model import Model

    class PackageModel(Model):
        """A model whose container is a model package given as a pipeline value.

        The SDK's ModelPackage describes the package at build time (an AWS call) and needs a
        literal ARN; this returns the container definition CreateModel takes for a package.
        """

        def __init__(self, package_arn: Any, **kwargs: Any) -> None:
            super().__init__(image_uri=None, **kwargs)
            self.package_arn = package_arn

        def prepare_container_def(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"ModelPackageName": self.package_arn}

    return PackageModel


def _PackageModel(package_arn: Any, **kwargs: Any) -> Any:  # noqa: N802 - a class factory
    return _package_model_class()(package_arn, **kwargs)


def _canonical(definition: str) -> str:
    return json.dumps(json.loads(definition), sort_keys=True, indent=1)


# ---- the command line (run in the SDK's environment) ------------------------------------------


def images(inputs: TrainingPipelineInputs) -> dict[str, str]:
    """The image URIs a definition uses: training, inference (registration), processing."""
    with _offline_sdk():
        return {
            "training": training_image_uri(inputs),
            "inference": training_image_uri(inputs, "inference"),
            "processing": processing_image_uri(inputs),
        }


def run(command: str, inputs: TrainingPipelineInputs, args: list[Any]) -> Any:
    """One command's result (a string, or JSON values for `images`)."""
    if command == "definition" and not args:
        return pipeline_definition(inputs)
    if command == "batch" and len(args) == 2:
        return batch_transform_definition(inputs, str(args[0]), int(args[1]))
    if command == "schema" and not args:
        return schema_document(inputs)
    if command == "images" and not args:
        return images(inputs)
    raise ValueError(f"unknown command or arguments: {command} {args}")


def _warm() -> None:
    """Import the SDK's workflow classes now: the program starts this process when the
    component is created, so the import overlaps with the plan's own work."""
    with _offline_sdk():
        import sagemaker.estimator
        import sagemaker.transformer
        import sagemaker.workflow.pipeline
        import sagemaker.workflow.pipeline_context  # noqa: F401


def _serve(requests: IO[str], answers: IO[str]) -> None:
    """One JSON request a line (`command`, `inputs`, `args`), one JSON answer a line (`ok` and
    `result`, or `ok` false with the error's `type` and message); until stdin closes."""
    _warm()
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            result = run(request["command"], from_json(request["inputs"]), request.get("args", []))
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as err:  # reported to the caller, which raises
            answer = {"ok": False, "type": type(err).__name__, "error": str(err)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main(argv: list[str]) -> int:
    usage = (
        "usage: python -m components.pipeline_definition "
        "definition|schema|images|batch INSTANCE_TYPE COUNT|serve  (inputs as JSON on stdin)"
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stderr)
        return 0 if argv else 2
    # The answers go to the original stdout alone: whatever the SDK prints goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    _quiet_sdk()
    if argv[0] == "serve" and len(argv) == 1:
        _serve(sys.stdin, answers)
        return 0
    try:
        result = run(argv[0], from_json(json.load(sys.stdin)), argv[1:])
    except ValueError as err:
        print(f"error: {err}\n{usage}", file=sys.stderr)
        return 2
    answers.write(result if isinstance(result, str) else json.dumps(result, indent=1) + "\n")
    answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
