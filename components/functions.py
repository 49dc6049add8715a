"""The platform's Lambda functions, built one way: the controls every function meets.

Each function gets its own log group (retention from config, the platform key), JSON logs into
it, X-Ray active tracing, its environment encrypted with the platform key, reserved
concurrency, a dead-letter queue, and (when it is invoked asynchronously) an event-invoke
configuration that retries twice within six hours and then sends the event to the same queue.
It runs Python 3.13 on arm64 (Graviton: cheaper per GB-second; 3.13 is supported until 2029).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.naming import NameKind
from components.platform import PlatformContext

POWERTOOLS_LAYER_ZIP = (
    Path(__file__).resolve().parent.parent / "build" / "lambda" / "powertools-layer.zip"
)
"""Built by `make lambda-layer` from `lambdas/powertools_layer/requirements.txt`."""
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
LAMBDA_SERVICE = "lambda.amazonaws.com"
ASYNC_RETRIES = 2
ASYNC_MAX_AGE_SECONDS = 6 * 3600
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
"""X-Ray's write actions take no resource: AWS cannot scope them."""


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the platform's functions."""

    name: str
    """Physical name; the log group is `/aws/lambda/<name>`."""
    description: str
    handler: str
    code: pulumi.Archive
    layers: Sequence[pulumi.Input[str]]
    role_arn: pulumi.Input[str]
    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int
    environment: Mapping[str, pulumi.Input[str]]
    invoked_asynchronously: bool = True
    """Add the event-invoke configuration (retries, then the queue)."""


def hardened_function(
    ctx: PlatformContext,
    parent: pulumi.Resource,
    resource_name: str,
    spec: FunctionSpec,
    *,
    kms_key_arn: pulumi.Input[str],
    queue_arn: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource] = (),
) -> aws.lambda_.Function:
    """The function `resource_name`, its log group (`<resource_name>-logs`) and, when invoked
    asynchronously, its event-invoke configuration (`<resource_name>-async`)."""
    logs = aws.cloudwatch.LogGroup(
        f"{resource_name}-logs",
        name=f"/aws/lambda/{spec.name}",
        retention_in_days=ctx.config.logging.retention_days,
        kms_key_id=kms_key_arn,
        opts=ctx.child_opts(parent),
    )
    function = aws.lambda_.Function(
        resource_name,
        name=spec.name,
        description=spec.description,
        runtime=RUNTIME,
        architectures=[ARCHITECTURE],
        handler=spec.handler,
        code=spec.code,
        layers=list(spec.layers),
        role=spec.role_arn,
        memory_size=spec.memory_mb,
        timeout=spec.timeout_seconds,
        reserved_concurrent_executions=spec.reserved_concurrency,
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
        kms_key_arn=kms_key_arn,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(spec.environment)),
        dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=queue_arn),
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(
            log_format="JSON", log_group=logs.name
        ),
        # The role's permissions (and whatever else it calls) exist before the first invocation.
        opts=ctx.child_opts(parent, pulumi.ResourceOptions(depends_on=list(depends_on))),
    )
    ctx.inventory.function_names[resource_name] = function.name
    if spec.invoked_asynchronously:
        aws.lambda_.FunctionEventInvokeConfig(
            f"{resource_name}-async",
            function_name=function.name,
            maximum_retry_attempts=ASYNC_RETRIES,
            maximum_event_age_in_seconds=ASYNC_MAX_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=queue_arn
                )
            ),
            opts=ctx.child_opts(parent),
        )
    return function


def log_group_arn(ctx: PlatformContext, function_name: str) -> pulumi.Output[str]:
    """The ARN of a function's log group (`/aws/lambda/<name>`), for its role's policy."""
    return ctx.account_id.apply(
        lambda account: (
            f"arn:{ctx.partition}:logs:{ctx.config.region}:{account}:"
            f"log-group:/aws/lambda/{function_name}"
        )
    )


def powertools_layer(ctx: PlatformContext) -> aws.lambda_.LayerVersion:
    """The light layer (Powertools with pydantic, arm64) of the capture proxy, the endpoint
    verifier and the retraining trigger: one version for the stack."""
    return aws.lambda_.LayerVersion(
        "powertools-layer",
        layer_name=ctx.naming.physical("powertools", NameKind.LAMBDA_FUNCTION),
        description="Powertools with its tracer and parser (pydantic), arm64: the capture "
        "proxy, the endpoint verifier and the retraining trigger.",
        code=pulumi.FileArchive(str(POWERTOOLS_LAYER_ZIP)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        opts=pulumi.ResourceOptions(provider=ctx.provider),
    )
