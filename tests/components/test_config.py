"""The typed stack config: bad stacks are refused with precise messages before any resource.

Every rejection case runs the real program (`infra/__main__.py`) under the Pulumi mocks through
`plan_with`, so it proves the whole path: the raw config map Pulumi hands the program, the
validation, the rendered error and the absence of any registration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, PlatformConfig, load_platform_config
from planner.mocks import Registration
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config
from tests.conftest import plan_with

DEV_FILE = "stacks/Pulumi.dev.yaml"
NS = "mlops-platform:"

# Enough of a prod stack that only the rule under test is broken.
PROD_BASE: dict[str, Any] = {
    f"{NS}tier": "prod",
    f"{NS}protection": {"protectStateful": True},
    f"{NS}allowedAccountIds": ["111111111111"],
    f"{NS}modelRegistry": {"approval": "manual"},
}


def line(key: str, problem: str, got: str, accepted: str) -> str:
    """One rendered problem: `<file>: <key>: <problem> (got <value>); accepted: <text>`."""
    return f"{DEV_FILE}: {key}: {problem} (got {got}); accepted: {accepted}"


AWS_REGION_REFUSED = line(
    "aws:region",
    "unknown config namespace 'aws'; the platform builds its own AWS provider from "
    "mlops-platform:region and ignores other namespaces",
    "'eu-west-1'",
    "keys mlops-platform:<key> (see the README's configuration reference) or pulumi:<key>",
)


def whole_message(lines: list[str]) -> str:
    count = f"{len(lines)} problem{'' if len(lines) == 1 else 's'}"
    body = "\n".join(f"  - {text}" for text in lines)
    return f"invalid configuration in {DEV_FILE} ({count}):\n{body}"


@dataclass(frozen=True)
class Bad:
    """A broken dev stack and the exact line the platform must print for it."""

    id: str
    expected: str
    overrides: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


KMS_ACCEPTS = "integer >= 7, <= 30"
TOP_LEVEL_KEYS = (
    "environment, tier, region, allowedAccountIds, tags, network, protection, kms, logging, "
    "dataLake, featureStore, modelRegistry, training, inference, kubernetes, monitoring, cost, "
    "drift, retraining"
)
REGION_RE = r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob)-[a-z]+-\d$"

BAD_CONFIGS = [
    # --- wrong type (the model is strict: no "7" -> 7, no true -> 1) ---------------------
    Bad(
        "string-where-integer",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "'7'",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": "7"}},
    ),
    Bad(
        "bool-where-integer",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "true",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": True}},
    ),
    Bad(
        "float-where-integer",
        line(
            f"{NS}training.maxRuntimeHours",
            "input should be a valid integer",
            "4.5",
            "integer >= 1, <= 672",
        ),
        {f"{NS}training": {"maxRuntimeHours": 4.5}},
    ),
    Bad(
        "string-where-bool",
        line(
            f"{NS}protection.protectStateful",
            "input should be a valid boolean",
            "'yes'",
            "true or false",
        ),
        {f"{NS}protection": {"protectStateful": "yes"}},
    ),
    Bad(
        "list-where-mapping",
        line(
            f"{NS}tags",
            "input should be a valid dictionary or instance of tags",
            '["ml-platform-team"]',
            "a mapping with required keys costCenter, owner and optional keys extra",
        ),
        {f"{NS}tags": ["ml-platform-team"]},
    ),
    Bad(
        "scalar-where-list",
        line(
            f"{NS}allowedAccountIds",
            "input should be a valid list",
            "111111111111",
            "list of (string matching `^\\d{12}$`) at most 5 items",
        ),
        {f"{NS}allowedAccountIds": 111111111111},
    ),
    # --- out of range ------------------------------------------------------------------
    Bad(
        "below-minimum",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be greater than or equal to 7",
            "6",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": 6}},
    ),
    Bad(
        "above-maximum",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be less than or equal to 30",
            "31",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": 31}},
    ),
    Bad(
        "budget-not-positive",
        line(
            f"{NS}cost.monthlyBudgetUsd",
            "input should be greater than 0",
            "0",
            "number > 0, <= 10000000",
        ),
        {f"{NS}cost": {"monthlyBudgetUsd": 0}},
    ),
    Bad(
        "too-many-accounts",
        line(
            f"{NS}allowedAccountIds",
            "list should have at most 5 items after validation, not 6",
            '["111111111111", "111111111111", "111111111111", "111111111111", '
            '"111111111111", "111111111111"]',
            "list of (string matching `^\\d{12}$`) at most 5 items",
        ),
        {f"{NS}allowedAccountIds": ["111111111111"] * 6},
    ),
    # --- unknown keys and namespaces ----------------------------------------------------
    Bad(
        "unknown-top-level-key-typo",
        line(
            f"{NS}enviroment",
            "unknown key (did you mean environment?)",
            "'dev'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        {f"{NS}enviroment": "dev"},
    ),
    Bad(
        "unknown-top-level-key-case",
        line(
            f"{NS}Region",
            "unknown key (did you mean region?)",
            "'eu-west-1'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        {f"{NS}Region": "eu-west-1"},
    ),
    Bad(
        "unknown-nested-key",
        line(
            f"{NS}kms.deletionWindowDay",
            "unknown key (did you mean deletionWindowDays?)",
            "7",
            "one of the keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": {"deletionWindowDay": 7}},
    ),
    Bad(
        "unknown-nested-key-no-hint",
        line(
            f"{NS}inference.replicas",
            "unknown key",
            "3",
            "one of the keys enabled, instanceType, minInstances, maxInstances",
        ),
        {f"{NS}inference": {"replicas": 3}},
    ),
    Bad(
        "unknown-namespace",
        AWS_REGION_REFUSED,
        {"aws:region": "eu-west-1"},
    ),
    # --- missing required ---------------------------------------------------------------
    Bad(
        "missing-environment",
        line(
            f"{NS}environment",
            "required key is missing",
            "<missing>",
            "string matching `^[a-z][a-z0-9]{1,9}$`",
        ),
        remove=(f"{NS}environment",),
    ),
    Bad(
        "missing-tags-owner",
        line(
            f"{NS}tags.owner",
            "required key is missing",
            "<missing>",
            "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
        ),
        {f"{NS}tags": {"costCenter": "ml-platform-dev"}},
    ),
    # --- bad pattern --------------------------------------------------------------------
    Bad(
        "region-without-number",
        line(
            f"{NS}region",
            f"string should match pattern '{REGION_RE}'",
            "'eu-west'",
            f"string matching `{REGION_RE}`",
        ),
        {f"{NS}region": "eu-west"},
    ),
    Bad(
        "account-id-eleven-digits",
        line(
            f"{NS}allowedAccountIds[0]",
            "string should match pattern '^\\d{12}$'",
            "'12345678901'",
            "string matching `^\\d{12}$`",
        ),
        {f"{NS}allowedAccountIds": ["12345678901"]},
    ),
    Bad(
        "environment-upper-case",
        line(
            f"{NS}environment",
            "string should match pattern '^[a-z][a-z0-9]{1,9}$'",
            "'Dev'",
            "string matching `^[a-z][a-z0-9]{1,9}$`",
        ),
        {f"{NS}environment": "Dev"},
    ),
    # --- literal not allowed ------------------------------------------------------------
    Bad(
        "tier-not-a-tier",
        line(
            f"{NS}tier",
            "input should be 'dev', 'staging' or 'prod'",
            "'production'",
            'one of "dev", "staging", "prod"',
        ),
        {f"{NS}tier": "production"},
    ),
    Bad(
        "log-retention-not-a-cloudwatch-value",
        line(
            f"{NS}logging.retentionDays",
            "input should be 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
            "1096, 1827, 2192, 2557, 2922, 3288 or 3653",
            "15",
            "one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
            "2192, 2557, 2922, 3288, 3653",
        ),
        {f"{NS}logging": {"retentionDays": 15}},
    ),
    # --- structured value that is not JSON / not a mapping ------------------------------
    Bad(
        "structured-value-not-json",
        line(
            f"{NS}kms",
            "expected a structured value, got text that is not JSON",
            "'deletionWindowDays=7'",
            "a mapping with optional keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": "deletionWindowDays=7"},
    ),
    Bad(
        "structured-value-json-scalar",
        line(
            f"{NS}kms",
            "input should be a valid dictionary or instance of kms",
            "7",
            "a mapping with optional keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": "7"},
    ),
    Bad(
        "network-one-subnet",
        line(
            f"{NS}network.subnetIds",
            "list should have at least 2 items after validation, not 1",
            '["subnet-0a1b2c3d"]',
            "list of (string matching `^subnet-[0-9a-f]{8,17}$`) at least 2 items, "
            "at most 16 items",
        ),
        {f"{NS}network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]}},
    ),
    # --- inconsistent combinations ------------------------------------------------------
    Bad(
        "prod-without-protection",
        line(
            f"{NS}protection.protectStateful",
            "stateful resources must be protected when tier is prod",
            "false",
            "true when tier is prod",
        ),
        {**PROD_BASE, f"{NS}protection": {"protectStateful": False}},
    ),
    Bad(
        "prod-without-allowed-accounts",
        line(
            f"{NS}allowedAccountIds",
            "a prod stack must pin the AWS account it deploys to",
            "[]",
            "a list of 1 to 5 twelve-digit account ids when tier is prod",
        ),
        {**PROD_BASE, f"{NS}allowedAccountIds": []},
    ),
    Bad(
        "prod-with-auto-approval",
        line(
            f"{NS}modelRegistry.approval",
            "prod model versions must be approved by a person",
            "'auto'",
            '"manual" when tier is prod',
        ),
        {**PROD_BASE, f"{NS}modelRegistry": {"approval": "auto"}},
    ),
    Bad(
        "min-instances-above-max",
        line(
            f"{NS}inference.minInstances",
            "greater than inference.maxInstances (2)",
            "3",
            "an integer <= inference.maxInstances (2)",
        ),
        {f"{NS}inference": {"minInstances": 3, "maxInstances": 2}},
    ),
    Bad(
        "prod-inference-single-instance",
        line(
            f"{NS}inference.minInstances",
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "1",
            "an integer >= 2 when tier is prod",
        ),
        {**PROD_BASE, f"{NS}inference": {"enabled": True, "minInstances": 1}},
    ),
    Bad(
        "prod-data-lake-without-object-lock",
        line(
            f"{NS}dataLake.objectLock.enabled",
            "the model-artifact bucket must use Object Lock when tier is prod (S3.15)",
            "false",
            "true when tier is prod",
        ),
        {**PROD_BASE, f"{NS}dataLake": {"enabled": True}},
    ),
    Bad(
        "feature-store-without-data-lake",
        line(
            f"{NS}featureStore.enabled",
            "the feature store's offline store lives in the data lake, which is disabled",
            "true",
            "false, or dataLake.enabled: true",
        ),
        {f"{NS}featureStore": {"enabled": True}},
    ),
    Bad(
        "retraining-without-training-and-registry",
        line(
            f"{NS}retraining.enabled",
            "retraining needs training.enabled and modelRegistry.enabled",
            "true",
            "false, or training and modelRegistry enabled",
        ),
        {f"{NS}retraining": {"enabled": True}},
    ),
    Bad(
        "retraining-without-registry",
        line(
            f"{NS}retraining.enabled",
            "retraining needs training.enabled and modelRegistry.enabled",
            "true",
            "false, or training and modelRegistry enabled",
        ),
        {f"{NS}retraining": {"enabled": True}, f"{NS}training": {"enabled": True}},
    ),
    Bad(
        "extra-tag-redefines-owner",
        line(
            f"{NS}tags.extra",
            "redefines tag keys the platform sets itself",
            '["Owner"]',
            "tag keys other than Project, Environment, CostCenter, Owner, ManagedBy",
        ),
        {
            f"{NS}tags": {
                "costCenter": "ml-platform-dev",
                "owner": "ml-platform-team",
                "extra": {"Owner": "someone-else", "Team": "vision"},
            }
        },
    ),
]


def plan_dev_expecting_error(
    overrides: dict[str, Any], remove: tuple[str, ...] = ()
) -> tuple[ConfigError, list[Registration]]:
    registered: list[Registration] = []
    with pytest.raises(ConfigError) as caught:
        plan_with("dev", overrides, remove, registered)
    return caught.value, registered


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[b.id for b in BAD_CONFIGS])
def test_bad_config_is_refused_before_any_resource(bad: Bad) -> None:
    error, registered = plan_dev_expecting_error(bad.overrides, bad.remove)

    assert error.stack_file == DEV_FILE
    assert [p.render(DEV_FILE) for p in error.problems] == [bad.expected]
    assert str(error) == whole_message([bad.expected])
    assert registered == []


def test_case_ids_are_unique_and_plentiful() -> None:
    ids = [b.id for b in BAD_CONFIGS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 12


def test_the_unmodified_dev_stack_does_register_resources() -> None:
    """Control for `registered == []` above: the same path does record registrations."""
    registered: list[Registration] = []
    plan = plan_with("dev", registered=registered)
    assert registered
    assert len(registered) == len(plan.registrations)


def test_every_field_problem_is_reported_at_once() -> None:
    overrides = {
        f"{NS}enviroment": "dev",
        "aws:region": "eu-west-1",
        f"{NS}region": "eu-west",
        f"{NS}tier": "production",
        f"{NS}kms": {"deletionWindowDays": "7", "rotationPeriodDays": 10},
        f"{NS}tags": {"costCenter": "ml-platform-dev"},
        f"{NS}logging": "not json",
    }
    expected = {
        AWS_REGION_REFUSED,
        line(
            f"{NS}enviroment",
            "unknown key (did you mean environment?)",
            "'dev'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        line(
            f"{NS}region",
            f"string should match pattern '{REGION_RE}'",
            "'eu-west'",
            f"string matching `{REGION_RE}`",
        ),
        line(
            f"{NS}tier",
            "input should be 'dev', 'staging' or 'prod'",
            "'production'",
            'one of "dev", "staging", "prod"',
        ),
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "'7'",
            KMS_ACCEPTS,
        ),
        line(
            f"{NS}kms.rotationPeriodDays",
            "input should be greater than or equal to 90",
            "10",
            "integer >= 90, <= 2560",
        ),
        line(
            f"{NS}tags.owner",
            "required key is missing",
            "<missing>",
            "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
        ),
        line(
            f"{NS}logging",
            "expected a structured value, got text that is not JSON",
            "'not json'",
            "a mapping with optional keys retentionDays",
        ),
    }

    error, registered = plan_dev_expecting_error(overrides)

    rendered = [p.render(DEV_FILE) for p in error.problems]
    assert len(rendered) == len(expected) == 8
    assert set(rendered) == expected
    assert str(error).startswith(f"invalid configuration in {DEV_FILE} (8 problems):\n")
    assert sorted(str(error).splitlines()[1:]) == sorted(f"  - {text}" for text in expected)
    assert registered == []


def test_every_cross_key_problem_is_reported_at_once() -> None:
    overrides = {
        f"{NS}tier": "prod",
        f"{NS}protection": {"protectStateful": False},
        f"{NS}allowedAccountIds": [],
        f"{NS}modelRegistry": {"approval": "auto"},
        f"{NS}inference": {"enabled": True, "minInstances": 1, "maxInstances": 4},
        f"{NS}featureStore": {"enabled": True},
        f"{NS}tags": {"costCenter": "c", "owner": "o", "extra": {"Environment": "x"}},
    }
    error, registered = plan_dev_expecting_error(overrides)

    keys = [p.key for p in error.problems]
    assert keys == [
        f"{NS}protection.protectStateful",
        f"{NS}allowedAccountIds",
        f"{NS}modelRegistry.approval",
        f"{NS}inference.minInstances",
        f"{NS}featureStore.enabled",
        f"{NS}tags.extra",
    ]
    assert len(str(error).splitlines()) == 1 + len(keys)
    assert f"({len(keys)} problems)" in str(error)
    assert error.problems[-1].value == '["Environment"]'
    assert registered == []


# --------------------------------------------------------------------------------------------
# Valid configurations


def load(stack: str) -> PlatformConfig:
    return load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack)


@pytest.mark.parametrize(
    ("stack", "protect", "window", "retention", "budget", "approval", "min_instances"),
    [
        pytest.param("dev", False, 7, 14, 300, "auto", 1, id="dev"),
        pytest.param("staging", True, 14, 90, 1500, "manual", 1, id="staging"),
        pytest.param("prod", True, 30, 365, 8000, "manual", 2, id="prod"),
    ],
)
def test_shipped_stack_validates_with_its_documented_differences(
    stack: str,
    protect: bool,
    window: int,
    retention: int,
    budget: float,
    approval: str,
    min_instances: int,
) -> None:
    cfg = load(stack)

    assert cfg.environment == stack
    assert cfg.tier == stack
    assert cfg.region == "eu-west-1"
    assert cfg.protection.protect_stateful is protect
    assert cfg.kms.deletion_window_days == window
    assert cfg.logging.retention_days == retention
    assert cfg.cost.monthly_budget_usd == budget
    assert cfg.model_registry.approval == approval
    assert cfg.inference.min_instances == min_instances
    assert cfg.inference.min_instances <= cfg.inference.max_instances
    assert cfg.network is None


def test_only_prod_pins_the_account_and_retains_state() -> None:
    dev, staging, prod = load("dev"), load("staging"), load("prod")
    assert list(prod.allowed_account_ids) == ["111111111111"]
    assert list(dev.allowed_account_ids) == list(staging.allowed_account_ids) == []
    assert prod.protection.retain_on_delete is True
    assert dev.protection.retain_on_delete is staging.protection.retain_on_delete is False
    assert dict(prod.tags.extra) == {"DataClassification": "confidential"}


def test_unset_keys_take_the_model_defaults() -> None:
    dev = load("dev")
    assert dev.kms.rotation_period_days == 365
    assert dev.data_lake.object_lock.enabled is False
    assert dev.feature_store.enabled is False
    assert dev.training.instance_count == 1
    assert dev.retraining.enabled is False


def test_config_is_frozen() -> None:
    cfg = load("dev")
    with pytest.raises(ValueError, match="frozen"):
        cfg.tier = "prod"


# --------------------------------------------------------------------------------------------
# network


def dev_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, "dev").values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def test_empty_network_mapping_from_project_defaults_means_no_network() -> None:
    values = dev_values()
    assert values[f"{NS}network"] == "{}"  # Pulumi.yaml's default, as the CLI passes it
    assert load_platform_config(values, "dev").network is None


def test_empty_network_given_as_a_mapping_means_no_network() -> None:
    values: dict[str, Any] = dev_values()
    values[f"{NS}network"] = {}
    assert load_platform_config(values, "dev").network is None


def test_valid_network_parses() -> None:
    network = {
        "vpcId": "vpc-0a1b2c3d4e5f60718",
        "subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"],
        "securityGroupIds": ["sg-0123abcd"],
    }
    cfg = load_platform_config(dev_values(network=network), "dev")
    assert cfg.network is not None
    assert cfg.network.vpc_id == "vpc-0a1b2c3d4e5f60718"
    assert list(cfg.network.subnet_ids) == ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]
    assert list(cfg.network.security_group_ids) == ["sg-0123abcd"]


def test_network_with_one_subnet_names_the_key() -> None:
    values = dev_values(network={"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]})
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    assert [p.key for p in caught.value.problems] == [f"{NS}network.subnetIds"]
    assert "mlops-platform:network.subnetIds: list should have at least 2 items" in str(
        caught.value
    )


def test_network_without_vpc_names_the_missing_key() -> None:
    values = dev_values(network={"subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]})
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    problem = caught.value.problems[0]
    assert (problem.key, problem.value) == (f"{NS}network.vpcId", "<missing>")
    assert problem.accepted == "string matching `^vpc-[0-9a-f]{8,17}$`"


# --------------------------------------------------------------------------------------------
# kms.deletionWindowDays, property-based

RAW_DEV = dict(load_stack_config(PROJECT_DIR, "dev").values)


def with_window(days: int) -> dict[str, str]:
    return {**RAW_DEV, f"{NS}kms": json.dumps({"deletionWindowDays": days})}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.integers(min_value=-(10**9), max_value=6), st.integers(min_value=31, max_value=10**9)
    )
)
def test_deletion_window_outside_7_to_30_is_rejected(days: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_platform_config(with_window(days), "dev")
    [problem] = caught.value.problems
    assert problem.key == f"{NS}kms.deletionWindowDays"
    assert problem.value == str(days)
    assert problem.accepted == KMS_ACCEPTS
    bound = "greater than or equal to 7" if days < 7 else "less than or equal to 30"
    assert problem.problem == f"input should be {bound}"
    assert f"{DEV_FILE}: {NS}kms.deletionWindowDays: " in str(caught.value)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=7, max_value=30))
def test_deletion_window_inside_7_to_30_is_accepted(days: int) -> None:
    assert load_platform_config(with_window(days), "dev").kms.deletion_window_days == days


# --------------------------------------------------------------------------------------------
# Keys and values inside mappings and lists


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"bad!key": "v"},
            line(
                f'{NS}tags.extra["bad!key"] (a key)',
                "string should match pattern '^[\\w.:/=+\\-@][\\w .:/=+\\-@]*$'",
                "'bad!key'",
                "string at most 128 characters, matching `^[\\w.:/=+\\-@][\\w .:/=+\\-@]*$`",
            ),
        ),
        (
            {"k": 5},
            line(
                f'{NS}tags.extra["k"]',
                "input should be a valid string",
                "5",
                "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
            ),
        ),
    ],
    ids=["bad-key", "bad-value"],
)
def test_problems_inside_tags_extra_name_the_entry(extra: dict[str, object], expected: str) -> None:
    overrides = {f"{NS}tags": {"costCenter": "c", "owner": "o", "extra": extra}}
    error, registered = plan_dev_expecting_error(overrides)
    assert registered == []
    assert [p.render(DEV_FILE) for p in error.problems] == [expected]


def test_typo_hint_only_for_one_edit_or_a_swap() -> None:
    error, _ = plan_dev_expecting_error({f"{NS}exgion": "x", f"{NS}regoin": "x"})
    problems = {p.key: p.problem for p in error.problems}
    assert problems[f"{NS}exgion"] == "unknown key"
    assert problems[f"{NS}regoin"] == "unknown key (did you mean region?)"
