"""`python -m planner plan STACK [STACK ...]`: the offline plan (what `make plan` runs).

`python -m planner config-reference [--update README.md]` prints (or rewrites in place) the
README's generated configuration reference and policy table.

`python -m planner promote STACK MODEL VERSION` pins VERSION for MODEL's endpoints in the stack
file (what the promotion pull request changes; see planner/promote.py).

Exit codes: 0 planned with no mandatory violation; 2 invalid stack configuration (nothing was
registered); 3 a mandatory policy violation; 1 the program failed otherwise.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before the heavy imports: the wall time includes them

import argparse
import sys
from pathlib import Path

from components.config import ConfigError
from planner.cost import (
    budget_warning,
    estimate,
    render_estimate,
    stack_cost_inputs,
    write_estimate,
)
from planner.k8s_manifests import ManifestError, write_manifests
from planner.mocks import Registration
from planner.policies import evaluate
from planner.report import (
    render_outputs,
    render_policy,
    render_totals,
    render_tree,
    write_plan,
)
from planner.run import PROJECT_DIR, run_program

EXIT_CONFIG = 2
EXIT_POLICY = 3


class Progress:
    """Shows the registrations as they happen (a counter on a terminal, sparse lines in logs)."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.count = 0
        self.tty = sys.stderr.isatty()

    def __call__(self, record: Registration) -> None:
        self.count += 1
        if self.tty:
            sys.stderr.write(f"\r  {self.stack}: {self.count} registered ({record.type})\x1b[K")
            sys.stderr.flush()
        elif self.count % 25 == 1:
            print(f"  {self.stack}: {self.count} registered, latest {record.type}", file=sys.stderr)

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        print(f"  {self.stack}: {self.count} registrations", file=sys.stderr)


def plan_stack(stack: str, out_root: Path) -> int:
    started = time.perf_counter()
    print(f"==> planning stack {stack!r} offline (Pulumi mock runtime)", file=sys.stderr)
    progress = Progress(stack)
    try:
        plan = run_program(stack, on_register=progress)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"  {progress.count} resources were registered", file=sys.stderr)
        return EXIT_CONFIG
    progress.done()
    print(
        f"==> evaluating the policy pack over {len(plan.registrations)} resources", file=sys.stderr
    )
    report = evaluate(plan.registrations)
    path = write_plan(plan, report, out_root / stack)
    # The monthly cost estimate (planner/cost.py), written beside resources.json as cost.json.
    cost = estimate(plan.registrations, stack, plan.region, stack_cost_inputs(PROJECT_DIR, stack))
    cost_path = write_estimate(cost, out_root / stack)
    # The Kubernetes objects as manifests, for review (planner/k8s_manifests.py).
    try:
        k8s_files = write_manifests(plan, out_root / stack / "k8s")
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    lines = [
        *render_tree(plan),
        "",
        *render_totals(plan),
        "",
        *render_outputs(plan),
        "",
        *render_policy(report),
        "",
        *render_estimate(cost),
    ]
    print("\n".join(lines))
    elapsed = time.perf_counter() - started
    for written in (path, cost_path):
        shown = written.relative_to(PROJECT_DIR) if written.is_relative_to(PROJECT_DIR) else written
        print(f"wrote {shown}")
    if k8s_files:
        k8s_dir = k8s_files[0].parent
        shown = k8s_dir.relative_to(PROJECT_DIR) if k8s_dir.is_relative_to(PROJECT_DIR) else k8s_dir
        print(f"wrote {len(k8s_files)} Kubernetes manifests to {shown}/")
    warning = budget_warning(cost)
    if warning is not None:
        print(warning, file=sys.stderr)
    print(
        f"wall time: {elapsed:.2f}s for this stack (program {plan.seconds:.2f}s), "
        f"{time.perf_counter() - _STARTED:.2f}s since start"
    )
    if report.mandatory:
        print(
            f"error: {len(report.mandatory)} mandatory policy violation(s) in stack {stack!r}",
            file=sys.stderr,
        )
        return EXIT_POLICY
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="offline plan of one or more stacks")
    plan.add_argument("stacks", nargs="+", metavar="STACK")
    plan.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "plan")
    ref = sub.add_parser("config-reference", help="print the generated configuration reference")
    ref.add_argument("--update", type=Path, metavar="README", help="rewrite it in this file")
    promo = sub.add_parser("promote", help="pin a model version in a stack file (validated)")
    promo.add_argument("stack", metavar="STACK")
    promo.add_argument("model", metavar="MODEL")
    promo.add_argument("version", metavar="VERSION", type=int)
    args = parser.parse_args(argv)
    if args.command == "promote":
        from planner.promote import PromotionError, promote

        try:
            done = promote(PROJECT_DIR, args.stack, args.model, args.version)
        except PromotionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(
            f"{done.stack_file.name}: {done.model} pinned to version {done.version} "
            f"({done.changed} value(s) changed)"
        )
        return 0
    if args.command == "config-reference":
        from planner.docs import (
            CONTROLS_BEGIN,
            CONTROLS_END,
            COST_BEGIN,
            COST_END,
            POLICY_BEGIN,
            POLICY_END,
            config_reference,
            controls_table,
            cost_table,
            policy_table,
            shipped_estimates,
            with_reference,
        )

        if args.update is None:
            print(config_reference(), end="")
            print(policy_table(), end="")
            print(controls_table(), end="")
        else:
            text = with_reference(args.update.read_text(), config_reference())
            text = with_reference(text, policy_table(), POLICY_BEGIN, POLICY_END)
            text = with_reference(text, controls_table(), CONTROLS_BEGIN, CONTROLS_END)
            text = with_reference(text, cost_table(shipped_estimates()), COST_BEGIN, COST_END)
            args.update.write_text(text)
        return 0
    started = time.perf_counter()
    worst = 0
    for stack in args.stacks:
        code = plan_stack(stack, args.out)
        worst = max(worst, code)
        print()
    if len(args.stacks) > 1:
        print(f"planned {len(args.stacks)} stacks in {time.perf_counter() - started:.2f}s")
    return worst


if __name__ == "__main__":
    sys.exit(main())
