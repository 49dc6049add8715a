"""The calls AWS services (and one workload) make with the plan's non-Lambda roles, made for real.

Each role is created in moto's IAM with exactly the inline policy the plan rendered for it, and
assumed the way its service assumes it: the role's trust policy must let that service principal
(`scheduler.amazonaws.com`, `firehose.amazonaws.com`, `sagemaker.amazonaws.com`,
`budgets.amazonaws.com`, `pods.eks.amazonaws.com`) assume it with the request context the service
gives (`aws:SourceAccount`, `aws:SourceArn`; EKS Pod Identity also tags the session with the
pod's namespace and service account: `sts:TagSession` and `aws:RequestTag/...`). Then every call
the service makes with the role is one boto3 request to the moto server, signed with the role's
STS credentials, so the harness's evaluator (`loop.iam`) decides it on the real resource ARN.
What the calls touch is seeded first, with the admin's client, from the plan's inputs.

Per service kind (`ServiceAccount.<kind>`; the test is tests/e2e/test_service_role_sufficiency.py):
- `scheduler`: per schedule of the role (or, for a pipeline scheduler without a schedule in this
  stack, the input the training component would render: `scheduled_start_input`), what
  EventBridge Scheduler does when it runs one: `kms:Decrypt` of the schedule's encrypted input
  (the schedule's `kmsKeyArn`), the target call (`lambda:Invoke`, asynchronous, on the function
  ARN; `sagemaker:StartPipelineExecution` with the schedule's input; or, for a state machine
  target, `states:StartExecution` of the plan's machine, seeded with the plan's definition,
  role, logging, tracing and encryption, with the schedule's input), and, for an invocation
  it could not deliver, `sqs:SendMessage` to the schedule's dead-letter queue (SSE-KMS: the
  producer's `kms:GenerateDataKey` and `kms:Decrypt` through SQS);
- `firehose`: the S3 destination's calls documented for Firehose's role (GetBucketLocation,
  ListBucketMultipartUploads, PutObject under the expanded capture prefix and error prefix,
  a multipart upload listed and aborted) and `logs:PutLogEvents` on the stream of its
  CloudWatch logging options;
- `sagemaker_model`: SageMaker hosting's pulls of the model's images (ECR
  GetAuthorizationToken, BatchCheckLayerAvailability, BatchGetImage, GetDownloadUrlForLayer on
  the model's repository and on the framework image's, AWS's account), the model artifact's
  GetObject, a capture object's PutObject, the endpoint's log group and stream and
  `cloudwatch:PutMetricData` in `/aws/sagemaker/Endpoints`;
- `feature_store`: the offline store's writes under its prefix (put, get, delete, list with the
  prefix, the bucket's ACL) and the Iceberg commit's Glue GetTable and UpdateTable;
- `budget_action`: AWS Budgets' APPLY_IAM_POLICY action: `iam:AttachRolePolicy` of the
  guardrail's deny policy to each role the action names, then `iam:DetachRolePolicy` (reset);
- `serving_pod`: the serving sidecar's real code (images/serving_sidecar): `fetch.fetch` of the
  deployment's model package (DescribeModelPackage, then the artifact's download) and the
  capture path of the proxy (`CaptureBuffer.offer` and `flush`: PutObject, SSE-KMS);
- `alertmanager`: Alertmanager's SNS receiver, `sns:Publish` to the platform topic (encrypted:
  the topic key's GenerateDataKey and Decrypt through SNS);
- `state_machine`: what Step Functions does with the execution role (trust: `states.amazonaws
  .com` with `aws:SourceAccount` and the machine's `aws:SourceArn`) when it runs the plan's
  definition once (PlanWindow, the Distributed Map ProfileObjects with its ItemReader and one
  child execution running ProfileBatch, Reduce). Requests to moto, with the role's credentials:
  `lambda:Invoke` (synchronous, as `arn:aws:states:::lambda:invoke` calls it) of the plan,
  profile and reduce functions named in the definition; the ItemReader's S3 GetObject of the
  manifest under `drift-partials/<model>/<run>/manifest.json` in the definition's bucket
  (SSE-KMS by the bucket's default: the harness's `kms:Decrypt` through S3); the Map's child
  execution `states:StartExecution` on the machine; Logs DescribeLogGroups,
  DescribeResourcePolicies and PutResourcePolicy (the log delivery's policy); X-Ray
  PutTraceSegments and PutTelemetryRecords. Simulated through the evaluator
  (`Enforcement.check`, on the role's policy as moto's IAM holds it, logged like the requests):
  `kms:GenerateDataKey` and `kms:Decrypt` of the machine's key with `kms:ViaService` =
  `states.<region>.amazonaws.com` and `kms:EncryptionContext:aws:states:stateMachineArn`
  (the execution's encrypted state and history: no request carries them); `states:
  DescribeExecution` and `states:StopExecution` on a child's ARN `execution:<machine>/
  ProfileObjects:<id>` (moto names executions `execution:<machine>:<id>` and cannot look up a
  Distributed Map child's ARN); the vended-log delivery actions `logs:CreateLogDelivery`,
  `GetLogDelivery`, `UpdateLogDelivery`, `DeleteLogDelivery`, `ListLogDeliveries` on `*` (IAM
  permissions only, no API moto has); X-Ray `GetSamplingRules` and `GetSamplingTargets` on `*`
  (moto does not implement them).

moto stand-ins: Lambda's invocation runs moto's simple backend (no Docker: the invocation is
authorized and answered, the function not run); the plan's KMS key is created with the plan's
key id. `ecr:GetDownloadUrlForLayer` is not implemented by moto: the request is authorized
(the decision is recorded) and moto then answers 500, which `_call` accepts for that operation
only.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from capture_format import sampled
from moto.kms.models import kms_backends
from moto.sqs.models import sqs_backends
from serving_sidecar import fetch
from serving_sidecar.capture import CaptureBuffer
from serving_sidecar.config import read_capture
from serving_sidecar.metrics import Metrics

from components.training import scheduled_start_input
from loop.harness import in_account
from loop.iam import Decision, Permission, _glob, _listed, condition_holds, statements
from loop.server import MotoServer, create_bucket
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

ROLE_TYPE: Final = "aws:iam/role:Role"
POLICY_TYPE: Final = "aws:iam/rolePolicy:RolePolicy"
SCHEDULE_TYPE: Final = "aws:scheduler/schedule:Schedule"
SCHEDULER: Final = "scheduler.amazonaws.com"
FIREHOSE: Final = "firehose.amazonaws.com"
SAGEMAKER: Final = "sagemaker.amazonaws.com"
BUDGETS: Final = "budgets.amazonaws.com"
PODS: Final = "pods.eks.amazonaws.com"
STATES: Final = "states.amazonaws.com"
MACHINE_TYPE: Final = "aws:sfn/stateMachine:StateMachine"
START_PIPELINE_TARGET: Final = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
RUN: Final = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
"""The scheduled time the calls stand for."""
LAYER: Final = "sha256:" + "1" * 64
"""The one layer of the images seeded in ECR."""
UNIMPLEMENTED: Final = frozenset({"GetDownloadUrlForLayer"})
"""Operations moto answers 500 (not implemented) after authorizing them."""


class ServiceCallError(AssertionError):
    """A service's call with the role failed (the denial, when IAM refused it, in the message)."""


# ---- the plan ------------------------------------------------------------------------------------


def plan_stack(stack: str, project_dir: Path = PROJECT_DIR) -> Plan:
    """The stack's plan, offline (the path `make plan` takes)."""
    return run_stack_config(load_stack_config(project_dir, stack))


@dataclass(frozen=True)
class RoleSpec:
    """One role as the plan renders it, with its one inline policy."""

    stack: str
    key: str
    """The role's registration name (`drift-scheduler-role`)."""
    name: str
    """The name the role is created with (the plan's; a twin's own)."""
    arn: str
    """The plan's ARN of the role: what the plan's other resources name it by."""
    trust_policy: str
    policy_name: str
    policy: str


def _named(plan: Plan, type_: str, name: str) -> Registration:
    found = [r for r in plan.by_type(type_) if r.name == name]
    if len(found) != 1:
        raise LookupError(f"stack {plan.stack}: expected one {type_} {name!r}, found {len(found)}")
    return found[0]


def role_spec(plan: Plan, key: str) -> RoleSpec:
    role = _named(plan, ROLE_TYPE, key)
    policies = [r for r in plan.by_type(POLICY_TYPE) if r.inputs.get("role") == role.id]
    attached = [
        r
        for r in plan.registrations
        if r.type.startswith("aws:iam/rolePolicyAttachment") and r.inputs.get("role") == role.id
    ]
    if len(policies) != 1 or attached:
        raise LookupError(
            f"stack {plan.stack}: role {key} has inline policies {[p.name for p in policies]} "
            f"and attachments {[a.name for a in attached]}; expected one inline policy"
        )
    partition = "aws-cn" if plan.region.startswith("cn-") else "aws"
    return RoleSpec(
        stack=plan.stack,
        key=key,
        name=role.id,
        arn=f"arn:{partition}:iam::{plan.account_id}:role/{role.id}",
        trust_policy=str(role.inputs["assumeRolePolicy"]),
        policy_name=policies[0].id,
        policy=str(policies[0].inputs["policy"]),
    )


def without(spec: RoleSpec, sid: str) -> RoleSpec:
    """The role with statement `sid` taken out of its policy (and another name: a twin)."""
    document = json.loads(spec.policy)
    kept = [s for s in document["Statement"] if s.get("Sid") != sid]
    if len(kept) != len(document["Statement"]) - 1:
        raise LookupError(f"no statement {sid} in {spec.policy}")
    return replace(
        spec,
        name=f"{spec.name}-no-{sid.lower()}"[:64],
        policy=json.dumps({**document, "Statement": kept}),
    )


def with_policy(spec: RoleSpec, policy: str, suffix: str) -> RoleSpec:
    """The role with another policy, created under another name (a twin)."""
    return replace(spec, name=f"{spec.name}-{suffix}"[:64], policy=policy)


def created_arn(spec: RoleSpec) -> str:
    return spec.arn.rsplit("/", 1)[0] + "/" + spec.name


# ---- trust ---------------------------------------------------------------------------------------


def trusts(
    trust_policy: str, service: str, actions: Sequence[str], context: Mapping[str, Sequence[str]]
) -> bool:
    """Does one Allow statement let `service` perform every one of `actions` (sts:AssumeRole,
    and sts:TagSession for a tagged session) with this context?"""
    for statement in statements(trust_policy):
        principals = dict(statement.get("Principal") or {})
        if statement.get("Effect") != "Allow" or service not in _listed(
            principals.get("Service", [])
        ):
            continue
        granted = _listed(statement.get("Action", []))
        if not all(any(_glob(g, a, ignore_case=True) for g in granted) for a in actions):
            continue
        if all(
            condition_holds(operator, key, expected, context)
            for operator, keys in dict(statement.get("Condition") or {}).items()
            for key, expected in dict(keys).items()
        ):
            return True
    return False


# ---- the account ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one service run did: its calls' decisions, and what failed."""

    role: RoleSpec
    decisions: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    @property
    def uses(self) -> frozenset[tuple[str, str]]:
        return frozenset((d.action, str(d.statement)) for d in self.decisions if d.allowed)


class ServiceAccount:
    """One stack's account behind one moto server (IAM enforced), for the service calls."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.partition = "aws-cn" if plan.region.startswith("cn-") else "aws"
        self.server = MotoServer(plan.account_id, plan.region, self.partition)
        self._buckets: set[str] = set()
        self._done: set[str] = set()
        self._config: Any = None
        self._account = ExitStack()

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ServiceAccount:
        # moto's server answers for its default account unless told otherwise (prod's plan has
        # its own): every request of this server's lifetime is the plan's account's.
        self._account.enter_context(in_account(self.plan.account_id))
        try:
            self.server.start()
        except BaseException:
            self._account.close()
            raise
        try:
            enforcement = self.server.enforcement
            enforcement.keys = replace(enforcement.keys, queue_key=self._queue_key)
            # moto's Lambda without Docker: an authorized Invoke is answered, nothing run.
            self._config = self._moto_config({"lambda": {"use_docker": False}})
            self._platform_key()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._config is not None:
                self._moto_config(self._config)
            self.server.close()
        finally:
            self._account.close()

    def _moto_config(self, config: Mapping[str, Any]) -> Any:
        previous = requests.get(self.server.url + "/moto-api/config", timeout=10).json()
        answer = requests.post(self.server.url + "/moto-api/config", json=config, timeout=10)
        answer.raise_for_status()
        return {"lambda": previous.get("lambda", {"use_docker": True})}

    def client(self, service: str) -> Any:
        return self.server.client(service)

    def _queue_key(self, queue_arn: str) -> str | None:
        name = queue_arn.rsplit(":", 1)[-1]
        queue = sqs_backends[self.plan.account_id][self.plan.region].queues.get(name)
        key = getattr(queue, "kms_master_key_id", None) if queue is not None else None
        return str(key) if key else None

    @property
    def kms_key_arn(self) -> str:
        return str(self.plan.outputs["kmsKeyArn"])

    def _platform_key(self) -> None:
        """The plan's key, with the plan's key id (moto draws its own: renamed in the backend)."""
        made = self.client("kms").create_key(Description="platform key")["KeyMetadata"]
        wanted = self.kms_key_arn.rsplit("/", 1)[-1]
        backend = kms_backends[self.plan.account_id][self.plan.region]
        key = backend.keys.pop(made["KeyId"])
        key.id = wanted
        key.arn = self.kms_key_arn
        backend.keys[wanted] = key

    # ---- roles -----------------------------------------------------------------------------------

    def _once(self, what: str) -> bool:
        """True the first time `what` is seeded in this account (twins reuse the seeding)."""
        if what in self._done:
            return False
        self._done.add(what)
        return True

    def create_role(self, spec: RoleSpec) -> None:
        iam = self.client("iam")
        iam.create_role(RoleName=spec.name, AssumeRolePolicyDocument=spec.trust_policy)
        if statements(spec.policy):  # IAM refuses an empty policy: a twin without any has none
            iam.put_role_policy(
                RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=spec.policy
            )

    def assume(
        self,
        spec: RoleSpec,
        service: str,
        context: Mapping[str, Sequence[str]],
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The role's credentials as `service` gets them (its trust checked first)."""
        actions = ["sts:AssumeRole"] + (["sts:TagSession"] if tags else [])
        full = {
            **context,
            **{f"aws:RequestTag/{k}": [v] for k, v in (tags or {}).items()},
            "aws:TagKeys": list(tags or {}),
        }
        if not trusts(spec.trust_policy, service, actions, full):
            raise PermissionError(
                f"the trust policy of role {spec.name} does not let {service} perform {actions} "
                f"with {dict(full)}: {spec.trust_policy}"
            )
        answer = self.client("sts").assume_role(
            RoleArn=created_arn(spec),
            RoleSessionName=service.split(".", 1)[0],
            **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
        )["Credentials"]
        return {
            "aws_access_key_id": answer["AccessKeyId"],
            "aws_secret_access_key": answer["SecretAccessKey"],
            "aws_session_token": answer["SessionToken"],
        }

    def as_role(self, credentials: Mapping[str, str], service: str) -> Any:
        """A client with the role's credentials (ECR: one attempt, as moto answers
        GetDownloadUrlForLayer 500 after authorizing it)."""
        if service != "ecr":
            return self.server.client(service, dict(credentials))
        return self.server._session.client(
            service,
            region_name=self.plan.region,
            endpoint_url=self.server.url,
            config=Config(retries={"total_max_attempts": 1}),
            **credentials,
        )

    @contextmanager
    def _run(self, spec: RoleSpec) -> Iterator[Outcome]:
        outcome = Outcome(spec)
        before = len(self.server.enforcement.decisions)
        try:
            yield outcome
        finally:
            session = f"assumed-role/{spec.name}/"
            outcome.decisions = [
                d for d in self.server.enforcement.decisions[before:] if session in d.principal
            ]

    @staticmethod
    def _call(outcome: Outcome, what: str, call: Callable[[], Any]) -> Any:
        """One call; a failure is recorded (denials included), never raised."""
        try:
            return call()
        except ClientError as exc:
            operation = exc.operation_name
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if operation in UNIMPLEMENTED and status == 500:
                return None
            outcome.errors.append(f"{what}: {exc}")
        except Exception as exc:  # every failure is reported to the test
            outcome.errors.append(f"{what}: {exc.__class__.__name__}: {exc}")
        return None

    # ---- seeding ---------------------------------------------------------------------------------

    def bucket(self, name: str) -> None:
        """The bucket, with its default encryption as the plan declares it."""
        if name in self._buckets:
            return
        rules = [
            rule
            for r in self.plan.by_type(
                "aws:s3/bucketServerSideEncryptionConfiguration:"
                "BucketServerSideEncryptionConfiguration"
            )
            if r.inputs["bucket"] == name
            for rule in r.inputs["rules"]
        ]
        create_bucket(self.client("s3"), name, self.plan.region, rules)
        self._buckets.add(name)

    def _queue(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        declared = [
            r for r in self.plan.by_type("aws:sqs/queue:Queue") if r.inputs.get("name") == name
        ]
        key = declared[0].inputs.get("kmsMasterKeyId") if declared else None
        sqs = self.client("sqs")
        return str(
            sqs.create_queue(
                QueueName=name, Attributes={"KmsMasterKeyId": str(key)} if key else {}
            )["QueueUrl"]
        )

    def _stub_role(self, name: str, service: str = "lambda.amazonaws.com") -> str:
        iam = self.client("iam")
        try:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except ClientError:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            return str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                    "Arn"
                ]
            )

    def _function(self, arn: str) -> None:
        name = arn.rsplit(":", 1)[-1]
        if name in self._done:
            return
        function = next(
            r for r in self.plan.by_type("aws:lambda/function:Function") if r.inputs["name"] == name
        )
        role = self._stub_role(str(function.inputs["role"]).rsplit("/", 1)[-1])
        code = io.BytesIO()  # any code: moto's simple backend runs none
        with zipfile.ZipFile(code, "w") as zipped:
            zipped.writestr("handler.py", "def handler(event, context):\n    return event\n")
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )
        self._done.add(name)

    def _pipeline(self, name: str) -> None:
        if name in self._done:
            return
        pipeline = next(
            r
            for r in self.plan.by_type("aws:sagemaker/pipeline:Pipeline")
            if r.inputs["pipelineName"] == name
        )
        self._stub_role(str(pipeline.inputs["roleArn"]).rsplit("/", 1)[-1], SAGEMAKER)
        self.client("sagemaker").create_pipeline(
            PipelineName=name,
            PipelineDefinition=str(pipeline.inputs["pipelineDefinition"]),
            RoleArn=str(pipeline.inputs["roleArn"]),
        )
        self._done.add(name)

    def _state_machine(self, arn: str) -> dict[str, Any]:
        """The plan's state machine (its definition, role, logging, tracing and encryption as
        the plan declares them), created once; its inputs."""
        name = arn.rsplit(":", 1)[-1]
        machine = next(r for r in self.plan.by_type(MACHINE_TYPE) if r.inputs["name"] == name)
        inputs = dict(machine.inputs)
        if self._once(f"states:{name}"):
            encryption = inputs.get("encryptionConfiguration") or {}
            made = self.client("stepfunctions").create_state_machine(
                name=name,
                definition=str(inputs["definition"]),
                roleArn=str(inputs["roleArn"]),
                type=str(inputs.get("type", "STANDARD")),
                loggingConfiguration={
                    "level": inputs["loggingConfiguration"]["level"],
                    "includeExecutionData": inputs["loggingConfiguration"]["includeExecutionData"],
                    "destinations": [
                        {
                            "cloudWatchLogsLogGroup": {
                                "logGroupArn": inputs["loggingConfiguration"]["logDestination"]
                            }
                        }
                    ],
                },
                tracingConfiguration={"enabled": bool(inputs["tracingConfiguration"]["enabled"])},
                encryptionConfiguration={
                    "type": str(encryption["type"]),
                    "kmsKeyId": str(encryption["kmsKeyId"]),
                    "kmsDataKeyReusePeriodSeconds": int(encryption["kmsDataKeyReusePeriodSeconds"]),
                },
            )
            if made["stateMachineArn"] != arn:
                raise LookupError(f"moto made {made['stateMachineArn']}, the plan names {arn}")
        return inputs

    # ---- EventBridge Scheduler -------------------------------------------------------------------

    def schedules(self, spec: RoleSpec) -> list[dict[str, Any]]:
        """The targets of the role's schedules (`arn`, `input`, `deadLetterConfig`), and
        `kmsKeyArn`; for a pipeline scheduler with no schedule in the plan, the schedule the
        training component renders for each pipeline (`scheduled_start_input`)."""
        found = []
        for r in sorted(self.plan.by_type(SCHEDULE_TYPE), key=lambda r: r.name):
            if r.inputs["target"]["roleArn"] == spec.arn:
                found.append({**r.inputs["target"], "kmsKeyArn": r.inputs.get("kmsKeyArn")})
        if found or not spec.key.startswith("training-"):
            return found
        dlq = next(r for r in self.plan.by_type("aws:sqs/queue:Queue") if r.name == "training-dlq")
        arn = (
            f"arn:{self.partition}:sqs:{self.plan.region}:{self.plan.account_id}"
            f":{dlq.inputs['name']}"
        )
        for r in sorted(self.plan.by_type("aws:sagemaker/pipeline:Pipeline"), key=lambda r: r.name):
            if not r.name.startswith("training-"):
                continue
            found.append(
                {
                    "arn": START_PIPELINE_TARGET,
                    "input": scheduled_start_input(str(r.inputs["pipelineName"]), window=True),
                    "deadLetterConfig": {"arn": arn},
                    "kmsKeyArn": self.kms_key_arn,
                }
            )
        return found

    def scheduler(self, spec: RoleSpec) -> Outcome:
        targets = self.schedules(spec)
        if not targets:
            raise LookupError(f"stack {self.plan.stack}: no schedule uses role {spec.key}")
        for target in targets:
            if target["arn"].startswith("arn:aws:lambda") or ":lambda:" in target["arn"]:
                self._function(target["arn"])
            elif _is_machine(target["arn"]):
                self._state_machine(target["arn"])
            else:
                self._pipeline(json.loads(target["input"])["PipelineName"])
        queues = {t["deadLetterConfig"]["arn"]: "" for t in targets}
        for arn in queues:
            queues[arn] = self._queue(arn)
        self.create_role(spec)
        creds = self.assume(spec, SCHEDULER, {"aws:SourceAccount": [self.plan.account_id]})
        kms = self.as_role(creds, "kms")
        sagemaker = self.as_role(creds, "sagemaker")
        lam = self.as_role(creds, "lambda")
        sqs = self.as_role(creds, "sqs")
        sfn = self.as_role(creds, "stepfunctions")
        with self._run(spec) as outcome:
            for number, target in enumerate(targets):
                text = (
                    str(target["input"])
                    .replace("<aws.scheduler.scheduled-time>", RUN.strftime("%Y-%m-%dT%H:%M:%SZ"))
                    .replace(
                        "<aws.scheduler.execution-id>",
                        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.key}/{number}")),
                    )
                )
                key = target.get("kmsKeyArn")
                if key:  # the schedule's input is stored encrypted under the key
                    blob = self.client("kms").encrypt(KeyId=key, Plaintext=text.encode())[
                        "CiphertextBlob"
                    ]
                    self._call(
                        outcome,
                        "decrypt the schedule",
                        partial(kms.decrypt, CiphertextBlob=blob, KeyId=key),
                    )
                if target["arn"] == START_PIPELINE_TARGET:
                    request = json.loads(text)
                    self._call(
                        outcome,
                        "start the pipeline",
                        partial(sagemaker.start_pipeline_execution, **request),
                    )
                elif _is_machine(target["arn"]):
                    self._call(
                        outcome,
                        "start the state machine",
                        partial(sfn.start_execution, stateMachineArn=target["arn"], input=text),
                    )
                else:
                    self._call(
                        outcome,
                        "invoke the function",
                        partial(
                            lam.invoke,
                            FunctionName=target["arn"],
                            InvocationType="Event",
                            Payload=text.encode(),
                        ),
                    )
                url = queues[target["deadLetterConfig"]["arn"]]
                self._call(
                    outcome,
                    "park the undelivered invocation",
                    partial(sqs.send_message, QueueUrl=url, MessageBody=text),
                )
        return outcome

    # ---- Step Functions: the state machine's execution role --------------------------------------

    def _simulate(
        self, outcome: Outcome, spec: RoleSpec, operation: str, needs: Sequence[Permission]
    ) -> None:
        """Checks AWS makes with the role where moto has no request for them (`Enforcement.check`
        on the role's policies as moto's IAM holds them); a denial recorded as AWS words it."""
        iam = self.client("iam")
        documents = [
            json.dumps(iam.get_role_policy(RoleName=spec.name, PolicyName=n)["PolicyDocument"])
            for n in iam.list_role_policies(RoleName=spec.name)["PolicyNames"]
        ]
        principal = (
            f"arn:{self.partition}:sts::{self.plan.account_id}:assumed-role/{spec.name}/states"
        )
        common = {"aws:RequestedRegion": [self.plan.region], "aws:SecureTransport": ["true"]}
        decisions = self.server.enforcement.check(
            principal,
            documents,
            operation,
            self.plan.account_id,
            [replace(n, context={**common, **n.context}) for n in needs],
        )
        for denied in (d for d in decisions if not d.allowed):
            through = f" (through {denied.via})" if denied.via else ""
            outcome.errors.append(
                f"{operation} (simulated): AccessDenied: User: {denied.principal} is not "
                f"authorized to perform: {denied.action}{through} on resource: "
                f"{denied.resource} because {denied.reason}"
            )

    def state_machine(self, spec: RoleSpec) -> Outcome:
        """What Step Functions does with its execution role when it runs the plan's definition
        once (the module's docstring: which calls are requests, which are simulated)."""
        machine = next(
            r for r in self.plan.by_type(MACHINE_TYPE) if r.inputs["roleArn"] == spec.arn
        )
        name = str(machine.inputs["name"])
        arn = f"arn:{self.partition}:states:{self.plan.region}:{self.plan.account_id}"
        machine_arn = f"{arn}:stateMachine:{name}"
        inputs = self._state_machine(machine_arn)
        definition = json.loads(str(inputs["definition"]))
        plan_state, map_state, reduce_state = (
            definition["States"][s] for s in ("PlanWindow", "ProfileObjects", "Reduce")
        )
        (profile_state,) = map_state["ItemProcessor"]["States"].values()
        functions = [
            str(state["Parameters"]["FunctionName"])
            for state in (plan_state, profile_state, reduce_state)
        ]
        for function in functions:
            self._function(function)
        reader = map_state["ItemReader"]
        bucket = str(reader["Parameters"]["Bucket"])
        self.bucket(bucket)
        schedule = self.schedules_of(machine_arn)[0]  # the request a schedule starts it with
        request = json.loads(
            str(schedule["input"]).replace(
                "<aws.scheduler.scheduled-time>", RUN.strftime("%Y-%m-%dT%H:%M:%SZ")
            )
        )
        run_id = f"{RUN:%Y%m%dT%H}-0123456789ab"
        manifest_key = f"drift-partials/{request['model']}/{run_id}/manifest.json"
        items = [{"key": f"datacapture/{request['endpoint']}/AllTraffic/2026/11/27/06/a.jsonl"}]
        self.client("s3").put_object(
            Bucket=bucket, Key=manifest_key, Body=json.dumps(items).encode()
        )
        key = str(inputs["encryptionConfiguration"]["kmsKeyId"])
        log_group = str(inputs["loggingConfiguration"]["logDestination"]).removesuffix(":*")
        self.create_role(spec)
        creds = self.assume(
            spec,
            STATES,
            {"aws:SourceAccount": [self.plan.account_id], "aws:SourceArn": [machine_arn]},
        )
        lam = self.as_role(creds, "lambda")
        s3 = self.as_role(creds, "s3")
        sfn = self.as_role(creds, "stepfunctions")
        logs = self.as_role(creds, "logs")
        xray = self.as_role(creds, "xray")
        via_states = {
            "kms:ViaService": [f"states.{self.plan.region}.amazonaws.com"],
            "kms:CallerAccount": [self.plan.account_id],
            "kms:EncryptionContext:aws:states:stateMachineArn": [machine_arn],
        }
        plan_output = {
            "manifest_bucket": bucket,
            "manifest_key": manifest_key,
            "run_id": run_id,
            "request": request,
        }
        # a Distributed Map child: execution:<machine>/<Map state's label>:<execution id>
        child = (
            f"{arn}:execution:{name}/ProfileObjects:{uuid.uuid5(uuid.NAMESPACE_URL, machine_arn)}"
        )
        batch = {"Items": items, "BatchInput": {"run_id": run_id, "request": request}}
        with self._run(spec) as outcome:
            call = self._call
            # the execution's state and history, encrypted under the machine's key
            self._simulate(
                outcome,
                spec,
                "states:StartExecution",
                [
                    Permission(a, key, via_states, "states")
                    for a in ("kms:GenerateDataKey", "kms:Decrypt")
                ],
            )
            call(
                outcome,
                "PlanWindow",
                partial(lam.invoke, FunctionName=functions[0], Payload=json.dumps(request)),
            )
            call(
                outcome,
                "ItemReader",
                partial(s3.get_object, Bucket=bucket, Key=manifest_key),
            )
            call(
                outcome,
                "a Map child execution",
                partial(
                    sfn.start_execution,
                    stateMachineArn=machine_arn,
                    name="map-child-1",
                    input=json.dumps(batch),
                ),
            )
            self._simulate(
                outcome,
                spec,
                "states:DescribeExecution",
                [
                    Permission(a, child)
                    for a in ("states:DescribeExecution", "states:StopExecution")
                ],
            )
            call(
                outcome,
                "ProfileBatch",
                partial(lam.invoke, FunctionName=functions[1], Payload=json.dumps(batch)),
            )
            call(
                outcome,
                "Reduce",
                partial(lam.invoke, FunctionName=functions[2], Payload=json.dumps(plan_output)),
            )
            # logging to CloudWatch Logs: the log delivery (vended logs) to the plan's group
            self._simulate(
                outcome,
                spec,
                "logs:CreateLogDelivery",
                [
                    Permission(f"logs:{a}", "*")
                    for a in (
                        "CreateLogDelivery",
                        "GetLogDelivery",
                        "UpdateLogDelivery",
                        "DeleteLogDelivery",
                        "ListLogDeliveries",
                    )
                ],
            )
            call(
                outcome,
                "DescribeLogGroups",
                partial(logs.describe_log_groups, logGroupNamePrefix=log_group.rsplit(":", 1)[-1]),
            )
            call(outcome, "DescribeResourcePolicies", logs.describe_resource_policies)
            call(
                outcome,
                "PutResourcePolicy",
                partial(
                    logs.put_resource_policy,
                    policyName="AWSLogDeliveryWrite20150319",
                    policyDocument=json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "AWSLogDeliveryWrite",
                                    "Effect": "Allow",
                                    "Principal": {"Service": "delivery.logs.amazonaws.com"},
                                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                    "Resource": f"{log_group}:log-stream:*",
                                }
                            ],
                        }
                    ),
                ),
            )
            # tracing (X-Ray): sampling, then the segments and telemetry
            self._simulate(
                outcome,
                spec,
                "xray:GetSamplingRules",
                [Permission(f"xray:{a}", "*") for a in ("GetSamplingRules", "GetSamplingTargets")],
            )
            segment = {
                "name": name,
                "id": "70de5b6f19ff9a0a",
                "trace_id": f"1-{int(RUN.timestamp()):08x}-0123456789abcdef01234567",
                "start_time": RUN.timestamp(),
                "end_time": RUN.timestamp() + 1,
            }
            call(
                outcome,
                "PutTraceSegments",
                partial(xray.put_trace_segments, TraceSegmentDocuments=[json.dumps(segment)]),
            )
            call(
                outcome,
                "PutTelemetryRecords",
                partial(
                    xray.put_telemetry_records,
                    TelemetryRecords=[{"Timestamp": RUN, "SegmentsReceivedCount": 1}],
                ),
            )
        return outcome

    def schedules_of(self, target_arn: str) -> list[dict[str, Any]]:
        """The targets of the plan's schedules that start `target_arn`."""
        return [
            r.inputs["target"]
            for r in sorted(self.plan.by_type(SCHEDULE_TYPE), key=lambda r: r.name)
            if r.inputs["target"]["arn"] == target_arn
        ]

    # ---- Firehose --------------------------------------------------------------------------------

    def firehose(self, spec: RoleSpec) -> Outcome:
        stream = next(
            r.inputs
            for r in self.plan.by_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
            if r.inputs["extendedS3Configuration"]["roleArn"] == spec.arn
        )
        s3cfg = stream["extendedS3Configuration"]
        bucket = str(s3cfg["bucketArn"]).rsplit(":", 1)[-1]
        self.bucket(bucket)
        logging = s3cfg["cloudwatchLoggingOptions"]
        if self._once(f"logs:{logging['logGroupName']}"):
            logs_admin = self.client("logs")
            logs_admin.create_log_group(logGroupName=logging["logGroupName"])
            logs_admin.create_log_stream(
                logGroupName=logging["logGroupName"], logStreamName=logging["logStreamName"]
            )
        self.create_role(spec)
        name = str(stream["name"])
        creds = self.assume(
            spec,
            FIREHOSE,
            {
                "aws:SourceAccount": [self.plan.account_id],
                "aws:SourceArn": [
                    f"arn:{self.partition}:firehose:{self.plan.region}:{self.plan.account_id}"
                    f":deliverystream/{name}"
                ],
            },
        )
        s3 = self.as_role(creds, "s3")
        logs = self.as_role(creds, "logs")

        def expand(prefix: str) -> str:
            return prefix.replace(
                "!{timestamp:yyyy/MM/dd/HH}", RUN.strftime("%Y/%m/%d/%H")
            ).replace("!{firehose:error-output-type}", "processing-failed")

        stamp = RUN.strftime("%Y-%m-%d-%H-%M-%S")
        capture = f"{expand(s3cfg['prefix'])}{name}-1-{stamp}-0001.gz"
        failed = f"{expand(s3cfg['errorOutputPrefix'])}{name}-1-{stamp}-0002.gz"
        body = gzip.compress(b'{"captureData": {}}\n')
        # The destination's encryption configuration: Firehose names the key in each write.
        sse: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": str(s3cfg["kmsKeyArn"])}
            if s3cfg.get("kmsKeyArn")
            else {}
        )
        with self._run(spec) as outcome:
            call = self._call
            call(outcome, "GetBucketLocation", lambda: s3.get_bucket_location(Bucket=bucket))
            call(
                outcome,
                "ListMultipartUploads",
                lambda: s3.list_multipart_uploads(Bucket=bucket),
            )
            for key in (capture, failed):
                call(
                    outcome,
                    f"PutObject {key}",
                    partial(s3.put_object, Bucket=bucket, Key=key, Body=body, **sse),
                )
            upload = call(
                outcome,
                "CreateMultipartUpload",
                lambda: s3.create_multipart_upload(Bucket=bucket, Key=capture + ".part", **sse),
            )
            if upload is not None:
                upload_id = upload["UploadId"]
                call(
                    outcome,
                    "ListParts",
                    lambda: s3.list_parts(Bucket=bucket, Key=capture + ".part", UploadId=upload_id),
                )
                call(
                    outcome,
                    "AbortMultipartUpload",
                    lambda: s3.abort_multipart_upload(
                        Bucket=bucket, Key=capture + ".part", UploadId=upload_id
                    ),
                )
            call(
                outcome,
                "PutLogEvents",
                lambda: logs.put_log_events(
                    logGroupName=logging["logGroupName"],
                    logStreamName=logging["logStreamName"],
                    logEvents=[
                        {"timestamp": int(RUN.timestamp() * 1000), "message": "delivery failed"}
                    ],
                ),
            )
        return outcome

    # ---- SageMaker hosting -----------------------------------------------------------------------

    def _model(self, spec: RoleSpec) -> tuple[str, str]:
        """(model key, endpoint name) of the model role `inference-<model>-model-role`."""
        model = spec.key.removeprefix("inference-").removesuffix("-model-role")
        return model, str(self.plan.outputs["endpoints"][model])

    def _images(self, model: str) -> list[str]:
        """The model's own repository, and the framework image its training pipeline registers
        the model with (the container SageMaker hosting pulls)."""
        images = [str(self.plan.outputs["imageRepositories"][model])]
        pipeline = next(
            r
            for r in self.plan.by_type("aws:sagemaker/pipeline:Pipeline")
            if r.inputs["pipelineName"] == self.plan.outputs["trainingPipelines"][model]
        )
        text = str(pipeline.inputs["pipelineDefinition"])
        for step in _steps(json.loads(text).get("Steps", [])):
            if step.get("Type") == "RegisterModel":
                for container in step["Arguments"]["InferenceSpecification"]["Containers"]:
                    images.append(str(container["Image"]))
        return sorted(set(images))

    def sagemaker_model(self, spec: RoleSpec) -> Outcome:
        model, endpoint = self._model(spec)
        ecr_admin = self.client("ecr")
        pulls = []
        for image in self._images(model):
            registry, repository, tag = _pull(image)
            pulls.append((registry, repository, tag))
            if not self._once(f"image:{image}"):
                continue
            ecr_admin.create_repository(repositoryName=repository, registryId=registry)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": "sha256:" + "0" * 64, "size": 1, "mediaType": "x"},
                    "layers": [{"digest": LAYER, "size": 1, "mediaType": "y"}],
                }
            )
            ecr_admin.put_image(
                repositoryName=repository,
                registryId=registry,
                imageManifest=manifest,
                imageTag=tag,
            )
        artifacts = str(self.plan.outputs["modelArtifactUris"][model])
        bucket, _, prefix = artifacts.removeprefix("s3://").partition("/")
        self.bucket(bucket)
        artifact = f"{prefix}execution-1/model.tar.gz"
        self.client("s3").put_object(Bucket=bucket, Key=artifact, Body=_model_archive())
        capture_bucket = str(self.plan.outputs["buckets"]["capture"])
        self.bucket(capture_bucket)
        self.create_role(spec)
        creds = self.assume(spec, SAGEMAKER, {"aws:SourceAccount": [self.plan.account_id]})
        ecr = self.as_role(creds, "ecr")
        s3 = self.as_role(creds, "s3")
        logs = self.as_role(creds, "logs")
        cloudwatch = self.as_role(creds, "cloudwatch")
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        stream = "AllTraffic/i-0123456789abcdef0"
        with self._run(spec) as outcome:
            call = self._call
            call(outcome, "GetAuthorizationToken", ecr.get_authorization_token)
            for registry, repository, tag in pulls:
                where = {"registryId": registry, "repositoryName": repository}
                call(
                    outcome,
                    f"BatchGetImage {repository}",
                    partial(ecr.batch_get_image, **where, imageIds=[{"imageTag": tag}]),
                )
                call(
                    outcome,
                    f"BatchCheckLayerAvailability {repository}",
                    partial(ecr.batch_check_layer_availability, **where, layerDigests=[LAYER]),
                )
                call(
                    outcome,
                    f"GetDownloadUrlForLayer {repository}",
                    partial(ecr.get_download_url_for_layer, **where, layerDigest=LAYER),
                )
            call(outcome, "GetObject artifact", lambda: s3.get_object(Bucket=bucket, Key=artifact))
            capture_key = (
                f"datacapture/{endpoint}/AllTraffic/{RUN:%Y/%m/%d/%H}/00-000-capture.jsonl"
            )
            call(
                outcome,
                "PutObject capture",
                lambda: s3.put_object(Bucket=capture_bucket, Key=capture_key, Body=b"{}\n"),
            )
            call(outcome, "CreateLogGroup", lambda: logs.create_log_group(logGroupName=group))
            call(
                outcome,
                "CreateLogStream",
                lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream),
            )
            call(
                outcome,
                "PutLogEvents",
                lambda: logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": int(RUN.timestamp() * 1000), "message": "ready"}],
                ),
            )
            call(
                outcome,
                "PutMetricData",
                lambda: cloudwatch.put_metric_data(
                    Namespace="/aws/sagemaker/Endpoints",
                    MetricData=[
                        {
                            "MetricName": "CPUUtilization",
                            "Value": 1.0,
                            "Dimensions": [
                                {"Name": "EndpointName", "Value": endpoint},
                                {"Name": "VariantName", "Value": "AllTraffic"},
                            ],
                        }
                    ],
                ),
            )
        return outcome

    # ---- Feature Store offline store -------------------------------------------------------------

    def feature_store(self, spec: RoleSpec) -> Outcome:
        group = next(
            r.inputs
            for r in self.plan.by_type("aws:sagemaker/featureGroup:FeatureGroup")
            if r.inputs["roleArn"] == spec.arn
        )
        offline = group["offlineStoreConfig"]
        uri = str(offline["s3StorageConfig"]["s3Uri"])
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        self.bucket(bucket)
        catalog = offline["dataCatalogConfig"]
        database, table = str(catalog["database"]), str(catalog["tableName"])
        glue_admin = self.client("glue")
        if self._once(f"glue:{database}"):
            glue_admin.create_database(DatabaseInput={"Name": database})
        columns = [
            {"Name": f["featureName"], "Type": "string"} for f in group["featureDefinitions"]
        ]
        table_input: dict[str, Any] = {
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"table_type": "ICEBERG", "metadata_location": f"{uri}/metadata/0.json"},
            "StorageDescriptor": {"Columns": columns, "Location": f"{uri}/data"},
        }
        if self._once(f"glue:{database}/{table}"):
            glue_admin.create_table(DatabaseName=database, TableInput=table_input)
        name = str(group["featureGroupName"])
        self.create_role(spec)
        creds = self.assume(
            spec,
            SAGEMAKER,
            {
                "aws:SourceAccount": [self.plan.account_id],
                "aws:SourceArn": [
                    f"arn:{self.partition}:sagemaker:{self.plan.region}:{self.plan.account_id}"
                    f":feature-group/{name}"
                ],
            },
        )
        s3 = self.as_role(creds, "s3")
        glue = self.as_role(creds, "glue")
        data = f"{prefix}/data/event_time_day=2026-11-27/part-00000.parquet"
        metadata = f"{prefix}/metadata/00001-commit.metadata.json"
        with self._run(spec) as outcome:
            call = self._call
            call(outcome, "GetBucketAcl", lambda: s3.get_bucket_acl(Bucket=bucket))
            call(
                outcome,
                "ListObjectsV2",
                lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/metadata/"),
            )
            for key in (data, metadata):
                call(
                    outcome,
                    f"PutObject {key}",
                    partial(s3.put_object, Bucket=bucket, Key=key, Body=b"PAR1"),
                )
            call(outcome, "GetObject", lambda: s3.get_object(Bucket=bucket, Key=metadata))
            call(outcome, "GetTable", lambda: glue.get_table(DatabaseName=database, Name=table))
            committed = {
                **table_input,
                "Parameters": {
                    **table_input["Parameters"],
                    "metadata_location": f"s3://{bucket}/{metadata}",
                },
            }
            call(
                outcome,
                "UpdateTable",
                lambda: glue.update_table(DatabaseName=database, TableInput=committed),
            )
            call(outcome, "DeleteObject", lambda: s3.delete_object(Bucket=bucket, Key=data))
        return outcome

    # ---- AWS Budgets action ----------------------------------------------------------------------

    def budget_action(self, spec: RoleSpec) -> Outcome:
        action = next(
            r.inputs
            for r in self.plan.by_type("aws:budgets/budgetAction:BudgetAction")
            if r.inputs["executionRoleArn"] == spec.arn
        )
        definition = action["definition"]["iamActionDefinition"]
        policy_arn = str(definition["policyArn"])
        deny = next(
            r
            for r in self.plan.by_type("aws:iam/policy:Policy")
            if str(r.inputs.get("name")) == policy_arn.rsplit("/", 1)[-1]
        )
        if self._once(policy_arn):
            self.client("iam").create_policy(
                PolicyName=str(deny.inputs["name"]), PolicyDocument=str(deny.inputs["policy"])
            )
        roles = [str(r) for r in definition["roles"]]
        for role in roles:
            self._stub_role(role)
        self.create_role(spec)
        creds = self.assume(spec, BUDGETS, {"aws:SourceAccount": [self.plan.account_id]})
        iam = self.as_role(creds, "iam")
        with self._run(spec) as outcome:
            for role in roles:
                self._call(
                    outcome,
                    f"AttachRolePolicy {role}",
                    partial(iam.attach_role_policy, RoleName=role, PolicyArn=policy_arn),
                )
            for role in roles:
                self._call(
                    outcome,
                    f"DetachRolePolicy {role}",
                    partial(iam.detach_role_policy, RoleName=role, PolicyArn=policy_arn),
                )
        return outcome

    # ---- EKS Pod Identity workloads --------------------------------------------------------------

    def _pod_identity(self, spec: RoleSpec) -> dict[str, str]:
        association = next(
            r.inputs
            for r in self.plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
            if r.inputs["roleArn"] == spec.arn
        )
        cluster = (
            f"arn:{self.partition}:eks:{self.plan.region}:{self.plan.account_id}:cluster/"
            f"{association['clusterName']}"
        )
        self.create_role(spec)
        return self.assume(
            spec,
            PODS,
            {"aws:SourceAccount": [self.plan.account_id], "aws:SourceArn": [cluster]},
            tags={  # the session tags EKS Pod Identity sets
                "eks-cluster-arn": cluster,
                "eks-cluster-name": str(association["clusterName"]),
                "kubernetes-namespace": str(association["namespace"]),
                "kubernetes-service-account": str(association["serviceAccount"]),
            },
        )

    def _containers(self, spec: RoleSpec) -> list[tuple[str, dict[str, str]]]:
        """(args[0], env) of each container of the deployments run by the role's service
        account (the downward API's POD_NAME given as a pod's name)."""
        association = next(
            r.inputs
            for r in self.plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
            if r.inputs["roleArn"] == spec.arn
        )
        out = []
        for deployment in sorted(
            self.plan.by_type("kubernetes:apps/v1:Deployment"), key=lambda r: r.name
        ):
            pod = deployment.inputs["spec"]["template"]["spec"]
            namespace = deployment.inputs["metadata"].get("namespace")
            if (
                pod.get("serviceAccountName") != association["serviceAccount"]
                or namespace != association["namespace"]
            ):
                continue
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                env = {
                    str(e["name"]): str(e["value"])
                    for e in container.get("env", [])
                    if "value" in e
                }
                env.setdefault("POD_NAME", f"{deployment.inputs['metadata']['name']}-7d9f8-x2v4q")
                out.append((str((container.get("args") or [""])[0]), env))
        return out

    def serving_pod(self, spec: RoleSpec) -> Outcome:
        containers = self._containers(spec)
        fetches = [env for args, env in containers if args == "serving_sidecar.fetch"]
        proxies = [env for args, env in containers if args == "serving_sidecar.proxy"]
        if not fetches or not proxies:
            raise LookupError(f"stack {self.plan.stack}: no sidecar runs as {spec.key}")
        models = str(self.plan.outputs["buckets"]["model-artifacts"])
        self.bucket(models)
        sagemaker_admin = self.client("sagemaker")
        s3_admin = self.client("s3")
        packages = sorted({env["MODEL_PACKAGE_ARN"] for env in fetches})
        for arn in packages:
            group, version = arn.rsplit("/", 2)[-2:]
            if group not in self._done:
                sagemaker_admin.create_model_package_group(ModelPackageGroupName=group)
                self._done.add(group)
            # Versions up to the one the deployment names, each with its artifact.
            existing = sagemaker_admin.list_model_packages(ModelPackageGroupName=group)
            for number in range(len(existing["ModelPackageSummaryList"]) + 1, int(version) + 1):
                key = f"models/churn/execution-{number}/model.tar.gz"
                s3_admin.put_object(Bucket=models, Key=key, Body=_model_archive())
                sagemaker_admin.create_model_package(
                    ModelPackageGroupName=group,
                    ModelApprovalStatus="Approved",
                    InferenceSpecification={
                        "Containers": [
                            {"Image": "loop/model:latest", "ModelDataUrl": f"s3://{models}/{key}"}
                        ],
                        "SupportedContentTypes": ["text/csv"],
                        "SupportedResponseMIMETypes": ["text/csv"],
                    },
                )
        for env in proxies:
            self.bucket(env["CAPTURE_BUCKET"])
        creds = self._pod_identity(spec)
        sagemaker = self.as_role(creds, "sagemaker")
        s3 = self.as_role(creds, "s3")
        with self._run(spec) as outcome, tempfile.TemporaryDirectory() as tmp:
            for number, env in enumerate(fetches):
                config = fetch.FetchConfig(
                    package_arn=env["MODEL_PACKAGE_ARN"], model_dir=Path(tmp) / f"model-{number}"
                )
                self._call(
                    outcome,
                    f"fetch {config.package_arn}",
                    partial(fetch.fetch, config, sagemaker, s3),
                )
            for env in proxies:
                settings = read_capture(env)
                if not settings.enabled:  # sampling 0: the sidecar writes nothing
                    continue
                # an event the deployment's sampling keeps (prod samples a share of them)
                event = next(
                    f"e-{n:04d}"
                    for n in range(10_000)
                    if sampled(f"e-{n:04d}", settings.sampling_percent)
                )
                capture = CaptureBuffer(settings, s3, Metrics(), clock=lambda: RUN)
                outcome_of_offer = capture.offer(
                    event,
                    RUN,
                    ("text/csv", b"12,70.5,month-to-month"),
                    ("text/csv", b"0.42"),
                    inference_id="service-role-sufficiency",
                )
                written = capture.flush()
                if (outcome_of_offer, written) != ("captured", 1):
                    outcome.errors.append(
                        f"capture of {env['VARIANT_NAME']}: offer {outcome_of_offer}, "
                        f"{written} written (the sidecar's log has the S3 error)"
                    )
        return outcome

    def alertmanager(self, spec: RoleSpec) -> Outcome:
        topic = next(
            r for r in self.plan.by_type("aws:sns/topic:Topic") if r.name == "platform-events-topic"
        )
        key = topic.inputs.get("kmsMasterKeyId")
        arn = str(
            self.client("sns").create_topic(
                Name=topic.id, Attributes={"KmsMasterKeyId": str(key)} if key else {}
            )["TopicArn"]
        )
        assert arn == self.plan.outputs["platformTopicArn"], (arn, self.plan.outputs)
        creds = self._pod_identity(spec)
        sns = self.as_role(creds, "sns")
        with self._run(spec) as outcome:
            self._call(
                outcome,
                "Publish",
                lambda: sns.publish(
                    TopicArn=arn,
                    Subject="[FIRING:1] ChurnLatencyHigh",
                    Message=json.dumps({"status": "firing", "alerts": [{"labels": {}}]}),
                ),
            )
        return outcome


def _is_machine(arn: str) -> bool:
    return ":states:" in arn and ":stateMachine:" in arn


def _pull(image: str) -> tuple[str, str, str]:
    """(registry id, repository, tag) of an ECR image URI."""
    host, _, path = image.partition("/")
    repository, _, tag = path.partition(":")
    return host.split(".", 1)[0], repository, tag or "latest"


def _steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step of a pipeline definition, those inside conditions included."""
    for step in steps:
        yield step
        arguments = step.get("Arguments") or {}
        for branch in ("IfSteps", "ElseSteps"):
            yield from _steps(list(arguments.get(branch) or []))


def _model_archive() -> bytes:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = b"model weights"
        info = tarfile.TarInfo("model.joblib")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()
