"""The quality check (`quality_handler.lambda_handler`) against moto, as its schedule runs it.

GIVEN capture around the window and labels arriving late, WHEN the scheduled event arrives,
THEN the engine got exactly the window's capture and every label uploaded until the run, the
report is at its key, encrypted, and the metrics are EMF in `MLOpsPlatform/Quality` with `Model` and
`Endpoint`; then the window arithmetic on its own, and bad events, environments and inputs.
"""

from __future__ import annotations

import json
import os
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mlops_drift import settings
from pydantic import ValidationError

from tests.quality_handler.conftest import (
    BASELINE_BUCKET,
    CAPTURE_BUCKET,
    ENDPOINT,
    KMS_KEY,
    MODEL,
    REPORTS_BUCKET,
    Aws,
    FakeContext,
    FakeEngine,
    at,
    capture_lines,
    hour_path,
    label_lines,
    load_event,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

REPORT_KEY = f"quality/{MODEL}/{ENDPOINT}/2026/11/27/06/report.json"
CAPTURE = f"datacapture/{ENDPOINT}/"
LABELS = f"groundtruth/{ENDPOINT}/"


def write_world(aws: Aws) -> dict[str, list[str]]:
    """Predictions p1..p6 in hours 01-03 (the window, with label delay 2 before a run at 06:00),
    others in hour 00 and 04 (outside) and on the Shadow variant (not requested); labels in
    hours 02 and 03 (in time), 05 (after the predictions' window, before the run: counted) and
    06 (after the run: not counted)."""
    objects = {
        f"{CAPTURE}AllTraffic/{hour_path(at(0))}before.jsonl": [("o1", at(0), "monthly", 0.9)],
        f"{CAPTURE}AllTraffic/{hour_path(at(1))}a.jsonl": [
            ("p1", at(1), "monthly", 0.9),
            ("p2", at(1, 40), "yearly", 0.2),
        ],
        f"{CAPTURE}AllTraffic/{hour_path(at(2))}b.jsonl": [
            ("p3", at(2), "monthly", 0.7),
            ("p4", at(2, 30), "monthly", 0.6),
        ],
        f"{CAPTURE}AllTraffic/{hour_path(at(3))}c.jsonl": [
            ("p5", at(3), "yearly", 0.1),
            ("p6", at(3, 50), "yearly", 0.8),
        ],
        f"{CAPTURE}AllTraffic/{hour_path(at(4))}after.jsonl": [("o3", at(4), "yearly", 0.9)],
        f"{CAPTURE}Shadow/{hour_path(at(2))}shadow.jsonl": [("s1", at(2), "monthly", 0.9)],
    }
    for key, records in objects.items():
        aws.put(CAPTURE_BUCKET, key, capture_lines(records))
    labels = {
        f"{LABELS}{hour_path(at(2))}l1.jsonl": [("p1", "1"), ("p2", "0")],
        f"{LABELS}{hour_path(at(3))}l2.jsonl": [("o1", "1"), ("o3", "1"), ("s1", "1")],
        f"{LABELS}{hour_path(at(5))}l3.jsonl": [("p3", "0"), ("p4", "1"), ("p5", "1")],
        f"{LABELS}{hour_path(at(6))}late.jsonl": [("p6", "1")],
        f"{LABELS}{hour_path(at(0))}early.jsonl": [("p6", "0")],
    }
    for key, lines in labels.items():
        aws.put(CAPTURE_BUCKET, key, label_lines(lines))
    return {"captures": sorted(objects), "labels": sorted(labels)}


def emf_values(stdout: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "MLOpsPlatform/Quality"
            (names,) = directive["Dimensions"]
            dimensions = tuple(sorted((d, str(document[d])) for d in names))
            for metric in directive["Metrics"]:
                assert metric["Unit"] == "None"
                value = document[metric["Name"]]
                # Powertools writes a list when a name was added more than once: one point here.
                (value,) = value if isinstance(value, list) else [value]
                assert (metric["Name"], dimensions) not in out
                out[(metric["Name"], dimensions)] = float(value)
    return out


def dims(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted({"service": "quality-check", "Model": MODEL, "Endpoint": ENDPOINT, **extra}.items())
    )


# ---- a check that runs --------------------------------------------------------------------------


def test_scheduled_check_joins_the_window_with_every_label_so_far(
    quality_handler: types.ModuleType,
    aws: Aws,
    engine: FakeEngine,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN predictions around the window and labels arriving late
    write_world(aws)

    # WHEN the schedule invokes the check at 06:00 (window 3 h, labels 2 h late)
    answer = quality_handler.lambda_handler(load_event(), context)

    # THEN the engine read the AllTraffic capture of hours 01-03 only, oldest first
    (call,) = engine.calls
    uri = f"s3://{CAPTURE_BUCKET}/"
    assert call["captures"] == [
        f"{uri}{CAPTURE}AllTraffic/2026/11/27/01/a.jsonl",
        f"{uri}{CAPTURE}AllTraffic/2026/11/27/02/b.jsonl",
        f"{uri}{CAPTURE}AllTraffic/2026/11/27/03/c.jsonl",
    ]
    # AND every label uploaded from the window's start (01:00) until the run (06:00)
    assert call["labels"] == [
        f"{uri}{LABELS}2026/11/27/02/l1.jsonl",
        f"{uri}{LABELS}2026/11/27/03/l2.jsonl",
        f"{uri}{LABELS}2026/11/27/05/l3.jsonl",
    ]
    # AND p6's label (uploaded at 06:10) is not joined; p3-p5's (05:10) are
    assert call["joined"] == ["p1", "p2", "p3", "p4", "p5"]
    # AND the options and the predictions' window came from the event
    assert call["window"] == (datetime(2026, 11, 27, 1, tzinfo=UTC), at(4, 0))
    assert {k: call[k] for k in ("problem", "threshold", "positive_label", "segment",
                                 "sensitive", "min_group_size")} == {
        "problem": "classification", "threshold": 0.5, "positive_label": "1",
        "segment": "contract", "sensitive": None, "min_group_size": 1,
    }  # fmt: skip
    assert call["baseline_rows"] == 5000
    assert call["spill_dir"] == aws_spill()

    # THEN the report is at its key, under the reports bucket's KMS default encryption
    assert aws.keys(REPORTS_BUCKET) == [REPORT_KEY]
    head = aws.s3.head_object(Bucket=REPORTS_BUCKET, Key=REPORT_KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == KMS_KEY
    report = json.loads(aws.s3.get_object(Bucket=REPORTS_BUCKET, Key=REPORT_KEY)["Body"].read())
    assert report["kind"] == "fake-quality-report"
    assert (report["rows"], report["labeled"]) == (6, 5)
    assert report["context"] == {
        "model": MODEL,
        "endpoint": ENDPOINT,
        "windows": {
            "predictions": {"start": "2026-11-27T01:00:00Z", "end": "2026-11-27T04:00:00Z"},
            "labels": {"start": "2026-11-27T01:00:00Z", "end": "2026-11-27T06:00:00Z"},
            "hours": 3,
            "label_delay_hours": 2,
        },
        "baseline": f"s3://{BASELINE_BUCKET}/models/churn/drift/baseline.json",
        "capture": {"bucket": CAPTURE_BUCKET, "objects": 3},
        "groundtruth": {"bucket": CAPTURE_BUCKET, "prefix": LABELS, "objects": 3},
    }

    # THEN the metrics, as EMF: p1, p2, p4 right, p3, p5 wrong (threshold 0.5, positive "1")
    values = emf_values(capsys.readouterr().out)
    assert values == {
        ("Accuracy", dims()): 3 / 5,
        ("LabelCoverage", dims()): 5 / 6,
        # monthly: p1 right, p3 wrong, p4 right; yearly: p2 right, p5 wrong
        ("Accuracy", dims(Segment="monthly")): 2 / 3,
        ("Accuracy", dims(Segment="yearly")): 1 / 2,
    }
    assert answer == {
        "model": MODEL,
        "endpoint": ENDPOINT,
        "windows": report["context"]["windows"],
        "captures": 3,
        "labels": 3,
        "metrics": 4,
        "report": f"s3://{REPORTS_BUCKET}/{REPORT_KEY}",
    }


def aws_spill() -> Path:
    """The spill directory the component sets (the engine makes its own folder in it)."""
    return Path(os.environ[settings.QUALITY_ENV_SPILL_DIR])


def test_fairness_metrics_carry_the_sensitive_attribute(
    quality_handler: types.ModuleType,
    aws: Aws,
    engine: FakeEngine,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_world(aws)
    event = {**load_event(), "sensitive": "contract"}
    event.pop("variants")  # every variant folder: the shadow's capture is read too
    quality_handler.lambda_handler(event, context)
    (call,) = engine.calls
    assert call["sensitive"] == "contract"
    assert f"s3://{CAPTURE_BUCKET}/{CAPTURE}Shadow/2026/11/27/02/shadow.jsonl" in call["captures"]
    values = emf_values(capsys.readouterr().out)
    assert values[("DisparateImpact", dims(SensitiveAttribute="contract"))] == 0.75


def test_a_retry_of_the_same_run_overwrites_the_same_report(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    write_world(aws)
    event = {**load_event(), "window_end": "2026-11-27T06:14:59+00:00"}
    quality_handler.lambda_handler(event, context)
    quality_handler.lambda_handler(load_event(), context)
    assert aws.keys(REPORTS_BUCKET) == [REPORT_KEY]


def test_an_empty_window_still_reaches_the_engine(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    """Nothing captured is the engine's to report (a coverage of nothing), not a crash here."""
    engine.fail = "no predictions in the window"
    with pytest.raises(quality_handler.QualityCheckError, match="no predictions in the window"):
        quality_handler.lambda_handler(load_event(), context)
    assert aws.keys(REPORTS_BUCKET) == []


# ---- the windows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "hours", "delay", "predictions", "labels"),
    [
        # a daily run at 06:00 judging the day that ended a day before
        ("2026-11-27T06:00:00Z", 24, 24, ("2026-11-25T06", "2026-11-26T05"),
         ("2026-11-25T06", "2026-11-27T05")),
        # no delay: labels and predictions share the window; minutes are dropped
        ("2026-11-27T06:59:59Z", 2, 0, ("2026-11-27T04", "2026-11-27T05"),
         ("2026-11-27T04", "2026-11-27T05")),
        # across a month and a year
        ("2027-01-01T01:00:00+01:00", 1, 1, ("2026-12-31T22", "2026-12-31T22"),
         ("2026-12-31T22", "2026-12-31T23")),
    ],
)  # fmt: skip
def test_window_arithmetic(
    quality_handler: types.ModuleType,
    end: str,
    hours: int,
    delay: int,
    predictions: tuple[str, str],
    labels: tuple[str, str],
) -> None:
    request = quality_handler.QualityRequest.model_validate(
        {**load_event(), "window_end": end, "window_hours": hours, "label_delay_hours": delay}
    )
    windows = quality_handler.resolve_windows(request, datetime(2000, 1, 1, tzinfo=UTC))

    def stamp(path: str) -> str:
        return datetime.strptime(path, "%Y/%m/%d/%H/").strftime("%Y-%m-%dT%H")

    assert len(windows.prediction_hours()) == hours
    assert len(windows.label_hours()) == hours + delay
    assert (stamp(windows.prediction_hours()[0]), stamp(windows.prediction_hours()[-1])) == (
        predictions
    )
    assert (stamp(windows.label_hours()[0]), stamp(windows.label_hours()[-1])) == labels


def test_without_window_end_the_run_is_now(quality_handler: types.ModuleType) -> None:
    event = load_event()
    del event["window_end"]
    request = quality_handler.QualityRequest.model_validate(event)
    windows = quality_handler.resolve_windows(request, datetime(2026, 11, 27, 6, 42, tzinfo=UTC))
    assert windows.report_key_path == "2026/11/27/06"


# ---- refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"problem": "ranking"}, "problem\n  Input should be 'classification' or 'regression'"),
        ({"window_end": "2026-11-27T06:00:00"}, "Input should have timezone info"),
        ({"window_hours": 0}, "window_hours\n  Input should be greater than or equal to 1"),
        ({"label_delay_hours": -1}, "label_delay_hours\n  Input should be greater than or equal"),
        ({"threshold": 1.5}, "threshold\n  Input should be less than or equal to 1"),
        ({"model": "Churn/../x"}, "model\n  String should match pattern"),
        ({"variants": []}, "variants\n  Value error, variants must name at least one"),
        ({"variants": ["AllTraffic", "AllTraffic"]}, "each once"),
        ({"critical": ["tenure"]}, "critical\n  Extra inputs are not permitted"),
        ({"window_hours": "3"}, "window_hours\n  Input should be a valid integer"),
    ],
)
def test_a_bad_event_is_refused_at_the_door(
    quality_handler: types.ModuleType,
    aws: Aws,
    engine: FakeEngine,
    context: FakeContext,
    change: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValidationError) as raised:
        quality_handler.lambda_handler({**load_event(), **change}, context)
    assert message in str(raised.value)
    assert engine.calls == []
    assert aws.keys(REPORTS_BUCKET) == []


def test_a_missing_field_is_named(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    event = load_event()
    del event["problem"]
    with pytest.raises(ValidationError, match="problem\n  Field required"):
        quality_handler.lambda_handler(event, context)


def test_a_missing_baseline_names_its_key(
    quality_handler: types.ModuleType, aws: Aws, engine: FakeEngine, context: FakeContext
) -> None:
    event = {**load_event(), "baseline_key": "models/churn/other.json"}
    with pytest.raises(Exception, match=f"baseline s3://{BASELINE_BUCKET}/models/churn/other"):
        quality_handler.lambda_handler(event, context)
    assert engine.calls == []


def test_the_environment_is_required(
    quality_handler: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.QUALITY_ENV_REPORTS_BUCKET, raising=False)
    with pytest.raises(quality_handler.QualityCheckError, match="QUALITY_REPORTS_BUCKET not set"):
        quality_handler.Env.read({settings.QUALITY_ENV_CAPTURE_BUCKET: "c",
                                  settings.QUALITY_ENV_BASELINE_BUCKET: "b"})  # fmt: skip


def test_the_report_key_and_prefixes_are_the_settings(quality_handler: types.ModuleType) -> None:
    assert settings.groundtruth_prefix(ENDPOINT) == LABELS
    assert settings.quality_report_key(MODEL, ENDPOINT, "2026/11/27/06") == REPORT_KEY
    assert (
        quality_handler.NAMESPACE == settings.QUALITY_METRICS_NAMESPACE == "MLOpsPlatform/Quality"
    )
    assert quality_handler.SERVICE == settings.QUALITY_SERVICE_NAME == "quality-check"


# ---- with the real engine -----------------------------------------------------------------------


def test_with_the_engine_the_numbers_are_the_hand_counted_ones(
    quality_handler: types.ModuleType,
    aws: Aws,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same world through `mlops_drift.quality` itself (skipped until it exists)."""
    engine = pytest.importorskip("mlops_drift.quality")
    if not hasattr(engine, "check_quality"):
        pytest.skip("mlops_drift.quality is not there yet (a placeholder stands in)")
    assert quality_handler.quality is engine
    write_world(aws)
    answer = quality_handler.lambda_handler(load_event(), context)
    values = emf_values(capsys.readouterr().out)
    # Labelled: p1 (0.9, 1), p2 (0.2, 0), p3 (0.7, 0), p4 (0.6, 1), p5 (0.1, 1); p6 is in the
    # window, its label came after the run. Predicted positive: p1, p3, p4.
    assert values[("Accuracy", dims())] == pytest.approx(3 / 5)
    assert values[("Precision", dims())] == pytest.approx(2 / 3)
    assert values[("Recall", dims())] == pytest.approx(2 / 3)
    assert values[("F1", dims())] == pytest.approx(2 / 3)
    assert values[("LabelCoverage", dims())] == pytest.approx(5 / 6)
    assert values[("Accuracy", dims(Segment="monthly"))] == pytest.approx(2 / 3)
    assert values[("Accuracy", dims(Segment="yearly"))] == pytest.approx(1 / 2)
    assert {name for name, _ in values} <= set(settings.QUALITY_METRICS)
    assert answer["report"] == f"s3://{REPORTS_BUCKET}/{REPORT_KEY}"
    report = json.loads(aws.s3.get_object(Bucket=REPORTS_BUCKET, Key=REPORT_KEY)["Body"].read())
    assert report["context"]["capture"]["objects"] == 3
