"""The processing steps' scripts, run as the containers run them, on small files in tmp dirs.

They run on the SDK environment's interpreter (.venv-sagemaker): like the scikit-learn
processing image, it has pandas and numpy, which the program's environment does not (pandas
came into it with the SDK). Its numpy is the dev pins' version, so the tiny models pickled
here unpickle there."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlops_drift.baseline import load_baseline
from scipy import stats

from components import sagemaker_sdk
from components.pipeline_definition import schema_document
from tests.training.test_pipeline_definition import make_inputs
from tests.training.tiny_models import LinearRegressor, ThresholdClassifier

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "pipelines" / "steps"
ENGINE = ROOT / "lambdas" / "drift_check" / "mlops_drift"

GOOD_CSV = "age,plan,churned\n" + "".join(
    f"{20 + i},{'basic' if i % 3 else 'pro'},{int(i % 4 == 0)}\n" for i in range(40)
)


def processing_root(tmp_path: Path, schema: str) -> Path:
    root = tmp_path / "processing"
    (root / "input" / "schema").mkdir(parents=True)
    (root / "input" / "schema" / "schema.json").write_text(schema)
    shutil.copytree(ENGINE, root / "input" / "engine" / "mlops_drift")
    return root


def run_step(script: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The step as its container runs it: a plain interpreter with pandas and numpy."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MLOPS_PROCESSING_ROOT": str(root),
        # The tiny models' module, for unpickling; not the drift engine (the step adds it).
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [str(sagemaker_sdk.require_python()), str(STEPS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---- validate.py ------------------------------------------------------------------------------


def validate(tmp_path: Path, data: dict[str, str | bytes], **changes: Any) -> tuple[Path, Any]:
    schema = schema_document(make_inputs(**changes))
    root = processing_root(tmp_path, schema)
    (root / "input" / "data").mkdir(parents=True)
    for name, content in data.items():
        path = root / "input" / "data" / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root, run_step("validate.py", root, "--schema-sha256", sha(schema), "--window-end", "w1")


def test_validate_good_data(tmp_path: Path) -> None:
    root, result = validate(tmp_path, {"part-0.csv": GOOD_CSV})
    assert result.returncode == 0, result.stderr
    train = (root / "output" / "train" / "train.csv").read_text().splitlines()
    test = (root / "output" / "test" / "test.csv").read_text().splitlines()
    assert train[0] == test[0] == "age,plan,churned"
    assert (len(train) - 1, len(test) - 1) == (32, 8)
    ages = sorted(float(line.split(",")[0]) for line in train[1:] + test[1:])
    assert ages == [float(20 + i) for i in range(40)]
    document = json.loads((root / "output" / "baseline" / "baseline.json").read_text())
    baseline = load_baseline(document)
    assert [(f.name, f.role) for f in baseline.features] == [
        ("age", "input"),
        ("plan", "input"),
        ("churned", "output"),
    ]
    assert baseline.rows == 32
    assert "w1" in document["source"]["description"]
    # Seeded: the same data gives the same split.
    again, _ = validate(tmp_path / "again", {"part-0.csv": GOOD_CSV})
    assert (again / "output" / "test" / "test.csv").read_text() == "\n".join(test) + "\n"


def test_validate_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "age": [float(20 + i) for i in range(20)],
            "plan": ["basic", "pro"] * 10,
            "churned": [i % 2 for i in range(20)],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    root, result = validate(tmp_path, {"data.parquet": sink.getvalue()})
    assert result.returncode == 0, result.stderr
    assert (root / "output" / "baseline" / "baseline.json").exists()


def test_validate_regression_target_is_numeric_output(tmp_path: Path) -> None:
    root, result = validate(tmp_path, {"d.csv": GOOD_CSV}, metric_name="rmse")
    assert result.returncode == 0, result.stderr
    document = json.loads((root / "output" / "baseline" / "baseline.json").read_text())
    assert document["features"][-1]["kind"] == "numeric"
    assert document["features"][-1]["role"] == "output"


def test_validate_missing_column(tmp_path: Path) -> None:
    data = "age,churned\n" + "".join(f"{i},{i % 2}\n" for i in range(10))
    root, result = validate(tmp_path, {"d.csv": data})
    assert result.returncode == 2
    assert "missing column(s) 'plan'" in result.stderr
    assert not (root / "output").exists()


def test_validate_wrong_type(tmp_path: Path) -> None:
    data = GOOD_CSV.replace("\n25,", "\ntwenty-five,", 1)
    _, result = validate(tmp_path, {"d.csv": data})
    assert result.returncode == 2
    assert "column 'age' is declared numeric" in result.stderr
    assert "'twenty-five'" in result.stderr


def test_validate_bad_labels(tmp_path: Path) -> None:
    data = GOOD_CSV.replace(",1\n", ",yes\n", 1)
    _, result = validate(tmp_path, {"d.csv": data})
    assert result.returncode == 2
    assert "target 'churned'" in result.stderr


def test_validate_stale_schema(tmp_path: Path) -> None:
    root = processing_root(tmp_path, schema_document(make_inputs()))
    (root / "input" / "data").mkdir()
    (root / "input" / "data" / "d.csv").write_text(GOOD_CSV)
    result = run_step("validate.py", root, "--schema-sha256", "0" * 64)
    assert result.returncode == 2
    assert "not the one this pipeline was planned with" in result.stderr


# ---- evaluate.py ------------------------------------------------------------------------------

TEST_ROWS = [
    (25, "basic", 0), (31, "pro", 1), (47, "basic", 1), (52, "pro", 0), (38, "basic", 1),
    (61, "pro", 1), (29, "basic", 0), (44, "pro", 0), (38, "pro", 0), (70, "basic", 1),
]  # fmt: skip


def evaluate(tmp_path: Path, model: object, **changes: Any) -> tuple[dict[str, float], Any]:
    schema = schema_document(make_inputs(**changes))
    root = processing_root(tmp_path, schema)
    (root / "input" / "test").mkdir(parents=True)
    lines = ["age,plan,churned"] + [f"{a},{p},{c}" for a, p, c in TEST_ROWS]
    (root / "input" / "test" / "test.csv").write_text("\n".join(lines) + "\n")
    model_dir = root / "input" / "model"
    model_dir.mkdir(parents=True)
    payload = pickle.dumps(model)
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model.pkl")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    result = run_step("evaluate.py", root, "--schema-sha256", sha(schema))
    if result.returncode:
        return {}, result
    document = json.loads((root / "output" / "evaluation" / "evaluation.json").read_text())
    return {k: v["value"] for k, v in document["metrics"].items()}, result


def test_evaluate_classification(tmp_path: Path) -> None:
    metrics, result = evaluate(tmp_path, ThresholdClassifier(cut=40))
    assert result.returncode == 0, result.stderr
    age = np.array([r[0] for r in TEST_ROWS], dtype=float)
    y = np.array([r[2] for r in TEST_ROWS])
    predicted = (age >= 40).astype(int)
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    assert (tp, fp, fn) == (3, 2, 2)
    precision, recall = 3 / 5, 3 / 5
    # AUC is the Mann-Whitney U of the positives' scores over n+ n- (ties count a half; the
    # scores hold a tie across classes: 38 is both a positive and a negative).
    u = stats.mannwhitneyu(age[y == 1], age[y == 0]).statistic
    assert metrics == pytest.approx(
        {
            "accuracy": 6 / 10,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
            "auc": u / (5 * 5),
        },
        abs=1e-12,
    )
    assert metrics["auc"] == pytest.approx(0.74, abs=1e-12)  # 18.5 of 25 pairs


def test_evaluate_regression(tmp_path: Path) -> None:
    metrics, result = evaluate(tmp_path, LinearRegressor(0.02, -0.3), metric_name="rmse")
    assert result.returncode == 0, result.stderr
    age = np.array([r[0] for r in TEST_ROWS], dtype=float)
    y = np.array([r[2] for r in TEST_ROWS], dtype=float)
    error = 0.02 * age - 0.3 - y
    assert metrics == pytest.approx(
        {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
            "r2": 1 - float(np.sum(error**2)) / float(np.sum((y - y.mean()) ** 2)),
        },
        abs=1e-12,
    )
    linear = stats.linregress(0.02 * age - 0.3, y)
    assert metrics["r2"] <= linear.rvalue**2  # the fitted line does at least as well


def test_evaluate_without_model_file(tmp_path: Path) -> None:
    schema = schema_document(make_inputs())
    root = processing_root(tmp_path, schema)
    (root / "input" / "model").mkdir(parents=True)
    with tarfile.open(root / "input" / "model" / "model.tar.gz", "w:gz"):
        pass
    (root / "input" / "test").mkdir(parents=True)
    (root / "input" / "test" / "test.csv").write_text("age,plan,churned\n1,a,0\n")
    result = run_step("evaluate.py", root, "--schema-sha256", sha(schema))
    assert result.returncode == 2
    assert "no model.joblib or model.pkl" in result.stderr


# ---- latest_approved.py and train.py -----------------------------------------------------------


class FakeSageMaker:
    def __init__(self, arns: list[str]) -> None:
        self.arns = arns
        self.calls: list[dict[str, Any]] = []

    def list_model_packages(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"ModelPackageSummaryList": [{"ModelPackageArn": a} for a in self.arns[:1]]}


def test_latest_approved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(STEPS))
    try:
        import latest_approved
    finally:
        sys.path.remove(str(STEPS))
    monkeypatch.setattr(latest_approved, "BASE", tmp_path)
    arn = "arn:aws:sagemaker:eu-central-1:210987654321:model-package/zz-churn-group/7"
    client = FakeSageMaker([arn])
    assert latest_approved.main(["--model-package-group", "g", "--region", "r"], client) == 0
    assert json.loads((tmp_path / "output/package/package.json").read_text()) == {
        "ModelPackageArn": arn
    }
    assert client.calls[0]["ModelApprovalStatus"] == "Approved"
    assert client.calls[0]["SortOrder"] == "Descending"
    assert (
        latest_approved.main(["--model-package-group", "g", "--region", "r"], FakeSageMaker([]))
        == 2
    )


def test_train_script_imports_without_sklearn() -> None:
    code = "import runpy; m = runpy.run_path('pipelines/churn/train.py'); print(m['MODEL_FILE'])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "model.joblib"


@pytest.mark.parametrize(
    "argv",
    [
        # as the shipped stacks spell them (the training toolkit passes names unchanged)
        ["--target", "churned", "--n-estimators", "200", "--max-depth", "8"],
        ["--target", "churned", "--n_estimators", "200", "--max_depth", "8"],
    ],
)
def test_train_script_accepts_both_hyperparameter_spellings(argv: list[str]) -> None:
    code = (
        "import runpy, sys; m = runpy.run_path('pipelines/churn/train.py'); "
        f"a = m['parse_args']({argv!r}); print(a.n_estimators, a.max_depth, a.learning_rate)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["200", "8", "0.1"]


@pytest.mark.parametrize("text_dtype", ["object", "str", "category"])
def test_train_script_encodes_every_non_numeric_column(text_dtype: str) -> None:
    """pandas < 3 (the images') reads text as `object`, pandas 3 as `str`, and a column may be
    `category`: all are encoded.
    Run on the scikit-learn image's stand-in (loop.pipeline: the SDK environment's pandas 3
    with this environment's scikit-learn)."""
    from loop.pipeline import image_python

    python, overlay = image_python()
    code = (
        "import runpy, pandas as pd; m = runpy.run_path('pipelines/churn/train.py'); "
        f"f = pd.DataFrame({{'plan': pd.Series(['basic', 'pro'], dtype={text_dtype!r}), "
        "'age': [31, 47], 'charges': [10.5, 20.0], 'paperless': [True, False]}); "
        "model = m['build_model'](m['parse_args'](['--target', 'churned']), f); "
        "print([(n, c) for n, _, c in model.steps[0][1].transformers])"
    )
    out = subprocess.run(
        [str(python), "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(overlay)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[('categorical', ['plan'])]"
