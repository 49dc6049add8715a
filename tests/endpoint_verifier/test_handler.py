"""The verifier's Lambda handler against moto: verdicts, what subscribers receive, metrics, faults.

GIVEN an account as a deployment leaves it (see conftest), WHEN the handler gets SageMaker's
state change or the scheduled request, THEN the summary, the SNS notification (read from the
topic's SQS subscription), the bus event (read from the rule's SQS target), the EMF metrics and
the ERROR log say what a person on call needs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import verifier
import verifier_settings as settings
from botocore.stub import Stubber

from tests.endpoint_verifier.conftest import (
    ENDPOINT,
    MODELS,
    NEW_CONFIG,
    OLD_CONFIG,
    PREFIX,
    ROLLBACK_REASON,
    FakeContext,
    World,
    emf_metrics,
    intended_text,
    intended_variants,
    load_event,
    package_arn,
    realtime,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

PARAMETER = f"{PREFIX}/{ENDPOINT}"


def invoke(event: Any) -> dict[str, Any]:
    answer: dict[str, Any] = verifier.lambda_handler(event, FakeContext())
    return answer


def only(answer: dict[str, Any]) -> dict[str, Any]:
    (result,) = answer["results"]
    assert isinstance(result, dict)
    return result


def checks(result: dict[str, Any]) -> list[str]:
    return [f["check"] for f in result["findings"]]


def error_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelname == "ERROR"]


# ---- all matches --------------------------------------------------------------------------------


def test_endpoint_running_its_intended_state_matches(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the endpoint running the config Pulumi deployed (v3 + shadow v4, both approved)
    world.endpoint(NEW_CONFIG)
    # WHEN SageMaker says it is in service
    answer = invoke(load_event("endpoint_state_change.json"))
    # THEN it matches, with nothing found and nobody told
    result = only(answer)
    assert result == {
        "endpoint": ENDPOINT,
        "status": "match",
        "parameter": f"parameter {PARAMETER}",
        "findings": [],
        "intended_endpoint_config": NEW_CONFIG,
        "live_endpoint_config": NEW_CONFIG,
        "endpoint_status": "InService",
        "failure_reason": None,
        "error": None,
    }
    assert answer["counts"] == {"match": 1}
    assert world.published() == []
    assert world.bus_events() == []
    assert not error_logs(caplog)
    # AND the metrics say verified, no mismatch, for this endpoint
    assert emf_metrics(capsys.readouterr().out) == {
        ENDPOINT: {settings.METRIC_MISMATCH: 0.0, settings.METRIC_VERIFIED: 1.0}
    }


def test_model_from_containers_and_scheduled_list_request_match(world: World) -> None:
    # GIVEN a model whose package is in Containers[0] rather than PrimaryContainer
    world.model("mlops-platform-prod-churn-v3-multi", 3, containers=True)
    world.config(
        "mlops-platform-prod-churn-99887766",
        [{**realtime("AllTraffic", 3), "ModelName": "mlops-platform-prod-churn-v3-multi"}],
    )
    world.endpoint("mlops-platform-prod-churn-99887766")
    world.intend(
        intended_text(
            config="mlops-platform-prod-churn-99887766",
            variants=[
                settings.IntendedVariant(
                    variant_name="AllTraffic",
                    model_name="mlops-platform-prod-churn-v3-multi",
                    model_package_arn=package_arn(3),
                    instance_type="ml.m5.large",
                )
            ],
        )
    )
    # WHEN a manual request names the endpoint
    result = only(invoke(load_event("manual_endpoints.json")))
    # THEN it matches
    assert (result["status"], result["findings"]) == ("match", [])


# ---- the rollback -------------------------------------------------------------------------------


def test_rolled_back_update_is_a_loud_mismatch(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a blue/green update to NEW_CONFIG that SageMaker rolled back: the endpoint is
    # InService again, on OLD_CONFIG (v2, no shadow), and says why in FailureReason
    world.endpoint(OLD_CONFIG, failure_reason=ROLLBACK_REASON)
    # WHEN SageMaker's IN_SERVICE event arrives
    result = only(invoke(load_event("endpoint_state_change.json")))
    # THEN the verdict is a mismatch naming the rollback first, then what runs instead
    assert result["status"] == "mismatch"
    assert (result["live_endpoint_config"], result["intended_endpoint_config"]) == (
        OLD_CONFIG,
        NEW_CONFIG,
    )
    assert checks(result) == [
        "endpoint-config",
        "variant-model",
        "variant-missing",
        "model-package",
    ]
    first = result["findings"][0]["message"]
    assert f"runs endpoint config {OLD_CONFIG}, intended {NEW_CONFIG}" in first
    assert "did not take effect" in first
    assert "SageMaker rolled it back" in first
    assert ROLLBACK_REASON in first
    messages = [f["message"] for f in result["findings"]]
    assert f"Variant AllTraffic runs model {MODELS[2]}, intended {MODELS[3]}." in messages
    assert any("Shadow variant Shadow is missing" in m for m in messages)
    assert any("(version 2, intended version 3)" in m for m in messages)
    # AND the topic's subscriber got one notification saying so
    (notification,) = world.published()
    assert notification["Subject"] == f"Endpoint {ENDPOINT} does not run what was deployed"
    assert len(notification["Subject"]) < 100
    body = notification["Message"]
    assert f"Intended endpoint config: {NEW_CONFIG}" in body
    assert f"Live endpoint config:     {OLD_CONFIG}" in body
    assert ROLLBACK_REASON in body
    for text in messages:
        assert f"- {text}" in body
    assert f"Intended state: parameter {PARAMETER}" in body
    assert notification["MessageAttributes"]["endpoint"]["Value"] == ENDPOINT
    assert notification["MessageAttributes"]["status"]["Value"] == "mismatch"
    # AND the bus's subscriber got the Endpoint Verification Failed event with the findings
    (event,) = world.bus_events()
    assert (event["source"], event["detail-type"]) == (
        settings.EVENT_SOURCE,
        settings.EVENT_VERIFICATION_FAILED,
    )
    assert event["detail"]["status"] == "mismatch"
    assert event["detail"]["findings"] == result["findings"]
    assert event["detail"]["live_endpoint_config"] == OLD_CONFIG
    assert result["notified"] == {"sns": True, "events": True, "errors": []}
    # AND the metric counts the mismatch
    assert emf_metrics(capsys.readouterr().out) == {
        ENDPOINT: {settings.METRIC_MISMATCH: 1.0, settings.METRIC_VERIFIED: 1.0}
    }
    # AND an ERROR log carries the findings
    (record,) = error_logs(caplog)
    assert record.getMessage() == "endpoint does not run what was deployed"
    assert record.__dict__["findings"] == messages
    assert record.__dict__["live_endpoint_config"] == OLD_CONFIG


def test_rollback_onto_a_deleted_config_still_names_the_config(world: World) -> None:
    # GIVEN the rollback, and Pulumi, believing the update succeeded, deleted the old config
    world.endpoint(OLD_CONFIG, failure_reason=ROLLBACK_REASON)
    world.sagemaker.delete_endpoint_config(EndpointConfigName=OLD_CONFIG)
    # WHEN verified
    result = only(invoke(load_event("endpoint_state_change.json")))
    # THEN the config finding stands, and the variants are said to be unreadable
    assert result["status"] == "mismatch"
    assert checks(result) == ["endpoint-config", "config-missing"]
    assert OLD_CONFIG in result["findings"][1]["message"]


def test_endpoint_rolling_back_is_a_mismatch_with_the_reason(world: World) -> None:
    world.endpoint(NEW_CONFIG, status="RollingBack", failure_reason=ROLLBACK_REASON)
    result = only(invoke(load_event("endpoint_state_change.json")))
    assert result["status"] == "mismatch"
    assert checks(result) == ["endpoint-status"]
    assert "status is RollingBack, expected InService" in result["findings"][0]["message"]
    assert ROLLBACK_REASON in result["findings"][0]["message"]
    assert len(world.published()) == 1


# ---- the other differences ----------------------------------------------------------------------


def test_wrong_model_package_version_is_found(world: World) -> None:
    # GIVEN the intended model name, but that model was built from package version 2
    world.sagemaker.delete_model(ModelName=MODELS[3])
    world.model(MODELS[3], 2)
    world.endpoint(NEW_CONFIG)
    # WHEN verified
    result = only(invoke({"endpoints": [ENDPOINT]}))
    # THEN exactly that is reported, versions compared exactly
    assert result["status"] == "mismatch"
    assert result["findings"] == [
        {
            "check": "model-package",
            "message": f"Variant AllTraffic serves model package {package_arn(2)} (model "
            f"{MODELS[3]}), intended {package_arn(3)} (version 2, intended version 3).",
        }
    ]


def test_unapproved_package_is_refused_when_approval_is_required(world: World) -> None:
    # GIVEN a shadow of version 5, pending approval, deployed as intended
    world.config(
        "mlops-platform-prod-churn-5e5e5e5e",
        [realtime("AllTraffic", 3)],
        shadow=[realtime("Shadow", 5)],
    )
    world.endpoint("mlops-platform-prod-churn-5e5e5e5e")
    world.intend(
        intended_text(
            config="mlops-platform-prod-churn-5e5e5e5e",
            variants=intended_variants(shadow_version=5),
        )
    )
    # WHEN verified
    result = only(invoke({"endpoints": [ENDPOINT]}))
    # THEN the only finding is the approval
    assert result["status"] == "mismatch"
    assert checks(result) == ["package-approval"]
    message = result["findings"][0]["message"]
    assert f"Model package {package_arn(5)} (variant Shadow) is PendingManualApproval" in message
    # AND the same deployment without requireApproved matches
    world.intend(
        intended_text(
            config="mlops-platform-prod-churn-5e5e5e5e",
            variants=intended_variants(shadow_version=5),
            require_approved=False,
        )
    )
    assert only(invoke({"endpoints": [ENDPOINT]}))["status"] == "match"


def test_missing_shadow_variant_is_found(world: World) -> None:
    # GIVEN a config of the intended name that lost the shadow variant
    world.config("mlops-platform-prod-churn-00aa11bb", [realtime("AllTraffic", 3)])
    world.endpoint("mlops-platform-prod-churn-00aa11bb")
    world.intend(intended_text(config="mlops-platform-prod-churn-00aa11bb"))
    result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["findings"] == [
        {
            "check": "variant-missing",
            "message": f"Shadow variant Shadow is missing: intended model {MODELS[4]} on "
            "ml.m5.large, but live endpoint config mlops-platform-prod-churn-00aa11bb has no "
            "variant Shadow.",
        }
    ]


def test_extra_variant_is_found(world: World) -> None:
    world.config(
        "mlops-platform-prod-churn-22cc33dd",
        [realtime("AllTraffic", 3), realtime("Canary", 2)],
        shadow=[realtime("Shadow", 4)],
    )
    world.endpoint("mlops-platform-prod-churn-22cc33dd")
    world.intend(intended_text(config="mlops-platform-prod-churn-22cc33dd"))
    result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["findings"] == [
        {
            "check": "variant-extra",
            "message": f"Production variant Canary (model {MODELS[2]}) is live but not intended.",
        }
    ]


def test_variant_without_instances_is_found(world: World) -> None:
    world.endpoint(NEW_CONFIG)
    world.set_instances("AllTraffic", 0)
    result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["findings"] == [
        {
            "check": "instances",
            "message": "Production variant AllTraffic has 0 instances in service, expected at "
            "least 1.",
        }
    ]


def test_serverless_capacity_is_compared(world: World) -> None:
    # GIVEN a serverless endpoint deployed with 2048 MB, but intended with 4096 MB
    name = "mlops-platform-prod-fraud"
    world.config(
        f"{name}-3c3c3c3c",
        [
            {
                "VariantName": "AllTraffic",
                "ModelName": MODELS[3],
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    world.endpoint(f"{name}-3c3c3c3c", name=name)
    variant = settings.IntendedVariant(
        variant_name="AllTraffic",
        model_name=MODELS[3],
        model_package_arn=package_arn(3),
        serverless=settings.ServerlessSpec(memory_size_in_mb=4096, max_concurrency=5),
    )
    world.intend(
        intended_text(
            endpoint=name, config=f"{name}-3c3c3c3c", kind="serverless", variants=[variant]
        ),
        endpoint=name,
    )
    result = only(invoke({"endpoints": [name]}))
    assert result["findings"] == [
        {
            "check": "variant-capacity",
            "message": "Variant AllTraffic has serverless memory (MB) 2048, intended 4096.",
        }
    ]


# ---- no verdict ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating"])
def test_endpoint_in_progress_has_no_verdict_and_tells_nobody(
    world: World, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    world.endpoint(OLD_CONFIG, status=status)
    result = only(invoke(load_event("endpoint_state_change.json")))
    assert (result["status"], result["endpoint_status"], result["findings"]) == (
        "in-progress",
        status,
        [],
    )
    assert world.published() == []
    assert emf_metrics(capsys.readouterr().out) == {}


def test_endpoint_that_does_not_exist_is_a_mismatch(world: World) -> None:
    # GIVEN the parameter, but no endpoint at all
    result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["status"] == "mismatch"
    assert result["findings"] == [
        {
            "check": "endpoint-missing",
            "message": f"Endpoint {ENDPOINT} does not exist; intended to run endpoint config "
            f"{NEW_CONFIG}.",
        }
    ]
    (notification,) = world.published()
    assert "(none: no such endpoint)" in notification["Message"]


def test_state_change_of_an_endpoint_not_ours_is_skipped(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event("endpoint_state_change.json")
    event["detail"]["EndpointName"] = "someone-elses-endpoint"
    answer = invoke(event)
    assert only(answer)["status"] == "skipped"
    assert answer["counts"] == {"skipped": 1}
    assert world.published() == []
    assert emf_metrics(capsys.readouterr().out) == {}
    assert any(
        r.levelname == "INFO" and "not one of ours" in r.getMessage() for r in caplog.records
    )


def test_all_verifies_every_parameter_under_the_prefix(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two endpoints: churn as intended, fraud rolled back
    world.endpoint(NEW_CONFIG)
    world.config("mlops-platform-prod-fraud-aaaa0001", [realtime("AllTraffic", 1)])
    world.endpoint("mlops-platform-prod-fraud-aaaa0001", name="mlops-platform-prod-fraud")
    world.intend(
        intended_text(
            endpoint="mlops-platform-prod-fraud",
            config="mlops-platform-prod-fraud-bbbb0002",
            variants=intended_variants(shadow_version=None, version=2),
        ),
        endpoint="mlops-platform-prod-fraud",
    )
    # WHEN the hourly schedule runs
    answer = invoke(load_event("scheduled_all.json"))
    # THEN each is verified, each with its own metric
    assert [(r["endpoint"], r["status"]) for r in answer["results"]] == [
        (ENDPOINT, "match"),
        ("mlops-platform-prod-fraud", "mismatch"),
    ]
    assert answer["counts"] == {"match": 1, "mismatch": 1}
    assert emf_metrics(capsys.readouterr().out) == {
        ENDPOINT: {settings.METRIC_MISMATCH: 0.0, settings.METRIC_VERIFIED: 1.0},
        "mlops-platform-prod-fraud": {
            settings.METRIC_MISMATCH: 1.0,
            settings.METRIC_VERIFIED: 1.0,
        },
    }
    (notification,) = world.published()
    assert "mlops-platform-prod-fraud" in notification["Subject"]


def test_listing_pages_through_every_parameter(world: World) -> None:
    # GetParametersByPath answers at most 10 per page
    for i in range(12):
        world.intend(
            intended_text(endpoint=f"endpoint-{i:02d}", config=f"endpoint-{i:02d}-cfg"),
            endpoint=f"endpoint-{i:02d}",
        )
    documents = verifier.list_documents(world.ssm, PREFIX)
    assert [d.endpoint for d in documents] == sorted(
        [ENDPOINT, *(f"endpoint-{i:02d}" for i in range(12))]
    )
    assert documents[0].source == f"parameter {PREFIX}/endpoint-00"


# ---- bad input ----------------------------------------------------------------------------------


def test_bad_document_is_reported_naming_the_parameter_and_field(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a parameter whose shadow flag is a string and whose kind is unknown
    document = json.loads(intended_text())
    document["kind"] = "batch"
    document["variants"][1]["shadow"] = "yes"
    world.intend(json.dumps(document))
    world.endpoint(NEW_CONFIG)
    # WHEN verified
    result = only(invoke({"endpoints": [ENDPOINT]}))
    # THEN nothing is compared, and the error names the parameter, the fields, what is accepted
    assert result["status"] == "invalid"
    error = result["error"]
    assert f"parameter {PARAMETER}" in error
    assert "kind: Input should be 'realtime' or 'serverless' (got 'batch')" in error
    assert "variants[1].shadow: Input should be a valid boolean (got 'yes')" in error
    # AND it is reported like a mismatch, and counted as an error
    (notification,) = world.published()
    assert "bad intended state" in notification["Subject"]
    assert error in notification["Message"]
    assert emf_metrics(capsys.readouterr().out) == {ENDPOINT: {settings.METRIC_ERROR: 1.0}}
    assert error_logs(caplog)


def test_document_for_another_endpoint_is_invalid(world: World) -> None:
    world.intend(intended_text(endpoint="mlops-platform-prod-other"))
    result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["status"] == "invalid"
    assert "the parameter is named after endpoint 'mlops-platform-prod-churn'" in result["error"]


def test_named_endpoint_without_parameter_is_invalid(world: World) -> None:
    result = only(invoke({"endpoints": ["mlops-platform-prod-nothing"]}))
    assert result["status"] == "invalid"
    assert f"{PREFIX}/mlops-platform-prod-nothing does not exist" in result["error"]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"hello": "world"}, "keys ['hello'] is not one the verifier accepts"),
        (["mlops-platform-prod-churn"], "is a JSON list, not an object"),
        ({"endpoints": "some"}, """endpoints: must be "all" or a non-empty list of endpoint"""),
        ({"endpoints": []}, """endpoints: must be "all" or a non-empty list"""),
        ({"endpoints": ["ok", "not a name!"]}, "not a SageMaker endpoint name (1 to 63 letters"),
        ({"endpoints": "all", "force": True}, "force: Extra inputs are not permitted"),
    ],
)
def test_unknown_event_shapes_are_refused_clearly(world: World, event: Any, words: str) -> None:
    with pytest.raises(verifier.BadEventError) as caught:
        invoke(event)
    assert words in str(caught.value)
    assert '{"endpoints": "all"}' in str(caught.value)
    assert "SageMaker Endpoint State Change" in str(caught.value)


def test_other_sagemaker_events_are_refused_naming_their_type(world: World) -> None:
    with pytest.raises(verifier.BadEventError) as caught:
        invoke(load_event("model_state_change.json"))
    assert "detail-type 'SageMaker Model State Change'" in str(caught.value)


def test_missing_environment_is_a_config_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.ENV_TOPIC_ARN)
    with pytest.raises(verifier.ConfigError, match=settings.ENV_TOPIC_ARN):
        invoke({"endpoints": "all"})


# ---- faults -------------------------------------------------------------------------------------


def test_sns_failure_does_not_hide_the_verdict(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the rollback, and the topic's KMS key refusing the publish
    world.endpoint(OLD_CONFIG, failure_reason=ROLLBACK_REASON)
    stub = Stubber(world.clients.sns)
    stub.add_client_error(
        "publish",
        service_error_code="KMSAccessDenied",
        service_message="User is not authorized to perform kms:GenerateDataKey",
        http_status_code=400,
    )
    # WHEN verified
    with stub:
        result = only(invoke(load_event("endpoint_state_change.json")))
    stub.assert_no_pending_responses()
    # THEN the verdict is still returned and logged, with the failure beside it
    assert result["status"] == "mismatch"
    assert checks(result)[0] == "endpoint-config"
    assert result["notified"]["sns"] is False
    assert result["notified"]["errors"] == [
        "SNS: Publish failed: KMSAccessDenied: User is not authorized to perform "
        "kms:GenerateDataKey"
    ]
    messages = [r.getMessage() for r in error_logs(caplog)]
    assert "endpoint does not run what was deployed" in messages
    assert "could not publish the verification result" in messages
    # AND the bus still got its event
    assert result["notified"]["events"] is True
    assert len(world.bus_events()) == 1


def test_failed_put_events_entry_is_reported_not_raised(world: World) -> None:
    world.endpoint(OLD_CONFIG)
    stub = Stubber(world.clients.events)
    stub.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
        },
    )
    with stub:
        result = only(invoke({"endpoints": [ENDPOINT]}))
    assert result["status"] == "mismatch"
    assert result["notified"]["sns"] is True
    assert result["notified"]["events"] is False
    assert "InternalFailure try again" in result["notified"]["errors"][0]


def test_throttled_describe_is_an_error_and_reported(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN DescribeEndpoint throttled (Stubber's answer is final: what the client's standard
    # retries end with when every attempt is throttled)
    world.endpoint(NEW_CONFIG)
    stub = Stubber(world.clients.sagemaker)
    stub.add_client_error(
        "describe_endpoint",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
        expected_params={"EndpointName": ENDPOINT},
    )
    with stub:
        result = only(invoke(load_event("endpoint_state_change.json")))
    assert result["status"] == "error"
    assert result["error"] == "DescribeEndpoint failed: ThrottlingException: Rate exceeded"
    (notification,) = world.published()
    assert notification["Subject"] == f"Endpoint {ENDPOINT} could not be verified"
    assert "ThrottlingException" in notification["Message"]
    assert emf_metrics(capsys.readouterr().out) == {ENDPOINT: {settings.METRIC_ERROR: 1.0}}


def test_access_denied_reading_the_parameter_is_an_error(world: World) -> None:
    stub = Stubber(world.clients.ssm)
    stub.add_client_error(
        "get_parameter",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: ssm:GetParameter",
        http_status_code=400,
    )
    with stub:
        result = only(invoke(load_event("endpoint_state_change.json")))
    assert result["status"] == "error"
    assert "GetParameter failed: AccessDeniedException" in result["error"]


# ---- the reporting pieces -----------------------------------------------------------------------


def test_subject_stays_under_sns_limit_for_the_longest_endpoint_name() -> None:
    name = "e" * 63
    result = verifier.Result(name, "mismatch")
    assert len(verifier.subject(result)) < 100
    assert verifier.subject(result).startswith(f"Endpoint {name}")


def test_message_of_an_error_names_the_time_and_source() -> None:
    result = verifier.Result(ENDPOINT, "error", f"parameter {PARAMETER}", error="boom")
    text = verifier.message(result, datetime(2026, 11, 27, 10, 42, 7, tzinfo=UTC))
    assert text.splitlines()[0] == f"Endpoint {ENDPOINT} could not be verified."
    assert "Error: boom" in text
    assert "Verified at:    2026-11-27T10:42:07Z" in text
