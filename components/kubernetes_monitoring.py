"""Monitoring on Kubernetes (issue 9): Prometheus, Alertmanager and Grafana for the model
services, their scrape targets, alerts and dashboards, all as code.

`KubernetesMonitoring` (`mlops:kubernetes:Monitoring`):

- **The monitoring namespace** (`kubernetes.monitoringNamespace`), Pod Security `restricted`:
  the chart's node-exporter, the one part needing the host (host network, PID and paths), is off
  by default, since saturation only needs cAdvisor (scraped from the kubelet) and
  kube-state-metrics. Turning it on in `kubernetes.prometheusStackValues` labels the namespace
  `privileged` instead, or its DaemonSet would be refused.
- **kube-prometheus-stack** as a Helm release from the chart's OCI registry at the pinned
  `kubernetes.prometheusStackChartVersion`, values = `platform_values()` deep-merged with
  `kubernetes.prometheusStackValues` (config wins).
- **Alertmanager** sends to ONE receiver, the platform SNS topic, natively (`sns_configs`,
  SigV4); its service account gets an IAM role through EKS Pod Identity allowing exactly
  `sns:Publish` on the topic and the platform key through SNS only.
- **Per model service** (`MonitoredService`, from components/kubernetes_inference.py): a
  ServiceMonitor on its metrics Service, a PrometheusRule (error rate, p99 latency, CPU
  saturation, replicas at the autoscaler's maximum) and a Grafana dashboard in a ConfigMap the
  dashboards sidecar loads.

The metric names are the serving sidecar's (images/serving_sidecar), cAdvisor's and
kube-state-metrics'; every expression here is built by a pure function, so the tests parse
each one and evaluate the alerts on synthetic series.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.config import PlatformConfig, ServiceObjectives
from components.naming import NameKind
from components.platform import PlatformComponent, PlatformContext

CHART = "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack"
"""The chart from its OCI registry (the prometheus-community Helm repository mirrors it)."""
RELEASE = "prometheus-stack"
"""Helm release name, and the chart's `fullnameOverride`: object names do not depend on the
Pulumi resource name."""
RELEASE_TIMEOUT_SECONDS = 900
"""The CRDs, the operator's admission webhook job and every pod turning ready take minutes."""
ALERTMANAGER_SERVICE_ACCOUNT = "alertmanager"
"""Named explicitly: the Pod Identity association names it."""
RECEIVER = "platform-sns"
DASHBOARD_LABEL = "grafana_dashboard"
"""The label the Grafana dashboards sidecar watches ConfigMaps for (value `"1"`)."""
DATASOURCE_UID = "prometheus"
"""The uid of the Prometheus data source the chart provisions (pinned in the values)."""
RATE_WINDOW = "5m"
"""Window of every rate: at least four 30 s scrapes, as `rate` needs two samples."""
SCRAPE_INTERVAL = "30s"
METRICS_PATH = "/metrics"
MODEL_CONTAINER = "model"
"""The model server's container: the one whose CPU and memory saturate."""
MAX_DASHBOARD_UID = 40
"""Grafana's limit on a dashboard uid."""
DIGEST_LENGTH = 8
PART_OF = {"app.kubernetes.io/part-of": "mlops-platform", "app.kubernetes.io/managed-by": "pulumi"}

REQUESTS = "mlops_inference_requests_total"
DURATION_BUCKET = "mlops_inference_request_duration_seconds_bucket"
IN_FLIGHT = "mlops_inference_in_flight"
CAPTURE = "mlops_capture_records_total"
CPU_USAGE = "container_cpu_usage_seconds_total"
MEMORY_USAGE = "container_memory_working_set_bytes"
RESOURCE_REQUESTS = "kube_pod_container_resource_requests"
REPLICAS_AVAILABLE = "kube_deployment_status_replicas_available"
REPLICAS_DESIRED = "kube_deployment_spec_replicas"
HPA_CURRENT = "kube_horizontalpodautoscaler_status_current_replicas"
HPA_MAX = "kube_horizontalpodautoscaler_spec_max_replicas"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""Kubernetes object names as they appear in the regular expressions below: with no character
a regular expression would read specially."""


class ClusterAccess(Protocol):
    """What monitoring needs of `components.kubernetes_cluster.KubernetesCluster`."""

    provider: k8s.Provider
    """The stack's one Kubernetes provider: every Kubernetes resource here uses it."""
    cluster_name: pulumi.Output[str]

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
        """An IAM role for exactly one service account (EKS Pod Identity)."""
        ...


@dataclass(frozen=True)
class MonitoredService:
    """One inference service as monitoring sees it."""

    name: str
    """Service name from config, e.g. `churn`."""
    namespace: str
    """Its namespace."""
    metrics_service: str
    """Name of the Service exposing every pod's metrics port."""
    selector: dict[str, str]
    """Labels of that metrics Service (the ServiceMonitor's `matchLabels`)."""
    metrics_port: str
    """Port name on that Service, `metrics`."""
    deployments: list[str]
    """Deployment names (blue/green/canary/shadow): the replicas panels and the CPU alert."""
    hpa: str
    """The HorizontalPodAutoscaler's name."""
    objectives: ServiceObjectives
    """Alert thresholds."""
    variant_label: str = "mlops.platform/variant"
    """Pod label holding blue|green|canary|shadow, copied to the metrics (`podTargetLabels`)."""


@dataclass(frozen=True)
class KubernetesMonitoringArgs:
    """Inputs of `KubernetesMonitoring`."""

    context: PlatformContext
    """The platform context; `config.kubernetes` holds the chart version, values, namespace."""
    cluster: ClusterAccess
    """The cluster (`KubernetesCluster`): its provider, and Pod Identity roles."""
    topic_arn: pulumi.Input[str]
    """The platform SNS topic Alertmanager publishes to (KMS-encrypted with `kms_key_arn`)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key encrypting the topic."""
    services: list[MonitoredService]
    """The model services to scrape, alert on and chart."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What the per-service objects wait for besides the chart (the services' namespaces,
    created by the inference component); default nothing."""


# ---- values ------------------------------------------------------------------------------------
def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge key by key, anything else (lists, scalars, None)
    replaces. Helm merges values the same way, and a None reaches Helm as null, which deletes the
    chart's default at that key. Neither argument is modified."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def _hardened_container() -> dict[str, Any]:
    """A container's securityContext meeting Pod Security `restricted` (CKV_K8S_20/22/28/37)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _non_root_pod(uid: int, gid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def alertmanager_config(topic_arn: pulumi.Input[str], region: str) -> dict[str, Any]:
    """Alertmanager's configuration: every alert to the platform topic, grouped per alert,
    namespace and service, repeated every 4 hours while it fires, and its resolution too."""
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", "namespace", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            # Explicitly empty: Helm merges maps, so the chart's own sub-routes (to its `null`
            # receiver, which this config does not have) would otherwise survive and make the
            # configuration invalid.
            "routes": [],
        },
        "inhibit_rules": [
            {
                # A critical alert silences the warning of the same alert and service.
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": ["alertname", "namespace", "service"],
            }
        ],
        "receivers": [
            {
                "name": RECEIVER,
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        # No keys: SigV4 takes the default chain, i.e. the Pod Identity role.
                        "sigv4": {"region": region},
                        "subject": (
                            "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} "
                            "({{ .CommonLabels.severity }}) {{ .CommonLabels.service }}"
                        ),
                        "message": (
                            "{{ range .Alerts }}"
                            "[{{ .Status }}] {{ .Labels.alertname }} "
                            "severity={{ .Labels.severity }} service={{ .Labels.service }} "
                            "namespace={{ .Labels.namespace }}: {{ .Annotations.summary }}\n"
                            "{{ .Annotations.description }}\n"
                            "{{ end }}"
                        ),
                        "send_resolved": True,
                    }
                ],
            }
        ],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def platform_values(config: PlatformConfig, topic_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The platform's own values of kube-prometheus-stack (config's are merged over them)."""
    return {
        "fullnameOverride": RELEASE,
        # Off: it needs host network, PID and paths (a `privileged` namespace); the services'
        # saturation comes from cAdvisor (the kubelet) and kube-state-metrics.
        "nodeExporter": {"enabled": False},
        "defaultRules": {
            # Watchdog always fires (a dead man's switch for an external pager) and
            # InfoInhibitor only inhibits: with one receiver, both would page every 4 hours.
            "disabled": {"Watchdog": True, "InfoInhibitor": True},
        },
        "prometheusOperator": {
            "resources": _resources("100m", "128Mi", "500m", "256Mi"),
            "securityContext": _non_root_pod(65534, 65534),
            "containerSecurityContext": _hardened_container(),
        },
        "prometheus": {
            "prometheusSpec": {
                # Every ServiceMonitor and PrometheusRule of the cluster, not only those
                # labelled with this release: the services' own live in their namespaces.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "serviceMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "retention": "15d",
                # No volume by default (the cluster has no CSI storage class of the platform's
                # own): the node's disk holds the TSDB, so its size is capped well below it.
                # A `storageSpec` in config gives Prometheus a persistent volume.
                "retentionSize": "10GB",
                "scrapeInterval": SCRAPE_INTERVAL,
                "evaluationInterval": SCRAPE_INTERVAL,
                "resources": _resources("500m", "2Gi", "2", "4Gi"),
                "securityContext": _non_root_pod(1000, 2000),
            },
        },
        "alertmanager": {
            "serviceAccount": {"create": True, "name": ALERTMANAGER_SERVICE_ACCOUNT},
            "config": alertmanager_config(topic_arn, config.region),
            "alertmanagerSpec": {
                "retention": "120h",
                "resources": _resources("50m", "128Mi", "200m", "256Mi"),
                "securityContext": _non_root_pod(1000, 2000),
            },
        },
        "grafana": {
            "enabled": True,
            "fullnameOverride": "grafana",
            # The chart's default admin password is the public `prom-operator`: null removes
            # it, so the Grafana chart generates a random one into its Secret (kept across
            # upgrades, read with kubectl). No password in code, stack files or Pulumi state.
            "adminPassword": None,
            # Dashboards are code (ConfigMaps): nothing to persist, and no root init container.
            "persistence": {"enabled": False},
            "initChownData": {"enabled": False},
            "testFramework": {"enabled": False},
            "resources": _resources("100m", "256Mi", "500m", "512Mi"),
            "securityContext": _non_root_pod(472, 472),
            # Not read-only: Grafana writes to paths outside its data volume (plugins, temp).
            "containerSecurityContext": {
                **_hardened_container(),
                "readOnlyRootFilesystem": False,
            },
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                },
                "datasources": {"enabled": True, "uid": DATASOURCE_UID},
            },
        },
        "kube-state-metrics": {
            "fullnameOverride": "kube-state-metrics",
            "resources": _resources("50m", "128Mi", "200m", "256Mi"),
            "securityContext": {**_non_root_pod(65534, 65534), "enabled": True},
            "containerSecurityContext": _hardened_container(),
        },
    }


def node_exporter_enabled(values: Mapping[str, Any]) -> bool:
    """Whether the merged values turn the chart's node-exporter on."""
    section = values.get("nodeExporter")
    return bool(isinstance(section, Mapping) and section.get("enabled", True))


def pod_security_labels(values: Mapping[str, Any], cluster_version: str | None) -> dict[str, str]:
    """The monitoring namespace's Pod Security labels: `restricted`, unless node-exporter runs
    (host network, PID and paths: only `privileged` admits it)."""
    level = "privileged" if node_exporter_enabled(values) else "restricted"
    version = f"v{cluster_version}" if cluster_version else "latest"
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": version,
        # Warnings and audit always at `restricted`: what the chart runs beyond it shows.
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


def alertmanager_policy(topic_arn: str, kms_key_arn: str, region: str) -> str:
    """Alertmanager's role: publish to the platform topic, and the key through SNS only."""
    return iam.document(
        iam.allow("PublishAlerts", ["sns:Publish"], [topic_arn]),
        iam.allow(
            "UsePlatformKeyForAlerts",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        ),
    )


# ---- expressions -------------------------------------------------------------------------------
def prometheus_label(kubernetes_label: str) -> str:
    """A pod label as Prometheus names it (`podTargetLabels`): other characters than letters,
    digits and `_` become `_`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_label)


def _number(value: float) -> str:
    """A threshold as PromQL reads it: `2`, `1.5`."""
    return format(value, "g")


def _checked(names: Sequence[str]) -> list[str]:
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a Kubernetes object name (lower case, digits, -)")
    return list(names)


def scrape_selector(service: MonitoredService) -> str:
    """The service's own series: its namespace and metrics Service (labels the scrape adds)."""
    return f'namespace="{service.namespace}",service="{service.metrics_service}"'


def pod_pattern(service: MonitoredService) -> str:
    """The pods of the service's Deployments, `<deployment>-<replica set hash>-<suffix>`; the
    deployment is group 1. The two trailing dash-free parts keep `churn` from matching a pod of
    `churn-canary`."""
    return "(" + "|".join(_checked(service.deployments)) + ")-[a-z0-9]+-[a-z0-9]+"


def _by_deployment(expr: str, service: MonitoredService) -> str:
    """`expr` summed per Deployment (taken from the pod's name)."""
    pattern = pod_pattern(service)
    return (
        f'sum by (namespace, deployment) (label_replace({expr}, "deployment", "$1", "pod", '
        f'"{pattern}"))'
    )


def _container(metric: str, service: MonitoredService, extra: str = "") -> str:
    return (
        f'{metric}{{namespace="{service.namespace}",container="{MODEL_CONTAINER}",'
        f'pod=~"{pod_pattern(service)}"{extra}}}'
    )


def error_percent_expr(service: MonitoredService) -> str:
    """5xx answers in percent of all requests, per variant."""
    variant = prometheus_label(service.variant_label)
    selector = scrape_selector(service)
    by = f"sum by (namespace, {variant})"
    return (
        f'100 * {by} (rate({REQUESTS}{{{selector},code=~"5.."}}[{RATE_WINDOW}])) '
        f"/ {by} (rate({REQUESTS}{{{selector}}}[{RATE_WINDOW}]))"
    )


def latency_quantile_expr(service: MonitoredService, quantile: float) -> str:
    """A request latency quantile in milliseconds, per variant."""
    variant = prometheus_label(service.variant_label)
    return (
        f"histogram_quantile({_number(quantile)}, sum by (namespace, {variant}, le) "
        f"(rate({DURATION_BUCKET}{{{scrape_selector(service)}}}[{RATE_WINDOW}]))) * 1000"
    )


def cpu_percent_expr(service: MonitoredService) -> str:
    """The model containers' CPU use in percent of their requests, per Deployment."""
    usage = _by_deployment(f"rate({_container(CPU_USAGE, service)}[{RATE_WINDOW}])", service)
    requests = _by_deployment(_container(RESOURCE_REQUESTS, service, ',resource="cpu"'), service)
    return f"100 * {usage} / {requests}"


def _hpa(metric: str, service: MonitoredService) -> str:
    return (
        f'{metric}{{namespace="{service.namespace}",'
        f'horizontalpodautoscaler="{_checked([service.hpa])[0]}"}}'
    )


def error_rate_alert_expr(service: MonitoredService) -> str:
    return f"{error_percent_expr(service)} > {_number(service.objectives.max_error_percent)}"


def latency_alert_expr(service: MonitoredService) -> str:
    threshold = _number(service.objectives.latency_p99_ms)
    return f"{latency_quantile_expr(service, 0.99)} > {threshold}"


def cpu_alert_expr(service: MonitoredService) -> str:
    return f"{cpu_percent_expr(service)} > {_number(service.objectives.max_cpu_percent)}"


def replicas_at_max_alert_expr(service: MonitoredService) -> str:
    return (
        f"{_hpa(HPA_CURRENT, service)} >= on (namespace, horizontalpodautoscaler) "
        f"{_hpa(HPA_MAX, service)}"
    )


def alert_rules(service: MonitoredService) -> list[dict[str, Any]]:
    """The service's alerts; each holds for `for_minutes` before it fires."""
    goals = service.objectives
    variant = "{{ $labels." + prometheus_label(service.variant_label) + " }}"
    value = '{{ $value | printf "%.1f" }}'
    name = service.name
    rules = [
        (
            "MlopsServiceErrorRate",
            error_rate_alert_expr(service),
            "critical",
            f"{name} ({variant}): 5xx above {_number(goals.max_error_percent)}% of requests",
            f"{value}% of the requests to {name} {variant} were answered 5xx over "
            f"{RATE_WINDOW}; the objective is at most {_number(goals.max_error_percent)}%.",
        ),
        (
            "MlopsServiceLatencyP99",
            latency_alert_expr(service),
            "warning",
            f"{name} ({variant}): p99 latency above {goals.latency_p99_ms} ms",
            f"The p99 request latency of {name} {variant} is {value} ms over {RATE_WINDOW}; "
            f"the objective is at most {goals.latency_p99_ms} ms.",
        ),
        (
            "MlopsServiceCpuSaturation",
            cpu_alert_expr(service),
            "warning",
            f"{name} ({{{{ $labels.deployment }}}}): CPU above {goals.max_cpu_percent}% "
            "of requests",
            f"The model containers of {{{{ $labels.deployment }}}} use {value}% of their CPU "
            f"requests; the objective is at most {goals.max_cpu_percent}%.",
        ),
        (
            "MlopsServiceAtMaxReplicas",
            replicas_at_max_alert_expr(service),
            "warning",
            f"{name}: autoscaler {service.hpa} at its maximum replicas",
            f"{service.hpa} runs {value} replicas, its maximum: the service cannot scale out "
            "further under more load.",
        ),
    ]
    return [
        {
            "alert": alert,
            "expr": expr,
            "for": f"{goals.for_minutes}m",
            "labels": {"severity": severity, "service": name},
            "annotations": {"summary": summary, "description": description},
        }
        for alert, expr, severity, summary, description in rules
    ]


def prometheus_rule_spec(service: MonitoredService) -> dict[str, Any]:
    return {"groups": [{"name": f"mlops-{service.name}", "rules": alert_rules(service)}]}


def service_monitor_spec(service: MonitoredService) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": dict(service.selector)},
        "namespaceSelector": {"matchNames": [service.namespace]},
        "podTargetLabels": [service.variant_label],
        "endpoints": [
            {
                "port": service.metrics_port,
                "path": METRICS_PATH,
                "interval": SCRAPE_INTERVAL,
                "scheme": "http",
            }
        ],
    }


# ---- dashboard ---------------------------------------------------------------------------------
def dashboard_uid(service: MonitoredService) -> str:
    """Stable and unique per namespace and service, at most 40 characters."""
    digest = hashlib.sha256(f"{service.namespace}/{service.name}".encode()).hexdigest()
    head = f"mlops-{service.name}"[: MAX_DASHBOARD_UID - DIGEST_LENGTH - 1].rstrip("-")
    return f"{head}-{digest[:DIGEST_LENGTH]}"


def dashboard_queries(service: MonitoredService) -> dict[str, list[tuple[str, str]]]:
    """Panel title to its queries: (PromQL, legend)."""
    selector = scrape_selector(service)
    variant = prometheus_label(service.variant_label)
    deployments = "|".join(_checked(service.deployments))
    namespace = f'namespace="{service.namespace}"'
    by_deployment = f'{{{namespace},deployment=~"{deployments}"}}'
    cpu_requests = _container(RESOURCE_REQUESTS, service, ',resource="cpu"')
    memory_requests = _container(RESOURCE_REQUESTS, service, ',resource="memory"')
    return {
        "Requests per second by status code": [
            (
                f"sum by (code) (rate({REQUESTS}{{{selector}}}[{RATE_WINDOW}]))",
                "{{code}}",
            )
        ],
        "Latency p50 / p90 / p99 (ms)": [
            (latency_quantile_expr(service, q), f"p{round(q * 100)} {{{{{variant}}}}}")
            for q in (0.5, 0.9, 0.99)
        ],
        "Errors (% of requests answered 5xx)": [
            (error_percent_expr(service), f"{{{{{variant}}}}}")
        ],
        "CPU vs requests (cores)": [
            (
                _by_deployment(f"rate({_container(CPU_USAGE, service)}[{RATE_WINDOW}])", service),
                "used {{deployment}}",
            ),
            (_by_deployment(cpu_requests, service), "requested {{deployment}}"),
        ],
        "Memory vs requests (bytes)": [
            (_by_deployment(_container(MEMORY_USAGE, service), service), "used {{deployment}}"),
            (_by_deployment(memory_requests, service), "requested {{deployment}}"),
        ],
        "Requests in flight": [
            (f"sum by ({variant}) ({IN_FLIGHT}{{{selector}}})", f"{{{{{variant}}}}}")
        ],
        "Replicas: available, desired, autoscaler current and maximum": [
            (
                f"sum by (deployment) ({REPLICAS_AVAILABLE}{by_deployment})",
                "available {{deployment}}",
            ),
            (f"sum by (deployment) ({REPLICAS_DESIRED}{by_deployment})", "desired {{deployment}}"),
            (_hpa(HPA_CURRENT, service), "autoscaler current"),
            (_hpa(HPA_MAX, service), "autoscaler maximum"),
        ],
        "Capture outcomes per second": [
            (
                f"sum by (outcome) (rate({CAPTURE}{{{selector}}}[{RATE_WINDOW}]))",
                "{{outcome}}",
            )
        ],
    }


PANEL_UNITS = {
    "Requests per second by status code": "reqps",
    "Latency p50 / p90 / p99 (ms)": "ms",
    "Errors (% of requests answered 5xx)": "percent",
    "CPU vs requests (cores)": "short",
    "Memory vs requests (bytes)": "bytes",
    "Requests in flight": "short",
    "Replicas: available, desired, autoscaler current and maximum": "short",
    "Capture outcomes per second": "ops",
}
PANEL_WIDTH, PANEL_HEIGHT, PANEL_COLUMNS = 12, 8, 2
"""Grafana's grid is 24 units wide: two panels a row."""


def dashboard(service: MonitoredService) -> dict[str, Any]:
    """The service's Grafana dashboard (JSON model), provisioned by the dashboards sidecar."""
    datasource = {"type": "prometheus", "uid": DATASOURCE_UID}
    panels = []
    for index, (title, queries) in enumerate(dashboard_queries(service).items()):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": datasource,
                "gridPos": {
                    "x": (index % PANEL_COLUMNS) * PANEL_WIDTH,
                    "y": (index // PANEL_COLUMNS) * PANEL_HEIGHT,
                    "w": PANEL_WIDTH,
                    "h": PANEL_HEIGHT,
                },
                "fieldConfig": {"defaults": {"unit": PANEL_UNITS[title]}, "overrides": []},
                "targets": [
                    {
                        "refId": chr(ord("A") + position),
                        "datasource": datasource,
                        "expr": expr,
                        "legendFormat": legend,
                    }
                    for position, (expr, legend) in enumerate(queries)
                ],
            }
        )
    return {
        "uid": dashboard_uid(service),
        "title": f"MLOps service {service.name} ({service.namespace})",
        "tags": ["mlops", "kubernetes", "inference"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


# ---- component ---------------------------------------------------------------------------------
class KubernetesMonitoring(PlatformComponent):
    """kube-prometheus-stack, and each model service's scrape target, alerts and dashboard."""

    namespace_name: pulumi.Output[str]
    """The monitoring namespace."""
    release_name: pulumi.Output[str]
    """The Helm release of kube-prometheus-stack."""

    def __init__(
        self,
        name: str,
        args: KubernetesMonitoringArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = args.context.config.kubernetes
        if settings.prometheus_stack_chart_version is None:
            raise ValueError(
                f"KubernetesMonitoring {name!r} needs kubernetes.prometheusStackChartVersion "
                "(the chart is pinned); it is unset"
            )
        for service in args.services:  # refused before anything is registered
            pod_pattern(service)
            _checked([service.hpa])
        super().__init__("mlops:kubernetes:Monitoring", name, args.context, opts)
        self._args = args
        self._provider = args.cluster.provider
        values = deep_merge(
            platform_values(args.context.config, args.topic_arn),
            settings.prometheus_stack_values,
        )
        namespace = self._namespace(settings.monitoring_namespace, values)
        release = self._release(settings.prometheus_stack_chart_version, namespace, values)
        self._alertmanager_role(settings.monitoring_namespace)
        after = [release, *args.depends_on]
        for service in args.services:
            self._service_monitor(service, after)
            self._rules(service, after)
            self._dashboard(service, settings.monitoring_namespace, namespace)
        self.namespace_name = namespace.metadata.apply(lambda meta: str(meta.name))
        self.release_name = release.name.apply(str)
        self.register_outputs(
            {"namespace_name": self.namespace_name, "release_name": self.release_name}
        )

    def _k8s(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """A Kubernetes child: parented here, on the cluster's one provider."""
        return pulumi.ResourceOptions(
            parent=self, provider=self._provider, depends_on=list(depends_on)
        )

    def _namespace(self, namespace: str, values: Mapping[str, Any]) -> k8s.core.v1.Namespace:
        cluster = self._ctx.config.kubernetes.cluster
        labels = {**PART_OF, **pod_security_labels(values, cluster.version if cluster else None)}
        return k8s.core.v1.Namespace(
            f"{self._name}-namespace",
            metadata={"name": namespace, "labels": labels},
            opts=self._k8s(),
        )

    def _release(
        self, version: str, namespace: k8s.core.v1.Namespace, values: dict[str, Any]
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            f"{self._name}-prometheus-stack",
            name=RELEASE,
            chart=CHART,
            version=version,
            namespace=namespace.metadata.apply(lambda meta: str(meta.name)),
            values=values,
            # Nulls reach Helm, which removes the chart default at that key (the Grafana
            # password above, and whatever config removes the same way).
            allow_null_values=True,
            # A failed install or upgrade is rolled back, and what it created removed.
            atomic=True,
            cleanup_on_fail=True,
            timeout=RELEASE_TIMEOUT_SECONDS,
            max_history=10,
            opts=self._k8s([namespace]),
        )

    def _alertmanager_role(self, namespace: str) -> aws.iam.Role:
        args = self._args
        region = self._ctx.config.region
        policy = pulumi.Output.all(args.topic_arn, args.kms_key_arn).apply(
            lambda arns: alertmanager_policy(str(arns[0]), str(arns[1]), region)
        )
        return args.cluster.workload_role(
            f"{self._name}-alertmanager-role",
            namespace=namespace,
            service_account=ALERTMANAGER_SERVICE_ACCOUNT,
            role_name=self._physical("alertmanager", NameKind.IAM_ROLE),
            description="Alertmanager publishes alerts to the platform topic",
            policy=policy,
            parent=self,
        )

    def _service_monitor(
        self, service: MonitoredService, after: Sequence[pulumi.Resource]
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{service.name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": service.name, "namespace": service.namespace, "labels": PART_OF},
            spec=service_monitor_spec(service),
            opts=self._k8s(after),
        )

    def _rules(
        self, service: MonitoredService, after: Sequence[pulumi.Resource]
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{service.name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": service.name, "namespace": service.namespace, "labels": PART_OF},
            spec=prometheus_rule_spec(service),
            opts=self._k8s(after),
        )

    def _dashboard(
        self, service: MonitoredService, namespace: str, created: k8s.core.v1.Namespace
    ) -> k8s.core.v1.ConfigMap:
        return k8s.core.v1.ConfigMap(
            f"{self._name}-{service.name}-dashboard",
            metadata={
                "name": f"dashboard-{service.name}",
                "namespace": namespace,
                "labels": {**PART_OF, DASHBOARD_LABEL: "1"},
            },
            data={f"{service.name}.json": json.dumps(dashboard(service), sort_keys=True)},
            opts=self._k8s([created]),
        )
