"""`mlops quality check` end to end on files: exit codes, stderr, the written report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from mlops_drift.baseline import Baseline, baseline_to_dict
from mlops_drift.cli import main

from tests.quality.conftest import Record, capture_bytes, labels_bytes


@pytest.fixture
def files(baseline: Baseline, tmp_path: Path) -> dict[str, Path]:
    """A baseline, a capture folder (plain and gzip, nested by hour) and a label folder."""
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps(baseline_to_dict(baseline)))
    capture = tmp_path / "capture" / "churn-prod" / "AllTraffic" / "2026" / "11" / "27"
    (capture / "06").mkdir(parents=True)
    (capture / "07").mkdir(parents=True)
    records = [
        Record(f"e{i}", output=repr(i / 40), region=("north", "south")[i % 2], group="ab"[i % 2])
        for i in range(40)
    ]
    (capture / "06" / "part-1.jsonl").write_bytes(capture_bytes(records[:20]))
    (capture / "07" / "part-2.jsonl.gz").write_bytes(gzip.compress(capture_bytes(records[20:])))
    labels = tmp_path / "groundtruth" / "churn-prod" / "2026" / "11" / "27" / "08"
    labels.mkdir(parents=True)
    (labels / "labels.jsonl").write_bytes(
        labels_bytes([(f"e{i}", str(int(i >= 20))) for i in range(0, 40, 2)]) + b"oops\n"
    )
    return {
        "baseline": base,
        "capture": tmp_path / "capture",
        "labels": tmp_path / "groundtruth",
        "out": tmp_path / "out" / "report.json",
    }


def run(files: dict[str, Path], *extra: str) -> int:
    return main(
        [
            "quality",
            "check",
            "--baseline",
            str(files["baseline"]),
            "--capture",
            str(files["capture"]),
            "--labels",
            str(files["labels"]),
            "--out",
            str(files["out"]),
            *extra,
        ]
    )


def report(files: dict[str, Path]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files["out"].read_text())
    return document


def test_a_check_exits_0_and_writes_the_report(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(files, "--segment", "region", "--sensitive", "group", "--min-group-size", "10")
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert out == f"quality checked: 20 of 40 predictions have a label -> {files['out']}\n"
    document = report(files)
    assert document["kind"] == "mlops.quality-report"
    assert document["counts"]["capture"]["sources"] == 2
    assert document["counts"]["labels"]["malformed"] == {"not valid JSON": 1}
    assert document["overall"]["metrics"]["accuracy"]["value"] == 1.0
    assert document["overall"]["metrics"]["label_coverage"]["value"] == 0.5
    assert [s["value"] for s in document["segments"]] == ["north", "south"]
    assert document["fairness"]["attribute"] == "group"
    assert document["context"]["capture_files"] == 2


def test_no_labelled_predictions_exits_3_with_a_report(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for path in files["labels"].rglob("*.jsonl"):
        path.write_bytes(labels_bytes([("someone-else", "1")]))
    code = run(files)
    out, err = capsys.readouterr()
    assert code == 3
    assert err == ""
    assert out == (
        "no labelled predictions: none of the window's 40 predictions has a valid label "
        f"(1 ground-truth lines read, 1 without a prediction) -> {files['out']}\n"
    )
    document = report(files)
    assert document["status"] == "no_labels"
    assert document["counts"]["labels"]["unmatched"] == 1


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (
            None,
            ["--segment", "plan"],
            "segment 'plan' is not an input feature of the baseline; accepted: one of 'age', "
            "'region', 'group'",
        ),
        ("labels", [], "labels {labels}: no such file or folder"),
        (
            "baseline",
            [],
            "baseline {baseline}: not valid JSON: invalid literal, expected 'null': line 1 "
            "column 1 (char 0)",
        ),
        (None, ["--threshold", "2"], "--threshold must be in [0, 1], got 2.0"),
        (None, ["--min-group-size", "0"], "--min-group-size must be at least 1, got 0"),
        (
            None,
            ["--problem", "regression", "--sensitive", "group"],
            "sensitive: fairness needs a classification problem (positive predictions); "
            "accepted: problem='classification'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    change: str | None,
    args: list[str],
    message: str,
) -> None:
    if change == "labels":
        files["labels"] = files["labels"].parent / "missing"
    elif change == "baseline":
        files["baseline"].write_text("not json")
    code = run(files, *args)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    expected = message.format(labels=files["labels"], baseline=files["baseline"])
    assert err == f"mlops: error: {expected}\n"
    assert not files["out"].exists()


def test_regression_from_the_command_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(files, "--problem", "regression") == 0
    capsys.readouterr()
    metrics = report(files)["overall"]["metrics"]
    assert set(metrics) == {"label_coverage", "mae", "rmse", "r2"}
