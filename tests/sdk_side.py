"""Run in the sagemaker SDK's environment (.venv-sagemaker) by the `sdk` fixture of
tests/conftest.py: calls what a test names there and answers in JSON, one line each.

A request is `{"target": "module:attribute.path", "args": [...], "kwargs": {...}}`; the answer
is `{"ok": true, "result": ...}`, or `{"ok": false, "type": ..., "error": ...}` when the call
raised. Standard library plus what the SDK's environment has; never the Pulumi program's.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any


def service_enum(shape: str) -> list[str]:
    """A shape's enum from botocore's SageMaker service model, the slow, official way."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return sorted(model.shape_for(shape).enum)


def _resolve(target: str) -> Any:
    module, _, path = target.partition(":")
    found: Any = importlib.import_module(module)
    for part in path.split("."):
        found = getattr(found, part)
    return found


def main() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = _resolve(request["target"])(*request["args"], **request["kwargs"])
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as err:  # reported to the test, which raises it again
            answer = {"ok": False, "type": type(err).__name__, "error": str(err)}
        answers.write(json.dumps(answer, default=sorted) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
