"""The endpoint verifier: does every SageMaker endpoint run what was deployed?

Deployed by `components/inference.py` (`SageMakerEndpoints`) as `verifier.lambda_handler`,
invoked by SageMaker's endpoint state changes and by an hourly schedule. For each endpoint it
reads the intended state the component wrote to SSM before updating the endpoint
(`<VERIFY_PARAMETER_PREFIX>/<endpoint>`), describes the live endpoint, its endpoint config,
models and model packages, and compares them (`verify.verify`). A mismatch (notably a
blue/green update SageMaker rolled back, which leaves the endpoint InService on the old config
while `pulumi up` reported success) is logged at ERROR, counted (`EndpointMismatch`), published
to the platform topic and, when `VERIFY_EVENT_BUS` is set, put on the bus.

The same comparison runs from CI after `pulumi up` through the command line (`main`):

    python lambdas/endpoint_verifier/verifier.py --region us-east-1 \\
        --prefix /mlops-platform/prod/endpoints --wait-seconds 900

exit 0 when every endpoint matches, 1 on any mismatch or error, 2 on bad usage or a bad
intended-state document. The command line reports on its output only (no SNS, no metrics).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import boto3
import verifier_settings as settings
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from verify import (
    ENDPOINT_NAME_TEXT,
    IN_PROGRESS,
    DocumentError,
    Intended,
    Live,
    Name,
    Verdict,
    live_variants,
    parse_document,
    verify,
)

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.SERVICE_NAME)
NAMESPACE = os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.METRICS_NAMESPACE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
# Standard retry mode: throttling and transient errors are retried with backoff (5 attempts)
# before they reach the verifier, which then reports that endpoint as `error`. Describe calls
# answer in well under a second; the timeouts only stop a hung connection eating the function.
BOTO_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5, read_timeout=15
)

Outcome = Literal["match", "mismatch", "in-progress", "error", "invalid", "skipped"]
REPORTED: Final[frozenset[str]] = frozenset({"mismatch", "error", "invalid"})
"""Outcomes published to the topic (and the bus): a verdict against the deployment, or none."""
STATE_CHANGE: Final = "SageMaker Endpoint State Change"
ACCEPTED_EVENTS: Final = (
    'an EventBridge "SageMaker Endpoint State Change" event (source aws.sagemaker, with '
    'detail.EndpointName), {"endpoints": "all"}, or {"endpoints": ["<endpoint name>", ...]}'
)
ENDPOINT_NAME: Final = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
SNS_SUBJECT_MAX: Final = 99
"""SNS wants a subject under 100 characters."""


class VerifierError(Exception):
    """The verifier cannot run: the invocation fails with this message."""


class ConfigError(VerifierError):
    """The environment the component sets is missing or wrong."""


class BadEventError(VerifierError, ValueError):
    """The event is none of the shapes the verifier accepts."""


class NotifyError(VerifierError):
    """A notification was refused (PutEvents' failed entries)."""


# ---- configuration and clients ------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """The environment the component sets on the verifier function."""

    prefix: str
    topic_arn: str
    event_bus: str | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Env:
        environ = os.environ if environ is None else environ
        names = (settings.ENV_PARAMETER_PREFIX, settings.ENV_TOPIC_ARN)
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise ConfigError(
                f"environment variable(s) {', '.join(missing)} not set; components/inference.py "
                "sets them on the verifier function"
            )
        prefix = environ[settings.ENV_PARAMETER_PREFIX]
        if not prefix.startswith("/"):
            raise ConfigError(
                f"{settings.ENV_PARAMETER_PREFIX} must be an SSM path starting with '/', "
                f"got {prefix!r}"
            )
        return cls(
            prefix=prefix,
            topic_arn=environ[settings.ENV_TOPIC_ARN],
            event_bus=environ.get(settings.ENV_EVENT_BUS) or None,
        )


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    ssm: Any
    sns: Any
    events: Any


def make_clients(region: str | None = None) -> Clients:
    session = boto3.session.Session(region_name=region)
    return Clients(
        sagemaker=session.client("sagemaker", config=BOTO_CONFIG),
        ssm=session.client("ssm", config=BOTO_CONFIG),
        sns=session.client("sns", config=BOTO_CONFIG),
        events=session.client("events", config=BOTO_CONFIG),
    )


@functools.cache
def lambda_clients() -> Clients:
    """The function's clients, made at the first invocation and kept for the warm ones (not at
    import, so the command line and its `--help` work without a region configured)."""
    return make_clients()


def aws_error(exc: ClientError | BotoCoreError) -> str:
    """`DescribeEndpoint failed: ThrottlingException: Rate exceeded (after 4 retries)`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        after = f" (after {retries} retries)" if retries else ""
        return (
            f"{exc.operation_name} failed: {error.get('Code', 'Unknown')}: "
            f"{error.get('Message', '')}{after}"
        )
    return f"AWS call failed: {exc}"


def _not_found(exc: ClientError) -> bool:
    """SageMaker answers a describe of a missing resource with a ValidationException."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).lower()
    if code in {"ResourceNotFound", "ResourceNotFoundException"}:
        return True
    return code == "ValidationException" and any(
        words in message for words in ("could not find", "not found", "does not exist")
    )


# ---- the intended state -------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One intended-state document, as stored."""

    endpoint: str
    """The endpoint its parameter is named after."""
    source: str
    """`parameter /mlops-platform/prod/endpoints/<endpoint>` (or `file <path>`)."""
    text: str
    parameter_type: str = "String"


def _document(parameter: Mapping[str, Any]) -> Document:
    name = str(parameter["Name"])
    return Document(
        endpoint=name.rsplit("/", 1)[-1],
        source=f"parameter {name}",
        text=str(parameter.get("Value", "")),
        parameter_type=str(parameter.get("Type", "String")),
    )


def fetch_document(ssm: Any, prefix: str, endpoint: str) -> Document | None:
    """The intended state of `endpoint`; `None` when it has no parameter (not an endpoint of
    the platform, or not deployed yet)."""
    try:
        answer = ssm.get_parameter(Name=settings.parameter_name(prefix, endpoint))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    return _document(answer["Parameter"])


def list_documents(ssm: Any, prefix: str) -> list[Document]:
    """Every intended-state document directly under `prefix`, by endpoint name."""
    paginator = ssm.get_paginator("get_parameters_by_path")
    documents = [
        _document(parameter)
        for page in paginator.paginate(Path=settings.parameter_path(prefix), Recursive=False)
        for parameter in page.get("Parameters", [])
    ]
    return sorted(documents, key=lambda d: d.endpoint)


def parse_stored(document: Document) -> Intended:
    """The document's intended state; `DocumentError` naming the parameter when it is bad."""
    if document.parameter_type != "String":
        raise DocumentError(
            document.source,
            [f"a {document.parameter_type} parameter; the component writes a String one"],
        )
    return parse_document(document.text, document.source, endpoint=document.endpoint)


# ---- the live endpoint --------------------------------------------------------------------------


def _describe(call: Callable[..., Any], **params: Any) -> dict[str, Any] | None:
    """A describe response without its metadata; `None` when SageMaker says there is none."""
    try:
        answer: dict[str, Any] = call(**params)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    answer.pop("ResponseMetadata", None)
    return answer


@tracer.capture_method
def describe_live(sagemaker: Any, intended: Intended) -> Live:
    """What SageMaker says about the endpoint: the endpoint; unless it is in progress, the
    config it runs, the model of each live variant, and (when `requireApproved`) each intended
    model package. Raises `ClientError`/`BotoCoreError` for anything but a missing resource."""
    endpoint = _describe(sagemaker.describe_endpoint, EndpointName=intended.endpoint_name)
    if endpoint is None or endpoint.get("EndpointStatus") in IN_PROGRESS:
        return Live(endpoint=endpoint)
    config = _describe(
        sagemaker.describe_endpoint_config, EndpointConfigName=endpoint["EndpointConfigName"]
    )
    models: dict[str, dict[str, Any] | None] = {}
    for variant, _shadow in live_variants(config).values():
        name = str(variant.get("ModelName"))
        if name not in models:
            models[name] = _describe(sagemaker.describe_model, ModelName=name)
    packages: dict[str, dict[str, Any] | None] = {}
    if intended.require_approved:
        for arn in intended.package_arns():
            packages[arn] = _describe(sagemaker.describe_model_package, ModelPackageName=arn)
    return Live(endpoint=endpoint, config=config, models=models, packages=packages)


# ---- one endpoint -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """The outcome of one endpoint: a verdict, or why there is none."""

    endpoint: str
    status: Outcome
    source: str | None = None
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def findings(self) -> list[str]:
        return [f.message for f in self.verdict.findings] if self.verdict else []

    def to_dict(self) -> dict[str, Any]:
        """Every key always present, so consumers see one shape whatever the outcome."""
        verdict = self.verdict
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "parameter": self.source,
            "findings": [f.to_dict() for f in verdict.findings] if verdict else [],
            "intended_endpoint_config": verdict.intended_config if verdict else None,
            "live_endpoint_config": verdict.live_config if verdict else None,
            "endpoint_status": verdict.endpoint_status if verdict else None,
            "failure_reason": verdict.failure_reason if verdict else None,
            "error": self.error,
        }


def verify_intended(sagemaker: Any, intended: Intended, source: str) -> Result:
    """Describe the live endpoint and compare; an AWS error makes the result `error`."""
    tracer.put_annotation(key="endpoint", value=intended.endpoint_name)
    try:
        live = describe_live(sagemaker, intended)
    except (ClientError, BotoCoreError) as exc:
        return Result(intended.endpoint_name, "error", source, error=aws_error(exc))
    verdict = verify(intended, live)
    return Result(intended.endpoint_name, verdict.status, source, verdict=verdict)


def verify_document(sagemaker: Any, document: Document) -> Result:
    """Verify against a stored document; a bad document makes the result `invalid`."""
    try:
        intended = parse_stored(document)
    except DocumentError as exc:
        return Result(document.endpoint, "invalid", document.source, error=str(exc))
    return verify_intended(sagemaker, intended, document.source)


def verify_named(
    clients: Clients, prefix: str, endpoint: str, *, missing: Literal["skipped", "invalid"]
) -> Result:
    """Verify `endpoint` against its parameter; without one the result is `missing`."""
    source = f"parameter {settings.parameter_name(prefix, endpoint)}"
    try:
        document = fetch_document(clients.ssm, prefix, endpoint)
    except (ClientError, BotoCoreError) as exc:
        return Result(endpoint, "error", source, error=aws_error(exc))
    if document is None:
        reason = (
            f"no intended state: {source.removeprefix('parameter ')} does not exist (not an "
            "endpoint the platform deployed, or the prefix is wrong)"
        )
        return Result(endpoint, missing, source, error=None if missing == "skipped" else reason)
    return verify_document(clients.sagemaker, document)


# ---- reporting ----------------------------------------------------------------------------------


def subject(result: Result) -> str:
    """The SNS subject: `Endpoint <name> does not run what was deployed` (under 100 chars)."""
    if result.status == "mismatch":
        text = f"Endpoint {result.endpoint} does not run what was deployed"
    elif result.status == "invalid":
        text = f"Endpoint {result.endpoint} not verified: bad intended state"
    else:
        text = f"Endpoint {result.endpoint} could not be verified"
    return text if len(text) <= SNS_SUBJECT_MAX else text[: SNS_SUBJECT_MAX - 3] + "..."


def message(result: Result, now: datetime) -> str:
    """The SNS message: what was found, intended against live, and where the intent lives."""
    verdict = result.verdict
    if result.status == "mismatch" and verdict is not None:
        lines = [
            f"Endpoint {result.endpoint} does not run what was deployed.",
            "",
            f"Intended endpoint config: {verdict.intended_config}",
            f"Live endpoint config:     {verdict.live_config or '(none: no such endpoint)'}",
            f"Endpoint status:          {verdict.endpoint_status or '(none)'}",
        ]
        if verdict.failure_reason:
            lines.append(f"FailureReason:            {verdict.failure_reason}")
        lines += ["", "Findings:", *(f"- {text}" for text in result.findings)]
    elif result.status == "invalid":
        lines = [
            f"The intended state of endpoint {result.endpoint} is invalid, so the endpoint "
            "was not verified.",
            "",
            f"Error: {result.error}",
        ]
    else:
        lines = [f"Endpoint {result.endpoint} could not be verified.", "", f"Error: {result.error}"]
    lines += [
        "",
        f"Intended state: {result.source or '(unknown)'}",
        f"Verified at:    {now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
    ]
    return "\n".join(lines)


def event_entry(result: Result, bus: str) -> dict[str, Any]:
    """The `Endpoint Verification Failed` PutEvents entry; the detail is `Result.to_dict()`."""
    return {
        "Source": settings.EVENT_SOURCE,
        "DetailType": settings.EVENT_VERIFICATION_FAILED,
        "Detail": json.dumps(result.to_dict(), sort_keys=True),
        "EventBusName": bus,
    }


def put_metrics(result: Result) -> None:
    """One EMF document per endpoint (dimensions `service`, `endpoint`): `EndpointMismatch`
    1/0 and `EndpointVerified` 1 for a verdict, `EndpointVerificationError` 1 for none."""
    if result.status in {"match", "mismatch"}:
        values = {
            settings.METRIC_MISMATCH: int(result.status == "mismatch"),
            settings.METRIC_VERIFIED: 1,
        }
    elif result.status in {"error", "invalid"}:
        values = {settings.METRIC_ERROR: 1}
    else:
        return
    metrics.add_dimension(name="endpoint", value=result.endpoint)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    # Flushed now: the next endpoint of this invocation needs its own `endpoint` dimension.
    metrics.flush_metrics()


@tracer.capture_method
def notify(result: Result, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    """Publish to the topic, and put the event when a bus is configured. Never raises: a
    failure to notify is logged and returned, and never hides the verdict."""
    notified: dict[str, Any] = {"sns": False, "events": None, "errors": []}
    try:
        clients.sns.publish(
            TopicArn=env.topic_arn,
            Subject=subject(result),
            Message=message(result, now),
            MessageAttributes={
                "endpoint": {"DataType": "String", "StringValue": result.endpoint},
                "status": {"DataType": "String", "StringValue": result.status},
            },
        )
        notified["sns"] = True
    except Exception as exc:  # whatever failed, the verdict is still logged and returned
        logger.exception("could not publish the verification result", extra=_keys(result))
        notified["errors"].append(f"SNS: {_text(exc)}")
    if env.event_bus:
        notified["events"] = False
        try:
            answer = clients.events.put_events(Entries=[event_entry(result, env.event_bus)])
            if answer.get("FailedEntryCount", 0):
                entry = (answer.get("Entries") or [{}])[0]
                raise NotifyError(
                    f"PutEvents refused the entry: {entry.get('ErrorCode')} "
                    f"{entry.get('ErrorMessage')}"
                )
            notified["events"] = True
        except Exception as exc:  # as above
            logger.exception("could not put the verification event", extra=_keys(result))
            notified["errors"].append(f"EventBridge: {_text(exc)}")
    return notified


def _text(exc: Exception) -> str:
    return aws_error(exc) if isinstance(exc, ClientError | BotoCoreError) else str(exc)


def _keys(result: Result) -> dict[str, Any]:
    verdict = result.verdict
    return {
        "endpoint": result.endpoint,
        "status": result.status,
        "parameter": result.source,
        "intended_endpoint_config": verdict.intended_config if verdict else None,
        "live_endpoint_config": verdict.live_config if verdict else None,
        "endpoint_status": verdict.endpoint_status if verdict else None,
    }


def report(result: Result, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    """Log, count and (for a mismatch, error or invalid document) notify; the summary."""
    keys = _keys(result)
    if result.status == "mismatch":
        logger.error(
            "endpoint does not run what was deployed",
            extra={**keys, "findings": result.findings},
        )
    elif result.status in {"error", "invalid"}:
        logger.error("endpoint could not be verified", extra={**keys, "error": result.error})
    elif result.status == "skipped":
        logger.info("no intended state for this endpoint: not one of ours", extra=keys)
    else:
        logger.info(f"endpoint verification: {result.status}", extra=keys)
    put_metrics(result)
    summary = result.to_dict()
    if result.status in REPORTED:
        summary["notified"] = notify(result, env, clients, now)
    return summary


# ---- events -------------------------------------------------------------------------------------


class EndpointStateDetail(BaseModel):
    """The part of SageMaker's endpoint state change the verifier reads (it describes the
    endpoint itself: the event's status may be stale, and is spelled `IN_SERVICE`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    endpoint_name: Name = Field(alias="EndpointName")
    endpoint_status: str | None = Field(default=None, alias="EndpointStatus")


class EndpointStateChange(EventBridgeModel):
    """EventBridge's `SageMaker Endpoint State Change` event."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Endpoint State Change"] = Field(alias="detail-type")
    detail: EndpointStateDetail


class VerifyRequest(BaseModel):
    """A scheduled or manual verification: `{"endpoints": "all"}` or a list of names."""

    model_config = ConfigDict(extra="forbid")

    endpoints: Literal["all"] | list[str]

    @field_validator("endpoints", mode="before")
    @classmethod
    def _all_or_names(cls, value: Any) -> Any:
        if value == "all":
            return value
        if not isinstance(value, list) or not value:
            raise ValueError(f'must be "all" or a non-empty list of endpoint names, got {value!r}')
        bad = [v for v in value if not isinstance(v, str) or not ENDPOINT_NAME.fullmatch(v)]
        if bad:
            raise ValueError(f"not {ENDPOINT_NAME_TEXT}: {', '.join(map(repr, bad))}")
        return value


def _event_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "event"
        if error["type"] == "value_error":
            problems.append(f"{loc}: {error.get('ctx', {}).get('error', error['msg'])}")
        else:
            problems.append(f"{loc}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(problems)


def parse_event(event: Any) -> EndpointStateChange | VerifyRequest:
    """The event as one of the accepted shapes; `BadEventError` naming what was received."""
    if not isinstance(event, Mapping):
        raise BadEventError(
            f"the event is a JSON {type(event).__name__}, not an object; accepted: "
            f"{ACCEPTED_EVENTS}"
        )
    if "source" in event or "detail-type" in event:
        what = (
            f"EventBridge event (source {event.get('source')!r}, detail-type "
            f"{event.get('detail-type')!r})"
        )
        model: type[EndpointStateChange | VerifyRequest] = EndpointStateChange
    elif "endpoints" in event:
        what, model = f"request {dict(event)!r}", VerifyRequest
    else:
        raise BadEventError(
            f"an event with keys {sorted(map(str, event))} is not one the verifier accepts; "
            f"accepted: {ACCEPTED_EVENTS}"
        )
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise BadEventError(
            f"{what} refused: {_event_problems(exc)}; accepted: {ACCEPTED_EVENTS}"
        ) from None


def verify_request(
    request: EndpointStateChange | VerifyRequest, env: Env, clients: Clients
) -> Iterator[Result]:
    """The endpoints an event asks for, each verified."""
    if isinstance(request, EndpointStateChange):
        logger.info(
            "endpoint state changed",
            extra={
                "endpoint": request.detail.endpoint_name,
                "event_status": request.detail.endpoint_status,
            },
        )
        yield verify_named(clients, env.prefix, request.detail.endpoint_name, missing="skipped")
        return
    if request.endpoints == "all":
        for document in list_documents(clients.ssm, env.prefix):
            yield verify_document(clients.sagemaker, document)
        return
    for endpoint in dict.fromkeys(request.endpoints):
        yield verify_named(clients, env.prefix, endpoint, missing="invalid")


def handle(event: Any, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    """Verify what the event asks for; the summary of every endpoint, and counts by outcome."""
    request = parse_event(event)
    results = [report(r, env, clients, now) for r in verify_request(request, env, clients)]
    counts = Counter(str(r["status"]) for r in results)
    return {"results": results, "counts": dict(sorted(counts.items()))}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SageMaker endpoint state change, or the hourly `{"endpoints": "all"}`."""
    return handle(event, Env.read(), lambda_clients(), datetime.now(UTC))


# ---- command line -------------------------------------------------------------------------------

EXIT_OK: Final = 0
"""Every endpoint runs its intended state."""
EXIT_FAILED: Final = 1
"""A mismatch, an AWS error, or an endpoint still in progress after --wait-seconds."""
EXIT_USAGE: Final = 2
"""Bad usage, a missing or invalid intended-state document: nothing could be compared."""
DEFAULT_POLL_SECONDS: Final = 30


class CliError(ValueError):
    """Bad usage; one line on stderr and exit code 2."""


Target = Callable[[], Result]


def _seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {value!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {seconds}")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verifier",
        description="Compare SageMaker endpoints with the intended state the inference "
        "component wrote to SSM (or with a local document), and print one line per endpoint.",
        epilog="exit codes: 0 every endpoint matches; 1 a mismatch, an AWS error, or still in "
        "progress after --wait-seconds; 2 bad usage or a missing or invalid intended-state "
        "document",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--prefix",
        metavar="PATH",
        help=f"SSM path of the intended-state parameters, e.g. /mlops-platform/prod/endpoints "
        f"(default: ${settings.ENV_PARAMETER_PREFIX})",
    )
    source.add_argument(
        "--intended", metavar="FILE", type=Path, help="a local intended-state document instead"
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        metavar="NAME",
        help="an endpoint to verify (repeatable; default: every parameter under the prefix)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=_seconds,
        default=0,
        metavar="N",
        help="keep polling endpoints that are being created or updated, up to N seconds "
        "(default 0: report them as in progress)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_seconds,
        default=DEFAULT_POLL_SECONDS,
        metavar="N",
        help=f"time between polls while waiting (default {DEFAULT_POLL_SECONDS})",
    )
    parser.add_argument(
        "--allow-none",
        action="store_true",
        help="exit 0 when the prefix holds no intended-state parameters (a stack without "
        "endpoints); without it that is a usage error",
    )
    parser.add_argument("--verbose", action="store_true", help="log progress on stderr")
    return parser


def _file_target(args: argparse.Namespace, clients: Clients) -> Target:
    path: Path = args.intended
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    source = f"file {path}"
    try:
        intended = parse_document(text, source)
    except DocumentError as exc:
        raise CliError(str(exc)) from None
    if args.endpoint and args.endpoint != [intended.endpoint_name]:
        raise CliError(
            f"{path} describes endpoint {intended.endpoint_name}, not {', '.join(args.endpoint)}"
        )
    return functools.partial(verify_intended, clients.sagemaker, intended, source)


def targets(args: argparse.Namespace, clients: Clients, environ: Mapping[str, str]) -> list[Target]:
    """What to verify, each a call that can be repeated while waiting."""
    if args.intended is not None:
        return [_file_target(args, clients)]
    prefix = args.prefix or environ.get(settings.ENV_PARAMETER_PREFIX)
    if not prefix:
        raise CliError(f"give --prefix, --intended, or set {settings.ENV_PARAMETER_PREFIX}")
    if not prefix.startswith("/"):
        raise CliError(f"--prefix must be an SSM path starting with '/', got {prefix!r}")
    if args.endpoint:
        names = list(dict.fromkeys(args.endpoint))
        for name in names:
            try:
                settings.parameter_name(prefix, name)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        return [
            functools.partial(verify_named, clients, prefix, name, missing="invalid")
            for name in names
        ]
    documents = list_documents(clients.ssm, prefix)
    if not documents and not args.allow_none:
        raise CliError(
            f"no intended-state parameters under {prefix}: nothing to verify (give "
            "--allow-none for a stack without endpoints)"
        )
    return [functools.partial(verify_document, clients.sagemaker, d) for d in documents]


def run(
    calls: Sequence[Target],
    wait_seconds: int,
    poll_seconds: int,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> list[Result]:
    """Verify each; while some are in progress and time is left, poll those again."""
    deadline = clock() + wait_seconds
    results = [call() for call in calls]
    while True:
        pending = [i for i, r in enumerate(results) if r.status == "in-progress"]
        left = deadline - clock()
        if not pending or left <= 0:
            return results
        for i in pending:
            logger.info(
                "waiting for the endpoint",
                extra={"endpoint": results[i].endpoint, "left_seconds": round(left)},
            )
        sleep(min(max(poll_seconds, 1), left))
        for i in pending:
            results[i] = calls[i]()


def result_lines(result: Result) -> list[str]:
    """One line per endpoint, then its findings (or its error) indented."""
    verdict = result.verdict
    head = f"{result.status.upper():<11} {result.endpoint}"
    if verdict is not None and result.status == "match":
        head += f"  endpoint config {verdict.intended_config}"
    elif verdict is not None and result.status == "in-progress":
        head += f"  endpoint status {verdict.endpoint_status}"
    elif verdict is not None:
        head += (
            f"  intended endpoint config {verdict.intended_config}, live "
            f"{verdict.live_config or '(none)'}"
        )
    lines = [head, *(f"  - {text}" for text in result.findings)]
    if result.error:
        lines.append(f"  {result.error}")
    return lines


def exit_code(results: Sequence[Result]) -> int:
    if any(r.status == "invalid" for r in results):
        return EXIT_USAGE
    return EXIT_OK if all(r.status == "match" for r in results) else EXIT_FAILED


@contextmanager
def _logs_on_stderr(verbose: bool) -> Iterator[None]:
    """The command line's own output is stdout; the library's logs go to stderr meanwhile,
    warnings only unless --verbose (restored after: the logger is the module's)."""
    handler = logger.registered_handler
    stream = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    level = logger.log_level
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on a usage error)."""
    args = _parser().parse_args(argv)
    with _logs_on_stderr(args.verbose):
        return _main(args, clients, clock, sleep, os.environ if environ is None else environ)


def _main(
    args: argparse.Namespace,
    clients: Clients | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    environ: Mapping[str, str],
) -> int:
    try:
        clients = clients if clients is not None else make_clients(args.region)
        calls = targets(args, clients, environ)
    except CliError as exc:
        print(f"verifier: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoRegionError:
        print("verifier: error: no AWS region: give --region or set AWS_REGION", file=sys.stderr)
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as exc:
        # Listing the parameters failed (denied, throttled after retries): nothing verified.
        print(
            f"verifier: error: cannot list the intended states: {aws_error(exc)}", file=sys.stderr
        )
        return EXIT_FAILED
    results = run(calls, args.wait_seconds, args.poll_seconds, clock, sleep)
    for result in results:
        print("\n".join(result_lines(result)))
    counts = Counter(r.status for r in results)
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"verified {len(results)} endpoint{'s' * (len(results) != 1)}: {tally}")
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
