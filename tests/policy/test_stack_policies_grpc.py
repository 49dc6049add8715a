"""The S3 stack policies as the Pulumi CLI runs them: `AnalyzeStack` over gRPC, where props are
CrossGuard's read-only proxies (not dicts and lists) and preview values may be unknown."""

from __future__ import annotations

from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from planner.mocks import Registration
from policy.mlops_policies.s3 import S3_POLICIES
from tests.policy.conftest import to_struct
from tests.policy.test_s3_policies import data_lake

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's marker for a string that is not known during a preview."""


def _request(records: list[Registration]) -> analyzer_pb2.AnalyzeStackRequest:
    providers = {r.urn: r for r in records if r.type.startswith("pulumi:providers:")}
    resources = []
    for r in records:
        provider = providers.get(r.provider)
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=to_struct(r.inputs),
                urn=r.urn,
                name=r.name,
                options=analyzer_pb2.AnalyzerResourceOptions(protect=r.protect),
                provider=analyzer_pb2.AnalyzerProviderResource(
                    type=provider.type,
                    urn=provider.urn,
                    name=provider.name,
                    properties=to_struct(provider.inputs),
                )
                if provider is not None
                else None,
                parent=r.parent,
                dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items()
                },
            )
        )
    return analyzer_pb2.AnalyzeStackRequest(resources=resources)


def test_compliant_lake_passes_through_the_analyzer(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    response = analyzer.AnalyzeStack(_request(list(data_lake().values())))
    assert [(d.policyName, d.message) for d in response.diagnostics] == []


def test_analyzer_reports_on_the_companion_and_links_unknown_names(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """In a preview the bucket names are unknown; the property dependencies still link every
    companion to its bucket, so only the real fault is reported, on the companion's URN."""
    lake = data_lake()
    for record in lake.values():
        if "bucket" in record.inputs:
            record.inputs["bucket"] = UNKNOWN_STRING
    lake["raw-versioning"].inputs["versioningConfiguration"] = {"status": "Suspended"}
    response = analyzer.AnalyzeStack(_request(list(lake.values())))
    found = [(d.policyName, d.urn, d.enforcementLevel) for d in response.diagnostics]
    assert found == [("s3-versioning", lake["raw-versioning"].urn, analyzer_pb2.MANDATORY)]


def test_analyzer_marks_s3_policies_not_applicable_without_buckets(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    response = analyzer.AnalyzeStack(_request([data_lake()["aws"]]))
    assert list(response.diagnostics) == []
    s3 = [n for n in response.not_applicable if n.policy_name.startswith("s3-")]
    assert sorted((n.policy_name, n.reason) for n in s3) == sorted(
        (p.name, "the stack has no S3 buckets") for p in S3_POLICIES
    )
