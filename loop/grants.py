"""Least privilege from the other side: which of a role's grants its users' calls used.

The sufficiency proofs (tests/e2e) run a role's users under the harness's evaluator (`loop.iam`):
a handler's code, a pipeline's steps, the service's own calls with the role. Each allowed call is
recorded with the statement that allowed it, and each proof pins those (action, statement) pairs
exactly. `unused` turns the other way round: given the pairs the proofs of one role pinned, it
returns the grants of the role's policy that no call used, a grant being one action pattern of
one Allow statement. A role that grants only what its users call has none, or only those a test
lists with the reason it cannot be exercised here.

A Deny statement grants nothing and is not a grant. `NotAction` in an Allow statement grants an
open set that no list of calls can cover; it is refused (`UnsupportedGrantError`), as the pack
refuses it (`iam-least-privilege`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loop.iam import _glob, _listed, statements


class UnsupportedGrantError(ValueError):
    """A statement whose grants cannot be listed."""


@dataclass(frozen=True, order=True)
class Grant:
    """One action pattern of one Allow statement, as written in the policy."""

    statement: str
    action: str


def grants(document: str | Mapping[str, Any]) -> set[Grant]:
    """Every (statement, action pattern) an identity policy allows."""
    found: set[Grant] = set()
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        sid = str(statement.get("Sid") or f"#{index}")
        if "Action" not in statement:
            raise UnsupportedGrantError(
                f"statement {sid} allows by NotAction; its grants cannot be listed"
            )
        found.update(Grant(sid, action) for action in _listed(statement["Action"]))
    return found


def unused(document: str | Mapping[str, Any], uses: Iterable[tuple[str, str]]) -> set[Grant]:
    """The grants of `document` that no (action, statement) pair of `uses` matched.

    A use matches a grant when its statement is the grant's and its action matches the grant's
    pattern as IAM matches actions (case-insensitive, `*` and `?`)."""
    pairs = set(uses)
    return {
        grant
        for grant in grants(document)
        if not any(
            sid == grant.statement and _glob(grant.action, action, ignore_case=True)
            for action, sid in pairs
        )
    }


def unknown_statements(
    document: str | Mapping[str, Any], uses: Iterable[tuple[str, str]]
) -> set[str]:
    """Statements the uses name that the document has no Allow statement for (a pinned pair
    that has gone stale: the statement was renamed or removed)."""
    known = {grant.statement for grant in grants(document)}
    return {sid for _, sid in uses if sid not in known}
