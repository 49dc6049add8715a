"""AWS behind moto for the endpoint verifier: a model registry, models, endpoint configs, an
endpoint, its intended-state parameter, the platform topic and bus, each read through SQS.

The account holds what a deployment of `mlops-platform-prod-churn` leaves behind: a model
package group with versions 1 to 4 approved and 5 pending, a SageMaker model per version built
from its package (`PrimaryContainer.ModelPackageName`), the endpoint config the endpoint ran
before (`OLD_CONFIG`: v2 on AllTraffic) and the one Pulumi deployed (`NEW_CONFIG`: v3 on
AllTraffic, v4 as the shadow), and the intended-state parameter naming `NEW_CONFIG`, written
with `verifier_settings.intended_document` as the component writes it. Each test creates the
endpoint in the state it needs. The topic has an SQS subscription and the bus a rule to SQS, so
a test reads exactly what a subscriber would receive.

Where moto 5 falls short of SageMaker, and how the fixture closes the gap (on moto's stored
objects, so every describe still goes through the real client and moto's responses):
- CreateEndpointConfig drops `ShadowProductionVariants` and DescribeEndpoint never reports
  them: `World.config`/`World.endpoint` set them on moto's stored config and endpoint.
- There is no UpdateEndpoint, and every endpoint is `InService`: a rolled-back update is the
  state it leaves (the endpoint created on the old config, with SageMaker's FailureReason), and
  `World.set_status` sets a status such as `Updating` or `RollingBack`.
Faults moto cannot produce (throttling, KMS refusals) are injected with botocore's Stubber.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import verifier
import verifier_settings as settings

from tests.lambda_context import LambdaContext

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "/mlops-platform/prod/endpoints"
ENDPOINT = "mlops-platform-prod-churn"
GROUP = "mlops-platform-prod-churn"
OLD_CONFIG = f"{ENDPOINT}-0f9e8d7c"
NEW_CONFIG = f"{ENDPOINT}-1a2b3c4d"
MODELS = {
    1: f"{ENDPOINT}-v1-0a1b2c3d",
    2: f"{ENDPOINT}-v2-5a6b7c8d",
    3: f"{ENDPOINT}-v3-9f8e7d6c",
    4: f"{ENDPOINT}-v4-1e2d3c4b",
    5: f"{ENDPOINT}-v5-77aa88bb",
}
PENDING_VERSION = 5
INSTANCE = "ml.m5.large"
TOPIC = "mlops-platform-prod-platform"
BUS = "mlops-platform-prod"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-platform-prod-churn-model"
IMAGE = f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLLBACK_REASON = (
    "Endpoint update failed: the deployment's CloudWatch alarm "
    "mlops-platform-prod-churn-5xx went into ALARM; rolled back to the previous config."
)
FIXTURES = Path(__file__).parent / "fixtures"


def package_arn(version: int, group: str = GROUP) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return event


def realtime(
    variant: str, version: int, instance: str = INSTANCE, count: int = 1
) -> dict[str, Any]:
    """A real-time ProductionVariant of an endpoint config serving `MODELS[version]`."""
    return {
        "VariantName": variant,
        "ModelName": MODELS[version],
        "InstanceType": instance,
        "InitialInstanceCount": count,
        "InitialVariantWeight": 1.0,
    }


def intended_variants(shadow_version: int | None = 4, version: int = 3) -> list[Any]:
    variants = [
        settings.IntendedVariant(
            variant_name="AllTraffic",
            model_name=MODELS[version],
            model_package_arn=package_arn(version),
            instance_type=INSTANCE,
        )
    ]
    if shadow_version is not None:
        variants.append(
            settings.IntendedVariant(
                variant_name="Shadow",
                model_name=MODELS[shadow_version],
                model_package_arn=package_arn(shadow_version),
                shadow=True,
                instance_type=INSTANCE,
            )
        )
    return variants


def intended_text(
    *,
    endpoint: str = ENDPOINT,
    config: str = NEW_CONFIG,
    variants: Sequence[Any] | None = None,
    require_approved: bool = True,
    kind: settings.Kind = "realtime",
) -> str:
    return settings.intended_document(
        endpoint_name=endpoint,
        endpoint_config_name=config,
        kind=kind,
        require_approved=require_approved,
        variants=intended_variants() if variants is None else variants,
    )


@dataclass(frozen=True)
class FakeContext(LambdaContext):
    """This suite's function, as Lambda would describe it to the handler."""

    function_name: str = "mlops-platform-prod-endpoint-verifier"
    region: str = "us-east-1"


@dataclass
class World:
    clients: verifier.Clients
    sqs: Any
    topic_arn: str
    topic_queue: str
    bus_queue: str

    @property
    def sagemaker(self) -> Any:
        return self.clients.sagemaker

    @property
    def ssm(self) -> Any:
        return self.clients.ssm

    @property
    def env(self) -> verifier.Env:
        return verifier.Env(prefix=PREFIX + "/", topic_arn=self.topic_arn, event_bus=BUS)

    @staticmethod
    def _backend() -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    # ---- SageMaker ------------------------------------------------------------------------------

    def model(self, name: str, version: int, *, containers: bool = False) -> None:
        """A model built from package `version` (as PrimaryContainer, or Containers[0])."""
        container = {"ModelPackageName": package_arn(version)}
        if containers:
            self.sagemaker.create_model(
                ModelName=name, ExecutionRoleArn=ROLE, Containers=[container]
            )
        else:
            self.sagemaker.create_model(
                ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container
            )

    def config(
        self,
        name: str,
        production: Sequence[Mapping[str, Any]],
        shadow: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=[dict(v) for v in production]
        )
        if shadow:  # moto drops ShadowProductionVariants: store them as SageMaker would
            self._backend().endpoint_configs[name].shadow_production_variants = [
                dict(v) for v in shadow
            ]

    def endpoint(
        self,
        config: str,
        *,
        name: str = ENDPOINT,
        status: str = "InService",
        failure_reason: str | None = None,
    ) -> None:
        """The endpoint, running `config` (moto creates it InService)."""
        self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
        stored = self._backend().endpoint_configs[config]
        shadow = getattr(stored, "shadow_production_variants", None)
        if shadow:  # DescribeEndpoint reports them with their instance counts
            self._backend().endpoints[name].shadow_production_variants = [
                {
                    "VariantName": v["VariantName"],
                    "CurrentInstanceCount": v["InitialInstanceCount"],
                    "DesiredInstanceCount": v["InitialInstanceCount"],
                }
                for v in shadow
            ]
        self.set_status(status, failure_reason, name=name)

    def set_status(
        self, status: str, failure_reason: str | None = None, *, name: str = ENDPOINT
    ) -> None:
        endpoint = self._backend().endpoints[name]
        endpoint.endpoint_status = status
        endpoint.failure_reason = failure_reason

    def set_instances(self, variant: str, count: int, *, name: str = ENDPOINT) -> None:
        for live in self._backend().endpoints[name].production_variants:
            if live["VariantName"] == variant:
                live["CurrentInstanceCount"] = count

    # ---- SSM ------------------------------------------------------------------------------------

    def intend(self, text: str | None = None, *, endpoint: str = ENDPOINT) -> str:
        """Write the intended-state parameter as the component does (String, overwritten)."""
        name = settings.parameter_name(PREFIX, endpoint)
        self.ssm.put_parameter(
            Name=name,
            Value=intended_text() if text is None else text,
            Type="String",
            Overwrite=True,
        )
        return name

    # ---- what subscribers received --------------------------------------------------------------

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
        """The SNS notifications the topic delivered (the SQS envelope: Subject, Message, ...)."""
        return self._drain(self.topic_queue)

    def bus_events(self) -> list[dict[str, Any]]:
        """The events the bus delivered through its rule."""
        return self._drain(self.bus_queue)


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


@pytest.fixture
def world(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        clients = verifier.make_clients(REGION)
        sm = clients.sagemaker
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        for version in sorted(MODELS):
            sm.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelApprovalStatus="PendingManualApproval"
                if version == PENDING_VERSION
                else "Approved",
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": IMAGE,
                            "ModelDataUrl": f"s3://models/churn/{version}/model.tar.gz",
                        }
                    ],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
            )
        sqs = boto3.client("sqs", region_name=REGION)
        topic_queue = sqs.create_queue(QueueName="topic-subscriber")["QueueUrl"]
        bus_queue = sqs.create_queue(QueueName="bus-subscriber")["QueueUrl"]

        def arn(url: str) -> str:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])

        topic_arn = clients.sns.create_topic(
            Name=TOPIC, Attributes={"KmsMasterKeyId": "alias/mlops-platform-prod"}
        )["TopicArn"]
        clients.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn(topic_queue))
        clients.events.create_event_bus(Name=BUS)
        clients.events.put_rule(
            Name="verification-failed",
            EventBusName=BUS,
            EventPattern=json.dumps(
                {
                    "source": [settings.EVENT_SOURCE],
                    "detail-type": [settings.EVENT_VERIFICATION_FAILED],
                }
            ),
        )
        clients.events.put_targets(
            Rule="verification-failed",
            EventBusName=BUS,
            Targets=[{"Id": "subscriber", "Arn": arn(bus_queue)}],
        )
        world = World(clients, sqs, topic_arn, topic_queue, bus_queue)
        for version, name in MODELS.items():
            world.model(name, version)
        world.config(OLD_CONFIG, [realtime("AllTraffic", 2)])
        world.config(NEW_CONFIG, [realtime("AllTraffic", 3)], shadow=[realtime("Shadow", 4)])
        world.intend()
        monkeypatch.setenv(settings.ENV_PARAMETER_PREFIX, PREFIX + "/")
        monkeypatch.setenv(settings.ENV_TOPIC_ARN, topic_arn)
        monkeypatch.setenv(settings.ENV_EVENT_BUS, BUS)
        monkeypatch.setattr(verifier, "lambda_clients", lambda: clients)
        yield world


def emf_metrics(stdout: str) -> dict[str, dict[str, float]]:
    """`{endpoint: {metric: value}}` of the EMF documents Powertools printed."""
    out: dict[str, dict[str, float]] = {}
    for line in stdout.splitlines():
        if not (line.startswith("{") and '"_aws"' in line):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == settings.METRICS_NAMESPACE
            assert directive["Dimensions"] == [["endpoint", "service"]]
            assert document["service"] == settings.SERVICE_NAME
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                out.setdefault(document["endpoint"], {})[metric["Name"]] = float(
                    value[0] if isinstance(value, list) else value
                )
    return out
