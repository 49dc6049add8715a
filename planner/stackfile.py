"""Reads a stack file the way the Pulumi CLI hands config to a program.

Project-level defaults from Pulumi.yaml apply first, then the stack file's values. Top-level
scalars become strings and structured values JSON text, as in `PULUMI_CONFIG`. Encrypted values
(`secure:`) cannot be decrypted offline; they become a placeholder and are marked secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT, ConfigError, ConfigProblem

SECRET_PLACEHOLDER = "[secret: encrypted in the stack file, not decrypted offline]"


@dataclass(frozen=True)
class StackConfig:
    """A stack's config as the program receives it."""

    stack: str
    path: Path
    values: dict[str, str]
    secret_keys: list[str]


def _to_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _project_defaults(project_file: Path) -> dict[str, Any]:
    project = yaml.safe_load(project_file.read_text()) or {}
    defaults: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(decl, dict):
            if "default" in decl:
                defaults[full] = decl["default"]
            elif "value" in decl:
                defaults[full] = decl["value"]
        else:
            defaults[full] = decl
    return defaults


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / "stacks" / f"Pulumi.{stack}.yaml"


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Read `stacks/Pulumi.<stack>.yaml` (raises ConfigError if missing or not a mapping)."""
    path = stack_file(project_dir, stack)
    rel = f"stacks/Pulumi.{stack}.yaml"
    if not path.is_file():
        available = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml")
        )
        raise ConfigError(
            rel,
            [
                ConfigProblem(
                    "<file>",
                    repr(str(path)),
                    "stack file not found",
                    "one of the stacks " + ", ".join(available),
                )
            ],
        )
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            rel,
            [
                ConfigProblem(
                    "<file>", "unparseable YAML", str(exc).replace("\n", " "), "a YAML mapping"
                )
            ],
        ) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(
            rel,
            [
                ConfigProblem(
                    "config",
                    repr(type(config).__name__),
                    "no `config:` mapping",
                    "a YAML mapping under `config:`",
                )
            ],
        )
    merged: dict[str, Any] = _project_defaults(project_dir / "Pulumi.yaml")
    merged.update(config)
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in merged.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[str(key)] = SECRET_PLACEHOLDER
            secret_keys.append(str(key))
        else:
            values[str(key)] = _to_config_string(value)
    return StackConfig(stack=stack, path=path, values=values, secret_keys=secret_keys)
