"""The closed loop, offline: drift check -> DriftDetected -> retraining trigger -> pipeline.

`ClosedLoop(plan)` is the account the plan would deploy (moto answers in the plan's account id,
`in_account`), behind moto's server with IAM enforcement on (`loop.server`, `loop.iam`; the
queues' KMS keys known to it, `with_queue_keys`):
- seeded, with the admin's credentials, with what the plan declares: the buckets with their
  SSE-KMS defaults, the decisions table (keys, TTL, key, point-in-time recovery), the platform
  bus, the topic under the platform key, the model package group, the training pipeline with
  its rendered definition, each function's role with exactly the policy the plan rendered for it
  (and no other); and with data: the model's baseline and a window of capture with real drift
  (the drift tests' generators), and, when the plan has the budget guard, the budget;
- the two functions run as Lambda would (`loop.functions`): own processes, the plan's
  environment, their role's temporary credentials from STS, nothing else;
- moto's EventBridge cannot invoke Lambda targets. So the plan's `retraining-drift` rule (its
  name, bus and pattern) is created with an SQS queue as its target in place of the trigger
  function: what the rule matches lands in the queue, and the harness delivers it to the
  trigger as EventBridge's asynchronous invocation would. Two more queues observe: one on a rule
  taking every `mlops.retraining` event (the decisions), one subscribed to the topic.
Every call a function makes is decided by its role's policy; a denied one fails the step that
made it (`PermissionGapError`), even when the handler only logs it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import retrain_settings
from boto3.dynamodb.types import TypeDeserializer
from mlops_drift import settings as drift_settings
from mlops_drift.baseline import baseline_to_dict
from moto.sqs.models import sqs_backends

from loop.functions import Delivery, Function, Invocation
from loop.iam import Decision, Fault, trusts_service
from loop.server import MotoServer, create_bucket
from loop.stack import FunctionSpec, LoopPlan
from tests.drift.conftest import capture_lines, churn_baseline, churn_records

LAMBDA_SERVICE: Final = "lambda.amazonaws.com"
TRIGGER_INBOX: Final = "loop-retraining-trigger-inbox"
DECISIONS_QUEUE: Final = "loop-retraining-decisions"
TOPIC_QUEUE: Final = "loop-platform-topic"
# moto's default target input leaves `account` out of the event (its template lacks it); every
# EventBridge event has it, and the trigger requires it. The harness's targets ask for exactly
# the default event, account included.
WHOLE_EVENT: Final = {
    "InputPathsMap": {
        name: f"$.{name}"
        for name in (
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        )
    },
    "InputTemplate": '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", '
    '"source": "<source>", "account": "<account>", "time": <time>, "region": "<region>", '
    '"resources": <resources>, "detail": <detail>}',
}
RECORDS_PER_OBJECT: Final = 60
OBJECTS_PER_HOUR: Final = 2
T = TypeVar("T")


@contextmanager
def in_account(account: str) -> Iterator[None]:
    """moto's server (in this process) answers every request in `account`, the plan's: the
    admin, the roles, the STS sessions and everything seeded live there, so the ARNs the plan's
    policies name are the ARNs of the requests (moto's default account is 123456789012; the
    prod plan's is another). moto reads `MOTO_ACCOUNT_ID` on each request."""
    previous = os.environ.get("MOTO_ACCOUNT_ID")
    os.environ["MOTO_ACCOUNT_ID"] = account
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = previous


def with_queue_keys(server: MotoServer) -> MotoServer:
    """The server's IAM evaluation knows each queue's KMS key (SQS SSE-KMS: a producer's
    SendMessage needs `kms:GenerateDataKey` and `kms:Decrypt` on it, `loop.iam.required`)."""

    def queue_key(queue_arn: str) -> str | None:
        name = queue_arn.rsplit(":", 1)[-1]
        queue = sqs_backends[server.account][server.region].queues.get(name)
        key = getattr(queue, "kms_master_key_id", None) if queue is not None else None
        return str(key) if key else None

    server.enforcement.keys = replace(server.enforcement.keys, queue_key=queue_key)
    return server


class PermissionGapError(AssertionError):
    """A function made a call its role's policy (as the plan rendered it) does not allow."""

    def __init__(self, denied: Sequence[Decision]) -> None:
        super().__init__(
            "the plan's role policies lack permissions the handlers use:\n"
            + "\n".join(f"  {d.line()}" for d in denied)
        )
        self.denied = list(denied)


@dataclass(frozen=True)
class Window:
    """The capture the harness wrote for one drift check."""

    end: datetime
    hours: int
    keys: tuple[str, ...]
    records: int

    @property
    def end_iso(self) -> str:
        return self.end.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Execution:
    arn: str
    status: str
    parameters: dict[str, str]
    description: str


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class ClosedLoop:
    """The plan's account behind moto, with its two functions; a context manager."""

    plan: LoopPlan
    spend_usd: float | None = None
    """The budget's actual spend (with the budget guard); default: a tenth of the limit."""
    serialize_dynamodb: bool = True
    workdir: Path | None = None
    server: MotoServer = field(init=False)
    drift: Function = field(init=False)
    trigger: Function = field(init=False)
    queues: dict[str, str] = field(init=False, default_factory=dict)
    deployed: list[Function] = field(init=False, default_factory=list)
    """Functions other than the two the loop deploys (`deploy`), closed with it."""
    _tmp: Path | None = field(init=False, default=None)
    _account: Any = field(init=False, default=None)

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ClosedLoop:
        plan = self.plan
        if self.workdir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="loop-"))
        logs = self.workdir or self._tmp
        assert logs is not None
        self._account = in_account(plan.account)
        self._account.__enter__()
        self.server = MotoServer(
            plan.account, plan.region, plan.partition, serialize_dynamodb=self.serialize_dynamodb
        )
        try:
            self.server.start()
            with_queue_keys(self.server)
            # The roles first: each function's environments start (and import) while seeding runs.
            self.drift = self._deploy(plan.drift, logs)
            self.trigger = self._deploy(plan.trigger, logs)
            self._seed()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for function in ("drift", "trigger"):
            if function in self.__dict__:
                getattr(self, function).close()
        for other in self.deployed:
            other.close()
        self.server.close()
        if self._account is not None:
            self._account.__exit__(None, None, None)
            self._account = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def client(self, service: str) -> Any:
        """The admin's client (seeding and reading; never used by the functions)."""
        return self.server.client(service)

    def assume(self, spec: FunctionSpec, session: str) -> dict[str, str]:
        """Temporary credentials of the function's role, as Lambda gets them."""
        context = {"aws:SourceAccount": [self.plan.account]}
        if not trusts_service(spec.trust_policy, LAMBDA_SERVICE, context):
            raise PermissionError(
                f"the trust policy of role {spec.role_name} does not let {LAMBDA_SERVICE} assume "
                f"it for account {self.plan.account}: {spec.trust_policy}"
            )
        answer = self.client("sts").assume_role(
            RoleArn=f"arn:{self.plan.partition}:iam::{self.plan.account}:role/{spec.role_name}",
            RoleSessionName=session,
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": answer["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": answer["SecretAccessKey"],
            "AWS_SESSION_TOKEN": answer["SessionToken"],
        }

    def _deploy(self, spec: FunctionSpec, logs: Path) -> Function:
        """The function's role holds exactly `spec.policy` (a role several functions share, as
        the prod drift functions do, is created once; its policy is replaced by this one)."""
        iam = self.client("iam")
        existing = {r["RoleName"] for r in iam.list_roles()["Roles"]}
        if spec.role_name not in existing:
            iam.create_role(RoleName=spec.role_name, AssumeRolePolicyDocument=spec.trust_policy)
        iam.put_role_policy(
            RoleName=spec.role_name, PolicyName=spec.policy_name, PolicyDocument=spec.policy
        )
        function = Function(
            spec=spec,
            credentials=self.assume(spec, spec.name),
            endpoint_url=self.server.url,
            region=self.plan.region,
            log_path=logs / f"{spec.name}.log",
        )
        function.start()
        return function

    def deploy(self, spec: FunctionSpec) -> Function:
        """Another of the plan's functions (the quality check, ...), its role created with
        exactly `spec.policy`, run as the two loop functions are; invoke it with `invoke`."""
        logs = self.workdir or self._tmp
        assert logs is not None
        function = self._deploy(spec, logs)
        self.deployed.append(function)
        return function

    def invoke(self, function: Function, event: Any) -> Invocation:
        """One synchronous invocation; a denied call fails it (`PermissionGapError`)."""
        return self._checked(function, lambda: function.invoke(event))

    def as_function(self, spec: FunctionSpec, service: str) -> Any:
        """A client with the role's credentials (another session than the function's own), to
        show what the role may not do."""
        creds = self.assume(spec, "loop-probe")
        return self.server.client(
            service,
            {
                "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": creds["AWS_SESSION_TOKEN"],
            },
        )

    # ---- what the plan declares ------------------------------------------------------------------

    def _seed(self) -> None:
        plan = self.plan
        s3 = self.client("s3")
        for bucket in plan.buckets.values():
            create_bucket(s3, bucket, plan.region, plan.bucket_encryption.get(bucket))
        self._table()
        events = self.client("events")
        events.create_event_bus(Name=plan.event_bus)
        sns = self.client("sns")
        sns.create_topic(
            Name=plan.topic_name,
            Attributes={"KmsMasterKeyId": plan.topic_kms_key} if plan.topic_kms_key else {},
        )
        sagemaker = self.client("sagemaker")
        sagemaker.create_model_package_group(
            ModelPackageGroupName=plan.package_group,
            ModelPackageGroupDescription=plan.package_group_description,
        )
        pipeline = plan.pipeline
        sagemaker.create_pipeline(
            PipelineName=pipeline.name,
            PipelineDisplayName=pipeline.display_name,
            PipelineDefinition=pipeline.definition,
            PipelineDescription=pipeline.description,
            RoleArn=pipeline.role_arn,
            **(
                {
                    "ParallelismConfiguration": {
                        "MaxParallelExecutionSteps": pipeline.max_parallel_steps
                    }
                }
                if pipeline.max_parallel_steps
                else {}
            ),
        )
        self._observers()
        if plan.budget_limit_usd is not None:
            limit = plan.budget_limit_usd
            self.set_budget(limit / 10 if self.spend_usd is None else self.spend_usd)
        self._baseline()

    def _table(self) -> None:
        table = self.plan.table
        dynamodb = self.client("dynamodb")
        keys = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
        if table.range_key:
            keys.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
        dynamodb.create_table(
            TableName=table.name,
            KeySchema=keys,
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": t} for n, t in table.attributes
            ],
            BillingMode="PAY_PER_REQUEST",
            **(
                {
                    "SSESpecification": {
                        "Enabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": table.kms_key_arn,
                    }
                }
                if table.kms_key_arn
                else {}
            ),
        )
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        if table.point_in_time_recovery:
            dynamodb.update_continuous_backups(
                TableName=table.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )

    def _queue(self, name: str) -> str:
        sqs = self.client("sqs")
        url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
        self.queues[name] = url
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )

    def _observers(self) -> None:
        plan = self.plan
        events = self.client("events")
        # The plan's rule, with a queue where the trigger function would be (see the docstring).
        events.put_rule(
            Name=plan.drift_rule_name,
            EventBusName=plan.event_bus,
            EventPattern=plan.drift_rule_pattern,
        )
        events.put_targets(
            Rule=plan.drift_rule_name,
            EventBusName=plan.event_bus,
            Targets=[
                {
                    "Id": "retraining-trigger",
                    "Arn": self._queue(TRIGGER_INBOX),
                    "InputTransformer": WHOLE_EVENT,
                }
            ],
        )
        events.put_rule(
            Name=DECISIONS_QUEUE,
            EventBusName=plan.event_bus,
            EventPattern=json.dumps({"source": [retrain_settings.EVENT_SOURCE]}),
        )
        events.put_targets(
            Rule=DECISIONS_QUEUE,
            EventBusName=plan.event_bus,
            Targets=[
                {
                    "Id": "observer",
                    "Arn": self._queue(DECISIONS_QUEUE),
                    "InputTransformer": WHOLE_EVENT,
                }
            ],
        )
        self.client("sns").subscribe(
            TopicArn=plan.topic_arn, Protocol="sqs", Endpoint=self._queue(TOPIC_QUEUE)
        )

    def set_budget(self, actual_usd: float, forecast_usd: float | None = None) -> None:
        """The stack's monthly budget (named by the trigger's environment), with moto's
        `CalculatedSpend`; replaced when it exists."""
        name = self.plan.trigger.environment[retrain_settings.ENV_BUDGET_NAME]
        limit = self.plan.budget_limit_usd
        budgets = self.client("budgets")
        spend: dict[str, Any] = {"ActualSpend": {"Amount": f"{actual_usd:.2f}", "Unit": "USD"}}
        if forecast_usd is not None:
            spend["ForecastedSpend"] = {"Amount": f"{forecast_usd:.2f}", "Unit": "USD"}
        existing = budgets.describe_budgets(AccountId=self.plan.account).get("Budgets", [])
        if any(b["BudgetName"] == name for b in existing):
            budgets.delete_budget(AccountId=self.plan.account, BudgetName=name)
        budgets.create_budget(
            AccountId=self.plan.account,
            Budget={
                "BudgetName": name,
                "BudgetLimit": {"Amount": f"{limit:.2f}", "Unit": "USD"},
                "TimeUnit": "MONTHLY",
                "BudgetType": "COST",
                "CalculatedSpend": spend,
            },
        )

    def seed_endpoints(self, approval: str = "Approved") -> None:
        """The plan's SageMaker endpoints as a deployment leaves them: every model package the
        models and the intended states name, registered in its group at the version its ARN
        names (the versions before it too, approved), those named with `approval` as their
        status; the models, the endpoint configs, the endpoints, and each intended-state
        parameter with the value the plan renders. (moto's endpoint configs hold no shadow
        variants: a plan's shadow variant is not live here.)"""
        sagemaker = self.client("sagemaker")
        ssm = self.client("ssm")
        named: dict[str, set[int]] = {}
        for deployment in self.plan.endpoints:
            intended = json.loads(deployment.parameter_value).get("variants", [])
            arns = [m[2] for m in deployment.models] + [v["modelPackageArn"] for v in intended]
            for arn in arns:
                group, version = arn.rsplit("/", 2)[-2:]
                named.setdefault(group, set()).add(int(version) if version.isdigit() else 1)
        for group, versions in sorted(named.items()):
            if group != self.plan.package_group:
                sagemaker.create_model_package_group(ModelPackageGroupName=group)
            for n in range(1, max(versions) + 1):
                sagemaker.create_model_package(
                    ModelPackageGroupName=group,
                    ModelApprovalStatus=approval if n in versions else "Approved",
                    InferenceSpecification={
                        "Containers": [{"Image": "loop/model:latest"}],
                        "SupportedContentTypes": ["text/csv"],
                        "SupportedResponseMIMETypes": ["text/csv"],
                    },
                )
        for deployment in self.plan.endpoints:
            for model, role, package in deployment.models:
                sagemaker.create_model(
                    ModelName=model,
                    ExecutionRoleArn=role,
                    PrimaryContainer={"ModelPackageName": package},
                )
            sagemaker.create_endpoint_config(
                EndpointConfigName=deployment.config_name,
                ProductionVariants=[dict(v) for v in deployment.production_variants],
            )
            sagemaker.create_endpoint(
                EndpointName=deployment.endpoint_name, EndpointConfigName=deployment.config_name
            )
            ssm.put_parameter(
                Name=deployment.parameter_name, Value=deployment.parameter_value, Type="String"
            )

    def seed_capture_stream(self) -> None:
        """The proxy's delivery stream, into the capture bucket under the plan's prefix (moto
        writes each record to S3 as it is put)."""
        stream = self.plan.capture_stream
        assert stream is not None, "the plan has no capture proxy"
        self.client("firehose").create_delivery_stream(
            DeliveryStreamName=stream.name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": stream.role_arn,
                "BucketARN": stream.bucket_arn,
                "Prefix": stream.prefix,
            },
        )

    # ---- data: the baseline and a window of capture ----------------------------------------------

    @property
    def baseline_key(self) -> str:
        request = self.plan.check_request
        return str(
            request.get("baseline_key") or drift_settings.BASELINE_KEY.format(model=self.plan.model)
        )

    @property
    def baseline_bucket(self) -> str:
        return self.plan.drift.environment[drift_settings.ENV_BASELINE_BUCKET]

    def _baseline(self) -> None:
        body = json.dumps(baseline_to_dict(churn_baseline()))
        self.client("s3").put_object(Bucket=self.baseline_bucket, Key=self.baseline_key, Body=body)

    def write_window(
        self, end: datetime | None = None, *, drifted: bool = True, seed: int = 500
    ) -> Window:
        """Capture for every hour of the monitor's window ending at `end` (the current hour by
        default), on the variants the monitor reads, drifted or like the baseline."""
        request = self.plan.check_request
        end = _hour(end or datetime.now(UTC))
        hours = int(request["window_hours"])
        variants = list(request.get("variants") or ["AllTraffic"])
        bucket = self.plan.drift.environment[drift_settings.ENV_CAPTURE_BUCKET]
        prefix = drift_settings.capture_prefix(str(request["endpoint"]))
        s3 = self.client("s3")
        keys = []
        for h in range(hours):
            start = end - timedelta(hours=hours - h)
            for variant in variants:
                for part in range(OBJECTS_PER_HOUR):
                    seed += 1
                    columns = churn_records(seed, RECORDS_PER_OBJECT, drifted=drifted)
                    lines = capture_lines(
                        columns, "csv", start + timedelta(minutes=29 * part), first_id=seed * 1000
                    )
                    key = f"{prefix}{variant}/{start:%Y/%m/%d/%H}/{part * 29:02d}-{seed:05d}.jsonl"
                    s3.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines) + b"\n")
                    keys.append(key)
        return Window(
            end=end, hours=hours, keys=tuple(keys), records=len(keys) * RECORDS_PER_OBJECT
        )

    # ---- the steps -------------------------------------------------------------------------------

    def _checked(self, function: Function, run: Callable[[], T]) -> T:
        session = f"assumed-role/{function.spec.role_name}/{function.spec.name}"
        before = len(self.server.enforcement.gaps(session))
        outcome = run()
        denied = self.server.enforcement.gaps(session)[before:]
        if denied:
            raise PermissionGapError(denied)
        return outcome

    def check_event(self, window: Window) -> dict[str, Any]:
        """The drift schedule's input, its `<aws.scheduler.scheduled-time>` resolved."""
        return {**self.plan.check_request, "window_end": window.end_iso}

    def run_drift_check(self, window: Window) -> Invocation:
        """The schedule fires: the drift check runs over the window."""
        return self._checked(self.drift, lambda: self.drift.invoke(self.check_event(window)))

    def deliver(self, event: dict[str, Any]) -> Invocation:
        """One synchronous invocation of the trigger with `event`."""
        return self._checked(self.trigger, lambda: self.trigger.invoke(event))

    def deliver_async(self, events: Sequence[dict[str, Any]]) -> list[Delivery]:
        """EventBridge's asynchronous invocations of the trigger, all at once, with Lambda's
        retries."""
        return self._checked(self.trigger, lambda: self.trigger.invoke_async(events))

    def put_event(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        """An event on the platform bus, put by the admin (a publisher other than the functions)."""
        answer = self.client("events").put_events(
            Entries=[
                {
                    "EventBusName": self.plan.event_bus,
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0, answer

    # ---- what happened ---------------------------------------------------------------------------

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Every message body (JSON) in one of the harness's queues; drains it."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=self.queues[queue], MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.queues[queue], ReceiptHandle=message["ReceiptHandle"]
                )

    def routed(self) -> list[dict[str, Any]]:
        """What the plan's drift rule matched (the trigger's inbox)."""
        return self.drain(TRIGGER_INBOX)

    def decision_events(self) -> list[dict[str, Any]]:
        """`mlops.retraining` events on the bus (RetrainingStarted, RetrainingSkipped, ...)."""
        return self.drain(DECISIONS_QUEUE)

    def notifications(self) -> list[dict[str, Any]]:
        """What the topic delivered (SNS's envelope: Subject, Message, MessageAttributes)."""
        return self.drain(TOPIC_QUEUE)

    def executions(self) -> list[Execution]:
        """Every execution of the training pipeline, oldest first, with its parameters."""
        sagemaker = self.client("sagemaker")
        summaries = sagemaker.list_pipeline_executions(PipelineName=self.plan.pipeline.name)[
            "PipelineExecutionSummaries"
        ]
        out = []
        for summary in sorted(summaries, key=lambda s: s["StartTime"]):
            arn = summary["PipelineExecutionArn"]
            described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
            parameters = sagemaker.list_pipeline_parameters_for_execution(
                PipelineExecutionArn=arn
            ).get("PipelineParameters", [])
            out.append(
                Execution(
                    arn=arn,
                    status=summary["PipelineExecutionStatus"],
                    parameters={p["Name"]: p["Value"] for p in parameters},
                    description=str(described.get("PipelineExecutionDescription", "")),
                )
            )
        return out

    def start_execution_by_hand(self, status: str = "Executing") -> str:
        """A person starts the pipeline (admin); moto's execution is then set to `status`."""
        arn = str(
            self.client("sagemaker").start_pipeline_execution(
                PipelineName=self.plan.pipeline.name,
                PipelineExecutionDescription="started by hand",
                ClientRequestToken="started-by-hand-000000000000000000001",
            )["PipelineExecutionArn"]
        )
        self.server.set_execution_status(self.plan.pipeline.name, arn, status)
        return arn

    def _items(self, pk: str) -> list[dict[str, Any]]:
        table = self.plan.table
        deserializer = TypeDeserializer()
        answer = self.client("dynamodb").query(
            TableName=table.name,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": table.hash_key},
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return [
            _plain({k: deserializer.deserialize(v) for k, v in i.items()}) for i in answer["Items"]
        ]

    def audit(self) -> list[dict[str, Any]]:
        """The model's audit items, oldest first."""
        return [
            i
            for i in self._items(retrain_settings.model_pk(self.plan.model))
            if str(i["sk"]).startswith("decision#")
        ]

    def guard_state(self) -> dict[str, Any] | None:
        found = [
            i
            for i in self._items(retrain_settings.model_pk(self.plan.model))
            if i["sk"] == retrain_settings.STATE_SK
        ]
        return found[0] if found else None

    def inject(self, operation: str, faults: Sequence[Fault]) -> None:
        """The next attempts of `operation` get these answers instead of moto's."""
        self.server.enforcement.inject(operation, faults)

    def attempts(self, operation: str) -> int:
        """Authorized attempts of `operation` that reached the server since `inject`."""
        return self.server.enforcement.attempts.get(operation, 0)

    def decisions(self, function: Function) -> list[Decision]:
        """Every IAM decision taken on the function's calls."""
        return self.server.enforcement.of(
            f"assumed-role/{function.spec.role_name}/{function.spec.name}"
        )
