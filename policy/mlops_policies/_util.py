"""Small helpers shared by the policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

PRODUCTION_ENVIRONMENTS = ("prod",)
"""Environment tag values treated as production (policy config `productionEnvironments`)."""


def json_value(value: Any) -> Any:
    """Providers' object inputs reach policies as JSON text; parse them, pass others through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def provider_default_tags(args: ResourceValidationArgs) -> dict[str, str]:
    """The default tags of the resource's provider (empty when none)."""
    if args.provider is None:
        return {}
    default_tags = json_value(args.provider.props.get("defaultTags"))
    if isinstance(default_tags, Mapping):
        tags = default_tags.get("tags")
        if isinstance(tags, Mapping):
            return {str(k): str(v) for k, v in tags.items()}
    return {}


def effective_tags(args: ResourceValidationArgs) -> dict[str, str]:
    """Provider default tags overlaid with the resource's own tags, as AWS would apply them."""
    tags = provider_default_tags(args)
    own = args.props.get("tags")
    if isinstance(own, Mapping):
        tags.update({str(k): str(v) for k, v in own.items()})
    return tags


def is_production(args: ResourceValidationArgs) -> bool:
    configured = args.get_config().get("productionEnvironments", PRODUCTION_ENVIRONMENTS)
    return effective_tags(args).get("Environment") in tuple(configured)
