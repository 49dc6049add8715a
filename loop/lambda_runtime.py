"""One execution environment of a function: a child process, as Lambda runs one per container.

Started by `loop.functions.Function` as `python lambda_runtime.py <handler> --fd <n> ...` with
exactly the function's environment: the variables the plan sets, the role's temporary
credentials, the region, `AWS_ENDPOINT_URL` (moto's server) and `PYTHONPATH` = the function's code
folder (its /var/task). The handler module is imported once, at start (Lambda's init phase, where
the drift check creates its clients), announced by a `{"ready": true}` line on the answer pipe;
then each line on stdin is one invocation (`{"event": ..., "request_id": ...}`) and each
answer one line on the answer pipe:
`{"ok": true, "result": ...}` or Lambda's error shape (`errorType`, `errorMessage`,
`stackTrace`). The handler's stdout and stderr (its logs and EMF metrics) go to the log file
the parent opened, as CloudWatch Logs would receive them.

The context reports the time left before the plan's timeout; neither the timeout nor the memory
size is enforced. Standard library only besides the handler: this file runs outside the `loop`
package.
`--no-retry-sleep`: botocore's retry backoff is computed but not slept (the attempts still
reach the server, where the harness counts them), so fault scenarios take milliseconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The Lambda context object, with what the handlers and Powertools read."""

    def __init__(self, args: argparse.Namespace, request_id: str) -> None:
        self.function_name = args.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = args.function_arn
        self.memory_limit_in_mb = args.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{args.function_name}"
        self.log_stream_name = f"loop/[$LATEST]{os.getpid():08x}"
        self._deadline = time.monotonic() + args.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _no_retry_sleep() -> None:
    from botocore.retries import standard  # noqa: PLC0415 - only with --no-retry-sleep

    original = standard.ExponentialBackoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        original(self, context)
        return 0.0

    standard.ExponentialBackoff.delay_amount = delay_amount


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("handler")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--function-arn", required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--timeout-seconds", type=int, required=True)
    parser.add_argument("--no-retry-sleep", action="store_true")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    answers = os.fdopen(args.fd, "w", buffering=1, encoding="utf-8")
    if args.no_retry_sleep:
        _no_retry_sleep()
    module_name, function_name = args.handler.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    answers.write(json.dumps({"ready": True}) + "\n")  # the init phase is over
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = handler(request["event"], Context(args, request["request_id"]))
            answer = {"ok": True, "result": result}
        except Exception as exc:
            answer = {
                "ok": False,
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc),
            }
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
