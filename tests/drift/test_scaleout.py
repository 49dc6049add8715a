"""The scale-out drift check: plan → one profile per Distributed Map batch → reduce, on moto.

The state machine is played by the test: the planner's manifest is split into batches of the
Distributed Map's ItemBatcher shape (`map_batch.json`), each batch goes to `profile_handler`,
and the reducer gets the planner's output (`reduce_input.json`). The reduced report must give
the numbers `check_handler` gives on the same window; a retried batch must not change them.
"""

from __future__ import annotations

import json
from typing import Any

import handler
import pytest
from mlops_drift import settings

from tests.drift.conftest import (
    CAPTURE_BUCKET,
    MODEL,
    REPORTS_BUCKET,
    WINDOW_END,
    Aws,
    FakeContext,
    capture_lines,
    churn_baseline,
    churn_records,
    load_event,
    metric_values,
    write_window,
)

# A failed invocation flushes no metrics, and Powertools warns about it; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

BATCH = 3


def batches(items: list[dict[str, str]], size: int = BATCH) -> list[list[dict[str, str]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def batch_event(plan: dict[str, Any], items: list[dict[str, str]]) -> dict[str, Any]:
    event = load_event("map_batch.json")
    event["BatchInput"] = {"run_id": plan["run_id"], "request": plan["request"]}
    event["Items"] = items
    return event


def reduce_event(plan: dict[str, Any]) -> dict[str, Any]:
    event = load_event("reduce_input.json")
    event.update(plan)
    return event


def manifest(aws: Aws, plan: dict[str, Any]) -> list[dict[str, str]]:
    items: list[dict[str, str]] = json.loads(aws.get(plan["manifest_bucket"], plan["manifest_key"]))
    return items


def run_scaleout(aws: Aws, context: FakeContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state machine's path: plan, every batch, reduce. Returns (plan, reduce) answers."""
    plan = handler.plan_handler(load_event("check_request.json"), context)
    for items in batches(manifest(aws, plan)):
        handler.profile_handler(batch_event(plan, items), context)
    return plan, handler.reduce_handler(reduce_event(plan), context)


def numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What a report concludes, without where it was computed."""
    return {k: v for k, v in report.items() if k != "context"}


@pytest.mark.parametrize("drifted", [False, True], ids=["stable", "drifted"])
def test_scaleout_gives_the_single_check_numbers(
    aws: Aws, context: FakeContext, drifted: bool
) -> None:
    # GIVEN a window of 10 capture objects on two variants, and the single check's report
    aws.put_baseline(churn_baseline())
    written = write_window(aws, drifted=drifted)
    handler.check_handler(load_event("check_request.json"), context)
    single = aws.report()
    single_events = aws.received()

    # WHEN the scale-out path checks the same window in batches of 3 objects
    plan, answer = run_scaleout(aws, context)

    # THEN the planner listed exactly the window's objects, and returned the Map's inputs
    assert [item["key"] for item in manifest(aws, plan)] == written.keys
    assert plan["objects"] == 10
    assert plan["manifest_bucket"] == REPORTS_BUCKET
    assert plan["manifest_key"] == (
        f"{settings.PARTIALS_PREFIX}/{MODEL}/{plan['run_id']}/manifest.json"
    )
    assert plan["request"]["window_end"] == "2026-11-27T06:00:00Z"
    partials = aws.keys(
        REPORTS_BUCKET, f"{settings.PARTIALS_PREFIX}/{MODEL}/{plan['run_id']}/partials/"
    )
    assert len(partials) == 4

    # AND the reduced report has the single check's numbers (rows, malformed lines and the
    # quoted ones, every statistic), to the last digit
    scaled = aws.report()
    assert numbers(scaled) == numbers(single)
    assert scaled["context"] == {**single["context"], "mode": "scaleout"}
    assert answer["drift"] is drifted

    # AND the same events, marked as scale-out
    received = aws.received()
    assert [e["detail-type"] for e in received] == [e["detail-type"] for e in single_events]
    for ours, theirs in zip(received, single_events, strict=True):
        assert ours["detail"] == {**theirs["detail"], "mode": "scaleout"}


def test_retried_batch_overwrites_its_partial_and_changes_nothing(
    aws: Aws, context: FakeContext
) -> None:
    # GIVEN a completed scale-out run
    aws.put_baseline(churn_baseline())
    write_window(aws)
    plan, _ = run_scaleout(aws, context)
    first = aws.report()
    prefix = f"{settings.PARTIALS_PREFIX}/{MODEL}/{plan['run_id']}/partials/"
    partials = aws.keys(REPORTS_BUCKET, prefix)

    # WHEN Step Functions retries a batch (its items possibly in another order) and reduces
    items = batches(manifest(aws, plan))[1]
    again = handler.profile_handler(batch_event(plan, items), context)
    reordered = handler.profile_handler(batch_event(plan, items[::-1]), context)
    handler.reduce_handler(reduce_event(plan), context)

    # THEN the retry wrote the same partial key, and the report counts every record once
    assert again["partial_key"] == reordered["partial_key"]
    assert again["partial_key"] in partials
    assert aws.keys(REPORTS_BUCKET, prefix) == partials
    assert numbers(aws.report()) == numbers(first)
    assert aws.report()["rows"] == 606


def test_reducer_refuses_to_count_an_object_twice_or_not_at_all(
    aws: Aws, context: FakeContext
) -> None:
    # GIVEN a run whose last batch has not been profiled
    aws.put_baseline(churn_baseline())
    write_window(aws)
    plan = handler.plan_handler(load_event("check_request.json"), context)
    groups = batches(manifest(aws, plan))
    for items in groups[:-1]:
        handler.profile_handler(batch_event(plan, items), context)

    # WHEN it reduces, THEN it fails naming what is missing, and writes no report
    with pytest.raises(handler.DriftCheckError, match=r"partials do not cover the manifest: 1 obj"):
        handler.reduce_handler(reduce_event(plan), context)
    assert aws.keys(REPORTS_BUCKET, settings.REPORTS_PREFIX + "/") == []

    # GIVEN the last batch done, and a stray partial of a different batching of the same objects
    handler.profile_handler(batch_event(plan, groups[-1]), context)
    handler.profile_handler(batch_event(plan, groups[0][:2]), context)

    # WHEN it reduces, THEN it fails rather than count those objects twice
    with pytest.raises(handler.DriftCheckError, match="merging would count it twice"):
        handler.reduce_handler(reduce_event(plan), context)
    assert aws.received() == []


def test_scaleout_schema_mismatch_fails_without_a_verdict(
    aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a window whose capture has a fourth input column
    aws.put_baseline(churn_baseline())
    for part in range(3):
        lines = [
            line.replace(b'"data":"', b'"data":"1,', 1)
            for line in capture_lines(churn_records(part, 60), "csv", WINDOW_END.replace(hour=5))
        ]
        aws.put_capture("AllTraffic", WINDOW_END.replace(hour=5), f"new-{part}.jsonl", lines)

    # WHEN the scale-out path runs (every batch returns normally)
    _, answer = run_scaleout(aws, context)

    # THEN the reducer reports the mismatch and puts DriftCheckFailed, never a verdict
    assert answer["status"] == "schema_mismatch"
    report = aws.report()
    assert report["status"] == "schema_mismatch"
    assert report["drift"] is None
    assert report["malformed"]["count"] == 180
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckFailed"]
    assert received[0]["detail"]["mode"] == "scaleout"
    assert received[0]["detail"]["message"].startswith(
        "the capture does not match the baseline: 180 of 180 lines"
    )
    values = metric_values(capsys.readouterr().out)
    assert ("SchemaMismatch", (("model", MODEL), ("service", settings.SERVICE_NAME))) in values


def test_empty_window_scales_out_to_insufficient_data(aws: Aws, context: FakeContext) -> None:
    # GIVEN no capture in the window, WHEN the scale-out path runs over an empty manifest
    aws.put_baseline(churn_baseline())
    plan, answer = run_scaleout(aws, context)

    # THEN insufficient data, drift null, no DriftDetected
    assert plan["objects"] == 0
    assert manifest(aws, plan) == []
    assert answer["status"] == "insufficient_data"
    assert aws.report()["drift"] is None
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckCompleted"]
    assert received[0]["detail"]["drift"] is None


def test_batch_outside_the_endpoint_capture_is_refused(aws: Aws, context: FakeContext) -> None:
    aws.put_baseline(churn_baseline())
    aws.s3.put_object(Bucket=CAPTURE_BUCKET, Key="datacapture/other-endpoint/A/x.jsonl", Body=b"")
    event = load_event("map_batch.json")
    event["Items"] = [{"key": "datacapture/other-endpoint/A/x.jsonl"}]
    with pytest.raises(
        handler.BadRequestError,
        match=r"outside the capture BatchInput\.request names \(endpoint 'churn-prod': "
        r"datacapture/churn-prod/\)",
    ):
        handler.profile_handler(event, context)


def test_plan_fails_early_on_a_missing_baseline(aws: Aws, context: FakeContext) -> None:
    write_window(aws)
    with pytest.raises(handler.BaselineNotFoundError, match="not found"):
        handler.plan_handler(load_event("check_request.json"), context)
    assert aws.keys(REPORTS_BUCKET) == []


def test_reducer_refuses_a_run_without_a_plan(aws: Aws, context: FakeContext) -> None:
    """Found by the handler fuzzing (tests/security): a run id the planner never wrote was a
    bare NoSuchKey from S3; it is refused naming the run and what the reducer takes."""
    aws.put_baseline(churn_baseline())
    write_window(aws)
    plan, _ = run_scaleout(aws, context)
    event = reduce_event(plan)
    event["run_id"] = "NaN"
    with pytest.raises(
        handler.BadRequestError,
        match=r"^run_id 'NaN' of model 'churn': no scale-out plan at s3://.+/manifest\.json "
        r"\(NoSuchKey\); the reducer takes the planner's output \(its run_id and request\) "
        r"unchanged$",
    ):
        handler.reduce_handler(event, context)


def test_batch_and_reducer_refuse_critical_features_the_baseline_lacks(
    aws: Aws, context: FakeContext
) -> None:
    """Found by `make fuzz`: the request travels through the state machine, and a reducer given
    an unknown critical feature failed deep in the engine with a bare ValueError; the batch and
    the reducer check the names as the planner does."""
    aws.put_baseline(churn_baseline())
    write_window(aws)
    plan, _ = run_scaleout(aws, context)
    reduce = reduce_event(plan)
    reduce["request"]["critical"] = ["0"]
    batch = batch_event(plan, manifest(aws, plan)[:1])
    batch["BatchInput"]["request"]["critical"] = ["0"]
    for run, event in ((handler.reduce_handler, reduce), (handler.profile_handler, batch)):
        with pytest.raises(
            handler.BadRequestError, match=r"^critical names features not in the baseline: '0'; "
        ):
            run(event, context)
