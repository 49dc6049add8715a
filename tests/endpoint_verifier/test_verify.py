"""The pure comparison (`verify`) and the document's parser, on hand-written describe responses.

The responses are shaped as SageMaker's DescribeEndpoint, DescribeEndpointConfig, DescribeModel
and DescribeModelPackage answer them (only the fields the verifier reads, plus a few it must
ignore). No AWS, no moto.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import verifier_settings as settings
from verify import (
    DocumentError,
    Intended,
    Live,
    check_approvals,
    check_config_name,
    check_instances,
    check_packages,
    check_status,
    check_variants,
    model_package_of,
    parse_document,
    verify,
)

ENDPOINT = "mlops-platform-prod-churn"
CONFIG = f"{ENDPOINT}-1a2b3c4d"
PKG = "arn:aws:sagemaker:us-east-1:111122223333:model-package/mlops-platform-prod-churn"
V3, V4 = f"{PKG}/3", f"{PKG}/4"
M3, M4 = f"{ENDPOINT}-v3-9f8e7d6c", f"{ENDPOINT}-v4-1e2d3c4b"

# The document of the brief, as the component renders it (sorted keys, compact).
DOCUMENT = {
    "schemaVersion": 1,
    "endpointName": ENDPOINT,
    "endpointConfigName": CONFIG,
    "kind": "realtime",
    "requireApproved": True,
    "variants": [
        {"variantName": "AllTraffic", "shadow": False, "modelName": M3, "modelPackageArn": V3,
         "instanceType": "ml.m5.large", "serverless": None},
        {"variantName": "Shadow", "shadow": True, "modelName": M4, "modelPackageArn": V4,
         "instanceType": "ml.m5.large", "serverless": None},
    ],
}  # fmt: skip


def intended(document: dict[str, Any] | None = None) -> Intended:
    return parse_document(json.dumps(DOCUMENT if document is None else document), "test")


def endpoint(**overrides: Any) -> dict[str, Any]:
    """DescribeEndpoint of the endpoint as deployed."""
    answer = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:us-east-1:111122223333:endpoint/{ENDPOINT}",
        "EndpointConfigName": CONFIG,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "CurrentWeight": 1.0, "DesiredWeight": 1.0,
             "CurrentInstanceCount": 2, "DesiredInstanceCount": 2,
             "DeployedImages": [{"SpecifiedImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                 "sagemaker-xgboost:1.7-1"}]},
        ],
        "ShadowProductionVariants": [
            {"VariantName": "Shadow", "CurrentWeight": 1.0, "CurrentInstanceCount": 1,
             "DesiredInstanceCount": 1},
        ],
        "EndpointStatus": "InService",
    }  # fmt: skip
    answer.update(overrides)
    return answer


def config(**overrides: Any) -> dict[str, Any]:
    """DescribeEndpointConfig of CONFIG."""
    answer = {
        "EndpointConfigName": CONFIG,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": M3, "InitialInstanceCount": 2,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
        ],
        "ShadowProductionVariants": [
            {"VariantName": "Shadow", "ModelName": M4, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
        ],
        "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
    }  # fmt: skip
    answer.update(overrides)
    return answer


def model(package: str | None, *, containers: bool = False) -> dict[str, Any]:
    container = (
        {"ModelPackageName": package} if package else {"Image": "img", "ModelDataUrl": "s3://m"}
    )
    if containers:
        return {"ModelName": "m", "PrimaryContainer": {}, "Containers": [container]}
    return {"ModelName": "m", "PrimaryContainer": container, "EnableNetworkIsolation": True}


def package(status: str) -> dict[str, Any]:
    return {"ModelPackageArn": V3, "ModelPackageVersion": 3, "ModelApprovalStatus": status}


def live(**overrides: Any) -> Live:
    values: dict[str, Any] = {
        "endpoint": endpoint(),
        "config": config(),
        "models": {M3: model(V3), M4: model(V4)},
        "packages": {V3: package("Approved"), V4: package("Approved")},
    }
    values.update(overrides)
    return Live(**values)


# ---- the verdict --------------------------------------------------------------------------------


def test_deployed_endpoint_matches() -> None:
    verdict = verify(intended(), live())
    assert (verdict.status, verdict.findings) == ("match", ())
    assert (verdict.intended_config, verdict.live_config) == (CONFIG, CONFIG)


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating"])
def test_in_progress_has_no_verdict_whatever_else_differs(status: str) -> None:
    verdict = verify(
        intended(), Live(endpoint=endpoint(EndpointStatus=status, EndpointConfigName="x"))
    )
    assert (verdict.status, verdict.findings, verdict.endpoint_status) == (
        "in-progress",
        (),
        status,
    )


def test_missing_endpoint_is_a_mismatch() -> None:
    verdict = verify(intended(), Live(endpoint=None))
    assert verdict.status == "mismatch"
    assert [f.check for f in verdict.findings] == ["endpoint-missing"]


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        ("RollingBack", "rolling back an update that failed"),
        ("UpdateRollbackFailed", "so did its rollback"),
        ("Failed", "the endpoint failed"),
        ("OutOfService", "not serving"),
        ("Deleting", "being deleted"),
        ("SomethingNew", "an unexpected status"),
    ],
)
def test_statuses_other_than_in_service_are_findings(status: str, meaning: str) -> None:
    (finding,) = check_status(endpoint(EndpointStatus=status, FailureReason="Alarm 5xx fired"))
    assert finding.message.startswith(f"Endpoint status is {status}, expected InService: ")
    assert meaning in finding.message
    assert finding.message.endswith("(FailureReason: Alarm 5xx fired).")
    assert check_status(endpoint()) == []


def test_config_mismatch_without_failure_reason_names_both_causes() -> None:
    (finding,) = check_config_name(intended(), endpoint(EndpointConfigName=f"{ENDPOINT}-old"))
    assert finding.message == (
        f"Endpoint runs endpoint config {ENDPOINT}-old, intended {CONFIG}: the update to "
        f"{CONFIG} did not take effect (SageMaker rolled it back, or the endpoint was changed "
        "outside Pulumi)."
    )


# ---- variants -----------------------------------------------------------------------------------


def test_variant_in_the_wrong_role_is_found() -> None:
    swapped = config(
        ProductionVariants=config()["ProductionVariants"] + config()["ShadowProductionVariants"],
        ShadowProductionVariants=[],
    )
    (finding,) = check_variants(intended(), swapped)
    assert finding.message == (
        "Variant Shadow is a production variant on the live endpoint, intended shadow."
    )


def test_instance_type_difference_is_found() -> None:
    changed = copy.deepcopy(config())
    changed["ProductionVariants"][0]["InstanceType"] = "ml.c5.xlarge"
    (finding,) = check_variants(intended(), changed)
    assert finding.message == "Variant AllTraffic runs on ml.c5.xlarge, intended ml.m5.large."


def test_realtime_variant_served_serverless_is_found() -> None:
    changed = copy.deepcopy(config())
    del changed["ProductionVariants"][0]["InstanceType"]
    changed["ProductionVariants"][0]["ServerlessConfig"] = {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }
    (finding,) = check_variants(intended(), changed)
    assert finding.message == (
        "Variant AllTraffic runs on serverless (2048 MB, max concurrency 5), intended ml.m5.large."
    )


def serverless_document(**spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document["kind"] = "serverless"
    document["variants"] = [
        {**document["variants"][0], "instanceType": None,
         "serverless": {"memorySizeInMb": 2048, "maxConcurrency": 5, **spec}},
    ]  # fmt: skip
    return document


def serverless_config(**live: Any) -> dict[str, Any]:
    return {
        "EndpointConfigName": CONFIG,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": M3,
             "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, **live}},
        ],
    }  # fmt: skip


def test_serverless_capacity_compares_each_setting() -> None:
    doc = intended(serverless_document(provisionedConcurrency=2))
    assert check_variants(doc, serverless_config(ProvisionedConcurrency=2)) == []
    findings = check_variants(doc, serverless_config(MaxConcurrency=10))
    assert [f.message for f in findings] == [
        "Variant AllTraffic has serverless max concurrency 10, intended 5.",
        "Variant AllTraffic has serverless provisioned concurrency none, intended 2.",
    ]


def test_serverless_variant_served_by_instances_is_found() -> None:
    (finding,) = check_variants(
        intended(serverless_document()), config(ShadowProductionVariants=[])
    )
    assert finding.message == (
        "Variant AllTraffic runs on ml.m5.large, intended serverless (2048 MB, max concurrency 5)."
    )


def test_serverless_endpoints_have_no_instance_check() -> None:
    doc = intended(serverless_document())
    assert check_instances(doc, {"ProductionVariants": [{"VariantName": "AllTraffic"}]}) == []


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (0, "Shadow variant Shadow has 0 instances in service, expected at least 1."),
        (None, "Shadow variant Shadow reports no CurrentInstanceCount; expected at least 1 "
               "instance in service."),
    ],
)  # fmt: skip
def test_shadow_without_instances_is_found(count: int | None, message: str) -> None:
    described = endpoint()
    described["ShadowProductionVariants"] = [
        {"VariantName": "Shadow", "CurrentInstanceCount": count}
    ]
    if count is None:
        del described["ShadowProductionVariants"][0]["CurrentInstanceCount"]
    (finding,) = check_instances(intended(), described)
    assert finding.message == message


# ---- models and packages ------------------------------------------------------------------------


def test_model_package_is_read_from_primary_container_or_first_container() -> None:
    assert model_package_of(model(V3)) == V3
    assert model_package_of(model(V3, containers=True)) == V3
    assert model_package_of(model(None)) is None
    assert model_package_of({"ModelName": "m"}) is None


def test_versions_are_compared_exactly() -> None:
    # /3 is not /30, however a prefix comparison would see it
    models = {M3: model(f"{PKG}/30"), M4: model(V4)}
    (finding,) = check_packages(intended(), config(), models)
    assert "(version 30, intended version 3)" in finding.message


def test_model_not_from_a_package_and_deleted_model_are_found() -> None:
    findings = check_packages(intended(), config(), {M3: model(None), M4: None})
    assert [f.message for f in findings] == [
        f"Model {M3} of variant AllTraffic is not built from a model package (no "
        f"ModelPackageName), intended {V3}.",
        f"Model {M4} of variant Shadow no longer exists, so its model package cannot be "
        f"compared with {V4}.",
    ]


def test_approvals_are_checked_only_when_required() -> None:
    packages = {V3: package("Rejected"), V4: None}
    findings = check_approvals(intended(), packages)
    assert [f.check for f in findings] == ["package-approval", "package-missing"]
    assert f"Model package {V3} (variant AllTraffic) is Rejected, intended Approved" in (
        findings[0].message
    )
    relaxed = dict(DOCUMENT, requireApproved=False)
    assert check_approvals(intended(relaxed), packages) == []


def test_every_difference_is_reported_in_order() -> None:
    # GIVEN a rolled-back endpoint: old config, v2 without a shadow, FailureReason
    old = {
        "EndpointConfigName": f"{ENDPOINT}-old",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{ENDPOINT}-v2",
                "InstanceType": "ml.m5.large",
            }
        ],
    }
    verdict = verify(
        intended(),
        live(
            endpoint=endpoint(
                EndpointConfigName=f"{ENDPOINT}-old",
                FailureReason="Alarm fired",
                ShadowProductionVariants=[],
            ),
            config=old,
            models={f"{ENDPOINT}-v2": model(f"{PKG}/2")},
        ),
    )
    assert verdict.status == "mismatch"
    assert verdict.failure_reason == "Alarm fired"
    assert [f.check for f in verdict.findings] == [
        "endpoint-config",
        "variant-model",
        "variant-missing",
        "model-package",
    ]


# ---- the document -------------------------------------------------------------------------------


def edited(path: str, value: Any) -> str:
    """DOCUMENT with one field replaced (`variants.1.shadow`), or removed when value is ...."""
    document = copy.deepcopy(DOCUMENT)
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON (Invalid JSON"),
        (edited("kind", ...), "kind: required, but missing"),
        (edited("schemaVersion", 2), "schemaVersion: version 2 is not supported; accepted: 1"),
        (edited("requireApproved", "true"), "requireApproved: Input should be a valid boolean"),
        (edited("kind", "batch"), "kind: Input should be 'realtime' or 'serverless' (got 'batch')"),
        (edited("variants", []), "variants: List should have at least 1 item"),
        (edited("variants.0.modelPackageArn", f"{PKG}"),
         "variants[0].modelPackageArn: '" + PKG + "' is not a versioned model package ARN"),
        (edited("variants.0.instanceType", "m5.large"),
         "variants[0].instanceType: 'm5.large' is not a SageMaker instance type"),
        (edited("endpointName", "churn_prod"),
         "endpointName: 'churn_prod' is not a SageMaker endpoint name"),
        (edited("variants.1.weight", 1),
         "variants[1].weight: unknown field; accepted here: variantName, shadow, modelName, "
         "modelPackageArn, instanceType, serverless"),
        (edited("variants.1.variantName", "AllTraffic"),
         "variant names repeat: AllTraffic; each must be unique"),
        (edited("variants.0.shadow", True), "no production variant"),
        (edited("variants.0.serverless", {"memorySizeInMb": 2048, "maxConcurrency": 5}),
         "variants[0] (AllTraffic): kind is realtime, so instanceType must be set and "
         "serverless null"),
    ],
)  # fmt: skip
def test_bad_documents_name_the_field_and_what_is_accepted(text: str, problem: str) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(text, "parameter /mlops-platform/prod/endpoints/x")
    message = str(caught.value)
    assert message.startswith(
        "intended-state document parameter /mlops-platform/prod/endpoints/x is invalid: "
    )
    assert problem in message


@pytest.mark.parametrize(
    ("serverless", "problem"),
    [
        ({"memorySizeInMb": 1000, "maxConcurrency": 5},
         "variants[0].serverless.memorySizeInMb: Input should be 1024, 2048, 3072, 4096, 5120 "
         "or 6144"),
        ({"memorySizeInMb": 2048, "maxConcurrency": "5"},
         "variants[0].serverless.maxConcurrency: Input should be a valid integer"),
        ({"memorySizeInMb": 2048, "maxConcurrency": 5, "provisionedConcurrency": 6},
         "provisionedConcurrency 6 is above maxConcurrency 5"),
        ({"memorySizeInMb": 2048, "maxConcurrency": 5, "warm": 1},
         "variants[0].serverless.warm: unknown field; accepted here: memorySizeInMb, "
         "maxConcurrency, provisionedConcurrency"),
    ],
)  # fmt: skip
def test_bad_serverless_settings_are_refused(serverless: dict[str, Any], problem: str) -> None:
    document = serverless_document()
    document["variants"][0]["serverless"] = serverless
    with pytest.raises(DocumentError, match="is invalid") as caught:
        parse_document(json.dumps(document), "test")
    assert problem in str(caught.value)


def test_serverless_shadow_is_refused() -> None:
    document = serverless_document()
    document["variants"].append(
        {**document["variants"][0], "variantName": "Shadow", "shadow": True}
    )
    with pytest.raises(DocumentError, match="no shadow variants on serverless endpoints"):
        parse_document(json.dumps(document), "test")


def test_document_must_describe_the_endpoint_its_parameter_names() -> None:
    with pytest.raises(DocumentError, match="named after endpoint 'other'"):
        parse_document(json.dumps(DOCUMENT), "parameter /p/other", endpoint="other")


def test_the_brief_document_parses_and_the_component_renders_it_byte_for_byte() -> None:
    parsed = intended()
    assert parsed.endpoint_name == ENDPOINT
    assert [v.role for v in parsed.variants] == ["production", "shadow"]
    # The component's renderer gives exactly the compact, sorted form of the same document.
    rendered = settings.intended_document(
        endpoint_name=ENDPOINT,
        endpoint_config_name=CONFIG,
        kind="realtime",
        require_approved=True,
        variants=[
            settings.IntendedVariant("Shadow", M4, V4, shadow=True, instance_type="ml.m5.large"),
            settings.IntendedVariant("AllTraffic", M3, V3, instance_type="ml.m5.large"),
        ],
    )
    assert rendered == json.dumps(DOCUMENT, sort_keys=True, separators=(",", ":"))
