"""`verifier_settings`: the one definition the component writes with and the verifier reads.

The renderer's output is checked against hand-written JSON, and every document it renders must
parse with the verifier's strict model (a property test over generated deployments).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import verifier_settings as settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from verify import parse_document

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/{}"


def test_settings_imports_only_the_standard_library() -> None:
    # The Pulumi program imports it: nothing from the Lambda's layer may creep in.
    tree = ast.parse(Path(settings.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "json", "re", "collections", "dataclasses", "typing"}


def test_serverless_document_is_compact_sorted_and_exact() -> None:
    text = settings.intended_document(
        endpoint_name="mlops-platform-dev-fraud",
        endpoint_config_name="mlops-platform-dev-fraud-0badcafe",
        kind="serverless",
        require_approved=False,
        variants=[
            settings.IntendedVariant(
                variant_name="AllTraffic",
                model_name="mlops-platform-dev-fraud-v7-12345678",
                model_package_arn=ARN.format(7),
                serverless=settings.ServerlessSpec(memory_size_in_mb=2048, max_concurrency=5),
            )
        ],
    )
    assert text == (
        '{"endpointConfigName":"mlops-platform-dev-fraud-0badcafe",'
        '"endpointName":"mlops-platform-dev-fraud","kind":"serverless","requireApproved":false,'
        '"schemaVersion":1,"variants":[{"instanceType":null,'
        '"modelName":"mlops-platform-dev-fraud-v7-12345678",'
        '"modelPackageArn":"arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/7",'
        '"serverless":{"maxConcurrency":5,"memorySizeInMb":2048},"shadow":false,'
        '"variantName":"AllTraffic"}]}'
    )
    # provisionedConcurrency appears only when set
    with_warm = settings.intended_document(
        endpoint_name="mlops-platform-dev-fraud",
        endpoint_config_name="c",
        kind="serverless",
        require_approved=False,
        variants=[
            settings.IntendedVariant(
                "AllTraffic",
                "m",
                ARN.format(7),
                serverless=settings.ServerlessSpec(2048, 5, provisioned_concurrency=2),
            )
        ],
    )
    assert json.loads(with_warm)["variants"][0]["serverless"] == {
        "memorySizeInMb": 2048,
        "maxConcurrency": 5,
        "provisionedConcurrency": 2,
    }


def realtime(name: str, version: int, *, shadow: bool = False) -> settings.IntendedVariant:
    return settings.IntendedVariant(
        name, "m" * 63, ARN.format(version), shadow=shadow, instance_type="ml.m5.large"
    )


def serverless(name: str, memory: int = 2048, *, shadow: bool = False) -> settings.IntendedVariant:
    spec = settings.ServerlessSpec(memory, 5)
    return settings.IntendedVariant(name, "m", ARN.format(1), shadow=shadow, serverless=spec)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"kind": "batch"}, "kind 'batch' is not one of"),
        ({"endpoint_name": "churn_prod"}, "not a SageMaker endpoint name"),
        ({"variants": [settings.IntendedVariant("A", "m", ARN.format(1))]},
         "a realtime endpoint's variants need instance_type only"),
        ({"variants": [realtime("A", 1, shadow=True)]},
         "at least one production (non-shadow) variant"),
        ({"variants": [realtime("A", 1), realtime("A", 2)]}, "variant names repeat"),
        ({"kind": "serverless", "variants": [serverless("A", memory=1000)]},
         "memory_size_in_mb 1000 is not one of"),
        ({"kind": "serverless", "variants": [serverless("A"), serverless("S", shadow=True)]},
         "no shadow variants on serverless endpoints"),
        ({"variants": [realtime(f"V{i}", i) for i in range(1, 25)]},
         "over the 4096 of a Standard SSM parameter"),
    ],
)  # fmt: skip
def test_renderer_refuses_what_the_verifier_would(kwargs: dict[str, object], problem: str) -> None:
    arguments: dict[str, object] = {
        "endpoint_name": "mlops-platform-dev-fraud",
        "endpoint_config_name": "c",
        "kind": "realtime",
        "require_approved": True,
        "variants": [realtime("A", 1)],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(problem)):
        settings.intended_document(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        ("/mlops-platform/prod/endpoints", "/mlops-platform/prod/endpoints/churn"),
        ("/mlops-platform/prod/endpoints/", "/mlops-platform/prod/endpoints/churn"),
        ("/", "/churn"),
    ],
)
def test_parameter_name(prefix: str, name: str) -> None:
    assert settings.parameter_name(prefix, "churn") == name


def test_parameter_name_refuses_relative_prefix_and_bad_endpoint() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        settings.parameter_name("mlops/prod", "churn")
    with pytest.raises(ValueError, match="not a SageMaker endpoint name"):
        settings.parameter_name("/mlops", "churn/../x")
    assert settings.parameter_path("/mlops/prod/endpoints/") == "/mlops/prod/endpoints"
    assert settings.parameter_path("/") == "/"


NAMES = st.from_regex(r"[a-zA-Z0-9](-?[a-zA-Z0-9]){0,20}", fullmatch=True)


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(st.sampled_from(settings.KINDS))
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    variants = []
    for i, name in enumerate(names):
        version = draw(st.integers(min_value=1, max_value=10_000))
        if kind == "serverless":
            max_concurrency = draw(st.integers(min_value=1, max_value=200))
            spec = settings.ServerlessSpec(
                memory_size_in_mb=draw(st.sampled_from(settings.SERVERLESS_MEMORY_MB)),
                max_concurrency=max_concurrency,
                provisioned_concurrency=draw(
                    st.none() | st.integers(min_value=1, max_value=max_concurrency)
                ),
            )
            variants.append(
                settings.IntendedVariant(name, draw(NAMES), ARN.format(version), serverless=spec)
            )
        else:
            variants.append(
                settings.IntendedVariant(
                    name,
                    draw(NAMES),
                    ARN.format(version),
                    shadow=i > 0 and draw(st.booleans()),
                    instance_type=draw(st.sampled_from(["ml.m5.large", "ml.g5.2xlarge"])),
                )
            )
    return {
        "endpoint_name": draw(NAMES),
        "endpoint_config_name": draw(NAMES),
        "kind": kind,
        "require_approved": draw(st.booleans()),
        "variants": variants,
    }


@hypothesis_settings(max_examples=60, deadline=None)
@given(deployments())
def test_every_rendered_document_parses_back_to_the_same_values(
    deployment: dict[str, object],
) -> None:
    text = settings.intended_document(**deployment)  # type: ignore[arg-type]
    parsed = parse_document(text, "test", endpoint=str(deployment["endpoint_name"]))
    assert parsed.endpoint_config_name == deployment["endpoint_config_name"]
    assert parsed.kind == deployment["kind"]
    assert parsed.require_approved == deployment["require_approved"]
    expected = deployment["variants"]
    assert isinstance(expected, list)
    assert {
        v.variant_name: (v.model_name, v.model_package_arn, v.shadow) for v in parsed.variants
    } == {v.variant_name: (v.model_name, v.model_package_arn, v.shadow) for v in expected}
    for v in parsed.variants:
        source = next(e for e in expected if e.variant_name == v.variant_name)
        assert v.instance_type == source.instance_type
        if source.serverless is None:
            assert v.serverless is None
        else:
            assert v.serverless is not None
            assert (
                v.serverless.memory_size_in_mb,
                v.serverless.max_concurrency,
                v.serverless.provisioned_concurrency,
            ) == (
                source.serverless.memory_size_in_mb,
                source.serverless.max_concurrency,
                source.serverless.provisioned_concurrency,
            )
    # AND rendering is deterministic whatever the order the variants came in
    reordered = {**deployment, "variants": list(reversed(expected))}
    assert settings.intended_document(**reordered) == text  # type: ignore[arg-type]
