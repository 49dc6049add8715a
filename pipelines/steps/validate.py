"""ValidateData: check the training data against the declared schema, split it, profile it.

Runs in the SageMaker scikit-learn processing image (Python 3.10, pandas, numpy). Reads every
CSV (with a header) or Parquet file under the data input, checks the declared columns and the
target, splits the rows into train and test (seeded), and writes the drift baseline of the
train split with the project's drift engine. Exits non-zero with a message naming the problem.
Contract: pipelines/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BASE = Path(os.environ.get("MLOPS_PROCESSING_ROOT", "/opt/ml/processing"))


class DataError(Exception):
    """The data does not match the schema; the message says how."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema-sha256", required=True)
    parser.add_argument("--window-end", default="none")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bins", type=int, default=1000)
    return parser.parse_args(argv)


def load_schema(expected_sha256: str) -> dict:
    files = sorted((BASE / "input" / "schema").glob("*.json"))
    if len(files) != 1:
        raise DataError(f"expected one schema file in {BASE / 'input' / 'schema'}, got {files}")
    raw = files[0].read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        raise DataError(
            f"schema {files[0].name} has SHA-256 {actual}, the pipeline expects "
            f"{expected_sha256}: the uploaded schema is not the one this pipeline was planned with"
        )
    return json.loads(raw)


def read_data(directory: Path) -> pd.DataFrame:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"no data files under {directory}; accepted: CSV with a header, Parquet")
    frames = []
    for path in files:
        suffix = path.name.lower()
        if suffix.endswith((".parquet", ".pq")):
            frames.append(pd.read_parquet(path))
        elif suffix.endswith((".csv", ".csv.gz")):
            # Everything as text first: the types are checked against the schema below.
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        else:
            raise DataError(
                f"{path.name}: unknown data file type; accepted: .csv, .csv.gz, .parquet"
            )
    columns = {tuple(f.columns) for f in frames}
    if len({frozenset(c) for c in columns}) > 1:
        raise DataError(f"the data files do not have the same columns: {sorted(columns)}")
    return pd.concat(frames, ignore_index=True)


def _to_numeric(
    name: str, column: pd.Series, what: str = "column {name!r} is declared numeric"
) -> pd.Series:
    if pd.api.types.is_bool_dtype(column):
        return column.astype("float64")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    text = column.astype("string").str.strip()
    missing = text.isna() | (text == "") | text.str.lower().isin(["nan", "null", "na"])
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        examples = ", ".join(repr(v) for v in text[bad].unique()[:5])
        hint = "declare it categorical or fix the data" if "declared" in what else "fix the data"
        raise DataError(
            f"{what.format(name=name)} but {int(bad.sum())} value(s) are not numbers "
            f"(e.g. {examples}); {hint}"
        )
    return values.astype("float64")


def _to_categorical(column: pd.Series) -> pd.Series:
    text = column.astype("string")
    return text.where(~(text.isna() | (text == "")), None).astype(object)


def validate(frame: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """The frame with the declared columns in order, then the target, typed; or DataError."""
    declared = [c["name"] for c in schema["columns"]]
    target = schema["target"]
    missing = [c for c in [*declared, target] if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))}; the data has: "
            f"{', '.join(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise DataError("the data has no rows")
    out = {}
    for column in schema["columns"]:
        name = column["name"]
        if column["kind"] == "numeric":
            out[name] = _to_numeric(name, frame[name])
        else:
            out[name] = _to_categorical(frame[name])
    kind = "integer class labels 0..k-1" if schema["task"] == "classification" else "numbers"
    labels = _to_numeric(target, frame[target], f"target {{name!r}} must hold {kind}")
    if labels.isna().any():
        raise DataError(
            f"target {target!r} is missing or not finite in {int(labels.isna().sum())} row(s)"
        )
    if schema["task"] == "classification":
        if not np.all(np.mod(labels.to_numpy(), 1) == 0) or labels.min() < 0:
            raise DataError(
                f"target {target!r} must hold integer class labels 0..k-1 for a classification "
                f"metric; got values such as {sorted(labels.unique().tolist())[:5]}"
            )
        labels = labels.astype("int64")
        if labels.nunique() < 2:
            raise DataError(f"target {target!r} has a single class; at least two are needed")
    out[target] = labels
    return pd.DataFrame(out)


def split(
    frame: pd.DataFrame, test_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not 0 < test_fraction < 1:
        raise DataError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = max(1, round(len(frame) * test_fraction))
    if n_test >= len(frame):
        raise DataError(f"{len(frame)} row(s) are too few to split into train and test")
    return frame.iloc[order[n_test:]], frame.iloc[order[:n_test]]


def write_baseline(train: pd.DataFrame, schema: dict, bins: int, window_end: str) -> dict:
    """The drift baseline of the train split: the declared inputs in order, then the target as
    the model's output (`role: output`), categorical for classification (the predicted label's
    distribution is compared with the training labels), numeric for regression."""
    sys.path.insert(0, str(BASE / "input" / "engine"))
    if not hasattr(datetime, "UTC"):  # Python 3.10 (the processing image); the engine uses it
        datetime.UTC = datetime.UTC  # type: ignore[attr-defined]
    from mlops_drift.baseline import baseline_to_dict, build_baseline  # noqa: PLC0415

    target = schema["target"]
    categorical = [c["name"] for c in schema["columns"] if c["kind"] == "categorical"]
    columns = {c["name"]: train[c["name"]].to_numpy() for c in schema["columns"]}
    if schema["task"] == "classification":
        categorical.append(target)
        columns[target] = train[target].astype(str).to_numpy(dtype=object)
    else:
        columns[target] = train[target].to_numpy(dtype="float64")
    baseline = build_baseline(
        columns,
        categorical=categorical,
        outputs=[target],
        description=f"training data (train split), window end {window_end}",
        bins=bins,
    )
    return baseline_to_dict(baseline)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        schema = load_schema(args.schema_sha256)
        frame = validate(read_data(BASE / "input" / "data"), schema)
        train, test = split(frame, args.test_fraction, args.seed)
    except DataError as error:
        print(f"ValidateData: invalid training data: {error}", file=sys.stderr)
        return 2
    for name, part in (("train", train), ("test", test)):
        directory = BASE / "output" / name
        directory.mkdir(parents=True, exist_ok=True)
        part.to_csv(directory / f"{name}.csv", index=False)
    document = write_baseline(train, schema, args.bins, args.window_end)
    directory = BASE / "output" / "baseline"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "baseline.json").write_text(json.dumps(document))
    print(f"ValidateData: {len(frame)} rows valid; train {len(train)}, test {len(test)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
