"""The controls table (policy/mlops_policies/controls.py) against ../shared/SECURITY-CONTROLS.md
and the pack.

- every bullet of the file is stated by at least one control, and every control quotes a bullet
  of the file under the right heading;
- the source ids each bullet cites (`SH S3.1/S3.8`, `SH SageMaker.1..3`, `CKV_AWS_53..56`,
  `CKV_AWS_173, _45`, `CKV_K8S_8/9`, `CKV2_K8S_6` ...) are, expanded, exactly the ids of that
  bullet's controls: none dropped, none invented;
- every control is enforced, not applicable (with a reason) or not encoded (with what is
  missing), and the not-applicable and not-encoded ones are the expected sets below, so adding
  coverage means updating them;
- every enforcer named exists: a policy of `POLICIES` or a test listed in
  `EXTERNAL_ENFORCERS`; every policy of the pack enforces some control or is a
  `PLATFORM_POLICIES` entry with its reason;
- every pack policy that enforces a control has a violating case in tests/policy. This is a
  structural check only: the policy's quoted name must occur in a tests/policy module other than
  this one (the suites there assert each policy reports its planted violation, e.g.
  `test_every_s3_policy_has_a_violating_case`); it does not prove which case violates what.

The file lives outside the repository, at ../shared/SECURITY-CONTROLS.md relative to the project
root; without it these tests fail, saying so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planner.k8s_manifests import REQUIRED_CHECKS
from planner.run import PROJECT_DIR
from policy.mlops_policies import POLICIES
from policy.mlops_policies.controls import (
    CHECKOV,
    CONTROLS,
    EXTERNAL_ENFORCERS,
    PLATFORM_POLICIES,
    Control,
)

CONTROLS_FILE = PROJECT_DIR / "policy" / "SECURITY-CONTROLS.md"
"""The controls the pack encodes: the project's copy of the standard, so a clean clone (CI)
checks against it; `SHARED_FILE` is where the standard is maintained."""
SHARED_FILE = PROJECT_DIR.parent / "shared" / "SECURITY-CONTROLS.md"

NOT_ENCODED: set[str] = set()
"""Controls that apply but no policy enforces yet. Encode one, then remove it here."""

NOT_APPLICABLE = {"SM-11", "SM-12", "SM-13"}
"""Controls on resources the platform does not create (notebook instances)."""

TEST_ONLY = {"IAM-5", "IAM-6", "REL-6"}
"""Controls a policy cannot see (the calls a role's users make, source comments,
retain_on_delete): enforced by tests only."""

POLICY_NAMES = {p.name for p in POLICIES}

_CHECKOV_ID = re.compile(r"\b(CKV2?_(?:AWS|K8S))_(\d+)((?:(?:\.\.|/|, _)\d+)*)")
_SH_ID = re.compile(
    r"\bSH ([A-Za-z][A-Za-z0-9]*)\.(\d+)((?:/(?:[A-Za-z][A-Za-z0-9]*)?\.\d+|\.\.\d+)*)"
)


def cited_ids(text: str) -> set[str]:
    """The source ids `text` cites, shorthands and ranges expanded."""
    found: set[str] = set()
    for prefix, first, rest in _CHECKOV_ID.findall(text):
        previous = int(first)
        found.add(f"{prefix}_{previous}")
        for separator, number in re.findall(r"(\.\.|/|, _)(\d+)", rest):
            end = int(number)
            numbers = range(previous + 1, end + 1) if separator == ".." else (end,)
            found.update(f"{prefix}_{n}" for n in numbers)
            previous = end
    for first_service, first, rest in _SH_ID.findall(text):
        service, previous = first_service, int(first)
        found.add(f"SH {service}.{previous}")
        for separator, other, number in re.findall(
            r"(\.\.|/)([A-Za-z][A-Za-z0-9]*)?\.?(\d+)", rest
        ):
            service = other or service
            end = int(number)
            numbers = range(previous + 1, end + 1) if separator == ".." else (end,)
            found.update(f"SH {service}.{n}" for n in numbers)
            previous = end
    return found


def bullets(text: str) -> list[tuple[str, str]]:
    """(heading, bullet text on one line) for every bullet of the file."""
    found: list[tuple[str, str]] = []
    heading = ""
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("- "):
            found.append((heading, line[2:].strip()))
        elif line.startswith("  ") and line.strip() and found and found[-1][0] == heading:
            found[-1] = (heading, f"{found[-1][1]} {line.strip()}")
    return found


@pytest.fixture(scope="module")
def file_bullets() -> list[tuple[str, str]]:
    if not CONTROLS_FILE.is_file():
        pytest.fail(
            f"{CONTROLS_FILE} is missing: the controls table is checked against it (copy "
            "../shared/SECURITY-CONTROLS.md there)"
        )
    found = bullets(CONTROLS_FILE.read_text())
    assert found, f"no bullets read from {CONTROLS_FILE}"
    return found


def _controls_of(heading: str, bullet: str) -> list[Control]:
    return [c for c in CONTROLS if heading.startswith(c.section) and bullet.startswith(c.bullet)]


def test_cited_ids_expand_ranges_and_shorthands() -> None:
    assert cited_ids("(SH S3.1/S3.8, CKV_AWS_53..56)") == {
        "SH S3.1",
        "SH S3.8",
        *(f"CKV_AWS_{n}" for n in (53, 54, 55, 56)),
    }
    assert cited_ids("(SH SageMaker.17/.18) (SH SageMaker.1..3) (SH IAM.1/IAM.21)") == {
        "SH SageMaker.17",
        "SH SageMaker.18",
        "SH SageMaker.1",
        "SH SageMaker.2",
        "SH SageMaker.3",
        "SH IAM.1",
        "SH IAM.21",
    }
    assert cited_ids("(CKV_AWS_62/63/286..290, CKV_AWS_355) (CKV_AWS_173, _45)") == {
        *(f"CKV_AWS_{n}" for n in (62, 63, 286, 287, 288, 289, 290, 355, 173, 45))
    }
    assert cited_ids("(CKV_K8S_16..20, _23, _40) (CKV_K8S_38/41); (CKV2_K8S_6) CKV2_AWS_64") == {
        *(f"CKV_K8S_{n}" for n in (16, 17, 18, 19, 20, 23, 40, 38, 41)),
        "CKV2_K8S_6",
        "CKV2_AWS_64",
    }
    assert cited_ids("checkov's built-in checks (CKV_AWS_*, CKV2_AWS_*, CKV_K8S_*)") == set()


def test_every_bullet_is_stated_by_a_control(file_bullets: list[tuple[str, str]]) -> None:
    missing = [f"{h}: {b[:60]}" for h, b in file_bullets if not _controls_of(h, b)]
    assert missing == [], "bullets of SECURITY-CONTROLS.md without a control in CONTROLS"
    for control in CONTROLS:
        assert any(
            h.startswith(control.section) and b.startswith(control.bullet) for h, b in file_bullets
        ), f"{control.id} quotes no bullet of the file: {control.section} / {control.bullet}"


def test_each_bullets_source_ids_are_its_controls(file_bullets: list[tuple[str, str]]) -> None:
    everything: set[str] = set()
    for heading, bullet in file_bullets:
        cited = cited_ids(bullet)
        everything |= cited
        mapped = {s for c in _controls_of(heading, bullet) for s in c.sources}
        assert mapped == cited, (
            f"{heading}: {bullet[:50]}: not mapped {sorted(cited - mapped)}, "
            f"not cited {sorted(mapped - cited)}"
        )
    # The ranges the file uses, so a parser regression cannot pass unnoticed.
    assert {"CKV_AWS_55", "CKV_AWS_288", "CKV_K8S_12", "CKV_K8S_43", "SH SageMaker.2"} <= everything


def test_control_ids_are_unique_and_each_control_has_one_status() -> None:
    ids = [c.id for c in CONTROLS]
    assert len(ids) == len(set(ids))
    for control in CONTROLS:
        statuses = [
            bool(control.enforced_by),
            bool(control.not_applicable),
            bool(control.not_encoded),
        ]
        assert statuses.count(True) == 1, control.id
        assert control.text, control.id
        assert control.bullet, control.id


def test_not_encoded_and_not_applicable_are_the_expected_sets() -> None:
    assert {c.id for c in CONTROLS if c.not_encoded} == NOT_ENCODED
    assert {c.id for c in CONTROLS if c.not_applicable} == NOT_APPLICABLE


def test_every_enforcer_exists_and_applicable_controls_have_a_policy() -> None:
    for control in CONTROLS:
        for name in control.enforced_by:
            assert name in POLICY_NAMES or name in EXTERNAL_ENFORCERS, (control.id, name)
    test_only = {
        c.id
        for c in CONTROLS
        if c.enforced_by and not any(n in POLICY_NAMES for n in c.enforced_by)
    }
    assert test_only == TEST_ONLY


def test_every_policy_enforces_a_control_or_a_platform_rule() -> None:
    referenced = {n for c in CONTROLS for n in c.enforced_by if n in POLICY_NAMES}
    assert set(PLATFORM_POLICIES) <= POLICY_NAMES
    assert not set(PLATFORM_POLICIES) & referenced, "listed as platform rule but maps a control"
    assert POLICY_NAMES - referenced - set(PLATFORM_POLICIES) == set()
    assert all(reason.strip() for reason in PLATFORM_POLICIES.values())


def test_every_enforcing_policy_has_a_violating_test() -> None:
    """Structural: the policy's quoted name occurs in another tests/policy module."""
    here = Path(__file__).resolve()
    sources = "\n".join(p.read_text() for p in here.parent.glob("test_*.py") if p.resolve() != here)
    enforcing = {n for c in CONTROLS for n in c.enforced_by if n in POLICY_NAMES}
    assert sorted(n for n in enforcing if f'"{n}"' not in sources) == []


def test_checkov_enforced_controls_are_required_checks() -> None:
    checkov = [c for c in CONTROLS if CHECKOV in c.enforced_by]
    for control in checkov:
        assert set(control.sources) & set(REQUIRED_CHECKS), control.id
    cited = {s for c in checkov for s in c.sources}
    assert set(REQUIRED_CHECKS) <= cited


@pytest.mark.skipif(
    not SHARED_FILE.is_file(), reason="the shared standards folder is not next to this checkout"
)
def test_the_projects_copy_is_the_shared_standard() -> None:
    """Where the maintained standard is at hand (a developer's machine), the copy the tests
    check against is the same text: a changed standard fails here until the copy and the
    controls table follow it."""
    assert CONTROLS_FILE.read_text() == SHARED_FILE.read_text()
