"""Reading a stack file the way the Pulumi CLI hands config to the program."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.config import ConfigError
from planner.run import PROJECT_DIR
from planner.stackfile import SECRET_PLACEHOLDER, load_stack_config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy2(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    return tmp_path


def test_defaults_scalars_objects_and_secrets(project: Path) -> None:
    (project / "stacks" / "Pulumi.x.yaml").write_text(
        "config:\n"
        "  mlops-platform:environment: x\n"
        "  mlops-platform:kms:\n"
        "    deletionWindowDays: 7\n"
        "  mlops-platform:tags:\n"
        "    secure: v1:abcdef\n"
        "  pulumi:disable-default-providers: ['*']\n"
        "  mlops-platform:flag: true\n"
    )
    cfg = load_stack_config(project, "x")
    # Pulumi.yaml defaults first (as the CLI applies them), then the stack's values.
    assert cfg.values["mlops-platform:region"] == "us-east-1"
    assert cfg.values["mlops-platform:allowedAccountIds"] == "[]"
    assert cfg.values["mlops-platform:network"] == "{}"
    # Objects travel as JSON text, scalars as strings (booleans the way Pulumi writes them).
    assert json.loads(cfg.values["mlops-platform:kms"]) == {"deletionWindowDays": 7}
    assert cfg.values["mlops-platform:flag"] == "true"
    assert cfg.values["pulumi:disable-default-providers"] == '["*"]'
    # An encrypted value cannot be read offline: masked, and marked secret.
    assert cfg.values["mlops-platform:tags"] == SECRET_PLACEHOLDER
    assert cfg.secret_keys == ["mlops-platform:tags"]
    assert "v1:abcdef" not in json.dumps(cfg.values)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("config: [1, 2]\n", "no `config:` mapping"),
        ("config:\n  a: [\n", "while parsing a flow"),
        ("just text\n", "no `config:` mapping"),
    ],
    ids=["config-not-a-mapping", "yaml-syntax", "not-a-mapping"],
)
def test_unreadable_stack_files_are_config_errors(project: Path, body: str, problem: str) -> None:
    (project / "stacks" / "Pulumi.bad.yaml").write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_stack_config(project, "bad")
    assert str(caught.value).startswith("invalid configuration in stacks/Pulumi.bad.yaml")
    assert problem in str(caught.value)
