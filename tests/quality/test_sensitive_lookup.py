"""The sensitive attribute joined from a lookup (the feature store) instead of the capture."""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from mlops_drift.baseline import Baseline
from mlops_drift.quality import QualityInputError

from tests.quality.conftest import Record, check
from tests.quality.test_join import same, without_join

FAIRNESS_NUMBERS = (
    "groups",
    "excluded_groups",
    "min_group_size",
    "demographic_parity_difference",
    "disparate_impact",
    "tpr_difference",
    "fpr_difference",
)


class Lookup:
    """A recording lookup over a fixed table of identifier -> attribute value."""

    def __init__(self, table: Mapping[str, str | None]) -> None:
        self.table = table
        self.calls: list[list[str]] = []

    def __call__(self, keys: Sequence[str]) -> Mapping[str, str | None]:
        self.calls.append(list(keys))
        return {key: self.table[key] for key in keys if key in self.table}


def population(n: int, seed: int = 7) -> tuple[list[Record], list[tuple[str, str]], dict[str, str]]:
    """`n` predictions of 40 customers (identifier in `region`), each of group a, b or c."""
    rng = random.Random(seed)
    customers = {f"c{i}": "abc"[i % 3] for i in range(40)}
    records: list[Record] = []
    labels: list[tuple[str, str]] = []
    for i in range(n):
        customer = f"c{rng.randrange(40)}"
        records.append(
            Record(
                f"e{i}",
                region=customer,
                group=customers[customer],
                output=f"{rng.random():.3f}",
            )
        )
        if rng.random() < 0.8:
            labels.append((f"e{i}", str(rng.randrange(2))))
    return records, labels, customers


def test_a_lookup_gives_the_fairness_of_the_same_groups_carried_in_the_capture(
    baseline: Baseline,
) -> None:
    # GIVEN predictions whose group is both in the capture and behind the identifier
    records, labels, customers = population(400)
    # WHEN fairness is measured from the capture column, and from a lookup of the identifier
    carried = check(baseline, records, labels, sensitive="group", min_group_size=10)
    joined = check(
        baseline,
        records,
        labels,
        sensitive="region",
        sensitive_lookup=Lookup(customers),
        sensitive_attribute="contract_type",
        min_group_size=10,
    )
    # THEN every fairness number is the same; only the naming and the source differ
    for key in FAIRNESS_NUMBERS:
        assert joined["fairness"][key] == carried["fairness"][key], key
    assert carried["fairness"]["source"] == "capture"
    assert carried["fairness"]["lookup"] is None
    assert joined["fairness"]["source"] == "feature_store"
    assert joined["fairness"]["attribute"] == "contract_type"
    assert joined["sensitive"] == "contract_type"
    assert joined["fairness"]["lookup"]["column"] == "region"
    assert joined["fairness"]["lookup"]["missing"] == 0
    assert joined["overall"] == carried["overall"]


def test_identifiers_the_lookup_does_not_resolve_are_the_missing_group(
    baseline: Baseline,
) -> None:
    # GIVEN c0 unknown to the lookup and c1 known without a value
    records = [Record(f"e{i}", region=f"c{i % 4}", output="0.9") for i in range(8)]
    table: dict[str, str | None] = {"c1": None, "c2": "x", "c3": "y"}
    # WHEN the check runs with the lookup
    report = check(
        baseline,
        records,
        [],
        sensitive="region",
        sensitive_lookup=Lookup(table),
        min_group_size=1,
        partitions=1,
    )
    # THEN both are counted missing, and their four predictions form the missing group
    lookup = report["fairness"]["lookup"]
    assert (lookup["keys"], lookup["missing"], lookup["missing_predictions"]) == (4, 2, 4)
    groups = {g["value"]: g["count"] for g in report["fairness"]["groups"]}
    assert groups == {None: 4, "x": 2, "y": 2}
    assert report["fairness"]["attribute"] == "region"
    assert any("not found by the lookup" in w for w in report["warnings"])


@pytest.mark.parametrize("partitions", [1, 8, 64])
def test_the_lookup_is_called_once_per_partition_with_its_distinct_keys(
    baseline: Baseline, partitions: int
) -> None:
    # GIVEN 200 predictions of 40 customers, an identifier repeated within partitions
    records, labels, customers = population(200)
    lookup = Lookup(customers)
    # WHEN the check runs in `partitions` spill partitions
    report = check(
        baseline,
        records,
        labels,
        sensitive="region",
        sensitive_lookup=lookup,
        partitions=partitions,
    )
    # THEN each call is one non-empty partition's identifiers, each once
    expected: dict[int, set[str]] = {}
    for r in records:
        expected.setdefault(zlib.crc32(r.event_id.encode()) % partitions, set()).add(r.region)
    assert sorted(map(sorted, lookup.calls)) == sorted(map(sorted, expected.values()))
    assert all(len(call) == len(set(call)) for call in lookup.calls)
    assert report["fairness"]["lookup"]["calls"] == len(expected)
    assert report["fairness"]["lookup"]["keys"] == sum(map(len, expected.values()))


def test_one_partition_or_sixty_four_give_the_same_report(baseline: Baseline) -> None:
    records, labels, customers = population(300, seed=3)
    reports: list[dict[str, Any]] = []
    for partitions in (1, 64):
        report = check(
            baseline,
            records,
            labels,
            sensitive="region",
            sensitive_lookup=Lookup(customers),
            sensitive_attribute="contract_type",
            partitions=partitions,
            min_group_size=5,
        )
        report["fairness"]["lookup"] = {
            k: v for k, v in report["fairness"]["lookup"].items() if k not in ("calls", "keys")
        }
        reports.append(without_join(report))
    same(reports[0], reports[1])


def test_a_lookup_without_an_identifier_column_is_rejected(baseline: Baseline) -> None:
    with pytest.raises(QualityInputError, match="record identifier"):
        check(baseline, [Record("e0")], [], sensitive_lookup=Lookup({}))
