"""The training policies: a SageMaker pipeline whose definition (written here by hand in the
SageMaker Pipelines schema) is compliant passes the whole pack; each broken control is reported
by its policy, on the pipeline, with its message, also for a job nested in a Condition step;
parameter references are judged by their defaults; a standalone training job is judged the same
way; and in a preview an unknown definition makes the policies not evaluable."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy

from planner.mocks import Registration
from planner.policies import evaluate
from policy.mlops_policies import POLICIES
from tests.policy.test_lambda_iam_policies import UNKNOWN_STRING, _analyze_request
from tests.policy.test_policies import TAGS, provider, record

ACCOUNT = "111111111111"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-prod-churn-training"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
TRAINING_JOB = "aws:sagemaker/trainingJob:TrainingJob"
PIPELINE_NAME = "mlops-prod-churn-training"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
URN = f"urn:pulumi:prod::mlops-platform::{PIPELINE}::churn"

TRAINING_POLICY_NAMES = [
    "sagemaker-pipeline-job-encryption",
    "sagemaker-pipeline-traffic-encryption",
    "sagemaker-pipeline-max-runtime",
    "sagemaker-pipeline-spot-checkpoints",
    "sagemaker-pipeline-network-isolation",
    "sagemaker-pipeline-role",
]


def _processing(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {"ImageUri": "123.dkr.ecr.eu-west-1.amazonaws.com/x:1"},
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": "ml.m5.xlarge",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 30,
                    "VolumeKmsKeyId": KEY_ARN,
                }
            },
            "ProcessingInputs": [
                {
                    "InputName": "data",
                    "S3Input": {"S3Uri": {"Get": "Parameters.InputData"}},
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [{"OutputName": "baseline", "S3Output": {"S3Uri": "s3://a/b"}}],
                "KmsKeyId": KEY_ARN,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "NetworkConfig": {
                "EnableInterContainerTrafficEncryption": True,
                "EnableNetworkIsolation": True,
            },
            "RoleArn": ROLE_ARN,
        },
        "RetryPolicies": [
            {"ExceptionType": ["SageMaker.THROTTLING"], "MaxAttempts": 5, "IntervalSeconds": 1}
        ],
    }


def _training() -> dict[str, Any]:
    return {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": "123.dkr.ecr.eu-west-1.amazonaws.com/xgb:1",
                "TrainingInputMode": "File",
            },
            "ResourceConfig": {
                "InstanceType": {"Get": "Parameters.TrainingInstanceType"},
                "InstanceCount": 2,
                "VolumeSizeInGB": 30,
                "VolumeKmsKeyId": KEY_ARN,
            },
            "OutputDataConfig": {
                "S3OutputPath": {
                    "Std:Join": {"On": "/", "Values": ["s3://artifacts", EXECUTION_ID]}
                },
                "KmsKeyId": {"Get": "Parameters.OutputKmsKey"},
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 86_400, "MaxWaitTimeInSeconds": 172_800},
            "EnableManagedSpotTraining": True,
            "CheckpointConfig": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://artifacts/ckpt", EXECUTION_ID]}}
            },
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": True,
            "RoleArn": ROLE_ARN,
        },
        "CacheConfig": {"Enabled": False},
    }  # fmt: skip


def _definition() -> dict[str, Any]:
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": "s3://lake/churn/"},
            {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
            {"Name": "OutputKmsKey", "Type": "String", "DefaultValue": KEY_ARN},
            {"Name": "TriggerReason", "Type": "String", "DefaultValue": "schedule"},
        ],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"},
        },
        "Steps": [
            _processing("Validate"),
            _training(),
            _processing("Evaluate"),
            {
                "Name": "Gate",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "GreaterThanOrEqualTo",
                            "LeftValue": {"Std:JsonGet": {"Path": "auc"}},
                            "RightValue": 0.7,
                        }
                    ],
                    "IfSteps": [
                        {
                            "Name": "Register",
                            "Type": "RegisterModel",
                            "Arguments": {"ModelPackageGroupName": "churn"},
                        }
                    ],
                    "ElseSteps": [
                        {"Name": "Fail", "Type": "Fail", "Arguments": {"ErrorMessage": "low"}}
                    ],
                },
            },
        ],
    }


def _pipeline(definition: Any, **inputs: Any) -> Registration:
    text = definition if isinstance(definition, str) else json.dumps(definition, sort_keys=True)
    base: dict[str, Any] = {
        "pipelineName": PIPELINE_NAME,
        "pipelineDisplayName": PIPELINE_NAME,
        "pipelineDescription": "Trains churn.",
        "roleArn": ROLE_ARN,
        "pipelineDefinition": text,
        "parallelismConfiguration": {"maxParallelExecutionSteps": 5},
    }
    base.update(inputs)
    return record(PIPELINE, "churn", {k: v for k, v in base.items() if v is not None})


def _pinned_provider() -> Registration:
    aws = provider(TAGS)
    aws.inputs["allowedAccountIds"] = json.dumps([ACCOUNT])
    return aws


def _report(resource: Registration, policies: Any = None) -> Any:
    records = [_pinned_provider(), resource]
    return evaluate(records) if policies is None else evaluate(records, policies)


def findings(resource: Registration) -> list[tuple[str, str, str]]:
    return [(v.policy, v.urn, v.message) for v in _report(resource).violations]


def not_applicable(resource: Registration) -> list[tuple[str, str]]:
    """The policies marked not applicable to `resource` (not the stack policies)."""
    found = _report(resource).not_applicable
    return [(n.policy, n.message) for n in found if n.urn == resource.urn]


def _step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    for step in definition["Steps"]:
        if step["Name"] == name:
            return step["Arguments"]  # type: ignore[no-any-return]
    raise KeyError(name)


def _edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    definition = copy.deepcopy(_definition())
    change(definition)
    return definition


def _set(step: str, *path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change setting (or, with value None, removing) one field of a step's Arguments."""

    def change(definition: dict[str, Any]) -> None:
        node = _step(definition, step)
        for key in path[:-1]:
            node = node[key]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return change


def test_compliant_pipeline_passes_the_whole_pack() -> None:
    pipeline = _pipeline(_definition())
    assert findings(pipeline) == []
    assert not_applicable(pipeline) == []


def test_every_training_policy_is_registered() -> None:
    assert [p.name for p in POLICIES if p.name.startswith("sagemaker-pipeline-")] == [
        *TRAINING_POLICY_NAMES,
        "sagemaker-pipeline-jobs-in-vpc",  # a stack policy: tests/policy/test_network_policies.py
    ]


BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # (id, change to the compliant definition, policy, message)
    (
        "training-volume-no-key",
        _set("Train", "ResourceConfig", "VolumeKmsKeyId", value=None),
        "sagemaker-pipeline-job-encryption",
        'Training step "Train" ResourceConfig.VolumeKmsKeyId is not set; encrypt it with the '
        "platform's customer-managed KMS key.",
    ),
    (
        "training-output-aws-managed-key",
        _set("Train", "OutputDataConfig", "KmsKeyId", value="alias/aws/s3"),
        "sagemaker-pipeline-job-encryption",
        "Training step \"Train\" OutputDataConfig.KmsKeyId 'alias/aws/s3' is not the platform's "
        "customer-managed KMS key (an AWS-managed key's policy is not the platform's to "
        "control).",
    ),
    (
        "training-output-key-parameter-without-key-default",
        lambda d: d["Parameters"][2].update(DefaultValue=""),
        "sagemaker-pipeline-job-encryption",
        "Training step \"Train\" OutputDataConfig.KmsKeyId is parameter 'OutputKmsKey' "
        "(default ''), whose default is not a KMS key ARN.",
    ),
    (
        "training-output-key-parameter-alias-default",
        lambda d: d["Parameters"][2].update(DefaultValue="alias/platform"),
        "sagemaker-pipeline-job-encryption",
        "Training step \"Train\" OutputDataConfig.KmsKeyId is parameter 'OutputKmsKey' "
        "(default 'alias/platform'), whose default is not a KMS key ARN.",
    ),
    (
        "training-output-key-from-a-step",
        _set(
            "Train",
            "OutputDataConfig",
            "KmsKeyId",
            value={"Get": "Steps.Validate.ProcessingOutputConfig.KmsKeyId"},
        ),
        "sagemaker-pipeline-job-encryption",
        'Training step "Train" OutputDataConfig.KmsKeyId is {"Get": '
        '"Steps.Validate.ProcessingOutputConfig.KmsKeyId"}, only known when the pipeline runs; '
        "give the key ARN or a parameter whose default is the key ARN.",
    ),
    (
        "processing-volume-no-key",
        _set("Validate", "ProcessingResources", "ClusterConfig", "VolumeKmsKeyId", value=None),
        "sagemaker-pipeline-job-encryption",
        'Processing step "Validate" ProcessingResources.ClusterConfig.VolumeKmsKeyId is not '
        "set; encrypt it with the platform's customer-managed KMS key.",
    ),
    (
        "processing-outputs-no-key",
        _set("Evaluate", "ProcessingOutputConfig", "KmsKeyId", value=None),
        "sagemaker-pipeline-job-encryption",
        'Processing step "Evaluate" ProcessingOutputConfig.KmsKeyId is not set; encrypt it with '
        "the platform's customer-managed KMS key.",
    ),
    (
        "training-traffic-off",
        _set("Train", "EnableInterContainerTrafficEncryption", value=False),
        "sagemaker-pipeline-traffic-encryption",
        'Training step "Train" EnableInterContainerTrafficEncryption is False; set it to true. '
        "(inter-container traffic encryption)",
    ),
    (
        "processing-traffic-unset",
        _set("Validate", "NetworkConfig", "EnableInterContainerTrafficEncryption", value=None),
        "sagemaker-pipeline-traffic-encryption",
        'Processing step "Validate" NetworkConfig.EnableInterContainerTrafficEncryption is not '
        "set; set it to true. (inter-container traffic encryption)",
    ),
    (
        "training-no-max-runtime",
        _set("Train", "StoppingCondition", value={"MaxWaitTimeInSeconds": 172_800}),
        "sagemaker-pipeline-max-runtime",
        'Training step "Train" StoppingCondition.MaxRuntimeInSeconds is not set; bound the '
        "job's runtime (1 to 2419200 seconds).",
    ),
    (
        "processing-runtime-too-long",
        _set("Evaluate", "StoppingCondition", "MaxRuntimeInSeconds", value=800_000),
        "sagemaker-pipeline-max-runtime",
        'Processing step "Evaluate" StoppingCondition.MaxRuntimeInSeconds is 800000; 1 to '
        "777600 seconds accepted.",
    ),
    (
        "spot-without-checkpoints",
        _set("Train", "CheckpointConfig", value=None),
        "sagemaker-pipeline-spot-checkpoints",
        'Training step "Train" uses managed Spot without CheckpointConfig.S3Uri; an interrupted '
        "job would start over.",
    ),
    (
        "spot-wait-below-runtime",
        _set("Train", "StoppingCondition", "MaxWaitTimeInSeconds", value=3600),
        "sagemaker-pipeline-spot-checkpoints",
        'Training step "Train" StoppingCondition.MaxWaitTimeInSeconds is 3600, below '
        "MaxRuntimeInSeconds 86400; the wait for Spot capacity includes the runtime.",
    ),
    (
        "spot-without-max-wait",
        _set("Train", "StoppingCondition", "MaxWaitTimeInSeconds", value=None),
        "sagemaker-pipeline-spot-checkpoints",
        'Training step "Train" StoppingCondition.MaxWaitTimeInSeconds is not set; managed Spot '
        "needs it (at least the max runtime).",
    ),
    (
        "training-not-isolated",
        _set("Train", "EnableNetworkIsolation", value=None),
        "sagemaker-pipeline-network-isolation",
        'Training step "Train" EnableNetworkIsolation is not set; set it to true. (network '
        "isolation; or list the pipeline in the policy config allowWithoutIsolation)",
    ),
    (
        "job-role-wildcard",
        _set("Evaluate", "RoleArn", value="*"),
        "sagemaker-pipeline-role",
        "Processing step \"Evaluate\" RoleArn is '*', not an IAM role ARN.",
    ),
    (
        "job-without-role",
        _set("Train", "RoleArn", value=None),
        "sagemaker-pipeline-role",
        'Training step "Train" RoleArn is not set; every job runs with an explicit execution role.',
    ),
    (
        "job-role-not-a-role",
        _set("Validate", "RoleArn", value=f"arn:aws:iam::{ACCOUNT}:user/someone"),
        "sagemaker-pipeline-role",
        "Processing step \"Validate\" RoleArn is 'arn:aws:iam::111111111111:user/someone', not "
        "an IAM role ARN.",
    ),
]


@pytest.mark.parametrize(
    ("change", "policy", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_each_broken_control_is_reported(
    change: Callable[[dict[str, Any]], None], policy: str, message: str
) -> None:
    assert findings(_pipeline(_edit(change))) == [(policy, URN, message)]


def test_pipeline_without_a_role() -> None:
    assert findings(_pipeline(_definition(), roleArn=None)) == [
        (
            "sagemaker-pipeline-role",
            URN,
            "pipeline roleArn is not set; every job runs with an explicit execution role.",
        )
    ]


def test_a_training_step_nested_in_a_condition_is_checked() -> None:
    def nest(definition: dict[str, Any]) -> None:
        train = next(s for s in definition["Steps"] if s["Name"] == "Train")
        definition["Steps"].remove(train)
        gate = _step(definition, "Gate")
        gate["IfSteps"].insert(0, train)
        train["Arguments"]["ResourceConfig"].pop("VolumeKmsKeyId")
        train["Arguments"]["EnableManagedSpotTraining"] = {"Get": "Parameters.UseSpot"}
        definition["Parameters"].append(
            {"Name": "UseSpot", "Type": "Boolean", "DefaultValue": True}
        )
        train["Arguments"]["StoppingCondition"]["MaxWaitTimeInSeconds"] = 60

    where = 'Training step "Train" (in IfSteps of Condition step "Gate")'
    assert findings(_pipeline(_edit(nest))) == [
        (
            "sagemaker-pipeline-job-encryption",
            URN,
            f"{where} ResourceConfig.VolumeKmsKeyId is not set; encrypt it with the platform's "
            "customer-managed KMS key.",
        ),
        (
            "sagemaker-pipeline-spot-checkpoints",
            URN,
            f"{where} StoppingCondition.MaxWaitTimeInSeconds is 60, below MaxRuntimeInSeconds "
            "86400; the wait for Spot capacity includes the runtime.",
        ),
    ]


def test_parameter_references_are_judged_by_their_defaults() -> None:
    def parameters(definition: dict[str, Any]) -> None:
        definition["Parameters"] += [
            {"Name": "MaxRuntime", "Type": "Integer", "DefaultValue": 3_000_000},
            {"Name": "Encrypt", "Type": "Boolean", "DefaultValue": True},
            {"Name": "Isolate", "Type": "Boolean", "DefaultValue": False},
        ]
        train = _step(definition, "Train")
        train["StoppingCondition"] = {
            "MaxRuntimeInSeconds": {"Get": "Parameters.MaxRuntime"},
            "MaxWaitTimeInSeconds": 3_000_000,
        }
        train["EnableInterContainerTrafficEncryption"] = {"Get": "Parameters.Encrypt"}
        train["EnableNetworkIsolation"] = {"Get": "Parameters.Isolate"}
        # A key joined from literals is judged as the string it makes.
        prefix, key_id = KEY_ARN.split("/", 1)
        train["ResourceConfig"]["VolumeKmsKeyId"] = {
            "Std:Join": {"On": "/", "Values": [prefix, key_id]}
        }

    assert findings(_pipeline(_edit(parameters))) == [
        (
            "sagemaker-pipeline-max-runtime",
            URN,
            'Training step "Train" StoppingCondition.MaxRuntimeInSeconds is parameter '
            "'MaxRuntime' (default 3000000); 1 to 2419200 seconds accepted.",
        ),
        (
            "sagemaker-pipeline-network-isolation",
            URN,
            "Training step \"Train\" EnableNetworkIsolation is parameter 'Isolate' (default "
            "False); set it to true. (network isolation; or list the pipeline in the policy "
            "config allowWithoutIsolation)",
        ),
    ]


def test_an_undeclared_parameter_is_not_verifiable() -> None:
    change = _set("Train", "EnableNetworkIsolation", value={"Get": "Parameters.Nope"})
    assert findings(_pipeline(_edit(change))) == [
        (
            "sagemaker-pipeline-network-isolation",
            URN,
            'Training step "Train" EnableNetworkIsolation is {"Get": "Parameters.Nope"}, only '
            "known when the pipeline runs; set it to true. (network isolation; or list the "
            "pipeline in the policy config allowWithoutIsolation)",
        )
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"pipelineDefinition": "{not json"},
            "pipelineDefinition is not JSON text, so its jobs' training controls cannot be "
            "checked.",
        ),
        (
            {"pipelineDefinition": json.dumps({"Version": "2020-12-01"})},
            "pipelineDefinition is not a SageMaker Pipelines definition (an object with a Steps "
            "list).",
        ),
        (
            {
                "pipelineDefinition": None,
                "pipelineDefinitionS3Location": {"bucket": "b", "objectKey": "k"},
            },
            "pipeline definition is kept in S3 (pipelineDefinitionS3Location), where the policy "
            "pack cannot check its jobs; give it inline as pipelineDefinition.",
        ),
    ],
    ids=["not-json", "no-steps", "in-s3"],
)
def test_an_unreadable_definition_is_a_violation_of_every_training_policy(
    inputs: dict[str, Any], message: str
) -> None:
    pipeline = _pipeline(_definition(), **inputs)
    assert findings(pipeline) == [(name, URN, message) for name in TRAINING_POLICY_NAMES]


def test_batch_transform_pipeline() -> None:
    transform = {
        "Name": "Score",
        "Type": "Transform",
        "Arguments": {
            "ModelName": "churn",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "s3://in"}}},
            "TransformOutput": {"S3OutputPath": "s3://out", "KmsKeyId": KEY_ARN},
            "TransformResources": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeKmsKeyId": KEY_ARN,
            },
        },
    }
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [transform]}
    pipeline = _pipeline(definition)
    assert findings(pipeline) == []
    assert not_applicable(pipeline) == [
        (
            "sagemaker-pipeline-traffic-encryption",
            "the pipeline runs no Training or Processing job",
        ),
        ("sagemaker-pipeline-max-runtime", "the pipeline runs no Training or Processing job"),
        (
            "sagemaker-pipeline-spot-checkpoints",
            "no training job of this resource uses managed Spot",
        ),
        ("sagemaker-pipeline-network-isolation", "the pipeline runs no Training job"),
    ]
    del transform["Arguments"]["TransformOutput"]["KmsKeyId"]  # type: ignore[index]
    del transform["Arguments"]["TransformResources"]["VolumeKmsKeyId"]  # type: ignore[index]
    message = "is not set; encrypt it with the platform's customer-managed KMS key."
    assert findings(_pipeline(definition)) == [
        (
            "sagemaker-pipeline-job-encryption",
            URN,
            f'Transform step "Score" TransformOutput.KmsKeyId {message}',
        ),
        (
            "sagemaker-pipeline-job-encryption",
            URN,
            f'Transform step "Score" TransformResources.VolumeKmsKeyId {message}',
        ),
    ]


def test_local_storage_instances_need_no_volume_key() -> None:
    def local(definition: dict[str, Any]) -> None:
        definition["Parameters"][1]["DefaultValue"] = "ml.g5.2xlarge"
        _step(definition, "Train")["ResourceConfig"].pop("VolumeKmsKeyId")
        cluster = _step(definition, "Validate")["ProcessingResources"]["ClusterConfig"]
        cluster.update(InstanceType="ml.m5d.xlarge")
        cluster.pop("VolumeKmsKeyId")

    assert findings(_pipeline(_edit(local))) == []


def test_spot_off_needs_no_checkpoints() -> None:
    def on_demand(definition: dict[str, Any]) -> None:
        train = _step(definition, "Train")
        train["EnableManagedSpotTraining"] = False
        train.pop("CheckpointConfig")
        train["StoppingCondition"].pop("MaxWaitTimeInSeconds")

    pipeline = _pipeline(_edit(on_demand))
    assert findings(pipeline) == []
    assert not_applicable(pipeline) == [
        (
            "sagemaker-pipeline-spot-checkpoints",
            "no training job of this resource uses managed Spot",
        )
    ]


def test_tuning_steps_are_judged_like_training_steps() -> None:
    def tuning(definition: dict[str, Any]) -> None:
        train = next(s for s in definition["Steps"] if s["Name"] == "Train")
        request = train["Arguments"]
        request.pop("EnableNetworkIsolation")
        train.update(
            Name="Tune",
            Type="Tuning",
            Arguments={"HyperParameterTuningJobConfig": {}, "TrainingJobDefinition": request},
        )

    assert findings(_pipeline(_edit(tuning))) == [
        (
            "sagemaker-pipeline-network-isolation",
            URN,
            'Tuning step "Tune" TrainingJobDefinition EnableNetworkIsolation is not set; set it '
            "to true. (network isolation; or list the pipeline in the policy config "
            "allowWithoutIsolation)",
        )
    ]


def test_allow_without_isolation_config() -> None:
    [isolation] = [p for p in POLICIES if p.name == "sagemaker-pipeline-network-isolation"]
    assert isinstance(isolation, ResourceValidationPolicy)
    allowing = ResourceValidationPolicy(
        name=isolation.name,
        description=isolation.description,
        validate=isolation.validate,
        enforcement_level=isolation.enforcement_level,
        config_schema=PolicyConfigSchema(
            properties={
                "allowWithoutIsolation": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": ["mlops-*-churn-*"],
                }
            }
        ),
    )
    pipeline = _pipeline(_edit(_set("Train", "EnableNetworkIsolation", value=False)))
    report = _report(pipeline, (allowing,))
    assert report.violations == []
    assert [(n.policy, n.message) for n in report.not_applicable if n.urn == URN] == [
        (
            "sagemaker-pipeline-network-isolation",
            "'mlops-prod-churn-training' matches 'mlops-*-churn-*' in the policy config "
            "allowWithoutIsolation",
        )
    ]
    other = _pipeline(_edit(_set("Train", "EnableNetworkIsolation", value=False)))
    other.inputs["pipelineName"] = "mlops-prod-fraud-training"
    assert [v.policy for v in _report(other, (allowing,)).violations] == [isolation.name]


# ---- a standalone training job resource ---------------------------------------------------------


def _training_job(**changes: Any) -> Registration:
    inputs: dict[str, Any] = {
        "trainingJobName": "churn-adhoc",
        "roleArn": ROLE_ARN,
        "algorithmSpecification": {"trainingImage": "x", "trainingInputMode": "File"},
        "resourceConfig": {
            "instanceType": "ml.m5.xlarge",
            "instanceCount": 1,
            "volumeSizeInGb": 30,
            "volumeKmsKeyId": KEY_ARN,
        },
        "outputDataConfig": {"s3OutputPath": "s3://artifacts/adhoc", "kmsKeyId": KEY_ARN},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
        "enableInterContainerTrafficEncryption": True,
        "enableNetworkIsolation": True,
        "tags": TAGS,
    }
    for key, value in changes.items():
        if value is None:
            inputs.pop(key, None)
        else:
            inputs[key] = value
    return record(TRAINING_JOB, "adhoc", inputs)


def test_standalone_training_job() -> None:
    job = _training_job()
    assert findings(job) == []
    spot = _training_job(
        enableManagedSpotTraining=True,
        stoppingCondition={"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 60},
        enableNetworkIsolation=None,
        roleArn="*",
        outputDataConfig={"s3OutputPath": "s3://x"},
    )
    assert findings(spot) == [
        (
            "sagemaker-pipeline-job-encryption",
            spot.urn,
            "training job outputDataConfig.kmsKeyId is not set; encrypt it with the platform's "
            "customer-managed KMS key.",
        ),
        (
            "sagemaker-pipeline-spot-checkpoints",
            spot.urn,
            "training job uses managed Spot without checkpointConfig.s3Uri; an interrupted job "
            "would start over.",
        ),
        (
            "sagemaker-pipeline-spot-checkpoints",
            spot.urn,
            "training job stoppingCondition.maxWaitTimeInSeconds is 60, below "
            "MaxRuntimeInSeconds 3600; the wait for Spot capacity includes the runtime.",
        ),
        (
            "sagemaker-pipeline-network-isolation",
            spot.urn,
            "training job enableNetworkIsolation is not set; set it to true. (network "
            "isolation; or list the pipeline in the policy config allowWithoutIsolation)",
        ),
        ("sagemaker-pipeline-role", spot.urn, "training job roleArn is '*', not an IAM role ARN."),
    ]


# ---- in a preview, through the analyzer ---------------------------------------------------------


def test_preview_unknowns_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """A definition built from other resources' outputs is unknown in a preview: the training
    policies say they cannot run rather than pass or fail; a training job whose key and role
    are outputs of the key and role passes."""
    aws = _pinned_provider()
    pipeline = _pipeline(_definition(), roleArn=UNKNOWN_STRING, pipelineDefinition=UNKNOWN_STRING)
    diagnostics = analyzer.Analyze(_analyze_request(pipeline, aws)).diagnostics
    assert sorted(d.policyName for d in diagnostics) == sorted(TRAINING_POLICY_NAMES)
    assert {d.enforcementLevel for d in diagnostics} == {analyzer_pb2.ADVISORY}
    assert all("during preview" in d.message for d in diagnostics)

    known = _pipeline(_definition(), roleArn=UNKNOWN_STRING)
    assert list(analyzer.Analyze(_analyze_request(known, aws)).diagnostics) == []

    job = _training_job(roleArn=UNKNOWN_STRING)
    job.inputs["resourceConfig"]["volumeKmsKeyId"] = UNKNOWN_STRING
    job.inputs["outputDataConfig"] = UNKNOWN_STRING
    assert list(analyzer.Analyze(_analyze_request(job, aws)).diagnostics) == []
