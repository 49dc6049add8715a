"""The `training` config section's rules across keys (components/config.py `_training_checks`),
with the exact message of each refusal.

Framework versions and instance types come from the installed SDKs' data (pinned in the
requirements); tests/components/test_sagemaker_catalog.py proves that data agrees with the
sagemaker SDK itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import sagemaker_catalog
from components.config import ConfigError, PlatformConfig, load_platform_config
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

DEV_FILE = "stacks/Pulumi.dev.yaml"
NS = "mlops-platform:"
P0 = "training.pipelines[0]"

NO_REPOSITORY = str(Path(__file__).parent / "no-such-repository" / "stacks")
"""A stack config dir whose parent has no `pipelines/` folder: the entry point is not looked
for (tests of that rule use a temporary repository)."""

OFF = {"enabled": False}
"""A section switched off (retraining, whose own rules tests/components/test_config.py and
test_retraining_component.py cover)."""

TRAINING_TYPES = (
    "a SageMaker training instance type, e.g. ml.m5.xlarge, ml.c5.2xlarge, ml.g5.xlarge"
)


def dev_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, "dev").values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = json.dumps(value)
    return values


def pipeline(**fields: Any) -> dict[str, Any]:
    return {
        "model": "churn",
        "framework": "sklearn",
        "frameworkVersion": "1.2-1",
        "target": "churned",
        "columns": [
            {"name": "tenure_months", "type": "numeric"},
            {"name": "contract_type", "type": "categorical"},
        ],
        "metric": {"name": "auc", "threshold": 0.7},
        **fields,
    }


def training(*pipelines: dict[str, Any], **section: Any) -> dict[str, Any]:
    """Dev's training section, enabled, with these pipelines."""
    base = {"enabled": True, "instanceType": "ml.m5.large", "spot": True, "maxRuntimeHours": 4}
    return {**base, "pipelines": list(pipelines), **section}


def load(config_dir: str = NO_REPOSITORY, **overrides: Any) -> PlatformConfig:
    return load_platform_config(dev_values(**overrides), "dev", config_dir)


def problems(config_dir: str = NO_REPOSITORY, **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(config_dir, **overrides)
    return [p.render(DEV_FILE) for p in caught.value.problems]


def line(key: str, problem: str, got: str, accepted: str) -> str:
    return f"{DEV_FILE}: {NS}{key}: {problem} (got {got}); accepted: {accepted}"


# --------------------------------------------------------------------------------------------
# Accepted


def test_a_valid_pipeline_loads() -> None:
    cfg = load(training=training(pipeline()))
    (spec,) = cfg.training.pipelines
    assert (spec.model, spec.framework, spec.framework_version) == ("churn", "sklearn", "1.2-1")
    assert (spec.entry_point, spec.instance_type, spec.spot) == ("train.py", None, None)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"framework": "sklearn", "frameworkVersion": "1.2-1", "pyVersion": "py3"}),
        pytest.param({"framework": "xgboost", "frameworkVersion": "1.7-1"}, id="xgboost"),
        pytest.param(
            {"framework": "xgboost", "frameworkVersion": "1.7-1", "pyVersion": "py3"},
            id="xgboost-ignores-py-version",
        ),
        pytest.param({"framework": "pytorch", "frameworkVersion": "2.6"}, id="pytorch-alias"),
        pytest.param(
            {"framework": "pytorch", "frameworkVersion": "2.6.0", "pyVersion": "py312"},
            id="pytorch",
        ),
        pytest.param(
            {"framework": "pytorch", "frameworkVersion": "2.6.0", "instanceType": "ml.g5.xlarge"},
            id="pytorch-gpu",
        ),
        pytest.param(
            {
                "framework": "pytorch",
                "frameworkVersion": "2.6.0",
                "instanceType": "ml.trn1.2xlarge",
            },
            id="trainium-not-judged",
        ),
        pytest.param(
            {"framework": "tensorflow", "frameworkVersion": "2.19.0", "pyVersion": "py312"},
            id="tensorflow",
        ),
        pytest.param(
            {
                "framework": "huggingface",
                "frameworkVersion": "4.49.0",
                "instanceType": "ml.g5.xlarge",
            },
            id="huggingface",
        ),
        pytest.param({"framework": "custom", "frameworkVersion": None}, id="custom"),
        pytest.param({"instanceCount": 1}, id="sklearn-one-instance"),
        pytest.param({"spot": False, "maxWaitHours": 1}, id="wait-ignored-without-spot"),
        pytest.param({"maxRuntimeHours": 8, "maxWaitHours": 8}, id="wait-equal-to-run"),
        pytest.param({"metric": {"name": "rmse", "threshold": 0, "comparison": "lte"}}, id="rmse"),
        pytest.param({"metric": {"name": "r2", "threshold": -3.5}}, id="r2-negative"),
        pytest.param({"metric": {"name": "AUC", "threshold": 1}}, id="auc-any-case"),
        pytest.param(
            {"metric": {"name": "revenue_lift", "threshold": -1e6, "comparison": "lte"}},
            id="unknown-metric",
        ),
    ],
)
def test_accepted_pipelines(fields: dict[str, Any]) -> None:
    spec = pipeline(**fields)
    spec = {k: v for k, v in spec.items() if v is not None}
    assert load(training=training(spec)).training.pipelines[0].framework == spec["framework"]


def test_pipelines_of_a_disabled_section_are_not_judged() -> None:
    section = training(pipeline(framework="mxnet"), enabled=False, instanceType="ml.t2.medium")
    # Retraining needs training, and says so in a problem of its own.
    assert load(training=section, retraining=OFF).training.enabled is False


def test_sagemaker_data_is_read_only_when_training_is_enabled() -> None:
    sagemaker_catalog._service_shapes.cache_clear()
    sagemaker_catalog._framework_config.cache_clear()
    for cached in (
        sagemaker_catalog.training_instance_types,
        sagemaker_catalog.processing_instance_types,
        sagemaker_catalog.transform_instance_types,
    ):
        cached.cache_clear()
    load(training=training(pipeline(), enabled=False), retraining=OFF)
    assert sagemaker_catalog._service_shapes.cache_info().currsize == 0
    assert sagemaker_catalog._framework_config.cache_info().currsize == 0
    load(training=training(pipeline()))
    assert sagemaker_catalog._service_shapes.cache_info().currsize == 1


# --------------------------------------------------------------------------------------------
# Dependencies and models


def test_training_needs_the_registry() -> None:
    found = problems(
        training=training(pipeline()),
        modelRegistry={"enabled": False},
        # Drift checks, inference and retraining need the registry too, and say so in problems
        # of their own.
        drift={"enabled": False},
        quality={"enabled": False},
        inference={"enabled": False},
        retraining=OFF,
    )
    assert found == [
        line(
            "training.enabled",
            "training pipelines read the data lake and register versions in the model registry, "
            "and modelRegistry.enabled is false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


def test_training_needs_the_lake_and_the_registry() -> None:
    found = problems(
        training=training(),
        modelRegistry={"enabled": False},
        dataLake={"enabled": False},
        featureStore={"enabled": False},
        # Drift checks, inference and retraining need them too, and say so in problems of their
        # own.
        drift={"enabled": False},
        quality={"enabled": False},
        inference={"enabled": False},
        retraining=OFF,
    )
    assert found == [
        line(
            "training.enabled",
            "training pipelines read the data lake and register versions in the model registry, "
            "and dataLake.enabled and modelRegistry.enabled are false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        )
    ]


def test_retraining_without_registry_names_both_sections() -> None:
    found = problems(
        retraining={"enabled": True},
        training=training(),
        modelRegistry={"enabled": False},
        # Drift checks and inference need the registry too, and say so in problems of their own.
        drift={"enabled": False},
        quality={"enabled": False},
        inference={"enabled": False},
    )
    assert found == [
        line(
            "retraining.enabled",
            "retraining needs training.enabled and modelRegistry.enabled",
            "true",
            "false, or training and modelRegistry enabled",
        ),
        line(
            "training.enabled",
            "training pipelines read the data lake and register versions in the model registry, "
            "and modelRegistry.enabled is false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        ),
    ]


def test_mlflow_needs_training() -> None:
    # Retraining needs training too, and says so in a problem of its own.
    assert problems(training={"mlflow": {"enabled": True}}, retraining=OFF) == [
        line(
            "training.mlflow.enabled",
            "the tracking server records training runs, and training is disabled",
            "true",
            "false, or training.enabled: true",
        )
    ]


def test_pipeline_of_an_undeclared_model() -> None:
    # With retraining on, dev's churn monitor would also lack a pipeline (a problem of its own).
    assert problems(training=training(pipeline(model="fraud")), retraining=OFF) == [
        line(f"{P0}.model", "not a model of modelRegistry.models", "'fraud'", "one of churn")
    ]


def test_one_pipeline_per_model() -> None:
    assert problems(
        training=training(pipeline(), pipeline(framework="xgboost", frameworkVersion="1.7-1"))
    ) == [
        line(
            "training.pipelines[1].model",
            "model churn already has a pipeline at pipelines[0]",
            "'churn'",
            "one pipeline per model",
        )
    ]


# --------------------------------------------------------------------------------------------
# Framework, version, Python version


FRAMEWORKS = (
    "one of sklearn, xgboost, pytorch, tensorflow, huggingface, or custom (the model's own ECR "
    "image)"
)
SKLEARN_VERSIONS = "one of 1.2-1, 1.0-1, 0.23-1, 0.20.0"
"""sklearn versions with training and inference images (1.4-2 has no inference image)."""


@pytest.mark.parametrize("framework", ["mxnet", "scikit-learn", "kmeans", "nonsense"])
def test_unknown_framework(framework: str) -> None:
    assert problems(training=training(pipeline(framework=framework))) == [
        line(
            f"{P0}.framework",
            "not a SageMaker framework image the training pipelines support",
            repr(framework),
            FRAMEWORKS,
        )
    ]


def test_framework_version_is_required() -> None:
    spec = pipeline()
    del spec["frameworkVersion"]
    assert problems(training=training(spec)) == [
        line(
            f"{P0}.frameworkVersion",
            "required for framework sklearn",
            "<missing>",
            SKLEARN_VERSIONS,
        )
    ]


@pytest.mark.parametrize("version", ["1.2", "0.19", "1.4-1", "2.8.0"])
def test_unknown_framework_version(version: str) -> None:
    assert problems(training=training(pipeline(frameworkVersion=version))) == [
        line(
            f"{P0}.frameworkVersion",
            "not a sklearn training image version of the installed sagemaker SDK "
            f"({sagemaker_catalog.sdk_version()})",
            repr(version),
            SKLEARN_VERSIONS,
        )
    ]


def test_long_version_lists_are_cut_newest_first() -> None:
    (found,) = problems(training=training(pipeline(framework="pytorch", frameworkVersion="9.9")))
    assert found == line(
        f"{P0}.frameworkVersion",
        "not a pytorch training image version of the installed sagemaker SDK "
        f"({sagemaker_catalog.sdk_version()})",
        "'9.9'",
        "one of 2.6.0, 2.5.1, 2.4.0, 2.3.0, 2.2.0, 2.1.0, 2.0.1, 2.0.0, 1.13.1, 1.12.1, "
        "1.12.0, 1.11.0, …",
    )


@pytest.mark.parametrize(
    ("framework", "version", "resolved", "accepted"),
    [
        ("sklearn", "1.4-2", "1.4-2", SKLEARN_VERSIONS),
        (
            "pytorch",
            "2.8",
            "2.8.0",
            "one of 2.6.0, 2.5.1, 2.4.0, 2.3.0, 2.2.0, 2.1.0, 2.0.1, 2.0.0, 1.13.1, 1.12.1, "
            "1.12.0, 1.11.0, …",
        ),
    ],
)
def test_training_only_version(framework: str, version: str, resolved: str, accepted: str) -> None:
    spec = pipeline(framework=framework, frameworkVersion=version)
    assert problems(training=training(spec)) == [
        line(
            f"{P0}.frameworkVersion",
            f"the sagemaker SDK ({sagemaker_catalog.sdk_version()}) has a {framework} {resolved} "
            "training image but no inference image, which the registered model needs",
            repr(version),
            accepted,
        )
    ]


def test_custom_takes_no_framework_or_python_version() -> None:
    found = problems(training=training(pipeline(framework="custom", pyVersion="py3")))
    assert found == [
        line(
            f"{P0}.frameworkVersion",
            "framework custom runs the model's own image, which has no framework version",
            "'1.2-1'",
            "unset when framework is custom",
        ),
        line(
            f"{P0}.pyVersion",
            "framework custom runs the model's own image, which has no Python version to choose",
            "'py3'",
            "unset when framework is custom",
        ),
    ]


def test_python_version_of_another_image() -> None:
    spec = pipeline(framework="pytorch", frameworkVersion="2.6", pyVersion="py310")
    assert problems(training=training(spec)) == [
        line(
            f"{P0}.pyVersion",
            "not a Python version of the pytorch 2.6.0 training image",
            "'py310'",
            "one of py312",
        )
    ]


def test_python_version_required_when_the_image_has_several() -> None:
    spec = pipeline(framework="pytorch", frameworkVersion="1.4.0")
    assert problems(training=training(spec)) == [
        line(
            f"{P0}.pyVersion",
            "required: the pytorch 1.4.0 training image comes in several Python versions",
            "<missing>",
            "one of py2, py3, py36",
        )
    ]


def test_cpu_only_image_on_a_gpu_instance() -> None:
    assert problems(training=training(pipeline(instanceType="ml.g5.xlarge"))) == [
        line(
            f"{P0}.instanceType",
            "the sklearn 1.2-1 training image has no gpu build",
            "'ml.g5.xlarge'",
            "a cpu instance type, e.g. ml.m5.xlarge",
        )
    ]


def test_gpu_only_image_on_the_stack_instance_type() -> None:
    spec = pipeline(framework="huggingface", frameworkVersion="4.49.0")
    assert problems(training=training(spec)) == [
        line(
            "training.instanceType",
            f"the huggingface 4.49.0 training image has no cpu build; {P0} uses this instance type",
            "'ml.m5.large'",
            f"a gpu instance type, e.g. ml.g5.xlarge, or {P0}.instanceType set to one",
        )
    ]


def test_sklearn_trains_on_one_instance() -> None:
    assert problems(training=training(pipeline(instanceCount=2))) == [
        line(
            f"{P0}.instanceCount",
            "scikit-learn trains on one instance only",
            "2",
            "1 for framework sklearn",
        )
    ]
    assert problems(training=training(pipeline(), instanceCount=3)) == [
        line(
            "training.instanceCount",
            f"scikit-learn trains on one instance only; {P0} uses this count",
            "3",
            f"1 for framework sklearn, or {P0}.instanceCount: 1",
        )
    ]


# --------------------------------------------------------------------------------------------
# Instance types


@pytest.mark.parametrize("instance_type", ["ml.t2.medium", "ml.m5.huge", "ml.inf2.xlarge"])
def test_instance_types_sagemaker_does_not_train_on(instance_type: str) -> None:
    # Without pipelines, retraining would refuse dev's churn monitor in a problem of its own.
    assert problems(training=training(instanceType=instance_type), retraining=OFF) == [
        line(
            "training.instanceType",
            "not an instance type SageMaker offers for training jobs",
            repr(instance_type),
            TRAINING_TYPES,
        )
    ]
    found = problems(training=training(pipeline(instanceType=instance_type)))
    assert found == [
        line(
            f"{P0}.instanceType",
            "not an instance type SageMaker offers for training jobs",
            repr(instance_type),
            TRAINING_TYPES,
        )
    ]


def test_processing_instance_type() -> None:
    # Without pipelines, retraining would refuse dev's churn monitor in a problem of its own.
    section = training(processingInstanceType="ml.p5.48xlarge")
    assert problems(training=section, retraining=OFF) == [
        line(
            "training.processingInstanceType",
            "not an instance type SageMaker offers for processing jobs",
            "'ml.p5.48xlarge'",
            "a SageMaker processing instance type, e.g. ml.m5.large, ml.m5.xlarge, ml.c5.xlarge",
        )
    ]


def test_batch_transform_instance_type() -> None:
    spec = pipeline(batchTransform={"enabled": True, "instanceType": "ml.t3.medium"})
    assert problems(training=training(spec)) == [
        line(
            f"{P0}.batchTransform.instanceType",
            "not an instance type SageMaker offers for batch transform jobs",
            "'ml.t3.medium'",
            "a SageMaker batch transform instance type, e.g. ml.m5.xlarge, ml.c5.xlarge, "
            "ml.g4dn.xlarge",
        )
    ]


# --------------------------------------------------------------------------------------------
# Spot: the wait covers the run


SPOT_WAIT = "a Spot job's wait includes its run"


def test_stack_wait_below_run() -> None:
    found = problems(training=training(pipeline(), maxWaitHours=2))
    assert found == [
        line(
            "training.maxWaitHours",
            f"below training.maxRuntimeHours (4); {SPOT_WAIT}",
            "2",
            "an integer >= 4, or training.spot: false",
        )
    ]


def test_pipeline_wait_below_run() -> None:
    assert problems(training=training(pipeline(maxWaitHours=3))) == [
        line(
            f"{P0}.maxWaitHours",
            f"below training.maxRuntimeHours (4); {SPOT_WAIT}",
            "3",
            "an integer >= 4, or spot: false",
        )
    ]
    assert problems(training=training(pipeline(maxRuntimeHours=12, maxWaitHours=10))) == [
        line(
            f"{P0}.maxWaitHours",
            f"below maxRuntimeHours (12); {SPOT_WAIT}",
            "10",
            "an integer >= 12, or spot: false",
        )
    ]


def test_pipeline_run_above_stack_wait() -> None:
    assert problems(training=training(pipeline(maxRuntimeHours=72))) == [
        line(
            f"{P0}.maxRuntimeHours",
            f"above training.maxWaitHours (48); {SPOT_WAIT}",
            "72",
            "an integer <= 48, maxWaitHours >= 72, or spot: false",
        )
    ]


def test_pipeline_turns_spot_on_with_the_stack_s_short_wait() -> None:
    section = training(pipeline(spot=True), spot=False, maxWaitHours=2)
    assert problems(training=section) == [
        line(
            f"{P0}.spot",
            f"Spot with training.maxWaitHours (2) below training.maxRuntimeHours (4); {SPOT_WAIT}",
            "true",
            "false, or maxWaitHours >= 4",
        )
    ]


def test_pipeline_without_spot_ignores_the_stack_s_short_wait() -> None:
    found = problems(training=training(pipeline(spot=False), maxWaitHours=2))
    assert found == [
        line(
            "training.maxWaitHours",
            f"below training.maxRuntimeHours (4); {SPOT_WAIT}",
            "2",
            "an integer >= 4, or training.spot: false",
        )
    ]


# --------------------------------------------------------------------------------------------
# The metric gate


def metric(name: str, threshold: float, comparison: str = "gte") -> dict[str, Any]:
    return {"name": name, "threshold": threshold, "comparison": comparison}


NEVER = "never takes this value, so the gate would always pass or always fail"


@pytest.mark.parametrize(
    ("gate", "got", "accepted"),
    [
        (metric("auc", 1.5), "1.5", "a number from 0 to 1 for auc"),
        (metric("accuracy", -0.1), "-0.1", "a number from 0 to 1 for accuracy"),
        (metric("f1", 2), "2.0", "a number from 0 to 1 for f1"),
        (metric("precision", 100), "100.0", "a number from 0 to 1 for precision"),
        (metric("Recall", 1.01), "1.01", "a number from 0 to 1 for Recall"),
        (metric("rmse", -1, "lte"), "-1.0", "a number >= 0 for rmse"),
        (metric("mae", -0.5, "lte"), "-0.5", "a number >= 0 for mae"),
        (metric("mse", -2, "lte"), "-2.0", "a number >= 0 for mse"),
        (metric("logloss", -0.01, "lte"), "-0.01", "a number >= 0 for logloss"),
        (metric("r2", 1.2), "1.2", "a number <= 1 for r2"),
    ],
)
def test_threshold_outside_the_metric_s_range(
    gate: dict[str, Any], got: str, accepted: str
) -> None:
    assert problems(training=training(pipeline(metric=gate))) == [
        line(f"{P0}.metric.threshold", f"{gate['name']} {NEVER}", got, accepted)
    ]


@pytest.mark.parametrize("name", ["rmse", "mae", "mse", "logloss", "RMSE"])
def test_error_metric_compared_with_gte(name: str) -> None:
    assert problems(training=training(pipeline(metric=metric(name, 0.3)))) == [
        line(
            f"{P0}.metric.comparison",
            f"{name} is an error metric, lower is better: gte would register worse models and "
            "refuse better ones",
            "'gte'",
            f'"lte" for {name}',
        )
    ]


@pytest.mark.parametrize("name", ["auc", "accuracy", "f1", "precision", "recall", "r2"])
def test_score_compared_with_lte(name: str) -> None:
    assert problems(training=training(pipeline(metric=metric(name, 0.3, "lte")))) == [
        line(
            f"{P0}.metric.comparison",
            f"{name} is a score, higher is better: lte would register worse models and refuse "
            "better ones",
            "'lte'",
            f'"gte" for {name}',
        )
    ]


def test_error_metric_out_of_range_and_compared_the_wrong_way() -> None:
    assert problems(training=training(pipeline(metric=metric("rmse", -1)))) == [
        line(f"{P0}.metric.threshold", f"rmse {NEVER}", "-1.0", "a number >= 0 for rmse"),
        line(
            f"{P0}.metric.comparison",
            "rmse is an error metric, lower is better: gte would register worse models and "
            "refuse better ones",
            "'gte'",
            '"lte" for rmse',
        ),
    ]


@pytest.mark.parametrize(("threshold", "got"), [(float("nan"), "NaN"), (float("inf"), "Infinity")])
def test_threshold_must_be_finite_for_any_metric(threshold: float, got: str) -> None:
    gate = metric("revenue_lift", threshold)
    assert problems(training=training(pipeline(metric=gate))) == [
        line(f"{P0}.metric.threshold", "not a finite number", got, "a finite number")
    ]


# --------------------------------------------------------------------------------------------
# Columns and target


NO_QUALITY = {"enabled": False}
"""Quality off: its monitors name columns of the model's pipeline."""


def columns(*names: str) -> list[dict[str, str]]:
    return [{"name": name, "type": "numeric"} for name in names]


def test_duplicate_columns_regardless_of_case() -> None:
    spec = pipeline(columns=columns("tenure", "charges", "Tenure", "tenure"))
    # dev's quality monitor segments by contract_type, which these columns leave out.
    assert problems(training=training(spec), quality=NO_QUALITY) == [
        line(
            f"{P0}.columns[2].name",
            "duplicate of columns[0] ('tenure'); column names are compared regardless of case",
            "'Tenure'",
            "column names unique regardless of case",
        ),
        line(
            f"{P0}.columns[3].name",
            "duplicate of columns[0] ('tenure'); column names are compared regardless of case",
            "'tenure'",
            "column names unique regardless of case",
        ),
    ]


def test_target_among_the_input_columns() -> None:
    spec = pipeline(columns=columns("tenure", "churned"))
    # dev's quality monitor segments by contract_type, which these columns leave out.
    assert problems(training=training(spec), quality=NO_QUALITY) == [
        line(
            f"{P0}.target",
            "also input column columns[1]; the label must not be an input",
            "'churned'",
            "a label column not among the columns",
        )
    ]


def test_target_duplicated_by_a_column_in_another_case() -> None:
    spec = pipeline(columns=columns("Churned", "tenure"))
    # dev's quality monitor segments by contract_type, which these columns leave out.
    assert problems(training=training(spec), quality=NO_QUALITY) == [
        line(
            f"{P0}.target",
            "also input column columns[0] ('Churned', compared regardless of case); the label "
            "must not be an input",
            "'churned'",
            "a label column not among the columns",
        )
    ]


# --------------------------------------------------------------------------------------------
# Entry point


@pytest.fixture
def repository(tmp_path: Path) -> str:
    """A repository with `pipelines/churn/train.py`; returns its stack config dir."""
    (tmp_path / "stacks").mkdir()
    script = tmp_path / "pipelines" / "churn" / "train.py"
    script.parent.mkdir(parents=True)
    script.write_text("print('training')\n")
    (tmp_path / "pipelines" / "churn" / "src").mkdir()
    (tmp_path / "pipelines" / "churn" / "src" / "fit.py").write_text("")
    return str(tmp_path / "stacks")


def test_entry_point_in_the_repository(repository: str) -> None:
    assert load(repository, training=training(pipeline())).training.pipelines[0].entry_point
    load(repository, training=training(pipeline(entryPoint="src/fit.py")))


def test_missing_entry_point(repository: str) -> None:
    assert problems(repository, training=training(pipeline(entryPoint="fit.py"))) == [
        line(
            f"{P0}.entryPoint",
            "no file pipelines/churn/fit.py in the repository",
            "'fit.py'",
            "the path of a training script in pipelines/churn/",
        )
    ]


def test_missing_entry_point_not_looked_for_without_a_pipelines_folder() -> None:
    load(training=training(pipeline(entryPoint="fit.py")))


@pytest.mark.parametrize("entry", ["../fraud/train.py", "/etc/x.py", "src/../../x.py"])
def test_entry_point_outside_the_model_s_folder(entry: str) -> None:
    assert problems(training=training(pipeline(entryPoint=entry))) == [
        line(
            f"{P0}.entryPoint",
            "leaves pipelines/churn/",
            repr(entry),
            "a path inside pipelines/churn/, e.g. train.py",
        )
    ]


def test_relative_config_dir_resolves_against_the_working_directory(
    repository: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(repository).parent)
    assert problems("stacks", training=training(pipeline(entryPoint="fit.py"))) == [
        line(
            f"{P0}.entryPoint",
            "no file pipelines/churn/fit.py in the repository",
            "'fit.py'",
            "the path of a training script in pipelines/churn/",
        )
    ]


def test_several_problems_in_one_pass() -> None:
    spec = pipeline(
        framework="pytorch",
        frameworkVersion="2.6.0",
        pyVersion="py39",
        instanceType="ml.t2.medium",
        metric=metric("auc", 0.8, "lte"),
    )
    found = problems(training=training(spec, processingInstanceType="ml.t2.medium"))
    assert [f.split(": ")[1] for f in found] == [
        f"{NS}training.processingInstanceType",
        f"{NS}{P0}.instanceType",
        f"{NS}{P0}.pyVersion",
        f"{NS}{P0}.metric.comparison",
    ]
