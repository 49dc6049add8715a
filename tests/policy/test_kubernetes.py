"""The Kubernetes workload policies over hand-built registrations in the pulumi_kubernetes input
shapes (the Kubernetes API objects, camelCase): a Deployment that follows the controls, in its
own namespace with its own service account and a NetworkPolicy selecting its pods, passes the
whole pack; each broken control is reported by its policy with its exact message, naming the
container and the field; a container's securityContext overrides the pod's; init containers
are held to every control but the probes; a bare Pod is judged like a Deployment's template;
a stack without Kubernetes workloads marks the network policy control not applicable; and
preview values (CrossGuard's proxies, unknown outputs) go through the analyzer."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from planner.mocks import Registration
from planner.policies import PolicyReport, evaluate
from policy.mlops_policies import POLICIES
from policy.mlops_policies.kubernetes import KUBERNETES_POLICIES, image_pin_problem
from tests.policy.conftest import to_struct
from tests.policy.test_policies import record
from tests.policy.test_stack_policies_grpc import UNKNOWN_STRING, _request

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
K8S_PROVIDER_URN = "urn:pulumi:prod::mlops-platform::pulumi:providers:kubernetes::eks"
STACK_URN = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
IMAGE = (
    "111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn-serving@sha256:"
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)
NS = "inference"
LABELS = {"app.kubernetes.io/name": "churn", "app.kubernetes.io/component": "serving"}
NAMES = [p.name for p in KUBERNETES_POLICIES]
D = "Deployment container 'serving'"


def k8s(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> Registration:
    return record(type_, name, inputs, provider=K8S_PROVIDER_URN, **options)


def k8s_provider(**inputs: Any) -> Registration:
    return record("pulumi:providers:kubernetes", "eks", inputs, urn=K8S_PROVIDER_URN, provider="")


def container(name: str = "serving", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "ports": [{"containerPort": 8080}],
        "livenessProbe": {"httpGet": {"path": "/ping", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def pod_spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "serviceAccountName": "churn-serving",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container()],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def deployment(spec: dict[str, Any] | None = None, namespace: str | None = NS) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": LABELS}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "metadata": metadata,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": spec or pod_spec()},
        },
    }


def network_policy(selector: dict[str, Any] | None = None, namespace: str = NS) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "churn"}}
            if selector is None
            else selector,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": 8080}]}],
        },
    }


def stack(
    workload: dict[str, Any] | None = None, *extra: Registration, policy: bool = True
) -> list[Registration]:
    records = [
        k8s_provider(),
        k8s(NAMESPACE, "inference", {"metadata": {"name": NS}}),
        k8s(
            SERVICE_ACCOUNT,
            "churn-serving",
            {"metadata": {"name": "churn-serving", "namespace": NS}},
        ),
        k8s(DEPLOYMENT, "churn", deployment() if workload is None else workload),
        *extra,
    ]
    if policy:
        records.append(k8s(NETWORK_POLICY, "churn", network_policy()))
    return records


def _report(records: list[Registration]) -> PolicyReport:
    return evaluate(records)


def findings(records: list[Registration]) -> list[tuple[str, str]]:
    return [(v.policy, v.message) for v in _report(records).violations]


def not_applicable(records: list[Registration]) -> list[tuple[str, str, str]]:
    return [
        (n.policy, n.urn, n.message)
        for n in _report(records).not_applicable
        if n.policy.startswith("kubernetes-")
    ]


def _with_container(**changes: Any) -> dict[str, Any]:
    return deployment(pod_spec(containers=[container(**changes)]))


def _with_context(**changes: Any) -> dict[str, Any]:
    context = {**container()["securityContext"], **changes}
    return _with_container(securityContext={k: v for k, v in context.items() if v is not None})


def _with_pod_context(**changes: Any) -> dict[str, Any]:
    context = {**pod_spec()["securityContext"], **changes}
    return deployment(pod_spec(securityContext={k: v for k, v in context.items() if v is not None}))


# ---- the compliant stack -------------------------------------------------------------------------


def test_every_kubernetes_policy_is_registered_and_mandatory() -> None:
    assert [p.name for p in POLICIES if p.name.startswith("kubernetes-")] == [
        "kubernetes-pod-probes",
        "kubernetes-pod-resources",
        "kubernetes-image-pinned",
        "kubernetes-host-namespaces",
        "kubernetes-container-privileges",
        "kubernetes-run-as-non-root",
        "kubernetes-seccomp-runtime-default",
        "kubernetes-not-default-namespace",
        "kubernetes-service-account",
        "kubernetes-network-policy",
    ]
    assert {p.enforcement_level.value for p in KUBERNETES_POLICIES if p.enforcement_level} == {
        "mandatory"
    }
    assert all(p.enforcement_level is not None for p in KUBERNETES_POLICIES)


def test_compliant_deployment_passes_the_whole_pack() -> None:
    records = stack()
    assert findings(records) == []
    assert not_applicable(records) == []


def test_compliant_bare_pod_passes_the_whole_pack() -> None:
    pod = k8s(POD, "debug", {"metadata": {"namespace": NS, "labels": LABELS}, "spec": pod_spec()})
    assert findings(stack(None, pod)) == []


def test_compliant_init_container_and_sidecar_probes_not_required_of_init() -> None:
    init = container("migrate", livenessProbe=None, readinessProbe=None)
    assert findings(stack(deployment(pod_spec(initContainers=[init])))) == []


def test_a_tag_other_than_latest_and_the_token_deliberately_mounted_pass() -> None:
    spec = pod_spec(
        automountServiceAccountToken=True,
        containers=[container(image="registry.local:5000/team/churn-serving:1.4.2")],
    )
    assert findings(stack(deployment(spec))) == []


def test_container_context_alone_satisfies_the_pod_level_controls() -> None:
    context = {
        **container()["securityContext"],
        "runAsNonRoot": True,
        "runAsUser": 20000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec = pod_spec(securityContext=None, containers=[container(securityContext=context)])
    assert findings(stack(deployment(spec))) == []


# ---- each broken control -------------------------------------------------------------------------

_FIX_IMAGE = (
    "; pin it by digest (name@sha256:...) or by a tag other than 'latest', so every pod runs "
    "the image that was scanned and approved (CKV_K8S_14, CKV_K8S_43)."
)
_FIX_NON_ROOT = "in the pod's or the container's securityContext"

BAD_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "no-liveness",
        _with_container(livenessProbe=None),
        [
            (
                "kubernetes-pod-probes",
                f"{D} sets no livenessProbe; give it one so the kubelet restarts it when it "
                "hangs (CKV_K8S_8).",
            )
        ],
    ),
    (
        "no-readiness",
        _with_container(readinessProbe=None),
        [
            (
                "kubernetes-pod-probes",
                f"{D} sets no readinessProbe; give it one so it receives traffic only when it "
                "is ready (CKV_K8S_9).",
            )
        ],
    ),
    (
        "no-resources",
        _with_container(resources=None),
        [
            (
                "kubernetes-pod-resources",
                f"{D} sets no resources.{kind}.{name}; set it so the scheduler and the node "
                f"can account for the container ({control}).",
            )
            for kind, name, control in (
                ("requests", "cpu", "CKV_K8S_10"),
                ("limits", "cpu", "CKV_K8S_11"),
                ("requests", "memory", "CKV_K8S_12"),
                ("limits", "memory", "CKV_K8S_13"),
            )
        ],
    ),
    (
        "no-memory-limit",
        _with_container(
            resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}
        ),
        [
            (
                "kubernetes-pod-resources",
                f"{D} sets no resources.limits.memory; set it so the scheduler and the node "
                "can account for the container (CKV_K8S_13).",
            )
        ],
    ),
    (
        "image-latest",
        _with_container(image="churn-serving:latest"),
        [
            (
                "kubernetes-image-pinned",
                f"{D} image 'churn-serving:latest' uses the tag 'latest'{_FIX_IMAGE}",
            )
        ],
    ),
    (
        "image-untagged-with-registry-port",
        _with_container(image="registry.local:5000/churn-serving"),
        [
            (
                "kubernetes-image-pinned",
                f"{D} image 'registry.local:5000/churn-serving' has no tag{_FIX_IMAGE}",
            )
        ],
    ),
    (
        "image-unset",
        _with_container(image=None),
        [("kubernetes-image-pinned", f"{D} image is None{_FIX_IMAGE}")],
    ),
    (
        "host-namespaces",
        deployment(pod_spec(hostNetwork=True, hostPID=True, hostIPC=True)),
        [
            (
                "kubernetes-host-namespaces",
                f"Deployment pod spec {field} is True; leave it unset or false, so the pod "
                f"does not share the node's namespace ({control}).",
            )
            for field, control in (
                ("hostNetwork", "CKV_K8S_19"),
                ("hostPID", "CKV_K8S_17"),
                ("hostIPC", "CKV_K8S_18"),
            )
        ],
    ),
    (
        "privileged",
        _with_context(privileged=True),
        [
            (
                "kubernetes-container-privileges",
                f"{D} securityContext.privileged is True; leave it unset or false (CKV_K8S_16).",
            )
        ],
    ),
    (
        "escalation-unset",
        _with_context(allowPrivilegeEscalation=None),
        [
            (
                "kubernetes-container-privileges",
                f"{D} securityContext.allowPrivilegeEscalation is None; set it to false "
                "(CKV_K8S_20).",
            )
        ],
    ),
    (
        "writable-root",
        _with_context(readOnlyRootFilesystem=False),
        [
            (
                "kubernetes-container-privileges",
                f"{D} securityContext.readOnlyRootFilesystem is False; set it to true and "
                "mount an emptyDir where the container must write (CKV_K8S_22).",
            )
        ],
    ),
    (
        "capabilities-not-dropped-and-added",
        _with_context(capabilities={"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}),
        [
            (
                "kubernetes-container-privileges",
                f"{D} securityContext.capabilities.drop is ['NET_RAW']; drop ['ALL'] "
                "(CKV_K8S_28, CKV_K8S_37).",
            ),
            (
                "kubernetes-container-privileges",
                f"{D} securityContext.capabilities.add is ['SYS_ADMIN']; add no capabilities "
                "(CKV_K8S_37).",
            ),
        ],
    ),
    (
        "root-allowed",
        _with_pod_context(runAsNonRoot=None),
        [
            (
                "kubernetes-run-as-non-root",
                f"{D} securityContext.runAsNonRoot is None (set by neither); set it to true "
                f"{_FIX_NON_ROOT} (CKV_K8S_23).",
            )
        ],
    ),
    (
        "low-uid",
        _with_pod_context(runAsUser=1000),
        [
            (
                "kubernetes-run-as-non-root",
                f"{D} securityContext.runAsUser is 1000 (set by the pod); set a UID of at "
                f"least 10000 {_FIX_NON_ROOT} (CKV_K8S_40).",
            )
        ],
    ),
    (
        "uid-unset",
        _with_pod_context(runAsUser=None),
        [
            (
                "kubernetes-run-as-non-root",
                f"{D} securityContext.runAsUser is None (set by neither); set a UID of at "
                f"least 10000 {_FIX_NON_ROOT} (CKV_K8S_40).",
            )
        ],
    ),
    (
        "container-overrides-pod-to-root",
        _with_context(runAsNonRoot=False, runAsUser=0),
        [
            (
                "kubernetes-run-as-non-root",
                f"{D} securityContext.runAsNonRoot is False (set by the container); set it to "
                f"true {_FIX_NON_ROOT} (CKV_K8S_23).",
            ),
            (
                "kubernetes-run-as-non-root",
                f"{D} securityContext.runAsUser is 0 (set by the container); set a UID of at "
                f"least 10000 {_FIX_NON_ROOT} (CKV_K8S_40).",
            ),
        ],
    ),
    (
        "seccomp-unset",
        _with_pod_context(seccompProfile=None),
        [
            (
                "kubernetes-seccomp-runtime-default",
                f"{D} securityContext.seccompProfile.type is None (set by neither); set it to "
                f"RuntimeDefault {_FIX_NON_ROOT} (CKV_K8S_31).",
            )
        ],
    ),
    (
        "container-overrides-seccomp-unconfined",
        _with_context(seccompProfile={"type": "Unconfined"}),
        [
            (
                "kubernetes-seccomp-runtime-default",
                f"{D} securityContext.seccompProfile.type is 'Unconfined' (set by the "
                f"container); set it to RuntimeDefault {_FIX_NON_ROOT} (CKV_K8S_31).",
            )
        ],
    ),
    (
        "default-service-account",
        deployment(pod_spec(serviceAccountName="default")),
        [
            (
                "kubernetes-service-account",
                "Deployment pod spec serviceAccountName is 'default'; run the pod as its own "
                "service account, not 'default' (CKV_K8S_41).",
            )
        ],
    ),
    (
        "no-service-account",
        deployment(pod_spec(serviceAccountName=None)),
        [
            (
                "kubernetes-service-account",
                "Deployment pod spec serviceAccountName is None; run the pod as its own "
                "service account, not 'default' (CKV_K8S_41).",
            )
        ],
    ),
    (
        "token-automount-unset",
        deployment(pod_spec(automountServiceAccountToken=None)),
        [
            (
                "kubernetes-service-account",
                "Deployment pod spec sets no automountServiceAccountToken, so Kubernetes "
                "mounts the service account token; set it to false, or to true where the pod "
                "calls the Kubernetes API (CKV_K8S_38).",
            )
        ],
    ),
    (
        "default-namespace",
        deployment(namespace="default"),
        [
            (
                "kubernetes-not-default-namespace",
                "Deployment metadata.namespace is not set or is 'default' (nor does its "
                "provider set another namespace); put it in the workload's own namespace "
                "(CKV_K8S_21).",
            ),
            (
                "kubernetes-network-policy",
                "Deployment 'churn' in namespace 'default': no NetworkPolicy of that namespace "
                f"selects its pods (labels {LABELS!r}); add one whose spec.podSelector matches "
                "them, so their traffic is restricted (CKV2_K8S_6).",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("workload", "expected"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])  # fmt: skip
def test_each_broken_control_is_reported(
    workload: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert findings(stack(workload)) == expected


def test_init_containers_are_held_to_every_control_but_probes() -> None:
    init = container(
        "migrate",
        livenessProbe=None,
        readinessProbe=None,
        image="migrate:latest",
        resources=None,
        securityContext={"runAsUser": 0},
    )
    found = findings(stack(deployment(pod_spec(initContainers=[init]))))
    i = "Deployment init container 'migrate'"
    assert [p for p, _ in found] == [
        "kubernetes-pod-resources",
        "kubernetes-pod-resources",
        "kubernetes-pod-resources",
        "kubernetes-pod-resources",
        "kubernetes-image-pinned",
        "kubernetes-container-privileges",
        "kubernetes-container-privileges",
        "kubernetes-container-privileges",
        "kubernetes-run-as-non-root",
    ]
    assert all(m.startswith(f"{i} ") for _, m in found)
    assert found[4][1] == f"{i} image 'migrate:latest' uses the tag 'latest'{_FIX_IMAGE}"
    assert found[8][1] == (
        f"{i} securityContext.runAsUser is 0 (set by the container); set a UID of at least "
        f"10000 {_FIX_NON_ROOT} (CKV_K8S_40)."
    )


def test_a_bare_pod_is_judged_like_a_template() -> None:
    spec = pod_spec(containers=[container("debug", readinessProbe=None)], hostPID=True)
    pod = k8s(POD, "debug", {"metadata": {"namespace": NS, "labels": LABELS}, "spec": spec})
    assert findings(stack(None, pod)) == [
        (
            "kubernetes-pod-probes",
            "Pod container 'debug' sets no readinessProbe; give it one so it receives traffic "
            "only when it is ready (CKV_K8S_9).",
        ),
        (
            "kubernetes-host-namespaces",
            "Pod pod spec hostPID is True; leave it unset or false, so the pod does not share "
            "the node's namespace (CKV_K8S_17).",
        ),
    ]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (IMAGE, None),
        ("churn:1.0", None),
        ("registry.local:5000/churn:1.0", None),
        ("churn", "image 'churn' has no tag"),
        ("registry.local:5000/churn", "image 'registry.local:5000/churn' has no tag"),
        ("churn:latest", "image 'churn:latest' uses the tag 'latest'"),
        ("churn@sha256:abc", "image 'churn@sha256:abc' has a malformed digest"),
        ("", "image is ''"),
    ],
)
def test_image_pin_rule(image: str, problem: str | None) -> None:
    assert image_pin_problem(image) == problem


# ---- namespaces ----------------------------------------------------------------------------------


def test_the_provider_namespace_is_the_default_for_an_object_without_one() -> None:
    unset = deployment(namespace=None)
    policy = k8s(NETWORK_POLICY, "churn", network_policy(namespace=NS))
    records = [k8s_provider(namespace=NS), k8s(DEPLOYMENT, "churn", unset), policy]
    assert findings(records) == []


def test_an_object_without_namespace_or_provider_namespace_is_in_default() -> None:
    unset = k8s(SERVICE_ACCOUNT, "sa", {"metadata": {"name": "sa"}})
    assert findings(stack(None, unset)) == [
        (
            "kubernetes-not-default-namespace",
            "ServiceAccount metadata.namespace is not set or is 'default' (nor does its provider "
            "set another namespace); put it in the workload's own namespace (CKV_K8S_21).",
        )
    ]


# ---- the stack's network policies ----------------------------------------------------------------

_NO_POLICY = (
    "Deployment 'churn' in namespace 'inference': no NetworkPolicy of that namespace selects its "
    f"pods (labels {LABELS!r}); add one whose spec.podSelector matches them, so their traffic "
    "is restricted (CKV2_K8S_6)."
)


@pytest.mark.parametrize(
    ("selector", "namespace", "selected"),
    [
        ({}, NS, True),
        ({"matchLabels": {}}, NS, True),
        ({"matchLabels": LABELS}, NS, True),
        ({"matchLabels": {"app.kubernetes.io/name": "other"}}, NS, False),
        ({"matchLabels": {**LABELS, "tier": "gpu"}}, NS, False),
        ({}, "other", False),
        (
            {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                   "values": ["churn", "fraud"]}]},
            NS,
            True,
        ),
        (
            {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn",
                                   "values": ["churn"]}]},
            NS,
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, NS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, NS, True),
    ],
    ids=[
        "empty-selects-all",
        "empty-match-labels",
        "all-labels",
        "other-value",
        "superset-of-labels",
        "other-namespace",
        "expression-in",
        "expression-not-in",
        "expression-exists",
        "expression-does-not-exist",
    ],
)  # fmt: skip
def test_network_policy_selection(selector: dict[str, Any], namespace: str, selected: bool) -> None:
    policy = k8s(NETWORK_POLICY, "churn", network_policy(selector, namespace))
    found = [(p, m) for p, m in findings(stack(None, policy, policy=False))
             if p == "kubernetes-network-policy"]  # fmt: skip
    assert found == ([] if selected else [("kubernetes-network-policy", _NO_POLICY)])


def test_deployment_without_any_network_policy_is_reported_on_itself() -> None:
    report = _report(stack(policy=False))
    assert [(v.policy, v.urn, v.message) for v in report.violations] == [
        (
            "kubernetes-network-policy",
            f"urn:pulumi:prod::mlops-platform::{DEPLOYMENT}::churn",
            _NO_POLICY,
        )
    ]


def test_network_policy_is_not_applicable_without_workloads() -> None:
    records = [k8s_provider(), k8s(NETWORK_POLICY, "churn", network_policy())]
    assert findings(records) == []
    assert not_applicable(records) == [
        ("kubernetes-network-policy", STACK_URN, "the stack has no Kubernetes Deployments or Pods")
    ]


def test_other_resource_types_are_not_judged() -> None:
    alias = record("aws:kms/alias:Alias", "a", {"name": "alias/mlops-prod"})
    assert [p for p, _ in findings([alias]) if p.startswith("kubernetes-")] == []


# ---- through the analyzer, as the Pulumi CLI runs the pack ---------------------------------------


def _analyze_request(resource: Registration, provider: Registration) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        properties=to_struct(resource.inputs),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
        provider=analyzer_pb2.AnalyzerProviderResource(
            type=provider.type,
            urn=provider.urn,
            name=provider.name,
            properties=to_struct(provider.inputs),
        ),
    )


def _strip(response: Any) -> list[tuple[str, str]]:
    descriptions = {p.name: p.description for p in KUBERNETES_POLICIES}
    return [
        (d.policyName, d.message.removeprefix(f"{descriptions.get(d.policyName, '')}\n"))
        for d in response.diagnostics
    ]


def test_preview_values_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """In a preview the namespace and the service account come from other resources' outputs
    and are unknown: wired, they count as set; a fault is still reported with its message."""
    inputs = copy.deepcopy(deployment(pod_spec(serviceAccountName=UNKNOWN_STRING)))
    inputs["metadata"]["namespace"] = UNKNOWN_STRING
    wired = k8s(DEPLOYMENT, "churn", inputs)
    assert _strip(analyzer.Analyze(_analyze_request(wired, k8s_provider()))) == []

    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "churn:latest"
    found = _strip(analyzer.Analyze(_analyze_request(wired, k8s_provider())))
    assert found == [
        ("kubernetes-image-pinned", f"{D} image 'churn:latest' uses the tag 'latest'{_FIX_IMAGE}")
    ]


def test_stack_policy_links_unknown_namespaces_through_the_analyzer(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """In a preview the namespace name is the Namespace resource's output: the Deployment and
    the NetworkPolicy are matched through their property dependency on it."""
    namespace = k8s(NAMESPACE, "inference", {"metadata": {"name": UNKNOWN_STRING}})
    other = k8s(NAMESPACE, "other", {"metadata": {"name": UNKNOWN_STRING}})

    def wired(type_: str, name: str, inputs: dict[str, Any], ns: Registration) -> Registration:
        inputs = copy.deepcopy(inputs)
        inputs["metadata"]["namespace"] = UNKNOWN_STRING
        return k8s(type_, name, inputs, property_dependencies={"metadata": [ns.urn]})

    workload = wired(DEPLOYMENT, "churn", deployment(), namespace)
    same = wired(NETWORK_POLICY, "churn", network_policy(), namespace)
    response = analyzer.AnalyzeStack(_request([k8s_provider(), namespace, other, workload, same]))
    assert [d.policyName for d in response.diagnostics] == []

    elsewhere = wired(NETWORK_POLICY, "churn", network_policy(), other)
    response = analyzer.AnalyzeStack(
        _request([k8s_provider(), namespace, other, workload, elsewhere])
    )
    assert [(d.policyName, d.urn) for d in response.diagnostics] == [
        ("kubernetes-network-policy", workload.urn)
    ]


def test_container_context_overrides_a_noncompliant_pod_context() -> None:
    pod_context = {"runAsNonRoot": False, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"}}
    context = {
        **container()["securityContext"],
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec = pod_spec(securityContext=pod_context, containers=[container(securityContext=context)])
    assert findings(stack(deployment(spec))) == []


def test_analyzer_marks_the_network_policy_not_applicable_without_workloads(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    alias = record("aws:kms/alias:Alias", "a", {"name": "alias/mlops-prod"})
    response = analyzer.AnalyzeStack(_request([alias]))
    skipped = [
        (n.policy_name, n.reason)
        for n in response.not_applicable
        if n.policy_name.startswith("kubernetes-")
    ]
    assert skipped == [
        ("kubernetes-network-policy", "the stack has no Kubernetes Deployments or Pods")
    ]
