"""The Kubernetes cluster of a stack and its one `pulumi_kubernetes` provider (issue 9).

Two modes, from `kubernetes.cluster` in stack config:

- `eks`: the platform creates the cluster with pulumi_aws. The API endpoint is private, or
  public only for the CIDRs config lists (SH EKS.1); Kubernetes secrets are envelope-encrypted
  with the platform key (SH EKS.3); all five control-plane log types go to a log group created
  first with the platform's retention and key (SH EKS.8); the version is one in standard
  support and the upgrade policy is STANDARD, so a cluster left behind is upgraded rather than
  billed extended-support fees (SH EKS.2). Authentication is by EKS access entries only
  (`API`), the creator bootstrapped as cluster admin. One managed node group runs on a launch
  template that requires IMDSv2 with a hop limit of 1 (pods on the pod network cannot reach
  the node role) and an encrypted gp3 root volume with the platform key. The add-ons vpc-cni,
  kube-proxy, coredns and eks-pod-identity-agent are EKS-managed. Staging and prod clusters
  have deletion protection. (Managed node groups, not Auto Mode: their instance types, AMI
  and IMDS settings are config and plan, where the pack can check them.) The platform key's
  policy lets the Auto Scaling service-linked role encrypt the nodes' volumes (components/
  kms.py); KMS refuses a policy naming a role that does not exist, so an account that never
  had an Auto Scaling group needs `aws iam create-service-linked-role --aws-service-name
  autoscaling.amazonaws.com` once before the first `pulumi up` with an EKS cluster.
- `existing`: the platform deploys into a cluster it does not own, reached with the kubeconfig
  held as the secret `kubeconfig` in stack config. The cluster must run the
  `eks-pod-identity-agent` add-on, or the workloads' roles (below) are never assumed.

Either way this component owns the stack's one `pulumi_kubernetes` provider: every Kubernetes
resource of the stack is created with it, none with the ambient kubeconfig. For `eks` the
provider authenticates with `aws eks get-token`, so `pulumi up` needs the AWS CLI (v2) on the
PATH with the deploying credentials; it depends on the node group and the add-ons, so no
workload is applied to a cluster without nodes, networking or DNS.

Workloads get AWS permissions through EKS Pod Identity (`workload_role`), not IRSA: no OIDC
provider to create and trust per cluster, and the same role code serves both modes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.config import EksCluster, ExistingCluster
from components.cost import CAPABILITY_TAG
from components.naming import NameKind
from components.platform import PlatformComponent, PlatformContext, default_tags

CLUSTER_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS can send to CloudWatch (SH EKS.8 asks for all of them)."""
EKS_SERVICE = "eks.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
EC2_SERVICE = "ec2.amazonaws.com"
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    # On the node role, not a Pod Identity role for `aws-node`: the CNI must assign pod IPs
    # before a new node turns Ready, and a Pod Identity credential depends on the agent's
    # DaemonSet and the EKS Auth API being reachable first; a failure there leaves every new
    # node NotReady. `aws-node` runs on the host network, so it reaches the node's IMDS; pods
    # on the pod network cannot (IMDSv2 hop limit 1), so they do not inherit these actions.
    "AmazonEKS_CNI_Policy",
)
ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""DaemonSet add-ons: in place before the first node joins, so it starts with them."""
ADDONS_AFTER_NODES = ("coredns",)
"""Deployment add-ons: they only turn ACTIVE once a node can run their pods."""
ROOT_VOLUME_GIB = 50
ROOT_DEVICE = "/dev/xvda"
"""The root device of the EKS-optimised Amazon Linux 2023 AMIs."""
CLUSTER_TAGS = {CAPABILITY_TAG: "inference"}
"""The capability the inference budget filters on (Kubernetes serves models, like SageMaker)."""
NODE_TAGGED = ("instance", "volume", "network-interface")
"""What EC2 creates for a node; the provider's default tags do not reach them."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
"""What `aws eks get-token` answers with."""
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g")
"""Graviton instance families (m7g, c8gd, t4g…): an arm64 AMI."""


@dataclass(frozen=True)
class KubernetesClusterArgs:
    """Inputs of `KubernetesCluster`."""

    context: PlatformContext
    """The platform context (config, naming, provider, inventory)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: secrets encryption, node volumes, control-plane log group."""
    kubeconfig: pulumi.Input[str] | None = None
    """Existing clusters: the secret kubeconfig (pulumi.Config().require_secret('kubeconfig'))."""


def pod_identity_trust(
    account_id: str, cluster_arn: str, namespace: str, service_account: str
) -> str:
    """A trust policy letting EKS Pod Identity hand the role to one service account only.

    `aws:SourceAccount` and `aws:SourceArn` stop another account's or another cluster's
    association from assuming it; the session tags Pod Identity sets (namespace and service
    account) stop another association on the same cluster from doing so.
    """
    return iam.document(
        {
            "Sid": "PodIdentityAssumesRoleForOneServiceAccount",
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_SERVICE},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": account_id,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                },
                "ArnEquals": {"aws:SourceArn": cluster_arn},
            },
        }
    )


def node_trust() -> str:
    """EC2 assumes the node role for the node group's instances.

    No `aws:SourceAccount` condition: EC2 does not set it when it fetches an instance
    profile's credentials, so the condition would leave every node without a role.
    """
    return iam.document(
        {
            "Sid": "Ec2AssumesNodeRole",
            "Effect": "Allow",
            "Principal": {"Service": EC2_SERVICE},
            "Action": "sts:AssumeRole",
        }
    )


def secrets_key_policy(kms_key_arn: str) -> str:
    """What the control plane needs of the platform key for envelope encryption of secrets."""
    return iam.document(
        iam.allow(
            "EncryptKubernetesSecrets",
            ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants"],
            [kms_key_arn],
        )
    )


def kubeconfig_for(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig (JSON) for an EKS cluster that authenticates with `aws eks get-token`:
    no credential is stored in it, the AWS CLI signs a token with the caller's credentials."""
    user = {
        "exec": {
            "apiVersion": EXEC_API_VERSION,
            "command": "aws",
            "args": token_args(cluster_name, region),
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": cluster_name, "user": user}],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
        },
        sort_keys=True,
    )


def token_args(cluster_name: str, region: str) -> list[str]:
    """`aws` arguments that print an EKS bearer token for `cluster_name`."""
    return [
        "eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"
    ]  # fmt: skip


ADDON_CONFIGURATION = {
    # The VPC CNI enforces NetworkPolicy objects only with its network policy agent switched on;
    # without it the services' policies would be accepted and silently not applied.
    "vpc-cni": json.dumps({"enableNetworkPolicy": "true"}),
}


def ami_type(instance_types: list[str]) -> str:
    """The EKS-optimised AL2023 AMI for the node group's instance types (one architecture)."""
    arm = [_ARM_FAMILY.match(t) is not None for t in instance_types]
    if all(arm):
        return "AL2023_ARM_64_STANDARD"
    if not any(arm):
        return "AL2023_x86_64_STANDARD"
    raise ValueError(
        f"kubernetes.cluster.nodeInstanceTypes {instance_types!r} mix arm64 (Graviton) and "
        "x86_64 types; one node group runs one AMI, so list types of one architecture"
    )


class KubernetesCluster(PlatformComponent):
    """The stack's Kubernetes cluster (created on EKS, or existing) and its provider."""

    provider: k8s.Provider
    """The stack's one pulumi_kubernetes provider: every Kubernetes resource uses it."""
    cluster_name: pulumi.Output[str]
    """The EKS cluster's name."""
    cluster_arn: pulumi.Output[str]
    """The EKS cluster's ARN (the Pod Identity roles' `aws:SourceArn`)."""

    def __init__(
        self, name: str, args: KubernetesClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:kubernetes:Cluster", name, args.context, opts)
        self._args = args
        cluster = args.context.config.kubernetes.cluster
        if isinstance(cluster, EksCluster):
            self._eks(cluster)
        elif isinstance(cluster, ExistingCluster):
            self._existing(cluster)
        else:
            raise ValueError(
                "KubernetesCluster needs kubernetes.cluster in stack config (mode eks or "
                "existing); it is unset"
            )
        self.register_outputs({"cluster_name": self.cluster_name, "cluster_arn": self.cluster_arn})

    # ---- existing cluster -------------------------------------------------------------------

    def _existing(self, cluster: ExistingCluster) -> None:
        if self._args.kubeconfig is None:
            raise ValueError(
                "kubernetes.cluster.mode existing needs the secret kubeconfig: pulumi config "
                "set --secret kubeconfig < FILE, passed as KubernetesClusterArgs.kubeconfig"
            )
        self.cluster_name = pulumi.Output.from_input(cluster.cluster_name)
        self.cluster_arn = self._arn("eks", f"cluster/{cluster.cluster_name}")
        self.provider = k8s.Provider(
            f"{self._name}-provider",
            kubeconfig=self._args.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self),
        )

    # ---- EKS cluster ------------------------------------------------------------------------

    def _eks(self, cluster: EksCluster) -> None:
        ctx = self._ctx
        cfg = ctx.config
        name = ctx.naming.physical(self._name, NameKind.EKS_CLUSTER)
        arn = self._arn("eks", f"cluster/{name}")
        subnets = cluster.subnet_ids or (cfg.network.subnet_ids if cfg.network else [])
        role, role_policies = self._cluster_role(arn)
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-control-plane-logs",
            # EKS writes to this fixed name; created first, or EKS would create it itself
            # without retention or the platform key.
            name=f"/aws/eks/{name}/cluster",
            retention_in_days=cfg.logging.retention_days,
            kms_key_id=self._args.kms_key_arn,
            opts=self._opts(),
        )
        public = bool(cluster.endpoint_public_access_cidrs)
        eks = aws.eks.Cluster(
            f"{self._name}-cluster",
            name=name,
            role_arn=role.arn,
            version=cluster.version,
            enabled_cluster_log_types=list(CLUSTER_LOG_TYPES),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(
                    key_arn=self._args.kms_key_arn
                ),
            ),
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(subnets),
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(cluster.endpoint_public_access_cidrs) if public else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            # The managed add-ons below are the only copies: no unmanaged defaults to adopt.
            bootstrap_self_managed_addons=False,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=cfg.tier in ("staging", "prod"),
            tags=CLUSTER_TAGS,
            opts=self._opts([logs, *role_policies]),
        )
        self.cluster_name = eks.name
        self.cluster_arn = eks.arn
        before = [self._addon(eks, addon, []) for addon in ADDONS_BEFORE_NODES]
        nodes = self._node_group(eks, cluster, subnets, before)
        after = [self._addon(eks, addon, [nodes]) for addon in ADDONS_AFTER_NODES]
        kubeconfig = pulumi.Output.all(
            eks.name, eks.endpoint, eks.certificate_authority.apply(lambda ca: ca.data or "")
        ).apply(lambda v: kubeconfig_for(v[0], v[1], v[2], cfg.region))
        self.provider = k8s.Provider(
            f"{self._name}-provider",
            kubeconfig=kubeconfig,
            # Workloads wait for nodes, pod networking and DNS.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[nodes, *before, *after]),
        )

    def _managed_policy(self, policy: str) -> str:
        return f"arn:{self._ctx.partition}:iam::aws:policy/{policy}"

    def _cluster_role(
        self, cluster_arn: pulumi.Output[str]
    ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        ctx = self._ctx
        role = ctx.service_role(
            f"{self._name}-cluster-role",
            role_name=self._physical("control-plane", NameKind.IAM_ROLE),
            description="EKS control plane of the platform's cluster.",
            service=EKS_SERVICE,
            parent=self,
            source_arn=cluster_arn,
        )
        policies: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-cluster-role-{policy}",
                role=role.name,
                policy_arn=self._managed_policy(policy),
                opts=self._opts(),
            )
            for policy in CLUSTER_POLICIES
        ]
        policies.append(
            aws.iam.RolePolicy(
                f"{self._name}-cluster-role-secrets-key",
                role=role.id,
                policy=pulumi.Output.from_input(self._args.kms_key_arn).apply(secrets_key_policy),
                opts=self._opts(),
            )
        )
        return role, policies

    def _node_role(self) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        role_name = self._physical("nodes", NameKind.IAM_ROLE)
        self._ctx.inventory.role_names.append(role_name)
        role = aws.iam.Role(
            f"{self._name}-node-role",
            name=role_name,
            description="EKS managed nodes of the platform's cluster.",
            assume_role_policy=node_trust(),
            max_session_duration=3600,
            opts=self._opts(),
        )
        attachments: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-node-role-{policy}",
                role=role.name,
                policy_arn=self._managed_policy(policy),
                opts=self._opts(),
            )
            for policy in NODE_POLICIES
        ]
        return role, attachments

    def _launch_template(self) -> aws.ec2.LaunchTemplate:
        return aws.ec2.LaunchTemplate(
            f"{self._name}-nodes",
            description="EKS managed nodes: IMDSv2 only, encrypted root volume.",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # One hop: the node itself reaches IMDS, a pod behind the CNI's veth does not.
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=ROOT_VOLUME_GIB,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=self._args.kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            # EKS launches the nodes: the provider's default tags reach the template only.
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={**default_tags(self._ctx.config), **CLUSTER_TAGS}
                )
                for kind in NODE_TAGGED
            ],
            update_default_version=True,
            opts=self._opts(),
        )

    def _node_group(
        self,
        eks: aws.eks.Cluster,
        cluster: EksCluster,
        subnets: list[str],
        addons: list[aws.eks.Addon],
    ) -> aws.eks.NodeGroup:
        role, attachments = self._node_role()
        template = self._launch_template()
        return aws.eks.NodeGroup(
            f"{self._name}-nodes",
            cluster_name=eks.name,
            node_role_arn=role.arn,
            subnet_ids=list(subnets),
            instance_types=list(cluster.node_instance_types),
            ami_type=ami_type(list(cluster.node_instance_types)),
            capacity_type="ON_DEMAND",
            # No cluster autoscaler: the desired size is Pulumi's, min_nodes after each update.
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=cluster.min_nodes,
                max_size=cluster.max_nodes,
                desired_size=cluster.min_nodes,
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            tags=CLUSTER_TAGS,
            # Nodes join with their role's permissions and the networking add-ons in place.
            opts=self._opts([*attachments, *addons]),
        )

    def _addon(
        self, eks: aws.eks.Cluster, addon: str, depends_on: list[pulumi.Resource]
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=eks.name,
            addon_name=addon,
            # No version: EKS installs its default for the cluster's Kubernetes version.
            configuration_values=ADDON_CONFIGURATION.get(addon),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=self._opts(depends_on),
        )

    # ---- workload roles ---------------------------------------------------------------------

    def workload_role(
        self,
        resource_name: str,
        *,
        namespace: str,
        service_account: str,
        role_name: str,
        description: str,
        policy: pulumi.Input[str],
        parent: pulumi.Resource,
    ) -> aws.iam.Role:
        """An IAM role for exactly one Kubernetes service account, through EKS Pod Identity.

        Creates `<resource_name>` (the role), `<resource_name>-policy` (its inline `policy`)
        and `<resource_name>-association` (the Pod Identity association), parented at
        `parent` on the AWS provider. The role is registered with the cost guardrail.
        """
        ctx = self._ctx
        ctx.inventory.role_names.append(role_name)
        trust = pulumi.Output.all(ctx.account_id, self.cluster_arn).apply(
            lambda v: pod_identity_trust(v[0], v[1], namespace, service_account)
        )
        role = aws.iam.Role(
            resource_name,
            name=role_name,
            description=description,
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=ctx.child_opts(parent),
        )
        inline = aws.iam.RolePolicy(
            f"{resource_name}-policy", role=role.id, policy=policy, opts=ctx.child_opts(parent)
        )
        aws.eks.PodIdentityAssociation(
            f"{resource_name}-association",
            cluster_name=self.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            # Pods get credentials only once the role can do what they were started for.
            opts=ctx.child_opts(parent, pulumi.ResourceOptions(depends_on=[inline])),
        )
        return role
