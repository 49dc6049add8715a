"""The stack's cluster and Kubernetes provider (components/kubernetes_cluster.py) under mocks:
the exact inputs EKS, EC2, IAM, CloudWatch Logs and KMS would receive for a created cluster
(endpoint access, secrets encryption with the platform key, every log type into a log group
made first, version and upgrade policy, access entries, the node group and its launch template,
the four add-ons), the provider's kubeconfig (the `aws eks get-token` exec for EKS, the secret
untouched for an existing cluster), the Pod Identity role of one service account, and the
policy pack passing on all of it.

The component is run in a small program of its own (the platform context built as
infra/program.py builds it), so these tests do not depend on the rest of the stack."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockResourceArgs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import iam
from components.config import PROJECT, PlatformConfig, load_platform_config
from components.kms import PlatformKey, PlatformKeyArgs
from components.kubernetes_cluster import KubernetesCluster, KubernetesClusterArgs, ami_type
from components.naming import Naming
from components.platform import PlatformContext, aws_provider, partition_for
from planner.mocks import (
    SECRET_SIG,
    SECRET_TEXT,
    SIG_KEY,
    PlatformMocks,
    RecordingMonitor,
    Registration,
)
from planner.policies import evaluate
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config

NS = f"{PROJECT}:"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
CLUSTER_SUBNETS = [
    "subnet-0aaaaaaaaaaaaaaa0",
    "subnet-0aaaaaaaaaaaaaaa1",
    "subnet-0aaaaaaaaaaaaaaa2",
]
SIDECAR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serving-sidecar:1.0.0"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n# an existing cluster's file\n"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
K8S_PROVIDER = "pulumi:providers:kubernetes"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DEFAULT_TAGS = {
    "Project": "mlops-platform",
    "Environment": "dev",
    "CostCenter": "ml-platform-dev",
    "Owner": "ml-platform-team",
    "ManagedBy": "pulumi:mlops-platform",
}
WORKLOAD_POLICY = iam.document(
    iam.allow("ReadModels", ["s3:GetObject"], ["arn:aws:s3:::models/churn/*"])
)


@dataclass
class Run:
    """What one run of the test program registered."""

    registrations: list[Registration]
    outputs: dict[str, Any]
    role_names: list[str]
    provider_inputs: dict[str, Any] = field(default_factory=dict)
    """The Kubernetes provider's inputs as the engine receives them (secrets still wrapped)."""

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str) -> Registration:
        (found,) = self.by_type(type_)
        return found

    def named(self, name: str) -> Registration:
        (found,) = [r for r in self.registrations if r.name == name]
        return found


class _Mocks(PlatformMocks):
    """PlatformMocks that keep the Kubernetes provider's plain inputs."""

    def __init__(self) -> None:
        super().__init__(ACCOUNT, REGION, partition_for(REGION))
        self.provider_inputs: dict[str, Any] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == K8S_PROVIDER:
            self.provider_inputs = dict(args.inputs)
        return super().new_resource(args)


def config(
    cluster: dict[str, Any], stack: str = "dev", network: bool = True, secret: bool = False
) -> tuple[PlatformConfig, dict[str, str], set[str]]:
    values = dict(load_stack_config(PROJECT_DIR, stack).values)
    values[f"{NS}region"] = REGION
    if network:
        values[f"{NS}network"] = json.dumps(
            {
                "vpcId": "vpc-0123456789abcdef0",
                "subnetIds": SUBNETS,
                "securityGroupIds": ["sg-0123456789abcdef0"],
            }
        )
    values[f"{NS}kubernetes"] = json.dumps(
        {
            "enabled": True,
            "cluster": cluster,
            "prometheusStackChartVersion": "75.15.1",
            "servingSidecarImage": SIDECAR,
        }
    )
    secrets: set[str] = set()
    if secret:
        values[f"{NS}kubeconfig"] = KUBECONFIG
        secrets.add(f"{NS}kubeconfig")
    return load_platform_config(values, stack, secret_keys=secrets), values, secrets


def run(
    cluster: dict[str, Any],
    stack: str = "dev",
    network: bool = True,
    kubeconfig: bool = False,
) -> Run:
    cfg, values, secrets = config(cluster, stack, network, secret=kubeconfig)
    mocks = _Mocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(values, sorted(secrets))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    role_names: list[str] = []

    def program() -> None:
        provider = aws_provider("aws", cfg)
        identity = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=provider)
        )
        ctx = PlatformContext(
            config=cfg,
            naming=Naming(PROJECT, stack),
            provider=provider,
            partition=partition_for(cfg.region),
            account_id=identity.account_id,
        )
        key = PlatformKey("platform", PlatformKeyArgs(context=ctx))
        cluster = KubernetesCluster(
            "cluster",
            KubernetesClusterArgs(
                context=ctx,
                kms_key_arn=key.key_arn,
                kubeconfig=pulumi.Config().require_secret("kubeconfig") if kubeconfig else None,
            ),
        )
        workloads = pulumi.ComponentResource("test:index:Workloads", "workloads")
        cluster.workload_role(
            "churn-serving-role",
            namespace="mlops-dev",
            service_account="churn-serving",
            role_name="mlops-platform-dev-churn-serving",
            description="The churn model server: reads its model.",
            policy=WORKLOAD_POLICY,
            parent=workloads,
        )
        pulumi.export("clusterName", cluster.cluster_name)
        pulumi.export("clusterArn", cluster.cluster_arn)
        pulumi.export("keyArn", key.key_arn)
        role_names.extend(ctx.inventory.role_names)

    _sync_await(run_pulumi_func(program))
    root = runtime_settings.get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})
    outputs = _sync_await(pulumi.Output.from_input(exported).future()) or {}
    return Run(
        registrations=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs=outputs,
        role_names=role_names,
        provider_inputs=mocks.provider_inputs,
    )


EKS = {"mode": "eks", "version": "1.35", "endpointPublicAccessCidrs": ["203.0.113.0/24"]}
EXISTING = {"mode": "existing", "clusterName": "shared-prod-1", "version": "1.34"}
NAME = "mlops-platform-dev-cluster"


@pytest.fixture(scope="module")
def eks() -> Run:
    return run(EKS)


@pytest.fixture(scope="module")
def existing() -> Run:
    return run(EXISTING, network=False, kubeconfig=True)


# ---- the EKS cluster -------------------------------------------------------------------------


def test_the_cluster_has_a_restricted_endpoint_encrypted_secrets_and_every_log(eks: Run) -> None:
    cluster = eks.one(CLUSTER)
    key = eks.outputs["keyArn"]
    assert cluster.inputs == {
        "name": NAME,
        "version": "1.35",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{NAME}-control-plane",
        "enabledClusterLogTypes": LOG_TYPES,
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": key}},
        "vpcConfig": {
            "subnetIds": SUBNETS,
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        "accessConfig": {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        "bootstrapSelfManagedAddons": False,
        "upgradePolicy": {"supportType": "STANDARD"},
        "deletionProtection": False,
        "tags": {"Capability": "inference"},
    }
    assert eks.outputs["clusterName"] == NAME
    assert eks.outputs["clusterArn"] == f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{NAME}"


def test_the_log_group_is_made_first_with_retention_and_the_platform_key(eks: Run) -> None:
    logs = eks.one(LOG_GROUP)
    assert logs.inputs == {
        "name": f"/aws/eks/{NAME}/cluster",
        "retentionInDays": 14,
        "kmsKeyId": eks.outputs["keyArn"],
    }
    assert logs.urn in eks.one(CLUSTER).dependencies


def test_the_control_plane_role_trusts_eks_for_this_cluster_only(eks: Run) -> None:
    role = eks.named("cluster-cluster-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {
            "Sid": "ServiceAssumesRole",
            "Effect": "Allow",
            "Principal": {"Service": "eks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{NAME}"},
            },
        }
    ]
    secrets = eks.named("cluster-cluster-role-secrets-key")
    assert json.loads(secrets.inputs["policy"])["Statement"] == [
        {
            "Sid": "EncryptKubernetesSecrets",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"],
            "Resource": [eks.outputs["keyArn"]],
        }
    ]
    attached = eks.named("cluster-cluster-role-AmazonEKSClusterPolicy")
    assert attached.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    # The cluster is created once its role can act.
    assert {secrets.urn, attached.urn} <= set(eks.one(CLUSTER).dependencies)


def test_a_cluster_without_cidrs_has_a_private_endpoint_only_and_its_own_subnets() -> None:
    plan = run({"mode": "eks", "version": "1.36", "subnetIds": CLUSTER_SUBNETS}, network=False)
    assert plan.one(CLUSTER).inputs["vpcConfig"] == {
        "subnetIds": CLUSTER_SUBNETS,
        "endpointPrivateAccess": True,
        "endpointPublicAccess": False,
    }
    assert plan.one(NODE_GROUP).inputs["subnetIds"] == CLUSTER_SUBNETS


def test_a_staging_cluster_has_deletion_protection() -> None:
    plan = run(EKS, stack="staging")
    assert plan.one(CLUSTER).inputs["deletionProtection"] is True


def test_the_node_group_scales_from_config_on_its_launch_template(eks: Run) -> None:
    group = eks.one(NODE_GROUP)
    template = eks.one(LAUNCH_TEMPLATE)
    assert group.inputs == {
        "clusterName": NAME,
        "nodeRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{NAME}-nodes",
        "subnetIds": SUBNETS,
        "instanceTypes": ["m6i.large"],
        "amiType": "AL2023_x86_64_STANDARD",
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 2, "maxSize": 4, "desiredSize": 2},
        "updateConfig": {"maxUnavailable": 1},
        "launchTemplate": {"id": template.id, "version": "1"},
        "tags": {"Capability": "inference"},
    }
    assert group.property_dependencies["launchTemplate"] == [template.urn]
    assert template.inputs == {
        "description": "EKS managed nodes: IMDSv2 only, encrypted root volume.",
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        },
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": 50,
                    "volumeType": "gp3",
                    "encrypted": "true",
                    "kmsKeyId": eks.outputs["keyArn"],
                    "deleteOnTermination": "true",
                },
            }
        ],
        # EKS launches the nodes, so the provider's default tags would not reach them.
        "tagSpecifications": [
            {"resourceType": kind, "tags": {**DEFAULT_TAGS, "Capability": "inference"}}
            for kind in ("instance", "volume", "network-interface")
        ],
        "updateDefaultVersion": True,
    }


def test_the_node_role_has_the_worker_registry_and_cni_policies(eks: Run) -> None:
    role = eks.named("cluster-node-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {
            "Sid": "Ec2AssumesNodeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = {
        r.inputs["policyArn"]
        for r in eks.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["role"] == f"{NAME}-nodes"
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    }
    group = eks.one(NODE_GROUP)
    attachments = [r.urn for r in eks.registrations if r.name.startswith("cluster-node-role-")]
    assert set(attachments) <= set(group.dependencies)
    assert eks.role_names == [
        f"{NAME}-control-plane",
        f"{NAME}-nodes",
        "mlops-platform-dev-churn-serving",
    ]


def test_the_four_addons_are_managed_and_ordered_around_the_nodes(eks: Run) -> None:
    addons = {r.inputs["addonName"]: r for r in eks.by_type(ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"}
    for name, addon in addons.items():
        # The VPC CNI's network policy agent on: without it NetworkPolicy objects are accepted
        # and silently not enforced.
        configured = (
            {"configurationValues": '{"enableNetworkPolicy": "true"}'} if name == "vpc-cni" else {}
        )
        assert addon.inputs == {
            "clusterName": NAME,
            "addonName": name,
            "resolveConflictsOnCreate": "OVERWRITE",
            "resolveConflictsOnUpdate": "OVERWRITE",
            **configured,
        }
    group = eks.one(NODE_GROUP)
    for name in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert addons[name].urn in group.dependencies
    # CoreDNS is a Deployment: it only turns active once nodes can run it.
    assert group.urn in addons["coredns"].dependencies


def test_the_provider_uses_aws_eks_get_token_and_waits_for_nodes_and_addons(eks: Run) -> None:
    provider = eks.one(K8S_PROVIDER)
    cluster = eks.one(CLUSTER)
    computed = _Mocks()._computed(CLUSTER, f"{CLUSTER}/{cluster.name}")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": NAME,
                "cluster": {
                    "server": computed["endpoint"],
                    "certificate-authority-data": computed["certificateAuthority"]["data"],
                },
            }
        ],
        "users": [
            {
                "name": NAME,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            *("eks", "get-token", "--cluster-name", NAME),
                            *("--region", REGION, "--output", "json"),
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME}}],
        "current-context": NAME,
    }
    waited = {eks.one(NODE_GROUP).urn, *(a.urn for a in eks.by_type(ADDON))}
    assert waited <= set(provider.dependencies)
    assert provider.parent == eks.one("mlops:kubernetes:Cluster").urn


def test_the_platform_key_lets_auto_scaling_encrypt_node_volumes(eks: Run) -> None:
    policy = json.loads(eks.one("aws:kms/key:Key").inputs["policy"])
    autoscaling = {
        "AWS": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    }
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["AutoScalingUsesPlatformKeyForNodeVolumes"] == {
        "Sid": "AutoScalingUsesPlatformKeyForNodeVolumes",
        "Effect": "Allow",
        "Principal": autoscaling,
        "Action": [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
        ],
        "Resource": "*",
    }
    assert statements["AutoScalingAttachesNodeVolumes"] == {
        "Sid": "AutoScalingAttachesNodeVolumes",
        "Effect": "Allow",
        "Principal": autoscaling,
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
    }


def test_every_child_is_on_the_aws_provider_under_the_component(eks: Run) -> None:
    component = eks.one("mlops:kubernetes:Cluster").urn
    aws_provider_urn = eks.one("pulumi:providers:aws").urn
    children = [r for r in eks.registrations if r.parent == component and r.type != K8S_PROVIDER]
    # Two roles, four policy attachments, the secrets-key policy, the log group, the cluster,
    # the launch template, the node group and four add-ons.
    assert len(children) == 15
    for child in children:
        assert child.provider == aws_provider_urn, child.name


def test_the_policy_pack_passes_on_the_eks_cluster(eks: Run) -> None:
    report = evaluate(eks.registrations)
    assert [(v.policy, v.message) for v in report.violations] == []
    assert not [n for n in report.not_applicable if n.policy.startswith("eks-")]


# ---- an existing cluster ---------------------------------------------------------------------


def test_an_existing_cluster_is_reached_with_the_secret_kubeconfig(existing: Run) -> None:
    provider = existing.one(K8S_PROVIDER)
    assert provider.inputs["kubeconfig"] == SECRET_TEXT
    # The engine receives the stack's text, still wrapped as a secret.
    assert existing.provider_inputs["kubeconfig"] == {SIG_KEY: SECRET_SIG, "value": KUBECONFIG}
    for type_ in (CLUSTER, NODE_GROUP, LAUNCH_TEMPLATE, ADDON, LOG_GROUP):
        assert existing.by_type(type_) == []
    assert existing.outputs["clusterName"] == "shared-prod-1"
    assert existing.outputs["clusterArn"] == f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/shared-prod-1"
    assert existing.role_names == ["mlops-platform-dev-churn-serving"]
    statements = json.loads(existing.one("aws:kms/key:Key").inputs["policy"])["Statement"]
    assert not [s for s in statements if s["Sid"].startswith("AutoScaling")]


def test_the_policy_pack_passes_on_an_existing_cluster(existing: Run) -> None:
    report = evaluate(existing.registrations)
    assert [(v.policy, v.message) for v in report.violations] == []


def test_an_existing_cluster_without_its_kubeconfig_is_refused() -> None:
    cfg, _, _ = config(EXISTING, network=False, secret=True)
    context = PlatformContext(
        config=cfg,
        naming=Naming(PROJECT, "dev"),
        provider=None,  # type: ignore[arg-type]  # refused before any resource
        partition="aws",
        account_id=pulumi.Output.from_input(ACCOUNT),
    )
    pulumi.runtime.set_mocks(_Mocks(), project=PROJECT, stack="dev", preview=False)
    with pytest.raises(ValueError, match="needs the secret kubeconfig"):
        KubernetesCluster("cluster", KubernetesClusterArgs(context=context, kms_key_arn="k"))


# ---- workload roles --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["eks", "existing"])
def test_a_workload_role_is_assumed_by_pod_identity_for_one_service_account(
    mode: str, eks: Run, existing: Run
) -> None:
    plan = eks if mode == "eks" else existing
    name = NAME if mode == "eks" else "shared-prod-1"
    role = plan.named("churn-serving-role")
    assert role.inputs == {
        "name": "mlops-platform-dev-churn-serving",
        "description": "The churn model server: reads its model.",
        "maxSessionDuration": 3600,
        "assumeRolePolicy": role.inputs["assumeRolePolicy"],
    }
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PodIdentityAssumesRoleForOneServiceAccount",
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": ACCOUNT,
                        "aws:RequestTag/kubernetes-namespace": "mlops-dev",
                        "aws:RequestTag/kubernetes-service-account": "churn-serving",
                    },
                    "ArnEquals": {
                        "aws:SourceArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}"
                    },
                },
            }
        ],
    }
    policy = plan.named("churn-serving-role-policy")
    assert policy.inputs == {"role": "mlops-platform-dev-churn-serving", "policy": WORKLOAD_POLICY}
    association = plan.one(ASSOCIATION)
    assert association.name == "churn-serving-role-association"
    assert association.inputs == {
        "clusterName": name,
        "namespace": "mlops-dev",
        "serviceAccount": "churn-serving",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-platform-dev-churn-serving",
    }
    assert policy.urn in association.dependencies
    workloads = plan.one("test:index:Workloads").urn
    aws_provider_urn = plan.one("pulumi:providers:aws").urn
    for child in (role, policy, association):
        assert (child.parent, child.provider) == (workloads, aws_provider_urn)


# ---- AMI choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "ami"),
    [
        (["m6i.large", "m7i.large"], "AL2023_x86_64_STANDARD"),
        (["m7g.large", "c8gd.xlarge", "t4g.medium"], "AL2023_ARM_64_STANDARD"),
        (["g5.xlarge"], "AL2023_x86_64_STANDARD"),
    ],
)
def test_the_ami_follows_the_instance_types_architecture(types: list[str], ami: str) -> None:
    assert ami_type(types) == ami


def test_instance_types_of_two_architectures_are_refused() -> None:
    with pytest.raises(ValueError, match=r"mix arm64 \(Graviton\) and x86_64 types"):
        ami_type(["m6i.large", "m7g.large"])
