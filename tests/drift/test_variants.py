"""`CheckRequest.variants`: a drift check reads only the named variants' capture folders.

An endpoint with a shadow variant captures every request it copies to the shadow a second
time, under the shadow's own folder, with the shadow model's outputs. GIVEN production
(`AllTraffic`) and shadow (`Shadow`) capture in the same hours, WHEN a check names
`["AllTraffic"]`, THEN only the production folders are listed and read (single and scale-out);
without `variants` both are read, as before; a name without capture is an empty window; bad
lists are refused at the door with their message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import handler
import numpy as np
import pytest
from mlops_drift import settings
from mlops_drift.events import CheckRequest
from pydantic import ValidationError

from tests.drift.conftest import (
    CAPTURE_BUCKET,
    ENDPOINT,
    REPORTS_BUCKET,
    WINDOW_END,
    Aws,
    FakeContext,
    capture_lines,
    churn_baseline,
    churn_records,
    load_event,
)

# A failed invocation flushes no metrics, and Powertools warns about it; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

PRODUCTION_ROWS = 120
"""Requests the production variant served per hour."""
SHADOW_ROWS = 50
"""Of those, the requests copied to the shadow variant per hour."""
HOURS = (3, 4, 5)
"""The window's hours (it ends 06:00, 3 hours)."""
PREFIX = settings.capture_prefix(ENDPOINT)


@dataclass(frozen=True)
class Capture:
    production: list[str]
    """Keys under `AllTraffic/`, in the window."""
    shadow: list[str]
    """Keys under `Shadow/`, in the window."""


def write_production_and_shadow(world: Aws) -> Capture:
    """One object per variant in each hour 03-05, plus one of each in hour 06 (outside).

    The shadow's records are the first `SHADOW_ROWS` production requests of the hour, with
    the shadow model's answer (1 - score) as its output, as SageMaker captures a shadow test.
    """
    production, shadow = [], []
    for hour in (*HOURS, 6):
        start = WINDOW_END.replace(hour=hour)
        columns = churn_records(300 + hour, PRODUCTION_ROWS)
        copied = {name: values[:SHADOW_ROWS] for name, values in columns.items()}
        copied["score"] = np.round(1.0 - copied["score"], 4)
        name = f"00-{hour:02d}-000-6f1c2a4e-{hour:04d}-4b1e-9d2e-1b2c3d4e5f60.jsonl"
        keys = (
            world.put_capture("AllTraffic", start, name, capture_lines(columns, "csv", start)),
            world.put_capture("Shadow", start, name, capture_lines(copied, "json", start)),
        )
        if hour in HOURS:
            production.append(keys[0])
            shadow.append(keys[1])
    return Capture(production=sorted(production), shadow=sorted(shadow))


def request(variants: list[str] | None) -> dict[str, Any]:
    event = load_event("check_request.json")
    if variants is not None:
        event["variants"] = variants
    return event


@pytest.fixture
def listings(aws: Aws) -> list[dict[str, Any]]:
    """The parameters of every ListObjectsV2 call the handler's S3 client makes."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append({k: v for k, v in params.items() if k in {"Prefix", "Delimiter"}})

    handler.s3.meta.events.register("before-parameter-build.s3.ListObjectsV2", record)
    return calls


def hour_prefixes(variant: str) -> list[dict[str, Any]]:
    return [{"Prefix": f"{PREFIX}{variant}/2026/11/27/{hour:02d}/"} for hour in HOURS]


# ---- single mode --------------------------------------------------------------------------------


def test_named_variant_reads_only_its_capture(
    aws: Aws, context: FakeContext, listings: list[dict[str, Any]]
) -> None:
    # GIVEN production and shadow capture in the same hours
    aws.put_baseline(churn_baseline())
    written = write_production_and_shadow(aws)

    # WHEN the check names the production variant
    answer = handler.check_handler(load_event("check_request_variants.json"), context)

    # THEN only the production hour folders were listed (not even the endpoint's folder list)
    assert listings == hour_prefixes("AllTraffic")

    # AND the report counts the production rows only, and says which variants it read
    report = aws.report()
    assert report["rows"] == answer["rows"] == len(HOURS) * PRODUCTION_ROWS == 360
    assert report["context"]["capture"] == {
        "bucket": CAPTURE_BUCKET,
        "prefix": PREFIX,
        "variants": ["AllTraffic"],
        "objects": len(written.production),
    }
    assert len(written.production) == 3
    assert report["status"] == "ok"
    assert report["prediction_drift"] is False

    # AND the events say so too
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckCompleted"]
    assert received[0]["detail"]["variants"] == ["AllTraffic"]
    assert received[0]["detail"]["rows"] == 360


def test_without_variants_every_variant_folder_is_read(
    aws: Aws, context: FakeContext, listings: list[dict[str, Any]]
) -> None:
    # GIVEN the same capture, WHEN the check names no variants (every existing schedule)
    aws.put_baseline(churn_baseline())
    write_production_and_shadow(aws)
    handler.check_handler(request(None), context)

    # THEN the endpoint's variant folders are listed, then each one's hours
    assert listings == [
        {"Prefix": PREFIX, "Delimiter": "/"},
        *hour_prefixes("AllTraffic"),
        *hour_prefixes("Shadow"),
    ]

    # AND the copied requests are counted twice, and the shadow's outputs mixed in: the
    # reason to name the variants
    report = aws.report()
    assert report["rows"] == len(HOURS) * (PRODUCTION_ROWS + SHADOW_ROWS) == 510
    assert report["context"]["capture"]["variants"] == ["AllTraffic", "Shadow"]
    assert report["context"]["capture"]["objects"] == 6
    assert report["prediction_drift"] is True
    assert aws.received()[0]["detail"]["variants"] == ["AllTraffic", "Shadow"]


def test_both_variants_named_read_as_unset(aws: Aws, context: FakeContext) -> None:
    aws.put_baseline(churn_baseline())
    write_production_and_shadow(aws)
    handler.check_handler(request(["Shadow", "AllTraffic"]), context)
    report = aws.report()
    assert report["rows"] == 510
    assert report["context"]["capture"]["variants"] == ["AllTraffic", "Shadow"]


@pytest.mark.parametrize("variants", [["Canary"], ["alltraffic"]], ids=["unknown", "case"])
def test_variant_without_capture_gives_insufficient_data(
    aws: Aws, context: FakeContext, listings: list[dict[str, Any]], variants: list[str]
) -> None:
    # GIVEN capture on AllTraffic and Shadow, WHEN the check names a variant that has none
    # (names are exact: `alltraffic` is not `AllTraffic`)
    aws.put_baseline(churn_baseline())
    write_production_and_shadow(aws)
    answer = handler.check_handler(request(variants), context)

    # THEN only that variant's folders were listed, and the window is empty: no verdict
    assert listings == hour_prefixes(variants[0])
    assert answer["status"] == "insufficient_data"
    report = aws.report()
    assert report["status"] == "insufficient_data"
    assert report["drift"] is None
    assert report["rows"] == 0
    assert report["context"]["capture"]["variants"] == variants
    assert report["context"]["capture"]["objects"] == 0
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckCompleted"]
    assert received[0]["detail"]["status"] == "insufficient_data"
    assert received[0]["detail"]["variants"] == variants


# ---- refused at the door ------------------------------------------------------------------------

EMPTY = (
    "Value error, an empty list would read no capture at all; accepted: one or more variant "
    "names (e.g. ['AllTraffic']), or no `variants` key (or null) for every variant"
)


def bad_name(name: str) -> str:
    return (
        f"Value error, {name!r} is not a SageMaker variant name; accepted: 1-63 letters, "
        "digits and hyphens, starting and ending with a letter or digit, spelled exactly as "
        "the endpoint's variant (e.g. 'AllTraffic')"
    )


@pytest.mark.parametrize(
    ("fixture", "loc", "message"),
    [
        ("bad_variants_empty.json", "variants", EMPTY),
        (
            "bad_variants_duplicate.json",
            "variants",
            "Value error, 'AllTraffic' listed more than once; accepted: each variant name once",
        ),
        ("bad_variant_name.json", "variants.1", bad_name("Shadow/../AllTraffic")),
    ],
)
@pytest.mark.parametrize("entry", ["check_handler", "plan_handler"])
def test_bad_variants_are_refused_at_the_door(
    aws: Aws, context: FakeContext, fixture: str, loc: str, message: str, entry: str
) -> None:
    # GIVEN a baseline and capture, WHEN a schedule passes a bad `variants`
    aws.put_baseline(churn_baseline())
    write_production_and_shadow(aws)
    with pytest.raises(ValidationError) as raised:
        getattr(handler, entry)(load_event(fixture), context)

    # THEN the invocation fails naming the field, what is wrong and what is accepted; nothing
    # is written or put
    errors = raised.value.errors()
    assert [(".".join(map(str, e["loc"])), e["msg"]) for e in errors] == [(loc, message)]
    assert aws.keys(REPORTS_BUCKET) == []
    assert aws.received() == []


@pytest.mark.parametrize(
    "name",
    ["", "-AllTraffic", "AllTraffic-", "All_Traffic", "All Traffic", "x" * 64, "AllTraffic\n"],
)
def test_names_sagemaker_refuses_are_refused(name: str) -> None:
    event = {**request(None), "variants": ["AllTraffic", name]}
    with pytest.raises(ValidationError) as raised:
        CheckRequest.model_validate(event)
    assert [(e["loc"], e["msg"]) for e in raised.value.errors()] == [
        (("variants", 1), bad_name(name))
    ]


@pytest.mark.parametrize("name", ["A", "x" * 63, "Shadow--2", "variant-1", "0"])
def test_names_sagemaker_accepts_are_accepted(name: str) -> None:
    assert CheckRequest.model_validate({**request(None), "variants": [name]}).variants == [name]


def test_several_duplicates_are_named_once_each() -> None:
    event = {**request(None), "variants": ["B", "A", "B", "A", "B", "C"]}
    with pytest.raises(ValidationError, match="'B', 'A' listed more than once; accepted"):
        CheckRequest.model_validate(event)


def test_null_variants_is_every_variant() -> None:
    assert CheckRequest.model_validate({**request(None), "variants": None}).variants is None


# ---- scale-out ----------------------------------------------------------------------------------


def run_scaleout(
    aws: Aws, context: FakeContext, event: dict[str, Any], *, keep_variants: bool = True
) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Plan, one batch per two manifest objects, reduce: (plan, manifest keys, reduce answer)."""
    plan = handler.plan_handler(event, context)
    items = json.loads(aws.get(plan["manifest_bucket"], plan["manifest_key"]))
    for i in range(0, len(items), 2):
        batch = load_event("map_batch.json")
        batch["BatchInput"] = {"run_id": plan["run_id"], "request": plan["request"]}
        batch["Items"] = items[i : i + 2]
        handler.profile_handler(batch, context)
    reduce_input = {**load_event("reduce_input.json"), **plan}
    if not keep_variants:
        del reduce_input["variants"]
    return plan, [item["key"] for item in items], handler.reduce_handler(reduce_input, context)


def test_scaleout_plan_lists_only_the_named_variant(
    aws: Aws, context: FakeContext, listings: list[dict[str, Any]]
) -> None:
    # GIVEN production and shadow capture, and the single check's report naming AllTraffic
    aws.put_baseline(churn_baseline())
    written = write_production_and_shadow(aws)
    handler.check_handler(load_event("check_request_variants.json"), context)
    single = aws.report()
    single_events = aws.received()
    listings.clear()

    # WHEN the scale-out path checks the same request
    plan, keys, answer = run_scaleout(aws, context, load_event("check_request_variants.json"))

    # THEN the planner listed and put in the manifest exactly the production objects
    assert keys == written.production
    assert plan["objects"] == 3
    assert plan["variants"] == ["AllTraffic"]
    assert plan["request"]["variants"] == ["AllTraffic"]
    assert listings[: len(HOURS)] == hour_prefixes("AllTraffic")
    assert not any("Shadow" in call["Prefix"] for call in listings)

    # AND the reduced report and events are the single check's, variants included
    scaled = aws.report()
    assert scaled["rows"] == answer["rows"] == 360
    assert {k: v for k, v in scaled.items() if k != "context"} == {
        k: v for k, v in single.items() if k != "context"
    }
    assert scaled["context"] == {**single["context"], "mode": "scaleout"}
    assert scaled["context"]["capture"]["variants"] == ["AllTraffic"]
    received = aws.received()
    assert [e["detail"] for e in received] == [
        {**e["detail"], "mode": "scaleout"} for e in single_events
    ]


def test_reducer_reports_the_variants_its_plan_listed(aws: Aws, context: FakeContext) -> None:
    # GIVEN a plan made without variants (both folders), then a new variant folder
    aws.put_baseline(churn_baseline())
    written = write_production_and_shadow(aws)
    plan = handler.plan_handler(request(None), context)
    items = json.loads(aws.get(plan["manifest_bucket"], plan["manifest_key"]))
    assert [item["key"] for item in items] == sorted(written.production + written.shadow)
    start = WINDOW_END.replace(hour=4)
    aws.put_capture("Canary", start, "late.jsonl", capture_lines(churn_records(7, 5), "csv", start))

    # WHEN its batches are profiled and it is reduced
    batch = load_event("map_batch.json")
    batch["BatchInput"] = {"run_id": plan["run_id"], "request": plan["request"]}
    batch["Items"] = items
    handler.profile_handler(batch, context)
    handler.reduce_handler({**load_event("reduce_input.json"), **plan}, context)

    # THEN the report names the variants the plan read, not the folder that came later
    report = aws.report()
    assert plan["variants"] == ["AllTraffic", "Shadow"]
    assert report["context"]["capture"]["variants"] == ["AllTraffic", "Shadow"]
    assert report["rows"] == 510
    assert aws.received()[0]["detail"]["variants"] == ["AllTraffic", "Shadow"]


@pytest.mark.parametrize(
    ("event", "variants"),
    [(None, ["AllTraffic", "Shadow"]), (["AllTraffic"], ["AllTraffic"])],
    ids=["unset", "named"],
)
def test_reducer_of_a_plan_without_variants_key_falls_back(
    aws: Aws, context: FakeContext, event: list[str] | None, variants: list[str]
) -> None:
    # GIVEN a plan output without `variants` (a plan made before the key existed)
    aws.put_baseline(churn_baseline())
    write_production_and_shadow(aws)

    # WHEN it is reduced, THEN the variants are the request's, else the manifest keys'
    _, _, answer = run_scaleout(aws, context, request(event), keep_variants=False)
    assert aws.report()["context"]["capture"]["variants"] == variants
    assert answer["rows"] == (510 if event is None else 360)


def test_batch_with_another_variants_key_is_refused(aws: Aws, context: FakeContext) -> None:
    # GIVEN a batch of a request naming AllTraffic, WHEN it holds a Shadow object
    aws.put_baseline(churn_baseline())
    written = write_production_and_shadow(aws)
    batch = load_event("map_batch.json")
    batch["BatchInput"]["request"]["variants"] = ["AllTraffic"]
    batch["Items"] = [{"key": written.production[0]}, {"key": written.shadow[0]}]

    # THEN the batch is refused naming the allowed prefix and the stray key; nothing written
    with pytest.raises(handler.BadRequestError) as raised:
        handler.profile_handler(batch, context)
    assert str(raised.value) == (
        "batch holds keys outside the capture BatchInput.request names (endpoint 'churn-prod', "
        f"variants ['AllTraffic']: {PREFIX}AllTraffic/): {written.shadow[0]}"
    )
    assert aws.keys(REPORTS_BUCKET) == []


# ---- plain functions ----------------------------------------------------------------------------


def test_variant_prefixes_and_key_variants_agree() -> None:
    prefixes = handler.variant_prefixes(ENDPOINT, ["AllTraffic", "Shadow"])
    assert prefixes == [f"{PREFIX}AllTraffic/", f"{PREFIX}Shadow/"]
    keys = [f"{PREFIX}Shadow/2026/11/27/05/a", f"{PREFIX}AllTraffic/2026/11/27/03/b", "x/y/z"]
    assert handler.key_variants(ENDPOINT, keys) == ["AllTraffic", "Shadow"]
