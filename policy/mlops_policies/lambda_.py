"""Lambda controls: a supported runtime (SH Lambda.2), active X-Ray tracing (CKV_AWS_50),
reserved concurrency (CKV_AWS_115), somewhere for failed asynchronous invocations to go
(CKV_AWS_116), an environment encrypted with the platform key (CKV_AWS_173) that holds no
secrets (CKV_AWS_45), invoke permissions that are not public and tie a service principal to
its source (SH Lambda.1, CKV_AWS_301, CKV_AWS_364), function URLs that require IAM
authentication (SH Lambda.1, CKV_AWS_258), and a log group the stack manages.

Lambda retries a failed asynchronous invocation twice and keeps an event for up to six hours;
without a dead-letter queue or an on-failure destination the event is then dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._util import (
    Linker,
    account_principal_problems,
    allowed_account_ids,
    customer_key_problem,
    is_set,
    known,
    mapping,
    number,
    principal_account,
)

FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

SUPPORTED_RUNTIMES = (
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs22.x",
    "nodejs24.x",
    "java21",
    "java25",
    "dotnet10",
    "ruby3.3",
    "ruby3.4",
    "provided.al2023",
)
"""The default allow-list (policy config `supportedRuntimes`): the managed runtimes in AWS's
"Supported runtimes" table whose projected deprecation is not before 2027, all on Amazon
Linux 2023. Left out although still listed by AWS, because their deprecation falls in 2026:
ruby3.2 (March), nodejs20.x (April), python3.10, python3.11, java8.al2, java11, java17 and
provided.al2 (June, with Amazon Linux 2's end of life) and dotnet8 (November). Everything older
(python3.9 and before, nodejs18.x and before, go1.x, ...) is deprecated already. Review the list
when AWS publishes new dates; a stack may override it in the pack's policy config."""

# ---- the function's own settings -------------------------------------------------------------


def _runtime(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    if known(args.props, "packageType") == "Image":
        args.not_applicable(
            "a container-image function has no managed runtime; its image brings the runtime "
            "and is scanned in ECR"
        )
    supported = [str(r) for r in args.get_config().get("supportedRuntimes", SUPPORTED_RUNTIMES)]
    runtime = args.props.get("runtime")
    if runtime is None:
        report("Lambda function sets no runtime; pick a supported one (SH Lambda.2).", None)
    elif runtime not in supported:
        report(
            f"Lambda function runtime {runtime!r} is deprecated or not on the platform's list "
            f"of supported runtimes {supported} (SH Lambda.2).",
            None,
        )


def _tracing(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    mode = mapping(args.props.get("tracingConfig")).get("mode")
    if mode != "Active":
        report(
            f'Lambda function tracingConfig.mode is {mode!r}; "Active" X-Ray tracing is '
            "required (CKV_AWS_50).",
            None,
        )


def _reserved_concurrency(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    raw = args.props.get("reservedConcurrentExecutions")
    value = number(raw)
    if raw is None:
        report(
            "Lambda function sets no reservedConcurrentExecutions; reserve a positive "
            "concurrency so it can neither starve nor be starved by other functions "
            "(CKV_AWS_115).",
            None,
        )
    elif value is None or value < 1 or not value.is_integer():
        # -1 removes the reservation and 0 throttles every invocation.
        report(
            f"Lambda function reservedConcurrentExecutions is {raw!r}; a whole number of at "
            "least 1 is required (CKV_AWS_115).",
            None,
        )


def _variables(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """The function's environment variables; not applicable when it has none."""
    variables = mapping(mapping(args.props.get("environment")).get("variables"))
    if not variables:
        args.not_applicable("the function has no environment variables")
    return variables


def _environment_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    _variables(args)
    problem = customer_key_problem(
        args.props, "kmsKeyArn", "Lambda function with environment variables (CKV_AWS_173)"
    )
    if problem is not None:
        report(problem, None)


# The secrets heuristic. A variable is taken to hold a secret when its name, split into words at
# every character that is not a letter or digit, has a word SECRET(S), PASSWORD, PASSWD, TOKEN,
# CREDENTIAL(S), APIKEY or PRIVATEKEY, or the word pairs API KEY, PRIVATE KEY or ACCESS KEY
# (so HF_TOKEN and DB_PASSWORD match, MAX_TOKENS and TOKENIZER_NAME do not). Such a variable is
# accepted when it only refers to where the secret is kept: its last word is ARN, NAME,
# PARAMETER, PARAM or PATH, or it ends in SECRET_ID, or its value is a Secrets Manager or SSM
# parameter ARN; the function then reads the secret at run time. Independently of the name, no
# value may contain an AWS access key id (AKIA/ASIA and 16 more characters) or a PEM private key.
# Messages name the variable, never its value.
_SENSITIVE_WORDS = frozenset(
    {"SECRET", "SECRETS", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
    | {"PRIVATEKEY"}
)
_SENSITIVE_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY")})
_REFERENCE_WORDS = frozenset({"ARN", "NAME", "PARAMETER", "PARAM", "PATH"})
_REFERENCE_VALUE = re.compile(r"^arn:[a-z0-9-]+:(?:secretsmanager|ssm):")
_SECRET_VALUES = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)


def _sensitive_name(name: str) -> bool:
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if not words or words[-1] in _REFERENCE_WORDS or words[-2:] == ["SECRET", "ID"]:
        return False
    return any(w in _SENSITIVE_WORDS for w in words) or any(
        pair in _SENSITIVE_PAIRS for pair in pairwise(words)
    )


def _environment_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FUNCTION:
        return
    variables = _variables(args)
    for name in sorted(str(k) for k in variables):
        value = known(variables, name)
        literal = value if isinstance(value, str) else None
        if _sensitive_name(name) and not (literal and _REFERENCE_VALUE.match(literal)):
            report(
                f"Lambda environment variable {name} looks like it holds a secret; keep the "
                "secret in Secrets Manager or SSM Parameter Store and pass its ARN or name "
                "(e.g. a variable ending in _ARN) for the function to read at run time "
                "(CKV_AWS_45).",
                None,
            )
            continue
        for what, pattern in _SECRET_VALUES:
            if literal and pattern.search(literal):
                report(
                    f"Lambda environment variable {name} holds what looks like {what}; "
                    "never put credentials in a function's environment (CKV_AWS_45).",
                    None,
                )


# ---- invoke permissions ----------------------------------------------------------------------

_SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(?:\.cn)?$")


def _permission(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != PERMISSION:
        return
    what = "Lambda permission (SH Lambda.1, CKV_AWS_301)"
    principal = args.props.get("principal")
    own_accounts = allowed_account_ids(args.provider)
    if known(args.props, "functionUrlAuthType") == "NONE":
        report(
            f'{what} sets functionUrlAuthType "NONE": anyone could call the function URL; use '
            "AWS_IAM.",
            None,
        )
    if not isinstance(principal, str) or not principal:
        report(f"{what} names no principal.", None)
    elif principal == "*":
        report(
            f'{what} grants the public principal "*"; name the service or account that invokes '
            "the function.",
            None,
        )
    elif _SERVICE_PRINCIPAL.match(principal):
        if not (is_set(args.props, "sourceArn") or is_set(args.props, "sourceAccount")):
            report(
                f"{what} grants service principal {principal!r} without sourceArn or "
                "sourceAccount, so any account's resource could make the service invoke the "
                "function (CKV_AWS_364).",
                None,
            )
        account = known(args.props, "sourceAccount")
        if isinstance(account, str) and own_accounts and account not in own_accounts:
            report(
                f"{what} limits sourceAccount to {account!r}, outside this stack's accounts "
                f"{sorted(own_accounts)}.",
                None,
            )
    elif principal_account(principal) is not None:
        for problem in account_principal_problems(
            "it", [principal], own_accounts, account_principals=True
        ):
            report(f"{what}: {problem}", None)
    else:
        report(
            f"{what} grants principal {principal!r}, which is neither an AWS service nor an "
            "account principal.",
            None,
        )


def _function_url(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # The URL's own setting; a Permission granting lambda:InvokeFunctionUrl with
    # functionUrlAuthType "NONE" is caught by `_permission`.
    if args.resource_type != FUNCTION_URL:
        return
    auth = args.props.get("authorizationType")
    if auth != "AWS_IAM":
        report(
            f'Lambda function URL authorizationType is {auth!r}; set "AWS_IAM" so that only '
            'signed requests of principals the function policy allows can call it ("NONE" '
            "lets anyone with the URL invoke the function) (SH Lambda.1, CKV_AWS_258).",
            None,
        )


# ---- stack policies: what a function is linked to --------------------------------------------


def _function_name(value: Any) -> str | None:
    """The function name in a name, a partial ARN (`ACCOUNT:function:NAME`) or a full ARN,
    without a version or alias qualifier."""
    if not isinstance(value, str) or not value:
        return None
    match = re.search(r"(?:^|:)function:([^:]+)", value)
    return match.group(1) if match else value


def _functions(args: StackValidationArgs) -> list[PolicyResource]:
    functions = [r for r in args.resources if r.resource_type == FUNCTION]
    if not functions:
        args.not_applicable("the stack has no Lambda functions")
    return functions


def _names(resource: PolicyResource, prop: str) -> Iterable[str]:
    value = known(resource.props, prop)
    return [value] if isinstance(value, str) and value else []


def _failure_destination(args: StackValidationArgs, report: ReportViolation) -> None:
    functions = _functions(args)
    linker = Linker(functions, lambda f: _names(f, "name"))
    configs: dict[str, list[PolicyResource]] = {}
    for config in args.resources:
        if config.resource_type == INVOKE_CONFIG:
            name = _function_name(known(config.props, "functionName"))
            function = linker.find(config, "functionName", name)
            if function is not None:
                configs.setdefault(function.urn, []).append(config)
    for function in functions:
        dead_letter = mapping(function.props.get("deadLetterConfig"))
        if is_set(dead_letter, "targetArn"):
            target = known(dead_letter, "targetArn")
            if isinstance(target, str) and not re.match(r"^arn:[a-z0-9-]+:(?:sqs|sns):", target):
                report(
                    f"Lambda function {function.name!r} deadLetterConfig.targetArn {target!r} "
                    "is neither an SQS queue nor an SNS topic.",
                    function.urn,
                )
            continue
        own = configs.get(function.urn, [])
        if not own:
            report(
                f"Lambda function {function.name!r} has no deadLetterConfig.targetArn and no "
                "FunctionEventInvokeConfig with destinationConfig.onFailure.destination; a "
                "failed asynchronous invocation would be dropped after its retries "
                "(CKV_AWS_116).",
                function.urn,
            )
        for config in own:
            on_failure = mapping(mapping(config.props.get("destinationConfig")).get("onFailure"))
            if not is_set(on_failure, "destination"):
                report(
                    f"FunctionEventInvokeConfig {config.name!r} of Lambda function "
                    f"{function.name!r} sets no destinationConfig.onFailure.destination and the "
                    "function has no dead-letter queue; failed invocations would be dropped "
                    "(CKV_AWS_116).",
                    config.urn,
                )


def _log_group(args: StackValidationArgs, report: ReportViolation) -> None:
    functions = _functions(args)
    groups = Linker(
        (r for r in args.resources if r.resource_type == LOG_GROUP), lambda g: _names(g, "name")
    )
    for function in functions:
        logging = mapping(function.props.get("loggingConfig"))
        if is_set(logging, "logGroup"):
            group = groups.find(function, "loggingConfig", known(logging, "logGroup"))
            wanted = f"its loggingConfig.logGroup {known(logging, 'logGroup')!r}"
        else:
            name = _function_name(known(function.props, "name"))
            default = f"/aws/lambda/{name}" if name else None
            group = groups.named(default)
            wanted = f"the default log group {default!r}" if default else "a log group"
        if group is None:
            report(
                f"Lambda function {function.name!r} logs to {wanted}, which is not a LogGroup "
                "of this stack; Lambda would create it without retention or KMS encryption. "
                "Create the log group in the stack and set loggingConfig.logGroup to it "
                "(SH CloudWatch.16).",
                function.urn,
            )


# ---- the policies ----------------------------------------------------------------------------


def _policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


def _stack_policy(
    name: str, description: str, validate: Callable[[StackValidationArgs, ReportViolation], None]
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


_RUNTIME_SCHEMA = PolicyConfigSchema(
    properties={
        "supportedRuntimes": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(SUPPORTED_RUNTIMES),
        }
    }
)

LAMBDA_POLICIES = (
    _policy(
        "lambda-supported-runtime",
        "Lambda functions use a runtime on the platform's supported list (SH Lambda.2).",
        _runtime,
        _RUNTIME_SCHEMA,
    ),
    _policy(
        "lambda-xray-tracing",
        "Lambda functions have active X-Ray tracing (CKV_AWS_50).",
        _tracing,
    ),
    _policy(
        "lambda-reserved-concurrency",
        "Lambda functions reserve a positive concurrency (CKV_AWS_115).",
        _reserved_concurrency,
    ),
    _stack_policy(
        "lambda-async-failure-destination",
        "Every Lambda function has a dead-letter queue or an on-failure destination for "
        "asynchronous invocations (CKV_AWS_116).",
        _failure_destination,
    ),
    _policy(
        "lambda-environment-kms-encryption",
        "A Lambda function's environment variables are encrypted with a customer-managed key "
        "(CKV_AWS_173).",
        _environment_encryption,
    ),
    _policy(
        "lambda-environment-no-secrets",
        "Lambda environment variables hold no secrets, only references to them (CKV_AWS_45).",
        _environment_secrets,
    ),
    _policy(
        "lambda-permission-not-public",
        'Lambda invoke permissions name a principal other than "*" and tie service principals '
        "to a source ARN or account (SH Lambda.1, CKV_AWS_301, CKV_AWS_364).",
        _permission,
    ),
    _policy(
        "lambda-function-url-auth",
        "Lambda function URLs require AWS_IAM authentication, never NONE (SH Lambda.1, "
        "CKV_AWS_258).",
        _function_url,
    ),
    _stack_policy(
        "lambda-log-group-managed",
        "Every Lambda function logs to a log group the stack manages, so its retention and "
        "encryption are controlled (SH CloudWatch.16).",
        _log_group,
    ),
)
