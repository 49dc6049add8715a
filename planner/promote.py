"""Raise the pinned model version of a stack's endpoints: the edit a promotion pull request makes.

`python -m planner promote STACK MODEL VERSION` rewrites `stacks/Pulumi.<STACK>.yaml` so that
every endpoint serving MODEL pins VERSION in production, keeping the file's comments and layout:
only the `modelVersion:` values of the endpoint entries of MODEL change (a shadow's version is
the next candidate's and is left to the reviewer). The result is
loaded and validated like any plan's config before it is written, and the edit is refused when
nothing would change (no endpoint serves the model, or it already pins the version).

The `promote.yml` workflow runs it on a `model-approved` repository dispatch (sent by the
retraining trigger when a version is approved in the registry) and opens a pull request: the
version reaches the stack only through review, like any other change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from components.config import PROJECT, load_platform_config
from planner.stackfile import load_stack_config

_ITEM = re.compile(r"^(?P<indent>\s*)- ")
_MODEL = re.compile(r"^\s*(?:- )?model:\s*(?P<model>[a-z0-9-]+)\s*(?:#.*)?$")
_VERSION = re.compile(r"^(?P<head>\s*(?:- )?modelVersion:\s*)(?P<value>[^\s#]+)(?P<tail>.*)$")
_SHADOW_BLOCK = re.compile(r"^\s*shadow:\s*(?:#.*)?$")


class PromotionError(ValueError):
    """The promotion could not be written; the message says why."""


@dataclass(frozen=True)
class Promotion:
    """What `promote` changed."""

    stack_file: Path
    model: str
    version: int
    changed: int
    """How many `modelVersion` values were rewritten."""


def _inference_block(lines: list[str]) -> tuple[int, int]:
    """The lines of the `mlops-platform:inference:` mapping (start inclusive, end exclusive)."""
    key = f"{PROJECT}:inference:"
    for start, line in enumerate(lines):
        if line.strip() == key:
            indent = len(line) - len(line.lstrip())
            end = start + 1
            while end < len(lines) and (
                not lines[end].strip()
                or lines[end].lstrip().startswith("#")
                or len(lines[end]) - len(lines[end].lstrip()) > indent
            ):
                end += 1
            return start, end
    raise PromotionError(f"the stack file has no {key} section")


def _items(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """The list items (`- …` entries) of the `endpoints:` list inside the section."""
    items: list[tuple[int, int]] = []
    begin: int | None = None
    indent = -1
    for index in range(start, end):
        match = _ITEM.match(lines[index])
        if match and (begin is None or len(match.group("indent")) == indent):
            if begin is not None:
                items.append((begin, index))
            begin, indent = index, len(match.group("indent"))
        elif (
            begin is not None
            and lines[index].strip()
            and len(lines[index]) - len(lines[index].lstrip()) <= indent
        ):
            items.append((begin, index))
            begin = None
    if begin is not None:
        items.append((begin, end))
    return items


def promote_text(text: str, model: str, version: int) -> tuple[str, int]:
    """The stack file's text with the production version of `model`'s endpoints set to
    `version`, and how many values changed. A shadow's version is the candidate's and stays."""
    lines = text.split("\n")
    start, end = _inference_block(lines)
    changed = 0
    for begin, stop in _items(lines, start, end):
        entry = lines[begin:stop]
        if not any((m := _MODEL.match(line)) and m.group("model") == model for line in entry):
            continue
        nested: int | None = None  # indentation of a `shadow:` block being skipped
        for offset, line in enumerate(entry):
            indent = len(line) - len(line.lstrip())
            if nested is not None and line.strip() and indent <= nested:
                nested = None
            if _SHADOW_BLOCK.match(line):
                nested = indent
                continue
            found = _VERSION.match(line)
            if nested is None and found and found.group("value") != str(version):
                lines[begin + offset] = f"{found.group('head')}{version}{found.group('tail')}"
                changed += 1
    return "\n".join(lines), changed


def promote(project_dir: Path, stack: str, model: str, version: int) -> Promotion:
    """Rewrite `stacks/Pulumi.<stack>.yaml`; raises `PromotionError` and leaves the file as it
    was when nothing would change or the result is not a valid config."""
    if version < 1:
        raise PromotionError(f"version {version} is not a model package version (an integer >= 1)")
    path = load_stack_config(project_dir, stack).path
    original = path.read_text()
    text, changed = promote_text(original, model, version)
    if changed == 0:
        raise PromotionError(
            f"{path.name}: no endpoint serving model {model!r} pins a version other than "
            f"{version}; nothing to promote"
        )
    path.write_text(text)
    try:
        # The validation a plan runs: a promotion never leaves a config the program refuses.
        cfg = load_platform_config(
            load_stack_config(project_dir, stack).values, stack, str(path.parent)
        )
    except Exception as error:
        path.write_text(original)
        raise PromotionError(f"{path.name}: the promoted config is refused: {error}") from error
    missed = [
        e.name for e in cfg.inference.endpoints if e.model == model and e.model_version != version
    ]
    if missed:
        path.write_text(original)
        raise PromotionError(
            f"{path.name}: endpoint(s) {', '.join(missed)} of model {model!r} are written in a "
            "form promote does not edit (a one-line mapping); pin them by hand, or write them "
            "as block mappings"
        )
    return Promotion(stack_file=path, model=model, version=version, changed=changed)
