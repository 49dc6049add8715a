"""The JSON Schemas in `lambdas/retrain_trigger/events/`: generated from the models, and true.

The committed files must be what `retrain_events` generates now (regenerate with
`python -m planner.event_schemas`); the events the trigger puts on the bus, as
a subscriber's queue receives them, must validate against them, and so must the manual request
fixture, while bad requests must not. The drift check's own `DriftDetected` events must parse
with the trigger's input model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import retrain_events
import trigger
from jsonschema import Draft202012Validator, ValidationError
from mlops_drift import events as drift_events
from retrain_events import SCHEMAS

from planner.event_schemas import json_schemas, render_schema, write_schemas
from tests.retrain_trigger.conftest import World, load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

ROOT = Path(__file__).parents[2]
EVENTS_DIR = ROOT / "lambdas" / "retrain_trigger" / "events"
DRIFT_EVENTS_DIR = ROOT / "lambdas" / "drift_check" / "events"
REGENERATE = "regenerate: python -m planner.event_schemas"


def validator(stem: str, directory: Path = EVENTS_DIR) -> Draft202012Validator:
    schema = json.loads((directory / f"{stem}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_committed_schemas_are_generated_from_the_models(tmp_path: Path) -> None:
    committed = sorted(p.name for p in EVENTS_DIR.glob("*.schema.json"))
    assert committed == sorted(f"{stem}.schema.json" for stem in SCHEMAS), REGENERATE
    for stem, schema in json_schemas(SCHEMAS, "retraining").items():
        assert (EVENTS_DIR / f"{stem}.schema.json").read_text() == render_schema(schema), (
            f"{stem}.schema.json is stale; {REGENERATE}"
        )
    written = write_schemas(SCHEMAS, "retraining", tmp_path)
    assert [p.read_text() for p in written] == [(EVENTS_DIR / p.name).read_text() for p in written]


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_schemas_are_valid_draft_2020_12(stem: str) -> None:
    Draft202012Validator.check_schema(json.loads((EVENTS_DIR / f"{stem}.schema.json").read_text()))


def test_emitted_events_validate_against_their_schemas(world: World) -> None:
    # GIVEN a start, a cooldown skip, an alarm not firing, a failed start and a promotion
    received: list[dict[str, Any]] = []
    world.invoke(load_event("drift_detected.json"))
    request = load_event("retraining_requested.json")
    world.invoke(request)
    ok = load_event("alarm_state_change.json")
    ok["detail"]["state"]["value"] = "OK"
    world.invoke(ok)
    world.clock.advance(days=1)
    world.fail_start([(503, "ServiceUnavailable")] * 5)
    with pytest.raises(trigger.StartFailedError):
        world.invoke({**request, "detail": {**request["detail"], "requestId": "failing"}})
    world.invoke(load_event("model_package_approved.json"))
    received += world.bus_events()

    # THEN each detail type was put and each event validates against its schema
    assert sorted(e["detail-type"] for e in received) == [
        "ModelPromotionRequested",
        "RetrainingSkipped",
        "RetrainingSkipped",
        "RetrainingSkipped",
        "RetrainingStarted",
    ]
    for event in received:
        validator(event["detail-type"]).validate(event)
        assert event["source"] == "mlops.retraining"

    # AND the schema is not vacuous
    started = next(e for e in received if e["detail-type"] == "RetrainingStarted")
    broken = {**started, "detail": {k: v for k, v in started["detail"].items() if k != "key"}}
    with pytest.raises(ValidationError, match="'key' is a required property"):
        validator("RetrainingStarted").validate(broken)
    skipped = next(e for e in received if e["detail-type"] == "RetrainingSkipped")
    wrong = {**skipped, "detail": {**skipped["detail"], "reason": "because"}}
    with pytest.raises(ValidationError, match="'because' is not one of"):
        validator("RetrainingSkipped").validate(wrong)


def test_the_manual_request_fixture_validates() -> None:
    validator("RetrainingRequested").validate(load_event("retraining_requested.json"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requestId", "has spaces"),
        ("requestId", "x" * 129),
        ("reason", ""),
        ("reason", "x" * 257),
        ("model", "Churn"),
        ("dataUri", "https://example.com/data"),
        ("unexpected", "field"),
    ],
)
def test_bad_requests_do_not_validate(field: str, value: str) -> None:
    event = load_event("retraining_requested.json")
    event["detail"][field] = value
    with pytest.raises(ValidationError):
        validator("RetrainingRequested").validate(event)
    with pytest.raises(trigger.BadEventError):
        trigger.parse_event(event)


def test_the_drift_fixture_is_a_drift_check_event() -> None:
    validator("DriftDetected", DRIFT_EVENTS_DIR).validate(load_event("drift_detected.json"))


def test_drift_check_events_parse_with_the_trigger_s_model() -> None:
    # GIVEN a DriftDetected as the drift check builds it (its own models), put and delivered
    end = datetime(2026, 11, 27, 6, tzinfo=UTC)
    detail = drift_events.DetectedDetail.model_validate(
        {
            "check_id": "churn/2026-11-27T06-00-00Z",
            "model": "churn",
            "endpoint": "mlops-platform-prod-churn",
            "window": {"start": "2026-11-26T06:00:00Z", "end": end, "hours": 24},
            "variants": ["AllTraffic"],
            "mode": "single",
            "baseline": "s3://models/models/churn/drift/baseline.json",
            "report": {"json": "s3://reports/drift/r.json", "html": "s3://reports/drift/r.html"},
            "rows": 1000,
            "malformed": 0,
            "drifted_share": 0.5,
            "drifted_features": ["tenure"],
            "critical_drifted": [],
        }
    )
    event = {
        **{k: v for k, v in load_event("drift_detected.json").items() if k != "detail"},
        "detail": json.loads(detail.model_dump_json(by_alias=True)),
    }
    # THEN the trigger reads the fields it needs from it
    parsed = trigger.parse_event(event)
    assert isinstance(parsed, retrain_events.DriftDetectedEvent)
    assert parsed.detail.check_id == "churn/2026-11-27T06-00-00Z"
    assert parsed.detail.window.end == end
    assert parsed.detail.report.html == "s3://reports/drift/r.html"
