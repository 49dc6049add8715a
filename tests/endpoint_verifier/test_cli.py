"""The verifier's command line, as CI runs it after `pulumi up`: `main([...])` against moto.

Exit codes: 0 every endpoint matches, 1 a mismatch, an error or still in progress, 2 bad usage
or a missing or invalid document. The clock and the sleep are injected, so waiting costs nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import verifier
import verifier_settings as settings
from botocore.stub import Stubber

from tests.endpoint_verifier.conftest import (
    ENDPOINT,
    MODELS,
    NEW_CONFIG,
    OLD_CONFIG,
    PREFIX,
    REGION,
    ROLLBACK_REASON,
    World,
    intended_text,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "lambdas" / "endpoint_verifier" / "verifier.py"
BASE = ["--region", REGION, "--prefix", PREFIX]


class FakeTime:
    """A monotonic clock that only moves when the verifier sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_matching_endpoint_exits_0(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.endpoint(NEW_CONFIG)
    code = verifier.main(BASE)
    out, err = capsys.readouterr()
    assert code == verifier.EXIT_OK == 0
    assert out.splitlines() == [
        f"MATCH       {ENDPOINT}  endpoint config {NEW_CONFIG}",
        "verified 1 endpoint: 1 match",
    ]
    assert err == ""


def test_rolled_back_endpoint_exits_1_with_findings_and_publishes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(OLD_CONFIG, failure_reason=ROLLBACK_REASON)
    code = verifier.main([*BASE, "--endpoint", ENDPOINT])
    lines = capsys.readouterr().out.splitlines()
    assert code == verifier.EXIT_FAILED == 1
    assert lines[0] == (
        f"MISMATCH    {ENDPOINT}  intended endpoint config {NEW_CONFIG}, live {OLD_CONFIG}"
    )
    assert lines[1].startswith(f"  - Endpoint runs endpoint config {OLD_CONFIG}, intended")
    assert f"  - Variant AllTraffic runs model {MODELS[2]}, intended {MODELS[3]}." in lines
    assert lines[-1] == "verified 1 endpoint: 1 mismatch"
    # CI fails the job; the command line tells no topic and no bus
    assert world.published() == []
    assert world.bus_events() == []


def test_prefix_comes_from_the_environment_and_every_endpoint_is_verified(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(NEW_CONFIG)
    world.intend(
        intended_text(endpoint="mlops-platform-prod-fraud"), endpoint="mlops-platform-prod-fraud"
    )
    code = verifier.main(
        ["--region", REGION], environ={settings.ENV_PARAMETER_PREFIX: PREFIX + "/"}
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"MATCH       {ENDPOINT}" in out
    assert "MISMATCH    mlops-platform-prod-fraud" in out
    assert "Endpoint mlops-platform-prod-fraud does not exist" in out
    assert out.splitlines()[-1] == "verified 2 endpoints: 1 match, 1 mismatch"


def test_local_intended_document(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(NEW_CONFIG)
    path = tmp_path / "intended.json"
    path.write_text(intended_text())
    assert verifier.main(["--region", REGION, "--intended", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"MATCH       {ENDPOINT}")
    # naming another endpoint than the document's is a usage error
    assert verifier.main(["--intended", str(path), "--endpoint", "other"]) == 2
    assert f"describes endpoint {ENDPOINT}, not other" in capsys.readouterr().err


def test_bad_local_document_exits_2_naming_file_and_field(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(intended_text())
    document["variants"][0]["modelPackageArn"] = "churn:3"
    path = tmp_path / "intended.json"
    path.write_text(json.dumps(document))
    code = verifier.main(["--region", REGION, "--intended", str(path)])
    out, err = capsys.readouterr()
    assert code == verifier.EXIT_USAGE == 2
    assert out == ""
    assert err.startswith(f"verifier: error: intended-state document file {path} is invalid: ")
    assert "variants[0].modelPackageArn: 'churn:3' is not a versioned model package ARN" in err


def test_unreadable_file_and_missing_prefix_are_usage_errors(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verifier.main(["--intended", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert verifier.main(["--region", REGION], environ={}) == 2
    assert f"give --prefix, --intended, or set {settings.ENV_PARAMETER_PREFIX}" in (
        capsys.readouterr().err
    )
    assert verifier.main(["--region", REGION, "--prefix", "mlops/prod"]) == 2
    assert verifier.main(["--region", REGION, "--prefix", "/empty/prefix"]) == 2
    assert "no intended-state parameters under /empty/prefix" in capsys.readouterr().err
    # A stack without endpoints, when the caller says that is expected.
    assert verifier.main(["--region", REGION, "--prefix", "/empty/prefix", "--allow-none"]) == 0
    assert capsys.readouterr().out == "verified 0 endpoints: \n"
    with pytest.raises(SystemExit) as caught:
        verifier.main([*BASE, "--wait-seconds", "-5"])
    assert caught.value.code == 2


def test_endpoint_without_parameter_exits_2(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = verifier.main([*BASE, "--endpoint", "mlops-platform-prod-nothing"])
    out = capsys.readouterr().out
    assert code == 2
    assert out.startswith("INVALID     mlops-platform-prod-nothing")
    assert f"{PREFIX}/mlops-platform-prod-nothing does not exist" in out


def test_bad_parameter_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.endpoint(NEW_CONFIG)
    world.intend('{"schemaVersion": 1}')
    assert verifier.main(BASE) == 2
    assert f"parameter {PREFIX}/{ENDPOINT} is invalid" in capsys.readouterr().out


# ---- waiting ------------------------------------------------------------------------------------


def test_waits_while_the_endpoint_updates_then_verifies(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an endpoint still updating, which finishes during the first wait
    world.endpoint(NEW_CONFIG, status="Updating")
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        world.set_status("InService")

    # WHEN the command line may wait up to 15 minutes
    code = verifier.main(
        [*BASE, "--wait-seconds", "900", "--poll-seconds", "30"], clock=fake.clock, sleep=sleep
    )
    # THEN it polled once and found the update in place
    assert code == 0
    assert fake.sleeps == [30]
    assert capsys.readouterr().out.startswith(f"MATCH       {ENDPOINT}")


def test_waiting_ends_at_the_deadline_and_exits_1(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(NEW_CONFIG, status="Updating")
    fake = FakeTime()
    code = verifier.main(
        [*BASE, "--wait-seconds", "70", "--poll-seconds", "30"], clock=fake.clock, sleep=fake.sleep
    )
    assert code == 1
    assert fake.sleeps == [30, 30, 10]
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"IN-PROGRESS {ENDPOINT}  endpoint status Updating",
        "verified 1 endpoint: 1 in-progress",
    ]


def test_without_wait_in_progress_is_reported_at_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(NEW_CONFIG, status="Creating")
    fake = FakeTime()
    assert verifier.main(BASE, clock=fake.clock, sleep=fake.sleep) == 1
    assert fake.sleeps == []


# ---- faults -------------------------------------------------------------------------------------


def test_throttled_describe_exits_1_with_the_error(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.endpoint(NEW_CONFIG)
    stub = Stubber(world.clients.sagemaker)
    stub.add_client_error(
        "describe_endpoint",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
    )
    with stub:
        code = verifier.main(BASE, clients=world.clients)
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        f"ERROR       {ENDPOINT}",
        "  DescribeEndpoint failed: ThrottlingException: Rate exceeded",
        "verified 1 endpoint: 1 error",
    ]


def test_listing_denied_exits_1(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    stub = Stubber(world.clients.ssm)
    stub.add_client_error(
        "get_parameters_by_path",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: ssm:GetParametersByPath",
    )
    with stub:
        code = verifier.main(BASE, clients=world.clients)
    assert code == 1
    assert "cannot list the intended states: GetParametersByPath failed: AccessDeniedException" in (
        capsys.readouterr().err
    )


def test_script_help_runs_without_aws_configuration() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    environ["AWS_CONFIG_FILE"] = os.devnull
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: verifier")
    assert "--wait-seconds N" in done.stdout
    assert "exit codes: 0 every endpoint matches" in done.stdout.replace("\n", " ")
