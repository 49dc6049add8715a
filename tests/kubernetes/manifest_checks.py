"""Helpers for tests over the Kubernetes manifests of a plan (planner/k8s_manifests.py).

A test over a real stack's plan is a few lines:

    found = assert_manifests_valid(plans["dev"], "1.33")
    result = checkov_on(plans["dev"], tmp_path)
    assert_required_checks_pass(result)

`plan_program` runs a test-only Pulumi program under the planner's mocks, for tests that need
Kubernetes objects the shipped stacks do not register.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from planner.k8s_manifests import (
    REQUIRED_CHECKS,
    CheckovResult,
    assert_manifests_valid,
    run_checkov,
    write_manifests,
)
from planner.mocks import PlatformMocks, RecordingMonitor, plain
from planner.run import DEFAULT_ACCOUNT, Plan

__all__ = [
    "assert_manifests_valid",
    "assert_required_checks_pass",
    "checkov_on",
    "plan_program",
]


def plan_program(
    program: Callable[[], None], stack: str = "k8s-test", project: str = "mlops-platform"
) -> Plan:
    """Run `program` under the planner's mocks (as planner/run.py runs the real one)."""
    started = time.perf_counter()
    region = "us-east-1"
    mocks = PlatformMocks(DEFAULT_ACCOUNT, region, "aws")
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config({}, [])
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(program))
    outputs: dict[str, Any] = {}
    return Plan(
        stack=stack,
        registrations=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs=plain(outputs),
        seconds=time.perf_counter() - started,
        account_id=DEFAULT_ACCOUNT,
        region=region,
    )


def checkov_on(plan: Plan, directory: Path) -> CheckovResult:
    """Write the plan's manifests to `directory` and run checkov's Kubernetes checks on them."""
    if not write_manifests(plan, directory):
        raise AssertionError(f"stack {plan.stack!r} registers no Kubernetes objects")
    return run_checkov(directory)


def assert_required_checks_pass(
    result: CheckovResult, required: tuple[str, ...] = REQUIRED_CHECKS
) -> None:
    """Every required check ran on at least one resource and failed on none."""
    problems = [f"{c}: never evaluated" for c in result.never_evaluated(required)]
    problems += [
        f"{o.check_id} failed on {o.resource} ({o.file}): {o.check_name}"
        for o in result.failures_of(required)
    ]
    if problems:
        raise AssertionError(
            f"{len(problems)} required checkov check(s) not passed:\n  " + "\n  ".join(problems)
        )
