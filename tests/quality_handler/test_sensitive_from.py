"""The sensitive attribute read from the feature store (`sensitive_from`), against botocore's
Stubber: moto has no `sagemaker-featurestore-runtime`.

GIVEN a feature group's online store answering `BatchGetRecord`, WHEN the check looks up the
record identifiers of a partition, THEN the requests are exactly the API's (chunks of 100, the
attribute only), unprocessed identifiers are retried once and then counted missing, and a
failed call fails the run naming the feature group.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from tests.quality_handler.conftest import (
    REGION,
    REPORTS_BUCKET,
    Aws,
    FakeContext,
    FakeEngine,
    load_event,
)
from tests.quality_handler.test_handler import REPORT_KEY, dims, emf_values, write_world

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

GROUP = "mlops-platform-dev-customer-features"
ATTRIBUTE = "segment_band"


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "sagemaker-featurestore-runtime",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def request(ids: list[str]) -> dict[str, Any]:
    return {
        "Identifiers": [
            {
                "FeatureGroupName": GROUP,
                "RecordIdentifiersValueAsString": ids,
                "FeatureNames": [ATTRIBUTE],
            }
        ]
    }


def answer(values: dict[str, str | None], unprocessed: list[str] | None = None) -> dict[str, Any]:
    """Records of the identifiers with a value (None: the record lacks the feature)."""
    return {
        "Records": [
            {
                "FeatureGroupName": GROUP,
                "RecordIdentifierValueAsString": key,
                # A record without the attribute's value: its other features only.
                "Record": [{"FeatureName": "customer_id", "ValueAsString": key}]
                if value is None
                else [{"FeatureName": ATTRIBUTE, "ValueAsString": value}],
            }
            for key, value in values.items()
        ],
        "Errors": [],
        "UnprocessedIdentifiers": [
            {
                "FeatureGroupName": GROUP,
                "RecordIdentifiersValueAsString": unprocessed,
                "FeatureNames": [ATTRIBUTE],
            }
        ]
        if unprocessed
        else [],
    }


def test_one_request_per_chunk_with_the_attribute_only(
    quality_handler: types.ModuleType, runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    stubber.add_response(
        "batch_get_record", answer({"c1": "A", "c3": None}), request(["c1", "c2", "c3"])
    )
    lookup = quality_handler.FeatureStoreLookup(client, GROUP, ATTRIBUTE)
    # c2 is not in the online store; c3's record lacks the feature
    assert lookup(["c1", "c2", "c3"]) == {"c1": "A", "c3": None}
    assert (lookup.calls, lookup.unprocessed) == (1, 0)


def test_identifiers_are_read_in_chunks_of_100(
    quality_handler: types.ModuleType, runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    keys = [f"c{i:03d}" for i in range(250)]
    for chunk in (keys[:100], keys[100:200], keys[200:]):
        stubber.add_response(
            "batch_get_record", answer({k: "AB"[int(k[1:]) % 2] for k in chunk}), request(chunk)
        )
    lookup = quality_handler.FeatureStoreLookup(client, GROUP, ATTRIBUTE)
    found = lookup(keys)
    assert len(found) == 250
    assert found["c007"] == "B"
    assert lookup.calls == 3


def test_unprocessed_identifiers_are_retried_once_then_counted(
    quality_handler: types.ModuleType, runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    stubber.add_response(
        "batch_get_record", answer({"c1": "A"}, ["c2", "c3"]), request(["c1", "c2", "c3"])
    )
    stubber.add_response("batch_get_record", answer({"c2": "B"}, ["c3"]), request(["c2", "c3"]))
    lookup = quality_handler.FeatureStoreLookup(client, GROUP, ATTRIBUTE)
    assert lookup(["c1", "c2", "c3"]) == {"c1": "A", "c2": "B"}
    assert (lookup.calls, lookup.unprocessed) == (2, 1)


def test_a_failed_call_fails_the_check_naming_the_feature_group(
    quality_handler: types.ModuleType, runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    stubber.add_client_error(
        "batch_get_record",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform sagemaker:BatchGetRecord",
        http_status_code=400,
        expected_params=request(["c1"]),
    )
    lookup = quality_handler.FeatureStoreLookup(client, GROUP, ATTRIBUTE)
    with pytest.raises(
        quality_handler.QualityCheckError, match=f"feature group {GROUP}.*AccessDenied"
    ):
        lookup(["c1"])


def test_record_errors_fail_the_check(
    quality_handler: types.ModuleType, runtime: tuple[Any, Stubber]
) -> None:
    client, stubber = runtime
    response = answer({})
    response["Errors"] = [
        {
            "FeatureGroupName": GROUP,
            "RecordIdentifierValueAsString": "c1",
            "ErrorCode": "InternalFailure",
            "ErrorMessage": "try again",
        }
    ]
    stubber.add_response("batch_get_record", response, request(["c1"]))
    lookup = quality_handler.FeatureStoreLookup(client, GROUP, ATTRIBUTE)
    with pytest.raises(quality_handler.QualityCheckError, match="'c1': InternalFailure"):
        lookup(["c1"])


def source_event() -> dict[str, Any]:
    return {
        **load_event(),
        "sensitive": ATTRIBUTE,
        "sensitive_from": {"feature_group": GROUP, "record_identifier_column": "contract"},
    }


def test_the_engine_gets_the_identifier_column_and_the_lookup(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    write_world(aws)
    quality_handler.lambda_handler(source_event(), context)
    (call,) = engine.calls
    assert call["sensitive"] == "contract"
    assert call["sensitive_attribute"] == ATTRIBUTE
    lookup = call["sensitive_lookup"]
    assert (lookup.feature_group, lookup.attribute) == (GROUP, ATTRIBUTE)


def test_without_sensitive_from_the_capture_is_read(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    write_world(aws)
    quality_handler.lambda_handler({**load_event(), "sensitive": "contract"}, context)
    (call,) = engine.calls
    assert (call["sensitive_lookup"], call["sensitive_attribute"]) == (None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sensitive": None}, "sensitive_from names where"),
        (
            {"sensitive_from": {"feature_group": "bad name!", "record_identifier_column": "c"}},
            "feature_group",
        ),
        ({"sensitive_from": {"feature_group": GROUP}}, "record_identifier_column"),
    ],
)
def test_a_bad_source_is_refused_at_the_door(
    quality_handler: types.ModuleType, change: dict[str, Any], message: str
) -> None:
    event = {k: v for k, v in {**source_event(), **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        quality_handler.QualityRequest.model_validate(event)


def test_with_the_engine_the_groups_are_the_feature_stores(
    quality_handler: types.ModuleType,
    aws: Aws,
    context: FakeContext,
    runtime: tuple[Any, Stubber],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, _ = runtime
    # The window's predictions p1..p6 carry contract monthly or yearly; the engine spills them
    # into 64 partitions, so a stand-in answers whatever each partition asks (and records it).
    write_world(aws)
    seen: list[list[str]] = []

    def batch_get_record(**params: Any) -> dict[str, Any]:
        (item,) = params["Identifiers"]
        assert item["FeatureGroupName"] == GROUP
        assert item["FeatureNames"] == [ATTRIBUTE]
        ids = item["RecordIdentifiersValueAsString"]
        seen.append(ids)
        return answer({k: {"monthly": "short"}.get(k) for k in ids if k == "monthly"})

    monkeypatch.setattr(client, "batch_get_record", batch_get_record)
    monkeypatch.setattr(quality_handler, "featurestore", client)
    quality_handler.lambda_handler(source_event(), context)
    report = json.loads(aws.s3.get_object(Bucket=REPORTS_BUCKET, Key=REPORT_KEY)["Body"].read())
    fairness = report["fairness"]
    assert fairness["source"] == "feature_store"
    assert fairness["attribute"] == ATTRIBUTE
    groups = {g["value"]: g["count"] for g in fairness["groups"]}
    # p1, p3, p4 are monthly (found: "short"); p2, p5, p6 are yearly (not in the store)
    assert groups == {"short": 3, None: 3}
    assert fairness["lookup"]["missing_predictions"] == 3
    assert report["context"]["sensitive_from"]["feature_group"] == GROUP
    assert all(set(ids) <= {"monthly", "yearly"} and len(ids) == len(set(ids)) for ids in seen)
    # "short" has a positive rate 3/3, the missing group 1/3 (p6 at 0.8 only)
    values = emf_values(capsys.readouterr().out)
    assert values[("DisparateImpact", dims(SensitiveAttribute=ATTRIBUTE))] == pytest.approx(1 / 3)
