"""SageMaker Pipelines, offline: a rendered pipeline definition run step by step with its role.

moto records a pipeline execution and marks it Succeeded at once; it runs no step. This module
runs the definition the plan renders (`aws:sagemaker/pipeline:Pipeline.pipelineDefinition`)
itself, on moto's server with IAM enforced (`loop.server`, `loop.iam`), with temporary
credentials of the pipeline's role, created in moto's IAM with exactly the plan's inline policy
(`read_pipelines`: the role the pipeline names, its one `aws:iam/rolePolicy:RolePolicy`, no
attachments), so every call SageMaker would make with that role is decided by that policy.

The interpreter (`PipelineAccount.run`)
---------------------------------------
Steps run one at a time in dependency order (a step's `DependsOn` and every `Steps.<name>`
reference in its arguments). Expressions are resolved as SageMaker resolves them: `Get` of
`Parameters.*` (the defaults, or the execution's values), `Execution.PipelineExecutionId`,
`PipelineExecutionArn` and `PipelineName`, and `Steps.<name>.<property path>` from what the
earlier step produced (its Describe* shape: `ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri`,
`ModelArtifacts.S3ModelArtifacts`, `ModelName`, `ModelPackageArn`); `Std:Join`; `Std:JsonGet`
on a property file, read from S3 with the role as SageMaker reads it. A Condition step
evaluates its real conditions (`Equals`, `GreaterThan[OrEqualTo]`, `LessThan[OrEqualTo]`, `In`,
`Not`, `Or`) and runs its if or else steps; a Fail step fails the execution with its message.

What is executed for real (each a signed request to moto with the role's credentials, decided
by `loop.iam`'s evaluator, unless said otherwise):
- the control plane the pipeline service drives with the pipeline's role: CreateProcessingJob,
  CreateTrainingJob, CreateTransformJob, CreateModel, CreateModelPackage with the step's
  resolved Arguments (moto validates them against the service model), then the job's
  Describe*, which the service polls;
- the job's platform calls with the job's role: `ecr:GetAuthorizationToken` and
  `ecr:BatchGetImage` of each image's repository (seeded in moto under the image's repository
  name), `logs:CreateLogGroup` (when the group is new), `CreateLogStream` and `PutLogEvents` in
  `/aws/sagemaker/{ProcessingJobs,TrainingJobs,TransformJobs}` (the container's real output),
  `cloudwatch:PutMetricData` in `/aws/sagemaker/...`, and with a VpcConfig the EC2 calls
  (`DescribeSubnets`, `DescribeSecurityGroups`, `DescribeVpcs`, `DescribeDhcpOptions`,
  `CreateNetworkInterface`, `DescribeNetworkInterfaces`, `DeleteNetworkInterface`) on a VPC,
  subnets and security groups seeded in moto for the ids the definition names (moto gives
  them its own ids: the calls use those);
- the job's data plane with the job's role: each S3 input listed (`ListObjectsV2` on its
  prefix) and read (`GetObject`), each output, model artifact and checkpoint written
  (`PutObject`, SSE-KMS under the key the definition names), with the KMS checks S3 makes
  with the caller's identity (`kms:Decrypt`, `kms:GenerateDataKey`, `loop.iam`);
- the step code, in its own process, on inputs laid out like the container's
  (`/opt/ml/processing/...`, `/opt/ml/input/data/<channel>`, `/opt/ml/model`) under a temporary
  folder: pipelines/steps/validate.py, evaluate.py, latest_approved.py (with the role's
  credentials and the server's endpoint, since its job has the network) and the model's
  training script as the training toolkit runs it (`sourcedir.tar.gz` extracted,
  `--<hyperparameter> <value>`, `SM_MODEL_DIR`, `SM_CHANNEL_<NAME>`); a job with network
  isolation gets no credentials. The interpreter is the scikit-learn image's stand-in:
  `.venv-sagemaker`'s Python (pandas, numpy, boto3) with this environment's scikit-learn,
  SciPy, joblib, threadpoolctl and narwhals put on its path (`image_python`); its pandas 3 is
  set to read text columns as `object`, as the images' pandas (< 3) does (`IMAGE_PANDAS`).
- batch transform: the model's own serving functions (`model_fn`, `input_fn`, `predict_fn`
  of the program the model package names) on each input file, the result written as
  `<file>.out`.

What is simulated (evaluated with `loop.iam`'s evaluator, logged as decisions like the others,
because moto does not make the check or does not implement the call; the checks AWS makes as
part of a Create* request are evaluated right after moto answered it, so a refused one fails
the step, though moto keeps the record AWS would not have created):
- `iam:PassRole` of the step's role with `iam:PassedToService=sagemaker.amazonaws.com`
  (CreateProcessingJob, CreateTrainingJob: `RoleArn`; CreateModel: `ExecutionRoleArn`);
- `sagemaker:AddTags` on the created resource, with `sagemaker:TaggingAction` = the Create*
  operation, when the request carries tags (SageMaker checks it for tags given at creation);
- `kms:CreateGrant` on the job's `VolumeKmsKeyId` with `kms:GrantIsForAWSResource=true` and
  `kms:ViaService=sagemaker.<region>.amazonaws.com` (the encrypted volume's grant);
- `ecr:GetDownloadUrlForLayer` of each layer of the image's manifest (moto does not implement
  it) and `ec2:CreateNetworkInterfacePermission` on the job's interface (nor that).
- the training toolkit and the serving container are stand-ins: the toolkit's argument and
  environment conventions are followed, `requirements.txt` in a source directory is refused
  (not installed); `SM_CHECKPOINT_DIR` points the script at the checkpoint folder (the
  container's `/opt/ml/checkpoints`); batch transform sends each input file as one request
  (no mini-batching by `MaxPayloadInMB`) and, without an `output_fn`, writes one CSV line per
  prediction row as the scikit-learn container's default encoder does.
- what the service does with its own identity: reading the model (and its package) a
  transform job runs, the pipeline's own bookkeeping. The account: the admin is created in
  the plan's account (`loop.harness.in_account`), so prod's roles and resources are in
  111111111111 as its ARNs say.
Not run: the debugger (no rules configured), the SageMaker Experiments trial the
`PipelineExecutionConfig` names (written by the service with its own identity), retries, caching.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import io
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from components import sagemaker_sdk
from loop.harness import in_account
from loop.iam import Decision, Permission, trusts_service
from loop.server import MotoServer, create_bucket
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

PIPELINE_TYPE: Final = "aws:sagemaker/pipeline:Pipeline"
ROLE_TYPE: Final = "aws:iam/role:Role"
ROLE_POLICY_TYPE: Final = "aws:iam/rolePolicy:RolePolicy"
OBJECT_TYPE: Final = "aws:s3/bucketObjectv2:BucketObjectv2"
GROUP_TYPE: Final = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
ENCRYPTION_TYPE: Final = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
SAGEMAKER_SERVICE: Final = "sagemaker.amazonaws.com"
PROCESSING: Final = "/opt/ml/processing"
OPT_ML: Final = "/opt/ml"
SCRIPT_TIMEOUT: Final = 300
IMAGE_MODULES: Final = ("sklearn", "scipy", "joblib", "threadpoolctl", "narwhals")
"""What the scikit-learn image has and `.venv-sagemaker` lacks, taken from this environment."""
IMAGE_PANDAS: Final = """\
# The scikit-learn images (1.2-1, 1.4-2) have pandas < 3, which reads text as `object` columns;
# the stand-in's pandas 3 would infer `str`. Keep the image's behaviour.
import warnings

try:
    import pandas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pandas.set_option("future.infer_string", False)
except ImportError:
    pass
"""
LAYER: Final = "sha256:" + "0" * 64
MANIFEST_TYPE: Final = "application/vnd.docker.distribution.manifest.v2+json"


class PipelineError(RuntimeError):
    """The definition uses what the interpreter does not run (never guessed)."""


class StepFailedError(Exception):
    """A step failed (as SageMaker would report it): the execution stops."""


class _FailStep(Exception):  # noqa: N818 - the Fail step's own outcome, not an error here
    pass


# ---- what the plan renders -----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPipeline:
    """One pipeline as the plan deploys it, with its execution role."""

    key: str
    """The registration's name (`training-churn`, `training-churn-batch`)."""
    name: str
    definition: str
    role_arn: str
    role_name: str
    trust_policy: str
    policy_name: str
    policy: str
    """The role's one inline policy, exactly as rendered."""

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.definition)
        return parsed

    def without(self, sid: str) -> RenderedPipeline:
        """The same pipeline, its role without the statement `sid`."""
        document = json.loads(self.policy)
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        if len(kept) != len(document["Statement"]) - 1:
            raise KeyError(f"no statement {sid} in {self.policy}")
        return replace(self, policy=json.dumps({**document, "Statement": kept}))


@dataclass(frozen=True)
class StoredObject:
    """An object the plan uploads (the pipelines' code)."""

    bucket: str
    key: str
    body: bytes
    kms_key_id: str | None
    bucket_key: bool


@dataclass(frozen=True)
class PipelinesPlan:
    stack: str
    account: str
    region: str
    partition: str
    buckets: Mapping[str, str]
    bucket_encryption: Mapping[str, list[dict[str, Any]]]
    kms_key_arn: str
    package_groups: tuple[str, ...]
    objects: tuple[StoredObject, ...]
    pipelines: Mapping[str, RenderedPipeline]
    """By registration name."""

    def pipeline(self, key: str) -> RenderedPipeline:
        return self.pipelines[key]


def _one(plan: Plan, type_: str, **inputs: Any) -> Any:
    found = [r for r in plan.by_type(type_) if all(r.inputs.get(k) == v for k, v in inputs.items())]
    if len(found) != 1:
        raise PipelineError(f"stack {plan.stack}: expected one {type_} with {inputs}: {found}")
    return found[0]


def _object_body(inputs: Mapping[str, Any]) -> bytes:
    source = inputs.get("source")
    if source and "asset" in source:
        return Path(source["asset"]["path"]).read_bytes()
    if "content" in inputs:
        return str(inputs["content"]).encode()
    raise PipelineError(f"object {inputs.get('key')}: no source the loop can read")


def read_pipelines(plan: Plan) -> PipelinesPlan:
    """Every pipeline of the plan with its role, and what its account must hold."""
    from components.platform import partition_for  # noqa: PLC0415 - the program's module

    pipelines = {}
    for registration in plan.by_type(PIPELINE_TYPE):
        inputs = registration.inputs
        role_arn = str(inputs["roleArn"])
        role = _one(plan, ROLE_TYPE, name=role_arn.rsplit("/", 1)[-1])
        policies = [r for r in plan.by_type(ROLE_POLICY_TYPE) if r.inputs["role"] == role.id]
        attached = [
            r
            for r in plan.registrations
            if r.type.startswith("aws:iam/rolePolicyAttachment") and r.inputs.get("role") == role.id
        ]
        if len(policies) != 1 or attached:
            raise PipelineError(
                f"stack {plan.stack}: role {role.id} of pipeline {registration.name} has "
                f"policies {[p.name for p in policies]} and attachments "
                f"{[a.name for a in attached]}; expected exactly one inline policy"
            )
        pipelines[registration.name] = RenderedPipeline(
            key=registration.name,
            name=str(inputs["pipelineName"]),
            definition=str(inputs["pipelineDefinition"]),
            role_arn=role_arn,
            role_name=str(role.id),
            trust_policy=str(role.inputs["assumeRolePolicy"]),
            policy_name=str(policies[0].id),
            policy=str(policies[0].inputs["policy"]),
        )
    buckets = dict(plan.outputs["buckets"])
    ours = set(buckets.values())
    objects = tuple(
        StoredObject(
            bucket=str(r.inputs["bucket"]),
            key=str(r.inputs["key"]),
            body=_object_body(r.inputs),
            kms_key_id=r.inputs.get("kmsKeyId"),
            bucket_key=bool(r.inputs.get("bucketKeyEnabled")),
        )
        for r in plan.by_type(OBJECT_TYPE)
        if r.inputs.get("bucket") in ours
    )
    return PipelinesPlan(
        stack=plan.stack,
        account=plan.account_id,
        region=plan.region,
        partition=partition_for(plan.region),
        buckets=buckets,
        bucket_encryption={
            str(r.inputs["bucket"]): list(r.inputs["rules"]) for r in plan.by_type(ENCRYPTION_TYPE)
        },
        kms_key_arn=str(plan.outputs["kmsKeyArn"]),
        package_groups=tuple(
            sorted(str(r.inputs["modelPackageGroupName"]) for r in plan.by_type(GROUP_TYPE))
        ),
        objects=objects,
        pipelines=pipelines,
    )


def plan_pipelines(
    stack: str, overrides: Mapping[str, Any] | None = None, project_dir: Path = PROJECT_DIR
) -> PipelinesPlan:
    """Plan `stack` offline (config keys replaced by `overrides`, values as YAML gives them)."""
    cfg = load_stack_config(project_dir, stack)
    values = dict(cfg.values)
    for key, value in (overrides or {}).items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return read_pipelines(run_stack_config(replace(cfg, values=values)))


# ---- the image's interpreter ---------------------------------------------------------------------


@functools.cache
def image_python() -> tuple[Path, Path]:
    """(interpreter, folder to put first on its path): the scikit-learn image's stand-in."""
    python = sagemaker_sdk.require_python()
    overlay = Path(tempfile.mkdtemp(prefix="loop-image-site-"))
    atexit.register(shutil.rmtree, overlay, True)
    for name in IMAGE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise PipelineError(f"{name} is not installed in this environment ({sys.prefix})")
        path = (
            Path(next(iter(spec.submodule_search_locations)))
            if spec.submodule_search_locations
            else Path(spec.origin)
        )
        (overlay / path.name).symlink_to(path)
        for libs in path.parent.glob("*.libs"):  # scikit_learn.libs, scipy.libs
            target = overlay / libs.name
            if not target.exists() and libs.name.split(".")[0].replace("_", "-") in (
                "scikit-learn",
                "scipy",
                name,
            ):
                target.symlink_to(libs)
    (overlay / "sitecustomize.py").write_text(IMAGE_PANDAS)
    return python, overlay


# ---- expressions ---------------------------------------------------------------------------------

_INDEX = re.compile(r"^([^\[]+)((?:\[[^\]]+\])*)$")


def _split_path(path: str) -> list[str | int]:
    """`ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri` to its keys and indexes."""
    out: list[str | int] = []
    for part in re.split(r"\.(?![^\[]*\])", path):
        match = _INDEX.match(part)
        if match is None:
            raise PipelineError(f"cannot read the property path {path!r}")
        out.append(match.group(1))
        for index in re.findall(r"\[([^\]]+)\]", match.group(2)):
            out.append(int(index) if index.isdigit() else index.strip("'\""))
    return out


_NAME_KEYS: Final = ("OutputName", "InputName", "ChannelName", "Name", "VariantName")


def _walk(value: Any, keys: Sequence[str | int], what: str) -> Any:
    for key in keys:
        if isinstance(key, int) and isinstance(value, list):
            value = value[key]
        elif isinstance(value, list):  # Outputs['train']: the member of that name
            found = [v for v in value if any(v.get(n) == key for n in _NAME_KEYS)]
            if len(found) != 1:
                raise PipelineError(f"{what}: no single member {key!r}")
            value = found[0]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise PipelineError(f"{what}: no {key!r}")
    return value


def _references(node: Any) -> set[str]:
    """The steps a node's expressions read (`Steps.<name>...`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        get = node.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            found.add(get.split(".", 2)[1])
        for key, value in node.items():
            if key not in ("IfSteps", "ElseSteps"):
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _ordered(steps: Sequence[Mapping[str, Any]], done: set[str]) -> list[Mapping[str, Any]]:
    """The steps in an order that runs each after the steps it depends on."""
    pending = list(steps)
    order: list[Mapping[str, Any]] = []
    finished = set(done)
    while pending:
        ready = [
            s
            for s in pending
            if (_references(s.get("Arguments")) | set(s.get("DependsOn") or [])) <= finished
        ]
        if not ready:
            raise PipelineError(f"unresolvable dependencies among {[s['Name'] for s in pending]}")
        step = ready[0]
        order.append(step)
        finished.add(str(step["Name"]))
        pending.remove(step)
    return order


# ---- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRun:
    name: str
    type: str
    status: str
    """`Succeeded`, `Failed` (or, for a condition step, `Succeeded` with `outcome`)."""
    resource: str | None = None
    """The job, model or model package ARN it created."""
    outcome: bool | None = None
    failure: str | None = None


@dataclass
class PipelineExecution:
    arn: str
    id: str
    pipeline: str
    parameters: dict[str, str]
    status: str = "Executing"
    failure_reason: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    """What each step produced (its Describe* shape), by step name."""

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found


@dataclass(frozen=True)
class RoleSession:
    principal: str
    """The assumed role's ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`)."""
    credentials: dict[str, str]
    documents: tuple[str, ...]
    """The role's policies as moto's IAM holds them."""


# ---- the account ---------------------------------------------------------------------------------


def _s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise PipelineError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _join(prefix: str, relative: str) -> str:
    return f"{prefix.rstrip('/')}/{relative}" if prefix else relative


def _image(uri: str) -> tuple[str, str, str, dict[str, str]]:
    """`<registry>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]` to (registry, region,
    repository, image id)."""
    host, _, path = uri.partition("/")
    registry, _, rest = host.partition(".dkr.ecr.")
    region = rest.split(".", 1)[0]
    if "@" in path:
        repository, digest = path.split("@", 1)
        return registry, region, repository, {"imageDigest": digest}
    repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
    return registry, region, repository, {"imageTag": tag or "latest"}


def _images(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("ImageUri", "TrainingImage", "Image") and isinstance(value, str):
                found.add(value)
            else:
                found |= _images(value)
    elif isinstance(node, list):
        for item in node:
            found |= _images(item)
    return found


def _vpc_ids(node: Any) -> tuple[set[str], set[str]]:
    subnets: set[str] = set()
    groups: set[str] = set()
    if isinstance(node, dict):
        if "Subnets" in node and "SecurityGroupIds" in node:
            subnets |= set(node["Subnets"])
            groups |= set(node["SecurityGroupIds"])
        for value in node.values():
            s, g = _vpc_ids(value)
            subnets |= s
            groups |= g
    elif isinstance(node, list):
        for item in node:
            s, g = _vpc_ids(item)
            subnets |= s
            groups |= g
    return subnets, groups


class PipelineAccount:
    """The plan's account behind moto, seeded for its pipelines; a context manager.

    Seeded with the admin's credentials: the buckets with their SSE-KMS defaults, the objects
    the plan uploads (the pipelines' code, with their encryption), the model package groups,
    an ECR repository with one image for every image a definition names, and a VPC with a
    subnet and a security group for every id a definition's VpcConfig names.
    """

    def __init__(self, plan: PipelinesPlan) -> None:
        self.plan = plan
        self.server = MotoServer(plan.account, plan.region, plan.partition)
        self._account = ExitStack()
        self.subnets: dict[str, str] = {}
        """The definition's subnet id to moto's."""
        self.security_groups: dict[str, str] = {}
        self._roles: dict[str, RenderedPipeline] = {}
        self._tmp: Path | None = None
        # Names, not secrets: seeded, so that a run is reproducible.
        self._random = random.Random(20261127)  # noqa: S311

    def __enter__(self) -> PipelineAccount:
        # Every request of the server's lifetime in the plan's account (prod's is not moto's
        # default), the admin's and the seeding's included.
        self._account.enter_context(in_account(self.plan.account))
        try:
            self.server.start()
        except BaseException:
            self._account.close()
            raise
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix="loop-pipeline-"))
            self._seed()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.server.close()
        finally:
            self._account.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def client(self, service: str) -> Any:
        return self.server.client(service)

    # ---- seeding ---------------------------------------------------------------------------------

    def _seed(self) -> None:
        plan = self.plan
        s3 = self.client("s3")
        for bucket in plan.buckets.values():
            create_bucket(s3, bucket, plan.region, plan.bucket_encryption.get(bucket))
        for stored in plan.objects:
            s3.put_object(
                Bucket=stored.bucket,
                Key=stored.key,
                Body=stored.body,
                **(
                    {
                        "ServerSideEncryption": "aws:kms",
                        "SSEKMSKeyId": stored.kms_key_id,
                        "BucketKeyEnabled": stored.bucket_key,
                    }
                    if stored.kms_key_id
                    else {}
                ),
            )
        sagemaker = self.client("sagemaker")
        for group in plan.package_groups:
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
        images: set[str] = set()
        subnets: set[str] = set()
        groups: set[str] = set()
        for pipeline in plan.pipelines.values():
            images |= _images(pipeline.document)
            s, g = _vpc_ids(pipeline.document)
            subnets |= s
            groups |= g
        self.seed_images(images)
        if subnets:
            self._seed_network(sorted(subnets), sorted(groups))

    def seed_images(self, images: set[str]) -> None:
        """An ECR repository (moto's account, the image's repository name) with the image."""
        ecr = self.client("ecr")
        existing = {
            r["repositoryName"] for r in ecr.describe_repositories().get("repositories", [])
        }
        for uri in sorted(images):
            _, _, repository, image_id = _image(uri)
            if repository not in existing:
                ecr.create_repository(repositoryName=repository)
                existing.add(repository)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 2,
                    "digest": "sha256:" + "1" * 64,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": 1,
                        "digest": LAYER,
                    }
                ],
            }
            if "imageTag" in image_id:
                ecr.put_image(
                    repositoryName=repository,
                    imageManifest=json.dumps(manifest),
                    imageTag=image_id["imageTag"],
                )

    def _seed_network(self, subnets: list[str], groups: list[str]) -> None:
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        for index, subnet in enumerate(subnets):
            self.subnets[subnet] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{index}.0/24")[
                "Subnet"
            ]["SubnetId"]
        for group in groups:
            self.security_groups[group] = ec2.create_security_group(
                GroupName=group, Description=f"stands for {group}", VpcId=vpc
            )["GroupId"]
        # The evaluator judges EC2 calls on the plan's ids, which the role's policy names.
        given = {moto: plan for plan, moto in (self.subnets | self.security_groups).items()}
        enforcement = self.server.enforcement
        enforcement.keys = replace(enforcement.keys, ec2_id=lambda i: given.get(i, i))

    def put_object(self, uri: str, body: bytes) -> None:
        """Data the pipeline reads (the admin writes it; the bucket's default encrypts it)."""
        bucket, key = _s3_uri(uri)
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)

    def read_object(self, uri: str) -> bytes:
        bucket, key = _s3_uri(uri)
        body: bytes = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    # ---- the role --------------------------------------------------------------------------------

    def deploy_role(self, pipeline: RenderedPipeline) -> None:
        """The pipeline's role in moto's IAM with exactly its rendered inline policy."""
        iam = self.client("iam")
        try:
            iam.get_role(RoleName=pipeline.role_name)
        except ClientError:
            iam.create_role(
                RoleName=pipeline.role_name, AssumeRolePolicyDocument=pipeline.trust_policy
            )
        iam.put_role_policy(
            RoleName=pipeline.role_name,
            PolicyName=pipeline.policy_name,
            PolicyDocument=pipeline.policy,
        )
        self._roles[pipeline.role_arn] = pipeline

    def session(self, role_arn: str, name: str) -> RoleSession:
        """SageMaker assumes the role (its trust policy must let it, for this account)."""
        pipeline = self._roles.get(role_arn)
        if pipeline is None:
            raise PipelineError(f"role {role_arn} is not one of the plan's pipeline roles")
        context = {"aws:SourceAccount": [self.plan.account]}
        if not trusts_service(pipeline.trust_policy, SAGEMAKER_SERVICE, context):
            raise PermissionError(
                f"the trust policy of {pipeline.role_name} does not let {SAGEMAKER_SERVICE} "
                f"assume it for account {self.plan.account}: {pipeline.trust_policy}"
            )
        answer = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name[:64])
        iam = self.client("iam")
        names = iam.list_role_policies(RoleName=pipeline.role_name)["PolicyNames"]
        documents = tuple(
            json.dumps(
                iam.get_role_policy(RoleName=pipeline.role_name, PolicyName=n)["PolicyDocument"]
            )
            for n in names
        )
        if iam.list_attached_role_policies(RoleName=pipeline.role_name)["AttachedPolicies"]:
            raise PipelineError(f"{pipeline.role_name} has attached policies")
        credentials = answer["Credentials"]
        return RoleSession(
            principal=str(answer["AssumedRoleUser"]["Arn"]),
            credentials={
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
            documents=documents,
        )

    # ---- running ---------------------------------------------------------------------------------

    def run(
        self,
        pipeline: RenderedPipeline,
        parameters: Mapping[str, str] | None = None,
    ) -> PipelineExecution:
        """One execution of the pipeline, to its end (`Succeeded` or `Failed`)."""
        self.deploy_role(pipeline)
        assert self._tmp is not None
        alphabet = string.ascii_lowercase + string.digits
        execution_id = "".join(self._random.choice(alphabet) for _ in range(12))
        defaults = {
            p["Name"]: str(p.get("DefaultValue", "")) for p in pipeline.document["Parameters"]
        }
        unknown = set(parameters or {}) - set(defaults)
        if unknown:
            raise PipelineError(f"{pipeline.name} has no parameters {sorted(unknown)}")
        execution = PipelineExecution(
            arn=f"arn:{self.plan.partition}:sagemaker:{self.plan.region}:{self.plan.account}:"
            f"pipeline/{pipeline.name.lower()}/execution/{execution_id}",
            id=execution_id,
            pipeline=pipeline.name,
            parameters={**defaults, **(parameters or {})},
        )
        run = _Run(
            account=self,
            pipeline=pipeline,
            execution=execution,
            workdir=self._tmp / execution_id,
        )
        try:
            run.steps(pipeline.document["Steps"])
            execution.status = "Succeeded"
        except (StepFailedError, _FailStep) as exc:
            execution.status = "Failed"
            execution.failure_reason = str(exc)
        return execution

    def decisions(self, pipeline: RenderedPipeline) -> list[Decision]:
        """Every IAM decision taken for the pipeline's role (its sessions)."""
        return self.server.enforcement.of(f"assumed-role/{pipeline.role_name}/")

    def random_suffix(self, length: int = 10) -> str:
        return "".join(
            self._random.choice(string.ascii_letters + string.digits) for _ in range(length)
        )


# ---- one execution -------------------------------------------------------------------------------

SERVE: Final = r"""
import importlib.util, pathlib, sys
import numpy as np
model_dir, module_path, source, target, content_type, accept = sys.argv[1:7]
sys.path.insert(0, str(pathlib.Path(module_path).parent))
spec = importlib.util.spec_from_file_location("user_module", module_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.model_fn(model_dir)
for path in sorted(p for p in pathlib.Path(source).rglob("*") if p.is_file()):
    data = module.input_fn(path.read_bytes(), content_type)
    prediction = module.predict_fn(data, model)
    if hasattr(module, "output_fn"):
        body = module.output_fn(prediction, accept)
    else:  # the scikit-learn container's default encoder for text/csv: a row per line
        rows = np.asarray(prediction)
        rows = rows.reshape(len(rows), -1)
        body = "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    out = pathlib.Path(target) / (str(path.relative_to(source)) + ".out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body if isinstance(body, bytes) else str(body).encode())
print(f"served {model_dir}")
"""


@dataclass
class _Job:
    """One job's container, as the interpreter lays it out."""

    name: str
    kind: str
    """`ProcessingJobs`, `TrainingJobs` or `TransformJobs` (its log group and namespace)."""
    root: Path
    session: RoleSession
    log_lines: list[str] = field(default_factory=list)


@dataclass
class _Run:
    account: PipelineAccount
    pipeline: RenderedPipeline
    execution: PipelineExecution
    workdir: Path
    files: dict[str, Any] = field(default_factory=dict)
    """Property files: `Steps.<step>.PropertyFiles.<name>` to the parsed document."""
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    # ---- plumbing --------------------------------------------------------------------------------

    @property
    def plan(self) -> PipelinesPlan:
        return self.account.plan

    def client(self, session: RoleSession, service: str) -> Any:
        key = (session.principal + session.credentials["aws_access_key_id"], service)
        if key not in self._clients:
            self._clients[key] = self.account.server.client(service, session.credentials)
        return self._clients[key]

    def session(self, role_arn: str, name: str) -> RoleSession:
        return self.account.session(role_arn, name)

    def service_check(
        self, session: RoleSession, operation: str, needs: Sequence[Permission]
    ) -> None:
        """Checks a service makes with the role's identity outside a signed request."""
        decisions = self.account.server.enforcement.check(
            session.principal, session.documents, operation, self.plan.account, needs
        )
        for denied in (d for d in decisions if not d.allowed):
            through = f" (through {denied.via})" if denied.via else ""
            raise StepFailedError(
                f"ClientError: An error occurred (AccessDeniedException) when calling the "
                f"{operation.partition(':')[2]} operation: User: {denied.principal} is not "
                f"authorized to perform: {denied.action}{through} on resource: "
                f"{denied.resource} because {denied.reason}"
            )

    def call(self, what: str, function: Callable[..., Any], /, **arguments: Any) -> Any:
        """A request with the role; a refusal fails the step with AWS's error."""
        try:
            return function(**arguments)
        except ClientError as exc:
            raise StepFailedError(f"{what}: ClientError: {exc}") from exc

    def common(self) -> dict[str, list[str]]:
        return {"aws:RequestedRegion": [self.plan.region], "aws:SecureTransport": ["true"]}

    def sm_arn(self, kind: str, name: str) -> str:
        plan = self.plan
        return f"arn:{plan.partition}:sagemaker:{plan.region}:{plan.account}:{kind}/{name.lower()}"

    def job_name(self, step: str) -> str:
        """SageMaker's: `pipelines-<execution id>-<step>-<random>`, at most 63 characters."""
        suffix = self.account.random_suffix()
        room = 63 - len("pipelines-") - len(self.execution.id) - len(suffix) - 2
        return f"pipelines-{self.execution.id}-{step[:room]}-{suffix}"

    # ---- expressions -----------------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Get"}:
            return self.get(str(node["Get"]))
        if set(node) == {"Std:Join"}:
            join = node["Std:Join"]
            return str(join["On"]).join(self.text(self.resolve(v)) for v in join["Values"])
        if set(node) == {"Std:JsonGet"}:
            spec = node["Std:JsonGet"]
            reference = spec["PropertyFile"]["Get"]
            if reference not in self.files:
                raise PipelineError(f"no property file {reference} (yet)")
            return _walk(self.files[reference], _split_path(str(spec["Path"])), reference)
        return {k: self.resolve(v) for k, v in node.items()}

    @staticmethod
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def get(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        execution = self.execution
        if head == "Parameters":
            return execution.parameters[rest]
        if head == "Execution":
            return {
                "PipelineExecutionId": execution.id,
                "PipelineExecutionArn": execution.arn,
                "PipelineName": execution.pipeline,
            }[rest]
        if head == "Steps":
            step, _, prop = rest.partition(".")
            if step not in execution.properties:
                raise PipelineError(f"{path}: step {step} has not run")
            return _walk(execution.properties[step], _split_path(prop), path)
        raise PipelineError(f"unknown reference {path!r}")

    # ---- steps -----------------------------------------------------------------------------------

    def steps(self, steps: Sequence[Mapping[str, Any]]) -> None:
        for step in _ordered(steps, set(self.execution.properties)):
            self.step(step)

    def step(self, step: Mapping[str, Any]) -> None:
        name, kind = str(step["Name"]), str(step["Type"])
        if kind == "Condition":  # recorded by itself, before its branch runs
            self.condition(step)
            return
        runner = {
            "Processing": self.processing,
            "Training": self.training,
            "Transform": self.transform,
            "Model": self.model,
            "RegisterModel": self.register,
            "Fail": self.fail,
        }.get(kind)
        if runner is None:
            raise PipelineError(f"step {name}: type {kind} is not run by the interpreter")
        try:
            resource, outcome = runner(step)
        except StepFailedError as exc:
            self.execution.steps.append(StepRun(name, kind, "Failed", failure=str(exc)))
            raise StepFailedError(f"Step {name} failed: {exc}") from exc
        except _FailStep as exc:
            self.execution.steps.append(StepRun(name, kind, "Failed", failure=str(exc)))
            raise
        self.execution.steps.append(StepRun(name, kind, "Succeeded", resource, outcome))

    def fail(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        message = self.resolve(step.get("Arguments", {}).get("ErrorMessage", ""))
        self.execution.properties[str(step["Name"])] = {"ErrorMessage": message}
        raise _FailStep(str(message))

    def condition(self, step: Mapping[str, Any]) -> None:
        arguments = step["Arguments"]
        outcome = all(self.holds(c) for c in arguments["Conditions"])
        self.execution.properties[str(step["Name"])] = {"Outcome": outcome}
        self.execution.steps.append(
            StepRun(str(step["Name"]), "Condition", "Succeeded", None, outcome)
        )
        self.steps(arguments["IfSteps"] if outcome else arguments["ElseSteps"])

    def holds(self, condition: Mapping[str, Any]) -> bool:
        kind = str(condition["Type"])
        if kind == "Not":
            return not self.holds(condition["Expression"])
        if kind == "Or":
            return any(self.holds(c) for c in condition["Conditions"])
        if kind == "In":
            value = self.resolve(condition["QueryValue"])
            return value in [self.resolve(v) for v in condition["Values"]]
        left, right = self.resolve(condition["LeftValue"]), self.resolve(condition["RightValue"])
        try:
            left, right = float(left), float(right)
        except (TypeError, ValueError):
            left, right = str(left), str(right)
        compare = {
            "Equals": lambda: left == right,
            "GreaterThan": lambda: left > right,
            "GreaterThanOrEqualTo": lambda: left >= right,
            "LessThan": lambda: left < right,
            "LessThanOrEqualTo": lambda: left <= right,
        }.get(kind)
        if compare is None:
            raise PipelineError(f"condition type {kind} is not evaluated")
        return bool(compare())

    # ---- what SageMaker does for a job -----------------------------------------------------------

    def pass_role(self, session: RoleSession, operation: str, role_arn: str) -> None:
        self.service_check(
            session,
            operation,
            [
                Permission(
                    "iam:PassRole",
                    role_arn,
                    {**self.common(), "iam:PassedToService": [SAGEMAKER_SERVICE]},
                    "sagemaker",
                )
            ],
        )

    def tags_on_create(
        self, session: RoleSession, operation: str, arn: str, arguments: Mapping[str, Any]
    ) -> None:
        if arguments.get("Tags"):
            self.service_check(
                session,
                operation,
                [
                    Permission(
                        "sagemaker:AddTags",
                        arn,
                        {
                            **self.common(),
                            "sagemaker:TaggingAction": [operation.partition(":")[2]],
                        },
                        "sagemaker",
                    )
                ],
            )

    def volume_grant(self, session: RoleSession, operation: str, key: str | None) -> None:
        if not key:
            return
        self.service_check(
            session,
            operation,
            [
                Permission(
                    "kms:CreateGrant",
                    key,
                    {
                        **self.common(),
                        "kms:GrantIsForAWSResource": ["true"],
                        "kms:ViaService": [f"sagemaker.{self.plan.region}.amazonaws.com"],
                        "kms:CallerAccount": [self.plan.account],
                    },
                    "sagemaker",
                )
            ],
        )

    def pull(self, job: _Job, uri: str) -> None:
        """The image, as the host pulls it with the job's role."""
        registry, region, repository, image_id = _image(uri)
        ecr = self.client(job.session, "ecr")
        self.call("GetAuthorizationToken", ecr.get_authorization_token)
        answer = self.call(
            "BatchGetImage",
            ecr.batch_get_image,
            registryId=registry,
            repositoryName=repository,
            imageIds=[image_id],
            acceptedMediaTypes=[MANIFEST_TYPE],
        )
        if not answer.get("images"):
            raise StepFailedError(f"CannotStartContainerError: image {uri} not found")
        manifest = json.loads(answer["images"][0]["imageManifest"])
        arn = f"arn:{self.plan.partition}:ecr:{region}:{registry}:repository/{repository}"
        for layer in manifest.get("layers", []):
            del layer  # one check per layer; each is the same repository
            self.service_check(
                job.session,
                "ecr:GetDownloadUrlForLayer",
                [Permission("ecr:GetDownloadUrlForLayer", arn, self.common())],
            )

    def attach(self, job: _Job, vpc: Mapping[str, Any] | None) -> str | None:
        """The job's network interface in the VPC (with the job's role), or None."""
        if not vpc:
            return None
        ec2 = self.client(job.session, "ec2")
        subnets = [self.account.subnets[s] for s in vpc["Subnets"]]
        groups = [self.account.security_groups[g] for g in vpc["SecurityGroupIds"]]
        described = self.call("DescribeSubnets", ec2.describe_subnets, SubnetIds=subnets)
        self.call("DescribeSecurityGroups", ec2.describe_security_groups, GroupIds=groups)
        vpcs = sorted({s["VpcId"] for s in described["Subnets"]})
        found = self.call("DescribeVpcs", ec2.describe_vpcs, VpcIds=vpcs)["Vpcs"]
        options = sorted(
            {v["DhcpOptionsId"] for v in found if v.get("DhcpOptionsId", "default") != "default"}
        )
        self.call(
            "DescribeDhcpOptions",
            ec2.describe_dhcp_options,
            **({"DhcpOptionsIds": options} if options else {}),
        )
        interface = self.call(
            "CreateNetworkInterface",
            ec2.create_network_interface,
            SubnetId=subnets[0],
            Groups=groups,
            Description=f"SageMaker {job.name}",
        )["NetworkInterface"]["NetworkInterfaceId"]
        plan = self.plan
        self.service_check(
            job.session,
            "ec2:CreateNetworkInterfacePermission",
            [
                Permission(
                    "ec2:CreateNetworkInterfacePermission",
                    f"arn:{plan.partition}:ec2:{plan.region}:{plan.account}:"
                    f"network-interface/{interface}",
                    self.common(),
                )
            ],
        )
        self.call(
            "DescribeNetworkInterfaces",
            ec2.describe_network_interfaces,
            NetworkInterfaceIds=[interface],
        )
        return str(interface)

    def detach(self, job: _Job, interface: str | None) -> None:
        if interface is not None:
            ec2 = self.client(job.session, "ec2")
            self.call(
                "DeleteNetworkInterface",
                ec2.delete_network_interface,
                NetworkInterfaceId=interface,
            )

    def open_logs(self, job: _Job) -> str:
        """The job's log stream (its group created by the role when new)."""
        logs = self.client(job.session, "logs")
        group = f"/aws/sagemaker/{job.kind}"
        existing = self.account.client("logs").describe_log_groups(logGroupNamePrefix=group)
        if not any(g["logGroupName"] == group for g in existing.get("logGroups", [])):
            self.call("CreateLogGroup", logs.create_log_group, logGroupName=group)
        stream = f"{job.name}/algo-1-{int(time.time())}"
        self.call(
            "CreateLogStream",
            logs.create_log_stream,
            logGroupName=group,
            logStreamName=stream,
        )
        return stream

    def close_logs(self, job: _Job, stream: str) -> None:
        logs = self.client(job.session, "logs")
        now = int(time.time() * 1000)
        lines = [line for line in job.log_lines if line.strip()] or [f"{job.name}: no output"]
        self.call(
            "PutLogEvents",
            logs.put_log_events,
            logGroupName=f"/aws/sagemaker/{job.kind}",
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": line[:4000]} for line in lines[-500:]],
        )
        cloudwatch = self.client(job.session, "cloudwatch")
        self.call(
            "PutMetricData",
            cloudwatch.put_metric_data,
            Namespace=f"/aws/sagemaker/{job.kind}",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": f"{job.name}/algo-1"}],
                    "Value": 1.0,
                    "Unit": "Percent",
                }
                for metric in ("CPUUtilization", "MemoryUtilization", "DiskUtilization")
            ],
        )

    def download(self, job: _Job, uri: str, target: Path, *, data_type: str = "S3Prefix") -> None:
        """An S3 input as SageMaker copies it into the container, with the job's role."""
        if data_type != "S3Prefix":
            raise PipelineError(f"S3DataType {data_type} is not run by the interpreter")
        bucket, prefix = _s3_uri(uri)
        s3 = self.client(job.session, "s3")
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.call(
                f"ListObjectsV2 s3://{bucket}/{prefix}",
                s3.list_objects_v2,
                Bucket=bucket,
                Prefix=prefix,
                **token,
            )
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        if not keys:
            raise StepFailedError(f"ClientError: no S3 objects under {uri}")
        target.mkdir(parents=True, exist_ok=True)
        for key in keys:
            relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            body = self.call(
                f"GetObject s3://{bucket}/{key}",
                s3.get_object,
                Bucket=bucket,
                Key=key,
            )["Body"].read()
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)

    def upload(self, job: _Job, source: Path, uri: str, kms_key: str | None) -> list[str]:
        """Every file under `source` to `uri`, SSE-KMS under `kms_key`, with the job's role."""
        bucket, prefix = _s3_uri(uri)
        s3 = self.client(job.session, "s3")
        written = []
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            key = _join(prefix, path.relative_to(source).as_posix())
            encryption = (
                {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
            )
            self.call(
                f"PutObject s3://{bucket}/{key}",
                s3.put_object,
                Bucket=bucket,
                Key=key,
                Body=path.read_bytes(),
                **encryption,
            )
            written.append(f"s3://{bucket}/{key}")
        return written

    def container(
        self,
        job: _Job,
        command: list[str],
        env: Mapping[str, str],
        *,
        network: bool,
        cwd: Path | None = None,
        path: Sequence[Path] = (),
    ) -> None:
        """The container's process; its output is the job's log. Without the network (network
        isolation), it gets no credentials and no endpoint."""
        python, overlay = image_python()
        command = [str(python) if c in ("python", "python3") else c for c in command]
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            # One OpenMP thread: the tests' cores are shared (speed only, not behaviour).
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([*(str(p) for p in path), str(overlay)]),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": self.plan.region,
            "AWS_DEFAULT_REGION": self.plan.region,
            **env,
        }
        if network:
            credentials = job.session.credentials
            environment.update(
                {
                    "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
                    "AWS_SESSION_TOKEN": credentials["aws_session_token"],
                    "AWS_ENDPOINT_URL": self.account.server.url,
                }
            )
        done = subprocess.run(  # noqa: S603 - the step's own command
            command,
            env=environment,
            cwd=str(cwd or job.root),
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
        job.log_lines += (done.stdout + done.stderr).splitlines()
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise StepFailedError(
                f"AlgorithmError: {' '.join(command[1:])} exited with {done.returncode}: {tail}"
            )

    # ---- Processing ------------------------------------------------------------------------------

    def _local(self, root: Path, path: str, base: str) -> Path:
        if not path.startswith(base):
            raise PipelineError(f"{path} is not under {base}")
        return root / path[len(base) :].lstrip("/")

    def processing(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        name = str(step["Name"])
        arguments = self.resolve(step["Arguments"])
        job_name = self.job_name(name)
        arguments["ProcessingJobName"] = job_name
        arn = self.sm_arn("processing-job", job_name)
        session = self.session(self.pipeline.role_arn, f"SageMaker-{self.execution.id}")
        sm = self.client(session, "sagemaker")
        self.call("CreateProcessingJob", sm.create_processing_job, **arguments)
        self.pass_role(session, "sagemaker:CreateProcessingJob", arguments["RoleArn"])
        self.tags_on_create(session, "sagemaker:CreateProcessingJob", arn, arguments)
        job = _Job(
            job_name,
            "ProcessingJobs",
            self.workdir / job_name,
            self.session(arguments["RoleArn"], job_name),
        )
        cluster = arguments["ProcessingResources"]["ClusterConfig"]
        self.volume_grant(
            job.session, "sagemaker:CreateProcessingJob", cluster.get("VolumeKmsKeyId")
        )
        network = arguments.get("NetworkConfig") or {}
        interface = self.attach(job, network.get("VpcConfig"))
        app = arguments["AppSpecification"]
        self.pull(job, app["ImageUri"])
        stream = self.open_logs(job)
        for item in arguments.get("ProcessingInputs", []):
            s3_input = item.get("S3Input")
            if s3_input is None:
                raise PipelineError(f"{name}: only S3 processing inputs are run")
            self.download(
                job,
                s3_input["S3Uri"],
                self._local(job.root, s3_input["LocalPath"], PROCESSING),
                data_type=s3_input["S3DataType"],
            )
        outputs = arguments.get("ProcessingOutputConfig", {})
        for item in outputs.get("Outputs", []):
            self._local(job.root, item["S3Output"]["LocalPath"], PROCESSING).mkdir(
                parents=True, exist_ok=True
            )
        command = [
            str(self._local(job.root, c, PROCESSING)) if c.startswith(PROCESSING) else c
            for c in [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
        ]
        try:
            self.container(
                job,
                command,
                {"MLOPS_PROCESSING_ROOT": str(job.root), **arguments.get("Environment", {})},
                network=not network.get("EnableNetworkIsolation", False),
            )
            for item in outputs.get("Outputs", []):
                self.upload(
                    job,
                    self._local(job.root, item["S3Output"]["LocalPath"], PROCESSING),
                    item["S3Output"]["S3Uri"],
                    outputs.get("KmsKeyId"),
                )
        finally:
            self.close_logs(job, stream)
            self.detach(job, interface)
        described = self.call(
            "DescribeProcessingJob",
            sm.describe_processing_job,
            ProcessingJobName=job_name,
        )
        self.execution.properties[name] = {**arguments, **_plain(described)}
        self.execution.properties[name]["ProcessingOutputConfig"] = outputs
        for spec in step.get("PropertyFiles", []):
            output = _walk(outputs["Outputs"], [spec["OutputName"]], name)
            uri = _join(output["S3Output"]["S3Uri"], spec["FilePath"])
            bucket, key = _s3_uri(uri)
            s3 = self.client(session, "s3")
            body = self.call(f"GetObject {uri}", s3.get_object, Bucket=bucket, Key=key)[
                "Body"
            ].read()
            self.files[f"Steps.{name}.PropertyFiles.{spec['PropertyFileName']}"] = json.loads(body)
        return arn, None

    # ---- Training --------------------------------------------------------------------------------

    def training(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        name = str(step["Name"])
        arguments = self.resolve(step["Arguments"])
        job_name = self.job_name(name)
        arguments["TrainingJobName"] = job_name
        arn = self.sm_arn("training-job", job_name)
        session = self.session(self.pipeline.role_arn, f"SageMaker-{self.execution.id}")
        sm = self.client(session, "sagemaker")
        self.call("CreateTrainingJob", sm.create_training_job, **arguments)
        self.pass_role(session, "sagemaker:CreateTrainingJob", arguments["RoleArn"])
        self.tags_on_create(session, "sagemaker:CreateTrainingJob", arn, arguments)
        job = _Job(
            job_name,
            "TrainingJobs",
            self.workdir / job_name,
            self.session(arguments["RoleArn"], job_name),
        )
        resources = arguments["ResourceConfig"]
        self.volume_grant(
            job.session, "sagemaker:CreateTrainingJob", resources.get("VolumeKmsKeyId")
        )
        interface = self.attach(job, arguments.get("VpcConfig"))
        self.pull(job, arguments["AlgorithmSpecification"]["TrainingImage"])
        stream = self.open_logs(job)
        checkpoint = arguments.get("CheckpointConfig")
        checkpoints = job.root / "checkpoints"
        checkpoints.mkdir(parents=True)
        if checkpoint:  # a restarted (Spot) job resumes from what is there: SageMaker lists it
            bucket, prefix = _s3_uri(checkpoint["S3Uri"])
            s3 = self.client(job.session, "s3")
            self.call(
                f"ListObjectsV2 {checkpoint['S3Uri']}",
                s3.list_objects_v2,
                Bucket=bucket,
                Prefix=prefix,
            )
        channels = []
        for channel in arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            channels.append(channel["ChannelName"])
            self.download(
                job,
                source["S3Uri"],
                job.root / "input" / "data" / channel["ChannelName"],
                data_type=source["S3DataType"],
            )
        code, command, env = self.toolkit(name, job, arguments, channels)
        model_dir = Path(env["SM_MODEL_DIR"])
        output_dir = Path(env["SM_OUTPUT_DATA_DIR"])
        model_uri = _join(
            arguments["OutputDataConfig"]["S3OutputPath"], f"{job_name}/output/model.tar.gz"
        )
        kms_key = arguments["OutputDataConfig"].get("KmsKeyId")
        try:
            self.container(
                job,
                command,
                {**env, "SM_CHECKPOINT_DIR": str(checkpoints)},
                network=not arguments.get("EnableNetworkIsolation", False),
                cwd=code,
                path=[code],
            )
            if checkpoint:
                self.upload(job, checkpoints, checkpoint["S3Uri"], kms_key)
            archive = job.root / "artifact" / "model.tar.gz"
            archive.parent.mkdir()
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted(model_dir.rglob("*")):
                    tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
            self.upload(job, archive.parent, model_uri.rsplit("/", 1)[0], kms_key)
            if any(output_dir.rglob("*")):
                raise PipelineError(f"{name}: output data (output.tar.gz) is not written here")
        finally:
            self.close_logs(job, stream)
            self.detach(job, interface)
        described = self.call(
            "DescribeTrainingJob", sm.describe_training_job, TrainingJobName=job_name
        )
        self.execution.properties[name] = {
            **arguments,
            **_plain(described),
            "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        }
        return arn, None

    def toolkit(
        self, name: str, job: _Job, arguments: Mapping[str, Any], channels: list[str]
    ) -> tuple[Path, list[str], dict[str, str]]:
        """What the training toolkit does before it runs the program: the source directory
        extracted, the command line from the hyperparameters, the `SM_*` environment."""
        hyperparameters = {
            k: json.loads(v) if v[:1] in '"[{' else v
            for k, v in arguments.get("HyperParameters", {}).items()
        }
        submit = str(hyperparameters.get("sagemaker_submit_directory", ""))
        program = str(hyperparameters.get("sagemaker_program", ""))
        if not submit.startswith(OPT_ML) or not program:
            raise PipelineError(f"{name}: only script mode with a local source directory is run")
        code = job.root / "code"
        with tarfile.open(self._local(job.root, submit, OPT_ML)) as tar:
            tar.extractall(code, filter="data")
        if (code / "requirements.txt").exists():
            raise PipelineError(f"{name}: requirements.txt would be installed; not run here")
        user = {k: v for k, v in sorted(hyperparameters.items()) if not k.startswith("sagemaker_")}
        arguments_line: list[str] = []
        for key, value in user.items():
            # The toolkit passes each name as the definition spells it.
            arguments_line += [f"--{key}", str(value)]
        model_dir = job.root / "model"
        output_dir = job.root / "output" / "data"
        model_dir.mkdir(parents=True)
        output_dir.mkdir(parents=True)
        env = {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_INPUT_DIR": str(job.root / "input"),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(user),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_USER_ENTRY_POINT": program,
            **{f"SM_CHANNEL_{c.upper()}": str(job.root / "input" / "data" / c) for c in channels},
            **{f"SM_HP_{k.upper().replace('-', '_')}": str(v) for k, v in user.items()},
            **arguments.get("Environment", {}),
        }
        return code, ["python", str(code / program), *arguments_line], env

    # ---- Model, RegisterModel, Transform ---------------------------------------------------------

    def model(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        name = str(step["Name"])
        arguments = self.resolve(step["Arguments"])
        model_name = self.job_name(name)
        arguments["ModelName"] = model_name
        arn = self.sm_arn("model", model_name)
        session = self.session(self.pipeline.role_arn, f"SageMaker-{self.execution.id}")
        sm = self.client(session, "sagemaker")
        answer = self.call("CreateModel", sm.create_model, **arguments)
        self.pass_role(session, "sagemaker:CreateModel", arguments["ExecutionRoleArn"])
        self.tags_on_create(session, "sagemaker:CreateModel", arn, arguments)
        self.execution.properties[name] = {**arguments, "ModelArn": answer["ModelArn"]}
        return str(answer["ModelArn"]), None

    def register(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        name = str(step["Name"])
        arguments = self.resolve(step["Arguments"])
        session = self.session(self.pipeline.role_arn, f"SageMaker-{self.execution.id}")
        sm = self.client(session, "sagemaker")
        answer = self.call("CreateModelPackage", sm.create_model_package, **arguments)
        self.execution.properties[name] = {
            **arguments,
            "ModelPackageArn": answer["ModelPackageArn"],
        }
        return str(answer["ModelPackageArn"]), None

    def transform(self, step: Mapping[str, Any]) -> tuple[str | None, bool | None]:
        name = str(step["Name"])
        arguments = self.resolve(step["Arguments"])
        job_name = self.job_name(name)
        arguments["TransformJobName"] = job_name
        arn = self.sm_arn("transform-job", job_name)
        session = self.session(self.pipeline.role_arn, f"SageMaker-{self.execution.id}")
        sm = self.client(session, "sagemaker")
        self.call("CreateTransformJob", sm.create_transform_job, **arguments)
        self.tags_on_create(session, "sagemaker:CreateTransformJob", arn, arguments)
        # The service reads its model (not with the role) and runs it with the model's role.
        admin = self.account.client("sagemaker")
        model = admin.describe_model(ModelName=arguments["ModelName"])
        containers = model.get("Containers") or [model["PrimaryContainer"]]
        if len(containers) != 1:
            raise PipelineError(f"{name}: only single-container models are run")
        container = dict(containers[0])
        if "ModelPackageName" in container:
            package = admin.describe_model_package(ModelPackageName=container["ModelPackageName"])
            (container,) = package["InferenceSpecification"]["Containers"]
        job = _Job(
            job_name,
            "TransformJobs",
            self.workdir / job_name,
            self.session(model["ExecutionRoleArn"], job_name),
        )
        resources = arguments["TransformResources"]
        self.volume_grant(
            job.session, "sagemaker:CreateTransformJob", resources.get("VolumeKmsKeyId")
        )
        interface = self.attach(job, model.get("VpcConfig"))
        self.pull(job, container["Image"])
        stream = self.open_logs(job)
        model_dir = job.root / "model"
        bucket, key = _s3_uri(container["ModelDataUrl"])
        s3 = self.client(job.session, "s3")
        body = self.call(
            f"GetObject {container['ModelDataUrl']}",
            s3.get_object,
            Bucket=bucket,
            Key=key,
        )["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            tar.extractall(model_dir, filter="data")
        source = arguments["TransformInput"]["DataSource"]["S3DataSource"]
        inputs = job.root / "input"
        self.download(job, source["S3Uri"], inputs, data_type=source["S3DataType"])
        environment = {**container.get("Environment", {}), **arguments.get("Environment", {})}
        submit = str(environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code"))
        program = self._local(job.root, submit, OPT_ML) / str(environment["SAGEMAKER_PROGRAM"])
        output = arguments["TransformOutput"]
        results = job.root / "output"
        try:
            self.container(
                job,
                [
                    "python",
                    "-c",
                    SERVE,
                    str(model_dir),
                    str(program),
                    str(inputs),
                    str(results),
                    str(arguments["TransformInput"].get("ContentType", "text/csv")),
                    str(output.get("Accept", "text/csv")),
                ],
                environment,
                network=not model.get("EnableNetworkIsolation", False),
            )
            self.upload(job, results, output["S3OutputPath"], output.get("KmsKeyId"))
        finally:
            self.close_logs(job, stream)
            self.detach(job, interface)
        described = self.call(
            "DescribeTransformJob", sm.describe_transform_job, TransformJobName=job_name
        )
        self.execution.properties[name] = {**arguments, **_plain(described)}
        return arn, None


def _plain(value: Any) -> Any:
    """A Describe* answer without its metadata and with dates as text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
