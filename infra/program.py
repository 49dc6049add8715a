"""The platform program: validate the stack's config, then build the platform on one provider.

Capabilities are added here as components, each receiving the same `PlatformContext`; a
capability whose config section is disabled (or not built yet) registers nothing.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import PlatformConfig, load_platform_config
from components.kms import PlatformKey, PlatformKeyArgs
from components.naming import Naming
from components.platform import PlatformContext, aws_provider, partition_for

STACK_CONFIG_DIR = "stacks"


def raw_stack_config() -> dict[str, Any]:
    """Every config key Pulumi handed this run (explicitly set map, then the environment's)."""
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def read_config() -> PlatformConfig:
    """The validated config of the current stack; raises ConfigError before any resource."""
    return load_platform_config(raw_stack_config(), pulumi.get_stack(), STACK_CONFIG_DIR)


def main() -> None:
    cfg = read_config()
    naming = Naming(pulumi.get_project(), pulumi.get_stack())
    provider = aws_provider("aws", cfg)
    ctx = PlatformContext(
        config=cfg, naming=naming, provider=provider, partition=partition_for(cfg.region)
    )
    key = PlatformKey("platform", PlatformKeyArgs(context=ctx))

    pulumi.export("environment", cfg.environment)
    pulumi.export("region", cfg.region)
    pulumi.export("kmsKeyArn", key.key_arn)
    pulumi.export("kmsKeyAlias", key.alias_name)
