"""The capture reader's bulk path (plain one-row CSV lines, read a block and a chunk at a time)
gives exactly what the careful path (one line, one field at a time) gives.

`slow()` switches the bulk path off: every line goes through `_Reader._line` and every chunk's
CSV rows are split and converted field by field, as before the bulk path existed.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_drift import capture
from mlops_drift.baseline import Baseline, build_baseline
from mlops_drift.capture import CaptureStats, profile_capture, read_capture_columns
from mlops_drift.window import window_to_dict


def make_baseline() -> Baseline:
    rng = np.random.default_rng(11)
    n = 400
    columns: dict[str, np.ndarray] = {
        "age": rng.integers(18, 80, n).astype(float),
        "plan": rng.choice(np.array(["monthly", "yearly", "nan"], dtype=object), n),
        "income": rng.lognormal(10.8, 0.4, n),
        "score": rng.random(n),
    }
    return build_baseline(columns, categorical=["plan"], outputs=["score"])


BASELINE = make_baseline()
"""Inputs age (numeric), plan (categorical), income (numeric); output score."""


def capture_line(data: Any, out: Any = "0.5", *, encoding: str = "CSV") -> str:
    return orjson.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "data": out,
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-27T10:00:00Z"},
            "eventVersion": "0",
        }
    ).decode()


def streams(*lines: str) -> list[tuple[str, io.BytesIO]]:
    return [("mem.jsonl", io.BytesIO(("\n".join(lines) + "\n").encode()))]


@contextmanager
def slow() -> Iterator[None]:
    with (
        mock.patch.object(capture._Reader, "_plain", return_value=False),
        mock.patch.object(capture, "_load_rows", return_value=None),
    ):
        yield


def profile_both(lines: list[str], chunk_rows: int = 50_000) -> tuple[Any, Any]:
    options: dict[str, Any] = {"chunk_rows": chunk_rows, "schema_tolerance": 1.0}
    fast = profile_capture(BASELINE, streams(*lines), **options)
    with slow():
        careful = profile_capture(BASELINE, streams(*lines), **options)
    return fast, careful


def columns_both(lines: list[str], chunk_rows: int = 50_000) -> tuple[Any, Any]:
    def read() -> tuple[list[dict[str, list[Any]]], CaptureStats]:
        stats = CaptureStats()
        chunks = read_capture_columns(
            BASELINE, streams(*lines), chunk_rows=chunk_rows, stats=stats, schema_tolerance=1.0
        )
        return [{k: _plain(v) for k, v in c.items()} for c in chunks], stats

    fast = read()
    with slow():
        careful = read()
    return fast, careful


def _plain(array: np.ndarray) -> list[Any]:
    """Comparable values: NaN as a marker (NaN != NaN), text as is."""
    return ["NaN" if isinstance(v, float) and math.isnan(v) else v for v in array.tolist()]


def assert_same(lines: list[str], chunk_rows: int = 50_000) -> tuple[Any, CaptureStats]:
    (fast, fast_stats), (careful, careful_stats) = profile_both(lines, chunk_rows)
    # repr: a mean may be NaN (overflowing sums of huge values), and NaN != NaN
    assert repr(window_to_dict(fast)) == repr(window_to_dict(careful))
    assert fast_stats == careful_stats
    (fast_columns, _), (careful_columns, _) = columns_both(lines, chunk_rows)
    assert fast_columns == careful_columns
    return fast_columns, fast_stats


def test_bulk_path_is_taken_for_plain_csv() -> None:
    lines = [capture_line(f"{i},monthly,{i * 10}") for i in range(50)]
    with mock.patch.object(capture._Reader, "_line", side_effect=AssertionError("per line")):
        profile, stats = profile_capture(BASELINE, streams(*lines))
    assert (profile.rows, stats.lines, stats.malformed) == (50, 50, 0)


def test_empty_fields_at_line_start_middle_and_end_are_missing() -> None:
    lines = [
        capture_line(",monthly,"),
        capture_line("1,,2"),
        capture_line(",,"),
        capture_line("3,yearly,4"),
    ]
    columns, stats = assert_same(lines)
    assert columns[0]["age"] == ["NaN", 1.0, "NaN", 3.0]
    assert columns[0]["plan"] == ["monthly", "", "", "yearly"]
    assert columns[0]["income"] == ["NaN", 2.0, "NaN", 4.0]
    assert stats.invalid == {}


def test_nan_and_inf_tokens() -> None:
    lines = [
        capture_line("nan,nan,inf"),
        capture_line("-inf,x,NaN", out="inf"),
        capture_line("1e500,y, 2 "),
        capture_line("\x0bnan,\x0bnan,1"),  # the bulk reader's own missing marker, as data
    ]
    columns, stats = assert_same(lines)
    assert columns[0]["plan"] == ["nan", "x", "y", "\x0bnan"]
    assert columns[0]["age"] == ["NaN", "NaN", "NaN", "NaN"]
    assert stats.invalid == {"age": 2, "income": 1, "score": 1}


def test_a_non_number_in_an_otherwise_clean_chunk_is_counted() -> None:
    lines = [capture_line(f"{i},monthly,{i}") for i in range(30)]
    lines[17] = capture_line("abc,monthly,1_0")
    lines[18] = capture_line("1\x1c,monthly,\u0663")  # numpy would read "1\x1c"; float() does not
    columns, stats = assert_same(lines, chunk_rows=10)
    assert stats.invalid == {"age": 2}
    assert stats.invalid_examples["age"] == "'abc'"
    assert columns[1]["age"][7:9] == ["NaN", "NaN"]
    assert columns[1]["income"][7:9] == [10.0, 3.0]


def test_csv_lines_with_one_json_line_or_malformed_lines() -> None:
    lines = [capture_line(f"{i},monthly,{i}") for i in range(20)]
    lines[5] = capture_line({"age": 7, "plan": "yearly", "income": 1.5}, encoding="JSON")
    lines[9] = "not json"
    lines[12] = ""
    lines[14] = capture_line("1,2")  # one field short: a schema misfit
    lines[15] = capture_line('1,"a,b",3')  # quoted CSV: the careful path
    _, stats = assert_same(lines, chunk_rows=6)
    assert (stats.lines, stats.malformed, stats.mismatched) == (19, 2, 1)
    assert [e["line"] for e in stats.examples] == [10, 15]


TOKENS = st.sampled_from(
    [
        *["", "1", "-2.5", " 3 ", "nan", "-NaN", "inf", "-inf", "1e500", ".5", "abc", "1_0"],
        *["\u0663", "1\x1c", "\x0bnan", "\t", " ", "+7", "0x10"],
    ]
)
# Parsing is what is compared here; magnitudes near the float limit would only make the
# window's sums of squares overflow (a statistics matter, not a parsing one).
NUMBERS = st.one_of(
    TOKENS,
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150).map(repr),
)
CATEGORIES = st.one_of(
    st.sampled_from(["", "monthly", "nan", " yearly", "\x0bnan", "#x"]),
    st.text(st.characters(blacklist_characters=',\n\r"', blacklist_categories=["Cs"]), max_size=4),
)


@st.composite
def capture_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["csv"] * 8 + ["json", "malformed", "blank", "misfit"]))
    if kind == "json":
        return capture_line({"age": 1, "plan": "yearly", "income": 2}, encoding="JSON")
    if kind == "malformed":
        return '{"captureData": '
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t"]))
    fields = [draw(NUMBERS), draw(CATEGORIES), draw(NUMBERS)]
    if kind == "misfit":
        fields.append("1")
    return capture_line(",".join(fields), out=draw(NUMBERS))


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(capture_lines(), min_size=1, max_size=40), chunk_rows=st.integers(1, 12))
def test_bulk_and_careful_paths_agree(lines: list[str], chunk_rows: int) -> None:
    assert_same(lines, chunk_rows)


def test_csv_encoding_with_data_that_is_not_text_is_malformed() -> None:
    # The one-output side: a list's count(",") is 0, as a one-field row's; it must not pass.
    lines = [capture_line(f"{i},monthly,{i}") for i in range(6)]
    lines[2] = capture_line("1,monthly,2", out=["0.5"])
    lines[4] = capture_line(["1", "monthly", "2"])
    _, stats = assert_same(lines)
    assert (stats.lines, stats.malformed, stats.records) == (6, 2, 4)
    assert [(e["line"], e["reason"]) for e in stats.examples] == [
        (3, "CSV payload is not text"),
        (5, "CSV payload is not text"),
    ]


def test_fields_the_typed_decode_skips_are_still_checked_for_utf8() -> None:
    good = [capture_line(f"{i},monthly,{i}").encode() for i in range(4)]
    bad = good[1].replace(b'"eventId":"e"', b'"eventId":"\xff"')
    ok = good[2].replace(b'"eventId":"e"', '"eventId":"é"'.encode())
    data = b"\n".join([good[0], bad, ok, good[3]]) + b"\n"
    for slow_path in (False, True):
        with slow() if slow_path else contextlib.nullcontext():
            _, stats = profile_capture(BASELINE, [("mem.jsonl", io.BytesIO(data))])
        assert (stats.lines, stats.malformed, stats.records) == (4, 1, 3)
        assert stats.examples[0]["reason"] == "not valid JSON"


def test_typed_decode_rejects_what_the_plain_check_cannot_read() -> None:
    # Another type where the check reads text, a duplicate key whose last value is an
    # object: each line goes the general path, which reads it as orjson did before.
    lines = [capture_line(f"{i},monthly,{i}") for i in range(5)]
    lines[1] = lines[1].replace('"encoding":"CSV"', '"encoding":null', 1)
    lines[3] = '{"captureData":5,' + lines[3][1:]
    _, stats = assert_same(lines)
    assert (stats.lines, stats.malformed, stats.records) == (5, 1, 4)
    assert stats.examples[0]["reason"] == "unsupported payload encoding None"


def test_blocks_cut_anywhere_give_the_same_lines_and_numbers() -> None:
    lines = [capture_line(f"{i},monthly,{i}") for i in range(40)]
    lines[3] = "not json"
    lines[21] = capture_line("1,2")
    lines[30] = ""
    expected = assert_same(lines, chunk_rows=7)
    for block in (1, 7, 100, 333):
        with mock.patch.object(capture, "_BLOCK", block):
            assert assert_same(lines, chunk_rows=7) == expected
    _, stats = expected
    assert [e["line"] for e in stats.examples] == [4, 22]
    assert (stats.lines, stats.records) == (39, 37)


def test_a_value_across_lines_and_whitespace_lines_are_read_line_by_line() -> None:
    lines = [capture_line(f"{i},monthly,{i}") for i in range(6)]
    split = capture_line("9,yearly,9").replace('"captureData":', '"captureData":\n', 1)
    lines[1] = split  # one JSON value on two lines: two malformed lines
    lines[3] = " \t"  # blank
    lines[4] = "\x0b"  # blank to bytes.isspace, not JSON whitespace
    _, stats = assert_same(lines)
    assert (stats.lines, stats.malformed, stats.records) == (5, 2, 3)
    assert [e["line"] for e in stats.examples] == [2, 3]


def test_text_beyond_ascii_and_lone_surrogates_in_categories() -> None:
    lines = [capture_line(f"{i},mönthly,{i}") for i in range(5)]
    # JSON's escape of a lone surrogate: msgspec refuses it, as it refuses invalid UTF-8
    lines[2] = capture_line("2,SURROGATE,3").replace("SURROGATE", "\\ud800")
    columns, stats = assert_same(lines)
    assert columns[0]["plan"] == ["mönthly"] * 4
    assert (stats.malformed, stats.records) == (1, 4)
    assert stats.examples[0]["reason"] == "not valid JSON"


@settings(max_examples=100, deadline=None)
@given(
    fields=st.lists(st.sampled_from(["", "", "1", "abc", "é"]), min_size=1, max_size=400),
    width=st.integers(1, 6),
)
def test_empty_fields_filled_as_the_regex_does(fields: list[str], width: int) -> None:
    rows = [",".join(fields[i : i + width]) for i in range(0, len(fields), width)]
    data = ("," + ",\n,".join(rows) + ",").encode()
    assert capture._fill_empty(data) == capture._EMPTY_FIELD.sub(b",\x0bnan", data)


def test_sparse_and_dense_empty_fields_both_ways() -> None:
    sparse = ("," + ",\n,".join(["1,2,3,4,5,6,7,8"] * 50 + ["1,,3"]) + ",").encode()
    dense = b",,,,\n,,,"
    for data in (sparse, dense):
        assert capture._fill_empty(data) == capture._EMPTY_FIELD.sub(b",\x0bnan", data)
    lines = [capture_line(f"{i},monthly,{i}.25") for i in range(300)]
    lines[100] = capture_line(",,")
    assert_same(lines)
