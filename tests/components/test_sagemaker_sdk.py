"""The program's side of the SDK boundary (components/sagemaker_sdk.py): where the SDK's
interpreter is, what its process gets, one process for many calls, and clear errors when the
environment is missing or the process dies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components import sagemaker_catalog, sagemaker_sdk
from tests.training.test_pipeline_definition import make_inputs


@pytest.fixture
def fresh() -> Iterator[None]:
    """No SDK process nor cached SDK facts before and after the test (it changes the
    interpreter)."""

    def reset() -> None:
        sagemaker_sdk.close()
        sagemaker_catalog._framework_config.cache_clear()
        sagemaker_catalog._service_shapes.cache_clear()
        sagemaker_catalog.sdk_version.cache_clear()
        for read in (
            sagemaker_catalog.training_instance_types,
            sagemaker_catalog.processing_instance_types,
            sagemaker_catalog.transform_instance_types,
        ):
            read.cache_clear()

    reset()
    yield
    reset()


def test_default_interpreter_is_the_repository_s_sdk_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sagemaker_sdk.PYTHON_ENV_VAR, raising=False)
    assert sagemaker_sdk.sdk_python() == sagemaker_sdk.REPO_ROOT / ".venv-sagemaker/bin/python"
    assert (sagemaker_sdk.site_packages() / "sagemaker" / "image_uri_config").is_dir()


@pytest.mark.usefixtures("fresh")
def test_missing_environment_names_make_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sagemaker_sdk.PYTHON_ENV_VAR, str(tmp_path / "no-python"))
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match=r"missing.*`make setup`"):
        sagemaker_sdk.definition(make_inputs())
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match=r"make sdk-env"):
        sagemaker_sdk.batch_definition(make_inputs(), "ml.m5.xlarge", 1)
    # The config checks read the SDK's data from the same environment: same error.
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match="MLOPS_SAGEMAKER_PYTHON="):
        sagemaker_catalog.training_versions("sklearn")
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match="`make setup`"):
        sagemaker_catalog.training_instance_types()


@pytest.mark.usefixtures("fresh")
def test_environment_without_the_sdk_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interpreter that is not a venv with the SDK (here: a bare Python, no pyvenv.cfg
    beside it) is asked for its site-packages, and the missing package is named."""
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.symlink_to(Path(sagemaker_sdk.DEFAULT_VENV / "bin" / "python").resolve())
    monkeypatch.setenv(sagemaker_sdk.PYTHON_ENV_VAR, str(python))
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match=r"has no sagemaker package"):
        sagemaker_catalog.training_versions("sklearn")


@pytest.mark.usefixtures("fresh")
def test_a_dying_process_is_reported_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'ImportError: no sagemaker here' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv(sagemaker_sdk.PYTHON_ENV_VAR, str(script))
    with pytest.raises(sagemaker_sdk.SdkEnvironmentError, match="code 3") as caught:
        sagemaker_sdk.definition(make_inputs())
    assert "ImportError: no sagemaker here" in str(caught.value)


@pytest.mark.usefixtures("fresh")
def test_one_process_answers_every_call() -> None:
    first = sagemaker_sdk.definition(make_inputs())
    process = sagemaker_sdk._worker
    assert process is not None
    assert process.alive()
    assert sagemaker_sdk.batch_definition(make_inputs(), "ml.m5.xlarge", 1)
    assert sagemaker_sdk.images(make_inputs())["training"].endswith(
        "sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    # A refused input is the caller's ValueError, and the process goes on.
    with pytest.raises(ValueError, match="metric 'nope' is not written"):
        sagemaker_sdk.definition(make_inputs(metric_name="nope"))
    assert sagemaker_sdk.definition(make_inputs()) == first
    assert sagemaker_sdk._worker is process
    sagemaker_sdk.close()
    assert not process.alive()


def test_child_gets_no_aws_access(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.setenv(key, "x")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.setenv("VIRTUAL_ENV", "/work/.venv")
    env = sagemaker_sdk.child_environment()
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    assert "AWS_PROFILE" not in env
    assert "VIRTUAL_ENV" not in env
    assert env["PYTHONPATH"] == str(sagemaker_sdk.REPO_ROOT)
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"] == "/dev/null"
