"""The sidecar's configuration: defaults, and a clear refusal of every bad value."""

from __future__ import annotations

import json

import pytest
from serving_sidecar import proxy, settings
from serving_sidecar.config import ConfigError, ProxyConfig

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GOOD = {
    settings.ENV_ENDPOINT_NAME: "churn-k8s",
    settings.ENV_POD_NAME: "churn-k8s-7d9c5b8f6-x2x4q",
    settings.ENV_CAPTURE_BUCKET: "mlops-dev-capture-123456789012",
    settings.ENV_CAPTURE_KMS_KEY_ARN: KEY_ARN,
}


def test_defaults() -> None:
    config = ProxyConfig.read(GOOD)
    assert (config.listen_port, config.model_port, config.metrics_port) == (8080, 8081, 9090)
    assert config.listen_host == "0.0.0.0"
    capture = config.capture
    assert (capture.variant, capture.sampling_percent) == ("AllTraffic", 100)
    assert (capture.flush_records, capture.flush_bytes, capture.flush_seconds) == (
        1000,
        5 * 1024 * 1024,
        60.0,
    )
    assert capture.max_buffer_records == 10_000


def test_the_variable_names_are_the_documented_ones() -> None:
    assert [
        settings.ENV_MODEL_PACKAGE_ARN,
        settings.ENV_MODEL_DIR,
        settings.ENV_LISTEN_PORT,
        settings.ENV_MODEL_PORT,
        settings.ENV_METRICS_PORT,
        settings.ENV_CAPTURE_BUCKET,
        settings.ENV_CAPTURE_KMS_KEY_ARN,
        settings.ENV_CAPTURE_SAMPLING_PERCENT,
        settings.ENV_CAPTURE_FLUSH_RECORDS,
        settings.ENV_CAPTURE_FLUSH_BYTES,
        settings.ENV_CAPTURE_FLUSH_SECONDS,
        settings.ENV_CAPTURE_MAX_BUFFER_RECORDS,
        settings.ENV_ENDPOINT_NAME,
        settings.ENV_VARIANT_NAME,
        settings.ENV_POD_NAME,
    ] == [
        "MODEL_PACKAGE_ARN",
        "MODEL_DIR",
        "LISTEN_PORT",
        "MODEL_PORT",
        "METRICS_PORT",
        "CAPTURE_BUCKET",
        "CAPTURE_KMS_KEY_ARN",
        "CAPTURE_SAMPLING_PERCENT",
        "CAPTURE_FLUSH_RECORDS",
        "CAPTURE_FLUSH_BYTES",
        "CAPTURE_FLUSH_SECONDS",
        "CAPTURE_MAX_BUFFER_RECORDS",
        "ENDPOINT_NAME",
        "VARIANT_NAME",
        "POD_NAME",
    ]


NAME_RULE = "give a SageMaker-style name"


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("LISTEN_PORT", "http", "give an integer 1 to 65535"),
        ("MODEL_PORT", "70000", "give an integer 1 to 65535"),
        ("CAPTURE_SAMPLING_PERCENT", "101", "give an integer 0 to 100"),
        ("CAPTURE_SAMPLING_PERCENT", "50%", "give an integer 0 to 100"),
        ("CAPTURE_FLUSH_SECONDS", "0", "give a number of seconds above 0"),
        ("CAPTURE_FLUSH_SECONDS", "nan", "give a number of seconds above 0"),
        ("CAPTURE_FLUSH_RECORDS", "0", "give an integer 1 to 1000000"),
        ("CAPTURE_BUCKET", "Bad_Bucket", "give the capture bucket's name"),
        ("CAPTURE_KMS_KEY_ARN", "alias/mlops", "give the ARN of the KMS key"),
        ("VARIANT_NAME", "all_traffic", NAME_RULE),
        ("POD_NAME", "Pod/1", "give the pod's name"),
        ("LOG_LEVEL", "chatty", "give one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_a_bad_value_is_refused_naming_variable_value_and_rule(
    name: str, value: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        ProxyConfig.read({**GOOD, name: value})
    assert str(raised.value).startswith(f"{name}={value!r} is not accepted: {rule}")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("CAPTURE_BUCKET", "give the capture bucket's name"),
        ("CAPTURE_KMS_KEY_ARN", "give the ARN of the KMS key"),
        ("ENDPOINT_NAME", NAME_RULE),
    ],
)
def test_a_missing_capture_variable_is_refused(name: str, rule: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ProxyConfig.read({**GOOD, name: ""})
    assert str(raised.value).startswith(f"{name} is not set: {rule}")


def test_ports_must_differ() -> None:
    with pytest.raises(ConfigError, match="METRICS_PORT=8080: the three ports must differ"):
        ProxyConfig.read({**GOOD, "METRICS_PORT": "8080"})


def test_the_buffer_must_hold_a_flush() -> None:
    with pytest.raises(ConfigError) as raised:
        ProxyConfig.read({**GOOD, "CAPTURE_MAX_BUFFER_RECORDS": "10"})
    assert str(raised.value).startswith(
        "CAPTURE_MAX_BUFFER_RECORDS=10 is not accepted: give at least CAPTURE_FLUSH_RECORDS (1000)"
    )


def test_with_sampling_zero_no_capture_destination_is_needed() -> None:
    config = ProxyConfig.read({settings.ENV_CAPTURE_SAMPLING_PERCENT: "0"})
    assert not config.capture.enabled


def test_main_exits_2_with_one_json_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert proxy.main({**GOOD, "CAPTURE_SAMPLING_PERCENT": "x"}) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("ERROR", "serving_sidecar.proxy")
    ]
    assert "CAPTURE_SAMPLING_PERCENT='x' is not accepted" in lines[0]["message"]
