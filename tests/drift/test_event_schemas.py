"""The JSON Schemas in `lambdas/drift_check/events/`: generated from the models, and true.

The committed files must be what `mlops_drift.events` generates now (regenerate with
`python -m planner.event_schemas`); the events the handlers put on the
bus, as a subscriber's queue receives them, must validate against them; so must the input
events the scheduler and the state machine pass, and the bad ones must not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import handler
import pytest
from jsonschema import Draft202012Validator, ValidationError
from mlops_drift import settings
from mlops_drift.events import SCHEMAS

from planner.event_schemas import json_schemas, render_schema, write_schemas
from tests.drift.conftest import (
    WINDOW_END,
    Aws,
    FakeContext,
    capture_lines,
    churn_baseline,
    churn_records,
    load_event,
    write_window,
)

EVENTS_DIR = Path(__file__).parents[2] / "lambdas" / "drift_check" / "events"
EMITTED = (settings.EVENT_COMPLETED, settings.EVENT_DETECTED, settings.EVENT_FAILED)


def validator(stem: str) -> Draft202012Validator:
    schema = json.loads((EVENTS_DIR / f"{stem}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_committed_schemas_are_generated_from_the_models(tmp_path: Path) -> None:
    committed = sorted(p.name for p in EVENTS_DIR.glob("*.schema.json"))
    assert committed == sorted(f"{stem}.schema.json" for stem in SCHEMAS), (
        "regenerate: python -m planner.event_schemas"
    )
    for stem, schema in json_schemas(SCHEMAS, "drift").items():
        assert (EVENTS_DIR / f"{stem}.schema.json").read_text() == render_schema(schema), (
            f"{stem}.schema.json is stale; regenerate: python -m planner.event_schemas"
        )
    written = write_schemas(SCHEMAS, "drift", tmp_path)
    assert [p.read_text() for p in written] == [(EVENTS_DIR / p.name).read_text() for p in written]


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_schemas_are_valid_draft_2020_12(stem: str) -> None:
    Draft202012Validator.check_schema(json.loads((EVENTS_DIR / f"{stem}.schema.json").read_text()))


def test_emitted_events_validate_against_their_schemas(aws: Aws, context: FakeContext) -> None:
    # GIVEN a drifted window, a stable one, an empty one and a mismatched one, checked in turn
    aws.put_baseline(churn_baseline())
    received: list[dict[str, Any]] = []
    write_window(aws, drifted=True)
    handler.check_handler(load_event("check_request.json"), context)
    received += aws.received()
    for hours_ago in (1, 2):
        event = {**load_event("check_request.json"), "window_hours": 1}
        event["window_end"] = WINDOW_END.replace(hour=6 + hours_ago).strftime("%Y-%m-%dT%H:%M:%SZ")
        if hours_ago == 2:
            lines = [
                line.replace(b'"data":"', b'"data":"1,', 1)
                for line in capture_lines(churn_records(3, 50), "csv", WINDOW_END)
            ]
            aws.put_capture("AllTraffic", WINDOW_END.replace(hour=7), "new.jsonl", lines)
        handler.check_handler(event, context)
        received += aws.received()

    # THEN every detail type was put, and each event validates against its schema
    assert sorted(e["detail-type"] for e in received) == sorted(
        [*EMITTED, settings.EVENT_COMPLETED]
    )
    for event in received:
        validator(event["detail-type"]).validate(event)
        assert event["source"] == settings.EVENT_SOURCE

    # AND the schema is not vacuous: a detail without its model, or of the wrong type, fails
    completed = next(e for e in received if e["detail-type"] == settings.EVENT_COMPLETED)
    broken = {**completed, "detail": {k: v for k, v in completed["detail"].items() if k != "model"}}
    with pytest.raises(ValidationError, match="'model' is a required property"):
        validator(settings.EVENT_COMPLETED).validate(broken)
    with pytest.raises(ValidationError, match="'DriftCheckCompleted' was expected"):
        validator(settings.EVENT_COMPLETED).validate({**completed, "detail-type": "DriftDetected"})
    detail = {k: v for k, v in completed["detail"].items() if k != "variants"}
    with pytest.raises(ValidationError, match="'variants' is a required property"):
        validator(settings.EVENT_COMPLETED).validate({**completed, "detail": detail})


def test_events_of_a_check_naming_variants_validate(aws: Aws, context: FakeContext) -> None:
    # GIVEN a drifted window on two variants, WHEN a check names one of them
    aws.put_baseline(churn_baseline())
    write_window(aws, drifted=True)
    handler.check_handler(load_event("check_request_variants.json"), context)

    # THEN its DriftCheckCompleted and DriftDetected carry the variant, and validate
    received = aws.received()
    assert [e["detail-type"] for e in received] == [
        settings.EVENT_COMPLETED,
        settings.EVENT_DETECTED,
    ]
    for event in received:
        validator(event["detail-type"]).validate(event)
        assert event["detail"]["variants"] == ["AllTraffic"]


def test_plan_output_validates_as_the_reducer_input(aws: Aws, context: FakeContext) -> None:
    # The state machine passes the planner's output to the reducer as it is.
    aws.put_baseline(churn_baseline())
    write_window(aws)
    for fixture in ("check_request.json", "check_request_variants.json"):
        plan = handler.plan_handler(load_event(fixture), context)
        validator("ReduceRequest").validate(plan)
        validator("CheckRequest").validate(plan["request"])


@pytest.mark.parametrize(
    ("fixture", "stem"),
    [
        ("check_request.json", "CheckRequest"),
        ("check_request_tuned.json", "CheckRequest"),
        ("check_request_variants.json", "CheckRequest"),
        ("map_batch.json", "ProfileBatch"),
        ("reduce_input.json", "ReduceRequest"),
    ],
)
def test_input_fixtures_validate(fixture: str, stem: str) -> None:
    validator(stem).validate(load_event(fixture))


@pytest.mark.parametrize(
    "fixture",
    [
        "bad_missing_model.json",
        "bad_unknown_field.json",
        "bad_window_hours_zero.json",
        "bad_variants_empty.json",
        "bad_variants_duplicate.json",
        "bad_variant_name.json",
    ],
)
def test_bad_input_fixtures_do_not_validate(fixture: str) -> None:
    with pytest.raises(ValidationError):
        validator("CheckRequest").validate(load_event(fixture))
