"""Group fairness: a hand-computed example, and a direct numpy computation on hypothesis data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import Baseline
from mlops_drift.quality import QualityInputError

from tests.quality.conftest import Record, check

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def run(
    baseline: Baseline, rows: list[tuple[str, float, int | None]], min_group_size: int
) -> dict[str, Any]:
    records = [Record(f"e{i}", group=g, output=repr(s)) for i, (g, s, _) in enumerate(rows)]
    labels = [(f"e{i}", str(y)) for i, (_, _, y) in enumerate(rows) if y is not None]
    return check(baseline, records, labels, sensitive="group", min_group_size=min_group_size)


def test_fairness_against_a_hand_computed_example(baseline: Baseline) -> None:
    # group a: predicted 1 1 0 0, labels 1 0 1 0: rate 2/4, TPR 1/2, FPR 1/2
    # group b: predicted 1 1 1 0, labels 1 1 0 0: rate 3/4, TPR 2/2, FPR 1/2
    # group c: one prediction, below min_group_size 2: too small, excluded
    rows: list[tuple[str, float, int | None]] = [
        ("a", 0.9, 1),
        ("a", 0.8, 0),
        ("a", 0.2, 1),
        ("a", 0.1, 0),
        ("b", 0.9, 1),
        ("b", 0.6, 1),
        ("b", 0.7, 0),
        ("b", 0.1, 0),
        ("c", 0.9, 0),
    ]
    fairness = run(baseline, rows, 2)["fairness"]
    groups = {g["value"]: g for g in fairness["groups"]}
    assert groups["a"]["positive_rate"] == 0.5
    assert groups["b"]["positive_rate"] == 0.75
    assert (groups["a"]["tpr"]["value"], groups["a"]["fpr"]["value"]) == (0.5, 0.5)
    assert (groups["b"]["tpr"]["value"], groups["b"]["fpr"]["value"]) == (1.0, 0.5)
    assert groups["c"]["too_small"] is True
    assert fairness["excluded_groups"] == 1
    assert fairness["demographic_parity_difference"]["value"] == pytest.approx(0.25)
    assert fairness["disparate_impact"]["value"] == pytest.approx(2 / 3)
    assert fairness["tpr_difference"]["value"] == pytest.approx(0.5)
    assert fairness["fpr_difference"]["value"] == 0.0


def test_fairness_metrics_carry_the_sensitive_attribute(baseline: Baseline) -> None:
    from mlops_drift.quality import check_quality

    from tests.quality.conftest import capture_bytes, labels_bytes, streams

    records = [Record(f"e{i}", group="ab"[i % 2], output=str(i / 10)) for i in range(10)]
    report = check_quality(
        baseline,
        streams(capture_bytes(records)),
        streams(labels_bytes([(f"e{i}", str(i % 3 == 0)) for i in range(10)])),
        problem="classification",
        sensitive="group",
        min_group_size=5,
    )
    fairness = {m.name: m for m in report.metrics() if "SensitiveAttribute" in m.dimensions}
    assert set(fairness) == {
        "DemographicParityDifference",
        "DisparateImpact",
        "TprDifference",
        "FprDifference",
    }
    assert all(m.dimensions == {"SensitiveAttribute": "group"} for m in fairness.values())


def test_one_eligible_group_leaves_the_differences_undefined(baseline: Baseline) -> None:
    rows: list[tuple[str, float, int | None]] = [("a", 0.9, 1)] * 3 + [("b", 0.1, 0)]
    fairness = run(baseline, rows, 2)["fairness"]
    assert fairness["excluded_groups"] == 1
    assert fairness["demographic_parity_difference"] == {
        "value": None,
        "reason": "fewer than two groups with a positive rate",
    }
    assert fairness["disparate_impact"]["value"] is None


def test_fairness_needs_a_classification_problem(baseline: Baseline) -> None:
    with pytest.raises(QualityInputError, match="fairness needs a classification problem"):
        check(baseline, [], [], problem="regression", sensitive="group")


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.floats(0.0, 1.0, allow_subnormal=False),
            st.sampled_from([None, 0, 1]),
        ),
        max_size=60,
    ),
    min_group_size=st.integers(1, 12),
)
def test_fairness_matches_a_direct_numpy_computation(
    baseline: Baseline, rows: list[tuple[str, float, int | None]], min_group_size: int
) -> None:
    fairness = run(baseline, rows, min_group_size)["fairness"]
    group = np.array([g for g, _, _ in rows], dtype=object)
    predicted = np.array([s >= 0.5 for _, s, _ in rows], dtype=bool)
    label = np.array([-1 if y is None else y for _, _, y in rows])
    rates, tprs, fprs = [], [], []
    by_value = {g["value"]: g for g in fairness["groups"]}
    assert set(by_value) == set(group.tolist())
    for name in sorted(set(group.tolist())):
        member = group == name
        n = int(member.sum())
        entry = by_value[name]
        assert entry["count"] == n
        assert entry["too_small"] is (n < min_group_size)
        rate = predicted[member].mean()
        assert entry["positive_rate"] == pytest.approx(rate, abs=1e-12)
        positive, negative = member & (label == 1), member & (label == 0)
        tpr = predicted[positive].mean() if positive.any() else None
        fpr = predicted[negative].mean() if negative.any() else None
        assert entry["tpr"]["value"] == (None if tpr is None else pytest.approx(tpr, abs=1e-12))
        assert entry["fpr"]["value"] == (None if fpr is None else pytest.approx(fpr, abs=1e-12))
        if n >= min_group_size:
            rates.append(rate)
            tprs += [] if tpr is None else [tpr]
            fprs += [] if fpr is None else [fpr]
    assert fairness["excluded_groups"] == sum(g["too_small"] for g in fairness["groups"])
    for key, values in (
        ("demographic_parity_difference", rates),
        ("tpr_difference", tprs),
        ("fpr_difference", fprs),
    ):
        expected = max(values) - min(values) if len(values) >= 2 else None
        got = fairness[key]["value"]
        assert got == (None if expected is None else pytest.approx(expected, abs=1e-12))
    impact = fairness["disparate_impact"]["value"]
    if len(rates) < 2 or max(rates) == 0:
        assert impact is None
    else:
        assert impact == pytest.approx(min(rates) / max(rates), abs=1e-12)
