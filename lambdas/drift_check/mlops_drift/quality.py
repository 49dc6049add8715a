"""Model quality and fairness from captured predictions joined with late ground truth.

`check_quality` reads a window's data capture (the prediction of each invocation, and the
segment and sensitive features from its input) and the ground truth SageMaker-style
(`groundtruth.py`), joins them by `eventId`, and returns a `QualityReport`: classification
accuracy, precision, recall, F1, ROC AUC and calibration error, or regression MAE, RMSE and R²,
overall and per segment, the label coverage, every count of what was read and rejected, and
group fairness (`fairness.py`). See QUALITY.md beside this package for the formats and rules.

The sensitive attribute's groups are either an input column of the capture, or, with a
`sensitive_lookup`, read from elsewhere (the feature store's online store): `sensitive` then
names the input column holding the record identifier, and the lookup maps identifiers to the
attribute's values, called once per partition of the join with that partition's distinct
identifiers (memory stays per partition).

The prediction is the baseline's first output column (a model's other outputs are ignored):
the first CSV field, a JSON number, the first value of `{"predictions": [...]}` /
`{"outputs": [...]}`, or the output's name as a JSON key (`{"score": 0.8}`); a baseline
without outputs reads it as a numeric output called `score`. For classification a numeric
output is a score, the probability of the positive class, in [0, 1]: the predicted class is
positive when score >= `threshold` (default 0.5). A categorical output is a class label (then
the ROC AUC and the calibration error are not applicable). A capture line holding a batch of
records cannot be joined (ground truth has one label per event id): it is counted and skipped.

The join runs in bounded memory: both streams are hash-partitioned by event id (CRC-32 modulo
`partitions`, default 64) into spill files in a temporary directory, then joined one partition
at a time. Peak memory is one partition's predictions and labels (about 1/`partitions` of the
window's, a few hundred bytes per record), plus the metrics' state: O(1) per segment and per
group, except the ROC AUC's count per distinct score (`accumulate.SCORE_CAP`).

Numpy is not needed here: the standard library and msgspec only (this module runs in the
Lambda).
"""

from __future__ import annotations

import math
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

import msgspec

from mlops_drift.accumulate import ClassificationCounts, RegressionCounts
from mlops_drift.baseline import Baseline, CategoricalBaseline
from mlops_drift.capture import (
    EXAMPLE_CHARS,
    BinaryReadable,
    _category,
    _iter_blocks,
    _LineError,
    _payload,
    _Side,
)
from mlops_drift.fairness import MIN_GROUP_SIZE, fairness_section
from mlops_drift.groundtruth import (
    Classes,
    LabelError,
    LabelStats,
    Problem,
    canonical,
    count_reason,
    parse_line,
    parse_number,
)

REPORT_KIND: Final = "mlops.quality-report"
REPORT_VERSION: Final = 1
PARTITIONS: Final = 64
"""Spill partitions of the join: peak memory is about 1/64 of the window's records."""
MAX_METRIC_SEGMENTS: Final = 20
"""Segments published as CloudWatch metrics: the largest 20 by predictions (ties by value);
the report lists every segment."""
MAX_EXAMPLES: Final = 5

CLOUDWATCH_NAMES: Final = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "RocAuc",
    "calibration_error": "CalibrationError",
    "mae": "Mae",
    "rmse": "Rmse",
    "r2": "R2",
    "label_coverage": "LabelCoverage",
    "positive_rate": "PositiveRate",
}
"""The report's metric keys and the CloudWatch metric names they are published as."""
FAIRNESS_NAMES: Final = {
    "demographic_parity_difference": "DemographicParityDifference",
    "disparate_impact": "DisparateImpact",
    "tpr_difference": "TprDifference",
    "fpr_difference": "FprDifference",
}

_OK: Final = ""
_OUTSIDE: Final = "outside_window"
_ENCODE: Final = msgspec.json.Encoder().encode
_DECODE_LINES: Final = msgspec.json.Decoder(list[Any]).decode_lines
_SCORE_OUTPUT: Final = CategoricalBaseline("score", "output", 0, 0, {})


class QualityInputError(ValueError):
    """Bad input to a quality check; the message says what is wrong and what is accepted."""


SensitiveLookup = Callable[[Sequence[str]], Mapping[str, str | None]]
"""Record identifiers -> the sensitive attribute's value of each; an identifier left out of
the result, or mapped to None, is in the missing group."""


@dataclass
class LookupCounts:
    """What the sensitive attribute's lookup saw (`fairness.lookup` of a report)."""

    calls: int = 0
    keys: int = 0
    """Identifiers looked up: distinct per partition, summed over the partitions (an
    identifier whose predictions fall in two partitions is looked up twice)."""
    missing: int = 0
    """Identifiers the lookup did not return, or returned without a value."""
    missing_predictions: int = 0
    """Predictions in the missing group because their identifier was not found."""
    no_key: int = 0
    """Predictions without an identifier in the capture (also in the missing group)."""

    def to_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "keys": self.keys,
            "missing": self.missing,
            "missing_predictions": self.missing_predictions,
            "no_key": self.no_key,
        }


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric a handler publishes: name, value and dimensions."""

    name: str
    value: float
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass
class CaptureCounts:
    """What a read of the capture saw. Every non-blank line is in exactly one of: `malformed`
    (by reason), `missing_event_id`, `batch_lines`, and, after the join, `outside_window`,
    `invalid_prediction` (by reason), `duplicate_event_id`, `predictions`."""

    lines: int = 0
    sources: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    """Lines that are not capture records of the baseline's form (reasons as the drift
    reader gives them), or, with a window, without a valid `inferenceTime`."""
    missing_event_id: int = 0
    batch_lines: int = 0
    """Lines holding more than one record (a batch): one event id, many predictions."""
    batch_records: int = 0
    outside_window: int = 0
    """Records captured outside the window (by inferenceTime), ignored."""
    invalid_prediction: dict[str, int] = field(default_factory=dict)
    """Predictions of the wrong type: not a number, a score outside [0, 1], not a class."""
    duplicate_event_id: int = 0
    """Records whose event id an earlier record of the window already had (the first wins)."""
    predictions: int = 0
    """Predictions of the window that can be judged (the denominator of the label coverage)."""
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The `counts.capture` section of a report."""
        return {
            "lines": self.lines,
            "sources": self.sources,
            "predictions": self.predictions,
            "outside_window": self.outside_window,
            "duplicate_event_id": self.duplicate_event_id,
            "missing_event_id": self.missing_event_id,
            "batch_lines": self.batch_lines,
            "batch_records": self.batch_records,
            "malformed": dict(sorted(self.malformed.items())),
            "invalid_prediction": dict(sorted(self.invalid_prediction.items())),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class QualityReport:
    """The result of `check_quality`: the document (`to_json`) and its metrics."""

    status: Literal["ok", "no_labels"]
    """`no_labels` when no prediction of the window has a label (every metric is null)."""
    reason: str
    problem: Problem
    document: dict[str, Any]

    @property
    def labelled(self) -> int:
        """Predictions of the window with a label."""
        labelled: int = self.document["overall"]["labelled"]
        return labelled

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready document of plain values (see QUALITY.md, schema)."""
        return self.document

    def metrics(self) -> list[Metric]:
        """The CloudWatch metrics to publish, the defined ones only: overall without an extra
        dimension, per segment with `Segment` (the `MAX_METRIC_SEGMENTS` largest; a missing
        value is the segment `(missing)`), the across-group fairness numbers with
        `SensitiveAttribute`."""
        out = _block_metrics(self.document["overall"], {})
        segment = self.document["segment"]
        if segment is not None:
            for block in self.document["segments"][:MAX_METRIC_SEGMENTS]:
                value = "(missing)" if block["value"] is None else str(block["value"])
                out.extend(_block_metrics(block, {"Segment": value}))
        fairness = self.document["fairness"]
        if fairness is not None:
            dimensions = {"SensitiveAttribute": fairness["attribute"]}
            for key, name in FAIRNESS_NAMES.items():
                value = fairness[key]["value"]
                if value is not None:
                    out.append(Metric(name, float(value), dict(dimensions)))
        return out


def _block_metrics(block: dict[str, Any], dimensions: dict[str, str]) -> list[Metric]:
    return [
        Metric(CLOUDWATCH_NAMES[key], float(entry["value"]), dict(dimensions))
        for key, entry in block["metrics"].items()
        if entry["value"] is not None
    ]


# ---- spilling ---------------------------------------------------------------------------------


class _Spill:
    """Records appended to one of `k` files by the CRC-32 of their event id."""

    def __init__(self, directory: Path, prefix: str, k: int) -> None:
        self.paths = [directory / f"{prefix}-{i:04d}.jsonl" for i in range(k)]
        self.files: list[IO[bytes]] = []
        for path in self.paths:
            self.files.append(path.open("wb"))
        self.sizes = [0] * k

    def add(self, event_id: str, record: list[Any]) -> None:
        i = zlib.crc32(event_id.encode("utf-8", "surrogatepass")) % len(self.files)
        self.files[i].write(_ENCODE(record) + b"\n")
        self.sizes[i] += 1

    def close(self) -> None:
        for handle in self.files:
            handle.close()

    def read(self, i: int) -> list[list[Any]]:
        data = self.paths[i].read_bytes()
        records = _DECODE_LINES(data)
        self.paths[i].unlink()
        return records


# ---- reading the capture ----------------------------------------------------------------------


class _Settings:
    """What a check reads and how: the sides, the columns, the window, the classes."""

    def __init__(
        self,
        baseline: Baseline,
        *,
        problem: Problem,
        threshold: float,
        classes: Classes,
        segment: str | None,
        sensitive: str | None,
        window: tuple[datetime, datetime] | None,
    ) -> None:
        self.problem = problem
        self.threshold = threshold
        self.classes = classes
        self.window = window
        self.inputs = _Side("input", baseline.inputs)
        output = baseline.outputs[0] if baseline.outputs else _SCORE_OUTPUT
        self.output_name = output.name
        self.outputs = _Side("output", baseline.outputs or (_SCORE_OUTPUT,))
        self.kind: Literal["score", "label", "value"] = (
            "value"
            if problem == "regression"
            else "label"
            if baseline.outputs and isinstance(output, CategoricalBaseline)
            else "score"
        )
        names = self.inputs.names
        self.segment_index = names.index(segment) if segment is not None else None
        self.sensitive_index = names.index(sensitive) if sensitive is not None else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _first(csv_rows: list[str], rows: Any) -> Any:
    """The first field of a side's single record (CSV text, or a JSON value)."""
    if csv_rows:
        return csv_rows[0].split(",", 1)[0]
    return rows[0][0]


def _field(csv_rows: list[str], rows: Any, index: int) -> str | None:
    value = csv_rows[0].split(",")[index] if csv_rows else _category(rows[0][index])
    return value if value else None


def _prediction(settings: _Settings, value: Any) -> float | str:
    """The prediction of one record: a float (score or number) or a class's text."""
    if settings.kind == "label":
        text = canonical(value)
        if text is None:
            raise LabelError("predicted class is empty or not a scalar")
        settings.classes.observe_prediction(text)
        return text
    if isinstance(value, bool):
        raise LabelError("prediction is a boolean, not a number")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise LabelError("prediction is not a finite number")
    elif isinstance(value, str):
        number = parse_number(value.strip(), "prediction")
    else:
        raise LabelError("prediction is not a number")
    if settings.kind == "score" and not 0.0 <= number <= 1.0:
        raise LabelError("score is not in [0, 1]")
    return number


def _example(
    examples: list[dict[str, Any]], source: str, line: int, reason: str, raw: bytes
) -> None:
    if len(examples) < MAX_EXAMPLES:
        text = raw[: EXAMPLE_CHARS * 4].decode("utf-8", errors="replace").rstrip("\r\n")
        examples.append(
            {"source": source, "line": line, "reason": reason, "text": text[:EXAMPLE_CHARS]}
        )


def _join_id(metadata: Any) -> str | None:
    """The id a capture record is joined to its label by: the caller's `inferenceId` when the
    record carries one (SageMaker writes it when InvokeEndpoint was given an InferenceId, and the
    platform's capture proxy and serving sidecar write the caller's X-Inference-Id there), else
    the record's `eventId`."""
    if not isinstance(metadata, dict):
        return None
    for key in ("inferenceId", "eventId"):
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _capture_line(
    settings: _Settings, raw: bytes, spill: _Spill, counts: CaptureCounts
) -> str | None:
    """Spill one capture line's prediction; the malformed reason when it has none."""
    try:
        document = msgspec.json.decode(raw)
    except (ValueError, RecursionError):
        return "not valid JSON"
    capture = document.get("captureData") if isinstance(document, dict) else None
    if not isinstance(capture, dict):
        return "no captureData"
    try:
        out = _payload(settings.outputs, capture.get("endpointOutput"))
    except _LineError as error:
        return error.reason
    if out[0] != 1:
        counts.batch_lines += 1
        counts.batch_records += out[0]
        return None
    metadata = document.get("eventMetadata")
    event_id = _join_id(metadata)
    if event_id is None:
        counts.missing_event_id += 1
        return None
    segment = sensitive = None
    if settings.segment_index is not None or settings.sensitive_index is not None:
        try:
            count, csv_rows, rows = _payload(settings.inputs, capture.get("endpointInput"))
        except _LineError as error:
            return error.reason
        if count != 1:
            return f"{count} input records but 1 output record"
        if settings.segment_index is not None:
            segment = _field(csv_rows, rows, settings.segment_index)
        if settings.sensitive_index is not None:
            sensitive = _field(csv_rows, rows, settings.sensitive_index)
    if settings.window is not None:
        moment = _parse_time(metadata.get("inferenceTime"))
        if moment is None:
            return "eventMetadata.inferenceTime is missing or not ISO-8601"
        start, end = settings.window
        if not start <= moment < end:
            spill.add(event_id, [event_id, _OUTSIDE, None, None, None])
            return None
    try:
        prediction: float | str | None = _prediction(settings, _first(out[1], out[2]))
        status = _OK
    except LabelError as error:
        prediction, status = None, error.reason
    spill.add(event_id, [event_id, status, prediction, segment, sensitive])
    return None


def _lines(
    streams: Iterable[tuple[str, BinaryReadable]], what: str
) -> Iterator[tuple[str, int, bytes]]:
    """(source, 1-based line number, line) of every non-blank line; `QualityInputError`
    naming the stream when one cannot be read."""
    iterator = iter(streams)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except OSError as exc:
            raise QualityInputError(f"{what}: cannot open a stream: {exc}") from None
        source, stream = item
        lineno = 0
        blocks = _iter_blocks(stream)
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except (OSError, EOFError, zlib.error) as exc:
                raise QualityInputError(
                    f"{what} {source}: cannot read it ({exc}); accepted: JSON Lines, "
                    "optionally gzip-compressed"
                ) from None
            parts = block.split(b"\n")
            for number, raw in enumerate(parts, lineno + 1):
                if raw and not raw.isspace():
                    yield source, number, raw
            lineno += len(parts) - (1 if block.endswith(b"\n") else 0)
        yield source, 0, b""  # end of a source


def _read_capture(
    settings: _Settings,
    streams: Iterable[tuple[str, BinaryReadable]],
    spill: _Spill,
    counts: CaptureCounts,
) -> None:
    for source, number, raw in _lines(streams, "capture"):
        if not number:
            counts.sources += 1
            continue
        counts.lines += 1
        reason = _capture_line(settings, raw, spill, counts)
        if reason is not None:
            count_reason(counts.malformed, reason)
            _example(counts.examples, source, number, reason, raw)


def _read_labels(
    settings: _Settings,
    streams: Iterable[tuple[str, BinaryReadable]],
    spill: _Spill,
    stats: LabelStats,
) -> None:
    for source, number, raw in _lines(streams, "labels"):
        if not number:
            stats.sources += 1
            continue
        stats.lines += 1
        event_id, value = parse_line(raw, settings.problem, settings.classes)
        if event_id is not None:
            stats.valid += 1
            spill.add(event_id, [event_id, value])
            continue
        category = str(value)
        if category == "missing_event_id":
            stats.missing_event_id += 1
        elif category.startswith("malformed:"):
            count_reason(stats.malformed, category.removeprefix("malformed:"))
        else:
            count_reason(stats.invalid, category.removeprefix("invalid:"))
        _example(stats.examples, source, number, category.replace(":", ": ", 1), raw)


# ---- the join ---------------------------------------------------------------------------------


class _Join:
    """The metrics' state, fed one partition at a time."""

    def __init__(
        self,
        settings: _Settings,
        segment: bool,
        sensitive: bool,
        lookup: SensitiveLookup | None = None,
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.lookup_counts = LookupCounts()
        self.overall = self._counts()
        self.segments: dict[str | None, ClassificationCounts | RegressionCounts] | None = (
            {} if segment else None
        )
        self.groups: dict[str | None, ClassificationCounts] | None = {} if sensitive else None
        self.largest_predictions = 0
        self.largest_labels = 0

    def _counts(self) -> ClassificationCounts | RegressionCounts:
        if self.settings.problem == "regression":
            return RegressionCounts()
        return ClassificationCounts(scored=self.settings.kind == "score")

    def partition(
        self,
        predictions: list[list[Any]],
        labels: list[list[Any]],
        capture: CaptureCounts,
        stats: LabelStats,
    ) -> None:
        self.largest_predictions = max(self.largest_predictions, len(predictions))
        self.largest_labels = max(self.largest_labels, len(labels))
        # event id -> [label, lines, conflicting]; the first label wins when equal.
        judged: dict[str, list[Any]] = {}
        for event_id, value in labels:
            entry = judged.get(event_id)
            if entry is None:
                judged[event_id] = [value, 1, False]
            else:
                entry[1] += 1
                entry[2] = entry[2] or entry[0] != value
        groups = self._lookup(predictions) if self.lookup is not None else None
        status: dict[str, str] = {}
        for event_id, spilled, prediction, segment, sensitive in predictions:
            state: str = spilled
            if event_id in status:
                capture.duplicate_event_id += 1
                continue
            if state == _OUTSIDE:
                capture.outside_window += 1
                status[event_id] = state
                continue
            if state == _OK:
                group = sensitive
                if groups is not None:
                    group = self._group(groups, sensitive)
                try:
                    self._add(prediction, segment, group, judged.get(event_id))
                except LabelError as error:
                    state = error.reason
                else:
                    capture.predictions += 1
            if state != _OK:
                count_reason(capture.invalid_prediction, state)
            status[event_id] = state
        for event_id, (_, lines, conflicting) in judged.items():
            if conflicting:
                stats.conflicting += lines
                stats.conflicting_events += 1
                continue
            stats.duplicate += lines - 1
            found = status.get(event_id)
            if found is None:
                stats.unmatched += 1
            elif found == _OK:
                stats.matched += 1
            elif found == _OUTSIDE:
                stats.outside_window += 1
            else:
                stats.prediction_invalid += 1

    def _lookup(self, predictions: list[list[Any]]) -> dict[str, str | None]:
        """The attribute of the distinct identifiers of this partition's judged predictions:
        one call of the lookup, none when the partition has no identifier."""
        assert self.lookup is not None
        keys = sorted({r[4] for r in predictions if r[1] == _OK and r[4] is not None})
        if not keys:
            return {}
        self.lookup_counts.calls += 1
        self.lookup_counts.keys += len(keys)
        found = self.lookup(keys)
        groups = {key: found.get(key) for key in keys}
        self.lookup_counts.missing += sum(value is None for value in groups.values())
        return groups

    def _group(self, groups: dict[str, str | None], key: str | None) -> str | None:
        if key is None:
            self.lookup_counts.no_key += 1
            return None
        value = groups.get(key)
        if value is None:
            self.lookup_counts.missing_predictions += 1
        return value

    def _add(
        self,
        prediction: float | str,
        segment: str | None,
        sensitive: str | None,
        judged: list[Any] | None,
    ) -> None:
        label: float | None = None
        if judged is not None and not judged[2]:
            label = float(judged[0])
        regression = self.settings.problem == "regression"
        score: float | None = None
        predicted = 0
        if regression:
            pass
        elif isinstance(prediction, str):
            # Raises LabelError before any state changes: the prediction is then invalid.
            predicted = self.settings.classes.predicted(prediction)
        else:
            score = prediction
            predicted = int(score >= self.settings.threshold)
        targets = [self.overall]
        if self.segments is not None:
            counts = self.segments.get(segment)
            if counts is None:
                counts = self.segments[segment] = self._counts()
            targets.append(counts)
        if regression:
            for target in targets:
                assert isinstance(target, RegressionCounts)
                target.predict()
                if label is not None:
                    target.label(float(prediction), label)
            return
        if self.groups is not None:
            group = self.groups.get(sensitive)
            if group is None:
                group = self.groups[sensitive] = ClassificationCounts(scored=False)
            targets.append(group)
        for target in targets:
            assert isinstance(target, ClassificationCounts)
            target.predict(predicted)
            if label is not None:
                target.label(predicted, int(label), score if target.scored else None)


# ---- the check --------------------------------------------------------------------------------


def _check_column(baseline: Baseline, name: str | None, option: str) -> None:
    if name is None:
        return
    inputs = [f.name for f in baseline.inputs]
    if name not in inputs:
        raise QualityInputError(
            f"{option} {name!r} is not an input feature of the baseline; accepted: one of "
            f"{', '.join(map(repr, inputs))}"
        )


def _check_window(window: tuple[datetime, datetime] | None) -> None:
    if window is None:
        return
    start, end = window
    if start.tzinfo is None or end.tzinfo is None:
        raise QualityInputError("window: start and end must be timezone-aware datetimes")
    if not start < end:
        raise QualityInputError(f"window: start {start} is not before end {end}")


def check_quality(
    baseline: Baseline,
    captures: Iterable[tuple[str, BinaryReadable]],
    labels: Iterable[tuple[str, BinaryReadable]],
    *,
    problem: Literal["classification", "regression"],
    threshold: float = 0.5,
    positive_label: str | None = None,
    segment: str | None = None,
    sensitive: str | None = None,
    min_group_size: int = MIN_GROUP_SIZE,
    spill_dir: Path | None = None,
    window: tuple[datetime, datetime] | None = None,
    partitions: int = PARTITIONS,
    sensitive_lookup: SensitiveLookup | None = None,
    sensitive_attribute: str | None = None,
) -> QualityReport:
    """Join a window's captured predictions with their ground truth and measure the model.

    `captures` and `labels` are `(source name, binary stream)` pairs, read once, in order.
    Captures whose inferenceTime is outside `window` ([start, end), timezone-aware) are
    ignored and counted. `spill_dir` is where the join's temporary directory goes (the
    system's temporary directory by default); `partitions` is the number of spill files.
    With `sensitive_lookup`, `sensitive` is the input column holding the record identifier
    and the groups are the lookup's values (`sensitive_attribute` names them in the report;
    default the column's name).
    Raises `QualityInputError` on bad arguments and unreadable streams.
    """
    if problem not in ("classification", "regression"):
        raise QualityInputError(
            f"problem {problem!r} is not supported; accepted: 'classification', 'regression'"
        )
    if not 0.0 <= threshold <= 1.0 or math.isnan(threshold):
        raise QualityInputError(f"threshold must be in [0, 1], got {threshold}")
    if min_group_size < 1:
        raise QualityInputError(f"min_group_size must be at least 1, got {min_group_size}")
    if partitions < 1:
        raise QualityInputError(f"partitions must be at least 1, got {partitions}")
    if sensitive is not None and problem != "classification":
        raise QualityInputError(
            "sensitive: fairness needs a classification problem (positive predictions); "
            "accepted: problem='classification'"
        )
    _check_column(baseline, segment, "segment")
    if sensitive_lookup is not None and sensitive is None:
        raise QualityInputError(
            "sensitive_lookup: the lookup needs `sensitive`, the input column holding the "
            "record identifier; accepted: an input feature of the baseline"
        )
    _check_column(baseline, sensitive, "sensitive")
    _check_window(window)
    classes = Classes(positive_label)
    settings = _Settings(
        baseline,
        problem=problem,
        threshold=threshold,
        classes=classes,
        segment=segment,
        sensitive=sensitive,
        window=window,
    )
    capture = CaptureCounts()
    stats = LabelStats()
    join = _Join(settings, segment is not None, sensitive is not None, sensitive_lookup)
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-quality-", dir=spill_dir) as directory:
            folder = Path(directory)
            predicted = _Spill(folder, "predictions", partitions)
            try:
                _read_capture(settings, captures, predicted, capture)
            finally:
                predicted.close()
            labelled = _Spill(folder, "labels", partitions)
            try:
                _read_labels(settings, labels, labelled, stats)
            finally:
                labelled.close()
            for i in range(partitions):
                join.partition(predicted.read(i), labelled.read(i), capture, stats)
    except OSError as exc:
        raise QualityInputError(
            f"spill directory {spill_dir or tempfile.gettempdir()}: {exc.strerror or exc}; "
            "accepted: a writable folder with room for the window's records"
        ) from None
    attribute = sensitive
    if sensitive_lookup is not None and sensitive_attribute is not None:
        attribute = sensitive_attribute
    document = _report(
        settings, join, capture, stats, segment, attribute, min_group_size, partitions
    )
    fairness = document.document["fairness"]
    if fairness is not None:
        fairness["source"] = "feature_store" if sensitive_lookup is not None else "capture"
        fairness["lookup"] = (
            {"column": sensitive, **join.lookup_counts.to_dict()}
            if sensitive_lookup is not None
            else None
        )
        if sensitive_lookup is not None and join.lookup_counts.missing:
            document.document["warnings"].append(
                f"{join.lookup_counts.missing} record identifier(s) of {sensitive!r} not found "
                f"by the lookup of {attribute!r}: their "
                f"{join.lookup_counts.missing_predictions} prediction(s) are in the missing group"
            )
    return document


def _report(  # noqa: PLR0917 (one call site)
    settings: _Settings,
    join: _Join,
    capture: CaptureCounts,
    stats: LabelStats,
    segment: str | None,
    sensitive: str | None,
    min_group_size: int,
    partitions: int,
) -> QualityReport:
    overall = join.overall.to_dict()
    segments: list[dict[str, Any]] = []
    if join.segments is not None:
        ordered = sorted(
            join.segments.items(), key=lambda item: (-item[1].predictions, str(item[0]))
        )
        segments = [{"value": value, **counts.to_dict()} for value, counts in ordered]
    fairness = (
        fairness_section(sensitive, join.groups, min_group_size)
        if sensitive is not None and join.groups is not None
        else None
    )
    warnings: list[str] = []
    labelled = overall["labelled"]
    if labelled:
        status: Literal["ok", "no_labels"] = "ok"
        reason = f"{labelled} of {capture.predictions} predictions have a label"
    else:
        status = "no_labels"
        reason = (
            "no labelled predictions: none of the window's "
            f"{capture.predictions} predictions has a valid label "
            f"({stats.lines} ground-truth lines read, {stats.unmatched} without a prediction)"
        )
        warnings.append(reason)
    if overall["metrics"].get("roc_auc", {}).get("approximate") or any(
        block["metrics"].get("roc_auc", {}).get("approximate") for block in segments
    ):
        warnings.append(
            "more than 100000 distinct scores: scores rounded to 6 decimals for the ROC AUC "
            "(approximate: true)"
        )
    if len(segments) > MAX_METRIC_SEGMENTS:
        warnings.append(
            f"{len(segments)} segments: metrics are published for the largest "
            f"{MAX_METRIC_SEGMENTS} only; the report lists all"
        )
    if fairness is not None and fairness["excluded_groups"]:
        warnings.append(
            f"{fairness['excluded_groups']} group(s) of {sensitive!r} have fewer than "
            f"{min_group_size} predictions and are excluded from the fairness differences"
        )
    for what, count in (
        ("capture lines are malformed", sum(capture.malformed.values())),
        ("predictions are invalid", sum(capture.invalid_prediction.values())),
        ("ground-truth lines are malformed", sum(stats.malformed.values())),
        ("labels are of the wrong type", sum(stats.invalid.values())),
        ("events have conflicting labels (excluded)", stats.conflicting_events),
    ):
        if count:
            warnings.append(f"{count} {what}")
    window = settings.window
    document: dict[str, Any] = {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "status": status,
        "reason": reason,
        "window": {
            "start": window[0].isoformat() if window else None,
            "end": window[1].isoformat() if window else None,
        },
        "problem": settings.problem,
        "prediction": {"kind": settings.kind, "output": settings.output_name},
        "threshold": settings.threshold if settings.kind == "score" else None,
        "classes": settings.classes.describe() if settings.problem == "classification" else None,
        "segment": segment,
        "sensitive": sensitive,
        "counts": {
            "predictions": capture.predictions,
            "labelled": labelled,
            "capture": capture.to_dict(),
            "labels": stats.to_dict(),
        },
        "overall": overall,
        "segments": segments,
        "fairness": fairness,
        "join": {
            "partitions": partitions,
            "largest_partition_predictions": join.largest_predictions,
            "largest_partition_labels": join.largest_labels,
        },
        "warnings": warnings,
    }
    return QualityReport(status, reason, settings.problem, document)
