"""Every handler, fed malformed events and capture lines, refuses clearly and starts no work.

Each handler's own valid example event (the fixture its tests use) is broken by hypothesis in
one place: the whole event replaced by a JSON value that is not an object, a key removed, a
value retyped (a scalar where a list or object is, or the reverse), a value replaced by junk or
by a boundary value (huge numbers, dates at the ends of the calendar, blank strings), an unknown
key added, or the envelope broken (the Function URL's body, base64 flag, headers and method).

The property, per handler: the invocation either returns the handler's documented refusal (the
capture proxy's 4xx answer) or raises one of the handler's declared errors (the Powertools
parser's `ValidationError`, the handler's own error class) with a message naming the field or
the problem, never a bare `KeyError`/`TypeError`/... from deep inside; and a refused event made
no call with an effect (S3 PutObject, PutEvents, InvokeEndpoint, PutRecord, SNS Publish,
StartPipelineExecution). Mutations that no correct handler may accept (a required key removed,
an unknown key in a model that forbids them, a container where a scalar belongs, ...) must be
refused; the others may also be accepted, and then run to completion against the fakes.

The drift check's scale-out functions (the planner, one Distributed Map batch, the reducer) are
fuzzed the same way, from the planner's own output for the drift account's window.

AWS is moto in-process for the drift and quality checks (every call of the handler's clients is
recorded through botocore's `before-call` event); the capture proxy, the endpoint verifier and
the retraining trigger get recording fakes in place of their clients, which end the invocation
(`WorkStarted`, outside `Exception`, so no handler swallows it) at the first call. The drift and
quality checks also read capture objects holding malformed lines (random bytes, truncated JSON,
other encodings, values that are not finite numbers), which must be counted as malformed or
invalid in the report, never crash the run. The serving sidecar gets malformed HTTP requests
over a raw socket; a refused one never reaches the model and never becomes a capture record.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

import capture_settings
import handler
import proxy
import retrain_settings
import trigger
import verifier
import verifier_settings
from capture_format import valid_inference_id
from mlops_drift import settings as drift_settings
from mlops_drift.baseline import Baseline, BaselineError, baseline_to_dict
from mlops_drift.events import CheckRequest, ProfileBatch, ReduceRequest
from retrain_events import ACCEPTED

from tests.drift import conftest as drift_world
from tests.lambda_context import LambdaContext
from tests.quality_handler import conftest as quality_world
from tests.retrain_trigger import conftest as retrain_world
from tests.security.fuzzing import SCALE, fuzz_settings
from tests.serving_sidecar import conftest as sidecar_world

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

FUZZ = fuzz_settings(
    80,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
FEW = settings(FUZZ, max_examples=40 * SCALE)

# The calls that change something, by service: none may follow a refused event.
EFFECTS = frozenset(
    {
        "PutObject",
        "PutEvents",
        "Publish",
        "InvokeEndpoint",
        "PutRecord",
        "PutRecordBatch",
        "StartPipelineExecution",
        "PutItem",
        "UpdateItem",
        "TransactWriteItems",
    }
)
# What a message says when it names the whole event rather than one of its keys.
WHOLE_EVENT_WORDS = ("event", "object", "dictionary", "dict", "mapping", "input")


# ---- events broken in one place -----------------------------------------------------------------

Path_ = tuple[str, ...]

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BOUNDARY = st.sampled_from(
    [
        0,
        -1,
        2**31,
        2**63,
        10**30,
        -(10**30),
        1e308,
        -1e308,
        0.5,
        "",
        " ",
        "\x00",
        "NaN",
        "Infinity",
        "0001-01-01T00:00:00Z",
        "0001-01-01T02:00:00+00:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:00:00-05:00",
        "2026-11-27T06:00:00",
        "x" * 300,
        "../../etc/passwd",
        True,
        False,
        None,
    ]
)
UNKNOWN_KEY = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)


@dataclass(frozen=True)
class Broken:
    """An event broken in one place, and whether every correct handler must refuse it."""

    event: Any
    what: str
    path: Path_
    must_refuse: bool


def key_paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path of object keys in a JSON document (lists are leaves)."""
    out: list[Path_] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.append((*prefix, key))
            out.extend(key_paths(inner, (*prefix, key)))
    return out


def get_at(document: Any, path: Path_) -> Any:
    for key in path:
        document = document[key]
    return document


def set_at(document: Any, path: Path_, value: Any) -> Any:
    out = copy.deepcopy(document)
    get_at(out, path[:-1])[path[-1]] = value
    return out


def remove_at(document: Any, path: Path_) -> Any:
    out = copy.deepcopy(document)
    del get_at(out, path[:-1])[path[-1]]
    return out


def _is_container(value: Any) -> bool:
    return isinstance(value, list | dict)


@st.composite
def broken_events(
    draw: st.DrawFn,
    valid: dict[str, Any],
    *,
    required: frozenset[Path_],
    closed: frozenset[Path_],
    free: frozenset[Path_] = frozenset(),
) -> Broken:
    """`valid` broken in one place. `required`: key paths no valid event lacks; `closed`: the
    objects (by path, `()` the event itself) that refuse unknown keys; `free`: paths whose value
    the handler takes as any JSON (never retyped as a must-refuse)."""
    paths = key_paths(valid)
    kind = draw(
        st.sampled_from(["not_object", "remove", "retype", "junk", "boundary", "extra", "clear"])
    )
    if kind == "not_object":
        value = draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
        return Broken(value, f"the event is {value!r}", (), must_refuse=True)
    if kind == "extra":
        objects = [p for p in [(), *paths] if isinstance(get_at(valid, p), dict)]
        where = draw(st.sampled_from(objects))
        key = draw(UNKNOWN_KEY.filter(lambda k: k not in get_at(valid, where)))
        value = draw(JSON_VALUES)
        return Broken(
            set_at(valid, (*where, key), value),
            f"unknown key {key!r} at {where}",
            (*where, key),
            must_refuse=where in closed,
        )
    if kind == "clear":
        # The event emptied: an object with no keys at all.
        return Broken({}, "the event is {}", (), must_refuse=True)
    path = draw(st.sampled_from(paths))
    original = get_at(valid, path)
    if kind == "remove":
        return Broken(remove_at(valid, path), f"{path} removed", path, path in required)
    if kind == "retype":
        if _is_container(original):
            # Not null: an optional list or object may be null (its default).
            value = draw(JSON_SCALARS.filter(lambda v: v is not None))
        else:
            value = draw(st.lists(JSON_SCALARS, max_size=3) | st.just({"junk": 1}))
        inside_free = any(path[: len(f)] == f for f in free)
        return Broken(
            set_at(valid, path, value), f"{path} = {value!r}", path, must_refuse=not inside_free
        )
    value = draw(JSON_VALUES if kind == "junk" else BOUNDARY)
    assume(value != original)
    return Broken(set_at(valid, path, value), f"{path} = {value!r}", path, must_refuse=False)


def required_paths(model: type[BaseModel], prefix: Path_ = ()) -> frozenset[Path_]:
    """The keys a pydantic model requires (by alias), as paths."""
    return frozenset(
        (*prefix, info.alias or name)
        for name, info in model.model_fields.items()
        if info.is_required()
    )


@dataclass(frozen=True)
class Layout:
    """What a model makes of an event's keys: those it requires, the objects refusing unknown
    keys, and the keys it does not declare (ignored, so never a must-refuse when broken)."""

    required: frozenset[Path_]
    closed: frozenset[Path_]
    free: frozenset[Path_]


def layout(model: type[BaseModel], event: dict[str, Any], prefix: Path_ = ()) -> Layout:
    required = {
        (*prefix, info.alias or name)
        for name, info in model.model_fields.items()
        if info.is_required()
    }
    closed = {prefix} if model.model_config.get("extra") == "forbid" else set()
    free: set[Path_] = set()
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    for key, value in event.items():
        info = fields.get(key)
        if info is None:
            free.add((*prefix, key))
            continue
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel) and isinstance(value, dict):
            nested = layout(inner, value, (*prefix, key))
            required |= nested.required
            closed |= nested.closed
            free |= nested.free
    return Layout(frozenset(required), frozenset(closed), frozenset(free))


def assert_clear(error: BaseException) -> None:
    """A refusal of a valid event (by what the account holds) still says what is wrong."""
    assert str(error).strip(), f"{type(error).__name__} with an empty message"


def assert_names_the_problem(error: BaseException, broken: Broken) -> None:
    """A refusal's message is not empty and names the broken key (or the event as a whole)."""
    text = str(error)
    assert text.strip(), f"{type(error).__name__} with an empty message"
    keys = [str(k) for k in broken.path]
    if not keys:
        assert any(word in text.lower() for word in WHOLE_EVENT_WORDS), text
        return
    # A key is named by itself, or by the object holding it (an unknown or missing key of an
    # object whose own value is refused as a whole).
    assert any(key in text for key in keys) or any(
        word in text.lower() for word in WHOLE_EVENT_WORDS
    ), f"{text!r} names none of {keys}"


# ---- recording clients --------------------------------------------------------------------------


class WorkStarted(BaseException):
    """Raised by a recording fake at its first call: the handler accepted the event."""


@dataclass
class Calls:
    """Every AWS operation a handler called, in order, as `(service, operation)`."""

    made: list[tuple[str, str]] = field(default_factory=list)

    def effects(self) -> list[tuple[str, str]]:
        return [call for call in self.made if call[1] in EFFECTS]

    def record_boto(self, client: Any) -> Any:
        """Record every call of a real (moto-backed) boto3 client."""

        def before_call(model: Any, **_: Any) -> None:
            self.made.append((model.service_model.service_name, model.name))

        client.meta.events.register("before-call", before_call)
        return client


class StopAtFirstCall:
    """A client standing in for a boto3 one: records the call, then ends the invocation."""

    def __init__(self, service: str, calls: Calls) -> None:
        self._service = service
        self._calls = calls

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            name = "".join(part.title() for part in operation.split("_"))
            self._calls.made.append((self._service, name))
            raise WorkStarted(f"{self._service}.{name}")

        return call


# ---- the drift check ----------------------------------------------------------------------------

_BASELINE: list[Baseline] = []


def churn_baseline() -> Baseline:
    """The drift suite's baseline, built once (it takes a moment)."""
    if not _BASELINE:
        _BASELINE.append(drift_world.churn_baseline())
    return _BASELINE[0]


def _aws_env(monkeypatch: pytest.MonkeyPatch, region: str, values: dict[str, str]) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        **values,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@dataclass
class DriftAccount:
    aws: drift_world.Aws
    calls: Calls = field(repr=False)
    valid_lines: list[bytes] = field(repr=False)


@contextmanager
def drift_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[DriftAccount]:
    """moto with the drift suite's buckets and bus, its baseline, and 60 valid CSV capture
    lines in the window's first hour; the handler's clients recorded."""
    import boto3
    from moto import mock_aws

    w = drift_world
    _aws_env(
        monkeypatch,
        w.REGION,
        {
            drift_settings.ENV_CAPTURE_BUCKET: w.CAPTURE_BUCKET,
            drift_settings.ENV_BASELINE_BUCKET: w.BASELINE_BUCKET,
            drift_settings.ENV_REPORTS_BUCKET: w.REPORTS_BUCKET,
            drift_settings.ENV_EVENT_BUS: w.BUS,
            drift_settings.ENV_THRESHOLDS: json.dumps({"psi": 0.2, "drift_share": 0.5}),
        },
    )
    with mock_aws():
        aws = w.provision(lambda service: boto3.client(service, region_name=w.REGION))
        aws.put_baseline(churn_baseline())
        lines = w.capture_lines(
            w.churn_records(7, 60), "csv", w.WINDOW_END.replace(hour=3), first_id=7000
        )
        aws.put_capture("AllTraffic", w.WINDOW_END.replace(hour=3), "valid.jsonl", lines)
        calls = Calls()
        monkeypatch.setattr(
            handler, "s3", calls.record_boto(boto3.client("s3", region_name=w.REGION))
        )
        monkeypatch.setattr(
            handler, "eventbridge", calls.record_boto(boto3.client("events", region_name=w.REGION))
        )
        yield DriftAccount(aws, calls, lines)


DRIFT_EVENT = drift_world.load_event("check_request.json")
DRIFT_DECLARED = (ValidationError, handler.DriftCheckError, BaselineError)


@pytest.fixture(scope="module")
def drift() -> Iterator[DriftAccount]:
    """One account for every example of a test (set up in half a second, not per example)."""
    with pytest.MonkeyPatch.context() as monkeypatch, drift_account(monkeypatch) as account:
        yield account


def _refuses_without_effects(
    drift: DriftAccount, broken: Broken, run: Callable[[Any], dict[str, Any]]
) -> dict[str, Any] | None:
    """The handler's answer to `broken.event`, or None when it refused it (clearly, with no
    effect); a must-refuse event that is accepted fails."""
    note(broken.what)
    drift.calls.made.clear()
    try:
        result = run(broken.event)
    except DRIFT_DECLARED as error:
        assert_names_the_problem(error, broken)
        assert drift.calls.effects() == []
        assert drift.aws.received() == []
        if isinstance(error, ValidationError):
            assert drift.calls.made == [], "a refused event was read past the door"
        return None
    assert not broken.must_refuse, f"accepted: {broken.what}"
    drift.aws.received()  # drained: the next example's refusal must put nothing
    return result


@FUZZ
@example(
    # Found by this test: a window ending at the calendar's start overflowed in the handler
    # (a bare OverflowError after the baseline was read); now refused by the event's model.
    broken=Broken(
        {**DRIFT_EVENT, "window_end": "0001-01-01T00:00:00Z"},
        "window_end at year 1",
        ("window_end",),
        must_refuse=True,
    )
)
@example(
    # Found by this test: an end in the last hours of year 9999 at a negative offset could not
    # be converted to UTC (a bare OverflowError out of the model's validator).
    broken=Broken(
        {**DRIFT_EVENT, "window_end": "9999-12-31T23:00:00-05:00"},
        "window_end past year 9999 in UTC",
        ("window_end",),
        must_refuse=True,
    )
)
@example(
    # Found by this test: a min_rows beyond 64 bits passed the model and failed writing the
    # report (orjson: "Integer exceeds 64-bit range"); now bounded as the stack config bounds it.
    broken=Broken(
        {**DRIFT_EVENT, "min_rows": 10**30},
        "min_rows = 10**30",
        ("min_rows",),
        must_refuse=True,
    )
)
@given(
    broken=broken_events(
        DRIFT_EVENT,
        required=required_paths(CheckRequest),
        closed=frozenset({()}),
        free=frozenset({("thresholds",), ("feature_thresholds",)}),
    )
)
def test_drift_check_refuses_malformed_events_without_writing(
    broken: Broken, drift: DriftAccount
) -> None:
    reports = drift.aws.keys(drift_world.REPORTS_BUCKET)
    result = _refuses_without_effects(
        drift, broken, lambda event: handler.check_handler(event, drift_world.FakeContext())
    )
    if result is None:
        assert drift.aws.keys(drift_world.REPORTS_BUCKET) == reports
        return
    assert result["report"]["json"].endswith("/report.json")


# ---- the scale-out functions: plan, one Map batch, reduce ---------------------------------------


@dataclass(frozen=True)
class ScaleOut:
    """Valid events of the three scale-out functions, for the drift account's window."""

    batch: dict[str, Any]
    reduce: dict[str, Any]


@pytest.fixture(scope="module")
def scaleout(drift: DriftAccount) -> ScaleOut:
    """The state machine's path played once: the window planned and every object profiled, so
    a reducer that accepts an event completes."""
    context = drift_world.FakeContext()
    plan = handler.plan_handler(copy.deepcopy(DRIFT_EVENT), context)
    items = json.loads(drift.aws.get(plan["manifest_bucket"], plan["manifest_key"]))
    batch = {"BatchInput": {"run_id": plan["run_id"], "request": plan["request"]}, "Items": items}
    handler.profile_handler(copy.deepcopy(batch), context)
    drift.aws.received()
    return ScaleOut(batch, {**drift_world.load_event("reduce_input.json"), **plan})


@FUZZ
@given(
    broken=broken_events(
        DRIFT_EVENT,
        required=required_paths(CheckRequest),
        closed=frozenset({()}),
        free=frozenset({("thresholds",), ("feature_thresholds",)}),
    )
)
def test_scaleout_planner_refuses_malformed_events_without_writing(
    broken: Broken, drift: DriftAccount, scaleout: ScaleOut
) -> None:
    context = drift_world.FakeContext()
    result = _refuses_without_effects(
        drift, broken, lambda event: handler.plan_handler(event, context)
    )
    if result is not None:
        assert result["manifest_key"].endswith("/manifest.json")


_BATCH_LAYOUT = layout(ProfileBatch, drift_world.load_event("map_batch.json"))
_REDUCE_LAYOUT = layout(ReduceRequest, drift_world.load_event("reduce_input.json"))


@FUZZ
@given(data=st.data())
def test_scaleout_batch_refuses_malformed_events_without_writing(
    data: st.DataObject, drift: DriftAccount, scaleout: ScaleOut
) -> None:
    broken = data.draw(
        broken_events(
            scaleout.batch,
            required=_BATCH_LAYOUT.required,
            closed=_BATCH_LAYOUT.closed,
            free=_BATCH_LAYOUT.free | {("BatchInput", "request", "thresholds")},
        )
    )
    context = drift_world.FakeContext()
    result = _refuses_without_effects(
        drift, broken, lambda event: handler.profile_handler(event, context)
    )
    if result is not None:
        assert result["partial_key"].endswith(".json")


@FUZZ
@given(data=st.data())
def test_scaleout_reducer_refuses_malformed_events_without_writing(
    data: st.DataObject, drift: DriftAccount, scaleout: ScaleOut
) -> None:
    broken = data.draw(
        broken_events(
            scaleout.reduce,
            required=_REDUCE_LAYOUT.required,
            closed=_REDUCE_LAYOUT.closed,
            free=_REDUCE_LAYOUT.free | {("request", "thresholds")},
        )
    )
    context = drift_world.FakeContext()
    result = _refuses_without_effects(
        drift, broken, lambda event: handler.reduce_handler(event, context)
    )
    if result is not None:
        assert result["report"]["json"].endswith("/report.json")


# ---- malformed capture lines --------------------------------------------------------------------

_VALID_SAMPLE = (drift_world.FIXTURES / "capture_csv.jsonl").read_bytes().splitlines()[0]


def _with_input(data: str, line: bytes = _VALID_SAMPLE) -> bytes:
    record = json.loads(line)
    record["captureData"]["endpointInput"]["data"] = data
    return json.dumps(record, separators=(",", ":")).encode()


# Values that are not finite numbers: counted invalid (profiled as missing) or malformed.
NOT_FINITE = st.sampled_from(["Infinity", "-inf", "inf", "1e999", "-1e999", "9" * 400, "1e400"])
# "NaN" in a CSV payload is how a missing value is written: profiled as missing, not refused.
NAN = st.sampled_from(["NaN", "nan", "-NaN"])


def _non_blank(line: bytes) -> bool:
    return bool(line.strip()) and b"\n" not in line


# A record in Latin-1, not UTF-8: its contract is `déjà` with the é and à as single bytes.
_LATIN_1 = json.dumps(
    json.loads(_with_input("12,29.85,d\u00e9j\u00e0")), ensure_ascii=False
).encode("latin-1")
# Lines that are not capture records at all: each must be counted malformed.
LINE_JUNK = st.one_of(
    st.binary(min_size=1, max_size=200).filter(_non_blank),
    st.integers(1, len(_VALID_SAMPLE) - 1).map(lambda n: _VALID_SAMPLE[:n]).filter(_non_blank),
    st.sampled_from(["utf-16", "utf-16-be", "utf-32"])
    .map(lambda codec: _VALID_SAMPLE.decode().encode(codec))
    .filter(_non_blank),
    st.just(_LATIN_1),
    st.just(b"\xef\xbb\xbf" + _VALID_SAMPLE.replace(b'"captureData"', b'"captureDat\xff"')),
    JSON_VALUES.filter(lambda v: not isinstance(v, dict))
    .map(lambda v: json.dumps(v).encode())
    .filter(_non_blank),
    st.just(b'{"captureData": null}'),
    st.just(b"{}"),
)
# Capture records whose numeric input values are not finite numbers (one or both).
VALUE_JUNK = st.tuples(NOT_FINITE, NOT_FINITE | st.just("29.85")).map(
    lambda p: _with_input(f"{p[0]},{p[1]},monthly")
)
NAN_RECORDS = st.tuples(NAN, NAN | st.just("29.85")).map(
    lambda p: _with_input(f"{p[0]},{p[1]},yearly")
)


@dataclass(frozen=True)
class Junk:
    lines: list[bytes]
    value_lines: int
    """Of them, records whose numeric values are not finite (invalid, or malformed)."""
    nan_lines: int
    """Of them, records with NaN values (missing values: still records)."""


JUNK = st.tuples(
    st.lists(LINE_JUNK, min_size=1, max_size=6),
    st.lists(VALUE_JUNK, max_size=3),
    st.lists(NAN_RECORDS, max_size=2),
).map(lambda p: Junk(p[0] + p[1] + p[2], len(p[1]), len(p[2])))


@FEW
@given(junk=JUNK, at=st.integers(0, 60), gz=st.booleans())
def test_drift_check_counts_malformed_capture_lines_and_completes(
    junk: Junk, at: int, gz: bool, drift: DriftAccount
) -> None:
    w = drift_world
    hour = w.WINDOW_END.replace(hour=4)
    for name in ("junk.jsonl", "junk.jsonl.gz"):
        key = f"{drift_settings.capture_prefix(w.ENDPOINT)}AllTraffic/{hour:%Y/%m/%d/%H}/{name}"
        drift.aws.s3.delete_object(Bucket=w.CAPTURE_BUCKET, Key=key)
    lines = drift.valid_lines[:at] + junk.lines + drift.valid_lines[at:]
    drift.aws.put_capture("AllTraffic", hour, "junk.jsonl", lines, gz=gz)
    drift.calls.made.clear()
    try:
        result = handler.check_handler(w.load_event("check_request.json"), w.FakeContext())
    except DRIFT_DECLARED as error:  # a refusal is allowed, if clear and without writes
        assert_clear(error)
        assert drift.calls.effects() == []
        return
    report = drift.aws.report()
    drift.aws.received()
    note(f"result {result}, malformed {report['malformed']}")
    line_junk = len(junk.lines) - junk.value_lines - junk.nan_lines
    malformed = result["malformed"]
    # Lines that are no record are malformed, each once; records with values that are not
    # finite are malformed or have those values counted invalid, never profiled as numbers.
    assert line_junk <= malformed <= line_junk + junk.value_lines
    assert result["rows"] == 2 * 60 + len(junk.lines) - malformed
    assert report["malformed"]["lines"] == 2 * 60 + len(junk.lines)
    invalid = sum(report["malformed"]["invalid_values"].values())
    assert malformed - line_junk + invalid >= junk.value_lines


# ---- the quality check --------------------------------------------------------------------------


@dataclass
class QualityAccount:
    aws: quality_world.Aws
    calls: Calls = field(repr=False)
    module: Any = field(repr=False)


QUALITY_EVENT = quality_world.load_event()


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualityAccount]:
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        quality_account(monkeypatch, tmp_path_factory.mktemp("quality")) as account,
    ):
        yield account


@contextmanager
def quality_account(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> Iterator[QualityAccount]:
    """moto with the quality suite's buckets and baseline, 40 predictions (01:00-04:00) with
    their labels; the real engine; the handler's client recorded."""
    import importlib

    import boto3
    from moto import mock_aws

    q = quality_world
    module = importlib.import_module("quality_handler")
    _aws_env(
        monkeypatch,
        q.REGION,
        {
            drift_settings.QUALITY_ENV_CAPTURE_BUCKET: q.CAPTURE_BUCKET,
            drift_settings.QUALITY_ENV_BASELINE_BUCKET: q.BASELINE_BUCKET,
            drift_settings.QUALITY_ENV_REPORTS_BUCKET: q.REPORTS_BUCKET,
            drift_settings.QUALITY_ENV_SPILL_DIR: str(tmp / "spill"),
        },
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name=q.REGION)
        for bucket in (q.CAPTURE_BUCKET, q.BASELINE_BUCKET, q.REPORTS_BUCKET):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": q.REGION}
            )
        s3.put_object(
            Bucket=q.BASELINE_BUCKET,
            Key=drift_settings.BASELINE_KEY.format(model=q.MODEL),
            Body=json.dumps(baseline_to_dict(churn_baseline())).encode(),
        )
        records = [
            (f"evt-{i:04d}", q.at(1 + i % 3, i % 50), ("monthly", "yearly")[i % 2], (i % 10) / 10)
            for i in range(40)
        ]
        s3.put_object(
            Bucket=q.CAPTURE_BUCKET,
            Key=f"{drift_settings.capture_prefix(q.ENDPOINT)}AllTraffic/{q.hour_path(q.at(1))}valid.jsonl",
            Body=q.capture_lines(records),
        )
        labels = [(event_id, str(i % 2)) for i, (event_id, *_) in enumerate(records)]
        s3.put_object(
            Bucket=q.CAPTURE_BUCKET,
            Key=f"{drift_settings.groundtruth_prefix(q.ENDPOINT)}{q.hour_path(q.at(4))}labels.jsonl",
            Body=q.label_lines(labels),
        )
        calls = Calls()
        monkeypatch.setattr(module, "s3", calls.record_boto(s3))
        monkeypatch.setattr(module, "featurestore", StopAtFirstCall("featurestore", calls))
        yield QualityAccount(q.Aws(s3=s3), calls, module)


@FUZZ
@example(
    # Found by this test: the windows of an end early in year 1 (the label delay and the hours
    # before it) overflowed in the handler, a bare OverflowError after the baseline was read.
    broken=Broken(
        {**QUALITY_EVENT, "window_end": "0001-01-01T02:00:00+00:00"},
        "window_end near year 1",
        ("window_end",),
        must_refuse=True,
    )
)
@example(
    broken=Broken(
        {**QUALITY_EVENT, "window_end": "9999-12-31T23:00:00-05:00"},
        "window_end past year 9999 in UTC",
        ("window_end",),
        must_refuse=True,
    )
)
@given(
    broken=broken_events(
        QUALITY_EVENT,
        required=frozenset(
            {("model",), ("endpoint",), ("window_hours",), ("label_delay_hours",), ("problem",)}
        ),
        closed=frozenset({()}),
    )
)
def test_quality_check_refuses_malformed_events_without_writing(
    broken: Broken, quality: QualityAccount
) -> None:
    note(broken.what)
    reports = quality.aws.keys(quality_world.REPORTS_BUCKET)
    quality.calls.made.clear()
    declared = (ValidationError, quality.module.QualityCheckError, BaselineError)
    try:
        quality.module.lambda_handler(broken.event, quality_world.FakeContext())
    except declared as error:
        assert_names_the_problem(error, broken)
        assert quality.calls.effects() == []
        if isinstance(error, ValidationError):
            assert quality.calls.made == [], "a refused event was read past the door"
        assert quality.aws.keys(quality_world.REPORTS_BUCKET) == reports
        return
    except WorkStarted:
        # Only `sensitive_from` reaches the feature store, and only once the event parsed.
        assert "sensitive_from" in json.dumps(broken.event)
        return
    assert not broken.must_refuse, f"accepted: {broken.what}"


def _with_score(score: str) -> bytes:
    return (
        quality_world.capture_lines([("evt-junk", quality_world.at(2), "monthly", 0.5)])
        .rstrip(b"\n")
        .replace(b'"data":"0.5"', json.dumps({"data": score})[1:-1].encode())
    )


# Predictions that are no probability: each is an invalid prediction (or a malformed line).
SCORE_JUNK = st.one_of(
    NOT_FINITE, st.sampled_from(["-0.5", "1.5", "", "yes", "[0.5]", "0x1p-1"])
).map(_with_score)


@FEW
@given(
    junk=st.tuples(st.lists(LINE_JUNK, min_size=1, max_size=6), st.lists(SCORE_JUNK, max_size=3)),
    gz=st.booleans(),
)
def test_quality_check_counts_malformed_capture_lines_and_completes(
    junk: tuple[list[bytes], list[bytes]], gz: bool, quality: QualityAccount
) -> None:
    import gzip

    q = quality_world
    line_junk, score_lines = junk
    # Each prediction its own event id, so none is a duplicate of another.
    score_junk = [
        line.replace(b"evt-junk", f"evt-junk-{i}".encode()) for i, line in enumerate(score_lines)
    ]
    key = f"{drift_settings.capture_prefix(q.ENDPOINT)}AllTraffic/{q.hour_path(q.at(2))}junk.jsonl"
    for name in (key, key + ".gz"):
        quality.aws.s3.delete_object(Bucket=q.CAPTURE_BUCKET, Key=name)
    body = b"\n".join(line_junk + score_junk) + b"\n"
    if gz:
        key, body = key + ".gz", gzip.compress(body)
    quality.aws.put(q.CAPTURE_BUCKET, key, body)
    quality.calls.made.clear()
    try:
        result = quality.module.lambda_handler(q.load_event(), q.FakeContext())
    except (quality.module.QualityCheckError, BaselineError) as error:
        assert_clear(error)
        assert quality.calls.effects() == []
        return
    report = json.loads(
        quality.aws.s3.get_object(Bucket=q.REPORTS_BUCKET, Key=result["report"].split("/", 3)[3])[
            "Body"
        ].read()
    )
    counts = report["counts"]["capture"]
    malformed = sum(counts["malformed"].values())
    invalid = sum(counts["invalid_prediction"].values())
    note(f"counts {counts}")
    assert counts["lines"] == 40 + len(line_junk) + len(score_junk)
    assert malformed >= len(line_junk) - counts["missing_event_id"]
    assert malformed + invalid + counts["missing_event_id"] == len(line_junk) + len(score_junk)
    assert counts["predictions"] == 40


# ---- the capture proxy --------------------------------------------------------------------------

PROXY_FIXTURES = Path(__file__).parents[1] / "capture_proxy" / "fixtures"
PROXY_EVENTS = {
    name: json.loads((PROXY_FIXTURES / name).read_text())
    for name in (
        "function_url_json.json",
        "function_url_csv.json",
        "http_api_csv.json",
        "function_url_binary.json",
    )
}


class FakeRuntime:
    """`sagemaker-runtime`: records InvokeEndpoint, answers as the model would."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.bodies: list[bytes] = []

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        import io

        self.calls.made.append(("sagemaker-runtime", "InvokeEndpoint"))
        self.bodies.append(params["Body"])
        return {"Body": io.BytesIO(b"0.5"), "ContentType": "text/csv"}


class FakeFirehose:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def put_record(self, **params: Any) -> dict[str, Any]:
        self.calls.made.append(("firehose", "PutRecord"))
        return {"RecordId": "1", "Encrypted": False}


@st.composite
def broken_proxy_events(draw: st.DrawFn) -> Broken:
    """A Function URL / HTTP API event broken in its envelope or its request."""
    valid = PROXY_EVENTS[draw(st.sampled_from(sorted(PROXY_EVENTS)))]
    kind = draw(st.sampled_from(["generic", "base64", "body", "inference_id", "method", "headers"]))
    if kind == "generic":
        return draw(
            broken_events(
                valid,
                required=frozenset(
                    {
                        ("requestContext",),
                        ("requestContext", "http"),
                        ("requestContext", "http", "method"),
                    }
                ),
                closed=frozenset(),
                free=frozenset({("requestContext", "authorizer")}),
            )
        )
    if kind == "base64":
        junk = draw(st.text(max_size=40).filter(_invalid_base64))
        event = {**valid, "isBase64Encoded": True, "body": junk}
        return Broken(event, f"base64 body {junk!r}", ("body",), must_refuse=True)
    if kind == "body":
        body = draw(st.sampled_from([None, ""]))
        event = {**valid, "body": body}
        if body is None:
            event.pop("body")
        return Broken(event, f"body {body!r}", ("body",), must_refuse=True)
    if kind == "inference_id":
        given_id = draw(
            st.text(max_size=90).filter(lambda t: not valid_inference_id(t))
            | st.sampled_from(
                ["", " ", "a" * 65, "id with space", "id/slash", "\u00e9t\u00e9", "x\ty"]
            )
        )
        headers = {**valid["headers"], "X-Inference-Id": given_id}
        return Broken(
            {**valid, "headers": headers}, f"X-Inference-Id {given_id!r}", ("X-Inference-Id",), True
        )
    if kind == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"]))
        event = set_at(valid, ("requestContext", "http", "method"), method)
        return Broken(event, f"method {method}", ("method",), must_refuse=method.upper() != "POST")
    value = draw(
        JSON_VALUES.filter(
            lambda v: (
                not (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
                and v is not None
            )
        )
    )
    return Broken({**valid, "headers": value}, f"headers {value!r}", ("headers",), must_refuse=True)


def _invalid_base64(text: str) -> bool:
    import binascii

    try:
        return not base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return True


@FUZZ
@given(broken=broken_proxy_events())
def test_capture_proxy_answers_4xx_and_neither_invokes_nor_captures(
    broken: Broken, monkeypatch: pytest.MonkeyPatch
) -> None:
    note(broken.what)
    for name, value in {
        capture_settings.ENV_ENDPOINT_NAME: "churn-serverless",
        capture_settings.ENV_VARIANT_NAME: "AllTraffic",
        capture_settings.ENV_DELIVERY_STREAM: "mlops-dev-capture-churn-serverless",
        capture_settings.ENV_SAMPLING_PERCENT: "100",
    }.items():
        monkeypatch.setenv(name, value)
    calls = Calls()
    runtime = FakeRuntime(calls)
    monkeypatch.setattr(proxy, "runtime", runtime)
    monkeypatch.setattr(proxy, "firehose", FakeFirehose(calls))
    try:
        answer = proxy.lambda_handler(broken.event, PROXY_CONTEXT)
    except (ValidationError, proxy.MalformedEventError) as error:
        assert_names_the_problem(error, broken)
        assert calls.made == []
        return
    status = answer["statusCode"]
    if 400 <= status < 500:
        message = json.loads(answer["body"])["message"]
        assert message.strip()
        assert calls.made == [], f"{status} {message} after {calls.made}"
        return
    assert not broken.must_refuse, f"{status} for {broken.what}"
    assert status == 200
    assert calls.made[0] == ("sagemaker-runtime", "InvokeEndpoint")
    # What was forwarded is the event's body, decoded as the event says.
    event = broken.event
    raw = event["body"]
    sent = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    assert runtime.bodies == [sent]


PROXY_CONTEXT = LambdaContext(function_name="mlops-dev-capture-proxy-churn")


# ---- the endpoint verifier ----------------------------------------------------------------------

VERIFIER_FIXTURES = Path(__file__).parents[1] / "endpoint_verifier" / "fixtures"
VERIFIER_EVENTS = {
    name: json.loads((VERIFIER_FIXTURES / name).read_text())
    for name in ("endpoint_state_change.json", "manual_endpoints.json", "scheduled_all.json")
}


def _broken_verifier_event(name: str) -> st.SearchStrategy[Broken]:
    event = VERIFIER_EVENTS[name]
    model = verifier.VerifyRequest if "endpoints" in event else verifier.EndpointStateChange
    shape = layout(model, event)
    # `endpoints` is "all" or a list of names: a list where "all" was is no retyping to refuse
    # (found by `make fuzz`: ["0"] names an endpoint "0", a valid SageMaker name).
    free = shape.free | ({("endpoints",)} if "endpoints" in event else set())
    return broken_events(event, required=shape.required, closed=shape.closed, free=free)


@FUZZ
@given(broken=st.sampled_from(sorted(VERIFIER_EVENTS)).flatmap(_broken_verifier_event))
def test_endpoint_verifier_refuses_malformed_events_before_any_call(
    broken: Broken, monkeypatch: pytest.MonkeyPatch
) -> None:
    note(broken.what)
    for name, value in {
        verifier_settings.ENV_PARAMETER_PREFIX: "/mlops-platform/prod/endpoints",
        verifier_settings.ENV_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:platform",
        verifier_settings.ENV_EVENT_BUS: "mlops-platform-prod",
    }.items():
        monkeypatch.setenv(name, value)
    calls = Calls()
    clients = verifier.Clients(
        sagemaker=StopAtFirstCall("sagemaker", calls),
        ssm=StopAtFirstCall("ssm", calls),
        sns=StopAtFirstCall("sns", calls),
        events=StopAtFirstCall("events", calls),
    )
    monkeypatch.setattr(verifier, "lambda_clients", lambda: clients)
    try:
        verifier.lambda_handler(broken.event, VERIFIER_CONTEXT)
    except verifier.BadEventError as error:
        assert_names_the_problem(error, broken)
        assert calls.made == []
        return
    except WorkStarted:
        assert not broken.must_refuse, f"accepted: {broken.what}"
        # Accepted: the first call reads the intended state or the endpoint, never notifies.
        assert calls.made[0][0] in {"ssm", "sagemaker"}, calls.made
        return
    # Accepted without a call (an EventBridge event of an endpoint not named: nothing to do).
    assert not broken.must_refuse, f"accepted: {broken.what}"


VERIFIER_CONTEXT = LambdaContext(
    function_name="mlops-platform-prod-endpoint-verifier", region="us-east-1"
)


# ---- the retraining trigger ---------------------------------------------------------------------

RETRAIN_EVENTS = {
    name: retrain_world.load_event(name)
    for name in (
        "drift_detected.json",
        "alarm_state_change.json",
        "retraining_requested.json",
        "model_package_approved.json",
    )
}


def _broken_retrain_event(name: str) -> st.SearchStrategy[Broken]:
    event = RETRAIN_EVENTS[name]
    model = ACCEPTED[(event["source"], event["detail-type"])]
    shape = layout(model, event)
    return broken_events(event, required=shape.required, closed=shape.closed, free=shape.free)


def _dispatch(calls: Calls) -> int:
    """The GitHub dispatch, recorded (it is an effect too)."""
    calls.made.append(("github", "Dispatch"))
    return 204


@FUZZ
@example(
    # Found by `make fuzz`: an alarm's state time at the end of year 9999 at a negative offset
    # has no UTC time; converting it raised a bare OverflowError in the trigger.
    broken=Broken(
        {
            **RETRAIN_EVENTS["alarm_state_change.json"],
            "detail": {
                **RETRAIN_EVENTS["alarm_state_change.json"]["detail"],
                "state": {
                    **RETRAIN_EVENTS["alarm_state_change.json"]["detail"]["state"],
                    "timestamp": "9999-12-31T23:00:00-05:00",
                },
            },
        },
        "detail.state.timestamp past year 9999 in UTC",
        ("detail", "state", "timestamp"),
        must_refuse=True,
    )
)
@given(broken=st.sampled_from(sorted(RETRAIN_EVENTS)).flatmap(_broken_retrain_event))
def test_retraining_trigger_refuses_malformed_events_before_any_call(
    broken: Broken, monkeypatch: pytest.MonkeyPatch
) -> None:
    note(broken.what)
    r = retrain_world
    env = trigger.Env.read(
        {
            retrain_settings.ENV_TABLE: r.TABLE,
            retrain_settings.ENV_EVENT_BUS: r.BUS,
            retrain_settings.ENV_TOPIC_ARN: f"arn:aws:sns:{r.REGION}:{r.ACCOUNT}:{r.TOPIC}",
            retrain_settings.ENV_MODELS: retrain_settings.models_env(r.MODELS),
            retrain_settings.ENV_COOLDOWN_HOURS: str(r.COOLDOWN_HOURS),
            retrain_settings.ENV_DAILY_CAP: str(r.DAILY_CAP),
            retrain_settings.ENV_AUDIT_TTL_DAYS: str(r.AUDIT_TTL_DAYS),
        }
    )
    calls = Calls()
    clients = trigger.Clients(
        **{
            service: StopAtFirstCall(service, calls)
            for service in ("dynamodb", "sagemaker", "budgets", "sns", "events", "secrets")
        },
        send=lambda *args, **kwargs: _dispatch(calls),
    )
    try:
        trigger.handle(broken.event, r.FakeContext(), env, clients, r.Clock())
    except trigger.BadEventError as error:
        assert_names_the_problem(error, broken)
        assert calls.made == []
        return
    except WorkStarted:
        assert not broken.must_refuse, f"accepted: {broken.what}"
        # Accepted: the decision is claimed (idempotency) before anything else is done.
        assert calls.made[0] == ("dynamodb", "PutItem"), calls.made
        assert calls.effects() == [("dynamodb", "PutItem")]
        return
    # Accepted and ignored without a call (a package state that is not an approval, ...).
    assert not broken.must_refuse, f"accepted: {broken.what}"
    assert calls.made == []


# ---- the serving sidecar ------------------------------------------------------------------------


@dataclass
class SidecarUnderTest:
    running: sidecar_world.Running
    model: sidecar_world.FakeModel

    def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send raw bytes, close the writing side, read the answer: `(status, body)`."""
        with socket.create_connection(("127.0.0.1", self.running.sidecar.port), timeout=10) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        assert self.running.sidecar.wait_idle(5) == 0
        answer = b"".join(chunks)
        if not answer:
            return 0, b""
        response = http.client.HTTPResponse(_Replay(answer))  # type: ignore[arg-type]
        response.begin()
        return response.status, response.read()


class _Replay:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> Any:
        import io

        return io.BytesIO(self.data)


SIDECAR_BUCKET = "mlops-fuzz-sidecar-capture"


@pytest.fixture(scope="module")
def sidecar() -> Iterator[SidecarUnderTest]:
    with pytest.MonkeyPatch.context() as monkeypatch, sidecar_account(monkeypatch) as car:
        yield car


@contextmanager
def sidecar_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[SidecarUnderTest]:
    """The serving sidecar suite's world: the fake model, S3 and KMS under moto, one sidecar
    (its capture in a bucket of its own: the drift account may be live in this process)."""
    import boto3
    from moto import mock_aws
    from serving_sidecar.proxy import Sidecar

    w = sidecar_world
    _aws_env(monkeypatch, w.REGION, {})
    fake = w.FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), w._model_handler(fake))
    server.daemon_threads = True
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=w.REGION)
            s3.create_bucket(
                Bucket=SIDECAR_BUCKET, CreateBucketConfiguration={"LocationConstraint": w.REGION}
            )
            key = boto3.client("kms", region_name=w.REGION).create_key()["KeyMetadata"]["Arn"]
            store = w.Store(s3=s3, key_arn=key)
            capture = w.capture_config(store, bucket=SIDECAR_BUCKET)
            config = w.proxy_config(fake, capture, model_timeout=2.0)
            car = Sidecar(config, s3, clock=w.Clock(w.T0))
            car.start()
            try:
                yield SidecarUnderTest(w.Running(car, w.Clock(w.T0)), fake)
            finally:
                car.stop()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=90,
)


@st.composite
def malformed_requests(draw: st.DrawFn) -> tuple[bytes, str]:
    """A POST /invocations broken in one place, as raw bytes, and what was broken."""
    body = draw(st.binary(max_size=200))
    headers = {"Host": "127.0.0.1", "Content-Type": "text/csv", "Content-Length": str(len(body))}
    kind = draw(
        st.sampled_from(["inference_id", "no_length", "bad_length", "short", "chunked", "too_big"])
    )
    if kind == "inference_id":
        given_id = draw(
            HEADER_TEXT.filter(lambda t: not _valid_header_id(t))
            | st.sampled_from(["", " ", "a" * 65, "id with space", "\u00e9t\u00e9", "a/b"])
        )
        headers["X-Inference-Id"] = given_id
    elif kind == "no_length":
        del headers["Content-Length"]
    elif kind == "bad_length":
        headers["Content-Length"] = draw(
            st.sampled_from(["-1", "abc", "1.5", "0x10", "", " ", "1 2", "-0x1"])
        )
    elif kind == "short":
        headers["Content-Length"] = str(len(body) + draw(st.integers(1, 1000)))
    elif kind == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        del headers["Content-Length"]
    else:
        headers["Content-Length"] = str(draw(st.integers(10**7, 10**30)))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    raw = f"POST /invocations HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body
    return raw, kind


def _valid_header_id(text: str) -> bool:
    # The server strips the header's surrounding whitespace before the sidecar sees it.
    return valid_inference_id(text.strip(" \t"))


@FUZZ
@given(request=malformed_requests())
def test_serving_sidecar_refuses_malformed_requests_before_the_model(
    request: tuple[bytes, str], sidecar: SidecarUnderTest
) -> None:
    raw, kind = request
    note(f"{kind}: {raw[:300]!r}")
    sidecar.model.seen.clear()
    status, body = sidecar.send(raw)
    assert 400 <= status < 500, f"{status} {body[:200]!r}"
    assert json.loads(body)["message"].strip()
    assert sidecar.model.seen == []
    assert sidecar.running.sidecar.capture.buffered() == 0
    assert sidecar.running.sidecar.capture.flush() == 0


@FEW
@given(body=st.binary(min_size=1, max_size=300), content_type=HEADER_TEXT)
def test_serving_sidecar_forwards_junk_bodies_unchanged(
    body: bytes, content_type: str, sidecar: SidecarUnderTest
) -> None:
    # A well-framed request is the model's to judge: it gets the bytes as sent, and a model's
    # refusal (4xx) is not captured.
    sidecar.model.seen.clear()
    sidecar.model.answer = lambda seen: sidecar_world.Answer(400, b"bad input", "text/plain")
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    status, _ = sidecar.send(head + body)
    assert status == 400
    assert [seen.body for seen in sidecar.model.seen] == [body]
    assert sidecar.running.sidecar.capture.buffered() == 0
