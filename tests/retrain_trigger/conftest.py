"""AWS behind moto for the retraining trigger: the decisions table, two models' training
pipelines, a budget, the platform topic and bus (each read through SQS), the GitHub token.

The account holds what `components/retraining.py` deploys for `mlops-platform-prod`: the table
exactly as the component creates it (pk S, sk S, TTL on `expiration`), the churn and fraud
training pipelines, the topic with an SQS subscription and the bus with a rule sending every
`mlops.retraining` event to SQS (so a test reads what subscribers receive), and a secret holding
a GitHub token. The environment is the one the component sets, rendered with
`retrain_settings.models_env`; the clock is injected (`World.clock`), nothing sleeps, and the
GitHub dispatch goes to `FakeGitHub`, never to the network.

Where moto 5.2 falls short of AWS, and how the fixture closes the gap:
- moto applies a conditional write as "check, then write" with no lock, so two threads can
  both pass one condition; DynamoDB applies each conditional write to an item atomically. The
  fixture serializes moto's DynamoDB item operations (`_serialize_dynamodb`), which is what the
  service guarantees, so the concurrency tests test the trigger, not moto's race.
- every pipeline execution is `Succeeded` the moment it starts: `World.running` sets the
  stored execution's status (`Executing`, `Stopping`) on moto's backend.
- StartPipelineExecution ignores `ClientRequestToken` (the same token twice starts two
  executions) and accepts parameters the pipeline does not declare: tests assert the token
  moto stored, and count executions, rather than relying on SageMaker's idempotency.
- ListPipelineExecutions ignores `SortOrder` and `MaxResults` (oldest first, all of them): the
  trigger looks at every summary of the page it gets, so the order does not matter.
- Throttling and 5xx answers are injected where moto answers, below the client's retries
  (`World.fail_start`: the answer SageMaker's wire would give, in moto's place), so the
  standard retry mode's attempts are real and counted. botocore's Stubber answers at
  `before-call`, above the retry loop: a stubbed error is final, which is what the other
  fault tests (AccessDenied, a refused publish) want.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.request import Request

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import retrain_settings as settings
import trigger

from tests.lambda_context import LambdaContext

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "mlops-platform-prod-retraining-decisions"
BUS = "mlops-platform-prod"
TOPIC = "mlops-platform-prod-platform"
PIPELINE = "mlops-platform-prod-churn-training"
FRAUD_PIPELINE = "mlops-platform-prod-fraud-training"
GROUP = "mlops-platform-prod-churn"
ALARM = "mlops-platform-prod-churn-model-latency"
DATA_URI = "s3://mlops-platform-prod-curated/churn/training/"
BUDGET = "mlops-platform-prod-monthly"
REPOSITORY = "acme/mlops-platform"
TOKEN = "ghp_0123456789abcdefTESTTOKEN"
"""A fake token, for the fake GitHub."""
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-platform-prod-churn-training"
COOLDOWN_HOURS = 6
DAILY_CAP = 2
AUDIT_TTL_DAYS = 90
NOW = datetime(2026, 11, 27, 7, 5, tzinfo=UTC)
"""The clock's start: an hour after the drift fixture's window ended."""
MODELS = {
    "churn": settings.ModelTarget(
        pipeline=PIPELINE, data_uri=DATA_URI, alarms=(ALARM,), package_group=GROUP
    ),
    "fraud": settings.ModelTarget(
        pipeline=FRAUD_PIPELINE,
        data_uri="s3://mlops-platform-prod-curated/fraud/training/",
        alarms=("mlops-platform-prod-fraud-5xx",),
        package_group="mlops-platform-prod-fraud",
    ),
}
FIXTURES = Path(__file__).parent / "fixtures"
PIPELINE_DEFINITION = json.dumps(
    {
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": name, "Type": "String", "DefaultValue": default}
            for name, default in (
                ("DataUri", DATA_URI),
                ("WindowEnd", "none"),
                ("TriggerReason", "manual"),
                ("TriggerDetail", "none"),
            )
        ],
        "Steps": [],
    }
)


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return event


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as int or float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class FakeContext(LambdaContext):
    """This suite's function, as Lambda would describe it to the handler."""

    function_name: str = "mlops-platform-prod-retraining-trigger"
    region: str = "us-east-1"


@dataclass
class Clock:
    """The trigger's clock (`trigger.utcnow`), moved by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class FakeGitHub:
    """Stands in for `retrain_promotion.urllib_send`: records each request and its timeout."""

    status: int = 204
    error: Exception | None = None
    requests: list[tuple[Request, float]] = field(default_factory=list)

    def __call__(self, request: Request, timeout: float) -> int:
        self.requests.append((request, timeout))
        if self.error is not None:
            raise self.error
        return self.status


class _Raw:
    """The raw body of a response made up in a `before-send` handler."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class World:
    clients: trigger.Clients
    github: FakeGitHub
    clock: Clock
    sqs: Any
    topic_arn: str
    topic_queue: str
    bus_queue: str
    secret_arn: str
    monkeypatch: pytest.MonkeyPatch
    faults: list[tuple[int, str]] = field(default_factory=list)
    """Answers StartPipelineExecution gets instead of moto's, in order (see `fail_start`)."""
    attempts: list[int] = field(default_factory=list)
    """Every StartPipelineExecution attempt that reached the wire, numbered."""

    @staticmethod
    def _sagemaker_backend() -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    # ---- environment -----------------------------------------------------------------------------

    def set_env(self, **values: str | None) -> None:
        """Set (or, with None, unset) environment variables of the function."""
        for name, value in values.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)

    def with_budget(
        self, *, limit: str, actual: str, forecast: str | None, name: str = BUDGET
    ) -> None:
        """A monthly cost budget with moto's `CalculatedSpend`, and the guard on."""
        spend: dict[str, Any] = {"ActualSpend": {"Amount": actual, "Unit": "USD"}}
        if forecast is not None:
            spend["ForecastedSpend"] = {"Amount": forecast, "Unit": "USD"}
        self.clients.budgets.create_budget(
            AccountId=ACCOUNT,
            Budget={
                "BudgetName": name,
                "BudgetLimit": {"Amount": limit, "Unit": "USD"},
                "TimeUnit": "MONTHLY",
                "BudgetType": "COST",
                "CalculatedSpend": spend,
            },
        )
        self.set_env(**{settings.ENV_BUDGET_NAME: name})

    def with_promotion(self) -> None:
        self.set_env(
            **{
                settings.ENV_PROMOTION_REPOSITORY: REPOSITORY,
                settings.ENV_PROMOTION_TOKEN_SECRET: self.secret_arn,
            }
        )

    # ---- invoking --------------------------------------------------------------------------------

    def invoke(self, event: Any) -> dict[str, Any]:
        answer: dict[str, Any] = trigger.lambda_handler(event, FakeContext())
        return answer

    # ---- SageMaker -------------------------------------------------------------------------------

    def executions(self, pipeline: str = PIPELINE) -> list[dict[str, Any]]:
        """Every execution moto holds for `pipeline`, in start order, as stored."""
        stored = self._sagemaker_backend().pipelines[pipeline].pipeline_executions
        return [
            {
                "arn": arn,
                "status": e.pipeline_execution_status,
                "parameters": e.pipeline_parameters,
                "token": e.client_request_token,
                "description": e.pipeline_execution_description,
            }
            for arn, e in stored.items()
        ]

    def running(self, status: str = "Executing", pipeline: str = PIPELINE) -> str:
        """An execution in `status` (moto marks every execution Succeeded at once)."""
        arn = str(
            self.clients.sagemaker.start_pipeline_execution(
                PipelineName=pipeline, ClientRequestToken="manual-run-by-a-person-0000000001"
            )["PipelineExecutionArn"]
        )
        stored = self._sagemaker_backend().pipelines[pipeline].pipeline_executions[arn]
        stored.pipeline_execution_status = status
        return arn

    def fail_start(self, answers: list[tuple[int, str]]) -> list[int]:
        """Answer StartPipelineExecution's next attempts with these (HTTP status, error code)
        instead of moto, then let moto answer again. Returns the list every attempt is counted
        into (failed or not)."""
        self.faults.clear()
        self.faults.extend(answers)
        self.attempts.clear()
        return self.attempts

    # ---- the table -------------------------------------------------------------------------------

    def _items(self, pk: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        answer = self.clients.dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return [
            plain({k: deserializer.deserialize(v) for k, v in item.items()})
            for item in answer["Items"]
        ]

    def audit(self, model: str = "churn") -> list[dict[str, Any]]:
        """The model's audit items, oldest first."""
        return [i for i in self._items(settings.model_pk(model)) if i["sk"].startswith("decision#")]

    def state(self, model: str = "churn") -> dict[str, Any] | None:
        found = [i for i in self._items(settings.model_pk(model)) if i["sk"] == "state"]
        return found[0] if found else None

    def idempotency_records(self) -> list[dict[str, Any]]:
        return self._items(settings.IDEMPOTENCY_PK)

    # ---- what subscribers received ---------------------------------------------------------------

    def _drain(self, queue: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

    def published(self) -> list[dict[str, Any]]:
        """The SNS notifications the topic delivered (SQS envelope: Subject, Message, ...)."""
        return self._drain(self.topic_queue)

    def bus_events(self) -> list[dict[str, Any]]:
        """The events the bus delivered through its rule."""
        return self._drain(self.bus_queue)


def _intercept_start(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    """Put `World.faults` in moto's place on the wire: moto answers requests in a `before-send`
    handler, below botocore's retries, and so does this, so every attempt is seen and retried."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if event_name != "before-send.sagemaker.StartPipelineExecution":
            return original(self, event_name, request, **kwargs)
        world.attempts.append(len(world.attempts) + 1)
        if not world.faults:
            return original(self, event_name, request, **kwargs)
        status, code = world.faults.pop(0)
        body = json.dumps({"__type": code, "message": f"{code} (injected)"}).encode()
        return AWSResponse(
            request.url,
            status,
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "injected"},
            _Raw(body),
        )

    monkeypatch.setattr(BotocoreStubber, "__call__", call)


def _serialize_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """One DynamoDB item operation at a time in moto, as the service applies each atomically."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return call

    for name in ("put_item", "update_item", "delete_item", "get_item"):
        monkeypatch.setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in (
        settings.ENV_BUDGET_NAME,
        settings.ENV_BUDGET_MAX_SHARE,
        settings.ENV_PROMOTION_REPOSITORY,
        settings.ENV_PROMOTION_TOKEN_SECRET,
        settings.ENV_PROMOTION_EVENT_TYPE,
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry delays computed as usual, recorded, and slept as 0 s."""
    from botocore.retries.standard import ExponentialBackoff

    delays: list[float] = []
    original = ExponentialBackoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        delays.append(float(original(self, context)))
        return 0.0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", delay_amount)
    return delays


@pytest.fixture
def world(
    aws_env: None, no_backoff: list[float], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    import boto3
    from moto import mock_aws

    _serialize_dynamodb(monkeypatch)
    with mock_aws():
        clients = trigger.make_clients(REGION)
        github = FakeGitHub()
        clients = replace(clients, send=github)
        clients.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        clients.dynamodb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        for pipeline in (PIPELINE, FRAUD_PIPELINE):
            clients.sagemaker.create_pipeline(
                PipelineName=pipeline,
                PipelineDefinition=PIPELINE_DEFINITION,
                RoleArn=ROLE,
                ClientRequestToken=f"create-{pipeline}",
            )
        sqs = boto3.client("sqs", region_name=REGION)
        topic_queue = sqs.create_queue(QueueName="topic-subscriber")["QueueUrl"]
        bus_queue = sqs.create_queue(QueueName="bus-subscriber")["QueueUrl"]

        def arn(url: str) -> str:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])

        topic_arn = clients.sns.create_topic(Name=TOPIC)["TopicArn"]
        clients.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn(topic_queue))
        clients.events.create_event_bus(Name=BUS)
        clients.events.put_rule(
            Name="retraining-decisions",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": [settings.EVENT_SOURCE]}),
        )
        clients.events.put_targets(
            Rule="retraining-decisions",
            EventBusName=BUS,
            Targets=[{"Id": "subscriber", "Arn": arn(bus_queue)}],
        )
        secret_arn = clients.secrets.create_secret(
            Name="mlops-platform/prod/github-dispatch-token", SecretString=TOKEN
        )["ARN"]
        clock = Clock()
        world = World(
            clients=clients,
            github=github,
            clock=clock,
            sqs=sqs,
            topic_arn=topic_arn,
            topic_queue=topic_queue,
            bus_queue=bus_queue,
            secret_arn=secret_arn,
            monkeypatch=monkeypatch,
        )
        world.set_env(
            **{
                settings.ENV_TABLE: TABLE,
                settings.ENV_EVENT_BUS: BUS,
                settings.ENV_TOPIC_ARN: topic_arn,
                settings.ENV_MODELS: settings.models_env(MODELS),
                settings.ENV_COOLDOWN_HOURS: str(COOLDOWN_HOURS),
                settings.ENV_DAILY_CAP: str(DAILY_CAP),
                settings.ENV_AUDIT_TTL_DAYS: str(AUDIT_TTL_DAYS),
                settings.ENV_BUDGET_MAX_SHARE: "0.9",
            }
        )
        _intercept_start(monkeypatch, world)
        monkeypatch.setattr(trigger, "lambda_clients", lambda: clients)
        monkeypatch.setattr(trigger, "utcnow", clock)
        yield world


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    """Every EMF document Powertools printed: `{"metric", "value", "dimensions"}`."""
    out: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if not (line.startswith("{") and '"_aws"' in line):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == settings.METRICS_NAMESPACE
            (names,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                out.append(
                    {
                        "metric": metric["Name"],
                        "unit": metric["Unit"],
                        "value": float(value[0] if isinstance(value, list) else value),
                        "dimensions": {name: document[name] for name in sorted(names)},
                    }
                )
    return out
