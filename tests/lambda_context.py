"""A Lambda context for calling handlers in tests: the attributes Powertools and the handlers read.

Each handler's tests subclass it with their function's name, memory and time left; the ARN and
the log group follow from the name, the region and the account, as in Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "function"
    region: str = "eu-west-1"
    account: str = "123456789012"
    memory_limit_in_mb: int = 256
    remaining_millis: int = 60_000
    function_version: str = "$LATEST"
    aws_request_id: str = "5b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
