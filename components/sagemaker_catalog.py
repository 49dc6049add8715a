"""What SageMaker offers, read offline from the SDKs' own data files in the SDK's environment.

Config validation needs two facts about SageMaker before any resource is registered: which
framework image versions the `sagemaker` SDK can resolve an image URI for, and which instance
types SageMaker accepts for each kind of job. Both are data files shipped with the SDKs:

- `sagemaker/image_uri_config/<framework>.json`: the versions, aliases, Python versions and
  processors of each framework image, by scope (`training`, `inference`, …). It is read
  directly: importing `sagemaker` costs more than a second, locating its package costs nothing.
- botocore's SageMaker service model (`botocore/data/sagemaker/<api>/service-2.json[.gz]`):
  the enums `TrainingInstanceType`, `ProcessingInstanceType` and `TransformInstanceType`. It is
  read directly too: parsing the file costs about 20 ms, while importing `botocore.loaders` and
  calling `Loader().load_service_model` costs about 100 ms.

Both are read from the SDK's own environment (`.venv-sagemaker`, located from its interpreter by
`components/sagemaker_sdk.py`), never from the program's: the program's environment has no
`sagemaker` (its packaging pin conflicts with the Pulumi SDK's), and the Pulumi runtime's may
have no botocore either. So the checks describe exactly the SDK that generates the definitions.
When that environment is missing, the first fact asked for raises `SdkEnvironmentError`, which
names `make setup`.

Every fact is read once per process (`functools.cache`) and only when asked for, so a stack
without training pays nothing. The module imports only the standard library.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from typing import Any

from components.sagemaker_sdk import package_dir, site_packages

SUPPORTED_FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "tensorflow", "huggingface")
"""The SDK frameworks the platform's training pipelines can build an estimator for."""

TRAINING = "training"


# --------------------------------------------------------------------------------------------
# Framework images


@functools.cache
def sdk_version() -> str:
    """The SDK environment's sagemaker version (what its image data describes)."""
    import importlib.metadata  # noqa: PLC0415 - about 12 ms, only for a message

    found = importlib.metadata.distributions(name="sagemaker", path=[str(site_packages())])
    for distribution in found:
        return distribution.version
    return "unknown"


@functools.cache
def _framework_config(framework: str) -> dict[str, Any] | None:
    """The SDK's image config of a framework, or None when the SDK has no such file."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", framework):
        return None
    path = package_dir("sagemaker") / "image_uri_config" / f"{framework}.json"
    try:
        with path.open(encoding="utf-8") as handle:
            config: dict[str, Any] = json.load(handle)
    except FileNotFoundError:
        return None
    return config


def _scopes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scope name to its section (`versions`, `version_aliases`, `processors`).

    Two shapes exist: the versions at top level, shared by the scopes listed under `scope`
    (e.g. kmeans), or one section per scope (e.g. sklearn's `training` and `inference`).
    """
    if "versions" in config:
        return dict.fromkeys(config.get("scope", [TRAINING]), config)
    return {
        scope: section
        for scope, section in config.items()
        if isinstance(section, dict) and isinstance(section.get("versions"), dict)
    }


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    return tuple(int(n) for n in re.findall(r"\d+", version)), version


def newest_first(versions: list[str]) -> list[str]:
    """Versions sorted newest first by their numeric parts (`1.10.2` after `1.9.1`)."""
    return sorted(versions, key=_version_key, reverse=True)


def framework_versions(framework: str) -> dict[str, list[str]]:
    """Scope to the versions the SDK resolves an image for, newest first (aliases excluded).

    Empty when the SDK knows no such framework.
    """
    config = _framework_config(framework)
    if config is None:
        return {}
    return {
        scope: newest_first(list(section["versions"])) for scope, section in _scopes(config).items()
    }


def _section(framework: str, scope: str) -> dict[str, Any] | None:
    config = _framework_config(framework)
    return None if config is None else _scopes(config).get(scope)


def _training_section(framework: str) -> dict[str, Any] | None:
    return _section(framework, TRAINING)


def training_versions(framework: str) -> list[str]:
    """The framework's training image versions, newest first; empty when there are none."""
    return framework_versions(framework).get(TRAINING, [])


def training_version_aliases(framework: str) -> dict[str, str]:
    """Short versions the SDK also accepts for training images, e.g. pytorch `2.8` → `2.8.0`."""
    section = _training_section(framework)
    return dict(section.get("version_aliases", {})) if section is not None else {}


def resolve_version(framework: str, version: str, scope: str = TRAINING) -> str | None:
    """The image version `version` names in a scope (itself, or the one its alias stands for,
    as the SDK resolves it); None when the SDK would refuse it."""
    section = _section(framework, scope)
    if section is None:
        return None
    version = section.get("version_aliases", {}).get(version, version)
    return version if version in section["versions"] else None


def resolve_training_version(framework: str, version: str) -> str | None:
    """`resolve_version` for training images."""
    return resolve_version(framework, version, TRAINING)


def known_frameworks() -> list[str]:
    """The supported frameworks (`SUPPORTED_FRAMEWORKS`) the installed SDK has training images
    of."""
    return [f for f in SUPPORTED_FRAMEWORKS if training_versions(f)]


def _version_spec(framework: str, version: str) -> dict[str, Any]:
    section = _training_section(framework)
    resolved = resolve_training_version(framework, version)
    if section is None or resolved is None:
        raise ValueError(f"no {framework} training image version {version!r}")
    spec: dict[str, Any] = section["versions"][resolved]
    return spec


def training_py_versions(framework: str, version: str) -> list[str]:
    """The Python versions of a training image; empty when the SDK takes none (it then ignores
    a given `py_version`, as for xgboost).

    A version's entry lists `py_versions` next to its `repository`, or has one entry per
    Python version (`py2`, `py3`), or (huggingface) one entry per base framework
    (`pytorch2.8.0`), each with its own `py_versions`: those are merged.
    """
    spec = _version_spec(framework, version)
    if "repository" in spec:
        return list(spec.get("py_versions") or [])
    found: list[str] = []
    for key, value in spec.items():
        if re.fullmatch(r"py\d+", key):
            found.append(key)
        elif isinstance(value, dict) and "repository" in value:
            found.extend(p for p in value.get("py_versions") or [] if p not in found)
    return found


def training_processors(framework: str, version: str) -> list[str]:
    """The processors (`cpu`, `gpu`, …) a training image is built for; empty when the SDK
    ignores the instance type (one image for all, as for xgboost)."""
    section = _training_section(framework)
    spec = _version_spec(framework, version)
    processors = (section or {}).get("processors") or spec.get("processors")
    if processors is None:
        nested = [v for v in spec.values() if isinstance(v, dict) and "processors" in v]
        processors = nested[0]["processors"] if nested else []
    return list(processors)


def processor_of(instance_type: str) -> str:
    """The processor the SDK picks an image for on an instance type (as `image_uris` does):
    `gpu` for the g and p families, `inf`/`trn` for Inferentia and Trainium, else `cpu`."""
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else instance_type
    if family.startswith("inf"):
        return "inf"
    if family.startswith("trn"):
        return "trn"
    return "gpu" if family[:1] in ("g", "p") else "cpu"


# --------------------------------------------------------------------------------------------
# Instance types


@functools.cache
def _service_shapes() -> dict[str, Any]:
    """The shapes of botocore's SageMaker service model (newest API version installed)."""
    data = package_dir("botocore") / "data" / "sagemaker"
    api = max(p for p in data.iterdir() if p.is_dir())
    plain = api / "service-2.json"
    if plain.exists():
        text = plain.read_bytes()
    else:
        with gzip.open(api / "service-2.json.gz") as handle:
            text = handle.read()
    shapes: dict[str, Any] = json.loads(text)["shapes"]
    return shapes


def _enum(shape: str) -> frozenset[str]:
    return frozenset(_service_shapes()[shape]["enum"])


@functools.cache
def training_instance_types() -> frozenset[str]:
    """Instance types SageMaker accepts for training jobs (`TrainingInstanceType`)."""
    return _enum("TrainingInstanceType")


@functools.cache
def processing_instance_types() -> frozenset[str]:
    """Instance types SageMaker accepts for processing jobs (`ProcessingInstanceType`)."""
    return _enum("ProcessingInstanceType")


@functools.cache
def transform_instance_types() -> frozenset[str]:
    """Instance types SageMaker accepts for batch transform jobs (`TransformInstanceType`)."""
    return _enum("TransformInstanceType")
