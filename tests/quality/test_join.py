"""The spilled, partitioned join: the partition count never changes a report; the window."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import Baseline
from mlops_drift.quality import QualityInputError, check_quality

from tests.quality.conftest import (
    START,
    Record,
    capture_bytes,
    check,
    hours,
    labels_bytes,
    streams,
)

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def same(a: Any, b: Any, where: str = "$") -> None:
    """Equal documents; floats within 1e-12 (sums run in another order per partitioning)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def without_join(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "join"}


rows = st.lists(
    st.tuples(
        st.integers(0, 40),  # event id: repeats make duplicate captures
        st.floats(0.0, 1.0, allow_subnormal=False),
        st.sampled_from(["north", "south"]),
        st.sampled_from(["a", "b"]),
    ),
    max_size=50,
)
labels = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["0", "1", "x"])), max_size=60)


@SETTINGS
@given(rows=rows, labels=labels, partitions=st.integers(2, 17))
def test_the_partition_count_does_not_change_the_report(
    baseline: Baseline,
    rows: list[tuple[int, float, str, str]],
    labels: list[tuple[int, str]],
    partitions: int,
    tmp_path: Path,
) -> None:
    records = [Record(f"e{i}", output=repr(s), region=r, group=g) for i, s, r, g in rows]
    pairs = [(f"e{i}", y) for i, y in labels]
    options: dict[str, Any] = {"segment": "region", "sensitive": "group", "min_group_size": 2}
    one = check(baseline, records, pairs, partitions=1, spill_dir=tmp_path, **options)
    many = check(baseline, records, pairs, partitions=partitions, spill_dir=tmp_path, **options)
    same(without_join(one), without_join(many))
    assert one["join"]["largest_partition_predictions"] == len(rows)
    assert list(tmp_path.iterdir()) == []  # the spill files are gone


def test_64_partitions_give_the_report_of_one(baseline: Baseline, tmp_path: Path) -> None:
    records = [
        Record(f"e{i}", output=repr((i * 37 % 101) / 100), region=("north", "south")[i % 2])
        for i in range(500)
    ]
    pairs = [(f"e{i}", str(i % 3 == 0).lower()) for i in range(0, 500, 2)]
    one = check(baseline, records, pairs, partitions=1, segment="region")
    many = check(baseline, records, pairs, partitions=64, segment="region", spill_dir=tmp_path)
    same(without_join(one), without_join(many))
    # Peak memory is one partition's records: far below the window's.
    assert many["join"]["largest_partition_predictions"] < 30
    assert one["join"]["largest_partition_predictions"] == 500


def test_captures_outside_the_window_are_ignored_and_counted(baseline: Baseline) -> None:
    records = [
        Record("early", at=START - hours(1), output="0.9"),
        Record("in", at=START + hours(0.5), output="0.9"),
        Record("late", at=START + hours(2), output="0.9"),
    ]
    document = check(
        baseline,
        records,
        [("early", "1"), ("in", "1"), ("late", "0")],
        window=(START, START + hours(1)),
    )
    assert document["counts"]["capture"]["outside_window"] == 2
    assert document["counts"]["predictions"] == 1
    assert document["counts"]["labels"]["outside_window"] == 2
    assert document["counts"]["labels"]["matched"] == 1
    assert document["window"] == {
        "start": "2026-11-27T06:00:00+00:00",
        "end": "2026-11-27T07:00:00+00:00",
    }


def test_capture_lines_are_each_counted_once(baseline: Baseline) -> None:
    good = capture_bytes([Record("a", output="0.7"), Record("b", output="1.5")])
    dup = capture_bytes([Record("a", output="0.1")])
    batch = capture_bytes([Record("c", output="0.1,0.2,0.3")])
    no_id = capture_bytes([Record("", output="0.4")])
    garbage = b"not json\n" + b'{"captureData": {}}\n'
    report = check_quality(
        baseline,
        streams(good + dup + batch + no_id + garbage),
        streams(labels_bytes([("a", "1"), ("b", "0")])),
        problem="classification",
    ).to_json()
    capture = report["counts"]["capture"]
    assert capture["lines"] == 7
    assert capture["predictions"] == 1
    assert capture["invalid_prediction"] == {"score is not in [0, 1]": 1}
    assert capture["duplicate_event_id"] == 1
    assert (capture["batch_lines"], capture["batch_records"]) == (1, 3)
    assert capture["missing_event_id"] == 1
    assert capture["malformed"] == {"not valid JSON": 1, "no captureData.endpointOutput": 1}
    parts = (
        capture["predictions"]
        + sum(capture["invalid_prediction"].values())
        + capture["duplicate_event_id"]
        + capture["batch_lines"]
        + capture["missing_event_id"]
        + capture["outside_window"]
        + sum(capture["malformed"].values())
    )
    assert parts == capture["lines"]
    assert report["counts"]["labels"]["prediction_invalid"] == 1


def test_gzip_streams_and_several_sources(baseline: Baseline) -> None:
    part = capture_bytes([Record("a", output="0.9")])
    zipped = gzip.compress(capture_bytes([Record("b", output="0.2")]))
    report = check_quality(
        baseline,
        [("a.jsonl", io.BytesIO(part)), ("b.jsonl.gz", gzip.GzipFile(fileobj=io.BytesIO(zipped)))],
        streams(labels_bytes([("a", "1"), ("b", "0")])),
        problem="classification",
    ).to_json()
    assert report["counts"]["capture"]["sources"] == 2
    assert report["overall"]["metrics"]["accuracy"]["value"] == 1.0


def test_an_unreadable_stream_is_bad_input(baseline: Baseline) -> None:
    broken = gzip.GzipFile(fileobj=io.BytesIO(b"this is not gzip"))
    with pytest.raises(QualityInputError, match=r"capture broken.gz: cannot read it"):
        check_quality(baseline, [("broken.gz", broken)], streams(b""), problem="classification")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"segment": "plan"}, "segment 'plan' is not an input feature of the baseline"),
        ({"sensitive": "score"}, "sensitive 'score' is not an input feature of the baseline"),
        ({"threshold": 1.5}, r"threshold must be in \[0, 1\]"),
        ({"min_group_size": 0}, "min_group_size must be at least 1"),
        ({"window": (START, START)}, "is not before end"),
        ({"problem": "ranking"}, "accepted: 'classification', 'regression'"),
    ],
)
def test_bad_arguments_are_refused(
    baseline: Baseline, options: dict[str, Any], message: str
) -> None:
    options.setdefault("problem", "classification")
    with pytest.raises(QualityInputError, match=message):
        check_quality(baseline, streams(b""), streams(b""), **options)


def test_the_output_shapes_the_drift_reader_accepts(baseline: Baseline) -> None:
    json_type = "application/json"
    records = [
        Record("csv", output="0.8,extra"),
        Record("number", output="0.8", output_type=json_type),
        Record("list", output="[0.8]", output_type=json_type),
        Record("predictions", output='{"predictions": [0.8]}', output_type=json_type),
        Record("named", output='{"score": 0.8, "label": 1}', output_type=json_type),
        Record("nested", output='{"predictions": [{"score": 0.8}]}', output_type=json_type),
        Record("binary", output="0.8", output_type="application/x-custom"),
    ]
    names = [r.event_id for r in records]
    # With one output, "0.8,extra" on one line is a batch of two answers, as the drift
    # reader reads it (SageMaker's built-in algorithms answer a batch on one line).
    document = check(baseline, records, [(name, "1") for name in names])
    capture = document["counts"]["capture"]
    assert capture["malformed"] == {}
    assert (capture["batch_lines"], capture["batch_records"]) == (1, 2)
    assert capture["predictions"] == 6
    assert document["overall"]["confusion"] == {"tp": 6, "fp": 0, "tn": 0, "fn": 0}


def test_metrics_are_published_for_the_20_largest_segments(baseline: Baseline) -> None:
    from mlops_drift.quality import check_quality

    records = [
        Record(f"e{i}-{j}", region=f"r{i:02d}", output="0.7")
        for i in range(25)
        for j in range(i + 1)
    ]
    report = check_quality(
        baseline,
        streams(capture_bytes(records)),
        streams(labels_bytes([(r.event_id, "1") for r in records])),
        problem="classification",
        segment="region",
    )
    published = {m.dimensions["Segment"] for m in report.metrics() if m.dimensions}
    assert published == {f"r{i:02d}" for i in range(5, 25)}
    assert len(report.to_json()["segments"]) == 25
    assert (
        "25 segments: metrics are published for the largest 20 only; the report lists all"
        in (report.to_json()["warnings"])
    )
    overall = [m for m in report.metrics() if not m.dimensions]
    assert {m.name for m in overall} == {
        "LabelCoverage",
        "PositiveRate",
        "Accuracy",
        "Precision",
        "Recall",
        "F1",
        "CalibrationError",
    }


def test_a_records_inference_id_is_what_its_label_joins_on(baseline: Baseline) -> None:
    """SageMaker writes the caller's InferenceId as `eventMetadata.inferenceId` next to its own
    eventId; the label names the id the caller knows, so that one joins."""
    lines = []
    for event_id, inference_id in (("sm-event-1", "order-1"), ("sm-event-2", None)):
        record = json.loads(capture_bytes([Record(event_id, output="0.9")]))
        if inference_id is not None:
            record["eventMetadata"]["inferenceId"] = inference_id
        lines.append(json.dumps(record).encode() + b"\n")
    labels = labels_bytes([("order-1", "1"), ("sm-event-1", "0"), ("sm-event-2", "1")])
    report = check_quality(
        baseline, streams(b"".join(lines)), streams(labels), problem="classification"
    ).to_json()
    # order-1 and sm-event-2 join; the label naming sm-event-1 (a record known as order-1) does
    # not, and is counted as unmatched.
    assert report["counts"]["labels"]["matched"] == 2
    assert report["counts"]["labels"]["unmatched"] == 1
    assert report["overall"]["confusion"] == {"tp": 2, "fp": 0, "tn": 0, "fn": 0}
