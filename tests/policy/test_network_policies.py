"""SM-2, SageMaker training and processing in a VPC when the stack config gives one
(`sagemaker-pipeline-jobs-in-vpc`): the stack's network is inferred from the subnets its models
and jobs are placed in; with one, every Training, Processing, Tuning and CreateModel job of every
pipeline (also nested in a Condition step) and every training job runs in exactly those subnets,
at least two, with a security group; without one the policy is not applicable, with the reason.
The shipped stacks planned with a network pass; the same plan with a step's VpcConfig removed
does not."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from planner.mocks import Registration
from planner.policies import PolicyReport, evaluate
from policy.mlops_policies import POLICIES
from tests.conftest import plan_with
from tests.policy.test_policies import record
from tests.policy.test_training_policies import (
    PIPELINE,
    URN,
    _definition,
    _pinned_provider,
    _pipeline,
    _step,
    _training_job,
)

NAME = "sagemaker-pipeline-jobs-in-vpc"
POLICY = tuple(p for p in POLICIES if p.name == NAME)
MODEL = "aws:sagemaker/model:Model"
STACK_URN = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"]
OTHER_SUBNETS = ["subnet-0c3d4e5f607182930", "subnet-0d4e5f60718293a41"]
GROUP = "sg-0123456789abcdef0"
P = "SageMaker pipeline 'mlops-prod-churn-training'"
NET = "the stack's network subnets ['subnet-0a1b2c3d4e5f60718', 'subnet-0b2c3d4e5f6071829']"
NO_NETWORK = (
    "the stack has no network: no SageMaker model, pipeline job or training job of the stack is "
    "placed in VPC subnets, which is how the policy tells that the stack config gives one "
    "(network.subnetIds)"
)
NS = "mlops-platform:"
NETWORK = {"vpcId": "vpc-0123456789abcdef0", "subnetIds": SUBNETS, "securityGroupIds": [GROUP]}


def _vpc(subnets: list[str] | None = None) -> dict[str, Any]:
    return {"Subnets": list(SUBNETS if subnets is None else subnets), "SecurityGroupIds": [GROUP]}


def _in_vpc() -> dict[str, Any]:
    """The training module's compliant definition, every job in the stack's subnets."""
    definition = _definition()
    _step(definition, "Train")["VpcConfig"] = _vpc()
    for name in ("Validate", "Evaluate"):
        _step(definition, name)["NetworkConfig"]["VpcConfig"] = _vpc()
    return definition


def _edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    definition = copy.deepcopy(_in_vpc())
    change(definition)
    return definition


def _model(subnets: list[str] | None = None, name: str = "churn") -> Registration:
    inputs: dict[str, Any] = {"name": name, "enableNetworkIsolation": True}
    if subnets:
        inputs["vpcConfig"] = {"subnets": subnets, "securityGroupIds": [GROUP]}
    return record(MODEL, name, inputs)


def _evaluate(*resources: Registration) -> PolicyReport:
    return evaluate([_pinned_provider(), *resources], POLICY)


def _findings(*resources: Registration) -> list[tuple[str, str]]:
    report = _evaluate(*resources)
    assert all(v.policy == NAME and v.enforcement == "mandatory" for v in report.violations)
    return [(v.urn, v.message) for v in report.violations]


def _not_applicable(*resources: Registration) -> list[str]:
    report = _evaluate(*resources)
    assert all(n.urn == STACK_URN for n in report.not_applicable)
    return [n.message for n in report.not_applicable]


def test_the_policy_is_a_mandatory_stack_policy() -> None:
    (policy,) = POLICY
    assert policy.enforcement_level is not None
    assert policy.enforcement_level.value == "mandatory"
    assert policy.description == (
        "When the stack has a network (its SageMaker models or jobs run in VPC subnets), every "
        "training, processing and tuning job of its pipelines, every model a pipeline creates "
        "and every training job runs in the network's subnets (at least two) with a security "
        "group; not applicable to a stack without a network."
    )


def test_models_and_jobs_in_the_same_vpc_pass() -> None:
    resources = (_model(SUBNETS), _model(SUBNETS, "shadow"), _pipeline(_in_vpc()))
    assert _findings(*resources) == []
    assert _not_applicable(*resources) == []


def test_a_stack_without_a_network_is_not_applicable() -> None:
    resources = (_model(), _pipeline(_definition()), _training_job())
    assert _findings(*resources) == []
    assert _not_applicable(*resources) == [NO_NETWORK]


def test_a_network_without_jobs_is_not_applicable() -> None:
    assert _findings(_model(SUBNETS)) == []
    assert _not_applicable(_model(SUBNETS)) == [
        "the stack has a network (subnets ['subnet-0a1b2c3d4e5f60718', "
        "'subnet-0b2c3d4e5f6071829']) but runs no SageMaker training, processing, tuning or "
        "model-creating pipeline job"
    ]


def _nest_train(definition: dict[str, Any]) -> None:
    train = next(s for s in definition["Steps"] if s["Name"] == "Train")
    definition["Steps"].remove(train)
    _step(definition, "Gate")["IfSteps"].insert(0, train)
    del train["Arguments"]["VpcConfig"]


def _one_tuning_step(definition: dict[str, Any]) -> None:
    train = next(s for s in definition["Steps"] if s["Name"] == "Train")
    request = train["Arguments"]
    request["VpcConfig"]["SecurityGroupIds"] = []
    train.update(
        Name="Tune",
        Type="Tuning",
        Arguments={"HyperParameterTuningJobConfig": {}, "TrainingJobDefinition": request},
    )


VIOLATIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "processing-without-vpc-config",
        lambda d: _step(d, "Validate")["NetworkConfig"].pop("VpcConfig"),
        f'{P} Processing step "Validate" sets no NetworkConfig.VpcConfig, so it runs outside the '
        f"stack's VPC; give NetworkConfig.VpcConfig with {NET} and a security group.",
    ),
    (
        "training-in-one-subnet",
        lambda d: _step(d, "Train")["VpcConfig"].update(Subnets=SUBNETS[:1]),
        f"{P} Training step \"Train\" VpcConfig.Subnets ['subnet-0a1b2c3d4e5f60718'] has 1 "
        f"distinct subnet(s); give at least 2, in different Availability Zones: {NET}.",
    ),
    (
        "training-in-other-subnets",
        lambda d: _step(d, "Train")["VpcConfig"].update(Subnets=OTHER_SUBNETS),
        f"{P} Training step \"Train\" VpcConfig.Subnets ['subnet-0c3d4e5f607182930', "
        "'subnet-0d4e5f60718293a41'] includes ['subnet-0c3d4e5f607182930', "
        f"'subnet-0d4e5f60718293a41'], outside {NET}; run the job in the stack's network.",
    ),
    (
        "training-nested-in-a-condition",
        _nest_train,
        f'{P} Training step "Train" (in IfSteps of Condition step "Gate") sets no VpcConfig, so '
        f"it runs outside the stack's VPC; give VpcConfig with {NET} and a security group.",
    ),
    (
        "tuning-without-security-group",
        _one_tuning_step,
        f'{P} Tuning step "Tune" TrainingJobDefinition VpcConfig.SecurityGroupIds is not set; '
        "give at least one security group.",
    ),
    (
        "subnet-parameter-default-outside",
        lambda d: (
            d["Parameters"].append(
                {"Name": "Subnet", "Type": "String", "DefaultValue": OTHER_SUBNETS[0]}
            ),
            _step(d, "Train")["VpcConfig"].update(
                Subnets=[SUBNETS[0], {"Get": "Parameters.Subnet"}]
            ),
        ),
        f"{P} Training step \"Train\" VpcConfig.Subnets ['subnet-0a1b2c3d4e5f60718', "
        "'subnet-0c3d4e5f607182930'] includes ['subnet-0c3d4e5f607182930'], outside "
        f"{NET}; run the job in the stack's network.",
    ),
    (
        "subnet-only-known-at-run-time",
        lambda d: _step(d, "Train")["VpcConfig"].update(
            Subnets=[SUBNETS[0], {"Get": "Steps.Validate.Subnet"}]
        ),
        f'{P} Training step "Train" VpcConfig.Subnets[1] is {{"Get": "Steps.Validate.Subnet"}}, '
        "which names no subnet at plan time; give the subnet id or a parameter whose default "
        "is it.",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [case[1:] for case in VIOLATIONS],
    ids=[case[0] for case in VIOLATIONS],
)
def test_a_job_outside_the_models_network_is_reported(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    assert _findings(_model(SUBNETS), _pipeline(_edited(change))) == [(URN, message)]


def test_a_subnet_parameter_is_judged_by_its_default() -> None:
    def parameter(definition: dict[str, Any]) -> None:
        definition["Parameters"].append(
            {"Name": "Subnet", "Type": "String", "DefaultValue": SUBNETS[1]}
        )
        _step(definition, "Train")["VpcConfig"]["Subnets"] = [
            SUBNETS[0],
            {"Get": "Parameters.Subnet"},
        ]

    assert _findings(_model(SUBNETS), _pipeline(_edited(parameter))) == []


def test_a_job_in_part_of_the_network_is_reported() -> None:
    network = [*SUBNETS, OTHER_SUBNETS[0]]  # the models are in three subnets, the jobs in two
    assert [m for _, m in _findings(_model(network), _pipeline(_in_vpc()))] == [
        f"{P} {step} {field}.Subnets {sorted(SUBNETS)} leaves out "
        f"['subnet-0c3d4e5f607182930'] of the stack's network subnets {sorted(network)}; give "
        "all of them."
        for step, field in (
            ('Processing step "Validate"', "NetworkConfig.VpcConfig"),
            ('Training step "Train"', "VpcConfig"),
            ('Processing step "Evaluate"', "NetworkConfig.VpcConfig"),
        )
    ]


def test_without_models_the_network_is_the_jobs_subnets() -> None:
    """A training-only stack: the other jobs' subnets show the network."""
    change: Callable[[dict[str, Any]], None] = lambda d: _step(d, "Train").pop("VpcConfig")  # noqa: E731
    assert _findings(_pipeline(_edited(change))) == [
        (
            URN,
            f'{P} Training step "Train" sets no VpcConfig, so it runs outside the stack\'s VPC; '
            f"give VpcConfig with {NET} and a security group.",
        )
    ]


def test_a_create_model_step_and_a_training_job_are_held_to_the_network() -> None:
    create_model = {
        "Name": "CreateModel-CreateModel",
        "Type": "Model",
        "Arguments": {
            "Containers": [{"ModelPackageName": "arn:aws:sagemaker:eu-west-1:1:model-package/x"}],
            "EnableNetworkIsolation": True,
            "ExecutionRoleArn": "arn:aws:iam::111111111111:role/x",
        },
    }
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [create_model]}
    job = _training_job(vpcConfig={"subnets": SUBNETS[1:], "securityGroupIds": [GROUP]})
    assert _findings(_model(SUBNETS), _pipeline(definition), job) == [
        (
            URN,
            f'{P} Model step "CreateModel-CreateModel" sets no VpcConfig, so it runs outside the '
            f"stack's VPC; give VpcConfig with {NET} and a security group.",
        ),
        (
            job.urn,
            "SageMaker training job 'churn-adhoc' vpcConfig.subnets ['subnet-0b2c3d4e5f6071829'] "
            f"has 1 distinct subnet(s); give at least 2, in different Availability Zones: {NET}.",
        ),
    ]
    create_model["Arguments"]["VpcConfig"] = _vpc()  # type: ignore[index]
    job = _training_job(vpcConfig={"subnets": SUBNETS, "securityGroupIds": [GROUP]})
    assert _findings(_model(SUBNETS), _pipeline(definition), job) == []


def test_an_unreadable_definition_is_reported_when_the_stack_has_a_network() -> None:
    pipeline = _pipeline(_definition(), pipelineDefinition="{not json")
    assert _findings(_model(SUBNETS), pipeline) == [
        (
            URN,
            f"{P}: pipelineDefinition is not JSON text, so its jobs' training controls cannot be "
            "checked.",
        )
    ]
    assert _not_applicable(pipeline) == [NO_NETWORK]


# ---- the shipped stacks, planned with a network --------------------------------------------------


@pytest.fixture(scope="module")
def dev_with_network() -> list[Registration]:
    return plan_with("dev", {f"{NS}network": NETWORK}).registrations


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_with_a_network_pass(stack: str) -> None:
    """prod also has the batch pipeline: its lookup job and its CreateModel step. The whole
    pack passes: the VPC placement's IAM statements included (`iam-least-privilege`)."""
    registrations = plan_with(stack, {f"{NS}network": NETWORK}).registrations
    report = evaluate(registrations)
    assert [(v.policy, v.message) for v in report.violations] == []
    assert [n for n in report.not_applicable if n.policy == NAME] == []
    pipelines = [r for r in registrations if r.type == PIPELINE]
    assert len(pipelines) == (2 if stack == "prod" else 1)


def test_dev_with_a_step_outside_the_network_fails(
    dev_with_network: list[Registration],
) -> None:
    (pipeline,) = [r for r in dev_with_network if r.type == PIPELINE]
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    (train,) = [s for s in definition["Steps"] if s["Type"] == "Training"]
    del train["Arguments"]["VpcConfig"]
    edited = replace(
        pipeline, inputs={**pipeline.inputs, "pipelineDefinition": json.dumps(definition)}
    )
    registrations = [edited if r is pipeline else r for r in dev_with_network]
    name = pipeline.inputs["pipelineName"]
    found = [(v.policy, v.urn, v.message) for v in evaluate(registrations).violations]
    assert [f for f in found if f[0] == NAME] == [
        (
            NAME,
            pipeline.urn,
            f'SageMaker pipeline {name!r} Training step "{train["Name"]}" sets no VpcConfig, so it '
            "runs outside the stack's VPC; give VpcConfig with the stack's network subnets "
            f"{sorted(SUBNETS)} and a security group.",
        )
    ]
