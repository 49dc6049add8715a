"""`python -m loop` (`make loop`): the closed loop as a demo, one line per step.

Plans the stack offline, starts moto's server with IAM enforced, seeds it from the plan, writes a
window of drifted capture, runs the drift check, routes its DriftDetected through the plan's
rule (to an SQS queue: moto's EventBridge cannot invoke Lambda) to the retraining trigger, shows
the pipeline execution it started, delivers the same event again (idempotent), a drift of the
previous window (skipped: cooldown), the audit trail and the IAM calls. Exit code 0 when the loop
closed (one execution with the drift's parameters, the duplicate idempotent, every call allowed
by the plan's policies), 1 otherwise. Only localhost is contacted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from loop.functions import Function
from loop.harness import ClosedLoop, PermissionGapError
from loop.stack import LoopPlan, plan_loop


class NotClosedError(Exception):
    """The loop did not close; the message says where."""


def say(step: str, text: str) -> None:
    print(f"{step:<9} {text}", flush=True)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise NotClosedError(message)


def iam_summary(loop: ClosedLoop, function: Function) -> str:
    """The IAM actions the function's calls needed, with the services' use of keys."""
    used = {d.action + (f" via {d.via}" if d.via else "") for d in loop.decisions(function)}
    return ", ".join(sorted(used))


def run(plan: LoopPlan, workdir: Path | None, started: float) -> None:
    with ClosedLoop(plan, workdir=workdir) as loop:
        try:
            closed_loop(loop, started)
        except BaseException:
            for function in (loop.drift, loop.trigger):
                tail = function.log_lines()[-5:]
                if tail:
                    print(f"--- last lines of {function.spec.name}'s log", file=sys.stderr)
                    print("\n".join(line[:400] for line in tail), file=sys.stderr)
            raise


def closed_loop(loop: ClosedLoop, started: float) -> None:
    plan = loop.plan
    say(
        "moto",
        f"{loop.server.url}, IAM enforced; roles {plan.drift.role_name} and "
        f"{plan.trigger.role_name}, each with only its plan policy",
    )
    window = loop.write_window(drifted=True)
    say(
        "seed",
        f"{len(plan.buckets)} buckets ({len(plan.bucket_encryption)} with default encryption), "
        f"table {plan.table.name} "
        f"({plan.table.hash_key}/{plan.table.range_key}, TTL {plan.table.ttl_attribute}), bus "
        f"{plan.event_bus}, topic {plan.topic_name}, pipeline {plan.pipeline.name}, baseline "
        f"s3://{loop.baseline_bucket}/{loop.baseline_key}, {window.records} drifted records in "
        f"{len(window.keys)} capture objects",
    )

    check = loop.run_drift_check(window).expect()
    routed = loop.routed()
    require(check.get("drift") is True, f"the drift check found no drift: {check}")
    require(len(routed) == 1, f"the plan's rule routed {len(routed)} events, expected 1")
    event = routed[0]
    detail = event["detail"]
    say(
        "drift",
        f"{detail['endpoint']} over {detail['window']['hours']} h to {detail['window']['end']}: "
        f"DRIFT, drifted share {detail['drifted_share']:.2f}, features "
        f"{', '.join(detail['drifted_features'])}; report {detail['report']['html']}",
    )
    say(
        "route",
        f"{event['detail-type']} -> rule {plan.drift_rule_name} (the plan's pattern) on "
        f"{plan.event_bus} -> SQS in place of the trigger (moto's EventBridge cannot invoke "
        "Lambda) -> retraining trigger",
    )

    decision = loop.deliver(event).expect()
    guards = ", ".join(f"{k} {v}" for k, v in decision["guards"].items())
    say("trigger", f"{decision['decision']} ({guards})")
    executions = loop.executions()
    require(decision["decision"] == "started", f"the trigger did not start: {decision['message']}")
    require(len(executions) == 1, f"{len(executions)} executions, expected 1")
    (execution,) = executions
    parameters = " ".join(f"{k}={v}" for k, v in execution.parameters.items())
    say("pipeline", f"{execution.arn}: {parameters}")
    expected = {
        "TriggerReason": "drift",
        "TriggerDetail": detail["report"]["html"],
        "WindowEnd": window.end_iso,
        "DataUri": f"s3://{plan.buckets['curated']}/{plan.model}/training/",
    }
    require(
        execution.parameters == expected, f"parameters {execution.parameters}, expected {expected}"
    )

    again = loop.deliver(event).expect()
    count = len(loop.executions())
    say(
        "again",
        f"the same event delivered again: idempotent, the recorded decision returned "
        f"({again['decision']} at {again['decidedAt']}, same execution: "
        f"{again.get('executionArn') == execution.arn}); executions: {count}",
    )
    require(
        again.get("executionArn") == execution.arn and count == 1,
        "the duplicate was not idempotent",
    )

    previous = loop.write_window(window.end - timedelta(hours=window.hours), seed=900)
    loop.run_drift_check(previous).expect()
    late = loop.deliver(loop.routed()[0]).expect()
    say(
        "cooldown",
        f"the previous window's drift: {late['decision']} ({late['reason']}): {late['message']}",
    )

    audit = loop.audit()
    say("audit", f"{len(audit)} decisions in {plan.table.name}:")
    for item in audit:
        outcome = item.get("executionArn") if item["decision"] == "started" else item.get("reason")
        print(f"{'':<12}{item['decidedAt']} {item['decision']:<8} {item['key']} -> {outcome}")

    gaps = loop.server.enforcement.gaps()
    if gaps:
        raise PermissionGapError(gaps)
    calls = len(loop.decisions(loop.drift)) + len(loop.decisions(loop.trigger))
    say(
        "iam",
        f"{calls} permission checks of the functions' calls, all allowed by the plan's policies:",
    )
    for function in (loop.drift, loop.trigger):
        print(f"{'':<12}{function.spec.name}: {iam_summary(loop, function)}")
    say(
        "closed",
        f"the loop closed: {time.perf_counter() - started:.1f} s in all, the plan included",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack to plan (default: dev)")
    parser.add_argument(
        "--budget",
        action="store_true",
        help="plan with cost.enabled: the trigger's budget guard on",
    )
    parser.add_argument("--logs", type=Path, help="keep the functions' logs in this folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        plan = plan_loop(args.stack, budget=args.budget)
        say(
            "plan",
            f"{plan.stack}: {plan.resources} resources planned offline in {plan.seconds:.1f} s "
            f"({plan.region}, account {plan.account}); functions {plan.drift.name}, "
            f"{plan.trigger.name}",
        )
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
        run(plan, args.logs, started)
    except Exception as exc:  # NotClosedError, PermissionGapError, a failed invocation, ...
        say(
            "FAILED",
            f"the loop did not close ({time.perf_counter() - started:.1f} s): "
            f"{type(exc).__name__}: {exc}",
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
