"""Example training script (churn): scikit-learn, SageMaker script mode.

Reads the `train` channel (train.csv with a header: the declared columns, then the target),
fits a gradient-boosting classifier in a pipeline with one-hot encoding, and writes
`model.joblib` into SM_MODEL_DIR, with this script copied to `code/` so that the framework's
serving container loads it (model_fn, predict_fn) without network. Checkpoints: the fitted
model is written to /opt/ml/checkpoints and reused when a Spot-interrupted job restarts.
MLflow: parameters and metrics are logged when MLFLOW_TRACKING_URI is set and mlflow is
installed. Contract: pipelines/README.md.
"""

# ruff: noqa: PLC0415 - scikit-learn, joblib and mlflow are imported where used.

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

CHECKPOINT_DIR = Path(os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints"))
MODEL_FILE = "model.joblib"
COLUMNS_FILE = "columns.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    # SageMaker's training toolkit passes each hyperparameter as `--<name> <value>` with the
    # name as the stack config spells it; both spellings are accepted.
    parser.add_argument("--n_estimators", "--n-estimators", type=int, default=100)
    parser.add_argument("--learning_rate", "--learning-rate", type=float, default=0.1)
    parser.add_argument("--max_depth", "--max-depth", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument(
        "--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    )
    return parser.parse_args(argv)


def _mlflow():
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    try:
        import mlflow
    except ImportError:
        print(
            "MLFLOW_TRACKING_URI is set but mlflow is not installed; not logging", file=sys.stderr
        )
        return None
    return mlflow


def build_model(args, frame):
    # Imported here: the module must import without scikit-learn (its tests run without it).
    from pandas.api.types import is_numeric_dtype
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    # Text is `object` (pandas 2) or `str` (pandas 3), and may be `category`: encode whatever
    # is not numeric.
    categorical = [c for c in frame.columns if not is_numeric_dtype(frame[c])]
    encode = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)],
        remainder="passthrough",
    )
    classifier = HistGradientBoostingClassifier(
        max_iter=args.n_estimators,
        learning_rate=args.learning_rate,
        max_depth=args.max_depth,
        random_state=args.seed,
    )
    return Pipeline([("encode", encode), ("classify", classifier)])


def main(argv=None) -> int:
    import joblib
    import pandas as pd

    args = parse_args(argv)
    frame = pd.concat(pd.read_csv(p) for p in sorted(Path(args.train).glob("*.csv")))
    y = frame.pop(args.target)
    checkpoint = CHECKPOINT_DIR / MODEL_FILE
    if checkpoint.exists():
        print(f"resuming from checkpoint {checkpoint}")
        model = joblib.load(checkpoint)
    else:
        model = build_model(args, frame)
        model.fit(frame, y)
        CHECKPOINT_DIR.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, checkpoint)
    accuracy = float((model.predict(frame) == y).mean())
    print(json.dumps({"train_accuracy": accuracy}))

    model_dir = Path(args.model_dir)
    joblib.dump(model, model_dir / MODEL_FILE)
    (model_dir / "code").mkdir(exist_ok=True)
    shutil.copy(__file__, model_dir / "code" / Path(__file__).name)
    # Batch and endpoint input is CSV without a header: the column names travel with the code.
    (model_dir / "code" / COLUMNS_FILE).write_text(json.dumps(list(frame.columns)))

    mlflow = _mlflow()
    if mlflow is not None:
        with mlflow.start_run(run_name=os.environ.get("MLOPS_PIPELINE_EXECUTION_ID")):
            mlflow.set_tag("trigger_reason", os.environ.get("MLOPS_TRIGGER_REASON", ""))
            mlflow.log_params(
                {k: v for k, v in vars(args).items() if k not in ("model_dir", "train")}
            )
            mlflow.log_metric("train_accuracy", accuracy)
    return 0


# ---- serving (the framework's inference container imports this module) -------------------------


def model_fn(model_dir):
    import joblib

    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body, content_type):
    """CSV lines without a header, the declared columns in order."""
    import io

    import pandas as pd

    if content_type != "text/csv":
        raise ValueError(f"unsupported content type {content_type!r}; accepted: text/csv")
    names = json.loads((Path(__file__).parent / COLUMNS_FILE).read_text())
    text = body.decode() if isinstance(body, bytes) else body
    return pd.read_csv(io.StringIO(text), header=None, names=names)


def predict_fn(data, model):
    """The predicted class label: the drift baseline's output column is the label."""
    return model.predict(data)


if __name__ == "__main__":
    sys.exit(main())
