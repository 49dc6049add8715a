"""The capture proxy: invokes a SageMaker serverless endpoint and records its traffic.

Serverless endpoints have no SageMaker data capture. This Lambda (`proxy.lambda_handler`)
stands in front of one, behind a Lambda Function URL or an API Gateway HTTP API (payload
format 2.0): it forwards the request body to `InvokeEndpoint`, returns the model's answer
unchanged, and puts one record in SageMaker's data-capture JSON Lines shape on a Firehose
delivery stream, which files it under `datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/` of the
capture bucket, where the drift checks read every endpoint's capture alike.

The endpoint and variant come from the environment (names in `settings`), never from the
caller. A caller may name its invocation with an `X-Inference-Id` header (the id its ground
truth will carry, as the serving sidecar on Kubernetes accepts it): the proxy passes it to
InvokeEndpoint as `InferenceId` and writes it as the record's `eventId` and `inferenceId`;
without it the eventId is derived from the request id. Either way the answer carries the
record's eventId in `X-Inference-Id`.

Capture never breaks inference: a Firehose failure is logged and counted (`CaptureFailed`),
and the answer is still returned. An `InvokeEndpoint` error goes back to the caller with a
matching status and is not captured.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
import capture_format
import capture_settings as settings
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.exceptions import InvalidModelTypeError
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

# The record format lives in `capture_format` (shared with the serving sidecar); its functions
# stay importable from here under their old names.
from capture_format import (  # noqa: F401 (re-exported)
    INFERENCE_ID_HEADER,
    INFERENCE_ID_RULE,
    Encoding,
    capture_part,
    encoding_of,
    inference_time,
    sampled,
    valid_inference_id,
)

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.SERVICE_NAME)
NAMESPACE = os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.METRICS_NAMESPACE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
# InvokeEndpoint: standard retries (throttling and transient 5xx, with backoff); a serverless
# cold start can take tens of seconds, and SageMaker allows a model 60 s to answer.
runtime = boto3.client(
    "sagemaker-runtime",
    config=Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=70
    ),
)
# PutRecord sits on the request's path: short timeouts and one retry, so a slow Firehose costs
# the caller little; a record lost that way is counted, never waited for.
firehose = boto3.client(
    "firehose",
    config=Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=3
    ),
)

Outcome = Literal["captured", "not_sampled", "too_large", "failed"]

ID_RESPONSE_HEADER = INFERENCE_ID_HEADER.lower()
"""The answer's header carrying the record's eventId (lower case, as the proxy's other
headers: HTTP header names are case-insensitive)."""
_EVENT_NAMESPACE = uuid.UUID("8c1f1a52-3f0e-4a8e-9a7c-6d1b2e3f4a5b")
_THROTTLING = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_UNAVAILABLE = frozenset({"ServiceUnavailable", "ModelNotReadyException"})


class ConfigError(Exception):
    """The environment the component sets is missing or wrong: the proxy cannot serve."""


# ---- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """The environment the component sets on the proxy function."""

    endpoint: str
    variant: str
    delivery_stream: str
    sampling_percent: int

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Env:
        environ = os.environ if environ is None else environ
        names = (
            settings.ENV_ENDPOINT_NAME,
            settings.ENV_VARIANT_NAME,
            settings.ENV_DELIVERY_STREAM,
        )
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise ConfigError(
                f"environment variable(s) {', '.join(missing)} not set; the capture proxy's "
                "component sets them"
            )
        raw = environ.get(settings.ENV_SAMPLING_PERCENT, "").strip()
        percent = settings.DEFAULT_SAMPLING_PERCENT
        if raw:
            try:
                percent = int(raw)
            except ValueError:
                raise ConfigError(
                    f"{settings.ENV_SAMPLING_PERCENT} must be an integer 0 to 100, got {raw!r}"
                ) from None
            if not 0 <= percent <= 100:
                raise ConfigError(
                    f"{settings.ENV_SAMPLING_PERCENT} must be an integer 0 to 100, got {raw!r}"
                )
        return cls(
            endpoint=environ[settings.ENV_ENDPOINT_NAME],
            variant=environ[settings.ENV_VARIANT_NAME],
            delivery_stream=environ[settings.ENV_DELIVERY_STREAM],
            sampling_percent=percent,
        )


# ---- the request and the answer -----------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One invocation as the proxy forwards it."""

    body: bytes
    content_type: str | None
    accept: str | None
    event_id: str
    """The record's eventId: the caller's inference id, else derived from the request id."""
    received: datetime
    inference_id: str | None = None
    """The caller's `X-Inference-Id` (InvokeEndpoint's `InferenceId`), when it gave one."""


@dataclass(frozen=True)
class Answer:
    """The model's answer, as InvokeEndpoint returned it."""

    body: bytes
    content_type: str


class HttpError(Exception):
    """A request the proxy answers with an error status (and does not capture)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def event_id_of(request_id: str) -> str:
    """The capture's eventId: the request id when it is a UUID (Function URLs), else a UUID
    derived from it (API Gateway's ids are not UUIDs), as SageMaker's eventIds are UUIDs."""
    try:
        return str(uuid.UUID(request_id))
    except ValueError:
        return str(uuid.uuid5(_EVENT_NAMESPACE, request_id))


def inference_id_of(headers: Mapping[str, str]) -> str | None:
    """The caller's `X-Inference-Id` (headers keyed in lower case), or None; one that is not
    accepted is a 400 naming the header and what it accepts (the serving sidecar's rule)."""
    given = headers.get(INFERENCE_ID_HEADER.lower())
    if given is None or valid_inference_id(given):
        return given
    shown = given if len(given) <= 80 else given[:80] + "..."
    raise HttpError(
        400,
        f"header {INFERENCE_ID_HEADER}={shown!r} is not accepted: give {INFERENCE_ID_RULE}, "
        "or leave it out and the proxy makes one",
    )


def parse_request(event: LambdaFunctionUrlModel, received: datetime) -> Request:
    """The body (base64-decoded when the event says so), content type, accept and inference id
    headers."""
    method = event.requestContext.http.method.upper()
    if method != "POST":
        raise HttpError(405, f"method {method} not allowed; invoke the model with POST")
    headers = {name.lower(): value for name, value in event.headers.items()}
    inference_id = inference_id_of(headers)
    raw = event.body if isinstance(event.body, str) else ""
    if event.isBase64Encoded:
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "the request body is not valid base64") from None
    else:
        body = raw.encode("utf-8")
    if not body:
        raise HttpError(400, "the request body is empty")
    return Request(
        body=body,
        content_type=headers.get("content-type") or None,
        accept=headers.get("accept") or None,
        event_id=(
            inference_id
            if inference_id is not None
            else event_id_of(event.requestContext.requestId)
        ),
        received=received,
        inference_id=inference_id,
    )


def _model_error(error: dict[str, Any], response: dict[str, Any]) -> HttpError:
    """A ModelError: the model's own 4xx status and message, else 424 (SageMaker's status)."""
    original = response.get("OriginalStatusCode")
    message = str(response.get("OriginalMessage") or error.get("Message") or "model error")
    status = original if isinstance(original, int) and 400 <= original < 500 else 424
    return HttpError(status, message)


@tracer.capture_method
def invoke(client: Any, env: Env, request: Request) -> Answer:
    """Call InvokeEndpoint; an error becomes an `HttpError` with the status the caller gets."""
    params: dict[str, Any] = {"EndpointName": env.endpoint, "Body": request.body}
    if request.content_type:
        params["ContentType"] = request.content_type
    if request.accept:
        params["Accept"] = request.accept
    if request.inference_id is not None:
        # SageMaker's own logs and metrics then name the invocation as the capture does.
        params["InferenceId"] = request.inference_id
    try:
        response = client.invoke_endpoint(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message") or code)
        if code == "ModelError":
            raise _model_error(error, exc.response) from exc
        if code == "ValidationError":
            raise HttpError(400, message) from exc
        if code in _THROTTLING:
            raise HttpError(503, f"the endpoint is throttling: {message}", retry_after=1) from exc
        if code in _UNAVAILABLE:
            raise HttpError(503, f"the endpoint is unavailable: {message}", retry_after=5) from exc
        raise HttpError(502, f"the endpoint failed: {message}") from exc
    except ReadTimeoutError as exc:
        raise HttpError(504, "the endpoint did not answer in time") from exc
    except BotoCoreError as exc:
        raise HttpError(502, f"the endpoint could not be reached: {exc}") from exc
    body: bytes = response["Body"].read()
    return Answer(body=body, content_type=str(response.get("ContentType") or ""))


# ---- the capture record -------------------------------------------------------------------------


def capture_record(request: Request, answer: Answer) -> bytes:
    """One data-capture JSON Lines record, ending in a newline (Firehose concatenates the
    records of an object as they come, so each must carry its own line end). The shape is
    `capture_format`'s, shared with the serving sidecar."""
    return capture_format.capture_record(
        request.event_id,
        request.received,
        request.content_type,
        request.body,
        answer.content_type,
        answer.body,
        inference_id=request.inference_id,
    )


@tracer.capture_method
def capture(client: Any, env: Env, request: Request, answer: Answer) -> Outcome:
    """Put the invocation's record on the delivery stream; never raises."""
    if not sampled(request.event_id, env.sampling_percent):
        return "not_sampled"
    try:
        data = capture_record(request, answer)
        if len(data) > settings.FIREHOSE_MAX_RECORD_BYTES:
            logger.warning(
                "capture record too large for Firehose; not captured",
                extra={"event_id": request.event_id, "bytes": len(data)},
            )
            metrics.add_metric(settings.METRIC_CAPTURE_TOO_LARGE, MetricUnit.Count, 1)
            return "too_large"
        client.put_record(DeliveryStreamName=env.delivery_stream, Record={"Data": data})
    except Exception:
        # Capture never breaks inference: whatever failed, the caller still gets the answer.
        logger.exception(
            "capture failed; the response is returned uncaptured",
            extra={"event_id": request.event_id, "delivery_stream": env.delivery_stream},
        )
        metrics.add_metric(settings.METRIC_CAPTURE_FAILED, MetricUnit.Count, 1)
        return "failed"
    metrics.add_metric(settings.METRIC_CAPTURED, MetricUnit.Count, 1)
    return "captured"


# ---- the HTTP answer ----------------------------------------------------------------------------


def http_response(status: int, body: bytes, content_type: str, **headers: str) -> dict[str, Any]:
    """A payload-2.0 response; the body as text when it is UTF-8, else base64 (the bytes the
    caller receives are the same either way)."""
    out_headers = {"content-type": content_type} if content_type else {}
    out_headers.update(headers)
    try:
        return {
            "statusCode": status,
            "headers": out_headers,
            "body": body.decode("utf-8"),
            "isBase64Encoded": False,
        }
    except UnicodeDecodeError:
        return {
            "statusCode": status,
            "headers": out_headers,
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
        }


def error_response(error: HttpError, event_id: str | None = None) -> dict[str, Any]:
    """`{"message": ...}`; with the invocation's id once it has one (as the sidecar echoes it)."""
    headers = {"retry-after": str(error.retry_after)} if error.retry_after is not None else {}
    if event_id is not None:
        headers[ID_RESPONSE_HEADER] = event_id
    body = json.dumps({"message": error.message}).encode("utf-8")
    return http_response(error.status, body, "application/json", **headers)


def proxy(
    event: LambdaFunctionUrlModel,
    env: Env,
    runtime_client: Any,
    firehose_client: Any,
    now: datetime,
) -> dict[str, Any]:
    """Forward one invocation, capture it when sampled, and answer the caller."""
    metrics.add_dimension("endpoint", env.endpoint)
    request: Request | None = None
    try:
        request = parse_request(event, now)
        answer = invoke(runtime_client, env, request)
    except HttpError as error:
        event_id = request.event_id if request is not None else None
        logger.info(
            "invocation failed; not captured",
            extra={
                "status": error.status,
                "error": error.message,
                "endpoint": env.endpoint,
                "event_id": event_id,
            },
        )
        metrics.add_metric(settings.METRIC_INVOKE_FAILED, MetricUnit.Count, 1)
        return error_response(error, event_id)
    outcome = capture(firehose_client, env, request, answer)
    logger.debug("invocation served", extra={"event_id": request.event_id, "capture": outcome})
    return http_response(
        200, answer.body, answer.content_type, **{ID_RESPONSE_HEADER: request.event_id}
    )


class MalformedEventError(ValueError):
    """The invocation's event is not a Function URL request Powertools' model can read."""


def parse_event(event: Any) -> LambdaFunctionUrlModel:
    """The event as a Function URL request; `ValidationError` naming the field, or
    `MalformedEventError` where one of Powertools' own validators fails on a value it assumes
    to be text (`requestContext.http.sourceIp` as a list raises AttributeError there, which
    `parse` reports as `InvalidModelTypeError`)."""
    try:
        return parse(event=event, model=LambdaFunctionUrlModel)
    except (AttributeError, TypeError, InvalidModelTypeError) as exc:
        raise MalformedEventError(
            f"the event is not a Function URL request: a field holds a value of the wrong type "
            f"({type(exc).__name__}: {exc})"
        ) from exc


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Function URL / HTTP API invocation of the serverless endpoint, captured."""
    return proxy(parse_event(event), Env.read(), runtime, firehose, datetime.now(UTC))
