"""The offline plan's monthly cost estimate: what the registrations provision, priced from a table.

`estimate(registrations, stack, region, inputs)` reads the registrations of one offline plan and
returns, per top-level component, line items of two kinds:

- fixed: what is provisioned and bills by the hour or month whatever the traffic, read from the
  registrations' inputs (real-time endpoint instances, serverless provisioned concurrency, KMS
  keys, CloudWatch alarms and dashboards, secrets, EKS control planes and the instances of EKS
  managed node groups);
- usage: the stack's expected usage, `cost.usage` in its config (components/config.py
  `UsageProfile`), at the stack's instance types and memory sizes (training and processing hours,
  serverless inference compute, Firehose GB of captured data, S3 storage and PUTs, Lambda).

Prices come from `planner/prices/aws-prices.json`, one entry per key and region with the source
and the date it was read. Nothing is guessed: an item whose price is not in the table for the
stack's region, a resource whose cost depends on usage the profile does not give, and a resource
type this module does not model are each listed as not priced, never counted as zero. A stack in
a region the table has no price for at all gets no total. Free tiers are not applied anywhere
(they are per account and shared with whatever else runs there), so the priced lines are what
the stack adds on an account that has used its free tier up.

Assumptions, stated where they are made: a month is 730 hours; real-time endpoints run their
initial instance count (the autoscaling floor) all month; an EKS managed node group runs its
minimum size (its floor) all month, on the first of its instance types, at the Linux on-demand
price; an EKS control plane is priced at standard support; Spot training is not assumed to be
cheaper; the inference requests and captured GB of the profile split evenly over the stack's
endpoints; all stored data is in S3 Standard; one S3 PUT per Firehose buffer of captured data.
Kubernetes objects (and Helm releases) have no AWS charge of their own: they run on the node
group's instances; what they may make AWS provision outside the plan (a Gateway's or a
LoadBalancer Service's load balancer, a persistent volume claim's EBS volume) is listed as not
priced.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.config import PlatformConfig, UsageProfile, load_platform_config
from planner.mocks import Registration
from planner.stackfile import load_stack_config

PRICE_TABLE = Path(__file__).resolve().parent / "prices" / "aws-prices.json"
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
STACK_WIDE = "(stack-wide usage)"
"""The component of usage lines the profile gives for the whole stack (Lambda GB-seconds)."""
STACK = "(stack)"
"""The component of resources registered directly under the stack (the provider)."""

Kind = Literal["fixed", "usage"]

UNITS: Mapping[str, str] = {
    "sagemaker.hosting": "instance-hour",
    "sagemaker.training": "instance-hour",
    "sagemaker.processing": "instance-hour",
    "sagemaker.transform": "instance-hour",
    "sagemaker.serverless.inference": "GB-second",
    "sagemaker.serverless.provisioned": "GB-second",
    "sagemaker.featurestore.online-storage": "GB-month",
    "kms.key": "key-month",
    "cloudwatch.alarm.standard": "alarm-metric-month",
    "cloudwatch.alarm.high-resolution": "alarm-metric-month",
    "cloudwatch.alarm.composite": "alarm-month",
    "cloudwatch.dashboard": "dashboard-month",
    "secretsmanager.secret": "secret-month",
    "lambda.duration": "GB-second",
    "lambda.requests": "1M requests",
    "s3.standard.storage": "GB-month",
    "s3.standard.put": "1k requests",
    "firehose.ingest": "GB",
    "eks.cluster": "cluster-hour",
    "ec2.instance": "instance-hour",
}
"""The unit each price key is quoted in (the part before `:`); the table must agree."""

T_ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
T_FIREHOSE = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
T_FUNCTION = "aws:lambda/function:Function"
T_EKS_CLUSTER = "aws:eks/cluster:Cluster"
T_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
T_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
T_K8S_CUSTOM_RESOURCE = "kubernetes:apiextensions.k8s.io/v1:CustomResource"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ON_THE_NODES = "runs on the node group's instances"

NO_CHARGE: Mapping[str, str] = {
    "pulumi:providers:aws": "Pulumi provider",
    "aws:iam/role:Role": "IAM",
    "aws:iam/rolePolicy:RolePolicy": "IAM",
    "aws:iam/policy:Policy": "IAM",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM",
    "aws:kms/alias:Alias": "KMS alias",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "S3 bucket settings",
    "aws:s3/bucketLogging:BucketLogging": "S3 bucket settings",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "S3 bucket settings",
    "aws:s3/bucketPolicy:BucketPolicy": "S3 bucket settings",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "S3 bucket settings",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "S3 bucket settings"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "S3 bucket settings",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "S3 bucket settings",
    "aws:s3/bucketNotification:BucketNotification": "S3 bucket settings",
    "aws:s3/bucketObjectv2:BucketObjectv2": "S3 objects (their bytes count in cost.usage.storedGb)",
    "aws:lambda/permission:Permission": "Lambda settings",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "Lambda settings",
    "aws:lambda/functionUrl:FunctionUrl": "Lambda settings",
    "aws:lambda/layerVersion:LayerVersion": "Lambda layer (code storage, no charge)",
    "aws:cloudwatch/eventTarget:EventTarget": "EventBridge target",
    "aws:cloudwatch/eventRule:EventRule": "EventBridge rule (the events are billed on the bus)",
    "aws:cloudwatch/logStream:LogStream": "CloudWatch log stream",
    "aws:sqs/queuePolicy:QueuePolicy": "SQS queue policy",
    "aws:sns/topicPolicy:TopicPolicy": "SNS topic policy",
    "aws:sns/topicSubscription:TopicSubscription": "SNS subscription",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "ECR settings",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "ECR settings",
    "aws:sagemaker/model:Model": "SageMaker model (billed through the endpoint's instances)",
    "aws:sagemaker/endpoint:Endpoint": "SageMaker endpoint (billed through its configuration)",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "SageMaker model registry",
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": "SageMaker model registry",
    "aws:sagemaker/pipeline:Pipeline": "SageMaker pipeline (its jobs are cost.usage hours)",
    "aws:appautoscaling/target:Target": "Application Auto Scaling target",
    "pulumi:providers:kubernetes": "Pulumi provider",
    "aws:eks/addon:Addon": f"EKS add-on (no charge; its pods {ON_THE_NODES})",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "EKS Pod Identity association",
    T_LAUNCH_TEMPLATE: "EC2 launch template (what it launches is billed: see the node group)",
    "kubernetes:helm.sh/v3:Release": f"Helm release (its workloads {ON_THE_NODES})",
}
"""Resource types with no charge of their own: what they configure is billed elsewhere."""

NO_CHARGE_PREFIXES: Mapping[str, str] = {
    "kubernetes:": f"Kubernetes object (no AWS charge of its own: it {ON_THE_NODES})",
}
"""Type prefixes with no charge of their own (after the exceptions
`_Estimator.kubernetes_object` lists: a Gateway, a LoadBalancer Service, a persistent volume
claim)."""


def no_charge_reason(type_: str) -> str | None:
    """Why a resource type has no charge of its own, or None if it may have one."""
    if type_ in NO_CHARGE:
        return NO_CHARGE[type_]
    return next((why for p, why in NO_CHARGE_PREFIXES.items() if type_.startswith(p)), None)


USAGE_NOT_IN_PROFILE: Mapping[str, str] = {
    "aws:sagemaker/featureGroup:FeatureGroup": (
        "SageMaker Feature Store (online store GB-month, read and write units)"
    ),
    "aws:dynamodb/table:Table": "DynamoDB table (request units, storage, backups)",
    "aws:sqs/queue:Queue": "SQS queue (requests)",
    "aws:sns/topic:Topic": "SNS topic (publishes, deliveries)",
    "aws:cloudwatch/eventBus:EventBus": "EventBridge bus (custom events published)",
    "aws:cloudwatch/eventArchive:EventArchive": "EventBridge archive (events archived, storage)",
    "aws:sfn/stateMachine:StateMachine": "Step Functions state machine (state transitions)",
    "aws:scheduler/schedule:Schedule": "EventBridge Scheduler schedule (invocations)",
    "aws:cloudwatch/logGroup:LogGroup": "CloudWatch log group (GB ingested, GB stored)",
    "aws:ecr/repository:Repository": "ECR repository (GB of images stored)",
    "aws:athena/workgroup:Workgroup": "Athena workgroup (TB scanned)",
    "aws:glue/catalogDatabase:CatalogDatabase": "Glue Data Catalog (objects stored, requests)",
}
"""Resource types that bill only by usage the profile (`cost.usage`) does not give."""


COVERED_BY_USAGE: Mapping[str, str] = {
    T_FUNCTION: "cost.usage.lambdaGbSeconds (and the capture proxy's requests)",
    T_FIREHOSE: "cost.usage.captureGb",
    "aws:s3/bucket:Bucket": "cost.usage.storedGb (and captureGb for PUTs)",
    "aws:s3/bucketV2:BucketV2": "cost.usage.storedGb (and captureGb for PUTs)",
}
"""Resource types whose cost is a usage line of the profile rather than the resource itself."""


class PriceTableError(ValueError):
    """The price table is malformed: a missing field, a unit that disagrees, a duplicate."""


@dataclass(frozen=True)
class Price:
    """One price of the table: a key in a region, and where it was read."""

    key: str
    region: str
    price: float
    unit: str
    source: str
    source_url: str
    pricing_page: str
    read_on: str
    quote: str


@dataclass(frozen=True)
class PriceTable:
    """The prices by (region, key), with the table's own date and location."""

    path: Path
    currency: str
    read_on: str
    prices: Mapping[tuple[str, str], Price]

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(region for region, _ in self.prices)

    def get(self, region: str, key: str) -> Price | None:
        return self.prices.get((region, key))


def unit_of(key: str) -> str | None:
    """The unit a price key is quoted in, or None for a key this module does not know."""
    return UNITS.get(key.split(":", 1)[0])


def load_price_table(path: Path = PRICE_TABLE) -> PriceTable:
    """Read and check the table: each entry complete, in its key's unit, from a known source."""
    document = json.loads(path.read_text())
    sources: dict[str, Any] = document.get("sources") or {}
    prices: dict[tuple[str, str], Price] = {}
    for index, entry in enumerate(document.get("prices") or []):
        where = f"{path.name}: prices[{index}]"
        missing = [
            f
            for f in ("key", "region", "price", "unit", "source", "pricingPage", "readOn", "quote")
            if entry.get(f) in (None, "")
        ]
        if missing:
            raise PriceTableError(f"{where} lacks {', '.join(missing)}")
        key, region, unit = str(entry["key"]), str(entry["region"]), str(entry["unit"])
        expected = unit_of(key)
        if expected is None:
            raise PriceTableError(f"{where}: unknown key {key!r} (known: {sorted(UNITS)})")
        if unit != expected:
            raise PriceTableError(f"{where}: {key} is quoted per {expected}, not per {unit}")
        price = entry["price"]
        if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
            raise PriceTableError(f"{where}: price {price!r} is not a positive number")
        source = sources.get(entry["source"])
        if not isinstance(source, dict) or not source.get("url"):
            raise PriceTableError(f"{where}: source {entry['source']!r} is not in `sources`")
        if (region, key) in prices:
            raise PriceTableError(f"{where}: a second price for {key} in {region}")
        prices[(region, key)] = Price(
            key=key,
            region=region,
            price=float(price),
            unit=unit,
            source=str(entry["source"]),
            source_url=str(source["url"]),
            pricing_page=str(entry["pricingPage"]),
            read_on=str(entry["readOn"]),
            quote=str(entry["quote"]),
        )
    return PriceTable(
        path=path,
        currency=str(document.get("currency", "USD")),
        read_on=str(document.get("readOn", "")),
        prices=prices,
    )


@dataclass(frozen=True)
class BatchTransform:
    """A scheduled batch-transform pipeline: billed per run, and the profile has no runs."""

    model: str
    instance_type: str
    instance_count: int


@dataclass(frozen=True)
class CostInputs:
    """What the estimate needs from the stack's config besides the registrations."""

    usage: UsageProfile
    monthly_budget_usd: float
    training_instance_type: str
    processing_instance_type: str
    training_spot: bool = False
    batch_transforms: tuple[BatchTransform, ...] = ()

    @classmethod
    def from_config(cls, cfg: PlatformConfig) -> CostInputs:
        transforms = tuple(
            BatchTransform(
                p.model, p.batch_transform.instance_type, p.batch_transform.instance_count
            )
            for p in cfg.training.pipelines
            if cfg.training.enabled and p.batch_transform is not None and p.batch_transform.enabled
        )
        return cls(
            usage=cfg.cost.usage,
            monthly_budget_usd=cfg.cost.monthly_budget_usd,
            training_instance_type=cfg.training.instance_type,
            processing_instance_type=cfg.training.processing_instance_type,
            training_spot=cfg.training.enabled and cfg.training.spot,
            batch_transforms=transforms,
        )


def stack_cost_inputs(project_dir: Path, stack: str) -> CostInputs:
    """The cost inputs of `stacks/Pulumi.<stack>.yaml`, validated as the program validates it."""
    raw = load_stack_config(project_dir, stack)
    cfg = load_platform_config(raw.values, stack, str(project_dir / "stacks"))
    return CostInputs.from_config(cfg)


@dataclass(frozen=True)
class Item:
    """A priced line: quantity per month x unit price."""

    component: str
    what: str
    kind: Kind
    quantity: float
    unit: str
    unit_price: float
    price: Price
    resource: str | None = None

    @property
    def monthly_usd(self) -> float:
        return self.quantity * self.unit_price

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "kind": self.kind,
            "quantity": _num(self.quantity),
            "unit": self.unit,
            "unitPriceUsd": self.unit_price,
            "monthlyUsd": _num(self.monthly_usd),
            "sourceKey": self.price.key,
            "source": self.price.source,
            "sourceUrl": self.price.source_url,
            "pricingPage": self.price.pricing_page,
            "priceReadOn": self.price.read_on,
            "resource": self.resource,
        }


@dataclass(frozen=True)
class Unpriced:
    """A cost the estimate does not include, and why (never counted as zero)."""

    component: str
    what: str
    kind: Kind
    reason: str
    key: str | None = None
    quantity: float | None = None
    unit: str | None = None
    resource_type: str | None = None
    resource: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "what": self.what,
            "kind": self.kind,
            "reason": self.reason,
            "key": self.key,
            "quantity": None if self.quantity is None else _num(self.quantity),
            "unit": self.unit,
            "resourceType": self.resource_type,
            "resource": self.resource,
        }


@dataclass
class CostEstimate:
    """The estimate of one stack: priced items, what is not priced, totals and the budget."""

    stack: str
    region: str
    currency: str
    price_table: PriceTable
    region_priced: bool
    budget_usd: float
    items: list[Item] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    no_charge: Counter[str] = field(default_factory=Counter)
    covered_by_usage: Counter[str] = field(default_factory=Counter)
    components: dict[str, str] = field(default_factory=dict)
    """Component label to its resource type (for the top-level components found)."""
    usage_not_set: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def total(self, kind: Kind | None = None) -> float:
        return math.fsum(i.monthly_usd for i in self.items if kind is None or i.kind == kind)

    @property
    def total_usd(self) -> float | None:
        """The priced total, or None when the region has no prices at all."""
        return self.total() if self.region_priced else None

    @property
    def exceeded(self) -> bool | None:
        total = self.total_usd
        return None if total is None else total > self.budget_usd

    def by_component(self) -> dict[str, tuple[list[Item], list[Unpriced]]]:
        grouped: dict[str, tuple[list[Item], list[Unpriced]]] = {}
        for item in self.items:
            grouped.setdefault(item.component, ([], []))[0].append(item)
        for gap in self.unpriced:
            grouped.setdefault(gap.component, ([], []))[1].append(gap)

        def order(entry: tuple[str, tuple[list[Item], list[Unpriced]]]) -> tuple[float, str]:
            return (-math.fsum(i.monthly_usd for i in entry[1][0]), entry[0])

        return dict(sorted(grouped.items(), key=order))

    def to_json(self) -> dict[str, Any]:
        components = []
        for name, (items, gaps) in self.by_component().items():
            fixed = math.fsum(i.monthly_usd for i in items if i.kind == "fixed")
            usage = math.fsum(i.monthly_usd for i in items if i.kind == "usage")
            components.append(
                {
                    "component": name,
                    "type": self.components.get(name),
                    "fixedUsd": _num(fixed),
                    "usageUsd": _num(usage),
                    "totalUsd": _num(fixed + usage),
                    "items": [i.to_json() for i in items],
                    "unpriced": [g.to_json() for g in gaps],
                }
            )
        priced = self.region_priced
        return {
            "stack": self.stack,
            "currency": self.currency,
            "region": self.region,
            "regionPriced": priced,
            "note": None if priced else no_prices_note(self.region, self.price_table),
            "priceTable": {
                "path": _relative(self.price_table.path),
                "readOn": self.price_table.read_on,
                "regions": sorted(self.price_table.regions),
            },
            "hoursPerMonth": HOURS_PER_MONTH,
            "freeTiersApplied": False,
            "components": components,
            "totals": {
                "fixedUsd": _num(self.total("fixed")) if priced else None,
                "usageUsd": _num(self.total("usage")) if priced else None,
                "totalUsd": _num(self.total()) if priced else None,
                "complete": priced and not self.unpriced,
                "unpricedCount": len(self.unpriced),
            },
            "unpriced": [g.to_json() for g in self.unpriced],
            "noCharge": dict(sorted(self.no_charge.items())),
            "coveredByUsage": {
                t: {"count": n, "pricedThrough": COVERED_BY_USAGE[t]}
                for t, n in sorted(self.covered_by_usage.items())
            },
            "usageNotSet": self.usage_not_set,
            "assumptions": self.assumptions,
            "budget": {
                "monthlyUsd": self.budget_usd,
                "exceeded": self.exceeded,
                "source": "cost.monthlyBudgetUsd",
            },
        }


def _num(value: float) -> float:
    return round(value, 6)


def _relative(path: Path) -> str:
    root = Path(__file__).resolve().parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def no_prices_note(region: str, table: PriceTable) -> str:
    return (
        f"no prices for region {region}: the price table ({_relative(table.path)}) has prices "
        f"for {', '.join(sorted(table.regions)) or 'no region'}; nothing of this stack is priced"
    )


# ---- the estimate -------------------------------------------------------------------------


def top_level_components(registrations: Sequence[Registration]) -> dict[str, Registration]:
    """Each registration's URN to the top-level resource it belongs to (itself at the top)."""
    by_urn = {r.urn: r for r in registrations}
    roots: dict[str, Registration] = {}

    def root_of(record: Registration) -> Registration:
        found = roots.get(record.urn)
        if found is None:
            parent = by_urn.get(record.parent)
            found = record if parent is None else root_of(parent)
            roots[record.urn] = found
        return found

    for record in registrations:
        root_of(record)
    return roots


def component_label(root: Registration) -> str:
    return STACK if root.custom else root.name


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _gb(value: Any) -> float | None:
    mb = _as_float(value)
    return None if mb is None else mb / 1024


def _fmt(value: float) -> str:
    return f"{value:,.10g}"


class _Estimator:
    def __init__(
        self,
        registrations: Sequence[Registration],
        stack: str,
        region: str,
        inputs: CostInputs,
        table: PriceTable,
    ) -> None:
        self.registrations = registrations
        self.inputs = inputs
        self.table = table
        self.region = region
        self.roots = top_level_components(registrations)
        self.result = CostEstimate(
            stack=stack,
            region=region,
            currency=table.currency,
            price_table=table,
            region_priced=region in table.regions,
            budget_usd=inputs.monthly_budget_usd,
        )
        for root in {r.urn: r for r in self.roots.values()}.values():
            if not root.custom:
                self.result.components[root.name] = root.type

    def component(self, record: Registration) -> str:
        return component_label(self.roots[record.urn])

    def component_of_type(self, type_: str) -> str | None:
        """The label of the first top-level component of `type_`, if the stack has one."""
        return next((name for name, t in self.result.components.items() if t == type_), None)

    def charge(
        self,
        component: str,
        *,
        what: str,
        kind: Kind,
        quantity: float,
        key: str,
        record: Registration | None = None,
    ) -> None:
        unit = unit_of(key) or "unit"
        price = self.table.get(self.region, key)
        if price is None:
            reason = (
                f"no prices for region {self.region}"
                if not self.result.region_priced
                else f"no price in the table for {key} in {self.region}"
            )
            self.result.unpriced.append(
                Unpriced(
                    component=component,
                    what=what,
                    kind=kind,
                    reason=reason,
                    key=key,
                    quantity=quantity,
                    unit=unit,
                    resource_type=record.type if record else None,
                    resource=record.urn if record else None,
                )
            )
            return
        self.result.items.append(
            Item(
                component=component,
                what=what,
                kind=kind,
                quantity=quantity,
                unit=unit,
                unit_price=price.price,
                price=price,
                resource=record.urn if record else None,
            )
        )

    def gap(self, record: Registration, what: str, reason: str, kind: Kind = "fixed") -> None:
        self.result.unpriced.append(
            Unpriced(
                component=self.component(record),
                what=what,
                kind=kind,
                reason=reason,
                resource_type=record.type,
                resource=record.urn,
            )
        )

    # ---- fixed: what the registrations provision --------------------------------------------

    def fixed(self) -> None:
        handlers = {
            T_ENDPOINT_CONFIG: self.endpoint_config,
            "aws:kms/key:Key": self.kms_key,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self.metric_alarm,
            "aws:cloudwatch/compositeAlarm:CompositeAlarm": self.composite_alarm,
            "aws:cloudwatch/dashboard:Dashboard": self.dashboard,
            "aws:secretsmanager/secret:Secret": self.secret,
            "aws:appautoscaling/policy:Policy": self.scaling_policy,
            "aws:ssm/parameter:Parameter": self.parameter,
            T_EKS_CLUSTER: self.eks_cluster,
            T_NODE_GROUP: self.node_group,
        }
        for record in self.registrations:
            if not record.custom:
                continue
            handler = handlers.get(record.type)
            if handler is None and record.type.startswith("kubernetes:"):
                handler = self.kubernetes_object
            if handler is not None:
                handler(record)
            elif record.type in COVERED_BY_USAGE:
                self.result.covered_by_usage[record.type] += 1
            elif no_charge_reason(record.type) is not None:
                self.result.no_charge[record.type] += 1
            elif record.type in USAGE_NOT_IN_PROFILE:
                self.gap(
                    record,
                    USAGE_NOT_IN_PROFILE[record.type],
                    "usage-driven, and cost.usage has no quantity for it",
                    kind="usage",
                )
            else:
                self.gap(record, record.type, "resource type not modelled by planner/cost.py")

    def endpoint_config(self, record: Registration) -> None:
        name = record.inputs.get("name") or record.name
        variants = [
            (role, v)
            for role, key in (
                ("variant", "productionVariants"),
                ("shadow", "shadowProductionVariants"),
            )
            for v in (record.inputs.get(key) or [])
            if isinstance(v, dict)
        ]
        for role, variant in variants:
            label = f"endpoint config {name}, {role} {variant.get('variantName', '?')}"
            serverless = variant.get("serverlessConfig")
            if isinstance(serverless, dict):
                concurrency = _as_float(serverless.get("provisionedConcurrency"))
                memory = _gb(serverless.get("memorySizeInMb"))
                if concurrency and memory:
                    self.charge(
                        self.component(record),
                        what=f"{label}: provisioned concurrency {concurrency:g} x "
                        f"{memory:g} GB x {HOURS_PER_MONTH:g} h",
                        kind="fixed",
                        quantity=concurrency * memory * SECONDS_PER_MONTH,
                        key="sagemaker.serverless.provisioned",
                        record=record,
                    )
                continue
            instance_type = variant.get("instanceType")
            count = _as_float(variant.get("initialInstanceCount"))
            if not isinstance(instance_type, str) or not count:
                self.gap(record, f"{label}: no instance type or count in its inputs", "unknown")
                continue
            ceiling = self.ceilings().get(
                f"endpoint/{self.endpoint_names().get(str(name), '?')}/variant/"
                f"{variant.get('variantName', '?')}"
            )
            scales = f" (autoscales up to {ceiling:g}: not estimated)" if ceiling else ""
            self.charge(
                self.component(record),
                what=f"{label}: {count:g} x {instance_type} x {HOURS_PER_MONTH:g} h{scales}",
                kind="fixed",
                quantity=count * HOURS_PER_MONTH,
                key=f"sagemaker.hosting:{instance_type}",
                record=record,
            )
            self.gap(
                record,
                f"{label}: ML storage volume of each hosting instance",
                "its size depends on the instance type and is not in the plan; "
                "no price in the table",
            )

    def endpoint_names(self) -> dict[str, str]:
        """Endpoint configuration name to the name of the endpoint that uses it."""
        return {
            str(r.inputs.get("endpointConfigName")): str(r.inputs.get("name") or r.name)
            for r in self.registrations
            if r.type == "aws:sagemaker/endpoint:Endpoint"
        }

    def ceilings(self) -> dict[str, float]:
        """Application Auto Scaling resource id to its maximum capacity."""
        found: dict[str, float] = {}
        for r in self.registrations:
            top = _as_float(r.inputs.get("maxCapacity"))
            if r.type == "aws:appautoscaling/target:Target" and top is not None:
                found[str(r.inputs.get("resourceId"))] = top
        return found

    def scaling_policy(self, record: Registration) -> None:
        if record.inputs.get("policyType") == "TargetTrackingScaling":
            self.gap(
                record,
                f"scaling policy {record.name}: the CloudWatch alarms target tracking creates "
                "and manages",
                "not registered by the program, so not in the plan",
            )
        else:
            self.result.no_charge[record.type] += 1

    def parameter(self, record: Registration) -> None:
        if record.inputs.get("tier") in (None, "Standard"):
            self.result.no_charge[record.type] += 1
        else:
            self.gap(record, f"SSM parameter {record.name}, advanced tier", "no price in the table")

    def eks_cluster(self, record: Registration) -> None:
        inputs = record.inputs
        name = inputs.get("name") or record.name
        version = inputs.get("version")
        support = (inputs.get("upgradePolicy") or {}).get("supportType")
        what = (
            f"EKS cluster {name} (Kubernetes {version or 'default version'}): control plane x "
            f"{HOURS_PER_MONTH:g} h, standard support"
        )
        if support != "STANDARD":
            what += (
                " (upgradePolicy.supportType is not STANDARD: once its version leaves standard "
                "support the cluster bills the extended-support rate, not estimated)"
            )
        self.charge(
            self.component(record),
            what=what,
            kind="fixed",
            quantity=HOURS_PER_MONTH,
            key="eks.cluster",
            record=record,
        )

    def node_group(self, record: Registration) -> None:
        inputs = record.inputs
        name = inputs.get("nodeGroupName") or record.name
        types = [t for t in inputs.get("instanceTypes") or [] if isinstance(t, str)]
        scaling = inputs.get("scalingConfig") or {}
        floor = _as_float(scaling.get("minSize"))
        ceiling = _as_float(scaling.get("maxSize"))
        label = f"node group {name}"
        if not types or floor is None:
            self.gap(record, f"{label}: no instance type or minimum size in its inputs", "unknown")
            return
        if str(inputs.get("amiType") or "").upper().startswith("WINDOWS"):
            self.gap(record, f"{label}: Windows nodes", "only Linux instance prices are modelled")
            return
        first = types[0]
        notes = [f"the floor of the group (scalingConfig.minSize), all month, first type {first}"]
        if len(types) > 1:
            notes.append(f"of {', '.join(types)}")
        if ceiling is not None and ceiling > floor:
            notes.append(f"scales up to {ceiling:g}: not estimated")
        if inputs.get("capacityType") == "SPOT":
            notes.append("Spot: on-demand price, savings not assumed")
        self.charge(
            self.component(record),
            what=f"{label}: {floor:g} x {first} x {HOURS_PER_MONTH:g} h ({'; '.join(notes)})",
            kind="fixed",
            quantity=floor * HOURS_PER_MONTH,
            key=f"ec2.instance:{first}",
            record=record,
        )
        self.gap(
            record,
            f"{label}: EBS root volume of each node{self.root_volume(record)}",
            "no EBS price in the table",
        )

    def root_volume(self, group: Registration) -> str:
        """The root volume of a node group's nodes, from the one launch template beside it."""
        templates = [
            r
            for r in self.registrations
            if r.type == T_LAUNCH_TEMPLATE and r.parent == group.parent
        ]
        if len(templates) != 1:
            return ""
        for mapping in templates[0].inputs.get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") if isinstance(mapping, dict) else None
            size = _as_float(ebs.get("volumeSize")) if isinstance(ebs, dict) else None
            if isinstance(ebs, dict) and size:
                kind = ebs.get("volumeType") or "default type"
                return f" ({size:g} GiB {kind}, from launch template {templates[0].name})"
        return ""

    def kubernetes_object(self, record: Registration) -> None:
        """A Kubernetes object runs on the nodes, except what makes AWS provision a resource
        the program does not register: a Gateway's or a LoadBalancer Service's load balancer,
        a persistent volume claim's EBS volume (listed as not priced)."""
        inputs = record.inputs
        kind = record.type.rsplit(":", 1)[-1]
        api = record.type.split(":", 2)[1]
        if record.type == T_K8S_CUSTOM_RESOURCE:
            kind, api = str(inputs.get("kind") or ""), str(inputs.get("apiVersion") or "")
        raw_spec = inputs.get("spec")
        spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
        if kind == "Gateway" and api.startswith(f"{GATEWAY_API_GROUP}/"):
            self.gap(
                record,
                f"Gateway {record.name} (class {spec.get('gatewayClassName', '?')}): the load "
                "balancer its implementation provisions",
                "not registered by the program, so not in the plan",
            )
        elif kind == "Service" and spec.get("type") == "LoadBalancer":
            self.gap(
                record,
                f"Service {record.name} of type LoadBalancer: the AWS load balancer it provisions",
                "not registered by the program, so not in the plan",
            )
        elif kind == "PersistentVolumeClaim":
            self.gap(
                record,
                f"persistent volume claim {record.name}: the EBS volume it provisions",
                "not registered by the program, and no EBS price in the table",
            )
        else:
            self.result.no_charge[record.type] += 1

    def kms_key(self, record: Registration) -> None:
        what = f"KMS key {record.name}"
        if record.inputs.get("enableKeyRotation"):
            what += " (first year: each automatic rotation adds a key-month)"
        self.charge(
            self.component(record),
            what=what,
            kind="fixed",
            quantity=1,
            key="kms.key",
            record=record,
        )

    def metric_alarm(self, record: Registration) -> None:
        inputs = record.inputs
        queries = [q for q in inputs.get("metricQueries") or [] if isinstance(q, dict)]
        expressions = " ".join(str(q.get("expression", "")) for q in queries)
        if "ANOMALY_DETECTION_BAND" in expressions or "SELECT " in expressions.upper():
            self.gap(
                record,
                f"alarm {record.name}: anomaly-detection or Metrics Insights alarm",
                "priced differently from a metric alarm; not modelled",
            )
            return
        metrics = [q["metric"] for q in queries if isinstance(q.get("metric"), dict)]
        periods = [_as_float(m.get("period")) for m in metrics] or [_as_float(inputs.get("period"))]
        count = len(metrics) or 1
        high = any(p is not None and p < 60 for p in periods)
        resolution = "high-resolution" if high else "standard"
        self.charge(
            self.component(record),
            what=f"alarm {record.name}: {count} alarm metric(s), {resolution}",
            kind="fixed",
            quantity=count,
            key=f"cloudwatch.alarm.{resolution}",
            record=record,
        )

    def composite_alarm(self, record: Registration) -> None:
        self.charge(
            self.component(record),
            what=f"composite alarm {record.name}",
            kind="fixed",
            quantity=1,
            key="cloudwatch.alarm.composite",
            record=record,
        )

    def dashboard(self, record: Registration) -> None:
        self.charge(
            self.component(record),
            what=f"dashboard {record.name}",
            kind="fixed",
            quantity=1,
            key="cloudwatch.dashboard",
            record=record,
        )

    def secret(self, record: Registration) -> None:
        self.charge(
            self.component(record),
            what=f"secret {record.name}",
            kind="fixed",
            quantity=1,
            key="secretsmanager.secret",
            record=record,
        )

    # ---- usage: the profile at the stack's instance types and sizes --------------------------

    def usage(self) -> None:
        usage, inputs = self.inputs.usage, self.inputs
        self.result.usage_not_set = [
            name
            for name, value in (
                ("trainingHours", usage.training_hours),
                ("processingHours", usage.processing_hours),
                ("inferenceRequests", usage.inference_requests),
                ("captureGb", usage.capture_gb),
                ("storedGb", usage.stored_gb),
                ("lambdaGbSeconds", usage.lambda_gb_seconds),
            )
            if value == 0
        ]
        training = self.component_of_type("mlops:training:TrainingPipelines") or STACK_WIDE
        if usage.training_hours > 0:
            self.charge(
                training,
                what=f"training: {usage.training_hours:g} h on {inputs.training_instance_type}"
                + (" (on-demand price; Spot savings not assumed)" if inputs.training_spot else ""),
                kind="usage",
                quantity=usage.training_hours,
                key=f"sagemaker.training:{inputs.training_instance_type}",
            )
        if usage.processing_hours > 0:
            self.charge(
                training,
                what=f"processing: {usage.processing_hours:g} h on "
                f"{inputs.processing_instance_type}",
                kind="usage",
                quantity=usage.processing_hours,
                key=f"sagemaker.processing:{inputs.processing_instance_type}",
            )
        for transform in inputs.batch_transforms:
            self.result.unpriced.append(
                Unpriced(
                    component=training,
                    what=f"batch transform of {transform.model} ({transform.instance_count} x "
                    f"{transform.instance_type} per scheduled run)",
                    kind="usage",
                    reason="usage-driven, and cost.usage has no transform hours",
                    key=f"sagemaker.transform:{transform.instance_type}",
                )
            )
        self.inference_usage()
        self.storage_usage()
        self.lambda_usage()

    def endpoint_configs(self) -> list[Registration]:
        return [r for r in self.registrations if r.type == T_ENDPOINT_CONFIG]

    def serverless_configs(self) -> list[tuple[Registration, dict[str, Any]]]:
        found = []
        for record in self.endpoint_configs():
            for variant in record.inputs.get("productionVariants") or []:
                if isinstance(variant, dict) and isinstance(variant.get("serverlessConfig"), dict):
                    found.append((record, variant["serverlessConfig"]))
        return found

    def serverless_share(self) -> float:
        """The share of the profile's requests (and captured GB) that serverless endpoints get:
        the profile gives one number for all endpoints, split evenly over them."""
        configs = self.endpoint_configs()
        return len({r.urn for r, _ in self.serverless_configs()}) / len(configs) if configs else 0

    def inference_usage(self) -> None:
        usage = self.inputs.usage
        configs = self.endpoint_configs()
        if not configs or usage.inference_requests == 0:
            return
        per_endpoint = usage.inference_requests / len(configs)
        for record, serverless in self.serverless_configs():
            memory = _gb(serverless.get("memorySizeInMb"))
            if memory is None:
                self.gap(record, "serverless endpoint without a memory size", "unknown", "usage")
                continue
            name = record.inputs.get("name") or record.name
            self.charge(
                self.component(record),
                what=f"serverless inference {name}: {per_endpoint:,.0f} requests x "
                f"{usage.serverless_seconds_per_request:g} s x {memory:g} GB",
                kind="usage",
                quantity=per_endpoint * usage.serverless_seconds_per_request * memory,
                key="sagemaker.serverless.inference",
                record=record,
            )
        streams = [r for r in self.registrations if r.type == T_FIREHOSE]
        if streams and usage.capture_gb > 0:
            gb = usage.capture_gb * self.serverless_share()
            self.charge(
                self.component(streams[0]),
                what=f"Firehose: {gb:g} GB of captured requests and responses ingested "
                "(serverless endpoints' share of cost.usage.captureGb; 5 KB record rounding "
                "not modelled)",
                kind="usage",
                quantity=gb,
                key="firehose.ingest",
                record=streams[0],
            )

    def storage_usage(self) -> None:
        usage = self.inputs.usage
        lake = self.component_of_type("mlops:storage:DataLake") or STACK_WIDE
        if usage.stored_gb > 0:
            self.charge(
                lake,
                what=f"S3: {usage.stored_gb:g} GB stored, all counted at S3 Standard (lifecycle "
                "transitions to cheaper classes not modelled)",
                kind="usage",
                quantity=usage.stored_gb,
                key="s3.standard.storage",
            )
        if usage.capture_gb > 0:
            buffers = [
                _as_float((r.inputs.get("extendedS3Configuration") or {}).get("bufferingSize"))
                for r in self.registrations
                if r.type == T_FIREHOSE
            ]
            object_mb = next((b for b in buffers if b), 5.0)
            puts = usage.capture_gb * 1024 / object_mb
            self.charge(
                lake,
                what=f"S3: ~{puts:,.0f} PUTs writing {usage.capture_gb:g} GB of capture "
                f"(one object per {object_mb:g} MB, the Firehose buffer)",
                kind="usage",
                quantity=puts / 1000,
                key="s3.standard.put",
            )

    def lambda_usage(self) -> None:
        usage = self.inputs.usage
        functions = [r for r in self.registrations if r.type == T_FUNCTION]
        if not functions:
            return
        arm = all("arm64" in (f.inputs.get("architectures") or []) for f in functions)
        arch = "arm64" if arm else "x86_64"
        if usage.lambda_gb_seconds > 0:
            self.charge(
                STACK_WIDE,
                what=f"Lambda: {usage.lambda_gb_seconds:,.0f} GB-seconds on {arch}"
                + ("" if arm else " (not every function is arm64: priced at x86_64)"),
                kind="usage",
                quantity=usage.lambda_gb_seconds,
                key=f"lambda.duration:{arch}",
            )
        proxied = usage.inference_requests * self.serverless_share()
        streams = [r for r in self.registrations if r.type == T_FIREHOSE]
        if proxied > 0 and streams:
            self.charge(
                self.component(streams[0]),
                what=f"Lambda: {proxied:,.0f} capture-proxy requests (one per serverless inference "
                "request; other functions' invocations are not in cost.usage)",
                kind="usage",
                quantity=proxied / 1e6,
                key="lambda.requests",
            )

    def run(self) -> CostEstimate:
        self.fixed()
        self.usage()
        assumptions = self.result.assumptions
        assumptions += [
            f"a month is {HOURS_PER_MONTH:g} hours; on-demand prices; free tiers not applied",
            "real-time endpoints run their initial instance count (the autoscaling floor) all "
            "month; scale-out to the ceiling is not estimated",
            "cost.usage.inferenceRequests and captureGb split evenly over the stack's endpoints",
        ]
        if self.inputs.training_spot and self.inputs.usage.training_hours > 0:
            assumptions.append("training hours priced on demand although spot is on")
        if any(r.type == T_NODE_GROUP for r in self.registrations):
            assumptions.append(
                "EKS managed node groups run their minimum size (the autoscaling floor) of their "
                "first instance type all month, Linux on-demand; scale-out is not estimated"
            )
        if any(r.type == T_EKS_CLUSTER for r in self.registrations):
            assumptions.append("EKS control planes are priced at standard support")
        return self.result


def estimate(
    registrations: Sequence[Registration],
    stack: str,
    region: str,
    inputs: CostInputs,
    table: PriceTable | None = None,
) -> CostEstimate:
    """The monthly estimate of one planned stack (see the module docstring)."""
    return _Estimator(registrations, stack, region, inputs, table or load_price_table()).run()


def write_estimate(result: CostEstimate, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cost.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return path


# ---- rendering ------------------------------------------------------------------------------


def _usd(value: float) -> str:
    """Dollars and cents; a priced amount under a cent keeps four decimals (never shows 0.00)."""
    return f"${value:.4f}" if 0 < value < 0.005 else f"${value:,.2f}"


KEY_LABELS: Mapping[str, str] = {
    "sagemaker.hosting": "real-time endpoint instances",
    "sagemaker.serverless.provisioned": "serverless provisioned concurrency",
    "sagemaker.serverless.inference": "serverless inference compute",
    "kms.key": "KMS keys",
    "cloudwatch.alarm.standard": "CloudWatch alarms, standard resolution",
    "cloudwatch.alarm.high-resolution": "CloudWatch alarms, high resolution",
    "cloudwatch.alarm.composite": "CloudWatch composite alarms",
    "cloudwatch.dashboard": "CloudWatch dashboards",
    "secretsmanager.secret": "Secrets Manager secrets",
    "eks.cluster": "EKS control planes",
    "ec2.instance": "EC2 instances of EKS node groups",
}
"""How several not-priced lines of one price key are summarised when printed."""


def _grouped(gaps: Iterable[Unpriced]) -> list[str]:
    """The not-priced lines of one component, those of one kind and reason summarised."""
    groups: dict[tuple[str, str], list[Unpriced]] = {}
    for gap in gaps:
        label = KEY_LABELS.get((gap.key or "").split(":", 1)[0], gap.what)
        groups.setdefault((label, gap.reason), []).append(gap)
    lines = []
    for (label, reason), members in groups.items():
        if len(members) == 1:
            lines.append(f"{members[0].what}: {reason}")
            continue
        quantities = [g.quantity for g in members if g.quantity is not None]
        amount = (
            f" ({_fmt(math.fsum(quantities))} {members[0].unit})"
            if len(quantities) == len(members)
            else ""
        )
        lines.append(f"{len(members)} x {label}{amount}: {reason}")
    return lines


def render_estimate(result: CostEstimate) -> list[str]:
    """The estimate as printed by `python -m planner plan`."""
    table = result.price_table
    lines = [
        f"cost estimate: {result.currency} per month, {result.region}, prices read "
        f"{table.read_on} ({_relative(table.path)}); free tiers not applied"
    ]
    if not result.region_priced:
        lines.append(f"  {no_prices_note(result.region, table)}")
    for name, (items, gaps) in result.by_component().items():
        fixed = math.fsum(i.monthly_usd for i in items if i.kind == "fixed")
        usage = math.fsum(i.monthly_usd for i in items if i.kind == "usage")
        kind = result.components.get(name)
        title = f"{name} ({kind})" if kind else name
        if items:
            lines.append(
                f"  {title}: {_usd(fixed + usage)}  (fixed {_usd(fixed)}, usage {_usd(usage)})"
            )
        else:
            lines.append(f"  {title}: nothing priced")
        for item in items:
            lines.append(
                f"    {item.kind:<5}  {item.what}: {_fmt(item.quantity)} {item.unit} x "
                f"${_fmt(item.unit_price)} = {_usd(item.monthly_usd)}"
            )
        lines += [f"    not priced  {line}" for line in _grouped(gaps)]
    if result.region_priced:
        lines.append(
            f"  stack total: {_usd(result.total())}  (fixed {_usd(result.total('fixed'))}, "
            f"usage {_usd(result.total('usage'))})"
            + (
                f"; a lower bound: {len(result.unpriced)} item(s) not priced"
                if result.unpriced
                else ""
            )
        )
        share = result.total() / result.budget_usd * 100
        lines.append(
            f"  budget (cost.monthlyBudgetUsd): {_usd(result.budget_usd)}; the estimate is "
            f"{share:.1f}% of it"
        )
    else:
        lines.append(f"  stack total: none (no prices for region {result.region})")
    if result.usage_not_set:
        lines.append(
            "  usage not set in cost.usage (0 per month, so not in the estimate): "
            + ", ".join(result.usage_not_set)
        )
    if result.no_charge:
        lines.append(
            f"  no charge of their own: {sum(result.no_charge.values())} resources of "
            f"{len(result.no_charge)} types (IAM, bucket settings, policies, …; see cost.json)"
        )
    return lines


def budget_warning(result: CostEstimate) -> str | None:
    """The `warning:` line when the estimate exceeds the stack's budget, else None."""
    if not result.exceeded:
        return None
    total = result.total()
    return (
        f"warning: the estimated monthly cost of stack {result.stack!r}, {_usd(total)}, "
        f"exceeds its budget of {_usd(result.budget_usd)} (cost.monthlyBudgetUsd)"
        + (" although it is a lower bound" if result.unpriced else "")
    )
