"""The plans the end-to-end tests run against, and a fresh closed loop per test.

`dev` as shipped, and `dev` with `cost.enabled` (the trigger then has the budget guard:
`RETRAIN_BUDGET_NAME` and `budgets:ViewBudget`). Each plan is computed once per test session:
under xdist, the first worker to need one plans it and the others read it (a file in the
session's shared temporary folder, under a lock), so two cores do not plan the same stack twice.
Each test gets its own `ClosedLoop`: a fresh moto server, seeded from the plan, with the two
functions' execution environments.
"""

from __future__ import annotations

import fcntl
import pickle
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from loop.harness import ClosedLoop
from loop.stack import LoopPlan, plan_loop

T = TypeVar("T")


def _once_per_session(
    factory: pytest.TempPathFactory, worker_id: str, name: str, make: Callable[[], T]
) -> T:
    if worker_id == "master":  # no xdist: nothing to share
        return make()
    shared = factory.getbasetemp().parent  # the session's folder, above every worker's own
    path = shared / f"loop-plan-{name}.pickle"
    with (shared / f"loop-plan-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            plan: T = pickle.loads(path.read_bytes())
            return plan
        plan = make()
        path.write_bytes(pickle.dumps(plan))
        return plan


@pytest.fixture(scope="session")
def dev_plan(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LoopPlan:
    return _once_per_session(tmp_path_factory, worker_id, "dev", lambda: plan_loop("dev"))


@pytest.fixture(scope="session")
def budget_plan(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> LoopPlan:
    return _once_per_session(
        tmp_path_factory, worker_id, "dev-budget", lambda: plan_loop("dev", budget=True)
    )


@pytest.fixture
def loop(dev_plan: LoopPlan) -> Iterator[ClosedLoop]:
    with ClosedLoop(dev_plan) as running:
        yield running
