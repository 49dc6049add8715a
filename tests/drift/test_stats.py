"""Drift statistics against independent implementations: scipy, and tables computed by hand.

KS and Wasserstein go through the real path (build_baseline on sample A, profile_columns on
sample B, then the statistic on the counts) so the bounds are proven for what a check reports.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import NumericBaseline, build_baseline
from mlops_drift.stats import (
    Bounds,
    chi2_contingency_2xk,
    chi2_sf,
    js_distance,
    kolmogorov_sf,
    ks_bounds,
    ks_pvalue,
    psi,
    psi_bins,
    wasserstein_bounds,
)
from mlops_drift.window import NumericWindow, profile_columns
from scipy import special
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _profiles(
    a: np.ndarray, b: np.ndarray, bins: int = 1000
) -> tuple[NumericBaseline, NumericWindow]:
    baseline = build_baseline({"x": a}, bins=bins)
    feature = baseline.features[0]
    window = profile_columns(baseline, {"x": b}).features["x"]
    assert isinstance(feature, NumericBaseline)
    assert isinstance(window, NumericWindow)
    return feature, window


def _ks(a: np.ndarray, b: np.ndarray, bins: int = 1000) -> Bounds:
    feature, window = _profiles(a, b, bins)
    return ks_bounds(feature.counts, window.counts)


def _wasserstein(a: np.ndarray, b: np.ndarray, bins: int = 1000) -> Bounds:
    feature, window = _profiles(a, b, bins)
    return wasserstein_bounds(
        feature.edges, feature.counts, window.counts, window.below_excess, window.above_excess
    )


def _valid(x: np.ndarray) -> np.ndarray:
    valid: np.ndarray = x[np.isfinite(x)]
    return valid


# ---- samples ------------------------------------------------------------------------------

# Few distinct values (ties), NaN for missing, sometimes a constant column.
_POOL = st.sampled_from([-3.0, -1.5, 0.0, 0.25, 1.0, 2.0, 7.5, 1e3])
_TIED = st.lists(st.one_of(_POOL, st.just(math.nan)), min_size=1, max_size=120)
_WIDE = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.just(math.nan),
        _POOL,
    ),
    min_size=1,
    max_size=200,
)
SAMPLES = st.one_of(_TIED, _WIDE)


def _arrays(a: list[float], b: list[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    assume(len(_valid(x)) >= 1 and len(_valid(y)) >= 1)
    return x, y


# ---- KS ---------------------------------------------------------------------------------------


def _exact_ks(a: np.ndarray, b: np.ndarray) -> Fraction:
    """sup |F_a - F_b| in exact rationals, straight from the definition."""
    return max(
        abs(Fraction(int(np.sum(a <= v)), len(a)) - Fraction(int(np.sum(b <= v)), len(b)))
        for v in np.concatenate((a, b))
    )


# scipy's p-value divides by zero for one-value samples; only its statistic is used here.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@HYPOTHESIS
@given(a=SAMPLES, b=SAMPLES)
@example(a=[1.0], b=[1.0])
@example(a=[2.0, 2.0, 2.0], b=[1.0, 2.0, 3.0])
@example(a=[0.0, math.nan, 1.0], b=[math.nan, 5.0])
def test_ks_is_exact_when_the_reference_has_at_most_bins_distinct_values(
    a: list[float], b: list[float]
) -> None:
    # GIVEN samples of at most 200 values, so the reference never has more than 1000 distinct
    x, y = _arrays(a, b)
    # WHEN the KS statistic is computed on the baseline's edges
    ks = _ks(x, y)
    # THEN it is the exact statistic, correctly rounded, with no error
    assert ks.lower == ks.upper == ks.value == float(_exact_ks(_valid(x), _valid(y)))
    assert ks.error_bound == 0.0
    # and scipy's, which subtracts two rounded fractions, to rounding
    expected = sps.ks_2samp(_valid(x), _valid(y), method="asymp").statistic
    assert abs(ks.value - expected) <= 1e-15


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@HYPOTHESIS
@given(a=SAMPLES, b=SAMPLES)
@example(a=[float(i) for i in range(50)], b=[float(i) + 0.5 for i in range(50)])
def test_ks_bounds_hold_on_coarse_bins(a: list[float], b: list[float]) -> None:
    # GIVEN a baseline with only 10 quantile bins, so cells hold many reference values
    x, y = _arrays(a, b)
    ks = _ks(x, y, bins=10)
    expected = sps.ks_2samp(_valid(x), _valid(y), method="asymp").statistic
    # THEN scipy's statistic lies within the reported interval
    assert ks.lower - 1e-12 <= expected <= ks.upper + 1e-12
    assert ks.upper - ks.lower == ks.error_bound
    assert 0.0 <= ks.error_bound <= 1.0


def test_ks_bounds_on_continuous_data_are_within_one_over_bins() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, 20_000)
    b = rng.normal(0.05, 1.1, 15_000)
    ks = _ks(a, b, bins=100)
    expected = sps.ks_2samp(a, b, method="asymp").statistic
    assert ks.lower <= expected <= ks.upper
    # Each open cell holds at most ~1/100 of the reference; the bound is the smaller share.
    assert ks.error_bound <= 1 / 100 + 1e-3
    fine = _ks(a, b)
    assert fine.lower <= expected <= fine.upper
    assert fine.error_bound <= 1 / 1000 + 1e-4


def test_ks_unknown_points_widen_the_bound() -> None:
    # GIVEN reference counts with nothing recorded at the edges (as from Model Monitor buckets,
    # read as [lower, upper)), all reference mass in the open cell between 0 and 1
    reference = np.array([0, 0, 10, 0, 0])
    current = np.array([0, 10, 0, 0, 0])  # the current sits exactly at edges[0]
    ks = ks_bounds(reference, current)
    # The reference may also sit at edges[0] (KS 0) or just above it (KS 1).
    assert (ks.lower, ks.upper) == (0.0, 1.0)


def test_kolmogorov_series_matches_scipy() -> None:
    for y in np.concatenate((np.linspace(0.0, 6.0, 3001), [1e-3, 0.05, 0.999999, 1.0, 8.0])):
        assert kolmogorov_sf(float(y)) == pytest.approx(special.kolmogorov(y), rel=1e-12, abs=1e-15)
    assert kolmogorov_sf(-1.0) == 1.0


@pytest.mark.parametrize(
    ("n", "m"), [(35, 35), (35, 400), (120, 100), (1000, 2000), (50_000, 80_000)]
)
def test_ks_pvalue_tracks_scipy_asymptotic(n: int, m: int) -> None:
    # scipy's "asymp" evaluates the exact one-sample law at round(nm/(n+m)); the asymptotic
    # Kolmogorov law with Stephens' correction differs from it by about 0.14/sqrt(en) at worst.
    rng = np.random.default_rng(n + m)
    en = n * m / (n + m)
    for shift in (0.0, 0.1, 0.3, 1.0):
        a, b = rng.normal(0, 1, n), rng.normal(shift, 1, m)
        feature, window = _profiles(a, b)
        ks = ks_bounds(feature.counts, window.counts)
        expected = sps.ks_2samp(a, b, method="asymp").pvalue
        low, high = ks_pvalue(ks.upper, n, m), ks_pvalue(ks.lower, n, m)
        assert low is not None
        assert high is not None
        assert low - 0.2 / math.sqrt(en) <= expected <= high + 0.2 / math.sqrt(en)


def test_ks_pvalue_needs_35_values_a_side() -> None:
    assert ks_pvalue(0.5, 34, 1000) is None
    assert ks_pvalue(0.5, 1000, 34) is None
    assert ks_pvalue(0.5, 35, 35) is not None


# ---- Wasserstein -----------------------------------------------------------------------------


@HYPOTHESIS
@given(a=SAMPLES, b=SAMPLES, bins=st.sampled_from([10, 1000]))
@example(a=[0.0, 1.0, 2.0], b=[-5.0, 10.0], bins=10)
@example(a=[0.0, 1e-05], b=[0.0, 0.0, 268.0], bins=10)  # a tiny std magnifies one ulp
def test_wasserstein_bounds_hold(a: list[float], b: list[float], bins: int) -> None:
    x, y = _arrays(a, b)
    std = float(np.std(_valid(x)))
    w = _wasserstein(x, y, bins)
    expected = sps.wasserstein_distance(_valid(x), _valid(y))
    scale = 1e-9 * (1.0 + float(np.max(np.abs(np.concatenate((_valid(x), _valid(y)))))))
    assert w.lower - scale <= expected <= w.upper + scale
    assert w.lower - 1e-12 <= w.value <= w.upper + 1e-12
    if std > 0:
        # Normalizing divides both sides' rounding (scipy sums in another order) by std too.
        assert (w.lower - scale) / std <= expected / std <= (w.upper + scale) / std


@HYPOTHESIS
@given(
    a=st.lists(_POOL, min_size=1, max_size=100),
    b=st.lists(_POOL, min_size=1, max_size=100),
)
def test_wasserstein_is_exact_when_both_sides_sit_on_the_edges(
    a: list[float], b: list[float]
) -> None:
    # The reference holds every pool value, so every current value is an edge or outside.
    x = np.array([*a, -3.0, -1.5, 0.0, 0.25, 1.0, 2.0, 7.5, 1e3])
    y = np.array(b)
    w = _wasserstein(x, y)
    expected = sps.wasserstein_distance(x, y)
    assert w.value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert w.error_bound == pytest.approx(0.0, abs=1e-9)


def test_wasserstein_normalized_on_continuous_data() -> None:
    rng = np.random.default_rng(3)
    a = rng.lognormal(0.0, 0.8, 50_000)
    b = rng.lognormal(0.1, 0.8, 40_000)
    w = _wasserstein(a, b)
    std = float(np.std(a))
    expected = sps.wasserstein_distance(a, b) / std
    assert w.lower / std <= expected <= w.upper / std
    assert abs(w.value / std - expected) < 0.01
    # Beyond the reference's range the current contributes exactly; what is left is where
    # the reference sits inside its own cells, a small share of the distance.
    beyond = a.max() + np.array([1.0, 2.0, 3.0])
    far = _wasserstein(a, beyond)
    assert far.lower <= sps.wasserstein_distance(a, beyond) <= far.upper
    assert far.error_bound < 1e-3 * far.value


# ---- PSI (hand-computed) --------------------------------------------------------------------


def test_psi_matches_hand_computed_tables() -> None:
    # r = .1 .2 .3 .4, c = .4 .3 .2 .1:
    # .3 ln 4 + .1 ln 1.5 + (-.1) ln(2/3) + (-.3) ln(.25) = 2(.4158883) + 2(.0405465) = .9128696
    assert psi(np.array([10, 20, 30, 40]), np.array([40, 30, 20, 10])) == pytest.approx(
        0.9128696, abs=1e-7
    )
    # An empty reference bin is floored at 1e-4: r = 1e-4 .5 .5, c = .1 .45 .45:
    # .0999 ln 1000 + 2(-.05) ln .9 = .6900848 + .0105361 = .7006208
    assert psi(np.array([0, 50, 50]), np.array([10, 45, 45])) == pytest.approx(0.7006208, abs=1e-7)
    # Bins empty on both sides cost nothing; identical distributions give 0.
    assert psi(np.array([0, 3, 0, 7]), np.array([0, 30, 0, 70])) == 0.0


def test_psi_bins_sum_cells_between_the_selected_edges() -> None:
    # Edges e0..e3: cells below, e0, (e0,e1), e1, (e1,e2), e2, (e2,e3), e3, above.
    cells = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    # Bins on edges 0, 2, 3: below | [e0, e2) | [e2, e3] | above.
    assert psi_bins(cells, np.array([0, 2, 3])).tolist() == [1, 2 + 3 + 4 + 5, 6 + 7 + 8, 9]
    # A single edge: below | [e0, e0] | above.
    assert psi_bins(np.array([4, 5, 6]), np.array([0])).tolist() == [4, 5, 6]


def test_numeric_psi_on_reference_deciles_matches_hand_computation() -> None:
    # GIVEN a reference of 0..9, ten of each: its deciles are the ten values, so the PSI bins
    # are [0,1), …, [7,8), [8,9] with shares .1 (eight of them) and .2, and empty outer bins.
    reference = np.repeat(np.arange(10.0), 10)
    feature, window = _profiles(reference, np.zeros(100))
    assert feature.edges[feature.psi_edges_index].tolist() == [float(v) for v in range(10)]
    # WHEN the current window is all zeros: c = 1 in [0,1), floored elsewhere
    value = psi(
        psi_bins(feature.counts, feature.psi_edges_index),
        psi_bins(window.counts, feature.psi_edges_index),
    )
    # THEN .9 ln 10 + 7 (.0999 ln 1000) + .1999 ln 2000 = 2.0723266 + 4.8305933 + 1.5194204
    assert value == pytest.approx(8.4223403, abs=1e-6)


# ---- chi-square ------------------------------------------------------------------------------


def test_chi2_sf_matches_scipy_across_degrees_of_freedom() -> None:
    xs = np.concatenate((np.geomspace(1e-4, 6000.0, 90), [0.5, 1.0, 2.0, 3.0]))
    for df in [*range(1, 30), *range(30, 501, 7), 500]:
        for x in np.concatenate((xs, [df - 1.0, float(df), df + 1.0, 2.0 * df])):
            if x <= 0:
                continue
            expected = float(sps.chi2.sf(x, df))
            actual = chi2_sf(float(x), df)
            if expected > 1e-290:
                assert actual == pytest.approx(expected, rel=1e-9), (df, x)
            else:
                assert actual < 1e-280, (df, x)
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0


COUNTS = st.lists(st.integers(0, 500), min_size=1, max_size=12)


@HYPOTHESIS
@given(
    pair=st.integers(1, 12).flatmap(
        lambda k: st.tuples(*[st.lists(st.integers(0, 500), min_size=k, max_size=k)] * 2)
    )
)
@example(pair=([5, 0], [0, 5]))
@example(pair=([7], [3]))
def test_chi2_contingency_matches_scipy(pair: tuple[list[int], list[int]]) -> None:
    reference, current = np.array(pair[0]), np.array(pair[1])
    assume(reference.sum() > 0 and current.sum() > 0)
    result = chi2_contingency_2xk(reference, current)
    table = np.vstack((reference, current))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        assert result.pvalue == 1.0
        assert result.df == 0
        return
    expected = sps.chi2_contingency(table, correction=False)
    assert result.df == expected.dof
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


# ---- Jensen-Shannon --------------------------------------------------------------------------


@HYPOTHESIS
@given(
    pair=st.integers(1, 12).flatmap(
        lambda k: st.tuples(*[st.lists(st.integers(0, 500), min_size=k, max_size=k)] * 2)
    )
)
@example(pair=([1, 0], [0, 1]))
@example(pair=([4], [9]))
def test_js_distance_matches_scipy(pair: tuple[list[int], list[int]]) -> None:
    p, q = np.array(pair[0]), np.array(pair[1])
    assume(p.sum() > 0 and q.sum() > 0)
    expected = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    assert js_distance(p, q) == pytest.approx(expected, abs=1e-7)
    assert 0.0 <= js_distance(p, q) <= 1.0
