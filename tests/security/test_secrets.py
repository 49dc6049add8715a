"""No plaintext secret in a stack file, in Pulumi.yaml, or in an environment variable the
platform sets (Lambda functions, Kubernetes containers); secrets are Pulumi secrets.

Each detector is proven to fire on a planted secret (built at run time, so this file holds no
secret-shaped literal itself), so a clean scan means the files are clean, not that the scan is
blind. A value that looks random but is a known non-secret form (an ARN, an ECR image, a
digest, a physical name) is allowed by an explicit, named rule.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import (
    PROJECT,
    SECRET_KEYS,
    ConfigError,
    ConfigProblem,
    load_platform_config,
)
from planner.mocks import SECRET_TEXT
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config

STACK_FILES = sorted((PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))
PROJECT_FILE = PROJECT_DIR / "Pulumi.yaml"
SCANNED_FILES = [PROJECT_FILE, *STACK_FILES]

LAMBDA = "aws:lambda/function:Function"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@dataclass(frozen=True)
class Finding:
    detector: str
    where: str
    excerpt: str
    """A few characters of the match, never the whole value."""


def _excerpt(text: str) -> str:
    return text[:6] + "…" if len(text) > 6 else text


# --------------------------------------------------------------------------------------------
# Detectors over text


AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
SECRET_KEY_DISTANCE = 300
"""How far from an access key id a 40-character secret access key is looked for."""
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
GITHUB_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"
)
TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.:@~]{32,}")
"""A run of the characters base64, hex and URL-safe tokens are made of, 32 or longer."""
HEX = re.compile(r"^[0-9a-fA-F]+$")
BASE64_ENTROPY = 4.5
HEX_ENTROPY = 3.0
"""Bits per character above which a token looks random (detect-secrets' defaults)."""


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _kebab_name(token: str) -> bool:
    """A physical name: lower-case words joined by `-` (two words at least), perhaps ending in
    the random suffix Pulumi's auto-naming adds (`mlops-platform-prod-raw-31145515950e`)."""
    segments = token.split("-")
    words = [s for s in segments if re.fullmatch(r"[a-z]{2,}", s)]
    return all(re.fullmatch(r"[a-z0-9]+", s) for s in segments) and len(words) >= 2


ALLOWED: dict[str, Callable[[str], bool]] = {
    "ARN": lambda t: (
        re.fullmatch(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:\S+", t) is not None
    ),
    "ECR image": lambda t: (
        re.fullmatch(
            r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(/[a-z0-9._-]+)*"
            r"(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?",
            t,
        )
        is not None
    ),
    "image digest": lambda t: re.fullmatch(r"(\S+@)?sha256:[0-9a-f]{64}", t) is not None,
    "AWS resource id": lambda t: (
        re.fullmatch(r"(subnet|vpc|sg|ami|lt|eni)-[0-9a-f]{8,17}", t) is not None
    ),
    "S3 URI": lambda t: re.fullmatch(r"s3://[a-z0-9.-]+(/\S*)?", t) is not None,
    "path": lambda t: re.fullmatch(r"/[A-Za-z0-9_.\-/]+", t) is not None,
    "physical name": _kebab_name,
    "config key": lambda t: (
        re.fullmatch(r"[a-z][a-z0-9-]*:[A-Za-z][A-Za-z0-9_.-]*:?", t) is not None
    ),
}
"""Known non-secret forms a long token may take, each named for the report."""


def _allowed(token: str) -> str | None:
    return next((name for name, rule in ALLOWED.items() if rule(token)), None)


def _random_looking(token: str) -> bool:
    if HEX.match(token):
        return _entropy(token) > HEX_ENTROPY
    return _entropy(token) > BASE64_ENTROPY


def scan_text(text: str, where: str) -> list[Finding]:
    """Every text detector over `text` (comments included: a secret in a comment is still in
    the file)."""
    found: list[Finding] = []
    ids = list(AWS_ACCESS_KEY_ID.finditer(text))
    found.extend(Finding("AWS access key id", where, _excerpt(m.group())) for m in ids)
    for key_id in ids:
        window = text[
            max(0, key_id.start() - SECRET_KEY_DISTANCE) : key_id.end() + SECRET_KEY_DISTANCE
        ]
        found.extend(
            Finding("AWS secret access key", where, _excerpt(m.group()))
            for m in AWS_SECRET_KEY.finditer(window)
        )
    found.extend(
        Finding("private key block", where, m.group()[:16]) for m in PRIVATE_KEY.finditer(text)
    )
    found.extend(
        Finding("GitHub token", where, _excerpt(m.group())) for m in GITHUB_TOKEN.finditer(text)
    )
    for match in TOKEN.finditer(text):
        token = match.group().strip(".:-")
        if len(token) >= 32 and _allowed(token) is None and _random_looking(token):
            found.append(Finding("high-entropy string", where, _excerpt(token)))
    return found


# --------------------------------------------------------------------------------------------
# Detectors over structure


SECRET_KEY_NAME = re.compile(
    r"password|passwd|secret|token|kubeconfig|credential|private_?key|api_?key|access_?key",
    re.IGNORECASE,
)
"""Config keys whose value is a secret by its name."""


def _secure(value: object) -> bool:
    """A Pulumi-encrypted value (`pulumi config set --secret`)."""
    return isinstance(value, dict) and set(value) == {"secure"}


def scan_secret_named_keys(document: Any, where: str, path: str = "") -> Iterator[Finding]:
    """Keys named like a secret whose value is written in plain text. A mapping under such a
    key is a declaration (Pulumi.yaml's `type`/`description`), unless it gives a `default` or
    `value`, which would be plain text again."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield from scan_secret_named_keys(item, where, f"{path}[{index}]")
        return
    if not isinstance(document, dict):
        return
    for key, value in document.items():
        here = f"{path}.{key}" if path else str(key)
        if SECRET_KEY_NAME.search(str(key)) and not _secure(value):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                if str(value).strip():
                    yield Finding("secret-named key in plain text", where, here)
                continue
            if isinstance(value, dict):
                for given in ("default", "value"):
                    if value.get(given) not in ("", None) and not _secure(value[given]):
                        yield Finding("secret-named key in plain text", where, f"{here}.{given}")
        yield from scan_secret_named_keys(value, where, here)


SECRET_ENV_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY", re.IGNORECASE)


def scan_environment(variables: Mapping[str, object], where: str) -> list[Finding]:
    """An environment's literal values: the text detectors, and names that say secret with a
    literal value (an ARN is a reference, not the secret: a KMS key ARN is fine; a value the
    program passed as a Pulumi secret is masked in the recording and is fine too)."""
    literal = {
        name: value
        for name, value in variables.items()
        if isinstance(value, (str, int, float)) and value != SECRET_TEXT
    }
    text = "\n".join(f"{name}: {value}" for name, value in literal.items())
    found = scan_text(text, where)
    for name, value in literal.items():
        if SECRET_ENV_NAME.search(name) and str(value).strip() and _allowed(str(value)) != "ARN":
            found.append(Finding("secret-named variable with a literal value", where, name))
    return found


def scan_file(path: Path) -> list[Finding]:
    text = path.read_text()
    where = str(path.relative_to(PROJECT_DIR))
    return [*scan_text(text, where), *scan_secret_named_keys(yaml.safe_load(text), where)]


def environments(plan: Plan) -> Iterator[tuple[str, dict[str, object]]]:
    """Every environment the plan gives a process: each Lambda function's variables, and each
    container's and init container's literal `env` values of each Deployment."""
    for function in plan.by_type(LAMBDA):
        variables = (function.inputs.get("environment") or {}).get("variables") or {}
        yield f"{plan.stack}: {function.name}", dict(variables)
    for deployment in plan.by_type(DEPLOYMENT):
        pod = deployment.inputs["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            yield f"{plan.stack}: {deployment.name}/{container['name']}", env


# --------------------------------------------------------------------------------------------
# The scans


def test_the_project_and_every_stack_file_are_scanned() -> None:
    assert {p.name for p in STACK_FILES} >= {
        "Pulumi.dev.yaml",
        "Pulumi.staging.yaml",
        "Pulumi.prod.yaml",
    }
    assert PROJECT_FILE.is_file()


@pytest.mark.parametrize("path", SCANNED_FILES, ids=lambda p: p.name)
def test_no_plaintext_secret_in_a_stack_file(path: Path) -> None:
    assert scan_file(path) == []


def test_no_plaintext_secret_in_an_environment_variable(plans: dict[str, Plan]) -> None:
    scanned = 0
    findings: list[Finding] = []
    for plan in plans.values():
        for where, variables in environments(plan):
            scanned += len(variables)
            findings.extend(scan_environment(variables, where))
    assert findings == []
    # The scan saw real environments: every shipped stack runs Lambda functions, and prod
    # runs Kubernetes Deployments.
    assert all(plan.by_type(LAMBDA) for plan in plans.values())
    assert plans["prod"].by_type(DEPLOYMENT)
    assert scanned > 50


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_every_secret_key_is_refused_in_plain_text(key: str) -> None:
    """The loader refuses a secret key given in plain text, names it, and never shows the
    value; the same value as a Pulumi secret is not refused for being plain text."""
    cfg = load_stack_config(PROJECT_DIR, "dev")
    full = f"{PROJECT}:{key}"
    value = "planted-plaintext-value-" + "x" * 8
    plain = replace(cfg, values={**cfg.values, full: value}, secret_keys=[])
    with pytest.raises(ConfigError) as caught:
        load_platform_config(plain.values, "dev", str(PROJECT_DIR / "stacks"), plain.secret_keys)
    refused = [p for p in caught.value.problems if p.key == full]
    assert refused
    assert "plain text" in refused[0].problem
    assert value not in str(caught.value)
    # Other rules may object to the key (dev deploys no existing cluster); plain text is not one.
    as_secret = _problems(plain.values, [full])
    assert not any("plain text" in p.problem for p in as_secret if p.key == full)


def _problems(values: dict[str, str], secret_keys: list[str]) -> list[ConfigProblem]:
    try:
        load_platform_config(values, "dev", str(PROJECT_DIR / "stacks"), secret_keys)
    except ConfigError as error:
        return error.problems
    return []


# --------------------------------------------------------------------------------------------
# Each detector fires on a planted secret


_RNG = random.Random(11)


def _random(alphabet: str, length: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(length))


ACCESS_KEY_ID = "AKIA" + _random(string.ascii_uppercase + string.digits, 16)
SECRET_ACCESS_KEY = _random(string.ascii_letters + string.digits + "/+", 40)
PRIVATE_KEY_BLOCK = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow" + "A" * 40
GITHUB_CLASSIC = "ghp" + "_" + _random(string.ascii_letters + string.digits, 36)
GITHUB_FINE = "github" + "_pat_" + _random(string.ascii_letters + string.digits + "_", 60)
BASE64_SECRET = _random(string.ascii_letters + string.digits + "+/", 40)
HEX_SECRET = _random("0123456789abcdef", 40)


PLANTED: dict[str, str] = {
    "AWS access key id": f"accessKeyId: {ACCESS_KEY_ID}",
    "AWS secret access key": f"id: {ACCESS_KEY_ID}\nkey: {SECRET_ACCESS_KEY}",
    "private key block": f"key: |\n  {PRIVATE_KEY_BLOCK}",
    "GitHub token": f"note: {GITHUB_CLASSIC} and {GITHUB_FINE}",
    "high-entropy string": f"a: {BASE64_SECRET}\nb: {HEX_SECRET}",
}


@pytest.mark.parametrize("detector", sorted(PLANTED))
def test_each_text_detector_fires_on_a_planted_secret_in_a_stack_file(detector: str) -> None:
    """Planted in a comment and as a value of a copy of the dev stack file."""
    dev = (PROJECT_DIR / "stacks" / "Pulumi.dev.yaml").read_text()
    planted = PLANTED[detector]
    as_comment = dev + "\n".join(f"# {line}" for line in planted.splitlines()) + "\n"
    found = scan_text(as_comment, "planted")
    assert detector in {f.detector for f in found}
    lines = planted.splitlines()
    as_value = dev + "".join(
        f"  mlops-platform:planted{i}: '{line}'\n" for i, line in enumerate(lines)
    )
    found = scan_text(as_value, "planted")
    assert detector in {f.detector for f in found}
    # The report shows an excerpt, never the whole secret.
    secret = planted.split(": ", 1)[1].split()[0]
    assert all(secret not in f.excerpt for f in found if len(secret) > 8)


def test_the_high_entropy_detector_fires_for_base64_and_for_hex() -> None:
    assert [f.detector for f in scan_text(f"x: {BASE64_SECRET}", "planted")] == [
        "high-entropy string"
    ]
    assert [f.detector for f in scan_text(f"x: {HEX_SECRET}", "planted")] == ["high-entropy string"]


def test_a_secret_access_key_is_flagged_only_next_to_an_access_key_id() -> None:
    """Forty base64 characters alone are the entropy detector's business, not this one's."""
    far = f"id: {ACCESS_KEY_ID}\n{'#' * (SECRET_KEY_DISTANCE + 10)}\nkey: {SECRET_ACCESS_KEY}"
    assert "AWS secret access key" not in {f.detector for f in scan_text(far, "planted")}


@pytest.mark.parametrize(
    "document",
    [
        {"config": {"mlops-platform:kubeconfig": "apiVersion: v1\nkind: Config\n"}},
        {"config": {"mlops-platform:database": {"password": "hunter2"}}},
        {"config": {"mlops-platform:services": [{"apiToken": "abc"}]}},
        {"config": {"kubeconfig": {"type": "string", "default": "apiVersion: v1"}}},
    ],
)
def test_the_secret_named_key_detector_fires_on_plain_text(document: dict[str, Any]) -> None:
    found = list(scan_secret_named_keys(document, "planted"))
    assert [f.detector for f in found] == ["secret-named key in plain text"]


def test_the_secret_named_key_detector_accepts_pulumi_secrets_and_declarations() -> None:
    document = {
        "config": {
            "mlops-platform:kubeconfig": {"secure": "v1:AAAA"},
            "kubeconfig": {"type": "string", "secret": True, "description": "the cluster"},
        }
    }
    assert list(scan_secret_named_keys(document, "planted")) == []
    # Through a file: a copy of the dev stack with an encrypted kubeconfig is clean, and with a
    # plain one is not.
    dev = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.dev.yaml").read_text())
    dev["config"]["mlops-platform:kubeconfig"] = {"secure": "v1:" + "A" * 20}
    assert list(scan_secret_named_keys(dev, "planted")) == []
    dev["config"]["mlops-platform:kubeconfig"] = "apiVersion: v1"
    assert len(list(scan_secret_named_keys(dev, "planted"))) == 1


def test_the_environment_scan_fires_on_planted_secrets(plans: dict[str, Plan]) -> None:
    """Planted into a real function's variables: each kind is found, and the same function's
    real variables (bucket names, a KMS key ARN) stay clean."""
    where, real = next(environments(plans["prod"]))
    assert scan_environment(real, where) == []
    cases: dict[str, tuple[str, str]] = {
        "secret-named variable with a literal value": ("DB_PASSWORD", "hunter2"),
        "AWS access key id": ("UPSTREAM_ID", ACCESS_KEY_ID),
        "GitHub token": ("CLONE_WITH", GITHUB_CLASSIC),
        "high-entropy string": ("UPSTREAM_SIGNATURE", BASE64_SECRET),
        "private key block": ("TLS", PRIVATE_KEY_BLOCK),
    }
    for detector, (name, value) in cases.items():
        found = scan_environment({**real, name: value}, where)
        assert detector in {f.detector for f in found}, detector
    both = {**real, "UPSTREAM_ID": ACCESS_KEY_ID, "UPSTREAM_SECRET": SECRET_ACCESS_KEY}
    assert "AWS secret access key" in {f.detector for f in scan_environment(both, where)}


def test_the_environment_scan_allows_references_and_pulumi_secrets() -> None:
    variables = {
        "CAPTURE_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:111111111111:key/"
        "782680e3-2601-559b-9ef8-bd91362657a8",
        "API_TOKEN": SECRET_TEXT,
        "MODEL_IMAGE": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-model:1.0@sha256:"
        + "0" * 63
        + "1",
        "DATA": "s3://mlops-platform-prod-curated-db7d563cc00b55d392a5e8afb1/churn/training/",
    }
    assert scan_environment(variables, "allowed") == []


def test_the_environments_of_a_plan_are_read(plans: dict[str, Plan]) -> None:
    """The reader of Deployments finds the sidecar's literal variables (not its `valueFrom`)."""
    found = dict(environments(plans["prod"]))
    sidecars = [env for where, env in found.items() if where.endswith("/sidecar")]
    assert sidecars
    assert all("CAPTURE_BUCKET" in env for env in sidecars)
    assert all("POD_NAME" not in env for env in sidecars)
    assert json.dumps(found)  # plain values only
