"""`retrain_settings`: the names the component and the handler share, and the environment.

`models_env` is checked against hand-written JSON; `Env.read` against each bad value the
component could set, each refused with a message naming the variable and what is accepted.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import retrain_settings as settings
import trigger
from mlops_drift import settings as drift_settings

from tests.retrain_trigger.conftest import MODELS, FakeContext

CHURN = settings.ModelTarget(
    pipeline="mlops-platform-prod-churn-training",
    data_uri="s3://curated/churn/training/",
    alarms=("mlops-platform-prod-churn-model-latency",),
    package_group="mlops-platform-prod-churn",
)
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:mlops-platform-prod-platform"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-token-AbCdEf"


def test_models_env_renders_the_documented_json() -> None:
    assert settings.models_env({"churn": CHURN}) == (
        '{"churn":{"alarms":["mlops-platform-prod-churn-model-latency"],'
        '"dataUri":"s3://curated/churn/training/",'
        '"packageGroup":"mlops-platform-prod-churn",'
        '"pipeline":"mlops-platform-prod-churn-training"}}'
    )


def test_models_env_is_deterministic_and_parses_back() -> None:
    b_first = {"fraud": MODELS["fraud"], "churn": MODELS["churn"]}
    a_first = {"churn": MODELS["churn"], "fraud": MODELS["fraud"]}
    assert settings.models_env(b_first) == settings.models_env(a_first)
    assert settings.parse_models(settings.models_env(a_first)) == a_first
    unsorted = settings.ModelTarget(
        pipeline="p", data_uri="s3://bucket/k/", alarms=("z", "a"), package_group="g"
    )
    assert '"alarms":["a","z"]' in settings.models_env({"m": unsorted})


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            {"Churn": CHURN},
            "model name 'Churn': 1 to 40 lowercase letters, digits and inner hyphens, starting "
            "with a letter",
        ),
        (
            {"churn": settings.ModelTarget("p", "https://x/y", (), "g")},
            "churn: dataUri 'https://x/y' is not an s3://bucket/prefix URI",
        ),
        (
            {"churn": settings.ModelTarget("my_pipeline", "s3://bucket/k", (), "g")},
            "churn: pipeline 'my_pipeline' is not a SageMaker pipeline name",
        ),
        (
            {
                "churn": CHURN,
                "fraud": settings.ModelTarget(
                    "p", "s3://bucket/k", ("mlops-platform-prod-churn-model-latency",), "g"
                ),
            },
            "alarm 'mlops-platform-prod-churn-model-latency' belongs to more than one model "
            "(churn, fraud); each belongs to one",
        ),
    ],
)
def test_models_env_refuses_what_the_handler_would(
    models: dict[str, settings.ModelTarget], message: str
) -> None:
    with pytest.raises(ValueError, match=r".") as raised:
        settings.models_env(models)
    assert str(raised.value) == message


def test_keys_and_token() -> None:
    assert settings.drift_key("churn/2026-11-27T06-00-00Z") == "drift#churn/2026-11-27T06-00-00Z"
    assert settings.alarm_key("a", "2026-11-27T06:15:30.123+0000") == (
        "alarm#a#2026-11-27T06:15:30.123+0000"
    )
    assert settings.manual_key("ci-1") == "manual#ci-1"
    assert settings.approval_key("arn:x") == "approval#arn:x"
    assert settings.model_pk("churn") == "model#churn"
    digest = hashlib.sha256(b"manual#ci-1").hexdigest()
    assert settings.decision_sk("2026-11-27T07:05:00.000Z", "manual#ci-1") == (
        f"decision#2026-11-27T07:05:00.000Z#{digest[:8]}"
    )
    token = settings.client_request_token("manual#ci-1")
    assert token == digest
    assert 32 <= len(token) <= 128


def test_drift_names_match_the_drift_check() -> None:
    # The function does not ship the drift package; its copy of the names must not drift.
    assert settings.DRIFT_SOURCE == drift_settings.EVENT_SOURCE
    assert settings.DRIFT_DETAIL_TYPE == drift_settings.EVENT_DETECTED


# ---- the environment -----------------------------------------------------------------------------


def environ(**overrides: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        settings.ENV_TABLE: "decisions",
        settings.ENV_EVENT_BUS: "mlops-platform-prod",
        settings.ENV_TOPIC_ARN: TOPIC_ARN,
        settings.ENV_MODELS: settings.models_env({"churn": CHURN}),
        settings.ENV_COOLDOWN_HOURS: "24",
        settings.ENV_DAILY_CAP: "1",
        settings.ENV_AUDIT_TTL_DAYS: "365",
        **overrides,
    }
    return {k: v for k, v in values.items() if v is not None}


def test_env_reads_the_component_s_values() -> None:
    env = trigger.Env.read(
        environ(
            **{
                settings.ENV_BUDGET_NAME: "mlops-platform-prod-monthly",
                settings.ENV_BUDGET_MAX_SHARE: "0.75",
                settings.ENV_PROMOTION_REPOSITORY: "acme/mlops-platform",
                settings.ENV_PROMOTION_TOKEN_SECRET: SECRET_ARN,
            }
        )
    )
    assert env == trigger.Env(
        table="decisions",
        event_bus="mlops-platform-prod",
        topic_arn=TOPIC_ARN,
        models={"churn": CHURN},
        cooldown_hours=24,
        daily_cap=1,
        audit_ttl_days=365,
        budget_name="mlops-platform-prod-monthly",
        budget_max_share=0.75,
        promotion_repository="acme/mlops-platform",
        promotion_token_secret=SECRET_ARN,
        promotion_event_type="model-approved",
    )
    defaults = trigger.Env.read(environ())
    assert (defaults.budget_name, defaults.budget_max_share, defaults.promotion_repository) == (
        None,
        0.9,
        None,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {settings.ENV_TABLE: None, settings.ENV_MODELS: ""},
            "environment variable(s) RETRAIN_TABLE, RETRAIN_MODELS not set; "
            "components/retraining.py sets them on the trigger function",
        ),
        (
            {settings.ENV_TOPIC_ARN: "mlops-platform-prod-platform"},
            "RETRAIN_TOPIC_ARN must be an SNS topic ARN; got 'mlops-platform-prod-platform'",
        ),
        (
            {settings.ENV_MODELS: '{"churn": {"pipeline": "p"}}'},
            "RETRAIN_MODELS is invalid: churn: keys must be ['alarms', 'dataUri', "
            "'packageGroup', 'pipeline']; missing ['alarms', 'dataUri', 'packageGroup']; "
            'accepted: {"<model>": {"pipeline": "<training pipeline>", "dataUri": '
            '"s3://<bucket>/<prefix>", "alarms": ["<alarm name>", ...], "packageGroup": '
            '"<model package group>"}, ...} as retrain_settings.models_env renders it',
        ),
        (
            {settings.ENV_COOLDOWN_HOURS: "six"},
            "RETRAIN_COOLDOWN_HOURS must be a whole number, 0 or more; got 'six'",
        ),
        (
            {settings.ENV_COOLDOWN_HOURS: "-1"},
            "RETRAIN_COOLDOWN_HOURS must be a whole number, 0 or more; got -1",
        ),
        (
            {settings.ENV_DAILY_CAP: "0"},
            "RETRAIN_DAILY_CAP must be a whole number, 1 or more; got 0",
        ),
        (
            {settings.ENV_AUDIT_TTL_DAYS: None},
            "RETRAIN_AUDIT_TTL_DAYS must be a whole number, 1 or more; got '' (not set; "
            "components/retraining.py sets it)",
        ),
        (
            {settings.ENV_BUDGET_MAX_SHARE: "90%"},
            "RETRAIN_BUDGET_MAX_SHARE must be a number over 0 and at most 1 (the share of the "
            "budget's limit spend must stay under, e.g. 0.9); got '90%'",
        ),
        (
            {settings.ENV_BUDGET_MAX_SHARE: "1.5"},
            "RETRAIN_BUDGET_MAX_SHARE must be a number over 0 and at most 1 (the share of the "
            "budget's limit spend must stay under, e.g. 0.9); got '1.5'",
        ),
        (
            {settings.ENV_PROMOTION_REPOSITORY: "acme/mlops-platform"},
            "RETRAIN_PROMOTION_REPOSITORY and RETRAIN_PROMOTION_TOKEN_SECRET go together: set "
            "both (dispatch the promotion workflow) or neither (notify only); got only the "
            "repository",
        ),
        (
            {
                settings.ENV_PROMOTION_REPOSITORY: "https://github.com/acme/mlops-platform",
                settings.ENV_PROMOTION_TOKEN_SECRET: SECRET_ARN,
            },
            "RETRAIN_PROMOTION_REPOSITORY must be a GitHub repository as owner/repo; got "
            "'https://github.com/acme/mlops-platform'",
        ),
        (
            {
                settings.ENV_PROMOTION_REPOSITORY: "acme/mlops-platform",
                settings.ENV_PROMOTION_TOKEN_SECRET: "github-token",
            },
            "RETRAIN_PROMOTION_TOKEN_SECRET must be a Secrets Manager secret ARN; got "
            "'github-token'",
        ),
    ],
)
def test_bad_environment_is_refused_naming_the_variable(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(trigger.ConfigError) as raised:
        trigger.Env.read(environ(**overrides))
    assert str(raised.value) == message


def test_handler_refuses_a_bad_environment_before_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environ(**{settings.ENV_DAILY_CAP: "many"}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(trigger, "lambda_clients", lambda: pytest.fail("no client is made"))
    with pytest.raises(trigger.ConfigError, match="RETRAIN_DAILY_CAP must be a whole number"):
        trigger.lambda_handler({"source": "mlops.drift"}, FakeContext())


def test_account_comes_from_the_function_arn() -> None:
    assert trigger.account_of(FakeContext()) == "123456789012"
    assert trigger.account_of(object()) is None
