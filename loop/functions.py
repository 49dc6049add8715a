"""The functions, run as Lambda would: own processes, own environment, the role's credentials.

Each function gets up to its plan's reserved concurrency of execution environments
(`lambda_runtime.py` child processes), started when an invocation finds none idle; each runs one
invocation at a time, as a Lambda container does. A child's environment is built from nothing
(the harness's own variables, credentials included, never leak into it): the plan's variables
for the function, the temporary credentials of its role, the region, `AWS_ENDPOINT_URL` and
`PYTHONPATH` = the function's code folder. Their logs (Powertools' JSON lines and EMF metrics)
go to one file per function.

Asynchronous invocation (`invoke_async`) is Lambda's for EventBridge targets: a failed
invocation is retried twice, then dead-lettered. The retries are taken "later" as Lambda does
(after one and two minutes): here, after every invocation of the round has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from loop.stack import FunctionSpec

RUNTIME = Path(__file__).resolve().parent / "lambda_runtime.py"
ASYNC_RETRIES = 2
"""Lambda retries a failed asynchronous invocation twice."""


@dataclass(frozen=True)
class Invocation:
    """One invocation's outcome, in Lambda's shape."""

    ok: bool
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    stack_trace: tuple[str, ...] = ()
    container: int = 0
    seconds: float = 0.0

    def expect(self) -> Any:
        """The result; a failed invocation raises `InvocationError` with its error."""
        if not self.ok:
            raise InvocationError(self)
        return self.result


class InvocationError(RuntimeError):
    def __init__(self, invocation: Invocation) -> None:
        super().__init__(
            f"{invocation.error_type}: {invocation.error_message}\n"
            + "".join(invocation.stack_trace)
        )
        self.invocation = invocation


@dataclass(frozen=True)
class Delivery:
    """An event delivered asynchronously: every attempt, the last one deciding."""

    attempts: tuple[Invocation, ...]

    @property
    def final(self) -> Invocation:
        return self.attempts[-1]

    @property
    def dead_lettered(self) -> bool:
        return not self.final.ok


class _Container:
    def __init__(
        self,
        index: int,
        command: list[str],
        env: Mapping[str, str],
        log: IO[str],
        fd: tuple[int, int],
    ) -> None:
        self.index = index
        read, write = fd
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our runtime file
            [*command, "--fd", str(write)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=dict(env),
            pass_fds=(write,),
            text=True,
        )
        os.close(write)
        self.answers = os.fdopen(read, "r", encoding="utf-8")
        self.busy = False
        self._ready = False

    def ready(self) -> bool:
        """Wait for the end of the init phase (the handler imported); False if it failed."""
        if not self._ready:
            self._ready = bool(self.answers.readline())
        return self._ready

    def invoke(self, event: Any) -> Invocation:
        started = time.perf_counter()
        assert self.process.stdin is not None
        if not self.ready():
            return Invocation(
                ok=False,
                error_type="Runtime.ImportModuleError",
                error_message=f"the handler did not load (exit {self.process.wait()}; see its log)",
                container=self.index,
            )
        request = {"event": event, "request_id": str(uuid.uuid4())}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.answers.readline()
        seconds = time.perf_counter() - started
        if not line:
            code = self.process.wait()
            return Invocation(
                ok=False,
                error_type="Runtime.ExitError",
                error_message=f"the execution environment exited with code {code} (see its log)",
                container=self.index,
                seconds=seconds,
            )
        answer = json.loads(line)
        if answer["ok"]:
            return Invocation(
                ok=True, result=answer["result"], container=self.index, seconds=seconds
            )
        return Invocation(
            ok=False,
            error_type=answer["errorType"],
            error_message=answer["errorMessage"],
            stack_trace=tuple(answer["stackTrace"]),
            container=self.index,
            seconds=seconds,
        )

    def stop(self) -> None:
        """End of input: the runtime's loop ends and the process exits."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def close(self) -> None:
        self.stop()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.answers.close()


@dataclass
class Function:
    """A deployed function: its spec from the plan and the credentials of its role."""

    spec: FunctionSpec
    credentials: Mapping[str, str]
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN of the role's session."""
    endpoint_url: str
    region: str
    log_path: Path
    no_retry_sleep: bool = True
    _containers: list[_Container] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _log: IO[str] | None = None

    def environment(self) -> dict[str, str]:
        """The child's whole environment."""
        return {
            **self.spec.environment,
            **self.credentials,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": self.spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "_HANDLER": self.spec.handler,
            # No shared config or credentials files: only what Lambda would give.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": str(self.spec.code_dir),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
        }

    def _command(self) -> list[str]:
        return [
            sys.executable,
            str(RUNTIME),
            self.spec.handler,
            "--function-name",
            self.spec.name,
            "--function-arn",
            self.spec.arn,
            "--memory-mb",
            str(self.spec.memory_mb),
            "--timeout-seconds",
            str(self.spec.timeout_seconds),
            *(["--no-retry-sleep"] if self.no_retry_sleep else []),
        ]

    def start(self) -> None:
        """One environment now (its init overlaps the caller's work), more on demand."""
        with self._lock:
            if not self._containers:
                self._containers.append(self._new_container())

    def _new_container(self) -> _Container:
        if self._log is None:
            self._log = self.log_path.open("a", encoding="utf-8")
        return _Container(
            len(self._containers), self._command(), self.environment(), self._log, os.pipe()
        )

    def warm(self, count: int | None = None) -> int:
        """Start environments up to `count` (default: the reserved concurrency) and wait for
        their init: a burst then meets warm environments, all at once."""
        wanted = min(count or self.spec.reserved_concurrency, self.spec.reserved_concurrency)
        with self._lock:
            while len(self._containers) < wanted:
                self._containers.append(self._new_container())
            containers = list(self._containers)
        return sum(c.ready() for c in containers)

    def _acquire(self) -> _Container:
        with self._lock:
            while True:
                idle = next((c for c in self._containers if not c.busy), None)
                if idle is None and len(self._containers) < self.spec.reserved_concurrency:
                    idle = self._new_container()
                    self._containers.append(idle)
                if idle is not None:
                    idle.busy = True
                    return idle
                self._lock.wait()

    def _release(self, container: _Container) -> None:
        with self._lock:
            container.busy = False
            self._lock.notify()

    def invoke(self, event: Any) -> Invocation:
        """A synchronous invocation; at the reserved concurrency, it waits for an environment."""
        container = self._acquire()
        try:
            return container.invoke(event)
        finally:
            self._release(container)

    def invoke_async(self, events: Sequence[Any]) -> list[Delivery]:
        """Deliver every event at once, as EventBridge does; failures retried twice, later."""
        attempts: list[list[Invocation]] = [[] for _ in events]
        pending = list(range(len(events)))
        with ThreadPoolExecutor(max_workers=max(1, len(events))) as pool:
            for _ in range(1 + ASYNC_RETRIES):
                outcomes = list(pool.map(lambda i: self.invoke(events[i]), pending))
                for i, outcome in zip(pending, outcomes, strict=True):
                    attempts[i].append(outcome)
                pending = [
                    i for i, outcome in zip(pending, outcomes, strict=True) if not outcome.ok
                ]
                if not pending:
                    break
        return [Delivery(tuple(a)) for a in attempts]

    def containers(self) -> int:
        with self._lock:
            return len(self._containers)

    def close(self) -> None:
        with self._lock:
            for container in self._containers:  # all told first: they exit concurrently
                container.stop()
            for container in self._containers:
                container.close()
            self._containers.clear()
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_lines(self) -> list[str]:
        return (
            self.log_path.read_text(encoding="utf-8").splitlines() if self.log_path.exists() else []
        )
