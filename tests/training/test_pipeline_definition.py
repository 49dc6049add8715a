"""The generated training and batch-transform pipeline definitions, parsed and checked.

The definitions are generated the way the plan generates them: by the sagemaker SDK in its own
environment (.venv-sagemaker), through `components.sagemaker_sdk` (this environment has no
sagemaker)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components import sagemaker_sdk
from components.pipeline_definition import batch_pipeline_name, code_files, schema_document
from components.pipeline_inputs import ColumnSpec, TrainingPipelineInputs, from_json, to_json

pipeline_definition = sagemaker_sdk.definition
batch_transform_definition = sagemaker_sdk.batch_definition

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::210987654321:role/zz-pipeline-role-7q"
KEY = "arn:aws:kms:eu-central-1:210987654321:key/0000feed-beef-4444-aaaa-123456789abc"
DATA = "zz-curated-bucket-7q"
ARTIFACT = "zz-artifact-bucket-7q"
CUSTOM_IMAGE = "210987654321.dkr.ecr.eu-central-1.amazonaws.com/zz-churn:latest-approved"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
FRAMEWORK_IMAGE_ACCOUNT = "492215442770"  # the SDK's sklearn images in eu-central-1


def make_inputs(**changes: Any) -> TrainingPipelineInputs:
    inputs = TrainingPipelineInputs(
        pipeline_name="mlops-platform-zz-churn-training",
        model="churn",
        region="eu-central-1",
        partition="aws",
        account_id="210987654321",
        role_arn=ROLE,
        kms_key_arn=KEY,
        data_bucket=DATA,
        artifact_bucket=ARTIFACT,
        code_prefix="pipelines/churn/c0ffee",
        model_package_group="zz-churn-group",
        approval_status="PendingManualApproval",
        framework="sklearn",
        framework_version="1.2-1",
        py_version="py3",
        custom_image_uri=None,
        entry_point="train.py",
        hyperparameters={"n_estimators": "50"},
        target="churned",
        columns=(ColumnSpec("age", "numeric"), ColumnSpec("plan", "categorical")),
        metric_name="auc",
        metric_threshold=0.75,
        metric_comparison="gte",
        training_instance_type="ml.m5.2xlarge",
        training_instance_count=1,
        processing_instance_type="ml.m5.large",
        volume_size_gb=40,
        spot=True,
        max_runtime_seconds=14400,
        max_wait_seconds=28800,
        subnet_ids=("subnet-0aaa1111", "subnet-0bbb2222"),
        security_group_ids=("sg-0ccc3333",),
        tags={"project": "zz"},
    )
    return replace(inputs, **changes)


def definition(**changes: Any) -> dict[str, Any]:
    return json.loads(pipeline_definition(make_inputs(**changes)))


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return definition()


def steps_by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step, the condition's branches included."""
    found: dict[str, dict[str, Any]] = {}
    for step in document["Steps"]:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                for inner in step["Arguments"][branch]:
                    found[inner["Name"]] = inner
    return found


def walk(node: Any) -> Any:
    """Every string in the document (keys excluded)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
    elif isinstance(node, str):
        yield node


def run_uri(*parts: str) -> dict[str, Any]:
    return {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{ARTIFACT}/models/churn/runs", EXECUTION_ID, *parts, ""],
        }
    }


# ---- graph and parameters -------------------------------------------------------------------


def test_parameters(doc: dict[str, Any]) -> None:
    params = {p["Name"]: p for p in doc["Parameters"]}
    assert params == {
        "DataUri": {
            "Name": "DataUri",
            "Type": "String",
            "DefaultValue": f"s3://{DATA}/churn/training/",
        },
        "TrainingInstanceType": {
            "Name": "TrainingInstanceType",
            "Type": "String",
            "DefaultValue": "ml.m5.2xlarge",
        },
        "TriggerReason": {"Name": "TriggerReason", "Type": "String", "DefaultValue": "manual"},
        "TriggerDetail": {"Name": "TriggerDetail", "Type": "String", "DefaultValue": "none"},
        "WindowEnd": {"Name": "WindowEnd", "Type": "String", "DefaultValue": "none"},
    }


def test_step_graph(doc: dict[str, Any]) -> None:
    top = [(s["Name"], s["Type"]) for s in doc["Steps"]]
    assert top == [
        ("ValidateData", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("CheckMetric", "Condition"),
    ]
    check = steps_by_name(doc)["CheckMetric"]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in check["IfSteps"]] == [
        ("RegisterModel-RegisterModel", "RegisterModel")
    ]
    assert [(s["Name"], s["Type"]) for s in check["ElseSteps"]] == [
        ("MetricBelowThreshold", "Fail")
    ]
    steps = steps_by_name(doc)
    train_input = steps["Train"]["Arguments"]["InputDataConfig"][0]
    assert train_input["ChannelName"] == "train"
    assert train_input["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.ValidateData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }
    evaluate_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["Evaluate"]["Arguments"]["ProcessingInputs"]
    }
    assert evaluate_inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert evaluate_inputs["test"] == {
        "Get": "Steps.ValidateData.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }


def test_validate_step(doc: dict[str, Any]) -> None:
    step = steps_by_name(doc)["ValidateData"]
    args = step["Arguments"]
    assert args["AppSpecification"]["ImageUri"] == (
        f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.4-2-cpu-py3"
    )
    assert args["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/validate.py",
    ]
    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.DataUri"}
    assert inputs["data"]["LocalPath"] == "/opt/ml/processing/input/data"
    prefix = f"s3://{ARTIFACT}/pipelines/churn/c0ffee"
    assert inputs["engine"]["S3Uri"] == f"{prefix}/engine/"
    assert inputs["engine"]["LocalPath"] == "/opt/ml/processing/input/engine"
    assert inputs["schema"]["S3Uri"] == f"{prefix}/schema/schema.json"
    assert inputs["code"]["S3Uri"] == f"{prefix}/steps/validate.py"
    outputs = {o["OutputName"]: o["S3Output"] for o in args["ProcessingOutputConfig"]["Outputs"]}
    assert set(outputs) == {"train", "test", "baseline"}
    for name, output in outputs.items():
        assert output["LocalPath"] == f"/opt/ml/processing/output/{name}"
        assert output["S3Uri"] == run_uri(name)
    # The schema's hash and the window are arguments: both are in the cache key.
    schema_sha = args["AppSpecification"]["ContainerArguments"][1]
    import hashlib

    assert schema_sha == hashlib.sha256(schema_document(make_inputs()).encode()).hexdigest()
    assert args["AppSpecification"]["ContainerArguments"][2:] == [
        "--window-end",
        {"Get": "Parameters.WindowEnd"},
    ]
    assert step["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}


def test_only_validation_is_cached(doc: dict[str, Any]) -> None:
    cached = [name for name, s in steps_by_name(doc).items() if "CacheConfig" in s]
    assert cached == ["ValidateData"]


# ---- training -------------------------------------------------------------------------------


def test_training_job(doc: dict[str, Any]) -> None:
    args = steps_by_name(doc)["Train"]["Arguments"]
    image = (
        f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    assert args["AlgorithmSpecification"]["TrainingImage"] == image
    assert args["RoleArn"] == ROLE
    assert args["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType": {"Get": "Parameters.TrainingInstanceType"},
        "VolumeKmsKeyId": KEY,
        "VolumeSizeInGB": 40,
    }
    assert args["OutputDataConfig"] == {"KmsKeyId": KEY, "S3OutputPath": run_uri("model")}
    assert args["EnableInterContainerTrafficEncryption"] is True
    assert args["EnableNetworkIsolation"] is True
    assert args["VpcConfig"] == {
        "Subnets": ["subnet-0aaa1111", "subnet-0bbb2222"],
        "SecurityGroupIds": ["sg-0ccc3333"],
    }
    # The code comes from the plan's upload, as the `code` channel (network isolation).
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in args["InputDataConfig"]}
    assert channels["code"]["S3Uri"] == (
        f"s3://{ARTIFACT}/pipelines/churn/c0ffee/train/sourcedir.tar.gz"
    )
    hyper = {k: json.loads(v) for k, v in args["HyperParameters"].items()}
    assert hyper["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert hyper["sagemaker_program"] == "train.py"
    assert hyper["target"] == "churned"
    assert hyper["n_estimators"] == "50"
    assert "sagemaker_job_name" not in hyper  # no timestamped name: deterministic
    assert "Environment" not in args


def test_spot_and_checkpoints(doc: dict[str, Any]) -> None:
    args = steps_by_name(doc)["Train"]["Arguments"]
    assert args["EnableManagedSpotTraining"] is True
    assert args["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 14400,
        "MaxWaitTimeInSeconds": 28800,
    }
    # One checkpoint prefix per execution, under the model's checkpoint location.
    assert args["CheckpointConfig"] == {
        "LocalPath": "/opt/ml/checkpoints",
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [f"s3://{ARTIFACT}/models/churn/checkpoints", EXECUTION_ID, ""],
            }
        },
    }


def test_on_demand_has_no_wait() -> None:
    args = steps_by_name(definition(spot=False, max_wait_seconds=None))["Train"]["Arguments"]
    assert "EnableManagedSpotTraining" not in args
    assert args["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400}


def test_distributed_and_no_network() -> None:
    args = steps_by_name(
        definition(training_instance_count=3, subnet_ids=(), security_group_ids=())
    )["Train"]["Arguments"]
    assert args["ResourceConfig"]["InstanceCount"] == 3
    assert "VpcConfig" not in args
    assert args["EnableInterContainerTrafficEncryption"] is True


def test_mlflow_environment() -> None:
    arn = "arn:aws:sagemaker:eu-central-1:210987654321:mlflow-tracking-server/zz-mlflow"
    args = steps_by_name(definition(mlflow_tracking_server_arn=arn))["Train"]["Arguments"]
    assert args["Environment"] == {
        "MLFLOW_TRACKING_URI": arn,
        "MLFLOW_EXPERIMENT_NAME": "mlops-platform-zz-churn-training",
        "MLOPS_PIPELINE_EXECUTION_ID": EXECUTION_ID,
        "MLOPS_TRIGGER_REASON": {"Get": "Parameters.TriggerReason"},
        "MLOPS_TRIGGER_DETAIL": {"Get": "Parameters.TriggerDetail"},
    }
    # Logging to the tracking server needs the network (still in the VPC).
    assert "EnableNetworkIsolation" not in args
    assert "VpcConfig" in args
    # Without isolation the container fetches the code itself: no `code` channel.
    submit = json.loads(args["HyperParameters"]["sagemaker_submit_directory"])
    assert submit == f"s3://{ARTIFACT}/pipelines/churn/c0ffee/train/sourcedir.tar.gz"
    assert [c["ChannelName"] for c in args["InputDataConfig"]] == ["train"]


def test_custom_image() -> None:
    doc = definition(framework="custom", framework_version=None, custom_image_uri=CUSTOM_IMAGE)
    steps = steps_by_name(doc)
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == CUSTOM_IMAGE
    assert steps["Evaluate"]["Arguments"]["AppSpecification"]["ImageUri"] == CUSTOM_IMAGE
    register = steps["RegisterModel-RegisterModel"]["Arguments"]
    assert register["InferenceSpecification"]["Containers"][0]["Image"] == CUSTOM_IMAGE


# ---- every job: encryption, runtime limit, network, retries -----------------------------------


def test_every_job_is_encrypted_bounded_and_retried(doc: dict[str, Any]) -> None:
    for name, step in steps_by_name(doc).items():
        if step["Type"] not in ("Processing", "Training"):
            continue
        args = step["Arguments"]
        assert args["StoppingCondition"]["MaxRuntimeInSeconds"] == 14400, name
        if step["Type"] == "Processing":
            assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
            assert args["ProcessingOutputConfig"]["KmsKeyId"] == KEY
            network = args["NetworkConfig"]
            assert network["EnableInterContainerTrafficEncryption"] is True
            assert network["EnableNetworkIsolation"] is True
            assert network["VpcConfig"]["Subnets"] == ["subnet-0aaa1111", "subnet-0bbb2222"]
        exceptions = {e for policy in step["RetryPolicies"] for e in policy["ExceptionType"]}
        assert exceptions == {
            "Step.THROTTLING",
            "Step.SERVICE_FAULT",
            "SageMaker.CAPACITY_ERROR",
            "SageMaker.RESOURCE_LIMIT",
            "SageMaker.JOB_INTERNAL_ERROR",
        }, name
        assert all(p["BackoffRate"] > 1 for p in step["RetryPolicies"])


def test_every_reference_is_from_the_inputs(doc: dict[str, Any]) -> None:
    strings = list(walk(doc))
    roles = {s for s in strings if s.startswith("arn:aws:iam::")}
    keys = {s for s in strings if s.startswith("arn:aws:kms:")}
    buckets = {s.removeprefix("s3://").split("/")[0] for s in strings if s.startswith("s3://")}
    images = {s for s in strings if ".dkr.ecr." in s}
    assert roles == {ROLE}
    assert keys == {KEY}
    assert buckets == {DATA, ARTIFACT}
    assert images == {
        f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.4-2-cpu-py3",
        f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.2-1-cpu-py3",
    }
    # Where each is used: the role and key in every job, the buckets only where expected.
    jobs = [s for s in steps_by_name(doc).values() if s["Type"] in ("Processing", "Training")]
    assert all(j["Arguments"]["RoleArn"] == ROLE for j in jobs)
    data_uses = [s for s in strings if s.startswith(f"s3://{DATA}/")]
    assert data_uses == [f"s3://{DATA}/churn/training/"]


# ---- evaluation, gate, registration ------------------------------------------------------------


def test_evaluation_report(doc: dict[str, Any]) -> None:
    step = steps_by_name(doc)["Evaluate"]
    assert step["PropertyFiles"] == [
        {
            "FilePath": "evaluation.json",
            "OutputName": "evaluation",
            "PropertyFileName": "EvaluationReport",
        }
    ]
    (output,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == run_uri("evaluation")
    # Evaluated on the training image: it unpickles the model with the libraries that made it.
    train_image = steps_by_name(doc)["Train"]["Arguments"]["AlgorithmSpecification"]
    assert step["Arguments"]["AppSpecification"]["ImageUri"] == train_image["TrainingImage"]


METRIC = {
    "Std:JsonGet": {
        "Path": "metrics.auc.value",
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
    }
}


def test_condition_and_fail_message(doc: dict[str, Any]) -> None:
    check = steps_by_name(doc)["CheckMetric"]["Arguments"]
    assert check["Conditions"] == [
        {"Type": "GreaterThanOrEqualTo", "LeftValue": METRIC, "RightValue": 0.75}
    ]
    message = check["ElseSteps"][0]["Arguments"]["ErrorMessage"]["Std:Join"]
    assert message["Values"][1] == METRIC
    text = " ".join(v for v in message["Values"] if isinstance(v, str))
    assert "auc" in text
    assert "below" in text
    assert "0.75" in text


def test_lte_condition() -> None:
    doc = definition(metric_name="rmse", metric_threshold=3.5, metric_comparison="lte")
    check = steps_by_name(doc)["CheckMetric"]["Arguments"]
    (condition,) = check["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "metrics.rmse.value"
    assert condition["RightValue"] == 3.5
    text = json.dumps(check["ElseSteps"][0]["Arguments"]["ErrorMessage"])
    assert "above" in text
    assert "rmse <= 3.5" in text


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="metric 'logloss' is not written"):
        pipeline_definition(make_inputs(metric_name="logloss"))


def test_registration(doc: dict[str, Any]) -> None:
    args = steps_by_name(doc)["RegisterModel-RegisterModel"]["Arguments"]
    assert args["ModelPackageGroupName"] == "zz-churn-group"
    assert args["ModelApprovalStatus"] == "PendingManualApproval"
    baseline = {
        "Std:Join": {
            "On": "/",
            "Values": [
                {
                    "Get": "Steps.ValidateData.ProcessingOutputConfig.Outputs['baseline']"
                    ".S3Output.S3Uri"
                },
                "baseline.json",
            ],
        }
    }
    assert args["CustomerMetadataProperties"]["mlops:drift-baseline"] == baseline
    assert args["CustomerMetadataProperties"]["mlops:trigger-reason"] == {
        "Get": "Parameters.TriggerReason"
    }
    assert args["CustomerMetadataProperties"]["mlops:trigger-detail"] == {
        "Get": "Parameters.TriggerDetail"
    }
    assert args["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": baseline,
    }
    evaluation = args["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert evaluation["S3Uri"]["Std:Join"]["Values"] == [
        {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
        "evaluation.json",
    ]
    (container,) = args["InferenceSpecification"]["Containers"]
    train_args = steps_by_name(doc)["Train"]["Arguments"]
    # sklearn: the inference image is the training image.
    assert container["Image"] == train_args["AlgorithmSpecification"]["TrainingImage"]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "train.py"


def test_approved_registration_when_configured() -> None:
    doc = definition(approval_status="Approved")
    assert (
        steps_by_name(doc)["RegisterModel-RegisterModel"]["Arguments"]["ModelApprovalStatus"]
        == "Approved"
    )


# ---- determinism and offline generation -------------------------------------------------------


def test_deterministic() -> None:
    assert pipeline_definition(make_inputs()) == pipeline_definition(make_inputs())


def test_schema_and_upload_layout() -> None:
    schema = json.loads(schema_document(make_inputs()))
    assert schema == {
        "columns": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
        "target": "churned",
        "task": "classification",
    }
    assert sorted(code_files(make_inputs())) == sorted(
        f"pipelines/churn/c0ffee/{key}"
        for key in (
            "train/sourcedir.tar.gz",
            "steps/validate.py",
            "steps/evaluate.py",
            "steps/latest_approved.py",
            "engine/mlops_drift/",
            "schema/schema.json",
        )
    )


NO_NETWORK = textwrap.dedent(
    """
    import atexit, socket, sys
    attempts = []
    def refuse(self, address, *args, **kwargs):
        attempts.append(repr(address))
        raise OSError(f"network disabled: connect to {address!r}")
    def resolve(host, *args, **kwargs):
        attempts.append(f"resolve {host!r}")
        raise socket.gaierror(f"network disabled: resolve {host!r}")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = resolve
    atexit.register(lambda: sys.stderr.write(f"NETWORK-ATTEMPTS {len(attempts)} {attempts}\\n"))
    """
)


def offline_run(tmp_path: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """`<sdk python> -m components.pipeline_definition <args>` as the plan runs it, but with
    no credentials, no metadata service and every connection refused (sitecustomize)."""
    (tmp_path / "sitecustomize.py").write_text(NO_NETWORK)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert not any(k.startswith("AWS_") and k != "AWS_EC2_METADATA_DISABLED" for k in env)
    return subprocess.run(
        [str(sagemaker_sdk.require_python()), "-m", "components.pipeline_definition", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), lambda: pipeline_definition(make_inputs())),
        (
            ("batch", "ml.m5.xlarge", "2"),
            lambda: batch_transform_definition(make_inputs(), "ml.m5.xlarge", 2),
        ),
    ],
    ids=["definition", "batch"],
)
def test_generated_offline_without_credentials(
    tmp_path: Path, args: tuple[str, ...], expected: Any
) -> None:
    """No credentials, no metadata service, no network: the SDK's process still generates the
    definition, tries no connection (the SDK's telemetry would) and gives the same JSON as the
    plan's SDK process."""
    result = offline_run(
        tmp_path, *(args or ("definition",)), stdin=json.dumps(to_json(make_inputs()))
    )
    assert result.returncode == 0, result.stderr
    assert "NETWORK-ATTEMPTS 0 []" in result.stderr, result.stderr
    # Quiet: no deprecation banner, config-file logs or per-job warnings in a plan's output.
    assert result.stderr.strip() == "NETWORK-ATTEMPTS 0 []", result.stderr
    assert result.stdout == expected()


def test_serve_offline_without_credentials(tmp_path: Path) -> None:
    """The long-lived mode the plan uses: several answers from one process, still offline; a
    bad request is an answer, not the end of the process."""
    inputs = to_json(make_inputs())
    requests = [
        {"command": "definition", "inputs": inputs, "args": []},
        {"command": "batch", "inputs": inputs, "args": ["ml.m5.xlarge", 2]},
        {"command": "images", "inputs": inputs, "args": []},
        {"command": "definition", "inputs": {**inputs, "metric_name": "nope"}, "args": []},
        {"command": "schema", "inputs": inputs, "args": []},
    ]
    result = offline_run(tmp_path, "serve", stdin="".join(json.dumps(r) + "\n" for r in requests))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "NETWORK-ATTEMPTS 0 []", result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["ok"] for a in answers] == [True, True, True, False, True]
    assert answers[0]["result"] == pipeline_definition(make_inputs())
    assert answers[1]["result"] == batch_transform_definition(make_inputs(), "ml.m5.xlarge", 2)
    assert answers[2]["result"] == {
        "training": f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.2-1-cpu-py3",
        "inference": f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.2-1-cpu-py3",
        "processing": f"{FRAMEWORK_IMAGE_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.4-2-cpu-py3",
    }
    assert answers[3]["type"] == "ValueError"
    assert "metric 'nope' is not written by the evaluation step" in answers[3]["error"]
    assert answers[4]["result"] == schema_document(make_inputs())


def test_inputs_round_trip_as_json() -> None:
    inputs = make_inputs(mlflow_tracking_server_arn="arn:aws:sagemaker:x", custom_image_uri="i")
    assert from_json(json.loads(json.dumps(to_json(inputs)))) == inputs
    with pytest.raises(ValueError, match="unknown TrainingPipelineInputs keys: extra"):
        from_json({**to_json(inputs), "extra": 1})


def test_module_imports_without_the_sdk() -> None:
    """Importing the module (for its standard-library helpers) does not import the SDK, even
    where the SDK is installed; and the program's environment has no SDK at all."""
    code = (
        "import sys, components.pipeline_definition; "
        "print(any(m == 'sagemaker' or m.startswith('sagemaker.') for m in sys.modules))"
    )
    out = subprocess.run(
        [str(sagemaker_sdk.require_python()), "-c", code],
        cwd=ROOT,
        env=sagemaker_sdk.child_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
    assert importlib.util.find_spec("sagemaker") is None, "sagemaker in the program's env"


# ---- batch transform --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    return json.loads(batch_transform_definition(make_inputs(), "ml.c5.xlarge", 3))


def test_batch_graph(batch: dict[str, Any]) -> None:
    assert [(s["Name"], s["Type"]) for s in batch["Steps"]] == [
        ("LatestApprovedPackage", "Processing"),
        ("CreateModel-CreateModel", "Model"),
        ("BatchTransform", "Transform"),
    ]
    assert batch_pipeline_name(make_inputs()) == "mlops-platform-zz-churn-batch"
    params = {p["Name"]: p["DefaultValue"] for p in batch["Parameters"]}
    assert params["BatchInputUri"] == f"s3://{DATA}/churn/batch/input/"


def test_batch_lookup_and_model(batch: dict[str, Any]) -> None:
    lookup, create, _ = batch["Steps"]
    args = lookup["Arguments"]
    assert args["AppSpecification"]["ContainerArguments"] == [
        "--model-package-group",
        "zz-churn-group",
        "--region",
        "eu-central-1",
    ]
    assert args["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    # It calls the SageMaker API: no network isolation, but in the VPC and encrypted.
    assert args["NetworkConfig"]["EnableNetworkIsolation"] is False
    assert args["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert args["NetworkConfig"]["VpcConfig"] == {
        "Subnets": ["subnet-0aaa1111", "subnet-0bbb2222"],
        "SecurityGroupIds": ["sg-0ccc3333"],
    }
    assert lookup["PropertyFiles"][0]["PropertyFileName"] == "LatestApproved"
    model = create["Arguments"]
    assert model["ExecutionRoleArn"] == ROLE
    assert model["EnableNetworkIsolation"] is True
    # The transform job runs in the model's network (CreateTransformJob takes no VpcConfig).
    assert model["VpcConfig"] == {
        "Subnets": ["subnet-0aaa1111", "subnet-0bbb2222"],
        "SecurityGroupIds": ["sg-0ccc3333"],
    }
    (container,) = model.get("Containers") or [model["PrimaryContainer"]]
    assert container == {
        "ModelPackageName": {
            "Std:JsonGet": {
                "Path": "ModelPackageArn",
                "PropertyFile": {"Get": "Steps.LatestApprovedPackage.PropertyFiles.LatestApproved"},
            }
        }
    }


def test_batch_without_a_network_has_no_vpc_config() -> None:
    lookup, create, _ = json.loads(
        batch_transform_definition(
            make_inputs(subnet_ids=(), security_group_ids=()), "ml.c5.xlarge", 3
        )
    )["Steps"]
    assert "VpcConfig" not in lookup["Arguments"]["NetworkConfig"]
    assert "VpcConfig" not in create["Arguments"]


def test_batch_transform_job(batch: dict[str, Any]) -> None:
    args = batch["Steps"][2]["Arguments"]
    assert args["ModelName"] == {"Get": "Steps.CreateModel-CreateModel.ModelName"}
    assert args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Parameters.BatchInputUri"
    }
    assert args["TransformOutput"]["KmsKeyId"] == KEY
    assert args["TransformOutput"]["S3OutputPath"] == {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{ARTIFACT}/models/churn/batch", EXECUTION_ID, ""],
        }
    }
    assert args["TransformResources"] == {
        "InstanceCount": 3,
        "InstanceType": "ml.c5.xlarge",
        "VolumeKmsKeyId": KEY,
    }
    strings = list(walk(batch))
    assert {s for s in strings if s.startswith("arn:aws:iam::")} == {ROLE}
    assert {s for s in strings if s.startswith("arn:aws:kms:")} == {KEY}
