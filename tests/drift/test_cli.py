"""`mlops drift profile|check` end to end on files: datasets, folders of capture, exit codes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlops_drift.cli import (
    EXIT_BAD_INPUT,
    EXIT_DRIFT,
    EXIT_INSUFFICIENT,
    EXIT_OK,
    capture_files,
    main,
)
from mlops_drift.datasets import DatasetError, read_dataset

ROOT = Path(__file__).resolve().parents[2]
N = 3000


def training(seed: int = 1) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    return {
        "age": rng.integers(18, 80, N).tolist(),
        "income": np.round(rng.lognormal(10.8, 0.4, N), 2).tolist(),
        "plan": rng.choice(["monthly", "yearly", "two-year"], N).tolist(),
        "zip": rng.choice([94107, 10001, 60601], N).tolist(),
        "score": np.round(rng.random(N), 4).tolist(),
    }


def write_csv(path: Path, data: dict[str, list[Any]]) -> Path:
    names = list(data)
    rows = zip(*data.values(), strict=True)
    path.write_text(
        ",".join(names) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    )
    return path


def capture_line(record: list[Any], score: float) -> bytes:
    return orjson.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": ",".join(map(str, record)),
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": str(score),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-27T10:00:00Z"},
            "eventVersion": "0",
        }
    )


def write_capture(path: Path, n: int, *, shift: float = 0.0, seed: int = 2) -> Path:
    """SageMaker-style capture of `n` invocations; `shift` moves age and income."""
    rng = np.random.default_rng(seed)
    lines = [
        capture_line(
            [
                int(rng.integers(18, 80) + 30 * shift),
                round(float(rng.lognormal(10.8 + shift, 0.4)), 2),
                str(rng.choice(["monthly", "yearly", "two-year"])),
                int(rng.choice([94107, 10001, 60601])),
            ],
            round(float(rng.random()), 4),
        )
        for _ in range(n)
    ]
    content = b"\n".join(lines) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.name.endswith(".gz") else content)
    return path


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    data = write_csv(tmp_path / "train.csv", training())
    out = tmp_path / "baseline.json"
    code = main(["drift", "profile", "--data", str(data), "--out", str(out),
                 "--categorical", "zip", "--output-column", "score"])  # fmt: skip
    assert code == EXIT_OK
    return out


def run_check(baseline: Path, capture: Path, tmp_path: Path, *extra: str) -> int:
    return main(["drift", "check", "--baseline", str(baseline), "--capture", str(capture),
                 "--out", str(tmp_path / "report.json"), *extra])  # fmt: skip


def report(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    return document


# ---- datasets ----------------------------------------------------------------------------------


def test_read_dataset_csv_parquet_jsonl_agree(tmp_path: Path) -> None:
    data = training()
    data["income"][5] = None  # type: ignore[call-overload]
    data["plan"][7] = None  # type: ignore[call-overload]
    csv_text = write_csv(tmp_path / "d.csv", data).read_text().replace("None", "")
    (tmp_path / "d.csv").write_text(csv_text)
    pq.write_table(pa.table(data), tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_bytes(
        b"\n".join(orjson.dumps(dict(zip(data, row, strict=True)))
                   for row in zip(*data.values(), strict=True))
    )  # fmt: skip

    read = [read_dataset(tmp_path / f"d.{ext}", categorical=["zip"]) for ext in
            ("csv", "parquet", "jsonl")]  # fmt: skip
    for columns in read:
        assert list(columns) == ["age", "income", "plan", "zip", "score"]
        assert columns["age"].dtype == np.float64
        assert np.isnan(columns["income"][5])
        assert columns["plan"].dtype == object
        assert columns["plan"][7] in (None, "")
        # A numeric column declared categorical reads as the text a capture would carry.
        assert set(columns["zip"].tolist()) == {"94107", "10001", "60601"}
        np.testing.assert_array_equal(columns["score"], read[0]["score"])


def test_read_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset format; accepted extensions: \.csv"):
        read_dataset(tmp_path / "train.xlsx")
    with pytest.raises(DatasetError, match="no such file"):
        read_dataset(tmp_path / "absent.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="cannot read it as parquet"):
        read_dataset(tmp_path / "broken.parquet")
    write_csv(tmp_path / "ok.csv", {"a": [1, 2]})
    with pytest.raises(DatasetError, match="categorical columns not in the dataset: 'b'"):
        read_dataset(tmp_path / "ok.csv", categorical=["b"])


# ---- profile -----------------------------------------------------------------------------------


def test_profile_writes_a_loadable_baseline(
    baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(baseline.read_text())
    kinds = {f["name"]: (f["role"], f["kind"]) for f in document["features"]}
    assert kinds == {
        "age": ("input", "numeric"),
        "income": ("input", "numeric"),
        "plan": ("input", "categorical"),  # text: categorical without being named
        "zip": ("input", "categorical"),
        "score": ("output", "numeric"),
    }
    zip_feature = next(f for f in document["features"] if f["name"] == "zip")
    assert set(zip_feature["categories"]) == {"94107", "10001", "60601"}


def test_profile_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "train.csv", training())
    code = main(["drift", "profile", "--data", str(data), "--out", str(tmp_path / "b.json"),
                 "--output-column", "label"])  # fmt: skip
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("mlops: error: --output-column names columns not in")
    assert err.count("\n") == 1


# ---- check -------------------------------------------------------------------------------------


def test_no_drift_exits_0(baseline: Path, tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "cap" / "part-0.jsonl", 2000)
    html = tmp_path / "report.html"
    assert run_check(baseline, capture, tmp_path, "--html", str(html)) == EXIT_OK
    document = report(tmp_path)
    assert (document["status"], document["drift"], document["rows"]) == ("ok", False, 2000)
    assert "<svg" in html.read_text()


def test_drift_exits_1_and_reads_folders_recursively(baseline: Path, tmp_path: Path) -> None:
    folder = tmp_path / "capture"
    # As SageMaker lays capture out: endpoint/variant/YYYY/MM/DD/HH/<file without extension>.
    write_capture(folder / "AllTraffic/2026/11/27/10/10-05-123-4a5b6c7d", 600, shift=1.0)
    write_capture(folder / "AllTraffic/2026/11/27/11/part.jsonl.gz", 600, shift=1.0, seed=3)
    write_capture(folder / "Shadow/2026/11/27/10/part.jsonl", 600, shift=1.0, seed=4)
    (folder / "AllTraffic/notes.txt").write_text("not capture")
    (folder / "AllTraffic/.hidden").write_text("not capture")

    assert len(capture_files(folder)) == 3
    assert run_check(baseline, folder, tmp_path, "--critical", "age") == EXIT_DRIFT
    document = report(tmp_path)
    assert document["drift"] is True
    assert document["rows"] == 1800
    assert document["context"]["files"] == 3
    assert document["features"][0]["name"] == "age"  # critical and drifted: first


def test_insufficient_data_exits_3(baseline: Path, tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "cap.jsonl", 50)
    assert run_check(baseline, capture, tmp_path) == EXIT_INSUFFICIENT
    assert report(tmp_path)["status"] == "insufficient_data"
    # With the minimum lowered the same window gets a verdict (PSI on 50 values is noisy).
    assert run_check(baseline, capture, tmp_path, "--min-rows", "50") in (EXIT_OK, EXIT_DRIFT)
    assert report(tmp_path)["status"] == "ok"


def test_thresholds_inline_file_and_per_feature(baseline: Path, tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "cap.jsonl", 2000, shift=1.0)
    loose = '{"psi": 100, "wasserstein": 100, "js": 1, "missing_rate_delta": 1}'
    assert run_check(baseline, capture, tmp_path, "--thresholds", loose) == EXIT_OK
    file = tmp_path / "t.json"
    file.write_text(json.dumps({"drift_share": 1.0, "features": {"age": {"psi": 0.01}}}))
    assert run_check(baseline, capture, tmp_path, "--thresholds", str(file)) == EXIT_OK
    age = next(f for f in report(tmp_path)["features"] if f["name"] == "age")
    assert age["thresholds"]["psi"] == 0.01


def test_malformed_lines_are_reported(baseline: Path, tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "cap.jsonl", 500)
    with capture.open("ab") as f:
        f.write(b'{"captureData": {"endpointInput": trunc\n')
    assert run_check(baseline, capture, tmp_path, "--min-rows", "10") == EXIT_OK
    malformed = report(tmp_path)["malformed"]
    assert malformed["count"] == 1
    assert malformed["examples"][0]["line"] == 501


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing_baseline", "mlops: error: baseline {tmp}/absent.json: no such file"),
        ("corrupt_baseline", "mlops: error: baseline {tmp}/corrupt.json: not valid JSON"),
        ("invalid_baseline", "mlops: error: baseline {tmp}/invalid.json: "),
        ("missing_capture", "mlops: error: capture {tmp}/nowhere: no such file or folder"),
        ("bad_thresholds", "mlops: error: --thresholds: 'psi' must be a non-negative number"),
        ("unknown_threshold", "mlops: error: --thresholds: unknown key 'psy'"),
        ("bad_critical", "mlops: error: --critical names features not in the baseline: 'agee'"),
        ("schema_mismatch", "mlops: error: the capture does not match the baseline: 300 of 300"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    setup: str, message: str, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_capture(tmp_path / "cap.jsonl", 300)
    base, extra = baseline, []
    if setup == "missing_baseline":
        base = tmp_path / "absent.json"
    elif setup == "corrupt_baseline":
        base = tmp_path / "corrupt.json"
        base.write_text('{"schema_version": 1, "features": [')
    elif setup == "invalid_baseline":
        base = tmp_path / "invalid.json"
        base.write_text('{"schema_version": 99}')
    elif setup == "missing_capture":
        capture = tmp_path / "nowhere"
    elif setup == "bad_thresholds":
        extra = ["--thresholds", '{"psi": -1}']
    elif setup == "unknown_threshold":
        extra = ["--thresholds", '{"psy": 0.1}']
    elif setup == "bad_critical":
        extra = ["--critical", "agee"]
    elif setup == "schema_mismatch":
        capture.write_bytes(
            b"\n".join(capture_line([1, 2, "monthly"], 0.5) for _ in range(300)) + b"\n"
        )

    assert run_check(base, capture, tmp_path, *extra) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(message.format(tmp=tmp_path))
    assert err.count("\n") == 1
    if setup == "schema_mismatch":
        document = report(tmp_path)
        assert (document["status"], document["drift"]) == ("schema_mismatch", None)
        assert "input record has 3 fields, the baseline has 4 inputs" in document["message"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["drift", "check", "--baseline", "b.json"])
    assert caught.value.code == EXIT_BAD_INPUT
    assert "required" in capsys.readouterr().err


# ---- the installed command ---------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "lambdas" / "drift_check"), env.get("PYTHONPATH", "")]
    )
    return env


def _command_cases(tmp_path: Path, baseline: Path) -> list[tuple[list[str], int]]:
    steady = write_capture(tmp_path / "steady.jsonl", 1000)
    shifted = write_capture(tmp_path / "shifted.jsonl", 1000, shift=1.0)
    common = ["drift", "check", "--baseline", str(baseline), "--out", str(tmp_path / "r.json")]
    return [
        ([*common, "--capture", str(steady), "--html", str(tmp_path / "r.html")], EXIT_OK),
        ([*common, "--capture", str(shifted)], EXIT_DRIFT),
        ([*common, "--capture", str(steady), "--min-rows", "5000"], EXIT_INSUFFICIENT),
        ([*common, "--capture", str(tmp_path / "nowhere")], EXIT_BAD_INPUT),
    ]


def test_module_entry_point_exit_codes(baseline: Path, tmp_path: Path) -> None:
    for args, code in _command_cases(tmp_path, baseline):
        done = subprocess.run(
            [sys.executable, "-m", "mlops_drift.cli", *args],
            capture_output=True,
            text=True,
            env=_subprocess_env(),
            check=False,
        )
        assert done.returncode == code, done.stderr


def test_installed_console_script_exit_codes(baseline: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mlops"
    if not script.exists():
        pytest.skip("the mlops console script is not installed (make setup installs it)")
    for args, code in _command_cases(tmp_path, baseline):
        done = subprocess.run([str(script), *args], capture_output=True, text=True, check=False)
        assert done.returncode == code, done.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
