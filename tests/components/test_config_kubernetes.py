"""The `kubernetes` config section (issue 9): the cluster (EKS or existing), the model services,
their images, capacity, disruption budget, rollout, shadow and capture, and the rules across
keys, with the exact message of each refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import (
    PINNED_IMAGE_ACCEPTED,
    CanaryWeights,
    ConfigError,
    EksCluster,
    ExistingCluster,
    ResourceQuantities,
    load_platform_config,
)
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

NS = "mlops-platform:"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-server:1.4.2"
DIGEST = "ghcr.io/acme/model-server@sha256:" + "a" * 64
VERSION_ACCEPTED = 'an integer >= 1 (a pinned model package version) or "latest-approved"'
S0 = "kubernetes.services[0]"


def stack_values(stack: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, stack).values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = json.dumps(value)
    return values


def service(**fields: Any) -> dict[str, Any]:
    return {"name": "churn", "model": "churn", "modelVersion": 3, "image": IMAGE, **fields}


def kubernetes(*services: dict[str, Any], **section: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "cluster": {"mode": "eks", "version": "1.33"},
        "prometheusStackChartVersion": "75.15.1",
        "services": list(services),
        **section,
    }


def problems(*services: dict[str, Any], stack: str = "dev", **overrides: Any) -> list[str]:
    overrides.setdefault("kubernetes", kubernetes(*services))
    with pytest.raises(ConfigError) as caught:
        load_platform_config(stack_values(stack, **overrides), stack)
    return [p.render(f"stacks/Pulumi.{stack}.yaml") for p in caught.value.problems]


def line(key: str, problem: str, got: str, accepted: str, stack: str = "dev") -> str:
    return f"stacks/Pulumi.{stack}.yaml: {NS}{key}: {problem} (got {got}); accepted: {accepted}"


def test_a_full_eks_config_is_accepted_with_its_defaults() -> None:
    cfg = load_platform_config(
        stack_values("dev", kubernetes=kubernetes(service(modelVersion="latest-approved"))),
        "dev",
    )
    section = cfg.kubernetes
    assert section.enabled is True
    assert section.namespace_prefix == "mlops"
    assert section.prometheus_stack_chart_version == "75.15.1"
    assert section.cluster == EksCluster(
        mode="eks",
        version="1.33",
        endpoint_public_access_cidrs=[],
        node_instance_types=["m6i.large"],
        min_nodes=2,
        max_nodes=4,
    )
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


def test_a_prod_canary_service_on_an_existing_cluster_is_accepted() -> None:
    cfg = load_platform_config(
        stack_values(
            "prod",
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
                cluster={"mode": "existing", "kubeconfigSecret": "kubeconfig"},
                namespacePrefix="ml",
            ),
        ),
        "prod",
    )
    assert cfg.kubernetes.cluster == ExistingCluster(
        mode="existing", kubeconfig_secret="kubeconfig"
    )
    (svc,) = cfg.kubernetes.services
    assert svc.image == DIGEST
    assert svc.rollout.weights == CanaryWeights(stable=90, canary=10)
    assert svc.rollout.canary_version == 4
    assert svc.shadow is not None
    assert (svc.shadow.model_version, svc.shadow.mirror_percent) == (5, 20)


def test_the_shipped_stacks_keep_kubernetes_disabled() -> None:
    for stack in ("dev", "staging", "prod"):
        cfg = load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack)
        assert cfg.kubernetes.enabled is False
        assert cfg.kubernetes.services == []


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


def test_an_unknown_cluster_mode_is_refused() -> None:
    cluster = {"mode": "gke"}
    assert problems(kubernetes=kubernetes(cluster=cluster)) == [
        line(
            "kubernetes.cluster",
            "cluster mode 'gke' is neither eks nor existing",
            '{"mode": "gke"}',
            'a mapping with mode "eks" (required keys version; optional keys '
            "endpointPublicAccessCidrs, nodeInstanceTypes, minNodes, maxNodes) or mode "
            '"existing" (required key kubeconfigSecret), or unset',
        )
    ]


def test_cluster_errors_point_at_the_stack_files_keys() -> None:
    assert problems(kubernetes=kubernetes(cluster={"mode": "eks", "version": "1.20"})) == [
        line(
            "kubernetes.cluster.version",
            "input should be '1.31', '1.32', '1.33' or '1.34'",
            "'1.20'",
            'one of "1.31", "1.32", "1.33", "1.34"',
        )
    ]
    assert problems(kubernetes=kubernetes(cluster={"mode": "existing"})) == [
        line(
            "kubernetes.cluster.kubeconfigSecret", "required key is missing", "<missing>", "a value"
        )
    ]


def test_enabled_needs_a_cluster_and_a_pinned_chart() -> None:
    section = {"enabled": True}
    assert problems(kubernetes=section) == [
        line(
            "kubernetes.cluster",
            "required when kubernetes.enabled is true",
            "<missing>",
            'a mapping with mode "eks" (required keys version; optional keys '
            "endpointPublicAccessCidrs, nodeInstanceTypes, minNodes, maxNodes) or mode "
            '"existing" (required key kubeconfigSecret)',
        ),
        line(
            "kubernetes.prometheusStackChartVersion",
            "required when kubernetes.enabled is true: the monitoring chart is pinned",
            "<missing>",
            'a kube-prometheus-stack chart version, e.g. "75.15.1"',
        ),
    ]


def test_a_prod_cluster_api_open_to_the_internet_is_refused() -> None:
    cluster = {"mode": "eks", "version": "1.33", "endpointPublicAccessCidrs": ["0.0.0.0/0"]}
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


def test_a_kubeconfig_secret_naming_a_platform_key_is_refused() -> None:
    cluster = {"mode": "existing", "kubeconfigSecret": "tags"}
    assert problems(kubernetes=kubernetes(cluster=cluster)) == [
        line(
            "kubernetes.cluster.kubeconfigSecret",
            "names one of the platform's own config keys, not a secret holding a kubeconfig",
            "'tags'",
            "the name of a secret stack config key, e.g. kubeconfig",
        )
    ]
