"""`python -m serving_sidecar.fetch`: put a registered model's files where the model server
looks for them (the initContainer of each model pod).

MODEL_PACKAGE_ARN names a model package of the registry; its
`InferenceSpecification.Containers[0].ModelDataUrl` is the `s3://` URL of a `model.tar.gz`,
which is downloaded and extracted into MODEL_DIR (default /opt/ml/model, an emptyDir the model
server mounts). Extraction uses tarfile's `data` filter: absolute paths, `..`, links leading
out of the directory and device files are refused. A marker file written after a complete
extraction makes a second run for the same ARN a no-op (Kubernetes reruns an initContainer
after a restart of the pod's sandbox, with the same volume).

Every failure ends with one log line saying what is wrong and what would be accepted, and
exit status 1 (2 for a missing or bad variable).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from serving_sidecar import logs, settings

logger = logging.getLogger("serving_sidecar.fetch")

_WORK = ".serving-sidecar-fetch"
"""Download and extraction happen in this folder of MODEL_DIR (same volume: moves are renames,
and no other writable disk is assumed)."""
_PACKAGE_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/\S+")
_S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)")
_NOT_FOUND = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})
_ACCEPTED_URL = "an s3://<bucket>/<key> URL of a model.tar.gz"


class FetchError(Exception):
    """The model cannot be fetched; the message says what is wrong and what would be accepted."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class FetchConfig:
    package_arn: str
    model_dir: Path

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> FetchConfig:
        env = os.environ if environ is None else environ
        arn = env.get(settings.ENV_MODEL_PACKAGE_ARN, "").strip()
        if not arn:
            raise FetchError(
                f"{settings.ENV_MODEL_PACKAGE_ARN} is not set: give the ARN of a model package "
                "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)",
                exit_code=2,
            )
        if not _PACKAGE_ARN.fullmatch(arn):
            raise FetchError(
                f"{settings.ENV_MODEL_PACKAGE_ARN}={arn!r} is not accepted: give the ARN of a "
                "model package (arn:aws:sagemaker:<region>:<account>:model-package/<group>/"
                "<version>)",
                exit_code=2,
            )
        raw_dir = env.get(settings.ENV_MODEL_DIR, "").strip() or settings.DEFAULT_MODEL_DIR
        model_dir = Path(raw_dir)
        if not model_dir.is_absolute() or model_dir == Path("/"):
            raise FetchError(
                f"{settings.ENV_MODEL_DIR}={raw_dir!r} is not accepted: give an absolute path "
                f"other than / (default {settings.DEFAULT_MODEL_DIR})",
                exit_code=2,
            )
        return cls(package_arn=arn, model_dir=model_dir)


def model_data_url(sagemaker: Any, package_arn: str) -> str:
    """`InferenceSpecification.Containers[0].ModelDataUrl` of the model package."""
    try:
        package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _NOT_FOUND:
            raise FetchError(
                f"model package {package_arn} not found ({code}: {error.get('Message', '')}); "
                f"give the ARN of an existing model package in {settings.ENV_MODEL_PACKAGE_ARN}"
            ) from None
        raise FetchError(
            f"DescribeModelPackage {package_arn} failed ({code}: {error.get('Message', '')}); "
            "the pod's role needs sagemaker:DescribeModelPackage on it"
        ) from None
    except BotoCoreError as exc:
        raise FetchError(f"DescribeModelPackage {package_arn} could not be called: {exc}") from None
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    url = containers[0].get("ModelDataUrl") if containers else None
    if not url:
        raise FetchError(
            f"model package {package_arn} has no InferenceSpecification.Containers[0]."
            f"ModelDataUrl; register the model with {_ACCEPTED_URL} as its model data"
        )
    return str(url)


def parse_s3_url(url: str) -> tuple[str, str]:
    match = _S3_URL.fullmatch(url)
    if match is None:
        raise FetchError(f"the model data URL {url!r} is not accepted: give {_ACCEPTED_URL}")
    return match["bucket"], match["key"]


def download(s3: Any, url: str, target: Path) -> None:
    bucket, key = parse_s3_url(url)
    try:
        s3.download_file(bucket, key, str(target))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in {"404", "NoSuchKey", "NoSuchBucket"}:
            raise FetchError(
                f"the model data {url} does not exist ({code}); give {_ACCEPTED_URL} that exists"
            ) from None
        raise FetchError(
            f"the model data {url} could not be read ({code}: {error.get('Message', '')}); the "
            "pod's role needs s3:GetObject on it (and kms:Decrypt on its key)"
        ) from None
    except BotoCoreError as exc:
        raise FetchError(f"the model data {url} could not be downloaded: {exc}") from None


def _safe_member(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's `data` filter, which also refuses absolute names (it would only strip the
    leading `/`): an archive naming /etc/... was not built for a model folder."""
    if member.name.startswith("/") or os.path.isabs(member.name):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, path)


def extract(archive: Path, target: Path, url: str) -> None:
    """Extract a gzip tar into `target` with the `data` filter (and no absolute names)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter=_safe_member)  # noqa: S202 (filtered: see above)
    except tarfile.FilterError as exc:
        raise FetchError(
            f"the model data {url} has a member the extraction refuses ({exc}); give a "
            "model.tar.gz of regular files and folders with relative paths, without '..', "
            "links leading out of it or device files"
        ) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise FetchError(
            f"the model data {url} is not a gzip-compressed tar ({exc.__class__.__name__}: "
            f"{exc}); give a model.tar.gz (tar -czf model.tar.gz -C <model folder> .)"
        ) from None


def _marker(model_dir: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((model_dir / settings.FETCH_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _clear(model_dir: Path) -> None:
    for entry in model_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def fetch(config: FetchConfig, sagemaker: Any, s3: Any) -> bool:
    """Fetch the model into MODEL_DIR; False when the marker says it is there already."""
    model_dir = config.model_dir
    marker = _marker(model_dir)
    if marker is not None and marker.get("modelPackageArn") == config.package_arn:
        logger.info(
            "model already in place; nothing to do",
            extra={"model_package_arn": config.package_arn, "model_dir": str(model_dir)},
        )
        return False
    model_dir.mkdir(parents=True, exist_ok=True)
    leftovers = [entry.name for entry in model_dir.iterdir()]
    if leftovers and marker is None and _WORK not in leftovers:
        raise FetchError(
            f"{settings.ENV_MODEL_DIR}={str(model_dir)!r} holds files this fetch did not write "
            f"({', '.join(sorted(leftovers)[:5])}); give an empty directory (an emptyDir volume)"
        )
    url = model_data_url(sagemaker, config.package_arn)
    # What an earlier, interrupted run (or another model's run) left goes first.
    _clear(model_dir)
    work = model_dir / _WORK
    staging = work / "model"
    staging.mkdir(parents=True)
    archive = work / "model.tar.gz"
    download(s3, url, archive)
    extract(archive, staging, url)
    archive.unlink()
    for entry in staging.iterdir():
        entry.rename(model_dir / entry.name)
    # The marker last, by rename: it exists only once every file is in place.
    document = {"modelPackageArn": config.package_arn, "modelDataUrl": url}
    partial = work / settings.FETCH_MARKER
    partial.write_text(json.dumps(document), "utf-8")
    partial.replace(model_dir / settings.FETCH_MARKER)
    shutil.rmtree(work)
    logger.info(
        "model fetched",
        extra={
            "model_package_arn": config.package_arn,
            "model_data_url": url,
            "model_dir": str(model_dir),
        },
    )
    return True


def main(environ: Mapping[str, str] | None = None) -> int:
    logs.configure()
    try:
        config = FetchConfig.read(environ)
        retries = Config(retries={"mode": "standard", "total_max_attempts": 5})
        fetch(config, boto3.client("sagemaker", config=retries), boto3.client("s3", config=retries))
    except FetchError as error:
        logger.error(str(error))
        return error.exit_code
    except Exception:
        logger.exception("the model could not be fetched")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
