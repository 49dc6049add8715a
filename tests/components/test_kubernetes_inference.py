"""Kubernetes inference under Pulumi mocks (issue 9): for the shipped staging (canary and shadow)
and prod (blue/green) stacks, the exact objects the cluster would receive, the service account's
AWS role, the Gateway route's weights and mirror, and what a blue/green switch changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from components.config import KubernetesService
from components.kubernetes_inference import served_variants
from planner.mocks import SECRET_TEXT, Registration
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
REGION = "eu-west-1"
ACCOUNTS = {"staging": "123456789012", "prod": "111111111111"}
MODEL_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-model-server-sklearn:1.2-1"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SECURE = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def k8s_objects(plan: Plan, type_: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by `namespace/name`."""
    found: dict[str, dict[str, Any]] = {}
    for record in plan.by_type(type_):
        meta = record.inputs["metadata"]
        found[f"{meta.get('namespace', '')}/{meta['name']}"] = record.inputs
    return found


def custom(plan: Plan, kind: str) -> dict[str, dict[str, Any]]:
    """Gateway API objects of one kind (a CustomResource's type token is its own kind's)."""
    return k8s_objects(plan, f"kubernetes:gateway.networking.k8s.io/v1:{kind}")


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


def package(stack: str, version: int) -> str:
    return (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNTS[stack]}:model-package/"
        f"mlops-platform-{stack}-churn/{version}"
    )


def by_digest(stack: str, repository: str, tag: str) -> str:
    """The image a pod runs: the stack's ECR tag and the digest the registry (here the
    planner's mock, a hash of registry, repository and tag) resolved it to."""
    account = ACCOUNTS[stack]
    digest = hashlib.sha256(f"{account}/{repository}:{tag}".encode()).hexdigest()
    return f"{account}.dkr.ecr.{REGION}.amazonaws.com/{repository}:{tag}@sha256:{digest}"


def labels(stack: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "churn",
        "app.kubernetes.io/part-of": "mlops-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        "mlops.platform/stack": stack,
        **extra,
    }


def expected_pod(plan: Plan, stack: str, variant: str, version: int) -> dict[str, Any]:
    """The whole pod spec, written out: every field the hardening relies on is here."""
    capture = bucket(plan, "capture")
    key = plan.outputs["kmsKeyArn"]
    resources = {
        "staging": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "prod": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
    }[stack]
    sampling = {"staging": "100", "prod": "50"}[stack]
    sidecar = by_digest(stack, "mlops-serving-sidecar", "0.1.0")
    selector = {"app.kubernetes.io/name": "churn", "mlops.platform/variant": variant}
    aws = [
        {"name": "AWS_REGION", "value": REGION},
        {"name": "AWS_DEFAULT_REGION", "value": REGION},
    ]
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    return {
        "serviceAccountName": "churn",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule" if stack == "prod" else "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            },
        ],
        "initContainers": [
            {
                "name": "fetch-model",
                "image": sidecar,
                "imagePullPolicy": "IfNotPresent",
                "args": ["serving_sidecar.fetch"],
                "env": [
                    {"name": "MODEL_PACKAGE_ARN", "value": package(stack, version)},
                    {"name": "MODEL_DIR", "value": "/opt/ml/model"},
                    {"name": "HOME", "value": "/tmp"},
                    *aws,
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "512Mi"},
                },
                "securityContext": SECURE,
                "volumeMounts": [{"name": "model", "mountPath": "/opt/ml/model"}, tmp],
            }
        ],
        "containers": [
            {
                "name": "model",
                "image": by_digest(stack, "mlops-model-server-sklearn", "1.2-1"),
                "imagePullPolicy": "IfNotPresent",
                "args": ["serve"],
                "ports": [{"name": "model", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "SAGEMAKER_BIND_TO_PORT", "value": "8080"}, *aws],
                "resources": resources,
                "securityContext": SECURE,
                "startupProbe": {
                    "httpGet": {"path": "/ping", "port": "model"},
                    "periodSeconds": 5,
                    "failureThreshold": 60,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/ping", "port": "model"},
                    "periodSeconds": 10,
                    "timeoutSeconds": 2,
                    "failureThreshold": 3,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/ping", "port": "model"},
                    "periodSeconds": 20,
                    "timeoutSeconds": 5,
                    "failureThreshold": 3,
                },
                "volumeMounts": [
                    {"name": "model", "mountPath": "/opt/ml/model", "readOnly": True},
                    tmp,
                ],
            },
            {
                "name": "sidecar",
                "image": sidecar,
                "imagePullPolicy": "IfNotPresent",
                "args": ["serving_sidecar.proxy"],
                "ports": [
                    {"name": "http", "containerPort": 8000, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
                "env": [
                    {"name": "LISTEN_PORT", "value": "8000"},
                    {"name": "MODEL_PORT", "value": "8080"},
                    {"name": "METRICS_PORT", "value": "9090"},
                    {"name": "ENDPOINT_NAME", "value": f"mlops-platform-{stack}-k8s-churn"},
                    {"name": "VARIANT_NAME", "value": variant},
                    {"name": "CAPTURE_BUCKET", "value": capture},
                    {"name": "CAPTURE_KMS_KEY_ARN", "value": key},
                    {"name": "CAPTURE_SAMPLING_PERCENT", "value": sampling},
                    *aws,
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "securityContext": SECURE,
                "readinessProbe": {
                    "httpGet": {"path": "/ping", "port": "http"},
                    "periodSeconds": 10,
                    "timeoutSeconds": 3,
                    "failureThreshold": 3,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http"},
                    "periodSeconds": 20,
                    "timeoutSeconds": 3,
                    "failureThreshold": 3,
                },
                "volumeMounts": [tmp],
            },
        ],
        "volumes": [
            {"name": "model", "emptyDir": {"sizeLimit": "10Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }


VARIANTS = {
    "staging": {"stable": 3, "canary": 4, "shadow": 5},
    "prod": {"blue": 3, "green": 4},
}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_variant_is_a_hardened_deployment_of_its_registry_version(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    namespace = f"mlops-{stack}-churn"
    deployments = k8s_objects(plan, DEPLOYMENT)
    assert sorted(deployments) == sorted(f"{namespace}/churn-{v}" for v in VARIANTS[stack])
    for variant, version in VARIANTS[stack].items():
        selector = {"app.kubernetes.io/name": "churn", "mlops.platform/variant": variant}
        assert deployments[f"{namespace}/churn-{variant}"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": f"churn-{variant}",
                "namespace": namespace,
                "labels": labels(stack, **{"mlops.platform/variant": variant}),
            },
            # No `replicas`: the autoscaler owns the count.
            "spec": {
                "selector": {"matchLabels": selector},
                "revisionHistoryLimit": 5,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {
                    "metadata": {
                        "labels": labels(
                            stack,
                            **{
                                "mlops.platform/variant": variant,
                                "mlops.platform/model-version": str(version),
                            },
                        )
                    },
                    "spec": expected_pod(plan, stack, variant, version),
                },
            },
        }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_namespace_enforces_the_restricted_pod_security_standard(
    plans: dict[str, Plan], stack: str
) -> None:
    namespaces = k8s_objects(plans[stack], NAMESPACE)
    service_ns = namespaces[f"/mlops-{stack}-churn"]["metadata"]["labels"]
    gateway_ns = namespaces[f"/mlops-{stack}-gateway"]["metadata"]["labels"]
    for ns_labels in (service_ns, gateway_ns):
        for mode in ("enforce", "audit", "warn"):
            assert ns_labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
            assert ns_labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"
    # Only the platform's service namespaces may attach routes to the stack's Gateway.
    assert service_ns["mlops.platform/gateway"] == f"mlops-{stack}"


def test_staging_splits_traffic_by_weight_and_mirrors_a_quarter_to_the_shadow(
    plans: dict[str, Plan],
) -> None:
    route = custom(plans["staging"], "HTTPRoute")["mlops-staging-churn/churn"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [
            {"name": "mlops-staging", "namespace": "mlops-staging-gateway", "sectionName": "http"}
        ],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/models/churn/"}}],
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
                            "percent": 25,
                        },
                    },
                ],
                "backendRefs": [
                    {"name": "churn", "port": 80, "weight": 90},
                    {"name": "churn-canary", "port": 80, "weight": 10},
                ],
            }
        ],
    }
    services = k8s_objects(plans["staging"], SERVICE)
    selectors = {k: v["spec"]["selector"] for k, v in services.items()}
    assert selectors == {
        "mlops-staging-churn/churn": {
            "app.kubernetes.io/name": "churn",
            "mlops.platform/variant": "stable",
        },
        "mlops-staging-churn/churn-canary": {
            "app.kubernetes.io/name": "churn",
            "mlops.platform/variant": "canary",
        },
        "mlops-staging-churn/churn-shadow": {
            "app.kubernetes.io/name": "churn",
            "mlops.platform/variant": "shadow",
        },
        "mlops-staging-churn/churn-metrics": {"app.kubernetes.io/name": "churn"},
    }
    gateway = custom(plans["staging"], "Gateway")["mlops-staging-gateway/mlops-staging"]
    assert gateway["spec"] == {
        "gatewayClassName": "eg",
        "listeners": [
            {
                "name": "http",
                "protocol": "HTTP",
                "port": 80,
                "allowedRoutes": {
                    "kinds": [{"kind": "HTTPRoute"}],
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchLabels": {"mlops.platform/gateway": "mlops-staging"}},
                    },
                },
            }
        ],
    }


def test_prod_routes_everything_to_the_active_colour_and_previews_the_other(
    plans: dict[str, Plan],
) -> None:
    route = custom(plans["prod"], "HTTPRoute")["mlops-prod-churn/churn"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": "churn", "port": 80, "weight": 100}]
    assert [f["type"] for f in rule["filters"]] == ["URLRewrite"]
    services = k8s_objects(plans["prod"], SERVICE)
    assert services["mlops-prod-churn/churn"]["spec"]["selector"]["mlops.platform/variant"] == (
        "blue"
    )
    assert services["mlops-prod-churn/churn-preview"]["spec"]["selector"][
        "mlops.platform/variant"
    ] == ("green")
    assert services["mlops-prod-churn/churn-metrics"]["spec"]["clusterIP"] == "None"


def test_switching_blue_green_moves_only_the_services_selectors(
    plans: dict[str, Plan], plan_stack: Any
) -> None:
    """The switch is a selector change: no Deployment's pods are replaced, so the green pods
    that were tested through `churn-preview` take the traffic as they are."""
    section = json.loads(load_stack_config(PROJECT_DIR, "prod").values[f"{NS}kubernetes"])
    section["services"][0]["rollout"]["active"] = "green"
    switched = plan_stack("prod", {f"{NS}kubernetes": section})
    before, after = plans["prod"], switched
    assert k8s_objects(after, DEPLOYMENT) == k8s_objects(before, DEPLOYMENT)
    services = k8s_objects(after, SERVICE)
    assert services["mlops-prod-churn/churn"]["spec"]["selector"]["mlops.platform/variant"] == (
        "green"
    )
    assert services["mlops-prod-churn/churn-preview"]["spec"]["selector"][
        "mlops.platform/variant"
    ] == ("blue")
    changed = {
        key
        for key, value in k8s_objects(after, SERVICE).items()
        if k8s_objects(before, SERVICE)[key] != value
    }
    assert changed == {"mlops-prod-churn/churn", "mlops-prod-churn/churn-preview"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_autoscaler_and_disruption_budget_per_deployment(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    namespace = f"mlops-{stack}-churn"
    bounds = {"staging": (2, 4, 1), "prod": (3, 12, 2)}[stack]
    hpas = k8s_objects(plan, HPA)
    pdbs = k8s_objects(plan, PDB)
    assert sorted(hpas) == sorted(pdbs) == sorted(f"{namespace}/churn-{v}" for v in VARIANTS[stack])
    for variant in VARIANTS[stack]:
        assert hpas[f"{namespace}/churn-{variant}"]["spec"] == {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"churn-{variant}",
            },
            "minReplicas": bounds[0],
            "maxReplicas": bounds[1],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        }
        assert pdbs[f"{namespace}/churn-{variant}"]["spec"] == {
            "minAvailable": bounds[2],
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "churn",
                    "mlops.platform/variant": variant,
                }
            },
        }


def test_the_network_policy_admits_the_gateway_and_prometheus_only(
    plans: dict[str, Plan],
) -> None:
    (policy,) = k8s_objects(plans["staging"], NETPOL).values()
    assert policy["metadata"]["namespace"] == "mlops-staging-churn"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "churn"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": "http"}],
            },
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        },
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": "metrics"}],
            },
        ],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            {
                "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}],
                "ports": [{"protocol": "TCP", "port": 80}],
            },
            {"ports": [{"protocol": "TCP", "port": 443}]},
        ],
    }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_service_account_role_reads_its_model_and_writes_its_capture_only(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    (account,) = k8s_objects(plan, ACCOUNT).values()
    assert account["metadata"]["name"] == "churn"
    assert account["automountServiceAccountToken"] is False
    (association,) = [
        r for r in plan.by_type(ASSOCIATION) if r.inputs["namespace"] == f"mlops-{stack}-churn"
    ]
    assert association.inputs["serviceAccount"] == "churn"
    (policy,) = [
        r for r in plan.by_type(ROLE_POLICY) if r.name == "k8s-inference-churn-role-policy"
    ]
    artifacts = f"arn:aws:s3:::{bucket(plan, 'model-artifacts')}"
    statements = {
        s["Sid"]: {k: v for k, v in s.items() if k != "Sid"}
        for s in json.loads(policy.inputs["policy"])["Statement"]
    }
    assert statements == {
        "DescribeModelVersions": {
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage"],
            "Resource": [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNTS[stack]}:model-package/"
                f"mlops-platform-{stack}-churn/*"
            ],
        },
        "ReadModelArtifacts": {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{artifacts}/models/churn/*", f"{artifacts}/pipelines/churn/*"],
        },
        "WriteCapture": {
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [
                f"arn:aws:s3:::{bucket(plan, 'capture')}/datacapture/"
                f"mlops-platform-{stack}-k8s-churn/*"
            ],
        },
        "UsePlatformKeyThroughS3": {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [plan.outputs["kmsKeyArn"]],
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
        },
    }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_kubernetes_object_goes_through_the_stacks_one_provider(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    objects = [r for r in plan.registrations if r.type.startswith("kubernetes:")]
    assert len(objects) > 10
    # One reference, to the stack's one provider (`<urn>`, or `<urn>::<id>` once it has one).
    (reference,) = {r.provider for r in objects}
    assert reference in (provider.urn, f"{provider.urn}::{provider.id}")


def test_drift_checks_of_a_kubernetes_service_read_its_served_variants(
    plans: dict[str, Plan],
) -> None:
    """The shadow's copies are not counted: the check reads stable and canary only."""
    schedules = [
        json.loads(r.inputs["target"]["input"])
        for r in plans["staging"].by_type("aws:scheduler/schedule:Schedule")
        if "k8s-churn" in r.inputs["target"].get("input", "")
    ]
    assert [s["endpoint"] for s in schedules] == ["mlops-platform-staging-k8s-churn"]
    assert schedules[0]["variants"] == ["stable", "canary"]


def test_served_variants_follow_the_rollout() -> None:
    base = {"name": "churn", "model": "churn", "modelVersion": 3, "image": MODEL_IMAGE}
    assert served_variants(KubernetesService.model_validate(base)) == ["blue"]
    green = {**base, "rollout": {"greenVersion": 4}}
    assert served_variants(KubernetesService.model_validate(green)) == ["blue", "green"]
    canary = {
        **base,
        "rollout": {
            "strategy": "canary",
            "canaryVersion": 4,
            "weights": {"stable": 1, "canary": 99},
        },
        "shadow": {"modelVersion": 5},
    }
    assert served_variants(KubernetesService.model_validate(canary)) == ["stable", "canary"]


def test_an_existing_cluster_gets_the_same_services_through_its_secret_kubeconfig(
    plans: dict[str, Plan], plan_stack: Any
) -> None:
    """No AWS cluster is created; the provider connects with the stack's secret kubeconfig and
    the workloads are the same objects as on the platform's own cluster."""
    section = json.loads(load_stack_config(PROJECT_DIR, "staging").values[f"{NS}kubernetes"])
    section["cluster"] = {"mode": "existing", "clusterName": "team-cluster", "version": "1.35"}
    kubeconfig = "apiVersion: v1\nkind: Config\n# the team's cluster\n"
    plan = plan_stack(
        "staging", {f"{NS}kubernetes": section}, secrets={f"{NS}kubeconfig": kubeconfig}
    )
    assert plan.by_type("aws:eks/cluster:Cluster") == []
    assert plan.by_type("aws:eks/nodeGroup:NodeGroup") == []
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    # The kubeconfig reaches the provider as a secret (the recording masks secrets), and its
    # text appears nowhere in what the plan registered.
    assert provider.inputs["kubeconfig"] == SECRET_TEXT
    assert "the team's cluster" not in json.dumps([r.to_json() for r in plan.registrations])
    assert k8s_objects(plan, DEPLOYMENT) == k8s_objects(plans["staging"], DEPLOYMENT)
    (association,) = [
        r for r in plan.by_type(ASSOCIATION) if r.inputs["namespace"] == "mlops-staging-churn"
    ]
    assert association.inputs["clusterName"] == "team-cluster"


# ---- the model's latency objective in the service's alerts -------------------------------------
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def latency_alert(plan: Plan, namespace: str) -> dict[str, Any]:
    """The p99 latency rule of the service's PrometheusRule (`<namespace>/churn`)."""
    rule = k8s_objects(plan, RULE)[f"{namespace}/churn"]
    (group,) = rule["spec"]["groups"]
    (alert,) = [r for r in group["rules"] if r["alert"] == "MlopsServiceLatencyP99"]
    return alert


def test_a_service_without_its_own_latency_objective_alerts_on_its_models(
    plans: dict[str, Plan],
) -> None:
    """Staging's service sets no `objectives.latencyP99Ms`: churn's 300 ms (not the 500 ms
    default) is its threshold."""
    section = json.loads(load_stack_config(PROJECT_DIR, "staging").values[f"{NS}kubernetes"])
    assert "latencyP99Ms" not in section["services"][0].get("objectives", {})
    alert = latency_alert(plans["staging"], "mlops-staging-churn")
    assert alert["expr"].endswith(") * 1000 > 300")
    assert "300 ms" in alert["annotations"]["summary"]


def test_a_services_own_latency_objective_wins_over_its_models(
    plans: dict[str, Plan], plan_stack: Any
) -> None:
    """Prod's service says 300 ms itself; churn's objective there is 250 ms."""
    section = json.loads(load_stack_config(PROJECT_DIR, "prod").values[f"{NS}kubernetes"])
    assert section["services"][0]["objectives"]["latencyP99Ms"] == 300
    assert latency_alert(plans["prod"], "mlops-prod-churn")["expr"].endswith(") * 1000 > 300")
    # The same service with a larger value of its own: still its own.
    section["services"][0]["objectives"]["latencyP99Ms"] = 700
    plan = plan_stack("prod", {f"{NS}kubernetes": section})
    assert latency_alert(plan, "mlops-prod-churn")["expr"].endswith(") * 1000 > 700")


def test_without_a_model_objective_the_service_keeps_the_default(plan_stack: Any) -> None:
    registry = json.loads(load_stack_config(PROJECT_DIR, "staging").values[f"{NS}modelRegistry"])
    for model in registry["models"]:
        model.pop("latencyObjectiveP99Ms", None)
    plan = plan_stack("staging", {f"{NS}modelRegistry": registry})
    assert latency_alert(plan, "mlops-staging-churn")["expr"].endswith(") * 1000 > 500")
