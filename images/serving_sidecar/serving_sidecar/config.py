"""The sidecar's configuration, read once from the environment (names in `settings`).

A bad value stops the sidecar at start with a `ConfigError` naming the variable, the value
and what would be accepted; the entry points print it as one log line and exit 2.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from serving_sidecar import settings

# SageMaker's name rule for endpoints and variants: what the drift checks' layout expects.
_SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# A pod name is a DNS subdomain; anything else would make an odd S3 key.
_POD_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/\S+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """The environment the component sets is missing or wrong: the sidecar cannot start."""


def _text(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _text(environ, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is not accepted: give an integer {low} to {high}")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _text(environ, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={raw!r} is not accepted: give a number of seconds above 0")
    return value


def _matching(environ: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    raw = _text(environ, name)
    if not raw:
        raise ConfigError(f"{name} is not set: give {what}")
    if not pattern.fullmatch(raw):
        raise ConfigError(f"{name}={raw!r} is not accepted: give {what}")
    return raw


@dataclass(frozen=True)
class CaptureConfig:
    """Where and how invocations are captured."""

    endpoint: str
    variant: str
    pod: str
    bucket: str
    kms_key_arn: str
    sampling_percent: int
    flush_records: int
    flush_bytes: int
    flush_seconds: float
    max_buffer_records: int

    @property
    def enabled(self) -> bool:
        return self.sampling_percent > 0


@dataclass(frozen=True)
class ProxyConfig:
    """Everything `python -m serving_sidecar.proxy` needs."""

    listen_host: str
    listen_port: int
    model_port: int
    metrics_port: int
    model_timeout: float
    drain_seconds: float
    log_level: str
    capture: CaptureConfig

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> ProxyConfig:
        env = os.environ if environ is None else environ
        s = settings
        ports = {
            name: _int(env, name, default, 1, 65535)
            for name, default in (
                (s.ENV_LISTEN_PORT, s.DEFAULT_LISTEN_PORT),
                (s.ENV_MODEL_PORT, s.DEFAULT_MODEL_PORT),
                (s.ENV_METRICS_PORT, s.DEFAULT_METRICS_PORT),
            )
        }
        if len(set(ports.values())) < len(ports):
            shown = ", ".join(f"{name}={port}" for name, port in ports.items())
            raise ConfigError(f"{shown}: the three ports must differ")
        return cls(
            listen_host=_text(env, s.ENV_LISTEN_HOST) or s.DEFAULT_LISTEN_HOST,
            listen_port=ports[s.ENV_LISTEN_PORT],
            model_port=ports[s.ENV_MODEL_PORT],
            metrics_port=ports[s.ENV_METRICS_PORT],
            model_timeout=_seconds(
                env, s.ENV_MODEL_TIMEOUT_SECONDS, s.DEFAULT_MODEL_TIMEOUT_SECONDS
            ),
            drain_seconds=_seconds(env, s.ENV_DRAIN_SECONDS, s.DEFAULT_DRAIN_SECONDS),
            log_level=log_level(env),
            capture=read_capture(env),
        )


def log_level(environ: Mapping[str, str]) -> str:
    raw = _text(environ, settings.ENV_LOG_LEVEL) or settings.DEFAULT_LOG_LEVEL
    if raw.upper() not in _LOG_LEVELS:
        accepted = ", ".join(_LOG_LEVELS)
        raise ConfigError(
            f"{settings.ENV_LOG_LEVEL}={raw!r} is not accepted: give one of {accepted}"
        )
    return raw.upper()


def read_capture(environ: Mapping[str, str]) -> CaptureConfig:
    """The capture settings; with sampling 0 nothing is written, so nothing else is required."""
    s = settings
    percent = _int(
        environ, s.ENV_CAPTURE_SAMPLING_PERCENT, s.DEFAULT_CAPTURE_SAMPLING_PERCENT, 0, 100
    )
    flush_records = _int(
        environ, s.ENV_CAPTURE_FLUSH_RECORDS, s.DEFAULT_CAPTURE_FLUSH_RECORDS, 1, 1_000_000
    )
    flush_bytes = _int(
        environ, s.ENV_CAPTURE_FLUSH_BYTES, s.DEFAULT_CAPTURE_FLUSH_BYTES, 1, 1024**3
    )
    flush_seconds = _seconds(environ, s.ENV_CAPTURE_FLUSH_SECONDS, s.DEFAULT_CAPTURE_FLUSH_SECONDS)
    max_records = _int(
        environ,
        s.ENV_CAPTURE_MAX_BUFFER_RECORDS,
        s.DEFAULT_CAPTURE_MAX_BUFFER_RECORDS,
        1,
        10_000_000,
    )
    if max_records < flush_records:
        raise ConfigError(
            f"{s.ENV_CAPTURE_MAX_BUFFER_RECORDS}={max_records} is not accepted: give at least "
            f"{s.ENV_CAPTURE_FLUSH_RECORDS} ({flush_records}), or the buffer never fills to a flush"
        )
    if percent == 0:
        endpoint = variant = pod = bucket = key = ""
    else:
        name_rule = "a SageMaker-style name (letters, digits, hyphens; 1 to 63 characters)"
        endpoint = _matching(environ, s.ENV_ENDPOINT_NAME, _SAGEMAKER_NAME, name_rule)
        variant = (
            _matching(environ, s.ENV_VARIANT_NAME, _SAGEMAKER_NAME, name_rule)
            if _text(environ, s.ENV_VARIANT_NAME)
            else s.DEFAULT_VARIANT_NAME
        )
        pod = _text(environ, s.ENV_POD_NAME) or socket.gethostname()
        if not _POD_NAME.fullmatch(pod):
            raise ConfigError(
                f"{s.ENV_POD_NAME}={pod!r} is not accepted: give the pod's name (lower-case "
                "letters, digits, '-' and '.'), e.g. from the downward API metadata.name"
            )
        bucket = _matching(environ, s.ENV_CAPTURE_BUCKET, _BUCKET, "the capture bucket's name")
        key = _matching(
            environ,
            s.ENV_CAPTURE_KMS_KEY_ARN,
            _KMS_KEY_ARN,
            "the ARN of the KMS key the capture bucket encrypts with (arn:aws:kms:...)",
        )
    return CaptureConfig(
        endpoint=endpoint,
        variant=variant,
        pod=pod,
        bucket=bucket,
        kms_key_arn=key,
        sampling_percent=percent,
        flush_records=flush_records,
        flush_bytes=flush_bytes,
        flush_seconds=flush_seconds,
        max_buffer_records=max_records,
    )
