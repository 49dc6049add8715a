"""What the offline plan writes and prints: resources.json, the component tree, the totals."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from planner.mocks import Registration
from planner.policies import PolicyReport
from planner.run import Plan


def write_plan(plan: Plan, report: PolicyReport | None, out_dir: Path) -> Path:
    """Write resources.json (and outputs.json, policy.json); return the resources path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    resources = out_dir / "resources.json"
    document: dict[str, Any] = {
        "stack": plan.stack,
        "account": plan.account_id,
        "region": plan.region,
        "resourceCount": len(plan.registrations),
        "resources": [r.to_json() for r in plan.registrations],
    }
    resources.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    (out_dir / "outputs.json").write_text(json.dumps(plan.outputs, indent=2) + "\n")
    if report is not None:
        (out_dir / "policy.json").write_text(
            json.dumps(
                {
                    "checks": report.checks,
                    "violations": [v.to_json() for v in report.violations],
                    "notApplicable": [v.to_json() for v in report.not_applicable],
                },
                indent=2,
            )
            + "\n"
        )
    return resources


def _label(record: Registration) -> str:
    return f"{record.type} {record.name}"


def render_tree(plan: Plan) -> list[str]:
    """Components (and the stack) with their resources: direct and total counts."""
    children: dict[str, list[Registration]] = defaultdict(list)
    for record in plan.registrations:
        children[record.parent].append(record)
    registered = {r.urn for r in plan.registrations}
    roots = [r for r in plan.registrations if r.parent not in registered]

    def total(record: Registration) -> int:
        own = 1 if record.custom else 0
        return own + sum(total(c) for c in children.get(record.urn, []))

    lines = [f"{plan.stack}: {sum(1 for r in plan.registrations if r.custom)} resources"]

    def walk(record: Registration, prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        if record.custom:
            lines.append(f"{prefix}{branch}{_label(record)}")
        else:
            kids = children.get(record.urn, [])
            direct = sum(1 for c in kids if c.custom)
            lines.append(
                f"{prefix}{branch}{_label(record)}  [{direct} direct, {total(record)} total]"
            )
        kids = sorted(children.get(record.urn, []), key=lambda r: (r.custom, r.type, r.name))
        for index, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), index == len(kids) - 1)

    ordered = sorted(roots, key=lambda r: (r.custom, r.type, r.name))
    for index, record in enumerate(ordered):
        walk(record, "", index == len(ordered) - 1)
    return lines


def render_totals(plan: Plan) -> list[str]:
    counts = Counter(r.type for r in plan.registrations if r.custom)
    width = max((len(t) for t in counts), default=10)
    lines = ["resources by type:"]
    lines += [f"  {t:<{width}}  {n:>4}" for t, n in sorted(counts.items())]
    lines.append(f"  {'total':<{width}}  {sum(counts.values()):>4}")
    return lines


def render_policy(report: PolicyReport) -> list[str]:
    lines = [
        f"policies: {report.checks} checks, {len(report.violations)} violations "
        f"({len(report.mandatory)} mandatory), {len(report.not_applicable)} not applicable"
    ]
    for v in report.violations:
        lines.append(f"  [{v.enforcement}] {v.policy}: {v.urn}\n      {v.message}")
    return lines


def render_outputs(plan: Plan) -> list[str]:
    """The stack's outputs: what it provides (buckets, feature groups, registry, …)."""
    lines = ["stack outputs:"]
    width = max((len(k) for k in plan.outputs), default=10)
    for key, value in plan.outputs.items():
        if isinstance(value, dict) and value:
            lines.append(f"  {key}:")
            inner = max(len(str(k)) for k in value)
            lines += [f"    {k!s:<{inner}}  {_scalar(v)}" for k, v in value.items()]
        else:
            lines.append(f"  {key:<{width}}  {_scalar(value)}")
    return lines


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
