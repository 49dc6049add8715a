"""`python -m serving_sidecar.fetch`: the model package's model.tar.gz, from SageMaker's
registry and S3 (moto), safely into MODEL_DIR; one clear log line for each bad input."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from serving_sidecar import fetch, settings

from tests.serving_sidecar.conftest import REGION

MODEL_BUCKET = "mlops-dev-models-123456789012"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1"
FILES = {
    "model.joblib": b"\x80\x04binary model\x00\xff",
    "code/inference.py": b"def model_fn(model_dir):\n    return None\n",
    "metadata.json": b'{"framework": "sklearn"}',
}


def tar_gz(members: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


@dataclass
class Registry:
    sagemaker: Any
    s3: Any

    def package(self, url: str | None, group: str = "churn") -> str:
        """A model package whose first container has `url` as ModelDataUrl (or none)."""
        container: dict[str, str] = {"Image": IMAGE}
        if url is not None:
            container["ModelDataUrl"] = url
        with contextlib.suppress(self.sagemaker.exceptions.ClientError):
            self.sagemaker.create_model_package_group(ModelPackageGroupName=group)
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        return arn

    def upload(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=body)
        return f"s3://{MODEL_BUCKET}/{key}"


@pytest.fixture
def registry(aws: None) -> Registry:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=MODEL_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return Registry(boto3.client("sagemaker", region_name=REGION), s3)


def run(arn: str | None, model_dir: Path | str | None) -> int:
    environ = {}
    if arn is not None:
        environ[settings.ENV_MODEL_PACKAGE_ARN] = arn
    if model_dir is not None:
        environ[settings.ENV_MODEL_DIR] = str(model_dir)
    return fetch.main(environ)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one log line a failed fetch prints: its message."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1, lines
    message: str = errors[0]["message"]
    return message


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != settings.FETCH_MARKER
    }


# ---- the happy path ---------------------------------------------------------------------------


def test_the_model_is_fetched_and_extracted(registry: Registry, tmp_path: Path) -> None:
    # GIVEN a registered package whose model data is a real model.tar.gz in S3
    url = registry.upload("churn/v1/model.tar.gz", tar_gz(FILES))
    arn = registry.package(url)
    model_dir = tmp_path / "model"
    # WHEN the initContainer runs
    assert run(arn, model_dir) == 0
    # THEN MODEL_DIR holds exactly the archive's files, and the marker names the package
    assert tree(model_dir) == FILES
    marker = json.loads((model_dir / settings.FETCH_MARKER).read_text())
    assert marker == {"modelPackageArn": arn, "modelDataUrl": url}
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(
        ["code", "metadata.json", "model.joblib", settings.FETCH_MARKER]
    )


def test_a_second_run_for_the_same_package_does_nothing(registry: Registry, tmp_path: Path) -> None:
    arn = registry.package(registry.upload("churn/v1/model.tar.gz", tar_gz(FILES)))
    config = fetch.FetchConfig(arn, tmp_path)
    assert fetch.fetch(config, registry.sagemaker, registry.s3) is True
    # WHEN it runs again with clients that would fail on any call
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(sagemaker), Stubber(s3):
        assert fetch.fetch(config, sagemaker, s3) is False
    assert tree(tmp_path) == FILES


def test_another_package_replaces_the_model(registry: Registry, tmp_path: Path) -> None:
    first = registry.package(registry.upload("churn/v1/model.tar.gz", tar_gz(FILES)))
    second = registry.package(registry.upload("churn/v2/model.tar.gz", tar_gz({"v2.bin": b"2"})))
    assert run(first, tmp_path) == 0
    assert run(second, tmp_path) == 0
    assert tree(tmp_path) == {"v2.bin": b"2"}


def test_an_interrupted_run_is_cleaned_up(registry: Registry, tmp_path: Path) -> None:
    # GIVEN what a run killed in the middle leaves: its work folder and some moved files
    (tmp_path / ".serving-sidecar-fetch" / "model").mkdir(parents=True)
    (tmp_path / "model.joblib").write_bytes(b"half")
    arn = registry.package(registry.upload("churn/v1/model.tar.gz", tar_gz(FILES)))
    assert run(arn, tmp_path) == 0
    assert tree(tmp_path) == FILES


# ---- refused archives -------------------------------------------------------------------------


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("members", "extra"),
    [
        ({"../evil.sh": b"rm -rf /"}, []),
        ({"/etc/cron.d/evil": b"* * * * * root sh"}, []),
        ({}, [_member("escape", tarfile.SYMTYPE, "../../outside")]),
        ({}, [_member("passwd", tarfile.SYMTYPE, "/etc/passwd")]),
        ({}, [_member("dev-null", tarfile.CHRTYPE)]),
    ],
    ids=["dot-dot", "absolute", "link-out", "absolute-link", "device"],
)
def test_an_unsafe_archive_is_refused(
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    members: dict[str, bytes],
    extra: list[tarfile.TarInfo],
) -> None:
    url = registry.upload("evil/model.tar.gz", tar_gz(members, extra=extra))
    arn = registry.package(url)
    model_dir = tmp_path / "deep" / "model"

    assert run(arn, model_dir) == 1

    message = error_line(capsys)
    assert message.startswith(f"the model data {url} has a member the extraction refuses")
    assert "give a model.tar.gz of regular files and folders with relative paths" in message
    # AND nothing landed outside MODEL_DIR's work folder, and no marker was written
    outside = [p for p in tmp_path.rglob("*") if ".serving-sidecar-fetch" not in p.parts]
    assert sorted(str(p.relative_to(tmp_path)) for p in outside) == ["deep", "deep/model"]


# ---- bad inputs, each with its message --------------------------------------------------------


def test_missing_arn(aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(None, tmp_path) == 2
    assert error_line(capsys).startswith(
        "MODEL_PACKAGE_ARN is not set: give the ARN of a model package (arn:aws:sagemaker:"
    )


def test_an_arn_that_is_not_a_model_package(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model/churn"
    assert run(arn, tmp_path) == 2
    assert error_line(capsys).startswith(f"MODEL_PACKAGE_ARN={arn!r} is not accepted")


def test_a_relative_model_dir(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/1", "model") == 2
    assert error_line(capsys) == (
        "MODEL_DIR='model' is not accepted: give an absolute path other than / "
        "(default /opt/ml/model)"
    )


def test_package_not_found(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/9"
    assert run(arn, tmp_path) == 1
    message = error_line(capsys)
    assert message.startswith(f"model package {arn} not found (ValidationException")
    assert message.endswith("give the ARN of an existing model package in MODEL_PACKAGE_ARN")


def test_package_without_model_data(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = registry.package(None)
    assert run(arn, tmp_path) == 1
    assert error_line(capsys) == (
        f"model package {arn} has no InferenceSpecification.Containers[0].ModelDataUrl; "
        "register the model with an s3://<bucket>/<key> URL of a model.tar.gz as its model data"
    )


def test_model_data_that_is_not_in_s3(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = registry.package("https://example.com/model.tar.gz")
    assert run(arn, tmp_path) == 1
    assert error_line(capsys) == (
        "the model data URL 'https://example.com/model.tar.gz' is not accepted: give an "
        "s3://<bucket>/<key> URL of a model.tar.gz"
    )


def test_model_data_object_missing(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"s3://{MODEL_BUCKET}/churn/v9/model.tar.gz"
    arn = registry.package(url)
    assert run(arn, tmp_path) == 1
    assert error_line(capsys).startswith(f"the model data {url} does not exist (404)")
    assert not (tmp_path / settings.FETCH_MARKER).exists()


@pytest.mark.parametrize(
    "body", [b"not an archive at all", b"\x1f\x8b\x08\x00truncated"], ids=["text", "broken-gzip"]
)
def test_model_data_that_is_not_a_gzip_tar(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    url = registry.upload("churn/bad/model.tar.gz", body)
    arn = registry.package(url)
    assert run(arn, tmp_path) == 1
    message = error_line(capsys)
    assert message.startswith(f"the model data {url} is not a gzip-compressed tar (")
    assert message.endswith("give a model.tar.gz (tar -czf model.tar.gz -C <model folder> .)")


def test_an_uncompressed_tar_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    arn = registry.package(registry.upload("churn/plain/model.tar.gz", buffer.getvalue()))
    assert run(arn, tmp_path) == 1
    assert "is not a gzip-compressed tar" in error_line(capsys)


def test_a_foreign_non_empty_model_dir_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("not ours")
    arn = registry.package(registry.upload("churn/v1/model.tar.gz", tar_gz(FILES)))
    assert run(arn, tmp_path) == 1
    assert error_line(capsys) == (
        f"MODEL_DIR={str(tmp_path)!r} holds files this fetch did not write (precious.txt); "
        "give an empty directory (an emptyDir volume)"
    )
    assert (tmp_path / "precious.txt").read_text() == "not ours"
