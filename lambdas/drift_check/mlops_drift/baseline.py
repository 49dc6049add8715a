"""The reference profile a window is compared with: build it, write it, read it back.

A baseline holds, per numeric feature, exact counts of the reference on the cell layout of
`stats` (points at and cells between quantile edges), the missing count and mergeable
moments; per categorical feature, the category counts. `load_baseline` also reads a SageMaker
Model Monitor `statistics.json`. See the README for the document format.
"""

from __future__ import annotations

import ctypes
import math
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlops_drift.stats import FloatArray, IntArray

SCHEMA_VERSION = 1
BASELINE_KIND = "mlops-drift-baseline"
Role = Literal["input", "output"]


class BaselineError(ValueError):
    """A baseline cannot be built or read; the message says what is wrong and what is accepted."""


@dataclass(frozen=True, eq=False)
class NumericBaseline:
    """Reference profile of a numeric feature (see the README for each field)."""

    name: str
    role: Role
    count: int
    """Values present (finite)."""
    missing: int
    """Values missing: NaN, infinite, null."""
    mean: float
    m2: float
    """Sum of squared deviations from the mean."""
    min: float
    max: float
    edges: FloatArray
    """K strictly increasing values; edges[0] is the minimum, edges[-1] the maximum."""
    counts: IntArray
    """2K + 1 counts on the cell layout of `stats`; the first and last are 0."""
    psi_edges_index: npt.NDArray[np.int64]
    """Indices into `edges` of the PSI bin boundaries (the reference's deciles)."""

    @property
    def std(self) -> float:
        """Population standard deviation of the reference."""
        return math.sqrt(self.m2 / self.count) if self.count else math.nan

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericBaseline):
            return NotImplemented
        return (
            (self.name, self.role, self.count, self.missing, self.mean, self.m2)
            == (other.name, other.role, other.count, other.missing, other.mean, other.m2)
            and _same_float(self.min, other.min)
            and _same_float(self.max, other.max)
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.counts, other.counts)
            and np.array_equal(self.psi_edges_index, other.psi_edges_index)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class CategoricalBaseline:
    """Reference profile of a categorical feature."""

    name: str
    role: Role
    count: int
    """Values present; the sum of `categories`."""
    missing: int
    """Values missing: null, empty string, NaN."""
    categories: dict[str, int] = field(hash=False)


FeatureBaseline = NumericBaseline | CategoricalBaseline


@dataclass(frozen=True)
class Baseline:
    """A model's reference profile: its features in the endpoint's column order."""

    features: tuple[FeatureBaseline, ...]
    rows: int
    created_at: str
    source: dict[str, Any] = field(hash=False)

    @property
    def inputs(self) -> tuple[FeatureBaseline, ...]:
        """Input features, in order (the CSV column order of the endpoint's input)."""
        return tuple(f for f in self.features if f.role == "input")

    @property
    def outputs(self) -> tuple[FeatureBaseline, ...]:
        """Output features (the model's predictions), in order."""
        return tuple(f for f in self.features if f.role == "output")

    def feature(self, name: str) -> FeatureBaseline:
        """The feature called `name`; KeyError naming the known features otherwise."""
        for feature in self.features:
            if feature.name == name:
                return feature
        known = ", ".join(f.name for f in self.features)
        raise KeyError(f"no feature {name!r} in the baseline; its features: {known}")


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


# ---- reading columns (shared with window.py) --------------------------------------------------


def numeric_column(name: str, column: Any, error: type[ValueError]) -> FloatArray:
    """The column as float64, without copying when it already is; strings are refused."""
    array = np.asarray(column)
    kind = array.dtype.kind
    if kind == "f" and array.dtype == np.float64:
        return array.reshape(-1)
    if kind in "biuf":
        return array.reshape(-1).astype(np.float64)
    if kind == "O" and not any(isinstance(v, str | bytes) for v in array.reshape(-1).tolist()):
        try:
            return array.reshape(-1).astype(np.float64)
        except (TypeError, ValueError):
            pass
    raise error(
        f"column {name!r} is numeric in the baseline but was given as {_dtype_name(array)}; "
        "accepted: an array of numbers (bool, int or float; NaN or None for missing). "
        "Parse the strings first, or declare the column categorical"
    )


def _dtype_name(array: npt.NDArray[Any]) -> str:
    if array.dtype.kind in "US":
        return f"strings (dtype {array.dtype})"
    if array.dtype.kind == "O":
        return "objects including strings"
    return f"dtype {array.dtype}"


def sort_valid(values: FloatArray, buffer: FloatArray) -> tuple[FloatArray, int]:
    """Copy `values` into `buffer`, sort it in place and return (finite values, missing count).

    NaN sorts last and ±inf next to the ends, so the finite values are one slice found by
    binary search. Reusing one buffer across columns avoids a fresh allocation (and its page
    faults) per column: the sort is the only pass over the data that costs anything.
    """
    n = len(values)
    work = buffer[:n]
    np.copyto(work, values)
    work.sort()
    start = int(np.searchsorted(work, -np.inf, side="right"))
    stop = int(np.searchsorted(work, np.inf, side="left"))
    return work[start:stop], n - (stop - start)


def count_cells(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of sorted finite values on the cell layout of `stats` (two binary searches)."""
    k = len(edges)
    bounds = np.empty(2 * k + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1 : 2 * k + 1 : 2] = np.searchsorted(sorted_values, edges, side="left")
    bounds[2 : 2 * k + 1 : 2] = np.searchsorted(sorted_values, edges, side="right")
    bounds[-1] = len(sorted_values)
    return np.diff(bounds)


def moments(values: FloatArray) -> tuple[float, float]:
    """(mean, sum of squared deviations) of the values; (0, 0) when there are none.

    Overwrites `values` with the deviations (callers pass their scratch buffer last), which
    saves allocating and faulting in a temporary the size of the column.
    """
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = float(values.sum()) / n
    np.subtract(values, mean, out=values)
    # einsum rather than dot: BLAS's threaded ddot costs ~15 ms per million here.
    return mean, float(np.einsum("i,i->", values, values))


def count_categories(name: str, column: Any) -> tuple[dict[str, int], int]:
    """(category counts, missing count) of a column; None, "" and NaN are missing."""
    array = np.asarray(column).reshape(-1)
    counted: Mapping[Any, int]
    if array.dtype.kind == "O":
        counted = _count_objects(array)
    else:
        values, counts = np.unique(array, return_counts=True)
        counted = dict(zip(values.tolist(), counts.tolist(), strict=True))
    categories: dict[str, int] = {}
    missing = 0
    for key, n in counted.items():
        if key is None or key in ("", b"") or (isinstance(key, float) and math.isnan(key)):
            missing += n
            continue
        label = key.decode() if isinstance(key, bytes) else str(key)
        categories[label] = categories.get(label, 0) + n
    return dict(sorted(categories.items())), missing


_SHARED_OBJECTS_MIN_ROWS = 4096


def _count_objects(array: npt.NDArray[Any]) -> Mapping[Any, int]:
    """Counts of the objects of an object array, by value.

    An object array is an array of object addresses. When its values are shared objects (a
    category-code lookup such as `labels[codes]` gives one object per category), counting
    the addresses takes one integer sort, against hashing every element: 2 ms instead of
    40 ms per million rows. Equal addresses are the same object, so grouping by address and
    then merging the few distinct objects by value is exact; the objects stay alive as long
    as `array` does. Text parsed row by row gives one object per row; then the addresses are
    mostly distinct and a plain Counter is used.
    """
    n = array.size
    if n < _SHARED_OBJECTS_MIN_ROWS:
        return Counter(array.tolist())
    array = np.ascontiguousarray(array)
    slots = (ctypes.c_ssize_t * n).from_address(array.ctypes.data)
    addresses = np.sort(np.ctypeslib.as_array(slots))
    starts = np.flatnonzero(addresses[1:] != addresses[:-1]) + 1
    if len(starts) >= n // 8:
        return Counter(array.tolist())
    starts = np.concatenate(([0], starts))
    sizes = np.diff(np.append(starts, n)).tolist()
    counted: Counter[Any] = Counter()
    for address, size in zip(addresses[starts].tolist(), sizes, strict=True):
        counted[ctypes.cast(address, ctypes.py_object).value] += size
    return counted


# ---- building ---------------------------------------------------------------------------------

_PSI_LEVELS = np.linspace(0.0, 1.0, 11)
_TAIL_STEP = 10.0**-0.25


def _levels(n: int, bins: int) -> FloatArray:
    """Quantile levels: `bins` equal steps, refined geometrically (four per decade) in both
    tails down to 1/n, so the widest cells (the tails) hold few values."""
    grid = [np.linspace(0.0, 1.0, bins + 1), _PSI_LEVELS]
    q = 1.0 / bins * _TAIL_STEP
    tails = []
    while q * n > 1.0:
        tails.append(q)
        q *= _TAIL_STEP
    if tails:
        t = np.array(tails)
        grid += [t, 1.0 - t]
    return np.concatenate(grid)


def _numeric_baseline(
    name: str, role: Role, column: Any, bins: int, buffer: FloatArray
) -> NumericBaseline:
    values = numeric_column(name, column, BaselineError)
    sorted_values, missing = sort_valid(values, buffer)
    n = len(sorted_values)
    if n == 0:
        empty = np.array([], dtype=np.float64)
        return NumericBaseline(
            name, role, 0, missing, 0.0, 0.0, math.nan, math.nan,
            empty, np.zeros(1, dtype=np.int64), np.array([], dtype=np.int64),
        )  # fmt: skip
    changes = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    if len(changes) + 1 <= bins:
        # Every distinct value is an edge: the reference has nothing inside open cells,
        # so KS on these edges is exact.
        edges = sorted_values[np.concatenate(([0], changes))].copy()
    else:
        index = np.rint(_levels(n, bins) * (n - 1)).astype(np.intp)
        edges = np.unique(sorted_values[index])
    deciles = sorted_values[np.rint(_PSI_LEVELS * (n - 1)).astype(np.intp)]
    psi_index = np.unique(np.searchsorted(edges, deciles)).astype(np.int64)
    counts = count_cells(sorted_values, edges)
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    mean, m2 = moments(sorted_values)  # last: it overwrites the sorted values
    return NumericBaseline(
        name=name,
        role=role,
        count=n,
        missing=missing,
        mean=mean,
        m2=m2,
        min=low,
        max=high,
        edges=edges,
        counts=counts,
        psi_edges_index=psi_index,
    )


def build_baseline(
    columns: Mapping[str, np.ndarray],
    *,
    categorical: Collection[str] = (),
    outputs: Collection[str] = (),
    description: str = "",
    bins: int = 1000,
) -> Baseline:
    """Profile a reference dataset: one entry per column, in the mapping's order.

    Numeric columns are float arrays (NaN, ±inf or None missing); categorical ones arrays of
    str or object (None, "" or NaN missing). `outputs` names the model's output columns.
    """
    names = list(columns)
    for label, wanted in (("categorical", categorical), ("outputs", outputs)):
        unknown = [c for c in wanted if c not in columns]
        if unknown:
            raise BaselineError(
                f"{label} names columns not in the data: {', '.join(map(repr, unknown))}; "
                f"the data's columns: {', '.join(names)}"
            )
    if not names:
        raise BaselineError("no columns to profile; accepted: a mapping of column name to array")
    if bins < 10:
        raise BaselineError(f"bins must be at least 10, got {bins}")
    lengths = {name: len(np.asarray(columns[name]).reshape(-1)) for name in names}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise BaselineError(f"columns have different lengths: {detail}; accepted: equal lengths")
    rows = lengths[names[0]]
    buffer = np.empty(rows, dtype=np.float64)
    features: list[FeatureBaseline] = []
    for name in names:
        role: Role = "output" if name in outputs else "input"
        if name in categorical:
            categories, missing = count_categories(name, columns[name])
            features.append(
                CategoricalBaseline(name, role, sum(categories.values()), missing, categories)
            )
        else:
            features.append(_numeric_baseline(name, role, columns[name], bins, buffer))
    return Baseline(
        features=tuple(features),
        rows=rows,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source={"format": BASELINE_KIND, "rows": rows, "description": description, "bins": bins},
    )


# ---- writing ----------------------------------------------------------------------------------


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def baseline_to_dict(baseline: Baseline) -> dict[str, Any]:
    """The baseline as a JSON-serialisable document (`schema_version` 1)."""
    features: list[dict[str, Any]] = []
    for f in baseline.features:
        if isinstance(f, NumericBaseline):
            features.append(
                {
                    "name": f.name,
                    "role": f.role,
                    "kind": "numeric",
                    "count": f.count,
                    "missing": f.missing,
                    "mean": f.mean,
                    "m2": f.m2,
                    "min": _json_float(f.min),
                    "max": _json_float(f.max),
                    "edges": f.edges.tolist(),
                    "counts": f.counts.tolist(),
                    "psi_edges_index": f.psi_edges_index.tolist(),
                }
            )
        else:
            features.append(
                {
                    "name": f.name,
                    "role": f.role,
                    "kind": "categorical",
                    "count": f.count,
                    "missing": f.missing,
                    "categories": dict(f.categories),
                }
            )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": BASELINE_KIND,
        "created_at": baseline.created_at,
        "rows": baseline.rows,
        "source": dict(baseline.source),
        "features": features,
    }


# ---- reading ----------------------------------------------------------------------------------


class _Reader:
    """Typed access to a JSON object with messages that name the key and what is accepted."""

    def __init__(self, document: Any, where: str) -> None:
        if not isinstance(document, Mapping):
            raise BaselineError(f"{where}: expected an object, got {_type_name(document)}")
        self.document = document
        self.where = where

    def fail(self, key: str, problem: str) -> BaselineError:
        return BaselineError(f"{self.where}: {key!r} {problem}")

    def raw(self, key: str) -> Any:
        if key not in self.document:
            raise self.fail(key, "is missing")
        return self.document[key]

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(key, f"must be a non-negative integer, got {_show(value)}")
        return value

    def number(self, key: str, *, nullable: bool = False) -> float:
        value = self.raw(key)
        if value is None and nullable:
            return math.nan
        if not isinstance(value, int | float) or isinstance(value, bool):
            accepted = "a number or null" if nullable else "a number"
            raise self.fail(key, f"must be {accepted}, got {_show(value)}")
        if not math.isfinite(value):
            raise self.fail(key, f"must be finite, got {value!r}")
        return float(value)

    def text(self, key: str, choices: Collection[str] = ()) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or (choices and value not in choices):
            accepted = " or ".join(map(repr, choices)) if choices else "a string"
            raise self.fail(key, f"must be {accepted}, got {_show(value)}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {_show(value)}")
        return value

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw(key), f"{self.where}.{key}")

    def numbers(self, key: str) -> FloatArray:
        values = self.items(key)
        for i, v in enumerate(values):
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise self.fail(key, f"must hold finite numbers; item {i} is {_show(v)}")
        return np.array(values, dtype=np.float64)

    def counts(self, key: str) -> IntArray:
        values = self.items(key)
        for i, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise self.fail(key, f"must hold non-negative integers; item {i} is {_show(v)}")
        return np.array(values, dtype=np.int64)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({_type_name(value)})"


def load_baseline(document: Mapping[str, Any]) -> Baseline:
    """Read a baseline document (`schema_version` 1) or a Model Monitor `statistics.json`."""
    if not isinstance(document, Mapping):
        raise BaselineError(f"baseline: expected a JSON object, got {_type_name(document)}")
    if "schema_version" in document:
        version = document["schema_version"]
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise BaselineError(
                f"baseline: unknown schema_version {version!r}; accepted: {SCHEMA_VERSION}"
            )
        return _load_own(_Reader(document, "baseline"))
    if "dataset" in document and "features" in document:
        return _load_model_monitor(_Reader(document, "statistics.json"))
    raise BaselineError(
        "baseline: neither a drift baseline (no 'schema_version') nor a Model Monitor "
        "statistics.json (no 'dataset' and 'features'); accepted: a document written by "
        "`mlops drift profile` or Model Monitor's statistics.json"
    )


def _load_own(doc: _Reader) -> Baseline:
    kind = doc.text("kind")
    if kind != BASELINE_KIND:
        raise doc.fail("kind", f"must be {BASELINE_KIND!r}, got {kind!r}")
    rows = doc.integer("rows")
    created_at = doc.text("created_at")
    source = doc.raw("source")
    if not isinstance(source, dict):
        raise doc.fail("source", f"must be an object, got {_show(source)}")
    raw_features = doc.items("features")
    if not raw_features:
        raise doc.fail("features", "must list at least one feature")
    features: list[FeatureBaseline] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_features):
        f = _Reader(raw, f"baseline: features[{i}]")
        name = f.text("name")
        f.where = f"baseline: features[{i}] {name!r}"
        if name in seen:
            raise BaselineError(f"{f.where}: duplicate feature name; names must be unique")
        seen.add(name)
        role: Role = "output" if f.text("role", ("input", "output")) == "output" else "input"
        kind = f.text("kind", ("numeric", "categorical"))
        if kind == "numeric":
            features.append(_read_numeric(f, name, role))
        else:
            features.append(_read_categorical(f, name, role))
    return Baseline(tuple(features), rows, created_at, source)


def _read_categorical(f: _Reader, name: str, role: Role) -> CategoricalBaseline:
    count = f.integer("count")
    missing = f.integer("missing")
    categories = f.child("categories")
    values: dict[str, int] = {}
    for key in categories.document:
        values[str(key)] = categories.integer(key)
    if sum(values.values()) != count:
        raise f.fail("count", f"is {count} but the categories sum to {sum(values.values())}")
    return CategoricalBaseline(name, role, count, missing, values)


def _read_numeric(f: _Reader, name: str, role: Role) -> NumericBaseline:
    count = f.integer("count")
    missing = f.integer("missing")
    mean = f.number("mean")
    m2 = f.number("m2")
    if m2 < 0:
        raise f.fail("m2", f"must be non-negative, got {m2!r}")
    low = f.number("min", nullable=True)
    high = f.number("max", nullable=True)
    edges = f.numbers("edges")
    counts = f.counts("counts")
    psi_index = f.counts("psi_edges_index")
    check_cells(f.where, edges, counts, psi_index)
    if int(counts.sum()) != count:
        raise f.fail("count", f"is {count} but the counts sum to {int(counts.sum())}")
    return NumericBaseline(
        name, role, count, missing, mean, m2, low, high, edges, counts, psi_index
    )


def check_cells(where: str, edges: FloatArray, counts: IntArray, psi_index: IntArray) -> None:
    """Raise BaselineError unless edges, counts and PSI indices fit together."""
    steps = np.flatnonzero(np.diff(edges) <= 0)
    if len(steps):
        i = int(steps[0]) + 1
        raise BaselineError(
            f"{where}: 'edges' must be strictly increasing; edges[{i}] = {float(edges[i])!r} "
            f"follows {float(edges[i - 1])!r}"
        )
    if len(counts) != 2 * len(edges) + 1:
        raise BaselineError(
            f"{where}: 'counts' has {len(counts)} entries; accepted: 2 x len(edges) + 1 = "
            f"{2 * len(edges) + 1} (below, then each edge and the bin after it, then above)"
        )
    if counts[0] or counts[-1]:
        raise BaselineError(
            f"{where}: 'counts' must start and end with 0: the reference has no values "
            "outside [edges[0], edges[-1]]"
        )
    expected_ends = (0, len(edges) - 1) if len(edges) else None
    valid = (
        (len(psi_index) == 0 if expected_ends is None else len(psi_index) >= 1)
        and bool(np.all(np.diff(psi_index) > 0))
        and (expected_ends is None or (psi_index[0], psi_index[-1]) == expected_ends)
    )
    if not valid:
        raise BaselineError(
            f"{where}: 'psi_edges_index' must be strictly increasing indices into edges from "
            f"0 to {len(edges) - 1}, got {psi_index.tolist()!r}"
        )


# ---- Model Monitor statistics.json -------------------------------------------------------------

_MM_NUMERIC = ("Fractional", "Integral")
_MM_TYPES = (*_MM_NUMERIC, "String")


def _load_model_monitor(doc: _Reader) -> Baseline:
    version = doc.number("version")
    rows = doc.child("dataset").integer("item_count")
    raw_features = doc.items("features")
    if not raw_features:
        raise doc.fail("features", "must list at least one feature")
    features: list[FeatureBaseline] = []
    for i, raw in enumerate(raw_features):
        f = _Reader(raw, f"statistics.json: features[{i}]")
        name = f.text("name")
        f.where = f"statistics.json: features[{i}] {name!r}"
        inferred = f.text("inferred_type", _MM_TYPES)
        if inferred in _MM_NUMERIC:
            features.append(_mm_numeric(f.child("numerical_statistics"), name))
        else:
            features.append(_mm_categorical(f.child("string_statistics"), name))
    return Baseline(
        features=tuple(features),
        rows=rows,
        created_at="",
        source={"format": "sagemaker-model-monitor", "version": version, "rows": rows},
    )


def _mm_categorical(stats: _Reader, name: str) -> CategoricalBaseline:
    missing = stats.child("common").integer("num_missing")
    buckets = stats.child("distribution").child("categorical").items("buckets")
    categories: dict[str, int] = {}
    for j, raw in enumerate(buckets):
        bucket = _Reader(raw, f"{stats.where}.distribution.categorical.buckets[{j}]")
        value = bucket.raw("value")
        label = str(value)
        categories[label] = categories.get(label, 0) + bucket.integer("count")
    return CategoricalBaseline(name, "input", sum(categories.values()), missing, categories)


def _mm_numeric(stats: _Reader, name: str) -> NumericBaseline:
    common = stats.child("common")
    present = common.integer("num_present")
    missing = common.integer("num_missing")
    mean = stats.number("mean")
    std = stats.number("std_dev")
    low = stats.number("min")
    high = stats.number("max")
    buckets = stats.child("distribution").child("kll").items("buckets")
    if present and not buckets:
        raise stats.fail("distribution.kll.buckets", "is empty; accepted: the KLL buckets")
    lows, highs, counts = [], [], []
    for j, raw in enumerate(buckets):
        bucket = _Reader(raw, f"{stats.where}.distribution.kll.buckets[{j}]")
        lows.append(bucket.number("lower_bound"))
        highs.append(bucket.number("upper_bound"))
        counts.append(round(bucket.number("count")))
        if counts[-1] < 0:
            raise bucket.fail("count", f"must be non-negative, got {counts[-1]}")
        if highs[-1] < lows[-1] or (j and lows[-1] != highs[-2]):
            raise BaselineError(
                f"{bucket.where}: buckets must be contiguous and increasing; accepted: "
                f"lower_bound = the previous upper_bound and upper_bound >= lower_bound, got "
                f"[{lows[-1]!r}, {highs[-1]!r}]"
                + (f" after upper_bound {highs[-2]!r}" if j else "")
            )
    edges = np.unique(np.array(lows + highs[-1:], dtype=np.float64))
    cells = np.zeros(2 * len(edges) + 1, dtype=np.int64)
    for lo, hi, n in zip(lows, highs, counts, strict=True):
        at = int(np.searchsorted(edges, lo))
        # A zero-width bucket holds one value; otherwise the count goes to the open cell, read
        # as [lower, upper): stats.ks_bounds treats the empty point cells as unknown.
        cells[2 * at + 1 if lo == hi else 2 * at + 2] += n
    total = int(cells.sum())
    psi_index = _psi_index_from_cells(cells, len(edges))
    return NumericBaseline(
        name=name,
        role="input",
        count=total,
        missing=missing,
        mean=mean,
        m2=std * std * total,
        min=low,
        max=high,
        edges=edges,
        counts=cells,
        psi_edges_index=psi_index,
    )


def _psi_index_from_cells(cells: IntArray, k: int) -> IntArray:
    if k == 0:
        return np.array([], dtype=np.int64)
    # Cumulative share up to each edge (inclusive of its point), then the edges where the
    # deciles are first reached.
    cum = np.cumsum(cells)[1 : 2 * k : 2] / max(int(cells.sum()), 1)
    inner = np.searchsorted(cum, _PSI_LEVELS[1:-1], side="left")
    return np.unique(np.concatenate(([0], np.minimum(inner, k - 1), [k - 1]))).astype(np.int64)
