"""The Kubernetes objects of a plan as manifests, validated and checked as a cluster would see them.

Every registration of a Kubernetes object (`kubernetes:<group>/<version>:<Kind>`, the core group
spelt `core`) becomes a manifest: `apiVersion`, `kind`, `metadata` and the rest of its inputs,
which the provider SDK already spells in camelCase. `make plan` writes them, one file per object
and an `all.yaml`, to `build/plan/<stack>/k8s/`, with each Helm release's chart, version,
repository, namespace and values in `helm-<name>.yaml` beside them for review.

Three proofs run on them (tests/kubernetes):

- `validate_schemas`: built-in kinds against the Kubernetes OpenAPI schema of the cluster's
  version, as shipped by the `kubernetes-validate` package, in strict mode (an unknown field is
  an error, as `kubectl apply` with server-side field validation `Strict` would make it).
- Custom resources (Gateway API `gateway.networking.k8s.io/v1`, prometheus-operator
  `monitoring.coreos.com/v1`) are not in the Kubernetes OpenAPI. They are validated against the
  JSON schemas in `planner/k8s_schemas/`, which are HAND-WRITTEN from the upstream CRD specs
  (Gateway API v1.3 standard channel, prometheus-operator v0.8x) because the CRDs cannot be
  downloaded here. They cover the fields this platform uses, not every field upstream has; a
  field they do not list is rejected (`additionalProperties: false`), which is how the API server
  treats an unknown field of a CRD's structural schema under strict field validation. Upstream
  CRD schemas cannot spell `additionalProperties: false` themselves (it is forbidden next to
  `properties` in a structural schema); pruning and field validation do that job there. Maps that
  upstream declares as free-form (`labels`, `annotations`) stay free-form.
- `run_checkov`: checkov's Kubernetes checks, offline; `REQUIRED_CHECKS` are the ones
  `../shared/SECURITY-CONTROLS.md` requires to pass.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

# Neither ships type information (types-jsonschema is not in the pins); their values are Any.
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]
from packaging.version import Version

from planner.mocks import SECRET_TEXT, Registration
from planner.run import PROJECT_DIR, Plan

UNKNOWN_TEXT = "[unknown]"
"""How `planner.mocks.plain` marks a value not known at plan time."""

SCHEMA_DIR = Path(__file__).resolve().parent / "k8s_schemas"
"""Hand-written JSON schemas of the custom resources, `<kind>-<group>-<version>.json`."""

CHECKOV = PROJECT_DIR / "build" / "checkov-venv" / "bin" / "checkov"
"""checkov in its own environment (`make checkov-env`): its pins would constrain the platform's."""

_TOKEN = re.compile(r"^kubernetes:(?P<group>[^:/]+)/(?P<version>[^:/]+):(?P<kind>[A-Za-z0-9]+)$")
_CUSTOM_RESOURCE = "kubernetes:apiextensions.k8s.io:CustomResource"
_NOT_OBJECTS = frozenset({"helm.sh", "yaml", "kustomize"})
"""Token groups of the provider's resources that are not one Kubernetes object each."""
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
)
"""Apply order of the built-in kinds (Helm's install order); other kinds and CRs come after."""

REQUIRED_CHECKS: tuple[str, ...] = (
    "CKV_K8S_8",  # liveness probe
    "CKV_K8S_9",  # readiness probe
    "CKV_K8S_10",  # CPU requests
    "CKV_K8S_11",  # CPU limits
    "CKV_K8S_12",  # memory requests
    "CKV_K8S_13",  # memory limits
    # The file reads "image tag pinned, never latest (CKV_K8S_14, _43)". In checkov, 14 is "tag
    # fixed, not latest or blank" (a digest passes it) and 43 is "image should use digest":
    # stricter than a pinned tag, so every image must be pinned by digest.
    "CKV_K8S_14",
    "CKV_K8S_43",
    "CKV_K8S_16",  # not privileged
    "CKV_K8S_17",  # no host PID namespace
    "CKV_K8S_18",  # no host IPC namespace
    "CKV_K8S_19",  # no host network namespace
    "CKV_K8S_20",  # no allowPrivilegeEscalation
    "CKV_K8S_23",  # not root ("minimize the admission of root containers")
    "CKV_K8S_40",  # high UID (checkov: runAsUser >= 10000)
    "CKV_K8S_22",  # read-only root filesystem
    # The file groups 28/31/37 as "capabilities dropped, seccomp RuntimeDefault". In checkov, 28
    # is narrower: "NET_RAW dropped" (dropping ALL satisfies it); 37 is "capabilities dropped
    # (ALL), none added"; 31 is seccomp RuntimeDefault (or docker/default).
    "CKV_K8S_28",
    "CKV_K8S_31",
    "CKV_K8S_37",
    "CKV_K8S_21",  # not in the default namespace
    "CKV_K8S_38",  # service account token mounted only where needed (pod spec)
    # The file reads "own service account" for 41. checkov's CKV_K8S_41 only evaluates
    # ServiceAccount objects, and fails only one named `default` that does not set
    # automountServiceAccountToken: false; any other ServiceAccount passes. That a pod uses its
    # own account is not what 41 proves: the tests assert serviceAccountName themselves.
    "CKV_K8S_41",
    # checkov evaluates it on the Pod it extracts from each workload's template: a pod whose
    # namespace has no NetworkPolicy fails.
    "CKV2_K8S_6",
)
"""The checkov ids `../shared/SECURITY-CONTROLS.md` ("EKS and Kubernetes workloads") requires."""


class ManifestError(ValueError):
    """A Kubernetes object of the plan cannot be rendered to a manifest."""


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object as `kubectl apply` would receive it."""

    urn: str
    """The registration it was rendered from."""
    document: dict[str, Any]
    """apiVersion, kind, metadata, then the rest of the object's inputs (keys sorted)."""
    unknown_paths: tuple[str, ...] = ()
    """Paths of values not known at plan time (`[unknown]` in the document)."""
    custom: bool = False
    """A custom resource (its schema is in planner/k8s_schemas/, not the Kubernetes OpenAPI)."""

    @property
    def api_version(self) -> str:
        return str(self.document["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def name(self) -> str:
        return str(self.document["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        namespace = self.document["metadata"].get("namespace")
        return None if namespace is None else str(namespace)

    @property
    def label(self) -> str:
        """`Kind namespace/name`, as findings name the object."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Finding:
    """A manifest that does not match its schema."""

    file: str
    """The file `write_manifests` gives the object."""
    object: str
    """`Kind namespace/name`."""
    path: str
    """Where in the object, e.g. `spec.replicas` (empty: the object itself)."""
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.object}: {self.path or '<object>'}: {self.message}"


# ---- rendering -------------------------------------------------------------------------------
def _group_version(registration: Registration) -> tuple[str, str, str] | None:
    """(apiVersion, kind, group) of a Kubernetes object's registration; None for anything else."""
    if not registration.custom:
        return None
    inputs = registration.inputs
    if registration.type == _CUSTOM_RESOURCE:
        api_version, kind = inputs.get("apiVersion"), inputs.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise ManifestError(f"{registration.urn}: a CustomResource needs apiVersion and kind")
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else "core"
        return api_version, kind, group
    match = _TOKEN.match(registration.type)
    if match is None or match["group"] in _NOT_OBJECTS:
        return None
    kind = match["kind"]
    if kind.endswith(("Patch", "List")):
        # Server-side-apply patches are partial objects, lists are not objects: neither
        # validates as one object, and the platform registers neither.
        return None
    group = match["group"]
    api_version = match["version"] if group == "core" else f"{group}/{match['version']}"
    return api_version, kind, group


def _normal(value: Any, path: str, unknown: list[str]) -> Any:
    """Inputs to manifest values: keys sorted, whole-number floats back to integers.

    The mock runtime hands inputs over as a protobuf Struct, whose numbers are all doubles:
    `replicas: 2` arrives as 2.0. Secrets stay masked (`[secret]`); unknowns are recorded.
    """
    if isinstance(value, dict):
        return {
            key: _normal(value[key], f"{path}.{key}" if path else key, unknown)
            for key in sorted(value)
        }
    if isinstance(value, list):
        return [_normal(item, f"{path}[{index}]", unknown) for index, item in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == UNKNOWN_TEXT:
        unknown.append(path)
    return value


def manifest_of(registration: Registration) -> Manifest | None:
    """The manifest of one registration; None when it is not a Kubernetes object."""
    found = _group_version(registration)
    if found is None:
        return None
    api_version, kind, group = found
    inputs = {k: v for k, v in registration.inputs.items() if not k.startswith("__")}
    metadata = inputs.pop("metadata", None) or {}
    if not isinstance(metadata, dict):
        raise ManifestError(f"{registration.urn}: metadata is {metadata!r}, not an object")
    metadata = {k: v for k, v in metadata.items() if not k.startswith("__")}
    name = metadata.get("name")
    if not isinstance(name, str) or not name or name == UNKNOWN_TEXT:
        raise ManifestError(
            f"{registration.urn}: {kind} has no metadata.name ({name!r}); the provider would "
            "auto-name it, so the plan cannot say what the cluster will hold: set an explicit "
            "name in the component"
        )
    inputs.pop("apiVersion", None)
    inputs.pop("kind", None)
    if api_version == "v1" and kind == "Secret":
        # The SDK registers a Secret's data and stringData as secrets, masked whole (a string
        # where the schema wants a map); a value set some other way must not show either. The
        # review copy keeps the keys it can see and a placeholder entry otherwise.
        for key in ("data", "stringData"):
            if isinstance(inputs.get(key), dict):
                inputs[key] = dict.fromkeys(inputs[key], SECRET_TEXT)
            elif key in inputs:
                inputs[key] = {SECRET_TEXT: SECRET_TEXT}
    unknown: list[str] = []
    body = _normal(inputs, "", unknown)
    document: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _normal(metadata, "metadata", unknown),
        **body,
    }
    return Manifest(
        urn=registration.urn,
        document=document,
        unknown_paths=tuple(unknown),
        custom=registration.type == _CUSTOM_RESOURCE or group not in BUILT_IN_GROUPS,
    )


BUILT_IN_GROUPS = frozenset(
    {
        "core",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
"""API groups the Kubernetes OpenAPI covers. Others, Gateway API's `gateway.networking.k8s.io`
among them (a CRD group despite its suffix), are custom resources."""


def _schema_file(api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return SCHEMA_DIR / f"{kind.lower()}-{group or 'core'}-{version}.json"


def _order(manifest: Manifest) -> tuple[int, str, str, str]:
    kind = manifest.kind
    if manifest.custom:
        rank = len(_ORDER) + 1  # after every built-in kind: their CRDs must exist first
    else:
        rank = _ORDER.index(kind) if kind in _ORDER else len(_ORDER)
    return rank, kind, manifest.namespace or "", manifest.name


def manifests(plan: Plan) -> list[Manifest]:
    """Every Kubernetes object of the plan, in apply order: namespaces first, then the built-in
    kinds, custom resources last."""
    found = [m for m in (manifest_of(r) for r in plan.registrations) if m is not None]
    seen: dict[tuple[str, str, str | None, str], str] = {}
    for manifest in found:
        key = (manifest.api_version, manifest.kind, manifest.namespace, manifest.name)
        if key in seen:
            raise ManifestError(
                f"{manifest.label} is registered twice ({seen[key]} and {manifest.urn}): the "
                "second apply would overwrite the first"
            )
        seen[key] = manifest.urn
    return sorted(found, key=_order)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def file_names(found: list[Manifest]) -> list[str]:
    """`<NN>-<kind>[-<namespace>]-<name>.yaml` for each manifest, in the given order."""
    width = max(2, len(str(len(found))))
    names = []
    for index, manifest in enumerate(found, start=1):
        parts = [f"{index:0{width}d}", manifest.kind, manifest.namespace or "", manifest.name]
        names.append("-".join(_slug(p) for p in parts if p) + ".yaml")
    return names


def helm_releases(plan: Plan) -> list[dict[str, Any]]:
    """What each Helm release installs, for review: chart, version, repository, values."""
    releases = []
    for registration in plan.by_type(HELM_RELEASE):
        inputs = registration.inputs
        repository = inputs.get("repositoryOpts") or {}
        releases.append(
            _normal(
                {
                    "release": inputs.get("name") or registration.name,
                    "chart": inputs.get("chart"),
                    "version": inputs.get("version"),
                    "repository": repository.get("repo") if isinstance(repository, dict) else None,
                    "namespace": inputs.get("namespace"),
                    "values": inputs.get("values") or {},
                },
                "",
                [],
            )
        )
    return sorted(releases, key=lambda r: str(r["release"]))


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)


def write_manifests(plan: Plan, out_dir: Path) -> list[Path]:
    """Write one YAML file per object, `all.yaml`, and `helm-<release>.yaml`; return the object
    files. The directory is emptied first, and removed when the plan has nothing to write."""
    found = manifests(plan)
    releases = helm_releases(plan)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    if not found and not releases:
        return []
    out_dir.mkdir(parents=True)
    written = []
    for name, manifest in zip(file_names(found), found, strict=True):
        path = out_dir / name
        path.write_text(_dump(manifest.document))
        written.append(path)
    if found:
        (out_dir / "all.yaml").write_text(
            yaml.safe_dump_all(
                [m.document for m in found], sort_keys=False, default_flow_style=False, width=100
            )
        )
    for release in releases:
        (out_dir / f"helm-{_slug(str(release['release']))}.yaml").write_text(_dump(release))
    return written


# ---- schemas ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaVersion:
    """The Kubernetes version whose schemas validate a cluster's manifests."""

    requested: str
    used: str

    @property
    def exact(self) -> bool:
        return self.requested == self.used

    @property
    def note(self) -> str:
        if self.exact:
            return f"schemas of Kubernetes {self.used}"
        return (
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for "
            f"Kubernetes {self.requested}; validating against {self.used}, the nearest it ships"
        )


class SchemaVersionWarning(UserWarning):
    """The cluster's version is validated against another version's schemas."""


def _major_minor(version: str) -> str:
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"{version!r} is not a Kubernetes version (major.minor, e.g. 1.33)")
    return f"{match[1]}.{match[2]}"


def schema_version(kubernetes_version: str) -> SchemaVersion:
    """The version of the shipped schemas nearest `kubernetes_version` (major.minor)."""
    requested = _major_minor(kubernetes_version)
    shipped = sorted({_major_minor(v) for v in all_versions()}, key=Version)
    want = Version(requested)

    def distance(candidate: str) -> tuple[int, int, bool]:
        have = Version(candidate)
        # Prefer the same major, then the nearest minor, then the older of two equally near.
        return abs(have.major - want.major), abs(have.minor - want.minor), have > want

    return SchemaVersion(requested=requested, used=min(shipped, key=distance))


@cache
def _custom_validator(api_version: str, kind: str) -> Any:
    path = _schema_file(api_version, kind)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate_one(manifest: Manifest, version: SchemaVersion, file: str = "") -> list[Finding]:
    """The schema problems of one manifest (custom resources: all; built-in kinds: the first)."""
    file = file or f"{manifest.kind.lower()}-{manifest.name}"
    findings = [
        Finding(file, manifest.label, path, "value not known at plan time")
        for path in manifest.unknown_paths
    ]
    if manifest.custom:
        validator = _custom_validator(manifest.api_version, manifest.kind)
        if validator is None:
            return [
                *findings,
                Finding(
                    file,
                    manifest.label,
                    "",
                    f"no schema for custom resource {manifest.api_version} {manifest.kind}: add "
                    f"{_schema_file(manifest.api_version, manifest.kind).relative_to(PROJECT_DIR)}",
                ),
            ]
        errors = sorted(validator.iter_errors(manifest.document), key=lambda e: list(e.path))
        return [
            *findings,
            *(Finding(file, manifest.label, _path(e.absolute_path), e.message) for e in errors),
        ]
    try:
        kubernetes_validate.validate(manifest.document, version.used, strict=True)
    except kubernetes_validate.ValidationError as error:
        findings.append(Finding(file, manifest.label, _path(error.absolute_path), error.message))
    except kubernetes_validate.SchemaNotFoundError as error:
        findings.append(Finding(file, manifest.label, "apiVersion", error.message))
    return findings


def validate_schemas(found: list[Manifest], kubernetes_version: str) -> list[Finding]:
    """Validate each manifest: built-in kinds against the Kubernetes OpenAPI schema of
    `kubernetes_version` (strict), custom resources against planner/k8s_schemas/."""
    version = schema_version(kubernetes_version)
    if not version.exact:
        warnings.warn(version.note, SchemaVersionWarning, stacklevel=2)
    findings: list[Finding] = []
    for file, manifest in zip(file_names(found), found, strict=True):
        findings.extend(validate_one(manifest, version, file))
    return findings


def assert_manifests_valid(plan: Plan, kubernetes_version: str) -> list[Manifest]:
    """Render the plan's Kubernetes objects and raise AssertionError listing every schema
    problem; return the manifests (for further checks)."""
    found = manifests(plan)
    findings = validate_schemas(found, kubernetes_version)
    if findings:
        raise AssertionError(
            f"{len(findings)} schema problem(s) in stack {plan.stack!r}:\n"
            + "\n".join(f"  {f}" for f in findings)
        )
    return found


# ---- checkov ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckOutcome:
    """One check on one resource."""

    check_id: str
    check_name: str
    resource: str
    """checkov's resource id: `Kind.namespace.name` (pods extracted from a workload's template
    add the workload's name)."""
    file: str
    passed: bool


@dataclass
class CheckovResult:
    """What checkov's Kubernetes checks found."""

    outcomes: list[CheckOutcome] = field(default_factory=list)
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.passed]

    @property
    def passed(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.passed]

    def evaluated(self, check_id: str) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.check_id == check_id]

    def failed_ids(self) -> set[str]:
        return {o.check_id for o in self.failed}

    def failures_of(self, check_ids: tuple[str, ...] | list[str]) -> list[CheckOutcome]:
        return [o for o in self.failed if o.check_id in check_ids]

    def never_evaluated(self, check_ids: tuple[str, ...] | list[str]) -> list[str]:
        ran = {o.check_id for o in self.outcomes}
        return [c for c in check_ids if c not in ran]


class CheckovMissingError(FileNotFoundError):
    """build/checkov-venv is not built."""


def checkov_command(directory: Path, checkov: Path = CHECKOV) -> list[str]:
    """checkov on the manifests of `directory`, offline: Kubernetes checks only, JSON out."""
    return [
        str(checkov),
        "--directory",
        str(directory),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        # Not --quiet: it drops the passed checks from the JSON too, and a required check must
        # be seen to pass, not merely to be absent from the failures.
        "--compact",
        # No Prisma Cloud: no policy metadata, guidelines or mappings are downloaded.
        "--skip-download",
        # all.yaml repeats every object of the per-object files; helm-*.yaml are not manifests.
        "--skip-path",
        r"all\.yaml$",
        "--skip-path",
        r"helm-[^/]*\.yaml$",
    ]


CHECKOV_ENV = {
    # Same as --skip-download, for the code paths that read the variable instead.
    "BC_SKIP_MAPPING": "TRUE",
    # checkov asks PyPI for a newer version when its banner module is imported.
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    # No package (SCA) scanning: it needs the platform.
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "LOG_LEVEL": "WARNING",
}
"""The environment that keeps checkov offline (no API key is ever passed: local checks only)."""


def run_checkov(directory: Path, checkov: Path = CHECKOV, timeout: float = 300) -> CheckovResult:
    """Run checkov's Kubernetes checks on the manifests in `directory` and parse the outcomes."""
    if not checkov.is_file():
        raise CheckovMissingError(
            f"{checkov} is missing: run `make checkov-env` to build checkov's environment"
        )
    command = checkov_command(directory, checkov)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))
    }
    env.update(CHECKOV_ENV)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own binary, arguments built here
        command, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(
            f"checkov exited {done.returncode}:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
        )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(
            f"checkov printed no JSON ({error}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        ) from error
    return CheckovResult(outcomes=_outcomes(report), seconds=seconds, command=command)


def _outcomes(report: Any) -> list[CheckOutcome]:
    """checkov's JSON: one report (one framework), a list of them, or a bare summary when
    there was nothing to scan."""
    reports = report if isinstance(report, list) else [report]
    outcomes = []
    for one in reports:
        results = one.get("results", {}) if isinstance(one, dict) else {}
        for key, passed in (("passed_checks", True), ("failed_checks", False)):
            for check in results.get(key, []):
                outcomes.append(
                    CheckOutcome(
                        check_id=str(check["check_id"]),
                        check_name=str(check.get("check_name", "")),
                        resource=str(check.get("resource", "")),
                        file=str(check.get("file_path", "")),
                        passed=passed,
                    )
                )
    return outcomes
