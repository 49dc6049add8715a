"""The sagemaker SDK, run in its own environment: the program's side of the boundary.

The SDK (v2, the line with the classic `sagemaker.workflow` API) pins `packaging < 25`, the
Pulumi SDK needs `packaging >= 26`: the two cannot share an environment. The SDK therefore
lives in `.venv-sagemaker` (`make setup` or `make sdk-env` build it from the hash-pinned
`requirements-sagemaker.txt`), and `components/pipeline_definition.py` runs there, as
`python -m components.pipeline_definition serve` with this repository on `PYTHONPATH`.

One SDK process is started when the training component is created (`start`, so that importing
the SDK overlaps with the rest of the plan) or on the first call, and answers every later call
(one JSON line per request and per answer), so a plan pays for importing the SDK (about a
second) once, however many pipelines the stack has; it is closed when the program exits.
The child gets no AWS credentials, profile or metadata service: generating a definition makes
no AWS call, and one that tried would fail rather than reach an account.

The interpreter: `MLOPS_SAGEMAKER_PYTHON`, else `<repository>/.venv-sagemaker/bin/python`.
Standard library only (the Pulumi runtime environment imports it).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import select
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from components.pipeline_inputs import TrainingPipelineInputs, to_json

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_ENV_VAR = "MLOPS_SAGEMAKER_PYTHON"
DEFAULT_VENV = REPO_ROOT / ".venv-sagemaker"
MODULE = "components.pipeline_definition"
CALL_TIMEOUT_SECONDS = 300.0
"""Longest wait for one answer (the first includes importing the SDK)."""

# Never passed to the SDK's process: it needs no account, and must not reach one.
_AWS_ACCESS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CREDENTIAL_PROCESS",
)
# The program's interpreter settings would point the SDK's interpreter at the wrong packages.
_INTERPRETER = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


class SdkEnvironmentError(RuntimeError):
    """The SDK's environment is missing or broken, or the SDK failed unexpectedly."""


class DefinitionError(ValueError):
    """The definition module refused the inputs (a ValueError there, e.g. an unknown metric)."""


def sdk_python() -> Path:
    """The SDK environment's interpreter (not resolved: a venv's python is a symlink)."""
    configured = os.environ.get(PYTHON_ENV_VAR)
    return Path(configured).absolute() if configured else DEFAULT_VENV / "bin" / "python"


def _missing(python: Path) -> SdkEnvironmentError:
    where = (
        f"{PYTHON_ENV_VAR}={os.environ[PYTHON_ENV_VAR]}"
        if os.environ.get(PYTHON_ENV_VAR)
        else f"the default {DEFAULT_VENV.name}/bin/python"
    )
    return SdkEnvironmentError(
        f"the sagemaker SDK's environment is missing: no Python interpreter at {python} "
        f"({where}). Create it with `make setup` (or only it: `make sdk-env`) in {REPO_ROOT}; "
        f"it installs requirements-sagemaker.txt into {DEFAULT_VENV.name}/. Or point "
        f"{PYTHON_ENV_VAR} at a Python that has that file's packages."
    )


def require_python() -> Path:
    """The SDK's interpreter, or a clear error naming how to create it."""
    python = sdk_python()
    if not (python.is_file() and os.access(python, os.X_OK)):
        raise _missing(python)
    return python


@functools.cache
def _site_packages(python: Path) -> Path:
    venv = python.parent.parent
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    for candidate in found:
        if (candidate / "sagemaker").is_dir():
            return candidate
    # Not a venv laid out as uv and venv do: ask the interpreter (one short process).
    try:
        out = subprocess.run(  # noqa: S603 - the configured SDK interpreter
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise SdkEnvironmentError(f"cannot ask {python} for its site-packages: {err}") from err
    return Path(out.stdout.strip())


def site_packages() -> Path:
    """The SDK environment's site-packages (where its `sagemaker` and `botocore` are)."""
    return _site_packages(require_python())


def package_dir(package: str) -> Path:
    """A package's directory in the SDK's environment (`sagemaker`, `botocore`)."""
    path = site_packages() / package
    if not path.is_dir():
        raise SdkEnvironmentError(
            f"the sagemaker SDK's environment ({sdk_python()}) has no {package} package in "
            f"{path.parent}; recreate it with `make setup` (or `make sdk-env`) in {REPO_ROOT}."
        )
    return path


def child_environment() -> dict[str, str]:
    """The SDK process's environment: this one without AWS access or interpreter settings,
    with the repository importable and the SDK quiet."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _AWS_ACCESS and k not in _INTERPRETER and k != PYTHON_ENV_VAR
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONNOUSERSITE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            # No config or credentials file of the machine is read either.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        }
    )
    return env


# ---- the SDK process ---------------------------------------------------------------------------


class SdkProcess:
    """A long-lived Python process in the SDK's environment running `module` (`serve` of
    `components.pipeline_definition` by default): one JSON line in, one JSON line out, each
    answer `{"ok": true, "result": ...}` or `{"ok": false, "type": ..., "error": ...}`."""

    def __init__(self, module: str = MODULE, args: tuple[str, ...] = ("serve",)) -> None:
        self._argv = [str(require_python()), "-m", module, *args]
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO_ROOT,
            env=child_environment(),
        )
        self._buffer = b""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def _exited(self) -> SdkEnvironmentError:
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        return SdkEnvironmentError(
            f"the sagemaker SDK's process ({' '.join(self._argv)}) exited with code "
            f"{self._proc.returncode}:\n{self._stderr_text()}"
        )

    def _read_line(self, timeout: float) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self._proc.kill()
                raise SdkEnvironmentError(
                    f"the sagemaker SDK's process ({' '.join(self._argv)}) gave no answer "
                    f"within {timeout:.0f} s; killed"
                )
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise self._exited()
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, request: dict[str, Any], timeout: float = CALL_TIMEOUT_SECONDS) -> Any:
        """Send one request, return its answer (a mapping with `ok`)."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError as err:
            raise self._exited() from err
        return json.loads(self._read_line(timeout))

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()


_lock = threading.Lock()
_worker: SdkProcess | None = None


def _process() -> SdkProcess:
    global _worker  # noqa: PLW0603 - one SDK process per program
    if _worker is None or not _worker.alive():
        _worker = SdkProcess()
    return _worker


def start() -> None:
    """Start the SDK process now (it imports the SDK while the caller goes on), so the first
    definition does not wait for the import. Raises when the environment is missing."""
    with _lock:
        _process()


def _call(name: str, inputs: TrainingPipelineInputs, *args: Any) -> Any:
    request = {"command": name, "inputs": to_json(inputs), "args": list(args)}
    with _lock:
        answer = _process().request(request)
    if not answer.get("ok"):
        what = f"the {name!r} result of pipeline {inputs.pipeline_name}"
        if answer.get("type") == "ValueError":
            raise DefinitionError(f"{what}: {answer.get('error')}")
        raise SdkEnvironmentError(
            f"the sagemaker SDK failed to build {what}: {answer.get('type')}: {answer.get('error')}"
        )
    return answer["result"]


@atexit.register
def close() -> None:
    """Stop the SDK process (it is started again by the next call)."""
    global _worker  # noqa: PLW0603
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


def definition(inputs: TrainingPipelineInputs) -> str:
    """The training pipeline's definition JSON (`pipeline_definition.pipeline_definition`)."""
    result: str = _call("definition", inputs)
    return result


def batch_definition(inputs: TrainingPipelineInputs, instance_type: str, count: int) -> str:
    """The batch-transform pipeline's definition JSON
    (`pipeline_definition.batch_transform_definition`)."""
    result: str = _call("batch", inputs, instance_type, count)
    return result


def images(inputs: TrainingPipelineInputs) -> dict[str, str]:
    """The training, inference and processing image URIs the SDK resolves for the inputs."""
    result: dict[str, str] = _call("images", inputs)
    return result
