"""Drift statistics computed from counts: numpy and the standard library only.

Numeric features are compared on a *cell layout* built on the baseline's `edges` (K strictly
increasing values): 2K + 1 cells, in order

    cell 0            values below edges[0]
    cell 2i + 1       values equal to edges[i]                      (a "point" cell)
    cell 2i + 2       values strictly between edges[i] and edges[i+1] (an "open" cell)
    cell 2K           values above edges[K - 1]

Counting the points separately is what makes the binned KS exact whenever the reference has
no values strictly inside a cell (any reference with at most `bins` distinct values), and it
keeps ties (rounded data) from blurring the bounds.

Every function here is pure and cheap (work proportional to the number of cells or categories);
the per-row work happens once, when a window is profiled.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PSI_FLOOR = 1e-4
"""Proportions below this are raised to it in PSI, so an empty bin costs a finite amount."""
KS_PVALUE_MIN_N = 35
"""Below this many values on either side the asymptotic KS p-value is not reported."""

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


class Bounds(NamedTuple):
    """A statistic known to lie in [lower, upper], with the value the report uses."""

    value: float
    lower: float
    upper: float

    @property
    def error_bound(self) -> float:
        """Width of the interval the true statistic is known to lie in."""
        return self.upper - self.lower


# ---- cell layout --------------------------------------------------------------------------


def point_cells(cells: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The counts at the edges themselves (cells 1, 3, …, 2K - 1)."""
    return cells[1:-1:2]


def psi_bins(cells: IntArray, psi_edges_index: npt.NDArray[np.int64]) -> IntArray:
    """Counts on the PSI bins: below the first edge, the half-open bins between the selected
    edges (the last one closed), above the last edge.

    `psi_edges_index` must start at 0 and end at K - 1; with a single edge there is one
    interior bin holding exactly that value.
    """
    k = (len(cells) - 1) // 2
    if len(psi_edges_index) > 1:
        interior = 2 * np.asarray(psi_edges_index[:-1], dtype=np.intp) + 1
    else:
        interior = np.array([1], dtype=np.intp)
    starts = np.concatenate(([0], interior, [2 * k]))
    return np.add.reduceat(cells, starts).astype(np.int64, copy=False)


def _cumulative(cells: IntArray) -> tuple[FloatArray, int]:
    total = int(cells.sum())
    cum = np.cumsum(cells, dtype=np.int64)
    # Dividing exact integer counts once gives the same rounding as scipy's searchsorted / n.
    return cum / total, total


# ---- PSI --------------------------------------------------------------------------------------


def psi(reference: IntArray, current: IntArray, floor: float = PSI_FLOOR) -> float:
    """Population stability index Σ (c - r) ln(c / r) of two count vectors on the same bins.

    Proportions are floored at `floor` (not renormalised), so bins empty on both sides
    contribute nothing and a bin empty on one side contributes a bounded amount.
    """
    r = np.maximum(reference / reference.sum(), floor)
    c = np.maximum(current / current.sum(), floor)
    return float(np.sum((c - r) * np.log(c / r)))


# ---- Kolmogorov-Smirnov -----------------------------------------------------------------------


def ks_bounds(reference: IntArray, current: IntArray) -> Bounds:
    """Two-sample KS statistic sup |F_ref - F_cur| from counts on the cell layout.

    `lower` is the largest |F_ref - F_cur| at the cell boundaries, each a value the difference
    actually takes, so lower ≤ KS. Inside an open cell both distribution functions are only
    known to lie between their values at the cell's ends; the largest possible difference
    there gives `upper`. The width of the interval is at most the larger, over open cells, of
    the smaller of the two sides' shares in that cell: with reference cells holding at most
    1/bins of the reference, error_bound ≤ 1/bins, and it is 0 when the reference has no
    values inside open cells.

    A point cell where the reference count is 0 (a Model Monitor bucket boundary, whose mass
    at the boundary is not known) is treated as unknown: the reference's value there may be
    anywhere up to the end of the following cell, and it yields no `lower` candidate.
    `value` is `lower`.
    """
    # Work on integer numerators over n·m, so the statistic is the correctly rounded value of
    # the rational k / (n·m) that it is, whichever boundary attains it.
    n, m = int(reference.sum()), int(current.sum())
    denominator = n * m
    sr: npt.NDArray[np.int64] | FloatArray
    sc: npt.NDArray[np.int64] | FloatArray
    if denominator < 2**62:
        sr = np.cumsum(reference, dtype=np.int64) * m
        sc = np.cumsum(current, dtype=np.int64) * n
    else:  # beyond int64: proportions in floating point, rounded like scipy's
        sr = np.cumsum(reference, dtype=np.int64) / n
        sc = np.cumsum(current, dtype=np.int64) / m
        denominator = 1
    diff = sr - sc
    points = slice(1, len(reference) - 1, 2)
    unknown = np.zeros(len(reference), dtype=bool)
    unknown[points] = reference[points] == 0
    realized = np.abs(diff)
    realized[unknown] = 0
    lower = realized.max()

    zero = np.zeros(1, dtype=sr.dtype)
    prev_r = np.concatenate((zero, sr[:-1]))
    prev_c = np.concatenate((zero, sc[:-1]))
    # Open cells (and the two tails): both functions range over [previous, this].
    upper_cells = np.maximum(sr - prev_c, sc - prev_r)
    # Known point cells: the difference at the point is exact.
    known_points = np.zeros(len(reference), dtype=bool)
    known_points[points] = ~unknown[points]
    upper_cells[known_points] = realized[known_points]
    # Unknown point cells: reference in [this, next], current exact.
    if unknown.any():
        next_r = np.concatenate((sr[1:], sr[-1:]))
        upper_cells[unknown] = np.maximum(next_r - sc, sc - sr)[unknown]
    upper = max(upper_cells.max(), lower)
    low, high = lower.item() / denominator, upper.item() / denominator
    return Bounds(low, low, high)


def kolmogorov_sf(y: float) -> float:
    """Survival function of the Kolmogorov distribution, P(K > y).

    Two series, each used where it converges in a handful of terms: the alternating series
    2 Σ (-1)^(k-1) exp(-2k²y²) for y ≥ 1, and the Jacobi theta form of the CDF,
    √(2π)/y Σ exp(-(2k-1)²π²/(8y²)), below it.
    """
    if y <= 0.0:
        return 1.0
    if y < 1.0:
        w = math.pi * math.pi / (8.0 * y * y)
        total = 0.0
        for k in range(1, 50):
            term = math.exp(-((2 * k - 1) ** 2) * w)
            total += term
            if term < _EPS * total:
                break
        return min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / y * total))
    total = 0.0
    for k in range(1, 100):
        term = math.exp(-2.0 * k * k * y * y)
        total += term if k % 2 else -term
        if term < _EPS * abs(total) or term < _TINY:
            break
    return min(1.0, max(0.0, 2.0 * total))


def ks_pvalue(d: float, n: int, m: int) -> float | None:
    """Asymptotic two-sample KS p-value for statistic `d` with sample sizes n and m.

    Kolmogorov's limit at the effective size en = nm/(n + m), with Stephens' finite-size
    correction (√en + 0.12 + 0.11/√en)·d, which tracks scipy's `ks_2samp(method="asymp")`
    (the exact one-sample distribution at round(en)) closely at every size this reports.
    None when either side has fewer than KS_PVALUE_MIN_N values.
    """
    if min(n, m) < KS_PVALUE_MIN_N:
        return None
    root = math.sqrt(n * m / (n + m))
    return kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


# ---- chi-square -------------------------------------------------------------------------------


def _log_prefactor(a: float, x: float) -> float:
    return -x + a * math.log(x) - math.lgamma(a)


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITERATIONS):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(_log_prefactor(a, x))


def _gamma_q_continued_fraction(a: float, x: float) -> float:
    # Modified Lentz evaluation of the continued fraction for Γ(a, x) (Numerical Recipes 6.2).
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(_log_prefactor(a, x)) * h


def chi2_sf(x: float, df: float) -> float:
    """Survival function of the chi-square distribution, the regularized Q(df/2, x/2)."""
    if math.isnan(x):
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, half = df / 2.0, x / 2.0
    if half < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, half))
    return min(1.0, _gamma_q_continued_fraction(a, half))


class ChiSquare(NamedTuple):
    """Pearson's chi-square test of a contingency table."""

    statistic: float
    df: int
    pvalue: float


def chi2_contingency_2xk(reference: IntArray, current: IntArray) -> ChiSquare:
    """Pearson's χ² test (no continuity correction) of the 2 x k table (reference, current).

    Categories empty on both sides are dropped; one remaining category gives df 0, p 1.
    Both rows must have a positive total.
    """
    table = np.vstack((reference, current)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    df = table.shape[1] - 1
    if df <= 0:
        return ChiSquare(0.0, 0, 1.0)
    rows = table.sum(axis=1, keepdims=True)
    cols = table.sum(axis=0, keepdims=True)
    expected = rows * cols / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return ChiSquare(statistic, df, chi2_sf(statistic, df))


# ---- Jensen-Shannon ---------------------------------------------------------------------------


def js_distance(reference: IntArray, current: IntArray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors on the same bins."""
    p = reference / reference.sum()
    q = current / current.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    divergence = float(np.sum(kl_p) + np.sum(kl_q)) / 2.0
    return math.sqrt(min(1.0, max(0.0, divergence)))


# ---- Wasserstein ------------------------------------------------------------------------------


def wasserstein_bounds(
    edges: FloatArray,
    reference: IntArray,
    current: IntArray,
    below_excess: float,
    above_excess: float,
) -> Bounds:
    """First Wasserstein distance ∫ |F_ref - F_cur| dx (not normalized) from cell counts.

    The reference has no values outside [edges[0], edges[-1]] (its own minimum and maximum),
    so the two tails are exact: ∫ below edges[0] of F_cur is Σ (edges[0] - x) / m over the
    current values below it (`below_excess` / m), and likewise above. Point cells have no
    width. In an open cell of width w where F_ref ranges over [a0, a1] and F_cur over
    [b0, b1], the integral lies in w·[max(0, a0 - b1, b0 - a1), max(a1 - b0, b1 - a0)];
    `value` takes both functions as linear across the cell (inside those bounds).
    """
    sr, _ = _cumulative(reference)
    sc, m = _cumulative(current)
    tails = (below_excess + above_excess) / m
    if len(edges) < 2:
        return Bounds(tails, tails, tails)
    opened = slice(2, len(reference) - 1, 2)
    before = slice(1, len(reference) - 2, 2)
    width = np.diff(edges)
    a0, a1 = sr[before], sr[opened]
    b0, b1 = sc[before], sc[opened]
    low = width * np.maximum(0.0, np.maximum(a0 - b1, b0 - a1))
    high = width * np.maximum(a1 - b0, b1 - a0)
    d0, d1 = a0 - b0, a1 - b1
    s0, s1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = (d0 * d0 + d1 * d1) / (2.0 * (s0 + s1))
    linear = width * np.where(same_sign, (s0 + s1) / 2.0, crossing)
    return Bounds(tails + float(linear.sum()), tails + float(low.sum()), tails + float(high.sum()))
