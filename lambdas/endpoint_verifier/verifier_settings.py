"""Names shared by the endpoint verifier (`verifier.py`) and the component that deploys it.

The inference component (`components/inference.py`) writes, for every endpoint, an SSM String
parameter holding the endpoint's *intended* state, before it updates the endpoint; the verifier
reads it and compares the live endpoint with it. Both sides take the parameter's name, the
document's rendering, the environment variables, metric names and event names from here.
Standard library only: the Pulumi program imports this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

# ---- environment variables the component sets on the verifier function -------------------------
ENV_PARAMETER_PREFIX: Final = "VERIFY_PARAMETER_PREFIX"
"""SSM path under which the intended-state parameters live, e.g.
`/mlops-platform/prod/endpoints/` (one parameter per endpoint, named after it)."""
ENV_TOPIC_ARN: Final = "VERIFY_TOPIC_ARN"
"""SNS topic told about every mismatch (and every verification that could not run)."""
ENV_EVENT_BUS: Final = "VERIFY_EVENT_BUS"
"""Optional: name or ARN of the event bus that also gets an `Endpoint Verification Failed`
event; unset or empty, no event is put."""
ENV_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
"""CloudWatch namespace of the verifier's metrics (Powertools reads it)."""
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
"""Service name in logs, traces and metrics (Powertools reads it)."""

SERVICE_NAME: Final = "endpoint-verifier"
METRICS_NAMESPACE: Final = "MLOpsPlatform/Endpoints"

# ---- metrics (EMF; dimensions `service` and `endpoint`) -----------------------------------------
METRIC_MISMATCH: Final = "EndpointMismatch"
"""1 when the live endpoint differs from its intended state, 0 when it matches."""
METRIC_VERIFIED: Final = "EndpointVerified"
"""1 for every verification that reached a verdict (match or mismatch): alarm on its absence to
know the verifier stopped running."""
METRIC_ERROR: Final = "EndpointVerificationError"
"""1 when an endpoint could not be verified: an AWS error while describing it, or a missing or
invalid intended-state document."""

# ---- events on the platform bus -----------------------------------------------------------------
EVENT_SOURCE: Final = "mlops.platform.endpoints"
EVENT_VERIFICATION_FAILED: Final = "Endpoint Verification Failed"
"""Detail-type of the event put for a mismatch, an error or an invalid document."""

# ---- the intended-state document ----------------------------------------------------------------
SCHEMA_VERSION: Final = 1
"""Version of the document `intended_document` writes and the verifier reads."""
KINDS: Final = ("realtime", "serverless")
SERVERLESS_MEMORY_MB: Final = (1024, 2048, 3072, 4096, 5120, 6144)
"""The memory sizes SageMaker serverless inference offers."""
SSM_STANDARD_MAX_BYTES: Final = 4096
"""Largest value of a Standard-tier SSM parameter; the document must fit in it."""

Kind = Literal["realtime", "serverless"]

_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


@dataclass(frozen=True)
class ServerlessSpec:
    """A serverless variant's capacity, as in the endpoint config's `ServerlessConfig`."""

    memory_size_in_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class IntendedVariant:
    """One variant the endpoint is meant to serve (production, or shadow when `shadow`)."""

    variant_name: str
    model_name: str
    model_package_arn: str
    shadow: bool = False
    instance_type: str | None = None
    """Real-time variants only."""
    serverless: ServerlessSpec | None = None
    """Serverless variants only."""


def parameter_name(prefix: str, endpoint: str) -> str:
    """The SSM parameter holding `endpoint`'s intended state: `<prefix>/<endpoint>`.

    `prefix` is an SSM path (`/mlops-platform/prod/endpoints`, with or without the last `/`).
    """
    if not prefix.startswith("/"):
        raise ValueError(f"parameter prefix {prefix!r} must start with '/' (an SSM path)")
    if not _ENDPOINT_NAME.fullmatch(endpoint):
        raise ValueError(
            f"endpoint name {endpoint!r} is not a SageMaker endpoint name "
            "(1 to 63 letters, digits and inner hyphens)"
        )
    return f"{parameter_path(prefix).rstrip('/')}/{endpoint}"


def parameter_path(prefix: str) -> str:
    """The prefix as GetParametersByPath's `Path`: no trailing `/` (except the root)."""
    return prefix.rstrip("/") or "/"


def _variant(variant: IntendedVariant, kind: Kind) -> dict[str, Any]:
    where = f"variant {variant.variant_name!r}"
    if kind == "realtime" and (variant.instance_type is None or variant.serverless is not None):
        raise ValueError(f"{where}: a realtime endpoint's variants need instance_type only")
    if kind == "serverless":
        if variant.serverless is None or variant.instance_type is not None:
            raise ValueError(f"{where}: a serverless endpoint's variants need serverless only")
        if variant.shadow:
            raise ValueError(f"{where}: SageMaker has no shadow variants on serverless endpoints")
    serverless: dict[str, int] | None = None
    if variant.serverless is not None:
        spec = variant.serverless
        if spec.memory_size_in_mb not in SERVERLESS_MEMORY_MB:
            raise ValueError(
                f"{where}: memory_size_in_mb {spec.memory_size_in_mb} is not one of "
                f"{SERVERLESS_MEMORY_MB}"
            )
        serverless = {
            "memorySizeInMb": spec.memory_size_in_mb,
            "maxConcurrency": spec.max_concurrency,
        }
        if spec.provisioned_concurrency is not None:
            serverless["provisionedConcurrency"] = spec.provisioned_concurrency
    return {
        "variantName": variant.variant_name,
        "shadow": variant.shadow,
        "modelName": variant.model_name,
        "modelPackageArn": variant.model_package_arn,
        "instanceType": variant.instance_type,
        "serverless": serverless,
    }


def intended_document(
    *,
    endpoint_name: str,
    endpoint_config_name: str,
    kind: Kind,
    require_approved: bool,
    variants: Sequence[IntendedVariant],
) -> str:
    """The intended-state document of one endpoint, as the SSM parameter's value.

    Deterministic: sorted keys, no whitespace, variants production first then shadow, each by
    name, so the same deployment always writes the same bytes (no spurious parameter updates).
    Raises `ValueError` for values the verifier would refuse, so the program fails at preview
    rather than the verifier at run time.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    if not _ENDPOINT_NAME.fullmatch(endpoint_name):
        raise ValueError(f"endpoint name {endpoint_name!r} is not a SageMaker endpoint name")
    names = [v.variant_name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names repeat: {names}")
    if not any(not v.shadow for v in variants):
        raise ValueError("an endpoint needs at least one production (non-shadow) variant")
    ordered = sorted(variants, key=lambda v: (v.shadow, v.variant_name))
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "endpointName": endpoint_name,
        "endpointConfigName": endpoint_config_name,
        "kind": kind,
        "requireApproved": require_approved,
        "variants": [_variant(v, kind) for v in ordered],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text.encode("utf-8")) > SSM_STANDARD_MAX_BYTES:
        raise ValueError(
            f"the intended-state document of {endpoint_name} is {len(text)} bytes, over the "
            f"{SSM_STANDARD_MAX_BYTES} of a Standard SSM parameter; use the Advanced tier"
        )
    return text
