"""What a training pipeline's definition is generated from: plain, resolved values.

`components/training.py` fills a `TrainingPipelineInputs` from the stack config and the
resolved outputs of the resources the plan created (inside an `apply`), and
`components/pipeline_definition.py` turns it into SageMaker Pipelines JSON with the sagemaker
SDK's workflow classes, offline, in the SDK's own environment (`.venv-sagemaker`, see
`components/sagemaker_sdk.py`): the inputs cross the process boundary as JSON (`to_json`,
`from_json`). Standard library only, so both environments import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ColumnSpec:
    """A column of the training data."""

    name: str
    kind: str
    """`numeric` or `categorical`."""


@dataclass(frozen=True)
class TrainingPipelineInputs:
    """Everything one model's training pipeline definition needs, already resolved."""

    pipeline_name: str
    """Physical pipeline name (`mlops-platform-<stack>-<model>-training`)."""
    model: str
    """The registry model."""
    region: str
    partition: str
    account_id: str
    role_arn: str
    """The pipeline's execution role (passed to every job of the pipeline)."""
    kms_key_arn: str
    """The platform key: volumes, outputs, checkpoints."""
    data_bucket: str
    """The curated bucket (training data)."""
    artifact_bucket: str
    """The model-artifact bucket: code, checkpoints, model artifacts, baselines, evaluations."""
    code_prefix: str
    """S3 key prefix (in `artifact_bucket`) where the plan uploaded the pipeline's code:
    `<code_prefix>/train/<entry point>`, `<code_prefix>/steps/validate.py`,
    `<code_prefix>/steps/evaluate.py`, `<code_prefix>/engine/mlops_drift/*.py`."""
    model_package_group: str
    approval_status: str
    """`PendingManualApproval` or `Approved`: what new versions are registered with."""
    framework: str
    """SDK framework name (`sklearn`, `xgboost`, …) or `custom`."""
    framework_version: str | None
    py_version: str | None
    custom_image_uri: str | None
    """The model's ECR image when `framework` is `custom`."""
    entry_point: str
    hyperparameters: dict[str, str]
    target: str
    columns: tuple[ColumnSpec, ...]
    metric_name: str
    metric_threshold: float
    metric_comparison: str
    """`gte` or `lte`."""
    training_instance_type: str
    training_instance_count: int
    processing_instance_type: str
    volume_size_gb: int
    spot: bool
    max_runtime_seconds: int
    max_wait_seconds: int | None
    """Only with Spot; >= max_runtime_seconds."""
    mlflow_tracking_server_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def data_uri(self) -> str:
        """Default training data location (the `DataUri` parameter's default)."""
        return f"s3://{self.data_bucket}/{self.model}/training/"

    @property
    def checkpoint_uri(self) -> str:
        return f"s3://{self.artifact_bucket}/models/{self.model}/checkpoints/"

    @property
    def output_uri(self) -> str:
        return f"s3://{self.artifact_bucket}/models/{self.model}/"


_TUPLES = ("subnet_ids", "security_group_ids")


def to_json(inputs: TrainingPipelineInputs) -> dict[str, Any]:
    """The inputs as JSON values (tuples become lists, columns mappings)."""
    return asdict(inputs)


def from_json(document: dict[str, Any]) -> TrainingPipelineInputs:
    """`to_json`'s inverse; refuses unknown and missing keys (a version skew between the
    program and the SDK environment's copy of this module would otherwise go unnoticed)."""
    known = {f.name for f in fields(TrainingPipelineInputs)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ValueError(f"unknown TrainingPipelineInputs keys: {', '.join(unknown)}")
    values = dict(document)
    values["columns"] = tuple(ColumnSpec(**c) for c in values.get("columns", ()))
    for key in _TUPLES:
        if key in values:
            values[key] = tuple(values[key])
    if "hyperparameters" in values:
        values["hyperparameters"] = dict(values["hyperparameters"])
    return TrainingPipelineInputs(**values)
