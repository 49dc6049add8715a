"""Project-level promises: Pulumi.yaml matches the config model, the README's reference is the
generated one, the README's commands are the Makefile's, and every dependency is pinned with
hashes without naming a package registry's host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from components.config import SECRET_KEYS, TOP_LEVEL_KEYS, PlatformConfig, describe_field
from planner.cost import estimate, stack_cost_inputs
from planner.docs import config_reference, controls_table, cost_table, policy_table
from planner.run import Plan

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_pulumi_yaml_project_settings() -> None:
    project = _project()
    assert project["name"] == "mlops-platform"
    assert project["main"] == "infra/"
    assert project["stackConfigDir"] == "stacks"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }


def _pulumi_type(info: Any) -> str:
    accepted = describe_field(info)
    if accepted.startswith("list of"):
        return "array"
    if accepted.startswith(("a mapping", "mapping")) or accepted.endswith(", or unset"):
        return "object"
    if accepted == "true or false":
        return "boolean"
    if accepted.startswith("integer"):
        return "integer"
    return "string"


def test_pulumi_yaml_declares_exactly_the_models_top_level_keys() -> None:
    declared = _project()["config"]
    # A secret (the kubeconfig of an existing cluster) is not declared: Pulumi would demand a
    # declared key without a default of every stack, and a secret has no default to give.
    assert set(declared) == set(TOP_LEVEL_KEYS) - SECRET_KEYS
    for key, info in TOP_LEVEL_KEYS.items():
        if key in SECRET_KEYS:
            continue
        decl = declared[key]
        assert decl["type"] == _pulumi_type(info), key
        assert decl["description"], key
        if info.is_required():
            assert "default" not in decl, f"{key} is required: Pulumi must demand it per stack"
        elif decl["type"] == "object":
            assert decl["default"] == {}, key
        else:
            default = info.get_default(call_default_factory=True)
            assert decl["default"] == default, key


def test_object_defaults_validate_as_the_models_defaults() -> None:
    """`{}` for every declared section is the model's own default (network: unset)."""
    from components.config import load_platform_config

    raw = {
        f"mlops-platform:{k}": "{}"
        for k, d in _project()["config"].items()
        if d.get("default") == {}
    }
    raw |= {
        "mlops-platform:environment": "dev",
        "mlops-platform:tier": "dev",
        "mlops-platform:tags": '{"costCenter": "c", "owner": "o"}',
    }
    cfg = load_platform_config(raw, "dev")
    expected = PlatformConfig.model_validate(
        {"environment": "dev", "tier": "dev", "tags": {"costCenter": "c", "owner": "o"}}
    )
    assert cfg == expected
    assert cfg.network is None


def test_readme_configuration_reference_is_generated() -> None:
    readme = (ROOT / "README.md").read_text()
    assert config_reference() in readme, "run `make docs` to regenerate the README reference"
    assert policy_table() in readme, "run `make docs` to regenerate the README policy table"
    assert controls_table() in readme, "run `make docs` to regenerate the README controls table"
    for key in TOP_LEVEL_KEYS:
        assert f"`mlops-platform:{key}" in readme


def test_readme_shows_each_stacks_estimated_cost(plans: dict[str, Plan]) -> None:
    inputs = {stack: stack_cost_inputs(ROOT, stack) for stack in plans}
    table = cost_table(
        {
            stack: estimate(plan.registrations, stack, plan.region, inputs[stack])
            for stack, plan in plans.items()
        }
    )
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "run `make docs` to regenerate the README's cost estimates"
    for stack in ("dev", "staging", "prod"):
        assert f"\n| {stack} | eu-west-1 | " in table


def test_readme_commands_are_the_makefiles_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in ("make setup", "make plan STACK=dev", "make test"):
        assert f"\n{command}" in readme
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"setup", "plan", "plan-all", "test", "lint"} <= targets
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.findall(r"^make .*$", ci, re.M) == ["make test"]


REGISTRY_HOSTS = re.compile(
    r"pypi\.org|pythonhosted\.org|registry\.npmjs\.org|deb\.debian\.org|"
    r"registry\.yarnpkg\.com|proxy\.golang\.org|crates\.io"
)


def test_no_committed_file_names_a_registry_host_and_no_lock_with_urls() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "uv.lock" not in files
    offenders = [
        f
        for f in files
        if (ROOT / f).is_file() and REGISTRY_HOSTS.search((ROOT / f).read_text(errors="ignore"))
    ]
    assert offenders == []


def test_requirements_are_exact_pins_with_hashes() -> None:
    for name in (
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-bootstrap.txt",
        "policy/requirements.txt",
        "lambdas/drift_check/requirements.txt",
        "lambdas/powertools_layer/requirements.txt",
        "bench/requirements.txt",
    ):
        text = (ROOT / name).read_text()
        requirements = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)(.*?)(?=^\S|\Z)", text, re.M | re.S)
        assert requirements, name
        for package, rest in requirements:
            assert re.match(r"==[\w.]+", rest), f"{name}: {package} is not pinned exactly"
            assert "--hash=sha256:" in rest, f"{name}: {package} has no hash"


def test_runtime_pins_are_the_dev_pins() -> None:
    def pins(name: str) -> dict[str, str]:
        return dict(re.findall(r"^([a-z0-9_.\-]+)==([\w.]+)", (ROOT / name).read_text(), re.M))

    runtime, dev, pack = (
        pins("requirements.txt"),
        pins("requirements-dev.txt"),
        pins("policy/requirements.txt"),
    )
    assert {k: dev[k] for k in runtime} == runtime
    assert {k: dev[k] for k in pack} == pack
    # The drift-check layer carries exactly the versions the tests ran with.
    layer = pins("lambdas/drift_check/requirements.txt")
    assert {k: dev[k] for k in layer} == layer
    assert {"numpy", "orjson", "aws-lambda-powertools"} <= set(layer)
    assert not {"boto3", "botocore", "scipy", "pandas", "pyarrow"} & set(layer)
    # The capture proxy's and verifier's layer: Powertools and pydantic, nothing heavy.
    light = pins("lambdas/powertools_layer/requirements.txt")
    assert {k: dev[k] for k in light} == light
    assert {"aws-lambda-powertools", "pydantic"} <= set(light)
    assert not {"boto3", "botocore", "numpy", "orjson", "msgspec"} & set(light)
