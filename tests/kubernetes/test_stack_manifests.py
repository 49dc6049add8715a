"""The shipped stacks' Kubernetes objects (issue 9): every object the plan registers, rendered as
`make plan` writes it, is valid against the OpenAPI schema of the cluster's Kubernetes version
(custom resources against the schemas in planner/k8s_schemas), and passes every CKV_K8S check of
the security controls under checkov."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.k8s_manifests import REQUIRED_CHECKS, file_names, manifests, write_manifests
from planner.run import Plan
from tests.kubernetes.manifest_checks import (
    assert_manifests_valid,
    assert_required_checks_pass,
    checkov_on,
)

CLUSTER_VERSION = {"staging": "1.35", "prod": "1.35"}
"""kubernetes.cluster.version of each stack that serves on Kubernetes."""


@pytest.mark.parametrize("stack", sorted(CLUSTER_VERSION))
def test_every_object_is_valid_for_the_clusters_kubernetes_version(
    plans: dict[str, Plan], stack: str
) -> None:
    found = assert_manifests_valid(plans[stack], CLUSTER_VERSION[stack])
    kinds = sorted({m.kind for m in found})
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Gateway",
            "HTTPRoute",
            "HorizontalPodAutoscaler",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
    )


@pytest.mark.parametrize("stack", sorted(CLUSTER_VERSION))
def test_checkov_passes_every_required_kubernetes_check(
    plans: dict[str, Plan], stack: str, tmp_path: Path
) -> None:
    result = checkov_on(plans[stack], tmp_path)
    assert_required_checks_pass(result, REQUIRED_CHECKS)


def test_dev_serves_nothing_on_kubernetes(plans: dict[str, Plan], tmp_path: Path) -> None:
    assert manifests(plans["dev"]) == []
    assert write_manifests(plans["dev"], tmp_path / "k8s") == []


def test_the_written_files_are_the_plans_objects_in_a_stable_order(
    plans: dict[str, Plan], tmp_path: Path
) -> None:
    written = write_manifests(plans["staging"], tmp_path / "k8s")
    objects = file_names(manifests(plans["staging"]))
    assert [p.name for p in written if p.name in objects] == objects
    assert objects[0].startswith("01-namespace-")
