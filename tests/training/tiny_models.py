"""Tiny picklable models for the evaluation step's tests (scikit-learn is not installed)."""

from __future__ import annotations

from typing import Any

import numpy as np


class ThresholdClassifier:
    """Predicts 1 when `age` is at least `cut`; the score is age scaled to [0, 1]."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, x: Any) -> np.ndarray:
        return (np.asarray(x["age"], dtype=float) >= self.cut).astype(int)

    def predict_proba(self, x: Any) -> np.ndarray:
        score = np.asarray(x["age"], dtype=float) / 100.0
        return np.column_stack([1 - score, score])


class LinearRegressor:
    def __init__(self, slope: float, intercept: float) -> None:
        self.slope, self.intercept = slope, intercept

    def predict(self, x: Any) -> np.ndarray:
        return self.slope * np.asarray(x["age"], dtype=float) + self.intercept
