"""Shared fixtures: the offline plan of each shipped stack, and planning with overrides.

Everything runs the real program through `planner.run`, the same path `make plan` takes.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from components.sagemaker_sdk import SdkProcess
from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

SHIPPED_STACKS = ("dev", "staging", "prod")


def plan_with(
    stack: str,
    overrides: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    registered: list[Registration] | None = None,
    secrets: dict[str, str] | None = None,
) -> Plan:
    """Plan `stack` with config keys replaced (values as YAML would give them) or removed, and
    `secrets` set as Pulumi secrets (`pulumi config set --secret`).

    Every registration is appended to `registered`, so a test can assert nothing was
    registered when the config is rejected.
    """
    cfg = load_stack_config(PROJECT_DIR, stack)
    values = dict(cfg.values)
    for key in remove:
        values.pop(key, None)
    for key, value in (overrides or {}).items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    values.update(secrets or {})
    secret_keys = [*cfg.secret_keys, *(secrets or {})]
    sink = registered if registered is not None else []
    return run_stack_config(
        replace(cfg, values=values, secret_keys=secret_keys), on_register=sink.append
    )


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The offline plan of every shipped stack, computed once per test session."""
    return {stack: plan_with(stack) for stack in SHIPPED_STACKS}


@pytest.fixture
def plan_stack() -> Callable[..., Plan]:
    return plan_with


class Sdk:
    """The sagemaker SDK, called from a test: it runs in its own environment (.venv-sagemaker),
    never in this one (see components/sagemaker_sdk.py). `call("sagemaker.image_uris:retrieve",
    ...)` returns what the function returned (as JSON); an exception it raised is raised here
    again, as the same built-in type (ValueError, KeyError, ...) with the same message."""

    def __init__(self, process: SdkProcess) -> None:
        self._process = process

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        answer = self._process.request({"target": target, "args": args, "kwargs": kwargs})
        if answer["ok"]:
            return answer["result"]
        kind = getattr(builtins, answer["type"], None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            raise kind(answer["error"])
        raise RuntimeError(f"{answer['type']}: {answer['error']}")

    def module(self, name: str) -> Any:
        """A stand-in for an SDK module: `sdk.module("sagemaker.image_uris").retrieve(...)`."""
        return _RemoteModule(self, name)


class _RemoteModule:
    def __init__(self, sdk: Sdk, name: str) -> None:
        self._sdk = sdk
        self._name = name

    def __getattr__(self, attribute: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self._sdk.call(f"{self._name}:{attribute}", *args, **kwargs)


@pytest.fixture(scope="session")
def sdk() -> Iterator[Sdk]:
    """One process in the SDK's environment for the test session (per xdist worker)."""
    process = SdkProcess("tests.sdk_side", ())
    try:
        yield Sdk(process)
    finally:
        process.close()
