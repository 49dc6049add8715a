"""Quality metrics accumulated one joined prediction at a time, in constant state per segment.

Classification keeps the confusion counts, ten calibration bins and, for the exact ROC AUC,
a count of positives and negatives per distinct score (`ClassificationCounts`); regression
keeps sums and Welford moments (`RegressionCounts`). A metric that is not defined on the
data (no positives for recall, one class for the AUC, no labels at all) is `None` with a
reason, never 0: see `metric`.

Standard library only: this module runs in the Lambda.
"""

from __future__ import annotations

import math
from typing import Any, Final

SCORE_CAP: Final = 100_000
"""Distinct scores kept exactly per segment for the ROC AUC; beyond it every score is rounded
to `SCORE_DECIMALS` decimals (at most 10**6 + 1 distinct values in [0, 1]) and the AUC is
marked approximate."""
SCORE_DECIMALS: Final = 6
CALIBRATION_BINS: Final = 10

NO_LABELS: Final = "no labelled predictions"


def metric(value: float | None, reason: str | None = None) -> dict[str, Any]:
    """A metric of a report: `{"value": x, "reason": null}` or `{"value": null, "reason": …}`."""
    return {"value": value, "reason": None if value is not None else reason}


def ratio(numerator: int, denominator: int, reason: str) -> dict[str, Any]:
    """numerator / denominator, undefined (with the reason) when the denominator is 0."""
    return metric(numerator / denominator if denominator else None, reason)


class ClassificationCounts:
    """One segment's binary-classification state.

    Memory: O(1) but for `scores`, which holds one entry per distinct score (at most
    `SCORE_CAP` before rounding, 10**6 + 1 after).
    """

    __slots__ = (
        "approximate",
        "bin_count",
        "bin_positive",
        "bin_score",
        "fn",
        "fp",
        "labelled",
        "predicted_positive",
        "predictions",
        "score_cap",
        "scored",
        "scores",
        "tn",
        "tp",
    )

    def __init__(self, *, scored: bool = True, score_cap: int = SCORE_CAP) -> None:
        self.predictions = 0
        """Predictions of the window (labelled or not)."""
        self.predicted_positive = 0
        self.labelled = 0
        self.tp = self.fp = self.tn = self.fn = 0
        self.scored = scored
        """Whether the predictions are scores (else class labels: no AUC, no calibration)."""
        self.bin_count = [0] * CALIBRATION_BINS
        self.bin_score = [0.0] * CALIBRATION_BINS
        self.bin_positive = [0] * CALIBRATION_BINS
        self.scores: dict[float, list[int]] = {}
        """score -> [positives, negatives] among the labelled."""
        self.approximate = False
        self.score_cap = score_cap

    def predict(self, predicted: int) -> None:
        """A prediction of the window, labelled or not (for the positive rate and coverage)."""
        self.predictions += 1
        self.predicted_positive += predicted

    def label(self, predicted: int, actual: int, score: float | None) -> None:
        """A labelled prediction: its predicted class, the label (1/0) and the score (None
        when the model answers class labels)."""
        self.labelled += 1
        if predicted:
            if actual:
                self.tp += 1
            else:
                self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1
        if score is None:
            return
        b = min(int(score * CALIBRATION_BINS), CALIBRATION_BINS - 1)
        self.bin_count[b] += 1
        self.bin_score[b] += score
        self.bin_positive[b] += actual
        if self.approximate:
            score = round(score, SCORE_DECIMALS)
        counts = self.scores.get(score)
        if counts is None:
            counts = self.scores[score] = [0, 0]
            if len(self.scores) > self.score_cap and not self.approximate:
                self._round_scores()
                counts = self.scores[round(score, SCORE_DECIMALS)]
        counts[0 if actual else 1] += 1

    def _round_scores(self) -> None:
        self.approximate = True
        rounded: dict[float, list[int]] = {}
        for score, (positive, negative) in self.scores.items():
            entry = rounded.setdefault(round(score, SCORE_DECIMALS), [0, 0])
            entry[0] += positive
            entry[1] += negative
        self.scores = rounded

    def roc_auc(self) -> tuple[float | None, str]:
        """The ROC AUC, ties counted half as scikit-learn's `roc_auc_score` does: the
        Mann-Whitney statistic sum over positives of (negatives scored lower + half the
        negatives scored equal), divided by positives x negatives, in exact integers."""
        if not self.scored:
            return None, "not applicable: the model answers class labels, not scores"
        positives = sum(p for p, _ in self.scores.values())
        negatives = sum(n for _, n in self.scores.values())
        if not positives or not negatives:
            return None, "only one class among the labels (the AUC needs both)"
        twice, below = 0, 0
        for score in sorted(self.scores):
            positive, negative = self.scores[score]
            twice += positive * (2 * below + negative)
            below += negative
        return twice / (2 * positives * negatives), ""

    def calibration_error(self) -> tuple[float | None, str]:
        """Expected calibration error on 10 equal-width bins of the score (bin
        min(floor(10 s), 9)): sum over bins of |mean score - fraction positive| x n_bin / n,
        which is sum over bins of |sum of scores - positives| / n."""
        if not self.scored:
            return None, "not applicable: the model answers class labels, not scores"
        total = sum(self.bin_count)
        if not total:
            return None, NO_LABELS
        error = sum(abs(s - p) for s, p in zip(self.bin_score, self.bin_positive, strict=True))
        return error / total, ""

    def to_dict(self) -> dict[str, Any]:
        """A segment's block of a report: counts and metrics."""
        positives, negatives = self.tp + self.fn, self.fp + self.tn
        block: dict[str, Any] = {
            "predictions": self.predictions,
            "labelled": self.labelled,
            "predicted_positive": self.predicted_positive,
            "label_positives": positives,
            "label_negatives": negatives,
            "confusion": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
        }
        labelled = self.labelled
        metrics = {
            "label_coverage": ratio(labelled, self.predictions, "no predictions"),
            "positive_rate": ratio(self.predicted_positive, self.predictions, "no predictions"),
            "accuracy": ratio(self.tp + self.tn, labelled, NO_LABELS),
            "precision": ratio(
                self.tp,
                self.tp + self.fp,
                NO_LABELS if not labelled else "no positive predictions among the labelled",
            ),
            "recall": ratio(
                self.tp, positives, NO_LABELS if not labelled else "no positive labels"
            ),
            "f1": ratio(
                2 * self.tp,
                2 * self.tp + self.fp + self.fn,
                NO_LABELS if not labelled else "no positive labels and no positive predictions",
            ),
        }
        auc, reason = self.roc_auc() if labelled or not self.scored else (None, NO_LABELS)
        metrics["roc_auc"] = {**metric(auc, reason), "approximate": self.approximate}
        calibration, reason = self.calibration_error()
        metrics["calibration_error"] = metric(calibration, reason)
        block["metrics"] = metrics
        return block


class RegressionCounts:
    """One segment's regression state: sums of errors and the labels' Welford moments."""

    __slots__ = ("abs_error", "labelled", "m2", "mean", "predictions", "squared_error")

    def __init__(self) -> None:
        self.predictions = 0
        self.labelled = 0
        self.abs_error = 0.0
        self.squared_error = 0.0
        self.mean = 0.0
        self.m2 = 0.0
        """Sum of squared deviations of the labels from their mean."""

    def predict(self) -> None:
        """A prediction of the window, labelled or not."""
        self.predictions += 1

    def label(self, predicted: float, actual: float) -> None:
        """A labelled prediction."""
        self.labelled += 1
        error = predicted - actual
        self.abs_error += abs(error)
        self.squared_error += error * error
        delta = actual - self.mean
        self.mean += delta / self.labelled
        self.m2 += delta * (actual - self.mean)

    def to_dict(self) -> dict[str, Any]:
        """A segment's block of a report: counts and metrics."""
        n = self.labelled
        if n < 2:
            r2 = metric(None, NO_LABELS if not n else "fewer than two labels")
        elif self.m2 == 0.0:
            r2 = metric(
                None,
                "the labels are constant: R² is undefined (scikit-learn's r2_score reports "
                "1.0 or 0.0 by convention)",
            )
        else:
            r2 = metric(1.0 - self.squared_error / self.m2)
        return {
            "predictions": self.predictions,
            "labelled": n,
            "metrics": {
                "label_coverage": ratio(n, self.predictions, "no predictions"),
                "mae": metric(self.abs_error / n if n else None, NO_LABELS),
                "rmse": metric(math.sqrt(self.squared_error / n) if n else None, NO_LABELS),
                "r2": r2,
            },
        }
