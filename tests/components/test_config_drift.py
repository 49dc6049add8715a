"""The `drift` config section: monitors, schedules, thresholds and the rules across sections,
with the exact message of each refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, load_platform_config
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

DEV_FILE = "stacks/Pulumi.dev.yaml"
NS = "mlops-platform:"


def dev_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, "dev").values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = json.dumps(value)
    return values


def drift(*monitors: dict[str, Any], **section: Any) -> dict[str, Any]:
    return {"enabled": True, "monitors": list(monitors), **section}


def monitor(**fields: Any) -> dict[str, Any]:
    return {"model": "churn", "endpoint": "churn-live", **fields}


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_platform_config(dev_values(**overrides), "dev")
    return [p.render(DEV_FILE) for p in caught.value.problems]


def line(key: str, problem: str, got: str, accepted: str) -> str:
    return f"{DEV_FILE}: {NS}{key}: {problem} (got {got}); accepted: {accepted}"


def test_defaults_of_a_monitor() -> None:
    cfg = load_platform_config(dev_values(drift=drift(monitor())), "dev")
    (spec,) = cfg.drift.monitors
    assert (spec.schedule, spec.window_hours, spec.mode, spec.baseline_key) == (
        "rate(1 day)",
        24,
        "single",
        None,
    )
    assert spec.critical == []
    assert cfg.drift.thresholds.engine() == {}


def test_thresholds_reach_the_engine_in_its_own_key_names() -> None:
    cfg = load_platform_config(
        dev_values(
            drift=drift(
                monitor(),
                thresholds={"psi": 0.25, "chi2Pvalue": 0.01, "missingRateDelta": 0.2},
            )
        ),
        "dev",
    )
    assert cfg.drift.thresholds.engine() == {
        "psi": 0.25,
        "chi2_pvalue": 0.01,
        "missing_rate_delta": 0.2,
    }


def test_monitor_of_an_undeclared_model() -> None:
    # With retraining on, the model would also lack a training pipeline (a problem of its own).
    assert problems(drift=drift(monitor(model="fraud")), retraining={"enabled": False}) == [
        line(
            "drift.monitors[0].model",
            "not a model of modelRegistry.models",
            "'fraud'",
            "one of churn",
        )
    ]


def test_two_monitors_of_one_model_and_endpoint() -> None:
    assert problems(drift=drift(monitor(), monitor(schedule="rate(1 hour)"))) == [
        line(
            "drift.monitors[1].endpoint",
            "model churn already watches this endpoint at monitors[0]",
            "'churn-live'",
            "one monitor per model and endpoint",
        )
    ]


def test_drift_needs_the_lake_and_the_registry() -> None:
    found = problems(
        drift=drift(monitor()),
        modelRegistry={"enabled": False},
        featureStore={"enabled": False},
        dataLake={"enabled": False},
        # Training, inference and retraining need them too, and say so in problems of their own.
        training={"enabled": False},
        inference={"enabled": False},
        retraining={"enabled": False},
        quality={"enabled": False},
    )
    assert found == [
        line(
            "drift.enabled",
            "drift checks read capture and baselines from the data lake and registry, which "
            "are disabled",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


@pytest.mark.parametrize(
    ("field", "value", "key", "got"),
    [
        ("schedule", "every day", "schedule", "'every day'"),
        ("schedule", "rate(0 days)", "schedule", "'rate(0 days)'"),
        ("schedule", "cron(0 * * *)", "schedule", "'cron(0 * * *)'"),
        ("endpoint", "churn_live", "endpoint", "'churn_live'"),
        ("windowHours", 0, "windowHours", "0"),
        ("windowHours", 169, "windowHours", "169"),
        ("mode", "parallel", "mode", "'parallel'"),
        ("critical", ["bad name"], "critical[0]", "'bad name'"),
    ],
)
def test_bad_monitor_fields_name_the_key(field: str, value: Any, key: str, got: str) -> None:
    (found,) = problems(drift=drift(monitor(**{field: value})))
    assert found.startswith(f"{DEV_FILE}: {NS}drift.monitors[0].{key}: ")
    assert f"(got {got}); accepted: " in found


def test_threshold_out_of_range() -> None:
    (found,) = problems(drift=drift(monitor(thresholds={"js": 1.5})))
    assert found == line(
        "drift.monitors[0].thresholds.js",
        "input should be less than or equal to 1",
        "1.5",
        "number > 0, <= 1, or unset",
    )


def test_unknown_threshold_gets_a_hint() -> None:
    (found,) = problems(drift=drift(monitor(), thresholds={"pis": 0.2}))
    assert found.startswith(
        f"{DEV_FILE}: {NS}drift.thresholds.pis: unknown key (did you mean psi?)"
    )


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_watch_their_churn_endpoint(stack: str) -> None:
    cfg = load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack)
    # Staging and prod also watch the Kubernetes service's capture, half an hour later.
    expected = [f"mlops-platform-{stack}-churn"]
    if stack != "dev":
        expected.append(f"mlops-platform-{stack}-k8s-churn")
    assert [(m.model, m.endpoint) for m in cfg.drift.monitors] == [("churn", e) for e in expected]
    for spec in cfg.drift.monitors:
        assert spec.mode == ("scaleout" if stack == "prod" else "single")
