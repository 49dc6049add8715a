"""Streaming reader of SageMaker data-capture JSON Lines into a window profile.

One capture line is one invocation of an endpoint:

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "42,0.5,monthly", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "0.83", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "…", "inferenceTime": "2026-11-27T10:00:00Z"},
     "eventVersion": "0"}

The reader holds at most `chunk_rows` records (plus one line's batch) at a time: every
`chunk_rows` records become columns, are profiled on the baseline's bins and merged into the
running profile, so memory does not grow with the window.

Speed: a block of lines (about 1 MiB) that are all one plain CSV row per side (the common
case) is decoded by one msgspec call and taken in bulk (`_Reader._plain`), any other block line
by line (`_Reader._line`); a chunk's CSV rows are converted by one `np.loadtxt` call
(`_load_rows`), field by field only when numpy cannot be trusted to read them as `float()`
would.

Numpy, msgspec and the standard library only: this module runs in the Lambda.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final, Literal, Protocol

import msgspec
import numpy as np

from mlops_drift.baseline import Baseline, CategoricalBaseline
from mlops_drift.window import WindowProfile, empty_profile, merge, profile_columns

EXAMPLE_CHARS: Final = 200
"""A quoted malformed line keeps its first 200 characters."""
SCHEMA_TOLERANCE: Final = 0.01
"""Share of lines (or, per numeric feature, of values) that may misfit the baseline's schema
before the whole window is refused as a schema mismatch."""

_BLOCK: Final = 1 << 20
_FLOAT_INT_LIMIT: Final = 2**1023
_MAX_REASONS: Final = 64
_Rows = Sequence[Sequence[Any]]
"""Records as rows of values in baseline order (from JSON or quoted CSV)."""
_Payload = tuple[int, list[str], _Rows]
"""A payload's record count, and its records: CSV rows of exactly the side's width, or rows of
values; one of the two is empty."""

_BATCH_KEYS: Final = ("instances", "inputs")
_OUTPUT_KEYS: Final = ("predictions", "outputs")


class SchemaMismatch(ValueError):  # noqa: N818 (the name the handler and CLI share)
    """The window's records do not fit the baseline: field counts, names or types differ.

    Raised after the whole window is read, with the read's statistics in `stats`, so a caller
    can still report how many lines were read and quote a few of them.
    """

    def __init__(self, message: str, stats: CaptureStats) -> None:
        super().__init__(message)
        self.stats = stats


class BinaryReadable(Protocol):
    """What the reader needs of a stream: files, `gzip.open`, an S3 `StreamingBody`."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass
class CaptureStats:
    """What a read saw: lines, records profiled, and the malformed lines with a few quoted."""

    lines: int = 0
    """Non-blank lines read."""
    records: int = 0
    """Records profiled (one line holds one record, or several when the payload is a batch)."""
    malformed: int = 0
    """Lines skipped: not JSON, no captureData, undecodable payload, records that do not fit."""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Up to `max_examples` malformed lines: source, line (1-based), reason, text (200 chars)."""
    mismatched: int = 0
    """Of the malformed lines, those whose records do not fit the baseline's schema."""
    invalid: dict[str, int] = field(default_factory=dict)
    """Per numeric feature, values that are not numbers; each is profiled as missing."""
    sources: int = 0
    """Streams (files, objects) read."""
    schema_reasons: dict[str, int] = field(default_factory=dict)
    """How often each schema reason occurred (the first 64 distinct reasons)."""
    first_mismatch: str = ""
    """Where the first line that does not fit the schema is: `<source> line <n>`."""
    invalid_examples: dict[str, str] = field(default_factory=dict)
    """Per numeric feature, the first value that was not a number (repr, 40 chars)."""

    def merge(self, other: CaptureStats, max_examples: int = 5) -> None:
        """Add another read's statistics (a scaled-out window's partial) to these."""
        self.lines += other.lines
        self.records += other.records
        self.malformed += other.malformed
        self.mismatched += other.mismatched
        self.sources += other.sources
        self.examples.extend(other.examples[: max(max_examples - len(self.examples), 0)])
        for name, count in other.invalid.items():
            self.invalid[name] = self.invalid.get(name, 0) + count
        for reason, count in other.schema_reasons.items():
            if reason in self.schema_reasons or len(self.schema_reasons) < _MAX_REASONS:
                self.schema_reasons[reason] = self.schema_reasons.get(reason, 0) + count
        self.first_mismatch = self.first_mismatch or other.first_mismatch
        for name, example in other.invalid_examples.items():
            self.invalid_examples.setdefault(name, example)

    def to_dict(self) -> dict[str, Any]:
        """The `malformed` section of a report."""
        return {
            "count": self.malformed,
            "lines": self.lines,
            "records": self.records,
            "schema_mismatched": self.mismatched,
            "invalid_values": dict(self.invalid),
            "examples": list(self.examples),
        }


def schema_problem(stats: CaptureStats, tolerance: float = SCHEMA_TOLERANCE) -> str | None:
    """Why a window does not fit its baseline, or None when it does.

    The rule: more than `tolerance` of the lines hold records that do not fit (field counts,
    names, a payload shape with no records of the baseline's form, a missing input or
    output side), or more than `tolerance` of a numeric feature's values are not numbers.
    Below that, such lines are only malformed: rare garbled lines must not stop a check, a
    changed schema must.
    """
    if stats.mismatched and stats.mismatched > tolerance * stats.lines:
        reason, times = max(stats.schema_reasons.items(), key=lambda item: item[1])
        return (
            f"the capture does not match the baseline: {stats.mismatched} of {stats.lines} "
            f"lines have records that do not fit it (first at {stats.first_mismatch}); "
            f"most often ({times} lines): {reason}"
        )
    for name, count in sorted(stats.invalid.items()):
        if count > tolerance * stats.records:
            return (
                f"the capture does not match the baseline: feature {name!r} is numeric in the "
                f"baseline, but {count} of {stats.records} values are not numbers "
                f"(e.g. {stats.invalid_examples.get(name, '?')})"
            )
    return None


class _LineError(Exception):
    """One line cannot be used; `schema` when its records do not fit the baseline."""

    def __init__(self, reason: str, *, schema: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.schema = schema


class _Side:
    """The inputs or the outputs of the baseline, and a chunk's pending records of them.

    Records arrive two ways: CSV text already validated to `width` fields per row (kept as
    text, converted in bulk), and rows of Python values from JSON (kept per column). The two
    are concatenated per column when the chunk is converted, so within a chunk rows are not
    aligned across features whose payload kinds differ; every statistic of the engine is
    per feature (marginal), which is all this needs.
    """

    def __init__(self, role: str, features: Sequence[Any]) -> None:
        self.role = role
        self.names: tuple[str, ...] = tuple(f.name for f in features)
        self.name_set = frozenset(self.names)
        self.categorical = tuple(isinstance(f, CategoricalBaseline) for f in features)
        self.width = len(self.names)
        self.commas = self.width - 1
        self.numeric_index = [j for j, cat in enumerate(self.categorical) if not cat]
        self.categorical_index = [j for j, cat in enumerate(self.categorical) if cat]
        self.csv_rows: list[str] = []
        self.columns: list[list[Any]] = [[] for _ in self.names]

    # ---- validation of one payload -------------------------------------------------------

    def csv_payload(self, text: str) -> _Payload:
        """Validate a CSV payload (no header; one record per line, fields in baseline order)."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.strip("\n")
        if not text:
            raise _LineError(f"empty {self.role} payload")
        if '"' in text:
            rows = [row for row in csv.reader(text.split("\n")) if row]
            for row in rows:
                if len(row) != self.width:
                    raise _LineError(self._count_reason(len(row)), schema=True)
            return len(rows), [], rows
        lines = text.split("\n")
        if self.width == 1 and len(lines) == 1 and self.role == "output":
            # Some built-in algorithms answer a batch on one line: "0.1,0.7,0.3".
            lines = text.split(",")
        for line in lines:
            if line.count(",") != self.commas:
                raise _LineError(self._count_reason(line.count(",") + 1), schema=True)
            if not line and self.width == 1:
                raise _LineError(f"empty line in a {self.role} payload")
        return len(lines), lines, ()

    def json_payload(self, value: Any) -> _Payload:
        """Records of a parsed JSON payload, each a sequence of values in baseline order."""
        count, rows = (
            self._json_inputs(value) if self.role == "input" else self._json_outputs(value)
        )
        return count, [], rows

    def _json_inputs(self, value: Any) -> tuple[int, _Rows]:
        if isinstance(value, dict):
            for key in _BATCH_KEYS:
                # A batch may come with TensorFlow Serving's "signature_name" beside it.
                if key in value and key not in self.name_set and len(value) <= 2:
                    return self._batch(value[key])
            return 1, [self._record(value)]
        if isinstance(value, list):
            if value and all(isinstance(item, (list, dict)) for item in value):
                return self._batch(value)
            return 1, [self._record(value)]
        return 1, [self._record(value)]

    def _json_outputs(self, value: Any) -> tuple[int, _Rows]:
        if isinstance(value, dict):
            for key in _OUTPUT_KEYS:
                if key in value:
                    return self._json_outputs(value[key])
            return 1, [self._record(value)]
        if isinstance(value, list):
            if value and all(isinstance(item, (list, dict)) for item in value):
                return self._batch(value)
            if self.width == 1:
                # One output: a list holds one prediction per record.
                return len(value), [[item] for item in value]
            return 1, [self._record(value)]
        return 1, [self._record(value)]

    def _batch(self, value: Any) -> tuple[int, _Rows]:
        if isinstance(value, list):
            if self.role == "input" and value and not isinstance(value[0], (list, dict)):
                return 1, [self._record(value)]
            records = [self._record(item) for item in value]
            return len(records), records
        if isinstance(value, dict):
            columns = list(value.values())
            if columns and all(isinstance(c, list) for c in columns):
                # Columnar batch, as TensorFlow Serving's "inputs" accepts: {name: [values]}.
                self._check_names(value)
                lengths = {len(c) for c in columns}
                if len(lengths) != 1:
                    raise _LineError(f"{self.role} columns of a batch differ in length")
                ordered = [value[name] for name in self.names]
                return lengths.pop(), [list(row) for row in zip(*ordered, strict=True)]
            return 1, [self._record(value)]
        raise _LineError(f"{self.role} batch is neither a list nor an object", schema=True)

    def _record(self, value: Any) -> Sequence[Any]:
        if isinstance(value, dict):
            if len(value) == 1 and "features" in value and "features" not in self.name_set:
                # SageMaker's built-in algorithms: {"features": [values in order]}.
                return self._record(value["features"])
            self._check_names(value)
            return [value[name] for name in self.names]
        if isinstance(value, list):
            if len(value) != self.width:
                raise _LineError(self._count_reason(len(value)), schema=True)
            return value
        if self.width == 1:
            return [value]
        raise _LineError(self._count_reason(1), schema=True)

    def _check_names(self, record: dict[str, Any]) -> None:
        keys = record.keys()
        if self.role == "input":
            if keys == self.name_set:
                return
        elif self.name_set <= keys:
            # A model may answer more than is monitored (probabilities beside the score).
            return
        unknown = sorted(keys - self.name_set) if self.role == "input" else []
        missing = sorted(self.name_set - keys)
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unknown:
            parts.append(f"unknown {_names(unknown)}")
        raise _LineError(
            f"{self.role} names differ from the baseline: {'; '.join(parts)}", schema=True
        )

    def _count_reason(self, got: int) -> str:
        return (
            f"{self.role} record has {got} field{'s' * (got != 1)}, the baseline has "
            f"{self.width} {self.role}{'s' * (self.width != 1)} ({_names(self.names)})"
        )

    # ---- pending records and their conversion to columns --------------------------------

    def add(self, csv_rows: list[str], rows: _Rows) -> None:
        if csv_rows:
            self.csv_rows.extend(csv_rows)
        elif self.width == 1:
            self.columns[0].extend(row[0] for row in rows)
        else:
            for column, values in zip(self.columns, zip(*rows, strict=True), strict=True):
                column.extend(values)

    def take(self, stats: CaptureStats) -> dict[str, np.ndarray]:
        """The pending records as one array per feature; empties the buffers."""
        from_csv = self._csv_columns(stats)
        out: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.names):
            json_values = self.columns[j]
            if j in from_csv and not json_values:
                out[name] = from_csv[j]
                continue
            if self.categorical[j]:
                part = _categorical([_category(v) for v in json_values])
            else:
                part = _numeric(json_values, name, stats)
            out[name] = np.concatenate([from_csv[j], part]) if j in from_csv else part
        self.csv_rows = []
        self.columns = [[] for _ in self.names]
        return out

    def _csv_columns(self, stats: CaptureStats) -> dict[int, np.ndarray]:
        """Columns of the pending CSV rows: one C-level read of the chunk, field by field if
        that cannot be trusted (a value that is not a number, rare control characters)."""
        rows = self.csv_rows
        if not rows:
            return {}
        loaded = _load_rows(rows, self.numeric_index, self.categorical_index)
        if loaded is not None:
            out: dict[int, np.ndarray] = {}
            for j, column in loaded.items():
                if not self.categorical[j]:
                    _drop_infinite(column, self.names[j], stats)
                out[j] = column
            return out
        # Invalid fields: split once and convert column by column.
        fields = ",".join(rows).split(",") if self.width > 1 else rows
        out = {}
        for j in self.numeric_index:
            out[j] = _numeric(fields[j :: self.width], self.names[j], stats)
        for j in self.categorical_index:
            out[j] = _categorical(fields[j :: self.width])
        return out


_EMPTY_FIELD: Final = re.compile(b",(?=,)")
"""A comma followed by a comma: the field between them is empty."""
_COMMA: Final = ord(",")
_MISSING: Final = "\x0bnan"
"""What an empty field becomes before numpy reads the chunk: NaN to numpy's float reader (which,
as `float()`, skips the leading whitespace), recognisable in a categorical column."""
_MISSING_BYTES: Final = _MISSING.encode()
_FLOAT_DIFFERS: Final = ("\x0b", "\x1c", "\x1d", "\x1e", "\x1f")
"""Characters numpy's float reader skips as whitespace but `float()` refuses, and the first of
`_MISSING` (rare in data: the chunk is then read field by field)."""


def _fill_empty(data: bytes) -> bytes:
    """`_MISSING` between every two adjacent commas (`_EMPTY_FIELD.sub(b",\\x0bnan", data)`):
    found by numpy, joined by `bytes.join`; by the regex when empty fields are many."""
    commas = np.frombuffer(data, np.uint8) == _COMMA
    cuts = np.flatnonzero(commas[:-1] & commas[1:])
    if not len(cuts):
        return data
    if len(cuts) > len(data) >> 6:
        return _EMPTY_FIELD.sub(b"," + _MISSING_BYTES, data)
    bounds = (cuts + 1).tolist()
    return _MISSING_BYTES.join(map(data.__getitem__, map(slice, [0, *bounds], [*bounds, None])))


def _load_rows(
    rows: list[str], numeric: list[int], categorical: list[int]
) -> dict[int, np.ndarray] | None:
    """Columns of validated CSV rows (each exactly the side's width, no quotes or line breaks)
    by one call of numpy's C reader; None when it cannot be trusted to read them as `float()`
    and `str.split` would.

    Every row is framed by an empty field on each side (`,row,`), so that each empty field of
    the data, first and last included, is a comma followed by a comma; `_fill_empty` turns it
    into `_MISSING`, which numpy reads as NaN (as `_float` reads ""), and which becomes "" again
    in categorical columns. Numeric columns come as float64, categorical ones as `str` objects,
    each a copy that does not keep the chunk's record array alive.
    """
    framed = rows.copy()
    framed[0] = "," + framed[0]
    framed[-1] += ","
    text = ",\n,".join(framed)
    if any(char in text for char in _FLOAT_DIFFERS):
        return None
    try:
        # Bytes: numpy reads the lines of a BytesIO faster than those of a StringIO.
        raw = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: msgspec refuses "\ud800"; only a guard
        return None
    data = _fill_empty(raw)
    columns = [*numeric, *categorical]
    dtype = np.dtype(
        [(f"f{j}", np.float64) for j in numeric] + [(f"f{j}", object) for j in categorical]
    )
    try:
        # The frame shifts every field one column to the right.
        records = np.loadtxt(
            io.BytesIO(data),
            delimiter=",",
            usecols=[j + 1 for j in columns],
            dtype=dtype,
            comments=None,
            ndmin=1,
            encoding="utf-8",
        )
    except ValueError:
        return None
    if records.shape != (len(rows),):
        return None
    out = {j: records[f"f{j}"].copy() for j in columns}
    if data is not raw:  # some field was empty
        for j in categorical:
            column = out[j]
            column[column == _MISSING] = ""
    return out


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _numeric(values: list[Any], name: str, stats: CaptureStats) -> np.ndarray:
    """Floats with NaN for missing; values that are not finite numbers become NaN and count."""
    try:
        array = np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        array = None
    if array is None or array.shape != (len(values),):
        array = np.fromiter((_float(v, name, stats) for v in values), np.float64, count=len(values))
    _drop_infinite(array, name, stats)
    return array


def _drop_infinite(array: np.ndarray, name: str, stats: CaptureStats) -> None:
    """Infinities are not numbers the profile can bin or average: missing, and counted."""
    infinite = np.isinf(array)
    if infinite.any():
        _note_invalid(name, int(infinite.sum()), math.inf, stats)
        array[infinite] = np.nan


def _float(value: Any, name: str, stats: CaptureStats) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, float):
        return value
    if isinstance(value, int) and abs(value) < _FLOAT_INT_LIMIT:  # bool included: True is 1.0
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif isinstance(value, int):  # beyond float's range
        pass
    _note_invalid(name, 1, value, stats)
    return math.nan


def _note_invalid(name: str, count: int, value: Any, stats: CaptureStats) -> None:
    stats.invalid[name] = stats.invalid.get(name, 0) + count
    stats.invalid_examples.setdefault(name, repr(value)[:40])


def _categorical(values: Sequence[str | None]) -> np.ndarray:
    """Object array of strings, None (or "") for missing."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _category(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        # As pyarrow casts a float column to text, which is how `datasets` reads a baseline.
        return str(int(value)) if value.is_integer() else repr(value)
    return msgspec.json.encode(value).decode()


def _iter_blocks(stream: BinaryReadable) -> Iterator[bytes]:
    """A stream's whole lines, about 1 MiB at a time (works on objects that cannot iterate
    lines): every block ends with a line break but the stream's last, and a line cut by a
    read comes whole in the next block."""
    pending: list[bytes | memoryview] = []
    while True:
        block = stream.read(_BLOCK)
        if not block:
            break
        cut = block.rfind(b"\n") + 1
        if not cut:
            pending.append(block)
            continue
        if pending:
            pending.append(memoryview(block)[:cut])
            head = b"".join(pending)
        else:
            head = block[:cut]
        pending = [block[cut:]] if cut < len(block) else []
        yield head
    if pending:
        yield b"".join(pending)


def _count_lines(block: bytes) -> int:
    """Lines in a block as `bytes.split(b"\n")` cuts them, the last one only when not empty."""
    breaks = int(np.count_nonzero(np.frombuffer(block, np.uint8) == _NEWLINE))
    return breaks + (not block.endswith(b"\n"))


def _plain_rows(side: _Side, rows: list[str]) -> bool:
    """Whether every row is one plain CSV row of the side's width: no line break, no quote, the
    side's number of commas (as `_plain_row` checks one row)."""
    text = "".join(rows)
    if "\n" in text or "\r" in text or '"' in text:
        return False
    if side.commas:
        return list(map(str.count, rows, repeat(","))).count(side.commas) == len(rows)
    return "," not in text and "" not in rows


class _Part(msgspec.Struct, gc=False):
    """One side of a capture line as the plain-CSV check reads it: a missing or other
    `encoding`, a `data` that is not text, any field of another type fails the typed decode,
    and the line is read untyped by the general path."""

    data: str
    encoding: Literal["CSV"]


class _Capture(msgspec.Struct, gc=False):
    endpointInput: _Part  # noqa: N815 (SageMaker's names)
    endpointOutput: _Part  # noqa: N815


class _InputCapture(msgspec.Struct, gc=False):
    """A baseline without outputs: the output side is not looked at."""

    endpointInput: _Part  # noqa: N815


class _Line(msgspec.Struct, gc=False):
    """A capture line, typed: unknown fields (eventMetadata, …) are skipped."""

    captureData: _Capture  # noqa: N815


class _InputLine(msgspec.Struct, gc=False):
    captureData: _InputCapture  # noqa: N815


def _plain_row(side: _Side, row: str) -> bool:
    """Whether a typed capture part's data is one plain CSV row of the side's width (as
    `_plain_rows` requires of every row of a block)."""
    if side.commas:
        return (
            row.count(",") == side.commas and "\n" not in row and "\r" not in row and '"' not in row
        )
    return bool(row) and "," not in row and "\n" not in row and "\r" not in row and '"' not in row


def _utf8(raw: bytes) -> bool:
    """Whether bytes are valid UTF-8. The typed decode skips the fields it does not read
    without checking them; a line that is not UTF-8 throughout is not valid JSON, as the
    untyped decode (and orjson before it) says."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


_DECODE_ERRORS: Final = (ValueError, RecursionError)
"""What msgspec raises on a line it cannot decode: DecodeError and ValidationError (both
ValueError), UnicodeDecodeError (invalid UTF-8), RecursionError (nesting too deep)."""
_JSON: Final = msgspec.json.Decoder()
_NEWLINE: Final = ord("\n")


def _content_kind(part: dict[str, Any]) -> tuple[str, Any]:
    """`("csv", text)`, `("json", text-or-value)` or `("jsonlines", text)` of a capture part."""
    encoding = part.get("encoding")
    data = part.get("data")
    if data is None:
        raise _LineError("payload has no data")
    content_type = str(part.get("observedContentType") or "").lower()
    if encoding == "CSV":
        if not isinstance(data, str):
            raise _LineError("CSV payload is not text")
        return "csv", data
    if encoding == "JSON":
        kind = "jsonlines" if "jsonlines" in content_type or "ndjson" in content_type else "json"
        return kind, data
    if encoding == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, TypeError):
            raise _LineError("payload is not valid base64 of UTF-8 text") from None
        if "jsonlines" in content_type or "ndjson" in content_type:
            return "jsonlines", text
        if "json" in content_type:
            return "json", text
        if "csv" in content_type:
            return "csv", text
        stripped = text.lstrip()
        return ("json" if stripped[:1] in ("{", "[") else "csv"), text
    raise _LineError(f"unsupported payload encoding {encoding!r}")


def _payload(side: _Side, part: Any) -> _Payload:
    """The records of one side of a capture line, in any of the supported payload forms."""
    if not isinstance(part, dict):
        # Capture configured for one side only: the window cannot be checked on this baseline.
        raise _LineError(f"no captureData.endpoint{side.role.capitalize()}", schema=True)
    kind, data = _content_kind(part)
    if kind == "csv":
        return side.csv_payload(data)
    try:
        if kind == "jsonlines":
            count, rows = 0, list[Sequence[Any]]()
            for text in str(data).splitlines():
                if text.strip():
                    n, _, batch = side.json_payload(_JSON.decode(text))
                    count += n
                    rows.extend(batch)
            return count, [], rows
        value = _JSON.decode(data) if isinstance(data, (str, bytes)) else data
    except _DECODE_ERRORS:
        raise _LineError(f"{side.role} payload is not valid JSON") from None
    return side.json_payload(value)


class _Reader:
    """One read of a window: the chunk buffers, the statistics and the schema evidence."""

    def __init__(
        self, baseline: Baseline, chunk_rows: int, max_examples: int, tolerance: float
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
        self.inputs = _Side("input", baseline.inputs)
        self.outputs = _Side("output", baseline.outputs) if baseline.outputs else None
        self.chunk_rows = chunk_rows
        self.max_examples = max_examples
        self.tolerance = tolerance
        self.stats = CaptureStats()
        self.pending = 0
        decoder: msgspec.json.Decoder[_Line] | msgspec.json.Decoder[_InputLine] = (
            msgspec.json.Decoder(_Line)
            if self.outputs is not None
            else msgspec.json.Decoder(_InputLine)
        )
        self.decode: Callable[[bytes], _Line | _InputLine] = decoder.decode
        """A line typed as the plain-CSV check reads it (`_Line`)."""
        self.decode_lines: Callable[[bytes], Sequence[_Line | _InputLine]] = decoder.decode_lines
        """The lines of a block, typed; blank lines skipped."""

    def read(
        self, streams: Iterable[tuple[str, BinaryReadable]]
    ) -> Iterator[dict[str, np.ndarray]]:
        for source, stream in streams:
            self.stats.sources += 1
            lineno = 0
            for block in _iter_blocks(stream):
                # A block of lines that are all plain CSV (the common case) in bulk, any other
                # line by line, exactly as one at a time.
                plain = self._plain(block)
                if plain:
                    yield from self._take_plain(*plain)
                    lineno += len(plain[0])
                    continue
                lines = block.split(b"\n")
                if not lines[-1]:
                    lines.pop()
                yield from self._lines(source, lineno, lines)
                lineno += len(lines)
        if self.pending:
            yield self._take()
        self._check_schema()

    def _plain(self, block: bytes) -> tuple[list[str], list[str]] | None:
        """The CSV rows of a block whose lines are each one plain CSV row per side, inputs and
        outputs; None when one is not (nothing taken). Takes what `_line` would take inline,
        line by line: the same typed decode of each line, the same checks, a block at a time.
        """
        outputs = self.outputs
        if not block.isascii() and not _utf8(block):
            return None
        try:
            lines = self.decode_lines(block)
        except _DECODE_ERRORS:
            return None
        # As many values as lines: no blank line, no value across lines (each line alone is
        # then one JSON value, as `_line` decodes it).
        if len(lines) != _count_lines(block):
            return None
        rows = [line.captureData.endpointInput.data for line in lines]
        if not _plain_rows(self.inputs, rows):
            return None
        out_rows: list[str] = []
        if outputs is not None:
            out_rows = [
                line.captureData.endpointOutput.data  # type: ignore[union-attr]
                for line in lines
            ]
            if not _plain_rows(outputs, out_rows):
                return None
        return rows, out_rows

    def _take_plain(self, rows: list[str], out_rows: list[str]) -> Iterator[dict[str, np.ndarray]]:
        """Plain rows (one a line) into the chunk buffers, a chunk at a time."""
        inputs, outputs, chunk_rows = self.inputs, self.outputs, self.chunk_rows
        start, end = 0, len(rows)
        while start < end:
            stop = min(end, start + chunk_rows - self.pending)
            if stop - start == end:
                inputs.csv_rows.extend(rows)
                if outputs is not None:
                    outputs.csv_rows.extend(out_rows)
            else:
                inputs.csv_rows.extend(rows[start:stop])
                if outputs is not None:
                    outputs.csv_rows.extend(out_rows[start:stop])
            self.pending += stop - start
            self.stats.lines += stop - start
            if self.pending >= chunk_rows:
                yield self._take()
            start = stop

    def _lines(
        self, source: str, lineno: int, raws: list[bytes]
    ) -> Iterator[dict[str, np.ndarray]]:
        """One line at a time: blank lines skipped, malformed ones counted and quoted."""
        stats, parse, chunk_rows = self.stats, self._line, self.chunk_rows
        for number, raw in enumerate(raws, lineno + 1):
            if not raw or raw.isspace():
                continue
            stats.lines += 1
            try:
                parse(raw)
            except _LineError as error:
                self._malformed(source, number, raw, error)
                continue
            if self.pending >= chunk_rows:
                yield self._take()

    def _line(self, raw: bytes) -> None:
        inputs, outputs = self.inputs, self.outputs
        # The common case inline: one plain CSV row of the right width on each side, checked
        # on the typed decode with a few C-level string scans, as `_plain` checks a block.
        # Anything else takes the general path below, which reads the line untyped and gives
        # the precise reason when a payload is unusable.
        try:
            typed = self.decode(raw)
        except _DECODE_ERRORS:
            typed = None
        if (
            typed is not None
            and _plain_row(inputs, typed.captureData.endpointInput.data)
            and (raw.isascii() or _utf8(raw))
        ):
            row = typed.captureData.endpointInput.data
            if outputs is None:
                inputs.csv_rows.append(row)
                self.pending += 1
                return
            out_row = typed.captureData.endpointOutput.data  # type: ignore[union-attr]
            if _plain_row(outputs, out_row):
                inputs.csv_rows.append(row)
                outputs.csv_rows.append(out_row)
                self.pending += 1
                return
        try:
            document = _JSON.decode(raw)
        except _DECODE_ERRORS:
            raise _LineError("not valid JSON") from None
        capture = document.get("captureData") if isinstance(document, dict) else None
        if not isinstance(capture, dict):
            raise _LineError("no captureData")
        part: Any = capture.get("endpointInput")
        out_part: Any = capture.get("endpointOutput") if outputs is not None else None
        count, csv_rows, rows = _payload(inputs, part)
        if outputs is not None:
            out_count, out_csv_rows, out_rows = _payload(outputs, out_part)
            if out_count != count:
                raise _LineError(f"{count} input records but {out_count} output records")
            outputs.add(out_csv_rows, out_rows)
        inputs.add(csv_rows, rows)
        self.pending += count

    def _malformed(self, source: str, lineno: int, raw: bytes, error: _LineError) -> None:
        self.stats.malformed += 1
        if error.schema:
            self.stats.mismatched += 1
            reasons = self.stats.schema_reasons
            if error.reason in reasons or len(reasons) < _MAX_REASONS:
                reasons[error.reason] = reasons.get(error.reason, 0) + 1
            if not self.stats.first_mismatch:
                self.stats.first_mismatch = f"{source} line {lineno}"
        if len(self.stats.examples) < self.max_examples:
            text = raw[: EXAMPLE_CHARS * 4].decode("utf-8", errors="replace").rstrip("\r\n")
            self.stats.examples.append(
                {
                    "source": source,
                    "line": lineno,
                    "reason": error.reason,
                    "text": text[:EXAMPLE_CHARS],
                }
            )

    def _take(self) -> dict[str, np.ndarray]:
        columns = self.inputs.take(self.stats)
        if self.outputs is not None:
            columns.update(self.outputs.take(self.stats))
        self.stats.records += self.pending
        self.pending = 0
        return columns

    def _check_schema(self) -> None:
        problem = schema_problem(self.stats, self.tolerance)
        if problem is not None:
            raise SchemaMismatch(problem, self.stats)


def read_capture_columns(
    baseline: Baseline,
    streams: Iterable[tuple[str, BinaryReadable]],
    *,
    chunk_rows: int = 50_000,
    max_examples: int = 5,
    schema_tolerance: float = SCHEMA_TOLERANCE,
    stats: CaptureStats | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Column chunks of a window's capture: every baseline feature, `chunk_rows` records each.

    Numeric features are float64 with NaN for missing values; categorical features are object
    arrays of strings with None for missing. `stats` (when given) is filled in as the chunks
    are read. After the last chunk, raises `SchemaMismatch` when more than `schema_tolerance`
    of the lines have records that do not fit the baseline, or when more than that share of a
    numeric feature's values are not numbers.
    """
    reader = _Reader(baseline, chunk_rows, max_examples, schema_tolerance)
    if stats is not None:
        reader.stats = stats
    yield from reader.read(streams)


def profile_capture(
    baseline: Baseline,
    streams: Iterable[tuple[str, BinaryReadable]],
    *,
    chunk_rows: int = 50_000,
    max_examples: int = 5,
    schema_tolerance: float = SCHEMA_TOLERANCE,
) -> tuple[WindowProfile, CaptureStats]:
    """The window profile of capture streams (`(source name, binary stream)` pairs).

    Memory is bounded by `chunk_rows` records, whatever the window's size. Raises
    `SchemaMismatch` as `read_capture_columns` does.
    """
    stats = CaptureStats()
    profile = empty_profile(baseline)
    for columns in read_capture_columns(
        baseline,
        streams,
        chunk_rows=chunk_rows,
        max_examples=max_examples,
        schema_tolerance=schema_tolerance,
        stats=stats,
    ):
        profile = merge(profile, profile_columns(baseline, columns))
    return profile, stats
