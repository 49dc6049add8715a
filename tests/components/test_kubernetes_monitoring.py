"""Kubernetes monitoring under Pulumi mocks (components/kubernetes_monitoring.py): the exact
inputs of the kube-prometheus-stack release (chart, pinned version, namespace, the platform's
values with config's merged over them, Alertmanager's one SNS receiver), the monitoring
namespace's Pod Security level, each service's ServiceMonitor, PrometheusRule and dashboard,
and Alertmanager's Pod Identity role.

Every PromQL expression is parsed by promql-parser (the Prometheus parser, ported to Rust); the
alerts are also evaluated on synthetic series by a small evaluator written here from
Prometheus's documented semantics (selectors, `rate` over a window, `sum by`, one-to-one
vector matching, `histogram_quantile`'s linear interpolation, `label_replace`), with the
expected values worked out by hand.

The cluster is a fake with `KubernetesCluster`'s attributes: one Kubernetes provider, and a
`workload_role` creating the role, its inline policy and the Pod Identity association as the
real one does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser
import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import iam
from components.config import PROJECT, PlatformConfig, ServiceObjectives, load_platform_config
from components.kubernetes_monitoring import (
    CHART,
    KubernetesMonitoring,
    KubernetesMonitoringArgs,
    MonitoredService,
    alert_rules,
    alertmanager_config,
    dashboard,
    dashboard_queries,
    dashboard_uid,
    deep_merge,
    platform_values,
)
from components.naming import Naming
from components.platform import PlatformContext, aws_provider
from planner.mocks import PlatformMocks, RecordingMonitor, Registration
from planner.policies import evaluate
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-platform-dev-platform-events"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1f3c3e-5a8e-4c1e-9d6f-2f1e6b7c8d90"
CHART_VERSION = "75.15.1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn-server:1.4.2"
SIDECAR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving-sidecar:0.3.0"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"]
OVERRIDE = {
    "prometheus": {"prometheusSpec": {"retention": "30d", "externalLabels": {"env": "dev"}}},
    "grafana": {"sidecar": {"dashboards": {"folder": "/tmp/dashboards"}}},
}
"""Config's values: one platform default overridden, new keys beside the platform's."""

NAMESPACE_T = "kubernetes:core/v1:Namespace"
RELEASE_T = "kubernetes:helm.sh/v3:Release"
MONITOR_T = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
RULE_T = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP_T = "kubernetes:core/v1:ConfigMap"
ROLE_T = "aws:iam/role:Role"
ROLE_POLICY_T = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION_T = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

CHURN = MonitoredService(
    name="churn",
    namespace="mlops-dev",
    metrics_service="churn-metrics",
    selector={"app.kubernetes.io/name": "churn", "mlops.platform/metrics": "true"},
    metrics_port="metrics",
    deployments=["churn-blue", "churn-green"],
    hpa="churn-blue",
    objectives=ServiceObjectives(
        max_error_percent=2.0, latency_p99_ms=500, max_cpu_percent=90, for_minutes=5
    ),
)
FRAUD = MonitoredService(
    name="fraud",
    namespace="mlops-dev",
    metrics_service="fraud-metrics",
    selector={"app.kubernetes.io/name": "fraud", "mlops.platform/metrics": "true"},
    metrics_port="metrics",
    deployments=["fraud-blue", "fraud-canary", "fraud-shadow"],
    hpa="fraud-blue",
    objectives=ServiceObjectives(
        max_error_percent=1.5, latency_p99_ms=250, max_cpu_percent=80, for_minutes=10
    ),
)
SERVICES = [CHURN, FRAUD]


# ---- the program under mocks ------------------------------------------------------------------
def kubernetes_section(**section: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "cluster": {"mode": "eks", "version": "1.34", "subnetIds": SUBNETS},
        "prometheusStackChartVersion": CHART_VERSION,
        "prometheusStackValues": OVERRIDE,
        "servingSidecarImage": SIDECAR,
        "services": [{"name": "churn", "model": "churn", "modelVersion": 3, "image": IMAGE}],
        **section,
    }


def dev_config(**section: Any) -> tuple[dict[str, Any], PlatformConfig]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, "dev").values)
    values[f"{NS}kubernetes"] = json.dumps(kubernetes_section(**section))
    return values, load_platform_config(values, "dev")


@dataclass
class RoleRequest:
    namespace: str
    service_account: str
    role_name: str
    description: str


class FakeCluster(pulumi.ComponentResource):
    """`KubernetesCluster`'s attributes: the provider, the name, Pod Identity roles."""

    provider: k8s.Provider
    cluster_name: pulumi.Output[str]

    def __init__(self, ctx: PlatformContext) -> None:
        super().__init__("test:kubernetes:FakeCluster", "cluster")
        self._ctx = ctx
        self.provider = k8s.Provider(
            "cluster-provider", kubeconfig="{}", opts=pulumi.ResourceOptions(parent=self)
        )
        self.cluster_name = pulumi.Output.from_input("mlops-platform-dev-cluster")
        self.requests: list[RoleRequest] = []

    def workload_role(
        self,
        resource_name: str,
        *,
        namespace: str,
        service_account: str,
        role_name: str,
        description: str,
        policy: pulumi.Input[str],
        parent: pulumi.Resource,
    ) -> aws.iam.Role:
        self.requests.append(RoleRequest(namespace, service_account, role_name, description))
        opts = self._ctx.child_opts(parent)
        trust = iam.document(
            {
                "Sid": "PodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        )
        role = aws.iam.Role(
            resource_name,
            name=role_name,
            assume_role_policy=trust,
            description=description,
            opts=opts,
        )
        aws.iam.RolePolicy(f"{resource_name}-policy", role=role.id, policy=policy, opts=opts)
        aws.eks.PodIdentityAssociation(
            f"{resource_name}-association",
            cluster_name=self.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            opts=opts,
        )
        return role


@dataclass
class Run:
    registrations: list[Registration]
    cluster_requests: list[RoleRequest]
    config: PlatformConfig
    outputs: dict[str, Any]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {len(found)}"
        return found[0]

    def urn(self, type_: str, name: str | None = None) -> str:
        return self.one(type_, name).urn


def plan(services: list[MonitoredService] = SERVICES, **section: Any) -> Run:
    """Register a `KubernetesMonitoring` in dev under the platform's mocks."""
    values, cfg = dev_config(**section)
    mocks = PlatformMocks(ACCOUNT, REGION, "aws")
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(values, [])
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False, monitor=monitor)
    requests: list[RoleRequest] = []
    built: list[KubernetesMonitoring] = []

    def program() -> None:
        ctx = PlatformContext(
            config=cfg,
            naming=Naming(PROJECT, "dev"),
            provider=aws_provider("aws", cfg),
            partition="aws",
            account_id=pulumi.Output.from_input(ACCOUNT),
        )
        cluster = FakeCluster(ctx)
        monitoring = KubernetesMonitoring(
            "k8s-monitoring",
            KubernetesMonitoringArgs(
                context=ctx,
                cluster=cluster,
                topic_arn=TOPIC,
                kms_key_arn=KEY,
                services=services,
            ),
        )
        requests.extend(cluster.requests)
        built.append(monitoring)

    _sync_await(run_pulumi_func(program))
    outputs = {
        key: _sync_await(getattr(built[0], key).future())
        for key in ("namespace_name", "release_name")
    }
    return Run(sorted(monitor.registrations, key=lambda r: r.urn), requests, cfg, outputs)


@pytest.fixture(scope="module")
def run() -> Run:
    return plan()


# ---- deep_merge --------------------------------------------------------------------------------
def test_deep_merge_merges_mappings_and_lets_the_override_win_everywhere_else() -> None:
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": "x"}}, "f": True, "g": {"h": 1}}
    override = {"a": {"b": 2, "c": [3], "d": {"z": 0}}, "f": {"now": "a map"}, "g": None, "n": 1}
    before = copy.deepcopy((base, override))
    assert deep_merge(base, override) == {
        "a": {"b": 2, "c": [3], "d": {"e": "x", "z": 0}},
        "f": {"now": "a map"},
        "g": None,
        "n": 1,
    }
    assert (base, override) == before  # neither argument is modified
    assert deep_merge(base, {}) == base
    assert deep_merge({}, override) == override
    assert deep_merge({"k": {"x": 1}}, {"k": "scalar"}) == {"k": "scalar"}


# ---- the release -------------------------------------------------------------------------------
def test_the_release_installs_the_pinned_chart_from_its_oci_registry(run: Run) -> None:
    release = run.one(RELEASE_T)
    inputs = {k: v for k, v in release.inputs.items() if k != "values"}
    assert inputs == {
        "name": "prometheus-stack",
        "chart": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
        "version": CHART_VERSION,
        "namespace": "monitoring",
        "allowNullValues": True,
        "atomic": True,
        "cleanupOnFail": True,
        "timeout": 900,
        "maxHistory": 10,
        "compat": "true",  # set by the SDK itself
    }
    assert inputs["chart"] == CHART
    assert release.provider == run.urn("pulumi:providers:kubernetes")
    assert release.parent == run.urn("mlops:kubernetes:Monitoring")
    assert run.urn(NAMESPACE_T) in release.dependencies


def test_the_release_values_are_the_platform_s_with_config_merged_over_them(run: Run) -> None:
    values = run.one(RELEASE_T).inputs["values"]
    expected = deep_merge(platform_values(run.config, TOPIC), OVERRIDE)
    assert values == json.loads(json.dumps(expected))
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"  # config wins over the platform's 15d
    assert spec["externalLabels"] == {"env": "dev"}
    assert spec["retentionSize"] == "10GB"  # the platform's keys beside config's stay
    assert values["grafana"]["sidecar"]["dashboards"] == {
        "enabled": True,
        "label": "grafana_dashboard",
        "labelValue": "1",
        "folder": "/tmp/dashboards",
    }
    assert values["fullnameOverride"] == "prometheus-stack"
    assert values["nodeExporter"] == {"enabled": False}
    for key in (
        "serviceMonitorSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
        "ruleSelectorNilUsesHelmValues",
        "probeSelectorNilUsesHelmValues",
    ):
        assert spec[key] is False
    assert spec["serviceMonitorNamespaceSelector"] == {}
    assert spec["ruleNamespaceSelector"] == {}
    assert values["defaultRules"]["disabled"] == {"Watchdog": True, "InfoInhibitor": True}


def test_no_grafana_password_is_set_and_the_chart_default_is_removed(run: Run) -> None:
    grafana = run.one(RELEASE_T).inputs["values"]["grafana"]
    # null on the wire (allowNullValues): Helm deletes the chart's `prom-operator` default and
    # the Grafana chart generates a random password into its Secret.
    assert "adminPassword" in grafana
    assert grafana["adminPassword"] is None
    assert "admin" not in grafana
    text = json.dumps(run.one(RELEASE_T).inputs).lower()
    assert "prom-operator" not in text
    assert "password" not in text.replace('"adminpassword": null', "")


def test_the_charts_pods_are_hardened(run: Run) -> None:
    values = run.one(RELEASE_T).inputs["values"]
    hardened = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["prometheusOperator"]["containerSecurityContext"] == hardened
    assert values["kube-state-metrics"]["containerSecurityContext"] == hardened
    assert values["grafana"]["containerSecurityContext"] == {
        **hardened,
        "readOnlyRootFilesystem": False,
    }
    pods = [
        values["prometheusOperator"]["securityContext"],
        values["prometheus"]["prometheusSpec"]["securityContext"],
        values["alertmanager"]["alertmanagerSpec"]["securityContext"],
        values["grafana"]["securityContext"],
        values["kube-state-metrics"]["securityContext"],
    ]
    for pod in pods:
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] >= 472
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for section in (
        values["prometheusOperator"],
        values["prometheus"]["prometheusSpec"],
        values["alertmanager"]["alertmanagerSpec"],
        values["grafana"],
        values["kube-state-metrics"],
    ):
        assert set(section["resources"]) == {"requests", "limits"}
        assert set(section["resources"]["limits"]) == {"cpu", "memory"}


def test_alertmanager_sends_everything_to_the_platform_topic_over_sns(run: Run) -> None:
    alertmanager = run.one(RELEASE_T).inputs["values"]["alertmanager"]
    assert alertmanager["serviceAccount"] == {"create": True, "name": "alertmanager"}
    config = alertmanager["config"]
    assert config == alertmanager_config(TOPIC, REGION)
    assert config["route"] == {
        "receiver": "platform-sns",
        "group_by": ["alertname", "namespace", "service"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [],
    }
    (receiver,) = config["receivers"]
    assert receiver["name"] == "platform-sns"
    assert set(receiver) == {"name", "sns_configs"}
    (sns,) = receiver["sns_configs"]
    assert sns["topic_arn"] == TOPIC
    assert sns["sigv4"] == {"region": REGION}
    assert sns["send_resolved"] is True
    for field in ("alertname", "severity", "service"):
        assert f".CommonLabels.{field}" in sns["subject"]
        assert f".Labels.{field}" in sns["message"]
    assert ".Annotations.summary" in sns["message"]
    # Every receiver a route or an inhibition could name exists.
    assert {r["name"] for r in config["receivers"]} == {config["route"]["receiver"]}


def test_the_outputs_name_the_namespace_and_the_release(run: Run) -> None:
    assert run.outputs == {"namespace_name": "monitoring", "release_name": "prometheus-stack"}


def test_the_policy_pack_finds_nothing_to_fault(run: Run) -> None:
    assert evaluate(run.registrations).violations == []


# ---- namespace ---------------------------------------------------------------------------------
def test_the_namespace_is_restricted_without_node_exporter(run: Run) -> None:
    namespace = run.one(NAMESPACE_T)
    assert namespace.inputs["metadata"] == {
        "name": "monitoring",
        "labels": {
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/managed-by": "pulumi",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "v1.34",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        },
    }
    assert namespace.provider == run.urn("pulumi:providers:kubernetes")


def test_node_exporter_turned_on_in_config_makes_the_namespace_privileged() -> None:
    on = plan([CHURN], prometheusStackValues={"nodeExporter": {"enabled": True}})
    labels = on.one(NAMESPACE_T).inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert on.one(RELEASE_T).inputs["values"]["nodeExporter"] == {"enabled": True}


def test_a_custom_monitoring_namespace_is_used_everywhere() -> None:
    custom = plan([CHURN], monitoringNamespace="observability")
    assert custom.one(NAMESPACE_T).inputs["metadata"]["name"] == "observability"
    assert custom.one(RELEASE_T).inputs["namespace"] == "observability"
    assert custom.one(CONFIG_MAP_T).inputs["metadata"]["namespace"] == "observability"
    assert custom.one(ASSOCIATION_T).inputs["namespace"] == "observability"


# ---- Alertmanager's role -----------------------------------------------------------------------
def test_alertmanager_may_publish_to_the_topic_and_use_the_key_through_sns_only(run: Run) -> None:
    assert run.cluster_requests == [
        RoleRequest(
            namespace="monitoring",
            service_account="alertmanager",
            role_name="mlops-platform-dev-k8s-monitoring-alertmanager",
            description="Alertmanager publishes alerts to the platform topic",
        )
    ]
    policy = json.loads(run.one(ROLE_POLICY_T).inputs["policy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublishAlerts",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": [TOPIC],
            },
            {
                "Sid": "UsePlatformKeyForAlerts",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [KEY],
                "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
            },
        ],
    }
    association = run.one(ASSOCIATION_T).inputs
    assert (association["namespace"], association["serviceAccount"]) == (
        "monitoring",
        "alertmanager",
    )
    assert association["roleArn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/mlops-platform-dev-k8s-monitoring-alertmanager"
    )
    assert run.one(ROLE_T).parent == run.urn("mlops:kubernetes:Monitoring")


# ---- per service -------------------------------------------------------------------------------
def test_each_service_is_scraped_by_a_service_monitor_on_its_metrics_service(run: Run) -> None:
    monitor = run.one(MONITOR_T, "k8s-monitoring-churn-service-monitor")
    assert monitor.inputs == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": "churn",
            "namespace": "mlops-dev",
            "labels": {
                "app.kubernetes.io/part-of": "mlops-platform",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "churn",
                    "mlops.platform/metrics": "true",
                }
            },
            "namespaceSelector": {"matchNames": ["mlops-dev"]},
            "podTargetLabels": ["mlops.platform/variant"],
            "endpoints": [
                {"port": "metrics", "path": "/metrics", "interval": "30s", "scheme": "http"}
            ],
        },
    }
    assert len(run.by_type(MONITOR_T)) == 2


def test_the_custom_resources_wait_for_the_chart_and_use_the_cluster_provider(run: Run) -> None:
    provider = run.urn("pulumi:providers:kubernetes")
    release = run.urn(RELEASE_T)
    for resource in run.by_type(MONITOR_T) + run.by_type(RULE_T):
        assert release in resource.dependencies, resource.name
    kubernetes = [r for r in run.registrations if r.type.startswith("kubernetes:")]
    assert len(kubernetes) == 1 + 1 + 3 * len(SERVICES)
    for resource in kubernetes:
        assert resource.provider == provider, resource.name
        assert resource.parent == run.urn("mlops:kubernetes:Monitoring"), resource.name
        if resource.type == RELEASE_T:
            assert resource.inputs["name"]
            assert resource.inputs["namespace"]
        elif resource.type != NAMESPACE_T:
            assert resource.inputs["metadata"]["name"], resource.name
            assert resource.inputs["metadata"]["namespace"], resource.name


CHURN_ERROR = (
    "100 * sum by (namespace, mlops_platform_variant) (rate(mlops_inference_requests_total"
    '{namespace="mlops-dev",service="churn-metrics",code=~"5.."}[5m])) '
    "/ sum by (namespace, mlops_platform_variant) (rate(mlops_inference_requests_total"
    '{namespace="mlops-dev",service="churn-metrics"}[5m]))'
)
CHURN_P99 = (
    "histogram_quantile(0.99, sum by (namespace, mlops_platform_variant, le) "
    "(rate(mlops_inference_request_duration_seconds_bucket"
    '{namespace="mlops-dev",service="churn-metrics"}[5m]))) * 1000'
)
CHURN_PODS = "(churn-blue|churn-green)-[a-z0-9]+-[a-z0-9]+"
CHURN_CPU = (
    "100 * sum by (namespace, deployment) (label_replace(rate(container_cpu_usage_seconds_total"
    f'{{namespace="mlops-dev",container="model",pod=~"{CHURN_PODS}"}}[5m]), '
    f'"deployment", "$1", "pod", "{CHURN_PODS}")) '
    "/ sum by (namespace, deployment) (label_replace(kube_pod_container_resource_requests"
    f'{{namespace="mlops-dev",container="model",pod=~"{CHURN_PODS}",resource="cpu"}}, '
    f'"deployment", "$1", "pod", "{CHURN_PODS}"))'
)
CHURN_AT_MAX = (
    'kube_horizontalpodautoscaler_status_current_replicas{namespace="mlops-dev",'
    'horizontalpodautoscaler="churn-blue"} >= on (namespace, horizontalpodautoscaler) '
    'kube_horizontalpodautoscaler_spec_max_replicas{namespace="mlops-dev",'
    'horizontalpodautoscaler="churn-blue"}'
)


def test_each_service_has_its_alerts_with_its_thresholds(run: Run) -> None:
    rule = run.one(RULE_T, "k8s-monitoring-churn-rules")
    assert rule.inputs["metadata"]["name"] == "churn"
    assert rule.inputs["metadata"]["namespace"] == "mlops-dev"
    (group,) = rule.inputs["spec"]["groups"]
    assert group["name"] == "mlops-churn"
    by_name = {r["alert"]: r for r in group["rules"]}
    assert {name: r["expr"] for name, r in by_name.items()} == {
        "MlopsServiceErrorRate": f"{CHURN_ERROR} > 2",
        "MlopsServiceLatencyP99": f"{CHURN_P99} > 500",
        "MlopsServiceCpuSaturation": f"{CHURN_CPU} > 90",
        "MlopsServiceAtMaxReplicas": CHURN_AT_MAX,
    }
    assert {name: r["labels"] for name, r in by_name.items()} == {
        "MlopsServiceErrorRate": {"severity": "critical", "service": "churn"},
        "MlopsServiceLatencyP99": {"severity": "warning", "service": "churn"},
        "MlopsServiceCpuSaturation": {"severity": "warning", "service": "churn"},
        "MlopsServiceAtMaxReplicas": {"severity": "warning", "service": "churn"},
    }
    assert {r["for"] for r in group["rules"]} == {"5m"}
    assert "2%" in by_name["MlopsServiceErrorRate"]["annotations"]["summary"]
    assert "2%" in by_name["MlopsServiceErrorRate"]["annotations"]["description"]
    assert "500 ms" in by_name["MlopsServiceLatencyP99"]["annotations"]["summary"]
    assert "90%" in by_name["MlopsServiceCpuSaturation"]["annotations"]["summary"]
    assert "churn-blue" in by_name["MlopsServiceAtMaxReplicas"]["annotations"]["summary"]
    for r in group["rules"]:
        assert set(r["annotations"]) == {"summary", "description"}


def test_another_service_s_objectives_set_its_thresholds(run: Run) -> None:
    rule = run.one(RULE_T, "k8s-monitoring-fraud-rules")
    rules = {r["alert"]: r for r in rule.inputs["spec"]["groups"][0]["rules"]}
    assert rules["MlopsServiceErrorRate"]["expr"].endswith(" > 1.5")
    assert rules["MlopsServiceLatencyP99"]["expr"].endswith(" > 250")
    assert rules["MlopsServiceCpuSaturation"]["expr"].endswith(" > 80")
    assert (
        '"(fraud-blue|fraud-canary|fraud-shadow)-[a-z0-9]+-[a-z0-9]+"'
        in (rules["MlopsServiceCpuSaturation"]["expr"])
    )
    assert {r["for"] for r in rules.values()} == {"10m"}
    assert "1.5%" in rules["MlopsServiceErrorRate"]["annotations"]["summary"]


# ---- dashboard ---------------------------------------------------------------------------------
def test_each_dashboard_is_a_labelled_config_map_in_the_monitoring_namespace(run: Run) -> None:
    config_map = run.one(CONFIG_MAP_T, "k8s-monitoring-churn-dashboard")
    assert config_map.inputs["metadata"] == {
        "name": "dashboard-churn",
        "namespace": "monitoring",
        "labels": {
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/managed-by": "pulumi",
            "grafana_dashboard": "1",
        },
    }
    (text,) = config_map.inputs["data"].values()
    assert json.loads(text) == dashboard(CHURN)
    assert list(config_map.inputs["data"]) == ["churn.json"]
    assert run.urn(NAMESPACE_T) in config_map.dependencies


def test_the_dashboard_has_every_panel_with_its_queries() -> None:
    board = dashboard(CHURN)
    assert board["uid"] == dashboard_uid(CHURN)
    assert board["title"] == "MLOps service churn (mlops-dev)"
    queries = {p["title"]: [t["expr"] for t in p["targets"]] for p in board["panels"]}
    selector = '{namespace="mlops-dev",service="churn-metrics"}'
    bucket = f"rate(mlops_inference_request_duration_seconds_bucket{selector}[5m])"
    requests = '{namespace="mlops-dev",container="model",pod=~"' + CHURN_PODS + '"'
    by_pod = f', "deployment", "$1", "pod", "{CHURN_PODS}"))'
    deployments = '{namespace="mlops-dev",deployment=~"churn-blue|churn-green"}'
    assert queries == {
        "Requests per second by status code": [
            f"sum by (code) (rate(mlops_inference_requests_total{selector}[5m]))"
        ],
        "Latency p50 / p90 / p99 (ms)": [
            f"histogram_quantile({q}, sum by (namespace, mlops_platform_variant, le) "
            f"({bucket})) * 1000"
            for q in ("0.5", "0.9", "0.99")
        ],
        "Errors (% of requests answered 5xx)": [CHURN_ERROR],
        "CPU vs requests (cores)": [
            "sum by (namespace, deployment) (label_replace(rate(container_cpu_usage_seconds_total"
            f"{requests}}}[5m]){by_pod}",
            "sum by (namespace, deployment) (label_replace(kube_pod_container_resource_requests"
            f'{requests},resource="cpu"}}{by_pod}',
        ],
        "Memory vs requests (bytes)": [
            "sum by (namespace, deployment) (label_replace(container_memory_working_set_bytes"
            f"{requests}}}{by_pod}",
            "sum by (namespace, deployment) (label_replace(kube_pod_container_resource_requests"
            f'{requests},resource="memory"}}{by_pod}',
        ],
        "Requests in flight": [
            f"sum by (mlops_platform_variant) (mlops_inference_in_flight{selector})"
        ],
        "Replicas: available, desired, autoscaler current and maximum": [
            f"sum by (deployment) (kube_deployment_status_replicas_available{deployments})",
            f"sum by (deployment) (kube_deployment_spec_replicas{deployments})",
            'kube_horizontalpodautoscaler_status_current_replicas{namespace="mlops-dev",'
            'horizontalpodautoscaler="churn-blue"}',
            'kube_horizontalpodautoscaler_spec_max_replicas{namespace="mlops-dev",'
            'horizontalpodautoscaler="churn-blue"}',
        ],
        "Capture outcomes per second": [
            f"sum by (outcome) (rate(mlops_capture_records_total{selector}[5m]))"
        ],
    }
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert [t["refId"] for t in panel["targets"]] == [
            "ABCD"[i] for i in range(len(panel["targets"]))
        ]
        assert panel["gridPos"]["w"] == 12
    positions = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]}
    assert len(positions) == len(board["panels"])  # no two panels overlap
    assert json.loads(json.dumps(board)) == board


def test_dashboard_uids_are_stable_short_and_distinct() -> None:
    assert dashboard_uid(CHURN) == dashboard_uid(copy.deepcopy(CHURN))
    long = MonitoredService(
        name="a" * 40,
        namespace="mlops-dev",
        metrics_service="m",
        selector={},
        metrics_port="metrics",
        deployments=["a-blue"],
        hpa="a-blue",
        objectives=ServiceObjectives(),
    )
    other_namespace = MonitoredService(**{**long.__dict__, "namespace": "mlops-prod"})
    uids = {dashboard_uid(s) for s in (CHURN, FRAUD, long, other_namespace)}
    assert len(uids) == 4
    for uid in uids:
        assert len(uid) <= 40
        assert re.fullmatch(r"[a-z0-9-]+", uid)


# ---- refusals ----------------------------------------------------------------------------------
def test_a_deployment_name_a_regular_expression_would_misread_is_refused() -> None:
    bad = MonitoredService(**{**CHURN.__dict__, "deployments": ["churn.blue"]})
    with pytest.raises(ValueError, match=r"'churn.blue' is not a Kubernetes object name"):
        plan([bad])


def test_an_unpinned_chart_is_refused_before_anything_is_registered() -> None:
    values, cfg = dev_config()
    unpinned = cfg.model_copy(
        update={
            "kubernetes": cfg.kubernetes.model_copy(update={"prometheus_stack_chart_version": None})
        }
    )
    with pytest.raises(ValueError, match=r"needs kubernetes\.prometheusStackChartVersion"):
        KubernetesMonitoring(
            "k8s-monitoring",
            KubernetesMonitoringArgs(
                context=PlatformContext(
                    config=unpinned,
                    naming=Naming(PROJECT, "dev"),
                    provider=None,  # type: ignore[arg-type]  # never reached
                    partition="aws",
                    account_id=None,  # type: ignore[arg-type]
                ),
                cluster=None,  # type: ignore[arg-type]
                topic_arn=TOPIC,
                kms_key_arn=KEY,
                services=[],
            ),
        )
    assert values  # the config itself was valid


# ---- PromQL: every expression parses -----------------------------------------------------------
def every_expression() -> Iterator[tuple[str, str]]:
    for service in SERVICES:
        for rule in alert_rules(service):
            yield f"{service.name} alert {rule['alert']}", rule["expr"]
        for title, queries in dashboard_queries(service).items():
            for expr, _ in queries:
                yield f"{service.name} panel {title}", expr


@pytest.mark.parametrize(("where", "expr"), list(every_expression()))
def test_every_promql_expression_parses(where: str, expr: str) -> None:
    parsed = promql_parser.parse(expr)
    # The parser's own rendering parses to the same tree: nothing was dropped on the way.
    assert str(promql_parser.parse(str(parsed))) == str(parsed), where


def test_the_alert_expressions_are_comparisons_and_the_panels_are_not() -> None:
    for rule in alert_rules(CHURN):
        parsed = promql_parser.parse(rule["expr"])
        assert isinstance(parsed, promql_parser.BinaryExpr)
        assert str(parsed.op) in {">", ">="}
    for _, queries in dashboard_queries(CHURN).items():
        for expr, _ in queries:
            parsed = promql_parser.parse(expr)
            op = str(parsed.op) if isinstance(parsed, promql_parser.BinaryExpr) else ""
            assert op not in {">", ">=", "<", "<=", "==", "!="}, expr


# ---- PromQL: the alerts evaluated on synthetic series ------------------------------------------
Labels = dict[str, str]
Sample = tuple[Labels, float]
NOW = 10_000.0
LOOKBACK = 300.0
STEP = 30.0


@dataclass
class Series:
    labels: Labels
    samples: list[tuple[float, float]]


def counter(rate: float, **labels: str) -> Series:
    """A counter growing at `rate` per second, scraped every 30 s up to now."""
    times = [NOW - STEP * i for i in range(20, -1, -1)]
    return Series(labels, [(t, rate * t) for t in times])


def gauge(value: float, **labels: str) -> Series:
    return Series(labels, [(NOW - STEP, value), (NOW, value)])


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else float("nan"),
}
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Evaluator:
    """Instant queries at NOW over `series`, for the subset of PromQL the alerts use."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series

    def query(self, expr: str) -> list[Sample]:
        result = self.eval(promql_parser.parse(expr))
        assert isinstance(result, list)
        return sorted(result, key=lambda s: sorted(s[0].items()))

    def eval(self, node: Any) -> Any:
        kind = type(node).__name__
        handler = getattr(self, f"_{kind}", None)
        assert handler is not None, f"the test evaluator has no {kind}"
        return handler(node)

    def _NumberLiteral(self, node: Any) -> float:  # noqa: N802 - named after the node type
        return float(node.val)

    def _StringLiteral(self, node: Any) -> str:  # noqa: N802
        return str(node.val)

    def _ParenExpr(self, node: Any) -> Any:  # noqa: N802
        return self.eval(node.expr)

    def _selected(self, selector: Any) -> list[Series]:
        chosen = []
        for series in self.series:
            labels = series.labels
            if selector.name and labels.get("__name__") != selector.name:
                continue
            if all(self._matches(m, labels.get(m.name, "")) for m in selector.matchers.matchers):
                chosen.append(series)
        return chosen

    @staticmethod
    def _matches(matcher: Any, value: str) -> bool:
        op = str(matcher.op).rsplit(".", 1)[-1]
        regex = re.fullmatch(matcher.value, value) is not None
        return {
            "Equal": value == matcher.value,
            "NotEqual": value != matcher.value,
            "Re": regex,
            "NotRe": not regex,
        }[op]

    def _VectorSelector(self, node: Any) -> list[Sample]:  # noqa: N802
        out = []
        for series in self._selected(node):
            recent = [v for t, v in series.samples if NOW - LOOKBACK < t <= NOW]
            if recent:
                out.append((dict(series.labels), recent[-1]))
        return out

    def _MatrixSelector(self, node: Any) -> list[tuple[Labels, list[tuple[float, float]]]]:  # noqa: N802
        window = node.range.total_seconds()
        return [
            (dict(s.labels), [(t, v) for t, v in s.samples if NOW - window < t <= NOW])
            for s in self._selected(node.vector_selector)
        ]

    def _Call(self, node: Any) -> list[Sample]:  # noqa: N802
        args = [self.eval(a) for a in node.args]
        name = node.func.name
        if name == "rate":  # a counter without resets: the slope over the window
            out = []
            for labels, points in args[0]:
                if len(points) >= 2:
                    (t0, v0), (t1, v1) = points[0], points[-1]
                    out.append((drop_name(labels), (v1 - v0) / (t1 - t0)))
            return out
        if name == "label_replace":
            vector, target, replacement, source, pattern = args
            out = []
            for labels, value in vector:
                found = re.fullmatch(pattern, labels.get(source, ""))
                replaced = dict(labels)
                if found:
                    replaced[target] = found.expand(replacement.replace("$", "\\"))
                out.append((replaced, value))
            return out
        if name == "histogram_quantile":
            return histogram_quantile(args[0], args[1])
        raise AssertionError(f"the test evaluator has no function {name}")

    def _AggregateExpr(self, node: Any) -> list[Sample]:  # noqa: N802
        assert str(node.op) == "sum"
        assert str(node.modifier.type).endswith("By")
        keys = list(node.modifier.labels)
        groups: dict[tuple[str, ...], float] = {}
        for labels, value in self.eval(node.expr):
            key = tuple(labels.get(k, "") for k in keys)
            groups[key] = groups.get(key, 0.0) + value
        return [
            ({k: v for k, v in zip(keys, key, strict=True) if v}, s) for key, s in groups.items()
        ]

    def _BinaryExpr(self, node: Any) -> Any:  # noqa: N802
        op = str(node.op)
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        assert node.modifier is None or not node.modifier.return_bool
        if isinstance(lhs, float) and isinstance(rhs, float):
            return ARITHMETIC[op](lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            vector = rhs if isinstance(lhs, float) else lhs
            out = []
            for labels, value in vector:
                a, b = (lhs, value) if isinstance(lhs, float) else (value, rhs)
                if op in ARITHMETIC:
                    out.append((drop_name(labels), ARITHMETIC[op](a, b)))
                elif COMPARISON[op](a, b):
                    out.append((labels, value))
            return out
        on = None
        if node.modifier is not None and node.modifier.matching is not None:
            assert str(node.modifier.matching.type).endswith("Include")
            on = list(node.modifier.matching.labels)

        def key(labels: Labels) -> tuple[tuple[str, str], ...]:
            if on is not None:
                return tuple((k, labels.get(k, "")) for k in on)
            return tuple(sorted(drop_name(labels).items()))

        right: dict[tuple[tuple[str, str], ...], float] = {}
        for labels, value in rhs:
            assert key(labels) not in right, "many-to-one matching is not one-to-one"
            right[key(labels)] = value
        out = []
        for labels, value in lhs:
            if key(labels) not in right:
                continue
            result = drop_name(labels) if op in ARITHMETIC else dict(labels)
            if on is not None:  # one-to-one `on`: only the matching labels remain
                result = {k: v for k, v in result.items() if k in on}
            other = right[key(labels)]
            if op in ARITHMETIC:
                out.append((result, ARITHMETIC[op](value, other)))
            elif COMPARISON[op](value, other):
                out.append((result, value))
        return out


def drop_name(labels: Labels) -> Labels:
    return {k: v for k, v in labels.items() if k != "__name__"}


def histogram_quantile(q: float, buckets: list[Sample]) -> list[Sample]:
    """Prometheus's linear interpolation within the bucket holding the rank."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for labels, value in buckets:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        groups.setdefault(rest, []).append((float(labels["le"]), value))
    out = []
    for rest, points in groups.items():
        points.sort()
        assert points[-1][0] == float("inf")
        rank = q * points[-1][1]
        index = next(i for i, (_, count) in enumerate(points) if count >= rank)
        if index == len(points) - 1:
            value = points[-2][0]
        else:
            start, below = (0.0, 0.0) if index == 0 else points[index - 1]
            end, count = points[index]
            value = start + (end - start) * (rank - below) / (count - below)
        out.append((dict(rest), value))
    return out


def rule(service: MonitoredService, alert: str) -> str:
    return next(r["expr"] for r in alert_rules(service) if r["alert"] == alert)


SCRAPE = {"namespace": "mlops-dev", "service": "churn-metrics", "container": "sidecar"}


def requests(code: str, variant: str, rate: float, **labels: str) -> Series:
    return counter(
        rate,
        __name__="mlops_inference_requests_total",
        code=code,
        mlops_platform_variant=variant,
        pod=f"churn-{variant}-7d9f8b6c5d-x2x7q",
        **{**SCRAPE, **labels},
    )


def test_the_error_rate_alert_fires_for_the_variant_above_the_objective() -> None:
    series = [
        requests("200", "blue", 97.0),
        requests("500", "blue", 2.0),
        requests("503", "blue", 1.0),  # blue: 3% 5xx
        requests("200", "green", 99.0),
        requests("500", "green", 1.0),  # green: 1% 5xx
        requests("404", "green", 50.0),  # 4xx are not errors of the service: 1/150
        requests("500", "blue", 100.0, service="fraud-metrics"),  # another service
        requests("500", "blue", 100.0, namespace="mlops-prod"),  # another namespace
    ]
    fired = Evaluator(series).query(rule(CHURN, "MlopsServiceErrorRate"))
    assert [labels for labels, _ in fired] == [
        {"namespace": "mlops-dev", "mlops_platform_variant": "blue"}
    ]
    assert fired[0][1] == pytest.approx(3.0)
    percent = Evaluator(series).query(CHURN_ERROR)
    assert [round(v, 4) for _, v in percent] == [3.0, round(100 / 150, 4)]
    quiet = [requests("200", "blue", 10.0)]  # no 5xx at all: nothing fires
    assert Evaluator(quiet).query(rule(CHURN, "MlopsServiceErrorRate")) == []


def buckets(variant: str, cumulative: dict[str, float]) -> list[Series]:
    return [
        counter(
            rate,
            __name__="mlops_inference_request_duration_seconds_bucket",
            le=le,
            mlops_platform_variant=variant,
            pod=f"churn-{variant}-7d9f8b6c5d-{suffix}",
            **SCRAPE,
        )
        for le, per_pod in cumulative.items()
        for suffix, rate in (("aaaaa", per_pod / 2), ("bbbbb", per_pod / 2))
    ]


def test_the_latency_alert_fires_when_the_p99_exceeds_the_objective() -> None:
    # Per second, cumulative, over two pods each: blue's rank 99 of 100 falls in (0.5, 1]:
    # 0.5 + 0.5 * (99 - 95) / (100 - 95) = 0.9 s. Green's in (0, 0.1]: 0.1 * 99 / 99.5 s.
    series = [
        *buckets("blue", {"0.1": 50, "0.25": 90, "0.5": 95, "1": 100, "+Inf": 100}),
        *buckets("green", {"0.1": 99.5, "0.25": 100, "0.5": 100, "1": 100, "+Inf": 100}),
    ]
    fired = Evaluator(series).query(rule(CHURN, "MlopsServiceLatencyP99"))
    assert [labels for labels, _ in fired] == [
        {"namespace": "mlops-dev", "mlops_platform_variant": "blue"}
    ]
    assert fired[0][1] == pytest.approx(900.0)
    p99 = Evaluator(series).query(CHURN_P99)
    assert [v for _, v in p99] == pytest.approx([900.0, 100 * 99 / 99.5])
    slow_tail = buckets("blue", {"0.1": 98, "0.25": 98, "0.5": 98, "1": 98, "+Inf": 100})
    # Rank 99 is past every finite bucket: the highest finite bound, 1 s.
    assert Evaluator(slow_tail).query(CHURN_P99)[0][1] == pytest.approx(1000.0)


def cpu(pod: str, cores: float, requested: float, container: str = "model") -> list[Series]:
    where = {"namespace": "mlops-dev", "pod": pod, "container": container}
    return [
        counter(cores, __name__="container_cpu_usage_seconds_total", **where),
        gauge(requested, __name__="kube_pod_container_resource_requests", resource="cpu", **where),
        gauge(2**30, __name__="kube_pod_container_resource_requests", resource="memory", **where),
    ]


def test_the_cpu_alert_fires_for_the_deployment_using_most_of_its_requests() -> None:
    series = [
        *cpu("churn-blue-7d9f8b6c5d-x2x7q", 0.5, 0.5),
        *cpu("churn-blue-7d9f8b6c5d-k8p2m", 0.45, 0.5),  # blue: 0.95 of 1 core, 95%
        *cpu("churn-blue-7d9f8b6c5d-k8p2m", 0.5, 0.05, container="sidecar"),  # not the model
        *cpu("churn-green-5c4b7f9d8e-q9w8e", 0.2, 0.5),  # green: 40%
        *cpu("churn-blue-canary-5c4b7f9d8e-q9w8e", 1.0, 0.5),  # another deployment's pod
    ]
    fired = Evaluator(series).query(rule(CHURN, "MlopsServiceCpuSaturation"))
    assert [labels for labels, _ in fired] == [
        {"namespace": "mlops-dev", "deployment": "churn-blue"}
    ]
    assert fired[0][1] == pytest.approx(95.0)
    percent = Evaluator(series).query(CHURN_CPU)
    assert [v for _, v in percent] == pytest.approx([95.0, 40.0])


def hpa(current: float, maximum: float) -> list[Series]:
    where = {
        "namespace": "mlops-dev",
        "horizontalpodautoscaler": "churn-blue",
        "job": "kube-state-metrics",
    }
    return [
        gauge(current, __name__="kube_horizontalpodautoscaler_status_current_replicas", **where),
        gauge(maximum, __name__="kube_horizontalpodautoscaler_spec_max_replicas", **where),
    ]


def test_the_replicas_alert_fires_only_at_the_autoscaler_maximum() -> None:
    expr = rule(CHURN, "MlopsServiceAtMaxReplicas")
    assert Evaluator(hpa(4, 4)).query(expr) == [
        ({"namespace": "mlops-dev", "horizontalpodautoscaler": "churn-blue"}, 4.0)
    ]
    assert Evaluator(hpa(3, 4)).query(expr) == []
