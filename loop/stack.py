"""What the closed loop needs, read from the plan: the real program run under Pulumi's mocks.

Nothing here is written by hand: names, the table's keys, the pipeline's definition, the
functions' environments and handlers, the role policies and the rule's pattern are the inputs
the program registered (`planner.run`, the path `make plan` takes). The registrations read are
named after the components' children: `drift-check` and `drift-role-access`
(`components/drift.py`), `retraining-trigger`, `retraining-access`, `retraining-table` and
`retraining-drift-rule` (`components/retraining.py`), `platform-bus-bus` and
`platform-events-topic` (`components/notifications.py`), the model's package group and training
pipeline (found by the names in the plan's outputs), and the drift schedule targeting the check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import retrain_settings

from components.config import PROJECT, Cost
from components.platform import partition_for
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

DRIFT_FUNCTION = "drift-check"
TRIGGER_FUNCTION = "retraining-trigger"
DRIFT_POLICY = "drift-role-access"
TRIGGER_POLICY = "retraining-access"
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
    schedules = [
        r
        for r in plan.by_type("aws:scheduler/schedule:Schedule")
        if r.inputs["target"]["arn"] == drift.arn
    ]
    if not schedules:
        raise PlanError(f"stack {plan.stack}: no drift schedule targets {drift.arn}")
    check_request = json.loads(sorted(schedules, key=lambda r: r.name)[0].inputs["target"]["input"])
    model = str(check_request["model"])
    pipeline_name = str(plan.outputs["trainingPipelines"][model])
    pipeline = _typed(plan, "aws:sagemaker/pipeline:Pipeline", pipelineName=pipeline_name).inputs
    group_name = str(plan.outputs["modelPackageGroups"][model])
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
