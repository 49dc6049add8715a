"""Quality metrics against scikit-learn, per window and per segment, on hypothesis data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import Baseline
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from tests.quality.conftest import Record, check, reason, segment_block, value

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TOL = {"rel": 1e-9, "abs": 1e-9}
SEGMENTS = ("north", "south", "east")

scores = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
    st.floats(0.0, 1.0, allow_subnormal=False),
)
classification_rows = st.lists(
    st.tuples(scores, st.sampled_from([None, 0, 1]), st.sampled_from(SEGMENTS)),
    max_size=60,
)
# Amounts to the microunit: R² of labels spread over 1e-254 is noise in any implementation.
numbers = st.floats(-1000.0, 1000.0, allow_nan=False).map(lambda x: round(x, 6))
regression_rows = st.lists(
    st.tuples(numbers, st.one_of(st.none(), numbers), st.sampled_from(SEGMENTS)),
    max_size=60,
)


def run_classification(
    baseline: Baseline, rows: list[tuple[float, int | None, str]], threshold: float = 0.5
) -> dict[str, Any]:
    records = [Record(f"e{i}", region=seg, output=repr(s)) for i, (s, _, seg) in enumerate(rows)]
    labels = [(f"e{i}", str(y)) for i, (_, y, _) in enumerate(rows) if y is not None]
    return check(baseline, records, labels, segment="region", threshold=threshold)


def expect_classification(
    block: dict[str, Any], rows: list[tuple[float, int | None, str]], threshold: float
) -> None:
    """One block's metrics against scikit-learn on the same rows."""
    labelled = [(s, y) for s, y, _ in rows if y is not None]
    assert block["predictions"] == len(rows)
    assert block["labelled"] == len(labelled)
    if rows:
        assert value(block, "label_coverage") == pytest.approx(len(labelled) / len(rows), **TOL)
        predicted_all = [int(s >= threshold) for s, _, _ in rows]
        assert value(block, "positive_rate") == pytest.approx(np.mean(predicted_all), **TOL)
    if not labelled:
        for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "calibration_error"):
            assert value(block, name) is None
            assert reason(block, name) == "no labelled predictions"
        return
    y = np.array([label for _, label in labelled])
    s = np.array([score for score, _ in labelled])
    p = (s >= threshold).astype(int)
    assert value(block, "accuracy") == pytest.approx(accuracy_score(y, p), **TOL)
    if p.sum():
        assert value(block, "precision") == pytest.approx(precision_score(y, p), **TOL)
    else:
        assert value(block, "precision") is None
        assert reason(block, "precision") == "no positive predictions among the labelled"
    if y.sum():
        assert value(block, "recall") == pytest.approx(recall_score(y, p), **TOL)
    else:
        assert value(block, "recall") is None
        assert reason(block, "recall") == "no positive labels"
    if y.sum() or p.sum():
        assert value(block, "f1") == pytest.approx(f1_score(y, p, zero_division=0.0), **TOL)
    else:
        assert value(block, "f1") is None
    if len(set(y.tolist())) == 2:
        assert value(block, "roc_auc") == pytest.approx(roc_auc_score(y, s), **TOL)
    else:
        # scikit-learn >= 1.6 warns and answers NaN (it raised before); we answer null.
        with pytest.warns(UndefinedMetricWarning, match="Only one class"):
            assert math.isnan(roc_auc_score(y, s))
        assert value(block, "roc_auc") is None
        assert reason(block, "roc_auc") == "only one class among the labels (the AUC needs both)"
    assert block["metrics"]["roc_auc"]["approximate"] is False
    # Calibration error by a direct numpy computation of its definition.
    bins = np.minimum((s * 10).astype(int), 9)
    ece = sum(
        abs(s[bins == b].mean() - y[bins == b].mean()) * (bins == b).sum() / len(s)
        for b in range(10)
        if (bins == b).any()
    )
    assert value(block, "calibration_error") == pytest.approx(ece, **TOL)


@SETTINGS
@given(rows=classification_rows, threshold=st.sampled_from([0.5, 0.3, 0.9]))
def test_classification_metrics_match_sklearn_per_window_and_segment(
    baseline: Baseline, rows: list[tuple[float, int | None, str]], threshold: float
) -> None:
    document = run_classification(baseline, rows, threshold)
    expect_classification(document["overall"], rows, threshold)
    present = {seg for _, _, seg in rows}
    assert {block["value"] for block in document["segments"]} == present
    for seg in present:
        subset = [row for row in rows if row[2] == seg]
        expect_classification(segment_block(document, seg), subset, threshold)


@SETTINGS
@given(rows=regression_rows)
def test_regression_metrics_match_sklearn_per_window_and_segment(
    baseline: Baseline, rows: list[tuple[float, float | None, str]]
) -> None:
    records = [Record(f"e{i}", region=seg, output=repr(p)) for i, (p, _, seg) in enumerate(rows)]
    labels = [(f"e{i}", repr(y)) for i, (_, y, _) in enumerate(rows) if y is not None]
    document = check(baseline, records, labels, segment="region", problem="regression")
    assert document["threshold"] is None
    assert document["classes"] is None
    blocks = [(document["overall"], rows)] + [
        (segment_block(document, seg), [r for r in rows if r[2] == seg])
        for seg in {r[2] for r in rows}
    ]
    for block, subset in blocks:
        pairs = [(p, y) for p, y, _ in subset if y is not None]
        assert block["labelled"] == len(pairs)
        assert block["predictions"] == len(subset)
        if not pairs:
            assert value(block, "mae") is None
            assert reason(block, "mae") == "no labelled predictions"
            assert value(block, "r2") is None
            continue
        pred = np.array([p for p, _ in pairs])
        true = np.array([y for _, y in pairs])
        assert value(block, "mae") == pytest.approx(mean_absolute_error(true, pred), **TOL)
        assert value(block, "rmse") == pytest.approx(root_mean_squared_error(true, pred), **TOL)
        if len(pairs) < 2:
            assert value(block, "r2") is None
            assert reason(block, "r2") == "fewer than two labels"
        elif np.all(true == true[0]):
            assert value(block, "r2") is None
            assert "constant" in reason(block, "r2")
        else:
            assert value(block, "r2") == pytest.approx(r2_score(true, pred), rel=1e-9, abs=1e-7)


def test_a_single_class_leaves_the_auc_undefined(baseline: Baseline) -> None:
    rows = [(0.2, 1, "north"), (0.7, 1, "north"), (0.9, 1, "south")]
    document = run_classification(baseline, rows)
    overall = document["overall"]
    assert value(overall, "roc_auc") is None
    assert reason(overall, "roc_auc") == "only one class among the labels (the AUC needs both)"
    assert value(overall, "accuracy") == pytest.approx(2 / 3)
    assert value(overall, "recall") == pytest.approx(2 / 3)
    assert "RocAuc" not in {m.name for m in _metrics(baseline, rows)}


def _metrics(baseline: Baseline, rows: list[tuple[float, int | None, str]]) -> list[Any]:
    from mlops_drift.quality import check_quality

    from tests.quality.conftest import capture_bytes, labels_bytes, streams

    records = [Record(f"e{i}", region=seg, output=repr(s)) for i, (s, _, seg) in enumerate(rows)]
    labels = [(f"e{i}", str(y)) for i, (_, y, _) in enumerate(rows) if y is not None]
    report = check_quality(
        baseline,
        streams(capture_bytes(records)),
        streams(labels_bytes(labels)),
        problem="classification",
        segment="region",
    )
    return report.metrics()


def test_all_labels_missing_gives_coverage_zero_and_null_metrics(baseline: Baseline) -> None:
    rows: list[tuple[float, int | None, str]] = [(0.2, None, "north"), (0.8, None, "south")]
    document = run_classification(baseline, rows)
    assert document["status"] == "no_labels"
    overall = document["overall"]
    assert value(overall, "label_coverage") == 0.0
    assert value(overall, "positive_rate") == 0.5
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "calibration_error"):
        assert value(overall, name) is None
        assert reason(overall, name) == "no labelled predictions"
    names = {(m.name, tuple(m.dimensions.items())) for m in _metrics(baseline, rows)}
    assert names == {
        ("LabelCoverage", ()),
        ("PositiveRate", ()),
        ("LabelCoverage", (("Segment", "north"),)),
        ("PositiveRate", (("Segment", "north"),)),
        ("LabelCoverage", (("Segment", "south"),)),
        ("PositiveRate", (("Segment", "south"),)),
    }


def test_a_segment_with_one_member(baseline: Baseline) -> None:
    rows = [(0.9, 1, "north"), (0.1, 0, "north"), (0.3, 1, "east")]
    document = run_classification(baseline, rows)
    east = segment_block(document, "east")
    assert east["predictions"] == 1
    assert value(east, "accuracy") == 0.0
    assert value(east, "recall") == 0.0
    assert value(east, "precision") is None
    assert value(east, "f1") == 0.0
    assert value(east, "roc_auc") is None
    assert value(east, "calibration_error") == pytest.approx(0.7)
    expect_classification(east, [rows[2]], 0.5)


def test_calibration_error_against_a_hand_computed_table(baseline: Baseline) -> None:
    # bin | n | mean score | fraction positive | |difference| x n
    #  0  | 2 |   0.05     |      0.5          |  0.45 x 2 = 0.90
    #  1  | 1 |   0.15     |      0.0          |  0.15 x 1 = 0.15
    #  8  | 1 |   0.85     |      0.0          |  0.85 x 1 = 0.85
    #  9  | 2 |   0.95     |      1.0          |  0.05 x 2 = 0.10
    # ECE = (0.90 + 0.15 + 0.85 + 0.10) / 6 = 1/3
    rows: list[tuple[float, int | None, str]] = [
        (0.05, 0, "north"),
        (0.05, 1, "north"),
        (0.15, 0, "north"),
        (0.95, 1, "north"),
        (0.95, 1, "north"),
        (0.85, 0, "north"),
    ]
    document = run_classification(baseline, rows)
    assert value(document["overall"], "calibration_error") == pytest.approx(1 / 3, abs=1e-12)


def test_a_score_of_one_falls_in_the_last_bin(baseline: Baseline) -> None:
    document = run_classification(baseline, [(1.0, 1, "north"), (0.0, 0, "north")])
    assert value(document["overall"], "calibration_error") == 0.0


def test_class_label_outputs_make_auc_and_calibration_not_applicable(
    label_baseline: Baseline,
) -> None:
    records = [
        Record("a", output="1"),
        Record("b", output="0"),
        Record("c", output="true"),
        Record("d", output="maybe"),
    ]
    document = check(label_baseline, records, [("a", "1"), ("b", "1"), ("c", "0"), ("d", "0")])
    overall = document["overall"]
    assert document["prediction"] == {"kind": "label", "output": "label"}
    assert document["threshold"] is None
    assert value(overall, "accuracy") == pytest.approx(1 / 3)
    for name in ("roc_auc", "calibration_error"):
        assert value(overall, name) is None
        assert reason(overall, name).startswith("not applicable")
    assert document["counts"]["capture"]["invalid_prediction"] == {
        "predicted class is not one of the classes 0/1 or true/false": 1
    }
    assert document["counts"]["labels"]["prediction_invalid"] == 1


def test_many_distinct_scores_make_the_auc_approximate() -> None:
    from mlops_drift.accumulate import ClassificationCounts

    exact, capped = ClassificationCounts(), ClassificationCounts(score_cap=50)
    rng = np.random.default_rng(3)
    s = rng.random(400)
    y = (rng.random(400) < s).astype(int)
    for score, label in zip(s.tolist(), y.tolist(), strict=True):
        for counts in (exact, capped):
            counts.label(int(score >= 0.5), label, score)
    assert exact.approximate is False
    assert capped.approximate is True
    assert exact.roc_auc()[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    approximate = capped.roc_auc()[0]
    assert approximate is not None
    assert math.isclose(approximate, roc_auc_score(y, np.round(s, 6)), abs_tol=1e-12)
    assert capped.to_dict()["metrics"]["roc_auc"]["approximate"] is True
