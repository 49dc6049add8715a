"""The policy pack as the Pulumi CLI runs it: `policy/__main__.py` starts CrossGuard's analyzer
server; this test talks to it over gRPC like `pulumi preview --policy-pack policy` would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from planner.run import PROJECT_DIR
from policy.mlops_policies import PACK_NAME, POLICIES


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "__main__.py"],
        cwd=PROJECT_DIR / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_pack_announces_every_policy_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def _struct(values: dict[str, object]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _key_request(environment: str, properties: dict[str, object]) -> analyzer_pb2.AnalyzeRequest:
    """An AnalyzeRequest for a KMS key on the platform provider, as the engine sends it."""
    tags = {
        "Project": "p",
        "Environment": environment,
        "CostCenter": "c",
        "Owner": "o",
        "ManagedBy": "m",
    }
    stack = f"urn:pulumi:{environment}::mlops-platform"
    return analyzer_pb2.AnalyzeRequest(
        type="aws:kms/key:Key",
        urn=f"{stack}::aws:kms/key:Key::k",
        name="k",
        properties=_struct(properties),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
        provider=analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:aws",
            urn=f"{stack}::pulumi:providers:aws::aws",
            name="aws",
            properties=_struct({"region": "eu-west-1", "defaultTags": json.dumps({"tags": tags})}),
        ),
    )


def test_analyze_reports_violations_through_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    request = _key_request("prod", {"enableKeyRotation": False, "deletionWindowInDays": 30})
    response = analyzer.Analyze(request)
    found = sorted((d.policyName, d.enforcementLevel) for d in response.diagnostics)
    assert found == [
        ("kms-key-deletion-protection", analyzer_pb2.MANDATORY),
        ("kms-key-policy", analyzer_pb2.MANDATORY),
        ("kms-key-rotation", analyzer_pb2.MANDATORY),
    ]


def test_analyze_passes_a_compliant_key(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*"}
        ]
    }
    properties = {
        "enableKeyRotation": True,
        "deletionWindowInDays": 7,
        "policy": json.dumps(policy),
    }
    assert list(analyzer.Analyze(_key_request("dev", properties)).diagnostics) == []
