"""The policy pack as the Pulumi CLI runs it: `policy/__main__.py` starts CrossGuard's analyzer
server; this test talks to it over gRPC like `pulumi preview --policy-pack policy` would."""

from __future__ import annotations

import json

from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.mlops_policies import PACK_NAME, POLICIES
from tests.policy.conftest import to_struct


def test_pack_announces_every_policy_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


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
        properties=to_struct(properties),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
        provider=analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:aws",
            urn=f"{stack}::pulumi:providers:aws::aws",
            name="aws",
            properties=to_struct(
                {"region": "eu-west-1", "defaultTags": json.dumps({"tags": tags})}
            ),
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
