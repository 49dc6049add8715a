"""Evaluate: score the test split with the trained model and write evaluation.json.

Runs in the training image (it unpickles the model with the libraries that pickled it) and
needs only numpy: the metrics are computed here, not with scikit-learn, so any framework image
can run it. Output: `{"metrics": {"<name>": {"value": v}}}` (SageMaker model-quality shape).
Classification: accuracy, precision, recall, f1 (binary: of class 1; multiclass: macro
averages) and auc (binary, from predict_proba or decision_function). Regression: rmse, mae,
r2. Contract: pipelines/README.md.
"""

# ruff: noqa: PLC0415 - joblib and pandas are optional.

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np

BASE = Path(os.environ.get("MLOPS_PROCESSING_ROOT", "/opt/ml/processing"))
MODEL_FILES = ("model.joblib", "model.pkl")


class EvaluationError(Exception):
    pass


def load_model(directory: Path):
    archive = directory / "model.tar.gz"
    if archive.exists():
        target = directory / "extracted"
        with tarfile.open(archive) as tar:
            if sys.version_info >= (3, 12):
                tar.extractall(target, filter="data")
            else:
                tar.extractall(target)  # noqa: S202 - our own training job's artifact
        directory = target
    for name in MODEL_FILES:
        path = directory / name
        if path.exists():
            try:
                import joblib
            except ImportError:
                joblib = None
            if joblib is not None:
                return joblib.load(path)
            with path.open("rb") as handle:
                return pickle.load(handle)  # noqa: S301 - our own training job's artifact
    raise EvaluationError(f"no {' or '.join(MODEL_FILES)} in the model artifact")


def read_test(directory: Path, schema: dict):
    files = sorted(directory.rglob("*.csv"))
    if not files:
        raise EvaluationError(f"no CSV test split under {directory}")
    names = [c["name"] for c in schema["columns"]]
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    rows = []
    for path in files:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows.extend(reader)
    target = schema["target"]
    y = np.array([float(r[target]) for r in rows])
    features = [
        [(float(r[n]) if r[n] != "" else np.nan) if kinds[n] == "numeric" else r[n] for n in names]
        for r in rows
    ]
    try:
        import pandas as pd

        x = pd.DataFrame(features, columns=names)
    except ImportError:
        x = np.array(features, dtype=object)
    return x, y


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=float)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic: P(score of a positive > of a negative)."""
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise EvaluationError("auc needs both classes in the test split")
    ranks = _ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def classification_metrics(y: np.ndarray, predicted: np.ndarray, score) -> dict[str, float]:
    y = y.astype(int)
    predicted = np.asarray(predicted).astype(int)
    classes = np.union1d(y, predicted)
    metrics = {"accuracy": float(np.mean(predicted == y))}
    per_class = []
    for c in classes if len(classes) > 2 else [1]:
        tp = float(np.sum((predicted == c) & (y == c)))
        fp = float(np.sum((predicted == c) & (y != c)))
        fn = float(np.sum((predicted != c) & (y == c)))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_class.append((precision, recall, _ratio(2 * precision * recall, precision + recall)))
    metrics["precision"], metrics["recall"], metrics["f1"] = (
        float(np.mean([p[i] for p in per_class])) for i in range(3)
    )
    if score is not None and len(np.unique(y)) == 2:
        metrics["auc"] = auc(y, np.asarray(score, dtype=float))
    return metrics


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    predicted = np.asarray(predicted, dtype=float).reshape(-1)
    error = predicted - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - float(np.sum(error**2)) / total if total else 0.0,
    }


def evaluate(model, x, y: np.ndarray, task: str) -> dict[str, float]:
    predicted = model.predict(x)
    if task == "regression":
        return regression_metrics(y, predicted)
    score = None
    if hasattr(model, "predict_proba"):
        score = np.asarray(model.predict_proba(x))[:, -1]
    elif hasattr(model, "decision_function"):
        score = np.asarray(model.decision_function(x)).reshape(-1)
    return classification_metrics(y, predicted, score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema-sha256", required=True)
    args = parser.parse_args(argv)
    try:
        (schema_file,) = sorted((BASE / "input" / "schema").glob("*.json"))
        raw = schema_file.read_bytes()
        if hashlib.sha256(raw).hexdigest() != args.schema_sha256:
            raise EvaluationError(
                "the uploaded schema is not the one this pipeline was planned with"
            )
        schema = json.loads(raw)
        model = load_model(BASE / "input" / "model")
        x, y = read_test(BASE / "input" / "test", schema)
        metrics = evaluate(model, x, y, schema["task"])
    except EvaluationError as error:
        print(f"Evaluate: {error}", file=sys.stderr)
        return 2
    out = BASE / "output" / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    document = {"metrics": {k: {"value": v} for k, v in sorted(metrics.items())}}
    (out / "evaluation.json").write_text(json.dumps(document, indent=1))
    print(f"Evaluate: {json.dumps(document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
