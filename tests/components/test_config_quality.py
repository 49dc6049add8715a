"""The `quality` config section (issue 10) and the models' latency objectives: defaults, the
shipped stacks, and the exact message of each refusal, none of which registers a resource."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from components.config import ConfigError, load_platform_config
from planner.mocks import Registration
from planner.run import PROJECT_DIR, run_stack_config
from planner.stackfile import load_stack_config
from tests.components.test_config_drift import DEV_FILE, NS, dev_values, line, problems

FAIRNESS_ACCEPTED = "an input feature in sensitiveAttribute, or this alarm unset"


def quality(*monitors: dict[str, Any], **section: Any) -> dict[str, Any]:
    return {"enabled": True, "monitors": list(monitors), **section}


def monitor(**fields: Any) -> dict[str, Any]:
    return {"model": "churn", "endpoint": "mlops-platform-dev-churn", **fields}


def test_defaults_of_a_monitor() -> None:
    cfg = load_platform_config(dev_values(quality=quality(monitor())), "dev")
    (spec,) = cfg.quality.monitors
    assert spec.model_dump(by_alias=True) == {
        "model": "churn",
        "endpoint": "mlops-platform-dev-churn",
        "problem": "classification",
        "threshold": 0.5,
        "positiveLabel": None,
        "segment": None,
        "sensitiveAttribute": None,
        "sensitiveFrom": None,
        "minGroupSize": 30,
        "schedule": "rate(1 day)",
        "windowHours": 24,
        "labelDelayHours": 24,
        "alarms": {
            "minAccuracy": None,
            "minF1": None,
            "minRocAuc": None,
            "maxCalibrationError": None,
            "maxMae": None,
            "maxRmse": None,
            "minR2": None,
            "minLabelCoverage": None,
            "minDisparateImpact": None,
            "maxDemographicParityDifference": None,
            "maxEqualizedOddsDifference": None,
        },
    }
    assert (cfg.quality.memory_mb, cfg.quality.timeout_seconds) == (2048, 900)
    assert cfg.quality.reserved_concurrency == 2


@pytest.mark.parametrize(
    ("stack", "endpoints", "objective"),
    [
        ("dev", ["mlops-platform-dev-churn"], 1000),
        ("staging", ["mlops-platform-staging-churn"], 300),
        ("prod", ["mlops-platform-prod-churn", "mlops-platform-prod-k8s-churn"], 250),
    ],
)
def test_the_shipped_stacks_judge_churn_and_hold_it_to_a_latency_objective(
    stack: str, endpoints: list[str], objective: int
) -> None:
    cfg = load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack)
    assert cfg.quality.enabled is True
    assert [(m.model, m.endpoint) for m in cfg.quality.monitors] == [
        ("churn", e) for e in endpoints
    ]
    for spec in cfg.quality.monitors:
        assert (spec.problem, spec.segment) == ("classification", "contract_type")
        assert spec.alarms.min_accuracy is not None
    (model,) = cfg.model_registry.models
    assert model.latency_objective_p99_ms == objective


def test_an_alarm_of_the_other_problem_kind_is_refused() -> None:
    assert problems(
        quality=quality(
            monitor(alarms={"maxMae": 0.3}),
            monitor(
                endpoint="other",
                problem="regression",
                alarms={"minAccuracy": 0.9, "minR2": 0.5},
            ),
        )
    ) == [
        line(
            "quality.monitors[0].alarms.maxMae",
            "not a metric of a classification model",
            "0.3",
            "one of minAccuracy, minF1, minRocAuc, maxCalibrationError, minLabelCoverage, or "
            "problem: regression",
        ),
        line(
            "quality.monitors[1].alarms.minAccuracy",
            "not a metric of a regression model",
            "0.9",
            "one of maxMae, maxRmse, minR2, minLabelCoverage, or problem: classification",
        ),
    ]


def test_a_fairness_alarm_needs_a_sensitive_attribute_and_a_classifier() -> None:
    assert problems(
        quality=quality(
            monitor(alarms={"minDisparateImpact": 0.8}),
            monitor(
                endpoint="other",
                problem="regression",
                sensitiveAttribute="contract_type",
                alarms={"maxDemographicParityDifference": 0.1},
            ),
        )
    ) == [
        line(
            "quality.monitors[0].alarms.minDisparateImpact",
            "a fairness alarm, and the monitor has no sensitiveAttribute to compare groups of",
            "0.8",
            FAIRNESS_ACCEPTED,
        ),
        line(
            "quality.monitors[1].alarms.maxDemographicParityDifference",
            "fairness rates are of predicted classes, and the model is a regression",
            "0.1",
            "problem: classification, or this alarm unset",
        ),
    ]


def test_segment_and_sensitive_attribute_must_be_the_models_input_features() -> None:
    assert problems(quality=quality(monitor(segment="region", sensitiveAttribute="gender"))) == [
        line(
            f"quality.monitors[0].{key}",
            "not an input feature of model churn (its training pipeline's columns)",
            repr(value),
            "one of contract_type, monthly_charges, tenure_months",
        )
        for key, value in (("segment", "region"), ("sensitiveAttribute", "gender"))
    ]


def test_undeclared_models_and_duplicate_monitors_are_refused() -> None:
    assert problems(quality=quality(monitor(model="fraud"), monitor(), monitor())) == [
        line(
            "quality.monitors[0].model",
            "not a model of modelRegistry.models",
            "'fraud'",
            "one of churn",
        ),
        line(
            "quality.monitors[2].endpoint",
            "model churn already judges this endpoint at monitors[1]",
            "'mlops-platform-dev-churn'",
            "one quality monitor per model and endpoint",
        ),
    ]


def test_quality_needs_the_data_lake_and_the_registry() -> None:
    assert problems(
        quality=quality(),
        dataLake={"enabled": False},
        modelRegistry={"enabled": False},
        featureStore={"enabled": False},
        drift={"enabled": False},
        training={"enabled": False},
        inference={"enabled": False},
        retraining={"enabled": False},
    ) == [
        line(
            "quality.enabled",
            "quality checks read capture, ground truth and baselines from the data lake and "
            "registry, and dataLake.enabled and modelRegistry.enabled are false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("threshold", 1.5, "input should be less than or equal to 1"),
        ("windowHours", 0, "input should be greater than or equal to 1"),
        ("labelDelayHours", -1, "input should be greater than or equal to 0"),
        ("problem", "ranking", "input should be 'classification' or 'regression'"),
    ],
)
def test_out_of_range_fields_name_their_key(field: str, value: Any, problem: str) -> None:
    (found,) = problems(quality=quality(monitor(**{field: value})))
    assert found.startswith(f"{DEV_FILE}: {NS}quality.monitors[0].{field}: {problem} (got ")


def test_a_latency_objective_out_of_range_is_refused() -> None:
    models = [{"name": "churn", "latencyObjectiveP99Ms": 0}]
    (found,) = problems(modelRegistry={"enabled": True, "models": models})
    assert found.startswith(
        f"{DEV_FILE}: {NS}modelRegistry.models[0].latencyObjectiveP99Ms: input should be greater "
        "than or equal to 1 (got 0)"
    )


def test_a_bad_quality_config_registers_nothing() -> None:
    cfg = load_stack_config(PROJECT_DIR, "dev")
    values = dict(cfg.values)
    values[f"{NS}quality"] = json.dumps(quality(monitor(alarms={"maxMae": 1})))
    registered: list[Registration] = []
    with pytest.raises(ConfigError):
        run_stack_config(replace(cfg, values=values), on_register=registered.append)
    assert registered == []


def from_store(**fields: Any) -> dict[str, Any]:
    source = {"featureGroup": "customer-features", "recordIdentifierColumn": "tenure_months"}
    return monitor(sensitiveAttribute="contract_type", sensitiveFrom={**source, **fields})


def test_a_sensitive_attribute_from_the_feature_store_is_accepted() -> None:
    cfg = load_platform_config(dev_values(quality=quality(from_store())), "dev")
    (spec,) = cfg.quality.monitors
    assert spec.sensitive_from is not None
    assert (spec.sensitive_from.feature_group, spec.sensitive_from.record_identifier_column) == (
        "customer-features",
        "tenure_months",
    )


def test_a_feature_store_source_is_checked_against_the_declared_groups() -> None:
    groups = {
        "enabled": True,
        "featureGroups": [
            {
                "name": "customer-features",
                "recordIdentifier": "customer_id",
                "eventTime": "event_time",
                "features": [
                    {"name": "customer_id", "type": "String"},
                    {"name": "event_time", "type": "Fractional"},
                    {"name": "segment", "type": "String"},
                ],
                "onlineStore": {"enabled": False},
            }
        ],
    }
    unknown = from_store(featureGroup="people")
    offline = from_store()
    no_attribute = {**from_store(), "endpoint": "third"}
    del no_attribute["sensitiveAttribute"]
    assert problems(
        featureStore=groups, quality=quality(unknown, {**offline, "endpoint": "two"}, no_attribute)
    ) == [
        line(
            "quality.monitors[0].sensitiveFrom.featureGroup",
            "not a feature group of featureStore.featureGroups",
            "'people'",
            "one of customer-features",
        ),
        line(
            "quality.monitors[1].sensitiveFrom.featureGroup",
            "its online store is off, and the check reads records by identifier from it",
            "'customer-features'",
            "a feature group with onlineStore.enabled: true",
        ),
        line(
            "quality.monitors[1].sensitiveAttribute",
            "not a feature of feature group customer-features",
            "'contract_type'",
            "one of customer_id, event_time, segment",
        ),
        line(
            "quality.monitors[2].sensitiveFrom.featureGroup",
            "its online store is off, and the check reads records by identifier from it",
            "'customer-features'",
            "a feature group with onlineStore.enabled: true",
        ),
        line(
            "quality.monitors[2].sensitiveAttribute",
            "sensitiveFrom names where the attribute is read, and no attribute is named",
            "<missing>",
            "a feature of customer-features",
        ),
    ]


def test_the_record_identifier_column_is_an_input_feature_of_the_model() -> None:
    assert problems(quality=quality(from_store(recordIdentifierColumn="customer_id"))) == [
        line(
            "quality.monitors[0].sensitiveFrom.recordIdentifierColumn",
            "not an input feature of model churn (its training pipeline's columns)",
            "'customer_id'",
            "one of contract_type, monthly_charges, tenure_months",
        )
    ]
