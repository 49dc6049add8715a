"""The JSON Schemas of the platform's events, generated from the handlers' pydantic models.

Each handler package keeps its models and a `SCHEMAS` map (schema file stem to model); this
dev-time module renders them, so the Lambda packages carry no generator. Regenerate both sets
with `python -m planner.event_schemas` (tests fail while a committed schema is stale).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent


def json_schemas(models: Mapping[str, type[BaseModel]], namespace: str) -> dict[str, Any]:
    """The JSON Schema of every model, by file stem, with `$id` under `namespace`."""
    out: dict[str, dict[str, Any]] = {}
    for stem, model in models.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        out[stem] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://mlops-platform/{namespace}/{stem}.schema.json",
            **schema,
        }
    return out


def render_schema(schema: Mapping[str, Any]) -> str:
    """The committed text of one schema (stable key order, trailing newline)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(
    models: Mapping[str, type[BaseModel]], namespace: str, directory: Path
) -> list[Path]:
    """Write `<stem>.schema.json` for every model into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, schema in json_schemas(models, namespace).items():
        path = directory / f"{stem}.schema.json"
        path.write_text(render_schema(schema), encoding="utf-8")
        paths.append(path)
    return paths


def handler_sets() -> list[tuple[Mapping[str, type[BaseModel]], str, Path]]:
    """The schema sets of the handlers: models, namespace, directory."""
    for folder in ("drift_check", "retrain_trigger"):
        path = str(ROOT / "lambdas" / folder)
        if path not in sys.path:
            sys.path.insert(0, path)
    import retrain_events  # noqa: PLC0415 - on the path only now
    from mlops_drift import events as drift_events  # noqa: PLC0415

    return [
        (drift_events.SCHEMAS, "drift", ROOT / "lambdas" / "drift_check" / "events"),
        (retrain_events.SCHEMAS, "retraining", ROOT / "lambdas" / "retrain_trigger" / "events"),
    ]


if __name__ == "__main__":
    for models, namespace, directory in handler_sets():
        for written in write_schemas(models, namespace, directory):
            print(written.relative_to(ROOT))
