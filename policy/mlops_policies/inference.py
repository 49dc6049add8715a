"""Inference controls: SageMaker endpoint configurations, endpoints and models.

An endpoint configuration is *instance-based* (real-time) when any of its production or shadow
variants runs on instances, i.e. sets no `serverlessConfig`; a configuration whose variants are
all serverless is *serverless*. Several controls do not apply to serverless configurations, and
the policies say so by marking themselves not applicable with the reason:
- Data capture: SageMaker does not support it for serverless endpoints; the platform's capture
  proxy records their traffic in the same JSON Lines layout instead.
- Instance count: a serverless variant has none.
- KMS key: the key (`kmsKeyArn`, CKV_AWS_98) encrypts the ML storage volume attached to the
  endpoint's instances; a serverless endpoint has no such volume and SageMaker does not accept
  a key for it. SageMaker also rejects the key when a variant runs on an instance type with
  local NVMe storage, which it encrypts in hardware (`training.LOCAL_STORAGE_INSTANCES`).
- Safe rollout: blue/green traffic shifting with auto-rollback (and rolling updates and shadow
  variants) do not apply to serverless endpoints.

The rollout control is a stack policy: an endpoint's `deploymentConfig` is judged by the kind
of the configuration it serves, found through `endpointConfigName` (its property dependency in
a preview, else the configuration's name). An endpoint whose configuration is not in the stack
is held to the real-time control, since nothing shows it to be serverless.

Stable variant names (REL-2) are a stack policy too. A new endpoint configuration (a blue/green
update) keeps the variant names of the one it replaces, since the endpoint's CloudWatch alarms,
its Application Auto Scaling target and its data capture key on the variant name. A policy sees
one plan, not the previous configuration, so it encodes what makes the name stable within it:
- every variant of every endpoint configuration is named from the policy config
  (`productionVariantNames`, `shadowVariantNames`: "AllTraffic" and "Shadow", the names
  components/inference.py gives), never after a model version; serverless configurations too,
  since their variant name is kept across updates as well;
- for each endpoint, the variants of the configuration it serves (linked as above) are the
  names the rest of the stack keys on: a metric alarm (or an alarm's metric query) with the
  endpoint's EndpointName and a VariantName names one of them; an Application Auto Scaling
  target `endpoint/<name>/variant/<variant>` names one of its production variants; and the
  alarms of `deploymentConfig.autoRollbackConfiguration` are alarms of the stack on its variants.
  An endpoint whose configuration is not in the stack is judged against the accepted names.
A serverless endpoint takes no `deploymentConfig` (blue/green does not apply to it), so for it
that last part has nothing to judge; the policy is marked not applicable only when the stack has
neither an endpoint configuration nor an endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._util import (
    PRODUCTION_SCHEMA,
    Linker,
    as_list,
    customer_key_problem,
    is_production,
    is_set,
    known,
    mapping,
    number,
)
from .alarms import METRIC_ALARM
from .training import LOCAL_STORAGE_INSTANCES, allowed_without_isolation

ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"

MAX_CANARY_PERCENT = 50
"""The largest canary (as CAPACITY_PERCENT) a blue/green rollout may shift first."""
SHIFTING_TYPES = ("CANARY", "LINEAR")

_SERVERLESS = "the endpoint configuration is serverless only"

SCALING_TARGET = "aws:appautoscaling/target:Target"
PRODUCTION_VARIANT_NAMES = ("AllTraffic",)
"""The production variant names a configuration may use (policy config
`productionVariantNames`); components/inference.py names its production variant AllTraffic."""
SHADOW_VARIANT_NAMES = ("Shadow",)
"""The shadow variant names a configuration may use (policy config `shadowVariantNames`)."""
_VARIANT_RESOURCE = re.compile(r"^endpoint/([^/]+)/variant/([^/]+)$")


# ---- endpoint configurations: their variants ---------------------------------------------------


@dataclass(frozen=True)
class _Variant:
    label: str
    """How a message names the variant: `production variant 'blue'`."""
    props: Mapping[str, Any]
    shadow: bool

    @property
    def serverless(self) -> bool:
        # Read strictly: it decides whether the controls apply, so an unknown one stops the
        # policy in a preview rather than passing it as serverless.
        return bool(mapping(self.props.get("serverlessConfig")))


def _variants(props: Mapping[str, Any]) -> list[_Variant]:
    found: list[_Variant] = []
    for field, kind, shadow in (
        ("productionVariants", "production variant", False),
        ("shadowProductionVariants", "shadow variant", True),
    ):
        for index, raw in enumerate(as_list(props.get(field))):
            variant = mapping(raw)
            name = known(variant, "variantName")
            label = f"{kind} {name!r}" if isinstance(name, str) and name else f"{kind} {index}"
            found.append(_Variant(label, variant, shadow))
    return found


def _instance_variants(props: Mapping[str, Any]) -> list[_Variant]:
    return [v for v in _variants(props) if not v.serverless]


def _real_time(args: ResourceValidationArgs, serverless_reason: str) -> list[_Variant]:
    """The configuration's instance-based variants; marks the policy not applicable (with
    `serverless_reason`) when there are none."""
    variants = _variants(args.props)
    if not variants:
        args.not_applicable("the endpoint configuration declares no production variants")
    instance = [v for v in variants if not v.serverless]
    if not instance:
        args.not_applicable(f"{_SERVERLESS}: {serverless_reason}")
    return instance


# ---- the endpoint configuration controls -------------------------------------------------------


def _endpoint_config_kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ENDPOINT_CONFIG:
        return
    instance = _real_time(
        args,
        "a serverless endpoint has no instance storage volume for kmsKeyArn to encrypt, and "
        "SageMaker does not accept the key for it",
    )
    local = []
    for variant in instance:
        instance_type = known(variant.props, "instanceType")
        if isinstance(instance_type, str) and LOCAL_STORAGE_INSTANCES.match(instance_type):
            local.append(f"{variant.label} ({instance_type})")
    if local:
        args.not_applicable(
            f"{', '.join(local)} run(s) on an instance type with local NVMe storage, which "
            "SageMaker encrypts in hardware; it rejects a kmsKeyArn for such a configuration"
        )
    problem = customer_key_problem(args.props, "kmsKeyArn", "endpoint configuration")
    if problem is not None:
        report(f"{problem} (CKV_AWS_98)", None)


def _data_capture(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ENDPOINT_CONFIG:
        return
    _real_time(
        args,
        "serverless endpoints do not support SageMaker data capture; the platform's capture "
        "proxy records their traffic in the same format",
    )
    capture = mapping(args.props.get("dataCaptureConfig"))
    if not capture:
        report(
            "endpoint configuration sets no dataCaptureConfig; capture inputs and outputs to "
            "the capture bucket, encrypted, for the drift checks.",
            None,
        )
        return
    enabled = capture.get("enableCapture")
    if enabled is not True:
        report(
            f"endpoint configuration dataCaptureConfig.enableCapture is {enabled!r}; set it to "
            "true.",
            None,
        )
    modes = {mapping(o).get("captureMode") for o in as_list(capture.get("captureOptions"))}
    missing = [mode for mode in ("Input", "Output") if mode not in modes]
    if missing:
        report(
            f"endpoint configuration dataCaptureConfig.captureOptions do not capture "
            f"{' or '.join(missing)}; capture both Input and Output.",
            None,
        )
    if not is_set(capture, "destinationS3Uri"):
        report(
            "endpoint configuration dataCaptureConfig sets no destinationS3Uri; capture to the "
            "capture bucket.",
            None,
        )
    problem = customer_key_problem(capture, "kmsKeyId", "endpoint configuration dataCaptureConfig")
    if problem is not None:
        report(problem, None)


def _instance_count(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ENDPOINT_CONFIG:
        return
    instance = _real_time(args, "serverless variants have no instance count")
    production = [v for v in instance if not v.shadow]
    if not production:
        args.not_applicable("the endpoint configuration's only instance-based variants are shadows")
    if not is_production(args):
        args.not_applicable("the endpoint configuration is not in a production environment")
    for variant in production:
        raw = variant.props.get("initialInstanceCount")
        count = number(raw)
        if count is None or count < 2:
            report(
                f"endpoint configuration {variant.label} initialInstanceCount is {raw!r}; in "
                "production a real-time variant runs more than one instance, so SageMaker can "
                "spread it across Availability Zones (SH SageMaker.4).",
                None,
            )


# ---- endpoints: safe rollouts (a stack policy) -------------------------------------------------


def _config_names(config: PolicyResource) -> Iterable[str]:
    name = known(config.props, "name")
    return [name] if isinstance(name, str) and name else []


_ROUTING = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"


def _routing_problems(routing: Mapping[str, Any]) -> list[str]:
    kind = routing.get("type")
    if kind not in SHIFTING_TYPES:
        return [
            f"{_ROUTING}.type is {kind!r}; shift traffic with CANARY or LINEAR so a bad version "
            "meets only part of the traffic before its alarms roll it back."
        ]
    field = "canarySize" if kind == "CANARY" else "linearStepSize"
    size = mapping(routing.get(field))
    if not size:
        return [f"{_ROUTING} is {kind} but sets no {field}."]
    if kind == "CANARY" and size.get("type") == "CAPACITY_PERCENT":
        value = number(size.get("value"))
        if value is None or not 0 < value <= MAX_CANARY_PERCENT:
            return [
                f"{_ROUTING}.canarySize is {size.get('value')!r} percent; a canary takes more "
                f"than 0 and at most {MAX_CANARY_PERCENT} percent of the capacity."
            ]
    return []


def _rollout_problems(deployment: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    blue_green = mapping(deployment.get("blueGreenUpdatePolicy"))
    if blue_green:
        problems.extend(_routing_problems(mapping(blue_green.get("trafficRoutingConfiguration"))))
    else:
        instead = " (not rollingUpdatePolicy)" if deployment.get("rollingUpdatePolicy") else ""
        problems.append(
            f"sets no deploymentConfig.blueGreenUpdatePolicy{instead}; a real-time endpoint "
            "updates blue/green with CANARY or LINEAR traffic shifting."
        )
    alarms = as_list(mapping(deployment.get("autoRollbackConfiguration")).get("alarms"))
    if not any(is_set(mapping(alarm), "alarmName") for alarm in alarms):
        problems.append(
            "sets no deploymentConfig.autoRollbackConfiguration.alarms; a rollout rolls back "
            "automatically when one of its CloudWatch alarms fires."
        )
    return problems


def _safe_rollout(args: StackValidationArgs, report: ReportViolation) -> None:
    endpoints = [r for r in args.resources if r.resource_type == ENDPOINT]
    if not endpoints:
        args.not_applicable("the stack has no SageMaker endpoints")
    configs = Linker(
        (r for r in args.resources if r.resource_type == ENDPOINT_CONFIG), _config_names
    )
    judged: list[tuple[PolicyResource, PolicyResource | None]] = []
    for endpoint in endpoints:
        config = configs.find(endpoint, "endpointConfigName")
        if config is None or _instance_variants(config.props):
            judged.append((endpoint, config))
    if not judged:
        args.not_applicable(
            "every endpoint of the stack serves a serverless configuration; blue/green traffic "
            "shifting, rolling updates and shadow variants do not apply to serverless endpoints"
        )
    for endpoint, config in judged:
        subject = f"SageMaker endpoint {endpoint.name!r}"
        if config is None:
            name = known(endpoint.props, "endpointConfigName")
            subject += (
                f" (its endpointConfigName {name!r} is not an EndpointConfiguration of this "
                "stack, so it is held to the real-time control)"
            )
        for problem in _rollout_problems(mapping(endpoint.props.get("deploymentConfig"))):
            report(f"{subject} {problem}", endpoint.urn)


# ---- stable variant names (a stack policy) -----------------------------------------------------

_VARIANT_NAMES_CONFIG = {False: "productionVariantNames", True: "shadowVariantNames"}
_VARIANT_NAMES_DEFAULT = {False: PRODUCTION_VARIANT_NAMES, True: SHADOW_VARIANT_NAMES}


def _accepted_names(config: Mapping[str, Any], shadow: bool) -> list[str]:
    key = _VARIANT_NAMES_CONFIG[shadow]
    return [str(n) for n in as_list(config.get(key, list(_VARIANT_NAMES_DEFAULT[shadow])))]


@dataclass(frozen=True)
class _Served:
    """The variants an endpoint serves, and how a message names where they come from."""

    names: list[str]
    production: list[str]
    source: str
    """`of its endpoint configuration 'churn'`, or why the accepted names stand in."""

    def phrase(self, production: bool) -> str:
        names = self.production if production else self.names
        kind = "production variants" if production else "variants"
        return f"the {kind} {names} {self.source}"


def _served(
    endpoint: PolicyResource, config: PolicyResource | None, accepted: Mapping[bool, list[str]]
) -> _Served:
    if config is None:
        name = known(endpoint.props, "endpointConfigName")
        return _Served(
            [*accepted[False], *accepted[True]],
            list(accepted[False]),
            f"accepted by the policy config (its endpointConfigName {name!r} is not an "
            "EndpointConfiguration of this stack)",
        )
    variants = [(v.shadow, known(v.props, "variantName")) for v in _variants(config.props)]
    return _Served(
        [str(n) for _, n in variants if isinstance(n, str)],
        [str(n) for shadow, n in variants if isinstance(n, str) and not shadow],
        f"of its endpoint configuration {config.name!r}",
    )


def _watched_variants(alarm: PolicyResource, endpoint_name: str) -> list[str]:
    """The VariantName dimensions of `alarm` (its metric and its metric queries' metrics) that
    go with EndpointName `endpoint_name`, in order, each once."""
    dimension_sets = [mapping(known(alarm.props, "dimensions"))]
    for query in as_list(known(alarm.props, "metricQueries")):
        dimension_sets.append(mapping(mapping(mapping(query).get("metric")).get("dimensions")))
    found: list[str] = []
    for dimensions in dimension_sets:
        variant = dimensions.get("VariantName")
        watched = dimensions.get("EndpointName") == endpoint_name
        if watched and isinstance(variant, str) and variant not in found:
            found.append(variant)
    return found


def _variant_config_names(
    configs: list[PolicyResource],
    accepted: Mapping[bool, list[str]],
    report: ReportViolation,
) -> None:
    for config in configs:
        for variant in _variants(config.props):
            names = accepted[variant.shadow]
            if variant.props.get("variantName") in names:
                continue
            kind = "shadow variant" if variant.shadow else "production variant"
            report(
                f"SageMaker endpoint configuration {config.name!r} {variant.label} is not one of "
                f"the accepted {kind} names {names} (policy config "
                f"{_VARIANT_NAMES_CONFIG[variant.shadow]}); every configuration of an endpoint "
                "keeps the same variant names, without a model version in them, so its alarms "
                "and autoscaling keep following the variant.",
                config.urn,
            )


def _variant_names_stable(args: StackValidationArgs, report: ReportViolation) -> None:
    configs = [r for r in args.resources if r.resource_type == ENDPOINT_CONFIG]
    endpoints = [r for r in args.resources if r.resource_type == ENDPOINT]
    if not configs and not endpoints:
        args.not_applicable("the stack has no SageMaker endpoint configurations or endpoints")
    policy_config = args.get_config()
    accepted = {shadow: _accepted_names(policy_config, shadow) for shadow in (False, True)}
    _variant_config_names(configs, accepted, report)

    linker = Linker(configs, _config_names)
    alarms = [r for r in args.resources if r.resource_type == METRIC_ALARM]
    alarms_by_name: dict[str, PolicyResource] = {}
    for alarm in alarms:
        name = known(alarm.props, "name")
        if isinstance(name, str) and name:
            alarms_by_name.setdefault(name, alarm)
    targets = [r for r in args.resources if r.resource_type == SCALING_TARGET]
    for endpoint in endpoints:
        served = _served(endpoint, linker.find(endpoint, "endpointConfigName"), accepted)
        endpoint_name = known(endpoint.props, "name")
        if not isinstance(endpoint_name, str) or not endpoint_name:
            continue
        subject = f"SageMaker endpoint {endpoint.name!r}"
        for alarm in alarms:
            for variant in _watched_variants(alarm, endpoint_name):
                if variant not in served.names:
                    report(
                        f"CloudWatch alarm {alarm.name!r} watches variant {variant!r} of "
                        f"{subject}, not one of {served.phrase(production=False)}; key it on a "
                        "variant name every configuration of the endpoint keeps.",
                        alarm.urn,
                    )
        for target in targets:
            resource_id = known(target.props, "resourceId")
            match = _VARIANT_RESOURCE.match(resource_id) if isinstance(resource_id, str) else None
            if match is None or match.group(1) != endpoint_name:
                continue
            variant = match.group(2)
            if variant not in served.production:
                report(
                    f"Application Auto Scaling target {target.name!r} scales variant "
                    f"{variant!r} of {subject}, not one of {served.phrase(production=True)}; "
                    "scale a production variant every configuration of the endpoint keeps.",
                    target.urn,
                )
        deployment = mapping(known(endpoint.props, "deploymentConfig"))
        rollback = as_list(mapping(deployment.get("autoRollbackConfiguration")).get("alarms"))
        for entry in rollback:
            alarm_name = mapping(entry).get("alarmName")
            if not isinstance(alarm_name, str) or not alarm_name:
                continue
            rollback_alarm = alarms_by_name.get(alarm_name)
            if rollback_alarm is None:
                report(
                    f"{subject} rolls back on alarm {alarm_name!r} "
                    "(deploymentConfig.autoRollbackConfiguration), which is not a CloudWatch "
                    "metric alarm of this stack; roll back on the stack's alarms on the "
                    "endpoint's variants.",
                    endpoint.urn,
                )
            elif not _watched_variants(rollback_alarm, endpoint_name):
                report(
                    f"{subject} rolls back on alarm {alarm_name!r} "
                    f"(CloudWatch alarm {rollback_alarm.name!r}), which watches none of "
                    f"{served.phrase(production=False)}; a rollback alarm watches the "
                    "endpoint's variant by its EndpointName and VariantName.",
                    endpoint.urn,
                )


# ---- models -------------------------------------------------------------------------------------


def _model_isolation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != MODEL:
        return
    name = known(args.props, "name")
    pattern = allowed_without_isolation(args, name)
    if pattern is not None:
        args.not_applicable(
            f"{name!r} matches {pattern!r} in the policy config allowWithoutIsolation"
        )
    isolated = args.props.get("enableNetworkIsolation")
    if isolated is not True:
        state = "is not set" if isolated is None else f"is {isolated!r}"
        report(
            f"model enableNetworkIsolation {state}; set it to true so the container makes no "
            "outbound network calls (SH SageMaker.5, CKV_AWS_370), or list the model in the "
            "policy config allowWithoutIsolation.",
            None,
        )


def _model_vpc(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != MODEL:
        return
    vpc = mapping(args.props.get("vpcConfig"))
    if not vpc:
        args.not_applicable(
            "the model sets no vpcConfig (whether the stack's config gives a network is not "
            "visible to the policy)"
        )
    subnets = {str(s) for s in as_list(vpc.get("subnets"))}
    if len(subnets) < 2:
        report(
            f"model vpcConfig.subnets has {len(subnets)} distinct subnet(s); give at least 2, "
            "in different Availability Zones, so the endpoint's instances are not confined "
            "to one zone.",
            None,
        )
    if not as_list(vpc.get("securityGroupIds")):
        report("model vpcConfig sets no securityGroupIds; give at least one.", None)


# ---- the policies ------------------------------------------------------------------------------


def _policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


INFERENCE_POLICIES = (
    _policy(
        "sagemaker-endpoint-config-kms",
        "A real-time SageMaker endpoint configuration encrypts its instances' storage with a "
        "customer-managed KMS key (kmsKeyArn, CKV_AWS_98); not applicable to serverless "
        "configurations and local-NVMe instance types, for which SageMaker takes no key.",
        _endpoint_config_kms,
    ),
    _policy(
        "sagemaker-endpoint-data-capture",
        "A real-time SageMaker endpoint configuration captures inputs and outputs to S3, "
        "encrypted with a customer-managed KMS key; serverless endpoints are captured by the "
        "platform's capture proxy instead.",
        _data_capture,
    ),
    _policy(
        "sagemaker-endpoint-instance-count",
        "In production, every instance-based production variant of a SageMaker endpoint "
        "configuration starts with more than one instance (SH SageMaker.4).",
        _instance_count,
        PRODUCTION_SCHEMA,
    ),
    StackValidationPolicy(
        name="sagemaker-endpoint-safe-rollout",
        description=(
            "A real-time SageMaker endpoint updates blue/green with CANARY (at most 50%) or "
            "LINEAR traffic shifting and auto-rollback on CloudWatch alarms; not applicable to "
            "serverless endpoints."
        ),
        validate=_safe_rollout,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="sagemaker-variant-names-stable",
        description=(
            "Every SageMaker endpoint configuration names its variants from the policy config "
            "(productionVariantNames, shadowVariantNames), so a new configuration keeps the "
            "variant name; each endpoint's alarms, autoscaling targets and rollback alarms key "
            "on variants its configuration has."
        ),
        validate=_variant_names_stable,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={
                "productionVariantNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "default": list(PRODUCTION_VARIANT_NAMES),
                },
                "shadowVariantNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": list(SHADOW_VARIANT_NAMES),
                },
            }
        ),
    ),
    _policy(
        "sagemaker-model-network-isolation",
        "SageMaker models run network-isolated (SH SageMaker.5, CKV_AWS_370), unless listed "
        "in the policy config allowWithoutIsolation.",
        _model_isolation,
        PolicyConfigSchema(
            properties={
                "allowWithoutIsolation": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                }
            }
        ),
    ),
    _policy(
        "sagemaker-model-vpc",
        "A SageMaker model placed in a VPC uses at least two subnets and a security group.",
        _model_vpc,
    ),
)
