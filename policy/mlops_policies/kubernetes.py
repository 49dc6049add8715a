"""Kubernetes workload controls: Deployments and bare Pods as pulumi_kubernetes registers them.

Inputs are the Kubernetes API objects in camelCase. A Deployment's pods are described by
`spec.template` (`metadata.labels`, `spec`), a bare Pod's by its own `metadata` and `spec`.
Every check names the object's kind, the container (`container 'app'`, `init container
'migrate'`) and the field, and cites the Checkov control (CKV_K8S_*) it encodes.

Rules worth stating:
- Probes (CKV_K8S_8/9) are required of the regular containers only: an init container runs to
  completion before the pod is ready, and Kubernetes rejects liveness and readiness probes on
  it. Every other container control applies to init containers as well.
- `runAsNonRoot`, `runAsUser` and `seccompProfile` may be set in the pod's securityContext or
  the container's; the container's value, when set, overrides the pod's (as the kubelet
  applies them). `privileged`, `allowPrivilegeEscalation`, `readOnlyRootFilesystem` and
  `capabilities` exist only on the container.
- Service account (CKV_K8S_38/41): the pod names its own service account (not `default`) and
  sets `automountServiceAccountToken` explicitly on the pod spec: false, or true where the pod
  deliberately calls the Kubernetes API. Left unset, Kubernetes mounts the token.
- Namespace (CKV_K8S_21): `metadata.namespace`, else the Kubernetes provider's `namespace`,
  else `default`, which is rejected.
- Network policy (CKV2_K8S_6, a stack policy): every Deployment's and bare Pod's pods are
  selected by a NetworkPolicy of the same namespace: its `spec.podSelector.matchLabels` are a
  subset of the pod labels and its `matchExpressions` hold; an empty podSelector selects all.

Preview values follow `_util`: a value wired from another resource's output (a namespace made
by a Namespace resource, a label) counts as set and as matching; a value checked against a
control (an image reference, a flag) is read strictly, so an unknown one stops the policy and
the CLI reports that it could not run during the preview.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from ._util import as_list, is_set, known, mapping, number

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"

WORKLOADS = {DEPLOYMENT: "Deployment", POD: "Pod"}
"""The workload types judged, and how a message names their kind."""
NAMESPACED = {**WORKLOADS, NETWORK_POLICY: "NetworkPolicy", SERVICE_ACCOUNT: "ServiceAccount"}
"""The namespaced types the platform registers, for the namespace control."""

MIN_UID = 10_000
"""The lowest UID a container may run as (CKV_K8S_40): above the host's user range."""
DEFAULT_NAMESPACE = "default"


class _Unknown:
    """A value not known during a preview (it is wired to another resource's output)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def _get(props: Mapping[str, Any], key: str) -> Any:
    """`props[key]` (None when absent), or UNKNOWN when it is not known yet."""
    try:
        return props.get(key)
    except UnknownValueError:
        return UNKNOWN


# ---- the pod a workload runs ------------------------------------------------------------------


@dataclass(frozen=True)
class _Container:
    label: str
    """How a message names it, with the workload's kind: `Deployment container 'app'`."""
    props: Mapping[str, Any]
    init: bool


def _pod(resource_type: str, props: Mapping[str, Any]) -> tuple[Mapping[str, Any], Any]:
    """The pod spec and the pod labels of a Deployment or a bare Pod."""
    if resource_type == DEPLOYMENT:
        template = mapping(mapping(props.get("spec")).get("template"))
        return mapping(template.get("spec")), _get(mapping(template.get("metadata")), "labels")
    return mapping(props.get("spec")), _get(mapping(props.get("metadata")), "labels")


def _containers(kind: str, spec: Mapping[str, Any]) -> Iterator[_Container]:
    for field, what, init in (("initContainers", "init container", True),
                              ("containers", "container", False)):  # fmt: skip
        for index, raw in enumerate(as_list(spec.get(field))):
            container = mapping(raw)
            name = known(container, "name")
            named = repr(name) if isinstance(name, str) and name else str(index)
            yield _Container(f"{kind} {what} {named}", container, init)


def _workload(
    args: ResourceValidationArgs,
) -> tuple[str, Mapping[str, Any], list[_Container]] | None:
    """The kind, pod spec and containers of a workload; None for any other resource."""
    kind = WORKLOADS.get(args.resource_type)
    if kind is None:
        return None
    spec, _ = _pod(args.resource_type, args.props)
    return kind, spec, list(_containers(kind, spec))


# ---- probes and resources ---------------------------------------------------------------------


def _probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for container in workload[2]:
        if container.init:
            continue  # Kubernetes rejects liveness and readiness probes on init containers
        for field, why, control in (
            ("livenessProbe", "the kubelet restarts it when it hangs", "CKV_K8S_8"),
            ("readinessProbe", "it receives traffic only when it is ready", "CKV_K8S_9"),
        ):
            if not is_set(container.props, field):
                report(
                    f"{container.label} sets no {field}; give it one so {why} ({control}).", None
                )


_RESOURCES = (
    ("requests", "cpu", "CKV_K8S_10"),
    ("limits", "cpu", "CKV_K8S_11"),
    ("requests", "memory", "CKV_K8S_12"),
    ("limits", "memory", "CKV_K8S_13"),
)


def _resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for container in workload[2]:
        resources = mapping(container.props.get("resources"))
        for kind, name, control in _RESOURCES:
            if not is_set(mapping(resources.get(kind)), name):
                report(
                    f"{container.label} sets no resources.{kind}.{name}; set it so the "
                    f"scheduler and the node can account for the container ({control}).",
                    None,
                )


# ---- images ----------------------------------------------------------------------------------


def image_pin_problem(image: Any) -> str | None:
    """Why an image reference is not pinned: no digest and no tag, or the tag `latest`."""
    if not isinstance(image, str) or not image:
        return f"image is {image!r}"
    if "@" in image:
        digest = re.search(r"@[a-z0-9]+:[0-9a-f]{32,}$", image)
        return None if digest else f"image {image!r} has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag"
    tag = last.rsplit(":", 1)[1]
    return f"image {image!r} uses the tag 'latest'" if tag == "latest" else None


def _images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for container in workload[2]:
        problem = image_pin_problem(container.props.get("image"))
        if problem is not None:
            report(
                f"{container.label} {problem}; pin it by digest (name@sha256:...) or by a tag "
                "other than 'latest', so every pod runs the image that was scanned and "
                "approved (CKV_K8S_14, CKV_K8S_43).",
                None,
            )


# ---- security context ---------------------------------------------------------------------------


def _host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    kind, spec, _ = workload
    for field, control in (("hostNetwork", "CKV_K8S_19"), ("hostPID", "CKV_K8S_17"),
                           ("hostIPC", "CKV_K8S_18")):  # fmt: skip
        value = spec.get(field)
        if value not in (None, False):
            report(
                f"{kind} pod spec {field} is {value!r}; leave it unset or false, so the pod "
                f"does not share the node's namespace ({control}).",
                None,
            )


def _privileges(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for container in workload[2]:
        context = mapping(container.props.get("securityContext"))
        label = f"{container.label} securityContext"
        privileged = context.get("privileged")
        if privileged not in (None, False):
            report(
                f"{label}.privileged is {privileged!r}; leave it unset or false (CKV_K8S_16).",
                None,
            )
        escalation = context.get("allowPrivilegeEscalation")
        if escalation is not False:
            report(
                f"{label}.allowPrivilegeEscalation is {escalation!r}; set it to false "
                "(CKV_K8S_20).",
                None,
            )
        read_only = context.get("readOnlyRootFilesystem")
        if read_only is not True:
            report(
                f"{label}.readOnlyRootFilesystem is {read_only!r}; set it to true and mount "
                "an emptyDir where the container must write (CKV_K8S_22).",
                None,
            )
        capabilities = mapping(context.get("capabilities"))
        dropped = [str(c) for c in as_list(capabilities.get("drop"))]
        if "ALL" not in dropped:
            report(
                f"{label}.capabilities.drop is {dropped}; drop ['ALL'] (CKV_K8S_28, CKV_K8S_37).",
                None,
            )
        added = [str(c) for c in as_list(capabilities.get("add"))]
        if added:
            report(f"{label}.capabilities.add is {added}; add no capabilities (CKV_K8S_37).", None)


def _effective(
    pod_context: Mapping[str, Any], container: _Container, field: str
) -> tuple[Any, str]:
    """A securityContext field as the kubelet applies it, and where it comes from: the
    container's value when set, else the pod's."""
    value = mapping(container.props.get("securityContext")).get(field)
    if value is not None:
        return value, "the container"
    value = pod_context.get(field)
    return value, "the pod" if value is not None else "neither"


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    pod_context = mapping(workload[1].get("securityContext"))
    for container in workload[2]:
        non_root, source = _effective(pod_context, container, "runAsNonRoot")
        if non_root is not True:
            report(
                f"{container.label} securityContext.runAsNonRoot is {non_root!r} (set by "
                f"{source}); set it to true in the pod's or the container's securityContext "
                "(CKV_K8S_23).",
                None,
            )
        user, source = _effective(pod_context, container, "runAsUser")
        uid = number(user)
        if uid is None or uid < MIN_UID:
            report(
                f"{container.label} securityContext.runAsUser is {user!r} (set by {source}); "
                f"set a UID of at least {MIN_UID} in the pod's or the container's "
                "securityContext (CKV_K8S_40).",
                None,
            )


def _seccomp(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    pod_context = mapping(workload[1].get("securityContext"))
    for container in workload[2]:
        profile, source = _effective(pod_context, container, "seccompProfile")
        kind = mapping(profile).get("type")
        if kind != "RuntimeDefault":
            report(
                f"{container.label} securityContext.seccompProfile.type is {kind!r} (set by "
                f"{source}); set it to RuntimeDefault in the pod's or the container's "
                "securityContext (CKV_K8S_31).",
                None,
            )


# ---- namespace and service account ----------------------------------------------------------


def _provider_namespace(provider: PolicyProviderResource | None) -> Any:
    if provider is None or provider.resource_type != "pulumi:providers:kubernetes":
        return None
    return _get(provider.props, "namespace")


def _namespace(props: Mapping[str, Any], provider: PolicyProviderResource | None) -> Any:
    """The namespace an object lands in: its own, else its provider's, else `default`;
    UNKNOWN when wired to an output not known yet."""
    own = _get(mapping(props.get("metadata")), "namespace")
    if own is UNKNOWN or (isinstance(own, str) and own):
        return own
    default = _provider_namespace(provider)
    if default is UNKNOWN or (isinstance(default, str) and default):
        return default
    return DEFAULT_NAMESPACE


def _namespace_control(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = NAMESPACED.get(args.resource_type)
    if kind is None:
        return
    if _namespace(args.props, args.provider) == DEFAULT_NAMESPACE:
        report(
            f"{kind} metadata.namespace is not set or is 'default' (nor does its provider set "
            "another namespace); put it in the workload's own namespace (CKV_K8S_21).",
            None,
        )


def _service_account(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    kind, spec, _ = workload
    # A name wired from the ServiceAccount resource's output is unknown in a preview: its own.
    account = _get(spec, "serviceAccountName") or _get(spec, "serviceAccount")
    if account is None or account == "default":
        report(
            f"{kind} pod spec serviceAccountName is {account!r}; run the pod as its own "
            "service account, not 'default' (CKV_K8S_41).",
            None,
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        report(
            f"{kind} pod spec sets no automountServiceAccountToken, so Kubernetes mounts the "
            "service account token; set it to false, or to true where the pod calls the "
            "Kubernetes API (CKV_K8S_38).",
            None,
        )
    elif not isinstance(automount, bool):
        report(
            f"{kind} pod spec automountServiceAccountToken is {automount!r}; set it to false, "
            "or to true where the pod calls the Kubernetes API (CKV_K8S_38).",
            None,
        )


# ---- network policies (a stack policy) ------------------------------------------------------


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key = _get(expression, "key")
    operator = _get(expression, "operator")
    values = _get(expression, "values")
    if UNKNOWN in (key, operator, values):
        return True  # wired to an output: counted as matching, as a wired name is
    present = key in labels
    value = labels.get(key) if present else None
    if value is UNKNOWN:
        return True
    allowed = {str(v) for v in as_list(values)}
    if operator == "In":
        return present and str(value) in allowed
    if operator == "NotIn":
        return not present or str(value) not in allowed
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return False


def _selects(network_policy: PolicyResource, labels: Any) -> bool:
    """Whether a NetworkPolicy's podSelector selects pods with `labels`."""
    selector = _get(mapping(network_policy.props.get("spec")), "podSelector")
    if selector is UNKNOWN or labels is UNKNOWN:
        return True
    selector = mapping(selector)
    pod_labels = {str(k): _value(mapping(labels), str(k)) for k in mapping(labels)}
    match_labels = _get(selector, "matchLabels")
    if match_labels is UNKNOWN:
        return True
    for key in mapping(match_labels):
        wanted = _value(mapping(match_labels), key)
        got = pod_labels.get(key)
        if wanted is UNKNOWN or got is UNKNOWN:
            continue
        if key not in pod_labels or got != wanted:
            return False
    expressions = _get(selector, "matchExpressions")
    if expressions is UNKNOWN:
        return True
    return all(_expression_holds(mapping(e), pod_labels) for e in as_list(expressions))


def _value(values: Mapping[str, Any], key: str) -> Any:
    value = _get(values, key)
    return value if value is UNKNOWN else str(value)


def _namespace_key(resource: PolicyResource) -> Any:
    """The resource's namespace for matching: its name, or a Namespace resource of the stack
    it is wired to when the name is not known yet, or UNKNOWN (which matches any)."""
    namespace = _namespace(resource.props, resource.provider)
    if namespace is not UNKNOWN:
        return namespace
    linked = [d for d in resource.property_dependencies.get("metadata", [])
              if d.resource_type == NAMESPACE]  # fmt: skip
    if len(linked) == 1:
        name = known(mapping(linked[0].props.get("metadata")), "name")
        return name if isinstance(name, str) and name else linked[0].urn
    return UNKNOWN


def _same_namespace(a: Any, b: Any) -> bool:
    return a is UNKNOWN or b is UNKNOWN or a == b


def _network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    workloads = [r for r in args.resources if r.resource_type in WORKLOADS]
    if not workloads:
        args.not_applicable("the stack has no Kubernetes Deployments or Pods")
    policies = [(p, _namespace_key(p)) for p in args.resources
                if p.resource_type == NETWORK_POLICY]  # fmt: skip
    for workload in workloads:
        namespace = _namespace_key(workload)
        _, labels = _pod(workload.resource_type, workload.props)
        if any(
            _same_namespace(namespace, where) and _selects(policy, labels)
            for policy, where in policies
        ):
            continue
        shown = "a namespace not known yet" if namespace is UNKNOWN else repr(namespace)
        report(
            f"{WORKLOADS[workload.resource_type]} {workload.name!r} in namespace {shown}: no "
            "NetworkPolicy of that namespace selects its pods (labels "
            f"{_labels_text(labels)}); add one whose spec.podSelector matches them, so their "
            "traffic is restricted (CKV2_K8S_6).",
            workload.urn,
        )


def _labels_text(labels: Any) -> str:
    if labels is UNKNOWN:
        return "not known yet"
    return repr({str(k): _value(mapping(labels), str(k)) for k in mapping(labels)})


# ---- the policies ----------------------------------------------------------------------------


def _policy(
    name: str, description: str, validate: Callable[[ResourceValidationArgs, ReportViolation], None]
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


KUBERNETES_POLICIES = (
    _policy(
        "kubernetes-pod-probes",
        "Every regular container of a Kubernetes Deployment or Pod has a liveness and a "
        "readiness probe (CKV_K8S_8, CKV_K8S_9).",
        _probes,
    ),
    _policy(
        "kubernetes-pod-resources",
        "Every container, init containers included, of a Kubernetes Deployment or Pod sets CPU "
        "and memory requests and limits (CKV_K8S_10 to CKV_K8S_13).",
        _resources,
    ),
    _policy(
        "kubernetes-image-pinned",
        "Every container image of a Kubernetes Deployment or Pod is pinned by digest or by a "
        "tag other than latest (CKV_K8S_14, CKV_K8S_43).",
        _images,
    ),
    _policy(
        "kubernetes-host-namespaces",
        "Kubernetes pods share no host namespace: hostNetwork, hostPID and hostIPC are unset or "
        "false (CKV_K8S_17 to CKV_K8S_19).",
        _host_namespaces,
    ),
    _policy(
        "kubernetes-container-privileges",
        "Every container of a Kubernetes Deployment or Pod is unprivileged, cannot escalate "
        "privileges, has a read-only root filesystem and drops all capabilities, adding none "
        "(CKV_K8S_16, _20, _22, _28, _37).",
        _privileges,
    ),
    _policy(
        "kubernetes-run-as-non-root",
        "Every container of a Kubernetes Deployment or Pod runs as non-root with a UID of at "
        "least 10000, set in the pod's or the container's securityContext (CKV_K8S_23, "
        "CKV_K8S_40).",
        _non_root,
    ),
    _policy(
        "kubernetes-seccomp-runtime-default",
        "Every container of a Kubernetes Deployment or Pod runs under the RuntimeDefault "
        "seccomp profile, set on the pod or the container (CKV_K8S_31).",
        _seccomp,
    ),
    _policy(
        "kubernetes-not-default-namespace",
        "Kubernetes Deployments, Pods, ServiceAccounts and NetworkPolicies are not in the "
        "default namespace (CKV_K8S_21).",
        _namespace_control,
    ),
    _policy(
        "kubernetes-service-account",
        "A Kubernetes pod runs as its own service account, not default, and sets "
        "automountServiceAccountToken explicitly: false unless it calls the Kubernetes API "
        "(CKV_K8S_38, CKV_K8S_41).",
        _service_account,
    ),
    StackValidationPolicy(
        name="kubernetes-network-policy",
        description="Every Kubernetes Deployment's or Pod's pods are selected by a "
        "NetworkPolicy of the same namespace (CKV2_K8S_6).",
        validate=_network_policy,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
