"""Ground truth read strictly: every line in exactly one category, each counted exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import Baseline
from mlops_drift.groundtruth import Classes, LabelError

from tests.quality.conftest import Record, check, label_line, value

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

CATEGORIES = (
    "matched",
    "unmatched",
    "duplicate",
    "conflicting",
    "outside_window",
    "prediction_invalid",
    "missing_event_id",
)


def total(labels: dict[str, Any]) -> int:
    return (
        sum(labels[name] for name in CATEGORIES)
        + sum(labels["malformed"].values())
        + sum(labels["invalid"].values())
    )


def test_each_kind_of_bad_label_is_counted_exactly(baseline: Baseline) -> None:
    records = [Record(name, output="0.8") for name in ("ok", "dup", "conflict", "wrong")]
    lines = b"".join(
        [
            label_line("ok", "1"),
            label_line("dup", "1"),
            label_line("dup", "true", "JSON"),  # equal to the first: a duplicate
            label_line("dup", "1"),
            label_line("conflict", "1"),
            label_line("conflict", "0"),
            label_line("conflict", "1"),
            label_line("wrong", "maybe"),  # not a class
            label_line("wrong", "2"),
            label_line("nobody", "0"),  # no prediction
            label_line(None, "1"),  # no event id
            b"{not json\n",
            b'{"groundTruthData": {"data": "1", "encoding": "BASE64"}}\n',
            b'{"eventMetadata": {"eventId": "ok"}}\n',
            label_line("ok2", "1,0"),
            b"\n   \n",  # blank lines are not lines
        ]
    )
    document = check(baseline, records, lines)
    labels = document["counts"]["labels"]
    assert labels["lines"] == 15
    assert labels["matched"] == 2  # ok, dup
    assert labels["duplicate"] == 2
    assert (labels["conflicting"], labels["conflicting_events"]) == (3, 1)
    assert labels["unmatched"] == 1
    assert labels["missing_event_id"] == 1
    assert labels["invalid"] == {
        "label is not one of the classes 0/1 or true/false": 2,
        "CSV label has more than one field": 1,
    }
    assert labels["malformed"] == {
        "not valid JSON": 1,
        "unsupported label encoding 'BASE64'; accepted: CSV, JSON": 1,
        "no groundTruthData": 1,
    }
    assert total(labels) == labels["lines"]
    assert document["counts"]["labelled"] == 2  # the conflicting event is excluded
    assert document["overall"]["predictions"] == 4
    assert value(document["overall"], "label_coverage") == 0.5
    assert len(labels["examples"]) == 5


def test_regression_labels_must_be_numbers(baseline: Baseline) -> None:
    lines = b"".join(
        [
            label_line("a", "2.5"),
            label_line("b", "true"),
            label_line("c", "abc"),
            label_line("d", "3", "JSON"),
            label_line("e", "nan"),
            label_line("f", json.dumps([4.0]), "JSON"),
        ]
    )
    records = [Record(name, output="3") for name in "abcdef"]
    document = check(baseline, records, lines, problem="regression")
    labels = document["counts"]["labels"]
    assert labels["invalid"] == {
        "label is a boolean, not a number": 1,
        "label is not a number": 1,
        "label is not a finite number": 1,
    }
    assert labels["matched"] == 3
    assert value(document["overall"], "mae") == pytest.approx((0.5 + 0 + 1) / 3)


def test_a_configured_positive_label_and_the_first_other_label(label_baseline: Baseline) -> None:
    records = [
        Record("a", output="churn"),
        Record("b", output="stay"),
        Record("c", output="churn"),
        Record("d", output="stay"),
    ]
    lines = b"".join(
        [
            label_line("a", "churn"),
            label_line("b", "stay"),  # the negative class: the first other label
            label_line("c", "stay"),
            label_line("d", "unknown"),  # a third class
        ]
    )
    document = check(label_baseline, records, lines, positive_label="churn")
    assert document["classes"] == {"positive": "churn", "negative": "stay"}
    assert document["counts"]["labels"]["invalid"] == {
        "label is neither the positive class 'churn' nor the negative class 'stay' "
        "(a third class)": 1
    }
    assert document["overall"]["confusion"] == {"tp": 1, "fp": 1, "tn": 1, "fn": 0}


def test_classes_zero_one_true_false_and_an_inverted_positive() -> None:
    classes = Classes()
    assert [classes.label(t) for t in ("1", "true", "TRUE", "0", "false")] == [1, 1, 1, 0, 0]
    with pytest.raises(LabelError):
        classes.label("2")
    inverted = Classes("0")
    assert [inverted.label(t) for t in ("0", "false", "1")] == [1, 1, 0]


kinds = st.sampled_from(
    ["single", "duplicates", "conflict", "unmatched", "no_id", "malformed", "wrong"]
)


@SETTINGS
@given(plan=st.lists(st.tuples(kinds, st.integers(2, 4)), max_size=40), seed=st.randoms())
def test_categories_sum_to_the_lines_read(
    baseline: Baseline, plan: list[tuple[str, int]], seed: Any
) -> None:
    records, lines = [], []
    expected = dict.fromkeys(
        (
            "matched",
            "unmatched",
            "duplicate",
            "conflicting",
            "missing_event_id",
            "malformed",
            "wrong",
        ),
        0,
    )
    for i, (kind, k) in enumerate(plan):
        event = f"e{i}"
        if kind in ("single", "duplicates", "conflict", "wrong"):
            records.append(Record(event, output="0.6"))
        if kind == "single":
            lines.append(label_line(event, "1"))
            expected["matched"] += 1
        elif kind == "duplicates":
            lines += [label_line(event, "0")] * k
            expected["matched"] += 1
            expected["duplicate"] += k - 1
        elif kind == "conflict":
            lines += [label_line(event, str(j % 2)) for j in range(k)]
            expected["conflicting"] += k
        elif kind == "unmatched":
            lines.append(label_line(f"orphan{i}", "1"))
            expected["unmatched"] += 1
        elif kind == "no_id":
            lines.append(label_line(None, "1"))
            expected["missing_event_id"] += 1
        elif kind == "malformed":
            lines.append(b'{"groundTruthData": 1}\n')
            expected["malformed"] += 1
        else:
            lines.append(label_line(event, "yes"))
            expected["wrong"] += 1
    seed.shuffle(lines)
    labels = check(baseline, records, b"".join(lines), partitions=7)["counts"]["labels"]
    assert labels["lines"] == len(lines)
    for name in ("matched", "unmatched", "duplicate", "conflicting", "missing_event_id"):
        assert labels[name] == expected[name], name
    assert sum(labels["malformed"].values()) == expected["malformed"]
    assert sum(labels["invalid"].values()) == expected["wrong"]
    assert total(labels) == len(lines)
