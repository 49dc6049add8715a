"""Each SageMaker pipeline's role, as the plan renders it, is enough for its jobs.

GIVEN a stack's plan, moto's server with IAM enforced by the harness's evaluator (`loop.iam`),
the pipeline's role created in moto's IAM with exactly the plan's inline policy, and the data
the pipeline reads,
WHEN the rendered definition is run step by step (`loop.pipeline`: the calls SageMaker makes
with the role, the jobs' data plane with it, and the step scripts themselves in their own
processes),
THEN the execution succeeds (or takes the branch its real evaluation decides), every IAM check
was evaluated and allowed, and the set of actions evaluated is exactly the one pinned here (a
new call fails this test until it is named); and the negative twins: the role without one
statement fails the execution with AccessDenied naming that action.

Proven, for every pipeline the shipped stacks plan: dev's churn training pipeline (both
branches of its metric condition: a model that learned is registered, one that did not fails
at `MetricBelowThreshold`), the same in a VPC (the jobs' network-interface calls), staging's
and prod's training pipelines, and prod's batch-transform pipeline (on the version prod's
training registered, once approved). What `loop.pipeline`
executes for real and what it simulates is in its docstring.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pytest

from loop.iam import Decision
from loop.pipeline import (
    PipelineAccount,
    PipelineExecution,
    PipelinesPlan,
    RenderedPipeline,
    read_pipelines,
)
from tests.conftest import plan_with

NS: Final = "mlops-platform:"
NETWORK: Final = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    # The SDK refuses a job VPC config without security groups.
    "securityGroupIds": ["sg-0123456789abcdef0"],
}
TRAINING: Final = "training-churn"
BATCH: Final = "training-churn-batch"
ROWS: Final = 400
SCORED: Final = 25

TRAINING_ACTIONS: Final = {
    # the pipeline service, with the pipeline's role
    "sagemaker:CreateProcessingJob",  # ValidateData, Evaluate
    "sagemaker:DescribeProcessingJob",
    "sagemaker:CreateTrainingJob",  # Train
    "sagemaker:DescribeTrainingJob",
    "sagemaker:AddTags",  # the jobs are created with the platform's tags
    "sagemaker:CreateModelPackage",  # RegisterModel (the if branch)
    "iam:PassRole",  # each job's RoleArn, to sagemaker.amazonaws.com
    # each job's host, with the job's role
    "kms:CreateGrant",  # the encrypted volume (GrantIsForAWSResource)
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "logs:CreateLogGroup",  # /aws/sagemaker/ProcessingJobs and TrainingJobs, new in the account
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "cloudwatch:PutMetricData",  # /aws/sagemaker/ProcessingJobs, /aws/sagemaker/TrainingJobs
    # the jobs' data
    "s3:ListBucket",  # every input prefix; the checkpoints a Spot job resumes from
    "s3:GetObject",  # the data, the code, the split, the model; the property file
    "s3:PutObject",  # the split, the baseline, the checkpoint, the model, the evaluation
    "kms:Decrypt",  # through S3
    "kms:GenerateDataKey",  # through S3: every output under the definition's key
}
TRAINING_STATEMENTS: Final = {
    ("sagemaker:CreateProcessingJob", "RunOwnJobs"),
    ("sagemaker:DescribeProcessingJob", "RunOwnJobs"),
    ("sagemaker:CreateTrainingJob", "RunOwnJobs"),
    ("sagemaker:DescribeTrainingJob", "RunOwnJobs"),
    ("sagemaker:AddTags", "RunOwnJobs"),
    ("sagemaker:CreateModelPackage", "RegisterVersions"),
    ("iam:PassRole", "PassOwnRoleToSageMaker"),
    ("kms:CreateGrant", "GrantVolumeEncryption"),
    ("ecr:GetAuthorizationToken", "LogInToRegistries"),
    ("ecr:BatchGetImage", "PullImages"),
    ("ecr:GetDownloadUrlForLayer", "PullImages"),
    ("logs:CreateLogGroup", "WriteJobLogs"),
    ("logs:CreateLogStream", "WriteJobLogs"),
    ("logs:PutLogEvents", "WriteJobLogs"),
    ("cloudwatch:PutMetricData", "PutJobMetrics"),
    ("s3:ListBucket", "ListTrainingData"),
    ("s3:ListBucket", "ListModelArtifacts"),
    ("s3:GetObject", "ReadTrainingData"),
    ("s3:GetObject", "ReadWriteModelArtifacts"),
    ("s3:PutObject", "ReadWriteModelArtifacts"),
    ("kms:Decrypt", "UsePlatformKey"),
    ("kms:GenerateDataKey", "UsePlatformKey"),
}
NETWORK_ACTIONS: Final = {
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
}
NETWORK_STATEMENTS: Final = {
    ("ec2:CreateNetworkInterface", "ManageJobNetworkInterfaces"),
    ("ec2:CreateNetworkInterfacePermission", "ManageJobNetworkInterfaces"),
    ("ec2:DeleteNetworkInterface", "ManageJobNetworkInterfaces"),
    ("ec2:DescribeSubnets", "LookUpNetwork"),
    ("ec2:DescribeSecurityGroups", "LookUpNetwork"),
    ("ec2:DescribeVpcs", "LookUpNetwork"),
    ("ec2:DescribeDhcpOptions", "LookUpNetwork"),
    ("ec2:DescribeNetworkInterfaces", "LookUpNetwork"),
}
VPC_NOT_LEARNED_STATEMENTS: Final = (
    TRAINING_STATEMENTS - {("sagemaker:CreateModelPackage", "RegisterVersions")}
) | NETWORK_STATEMENTS
"""dev's training in a VPC on noise: no version registered (the Fail branch), the jobs'
network interfaces made and deleted."""
BATCH_ACTIONS: Final = {
    "sagemaker:CreateProcessingJob",  # LatestApprovedPackage
    "sagemaker:DescribeProcessingJob",
    "sagemaker:ListModelPackages",  # latest_approved.py, in the job, with the role
    "sagemaker:CreateModel",  # CreateModel, from the approved package
    "sagemaker:CreateTransformJob",  # BatchTransform
    "sagemaker:DescribeTransformJob",
    "sagemaker:AddTags",
    "iam:PassRole",  # the processing job's RoleArn, the model's ExecutionRoleArn
    "kms:CreateGrant",
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "logs:CreateLogGroup",  # /aws/sagemaker/TransformJobs (ProcessingJobs exists by then)
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "cloudwatch:PutMetricData",
    "s3:ListBucket",  # the code, the batch input
    "s3:GetObject",  # the code, the property file, the model artifact, the batch input
    "s3:PutObject",  # package.json, the predictions
    "kms:Decrypt",
    "kms:GenerateDataKey",
}
BATCH_STATEMENTS: Final = {
    ("sagemaker:CreateProcessingJob", "RunOwnJobs"),
    ("sagemaker:DescribeProcessingJob", "RunOwnJobs"),
    ("sagemaker:ListModelPackages", "RegisterVersions"),
    ("sagemaker:CreateModel", "RunOwnJobs"),
    ("sagemaker:CreateTransformJob", "RunOwnJobs"),
    ("sagemaker:DescribeTransformJob", "RunOwnJobs"),
    ("sagemaker:AddTags", "RunOwnJobs"),
    ("iam:PassRole", "PassOwnRoleToSageMaker"),
    ("kms:CreateGrant", "GrantVolumeEncryption"),
    ("ecr:GetAuthorizationToken", "LogInToRegistries"),
    ("ecr:BatchGetImage", "PullImages"),
    ("ecr:GetDownloadUrlForLayer", "PullImages"),
    ("logs:CreateLogGroup", "WriteJobLogs"),
    ("logs:CreateLogStream", "WriteJobLogs"),
    ("logs:PutLogEvents", "WriteJobLogs"),
    ("cloudwatch:PutMetricData", "PutJobMetrics"),
    ("s3:ListBucket", "ListTrainingData"),
    ("s3:ListBucket", "ListModelArtifacts"),
    ("s3:GetObject", "ReadTrainingData"),
    ("s3:GetObject", "ReadWriteModelArtifacts"),
    ("s3:PutObject", "ReadWriteModelArtifacts"),
    ("kms:Decrypt", "UsePlatformKey"),
    ("kms:GenerateDataKey", "UsePlatformKey"),
}


# ---- data ----------------------------------------------------------------------------------------


def _schema(plan: PipelinesPlan) -> dict[str, Any]:
    (found,) = [o for o in plan.objects if o.key.endswith("/schema/schema.json")]
    schema: dict[str, Any] = json.loads(found.body)
    return schema


def _rows(
    schema: dict[str, Any], n: int, *, learnable: bool, seed: int, target: bool = True
) -> bytes:
    """Rows of the schema's columns: the label follows the first categorical column (a model
    can learn it), or is a coin flip (no model can: AUC about 0.5)."""
    rng = np.random.default_rng(seed)
    columns = schema["columns"]
    lines = [] if not target else [",".join([*(c["name"] for c in columns), schema["target"]])]
    for _ in range(n):
        values, risky = [], False
        for column in columns:
            if column["kind"] == "numeric":
                values.append(f"{rng.uniform(0, 100):.2f}")
            else:
                level = str(rng.choice(["month-to-month", "one-year", "two-year"]))
                risky = risky or level == "month-to-month"
                values.append(level)
        chance = (0.9 if risky else 0.05) if learnable else 0.4
        if target:
            values.append(str(int(rng.random() < chance)))
        lines.append(",".join(values))
    return ("\n".join(lines) + "\n").encode()


def _training_data(account: PipelineAccount, pipeline: RenderedPipeline, **kind: Any) -> None:
    uri = next(p for p in pipeline.document["Parameters"] if p["Name"] == "DataUri")
    account.put_object(
        str(uri["DefaultValue"]) + "part-0.csv", _rows(_schema(account.plan), ROWS, **kind)
    )


# ---- runs (each in its own account; what the assertions need is kept) ----------------------------


@dataclass
class Outcome:
    execution: PipelineExecution
    decisions: list[Decision]
    objects: list[str] = field(default_factory=list)
    """Every object key the run left in the artifact bucket."""
    package: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _keys(account: PipelineAccount) -> list[str]:
    bucket = account.plan.buckets["model-artifacts"]
    answer = account.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def _train(account: PipelineAccount, *, learnable: bool) -> Outcome:
    pipeline = account.plan.pipeline(TRAINING)
    _training_data(account, pipeline, learnable=learnable, seed=7)
    execution = account.run(pipeline)
    packages = account.client("sagemaker").list_model_packages(
        ModelPackageGroupName=account.plan.package_groups[0]
    )["ModelPackageSummaryList"]
    package = None
    if packages:
        (summary,) = packages
        package = account.client("sagemaker").describe_model_package(
            ModelPackageName=summary["ModelPackageArn"]
        )
    return Outcome(execution, account.decisions(pipeline), _keys(account), package)


def _plan(stack: str, overrides: dict[str, Any] | None = None) -> PipelinesPlan:
    return read_pipelines(plan_with(stack, overrides))


@pytest.fixture(scope="module")
def dev() -> PipelinesPlan:
    return _plan("dev")


@pytest.fixture(scope="module")
def dev_in_vpc() -> PipelinesPlan:
    return _plan("dev", {f"{NS}network": NETWORK})


@pytest.fixture(scope="module")
def prod() -> PipelinesPlan:
    return _plan("prod")


@pytest.fixture(scope="module")
def staging_learned() -> Outcome:
    with PipelineAccount(_plan("staging")) as account:
        return _train(account, learnable=True)


@pytest.fixture(scope="module")
def dev_learned(dev: PipelinesPlan) -> Outcome:
    with PipelineAccount(dev) as account:
        return _train(account, learnable=True)


@pytest.fixture(scope="module")
def dev_in_vpc_not_learned(dev_in_vpc: PipelinesPlan) -> Outcome:
    with PipelineAccount(dev_in_vpc) as account:
        return _train(account, learnable=False)


@pytest.fixture(scope="module")
def prod_batch(prod: PipelinesPlan) -> tuple[Outcome, Outcome]:
    """prod's training registers a version, a person approves it, the batch pipeline scores."""
    with PipelineAccount(prod) as account:
        trained = _train(account, learnable=True)
        assert trained.package is not None, trained.execution
        account.client("sagemaker").update_model_package(
            ModelPackageArn=trained.package["ModelPackageArn"], ModelApprovalStatus="Approved"
        )
        batch = account.plan.pipeline(BATCH)
        source = next(p for p in batch.document["Parameters"] if p["Name"] == "BatchInputUri")
        rows = _rows(_schema(account.plan), SCORED, learnable=True, seed=11, target=False)
        account.put_object(str(source["DefaultValue"]) + "customers.csv", rows)
        execution = account.run(batch)
        scored = Outcome(execution, account.decisions(batch), _keys(account))
        prefix = f"models/churn/batch/{execution.id}/"
        scored.extra["predictions"] = account.read_object(
            f"s3://{account.plan.buckets['model-artifacts']}/{prefix}customers.csv.out"
        )
        return trained, scored


def _allowed_and_exactly(outcome: Outcome, actions: set[str]) -> None:
    assert outcome.decisions, "the harness saw the role's calls"
    assert [d.line() for d in outcome.decisions if not d.allowed] == []
    assert {d.action for d in outcome.decisions} == actions


# ---- dev: training, both branches ----------------------------------------------------------------


def test_dev_training_pipeline_runs_with_exactly_its_rendered_role(dev_learned: Outcome) -> None:
    execution = dev_learned.execution
    # THEN every step ran, the condition read the real evaluation and took the if branch
    assert execution.status == "Succeeded", execution.failure_reason
    assert [(s.name, s.status) for s in execution.steps] == [
        ("ValidateData", "Succeeded"),
        ("Train", "Succeeded"),
        ("Evaluate", "Succeeded"),
        ("CheckMetric", "Succeeded"),
        ("RegisterModel-RegisterModel", "Succeeded"),
    ]
    assert execution.step("CheckMetric").outcome is True
    # AND the version registered points at what the jobs wrote
    package = dev_learned.package
    assert package is not None
    run = f"models/churn/runs/{execution.id}"
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"].endswith("/output/model.tar.gz")
    assert f"{run}/baseline/baseline.json" in dev_learned.objects
    assert f"{run}/evaluation/evaluation.json" in dev_learned.objects
    assert f"{run}/train/train.csv" in dev_learned.objects
    model = container["ModelDataUrl"].split("/", 3)[3]
    assert model in dev_learned.objects
    assert any(
        k.startswith(f"models/churn/checkpoints/{execution.id}/") for k in dev_learned.objects
    )
    # AND every IAM check was allowed by the rendered policy, and these were all it needed
    _allowed_and_exactly(dev_learned, TRAINING_ACTIONS)
    assert {(d.action, d.statement) for d in dev_learned.decisions} == TRAINING_STATEMENTS


def test_dev_training_pipeline_in_a_vpc_attaches_its_jobs_and_refuses_a_weak_model(
    dev_in_vpc_not_learned: Outcome,
) -> None:
    execution = dev_in_vpc_not_learned.execution
    # THEN the labels were noise: the evaluation's AUC is below 0.6, the Fail step ran
    assert execution.status == "Failed"
    assert execution.step("CheckMetric").outcome is False
    assert execution.step("MetricBelowThreshold").status == "Failed"
    assert execution.failure_reason is not None
    assert execution.failure_reason.startswith("Model churn: metric auc = ")
    assert "no model version was registered" in execution.failure_reason
    assert dev_in_vpc_not_learned.package is None
    # AND the three jobs' network interfaces were made and deleted with the role, allowed
    _allowed_and_exactly(
        dev_in_vpc_not_learned,
        (TRAINING_ACTIONS - {"sagemaker:CreateModelPackage"}) | NETWORK_ACTIONS,
    )
    network = [d for d in dev_in_vpc_not_learned.decisions if d.action.startswith("ec2:")]
    assert {(d.action, d.statement) for d in network} == {
        (a, "ManageJobNetworkInterfaces")
        for a in (
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
        )
    } | {(a, "LookUpNetwork") for a in NETWORK_ACTIONS if a.startswith("ec2:Describe")}
    # AND every call by exactly the statement pinned for it
    assert {
        (d.action, d.statement) for d in dev_in_vpc_not_learned.decisions
    } == VPC_NOT_LEARNED_STATEMENTS
    # the interface is created in one of the plan's subnets, with the plan's group
    subnets = {s for d in network for s in [d.resource] if ":subnet/" in s}
    assert subnets
    assert {s.rsplit("/", 1)[1] for s in subnets} <= set(NETWORK["subnetIds"])
    creates = [d for d in network if d.action == "ec2:CreateNetworkInterface"]
    assert len({d.resource for d in creates if ":network-interface/" in d.resource}) == 1
    assert sum(1 for d in network if d.action == "ec2:DeleteNetworkInterface") == 3


@pytest.mark.parametrize(
    ("sid", "action"),
    [
        ("PassOwnRoleToSageMaker", "iam:PassRole"),
        ("UsePlatformKey", "kms:Decrypt"),
        ("ReadTrainingData", "s3:GetObject"),
        ("RunOwnJobs", "sagemaker:CreateProcessingJob"),
    ],
)
def test_dev_training_fails_without_a_statement_of_its_role(
    dev: PipelinesPlan, sid: str, action: str
) -> None:
    pipeline = dev.pipeline(TRAINING)
    with PipelineAccount(dev) as account:
        _training_data(account, pipeline, learnable=True, seed=7)
        execution = account.run(pipeline.without(sid))
        denied = {d.action for d in account.server.enforcement.gaps()}
    # THEN the first step fails with AWS's AccessDenied naming the action, and only it
    assert execution.status == "Failed"
    assert execution.steps[0].name == "ValidateData"
    assert execution.failure_reason is not None
    assert "AccessDenied" in execution.failure_reason
    assert f"not authorized to perform: {action}" in execution.failure_reason
    assert denied == {action}


@pytest.mark.parametrize(
    ("sid", "action"),
    [
        ("LookUpNetwork", "ec2:DescribeSubnets"),
        ("ManageJobNetworkInterfaces", "ec2:CreateNetworkInterface"),
    ],
)
def test_dev_training_in_a_vpc_fails_without_its_network_statement(
    dev_in_vpc: PipelinesPlan, sid: str, action: str
) -> None:
    pipeline = dev_in_vpc.pipeline(TRAINING)
    with PipelineAccount(dev_in_vpc) as account:
        _training_data(account, pipeline, learnable=True, seed=7)
        execution = account.run(pipeline.without(sid))
        denied = {d.action for d in account.server.enforcement.gaps()}
    assert execution.status == "Failed"
    assert execution.failure_reason is not None
    assert f"not authorized to perform: {action}" in execution.failure_reason
    assert denied == {action}


def test_dev_training_step_accepts_its_rendered_hyperparameters(dev: PipelinesPlan) -> None:
    """The stacks spell them `n-estimators`, `max-depth`; the toolkit passes them unchanged."""
    pipeline = dev.pipeline(TRAINING)
    with PipelineAccount(dev) as account:
        _training_data(account, pipeline, learnable=True, seed=7)
        execution = account.run(pipeline)
    train = [s for s in execution.steps if s.name == "Train"]
    assert train, execution.failure_reason
    assert train[0].status == "Succeeded", train[0].failure


def test_staging_training_pipeline_runs_with_exactly_its_rendered_role(
    staging_learned: Outcome,
) -> None:
    execution = staging_learned.execution
    assert execution.status == "Succeeded", execution.failure_reason
    assert execution.step("CheckMetric").outcome is True  # staging's threshold: 0.7
    assert staging_learned.package is not None
    _allowed_and_exactly(staging_learned, TRAINING_ACTIONS)
    assert {(d.action, d.statement) for d in staging_learned.decisions} == TRAINING_STATEMENTS


# ---- prod: training, then batch transform on the approved version --------------------------------


def test_prod_training_pipeline_runs_with_exactly_its_rendered_role(
    prod_batch: tuple[Outcome, Outcome],
) -> None:
    trained, _ = prod_batch
    assert trained.execution.status == "Succeeded", trained.execution.failure_reason
    assert trained.execution.step("CheckMetric").outcome is True  # prod's threshold: 0.75
    assert trained.package is not None
    # registered for a person's approval (prod), who approves it before the batch run
    assert trained.package["ModelApprovalStatus"] == "PendingManualApproval"
    _allowed_and_exactly(trained, TRAINING_ACTIONS)
    assert {(d.action, d.statement) for d in trained.decisions} == TRAINING_STATEMENTS


def test_prod_batch_pipeline_runs_with_exactly_its_rendered_role(
    prod_batch: tuple[Outcome, Outcome],
) -> None:
    trained, scored = prod_batch
    execution = scored.execution
    assert execution.status == "Succeeded", execution.failure_reason
    assert [(s.name, s.status) for s in execution.steps] == [
        ("LatestApprovedPackage", "Succeeded"),
        ("CreateModel-CreateModel", "Succeeded"),
        ("BatchTransform", "Succeeded"),
    ]
    # THEN the model was created from the version prod's training registered, and it scored
    # every input row (the model's own serving functions, from its artifact)
    assert trained.package is not None
    model = execution.properties["CreateModel-CreateModel"]
    assert model["Containers"] == [{"ModelPackageName": trained.package["ModelPackageArn"]}]
    predictions = scored.extra["predictions"].decode().splitlines()
    assert len(predictions) == SCORED
    assert set(predictions) <= {"0", "1"}
    # AND the batch role's checks were all allowed, and these were all it needed
    _allowed_and_exactly(scored, BATCH_ACTIONS)
    assert {(d.action, d.statement) for d in scored.decisions} == BATCH_STATEMENTS


def _approved_version(account: PipelineAccount) -> None:
    """A version approved in the group (registered by the admin; its artifact written)."""
    group = account.plan.package_groups[0]
    bucket = account.plan.buckets["model-artifacts"]
    artifact = io.BytesIO()
    with tarfile.open(fileobj=artifact, mode="w:gz"):
        pass
    account.client("s3").put_object(
        Bucket=bucket, Key="models/churn/runs/seeded/model.tar.gz", Body=artifact.getvalue()
    )
    image = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    account.client("sagemaker").create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": image,
                    "ModelDataUrl": f"s3://{bucket}/models/churn/runs/seeded/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )


@pytest.mark.parametrize(
    ("sid", "action", "step"),
    [
        # latest_approved.py's own call, in the job: the script exits with AWS's error
        ("RegisterVersions", "sagemaker:ListModelPackages", "LatestApprovedPackage"),
        # the first job is already created with the role passed to SageMaker
        ("PassOwnRoleToSageMaker", "iam:PassRole", "LatestApprovedPackage"),
    ],
)
def test_prod_batch_fails_without_a_statement_of_its_role(
    prod: PipelinesPlan, sid: str, action: str, step: str
) -> None:
    batch = prod.pipeline(BATCH)
    with PipelineAccount(prod) as account:
        _approved_version(account)
        execution = account.run(batch.without(sid))
        denied = {d.action for d in account.server.enforcement.gaps()}
    assert execution.status == "Failed"
    assert execution.steps[-1].name == step
    assert execution.failure_reason is not None
    assert "AccessDenied" in execution.failure_reason
    assert f"not authorized to perform: {action}" in execution.failure_reason
    assert denied == {action}
