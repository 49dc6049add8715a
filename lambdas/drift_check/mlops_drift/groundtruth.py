"""Ground truth in SageMaker's record format, read strictly: every line is accounted for.

One line is the label of one captured invocation, joined to it by `eventId`:

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<the capture record's eventId>"},
     "eventVersion": "0"}

SageMaker's layout in the lake: `groundtruth/<endpoint>/YYYY/MM/DD/HH/<anything>.jsonl`.

`data` is the label: with `encoding` CSV, one field of text (`"1"`, `"true"`, `"3.25"`); with
JSON, a JSON text (`"1"`, `"true"`, `"\\"churn\\""`) or the value itself, and the value is a
scalar or a one-element list. Every non-blank line falls in exactly one category of
`LabelStats` (see there); the reader never drops a line silently.

Classes (classification): a label is positive or negative, nothing else (`Classes`).

Standard library and msgspec only: this module runs in the Lambda.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec

Problem = Literal["classification", "regression"]

MAX_REASONS: Final = 64
"""Distinct reasons kept per category; further ones are counted under `other`."""
_TRUE: Final = frozenset({"1", "true"})
_FALSE: Final = frozenset({"0", "false"})
_JSON: Final = msgspec.json.Decoder()
_DECODE_ERRORS: Final = (ValueError, RecursionError)


class LabelError(Exception):
    """A label (or a predicted class) that is not of the problem's type."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def count_reason(counts: dict[str, int], reason: str, amount: int = 1) -> None:
    """Add to a reason's count: at most `MAX_REASONS` distinct reasons, then `other`."""
    if reason not in counts and len(counts) >= MAX_REASONS:
        reason = "other"
    counts[reason] = counts.get(reason, 0) + amount


def canonical(value: Any) -> str | None:
    """A label's text: JSON booleans `true`/`false`, integral numbers without a decimal part
    (`1.0` is `1`), other numbers as Python writes them, text stripped; None when it is not a
    scalar (or is null, or empty)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return text
    return None


class Classes:
    """The two classes of a binary classification, and how a label maps to 1 or 0.

    - No positive label configured (or one of `1`, `true`, `0`, `false`): the classes are
      `1`/`true` (positive) and `0`/`false` (negative), case-insensitive, numbers included
      (`1.0` is `1`, JSON `true` is `true`). A configured `0` or `false` makes that pair's
      member the positive class instead.
    - A positive label configured (`churn`): that label (exact text) is positive; the negative
      class is the first other label in the ground truth (in reading order, so the choice does
      not depend on how the join is partitioned), or, when the ground truth has none, the first
      other predicted class in the capture. A third value is a label of the wrong type.
    """

    def __init__(self, positive_label: str | None = None) -> None:
        chosen = canonical(positive_label) if positive_label is not None else None
        self.boolean = chosen is None or chosen.lower() in _TRUE | _FALSE
        self.inverted = chosen is not None and chosen.lower() in _FALSE
        self.positive: str = "1" if chosen is None else chosen
        self.negative_from_labels: str | None = None
        self.negative_from_predictions: str | None = None

    @property
    def negative(self) -> str | None:
        """The negative class's text (`0` for the boolean classes); None while unknown."""
        if self.boolean:
            return "1" if self.inverted else "0"
        return self.negative_from_labels or self.negative_from_predictions

    def describe(self) -> dict[str, Any]:
        """The `classes` section of a report."""
        if self.boolean:
            positive, negative = ("0/false", "1/true") if self.inverted else ("1/true", "0/false")
            return {"positive": positive, "negative": negative}
        return {"positive": self.positive, "negative": self.negative}

    def label(self, text: str) -> int:
        """1 or 0 for a ground-truth label's canonical text; fixes the negative class on the
        first other label when a positive label is configured."""
        if self.boolean:
            return self._boolean(text, "label")
        if text == self.positive:
            return 1
        if self.negative_from_labels is None:
            self.negative_from_labels = text
        if text == self.negative_from_labels:
            return 0
        raise LabelError(
            f"label is neither the positive class {self.positive!r} nor the negative class "
            f"{self.negative_from_labels!r} (a third class)"
        )

    def observe_prediction(self, text: str) -> None:
        """Remember the first predicted class other than the positive one (the negative class
        when the ground truth holds none)."""
        if not self.boolean and text != self.positive and self.negative_from_predictions is None:
            self.negative_from_predictions = text

    def predicted(self, text: str) -> int:
        """1 or 0 for a predicted class label (once every label has been read)."""
        if self.boolean:
            return self._boolean(text, "predicted class")
        if text == self.positive:
            return 1
        if text == self.negative:
            return 0
        raise LabelError("predicted class is neither the positive nor the negative class")

    def _boolean(self, text: str, what: str) -> int:
        lowered = text.lower()
        if lowered in _TRUE:
            return 0 if self.inverted else 1
        if lowered in _FALSE:
            return 1 if self.inverted else 0
        raise LabelError(f"{what} is not one of the classes 0/1 or true/false")


def parse_number(text: str, what: str) -> float:
    """A finite number (a regression label or prediction)."""
    try:
        number = float(text)
    except ValueError:
        raise LabelError(f"{what} is not a number") from None
    if not math.isfinite(number):
        raise LabelError(f"{what} is not a finite number")
    return number


@dataclass
class LabelStats:
    """What a read of ground truth saw. Every non-blank line is in exactly one of: `malformed`
    (by reason), `missing_event_id`, `invalid` (by reason), and, after the join, `matched`,
    `unmatched`, `duplicate`, `conflicting`, `outside_window`, `prediction_invalid`; their sum
    is `lines`."""

    lines: int = 0
    """Non-blank lines read."""
    sources: int = 0
    """Streams (files, objects) read."""
    malformed: dict[str, int] = field(default_factory=dict)
    """Lines that are not a ground-truth record: not JSON, no groundTruthData, no data, an
    encoding other than CSV or JSON."""
    missing_event_id: int = 0
    """Records without a non-empty `eventMetadata.eventId` (they cannot be joined)."""
    invalid: dict[str, int] = field(default_factory=dict)
    """Labels of the wrong type: not a finite number (regression), not one of the two classes
    (classification)."""
    valid: int = 0
    """Lines with an event id and a label of the right type (before the join)."""
    matched: int = 0
    """Labels joined to a prediction of the window (one per labelled event)."""
    unmatched: int = 0
    """Labels of events with no captured prediction at all."""
    duplicate: int = 0
    """Repeated labels of an event, equal to its first (the event is judged once)."""
    conflicting: int = 0
    """Every line of an event whose labels differ (the event is excluded)."""
    conflicting_events: int = 0
    """Events excluded for conflicting labels."""
    outside_window: int = 0
    """Labels of events captured outside the window (by inferenceTime)."""
    prediction_invalid: int = 0
    """Labels of events whose prediction is unusable (counted in the capture's
    `invalid_prediction`)."""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """A few rejected lines: source, line (1-based), reason, text (200 characters)."""

    def to_dict(self) -> dict[str, Any]:
        """The `counts.labels` section of a report."""
        return {
            "lines": self.lines,
            "sources": self.sources,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "duplicate": self.duplicate,
            "conflicting": self.conflicting,
            "conflicting_events": self.conflicting_events,
            "outside_window": self.outside_window,
            "prediction_invalid": self.prediction_invalid,
            "missing_event_id": self.missing_event_id,
            "malformed": dict(sorted(self.malformed.items())),
            "invalid": dict(sorted(self.invalid.items())),
            "examples": list(self.examples),
        }


class _MalformedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _label_value(record: Any) -> Any:
    """The raw label of a decoded ground-truth line; `_MalformedError` when it has none."""
    if not isinstance(record, dict):
        raise _MalformedError("not a JSON object")
    part = record.get("groundTruthData")
    if not isinstance(part, dict):
        raise _MalformedError("no groundTruthData")
    encoding = part.get("encoding")
    data = part.get("data")
    if data is None:
        raise _MalformedError("groundTruthData has no data")
    if encoding == "CSV":
        if not isinstance(data, str):
            raise _MalformedError("CSV label is not text")
        return data
    if encoding == "JSON":
        if isinstance(data, (str, bytes)):
            try:
                return _JSON.decode(data)
            except _DECODE_ERRORS:
                raise _MalformedError("JSON label is not valid JSON") from None
        return data
    raise _MalformedError(f"unsupported label encoding {encoding!r}; accepted: CSV, JSON")


def _event_id(record: dict[str, Any]) -> str | None:
    metadata = record.get("eventMetadata")
    event_id = metadata.get("eventId") if isinstance(metadata, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def label_text(value: Any, encoding_csv: bool) -> str:
    """The canonical text of a label value; `LabelError` when it is not one scalar."""
    if encoding_csv and isinstance(value, str) and "," in value.strip().strip("\r\n"):
        raise LabelError("CSV label has more than one field")
    if isinstance(value, list):
        if len(value) != 1:
            raise LabelError("label is a list of more than one value")
        value = value[0]
    text = canonical(value)
    if text is None:
        raise LabelError("label is empty, null or not a scalar")
    return text


def parse_line(
    raw: bytes, problem: Problem, classes: Classes
) -> tuple[str, float] | tuple[None, str]:
    """`(event id, label)` of one ground-truth line (the label 1.0/0.0 for classification), or
    `(None, category)` with the category `malformed:<reason>`, `missing_event_id` or
    `invalid:<reason>`."""
    try:
        record = _JSON.decode(raw)
        value = _label_value(record)
    except _DECODE_ERRORS:
        return None, "malformed:not valid JSON"
    except _MalformedError as error:
        return None, f"malformed:{error.reason}"
    event_id = _event_id(record)
    if event_id is None:
        return None, "missing_event_id"
    try:
        text = label_text(value, record["groundTruthData"].get("encoding") == "CSV")
        if problem == "regression":
            if isinstance(value, bool) or text in {"true", "false"}:
                raise LabelError("label is a boolean, not a number")
            return event_id, parse_number(text, "label")
        return event_id, float(classes.label(text))
    except LabelError as error:
        return None, f"invalid:{error.reason}"


def split_lines(block: bytes, lineno: int) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a block with their 1-based numbers."""
    for number, raw in enumerate(block.split(b"\n"), lineno + 1):
        if raw and not raw.isspace():
            yield number, raw
