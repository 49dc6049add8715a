"""The generated README reference: defaults of nested sections come from the section's own
default, list items are documented once with `[]`, and every policy of the pack is listed."""

from __future__ import annotations

from planner.docs import config_reference, policy_table
from policy.mlops_policies import POLICIES


def row(reference: str, key: str) -> list[str]:
    (line,) = [x for x in reference.splitlines() if x.startswith(f"| `mlops-platform:{key}` |")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_nested_defaults_come_from_the_sections_default_factory() -> None:
    reference = config_reference()
    # StorageSchedule's own defaults are STANDARD_IA/90; DataLake.reports defaults differ.
    assert row(reference, "dataLake.reports.storageClass")[2] == '`"GLACIER_IR"`'
    assert row(reference, "dataLake.reports.expirationDays")[2] == "`365`"
    assert row(reference, "dataLake.capture.storageClass")[2] == '`"STANDARD_IA"`'
    assert row(reference, "dataLake.capture.expirationDays")[2] == "`90`"


def test_list_items_are_documented_once_and_stacks_show_the_item_names() -> None:
    reference = config_reference()
    groups = row(reference, "featureStore.featureGroups")
    assert groups[2:6] == ["`[]`", '`["customer-features"]`', '`["customer-features"]`',
                           '`["customer-features"]`']  # fmt: skip
    name = row(reference, "featureStore.featureGroups[].features[].type")
    assert name[1] == 'one of "Integral", "Fractional", "String"'
    assert name[2:6] == ["required in each item", "(per item)", "(per item)", "(per item)"]
    assert "mlops-platform:featureStore.featureGroups.name" not in reference


def test_policy_table_lists_every_policy_once() -> None:
    table = policy_table()
    for policy in POLICIES:
        assert table.count(f"| `{policy.name}` |") == 1
    assert len([x for x in table.splitlines() if x.startswith("| `")]) == len(POLICIES)
