"""The training pipelines' deployment under Pulumi mocks: the pipeline resources, their code in
S3, the definition's references to what the plan created, the execution role derived from it,
the schedules, the failure route and the optional MLflow server."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.training import MLFLOW_CLIENT, code_hash, code_objects
from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import Plan

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
SCHEDULE = "aws:scheduler/schedule:Schedule"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
NS = "mlops-platform:"
STAGING_PIPELINES = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/"


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


def statements(record: Registration, field: str = "policy") -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(record.inputs[field])["Statement"]}


def walk(node: Any, key: str) -> list[Any]:
    """Every value under `key` anywhere in a JSON document."""
    found: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found.extend(walk(v, key))
    elif isinstance(node, list):
        for item in node:
            found.extend(walk(item, key))
    return found


def training_pipeline(plan: Plan) -> Registration:
    return named(plan, "training-churn")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_pipeline_resource_and_definition_reference_what_the_plan_created(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    account = ACCOUNTS[stack]
    name = f"mlops-platform-{stack}-churn-training"
    pipeline = training_pipeline(plan)
    role_arn = f"arn:aws:iam::{account}:role/{name}"
    assert pipeline.inputs["pipelineName"] == name
    assert pipeline.inputs["roleArn"] == role_arn
    assert named(plan, "training-churn-access").urn in pipeline.dependencies
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    key = plan.outputs["kmsKeyArn"]
    # Every job runs with the pipeline's own role and encrypts with the platform key.
    assert set(walk(definition, "RoleArn")) == {role_arn}
    assert set(walk(definition, "KmsKeyId")) == {key}
    assert set(walk(definition, "VolumeKmsKeyId")) == {key}
    # Every S3 location is in one of the plan's buckets.
    buckets = {bucket(plan, "curated"), bucket(plan, "model-artifacts")}
    uris = [
        u
        for u in walk(definition, "S3Uri") + walk(definition, "S3OutputPath")
        if isinstance(u, str)
    ]
    assert uris
    for uri in uris:
        assert uri.startswith("s3://")
        assert uri[5:].split("/", 1)[0] in buckets, uri
    assert plan.outputs["trainingPipelines"] == {"churn": name}


def test_code_is_uploaded_content_addressed_and_encrypted(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    objects = [r for r in plan.by_type(OBJECT) if r.name.startswith("training-churn-code-")]
    keys = sorted(r.inputs["key"] for r in objects)
    schema_keys = [k for k in keys if k.endswith("schema/schema.json")]
    (schema_key,) = schema_keys
    prefix = schema_key.removesuffix("/schema/schema.json")
    assert prefix.startswith("pipelines/churn/code/")
    assert len(prefix.rsplit("/", 1)[1]) == 16
    assert f"{prefix}/train/sourcedir.tar.gz" in keys
    assert f"{prefix}/steps/validate.py" in keys
    assert f"{prefix}/steps/evaluate.py" in keys
    assert f"{prefix}/engine/mlops_drift/baseline.py" in keys
    assert not [k for k in keys if k.endswith(("cli.py", "datasets.py"))]
    for record in objects:
        assert record.inputs["bucket"] == bucket(plan, "model-artifacts")
        assert record.inputs["serverSideEncryption"] == "aws:kms"
        assert record.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]
        assert record.inputs["bucketKeyEnabled"] is True
    # The definition runs exactly this code.
    definition = training_pipeline(plan).inputs["pipelineDefinition"]
    assert prefix in definition


def test_source_tarball_is_reproducible() -> None:
    first = code_objects("churn", '{"columns": []}\n')
    second = code_objects("churn", '{"columns": []}\n')
    assert first["train/sourcedir.tar.gz"] == second["train/sourcedir.tar.gz"]
    assert code_hash(first) == code_hash(second)
    assert code_hash(first) != code_hash(code_objects("churn", '{"columns": [1]}\n'))


def test_execution_role_passes_only_itself_and_pulls_only_the_definitions_images(
    plans: dict[str, Plan],
) -> None:
    plan = plans["prod"]
    name = "mlops-platform-prod-churn-training"
    role_arn = f"arn:aws:iam::111111111111:role/{name}"
    role = named(plan, "training-churn-role")
    trust = statements(role, "assumeRolePolicy")["ServiceAssumesRole"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    granted = statements(named(plan, "training-churn-access"))
    assert granted["PassOwnRoleToSageMaker"]["Resource"] == [role_arn]
    assert granted["PassOwnRoleToSageMaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    definition = json.loads(training_pipeline(plan).inputs["pipelineDefinition"])
    images = {i for k in ("ImageUri", "TrainingImage", "Image") for i in walk(definition, k)}
    assert images
    repositories = granted["PullImages"]["Resource"]
    for image in images:
        if not isinstance(image, str):
            continue
        registry, _, path = image.partition("/")
        account = registry.split(".", 1)[0]
        repository = path.rsplit(":", 1)[0]
        assert any(r.endswith(f":{account}:repository/{repository}") for r in repositories), image
    wildcard = {sid for sid, s in granted.items() if "*" in s["Resource"]}
    assert wildcard == {"LogInToRegistries", "PutJobMetrics"}
    assert granted["RegisterVersions"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-platform-prod-churn",
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-platform-prod-churn/*",
    ]


def test_each_pipeline_role_runs_only_its_own_step_types(plans: dict[str, Plan]) -> None:
    """The training pipeline (Processing, Training, RegisterModel) and the batch pipeline
    (Processing, Model, Transform) get the jobs and registry actions of their own steps."""
    plan = plans["prod"]
    sm = "arn:aws:sagemaker:eu-west-1:111111111111"
    training = statements(named(plan, "training-churn-access"))
    assert training["RunOwnJobs"]["Action"] == [
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",
    ]
    assert training["RunOwnJobs"]["Resource"] == [
        f"{sm}:processing-job/pipelines-*",
        f"{sm}:training-job/pipelines-*",
    ]
    assert training["RegisterVersions"]["Action"] == [
        "sagemaker:CreateModelPackage",
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
    ]
    batch = statements(named(plan, "training-churn-batch-access"))
    assert batch["RunOwnJobs"]["Action"] == [
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:CreateModel",
        "sagemaker:DescribeModel",
        "sagemaker:AddTags",
    ]
    assert batch["RunOwnJobs"]["Resource"] == [
        f"{sm}:processing-job/pipelines-*",
        f"{sm}:transform-job/pipelines-*",
        f"{sm}:model/pipelines-*",
    ]
    # the lookup job lists the approved versions itself; nothing is registered
    assert batch["RegisterVersions"]["Action"] == [
        "sagemaker:ListModelPackages",
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
    ]


@pytest.mark.parametrize(
    ("stack", "scheduled"), [("dev", False), ("staging", True), ("prod", True)]
)
def test_training_schedule_passes_its_time_and_an_idempotency_token(
    plans: dict[str, Plan], stack: str, scheduled: bool
) -> None:
    plan = plans[stack]
    schedules = [s for s in plan.by_type(SCHEDULE) if s.name == "training-churn-training-schedule"]
    if not scheduled:
        assert schedules == []
        return
    (schedule,) = schedules
    target = schedule.inputs["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
    assert json.loads(target["input"]) == {
        "PipelineName": f"mlops-platform-{stack}-churn-training",
        "PipelineExecutionDescription": "Scheduled run",
        "ClientRequestToken": "<aws.scheduler.execution-id>",
        "PipelineParameters": [
            {"Name": "TriggerReason", "Value": "schedule"},
            {"Name": "WindowEnd", "Value": "<aws.scheduler.scheduled-time>"},
        ],
    }
    assert target["retryPolicy"] == {"maximumRetryAttempts": 10, "maximumEventAgeInSeconds": 21600}
    assert target["deadLetterConfig"]["arn"].endswith(f"mlops-platform-{stack}-training-dlq")
    assert schedule.inputs["kmsKeyArn"] == plan.outputs["kmsKeyArn"]
    assert schedule.inputs["scheduleExpressionTimezone"] == "Europe/Dublin"
    assert schedule.inputs["flexibleTimeWindow"] == {
        "mode": "FLEXIBLE",
        "maximumWindowInMinutes": 60,
    }


def test_prod_scores_daily_with_the_batch_pipeline(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    batch = named(plan, "training-churn-batch")
    name = batch.inputs["pipelineName"]
    assert batch.inputs["roleArn"] == f"arn:aws:iam::111111111111:role/{name}"
    definition = json.loads(batch.inputs["pipelineDefinition"])
    assert {s["Type"] for s in definition["Steps"]} >= {"Processing", "Transform"}
    assert set(walk(definition, "KmsKeyId")) == {plan.outputs["kmsKeyArn"]}
    (schedule,) = [s for s in plan.by_type(SCHEDULE) if s.name == "training-churn-batch-schedule"]
    sent = json.loads(schedule.inputs["target"]["input"])
    assert sent["PipelineName"] == name
    assert sent["PipelineParameters"] == [{"Name": "TriggerReason", "Value": "schedule"}]
    assert plan.outputs["batchTransformPipelines"] == {"churn": name}


def test_failed_executions_of_this_stack_go_to_the_topic(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    rule = named(plan, "training-failures-rule")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {
            "currentPipelineExecutionStatus": ["Failed"],
            "pipelineArn": [{"prefix": f"{STAGING_PIPELINES}mlops-platform-staging-training"}],
        },
    }
    target = named(plan, "training-failures-target")
    assert target.inputs["arn"] == plan.outputs["platformTopicArn"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_pass_the_training_policies(plans: dict[str, Plan], stack: str) -> None:
    report = evaluate(plans[stack].registrations)
    assert [v for v in report.violations if v.policy.startswith("sagemaker-pipeline")] == []


def test_mlflow_server_and_its_isolation_trade_off(plan_stack: Callable[..., Plan]) -> None:
    section = json.loads(json.dumps({"enabled": True, "mlflow": {"enabled": True}}))
    plan = plan_stack("dev", {f"{NS}training": {**_dev_training(), **section}})
    server = plan.one("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer")
    assert server.inputs["artifactStoreUri"] == f"s3://{bucket(plan, 'model-artifacts')}/mlflow/"
    assert server.inputs["automaticModelRegistration"] is False
    granted = statements(named(plan, "training-mlflow-access"))
    assert granted["ArtifactStore"]["Resource"] == [
        f"arn:aws:s3:::{bucket(plan, 'model-artifacts')}/mlflow/*"
    ]
    assert "mlflowTrackingServerUrl" in plan.outputs
    definition = training_pipeline(plan).inputs["pipelineDefinition"]
    assert server.id in definition or "MLFLOW" in definition
    # A Train job that logs to MLflow needs the network: the pack refuses that by default.
    report = evaluate(plan.registrations)
    assert [v.policy for v in report.violations] == ["sagemaker-pipeline-network-isolation"]


def _dev_training() -> dict[str, Any]:
    from planner.run import PROJECT_DIR
    from planner.stackfile import load_stack_config

    values = load_stack_config(PROJECT_DIR, "dev").values
    training: dict[str, Any] = json.loads(values[f"{NS}training"])
    return training


def test_custom_framework_trains_on_the_models_own_repository(
    plan_stack: Callable[..., Plan],
) -> None:
    training = _dev_training()
    (pipeline,) = training["pipelines"]
    for key in ("frameworkVersion", "pyVersion"):
        pipeline.pop(key)
    pipeline |= {"framework": "custom", "imageTag": "v42"}
    plan = plan_stack("dev", {f"{NS}training": training})
    repository = plan.outputs["imageRepositories"]["churn"]
    definition = json.loads(training_pipeline(plan).inputs["pipelineDefinition"])
    assert set(walk(definition, "TrainingImage")) == {f"{repository}:v42"}
    granted = statements(named(plan, "training-churn-access"))
    assert (
        "arn:aws:ecr:eu-west-1:123456789012:repository/mlops-platform-dev-churn"
        in (granted["PullImages"]["Resource"])
    )


def _members(objects: dict[str, bytes | Path]) -> dict[str, bytes]:
    """The files of a code bundle's source tarball."""
    tarball = objects["train/sourcedir.tar.gz"]
    assert isinstance(tarball, bytes)
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            members[member.name] = extracted.read()
    return members


def test_mlflow_runs_install_the_mlflow_client_with_their_code() -> None:
    plain = _members(code_objects("churn", "{}\n"))
    assert "train.py" in plain
    assert "requirements.txt" not in plain
    logged = _members(code_objects("churn", "{}\n", MLFLOW_CLIENT))
    assert logged["requirements.txt"].decode().splitlines() == list(MLFLOW_CLIENT)
    assert {k: v for k, v in logged.items() if k != "requirements.txt"} == plain


# ---- network -----------------------------------------------------------------------------------

NETWORK = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    # The SDK refuses a job VPC config without security groups.
    "securityGroupIds": ["sg-0123456789abcdef0"],
}
LOOKUP_ACTIONS = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DeleteNetworkInterfacePermission",
]


def network_statements(sid: str, account: str, groups: list[str]) -> dict[str, Any]:
    """The two statements SageMaker's VPC placement needs (components/iam.py), as expected."""
    ec2 = f"arn:aws:ec2:eu-west-1:{account}"
    return {
        sid: {
            "Sid": sid,
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
            ],
            "Resource": [
                f"{ec2}:network-interface/*",
                *(f"{ec2}:subnet/{s}" for s in NETWORK["subnetIds"]),
                *(f"{ec2}:security-group/{g}" for g in groups),
            ],
        },
        "LookUpNetwork": {
            "Sid": "LookUpNetwork",
            "Effect": "Allow",
            "Action": LOOKUP_ACTIONS,
            "Resource": ["*"],
        },
    }


def test_in_a_vpc_the_jobs_role_manages_their_network_interfaces(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack("dev", {f"{NS}network": NETWORK})
    definition = json.loads(training_pipeline(plan).inputs["pipelineDefinition"])
    vpc = {"Subnets": NETWORK["subnetIds"], "SecurityGroupIds": NETWORK["securityGroupIds"]}
    assert walk(definition, "VpcConfig") == [vpc, vpc, vpc]  # validation, training, evaluation
    granted = statements(named(plan, "training-churn-access"))
    # The same statements as a model's in a VPC (components/iam.py), under the jobs' Sid:
    # interfaces created only in the configured subnets, with the configured groups.
    expected = network_statements(
        "ManageJobNetworkInterfaces", ACCOUNTS["dev"], NETWORK["securityGroupIds"]
    )
    assert {sid: granted[sid] for sid in expected} == expected


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_without_a_network_the_jobs_role_manages_no_interfaces(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    for policy in ("training-churn-access", "training-churn-batch-access"):
        found = [r for r in plan.registrations if r.name == policy]
        for record in found:
            granted = json.loads(record.inputs["policy"])["Statement"]
            assert not [s for s in granted if str(s["Action"]).find("ec2:") >= 0], policy
    assert not walk(json.loads(training_pipeline(plan).inputs["pipelineDefinition"]), "VpcConfig")
