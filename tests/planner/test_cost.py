"""The offline plan's monthly cost estimate (planner/cost.py).

Every expected figure is computed here by hand from the price table's numbers, written out
(0.257 USD per ml.m5.xlarge hosting hour in eu-west-1, 1 USD per KMS key-month, ...), never by
calling the estimator twice. Where the shipped table has no price (SageMaker serverless inference
in any region) or a test needs one to be missing, the arithmetic is checked against a small table
written by the test, whose prices are fixtures, not AWS's.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from components.config import EksCluster, UsageProfile, load_platform_config
from planner.__main__ import main
from planner.cost import (
    PRICE_TABLE,
    UNITS,
    CostInputs,
    PriceTableError,
    budget_warning,
    estimate,
    load_price_table,
    render_estimate,
    stack_cost_inputs,
    write_estimate,
)
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config

STACK_URN = "urn:pulumi:test::mlops-platform::pulumi:pulumi:Stack::mlops-platform-test"
HOURS = 730

# The shipped table's numbers, written out (planner/prices/aws-prices.json).
EU_HOSTING_M5_XLARGE = 0.257
EU_TRAINING_M5_XLARGE = 0.257
EU_ALARM_METRIC_STANDARD = 0.10
EU_ALARM_METRIC_HIGH_RES = 0.30
EU_COMPOSITE_ALARM_MONTH = 0.50
EU_DASHBOARD_MONTH = 3.00
KMS_KEY_MONTH = 1.00
US_ALARM_METRIC_STANDARD = 0.10
US_ALARM_METRIC_HIGH_RES = 0.30
US_DASHBOARD_MONTH = 3.00
US_LAMBDA_ARM_GB_SECOND = 0.0000133334
US_S3_STANDARD_GB_MONTH = 0.023
EKS_CLUSTER_HOUR = 0.10  # standard support, eu-west-1 and us-east-1
EU_EC2_M6I_LARGE = 0.107
US_EC2_M6I_LARGE = 0.096


def reg(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    parent: str = STACK_URN,
) -> Registration:
    custom = not type_.startswith("mlops:")
    return Registration(
        urn=f"urn:pulumi:test::mlops-platform::{type_}::{name}",
        type=type_,
        name=name,
        custom=custom,
        parent=parent,
        provider="",
        inputs=inputs or {},
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        ignore_changes=[],
        replace_on_changes=[],
        aliases=[],
        dependencies=[],
        property_dependencies={},
        additional_secret_outputs=[],
        deleted_with="",
    )


def inputs(budget: float = 1000.0, **usage: float) -> CostInputs:
    return CostInputs(
        usage=UsageProfile(**usage),
        monthly_budget_usd=budget,
        training_instance_type="ml.m5.xlarge",
        processing_instance_type="ml.m5.large",
    )


def endpoints_component() -> Registration:
    return reg("mlops:inference:SageMakerEndpoints", "inference")


def realtime_config(parent: Registration, count: float = 2.0, shadow: bool = False) -> Registration:
    variant = {"variantName": "AllTraffic", "instanceType": "ml.m5.xlarge"}
    config: dict[str, Any] = {
        "name": "churn-config",
        "productionVariants": [{**variant, "initialInstanceCount": count}],
    }
    if shadow:
        config["shadowProductionVariants"] = [
            {"variantName": "Shadow", "instanceType": "ml.m5.xlarge", "initialInstanceCount": 1.0}
        ]
    return reg(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "inference-churn-config",
        config,
        parent.urn,
    )


def serverless_config(parent: Registration, memory_mb: float = 2048.0) -> Registration:
    return reg(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "inference-churn-config",
        {
            "name": "churn-config",
            "productionVariants": [
                {
                    "variantName": "AllTraffic",
                    "serverlessConfig": {"memorySizeInMb": memory_mb, "maxConcurrency": 5.0},
                }
            ],
        },
        parent.urn,
    )


def alarms(parent: Registration) -> list[Registration]:
    metric = {"namespace": "AWS/SageMaker", "metricName": "Invocations", "stat": "Sum"}
    return [
        reg(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "errors",
            {"metricName": "InvocationModelErrors", "period": 60.0, "statistic": "Sum"},
            parent.urn,
        ),
        reg(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "rate",
            {
                "metricQueries": [
                    {"id": "errors", "metric": {**metric, "period": 60.0}},
                    {"id": "invocations", "metric": {**metric, "period": 60.0}},
                    {"id": "rate", "expression": "100 * errors / invocations"},
                ]
            },
            parent.urn,
        ),
        reg(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "fast",
            {"metricName": "ModelLatency", "period": 10.0, "statistic": "Maximum"},
            parent.urn,
        ),
    ]


def write_table(path: Path, prices: list[dict[str, Any]]) -> Path:
    entries = [
        {
            "pricingPage": "https://aws.amazon.com/sagemaker/pricing/",
            "source": "fixture",
            "readOn": "2026-01-01",
            "quote": "a fixture price, not AWS's",
            **p,
        }
        for p in prices
    ]
    path.write_text(
        json.dumps(
            {
                "currency": "USD",
                "readOn": "2026-01-01",
                "sources": {"fixture": {"url": "https://example.invalid/fixture"}},
                "prices": entries,
            }
        )
    )
    return path


# ---- the shipped price table ----------------------------------------------------------------


def test_every_shipped_price_says_where_and_when_it_was_read() -> None:
    table = load_price_table()
    assert table.regions == {"eu-west-1", "us-east-1"}
    assert table.read_on == "2026-11-27"
    document = json.loads(PRICE_TABLE.read_text())
    for entry in document["prices"]:
        assert entry["unit"] == UNITS[entry["key"].split(":")[0]], entry
        assert entry["pricingPage"].startswith("https://aws.amazon.com/"), entry
        assert document["sources"][entry["source"]]["url"].startswith("https://"), entry
        assert entry["readOn"] == "2026-11-27", entry
        assert entry["quote"], entry
    price = table.get("eu-west-1", "sagemaker.hosting:ml.m5.xlarge")
    assert price is not None
    assert price.price == EU_HOSTING_M5_XLARGE
    assert "sagemaker-ssh-helper" in price.source_url


def test_a_price_in_another_unit_than_its_key_is_rejected(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "prices.json",
        [{"key": "kms.key", "region": "eu-west-1", "price": 1.0, "unit": "key-hour"}],
    )
    with pytest.raises(
        PriceTableError, match=re.escape("kms.key is quoted per key-month, not per key-hour")
    ):
        load_price_table(path)


def test_a_second_price_for_one_key_and_region_is_rejected(tmp_path: Path) -> None:
    entry = {"key": "kms.key", "region": "eu-west-1", "price": 1.0, "unit": "key-month"}
    path = write_table(tmp_path / "prices.json", [entry, {**entry, "price": 2.0}])
    with pytest.raises(PriceTableError, match=re.escape("a second price for kms.key in eu-west-1")):
        load_price_table(path)


# ---- fixed costs --------------------------------------------------------------------------


def test_realtime_endpoint_of_two_m5_xlarge_in_eu_west_1() -> None:
    component = endpoints_component()
    result = estimate([component, realtime_config(component)], "test", "eu-west-1", inputs())
    expected = 2 * EU_HOSTING_M5_XLARGE * HOURS  # 375.22
    assert expected == pytest.approx(375.22)
    [item] = result.items
    assert item.component == "inference"
    assert item.kind == "fixed"
    assert item.quantity == 2 * HOURS
    assert item.unit == "instance-hour"
    assert item.monthly_usd == pytest.approx(expected)
    assert result.total("fixed") == pytest.approx(expected)
    assert result.total("usage") == 0


def test_a_shadow_variant_runs_its_own_instances() -> None:
    component = endpoints_component()
    result = estimate(
        [component, realtime_config(component, shadow=True)], "test", "eu-west-1", inputs()
    )
    expected = 2 * EU_HOSTING_M5_XLARGE * HOURS + 1 * EU_HOSTING_M5_XLARGE * HOURS
    assert result.total() == pytest.approx(expected)
    assert [i.what.split(":")[0] for i in result.items] == [
        "endpoint config churn-config, variant AllTraffic",
        "endpoint config churn-config, shadow Shadow",
    ]


def test_kms_key_alarms_and_dashboard_in_us_east_1() -> None:
    component = endpoints_component()
    key = reg("aws:kms/key:Key", "platform-key", {"enableKeyRotation": True})
    dashboard = reg("aws:cloudwatch/dashboard:Dashboard", "overview", {}, component.urn)
    records = [component, key, dashboard, *alarms(component)]
    result = estimate(records, "test", "us-east-1", inputs())
    # errors: 1 standard metric; rate: 2 standard metrics (the expression is not a metric);
    # fast: 1 high-resolution metric (period 10 s).
    expected_alarms = 3 * US_ALARM_METRIC_STANDARD + 1 * US_ALARM_METRIC_HIGH_RES
    expected = KMS_KEY_MONTH + US_DASHBOARD_MONTH + expected_alarms  # 4.60
    assert expected == pytest.approx(4.60)
    assert result.total("fixed") == pytest.approx(expected)
    by_what = {i.what.split(":")[0]: i.monthly_usd for i in result.items}
    assert by_what["alarm rate"] == pytest.approx(2 * US_ALARM_METRIC_STANDARD)
    assert by_what["alarm fast"] == pytest.approx(US_ALARM_METRIC_HIGH_RES)
    # The key is registered at the top (no component): it is grouped under the stack.
    assert {i.component for i in result.items} == {"(stack)", "inference"}
    assert result.unpriced == []


def test_kms_key_alarms_and_dashboard_in_eu_west_1() -> None:
    component = endpoints_component()
    key = reg("aws:kms/key:Key", "platform-key")
    dashboard = reg("aws:cloudwatch/dashboard:Dashboard", "overview", {}, component.urn)
    composite = reg("aws:cloudwatch/compositeAlarm:CompositeAlarm", "unhealthy", {}, component.urn)
    records = [component, key, dashboard, composite, *alarms(component)]
    result = estimate(records, "test", "eu-west-1", inputs())
    expected_alarms = 3 * EU_ALARM_METRIC_STANDARD + 1 * EU_ALARM_METRIC_HIGH_RES  # 0.60
    expected = KMS_KEY_MONTH + EU_DASHBOARD_MONTH + EU_COMPOSITE_ALARM_MONTH + expected_alarms
    assert expected == pytest.approx(5.10)
    assert result.total("fixed") == pytest.approx(expected)
    by_what = {i.what.split(":")[0]: i.monthly_usd for i in result.items}
    assert by_what["alarm fast"] == pytest.approx(EU_ALARM_METRIC_HIGH_RES)
    assert by_what["composite alarm unhealthy"] == pytest.approx(EU_COMPOSITE_ALARM_MONTH)
    assert result.unpriced == []


def test_alarms_without_a_price_for_the_region_are_listed_not_zero(tmp_path: Path) -> None:
    # Fixture table (not AWS's prices) with a KMS key price and no CloudWatch price at all.
    table = load_price_table(
        write_table(
            tmp_path / "prices.json",
            [{"key": "kms.key", "region": "eu-west-1", "price": 1.0, "unit": "key-month"}],
        )
    )
    component = endpoints_component()
    key = reg("aws:kms/key:Key", "platform-key")
    records = [component, key, *alarms(component)]
    result = estimate(records, "test", "eu-west-1", inputs(), table)
    assert result.total() == pytest.approx(1.0)
    gaps = {g.what.split(":")[0]: g for g in result.unpriced}
    assert set(gaps) == {"alarm errors", "alarm rate", "alarm fast"}
    assert gaps["alarm rate"].quantity == 2
    assert gaps["alarm rate"].reason == (
        "no price in the table for cloudwatch.alarm.standard in eu-west-1"
    )
    assert gaps["alarm fast"].key == "cloudwatch.alarm.high-resolution"
    rendered = "\n".join(render_estimate(result))
    assert "a lower bound: 3 item(s) not priced" in rendered
    assert "2 x CloudWatch alarms, standard resolution (3 alarm-metric-month)" in rendered


def test_resources_are_grouped_by_their_top_level_component() -> None:
    component = reg("mlops:storage:DataLake", "lake")
    bucket = reg("mlops:storage:SecureBucket", "lake-raw", parent=component.urn)
    key = reg("aws:kms/key:Key", "bucket-key", parent=bucket.urn)
    result = estimate([component, bucket, key], "test", "eu-west-1", inputs())
    assert [(i.component, i.monthly_usd) for i in result.items] == [("lake", KMS_KEY_MONTH)]
    assert result.components == {"lake": "mlops:storage:DataLake"}


def test_unmodelled_and_usage_driven_resources_are_reported() -> None:
    records = [
        reg("aws:ec2/instance:Instance", "bastion"),
        reg("aws:dynamodb/table:Table", "decisions", {"billingMode": "PAY_PER_REQUEST"}),
        reg("aws:iam/role:Role", "role"),
    ]
    result = estimate(records, "test", "eu-west-1", inputs())
    reasons = {g.resource_type: g.reason for g in result.unpriced}
    assert reasons == {
        "aws:ec2/instance:Instance": "resource type not modelled by planner/cost.py",
        "aws:dynamodb/table:Table": "usage-driven, and cost.usage has no quantity for it",
    }
    assert result.no_charge == {"aws:iam/role:Role": 1}


# ---- Kubernetes (EKS) -----------------------------------------------------------------------

K8S_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:networking/v1:NetworkPolicy",
)


def eks_plan(
    instance_types: tuple[str, ...] = ("m6i.large",),
    min_size: float = 2.0,
    max_size: float = 4.0,
    support: str | None = "STANDARD",
) -> list[Registration]:
    """The registrations of an EKS-mode `kubernetes` block, shaped as components/kubernetes_*.py
    registers them: the cluster component and its AWS resources, the kubernetes provider, the
    inference component's Kubernetes objects and the monitoring component's Helm release."""
    cluster = reg("mlops:kubernetes:Cluster", "k8s")
    inference = reg("mlops:kubernetes:Inference", "k8s-inference")
    monitoring = reg("mlops:kubernetes:Monitoring", "k8s-monitoring")
    c, i = cluster.urn, inference.urn
    cluster_inputs: dict[str, Any] = {"name": "mlops-platform-staging-k8s", "version": "1.35"}
    if support is not None:
        cluster_inputs["upgradePolicy"] = {"supportType": support}
    root = {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50.0, "volumeType": "gp3"}}
    return [
        cluster,
        reg("aws:iam/role:Role", "k8s-cluster-role", parent=c),
        reg("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "k8s-cluster-policy", parent=c),
        reg("aws:iam/rolePolicy:RolePolicy", "k8s-cluster-role-secrets-key", parent=c),
        reg("aws:iam/role:Role", "k8s-node-role", parent=c),
        reg("aws:cloudwatch/logGroup:LogGroup", "k8s-control-plane-logs", parent=c),
        reg("aws:eks/cluster:Cluster", "k8s-cluster", cluster_inputs, c),
        *[
            reg("aws:eks/addon:Addon", f"k8s-{addon}", {"addonName": addon}, c)
            for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")
        ],
        reg(
            "aws:ec2/launchTemplate:LaunchTemplate", "k8s-nodes", {"blockDeviceMappings": [root]}, c
        ),
        reg(
            "aws:eks/nodeGroup:NodeGroup",
            "k8s-nodes",
            {
                "instanceTypes": list(instance_types),
                "capacityType": "ON_DEMAND",
                "amiType": "AL2023_x86_64_STANDARD",
                "scalingConfig": {
                    "minSize": min_size,
                    "maxSize": max_size,
                    "desiredSize": min_size,
                },
            },
            c,
        ),
        reg("aws:eks/podIdentityAssociation:PodIdentityAssociation", "k8s-churn-pod-id", parent=c),
        reg("pulumi:providers:kubernetes", "k8s-provider", parent=c),
        inference,
        *[reg(t, f"churn-{t.rsplit(':', 1)[1].lower()}", parent=i) for t in K8S_TYPES],
        reg("kubernetes:core/v1:Service", "churn-svc", {"spec": {"type": "ClusterIP"}}, i),
        # A custom resource registers under its group's type (a Gateway API Gateway here), or
        # under the generic CustomResource type.
        reg(
            "kubernetes:gateway.networking.k8s.io/v1:Gateway",
            "k8s-inference-gateway",
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "spec": {"gatewayClassName": "envoy"},
            },
            i,
        ),
        reg("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "churn-route", {"spec": {}}, i),
        reg(
            "kubernetes:apiextensions.k8s.io/v1:CustomResource",
            "churn-monitor",
            {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "spec": {}},
            i,
        ),
        monitoring,
        reg("kubernetes:helm.sh/v3:Release", "k8s-monitoring-stack", parent=monitoring.urn),
    ]


def test_eks_control_plane_and_node_floor_in_eu_west_1() -> None:
    result = estimate(eks_plan(), "staging", "eu-west-1", inputs())
    control_plane = EKS_CLUSTER_HOUR * HOURS  # 73.00
    nodes = 2 * EU_EC2_M6I_LARGE * HOURS  # 156.22
    assert (control_plane, nodes) == (pytest.approx(73.00), pytest.approx(156.22))
    by_key = {i.price.key: i for i in result.items}
    assert set(by_key) == {"eks.cluster", "ec2.instance:m6i.large"}
    eks = by_key["eks.cluster"]
    assert (eks.component, eks.kind, eks.quantity, eks.unit) == (
        "k8s",
        "fixed",
        HOURS,
        "cluster-hour",
    )
    assert eks.unit_price == EKS_CLUSTER_HOUR
    assert eks.monthly_usd == pytest.approx(control_plane)
    assert eks.what == (
        "EKS cluster mlops-platform-staging-k8s (Kubernetes 1.35): control plane x 730 h, "
        "standard support"
    )
    assert "QuinnyPig/aws-price-watcher" in eks.price.source_url
    node = by_key["ec2.instance:m6i.large"]
    assert (node.component, node.kind, node.quantity, node.unit) == (
        "k8s",
        "fixed",
        2 * HOURS,
        "instance-hour",
    )
    assert node.unit_price == EU_EC2_M6I_LARGE  # eu-west-1's, not us-east-1's 0.096
    assert node.monthly_usd == pytest.approx(nodes)
    assert node.what == (
        "node group k8s-nodes: 2 x m6i.large x 730 h (the floor of the group "
        "(scalingConfig.minSize), all month, first type m6i.large; scales up to 4: not estimated)"
    )
    assert result.total() == pytest.approx(229.22)
    assert result.total("fixed") == pytest.approx(control_plane + nodes)


def test_no_kubernetes_or_eks_type_is_reported_not_modelled() -> None:
    result = estimate(eks_plan(), "staging", "eu-west-1", inputs())
    assert not [g for g in result.unpriced if "not modelled" in g.reason]
    gaps = {g.resource_type: (g.what, g.reason) for g in result.unpriced}
    assert gaps == {
        "aws:eks/nodeGroup:NodeGroup": (
            "node group k8s-nodes: EBS root volume of each node (50 GiB gp3, from launch "
            "template k8s-nodes)",
            "no EBS price in the table",
        ),
        "kubernetes:gateway.networking.k8s.io/v1:Gateway": (
            "Gateway k8s-inference-gateway (class envoy): the load balancer its implementation "
            "provisions",
            "not registered by the program, so not in the plan",
        ),
        "aws:cloudwatch/logGroup:LogGroup": (
            "CloudWatch log group (GB ingested, GB stored)",
            "usage-driven, and cost.usage has no quantity for it",
        ),
    }
    assert result.no_charge == {
        "aws:iam/role:Role": 2,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:eks/addon:Addon": 4,
        "aws:ec2/launchTemplate:LaunchTemplate": 1,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation": 1,
        "pulumi:providers:kubernetes": 1,
        **dict.fromkeys(K8S_TYPES, 1),
        "kubernetes:core/v1:Service": 1,
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": 1,
        "kubernetes:apiextensions.k8s.io/v1:CustomResource": 1,  # the ServiceMonitor
        "kubernetes:helm.sh/v3:Release": 1,
    }
    assert "not modelled" not in "\n".join(render_estimate(result))


def test_a_node_group_is_priced_at_its_first_instance_type() -> None:
    records = eks_plan(("m6i.large", "m6a.large"), min_size=3.0, max_size=9.0)
    result = estimate(records, "prod", "eu-west-1", inputs())
    [node] = [i for i in result.items if i.price.key.startswith("ec2.instance:")]
    assert node.price.key == "ec2.instance:m6i.large"
    assert node.quantity == 3 * HOURS
    assert node.monthly_usd == pytest.approx(3 * EU_EC2_M6I_LARGE * HOURS)  # 234.33
    assert "first type m6i.large; of m6i.large, m6a.large; scales up to 9" in node.what
    assert result.total() == pytest.approx(73.00 + 234.33)


def test_a_node_type_without_a_price_for_the_region_is_listed_not_zero() -> None:
    result = estimate(eks_plan(("m6a.large",), min_size=3.0), "prod", "eu-west-1", inputs())
    assert [i.price.key for i in result.items] == ["eks.cluster"]
    [gap] = [g for g in result.unpriced if g.key == "ec2.instance:m6a.large"]
    assert gap.reason == "no price in the table for ec2.instance:m6a.large in eu-west-1"
    assert (gap.kind, gap.quantity, gap.unit) == ("fixed", 3 * HOURS, "instance-hour")
    assert gap.component == "k8s"
    assert result.total() == pytest.approx(EKS_CLUSTER_HOUR * HOURS)
    assert "a lower bound" in "\n".join(render_estimate(result))


def test_eks_in_us_east_1_uses_us_east_1_prices() -> None:
    result = estimate(eks_plan(), "test", "us-east-1", inputs())
    expected = EKS_CLUSTER_HOUR * HOURS + 2 * US_EC2_M6I_LARGE * HOURS  # 73.00 + 140.16
    assert result.total() == pytest.approx(213.16)
    assert result.total() == pytest.approx(expected)


def test_a_cluster_not_pinned_to_standard_support_says_so() -> None:
    result = estimate(eks_plan(support=None), "test", "eu-west-1", inputs())
    [eks] = [i for i in result.items if i.price.key == "eks.cluster"]
    assert eks.monthly_usd == pytest.approx(EKS_CLUSTER_HOUR * HOURS)
    assert "extended-support rate, not estimated" in eks.what


def test_kubernetes_objects_that_provision_aws_resources_are_listed() -> None:
    component = reg("mlops:kubernetes:Inference", "k8s-inference")
    records = [
        component,
        reg(
            "kubernetes:core/v1:Service",
            "public",
            {"spec": {"type": "LoadBalancer"}},
            component.urn,
        ),
        reg("kubernetes:core/v1:PersistentVolumeClaim", "tsdb", {"spec": {}}, component.urn),
        reg(
            "kubernetes:apiextensions.k8s.io/v1:CustomResource",
            "edge",
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "spec": {"gatewayClassName": "eg"},
            },
            component.urn,
        ),
    ]
    result = estimate(records, "test", "eu-west-1", inputs())
    assert result.items == []
    assert result.no_charge == {}
    assert sorted(g.what for g in result.unpriced) == [
        "Gateway edge (class eg): the load balancer its implementation provisions",
        "Service public of type LoadBalancer: the AWS load balancer it provisions",
        "persistent volume claim tsdb: the EBS volume it provisions",
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_shipped_stacks_price_their_eks_cluster(plans: dict[str, Plan], stack: str) -> None:
    # The node group's size and types as the stack file sets them (other issues may resize it);
    # the price is the table's, written out above.
    raw = load_stack_config(PROJECT_DIR, stack)
    cluster = load_platform_config(
        raw.values, stack, str(PROJECT_DIR / "stacks")
    ).kubernetes.cluster
    assert isinstance(cluster, EksCluster)
    nodes, ceiling = cluster.min_nodes, cluster.max_nodes
    first, *others = cluster.node_instance_types
    assert first == "m6i.large"
    types = f"; of {', '.join([first, *others])}" if others else ""
    plan = plans[stack]
    result = estimate(plan.registrations, stack, "eu-west-1", stack_cost_inputs(PROJECT_DIR, stack))
    [eks] = [i for i in result.items if i.price.key == "eks.cluster"]
    assert eks.component == "cluster"
    assert eks.what == (
        f"EKS cluster mlops-platform-{stack}-cluster (Kubernetes {cluster.version}): control "
        "plane x 730 h, standard support"
    )
    assert eks.quantity == HOURS
    assert eks.monthly_usd == pytest.approx(EKS_CLUSTER_HOUR * HOURS)  # 73.00
    [node] = [i for i in result.items if i.price.key.startswith("ec2.instance:")]
    assert node.price.key == f"ec2.instance:{first}"
    assert node.what == (
        f"node group cluster-nodes: {nodes} x {first} x 730 h (the floor of the group "
        f"(scalingConfig.minSize), all month, first type {first}{types}; scales up to "
        f"{ceiling}: not estimated)"
    )
    assert node.quantity == nodes * HOURS
    assert node.monthly_usd == pytest.approx(nodes * EU_EC2_M6I_LARGE * HOURS)
    # e.g. staging's 2 nodes: 73.00 + 2 x 0.107 x 730 = 73.00 + 156.22 = 229.22
    cluster_total = EKS_CLUSTER_HOUR * HOURS + nodes * EU_EC2_M6I_LARGE * HOURS
    assert math.fsum(
        i.monthly_usd for i in result.items if i.component == "cluster"
    ) == pytest.approx(cluster_total)
    types_seen = {r.type for r in plan.registrations}
    assert "aws:eks/cluster:Cluster" in types_seen
    assert any(t.startswith("kubernetes:") for t in types_seen)
    unmodelled = {
        g.resource_type
        for g in result.unpriced
        if g.reason == "resource type not modelled by planner/cost.py"
    }
    assert not {
        t
        for t in unmodelled
        if t
        and t.startswith(("kubernetes:", "pulumi:providers:", "aws:eks/", "aws:ec2/", "aws:iam/"))
    }
    assert any(
        g.what.startswith("node group cluster-nodes: EBS root volume of each node (")
        and g.reason == "no EBS price in the table"
        for g in result.unpriced
    )
    assert any(
        g.what.startswith("Gateway ")
        and g.resource_type == "kubernetes:gateway.networking.k8s.io/v1:Gateway"
        for g in result.unpriced
    )


# ---- usage-driven costs -------------------------------------------------------------------


def test_training_hours_are_priced_at_the_training_instance_type() -> None:
    training = reg("mlops:training:TrainingPipelines", "training")
    result = estimate(
        [training], "test", "eu-west-1", inputs(training_hours=10.0, processing_hours=4.0)
    )
    [item] = result.items
    assert (item.component, item.kind) == ("training", "usage")
    assert item.monthly_usd == pytest.approx(10 * EU_TRAINING_M5_XLARGE)  # 2.57
    # ml.m5.large has no eu-west-1 price in the table: reported, not zero.
    [gap] = result.unpriced
    assert gap.key == "sagemaker.processing:ml.m5.large"
    assert gap.quantity == 4.0
    assert "trainingHours" not in result.usage_not_set
    assert "inferenceRequests" in result.usage_not_set


def test_serverless_inference_is_requests_times_seconds_times_memory(tmp_path: Path) -> None:
    # Fixture prices (not AWS's): 0.00002 USD per GB-second of serverless inference,
    # 0.03 USD per GB ingested by Firehose.
    table = load_price_table(
        write_table(
            tmp_path / "prices.json",
            [
                {
                    "key": "sagemaker.serverless.inference",
                    "region": "eu-west-1",
                    "price": 0.00002,
                    "unit": "GB-second",
                },
                {"key": "firehose.ingest", "region": "eu-west-1", "price": 0.03, "unit": "GB"},
            ],
        )
    )
    component = endpoints_component()
    stream = reg(
        "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
        "capture-stream",
        {"extendedS3Configuration": {"bufferingSize": 5.0}},
        component.urn,
    )
    usage = inputs(
        inference_requests=1_000_000.0, serverless_seconds_per_request=0.2, capture_gb=10.0
    )
    result = estimate(
        [component, serverless_config(component, 2048.0), stream],
        "test",
        "eu-west-1",
        usage,
        table,
    )
    by_key = {i.price.key: i for i in result.items}
    # 1,000,000 requests x 0.2 s x 2 GB = 400,000 GB-seconds x 0.00002 = 8.00 USD
    assert by_key["sagemaker.serverless.inference"].quantity == pytest.approx(400_000)
    assert by_key["sagemaker.serverless.inference"].monthly_usd == pytest.approx(8.00)
    # The only endpoint is serverless: all 10 captured GB go through Firehose: 0.30 USD.
    assert by_key["firehose.ingest"].monthly_usd == pytest.approx(10 * 0.03)
    assert result.total("usage") == pytest.approx(8.30)
    # The fixture table has no S3 or Lambda price: those usage lines are listed, not zero.
    assert {g.key for g in result.unpriced} == {"s3.standard.put"}


def test_serverless_inference_without_a_price_is_reported() -> None:
    component = endpoints_component()
    usage = inputs(inference_requests=1_000_000.0)
    result = estimate([component, serverless_config(component)], "test", "eu-west-1", usage)
    assert result.items == []
    [gap] = result.unpriced
    assert gap.reason == "no price in the table for sagemaker.serverless.inference in eu-west-1"
    assert gap.quantity == pytest.approx(1_000_000 * 0.1 * 2)  # default 0.1 s, 2 GB


def test_lambda_and_s3_usage_in_us_east_1() -> None:
    lake = reg("mlops:storage:DataLake", "lake")
    function = reg(
        "aws:lambda/function:Function", "drift-check", {"architectures": ["arm64"]}, lake.urn
    )
    usage = inputs(lambda_gb_seconds=1_000_000.0, stored_gb=100.0)
    result = estimate([lake, function], "test", "us-east-1", usage)
    by_key = {i.price.key: i for i in result.items}
    assert by_key["lambda.duration:arm64"].monthly_usd == pytest.approx(
        1_000_000 * US_LAMBDA_ARM_GB_SECOND
    )  # 13.3334
    assert by_key["lambda.duration:arm64"].component == "(stack-wide usage)"
    assert by_key["s3.standard.storage"].monthly_usd == pytest.approx(
        100 * US_S3_STANDARD_GB_MONTH
    )  # 2.30
    assert by_key["s3.standard.storage"].component == "lake"
    assert result.total() == pytest.approx(13.3334 + 2.30)


# ---- regions, budget, cost.json -----------------------------------------------------------


def test_a_region_without_prices_gets_a_note_not_zeros(tmp_path: Path) -> None:
    component = endpoints_component()
    records = [component, realtime_config(component), reg("aws:kms/key:Key", "k")]
    result = estimate(records, "test", "ap-south-1", inputs(budget=1.0))
    assert result.items == []
    assert result.total_usd is None
    assert result.exceeded is None
    assert budget_warning(result) is None
    assert {g.reason for g in result.unpriced} >= {"no prices for region ap-south-1"}
    rendered = "\n".join(render_estimate(result))
    assert "no prices for region ap-south-1" in rendered
    assert "stack total: none (no prices for region ap-south-1)" in rendered
    document = json.loads(write_estimate(result, tmp_path).read_text())
    assert document["regionPriced"] is False
    assert document["totals"]["totalUsd"] is None
    assert document["budget"]["exceeded"] is None
    assert document["note"].startswith("no prices for region ap-south-1")


def test_the_budget_warning_names_the_estimate_and_the_budget() -> None:
    component = endpoints_component()
    result = estimate(
        [component, realtime_config(component)], "prod", "eu-west-1", inputs(budget=300.0)
    )
    assert result.exceeded is True
    assert budget_warning(result) == (
        "warning: the estimated monthly cost of stack 'prod', $375.22, exceeds its budget of "
        "$300.00 (cost.monthlyBudgetUsd) although it is a lower bound"
    )
    within = estimate(
        [component, realtime_config(component)], "prod", "eu-west-1", inputs(budget=400.0)
    )
    assert within.exceeded is False
    assert budget_warning(within) is None


def test_cost_json_is_machine_readable(tmp_path: Path) -> None:
    component = endpoints_component()
    records = [component, realtime_config(component), *alarms(component)]
    result = estimate(records, "prod", "eu-west-1", inputs(budget=300.0, training_hours=2.0))
    document = json.loads(write_estimate(result, tmp_path).read_text())
    assert document["currency"] == "USD"
    assert document["region"] == "eu-west-1"
    assert document["priceTable"] == {
        "path": "planner/prices/aws-prices.json",
        "readOn": "2026-11-27",
        "regions": ["eu-west-1", "us-east-1"],
    }
    hosting = 2 * EU_HOSTING_M5_XLARGE * HOURS  # 375.22
    alarms_fixed = 3 * EU_ALARM_METRIC_STANDARD + 1 * EU_ALARM_METRIC_HIGH_RES  # 0.60
    training = 2 * EU_TRAINING_M5_XLARGE  # 0.514
    assert hosting + alarms_fixed == pytest.approx(375.82)
    assert document["totals"]["fixedUsd"] == pytest.approx(hosting + alarms_fixed)
    assert document["totals"]["usageUsd"] == pytest.approx(training)
    assert document["totals"]["totalUsd"] == pytest.approx(hosting + alarms_fixed + training)
    assert document["totals"]["complete"] is False
    assert document["budget"] == {
        "monthlyUsd": 300.0,
        "exceeded": True,
        "source": "cost.monthlyBudgetUsd",
    }
    [inference] = [c for c in document["components"] if c["component"] == "inference"]
    [item] = [i for i in inference["items"] if i["sourceKey"].startswith("sagemaker.hosting:")]
    assert item["quantity"] == 2 * HOURS
    assert item["unit"] == "instance-hour"
    assert item["unitPriceUsd"] == EU_HOSTING_M5_XLARGE
    assert item["monthlyUsd"] == pytest.approx(hosting)
    assert item["sourceKey"] == "sagemaker.hosting:ml.m5.xlarge"
    assert item["priceReadOn"] == "2026-11-27"
    assert [u["what"] for u in document["unpriced"]] == [
        "endpoint config churn-config, variant AllTraffic: "
        "ML storage volume of each hosting instance"
    ]


def test_plan_dev_writes_cost_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    document = json.loads((tmp_path / "dev" / "cost.json").read_text())
    assert document["stack"] == "dev"
    assert document["region"] == "eu-west-1"
    assert document["budget"]["monthlyUsd"] == 300.0
    items = [i for c in document["components"] for i in c["items"]]
    assert {i["sourceKey"] for i in items} >= {"kms.key"}
    assert document["totals"]["totalUsd"] == pytest.approx(sum(i["monthlyUsd"] for i in items))
    # dev's endpoint is serverless: no instance runs all month, its compute is usage.
    assert not any(i["sourceKey"].startswith("sagemaker.hosting:") for i in items)
    assert "cost estimate: USD per month, eu-west-1" in out
    assert f"wrote {tmp_path / 'dev' / 'cost.json'}" in out


def test_plan_warns_over_budget_with_the_exit_code_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.__main__ as cli

    monkeypatch.setattr(cli, "stack_cost_inputs", lambda _dir, _stack: inputs(budget=0.5))
    assert main(["plan", "dev", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: the estimated monthly cost of stack 'dev'" in err
    assert "exceeds its budget of $0.50 (cost.monthlyBudgetUsd)" in err
