"""Runs the real program (`infra/__main__.py`) under Pulumi's mock runtime."""

from __future__ import annotations

import json
import runpy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import PROJECT
from components.platform import partition_for
from planner.mocks import PlatformMocks, RecordingMonitor, Registration, plain
from planner.stackfile import StackConfig, load_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_DIR / "infra" / "__main__.py"
DEFAULT_ACCOUNT = "123456789012"
"""The account the mocks answer with when the stack does not pin one."""


@dataclass
class Plan:
    """What one offline run of the program registered."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    seconds: float
    account_id: str
    region: str

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.by_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]


def _mock_target(cfg: StackConfig) -> tuple[str, str]:
    """Account and region the mocks answer with, read leniently (the program validates)."""
    region = cfg.values.get(f"{PROJECT}:region", "us-east-1")
    account = DEFAULT_ACCOUNT
    try:
        pinned = json.loads(cfg.values.get(f"{PROJECT}:allowedAccountIds", "[]"))
        if isinstance(pinned, list) and pinned and isinstance(pinned[0], str):
            account = pinned[0]
    except json.JSONDecodeError:
        pass
    return account, region


def run_stack_config(
    cfg: StackConfig, on_register: Callable[[Registration], None] | None = None
) -> Plan:
    """Run the program with `cfg` under mocks; exceptions of the program propagate."""
    started = time.perf_counter()
    account, region = _mock_target(cfg)
    mocks = PlatformMocks(account, region, partition_for(region))
    monitor = RecordingMonitor(mocks, on_register)

    # A fresh runtime per run, so several stacks can be planned in one process.
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(dict(cfg.values), list(cfg.secret_keys))
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=cfg.stack, preview=False, monitor=monitor
    )

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    root = runtime_settings.get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    outputs = _sync_await(pulumi.Output.from_input(exported).future()) or {}
    registrations = sorted(monitor.registrations, key=lambda r: r.urn)
    return Plan(
        stack=cfg.stack,
        registrations=registrations,
        outputs=plain(outputs),
        seconds=time.perf_counter() - started,
        account_id=account,
        region=region,
    )


def run_program(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    on_register: Callable[[Registration], None] | None = None,
) -> Plan:
    """Load `stacks/Pulumi.<stack>.yaml` and run the program with it."""
    return run_stack_config(load_stack_config(project_dir, stack), on_register)
