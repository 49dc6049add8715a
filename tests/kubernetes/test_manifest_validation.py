"""The rendered Kubernetes manifests: schema validation and checkov's Kubernetes checks.

The platform's Kubernetes components are not in the program yet, so the objects come from a
test-only Pulumi program run under the planner's mocks: a hardened inference workload like the
one the platform will register, and a deliberately insecure Deployment that proves the checks
can fail. checkov runs once for the module, on both.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from planner.k8s_manifests import (
    CHECKOV,
    REQUIRED_CHECKS,
    CheckovMissingError,
    CheckovResult,
    Manifest,
    ManifestError,
    SchemaVersionWarning,
    file_names,
    manifests,
    run_checkov,
    schema_version,
    validate_one,
    validate_schemas,
    write_manifests,
)
from planner.run import Plan
from tests.kubernetes.manifest_checks import (
    assert_manifests_valid,
    assert_required_checks_pass,
    plan_program,
)

KUBERNETES_VERSION = "1.33"
NAMESPACE = "serving"
DIGEST = "sha256:" + "3f0a9c1e" * 8
IMAGE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops/serving@{DIGEST}"
LABELS = {"app.kubernetes.io/name": "churn", "app.kubernetes.io/component": "inference"}


# ---- the test-only programs ------------------------------------------------------------------
def hardened_workload() -> None:
    """What the platform's Kubernetes components will register for one model."""
    provider = k8s.Provider("cluster", kubeconfig=pulumi.Output.secret("{}"))
    opts = pulumi.ResourceOptions(provider=provider)
    k8s.core.v1.Namespace(
        "serving",
        metadata={
            "name": NAMESPACE,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "v1.33",
            },
        },
        opts=opts,
    )
    k8s.core.v1.ServiceAccount(
        "churn-sa",
        metadata={"name": "churn", "namespace": NAMESPACE, "labels": LABELS},
        automount_service_account_token=False,
        opts=opts,
    )
    k8s.core.v1.ConfigMap(
        "churn-config",
        metadata={"name": "churn-config", "namespace": NAMESPACE},
        data={"MODEL_VERSION": "3", "API_TOKEN": pulumi.Output.secret("s3cr3t")},
        opts=opts,
    )
    k8s.apps.v1.Deployment(
        "churn",
        metadata={"name": "churn", "namespace": NAMESPACE, "labels": LABELS},
        spec={
            "replicas": 2,
            "selector": {"match_labels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "service_account_name": "churn",
                    "automount_service_account_token": False,
                    "security_context": {
                        "run_as_non_root": True,
                        "run_as_user": 10001,
                        "run_as_group": 10001,
                        "fs_group": 10001,
                        "seccomp_profile": {"type": "RuntimeDefault"},
                    },
                    "topology_spread_constraints": [
                        {
                            "max_skew": 1,
                            "topology_key": "topology.kubernetes.io/zone",
                            "when_unsatisfiable": "ScheduleAnyway",
                            "label_selector": {"match_labels": LABELS},
                        }
                    ],
                    "containers": [
                        {
                            "name": "server",
                            "image": IMAGE,
                            "ports": [{"name": "http", "container_port": 8080}],
                            "env_from": [{"config_map_ref": {"name": "churn-config"}}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "1Gi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "liveness_probe": {
                                "http_get": {"path": "/ping", "port": "http"},
                                "period_seconds": 10,
                            },
                            "readiness_probe": {
                                "http_get": {"path": "/ready", "port": "http"},
                                "period_seconds": 5,
                            },
                            "security_context": {
                                "run_as_non_root": True,
                                "run_as_user": 10001,
                                "read_only_root_filesystem": True,
                                "allow_privilege_escalation": False,
                                "privileged": False,
                                "capabilities": {"drop": ["ALL"]},
                                "seccomp_profile": {"type": "RuntimeDefault"},
                            },
                            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "256Mi"}}],
                },
            },
        },
        opts=opts,
    )
    k8s.core.v1.Service(
        "churn-svc",
        metadata={"name": "churn", "namespace": NAMESPACE, "labels": LABELS},
        spec={
            "type": "ClusterIP",
            "selector": LABELS,
            "ports": [{"name": "http", "port": 80, "target_port": "http"}],
        },
        opts=opts,
    )
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        "churn-hpa",
        metadata={"name": "churn", "namespace": NAMESPACE},
        spec={
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": "churn"},
            "min_replicas": 2,
            "max_replicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "average_utilization": 70},
                    },
                }
            ],
        },
        opts=opts,
    )
    k8s.policy.v1.PodDisruptionBudget(
        "churn-pdb",
        metadata={"name": "churn", "namespace": NAMESPACE},
        spec={"min_available": 1, "selector": {"match_labels": LABELS}},
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        "churn-netpol",
        metadata={"name": "churn", "namespace": NAMESPACE},
        spec={
            "pod_selector": {"match_labels": LABELS},
            "policy_types": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespace_selector": {
                                "match_labels": {"kubernetes.io/metadata.name": "gateway"}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
            "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}],
        },
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "churn-route",
        api_version="gateway.networking.k8s.io/v1",
        kind="HTTPRoute",
        metadata={"name": "churn", "namespace": NAMESPACE},
        spec={
            "parentRefs": [{"name": "inference", "namespace": "gateway", "sectionName": "https"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/churn"}}],
                    "backendRefs": [{"name": "churn", "port": 80, "weight": 100}],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                            },
                        },
                        {
                            "type": "RequestMirror",
                            "requestMirror": {
                                "backendRef": {"name": "churn-shadow", "port": 80},
                                "percent": 10,
                            },
                        },
                    ],
                }
            ],
        },
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "churn-monitor",
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata={"name": "churn", "namespace": NAMESPACE, "labels": {"release": "monitoring"}},
        spec={
            "selector": {"matchLabels": LABELS},
            "namespaceSelector": {"matchNames": [NAMESPACE]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "churn-alerts",
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata={"name": "churn", "namespace": NAMESPACE},
        spec={
            "groups": [
                {
                    "name": "churn",
                    "rules": [
                        {
                            "alert": "ChurnHighErrorRate",
                            "expr": 'sum(rate(http_requests_total{code=~"5.."}[5m])) > 1',
                            "for": "5m",
                            "labels": {"severity": "page"},
                            "annotations": {"summary": "churn serves 5xx"},
                        }
                    ],
                }
            ]
        },
        opts=opts,
    )
    k8s.helm.v3.Release(
        "monitoring",
        name="monitoring",
        chart="kube-prometheus-stack",
        version="75.15.1",
        namespace="monitoring",
        repository_opts={"repo": "https://prometheus-community.github.io/helm-charts"},
        values={"grafana": {"enabled": False}, "prometheus": {"prometheusSpec": {"replicas": 2}}},
        opts=opts,
    )


def insecure_workload() -> None:
    """Everything the required checks forbid, in one Deployment."""
    k8s.apps.v1.Deployment(
        "insecure",
        metadata={"name": "insecure"},  # no namespace: the default one
        spec={
            "selector": {"match_labels": {"app": "insecure"}},
            "template": {
                "metadata": {"labels": {"app": "insecure"}},
                "spec": {
                    "host_pid": True,
                    "host_ipc": True,
                    "host_network": True,
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:latest",
                            "security_context": {
                                "privileged": True,
                                "run_as_user": 0,
                                "allow_privilege_escalation": True,
                                "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                            },
                        }
                    ],
                },
            },
        },
    )


INSECURE_FAILS = {
    "CKV_K8S_8": "no liveness probe",
    "CKV_K8S_9": "no readiness probe",
    "CKV_K8S_10": "no CPU request",
    "CKV_K8S_11": "no CPU limit",
    "CKV_K8S_12": "no memory request",
    "CKV_K8S_13": "no memory limit",
    "CKV_K8S_14": "tag latest",
    "CKV_K8S_43": "no digest",
    "CKV_K8S_16": "privileged",
    "CKV_K8S_17": "host PID",
    "CKV_K8S_18": "host IPC",
    "CKV_K8S_19": "host network",
    "CKV_K8S_20": "allowPrivilegeEscalation",
    "CKV_K8S_21": "default namespace",
    "CKV_K8S_22": "writable root filesystem",
    "CKV_K8S_23": "root",
    "CKV_K8S_28": "NET_RAW not dropped",
    "CKV_K8S_31": "no seccomp profile",
    "CKV_K8S_37": "capabilities added, none dropped",
    "CKV_K8S_38": "service account token mounted",
    "CKV_K8S_40": "low UID",
    "CKV2_K8S_6": "no NetworkPolicy",
}
"""The required checks the insecure Deployment fails, and why. CKV_K8S_41 is absent: it only
judges a ServiceAccount named `default` (see REQUIRED_CHECKS)."""


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hardened() -> Plan:
    return plan_program(hardened_workload, stack="k8s-hardened")


@pytest.fixture(scope="module")
def insecure() -> Plan:
    return plan_program(insecure_workload, stack="k8s-insecure")


@pytest.fixture(scope="module")
def checkov_dirs(
    hardened: Plan, insecure: Plan, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, CheckovResult]:
    """One checkov run for the module, over both workloads (each in its own directory)."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-env` first", pytrace=False)
    root = tmp_path_factory.mktemp("k8s")
    write_manifests(hardened, root / "hardened")
    write_manifests(insecure, root / "insecure")
    return root, run_checkov(root)


def of(result: CheckovResult, directory: str) -> CheckovResult:
    """The outcomes on the files of one directory of the run."""
    return CheckovResult(
        outcomes=[o for o in result.outcomes if f"/{directory}/" in o.file],
        seconds=result.seconds,
        command=result.command,
    )


def by_kind(found: list[Manifest], kind: str) -> Manifest:
    matches = [m for m in found if m.kind == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


# ---- rendering -------------------------------------------------------------------------------
EXPECTED_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "labels": {"app.kubernetes.io/component": "inference", "app.kubernetes.io/name": "churn"},
        "name": "churn",
        "namespace": "serving",
    },
    "spec": {
        "replicas": 2,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/component": "inference",
                "app.kubernetes.io/name": "churn",
            }
        },
        "template": {
            "metadata": {
                "labels": {
                    "app.kubernetes.io/component": "inference",
                    "app.kubernetes.io/name": "churn",
                }
            },
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "envFrom": [{"configMapRef": {"name": "churn-config"}}],
                        "image": IMAGE,
                        "livenessProbe": {
                            "httpGet": {"path": "/ping", "port": "http"},
                            "periodSeconds": 10,
                        },
                        "name": "server",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "readinessProbe": {
                            "httpGet": {"path": "/ready", "port": "http"},
                            "periodSeconds": 5,
                        },
                        "resources": {
                            "limits": {"cpu": "1", "memory": "1Gi"},
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "privileged": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [{"mountPath": "/tmp", "name": "tmp"}],
                    }
                ],
                "securityContext": {
                    "fsGroup": 10001,
                    "runAsGroup": 10001,
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "serviceAccountName": "churn",
                "topologySpreadConstraints": [
                    {
                        "labelSelector": {
                            "matchLabels": {
                                "app.kubernetes.io/component": "inference",
                                "app.kubernetes.io/name": "churn",
                            }
                        },
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                    }
                ],
                "volumes": [{"emptyDir": {"sizeLimit": "256Mi"}, "name": "tmp"}],
            },
        },
    },
}


def test_the_deployment_renders_to_exactly_the_manifest_kubectl_would_apply(
    hardened: Plan,
) -> None:
    deployment = by_kind(manifests(hardened), "Deployment")

    assert deployment.document == EXPECTED_DEPLOYMENT
    # Key order of the file: apiVersion, kind, metadata first, as people write manifests.
    assert list(deployment.document)[:3] == ["apiVersion", "kind", "metadata"]
    assert deployment.unknown_paths == ()


def test_every_kubernetes_object_is_rendered_and_nothing_else(hardened: Plan) -> None:
    found = manifests(hardened)

    assert [(m.api_version, m.kind) for m in found] == [
        ("v1", "Namespace"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "ServiceAccount"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ]
    assert [m.custom for m in found] == [False] * 8 + [True] * 3
    types = {r.type for r in hardened.registrations}
    assert {"pulumi:providers:kubernetes", "kubernetes:helm.sh/v3:Release"} <= types


def test_secrets_stay_masked_and_numbers_are_integers(hardened: Plan) -> None:
    found = manifests(hardened)

    assert by_kind(found, "ConfigMap").document["data"] == {
        "API_TOKEN": "[secret]",
        "MODEL_VERSION": "3",
    }
    hpa = by_kind(found, "HorizontalPodAutoscaler").document["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert type(hpa["minReplicas"]) is int


def test_a_secrets_values_never_reach_the_review_copy() -> None:
    def program() -> None:
        k8s.core.v1.Secret(
            "token",
            metadata={"name": "token", "namespace": NAMESPACE},
            string_data={"token": "plain-text-token"},
            data={"key": "cGxhaW4="},
        )

    [secret] = manifests(plan_program(program, stack="k8s-secret"))

    # The SDK masks both maps whole; the manifest keeps a map, so it still validates.
    assert secret.document["stringData"] == {"[secret]": "[secret]"}
    assert secret.document["data"] == {"[secret]": "[secret]"}
    assert validate_one(secret, schema_version(KUBERNETES_VERSION)) == []
    assert "plain-text-token" not in str(secret.document)


def test_the_written_files_are_named_in_apply_order_and_stale_ones_vanish(
    hardened: Plan, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "99-deployment-serving-old.yaml").write_text("stale\n")

    written = write_manifests(hardened, out)

    assert [p.name for p in written] == [
        "01-namespace-serving.yaml",
        "02-networkpolicy-serving-churn.yaml",
        "03-poddisruptionbudget-serving-churn.yaml",
        "04-serviceaccount-serving-churn.yaml",
        "05-configmap-serving-churn-config.yaml",
        "06-service-serving-churn.yaml",
        "07-deployment-serving-churn.yaml",
        "08-horizontalpodautoscaler-serving-churn.yaml",
        "09-httproute-serving-churn.yaml",
        "10-prometheusrule-serving-churn.yaml",
        "11-servicemonitor-serving-churn.yaml",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.name for p in written] + ["all.yaml", "helm-monitoring.yaml"]
    )
    assert yaml.safe_load((out / "07-deployment-serving-churn.yaml").read_text()) == (
        EXPECTED_DEPLOYMENT
    )
    documents = list(yaml.safe_load_all((out / "all.yaml").read_text()))
    assert documents == [m.document for m in manifests(hardened)]
    assert yaml.safe_load((out / "helm-monitoring.yaml").read_text()) == {
        "release": "monitoring",
        "chart": "kube-prometheus-stack",
        "version": "75.15.1",
        "repository": "https://prometheus-community.github.io/helm-charts",
        "namespace": "monitoring",
        "values": {
            "grafana": {"enabled": False},
            "prometheus": {"prometheusSpec": {"replicas": 2}},
        },
    }


def test_a_plan_without_kubernetes_objects_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "01-namespace-old.yaml").write_text("stale\n")

    plan = plan_program(lambda: None, stack="k8s-empty")

    assert write_manifests(plan, out) == []
    assert not out.exists()


def test_an_object_without_an_explicit_name_is_a_clear_error() -> None:
    def program() -> None:
        k8s.core.v1.ConfigMap("unnamed", metadata={"namespace": "serving"}, data={"a": "b"})

    plan = plan_program(program, stack="k8s-unnamed")

    with pytest.raises(ManifestError, match=r"ConfigMap has no metadata\.name.*explicit name"):
        manifests(plan)


# ---- schemas ---------------------------------------------------------------------------------
def test_every_manifest_validates_against_the_kubernetes_and_crd_schemas(hardened: Plan) -> None:
    found = assert_manifests_valid(hardened, KUBERNETES_VERSION)

    assert validate_schemas(found, KUBERNETES_VERSION) == []
    assert len(found) == 11


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["spec"].update(replicas="two"), "spec.replicas", "'two' is not of type"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                runAsRoot=False
            ),
            "spec.template.spec.containers[0].securityContext",
            "'runAsRoot' was unexpected",
        ),
        (lambda d: d.update(apiVersion="apps/v1beta2"), "apiVersion", "Couldn't find schema"),
    ],
    ids=["wrong-type", "unknown-field", "removed-api-version"],
)
def test_a_broken_deployment_is_reported_with_file_object_and_path(
    hardened: Plan, change: Any, path: str, message: str
) -> None:
    found = manifests(hardened)
    index = next(i for i, m in enumerate(found) if m.kind == "Deployment")
    document = copy.deepcopy(found[index].document)
    change(document)
    found[index] = Manifest(urn=found[index].urn, document=document)

    findings = validate_schemas(found, KUBERNETES_VERSION)

    assert len(findings) == 1, findings
    finding = findings[0]
    assert (finding.file, finding.object, finding.path) == (
        "07-deployment-serving-churn.yaml",
        "Deployment serving/churn",
        path,
    )
    assert message in finding.message


GATEWAY: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "inference", "namespace": "gateway"},
    "spec": {
        "gatewayClassName": "aws-alb",
        "listeners": [
            {
                "name": "https",
                "port": 443,
                "protocol": "HTTPS",
                "hostname": "inference.example.com",
                "tls": {"mode": "Terminate", "certificateRefs": [{"name": "inference-tls"}]},
                "allowedRoutes": {
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchLabels": {"mlops.example.com/serving": "true"}},
                    }
                },
            }
        ],
    },
}


def _custom(found: list[Manifest], kind: str) -> Manifest:
    return by_kind(found, kind) if kind != "Gateway" else Manifest("urn:gateway", GATEWAY, (), True)


@pytest.mark.parametrize(
    ("kind", "change", "path", "message"),
    [
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["backendRefs"][0].update(weigth=1),
            "spec.rules[0].backendRefs[0]",
            "'weigth' was unexpected",
        ),
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["filters"][1]["requestMirror"].update(percent=150),
            "spec.rules[0].filters[1].requestMirror.percent",
            "150 is greater than the maximum of 100",
        ),
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["filters"][1].pop("requestMirror"),
            "spec.rules[0].filters[1]",
            "'requestMirror' is a required property",
        ),
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["filters"][0]["urlRewrite"].update(
                path={"type": "ReplaceFullPath"}
            ),
            "spec.rules[0].filters[0].urlRewrite.path",
            "'replaceFullPath' is a required property",
        ),
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["backendRefs"][0].pop("port"),
            "spec.rules[0].backendRefs[0]",
            "'port' is a required property",
        ),
        (
            "Gateway",
            lambda s: s["listeners"][0].pop("tls"),
            "spec.listeners[0]",
            "'tls' is a required property",
        ),
        (
            "Gateway",
            lambda s: s.update(gatewayClass="aws-alb"),
            "spec",
            "'gatewayClass' was unexpected",
        ),
        (
            "ServiceMonitor",
            lambda s: s["endpoints"][0].update(interval="30 seconds"),
            "spec.endpoints[0].interval",
            "does not match",
        ),
        (
            "ServiceMonitor",
            lambda s: s.update(namespaceSelector={"matchNamespaces": ["serving"]}),
            "spec.namespaceSelector",
            "'matchNamespaces' was unexpected",
        ),
        (
            "PrometheusRule",
            lambda s: s["groups"][0]["rules"][0].update(severity="page"),
            "spec.groups[0].rules[0]",
            "'severity' was unexpected",
        ),
        (
            "PrometheusRule",
            lambda s: s["groups"][0]["rules"][0].pop("expr"),
            "spec.groups[0].rules[0]",
            "'expr' is a required property",
        ),
    ],
    ids=[
        "route-misspelt-weight",
        "route-mirror-percent",
        "route-mirror-without-backend",
        "route-rewrite-type-mismatch",
        "route-service-without-port",
        "gateway-https-without-tls",
        "gateway-unknown-field",
        "monitor-interval",
        "monitor-namespace-selector",
        "rule-unknown-field",
        "rule-without-expr",
    ],
)
def test_each_custom_resource_schema_rejects_a_wrong_field(
    hardened: Plan, kind: str, change: Any, path: str, message: str
) -> None:
    original = _custom(manifests(hardened), kind)
    version = schema_version(KUBERNETES_VERSION)
    assert validate_one(original, version) == []
    document = copy.deepcopy(original.document)
    change(document["spec"])

    findings = validate_one(Manifest(original.urn, document, (), True), version, "f.yaml")

    assert [(f.path, message in f.message) for f in findings] == [(path, True)], findings
    assert findings[0].object == original.label


def test_a_custom_resource_without_a_schema_is_a_finding() -> None:
    manifest = Manifest(
        "urn:x",
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "serving"},
        },
        (),
        True,
    )

    [finding] = validate_one(manifest, schema_version(KUBERNETES_VERSION), "w.yaml")

    assert "no schema for custom resource example.com/v1 Widget" in finding.message
    assert "planner/k8s_schemas/widget-example.com-v1.json" in finding.message


def test_a_value_unknown_at_plan_time_is_a_finding(hardened: Plan) -> None:
    deployment = by_kind(manifests(hardened), "Deployment")
    unknown = Manifest(deployment.urn, deployment.document, ("spec.template.spec.nodeName",))

    findings = validate_one(unknown, schema_version(KUBERNETES_VERSION), "d.yaml")

    assert [(f.path, f.message) for f in findings] == [
        ("spec.template.spec.nodeName", "value not known at plan time")
    ]


def test_the_cluster_version_maps_to_the_schemas_shipped() -> None:
    assert schema_version("1.33").exact
    assert schema_version("v1.33.4").used == "1.33"
    old = schema_version("1.20")
    assert (old.exact, old.used) == (False, "1.25")
    assert "no schemas for Kubernetes 1.20; validating against 1.25" in old.note
    with pytest.warns(SchemaVersionWarning, match="against 1.25"):
        validate_schemas([], "1.20")
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        schema_version("latest")


# ---- checkov ---------------------------------------------------------------------------------
CONTROL_REFERENCES = (
    "CKV_K8S_8/9",
    "CKV_K8S_10..13",
    "CKV_K8S_14, _43",
    "CKV_K8S_16..20, _23, _40",
    "CKV_K8S_22",
    "CKV_K8S_28/31/37",
    "CKV_K8S_21",
    "CKV_K8S_38/41",
    "CKV2_K8S_6",
)
"""The references of ../shared/SECURITY-CONTROLS.md's "EKS and Kubernetes workloads" section,
as written there (the file lives outside this repository)."""


def _expand(reference: str) -> list[str]:
    prefix, first = re.split(r"[,/]", reference, maxsplit=1)[0].rsplit("_", 1)
    ids: list[str] = []
    for part in re.split(r"[,/]\s*", reference.replace(f"{prefix}_", "")):
        number = part.lstrip("_")
        if ".." in number:
            low, high = number.split("..")
            ids += [f"{prefix}_{n}" for n in range(int(low), int(high) + 1)]
        else:
            ids.append(f"{prefix}_{number}")
    assert first.split("..")[0] == ids[0].rsplit("_", 1)[1]
    return ids


def test_required_checks_are_exactly_the_ones_the_security_controls_name() -> None:
    expected = [check for reference in CONTROL_REFERENCES for check in _expand(reference)]

    assert len(expected) == 23
    assert sorted(REQUIRED_CHECKS) == sorted(expected)
    assert len(set(REQUIRED_CHECKS)) == len(REQUIRED_CHECKS)


def test_the_hardened_workload_passes_every_required_check(
    checkov_dirs: tuple[Path, CheckovResult],
) -> None:
    _, result = checkov_dirs
    hardened = of(result, "hardened")

    assert_required_checks_pass(hardened)
    # Evaluated on the objects that carry them: the containers' checks on the Deployment, the
    # NetworkPolicy check on the pod checkov extracts from its template.
    on_deployment = {o.check_id for o in hardened.outcomes if o.resource.startswith("Deployment.")}
    assert set(REQUIRED_CHECKS) - {"CKV_K8S_41", "CKV2_K8S_6"} <= on_deployment
    assert {o.resource for o in hardened.evaluated("CKV_K8S_41")} == {
        "ServiceAccount.serving.churn"
    }
    assert any(o.resource.startswith("Pod.serving.") for o in hardened.evaluated("CKV2_K8S_6"))
    assert result.seconds < 60


def test_an_insecure_deployment_fails_the_matching_checks(
    checkov_dirs: tuple[Path, CheckovResult],
) -> None:
    _, result = checkov_dirs
    insecure = of(result, "insecure")

    failed = {o.check_id for o in insecure.failures_of(REQUIRED_CHECKS)}
    assert failed == set(INSECURE_FAILS), sorted(failed ^ set(INSECURE_FAILS))
    with pytest.raises(AssertionError, match=r"CKV_K8S_16 failed on Deployment\.default\.insecure"):
        assert_required_checks_pass(insecure)


def test_a_check_that_never_ran_is_a_failure(checkov_dirs: tuple[Path, CheckovResult]) -> None:
    _, result = checkov_dirs

    with pytest.raises(AssertionError, match="CKV_K8S_999: never evaluated"):
        assert_required_checks_pass(of(result, "hardened"), (*REQUIRED_CHECKS, "CKV_K8S_999"))


def test_without_checkov_the_run_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(CheckovMissingError, match=r"run `make checkov-env`"):
        run_checkov(tmp_path, checkov=tmp_path / "bin" / "checkov")


def test_file_names_are_unique_and_padded() -> None:
    found = [
        Manifest(
            f"urn:{i}", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}}
        )
        for i in range(100)
    ]

    names = file_names(found)

    assert names[0] == "001-configmap-c0.yaml"
    assert len(set(names)) == 100


def test_the_offline_plan_writes_the_manifests_for_review(
    hardened: Plan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import planner.__main__ as cli

    monkeypatch.setattr(cli, "run_program", lambda stack, on_register=None: hardened)

    cli.plan_stack("dev", tmp_path)

    out = capsys.readouterr().out
    assert f"wrote 11 Kubernetes manifests to {tmp_path / 'dev' / 'k8s'}/" in out
    written = sorted(p.name for p in (tmp_path / "dev" / "k8s").iterdir())
    assert written[0] == "01-namespace-serving.yaml"
    assert {"all.yaml", "helm-monitoring.yaml"} <= set(written)
