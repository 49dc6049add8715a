"""Model serving on Kubernetes: registry versions behind a Gateway, hardened, captured.

`KubernetesInference` (`mlops:kubernetes:Inference`) serves the models of
`kubernetes.services` on the stack's cluster (`components/kubernetes_cluster.py`), through the
stack's one Kubernetes provider. Per service:

- **A namespace** enforcing the `restricted` Pod Security Standard, and a **service account**
  whose AWS role (EKS Pod Identity) can describe the model's registry versions, read exactly that
  model's artifacts, and write exactly the service's capture prefix.
- **A Deployment per served version** ("variant"): `blue` and optionally `green` for blue/green,
  `stable` and `canary` for a weighted canary, and `shadow`. Each pod runs the team's model
  server (SageMaker's container contract: `/invocations` and `/ping` on `modelPort`, the model
  under `/opt/ml/model`) next to the platform's serving sidecar (`images/serving_sidecar`): an
  init container fetches the model artifact of the selected registry version, and the sidecar
  proxies every request, captures it in SageMaker's data-capture JSON Lines format under
  `datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/` of the capture bucket (the drift checks read
  it unchanged) and exposes Prometheus metrics. Probes, requests and limits, non-root,
  read-only root filesystem, no privilege escalation, every capability dropped, seccomp
  RuntimeDefault, no service-account token, spread across zones and nodes.
- **Services**: `<service>` (the traffic's: the active colour, or the canary's stable side),
  `<service>-preview` (the idle colour, to test it before the switch), `<service>-canary`,
  `<service>-shadow`, and a headless `<service>-metrics` for the ServiceMonitor.
- **A HorizontalPodAutoscaler and a PodDisruptionBudget per Deployment**, and **a
  NetworkPolicy** admitting only the Gateway's data plane (to the sidecar) and Prometheus (to the
  metrics port); egress only to DNS, the Pod Identity agent and HTTPS.
- **An HTTPRoute** on the stack's Gateway (`/models/<service>/`): all traffic to `<service>`
  (blue/green, switched by `rollout.active`), or split by `rollout.weights` (canary), with a
  `RequestMirror` filter copying `shadow.mirrorPercent` of requests to the shadow (whose answers
  the Gateway drops).
- **What monitoring watches** (`monitored`, for `components/kubernetes_monitoring.py`): the
  service's `objectives`, whose p99 latency alert takes the served model's
  `latencyObjectiveP99Ms` unless the service sets `objectives.latencyP99Ms` itself.

The Deployments carry no `replicas`: the autoscaler owns the count (a `replicas` field would be
reset on every `pulumi up`, and server-side apply would fight the autoscaler's field manager).

Not verifiable offline: the Gateway implementation's handling of weights and mirroring, Pod
Identity credentials in a pod without a service-account token, and the images' behaviour in a
cluster; the manifests themselves are validated against the cluster version's schemas and
checkov's Kubernetes checks (tests/kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from serving_sidecar import settings as sidecar

from components import iam
from components.config import KubernetesService, PlatformConfig, ServiceObjectives, ecr_image
from components.kubernetes_cluster import KubernetesCluster
from components.kubernetes_monitoring import MonitoredService
from components.model_versions import VersionResolver, boto3_resolver, package_arn
from components.naming import NameKind, Naming
from components.platform import PlatformComponent, PlatformContext

PART_OF = "mlops-platform"
NAME_LABEL = "app.kubernetes.io/name"
VARIANT_LABEL = "mlops.platform/variant"
VERSION_LABEL = "mlops.platform/model-version"
GATEWAY_LABEL = "mlops.platform/gateway"
METRICS_LABEL = "mlops.platform/metrics"

FETCH_MODULE = "serving_sidecar.fetch"
"""The sidecar image's init entry point (its ENTRYPOINT is `python -m`)."""
PROXY_MODULE = "serving_sidecar.proxy"
MODEL_CONTAINER = "model"
SIDECAR_CONTAINER = "sidecar"
FETCH_CONTAINER = "fetch-model"
HTTP_PORT = 8000
"""The sidecar's port: every request enters the pod here."""
METRICS_PORT = 9090
SERVICE_PORT = 80
MODEL_DIR = "/opt/ml/model"
RUN_AS = 10001
"""A high UID and GID (CKV_K8S_40): no clash with a node's system users."""
TERMINATION_GRACE_SECONDS = 60
"""Time for the sidecar to finish in-flight requests and flush its capture buffer."""
MODEL_VOLUME_LIMIT = "10Gi"
TMP_VOLUME_LIMIT = "1Gi"
SIDECAR_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
FETCH_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
SCALE_DOWN_STABILISATION_SECONDS = 300
DNS_PORT = 53
POD_IDENTITY_AGENT = "169.254.170.23/32"
"""EKS Pod Identity's agent: the pods fetch their role's credentials from it (port 80)."""
GATEWAY_LISTENER = "http"


@dataclass(frozen=True)
class Variant:
    """One Deployment of a service: a served model version under a traffic role."""

    name: str
    """blue, green, stable, canary or shadow."""
    version: int


@dataclass(frozen=True)
class ServicePlan:
    """What one service runs, resolved: its variants and how traffic reaches them."""

    spec: KubernetesService
    namespace: str
    endpoint: str
    """The capture's endpoint name: `datacapture/<endpoint>/<variant>/`."""
    variants: list[Variant]
    primary: str
    """The variant behind `<service>`: the active colour, or the canary's stable side."""
    preview: str | None
    """Blue/green: the idle colour behind `<service>-preview`, when it runs."""
    weights: dict[str, int]
    """Variant to its share of the route's traffic (shadow excluded)."""


@dataclass(frozen=True)
class KubernetesInferenceArgs:
    """Inputs of `KubernetesInference`."""

    context: PlatformContext
    cluster: KubernetesCluster
    """The cluster and its provider; workload roles come from it."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: the artifacts' and the capture's SSE-KMS."""
    capture_bucket: pulumi.Input[str]
    """The data lake's capture bucket."""
    artifact_bucket: pulumi.Input[str]
    """The model-artifact bucket (`models/<model>/` and `pipelines/<model>/`)."""
    model_package_groups: Mapping[str, str]
    """Registry model name to its model package group name."""
    resolver: VersionResolver | None = None
    """Resolves `latest-approved` (default: boto3 in the stack's region)."""


def namespace_name(cfg: PlatformConfig, stack: str, service: str) -> str:
    """`<prefix>-<stack>-<service>`: one namespace per service, several stacks per cluster."""
    return f"{cfg.kubernetes.namespace_prefix}-{stack}-{service}"[:63].rstrip("-")


def gateway_names(cfg: PlatformConfig, stack: str) -> tuple[str, str]:
    """The stack's Gateway: (namespace, name)."""
    base = f"{cfg.kubernetes.namespace_prefix}-{stack}"
    return f"{base}-gateway"[:63].rstrip("-"), base


def capture_endpoint(naming: Naming, service: str) -> str:
    """The endpoint name a service's capture is filed under (and drift monitors name)."""
    return naming.physical(f"k8s-{service}", NameKind.SAGEMAKER)


def served_variants(spec: KubernetesService) -> list[str]:
    """The variants of a service that answer real traffic (a shadow's copies would count
    twice): what its drift checks read."""
    rollout = spec.rollout
    if rollout.strategy == "canary":
        return ["stable", "canary"]
    return ["blue", "green"] if rollout.green_version is not None else ["blue"]


def service_objectives(cfg: PlatformConfig, spec: KubernetesService) -> ServiceObjectives:
    """What the service's Prometheus alerts hold it to: its own `objectives`, with the p99
    latency objective of the model it serves (`modelRegistry.models[].latencyObjectiveP99Ms`)
    when the service does not set `objectives.latencyP99Ms` itself (its own value wins)."""
    objective = next(
        (m.latency_objective_p99_ms for m in cfg.model_registry.models if m.name == spec.model),
        None,
    )
    if objective is None or "latency_p99_ms" in spec.objectives.model_fields_set:
        return spec.objectives
    # Both bounds are 1..600,000 ms: the model's objective is a valid service objective.
    return spec.objectives.model_copy(update={"latency_p99_ms": objective})


def plan_service(
    cfg: PlatformConfig, naming: Naming, spec: KubernetesService, resolve: Any
) -> ServicePlan:
    """The service's variants and traffic; `resolve(version)` turns `latest-approved` into a
    number (pinned versions pass through)."""
    rollout = spec.rollout
    variants: list[Variant]
    weights: dict[str, int]
    preview: str | None = None
    if rollout.strategy == "canary":
        if rollout.canary_version is None or rollout.weights is None:
            raise ValueError(f"{spec.name}: a canary needs canaryVersion and weights (config rule)")
        variants = [
            Variant("stable", resolve(spec.model_version)),
            Variant("canary", resolve(rollout.canary_version)),
        ]
        primary = "stable"
        weights = {"stable": rollout.weights.stable, "canary": rollout.weights.canary}
    else:
        variants = [Variant("blue", resolve(spec.model_version))]
        if rollout.green_version is not None:
            variants.append(Variant("green", resolve(rollout.green_version)))
        primary = rollout.active
        if len(variants) == 2:
            preview = "green" if primary == "blue" else "blue"
        weights = {primary: 100}
    if spec.shadow is not None and spec.shadow.model_version is not None:
        variants.append(Variant("shadow", resolve(spec.shadow.model_version)))
    return ServicePlan(
        spec=spec,
        namespace=namespace_name(cfg, naming.stack, spec.name),
        endpoint=capture_endpoint(naming, spec.name),
        variants=variants,
        primary=primary,
        preview=preview,
        weights=weights,
    )


# ---- manifests (pure: the tests compare them whole) ---------------------------------------------


def service_labels(service: str, stack: str) -> dict[str, str]:
    """Labels of everything a service owns."""
    return {
        NAME_LABEL: service,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "mlops.platform/stack": stack,
    }


def variant_selector(service: str, variant: str) -> dict[str, str]:
    return {NAME_LABEL: service, VARIANT_LABEL: variant}


def namespace_labels(version: str, extra: Mapping[str, str]) -> dict[str, str]:
    """Pod Security admission at `restricted`, enforced, audited and warned, pinned to the
    cluster's version so an upgrade does not change what is admitted."""
    labels = dict(extra)
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{version}"
    return labels


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def pod_spec(
    *,
    plan: ServicePlan,
    variant: Variant,
    package: str,
    capture_bucket: str,
    kms_key_arn: str,
    model_image: str,
    sidecar_image: str,
    region: str,
    zone_spread: str,
) -> dict[str, Any]:
    """The pod of one variant: fetch the model, serve it behind the sidecar."""
    spec = plan.spec
    resources = {
        "requests": {"cpu": spec.resources.requests.cpu, "memory": spec.resources.requests.memory},
        "limits": {"cpu": spec.resources.limits.cpu, "memory": spec.resources.limits.memory},
    }
    selector = variant_selector(spec.name, variant.name)
    aws_env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    tmp_mount = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - an emptyDir, not the host's
    return {
        "serviceAccountName": spec.name,
        # No Kubernetes API token in the pods: they never call the API server. AWS credentials
        # come from the Pod Identity agent, which needs no mounted service-account token.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": zone_spread,
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
                "name": FETCH_CONTAINER,
                "image": sidecar_image,
                "imagePullPolicy": "IfNotPresent",
                "args": [FETCH_MODULE],
                "env": _env(
                    {
                        sidecar.ENV_MODEL_PACKAGE_ARN: package,
                        sidecar.ENV_MODEL_DIR: MODEL_DIR,
                        "HOME": "/tmp",  # noqa: S108 - the emptyDir above
                        **aws_env,
                    }
                ),
                "resources": FETCH_RESOURCES,
                "securityContext": _container_security(),
                "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, tmp_mount],
            }
        ],
        "containers": [
            {
                "name": MODEL_CONTAINER,
                "image": model_image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["serve"],
                "ports": [{"name": "model", "containerPort": spec.model_port, "protocol": "TCP"}],
                "env": _env({"SAGEMAKER_BIND_TO_PORT": str(spec.model_port), **aws_env}),
                "resources": resources,
                "securityContext": _container_security(),
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
                    {"name": "model", "mountPath": MODEL_DIR, "readOnly": True},
                    tmp_mount,
                ],
            },
            {
                "name": SIDECAR_CONTAINER,
                "image": sidecar_image,
                "imagePullPolicy": "IfNotPresent",
                "args": [PROXY_MODULE],
                "ports": [
                    {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                ],
                "env": [
                    *_env(
                        {
                            sidecar.ENV_LISTEN_PORT: str(HTTP_PORT),
                            sidecar.ENV_MODEL_PORT: str(spec.model_port),
                            sidecar.ENV_METRICS_PORT: str(METRICS_PORT),
                            sidecar.ENV_ENDPOINT_NAME: plan.endpoint,
                            sidecar.ENV_VARIANT_NAME: variant.name,
                            sidecar.ENV_CAPTURE_BUCKET: capture_bucket,
                            sidecar.ENV_CAPTURE_KMS_KEY_ARN: kms_key_arn,
                            sidecar.ENV_CAPTURE_SAMPLING_PERCENT: str(
                                spec.capture.sampling_percent
                            ),
                            **aws_env,
                        }
                    ),
                    {
                        "name": sidecar.ENV_POD_NAME,
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    },
                ],
                "resources": SIDECAR_RESOURCES,
                "securityContext": _container_security(),
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
                "volumeMounts": [tmp_mount],
            },
        ],
        "volumes": [
            {"name": "model", "emptyDir": {"sizeLimit": MODEL_VOLUME_LIMIT}},
            {"name": "tmp", "emptyDir": {"sizeLimit": TMP_VOLUME_LIMIT}},
        ],
    }


def network_policy_spec(
    *, service: str, gateway_namespace: str, monitoring_namespace: str
) -> dict[str, Any]:
    """Ingress from the Gateway's data plane (to the sidecar) and Prometheus (to the metrics
    port) only; egress to DNS, the Pod Identity agent, and HTTPS (S3, SageMaker, STS)."""
    dns = {"protocol": "UDP", "port": DNS_PORT}
    return {
        "podSelector": {"matchLabels": {NAME_LABEL: service}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": gateway_namespace}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": "http"}],
            },
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}
                        },
                        "podSelector": {"matchLabels": {NAME_LABEL: "prometheus"}},
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
                "ports": [dns, {"protocol": "TCP", "port": DNS_PORT}],
            },
            {
                "to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}],
                "ports": [{"protocol": "TCP", "port": 80}],
            },
            {"ports": [{"protocol": "TCP", "port": 443}]},
        ],
    }


def http_route_spec(
    plan: ServicePlan, *, gateway_namespace: str, gateway_name: str
) -> dict[str, Any]:
    """The service's route on the stack's Gateway: `/models/<service>/` to its Services by
    weight, the prefix stripped, a share mirrored to the shadow."""
    name = plan.spec.name
    backends = [
        {
            "name": name if variant == plan.primary else f"{name}-{variant}",
            "port": SERVICE_PORT,
            "weight": weight,
        }
        for variant, weight in plan.weights.items()
    ]
    filters: list[dict[str, Any]] = [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
        }
    ]
    shadow = plan.spec.shadow
    if any(v.name == "shadow" for v in plan.variants) and shadow is not None:
        filters.append(
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": f"{name}-shadow", "port": SERVICE_PORT},
                    "percent": shadow.mirror_percent,
                },
            }
        )
    return {
        "parentRefs": [
            {"name": gateway_name, "namespace": gateway_namespace, "sectionName": GATEWAY_LISTENER}
        ],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": f"/models/{name}/"}}],
                "filters": filters,
                "backendRefs": backends,
            }
        ],
    }


def workload_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    group: str,
    model: str,
    endpoint: str,
    artifact_bucket: str,
    capture_bucket: str,
    kms_key_arn: str,
) -> str:
    """The service account's role: describe the model's registry versions (the init container
    finds the artifact there), read that model's artifacts, write the service's capture."""
    artifacts = f"arn:{partition}:s3:::{artifact_bucket}"
    capture = f"arn:{partition}:s3:::{capture_bucket}"
    return iam.document(
        iam.allow(
            "DescribeModelVersions",
            ["sagemaker:DescribeModelPackage"],
            [f"arn:{partition}:sagemaker:{region}:{account_id}:model-package/{group.lower()}/*"],
        ),
        iam.allow(
            "ReadModelArtifacts",
            ["s3:GetObject"],
            [f"{artifacts}/models/{model}/*", f"{artifacts}/pipelines/{model}/*"],
        ),
        iam.allow(
            "WriteCapture",
            ["s3:PutObject"],
            [f"{capture}/{sidecar.CAPTURE_PREFIX}/{endpoint}/*"],
        ),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
    )


# ---- the component ------------------------------------------------------------------------------


class KubernetesInference(PlatformComponent):
    """The stack's model services on Kubernetes and the Gateway in front of them."""

    services: dict[str, ServicePlan]
    """Service name to what it runs."""
    monitored: list[MonitoredService]
    """What the Kubernetes monitoring scrapes and alerts on."""
    gateway_name: str
    gateway_namespace: str

    def __init__(
        self,
        name: str,
        args: KubernetesInferenceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:kubernetes:Inference", name, args.context, opts)
        self._args = args
        ctx = self._ctx
        cfg = ctx.config
        resolver = args.resolver or boto3_resolver(cfg.region)
        self.services = {}
        self.monitored = []
        self._images: dict[str, pulumi.Output[str]] = {}
        self.gateway_namespace, self.gateway_name = gateway_names(cfg, ctx.naming.stack)
        gateway = self._gateway()
        for spec in cfg.kubernetes.services:
            group = args.model_package_groups[spec.model]
            plan = plan_service(
                cfg, ctx.naming, spec, lambda version, g=group: resolver.resolve(g, version)
            )
            self.services[spec.name] = plan
            self._service(plan, group, gateway)
        self.register_outputs(
            {
                "gateway": f"{self.gateway_namespace}/{self.gateway_name}",
                "services": {
                    n: {
                        "namespace": p.namespace,
                        "variants": {v.name: v.version for v in p.variants},
                    }
                    for n, p in self.services.items()
                },
            }
        )

    # ---- helpers -------------------------------------------------------------------------------
    def _k8s(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """A Kubernetes child: parented here, on the stack's one Kubernetes provider."""
        return pulumi.ResourceOptions(
            parent=self, provider=self._args.cluster.provider, depends_on=depends_on
        )

    def _by_digest(self, image: str) -> pulumi.Output[str]:
        """The image the pods run, by digest (CKV_K8S_43): as given, or an ECR tag resolved
        to the digest it points at when the program runs (`<repository>:<tag>@<digest>`)."""
        if image not in self._images:
            ecr = ecr_image(image)
            if ecr is None:
                self._images[image] = pulumi.Output.from_input(image)
            else:
                found = aws.ecr.get_image_output(
                    registry_id=ecr.registry,
                    repository_name=ecr.repository,
                    image_tag=ecr.tag,
                    opts=pulumi.InvokeOutputOptions(provider=self._ctx.provider, parent=self),
                )
                self._images[image] = found.image_digest.apply(f"{image}@{{}}".format)
        return self._images[image]

    @property
    def _cluster_version(self) -> str:
        cluster = self._ctx.config.kubernetes.cluster
        if cluster is None:
            raise ValueError("kubernetes.cluster is unset (config rule: required when enabled)")
        return cluster.version

    def _namespace(
        self, resource_name: str, name: str, labels: dict[str, str]
    ) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            resource_name,
            metadata={"name": name, "labels": namespace_labels(self._cluster_version, labels)},
            opts=self._k8s(),
        )

    # ---- the stack's Gateway -------------------------------------------------------------------
    def _gateway(self) -> k8s.apiextensions.CustomResource:
        cfg = self._ctx.config
        stack = self._ctx.naming.stack
        namespace = self._namespace(
            f"{self._name}-gateway-ns",
            self.gateway_namespace,
            {"app.kubernetes.io/part-of": PART_OF, "mlops.platform/stack": stack},
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata={"name": self.gateway_name, "namespace": self.gateway_namespace},
            spec={
                "gatewayClassName": cfg.kubernetes.gateway.class_name,
                "listeners": [
                    {
                        "name": GATEWAY_LISTENER,
                        "protocol": "HTTP",
                        "port": SERVICE_PORT,
                        # Only the platform's service namespaces may attach routes.
                        "allowedRoutes": {
                            "kinds": [{"kind": "HTTPRoute"}],
                            "namespaces": {
                                "from": "Selector",
                                "selector": {"matchLabels": {GATEWAY_LABEL: self.gateway_name}},
                            },
                        },
                    }
                ],
            },
            opts=self._k8s([namespace]),
        )

    # ---- one service ---------------------------------------------------------------------------
    def _service(self, plan: ServicePlan, group: str, gateway: pulumi.Resource) -> None:
        ctx = self._ctx
        cfg = ctx.config
        args = self._args
        spec = plan.spec
        key = f"{self._name}-{spec.name}"
        labels = service_labels(spec.name, ctx.naming.stack)
        namespace = self._namespace(
            f"{key}-ns", plan.namespace, {**labels, GATEWAY_LABEL: self.gateway_name}
        )
        ns = plan.namespace

        def meta(name: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
            return {"name": name, "namespace": ns, "labels": {**labels, **(extra or {})}}

        account = k8s.core.v1.ServiceAccount(
            f"{key}-sa",
            metadata=meta(spec.name),
            automount_service_account_token=False,
            opts=self._k8s([namespace]),
        )
        policy = pulumi.Output.all(
            ctx.account_id, args.artifact_bucket, args.capture_bucket, args.kms_key_arn
        ).apply(
            lambda v: workload_policy(
                partition=ctx.partition,
                region=cfg.region,
                account_id=v[0],
                group=group,
                model=spec.model,
                endpoint=plan.endpoint,
                artifact_bucket=v[1],
                capture_bucket=v[2],
                kms_key_arn=v[3],
            )
        )
        role_name = ctx.naming.physical(f"k8s-{spec.name}", NameKind.IAM_ROLE)
        role = args.cluster.workload_role(
            f"{key}-role",
            namespace=ns,
            service_account=spec.name,
            role_name=role_name,
            description=f"Kubernetes service {spec.name}: reads model {spec.model}'s artifacts, "
            "writes its capture.",
            policy=policy,
            parent=self,
        )
        zone_spread = "DoNotSchedule" if cfg.tier == "prod" else "ScheduleAnyway"
        image = cfg.kubernetes.serving_sidecar_image
        if image is None:
            raise ValueError("kubernetes.servingSidecarImage is unset (config rule: required)")
        deployments: list[pulumi.Resource] = []
        for variant in plan.variants:
            selector = variant_selector(spec.name, variant.name)
            pod_labels = {**labels, **selector, VERSION_LABEL: str(variant.version)}

            def template(
                values: list[str],
                variant: Variant = variant,
                pod_labels: dict[str, str] = pod_labels,
            ) -> dict[str, Any]:
                account_id, capture_bucket, kms_key_arn, model_image, sidecar_image = values
                return {
                    "metadata": {"labels": pod_labels},
                    "spec": pod_spec(
                        plan=plan,
                        variant=variant,
                        package=package_arn(
                            ctx.partition, cfg.region, account_id, group, variant.version
                        ),
                        capture_bucket=capture_bucket,
                        kms_key_arn=kms_key_arn,
                        model_image=model_image,
                        sidecar_image=sidecar_image,
                        region=cfg.region,
                        zone_spread=zone_spread,
                    ),
                }

            pod_template = pulumi.Output.all(
                ctx.account_id,
                args.capture_bucket,
                args.kms_key_arn,
                self._by_digest(spec.image),
                self._by_digest(image),
            ).apply(template)
            name = f"{spec.name}-{variant.name}"
            deployment = k8s.apps.v1.Deployment(
                f"{key}-{variant.name}",
                metadata=meta(name, {VARIANT_LABEL: variant.name}),
                spec={
                    "selector": {"matchLabels": selector},
                    "revisionHistoryLimit": 5,
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                    },
                    "template": pod_template,
                },
                # The pods need their AWS role before they start fetching the model.
                opts=self._k8s([account, role]),
            )
            deployments.append(deployment)
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{key}-{variant.name}-hpa",
                metadata=meta(name, {VARIANT_LABEL: variant.name}),
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": spec.replicas.min,
                    "maxReplicas": spec.replicas.max,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": spec.target_cpu_percent,
                                },
                            },
                        }
                    ],
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": SCALE_DOWN_STABILISATION_SECONDS
                        }
                    },
                },
                opts=self._k8s([deployment]),
            )
            k8s.policy.v1.PodDisruptionBudget(
                f"{key}-{variant.name}-pdb",
                metadata=meta(name, {VARIANT_LABEL: variant.name}),
                spec={
                    "minAvailable": spec.pdb_min_available,
                    "selector": {"matchLabels": selector},
                },
                opts=self._k8s([namespace]),
            )
        # The traffic's Services: the primary, the idle colour, the canary, the shadow.
        service_variants = {spec.name: plan.primary}
        if plan.preview is not None:
            service_variants[f"{spec.name}-preview"] = plan.preview
        for variant in plan.variants:
            if variant.name in ("canary", "shadow"):
                service_variants[f"{spec.name}-{variant.name}"] = variant.name
        for service_name, variant_name in service_variants.items():
            k8s.core.v1.Service(
                f"{self._name}-{service_name}-svc",
                metadata=meta(service_name),
                spec={
                    "type": "ClusterIP",
                    "selector": variant_selector(spec.name, variant_name),
                    "ports": [
                        {
                            "name": "http",
                            "port": SERVICE_PORT,
                            "targetPort": "http",
                            "protocol": "TCP",
                        }
                    ],
                },
                opts=self._k8s([namespace]),
            )
        metrics_labels = {**labels, METRICS_LABEL: "true"}
        metrics_name = f"{spec.name}-metrics"
        k8s.core.v1.Service(
            f"{key}-metrics-svc",
            metadata={"name": metrics_name, "namespace": ns, "labels": metrics_labels},
            spec={
                "clusterIP": "None",
                "selector": {NAME_LABEL: spec.name},
                "ports": [
                    {
                        "name": "metrics",
                        "port": METRICS_PORT,
                        "targetPort": "metrics",
                        "protocol": "TCP",
                    }
                ],
            },
            opts=self._k8s([namespace]),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{key}-netpol",
            metadata=meta(spec.name),
            spec=network_policy_spec(
                service=spec.name,
                gateway_namespace=cfg.kubernetes.gateway.data_plane_namespace,
                monitoring_namespace=cfg.kubernetes.monitoring_namespace,
            ),
            opts=self._k8s([namespace]),
        )
        k8s.apiextensions.CustomResource(
            f"{key}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata=meta(spec.name),
            spec=http_route_spec(
                plan, gateway_namespace=self.gateway_namespace, gateway_name=self.gateway_name
            ),
            opts=self._k8s([gateway, *deployments]),
        )
        self.monitored.append(
            MonitoredService(
                name=spec.name,
                namespace=ns,
                metrics_service=metrics_name,
                selector={NAME_LABEL: spec.name, METRICS_LABEL: "true"},
                metrics_port="metrics",
                deployments=[f"{spec.name}-{v.name}" for v in plan.variants],
                hpa=f"{spec.name}-{plan.primary}",
                objectives=service_objectives(cfg, spec),
                variant_label=VARIANT_LABEL,
            )
        )
