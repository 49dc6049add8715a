"""The EKS policies over hand-built registrations in the pulumi_aws input shapes: a cluster, a
launch template and a node group that follow the controls pass the whole pack; each broken
control (an open or unrestricted endpoint, an unsupported or unpinned version, extended
support, secrets not encrypted with a customer key, a missing log type, IMDSv1, a hop limit of
2, a node group without a launch template of the stack) is reported by its policy with its
exact message; the pack's version list is the config's; an EC2 node role needs no
confused-deputy condition while other service principals still do."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc

from components.config import EKS_VERSIONS as CONFIG_EKS_VERSIONS
from planner.mocks import Registration
from planner.policies import evaluate
from policy.mlops_policies import POLICIES
from policy.mlops_policies.eks import EKS_POLICIES, EKS_VERSIONS
from tests.policy.test_policies import provider, record
from tests.policy.test_stack_policies_grpc import UNKNOWN_STRING, _request

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ROLE = "aws:iam/role:Role"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0f0e0d0c-0b0a-4909-8807-060504030201"
LT_URN = f"urn:pulumi:prod::mlops-platform::{LAUNCH_TEMPLATE}::nodes"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NAMES = [p.name for p in EKS_POLICIES]


def cluster_inputs(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "name": "mlops-platform-prod-cluster",
        "version": "1.35",
        "roleArn": "arn:aws:iam::111111111111:role/mlops-platform-prod-cluster-control-plane",
        "enabledClusterLogTypes": list(LOG_TYPES),
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
        "vpcConfig": {
            "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
        "accessConfig": {"authenticationMode": "API"},
        "upgradePolicy": {"supportType": "STANDARD"},
    }
    inputs.update(changes)
    return inputs


def template_inputs(**metadata: Any) -> dict[str, Any]:
    return {
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
            **metadata,
        }
    }


def node_group(**changes: Any) -> Registration:
    inputs: dict[str, Any] = {
        "clusterName": "mlops-platform-prod-cluster",
        "scalingConfig": {"minSize": 2, "maxSize": 4, "desiredSize": 2},
        "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"},
    }
    options: dict[str, Any] = {"property_dependencies": {"launchTemplate": [LT_URN]}}
    options.update(changes)
    return record(NODE_GROUP, "nodes", inputs, **options)


def stack(
    cluster: dict[str, Any] | None = None,
    template: dict[str, Any] | None = None,
    group: Registration | None = None,
) -> list[Registration]:
    return [
        provider(),
        record(CLUSTER, "cluster", cluster_inputs() if cluster is None else cluster),
        record(LAUNCH_TEMPLATE, "nodes", template_inputs() if template is None else template),
        node_group() if group is None else group,
    ]


def findings(records: list[Registration]) -> list[tuple[str, str]]:
    return [(v.policy, v.message) for v in evaluate(records).violations]


def test_every_eks_policy_is_registered_and_mandatory() -> None:
    assert NAMES == [
        "eks-endpoint-restricted",
        "eks-supported-version",
        "eks-secrets-encryption",
        "eks-control-plane-logging",
        "ec2-launch-template-imdsv2",
        "eks-node-group-imdsv2",
    ]
    registered = {p.name: p for p in POLICIES}
    for policy in EKS_POLICIES:
        assert registered[policy.name] is policy
        assert policy.enforcement_level is not None
        assert policy.enforcement_level.value == "mandatory"


def test_the_packs_versions_are_the_configs() -> None:
    assert EKS_VERSIONS == CONFIG_EKS_VERSIONS


def test_a_compliant_cluster_and_node_group_pass_the_whole_pack() -> None:
    assert findings(stack()) == []


def test_a_public_endpoint_limited_to_listed_cidrs_passes() -> None:
    vpc = {
        **cluster_inputs()["vpcConfig"],
        "endpointPublicAccess": True,
        "publicAccessCidrs": ["203.0.113.0/24"],
    }
    assert findings(stack(cluster_inputs(vpcConfig=vpc))) == []


ENDPOINT_OPEN = (
    "EKS cluster API endpoint is public to 0.0.0.0/0 (vpcConfig.endpointPublicAccess is not "
    "false and publicAccessCidrs is unset); set endpointPublicAccess false, or list the "
    "administrators' CIDRs in publicAccessCidrs (SH EKS.1)."
)


@pytest.mark.parametrize(
    ("vpc", "message"),
    [
        ({"endpointPublicAccess": True}, ENDPOINT_OPEN),
        # EKS's default when the flag is unset is a public endpoint.
        ({"endpointPrivateAccess": True}, ENDPOINT_OPEN),
        (
            {"endpointPublicAccess": True, "publicAccessCidrs": ["10.0.0.0/8", "0.0.0.0/0"]},
            "EKS cluster API endpoint is public to ['0.0.0.0/0'] (vpcConfig.publicAccessCidrs); "
            "list the administrators' CIDRs instead, or set endpointPublicAccess false "
            "(SH EKS.1).",
        ),
    ],
)
def test_an_open_endpoint_is_reported(vpc: dict[str, Any], message: str) -> None:
    assert findings(stack(cluster_inputs(vpcConfig=vpc))) == [("eks-endpoint-restricted", message)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"version": "1.29"},
            "EKS cluster version '1.29' is not in standard support; accepted: "
            "['1.34', '1.35', '1.36'] (SH EKS.2).",
        ),
        (
            {"version": None},
            "EKS cluster sets no version; pin one in standard support ['1.34', '1.35', "
            "'1.36'] (SH EKS.2).",
        ),
        (
            {"upgradePolicy": {"supportType": "EXTENDED"}},
            "EKS cluster upgradePolicy.supportType is EXTENDED: a version past standard "
            "support keeps running for extended-support fees; set STANDARD (SH EKS.2).",
        ),
    ],
)
def test_an_unsupported_version_is_reported(changes: dict[str, Any], message: str) -> None:
    inputs = {k: v for k, v in cluster_inputs(**changes).items() if v is not None}
    assert findings(stack(inputs)) == [("eks-supported-version", message)]


@pytest.mark.parametrize(
    ("encryption", "message"),
    [
        (
            None,
            "EKS cluster does not encrypt Kubernetes secrets with KMS; set encryptionConfig "
            "with resources [secrets] and the platform key as provider.keyArn (SH EKS.3).",
        ),
        (
            {"resources": ["secrets"], "provider": {}},
            "EKS cluster secrets encryption (encryptionConfig.provider) sets no keyArn; encrypt "
            "it with the platform's customer-managed key. (SH EKS.3)",
        ),
        (
            {"resources": ["secrets"], "provider": {"keyArn": "alias/aws/eks"}},
            "EKS cluster secrets encryption (encryptionConfig.provider) keyArn 'alias/aws/eks' "
            "is an AWS-managed key; use the platform's customer-managed key, whose policy the "
            "platform controls. (SH EKS.3)",
        ),
    ],
)
def test_secrets_not_encrypted_with_a_customer_key_are_reported(
    encryption: dict[str, Any] | None, message: str
) -> None:
    inputs = cluster_inputs()
    if encryption is None:
        del inputs["encryptionConfig"]
    else:
        inputs["encryptionConfig"] = encryption
    assert findings(stack(inputs)) == [("eks-secrets-encryption", message)]


def test_the_older_list_shape_of_encryption_config_is_read() -> None:
    inputs = cluster_inputs(
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}}]
    )
    assert findings(stack(inputs)) == []


def test_a_missing_control_plane_log_type_is_reported() -> None:
    inputs = cluster_inputs(enabledClusterLogTypes=["api", "authenticator"])
    assert findings(stack(inputs)) == [
        (
            "eks-control-plane-logging",
            "EKS cluster does not send control-plane log types ['audit', 'controllerManager', "
            "'scheduler'] to CloudWatch; enable all of ['api', 'audit', 'authenticator', "
            "'controllerManager', 'scheduler'] in enabledClusterLogTypes (SH EKS.8).",
        )
    ]


def test_imdsv1_is_reported_on_the_template_and_its_node_group() -> None:
    assert findings(stack(template=template_inputs(httpTokens="optional"))) == [
        (
            "ec2-launch-template-imdsv2",
            "launch template metadataOptions.httpTokens is 'optional'; set 'required' (IMDSv2 "
            "only, CKV_AWS_79).",
        ),
        (
            "eks-node-group-imdsv2",
            "EKS node group 'nodes': its launch template 'nodes' metadataOptions.httpTokens is "
            "'optional'; set 'required' (IMDSv2 only, CKV_AWS_79).",
        ),
    ]


def test_a_node_group_template_with_two_hops_is_reported() -> None:
    assert findings(stack(template=template_inputs(httpPutResponseHopLimit=2))) == [
        (
            "eks-node-group-imdsv2",
            "EKS node group 'nodes': its launch template 'nodes' "
            "metadataOptions.httpPutResponseHopLimit is 2; set 1, so pods behind the node's "
            "network interface cannot reach the instance role.",
        )
    ]


def test_a_node_group_without_a_launch_template_is_reported() -> None:
    group = node_group(property_dependencies={})
    group.inputs = {k: v for k, v in group.inputs.items() if k != "launchTemplate"}
    assert findings(stack(group=group)) == [
        (
            "eks-node-group-imdsv2",
            "EKS node group 'nodes' sets no launchTemplate: its nodes get EKS's default "
            "metadata options (a hop limit of 2, so pods reach the node role); use a launch "
            "template requiring IMDSv2 with a hop limit of 1.",
        )
    ]


def test_a_launch_template_from_outside_the_stack_is_reported() -> None:
    assert findings(stack(group=node_group(property_dependencies={}))) == [
        (
            "eks-node-group-imdsv2",
            "EKS node group 'nodes' uses a launch template that is not a resource of this "
            "stack, so its metadata options cannot be checked; create it in the stack with "
            "IMDSv2 required and a hop limit of 1.",
        )
    ]


def test_the_node_group_policy_is_not_applicable_without_node_groups() -> None:
    records = stack()[:3]
    report = evaluate(records)
    assert [(n.policy, n.message) for n in report.not_applicable if n.policy in NAMES] == [
        ("eks-node-group-imdsv2", "the stack has no EKS managed node groups")
    ]
    assert report.violations == []


def _trust(service: str) -> dict[str, Any]:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    return {"name": "role", "assumeRolePolicy": json.dumps(document)}


def test_an_ec2_node_role_needs_no_source_condition_but_other_services_do() -> None:
    assert findings([provider(), record(ROLE, "nodes", _trust("ec2.amazonaws.com"))]) == []
    assert findings([provider(), record(ROLE, "plane", _trust("eks.amazonaws.com"))]) == [
        (
            "iam-role-trust-policy",
            "trust policy statement 0 (no Sid) trusts service principal(s) "
            "['eks.amazonaws.com'] without an aws:SourceAccount or aws:SourceArn condition "
            "(confused deputy).",
        )
    ]


# ---- through the analyzer, as the Pulumi CLI runs the pack during a preview -----------------


def test_a_preview_with_unknown_ids_passes_through_the_analyzer(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """In a preview the launch template's id and version and the key's ARN are unknown; the
    property dependency still links the node group to its template."""
    group = node_group()
    group.inputs["launchTemplate"] = {"id": UNKNOWN_STRING, "version": UNKNOWN_STRING}
    cluster = cluster_inputs(
        encryptionConfig={"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STRING}}
    )
    response = analyzer.AnalyzeStack(_request(stack(cluster, group=group)))
    assert [(d.policyName, d.message) for d in response.diagnostics] == []
    broken = stack(template=template_inputs(httpPutResponseHopLimit=2), group=group)
    response = analyzer.AnalyzeStack(_request(broken))
    assert [d.policyName for d in response.diagnostics] == ["eks-node-group-imdsv2"]
