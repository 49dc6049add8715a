"""The `kubernetes` config section (issue 9): the cluster (EKS or existing, the latter's
kubeconfig a secret stack key), the serving sidecar, monitoring and gateway settings, the model
services, their images, capacity, disruption budget, rollout, shadow, capture and objectives,
and the rules across keys, with the exact message of each refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from components.config import (
    EKS_VERSIONS,
    KUBERNETES_IMAGE_ACCEPTED,
    PINNED_IMAGE_ACCEPTED,
    CanaryWeights,
    ConfigError,
    EksCluster,
    ExistingCluster,
    KubernetesGateway,
    PlatformConfig,
    ResourceQuantities,
    ServiceObjectives,
    load_platform_config,
)
from planner.mocks import Registration
from planner.run import PROJECT_DIR, run_stack_config
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
KUBECONFIG_KEY = f"{NS}kubeconfig"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-server:1.4.2"
DIGEST = "ghcr.io/acme/model-server@sha256:" + "a" * 64
SIDECAR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving-sidecar:0.1.0"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"]
NETWORK = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": SUBNETS,
    "securityGroupIds": ["sg-0a1b2c3d"],
}
EXISTING = {"mode": "existing", "clusterName": "shared-ml", "version": "1.35"}
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: ci, user: {token: s3cr3t-t0k3n}}]\n"
SECRET_TEXT = "s3cr3t-t0k3n"
VERSION_ACCEPTED = 'an integer >= 1 (a pinned model package version) or "latest-approved"'
S0 = "kubernetes.services[0]"
CLUSTER_ACCEPTED = (
    'a mapping with mode "eks" (required keys version; optional keys subnetIds, '
    "endpointPublicAccessCidrs, nodeInstanceTypes, minNodes, maxNodes) or mode "
    '"existing" (required keys clusterName, version; the kubeconfig in the secret key '
    "kubeconfig)"
)
PLAIN_TEXT_KUBECONFIG = (
    f"stacks/Pulumi.dev.yaml: {KUBECONFIG_KEY}: a secret given in plain text: it would be stored "
    "unencrypted in the stack file and the state (got <plain text, not shown>); accepted: a "
    "Pulumi secret: pulumi config set --secret kubeconfig < FILE"
)
EMPTY_KUBECONFIG = (
    f"stacks/Pulumi.dev.yaml: {KUBECONFIG_KEY}: empty or not text (got <secret, not shown>); "
    "accepted: the file's text"
)
MISSING_KUBECONFIG = (
    f"stacks/Pulumi.dev.yaml: {KUBECONFIG_KEY}: required when kubernetes.cluster.mode is "
    "existing: the provider connects with it (got <missing>); accepted: the cluster's "
    "kubeconfig as a secret: pulumi config set --secret kubeconfig < FILE"
)


def stack_values(stack: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, stack).values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def service(**fields: Any) -> dict[str, Any]:
    return {"name": "churn", "model": "churn", "modelVersion": 3, "image": IMAGE, **fields}


def kubernetes(*services: dict[str, Any], **section: Any) -> dict[str, Any]:
    """A valid enabled section on an EKS cluster; `section` replaces whole keys."""
    return {
        "enabled": True,
        "cluster": {"mode": "eks", "version": "1.35", "subnetIds": SUBNETS},
        "prometheusStackChartVersion": "75.15.1",
        "servingSidecarImage": SIDECAR,
        "services": list(services),
        **section,
    }


def eks(**fields: Any) -> dict[str, Any]:
    return {"mode": "eks", "version": "1.35", "subnetIds": SUBNETS, **fields}


def load(stack: str = "dev", secret_keys: tuple[str, ...] = (), **overrides: Any) -> PlatformConfig:
    return load_platform_config(stack_values(stack, **overrides), stack, secret_keys=secret_keys)


def refusal(
    *services: dict[str, Any],
    stack: str = "dev",
    secret_keys: tuple[str, ...] = (),
    **overrides: Any,
) -> ConfigError:
    overrides.setdefault("kubernetes", kubernetes(*services))
    with pytest.raises(ConfigError) as caught:
        load(stack, secret_keys, **overrides)
    return caught.value


def problems(
    *services: dict[str, Any],
    stack: str = "dev",
    secret_keys: tuple[str, ...] = (),
    **overrides: Any,
) -> list[str]:
    error = refusal(*services, stack=stack, secret_keys=secret_keys, **overrides)
    return [p.render(f"stacks/Pulumi.{stack}.yaml") for p in error.problems]


def line(key: str, problem: str, got: str, accepted: str, stack: str = "dev") -> str:
    return f"stacks/Pulumi.{stack}.yaml: {NS}{key}: {problem} (got {got}); accepted: {accepted}"


def test_a_full_eks_config_is_accepted_with_its_defaults() -> None:
    cfg = load(kubernetes=kubernetes(service(modelVersion="latest-approved")))
    section = cfg.kubernetes
    assert section.enabled is True
    assert section.namespace_prefix == "mlops"
    assert section.prometheus_stack_chart_version == "75.15.1"
    assert section.serving_sidecar_image == SIDECAR
    assert section.cluster == EksCluster(
        mode="eks",
        version="1.35",
        subnet_ids=SUBNETS,
        endpoint_public_access_cidrs=[],
        node_instance_types=["m6i.large"],
        min_nodes=2,
        max_nodes=4,
    )
    assert cfg.kubeconfig is None
    (svc,) = section.services
    assert (svc.name, svc.model, svc.model_version, svc.image) == (
        "churn",
        "churn",
        "latest-approved",
        IMAGE,
    )
    assert (svc.replicas.min, svc.replicas.max, svc.pdb_min_available) == (2, 4, 1)
    assert svc.resources.requests == ResourceQuantities(cpu="500m", memory="1Gi")
    assert svc.resources.limits == ResourceQuantities(cpu="1", memory="2Gi")
    assert svc.target_cpu_percent == 70
    assert (svc.rollout.strategy, svc.rollout.active, svc.rollout.green_version) == (
        "blue-green",
        "blue",
        None,
    )
    assert svc.shadow is None
    assert svc.capture.sampling_percent == 100


def test_the_monitoring_gateway_and_service_defaults() -> None:
    section = load(kubernetes=kubernetes(service())).kubernetes
    assert section.monitoring_namespace == "monitoring"
    assert section.prometheus_stack_values == {}
    assert section.gateway == KubernetesGateway(
        class_name="eg", data_plane_namespace="envoy-gateway-system"
    )
    (svc,) = section.services
    assert svc.model_port == 8080
    assert svc.objectives == ServiceObjectives(
        max_error_percent=2.0, latency_p99_ms=500, max_cpu_percent=90, for_minutes=5
    )


def test_monitoring_gateway_port_and_objectives_can_be_set() -> None:
    values = {"grafana": {"enabled": False}, "prometheus": {"prometheusSpec": {"retention": "7d"}}}
    section = load(
        kubernetes=kubernetes(
            service(
                modelPort=9000,
                objectives={
                    "maxErrorPercent": 0.5,
                    "latencyP99Ms": 250,
                    "maxCpuPercent": 120,
                    "forMinutes": 10,
                },
            ),
            prometheusStackValues=values,
            monitoringNamespace="observability",
            gateway={"className": "istio", "dataPlaneNamespace": "istio-ingress"},
        )
    ).kubernetes
    assert section.prometheus_stack_values == values
    assert section.monitoring_namespace == "observability"
    assert section.gateway == KubernetesGateway(
        class_name="istio", data_plane_namespace="istio-ingress"
    )
    (svc,) = section.services
    assert svc.model_port == 9000
    assert svc.objectives == ServiceObjectives(
        max_error_percent=0.5, latency_p99_ms=250, max_cpu_percent=120, for_minutes=10
    )


def test_prometheus_stack_values_must_be_a_mapping() -> None:
    assert problems(kubernetes=kubernetes(service(), prometheusStackValues=["grafana"])) == [
        line(
            "kubernetes.prometheusStackValues",
            "input should be a valid dictionary",
            '["grafana"]',
            "mapping of (string) to (typing.Any)",
        )
    ]


def test_a_prod_canary_service_on_an_existing_cluster_is_accepted() -> None:
    cfg = load(
        "prod",
        (KUBECONFIG_KEY,),
        kubeconfig=KUBECONFIG,
        kubernetes=kubernetes(
            service(
                image=DIGEST,
                replicas={"min": 3, "max": 10},
                pdbMinAvailable=2,
                resources={
                    "requests": {"cpu": "250m", "memory": "512Mi"},
                    "limits": {"cpu": "0.5", "memory": "1G"},
                },
                targetCpuPercent=60,
                rollout={
                    "strategy": "canary",
                    "canaryVersion": 4,
                    "weights": {"stable": 90, "canary": 10},
                },
                shadow={"modelVersion": 5, "mirrorPercent": 20},
                capture={"samplingPercent": 10},
            ),
            cluster=EXISTING,
            namespacePrefix="ml",
        ),
    )
    assert cfg.kubernetes.cluster == ExistingCluster(
        mode="existing", cluster_name="shared-ml", version="1.35"
    )
    assert cfg.kubeconfig is not None
    assert cfg.kubeconfig.get_secret_value() == KUBECONFIG
    assert SECRET_TEXT not in repr(cfg.kubeconfig)
    assert cfg.kubernetes.namespace_prefix == "ml"
    (svc,) = cfg.kubernetes.services
    assert svc.image == DIGEST
    assert svc.rollout.weights == CanaryWeights(stable=90, canary=10)
    assert svc.rollout.canary_version == 4
    assert svc.shadow is not None
    assert (svc.shadow.model_version, svc.shadow.mirror_percent) == (5, 20)


def test_dev_keeps_kubernetes_disabled_and_staging_and_prod_enable_it() -> None:
    def shipped(stack: str) -> PlatformConfig:
        cfg = load_stack_config(PROJECT_DIR, stack)
        return load_platform_config(cfg.values, stack, secret_keys=cfg.secret_keys)

    dev = shipped("dev").kubernetes
    assert dev.enabled is False
    assert dev.services == []

    def ecr(account: str, repository: str) -> str:
        return f"{account}.dkr.ecr.eu-west-1.amazonaws.com/{repository}"

    # Each stack's images are tags in its own account's ECR, resolved to digests at deploy.
    staging_model = ecr("123456789012", "mlops-model-server-sklearn:1.2-1")
    prod_model = ecr("111111111111", "mlops-model-server-sklearn:1.2-1")
    gateway = {"className": "eg", "dataPlaneNamespace": "envoy-gateway-system"}

    staging_cfg = shipped("staging")
    staging = staging_cfg.kubernetes
    assert staging_cfg.kubeconfig is None
    assert staging.enabled is True
    assert staging.cluster == EksCluster(
        mode="eks",
        version="1.35",
        subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"],
        endpoint_public_access_cidrs=["203.0.113.0/24"],
        node_instance_types=["m6i.large"],
        min_nodes=2,
        max_nodes=4,
    )
    assert staging.prometheus_stack_chart_version == "75.15.1"
    assert staging.serving_sidecar_image == ecr("123456789012", "mlops-serving-sidecar:0.1.0")
    assert (staging.namespace_prefix, staging.monitoring_namespace) == ("mlops", "monitoring")
    assert staging.prometheus_stack_values == {}
    assert staging.gateway.model_dump(by_alias=True) == gateway
    assert [s.model_dump(by_alias=True) for s in staging.services] == [
        {
            "name": "churn",
            "model": "churn",
            "modelVersion": 3,
            "image": staging_model,
            "replicas": {"min": 2, "max": 4},
            "pdbMinAvailable": 1,
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "1", "memory": "2Gi"},
            },
            "targetCpuPercent": 70,
            "rollout": {
                "strategy": "canary",
                "active": "blue",
                "greenVersion": None,
                "canaryVersion": 4,
                "weights": {"stable": 90, "canary": 10},
            },
            "shadow": {"modelVersion": 5, "mirrorPercent": 25},
            "capture": {"samplingPercent": 100},
            "modelPort": 8080,
            "objectives": {
                "maxErrorPercent": 2.0,
                "latencyP99Ms": 500,
                "maxCpuPercent": 90,
                "forMinutes": 5,
            },
        }
    ]

    prod_cfg = shipped("prod")
    prod = prod_cfg.kubernetes
    assert prod_cfg.kubeconfig is None
    assert prod.enabled is True
    assert prod.cluster == EksCluster(
        mode="eks",
        version="1.35",
        subnet_ids=[
            "subnet-0c3d4e5f607182930",
            "subnet-0d4e5f60718293a41",
            "subnet-0e5f60718293a4b52",
        ],
        endpoint_public_access_cidrs=[],
        node_instance_types=["m6i.large", "m6a.large"],
        min_nodes=4,
        max_nodes=9,
    )
    assert prod.prometheus_stack_chart_version == "75.15.1"
    assert prod.serving_sidecar_image == ecr("111111111111", "mlops-serving-sidecar:0.1.0")
    assert (prod.namespace_prefix, prod.monitoring_namespace) == ("mlops", "monitoring")
    assert prod.prometheus_stack_values == {}
    assert prod.gateway.model_dump(by_alias=True) == gateway
    assert [s.model_dump(by_alias=True) for s in prod.services] == [
        {
            "name": "churn",
            "model": "churn",
            "modelVersion": 3,
            "image": prod_model,
            "replicas": {"min": 3, "max": 12},
            "pdbMinAvailable": 2,
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "targetCpuPercent": 70,
            "rollout": {
                "strategy": "blue-green",
                "active": "blue",
                "greenVersion": 4,
                "canaryVersion": None,
                "weights": None,
            },
            "shadow": None,
            "capture": {"samplingPercent": 50},
            "modelPort": 8080,
            "objectives": {
                "maxErrorPercent": 1,
                "latencyP99Ms": 300,
                "maxCpuPercent": 85,
                "forMinutes": 5,
            },
        }
    ]


UNPINNED = (
    "image without a pinned tag or digest (no tag, an empty tag or latest), so what a rollout "
    "runs would change with every push"
)


@pytest.mark.parametrize(
    "image", ["churn-server", "ghcr.io/acme/churn-server:latest", "ghcr.io/acme/churn-server:"]
)
def test_an_image_without_a_pinned_tag_or_digest_is_refused(image: str) -> None:
    assert problems(service(image=image)) == [
        line(f"{S0}.image", UNPINNED, repr(image), PINNED_IMAGE_ACCEPTED)
    ]


def test_a_malformed_image_digest_is_refused() -> None:
    image = "ghcr.io/acme/churn-server@sha256:abc"
    assert problems(service(image=image)) == [
        line(f"{S0}.image", "not a well-formed image reference", repr(image), PINNED_IMAGE_ACCEPTED)
    ]


SIDECAR_MISSING = line(
    "kubernetes.servingSidecarImage",
    "required when kubernetes.enabled is true: every model pod fetches its model, captures and "
    "reports metrics through it",
    "<missing>",
    PINNED_IMAGE_ACCEPTED + " (built from images/serving_sidecar)",
)


def test_enabled_needs_the_serving_sidecar_image() -> None:
    section = kubernetes(service())
    del section["servingSidecarImage"]
    assert problems(kubernetes=section) == [SIDECAR_MISSING]


@pytest.mark.parametrize(
    "image",
    [
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving-sidecar",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving-sidecar:latest",
    ],
)
def test_an_unpinned_serving_sidecar_image_is_refused(image: str) -> None:
    assert problems(kubernetes=kubernetes(service(), servingSidecarImage=image)) == [
        line(
            "kubernetes.servingSidecarImage",
            UNPINNED,
            repr(image),
            PINNED_IMAGE_ACCEPTED + ", or unset",
        )
    ]


def test_replicas_min_must_exceed_the_pdb_min_available() -> None:
    assert problems(service(replicas={"min": 2, "max": 4}, pdbMinAvailable=2)) == [
        line(
            f"{S0}.pdbMinAvailable",
            "not below replicas.min (2): at the autoscaler's floor the disruption budget allows "
            "no eviction, so node drains would block",
            "2",
            "an integer <= 1, or replicas.min >= 3",
        )
    ]


def test_canary_weights_must_add_up_to_100() -> None:
    rollout = {"strategy": "canary", "canaryVersion": 4, "weights": {"stable": 80, "canary": 10}}
    assert problems(service(rollout=rollout)) == [
        line(
            f"{S0}.rollout.weights",
            "the shares add up to 90%, not 100%",
            '{"stable": 80, "canary": 10}',
            "stable + canary = 100",
        )
    ]


def test_a_canary_needs_its_version_and_weights() -> None:
    assert problems(service(rollout={"strategy": "canary"})) == [
        line(
            f"{S0}.rollout.canaryVersion",
            "required when strategy is canary",
            "<missing>",
            f"a model version ({VERSION_ACCEPTED})",
        ),
        line(
            f"{S0}.rollout.weights",
            "required when strategy is canary",
            "<missing>",
            "a mapping {stable: <int>, canary: <int>} adding up to 100",
        ),
    ]


def test_blue_green_refuses_canary_settings_and_green_without_a_version() -> None:
    rollout = {"active": "green", "weights": {"stable": 50, "canary": 50}}
    assert problems(service(rollout=rollout)) == [
        line(
            f"{S0}.rollout.weights",
            "a canary setting, and the strategy is blue-green",
            '{"stable": 50, "canary": 50}',
            "unset, or strategy: canary",
        ),
        line(
            f"{S0}.rollout.greenVersion",
            "active is green, and the green deployment has no model version",
            "<missing>",
            f"a model version ({VERSION_ACCEPTED}), or active: blue",
        ),
    ]


def test_a_shadow_share_without_a_shadow_version_is_refused() -> None:
    assert problems(service(shadow={"mirrorPercent": 20})) == [
        line(
            f"{S0}.shadow.modelVersion",
            "shadow.mirrorPercent (20) mirrors traffic to a shadow, and no shadow version is given",
            "<missing>",
            f"a model version ({VERSION_ACCEPTED}), or shadow unset",
        )
    ]


def test_kubernetes_needs_the_data_lake_and_the_registry() -> None:
    assert problems(
        service(),
        dataLake={"enabled": False},
        modelRegistry={"enabled": False},
        featureStore={"enabled": False},
        training={"enabled": False},
        inference={"enabled": False},
        drift={"enabled": False},
        retraining={"enabled": False},
        quality={"enabled": False},
    ) == [
        line(
            "kubernetes.enabled",
            "Kubernetes services serve registered model versions and capture to the data lake, "
            "and dataLake.enabled and modelRegistry.enabled are false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


def test_a_service_of_an_undeclared_model_is_refused() -> None:
    assert problems(service(model="fraud")) == [
        line(f"{S0}.model", "not a model of modelRegistry.models", "'fraud'", "one of churn")
    ]


def test_duplicate_service_names_are_refused() -> None:
    assert problems(service(), service(modelVersion=4)) == [
        line(
            "kubernetes.services[1].name",
            "service already declared at services[0]",
            "'churn'",
            "a name used once per stack",
        )
    ]


def test_prod_needs_at_least_two_replicas() -> None:
    assert problems(service(replicas={"min": 1, "max": 3}, pdbMinAvailable=0), stack="prod") == [
        line(
            f"{S0}.replicas.min",
            "a prod service needs more than one replica to survive a node's loss",
            "1",
            "an integer >= 2 when tier is prod",
            stack="prod",
        )
    ]


def test_limits_below_requests_are_refused() -> None:
    resources = {
        "requests": {"cpu": "1500m", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "2000Mi"},
    }
    assert problems(service(resources=resources)) == [
        line(
            f"{S0}.resources.limits.cpu",
            "below resources.requests.cpu (1500m); Kubernetes refuses a limit below the request",
            "'1'",
            "a quantity >= 1500m",
        ),
        line(
            f"{S0}.resources.limits.memory",
            "below resources.requests.memory (2Gi); Kubernetes refuses a limit below the request",
            "'2000Mi'",
            "a quantity >= 2Gi",
        ),
    ]


def test_a_quantity_that_is_not_a_kubernetes_quantity_is_refused() -> None:
    resources = {"requests": {"cpu": "half", "memory": "1Gi"}}
    (problem,) = problems(service(resources=resources))
    assert problem.startswith(
        f"stacks/Pulumi.dev.yaml: {NS}{S0}.resources.requests.cpu: string should match pattern"
    )
    assert "(got 'half')" in problem


def test_objectives_out_of_range_are_refused() -> None:
    objectives = {"maxErrorPercent": 0, "latencyP99Ms": 0, "maxCpuPercent": 1001, "forMinutes": 61}
    assert problems(service(objectives=objectives)) == [
        line(
            f"{S0}.objectives.maxErrorPercent",
            "input should be greater than 0",
            "0",
            "number > 0, <= 100",
        ),
        line(
            f"{S0}.objectives.latencyP99Ms",
            "input should be greater than or equal to 1",
            "0",
            "integer >= 1, <= 600000",
        ),
        line(
            f"{S0}.objectives.maxCpuPercent",
            "input should be less than or equal to 1000",
            "1001",
            "integer >= 1, <= 1000",
        ),
        line(
            f"{S0}.objectives.forMinutes",
            "input should be less than or equal to 60",
            "61",
            "integer >= 1, <= 60",
        ),
    ]


def test_a_model_port_below_1024_is_refused() -> None:
    assert problems(service(modelPort=80)) == [
        line(
            f"{S0}.modelPort",
            "input should be greater than or equal to 1024",
            "80",
            "integer >= 1024, <= 65535",
        )
    ]


DNS_LABEL = "^[a-z]([-a-z0-9]*[a-z0-9])?$"


def test_a_gateway_class_name_that_is_not_a_dns_label_is_refused() -> None:
    gateway = {"className": "Envoy_GW"}
    assert problems(kubernetes=kubernetes(service(), gateway=gateway)) == [
        line(
            "kubernetes.gateway.className",
            f"string should match pattern '{DNS_LABEL}'",
            "'Envoy_GW'",
            f"string at most 40 characters, matching `{DNS_LABEL}`",
        )
    ]


def test_an_unknown_cluster_mode_is_refused() -> None:
    """The key at fault is the cluster's `mode`, missing or unknown."""
    assert problems(kubernetes=kubernetes(cluster={"mode": "gke"})) == [
        line(
            "kubernetes.cluster.mode",
            "cluster mode 'gke' is neither eks nor existing",
            "'gke'",
            CLUSTER_ACCEPTED + ", or unset",
        )
    ]
    assert problems(kubernetes=kubernetes(cluster={"version": "1.35"})) == [
        line(
            "kubernetes.cluster.mode",
            "cluster mode <missing> is neither eks nor existing",
            "<missing>",
            CLUSTER_ACCEPTED + ", or unset",
        )
    ]


def test_an_unknown_eks_version_lists_the_accepted_ones() -> None:
    assert EKS_VERSIONS == ("1.34", "1.35", "1.36")
    for version in ("1.20", "1.33", "1.37"):
        assert problems(kubernetes=kubernetes(cluster=eks(version=version))) == [
            line(
                "kubernetes.cluster.version",
                "input should be '1.34', '1.35' or '1.36'",
                repr(version),
                'one of "1.34", "1.35", "1.36"',
            )
        ]


def test_cluster_errors_point_at_the_stack_files_keys() -> None:
    assert problems(kubernetes=kubernetes(cluster={"mode": "existing", "version": "1.33"})) == [
        line("kubernetes.cluster.clusterName", "required key is missing", "<missing>", "a value"),
        line(
            "kubernetes.cluster.version",
            "input should be '1.34', '1.35' or '1.36'",
            "'1.33'",
            'one of "1.34", "1.35", "1.36"',
        ),
    ]
    assert problems(kubernetes=kubernetes(cluster={"mode": "existing"})) == [
        line("kubernetes.cluster.clusterName", "required key is missing", "<missing>", "a value"),
        line(
            "kubernetes.cluster.version",
            "required key is missing",
            "<missing>",
            'one of "1.34", "1.35", "1.36"',
        ),
    ]


def test_enabled_needs_a_cluster_a_pinned_chart_and_the_sidecar() -> None:
    section = {"enabled": True}
    assert problems(kubernetes=section) == [
        line(
            "kubernetes.cluster",
            "required when kubernetes.enabled is true",
            "<missing>",
            CLUSTER_ACCEPTED,
        ),
        line(
            "kubernetes.prometheusStackChartVersion",
            "required when kubernetes.enabled is true: the monitoring chart is pinned",
            "<missing>",
            'a kube-prometheus-stack chart version, e.g. "75.15.1"',
        ),
        SIDECAR_MISSING,
    ]


def test_a_prod_cluster_api_open_to_the_internet_is_refused() -> None:
    cluster = eks(endpointPublicAccessCidrs=["0.0.0.0/0"])
    assert problems(service(), stack="prod", kubernetes=kubernetes(service(), cluster=cluster)) == [
        line(
            "kubernetes.cluster.endpointPublicAccessCidrs",
            "a prod cluster's API server may not be open to the whole internet",
            '["0.0.0.0/0"]',
            "the CIDRs of the networks that administer the cluster, or [] (private endpoint "
            "only) when tier is prod",
            stack="prod",
        )
    ]


EKS_WITHOUT_SUBNETS = line(
    "kubernetes.cluster.subnetIds",
    "the cluster's control plane and nodes need subnets, and no network is set",
    "<missing>",
    "private subnet ids in two or more zones, or network.subnetIds",
)


def test_an_eks_cluster_without_subnets_and_without_a_network_is_refused() -> None:
    cluster = {"mode": "eks", "version": "1.35"}
    assert problems(kubernetes=kubernetes(service(), cluster=cluster)) == [EKS_WITHOUT_SUBNETS]


def test_an_eks_cluster_without_subnets_takes_the_network() -> None:
    cluster = {"mode": "eks", "version": "1.35"}
    cfg = load(network=NETWORK, kubernetes=kubernetes(service(), cluster=cluster))
    assert isinstance(cfg.kubernetes.cluster, EksCluster)
    assert cfg.kubernetes.cluster.subnet_ids is None
    assert cfg.network is not None
    assert cfg.network.subnet_ids == SUBNETS


def test_an_eks_cluster_needs_two_subnets() -> None:
    cluster = eks(subnetIds=SUBNETS[:1])
    assert problems(kubernetes=kubernetes(service(), cluster=cluster)) == [
        line(
            "kubernetes.cluster.subnetIds",
            "list should have at least 2 items after validation, not 1",
            json.dumps(SUBNETS[:1]),
            "list of (string matching `^subnet-[0-9a-f]{8,17}$`) at least 2 items, at most 16 "
            "items, or unset",
        )
    ]


def test_the_kubeconfig_is_no_longer_named_in_the_cluster() -> None:
    cluster = {**EXISTING, "kubeconfigSecret": "kubeconfig"}
    (problem,) = problems(
        kubernetes=kubernetes(service(), cluster=cluster),
        kubeconfig=KUBECONFIG,
        secret_keys=(KUBECONFIG_KEY,),
    )
    assert problem.startswith(
        f"stacks/Pulumi.dev.yaml: {NS}kubernetes.cluster.kubeconfigSecret: unknown key "
        "(got 'kubeconfig'); accepted: one of the keys mode, "
    )


def test_an_unknown_key_of_an_existing_cluster_lists_its_own_keys() -> None:
    cluster = {**EXISTING, "kubeconfigSecret": "kubeconfig"}
    assert problems(
        kubernetes=kubernetes(service(), cluster=cluster),
        kubeconfig=KUBECONFIG,
        secret_keys=(KUBECONFIG_KEY,),
    ) == [
        line(
            "kubernetes.cluster.kubeconfigSecret",
            "unknown key",
            "'kubeconfig'",
            "one of the keys mode, clusterName, version",
        )
    ]


def test_an_existing_cluster_needs_the_kubeconfig_secret() -> None:
    assert problems(kubernetes=kubernetes(service(), cluster=EXISTING)) == [MISSING_KUBECONFIG]


def assert_secret_not_shown(error: ConfigError) -> None:
    rendered = "\n".join(p.render("stacks/Pulumi.dev.yaml") for p in error.problems)
    for text in (rendered, str(error), repr(error.problems)):
        assert SECRET_TEXT not in text
        assert "apiVersion" not in text


def test_a_kubeconfig_in_plain_text_is_refused_without_showing_it() -> None:
    # On an EKS cluster the key is not needed, and still refused in plain text.
    error = refusal(service(), kubeconfig=KUBECONFIG)
    assert [p.render("stacks/Pulumi.dev.yaml") for p in error.problems] == [PLAIN_TEXT_KUBECONFIG]
    assert_secret_not_shown(error)


def test_a_kubeconfig_in_plain_text_on_an_existing_cluster_is_refused_without_showing_it() -> None:
    error = refusal(kubernetes=kubernetes(service(), cluster=EXISTING), kubeconfig=KUBECONFIG)
    assert error.problems[0].render("stacks/Pulumi.dev.yaml") == PLAIN_TEXT_KUBECONFIG
    assert_secret_not_shown(error)


@pytest.mark.parametrize("blank", ["", "   \n"])
def test_an_empty_kubeconfig_secret_is_refused(blank: str) -> None:
    error = refusal(service(), kubeconfig=blank, secret_keys=(KUBECONFIG_KEY,))
    assert [p.render("stacks/Pulumi.dev.yaml") for p in error.problems] == [EMPTY_KUBECONFIG]


@pytest.mark.parametrize(
    ("kubeconfig", "secret_keys", "expected"),
    [
        pytest.param(KUBECONFIG, (), PLAIN_TEXT_KUBECONFIG, id="plain-text"),
        pytest.param("", (KUBECONFIG_KEY,), EMPTY_KUBECONFIG, id="empty"),
    ],
)
def test_a_refused_kubeconfig_of_an_existing_cluster_is_reported_once(
    kubeconfig: str, secret_keys: tuple[str, ...], expected: str
) -> None:
    assert problems(
        kubernetes=kubernetes(service(), cluster=EXISTING),
        kubeconfig=kubeconfig,
        secret_keys=secret_keys,
    ) == [expected]


@dataclass(frozen=True)
class Bad:
    id: str
    overrides: dict[str, Any]
    expected: list[str]
    secret_keys: tuple[str, ...] = field(default=())


def _without_sidecar() -> dict[str, Any]:
    section = kubernetes(service())
    del section["servingSidecarImage"]
    return section


BAD_CONFIGS = [
    Bad("sidecar-missing", {"kubernetes": _without_sidecar()}, [SIDECAR_MISSING]),
    Bad(
        "eks-without-subnets",
        {"kubernetes": kubernetes(service(), cluster={"mode": "eks", "version": "1.35"})},
        [EKS_WITHOUT_SUBNETS],
    ),
    Bad(
        "unknown-eks-version",
        {"kubernetes": kubernetes(service(), cluster=eks(version="1.33"))},
        [
            line(
                "kubernetes.cluster.version",
                "input should be '1.34', '1.35' or '1.36'",
                "'1.33'",
                'one of "1.34", "1.35", "1.36"',
            )
        ],
    ),
    Bad(
        "kubeconfig-plain-text",
        {"kubernetes": kubernetes(service()), "kubeconfig": KUBECONFIG},
        [PLAIN_TEXT_KUBECONFIG],
    ),
    Bad(
        "kubeconfig-secret-empty",
        {"kubernetes": kubernetes(service()), "kubeconfig": " "},
        [EMPTY_KUBECONFIG],
        secret_keys=(KUBECONFIG_KEY,),
    ),
    Bad(
        "kubeconfig-missing",
        {"kubernetes": kubernetes(service(), cluster=EXISTING)},
        [MISSING_KUBECONFIG],
    ),
    Bad(
        "canary-weights",
        {
            "kubernetes": kubernetes(
                service(
                    rollout={
                        "strategy": "canary",
                        "canaryVersion": 4,
                        "weights": {"stable": 80, "canary": 10},
                    }
                )
            )
        },
        [
            line(
                f"{S0}.rollout.weights",
                "the shares add up to 90%, not 100%",
                '{"stable": 80, "canary": 10}',
                "stable + canary = 100",
            )
        ],
    ),
    # The issue's own examples: an unpinned image, replicas at the PDB's minimum, a shadow share
    # with no shadow version.
    Bad(
        "unpinned-image",
        {"kubernetes": kubernetes(service(image="ghcr.io/acme/churn-server:latest"))},
        [
            line(
                f"{S0}.image", UNPINNED, "'ghcr.io/acme/churn-server:latest'", PINNED_IMAGE_ACCEPTED
            )
        ],
    ),
    Bad(
        "replicas-at-the-pdb-minimum",
        {"kubernetes": kubernetes(service(replicas={"min": 2, "max": 4}, pdbMinAvailable=2))},
        [
            line(
                f"{S0}.pdbMinAvailable",
                "not below replicas.min (2): at the autoscaler's floor the disruption budget "
                "allows no eviction, so node drains would block",
                "2",
                "an integer <= 1, or replicas.min >= 3",
            )
        ],
    ),
    Bad(
        "shadow-without-version",
        {"kubernetes": kubernetes(service(shadow={"mirrorPercent": 20}))},
        [
            line(
                f"{S0}.shadow.modelVersion",
                "shadow.mirrorPercent (20) mirrors traffic to a shadow, and no shadow version is "
                "given",
                "<missing>",
                f"a model version ({VERSION_ACCEPTED}), or shadow unset",
            )
        ],
    ),
]


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.id) for b in BAD_CONFIGS])
def test_the_program_refuses_a_bad_kubernetes_config_before_any_resource(bad: Bad) -> None:
    cfg = load_stack_config(PROJECT_DIR, "dev")
    values = dict(cfg.values)
    for key, value in bad.overrides.items():
        values[f"{NS}{key}"] = value if isinstance(value, str) else json.dumps(value)
    secret_keys = [*cfg.secret_keys, *bad.secret_keys]
    registered: list[Registration] = []
    with pytest.raises(ConfigError) as caught:
        run_stack_config(
            replace(cfg, values=values, secret_keys=secret_keys), on_register=registered.append
        )
    assert caught.value.stack_file == "stacks/Pulumi.dev.yaml"
    assert [p.render("stacks/Pulumi.dev.yaml") for p in caught.value.problems] == bad.expected
    assert SECRET_TEXT not in str(caught.value)
    assert registered == []


def test_a_tag_outside_ecr_or_in_another_region_is_refused_for_pods() -> None:
    """Pods run images by digest (CKV_K8S_43): a digest, or an ECR tag the program resolves."""
    ghcr = "ghcr.io/acme/churn-server:1.4.2"
    other_region = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-server:1.4.2"
    assert problems(service(image=ghcr), service(name="churn-b", image=other_region)) == [
        line(
            f"{S0}.image",
            "pinned by a tag outside ECR: the program cannot resolve it to a digest, and a tag "
            "can be pushed again",
            repr(ghcr),
            KUBERNETES_IMAGE_ACCEPTED,
        ),
        line(
            "kubernetes.services[1].image",
            "an ECR image of region us-east-1; the program resolves tags in eu-west-1 only",
            repr(other_region),
            KUBERNETES_IMAGE_ACCEPTED,
        ),
    ]
    # A digest from any registry, and an ECR tag of the stack's region, are accepted.
    cfg = load_platform_config(
        stack_values("dev", kubernetes=kubernetes(service(image=DIGEST), service(name="b"))),
        "dev",
    )
    assert [s.image for s in cfg.kubernetes.services] == [DIGEST, IMAGE]
