"""Training controls: the jobs a SageMaker pipeline runs, and standalone training jobs.

A pipeline's steps are not resources of their own: they live in its `pipelineDefinition`, the
SageMaker Pipelines definition JSON, whose Training, Processing and Transform steps carry the
CreateTrainingJob / CreateProcessingJob / CreateTransformJob request as `Arguments` (a Tuning
step carries a CreateHyperParameterTuningJob request, whose training job definitions are judged
like Training steps). Condition steps nest steps under `IfSteps` and `ElseSteps`; they are
walked too. An `aws:sagemaker/trainingJob:TrainingJob` resource is judged like a Training step.

Values in a definition may be references resolved when the pipeline runs rather than literals:
- `{"Get": "Parameters.X"}` is judged by the parameter's `DefaultValue`, which is what a
  scheduled or triggered execution runs with. A KMS key or role given by a parameter passes only
  when that default is a full key ARN (`arn:...:kms:<region>:<account>:key/<id>`) or role ARN:
  an alias can be re-pointed and an empty default means "no key". (An execution started with
  an override is beyond what a plan-time policy can see.)
- `{"Std:Join": ...}` is evaluated when all its parts are literals or parameter defaults.
- Anything else (a step's property, an execution variable, `Std:JsonGet`) cannot be judged at
  plan time: a control that needs its value reports it as not verifiable, by name, instead of
  calling it missing. Locations (the checkpoint S3 URI) only need to be set, so any reference
  passes there.

In a preview a definition built from other resources' outputs is not known: reading it stops
the policy and the CLI reports that it could not run during the preview (as with every value a
control is checked against). A definition that is not JSON, or kept in S3
(`pipelineDefinitionS3Location`) where the pack cannot read it, is a violation. A policy whose
control concerns no job of the pipeline (a batch pipeline has no Training step) is marked not
applicable with the reason. A job on an instance type with local NVMe storage
(`LOCAL_STORAGE_INSTANCES`) needs no volume key: SageMaker encrypts that storage in hardware and
rejects a VolumeKmsKeyId for it.

The VPC control (`sagemaker-pipeline-jobs-in-vpc`, SM-2) is a stack policy: whether a job must
run in a VPC depends on whether the stack has a network, which it infers from the subnets the
stack's models and jobs are placed in (see `_jobs_in_vpc`). It also judges a pipeline's
CreateModel steps (`Type: "Model"`), whose VpcConfig its Transform jobs run in; a stack without
a network is marked not applicable with the reason.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from ._util import as_list, is_aws_managed_key, json_value, known, mapping, number

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
TRAINING_JOB = "aws:sagemaker/trainingJob:TrainingJob"
SAGEMAKER_MODEL = "aws:sagemaker/model:Model"

TRAINING, PROCESSING, TRANSFORM = "Training", "Processing", "Transform"
MODEL = "Model"
"""A pipeline's CreateModel step (`Type: "Model"`), judged only by the VPC control."""

MAX_RUNTIME_SECONDS = {TRAINING: 28 * 86_400, PROCESSING: 777_600}
"""The longest accepted MaxRuntimeInSeconds: 28 days for training (SageMaker's maximum) and
9 days for processing (the most CreateProcessingJob accepts)."""

_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


# ---- values: literals, pipeline references, preview unknowns -----------------------------------


@dataclass(frozen=True)
class _Unknown:
    """A resource input not known during a preview (an output of another resource). `strict`
    reads it again the normal way, so a control that needs the value itself stops the policy
    and the CLI reports that it could not run during the preview."""

    read: Callable[[], Any]

    def strict(self) -> Any:
        return self.read()


def _tolerant(owner: Any, key: str) -> Any:
    """`owner[key]` from resource props; `_Unknown` when it (or `owner`) is not known yet."""
    if isinstance(owner, _Unknown):
        return owner
    if not isinstance(owner, Mapping):
        return None
    try:
        return owner.get(key)
    except UnknownValueError:
        return _Unknown(lambda: owner.get(key))


@dataclass(frozen=True)
class _Value:
    """A field of a job request as the policies judge it."""

    raw: Any
    """As written: a literal, a reference object, `_Unknown`, or None when absent."""
    value: Any = None
    """The literal, or the parameter default / joined string a reference resolves to."""
    parameter: str | None = None
    """The parameter whose default `value` is."""
    runtime: bool = False
    """Only known when the pipeline runs: `value` is meaningless."""

    @property
    def absent(self) -> bool:
        return self.raw is None or self.raw == ""

    @property
    def unknown(self) -> bool:
        return isinstance(self.raw, _Unknown)

    def concrete(self) -> Any:
        """The value for a control that must see it (a flag, a number)."""
        return self.raw.strict() if isinstance(self.raw, _Unknown) else self.value

    def describe(self) -> str:
        if self.parameter is not None:
            return f"parameter {self.parameter!r} (default {self.value!r})"
        if self.runtime or isinstance(self.raw, Mapping):
            return json.dumps(self.raw, sort_keys=True)
        return repr(self.value)


def _is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and any(
        k == "Get" or str(k).startswith("Std:") for k in value
    )


def _resolve(raw: Any, parameters: Mapping[str, Any]) -> _Value:
    if isinstance(raw, _Unknown) or not _is_reference(raw):
        return _Value(raw, raw)
    get = raw.get("Get")
    if isinstance(get, str) and get.startswith("Parameters."):
        name = get.removeprefix("Parameters.")
        declared = mapping(parameters.get(name))
        default = declared.get("DefaultValue")
        if not declared or default is None:
            return _Value(raw, runtime=True)
        return _Value(raw, default, parameter=name)
    join = mapping(raw.get("Std:Join"))
    if join and len(raw) == 1:
        parts = [_resolve(part, parameters) for part in as_list(join.get("Values"))]
        if all(not p.runtime and isinstance(p.value, str | int | float) for p in parts):
            joined = str(join.get("On", "")).join(str(p.value) for p in parts)
            return _Value(raw, joined)
    return _Value(raw, runtime=True)


# ---- jobs: the requests a pipeline's steps (or a training job resource) send -------------------


@dataclass(frozen=True)
class _Job:
    kind: str
    """TRAINING, PROCESSING or TRANSFORM (or MODEL, for the VPC control only)."""
    label: str
    """How a message names the job: `Training step "Train"`, `training job`."""
    request: Mapping[str, Any]
    """The Create*Job request, in the API's PascalCase field names."""
    parameters: Mapping[str, Any]
    """The pipeline's parameters by name (empty for a resource)."""
    camel_case: bool = False
    """Whether messages name fields as the resource's inputs (`resourceConfig.volumeKmsKeyId`)."""

    def get(self, *path: str) -> _Value:
        node: Any = self.request
        for key in path:
            if isinstance(node, _Unknown):
                break
            node = node.get(key) if isinstance(node, Mapping) else None
        return _resolve(node, self.parameters)

    def field(self, *path: str) -> str:
        if self.camel_case:
            return ".".join(p[:1].lower() + p[1:] for p in path)
        return ".".join(path)


class _UnreadableError(Exception):
    """The pipeline's definition cannot be read; the message says why."""


def _pipeline_definition(args: ResourceValidationArgs | PolicyResource) -> Mapping[str, Any]:
    text = args.props.get("pipelineDefinition")  # unknown in a preview: the policy cannot run
    if text is None or text == "":
        if known(args.props, "pipelineDefinitionS3Location") is not None:
            raise _UnreadableError(
                "pipeline definition is kept in S3 (pipelineDefinitionS3Location), where the "
                "policy pack cannot check its jobs; give it inline as pipelineDefinition."
            )
        raise _UnreadableError("pipeline has no pipelineDefinition to check.")
    definition = json_value(text)
    if isinstance(definition, str):
        raise _UnreadableError(
            "pipelineDefinition is not JSON text, so its jobs' training controls cannot be checked."
        )
    steps = definition.get("Steps") if isinstance(definition, Mapping) else None
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise _UnreadableError(
            "pipelineDefinition is not a SageMaker Pipelines definition (an object with a "
            "Steps list)."
        )
    return mapping(definition)


def _steps(steps: Any, where: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every step with where it sits, descending into Condition steps' branches."""
    for step in as_list(steps):
        if not isinstance(step, Mapping):
            continue
        yield step, where
        if step.get("Type") == "Condition":
            arguments = mapping(step.get("Arguments"))
            for branch in ("IfSteps", "ElseSteps"):
                inner = f' (in {branch} of Condition step "{step.get("Name")}")'
                yield from _steps(arguments.get(branch), inner)


def _pipeline_jobs(definition: Mapping[str, Any], *, models: bool = False) -> list[_Job]:
    """The definition's jobs; with `models`, its CreateModel steps too (as MODEL jobs)."""
    parameters = {
        str(p.get("Name")): p
        for p in as_list(definition.get("Parameters"))
        if isinstance(p, Mapping)
    }
    jobs: list[_Job] = []
    for step, where in _steps(definition.get("Steps"), ""):
        kind = step.get("Type")
        arguments = mapping(step.get("Arguments"))
        label = f'{kind} step "{step.get("Name")}"{where}'
        if kind in (TRAINING, PROCESSING, TRANSFORM):
            jobs.append(_Job(str(kind), label, arguments, parameters))
        elif kind == MODEL and models:
            jobs.append(_Job(MODEL, label, arguments, parameters))
        elif kind == "Tuning":
            if "TrainingJobDefinition" in arguments:
                request = mapping(arguments.get("TrainingJobDefinition"))
                jobs.append(_Job(TRAINING, f"{label} TrainingJobDefinition", request, parameters))
            for index, request in enumerate(as_list(arguments.get("TrainingJobDefinitions"))):
                jobs.append(
                    _Job(
                        TRAINING,
                        f"{label} TrainingJobDefinitions[{index}]",
                        mapping(request),
                        parameters,
                    )
                )
    return jobs


def _training_job(props: Mapping[str, Any]) -> _Job:
    """A TrainingJob resource's inputs as the CreateTrainingJob request its policy reads."""

    def pick(owner: Any, *keys: str) -> dict[str, Any]:
        return {k[:1].upper() + k[1:]: _tolerant(owner, k) for k in keys}

    resource = _tolerant(props, "resourceConfig")
    output = _tolerant(props, "outputDataConfig")
    stopping = _tolerant(props, "stoppingCondition")
    checkpoint = _tolerant(props, "checkpointConfig")
    request = {
        **pick(
            props,
            "roleArn",
            "enableInterContainerTrafficEncryption",
            "enableNetworkIsolation",
            "enableManagedSpotTraining",
        ),
        "ResourceConfig": pick(resource, "volumeKmsKeyId", "instanceType"),
        "OutputDataConfig": pick(output, "kmsKeyId"),
        "StoppingCondition": pick(stopping, "maxRuntimeInSeconds", "maxWaitTimeInSeconds"),
        "CheckpointConfig": pick(checkpoint, "s3Uri"),
    }
    vpc = _tolerant(props, "vpcConfig")
    if vpc is not None:
        request["VpcConfig"] = pick(vpc, "subnets", "securityGroupIds")
    return _Job(TRAINING, "training job", request, {}, camel_case=True)


def _jobs(args: ResourceValidationArgs, report: ReportViolation) -> list[_Job] | None:
    """The jobs to judge, or None when the resource is not one these policies govern (or its
    definition cannot be read, which is reported)."""
    if args.resource_type == TRAINING_JOB:
        return [_training_job(args.props)]
    if args.resource_type != PIPELINE:
        return None
    try:
        return _pipeline_jobs(_pipeline_definition(args))
    except _UnreadableError as exc:
        report(str(exc), None)
        return None


def _not_applicable(args: ResourceValidationArgs, kinds: str) -> None:
    args.not_applicable(f"the pipeline runs no {kinds} job")


# ---- the controls ------------------------------------------------------------------------------


def _key_problem(job: _Job, *path: str) -> str | None:
    found = job.get(*path)
    name = f"{job.label} {job.field(*path)}"
    if found.unknown:
        return None  # wired to another resource's output (a key the plan creates)
    if found.absent:
        return f"{name} is not set; encrypt it with the platform's customer-managed KMS key."
    if found.runtime:
        return (
            f"{name} is {found.describe()}, only known when the pipeline runs; give the key ARN "
            "or a parameter whose default is the key ARN."
        )
    if found.parameter is not None:
        if isinstance(found.value, str) and _KEY_ARN.match(found.value):
            return None
        return f"{name} is {found.describe()}, whose default is not a KMS key ARN."
    if not isinstance(found.value, str) or is_aws_managed_key(found.value):
        return (
            f"{name} {found.value!r} is not the platform's customer-managed KMS key (an "
            "AWS-managed key's policy is not the platform's to control)."
        )
    return None


_KEYS: dict[str, list[tuple[str, ...]]] = {
    TRAINING: [("ResourceConfig", "VolumeKmsKeyId"), ("OutputDataConfig", "KmsKeyId")],
    PROCESSING: [("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId")],
    TRANSFORM: [("TransformOutput", "KmsKeyId"), ("TransformResources", "VolumeKmsKeyId")],
}
_INSTANCE_TYPE = {
    TRAINING: ("ResourceConfig", "InstanceType"),
    PROCESSING: ("ProcessingResources", "ClusterConfig", "InstanceType"),
    TRANSFORM: ("TransformResources", "InstanceType"),
}

LOCAL_STORAGE_INSTANCES = re.compile(
    r"^ml\.(?:[a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p5|p5e|p5en|trn1|trn1n)\."
)
"""Instance types whose storage is local NVMe, encrypted by a hardware module: SageMaker
rejects a VolumeKmsKeyId for them, so their volume key is not required."""


def _volume_exempt(job: _Job, path: tuple[str, ...]) -> bool:
    if path[-1] != "VolumeKmsKeyId":
        return False
    instance = job.get(*_INSTANCE_TYPE[job.kind])
    return isinstance(instance.value, str) and bool(LOCAL_STORAGE_INSTANCES.match(instance.value))


def _job_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    if not jobs:
        _not_applicable(args, "Training, Processing or Transform")
    for job in jobs:
        paths = list(_KEYS[job.kind])
        if job.kind == PROCESSING and as_list(
            mapping(job.request.get("ProcessingOutputConfig")).get("Outputs")
        ):
            paths.append(("ProcessingOutputConfig", "KmsKeyId"))
        for path in paths:
            if _volume_exempt(job, path):
                continue
            problem = _key_problem(job, *path)
            if problem is not None:
                report(problem, None)


def _flag_problem(job: _Job, *path: str) -> str | None:
    """Why the flag at `path` is not true; None when it is."""
    found = job.get(*path)
    name = f"{job.label} {job.field(*path)}"
    if found.runtime:
        return f"{name} is {found.describe()}, only known when the pipeline runs; set it to true."
    if found.concrete() is True:
        return None
    if found.absent:
        return f"{name} is not set; set it to true."
    return f"{name} is {found.describe()}; set it to true."


def _traffic_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    jobs = [j for j in jobs if j.kind in (TRAINING, PROCESSING)]
    if not jobs:
        _not_applicable(args, "Training or Processing")
    for job in jobs:
        path: tuple[str, ...] = ("EnableInterContainerTrafficEncryption",)
        if job.kind == PROCESSING:
            path = ("NetworkConfig", *path)
        problem = _flag_problem(job, *path)
        if problem is not None:
            report(f"{problem} (inter-container traffic encryption)", None)


def _max_runtime(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    jobs = [j for j in jobs if j.kind in (TRAINING, PROCESSING)]
    if not jobs:
        _not_applicable(args, "Training or Processing")
    for job in jobs:
        limit = MAX_RUNTIME_SECONDS[job.kind]
        found = job.get("StoppingCondition", "MaxRuntimeInSeconds")
        name = f"{job.label} {job.field('StoppingCondition', 'MaxRuntimeInSeconds')}"
        if found.absent:
            report(f"{name} is not set; bound the job's runtime (1 to {limit} seconds).", None)
            continue
        if found.runtime:
            report(
                f"{name} is {found.describe()}, only known when the pipeline runs; give a "
                f"literal or a parameter default of 1 to {limit} seconds.",
                None,
            )
            continue
        seconds = number(found.concrete())
        if seconds is None or not 1 <= seconds <= limit:
            report(f"{name} is {found.describe()}; 1 to {limit} seconds accepted.", None)


def _spot_checkpoints(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    spot: list[_Job] = []
    for job in jobs:
        if job.kind != TRAINING:
            continue
        enabled = job.get("EnableManagedSpotTraining")
        # A flag only known at run time may turn Spot on, so such a job is held to the control.
        if enabled.runtime or enabled.concrete() is True:
            spot.append(job)
    if not spot:
        args.not_applicable("no training job of this resource uses managed Spot")
    for job in spot:
        checkpoint = job.get("CheckpointConfig", "S3Uri")
        if checkpoint.absent:
            report(
                f"{job.label} uses managed Spot without {job.field('CheckpointConfig', 'S3Uri')}; "
                "an interrupted job would start over.",
                None,
            )
        wait = job.get("StoppingCondition", "MaxWaitTimeInSeconds")
        wait_name = f"{job.label} {job.field('StoppingCondition', 'MaxWaitTimeInSeconds')}"
        if wait.absent:
            report(
                f"{wait_name} is not set; managed Spot needs it (at least the max runtime).", None
            )
            continue
        if wait.runtime:
            report(f"{wait_name} is {wait.describe()}, only known when the pipeline runs.", None)
            continue
        runtime = job.get("StoppingCondition", "MaxRuntimeInSeconds")
        run_seconds = None if runtime.absent or runtime.runtime else number(runtime.concrete())
        wait_seconds = number(wait.concrete())
        if wait_seconds is None:
            report(f"{wait_name} is {wait.describe()}, not a number of seconds.", None)
        elif run_seconds is not None and wait_seconds < run_seconds:
            report(
                f"{wait_name} is {wait_seconds:g}, below MaxRuntimeInSeconds {run_seconds:g}; "
                "the wait for Spot capacity includes the runtime.",
                None,
            )


def allowed_without_isolation(args: ResourceValidationArgs, name: Any) -> str | None:
    patterns = [str(p) for p in as_list(args.get_config().get("allowWithoutIsolation"))]
    if isinstance(name, str):
        for pattern in patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return pattern
    return None


def _network_isolation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    name = known(
        args.props, "pipelineName" if args.resource_type == PIPELINE else "trainingJobName"
    )
    pattern = allowed_without_isolation(args, name)
    if pattern is not None:
        args.not_applicable(
            f"{name!r} matches {pattern!r} in the policy config allowWithoutIsolation"
        )
    jobs = [j for j in jobs if j.kind == TRAINING]
    if not jobs:
        _not_applicable(args, "Training")
    for job in jobs:
        problem = _flag_problem(job, "EnableNetworkIsolation")
        if problem is not None:
            report(
                f"{problem} (network isolation; or list the pipeline in the policy config "
                "allowWithoutIsolation)",
                None,
            )


def _role_problem(found: _Value, expected: Any) -> str | None:
    """Why a role reference is not acceptable: absent, a wildcard, not a role ARN."""
    if found.unknown:
        return None
    if found.absent:
        return "is not set; every job runs with an explicit execution role."
    if found.runtime:
        return f"is {found.describe()}, only known when the pipeline runs."
    value = found.value
    if isinstance(expected, str) and value == expected:
        return None
    if not isinstance(value, str) or "*" in value or not _ROLE_ARN.match(value):
        return f"is {found.describe()}, not an IAM role ARN."
    return None


def _role(args: ResourceValidationArgs, report: ReportViolation) -> None:
    jobs = _jobs(args, report)
    if jobs is None:
        return
    expected: Any = None
    if args.resource_type == PIPELINE:
        expected = _tolerant(args.props, "roleArn")
        problem = _role_problem(_Value(expected, expected), None)
        if problem is not None:
            report(f"pipeline roleArn {problem}", None)
    jobs = [j for j in jobs if j.kind in (TRAINING, PROCESSING)]
    for job in jobs:
        problem = _role_problem(job.get("RoleArn"), expected)
        if problem is not None:
            report(f"{job.label} {job.field('RoleArn')} {problem}", None)


# ---- the VPC control (a stack policy) -----------------------------------------------------------

_VPC_CONFIG: dict[str, tuple[str, ...]] = {
    TRAINING: ("VpcConfig",),
    PROCESSING: ("NetworkConfig", "VpcConfig"),
    MODEL: ("VpcConfig",),
}
"""Where each kind of job request says which subnets it runs in. A Transform job has none: it
runs in the VPC of its model, which a pipeline's CreateModel step (MODEL) gives."""

MIN_SUBNETS = 2
"""A job's subnets span at least two Availability Zones."""

_NO_NETWORK = (
    "the stack has no network: no SageMaker model, pipeline job or training job of the stack is "
    "placed in VPC subnets, which is how the policy tells that the stack config gives one "
    "(network.subnetIds)"
)


@dataclass(frozen=True)
class _PlacedJob:
    """A job of the stack that can run in a VPC, with the resource that declares it."""

    resource: PolicyResource
    subject: str
    """How a message names it: `SageMaker pipeline 'p' Training step "Train"`."""
    job: _Job

    @property
    def path(self) -> tuple[str, ...]:
        return _VPC_CONFIG[self.job.kind]

    def field(self, *inner: str) -> str:
        """How a message names the VpcConfig (or a field of it) in the job's request."""
        return self.job.field(*self.path, *inner)

    def subnets(self) -> tuple[list[str], list[str]]:
        """The subnet ids the job names (literals and parameter defaults, deduplicated, in
        order), and why any other entry cannot be judged."""
        raw = self.job.get(*self.path, "Subnets").raw
        if isinstance(raw, _Unknown):
            raw = raw.strict()  # checked against the network: an unknown one stops the policy
        if _is_reference(raw):
            return [], [f"{self.field('Subnets')} is {json.dumps(raw, sort_keys=True)}, not a list"]
        found: list[str] = []
        problems: list[str] = []
        for index, entry in enumerate(as_list(raw)):
            value = _resolve(entry, self.job.parameters)
            if value.runtime or not isinstance(value.value, str) or not value.value:
                problems.append(
                    f"{self.field('Subnets')}[{index}] is {value.describe()}, which names no "
                    "subnet at plan time; give the subnet id or a parameter whose default is it"
                )
            elif value.value not in found:
                found.append(value.value)
        return found, problems


def _stack_jobs(
    args: StackValidationArgs,
) -> tuple[list[_PlacedJob], list[tuple[PolicyResource, str]]]:
    """Every Training, Processing, Tuning and CreateModel job of the stack's pipelines and its
    training job resources; and the pipelines whose definition cannot be read, with why."""
    placed: list[_PlacedJob] = []
    unreadable: list[tuple[PolicyResource, str]] = []
    for resource in args.resources:
        if resource.resource_type == PIPELINE:
            name = known(resource.props, "pipelineName") or resource.name
            try:
                jobs = _pipeline_jobs(_pipeline_definition(resource), models=True)
            except _UnreadableError as exc:
                unreadable.append((resource, f"SageMaker pipeline {name!r}: {exc}"))
                continue
            placed.extend(
                _PlacedJob(resource, f"SageMaker pipeline {name!r} {job.label}", job)
                for job in jobs
                if job.kind in _VPC_CONFIG
            )
        elif resource.resource_type == TRAINING_JOB:
            name = known(resource.props, "trainingJobName") or resource.name
            placed.append(
                _PlacedJob(
                    resource, f"SageMaker training job {name!r}", _training_job(resource.props)
                )
            )
    return placed, unreadable


def _model_subnets(args: StackValidationArgs) -> list[str]:
    """The subnets the stack's SageMaker models are placed in (vpcConfig.subnets)."""
    found: list[str] = []
    for resource in args.resources:
        if resource.resource_type != SAGEMAKER_MODEL:
            continue
        vpc = mapping(resource.props.get("vpcConfig"))
        for subnet in as_list(vpc.get("subnets")):
            if isinstance(subnet, str) and subnet and subnet not in found:
                found.append(subnet)
    return found


def _vpc_problems(placed: _PlacedJob, network: list[str]) -> list[str]:
    """Why a job does not run in the stack's network with a security group."""
    vpc = placed.job.get(*placed.path)
    subnets_named = f"the stack's network subnets {sorted(network)}"
    if vpc.absent:
        return [
            f"sets no {placed.field()}, so it runs outside the stack's VPC; give {placed.field()} "
            f"with {subnets_named} and a security group."
        ]
    if vpc.runtime or not isinstance(vpc.raw, Mapping | _Unknown):
        return [
            f"{placed.field()} is {vpc.describe()}, not known at plan time; give {subnets_named} "
            "and a security group."
        ]
    problems: list[str] = []
    subnets, unreadable = placed.subnets()
    problems.extend(f"{problem}." for problem in unreadable)
    foreign = sorted(set(subnets) - set(network))
    missing = sorted(set(network) - set(subnets))
    given = f"{placed.field('Subnets')} {sorted(subnets)}"
    if foreign:
        problems.append(
            f"{given} includes {foreign}, outside {subnets_named}; run the job in the stack's "
            "network."
        )
    elif len(subnets) < MIN_SUBNETS and not unreadable:
        problems.append(
            f"{given} has {len(subnets)} distinct subnet(s); give at least {MIN_SUBNETS}, in "
            f"different Availability Zones: {subnets_named}."
        )
    elif missing and not unreadable:
        problems.append(f"{given} leaves out {missing} of {subnets_named}; give all of them.")
    groups = placed.job.get(*placed.path, "SecurityGroupIds")
    if not groups.unknown and not as_list(groups.raw):
        problems.append(
            f"{placed.field('SecurityGroupIds')} is not set; give at least one security group."
        )
    return problems


def _jobs_in_vpc(args: StackValidationArgs, report: ReportViolation) -> None:
    """SM-2: SageMaker training and processing run in a VPC when the stack config gives one.

    A policy cannot read the stack config, so the stack's network is inferred from its
    resources: the subnets its SageMaker models are placed in (`vpcConfig.subnets`, which the
    inference component sets from `network.subnetIds`) or, when no model is in a VPC, the
    subnets its pipeline jobs and training jobs are placed in (`VpcConfig.Subnets`). A stack
    none of whose models and jobs is in subnets has no network by this evidence and the policy
    is marked not applicable, with the reason.

    With a network, every Training and Processing step, every training job definition of a
    Tuning step and every CreateModel step (`Type: "Model"`, whose VpcConfig the Transform jobs
    using the model run in) of every pipeline, and every training job resource, carries a
    VpcConfig (a Processing step's under NetworkConfig) whose subnets are exactly the
    network's, at least two, and a security group; a job in other subnets, in only some of
    them, or in one subnet is a violation naming the pipeline, the step and the subnets. A
    subnet given as `{"Get": "Parameters.X"}` is judged by the parameter's default; one only
    known when the pipeline runs cannot be judged and is reported. A security group only needs
    to be set (a reference, or in a preview an output of another resource, passes). An
    unreadable definition (not JSON, kept in S3) is reported on the pipeline.

    What the inference cannot see: a stack whose config gives a network while none of its
    models and pipeline jobs is placed in it looks like a stack without a network, and the
    policy is not applicable to it. That the pipeline definition carries the configured
    subnets is asserted by the component tests: tests/training/test_pipeline_definition.py
    renders the training pipeline with `subnet_ids` and checks the Training step's VpcConfig
    and every Processing step's NetworkConfig.VpcConfig.Subnets.
    """
    placed, unreadable = _stack_jobs(args)
    network = _model_subnets(args)
    if not network:
        for each in placed:
            if not each.job.get(*each.path).absent:
                network.extend(s for s in each.subnets()[0] if s not in network)
    if not network:
        args.not_applicable(_NO_NETWORK)
    for resource, message in unreadable:
        report(message, resource.urn)
    if not placed and not unreadable:
        args.not_applicable(
            f"the stack has a network (subnets {sorted(network)}) but runs no SageMaker "
            "training, processing, tuning or model-creating pipeline job"
        )
    for each in placed:
        for problem in _vpc_problems(each, network):
            report(f"{each.subject} {problem}", each.resource.urn)


# ---- the policies ------------------------------------------------------------------------------


def _policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


TRAINING_POLICIES = (
    _policy(
        "sagemaker-pipeline-job-encryption",
        "SageMaker pipeline jobs and training jobs encrypt their volumes and outputs with a "
        "customer-managed KMS key (training: ResourceConfig.VolumeKmsKeyId and "
        "OutputDataConfig.KmsKeyId; processing: ClusterConfig.VolumeKmsKeyId and "
        "ProcessingOutputConfig.KmsKeyId; transform: TransformResources.VolumeKmsKeyId and "
        "TransformOutput.KmsKeyId).",
        _job_encryption,
    ),
    _policy(
        "sagemaker-pipeline-traffic-encryption",
        "SageMaker training and processing jobs encrypt inter-container traffic.",
        _traffic_encryption,
    ),
    _policy(
        "sagemaker-pipeline-max-runtime",
        "SageMaker training and processing jobs bound their runtime "
        "(StoppingCondition.MaxRuntimeInSeconds; at most 28 days, 9 for processing).",
        _max_runtime,
    ),
    _policy(
        "sagemaker-pipeline-spot-checkpoints",
        "SageMaker training jobs on managed Spot checkpoint to S3 and wait at least their "
        "maximum runtime.",
        _spot_checkpoints,
    ),
    _policy(
        "sagemaker-pipeline-network-isolation",
        "SageMaker training jobs run network-isolated (SH SageMaker.5 and CKV_AWS_370 carried "
        "over from models), unless the pipeline is listed in allowWithoutIsolation.",
        _network_isolation,
        PolicyConfigSchema(
            properties={
                "allowWithoutIsolation": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                }
            }
        ),
    ),
    _policy(
        "sagemaker-pipeline-role",
        "A SageMaker pipeline has an execution role and every training and processing job in "
        "it runs with that role or another IAM role ARN, never a wildcard.",
        _role,
    ),
    StackValidationPolicy(
        name="sagemaker-pipeline-jobs-in-vpc",
        description=(
            "When the stack has a network (its SageMaker models or jobs run in VPC subnets), "
            "every training, processing and tuning job of its pipelines, every model a "
            "pipeline creates and every training job runs in the network's subnets (at least "
            "two) with a security group; not applicable to a stack without a network."
        ),
        validate=_jobs_in_vpc,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
