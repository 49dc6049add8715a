"""Window profiles: one pass equals any split merged, and partials survive JSON."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import NumericBaseline, build_baseline
from mlops_drift.check import check
from mlops_drift.window import (
    CategoricalWindow,
    NumericWindow,
    WindowProfile,
    empty_profile,
    merge,
    profile_columns,
    window_from_dict,
    window_to_dict,
)

REFERENCE = np.random.default_rng(5)
BASELINE = build_baseline(
    {
        "x": REFERENCE.normal(0.0, 1.0, 3000),
        "k": np.round(REFERENCE.normal(0.0, 2.0, 3000)),
        "c": np.array(["a", "b", "c"], dtype=object)[REFERENCE.integers(0, 3, 3000)],
    },
    categorical=["c"],
    bins=100,
)


def _window(seed: int, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.5, rows)  # some values beyond the reference's range
    x[rng.random(rows) < 0.05] = np.nan
    k = np.round(rng.normal(0.0, 2.0, rows))
    k[rng.random(rows) < 0.02] = np.inf
    labels = np.array(["a", "b", "c", "new", None, ""], dtype=object)
    return {"x": x, "k": k, "c": labels[rng.integers(0, 6, rows)]}


def _chunk(columns: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {name: values[start:stop] for name, values in columns.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 600),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=6),
    order=st.randoms(use_true_random=False),
)
def test_merging_any_split_equals_one_pass(
    seed: int, rows: int, cuts: list[float], order: Any
) -> None:
    # GIVEN a window cut into chunks at arbitrary points (empty chunks included)
    columns = _window(seed, rows)
    points = sorted({0, rows, *(int(c * rows) for c in cuts)})
    chunks = [
        profile_columns(BASELINE, _chunk(columns, a, b)) for a, b in itertools.pairwise(points)
    ]
    order.shuffle(chunks)
    # WHEN the chunks' profiles are merged in a random order
    merged = empty_profile(BASELINE)
    for chunk in chunks:
        merged = merge(merged, chunk) if order.random() < 0.5 else merge(chunk, merged)
    whole = profile_columns(BASELINE, columns)
    # THEN the counts are exactly the one-pass counts, the moments agree to rounding
    assert merged.rows == whole.rows == rows
    for name, one in whole.features.items():
        part = merged.features[name]
        if isinstance(one, NumericWindow):
            assert isinstance(part, NumericWindow)
            assert part.counts.tolist() == one.counts.tolist()
            assert (part.count, part.missing) == (one.count, one.missing)
            assert part.mean == pytest.approx(one.mean, rel=1e-9, abs=1e-12)
            assert part.m2 == pytest.approx(one.m2, rel=1e-9, abs=1e-9)
            assert part.below_excess == pytest.approx(one.below_excess, rel=1e-9, abs=1e-12)
            assert part.above_excess == pytest.approx(one.above_excess, rel=1e-9, abs=1e-12)
            assert _same(part.min, one.min)
            assert _same(part.max, one.max)
        else:
            assert part == one
    # and the statistics agree: exactly where they depend only on counts
    a = check(BASELINE, merged, min_rows=1)
    b = check(BASELINE, whole, min_rows=1)
    for fa, fb in zip(a["features"], b["features"], strict=True):
        assert fa["name"] == fb["name"]
        assert fa["drifted"] == fb["drifted"]
        sa, sb = fa["statistics"], fb["statistics"]
        assert sa["psi"] == sb["psi"]
        if fa["kind"] == "numeric":
            assert sa["ks"] == sb["ks"]
            wa, wb = sa["wasserstein"]["value"], sb["wasserstein"]["value"]
            assert (wa is None and wb is None) or wa == pytest.approx(wb, rel=1e-9, abs=1e-12)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_profile_counts_missing_and_categories() -> None:
    columns = {
        "x": np.array([0.0, np.nan, -np.inf, 100.0]),
        "k": np.array([1, 2, 3, 4]),  # integers are numbers too
        "c": np.array(["a", None, "", "new"], dtype=object),
    }
    profile = profile_columns(BASELINE, columns)
    x = profile.features["x"]
    assert isinstance(x, NumericWindow)
    assert (x.count, x.missing, x.min, x.max) == (2, 2, 0.0, 100.0)
    feature = BASELINE.feature("x")
    assert isinstance(feature, NumericBaseline)
    assert x.above_excess == pytest.approx(100.0 - feature.edges[-1])
    assert profile.features["c"] == CategoricalWindow(2, 2, {"a": 1, "new": 1})


def test_profile_refuses_mismatched_columns() -> None:
    columns = _window(1, 10)
    columns.pop("k")
    columns["extra"] = np.zeros(10)
    with pytest.raises(ValueError, match=r"^the columns do not match") as error:
        profile_columns(BASELINE, columns)
    assert str(error.value) == (
        "the columns do not match the baseline's features: missing 'k'; not in the baseline "
        "'extra'; accepted: exactly x, k, c"
    )
    strings = _window(1, 3)
    strings["x"] = np.array(["1.0", "2.0", "x"], dtype=object)
    with pytest.raises(
        ValueError, match=r"^column 'x' is numeric in the baseline but was given as objects"
    ):
        profile_columns(BASELINE, strings)


def test_partials_round_trip_through_json() -> None:
    profile = profile_columns(BASELINE, _window(3, 500))
    document = json.loads(json.dumps(window_to_dict(profile), allow_nan=False))
    again = window_from_dict(BASELINE, document)
    assert window_to_dict(again) == window_to_dict(profile)
    empty = window_from_dict(
        BASELINE, json.loads(json.dumps(window_to_dict(empty_profile(BASELINE))))
    )
    assert isinstance(empty, WindowProfile)
    assert empty.rows == 0
    document["features"][0]["counts"] = document["features"][0]["counts"][:-1]
    with pytest.raises(ValueError, match=r"^window profile: feature 'x': 'counts' has \d+ entries"):
        window_from_dict(BASELINE, document)
    with pytest.raises(ValueError, match=r"^window profile: expected kind 'mlops-drift-window'"):
        window_from_dict(BASELINE, {"kind": "other"})
