"""SageMaker's data-capture record, built from plain values: one definition for every writer.

Two writers produce capture in SageMaker's JSON Lines shape: the capture proxy Lambda in front
of serverless endpoints (`proxy.py`, through Firehose) and the serving sidecar next to models on
Kubernetes (`images/serving_sidecar`, straight to S3). Both import this module, so the drift
checks (`lambdas/drift_check`) read one format whatever wrote it. Standard library only: the
sidecar's image copies this one file in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Literal

Encoding = Literal["CSV", "JSON", "BASE64"]

INFERENCE_ID_HEADER = "X-Inference-Id"
"""Request header by which a caller names its invocation (the id its ground truth will carry);
both writers honour it, use it as the record's `eventId` and `inferenceId`, and echo the
record's `eventId` under it on the answer."""
INFERENCE_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What an inference id may be (`fullmatch`): within what SageMaker's `InferenceId` accepts
(1 to 64 printable characters), and safe in S3 keys, logs and CSV label files."""
INFERENCE_ID_RULE = "1 to 64 characters of A-Z a-z 0-9 . _ : -"
"""`INFERENCE_ID_PATTERN` in words, for the 400 that refuses another id."""

_CSV_TYPES = frozenset({"text/csv"})
_JSON_TYPES = frozenset({"application/json"})


def encoding_of(content_type: str | None) -> Encoding:
    """SageMaker's encoding of a payload: CSV for text/csv, JSON for application/json (any
    parameters such as charset aside), BASE64 for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CSV_TYPES:
        return "CSV"
    if media in _JSON_TYPES:
        return "JSON"
    return "BASE64"


def capture_part(
    content_type: str | None, data: bytes, mode: Literal["INPUT", "OUTPUT"]
) -> dict[str, str]:
    """`endpointInput` or `endpointOutput` of a capture record. Text that is not UTF-8 is
    captured as BASE64 whatever its content type says, so the record stays faithful."""
    encoding = encoding_of(content_type)
    text: str | None = None
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if text is None:
        text = base64.b64encode(data).decode("ascii")
    return {
        "observedContentType": content_type or "",
        "mode": mode,
        "data": text,
        "encoding": encoding,
    }


def inference_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as SageMaker writes it: `2026-11-27T10:00:00.123Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def valid_inference_id(value: str) -> bool:
    """Whether a caller's inference id is accepted (`INFERENCE_ID_RULE`)."""
    return INFERENCE_ID_PATTERN.fullmatch(value) is not None


def capture_record(  # noqa: PLR0917 (the record's fields, in the order it lists them)
    event_id: str,
    received: datetime,
    request_content_type: str | None,
    request_body: bytes,
    response_content_type: str | None,
    response_body: bytes,
    *,
    inference_id: str | None = None,
) -> bytes:
    """One data-capture JSON Lines record, ending in a newline (writers concatenate records
    into objects as they come, so each must carry its own line end). `inference_id`, the id the
    caller gave, is written as `eventMetadata.inferenceId`, as SageMaker writes InvokeEndpoint's
    `InferenceId`; without one the record has no `inferenceId`, as SageMaker's then has none."""
    metadata = {"eventId": event_id}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = inference_time(received)
    record = {
        "captureData": {
            "endpointInput": capture_part(request_content_type, request_body, "INPUT"),
            "endpointOutput": capture_part(response_content_type, response_body, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def sampled(event_id: str, percent: int) -> bool:
    """Whether an invocation is captured: a pure function of its eventId, so the decision can
    be recomputed, and every event captured at p percent is captured at any higher share."""
    if percent >= 100:
        return True
    if percent <= 0:
        return False
    digest = hashlib.sha256(event_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent
