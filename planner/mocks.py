"""Pulumi mocks that answer like AWS would, and a monitor that records every registration.

`PlatformMocks` returns realistic ids and ARNs (partition, region and account from the stack's
config) and answers the invokes the program makes; an invoke it does not know is an error, so a
new data source cannot slip into the program unmocked. `RecordingMonitor` sees the full
registration request, which `Mocks` alone does not: parent, provider, protect,
retain-on-delete, aliases and dependencies.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_TEXT = "[secret]"


_FLAT_ARNS = {"aws:sns/topic:Topic": "sns", "aws:sqs/queue:Queue": "sqs"}
"""Resources whose ARN ends in their name without a resource-type segment."""
_SERVICES = {"cloudwatch": "events"}
"""Pulumi modules whose ARNs name another service (EventBridge rules live in `cloudwatch`)."""
_RESOURCE_SEGMENTS = {"aws:cloudwatch/eventRule:EventRule": "rule"}
"""ARN resource-type segments that are not the kebab-cased Pulumi type name."""
_ARN_TAILS = {
    "aws:lambda/function:Function": ("lambda", "function:{name}"),
    "aws:lambda/layerVersion:LayerVersion": ("lambda", "layer:{layerName}:1"),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": (
        "firehose",
        "deliverystream/{name}",
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "sagemaker",
        "endpoint-config/{name}",
    ),
    "aws:ssm/parameter:Parameter": ("ssm", "parameter{name}"),
    "aws:sfn/stateMachine:StateMachine": ("states", "stateMachine:{name}"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}"),
    "aws:cloudwatch/eventBus:EventBus": ("events", "event-bus/{name}"),
    "aws:cloudwatch/eventArchive:EventArchive": ("events", "archive/{name}"),
    "aws:scheduler/schedule:Schedule": ("scheduler", "schedule/default/{name}"),
}
"""ARNs whose resource part AWS spells its own way: service and tail, filled from the inputs."""
_NAME_INPUTS = ("name", "modelPackageGroupName", "featureGroupName", "pipelineName")
"""Inputs that carry a resource's physical name, which AWS uses as its id and in its ARN."""


def plain(value: Any) -> Any:
    """Pulumi's wire form to plain JSON: secrets masked, unknowns marked, refs by URN."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return SECRET_TEXT
        if sig == RESOURCE_SIG:
            return {"resourceRef": value.get("urn"), "id": plain(value.get("id"))}
        if sig == ASSET_SIG:
            return {"asset": {k: v for k, v in value.items() if k != SIG_KEY}}
        if sig == ARCHIVE_SIG:
            return {"archive": plain({k: v for k, v in value.items() if k != SIG_KEY})}
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


@dataclass
class Registration:
    """One resource registration as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    aliases: list[Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    deleted_with: str
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent or None,
            "provider": self.provider or None,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "deleteBeforeReplace": self.delete_before_replace,
            "ignoreChanges": self.ignore_changes,
            "replaceOnChanges": self.replace_on_changes,
            "aliases": self.aliases,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
            "additionalSecretOutputs": self.additional_secret_outputs,
            "deletedWith": self.deleted_with or None,
            "id": self.id or None,
            "inputs": self.inputs,
        }


def _provider_urn(reference: str) -> str:
    """A provider reference is `<urn>::<id>`; the URN itself contains `::`."""
    return reference.rsplit("::", 1)[0] if reference else ""


class PlatformMocks(Mocks):
    """AWS-shaped answers for resources and invokes."""

    def __init__(self, account_id: str, region: str, partition: str) -> None:
        self.account_id = account_id
        self.region = region
        self.partition = partition

    # ---- invokes ------------------------------------------------------------------------
    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = self._invokes().get(args.token)
        if handler is None:
            raise NotImplementedError(
                f"the offline plan has no mock for invoke {args.token!r}; add one to "
                "planner/mocks.py PlatformMocks._invokes with AWS-shaped outputs"
            )
        return handler(args.args), []

    def _invokes(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        acct, region, part = self.account_id, self.region, self.partition
        dns = "amazonaws.com.cn" if part == "aws-cn" else "amazonaws.com"
        return {
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
                "accountId": acct,
                "arn": f"arn:{part}:sts::{acct}:assumed-role/pulumi-deploy/session",
                "userId": "AROAEXAMPLEOFFLINEPLAN:session",
                "id": acct,
            },
            # An image's digest: stable per repository and tag, as a registry's would be.
            "aws:ecr/getImage:getImage": lambda a: {
                **a,
                "imageDigest": "sha256:"
                + hashlib.sha256(
                    f"{a.get('registryId')}/{a['repositoryName']}:{a.get('imageTag')}".encode()
                ).hexdigest(),
                "imageTags": [a.get("imageTag")],
                "id": f"{a['repositoryName']}:{a.get('imageTag')}",
            },
            "aws:index/getPartition:getPartition": lambda _: {
                "partition": part,
                "dnsSuffix": dns,
                "reverseDnsPrefix": ".".join(reversed(dns.split("."))),
                "id": part,
            },
            "aws:index/getRegion:getRegion": lambda _: {
                "name": region,
                "region": region,
                "endpoint": f"ec2.{region}.{dns}",
                "description": region,
                "id": region,
            },
        }

    # ---- resources ----------------------------------------------------------------------
    def _tail_extras(self, typ: str, arn: str) -> dict[str, Any]:
        """Outputs of a resource whose ARN `_ARN_TAILS` spells, besides the ARN."""
        if typ == "aws:lambda/function:Function":
            return {
                "arn": arn,
                "invokeArn": f"arn:{self.partition}:apigateway:{self.region}:lambda:path/",
                "qualifiedArn": f"{arn}:$LATEST",
            }
        if typ == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
            # SageMaker spells the names in its ARNs in lower case.
            return {"arn": arn.lower()}
        if typ == "aws:lambda/layerVersion:LayerVersion":
            return {"arn": arn, "layerArn": arn.rsplit(":", 1)[0], "version": "1"}
        return {"arn": arn}

    def _computed(self, typ: str, seed: str) -> dict[str, Any]:
        """Outputs AWS computes that other resources are built from."""
        if typ == "aws:eks/cluster:Cluster":
            # What the Kubernetes provider's kubeconfig is made of.
            dns = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
            host = uuid.uuid5(uuid.NAMESPACE_URL, seed).hex.upper()
            return {
                "endpoint": f"https://{host}.gr7.{self.region}.eks.{dns}",
                "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
            }
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            return {"latestVersion": 1, "defaultVersion": 1}
        return {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return str(uuid.uuid5(uuid.NAMESPACE_URL, args.name)), inputs
        seed = f"{args.typ}/{args.name}"
        token = args.typ.split(":")
        module = token[1].split("/")[0] if len(token) > 1 else "index"
        kind = token[1].split("/")[1] if len(token) > 1 and "/" in token[1] else token[-1]
        given = next((inputs[k] for k in _NAME_INPUTS if inputs.get(k)), None)
        physical = given or f"{args.name}-{uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:7]}"
        resource_id = str(physical)
        arn_base = f"arn:{self.partition}:{module}:{self.region}:{self.account_id}"
        dns = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        extra: dict[str, Any] = {}
        if args.typ == "aws:kms/key:Key":
            resource_id = str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
            extra = {"keyId": resource_id, "arn": f"{arn_base}:key/{resource_id}"}
        elif args.typ == "aws:kms/alias:Alias":
            extra = {
                "arn": f"{arn_base}:{physical}",
                "targetKeyArn": f"{arn_base}:key/{inputs.get('targetKeyId', '')}",
            }
        elif module == "s3":
            bucket = inputs.get("bucket") or (
                # The provider appends a 26-character unique id to a bucket prefix.
                f"{inputs['bucketPrefix']}{uuid.uuid5(uuid.NAMESPACE_URL, seed).hex[:26]}"
                if inputs.get("bucketPrefix")
                else physical
            )
            resource_id = str(bucket)
            extra = {"arn": f"arn:{self.partition}:s3:::{bucket}", "bucket": bucket}
        elif module == "iam":
            extra = {
                "arn": f"arn:{self.partition}:iam::{self.account_id}:{kind.lower()}/{physical}"
            }
        elif args.typ in _FLAT_ARNS:
            service = _FLAT_ARNS[args.typ]
            extra = {
                "arn": f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{physical}"
            }
            if service == "sqs":
                resource_id = f"https://sqs.{self.region}.{dns}/{self.account_id}/{physical}"
                extra["url"] = resource_id
        elif args.typ in _ARN_TAILS:
            service, tail = _ARN_TAILS[args.typ]
            arn = f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:" + tail.format(
                **{k: v for k, v in inputs.items() if isinstance(v, str)}
            )
            extra = self._tail_extras(args.typ, arn)
        elif token[0] == "aws":
            service = _SERVICES.get(module, module)
            resource = _RESOURCE_SEGMENTS.get(
                args.typ, re.sub(r"(?<!^)([A-Z])", r"-\1", kind).lower()
            )
            extra = {
                "arn": f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:"
                f"{resource}/{physical}"
            }
            bus = inputs.get("eventBusName")
            if args.typ == "aws:cloudwatch/eventRule:EventRule" and bus and bus != "default":
                # A rule on a custom bus: `rule/<bus>/<rule>`.
                extra["arn"] = (
                    f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:"
                    f"rule/{bus}/{physical}"
                )
            if args.typ == "aws:lambda/functionUrl:FunctionUrl":
                url_id = uuid.uuid5(uuid.NAMESPACE_URL, seed).hex
                extra = {
                    "functionUrl": f"https://{url_id}.lambda-url.{self.region}.on.aws/",
                    "urlId": url_id,
                }
            extra.update(self._computed(args.typ, seed))
            if module == "ecr" and kind == "repository":
                extra["repositoryUrl"] = f"{self.account_id}.dkr.ecr.{self.region}.{dns}/{physical}"
                extra["registryId"] = self.account_id
        return resource_id, {**inputs, **extra}


class RecordingMonitor(MockMonitor):
    """A MockMonitor that records each full registration request."""

    def __init__(
        self, mocks: Mocks, on_register: Callable[[Registration], None] | None = None
    ) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()
        self._on_register = on_register

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        record = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=_provider_urn(request.provider),
            inputs=plain(json_format.MessageToDict(request.object)),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            aliases=[json_format.MessageToDict(a) for a in request.aliases]
            + list(request.aliasURNs),
            dependencies=sorted(request.dependencies),
            property_dependencies={
                k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())
            },
            additional_secret_outputs=list(request.additionalSecretOutputs),
            deleted_with=request.deletedWith,
            id=response.id,
        )
        with self._lock:
            self.registrations.append(record)
        if self._on_register is not None:
            self._on_register(record)
        return response
