"""Reading a training dataset into columns for `mlops drift profile` (CLI only: pyarrow).

CSV (with a header row), Parquet and JSON Lines, chosen by the file's extension (`.gz` CSV
and JSON Lines too). Numeric columns (ints, floats, booleans) become float64 with NaN for
missing; every other column becomes an object array of str with None for missing. Columns
named in `categorical` are read as text whatever their type, written as the capture shows
them: an int column's 94107 is "94107", as a CSV payload would carry it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
}
"""File extensions read, and their format."""


class DatasetError(ValueError):
    """The dataset cannot be read: unknown format, unreadable file, or unusable columns."""


def dataset_format(path: Path) -> str:
    """The format of a dataset file from its extension."""
    name = path.name.lower()
    for suffix, kind in FORMATS.items():
        if name.endswith(suffix):
            return kind
    raise DatasetError(f"{path}: unknown dataset format; accepted extensions: {', '.join(FORMATS)}")


def _read_table(path: Path, kind: str, categorical: Collection[str]) -> pa.Table:
    if kind == "csv":
        # Categorical columns stay text from the start: no 007 -> 7 on the way.
        convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(categorical, pa.string()))
        return pa_csv.read_csv(path, convert_options=convert)
    if kind == "parquet":
        return pq.read_table(path)
    return pa_json.read_json(path)


def read_dataset(path: str | Path, *, categorical: Collection[str] = ()) -> dict[str, np.ndarray]:
    """The dataset's columns, in file order: float64 (NaN missing) or object (None missing)."""
    path = Path(path)
    kind = dataset_format(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        table = _read_table(path, kind, categorical)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read it as {kind}: {exc}") from None
    if table.num_columns == 0:
        raise DatasetError(f"{path}: the dataset has no columns")
    duplicated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if duplicated:
        raise DatasetError(f"{path}: duplicated column names: {', '.join(duplicated)}")
    unknown = [c for c in categorical if c not in table.column_names]
    if unknown:
        raise DatasetError(
            f"{path}: categorical columns not in the dataset: {', '.join(map(repr, unknown))}; "
            f"its columns: {', '.join(table.column_names)}"
        )
    columns: dict[str, np.ndarray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        columns[name] = _column(path, name, column, as_text=name in categorical)
    return columns


def _column(path: Path, name: str, column: pa.ChunkedArray, *, as_text: bool) -> np.ndarray:
    kind = column.type
    if not as_text and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return _floats(column)
    if not as_text and pa.types.is_boolean(kind):
        return _floats(pc.cast(column, pa.int8()))
    if pa.types.is_null(kind):
        # An all-empty column: numeric unless declared categorical.
        if as_text:
            return np.full(len(column), None, dtype=object)
        return np.full(len(column), np.nan)
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_nested(kind):
        raise DatasetError(
            f"{path}: column {name!r} is {kind}; accepted: numbers, booleans or text"
        )
    try:
        text = column if pa.types.is_string(kind) else pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DatasetError(
            f"{path}: column {name!r} is {kind}, which cannot be read as text"
        ) from None
    values: list[Any] = text.to_pylist()
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    floats = pc.cast(column, pa.float64()).fill_null(np.nan)
    return np.asarray(floats.to_numpy(), dtype=np.float64)
