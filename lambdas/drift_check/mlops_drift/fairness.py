"""Group fairness of a binary classifier over one sensitive attribute.

Per group (a value of the attribute, missing values one group of their own): the predictions,
the positive prediction rate (over every prediction of the window, labelled or not) and,
where labels exist, the true and false positive rates. Across groups, over the groups with at
least `min_group_size` predictions (smaller ones are `too_small`, excluded, and counted):

- demographic parity difference: max - min positive rate;
- disparate impact: min positive rate / max positive rate (undefined when every rate is 0);
- equalized odds: TPR difference and FPR difference, max - min over the groups where the rate
  is defined (a group without positive labels has no TPR, one without negatives no FPR).

A difference needs two groups; with fewer it is `null` with the reason.

Standard library only: this module runs in the Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mlops_drift.accumulate import ClassificationCounts, metric, ratio

MIN_GROUP_SIZE: Final = 30


def _spread(values: list[float], what: str) -> dict[str, Any]:
    if len(values) < 2:
        return metric(None, f"fewer than two groups with a {what}")
    return metric(max(values) - min(values))


def fairness_section(
    attribute: str,
    groups: Mapping[str | None, ClassificationCounts],
    min_group_size: int = MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """The `fairness` section of a report (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    rates: list[float] = []
    tprs: list[float] = []
    fprs: list[float] = []
    excluded = 0
    ordered = sorted(groups.items(), key=lambda item: (-item[1].predictions, str(item[0])))
    for value, counts in ordered:
        small = counts.predictions < min_group_size
        rate = counts.predicted_positive / counts.predictions if counts.predictions else None
        tpr = ratio(counts.tp, counts.tp + counts.fn, "no positive labels in the group")
        fpr = ratio(counts.fp, counts.fp + counts.tn, "no negative labels in the group")
        rows.append(
            {
                "value": value,
                "count": counts.predictions,
                "labelled": counts.labelled,
                "too_small": small,
                "positive_rate": rate,
                "tpr": tpr,
                "fpr": fpr,
            }
        )
        if small or rate is None:
            excluded += small
            continue
        rates.append(rate)
        if tpr["value"] is not None:
            tprs.append(tpr["value"])
        if fpr["value"] is not None:
            fprs.append(fpr["value"])
    if len(rates) < 2:
        impact = metric(None, "fewer than two groups with a positive rate")
    elif max(rates) == 0.0:
        impact = metric(None, "no group has a positive prediction")
    else:
        impact = metric(min(rates) / max(rates))
    return {
        "attribute": attribute,
        "min_group_size": min_group_size,
        "groups": rows,
        "excluded_groups": excluded,
        "demographic_parity_difference": _spread(rates, "positive rate"),
        "disparate_impact": impact,
        "tpr_difference": _spread(tprs, "true positive rate"),
        "fpr_difference": _spread(fprs, "false positive rate"),
    }
