"""The offline catalog (components/sagemaker_catalog.py) agrees with the SDKs it reads: every
version it accepts resolves to an image with the sagemaker SDK itself, the versions it refuses
do not, and its instance types are botocore's enums.

The SDK and botocore are called in the SDK's own environment (.venv-sagemaker, the `sdk`
fixture of tests/conftest.py): the catalog reads that environment's files, this one has no
sagemaker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from components import sagemaker_catalog as catalog
from planner.run import PROJECT_DIR
from tests.conftest import Sdk

REGION = "eu-west-1"
CPU, GPU = "ml.m5.xlarge", "ml.g5.xlarge"


@pytest.fixture(scope="module")
def image_uris(sdk: Sdk) -> Any:
    """`sagemaker.image_uris`, in the SDK's environment (importing it there takes > 1 s)."""
    return sdk.module("sagemaker.image_uris")


def instance_for(framework: str, version: str) -> str:
    processors = catalog.training_processors(framework, version)
    return GPU if processors and "cpu" not in processors else CPU


def base_frameworks(image_uris: Any, version: str) -> list[str]:
    """Hugging Face images also need the base framework (pytorch2.8.0, …): the SDK's keys."""
    spec = image_uris.config_for_framework("huggingface")["training"]["versions"][version]
    return [k for k, v in spec.items() if isinstance(v, dict) and "repository" in v]


def retrieve(image_uris: Any, framework: str, version: str, **extra: Any) -> str:
    extra.setdefault("instance_type", CPU)
    if framework == "huggingface" and "base_framework_version" not in extra:
        resolved = catalog.resolve_training_version(framework, version) or version
        extra["base_framework_version"] = base_frameworks(image_uris, resolved)[0]
    uri: str = image_uris.retrieve(
        framework, REGION, version=version, image_scope="training", **extra
    )
    return uri


def accepted_versions() -> list[tuple[str, str]]:
    return [(f, v) for f in catalog.known_frameworks() for v in catalog.training_versions(f)]


def test_the_platform_s_frameworks_all_have_training_images() -> None:
    assert catalog.known_frameworks() == list(catalog.SUPPORTED_FRAMEWORKS)
    assert catalog.training_versions("kmeans") == ["1"]  # top-level `versions`, scoped
    assert catalog.training_versions("no-such-framework") == []
    assert catalog.training_versions("../sklearn") == []


@pytest.mark.parametrize(("framework", "version"), accepted_versions())
def test_every_accepted_version_resolves_with_the_sdk(
    image_uris: Any, framework: str, version: str
) -> None:
    instance_type = instance_for(framework, version)
    bases = base_frameworks(image_uris, version) if framework == "huggingface" else [None]
    for py_version in catalog.training_py_versions(framework, version) or [None]:
        # Hugging Face: the catalog merges its base frameworks' Python versions; each one
        # resolves with at least one base framework.
        uris = []
        for base in bases:
            extra = {"base_framework_version": base} if base else {}
            try:
                uris.append(
                    retrieve(
                        image_uris,
                        framework,
                        version,
                        instance_type=instance_type,
                        py_version=py_version,
                        **extra,
                    )
                )
            except ValueError:
                if base is None:
                    raise
        assert uris, (framework, version, py_version)
        for uri in uris:
            assert re.match(rf"\d{{12}}\.dkr\.ecr\.{REGION}\.amazonaws\.com/[a-z-]+:\S+$", uri)


@pytest.mark.parametrize(
    ("framework", "alias", "version"),
    [("pytorch", "2.8", "2.8.0"), ("tensorflow", "2.16", "2.16.2"), ("xgboost", "latest", "1")],
)
def test_aliases_resolve_like_the_sdk(
    image_uris: Any, framework: str, alias: str, version: str
) -> None:
    """The SDK keeps the alias in the tag (`pytorch-training:2.8-cpu-py312`) but takes the
    image's settings from the version it stands for: same repository and registry."""
    assert catalog.resolve_training_version(framework, alias) == version
    by_alias = retrieve(image_uris, framework, alias)
    assert by_alias.split(":")[0] == retrieve(image_uris, framework, version).split(":")[0]


@pytest.mark.parametrize(
    ("framework", "version"),
    [
        ("sklearn", "1.2"),
        ("sklearn", "0.19"),
        ("xgboost", "0.72"),
        ("pytorch", "2.9.9"),
        ("tensorflow", "3.0.0"),
        ("huggingface", "4.0.0"),
    ],
)
def test_refused_versions_are_refused_by_the_sdk(
    image_uris: Any, framework: str, version: str
) -> None:
    assert catalog.resolve_training_version(framework, version) is None
    with pytest.raises(ValueError, match="version"):
        retrieve(image_uris, framework, version, base_framework_version="pytorch2.8.0")


@pytest.mark.parametrize(
    ("framework", "version", "py_version"),
    [("pytorch", "2.8.0", "py310"), ("tensorflow", "2.19.0", "py3"), ("sklearn", "1.4-2", "py2")],
)
def test_refused_python_versions_are_refused_by_the_sdk(
    image_uris: Any, framework: str, version: str, py_version: str
) -> None:
    assert py_version not in catalog.training_py_versions(framework, version)
    with pytest.raises(ValueError, match="Python version"):
        retrieve(image_uris, framework, version, py_version=py_version)


def test_python_version_is_ignored_where_the_catalog_lists_none(image_uris: Any) -> None:
    assert catalog.training_py_versions("xgboost", "1.7-1") == []
    assert retrieve(image_uris, "xgboost", "1.7-1", py_version="py3") == retrieve(
        image_uris, "xgboost", "1.7-1"
    )


@pytest.mark.parametrize(
    ("framework", "version", "instance_type"),
    [("sklearn", "1.4-2", GPU), ("huggingface", "4.56.2", CPU)],
)
def test_missing_processor_builds_are_refused_by_the_sdk(
    image_uris: Any, framework: str, version: str, instance_type: str
) -> None:
    processor = catalog.processor_of(instance_type)
    assert processor not in catalog.training_processors(framework, version)
    with pytest.raises(ValueError, match="processor"):
        retrieve(image_uris, framework, version, instance_type=instance_type)


@pytest.mark.parametrize(
    ("instance_type", "processor"),
    [
        ("ml.m5.xlarge", "cpu"),
        ("ml.c5.2xlarge", "cpu"),
        ("ml.g5.xlarge", "gpu"),
        ("ml.p4d.24xlarge", "gpu"),
        ("ml.inf2.xlarge", "inf"),
        ("ml.trn1.2xlarge", "trn"),
    ],
)
def test_processor_of_an_instance_type(instance_type: str, processor: str) -> None:
    assert catalog.processor_of(instance_type) == processor


def test_newest_first_compares_numbers() -> None:
    assert catalog.newest_first(["1.9.1", "1.10.2", "0.90-2", "1", "1.0-1", "2.0.0"]) == [
        "2.0.0",
        "1.10.2",
        "1.9.1",
        "1.0-1",
        "1",
        "0.90-2",
    ]


@pytest.fixture(scope="module")
def service_enum(sdk: Sdk) -> Callable[[str], frozenset[str]]:
    """A shape's enum, read the slow way (botocore's loader, in the SDK's environment)."""
    return lambda shape: frozenset(sdk.call("tests.sdk_side:service_enum", shape))


@pytest.mark.parametrize(
    ("read", "shape"),
    [
        (catalog.training_instance_types, "TrainingInstanceType"),
        (catalog.processing_instance_types, "ProcessingInstanceType"),
        (catalog.transform_instance_types, "TransformInstanceType"),
    ],
)
def test_instance_types_are_botocore_s_enums(
    service_enum: Callable[[str], frozenset[str]], read: Any, shape: str
) -> None:
    assert read() == service_enum(shape)
    assert "ml.m5.xlarge" in read()
    assert "ml.t2.medium" not in read()
    assert "ml.m5.huge" not in read()


def test_training_instance_types(service_enum: Callable[[str], frozenset[str]]) -> None:
    types = catalog.training_instance_types()
    assert {"ml.m5.xlarge", "ml.c5.2xlarge", "ml.g5.xlarge"} <= types
    assert "ml.t2.medium" not in types
    assert "ml.t2.medium" not in service_enum("TrainingInstanceType")
    assert "ml.x9.mega" not in types


def test_validating_training_imports_neither_sdk() -> None:
    """The config check reads the SDKs' data files, never imports the SDKs (sagemaker alone
    takes more than a second)."""
    script = """
import json, sys, time
from components.config import load_platform_config
from planner.stackfile import load_stack_config
from planner.run import PROJECT_DIR
values = dict(load_stack_config(PROJECT_DIR, "dev").values)
values["mlops-platform:training"] = json.dumps({"enabled": True, "pipelines": [{
    "model": "churn", "framework": "sklearn", "frameworkVersion": "1.2-1", "target": "y",
    "columns": [{"name": "x", "type": "numeric"}], "metric": {"threshold": 0.7}}]})
# dev's quality monitor segments by a column this pipeline does not have.
values["mlops-platform:quality"] = json.dumps({"enabled": False})
start = time.perf_counter()
load_platform_config(values, "dev", "/no-such-repository/stacks")  # entry point not looked for
print(json.dumps({"seconds": time.perf_counter() - start,
                  "imported": sorted(m for m in ("sagemaker", "botocore", "boto3")
                                     if m in sys.modules)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    result = json.loads(out.stdout)
    assert result["imported"] == []
    assert result["seconds"] < 1.0  # about 0.03 s; generous for a loaded machine
