"""What the closed loop needs, read from the plan: the real program run under Pulumi's mocks.

Nothing here is written by hand: names, the table's keys, the pipeline's definition, the
functions' environments and handlers, the role policies and the rule's pattern are the inputs
the program registered (`planner.run`, the path `make plan` takes). The registrations read are
named after the components' children: `drift-check` and `drift-role-access`
(`components/drift.py`), `retraining-trigger`, `retraining-access`, `retraining-table` and
`retraining-drift-rule` (`components/retraining.py`), `platform-bus-bus` and
`platform-events-topic` (`components/notifications.py`), the model's package group and training
pipeline (found by the names in the plan's outputs), and the drift schedule targeting the check;
when the plan has them, `quality-check` and `quality-role-access` (`components/quality.py`) and
the quality schedule targeting it, `inference-verifier` and `inference-verifier-access`
(`components/inference.py`) with its hourly rule target's input, and each SageMaker endpoint
with its endpoint configuration, models and intended-state SSM parameter, and the model's
capture proxy (`inference-<model>-capture-proxy`, `inference-<model>-proxy-access`) with the
delivery stream its environment names; the scale-out drift check (`drift-plan`, `drift-profile`,
`drift-reduce` on the drift role, and the state machine invoking them, whose schedules then give
the check's input); and, for every `aws:lambda/function:Function`, what the Lambda service does
with its role (`ServiceUses`: its log group, tracing, dead-letter queue and its key, VPC).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import capture_settings
import retrain_settings

from components.config import PROJECT, Cost
from components.platform import partition_for
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

DRIFT_FUNCTION = "drift-check"
SCALEOUT_FUNCTIONS = ("drift-plan", "drift-profile", "drift-reduce")
"""The scale-out drift check's functions (`components/drift.py`), on the drift role."""
TRIGGER_FUNCTION = "retraining-trigger"
DRIFT_POLICY = "drift-role-access"
TRIGGER_POLICY = "retraining-access"
QUALITY_FUNCTION = "quality-check"
QUALITY_POLICY = "quality-role-access"
VERIFIER_FUNCTION = "inference-verifier"
VERIFIER_POLICY = "inference-verifier-access"
PROXY_FUNCTION = "inference-{model}-capture-proxy"
PROXY_POLICY = "inference-{model}-proxy-access"
# The plan's production variant inputs, by their SageMaker API names.
_VARIANT_KEYS = {
    "variantName": "VariantName",
    "modelName": "ModelName",
    "instanceType": "InstanceType",
    "initialInstanceCount": "InitialInstanceCount",
    "initialVariantWeight": "InitialVariantWeight",
}
_SERVERLESS_KEYS = {"memorySizeInMb": "MemorySizeInMB", "maxConcurrency": "MaxConcurrency"}
TABLE = "retraining-table"
DRIFT_RULE = "retraining-drift-rule"
BUS = "platform-bus-bus"
TOPIC = "platform-events-topic"
COST_KEY = f"{PROJECT}:cost"
BUDGET_TYPE = "aws:budgets/budget:Budget"


class PlanError(LookupError):
    """The plan lacks what the loop needs (a component disabled, a child renamed)."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the plan deploys it."""

    key: str
    """The registration's name (`drift-check`)."""
    name: str
    arn: str
    handler: str
    """`module.function`, as Lambda reads it (`handler.check_handler`)."""
    code_dir: Path
    """The folder whose files are the deployment package's root (Lambda's /var/task)."""
    environment: Mapping[str, str]
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int
    role_name: str
    trust_policy: str
    policy_name: str
    policy: str
    """The role's one inline policy, exactly as rendered."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None
    attributes: tuple[tuple[str, str], ...]
    ttl_attribute: str | None
    kms_key_arn: str | None
    point_in_time_recovery: bool


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    display_name: str
    description: str
    definition: str
    role_arn: str
    max_parallel_steps: int | None

    def parameters(self) -> dict[str, str | None]:
        """The parameters the definition declares, with their defaults."""
        declared = json.loads(self.definition).get("Parameters", [])
        return {p["Name"]: p.get("DefaultValue") for p in declared}


@dataclass(frozen=True)
class EndpointDeployment:
    """One SageMaker endpoint as the plan deploys it, with its intended-state parameter."""

    parameter_name: str
    parameter_value: str
    endpoint_name: str
    config_name: str
    production_variants: tuple[Mapping[str, Any], ...]
    """In CreateEndpointConfig's shape."""
    models: tuple[tuple[str, str, str], ...]
    """(model name, execution role ARN, primary container's model package ARN)."""


@dataclass(frozen=True)
class CaptureStream:
    """The Firehose delivery stream a capture proxy puts its records on."""

    name: str
    bucket_arn: str
    prefix: str
    role_arn: str


@dataclass(frozen=True)
class ScaleOut:
    """The scale-out drift check: its state machine and the three functions it invokes."""

    state_machine: str
    state_machine_arn: str
    plan: FunctionSpec
    profile: FunctionSpec
    reduce: FunctionSpec
    max_items_per_batch: int
    """The Distributed Map's `ItemBatcher.MaxItemsPerBatch`."""
    batch_input: Mapping[str, str]
    """The Map's `ItemBatcher.BatchInput` (`{"request.$": "$.request", ...}`)."""


@dataclass(frozen=True)
class ServiceUses:
    """What the Lambda service itself does with a function's execution role (not its code):
    write the function's logs, send its traces, dead-letter a failed asynchronous event, and
    (in a VPC) manage its network interfaces."""

    key: str
    """The registration's name (`drift-check`)."""
    name: str
    role_name: str
    trust_policy: str
    policies: tuple[tuple[str, str], ...]
    """Every inline policy of the role: (name, document as rendered)."""
    attachments: tuple[str, ...]
    """Managed policy ARNs attached to the role (not evaluated: their documents are not in
    the plan)."""
    log_group: str
    """The function's log group: `loggingConfig.logGroup`, else `/aws/lambda/<name>`."""
    log_group_declared: bool
    """Whether the plan declares that log group (else Lambda would create it)."""
    log_group_kms_key: str | None
    tracing_active: bool
    dead_letter_arn: str | None
    dead_letter_kms_key: str | None
    """The dead-letter queue's `kmsMasterKeyId` (as the plan declares the queue), else None."""
    vpc_config: Mapping[str, Any] | None


@dataclass(frozen=True)
class LoopPlan:
    stack: str
    account: str
    region: str
    partition: str
    resources: int
    seconds: float
    model: str
    buckets: Mapping[str, str]
    """Bucket role (`capture`, `reports`, `model-artifacts`, `curated`, ...) to its name."""
    bucket_encryption: Mapping[str, list[dict[str, Any]]]
    """Bucket name to its server-side encryption rules (the plan's inputs)."""
    kms_key_arn: str
    event_bus: str
    topic_name: str
    topic_arn: str
    topic_kms_key: str | None
    table: TableSpec
    pipeline: PipelineSpec
    package_group: str
    package_group_description: str
    drift_rule_name: str
    drift_rule_pattern: str
    check_request: Mapping[str, Any]
    """The drift schedule's input (its `window_end` is the scheduler's placeholder)."""
    drift: FunctionSpec
    trigger: FunctionSpec
    budget_limit_usd: float | None
    """The limit of the budget the trigger reads (`RETRAIN_BUDGET_NAME`, the budget guard on),
    else None: the plan's `aws:budgets/budget:Budget` of that name, or, when the plan declares
    none, the stack's `cost.monthlyBudgetUsd`."""
    budget_declared: bool = False
    """Whether the plan declares the budget the trigger reads."""
    quality: FunctionSpec | None = None
    """The quality check (`components/quality.py`), when the plan has it."""
    quality_request: Mapping[str, Any] | None = None
    """The quality schedule's input (its `window_end` is the scheduler's placeholder)."""
    verifier: FunctionSpec | None = None
    """The endpoint verifier (`components/inference.py`), when the plan has it."""
    verifier_request: Mapping[str, Any] | None = None
    """The input of the verifier's hourly rule target (`{"endpoints": "all"}`)."""
    endpoints: tuple[EndpointDeployment, ...] = ()
    """The endpoints whose intended state the verifier reads."""
    proxy: FunctionSpec | None = None
    """The model's capture proxy (`components/inference.py`), when its endpoint is serverless."""
    capture_stream: CaptureStream | None = None
    """The delivery stream the proxy's `CAPTURE_DELIVERY_STREAM` names."""
    scaleout: ScaleOut | None = None
    """The scale-out drift check, when the plan has it (then the drift schedules target its
    state machine, and `check_request` is the first of their inputs)."""
    lambdas: tuple[ServiceUses, ...] = ()
    """Every `aws:lambda/function:Function` of the plan, with what the Lambda service does
    with its role, by registration name."""


def _named(plan: Plan, name: str) -> Registration:
    found = [r for r in plan.registrations if r.name == name]
    if len(found) != 1:
        raise PlanError(
            f"stack {plan.stack}: expected one registration {name!r}, found {len(found)}"
        )
    return found[0]


def _typed(plan: Plan, type_: str, **inputs: Any) -> Registration:
    found = [r for r in plan.by_type(type_) if all(r.inputs.get(k) == v for k, v in inputs.items())]
    if len(found) != 1:
        raise PlanError(
            f"stack {plan.stack}: expected one {type_} with {inputs}, found {len(found)}"
        )
    return found[0]


def _function(plan: Plan, key: str, policy_key: str) -> FunctionSpec:
    function = _named(plan, key)
    inputs = function.inputs
    role_arn = str(inputs["role"])
    role = _typed(plan, "aws:iam/role:Role", name=role_arn.rsplit("/", 1)[-1])
    policies = [
        r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if r.inputs["role"] == role.id
    ]
    attached = [
        r
        for r in plan.registrations
        if r.type.startswith("aws:iam/rolePolicyAttachment") and r.inputs.get("role") == role.id
    ]
    if [p.name for p in policies] != [policy_key] or attached:
        raise PlanError(
            f"stack {plan.stack}: role {role.id} of {key} has policies "
            f"{[p.name for p in policies]} and attachments {[a.name for a in attached]}; the loop "
            f"expects exactly the inline policy {policy_key}"
        )
    module = str(inputs["handler"]).rsplit(".", 1)[0]
    assets = inputs["code"]["archive"]["assets"]
    handler_file = Path(assets[f"{module}.py"]["asset"]["path"])
    partition = partition_for(plan.region)
    name = str(inputs["name"])
    return FunctionSpec(
        key=key,
        name=name,
        arn=f"arn:{partition}:lambda:{plan.region}:{plan.account_id}:function:{name}",
        handler=str(inputs["handler"]),
        code_dir=handler_file.parent,
        environment=dict(inputs["environment"]["variables"]),
        memory_mb=int(inputs["memorySize"]),
        timeout_seconds=int(inputs["timeout"]),
        reserved_concurrency=int(inputs.get("reservedConcurrentExecutions") or 1),
        role_name=role.id,
        trust_policy=str(role.inputs["assumeRolePolicy"]),
        policy_name=policies[0].id,
        policy=str(policies[0].inputs["policy"]),
    )


def _optional_function(plan: Plan, key: str, policy_key: str) -> FunctionSpec | None:
    if not any(r.name == key for r in plan.registrations):
        return None
    return _function(plan, key, policy_key)


def _rule_input(plan: Plan, function_arn: str) -> dict[str, Any] | None:
    """The constant input of the first (by name) EventBridge rule target invoking the function."""
    targets = [
        r
        for r in plan.by_type("aws:cloudwatch/eventTarget:EventTarget")
        if r.inputs.get("arn") == function_arn and r.inputs.get("input")
    ]
    if not targets:
        return None
    found: dict[str, Any] = json.loads(sorted(targets, key=lambda r: r.name)[0].inputs["input"])
    return found


def _api_variant(plan: Plan, variant: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in variant.items():
        if key == "serverlessConfig":
            out["ServerlessConfig"] = {_SERVERLESS_KEYS[k]: int(v) for k, v in value.items()}
        elif key in _VARIANT_KEYS:
            out[_VARIANT_KEYS[key]] = int(value) if key == "initialInstanceCount" else value
        else:
            raise PlanError(f"stack {plan.stack}: production variant input {key!r} is not seeded")
    return out


def _endpoints(plan: Plan) -> tuple[EndpointDeployment, ...]:
    """Each endpoint with an intended-state parameter, its config and its models."""
    intended = {
        str(r.inputs["name"]): r
        for r in plan.by_type("aws:ssm/parameter:Parameter")
        if "/endpoints/" in str(r.inputs["name"])
    }
    out = []
    for endpoint in plan.by_type("aws:sagemaker/endpoint:Endpoint"):
        name = str(endpoint.inputs["name"])
        parameter = next((r for n, r in intended.items() if n.endswith(f"/{name}")), None)
        if parameter is None:
            continue
        config = _typed(
            plan,
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
            name=endpoint.inputs["endpointConfigName"],
        ).inputs
        variants = tuple(_api_variant(plan, v) for v in config["productionVariants"])
        models = []
        for variant in variants:
            model = _typed(plan, "aws:sagemaker/model:Model", name=variant["ModelName"]).inputs
            models.append(
                (
                    str(model["name"]),
                    str(model["executionRoleArn"]),
                    str(model["primaryContainer"]["modelPackageName"]),
                )
            )
        out.append(
            EndpointDeployment(
                parameter_name=str(parameter.inputs["name"]),
                parameter_value=str(parameter.inputs["insecureValue"]),
                endpoint_name=name,
                config_name=str(config["name"]),
                production_variants=variants,
                models=tuple(models),
            )
        )
    return tuple(sorted(out, key=lambda e: e.endpoint_name))


def _capture_stream(plan: Plan, proxy: FunctionSpec) -> CaptureStream:
    stream = _typed(
        plan,
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
        name=proxy.environment[capture_settings.ENV_DELIVERY_STREAM],
    ).inputs
    s3 = stream["extendedS3Configuration"]
    return CaptureStream(
        name=str(stream["name"]),
        bucket_arn=str(s3["bucketArn"]),
        prefix=str(s3["prefix"]),
        role_arn=str(s3["roleArn"]),
    )


def _scaleout(plan: Plan) -> ScaleOut | None:
    """The state machine invoking the scale-out functions, and them, when the plan has them."""
    if not any(r.name == SCALEOUT_FUNCTIONS[0] for r in plan.registrations):
        return None
    planner, profile, reduce = (_function(plan, key, DRIFT_POLICY) for key in SCALEOUT_FUNCTIONS)
    machines = [
        r
        for r in plan.by_type("aws:sfn/stateMachine:StateMachine")
        if planner.arn in str(r.inputs["definition"])
    ]
    if len(machines) != 1:
        raise PlanError(f"stack {plan.stack}: expected one state machine invoking {planner.arn}")
    inputs = machines[0].inputs
    definition = json.loads(str(inputs["definition"]))
    maps = [s for s in definition["States"].values() if s.get("ItemBatcher")]
    if len(maps) != 1:
        raise PlanError(f"stack {plan.stack}: expected one batched Map in {inputs['name']}")
    batcher = maps[0]["ItemBatcher"]
    name = str(inputs["name"])
    return ScaleOut(
        state_machine=name,
        state_machine_arn=(
            f"arn:{partition_for(plan.region)}:states:{plan.region}:{plan.account_id}:"
            f"stateMachine:{name}"
        ),
        plan=planner,
        profile=profile,
        reduce=reduce,
        max_items_per_batch=int(batcher["MaxItemsPerBatch"]),
        batch_input=dict(batcher["BatchInput"]),
    )


def _service_uses(plan: Plan) -> tuple[ServiceUses, ...]:
    queues = {str(r.inputs["name"]): r.inputs for r in plan.by_type("aws:sqs/queue:Queue")}
    groups = {
        str(r.inputs["name"]): r.inputs for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup")
    }
    out = []
    for function in plan.by_type("aws:lambda/function:Function"):
        inputs = function.inputs
        name = str(inputs["name"])
        role_arn = str(inputs["role"])
        role = _typed(plan, "aws:iam/role:Role", name=role_arn.rsplit("/", 1)[-1])
        policies = tuple(
            (r.id, str(r.inputs["policy"]))
            for r in plan.by_type("aws:iam/rolePolicy:RolePolicy")
            if r.inputs["role"] == role.id
        )
        attachments = tuple(
            str(r.inputs.get("policyArn"))
            for r in plan.registrations
            if r.type.startswith("aws:iam/rolePolicyAttachment") and r.inputs.get("role") == role.id
        )
        group = str((inputs.get("loggingConfig") or {}).get("logGroup") or f"/aws/lambda/{name}")
        dead_letter = (inputs.get("deadLetterConfig") or {}).get("targetArn")
        queue = queues.get(str(dead_letter).rsplit(":", 1)[-1]) if dead_letter else None
        out.append(
            ServiceUses(
                key=function.name,
                name=name,
                role_name=role.id,
                trust_policy=str(role.inputs["assumeRolePolicy"]),
                policies=policies,
                attachments=attachments,
                log_group=group,
                log_group_declared=group in groups,
                log_group_kms_key=(groups.get(group) or {}).get("kmsKeyId"),
                tracing_active=(inputs.get("tracingConfig") or {}).get("mode") == "Active",
                dead_letter_arn=str(dead_letter) if dead_letter else None,
                dead_letter_kms_key=(queue or {}).get("kmsMasterKeyId"),
                vpc_config=inputs.get("vpcConfig") or None,
            )
        )
    return tuple(sorted(out, key=lambda u: u.key))


def _schedule_input(plan: Plan, function_arn: str) -> dict[str, Any] | None:
    """The input of the first (by name) schedule targeting the function, else None."""
    schedules = [
        r
        for r in plan.by_type("aws:scheduler/schedule:Schedule")
        if r.inputs["target"]["arn"] == function_arn
    ]
    if not schedules:
        return None
    found: dict[str, Any] = json.loads(
        sorted(schedules, key=lambda r: r.name)[0].inputs["target"]["input"]
    )
    return found


def read_plan(plan: Plan, budget_limit_usd: float | None = None) -> LoopPlan:
    """Everything the loop seeds and runs, from one plan (`budget_limit_usd`: the stack's
    configured limit, used when the plan declares no budget of the trigger's name)."""
    drift = _function(plan, DRIFT_FUNCTION, DRIFT_POLICY)
    trigger = _function(plan, TRIGGER_FUNCTION, TRIGGER_POLICY)
    budget_name = trigger.environment.get(retrain_settings.ENV_BUDGET_NAME)
    declared = [
        r for r in plan.by_type(BUDGET_TYPE) if budget_name and r.inputs.get("name") == budget_name
    ]
    if declared:
        budget_limit_usd = float(declared[0].inputs["limitAmount"])
    elif budget_name is None:
        budget_limit_usd = None
    check_request = _schedule_input(plan, drift.arn)
    scaleout = _scaleout(plan)
    if check_request is None and scaleout is not None:
        check_request = _schedule_input(plan, scaleout.state_machine_arn)
    if check_request is None:
        raise PlanError(f"stack {plan.stack}: no drift schedule targets {drift.arn}")
    quality = _optional_function(plan, QUALITY_FUNCTION, QUALITY_POLICY)
    verifier = _optional_function(plan, VERIFIER_FUNCTION, VERIFIER_POLICY)
    model = str(check_request["model"])
    pipeline_name = str(plan.outputs["trainingPipelines"][model])
    pipeline = _typed(plan, "aws:sagemaker/pipeline:Pipeline", pipelineName=pipeline_name).inputs
    group_name = str(plan.outputs["modelPackageGroups"][model])
    proxy = _optional_function(
        plan, PROXY_FUNCTION.format(model=model), PROXY_POLICY.format(model=model)
    )
    group = _typed(
        plan, "aws:sagemaker/modelPackageGroup:ModelPackageGroup", modelPackageGroupName=group_name
    ).inputs
    table = _named(plan, TABLE).inputs
    topic = _named(plan, TOPIC)
    rule = _named(plan, DRIFT_RULE).inputs
    encryption = {
        str(r.inputs["bucket"]): list(r.inputs["rules"])
        for r in plan.by_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
    }
    sse = table.get("serverSideEncryption") or {}
    ttl = table.get("ttl") or {}
    return LoopPlan(
        stack=plan.stack,
        account=plan.account_id,
        region=plan.region,
        partition=partition_for(plan.region),
        resources=len(plan.registrations),
        seconds=plan.seconds,
        model=model,
        buckets=dict(plan.outputs["buckets"]),
        bucket_encryption=encryption,
        kms_key_arn=str(plan.outputs["kmsKeyArn"]),
        event_bus=_named(plan, BUS).id,
        topic_name=topic.id,
        topic_arn=str(plan.outputs["platformTopicArn"]),
        topic_kms_key=topic.inputs.get("kmsMasterKeyId"),
        table=TableSpec(
            name=str(table["name"]),
            hash_key=str(table["hashKey"]),
            range_key=table.get("rangeKey"),
            attributes=tuple((str(a["name"]), str(a["type"])) for a in table["attributes"]),
            ttl_attribute=ttl.get("attributeName") if ttl.get("enabled") else None,
            kms_key_arn=sse.get("kmsKeyArn") if sse.get("enabled") else None,
            point_in_time_recovery=bool((table.get("pointInTimeRecovery") or {}).get("enabled")),
        ),
        pipeline=PipelineSpec(
            name=pipeline_name,
            display_name=str(pipeline.get("pipelineDisplayName") or pipeline_name),
            description=str(pipeline.get("pipelineDescription") or ""),
            definition=str(pipeline["pipelineDefinition"]),
            role_arn=str(pipeline["roleArn"]),
            max_parallel_steps=(
                int(pipeline["parallelismConfiguration"]["maxParallelExecutionSteps"])
                if pipeline.get("parallelismConfiguration")
                else None
            ),
        ),
        package_group=group_name,
        package_group_description=str(group.get("modelPackageGroupDescription") or ""),
        drift_rule_name=str(rule["name"]),
        drift_rule_pattern=str(rule["eventPattern"]),
        check_request=check_request,
        drift=drift,
        trigger=trigger,
        budget_limit_usd=budget_limit_usd,
        budget_declared=bool(declared),
        quality=quality,
        quality_request=_schedule_input(plan, quality.arn) if quality else None,
        verifier=verifier,
        verifier_request=_rule_input(plan, verifier.arn) if verifier else None,
        endpoints=_endpoints(plan),
        proxy=proxy,
        capture_stream=_capture_stream(plan, proxy) if proxy else None,
        scaleout=scaleout,
        lambdas=_service_uses(plan),
    )


def plan_loop(
    stack: str = "dev", *, budget: bool = False, project_dir: Path = PROJECT_DIR
) -> LoopPlan:
    """Plan `stack` offline; with `budget`, `cost.enabled` is switched on (the stack's other
    cost settings kept), which gives the trigger its budget guard (`RETRAIN_BUDGET_NAME`,
    `budgets:ViewBudget`)."""
    cfg = load_stack_config(project_dir, stack)
    cost = json.loads(cfg.values.get(COST_KEY, "{}"))
    if budget:
        cost = {**cost, "enabled": True}
        cfg = replace(cfg, values={**cfg.values, COST_KEY: json.dumps(cost)})
    limit = Cost.model_validate(cost).monthly_budget_usd if cost.get("enabled") else None
    return read_plan(run_stack_config(cfg), limit)
