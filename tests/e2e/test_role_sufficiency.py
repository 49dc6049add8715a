"""Each function's role, as each stack's plan renders it, is enough for its code (issue 11).

GIVEN a stack's plan, moto's server in the plan's account with IAM enforced by the harness's
evaluator (`loop.iam`), the function's role created in moto's IAM with exactly the plan's inline
policy, and the handler run in its own process with that role's STS credentials
(`loop.harness`),
WHEN the function runs on the input its schedule (or rule, or state machine) would give it,
THEN it succeeds, every IAM check its calls needed was evaluated and allowed, and the set of
actions evaluated is exactly the one pinned here (a new call in a handler fails this test until
it is named), the (action, statement Sid) pairs used exactly the ones pinned in
tests/e2e/role_uses.py (`LAMBDA_USES`, from which tests/e2e/test_role_minimality.py checks that
no grant of the role goes unused without its reason); and the negative twin: the same role with
one statement removed fails the invocation (or the result it reports) with AccessDenied, so the
check can fail.

Every `aws:lambda/function:Function` of every stack's plan is named, by stack and registration
name, in `PROOFS` with the test proving it; a function without one fails
`test_every_function_of_every_plan_has_a_sufficiency_proof`. Proven here and in
tests/e2e/test_closed_loop.py:
- drift check and retraining trigger: dev by test_closed_loop.py; staging and prod here (a
  drifted window, the event the plan's rule routes, one retraining started; the trigger with its
  budget guard, `budgets:ViewBudget`). prod's schedules start the scale-out, so its drift check
  runs on the schedule's input on demand;
- prod's scale-out drift check (`drift-plan`, `drift-profile`, `drift-reduce`, on the shared
  drift role): the state machine's path played as its definition says (the planner on the
  schedule's input, the manifest read and cut into `MaxItemsPerBatch` batches with the Map's
  `BatchInput`, the reducer on the planner's output); the drift found and routed to the trigger.
  The schedule's `critical` features are prod's model's, which the harness's baseline lacks:
  none are named. (tests/drift/test_scaleout.py runs the same handlers in process, without IAM.)
  The state machine's and the scheduler's roles (not Lambda execution roles) are not run here;
- quality check (`lambdas/drift_check/quality_handler.py`, `components/quality.py`), every stack:
  the schedule's input, over capture and ground truth the harness writes and the baseline the
  role may read;
- endpoint verifier (`lambdas/endpoint_verifier/verifier.py`, `components/inference.py`): dev:
  the hourly rule's input and a state change, on the endpoint as the plan deploys it (models,
  config, endpoint and intended-state parameter seeded from the plan), then after a rolled-back
  update (a mismatch, published to the encrypted topic). staging and prod (`requireApproved:
  true`): `DescribeModelPackage` of every intended package, seeded at the versions the plan
  names, approved (prod: a match) and pending approval (`package-approval` found, the mismatch
  published); the negative twin without `DescribePackages` reports the denial as the endpoint's
  error. moto's endpoint configs hold no shadow variants, so staging's Shadow variant is reported
  missing (its package is described all the same);
- capture proxy (`lambdas/capture_proxy/proxy.py`, dev only): a Function URL request; moto's
  sagemaker-runtime answers InvokeEndpoint with its canned result (it runs no model), and moto's
  Firehose writes the record to the capture bucket. The role has no key permission for the
  stream (Firehose encrypts with its own grant): see `PROXY_ACTIONS`.
What the Lambda service does with every function's role (logs on its own log group, X-Ray, the
SSE-KMS dead-letter queue) is proven, for every function of every stack, by
tests/e2e/test_lambda_service_uses.py.

The SageMaker pipeline execution roles are proven in tests/e2e/test_pipeline_role_sufficiency.py:
moto records a pipeline execution and runs no step, so `loop.pipeline` runs the rendered
definition itself, with the role created in moto's IAM with exactly the plan's policy (the calls
SageMaker makes with it, the jobs' S3 data and the step scripts in their own processes). The
trigger's `sagemaker:StartPipelineExecution` on the pipeline's ARN is proven by
test_closed_loop.py; every other role of the plans by test_service_role_sufficiency.py, and their
least privilege by test_role_minimality.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest
import retrain_settings
from capture_format import capture_record
from mlops_drift import settings as drift_settings
from mlops_drift.baseline import baseline_to_dict, build_baseline

from loop.functions import Function
from loop.harness import ClosedLoop, Window
from loop.stack import (
    DRIFT_POLICY,
    QUALITY_POLICY,
    TRIGGER_POLICY,
    VERIFIER_POLICY,
    FunctionSpec,
    LoopPlan,
    plan_loop,
)
from tests.drift.conftest import churn_records
from tests.e2e.conftest import _once_per_session
from tests.e2e.role_uses import PROXY, assert_uses
from tests.e2e.test_closed_loop import DRIFT_ACTIONS, TRIGGER_ACTIONS

RUN: Final = datetime(2026, 11, 27, 6, tzinfo=UTC)
"""The schedule's scheduled time for the quality check."""
RECORDS_PER_HOUR: Final = 40
PREDICTION_HOURS: Final = 3
"""Hours of the prediction window that get capture (the rest of it is empty, as a quiet
endpoint's would be)."""

QUALITY_ACTIONS: Final = {
    "s3:GetObject",  # the baseline, each capture object, each ground-truth object
    "s3:ListBucket",  # the capture hours and the ground-truth hours
    "s3:PutObject",  # the report
    "kms:Decrypt",  # through S3: reading the SSE-KMS baseline, capture and labels
    "kms:GenerateDataKey",  # through S3: writing the report under the reports bucket's key
}


def _without(spec: FunctionSpec, sid: str) -> FunctionSpec:
    """The function's role with the statement `sid` taken out of its rendered policy."""
    document = json.loads(spec.policy)
    kept = [s for s in document["Statement"] if s.get("Sid") != sid]
    assert len(kept) == len(document["Statement"]) - 1, f"no statement {sid} in {spec.policy}"
    return replace(spec, policy=json.dumps({**document, "Statement": kept}))


# ---- the quality check -----------------------------------------------------------------------


def _quality(plan: LoopPlan) -> tuple[FunctionSpec, dict[str, Any]]:
    assert plan.quality is not None, f"the {plan.stack} plan deploys the quality check"
    assert plan.quality_request is not None, "and schedules it"
    assert plan.quality_request["window_end"] == "<aws.scheduler.scheduled-time>"
    event = {**plan.quality_request, "window_end": RUN.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return plan.quality, event


def _seed_quality(loop: ClosedLoop, spec: FunctionSpec, request: dict[str, Any]) -> int:
    """The baseline, capture in the first hours of the prediction window and a label for each
    captured event an hour later; returns the number of records captured."""
    env = spec.environment
    s3 = loop.client("s3")
    endpoint = str(request["endpoint"])
    segment = str(request["segment"])
    # The baseline the plan's role may read, with the segment the plan's schedule names.
    reference = churn_records(seed=1, n=2000)
    columns = {
        "tenure": reference["tenure"],
        "monthly_charges": reference["monthly_charges"],
        segment: reference["contract"],
        "score": reference["score"],
    }
    baseline = build_baseline(columns, categorical=[segment], outputs=["score"], bins=50)
    s3.put_object(
        Bucket=env[drift_settings.QUALITY_ENV_BASELINE_BUCKET],
        Key=drift_settings.BASELINE_KEY.format(model=request["model"]),
        Body=json.dumps(baseline_to_dict(baseline)).encode(),
    )
    start = RUN - timedelta(hours=request["label_delay_hours"] + request["window_hours"])
    bucket = env[drift_settings.QUALITY_ENV_CAPTURE_BUCKET]
    (variant,) = request["variants"]
    captured = 0
    for hour in range(PREDICTION_HOURS):
        moment = start + timedelta(hours=hour, minutes=10)
        records = churn_records(seed=100 + hour, n=RECORDS_PER_HOUR)
        rng = np.random.default_rng(hour)
        ids = [f"e-{hour}-{i}" for i in range(RECORDS_PER_HOUR)]
        capture = b"".join(
            capture_record(
                event_id,
                moment,
                "text/csv",
                f"{tenure:g},{charges:g},{contract}".encode(),
                "text/csv",
                f"{score:g}".encode(),
            )
            for event_id, tenure, charges, contract, score in zip(
                ids,
                records["tenure"],
                records["monthly_charges"],
                records["contract"],
                records["score"],
                strict=True,
            )
        )
        path = moment.strftime("%Y/%m/%d/%H")
        s3.put_object(
            Bucket=bucket,
            Key=f"{drift_settings.capture_prefix(endpoint)}{variant}/{path}/capture.jsonl",
            Body=capture,
        )
        labels = b"".join(
            json.dumps(
                {
                    "groundTruthData": {"data": str(int(rng.random() < 0.4)), "encoding": "CSV"},
                    "eventMetadata": {"eventId": event_id},
                    "eventVersion": "0",
                }
            ).encode()
            + b"\n"
            for event_id in ids
        )
        label_path = (moment + timedelta(hours=1)).strftime("%Y/%m/%d/%H")
        s3.put_object(
            Bucket=bucket,
            Key=f"{drift_settings.groundtruth_prefix(endpoint)}{label_path}/labels.jsonl",
            Body=labels,
        )
        captured += RECORDS_PER_HOUR
    return captured


@pytest.fixture
def quality(loop: ClosedLoop) -> tuple[Function, dict[str, Any], int]:
    spec, event = _quality(loop.plan)
    captured = _seed_quality(loop, spec, event)
    return loop.deploy(spec), event, captured


def test_quality_check_runs_with_exactly_its_rendered_role(
    loop: ClosedLoop, quality: tuple[Function, dict[str, Any], int]
) -> None:
    function, event, captured = quality
    spec = function.spec
    # WHEN the schedule fires with its input from the plan
    answer = loop.invoke(function, event).expect()
    # THEN it joined every captured prediction with its label and wrote the report
    assert (answer["captures"], answer["labels"]) == (PREDICTION_HOURS, PREDICTION_HOURS)
    reports = spec.environment[drift_settings.QUALITY_ENV_REPORTS_BUCKET]
    key = drift_settings.quality_report_key(
        str(event["model"]), str(event["endpoint"]), RUN.strftime("%Y/%m/%d/%H")
    )
    assert answer["report"] == f"s3://{reports}/{key}"
    report = json.loads(loop.client("s3").get_object(Bucket=reports, Key=key)["Body"].read())
    assert report["context"]["capture"]["objects"] == PREDICTION_HOURS
    # AND every IAM check was allowed by the rendered policy, and these were all it needed
    decisions = loop.decisions(function)
    assert decisions, "the harness saw the function's calls"
    assert [d.line() for d in decisions if not d.allowed] == []
    assert {d.action for d in decisions} == QUALITY_ACTIONS
    assert loop.server.enforcement.gaps() == []
    # AND each was allowed by the statement meant for it
    by_statement = {(d.action, d.statement) for d in decisions}
    assert by_statement == {
        ("s3:ListBucket", "ListCaptureAndLabels"),
        ("s3:GetObject", "ReadCaptureAndLabels"),
        ("s3:GetObject", "ReadBaselines"),
        ("s3:PutObject", "WriteReports"),
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
    }
    assert_uses((loop.plan.stack, QUALITY_POLICY, "quality"), decisions)
    assert captured == PREDICTION_HOURS * RECORDS_PER_HOUR


@pytest.mark.parametrize(
    ("sid", "action"),
    [("ReadCaptureAndLabels", "s3:GetObject"), ("WriteReports", "s3:PutObject")],
)
def test_quality_check_fails_without_a_statement_of_its_role(
    dev_plan: LoopPlan, sid: str, action: str
) -> None:
    spec, event = _quality(dev_plan)
    with ClosedLoop(dev_plan) as loop:
        _seed_quality(loop, spec, event)
        function = loop.deploy(_without(spec, sid))
        # WHEN the schedule fires, the role lacking one statement
        outcome = function.invoke(event)
    # THEN the run fails with AWS's AccessDenied, and the harness denied exactly that action
    assert not outcome.ok
    assert "AccessDenied" in f"{outcome.error_type}: {outcome.error_message}"
    denied = {d.action for d in loop.server.enforcement.gaps()}
    assert denied == {action}


# ---- the endpoint verifier -------------------------------------------------------------------

VERIFIER_ACTIONS: Final = {
    "ssm:GetParametersByPath",  # the hourly run: every intended state under the prefix
    "ssm:GetParameter",  # a state change: the one endpoint's intended state
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sns:Publish",  # the mismatch, to the platform topic
    "kms:GenerateDataKey",  # through SNS: the topic is encrypted with the platform key
    "kms:Decrypt",
}
"""`sagemaker:DescribeModelPackage` is not among them: the dev plan's intended state has
`requireApproved: false`, so the verifier does not read the packages."""


def _state_change(plan: LoopPlan, endpoint: str) -> dict[str, Any]:
    """EventBridge's `SageMaker Endpoint State Change`, as the plan's state rule delivers it."""
    arn = f"arn:{plan.partition}:sagemaker:{plan.region}:{plan.account}:endpoint/{endpoint}"
    return {
        "version": "0",
        "id": "d2921b5a-b0ad-cace-a8e3-0f159d018e06",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": plan.account,
        "time": "2026-11-27T10:42:07Z",
        "region": plan.region,
        "resources": [arn],
        "detail": {"EndpointName": endpoint, "EndpointArn": arn, "EndpointStatus": "IN_SERVICE"},
    }


def _roll_back(loop: ClosedLoop) -> str:
    """What a rolled-back update leaves: the endpoint InService on an older config (of the same
    model), while the intended state names the plan's. Returns the older config's name."""
    (deployment,) = loop.plan.endpoints
    older = f"{deployment.endpoint_name}-0ld0c0f6"
    sagemaker = loop.client("sagemaker")
    sagemaker.create_endpoint_config(
        EndpointConfigName=older,
        ProductionVariants=[dict(v) for v in deployment.production_variants],
    )
    sagemaker.delete_endpoint(EndpointName=deployment.endpoint_name)
    sagemaker.create_endpoint(EndpointName=deployment.endpoint_name, EndpointConfigName=older)
    return older


def _verifier(plan: LoopPlan) -> tuple[FunctionSpec, dict[str, Any]]:
    assert plan.verifier is not None, f"the {plan.stack} plan deploys the endpoint verifier"
    assert plan.verifier_request == {"endpoints": "all"}, "and runs it hourly on every endpoint"
    assert len(plan.endpoints) == 1, f"with one endpoint in {plan.stack}"
    return plan.verifier, dict(plan.verifier_request)


def test_endpoint_verifier_runs_with_exactly_its_rendered_role(loop: ClosedLoop) -> None:
    spec, hourly = _verifier(loop.plan)
    (deployment,) = loop.plan.endpoints
    loop.seed_endpoints()
    function = loop.deploy(spec)
    # WHEN the hourly rule fires on the endpoint as deployed, and a state change is delivered
    matched = loop.invoke(function, hourly).expect()
    changed = loop.invoke(function, _state_change(loop.plan, deployment.endpoint_name)).expect()
    # THEN both compare the live endpoint with its intended state: a match
    assert matched["counts"] == {"match": 1} == changed["counts"]
    assert {d.action for d in loop.decisions(function)} == VERIFIER_ACTIONS - {
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    # WHEN an update was rolled back, and the hourly rule fires
    older = _roll_back(loop)
    (result,) = loop.invoke(function, hourly).expect()["results"]
    # THEN the mismatch is found and published to the encrypted platform topic
    assert (result["status"], result["live_endpoint_config"]) == ("mismatch", older)
    assert result["notified"] == {"sns": True, "events": None, "errors": []}
    # AND every IAM check was allowed by the rendered policy, and these were all it needed
    decisions = loop.decisions(function)
    assert [d.line() for d in decisions if not d.allowed] == []
    assert {d.action for d in decisions} == VERIFIER_ACTIONS
    assert loop.server.enforcement.gaps() == []
    assert {(d.action, d.statement) for d in decisions} == {
        ("ssm:GetParametersByPath", "ReadIntendedState"),
        ("ssm:GetParameter", "ReadIntendedState"),
        ("sagemaker:DescribeEndpoint", "DescribeEndpoints"),
        ("sagemaker:DescribeEndpointConfig", "DescribeConfigurationsAndModels"),
        ("sagemaker:DescribeModel", "DescribeConfigurationsAndModels"),
        ("sns:Publish", "Report"),
        ("kms:GenerateDataKey", "EncryptReports"),
        ("kms:Decrypt", "EncryptReports"),
    }
    assert_uses((loop.plan.stack, VERIFIER_POLICY, "verifier"), decisions)


@pytest.mark.parametrize(
    ("sid", "action"),
    [
        # the run fails: nothing to compare
        ("ReadIntendedState", "ssm:GetParametersByPath"),
        # the endpoint's result is an error naming the denial (the run itself goes on)
        ("DescribeEndpoints", "sagemaker:DescribeEndpoint"),
        # the mismatch is found, its notification refused (reported, never hiding the verdict)
        ("Report", "sns:Publish"),
    ],
)
def test_endpoint_verifier_fails_without_a_statement_of_its_role(
    dev_plan: LoopPlan, sid: str, action: str
) -> None:
    spec, hourly = _verifier(dev_plan)
    with ClosedLoop(dev_plan) as loop:
        loop.seed_endpoints()
        _roll_back(loop)
        function = loop.deploy(_without(spec, sid))
        # WHEN the hourly rule fires, the role lacking one statement
        outcome = function.invoke(hourly)
    # THEN AccessDenied surfaces as the handler's error, and the harness denied exactly that
    surfaced = (
        f"{outcome.error_type}: {outcome.error_message}"
        if not outcome.ok
        else json.dumps(outcome.result["results"])
    )
    assert "AccessDenied" in surfaced
    assert f"not authorized to perform: {action}" in surfaced
    if sid == "ReadIntendedState":
        assert not outcome.ok
    else:
        (result,) = outcome.result["results"]
        assert result["status"] == ("error" if sid == "DescribeEndpoints" else "mismatch")
    assert {d.action for d in loop.server.enforcement.gaps()} == {action}


# ---- the capture proxy -----------------------------------------------------------------------

PROXY_EVENT: Final = (
    Path(__file__).parent.parent / "capture_proxy" / "fixtures" / "function_url_csv.json"
)
INFERENCE_ID: Final = "role-sufficiency-0001"
PROXY_ACTIONS: Final = {"sagemaker:InvokeEndpoint", "firehose:PutRecord"}
"""Not `kms:GenerateDataKey` through Firehose: Firehose encrypts a stream under a customer key
with the grant it made when the stream was created, not with the producer's identity ("When you
invoke CreateDeliveryStream or StartDeliveryStreamEncryption with KeyType set to
CUSTOMER_MANAGED_CMK, Firehose invokes the AWS KMS operation CreateGrant to create a grant that
allows the Firehose service to use the customer managed CMK to perform encryption and
decryption. Firehose manages that grant.", Firehose API Reference,
DeliveryStreamEncryptionConfigurationInput), and the harness does not emulate a check AWS does
not make. The role's `EncryptRecords` statement (`kms:GenerateDataKey` through Firehose) was
removed for that reason; only a real account can confirm it, which the README says."""


def _proxy(plan: LoopPlan) -> tuple[FunctionSpec, dict[str, Any]]:
    assert plan.proxy is not None, "the dev plan fronts its serverless endpoint with a proxy"
    event = json.loads(PROXY_EVENT.read_text())
    event["headers"]["x-inference-id"] = INFERENCE_ID
    return plan.proxy, event


def _captured(loop: ClosedLoop) -> list[str]:
    """Every capture object moto's Firehose wrote that holds this test's inference id."""
    s3 = loop.client("s3")
    bucket = loop.plan.buckets["capture"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [
        k
        for k in keys
        if INFERENCE_ID.encode() in s3.get_object(Bucket=bucket, Key=k)["Body"].read()
    ]


def test_capture_proxy_runs_with_exactly_its_rendered_role(loop: ClosedLoop) -> None:
    spec, event = _proxy(loop.plan)
    loop.seed_endpoints()
    loop.seed_capture_stream()
    function = loop.deploy(spec)
    # WHEN a caller invokes the Function URL
    answer = loop.invoke(function, event).expect()
    # THEN it gets the endpoint's answer (moto's canned one: it runs no model) ...
    assert answer["statusCode"] == 200, answer
    assert (answer["body"], answer["headers"]["x-inference-id"]) == ("body", INFERENCE_ID)
    # ... and the record went through the plan's delivery stream into the capture bucket
    assert len(_captured(loop)) == 1
    # AND every IAM check was allowed by the rendered policy, and these were all it needed
    decisions = loop.decisions(function)
    assert [d.line() for d in decisions if not d.allowed] == []
    assert {(d.action, d.statement) for d in decisions} == {
        ("sagemaker:InvokeEndpoint", "InvokeOwnEndpoint"),
        ("firehose:PutRecord", "RecordCapture"),
    }
    assert {d.action for d in decisions} == PROXY_ACTIONS
    assert loop.server.enforcement.gaps() == []
    assert_uses((loop.plan.stack, PROXY, "capture-proxy"), decisions)


@pytest.mark.parametrize(
    ("sid", "action"),
    [("InvokeOwnEndpoint", "sagemaker:InvokeEndpoint"), ("RecordCapture", "firehose:PutRecord")],
)
def test_capture_proxy_fails_without_a_statement_of_its_role(
    dev_plan: LoopPlan, sid: str, action: str
) -> None:
    spec, event = _proxy(dev_plan)
    with ClosedLoop(dev_plan) as loop:
        loop.seed_endpoints()
        loop.seed_capture_stream()
        function = loop.deploy(_without(spec, sid))
        # WHEN a caller invokes it, the role lacking one statement
        answer = function.invoke(event).expect()
        captured = _captured(loop)
        logs = "\n".join(function.log_lines())
    # THEN nothing is captured, the harness denied exactly that action, and AccessDenied
    # surfaces: to the caller as the endpoint's failure, or (capture never breaks inference)
    # in the proxy's log and its CaptureFailed metric while the caller gets the answer
    assert captured == []
    assert {d.action for d in loop.server.enforcement.gaps()} == {action}
    if sid == "InvokeOwnEndpoint":
        assert answer["statusCode"] == 502
        assert f"not authorized to perform: {action}" in answer["body"]
    else:
        assert answer["statusCode"] == 200
        assert f"not authorized to perform: {action}" in logs
        assert '"CaptureFailed":[1.0]' in logs


# ---- staging's and prod's plans --------------------------------------------------------------


@pytest.fixture(scope="module")
def staging_plan(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LoopPlan:
    return _once_per_session(tmp_path_factory, worker_id, "staging", lambda: plan_loop("staging"))


@pytest.fixture(scope="module")
def prod_plan(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LoopPlan:
    return _once_per_session(tmp_path_factory, worker_id, "prod", lambda: plan_loop("prod"))


# ---- prod's scale-out drift check ------------------------------------------------------------

SCALEOUT_ACTIONS: Final = {
    "drift-plan": {
        "s3:GetObject",  # the baseline (the plan fails early without it)
        "s3:ListBucket",  # the window's capture hours
        "s3:PutObject",  # the manifest, under drift-partials/
        "kms:Decrypt",
        "kms:GenerateDataKey",
    },
    "drift-profile": {
        "s3:GetObject",  # the batch's capture objects and the baseline
        "s3:PutObject",  # the batch's partial
        "kms:Decrypt",
        "kms:GenerateDataKey",
    },
    "drift-reduce": {
        "s3:GetObject",  # the manifest, every partial, the baseline
        "s3:ListBucket",  # the run's partials
        "s3:PutObject",  # the report
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "events:PutEvents",  # DriftCheckCompleted / DriftDetected on the platform bus
    },
}


TRIGGER_STARTS: Final = {
    "staging": TRIGGER_ACTIONS | {"budgets:ViewBudget"},
    "prod": TRIGGER_ACTIONS | {"budgets:ViewBudget"},
}
"""The trigger's actions when it starts a retraining, by stack (both have the budget guard)."""


def _map_batches(plan: LoopPlan, loop: ClosedLoop, planned: dict[str, Any]) -> list[Any]:
    """The Distributed Map's batch events, as the state machine builds them: the manifest read
    from S3 (`ItemReader`), cut into `MaxItemsPerBatch` items, with its `BatchInput`."""
    scale = plan.scaleout
    assert scale is not None
    items = json.loads(
        loop.client("s3")
        .get_object(Bucket=planned["manifest_bucket"], Key=planned["manifest_key"])["Body"]
        .read()
    )
    batch_input = {
        key.removesuffix(".$"): planned[str(path).removeprefix("$.")]
        for key, path in scale.batch_input.items()
    }
    size = scale.max_items_per_batch
    return [
        {"BatchInput": batch_input, "Items": items[i : i + size]}
        for i in range(0, len(items), size)
    ]


def _scaleout_request(loop: ClosedLoop, window: Window) -> dict[str, Any]:
    """The schedule's input for the window; its `critical` features are prod's model's, which
    the harness's baseline (the drift tests' churn columns) does not have: none are named."""
    return {**loop.check_event(window), "critical": []}


def test_prod_scaleout_functions_run_with_exactly_the_rendered_drift_role(
    prod_plan: LoopPlan,
) -> None:
    scale = prod_plan.scaleout
    assert scale is not None, "the prod plan scales the drift check out"
    assert prod_plan.check_request["window_end"] == "<aws.scheduler.scheduled-time>"
    with ClosedLoop(prod_plan) as loop:
        window = loop.write_window(drifted=True)
        planner, profile, reduce = (
            loop.deploy(spec) for spec in (scale.plan, scale.profile, scale.reduce)
        )
        # WHEN the schedule starts the state machine: plan, every batch of the Map, reduce
        planned = loop.invoke(planner, _scaleout_request(loop, window)).expect()
        assert planned["objects"] == len(window.keys)
        batches = _map_batches(prod_plan, loop, planned)
        assert len(batches) > 1, "the window is profiled in several batches"
        for batch in batches:
            loop.invoke(profile, batch).expect()
        answer = loop.invoke(reduce, planned).expect()
        # THEN the reduced report finds the drift, and the rule routes it to the trigger
        assert answer["drift"] is True
        assert [e["detail-type"] for e in loop.routed()] == ["DriftDetected"]
        # AND every IAM check was allowed by the rendered role, and these were all it needed
        for function in (planner, profile, reduce):
            decisions = loop.decisions(function)
            assert [d.line() for d in decisions if not d.allowed] == []
            assert {d.action for d in decisions} == SCALEOUT_ACTIONS[function.spec.key]
            # ... each by exactly the statements of the shared drift role pinned for it
            assert_uses((prod_plan.stack, DRIFT_POLICY, f"scaleout:{function.spec.key}"), decisions)
        assert loop.server.enforcement.gaps() == []


@pytest.mark.parametrize(
    ("function", "sid", "action"),
    [
        ("drift-plan", "ListWindowCapture", "s3:ListBucket"),
        ("drift-reduce", "ReadPartials", "s3:GetObject"),
    ],
)
def test_prod_scaleout_fails_without_a_statement_of_its_role(
    prod_plan: LoopPlan, function: str, sid: str, action: str
) -> None:
    scale = prod_plan.scaleout
    assert scale is not None
    with ClosedLoop(prod_plan) as loop:
        window = loop.write_window(drifted=True)
        planner, profile = loop.deploy(scale.plan), loop.deploy(scale.profile)
        if function == "drift-plan":
            # WHEN the planner runs, the role lacking one statement
            outcome = loop.deploy(_without(scale.plan, sid)).invoke(_scaleout_request(loop, window))
        else:
            planned = loop.invoke(planner, _scaleout_request(loop, window)).expect()
            for batch in _map_batches(prod_plan, loop, planned):
                loop.invoke(profile, batch).expect()
            # WHEN the reducer runs, the role lacking one statement
            outcome = loop.deploy(_without(scale.reduce, sid)).invoke(planned)
    # THEN it fails with AccessDenied, and the harness denied exactly that action
    assert not outcome.ok
    assert "AccessDenied" in f"{outcome.error_type}: {outcome.error_message}"
    assert {d.action for d in loop.server.enforcement.gaps()} == {action}


# ---- the endpoint verifier where `requireApproved` is true -----------------------------------

APPROVAL_ACTIONS: Final = VERIFIER_ACTIONS - {"ssm:GetParameter"} | {
    "sagemaker:DescribeModelPackage"
}
"""The hourly run, with `requireApproved`: the intended packages are described."""


def _packages(plan: LoopPlan) -> set[str]:
    (deployment,) = plan.endpoints
    intended = json.loads(deployment.parameter_value)
    assert intended["requireApproved"] is True, f"{plan.stack} requires approved packages"
    return {v["modelPackageArn"].lower() for v in intended["variants"]}


@pytest.mark.parametrize("stack", ["staging", "prod"])
@pytest.mark.parametrize("approval", ["Approved", "PendingManualApproval"])
def test_endpoint_verifier_reads_package_approvals_with_exactly_its_rendered_role(
    stack: str, approval: str, request: pytest.FixtureRequest
) -> None:
    plan: LoopPlan = request.getfixturevalue(f"{stack}_plan")
    spec, hourly = _verifier(plan)
    packages = _packages(plan)
    with ClosedLoop(plan) as loop:
        loop.seed_endpoints(approval=approval)
        function = loop.deploy(spec)
        # WHEN the hourly rule fires, the intended packages `approval`
        (result,) = loop.invoke(function, hourly).expect()["results"]
        decisions = loop.decisions(function)
        notifications = loop.notifications()
    checks = {f["check"] for f in result["findings"]}
    # THEN every intended package was described (as the verifier's role allows) ...
    described = {d.resource for d in decisions if d.action == "sagemaker:DescribeModelPackage"}
    assert described == packages
    # ... an approved one passes, another is reported and published
    if approval == "Approved":
        assert "package-approval" not in checks
    else:
        assert "package-approval" in checks, result
        assert result["status"] == "mismatch"
    if stack == "prod" and approval == "Approved":
        assert (result["status"], result["findings"]) == ("match", [])
    if stack == "staging":
        # moto's endpoint configs hold no shadow variants: staging's Shadow is not live here
        assert "variant-missing" in checks
    if result["status"] == "mismatch":
        assert result["notified"] == {"sns": True, "events": None, "errors": []}
        assert len(notifications) == 1
    # AND every IAM check was allowed by the rendered policy, and these were all it needed
    assert [d.line() for d in decisions if not d.allowed] == []
    expected = (
        APPROVAL_ACTIONS
        if result["status"] == "mismatch"
        else APPROVAL_ACTIONS
        - {
            "sns:Publish",
            "kms:GenerateDataKey",
            "kms:Decrypt",
        }
    )
    assert {d.action for d in decisions} == expected
    assert ("sagemaker:DescribeModelPackage", "DescribePackages") in {
        (d.action, d.statement) for d in decisions
    }
    assert_uses((stack, VERIFIER_POLICY, f"approval:{approval}"), decisions)


def test_endpoint_verifier_without_describe_packages_reports_the_denial(
    prod_plan: LoopPlan,
) -> None:
    spec, hourly = _verifier(prod_plan)
    with ClosedLoop(prod_plan) as loop:
        loop.seed_endpoints()
        function = loop.deploy(_without(spec, "DescribePackages"))
        # WHEN the hourly rule fires, the role lacking DescribePackages
        outcome = function.invoke(hourly)
    # THEN the endpoint's result is an error naming the denial, and the harness denied exactly it
    assert outcome.ok, outcome.error_message
    (result,) = outcome.result["results"]
    assert result["status"] == "error"
    assert "not authorized to perform: sagemaker:DescribeModelPackage" in json.dumps(result)
    assert {d.action for d in loop.server.enforcement.gaps()} == {"sagemaker:DescribeModelPackage"}


# ---- staging's and prod's drift check, trigger and quality check ------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_drift_check_and_trigger_run_with_exactly_their_rendered_roles(
    stack: str, request: pytest.FixtureRequest
) -> None:
    plan: LoopPlan = request.getfixturevalue(f"{stack}_plan")
    with ClosedLoop(plan) as loop:
        window = loop.write_window(drifted=True)
        # WHEN the drift check runs on a drifted window (prod's runs on demand: its schedule
        # starts the scale-out), and the trigger gets what the plan's rule routed
        loop.invoke(loop.drift, _scaleout_request(loop, window)).expect()
        (event,) = loop.routed()
        decision = loop.deliver(event).expect()
        # THEN one retraining started, every IAM check allowed by the rendered roles
        assert decision["decision"] == retrain_settings.DECISION_STARTED, decision
        assert len(loop.executions()) == 1
        drift, trigger = loop.decisions(loop.drift), loop.decisions(loop.trigger)
        assert [d.line() for d in drift + trigger if not d.allowed] == []
        assert {d.action for d in drift} == DRIFT_ACTIONS
        assert {d.action for d in trigger} == TRIGGER_STARTS[stack]
        assert loop.server.enforcement.gaps() == []
        assert_uses((stack, DRIFT_POLICY, "drift-and-trigger"), drift)
        assert_uses((stack, TRIGGER_POLICY, "drift-and-trigger"), trigger)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_quality_check_runs_with_exactly_the_rendered_role_of_each_stack(
    stack: str, request: pytest.FixtureRequest
) -> None:
    plan: LoopPlan = request.getfixturevalue(f"{stack}_plan")
    spec, event = _quality(plan)
    with ClosedLoop(plan) as loop:
        _seed_quality(loop, spec, event)
        function = loop.deploy(spec)
        answer = loop.invoke(function, event).expect()
        decisions = loop.decisions(function)
    assert (answer["captures"], answer["labels"]) == (PREDICTION_HOURS, PREDICTION_HOURS)
    assert [d.line() for d in decisions if not d.allowed] == []
    assert {d.action for d in decisions} == QUALITY_ACTIONS
    assert_uses((stack, QUALITY_POLICY, "quality"), decisions)


# ---- every function of every plan has its proof ----------------------------------------------

_LOOP = "test_closed_loop::test_drift_starts_exactly_one_retraining_with_the_plans_policies"
_STACK_LOOP = (
    "test_role_sufficiency::test_drift_check_and_trigger_run_with_exactly_their_rendered_roles"
)
_STACK_QUALITY = (
    "test_role_sufficiency::test_quality_check_runs_with_exactly_the_rendered_role_of_each_stack"
)
_APPROVALS = (
    "test_role_sufficiency::test_endpoint_verifier_reads_package_approvals_with_exactly_its_"
    "rendered_role"
)
_SCALEOUT = (
    "test_role_sufficiency::test_prod_scaleout_functions_run_with_exactly_the_rendered_drift_role"
)
PROOFS: Final[dict[tuple[str, str], str]] = {
    ("dev", "drift-check"): _LOOP,
    ("dev", "retraining-trigger"): _LOOP,
    (
        "dev",
        "quality-check",
    ): "test_role_sufficiency::test_quality_check_runs_with_exactly_its_rendered_role",
    (
        "dev",
        "inference-verifier",
    ): "test_role_sufficiency::test_endpoint_verifier_runs_with_exactly_its_rendered_role",
    (
        "dev",
        "inference-churn-capture-proxy",
    ): "test_role_sufficiency::test_capture_proxy_runs_with_exactly_its_rendered_role",
    ("staging", "drift-check"): _STACK_LOOP,
    ("staging", "retraining-trigger"): _STACK_LOOP,
    ("staging", "quality-check"): _STACK_QUALITY,
    ("staging", "inference-verifier"): _APPROVALS,
    ("prod", "drift-check"): _STACK_LOOP,
    ("prod", "retraining-trigger"): _STACK_LOOP,
    ("prod", "quality-check"): _STACK_QUALITY,
    ("prod", "inference-verifier"): _APPROVALS,
    ("prod", "drift-plan"): _SCALEOUT,
    ("prod", "drift-profile"): _SCALEOUT,
    ("prod", "drift-reduce"): _SCALEOUT,
}
"""(stack, the function's registration name) -> the test (module in tests/e2e :: function) that
runs its code with exactly its role's rendered policy. What the Lambda service does with every
role (logs, X-Ray, the dead-letter queue) is proven for all of them by
`test_lambda_service_uses.py`."""


def test_every_function_of_every_plan_has_a_sufficiency_proof(
    dev_plan: LoopPlan, staging_plan: LoopPlan, prod_plan: LoopPlan
) -> None:
    # GIVEN every aws:lambda/function:Function of every stack's plan
    functions = {(p.stack, u.key) for p in (dev_plan, staging_plan, prod_plan) for u in p.lambdas}
    # THEN each is named in the table of proofs, and the table names no function the plans lack
    assert sorted(functions - set(PROOFS)) == [], "functions without a sufficiency proof"
    assert sorted(set(PROOFS) - functions) == [], "proofs of functions no plan has"
    # AND every proof named is a test of this folder
    for proof in set(PROOFS.values()):
        module, name = proof.split("::")
        assert callable(getattr(import_module(f"tests.e2e.{module}"), name, None)), proof
