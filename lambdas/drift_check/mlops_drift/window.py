"""The current window's profile: counts on the baseline's cells, mergeable across chunks.

A window is profiled chunk by chunk (`profile_columns`) and the chunks' profiles are combined
with `merge`, in any grouping and order: counts add exactly, moments combine by Chan et al.'s
formulas. Scaled-out workers write their partial profiles with `window_to_dict`; the reducer
reads them back with `window_from_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_drift.baseline import (
    Baseline,
    CategoricalBaseline,
    NumericBaseline,
    count_categories,
    count_cells,
    moments,
    numeric_column,
    sort_valid,
)
from mlops_drift.stats import FloatArray, IntArray

WINDOW_KIND = "mlops-drift-window"


@dataclass
class NumericWindow:
    """A numeric feature's state in a window."""

    count: int
    """Values present (finite)."""
    missing: int
    mean: float
    m2: float
    min: float
    max: float
    counts: IntArray
    """Counts on the baseline's cell layout (2K + 1 entries)."""
    below_excess: float
    """Σ (edges[0] - x) over the values below the baseline's range (exact Wasserstein tail)."""
    above_excess: float
    """Σ (x - edges[-1]) over the values above it."""


@dataclass
class CategoricalWindow:
    """A categorical feature's state in a window."""

    count: int
    missing: int
    categories: dict[str, int]


FeatureWindow = NumericWindow | CategoricalWindow


@dataclass
class WindowProfile:
    """Per-feature state of a window, keyed by feature name in the baseline's order."""

    features: dict[str, FeatureWindow]
    rows: int = 0
    """Records seen."""


def _empty_numeric(feature: NumericBaseline) -> NumericWindow:
    return NumericWindow(
        0, 0, 0.0, 0.0, math.nan, math.nan, np.zeros_like(feature.counts), 0.0, 0.0
    )


def empty_profile(baseline: Baseline) -> WindowProfile:
    """The profile of a window with no records (the identity of `merge`)."""
    features: dict[str, FeatureWindow] = {}
    for f in baseline.features:
        if isinstance(f, NumericBaseline):
            features[f.name] = _empty_numeric(f)
        else:
            features[f.name] = CategoricalWindow(0, 0, {})
    return WindowProfile(features, 0)


def _check_names(baseline: Baseline, names: list[str], what: str) -> None:
    expected = [f.name for f in baseline.features]
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"not in the baseline {', '.join(map(repr, extra))}")
        raise ValueError(
            f"{what} do not match the baseline's features: {'; '.join(parts)}; "
            f"accepted: exactly {', '.join(expected)}"
        )


def _profile_numeric(feature: NumericBaseline, column: Any, buffer: FloatArray) -> NumericWindow:
    values = numeric_column(feature.name, column, ValueError)
    sorted_values, missing = sort_valid(values, buffer)
    n = len(sorted_values)
    if n == 0:
        state = _empty_numeric(feature)
        state.missing = missing
        return state
    counts = count_cells(sorted_values, feature.edges)
    below = above = 0.0
    if len(feature.edges):
        below_n, above_n = int(counts[0]), int(counts[-1])
        if below_n:
            below = float(np.sum(feature.edges[0] - sorted_values[:below_n]))
        if above_n:
            above = float(np.sum(sorted_values[n - above_n :] - feature.edges[-1]))
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    mean, m2 = moments(sorted_values)  # last: it overwrites the sorted values
    return NumericWindow(
        count=n,
        missing=missing,
        mean=mean,
        m2=m2,
        min=low,
        max=high,
        counts=counts,
        below_excess=max(below, 0.0),
        above_excess=max(above, 0.0),
    )


def profile_columns(baseline: Baseline, columns: Mapping[str, np.ndarray]) -> WindowProfile:
    """Profile one chunk of a window: one array per baseline feature, all the same length.

    Same conventions as `build_baseline`: numeric columns are numbers (NaN, ±inf, None are
    missing), categorical ones str or object (None, "" and NaN missing). Each numeric column
    is sorted once, into one reused buffer, and counted by binary search of the edges.
    """
    _check_names(baseline, list(columns), "the columns")
    lengths = {name: len(np.asarray(col).reshape(-1)) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"columns have different lengths: {detail}; accepted: equal lengths")
    rows = next(iter(lengths.values()), 0)
    buffer = np.empty(rows, dtype=np.float64)
    features: dict[str, FeatureWindow] = {}
    for f in baseline.features:
        if isinstance(f, NumericBaseline):
            features[f.name] = _profile_numeric(f, columns[f.name], buffer)
        else:
            categories, missing = count_categories(f.name, columns[f.name])
            features[f.name] = CategoricalWindow(sum(categories.values()), missing, categories)
    return WindowProfile(features, rows)


def _merge_numeric(a: NumericWindow, b: NumericWindow) -> NumericWindow:
    n = a.count + b.count
    if a.count == 0 or b.count == 0:
        mean, m2 = (b.mean, b.m2) if a.count == 0 else (a.mean, a.m2)
    else:
        delta = b.mean - a.mean
        mean = a.mean + delta * b.count / n
        m2 = a.m2 + b.m2 + delta * delta * a.count * b.count / n
    return NumericWindow(
        count=n,
        missing=a.missing + b.missing,
        mean=mean,
        m2=m2,
        min=float(np.fmin(a.min, b.min)),
        max=float(np.fmax(a.max, b.max)),
        counts=a.counts + b.counts,
        below_excess=a.below_excess + b.below_excess,
        above_excess=a.above_excess + b.above_excess,
    )


def _merge_categorical(a: CategoricalWindow, b: CategoricalWindow) -> CategoricalWindow:
    categories = dict(a.categories)
    for key, n in b.categories.items():
        categories[key] = categories.get(key, 0) + n
    return CategoricalWindow(
        a.count + b.count, a.missing + b.missing, dict(sorted(categories.items()))
    )


def merge(a: WindowProfile, b: WindowProfile) -> WindowProfile:
    """The profile of the two windows together. Counts are exact; moments agree with one pass
    to rounding."""
    if list(a.features) != list(b.features):
        raise ValueError(
            "cannot merge profiles of different features: "
            f"{', '.join(a.features)} and {', '.join(b.features)}"
        )
    features: dict[str, FeatureWindow] = {}
    for name, fa in a.features.items():
        fb = b.features[name]
        if isinstance(fa, NumericWindow) and isinstance(fb, NumericWindow):
            if fa.counts.shape != fb.counts.shape:
                raise ValueError(f"cannot merge {name!r}: profiled on different baselines")
            features[name] = _merge_numeric(fa, fb)
        elif isinstance(fa, CategoricalWindow) and isinstance(fb, CategoricalWindow):
            features[name] = _merge_categorical(fa, fb)
        else:
            raise ValueError(
                f"cannot merge {name!r}: numeric in one profile, categorical in the other"
            )
    return WindowProfile(features, a.rows + b.rows)


# ---- documents ------------------------------------------------------------------------------


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def window_to_dict(profile: WindowProfile) -> dict[str, Any]:
    """The profile as a JSON-serialisable document (a scale-out worker's partial)."""
    features: list[dict[str, Any]] = []
    for name, f in profile.features.items():
        if isinstance(f, NumericWindow):
            features.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "count": f.count,
                    "missing": f.missing,
                    "mean": f.mean,
                    "m2": f.m2,
                    "min": _json_float(f.min),
                    "max": _json_float(f.max),
                    "counts": f.counts.tolist(),
                    "below_excess": f.below_excess,
                    "above_excess": f.above_excess,
                }
            )
        else:
            features.append(
                {
                    "name": name,
                    "kind": "categorical",
                    "count": f.count,
                    "missing": f.missing,
                    "categories": dict(f.categories),
                }
            )
    return {"schema_version": 1, "kind": WINDOW_KIND, "rows": profile.rows, "features": features}


def _float(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where} must be a non-negative integer, got {value!r}")
    return value


def window_from_dict(baseline: Baseline, document: Mapping[str, Any]) -> WindowProfile:
    """Read a profile written by `window_to_dict` against the same baseline."""
    if document.get("kind") != WINDOW_KIND or document.get("schema_version") != 1:
        raise ValueError(
            f"window profile: expected kind {WINDOW_KIND!r} and schema_version 1, got "
            f"{document.get('kind')!r} and {document.get('schema_version')!r}"
        )
    raw = document.get("features")
    if not isinstance(raw, list) or not all(isinstance(f, Mapping) for f in raw):
        raise ValueError("window profile: 'features' must be a list of objects")
    _check_names(baseline, [str(f.get("name")) for f in raw], "the window profile's features")
    features: dict[str, FeatureWindow] = {}
    by_name = {str(f["name"]): f for f in raw}
    try:
        for fb in baseline.features:
            f = by_name[fb.name]
            where = f"window profile: feature {fb.name!r}:"
            if isinstance(fb, CategoricalBaseline):
                cats = f["categories"]
                if not isinstance(cats, Mapping):
                    raise ValueError(f"{where} 'categories' must be an object")
                categories = {str(k): _int(v, f"{where} category {k!r}") for k, v in cats.items()}
                features[fb.name] = CategoricalWindow(
                    _int(f["count"], f"{where} 'count'"),
                    _int(f["missing"], f"{where} 'missing'"),
                    categories,
                )
                continue
            counts = np.array([_int(v, f"{where} 'counts'") for v in f["counts"]], dtype=np.int64)
            if counts.shape != fb.counts.shape:
                raise ValueError(
                    f"{where} 'counts' has {len(counts)} entries; the baseline has "
                    f"{len(fb.counts)} cells"
                )
            features[fb.name] = NumericWindow(
                count=_int(f["count"], f"{where} 'count'"),
                missing=_int(f["missing"], f"{where} 'missing'"),
                mean=_float(f["mean"], f"{where} 'mean'"),
                m2=_float(f["m2"], f"{where} 'm2'"),
                min=_float(f["min"], f"{where} 'min'"),
                max=_float(f["max"], f"{where} 'max'"),
                counts=counts,
                below_excess=_float(f["below_excess"], f"{where} 'below_excess'"),
                above_excess=_float(f["above_excess"], f"{where} 'above_excess'"),
            )
    except KeyError as exc:
        raise ValueError(f"window profile: a feature lacks the key {exc.args[0]!r}") from None
    return WindowProfile(features, _int(document.get("rows"), "window profile: 'rows'"))
