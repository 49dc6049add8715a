"""Does a SageMaker endpoint run what was deployed? The pure part of the endpoint verifier.

`parse_document` reads the intended-state document the inference component writes (rendered
by `verifier_settings.intended_document`) into `Intended`, refusing a bad one with a
`DocumentError` that names its source, the field and what would be accepted. `verify` compares
it with the live endpoint, given as the describe responses `verifier.describe_live` collected
(`Live`), and returns a `Verdict`: `match`, `mismatch` with one `Finding` per difference (each a
sentence naming what is intended and what is live), or `in-progress` (no verdict while the
endpoint is being created or updated). No I/O here: every check is a small function of plain
values, testable on hand-written responses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

import verifier_settings as settings
from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

Status = Literal["match", "mismatch", "in-progress"]

IN_SERVICE: Final = "InService"
IN_PROGRESS: Final = frozenset({"Creating", "Updating", "SystemUpdating"})
"""Endpoint statuses with no verdict yet: the endpoint is on its way somewhere."""
APPROVED: Final = "Approved"

# What a status other than InService (and the in-progress ones) means, for the finding.
_STATUS_MEANING: Final = {
    "RollingBack": "SageMaker is rolling back an update that failed",
    "UpdateRollbackFailed": "an update failed and so did its rollback; the endpoint needs repair",
    "Failed": "the endpoint failed",
    "OutOfService": "the endpoint is not serving",
    "Deleting": "the endpoint is being deleted",
}

# ---- the intended-state document ----------------------------------------------------------------

ENDPOINT_NAME_TEXT: Final = "a SageMaker endpoint name (1 to 63 letters, digits, inner hyphens)"
NAME_TEXT: Final = "a SageMaker name (1 to 63 letters, digits, inner hyphens)"
PACKAGE_ARN_TEXT: Final = (
    "a versioned model package ARN, "
    "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>"
)
INSTANCE_TYPE_TEXT: Final = "a SageMaker instance type such as ml.m5.large"

_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
_PACKAGE_ARN = (
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/"
    r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/[1-9][0-9]*$"
)
_INSTANCE_TYPE = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"

Name = Annotated[str, StringConstraints(pattern=_NAME)]
PackageArn = Annotated[str, StringConstraints(pattern=_PACKAGE_ARN)]
InstanceType = Annotated[str, StringConstraints(pattern=_INSTANCE_TYPE)]

# What a field accepts, in words, for the errors pydantic words badly (patterns).
_ACCEPTS: Final = {
    "endpointName": ENDPOINT_NAME_TEXT,
    "endpointConfigName": NAME_TEXT,
    "variantName": NAME_TEXT,
    "modelName": NAME_TEXT,
    "modelPackageArn": PACKAGE_ARN_TEXT,
    "instanceType": INSTANCE_TYPE_TEXT,
}


class _Document(BaseModel):
    """Strict: JSON types only as written (no "1" for 1), unknown fields refused, camelCase."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, validate_by_name=False
    )


class Serverless(_Document):
    """A serverless variant's capacity (the endpoint config's `ServerlessConfig`)."""

    memory_size_in_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: Annotated[int, Ge(1), Le(200)]
    provisioned_concurrency: Annotated[int, Ge(1), Le(200)] | None = None

    @model_validator(mode="after")
    def _provisioned_within_max(self) -> Serverless:
        if (
            self.provisioned_concurrency is not None
            and self.provisioned_concurrency > self.max_concurrency
        ):
            raise ValueError(
                f"provisionedConcurrency {self.provisioned_concurrency} is above "
                f"maxConcurrency {self.max_concurrency}; accepted: 1 to maxConcurrency, or absent"
            )
        return self


class Variant(_Document):
    """One intended variant: production, or shadow when `shadow` is true."""

    variant_name: Name
    shadow: bool
    model_name: Name
    model_package_arn: PackageArn
    instance_type: InstanceType | None
    serverless: Serverless | None

    @property
    def role(self) -> str:
        return "shadow" if self.shadow else "production"


class Intended(_Document):
    """The intended state of one endpoint, as the inference component deployed it."""

    schema_version: int
    endpoint_name: Name
    endpoint_config_name: Name
    kind: Literal["realtime", "serverless"]
    require_approved: bool
    variants: list[Variant] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != settings.SCHEMA_VERSION:
            raise ValueError(
                f"version {value} is not supported; accepted: {settings.SCHEMA_VERSION}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Intended:
        names = [v.variant_name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variant names repeat: {', '.join(repeated)}; each must be unique")
        if all(v.shadow for v in self.variants):
            raise ValueError("no production variant (every variant has shadow true)")
        for i, v in enumerate(self.variants):
            at = f"variants[{i}] ({v.variant_name})"
            if self.kind == "realtime" and (v.instance_type is None or v.serverless is not None):
                raise ValueError(
                    f"{at}: kind is realtime, so instanceType must be set and serverless null"
                )
            if self.kind == "serverless":
                if v.serverless is None or v.instance_type is not None:
                    raise ValueError(
                        f"{at}: kind is serverless, so serverless must be set and instanceType null"
                    )
                if v.shadow:
                    raise ValueError(
                        f"{at}: SageMaker has no shadow variants on serverless endpoints"
                    )
        return self

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.variant_name == name), None)

    def package_arns(self) -> list[str]:
        """The intended model package ARNs, each once, in variant order."""
        return list(dict.fromkeys(v.model_package_arn for v in self.variants))


class DocumentError(ValueError):
    """An intended-state document that cannot be read: its source and every problem."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"intended-state document {source} is invalid: " + "; ".join(problems))


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """The fields the document accepts in the object at `loc` (for an unknown-field error)."""
    model: type[BaseModel] = Intended
    for part in loc:
        if part == "variants":
            model = Variant
        elif part == "serverless":
            model = Serverless
    return [f.alias or name for name, f in model.model_fields.items()]


def _problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence: the field, what is wrong, what would be accepted."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    where = _location(loc) or "the document"
    got = error.get("input")
    if kind == "json_invalid":
        return f"not JSON ({error['msg']})"
    if kind == "missing":
        return f"{where}: required, but missing"
    if kind == "extra_forbidden":
        accepted = ", ".join(_fields_at(loc[:-1]))
        return f"{where}: unknown field; accepted here: {accepted}"
    if kind == "string_pattern_mismatch" and loc and str(loc[-1]) in _ACCEPTS:
        return f"{where}: {got!r} is not {_ACCEPTS[str(loc[-1])]}"
    if kind == "value_error":
        message = error.get("ctx", {}).get("error", error["msg"])
        return f"{where}: {message}" if loc else str(message)
    return f"{where}: {error['msg']} (got {got!r})"


def parse_document(text: str | bytes, source: str, *, endpoint: str | None = None) -> Intended:
    """The intended state in `text`; `DocumentError` naming `source` when it is not valid.

    `endpoint`, when given, is the endpoint the document's parameter is named after: the
    document must describe that endpoint.
    """
    try:
        intended = Intended.model_validate_json(text)
    except ValidationError as exc:
        raise DocumentError(source, [_problem(e) for e in exc.errors()]) from None
    if endpoint is not None and intended.endpoint_name != endpoint:
        raise DocumentError(
            source,
            [
                f"endpointName: {intended.endpoint_name!r}, but the parameter is named after "
                f"endpoint {endpoint!r}; accepted: {endpoint!r}"
            ],
        )
    return intended


# ---- the live endpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The describe responses of a live endpoint (`None`: SageMaker says it does not exist)."""

    endpoint: Mapping[str, Any] | None
    """DescribeEndpoint."""
    config: Mapping[str, Any] | None = None
    """DescribeEndpointConfig of the config the endpoint runs (not fetched while in progress)."""
    models: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    """DescribeModel of each live variant's model, by model name."""
    packages: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    """DescribeModelPackage of each intended package ARN (when `requireApproved`)."""


@dataclass(frozen=True)
class Finding:
    """One difference between the intended and the live endpoint."""

    check: str
    """Which check found it: endpoint-missing, endpoint-status, endpoint-config, config-missing,
    variant-missing, variant-role, variant-model, variant-capacity, variant-extra,
    model-missing, model-package, instances, package-missing, package-approval."""
    message: str
    """A sentence naming what is intended and what is live."""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


@dataclass(frozen=True)
class Verdict:
    """What the verification of one endpoint found."""

    endpoint: str
    status: Status
    findings: tuple[Finding, ...]
    intended_config: str
    live_config: str | None
    endpoint_status: str | None
    failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "findings": [f.to_dict() for f in self.findings],
            "intended_endpoint_config": self.intended_config,
            "live_endpoint_config": self.live_config,
            "endpoint_status": self.endpoint_status,
            "failure_reason": self.failure_reason,
        }


def live_variants(config: Mapping[str, Any] | None) -> dict[str, tuple[Mapping[str, Any], bool]]:
    """`{variant name: (variant, is shadow)}` of a DescribeEndpointConfig (or DescribeEndpoint)
    response: its ProductionVariants and ShadowProductionVariants."""
    if config is None:
        return {}
    out: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for key, shadow in (("ProductionVariants", False), ("ShadowProductionVariants", True)):
        for variant in config.get(key) or []:
            out[str(variant.get("VariantName"))] = (variant, shadow)
    return out


def model_package_of(model: Mapping[str, Any]) -> str | None:
    """The model package a DescribeModel response's model is built from: the `ModelPackageName`
    of its PrimaryContainer, else of Containers[0]; `None` when it has none."""
    primary = model.get("PrimaryContainer") or {}
    if primary.get("ModelPackageName"):
        return str(primary["ModelPackageName"])
    containers = model.get("Containers") or []
    if containers and containers[0].get("ModelPackageName"):
        return str(containers[0]["ModelPackageName"])
    return None


def _version(arn: str) -> str | None:
    match = re.search(r"/(\d+)$", arn)
    return match.group(1) if match else None


def _role(shadow: bool) -> str:
    return "shadow" if shadow else "production"


def _reason(endpoint: Mapping[str, Any]) -> str:
    reason = endpoint.get("FailureReason")
    return f" (FailureReason: {reason})" if reason else ""


# ---- the checks (each returns its findings) -----------------------------------------------------


def check_status(endpoint: Mapping[str, Any]) -> list[Finding]:
    """The endpoint must be InService (call only when it is not in progress)."""
    status = str(endpoint.get("EndpointStatus"))
    if status == IN_SERVICE:
        return []
    meaning = _STATUS_MEANING.get(status, "an unexpected status")
    return [
        Finding(
            "endpoint-status",
            f"Endpoint status is {status}, expected {IN_SERVICE}: {meaning}{_reason(endpoint)}.",
        )
    ]


def check_config_name(intended: Intended, endpoint: Mapping[str, Any]) -> list[Finding]:
    """The endpoint runs the intended endpoint config; a rolled-back update shows up here."""
    live = endpoint.get("EndpointConfigName")
    if live == intended.endpoint_config_name:
        return []
    base = (
        f"Endpoint runs endpoint config {live}, intended {intended.endpoint_config_name}: "
        f"the update to {intended.endpoint_config_name} did not take effect"
    )
    if endpoint.get("FailureReason"):
        message = f"{base}; SageMaker rolled it back{_reason(endpoint)}."
    else:
        message = f"{base} (SageMaker rolled it back, or the endpoint was changed outside Pulumi)."
    return [Finding("endpoint-config", message)]


def check_config_exists(
    endpoint: Mapping[str, Any], config: Mapping[str, Any] | None
) -> list[Finding]:
    """The live endpoint config can be read (Pulumi deletes a replaced config after an update
    it believes succeeded, so a rolled-back endpoint may run a config that no longer exists)."""
    if config is not None:
        return []
    name = endpoint.get("EndpointConfigName")
    return [
        Finding(
            "config-missing",
            f"Live endpoint config {name} no longer exists (deleted after the endpoint started "
            "running it), so the live variants cannot be compared with the intended ones.",
        )
    ]


def _serverless_text(memory: Any, max_concurrency: Any, provisioned: Any) -> str:
    text = f"serverless ({memory} MB, max concurrency {max_concurrency}"
    return text + (f", provisioned concurrency {provisioned})" if provisioned else ")")


def capacity_text(variant: Variant) -> str:
    """`ml.m5.large`, or `serverless (2048 MB, max concurrency 5)`."""
    if variant.serverless is None:
        return str(variant.instance_type)
    spec = variant.serverless
    return _serverless_text(
        spec.memory_size_in_mb, spec.max_concurrency, spec.provisioned_concurrency
    )


def live_capacity_text(live: Mapping[str, Any]) -> str:
    """The same, of a live endpoint config's variant."""
    serverless = live.get("ServerlessConfig")
    if serverless:
        return _serverless_text(
            serverless.get("MemorySizeInMB"),
            serverless.get("MaxConcurrency"),
            serverless.get("ProvisionedConcurrency"),
        )
    return str(live.get("InstanceType"))


def _capacity(variant: Variant, live: Mapping[str, Any]) -> list[Finding]:
    name = variant.variant_name
    live_serverless = live.get("ServerlessConfig")
    if variant.serverless is None:
        if live.get("InstanceType") == variant.instance_type:
            return []
        return [
            Finding(
                "variant-capacity",
                f"Variant {name} runs on {live_capacity_text(live)}, intended "
                f"{variant.instance_type}.",
            )
        ]
    if not live_serverless:
        return [
            Finding(
                "variant-capacity",
                f"Variant {name} runs on {live_capacity_text(live)}, intended "
                f"{capacity_text(variant)}.",
            )
        ]
    spec = variant.serverless
    findings = []
    for label, intended_value, live_value in (
        ("memory (MB)", spec.memory_size_in_mb, live_serverless.get("MemorySizeInMB")),
        ("max concurrency", spec.max_concurrency, live_serverless.get("MaxConcurrency")),
        (
            "provisioned concurrency",
            spec.provisioned_concurrency,
            live_serverless.get("ProvisionedConcurrency"),
        ),
    ):
        if intended_value != live_value:
            findings.append(
                Finding(
                    "variant-capacity",
                    f"Variant {name} has serverless {label} {_none(live_value)}, intended "
                    f"{_none(intended_value)}.",
                )
            )
    return findings


def _none(value: Any) -> str:
    return "none" if value is None else str(value)


def check_variants(intended: Intended, config: Mapping[str, Any] | None) -> list[Finding]:
    """Each intended variant is live, in its role, with its model and capacity; no extra one."""
    if config is None:
        return []
    live = live_variants(config)
    config_name = config.get("EndpointConfigName")
    findings: list[Finding] = []
    for variant in intended.variants:
        name = variant.variant_name
        if name not in live:
            findings.append(
                Finding(
                    "variant-missing",
                    f"{variant.role.capitalize()} variant {name} is missing: intended model "
                    f"{variant.model_name} on {capacity_text(variant)}, but live endpoint config "
                    f"{config_name} has no variant {name}.",
                )
            )
            continue
        live_variant, shadow = live[name]
        if shadow != variant.shadow:
            findings.append(
                Finding(
                    "variant-role",
                    f"Variant {name} is a {_role(shadow)} variant on the live endpoint, "
                    f"intended {variant.role}.",
                )
            )
        if live_variant.get("ModelName") != variant.model_name:
            findings.append(
                Finding(
                    "variant-model",
                    f"Variant {name} runs model {live_variant.get('ModelName')}, intended "
                    f"{variant.model_name}.",
                )
            )
        findings.extend(_capacity(variant, live_variant))
    for name, (live_variant, shadow) in live.items():
        if intended.variant(name) is None:
            findings.append(
                Finding(
                    "variant-extra",
                    f"{_role(shadow).capitalize()} variant {name} (model "
                    f"{live_variant.get('ModelName')}) is live but not intended.",
                )
            )
    return findings


def check_packages(
    intended: Intended,
    config: Mapping[str, Any] | None,
    models: Mapping[str, Mapping[str, Any] | None],
) -> list[Finding]:
    """Each intended variant's live model is built from the intended model package version."""
    live = live_variants(config)
    findings: list[Finding] = []
    for variant in intended.variants:
        if variant.variant_name not in live:
            continue
        model_name = str(live[variant.variant_name][0].get("ModelName"))
        if model_name not in models:
            continue
        model = models[model_name]
        if model is None:
            findings.append(
                Finding(
                    "model-missing",
                    f"Model {model_name} of variant {variant.variant_name} no longer exists, so "
                    f"its model package cannot be compared with {variant.model_package_arn}.",
                )
            )
            continue
        package = model_package_of(model)
        if package == variant.model_package_arn:
            continue
        if package is None:
            message = (
                f"Model {model_name} of variant {variant.variant_name} is not built from a "
                f"model package (no ModelPackageName), intended {variant.model_package_arn}."
            )
        else:
            live_version, intended_version = _version(package), _version(variant.model_package_arn)
            versions = (
                f" (version {live_version}, intended version {intended_version})"
                if live_version and intended_version
                else ""
            )
            message = (
                f"Variant {variant.variant_name} serves model package {package} (model "
                f"{model_name}), intended {variant.model_package_arn}{versions}."
            )
        findings.append(Finding("model-package", message))
    return findings


def check_instances(intended: Intended, endpoint: Mapping[str, Any]) -> list[Finding]:
    """Real-time: each intended variant the endpoint reports has at least one instance."""
    if intended.kind != "realtime":
        return []
    live = live_variants(endpoint)
    findings: list[Finding] = []
    for variant in intended.variants:
        if variant.variant_name not in live:
            continue
        count = live[variant.variant_name][0].get("CurrentInstanceCount")
        if isinstance(count, int) and count >= 1:
            continue
        role, name = variant.role.capitalize(), variant.variant_name
        message = (
            f"{role} variant {name} reports no CurrentInstanceCount; expected at least 1 "
            "instance in service."
            if count is None
            else f"{role} variant {name} has {count} instances in service, expected at least 1."
        )
        findings.append(Finding("instances", message))
    return findings


def check_approvals(
    intended: Intended, packages: Mapping[str, Mapping[str, Any] | None]
) -> list[Finding]:
    """With `requireApproved`, every intended model package is Approved."""
    if not intended.require_approved:
        return []
    findings: list[Finding] = []
    for arn in intended.package_arns():
        served = ", ".join(v.variant_name for v in intended.variants if v.model_package_arn == arn)
        package = packages.get(arn)
        if package is None:
            findings.append(
                Finding(
                    "package-missing",
                    f"Model package {arn} (variant {served}) does not exist, so its approval "
                    f"cannot be checked; intended {APPROVED}.",
                )
            )
            continue
        status = package.get("ModelApprovalStatus")
        if status != APPROVED:
            findings.append(
                Finding(
                    "package-approval",
                    f"Model package {arn} (variant {served}) is {status}, intended {APPROVED}: "
                    "requireApproved allows only approved packages to serve.",
                )
            )
    return findings


def findings_of(intended: Intended, endpoint: Mapping[str, Any], live: Live) -> list[Finding]:
    """Every check's findings, in the order they are reported."""
    return [
        *check_status(endpoint),
        *check_config_name(intended, endpoint),
        *check_config_exists(endpoint, live.config),
        *check_variants(intended, live.config),
        *check_packages(intended, live.config, live.models),
        *check_instances(intended, endpoint),
        *check_approvals(intended, live.packages),
    ]


def verify(intended: Intended, live: Live) -> Verdict:
    """Compare the live endpoint with its intended state."""
    name = intended.endpoint_name
    if live.endpoint is None:
        return Verdict(
            endpoint=name,
            status="mismatch",
            findings=(
                Finding(
                    "endpoint-missing",
                    f"Endpoint {name} does not exist; intended to run endpoint config "
                    f"{intended.endpoint_config_name}.",
                ),
            ),
            intended_config=intended.endpoint_config_name,
            live_config=None,
            endpoint_status=None,
        )
    endpoint = live.endpoint
    status = str(endpoint.get("EndpointStatus"))
    findings = () if status in IN_PROGRESS else tuple(findings_of(intended, endpoint, live))
    live_config = endpoint.get("EndpointConfigName")
    reason = endpoint.get("FailureReason")
    return Verdict(
        endpoint=name,
        status="in-progress" if status in IN_PROGRESS else "mismatch" if findings else "match",
        findings=findings,
        intended_config=intended.endpoint_config_name,
        live_config=None if live_config is None else str(live_config),
        endpoint_status=status,
        failure_reason=None if reason is None else str(reason),
    )
