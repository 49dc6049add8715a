"""Shared fixtures: the offline plan of each shipped stack, and planning with overrides.

Everything runs the real program through `planner.run`, the same path `make plan` takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from planner.mocks import Registration
from planner.run import PROJECT_DIR, Plan, run_stack_config
from planner.stackfile import load_stack_config

SHIPPED_STACKS = ("dev", "staging", "prod")


def plan_with(
    stack: str,
    overrides: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    registered: list[Registration] | None = None,
) -> Plan:
    """Plan `stack` with config keys replaced (values as YAML would give them) or removed.

    Every registration is appended to `registered`, so a test can assert nothing was
    registered when the config is rejected.
    """
    cfg = load_stack_config(PROJECT_DIR, stack)
    values = dict(cfg.values)
    for key in remove:
        values.pop(key, None)
    for key, value in (overrides or {}).items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    sink = registered if registered is not None else []
    return run_stack_config(replace(cfg, values=values), on_register=sink.append)


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The offline plan of every shipped stack, computed once per test session."""
    return {stack: plan_with(stack) for stack in SHIPPED_STACKS}


@pytest.fixture
def plan_stack() -> Callable[..., Plan]:
    return plan_with
