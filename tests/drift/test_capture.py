"""The capture reader: every payload form SageMaker writes, malformed lines, schema mismatch,
and memory that does not grow with the window.

The fixtures in `fixtures/capture/` are capture lines as an endpoint writes them; the
expected values below are read off those files by hand.
"""

from __future__ import annotations

import gzip
import io
import math
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_drift.baseline import Baseline, build_baseline
from mlops_drift.capture import (
    CaptureStats,
    SchemaMismatch,
    profile_capture,
    read_capture_columns,
    schema_problem,
)

FIXTURES = Path(__file__).parent / "fixtures" / "capture"


def make_baseline(*, outputs: bool = True) -> Baseline:
    rng = np.random.default_rng(7)
    n = 500
    columns: dict[str, np.ndarray] = {
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.lognormal(10.8, 0.4, n),
        "plan": rng.choice(np.array(["monthly", "yearly", "two-year"], dtype=object), n),
    }
    if outputs:
        columns["score"] = rng.random(n)
    return build_baseline(columns, categorical=["plan"], outputs=["score"] if outputs else [])


BASELINE = make_baseline()


def line(inp: Any, out: Any = "0.5", *, ienc: str = "CSV", oenc: str = "CSV", ct: str = "") -> str:
    content = ct or ("text/csv" if ienc == "CSV" else "application/json")
    return orjson.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content,
                    "mode": "INPUT",
                    "data": inp,
                    "encoding": ienc,
                },
                "endpointOutput": {
                    "observedContentType": "text/csv" if oenc == "CSV" else "application/json",
                    "mode": "OUTPUT",
                    "data": out,
                    "encoding": oenc,
                },
            },
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-27T10:00:00Z"},
            "eventVersion": "0",
        }
    ).decode()


def stream(*lines: str, name: str = "mem.jsonl") -> tuple[str, io.BytesIO]:
    return name, io.BytesIO(("\n".join(lines) + "\n").encode())


def read_all(
    baseline: Baseline, *streams: tuple[str, Any], **kwargs: Any
) -> tuple[dict[str, list[Any]], CaptureStats]:
    """All chunks of a read, concatenated per feature (NaN and None kept)."""
    stats = CaptureStats()
    columns: dict[str, list[Any]] = {f.name: [] for f in baseline.features}
    for chunk in read_capture_columns(baseline, list(streams), stats=stats, **kwargs):
        assert set(chunk) == set(columns)
        assert len({len(v) for v in chunk.values()}) == 1
        for name, values in chunk.items():
            columns[name].extend(values.tolist())
    return columns, stats


def fixture(name: str) -> tuple[str, io.BytesIO]:
    return name, io.BytesIO((FIXTURES / name).read_bytes())


def nan_to_none(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


# ---- payload forms -----------------------------------------------------------------------------


def test_csv_payloads_single_batched_missing_quoted() -> None:
    columns, stats = read_all(BASELINE, fixture("csv.jsonl"))

    assert (stats.lines, stats.records, stats.malformed) == (5, 6, 0)
    assert nan_to_none(columns["age"]) == [34, 41, 29, 55, 62, 47]
    assert nan_to_none(columns["income"]) == [52000.5, None, 61000, 48000.25, 39000, 70500]
    assert columns["plan"] == ["monthly", "yearly", "monthly", "two-year", "", "two-year"]
    assert columns["score"] == [0.12, 0.40, 0.30, 0.75, 0.91, 0.05]


def test_json_payloads_objects_lists_batches_columnar_jsonlines() -> None:
    columns, stats = read_all(BASELINE, fixture("json.jsonl"))

    assert (stats.lines, stats.records, stats.malformed) == (6, 9, 0)
    assert nan_to_none(columns["age"]) == [38, 44, 23, 67, 31, 36, 50, 58, 26]
    assert nan_to_none(columns["income"]) == [58000, 51000, 30500, None, 45000, 47000, 66000,
                                              82000, 35000]  # fmt: skip
    assert columns["plan"] == ["monthly", "yearly", "monthly", "yearly", "two-year", "monthly",
                               "yearly", "monthly", "yearly"]  # fmt: skip
    assert sorted(columns["score"]) == sorted(
        [0.22, 0.33, 0.61, 0.08, 0.14, 0.52, 0.27, 0.44, 0.19]
    )


def test_base64_payloads_decoded_by_content_type() -> None:
    columns, stats = read_all(BASELINE, fixture("base64.jsonl"))

    assert (stats.records, stats.malformed) == (3, 0)
    assert columns["age"] == [39, 45, 52]
    assert columns["plan"] == ["monthly", "yearly", "two-year"]
    assert columns["score"] == [0.36, 0.58, 0.66]


def test_all_fixtures_in_one_read_profile_every_record() -> None:
    profile, stats = profile_capture(
        BASELINE, [fixture("csv.jsonl"), fixture("json.jsonl"), fixture("base64.jsonl")]
    )
    assert stats.sources == 3
    assert profile.rows == stats.records == 6 + 9 + 3
    plan = profile.features["plan"]
    assert plan.categories == {"monthly": 7, "yearly": 6, "two-year": 4}  # type: ignore[union-attr]
    assert plan.missing == 1


def test_json_scalars_in_a_categorical_feature_become_text() -> None:
    lines = [
        line(orjson.dumps({"age": 1, "income": 2, "plan": p}).decode(), ienc="JSON")
        for p in (7, 2.0, 2.5, True, None)
    ]
    columns, _ = read_all(BASELINE, stream(*lines))
    assert columns["plan"] == ["7", "2", "2.5", "true", None]


def test_baseline_without_outputs_ignores_the_output_side() -> None:
    baseline = make_baseline(outputs=False)
    columns, stats = read_all(baseline, stream(line("1,2,monthly", "not,even,csv")))
    assert stats.malformed == 0
    assert set(columns) == {"age", "income", "plan"}


def test_reads_streams_that_only_have_read_and_gzip() -> None:
    class ReadOnly:
        """Like botocore's StreamingBody: read(n) only, no line iteration."""

        def __init__(self, data: bytes) -> None:
            self._buffer = io.BytesIO(data)

        def read(self, size: int = -1, /) -> bytes:
            return self._buffer.read(min(size, 7) if size > 0 else size)

    data = (FIXTURES / "csv.jsonl").read_bytes()
    plain, _ = read_all(BASELINE, ("s3://b/k", ReadOnly(data)))
    zipped, _ = read_all(BASELINE, ("k.gz", gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data)))))
    reference, _ = read_all(BASELINE, fixture("csv.jsonl"))
    assert nan_to_none(plain["income"]) == nan_to_none(reference["income"])
    assert nan_to_none(zipped["income"]) == nan_to_none(reference["income"])
    assert plain["plan"] == zipped["plan"] == reference["plan"]


# ---- malformed lines ---------------------------------------------------------------------------


def test_malformed_lines_counted_quoted_and_the_read_goes_on() -> None:
    columns, stats = read_all(BASELINE, fixture("malformed.jsonl"), max_examples=3)

    assert stats.lines == 8  # the blank line is not a line
    assert stats.malformed == 5
    assert stats.records == 3
    assert columns["age"] == [33, 38, 40]
    assert [(x["line"], x["reason"]) for x in stats.examples] == [
        (2, "not valid JSON"),
        (3, "no captureData"),
        (4, "payload is not valid base64 of UTF-8 text"),
    ]
    assert all(x["source"] == "malformed.jsonl" for x in stats.examples)
    assert stats.examples[0]["text"].startswith('{"captureData": {"endpointInput"')
    assert all(len(x["text"]) <= 200 for x in stats.examples)


def test_all_malformed_reasons() -> None:
    _, stats = read_all(BASELINE, fixture("malformed.jsonl"), max_examples=10)
    assert [x["reason"] for x in stats.examples][3:] == [
        "2 input records but 1 output records",
        "unsupported payload encoding 'PROTOBUF'",
    ]


def test_quoted_text_is_cut_at_200_characters() -> None:
    long_line = '{"captureData": ' + "x" * 1000
    _, stats = read_all(BASELINE, stream(long_line))
    assert stats.examples[0]["text"] == long_line[:200]


def test_invalid_numbers_are_missing_and_counted_when_rare() -> None:
    good = [line(f"{i},{1000 + i},monthly") for i in range(199)]
    columns, stats = read_all(BASELINE, stream(*good, line("5,n/a,yearly")))
    assert stats.invalid == {"income": 1}
    assert stats.malformed == 0
    assert math.isnan(columns["income"][-1])
    inf, _ = read_all(BASELINE, stream(*good, line("5,inf,yearly")))
    assert math.isnan(inf["income"][-1])


def test_inputs_and_outputs_must_agree_in_count() -> None:
    _, stats = read_all(BASELINE, stream(line("1,2,monthly\n3,4,yearly", "0.1,0.2,0.3")))
    assert stats.malformed == 1
    assert stats.examples[0]["reason"] == "2 input records but 3 output records"


def test_one_line_batched_output_of_one_output_column() -> None:
    # Some built-in algorithms answer a CSV batch on one line.
    columns, stats = read_all(BASELINE, stream(line("1,2,monthly\n3,4,yearly", "0.1,0.2")))
    assert stats.malformed == 0
    assert columns["score"] == [0.1, 0.2]


# ---- schema mismatch ---------------------------------------------------------------------------


def test_wrong_field_count_everywhere_is_a_schema_mismatch() -> None:
    lines = [line(f"{i},{i}") for i in range(50)]
    with pytest.raises(SchemaMismatch) as caught:
        read_all(BASELINE, stream(*lines, name="s3://capture/ep/AllTraffic/part-1"))
    message = str(caught.value)
    assert message == (
        "the capture does not match the baseline: 50 of 50 lines have records that do not "
        "fit it (first at s3://capture/ep/AllTraffic/part-1 line 1); most often (50 lines): "
        "input record has 2 fields, the baseline has 3 inputs ('age', 'income', 'plan')"
    )
    assert caught.value.stats.mismatched == 50


def test_json_names_that_differ_are_a_schema_mismatch() -> None:
    record = orjson.dumps({"age": 1, "salary": 2, "plan": "monthly"}).decode()
    with pytest.raises(SchemaMismatch, match=r"missing 'income'; unknown 'salary'"):
        read_all(BASELINE, stream(*[line(record, ienc="JSON")] * 10))


def test_numbers_that_are_not_numbers_are_a_schema_mismatch() -> None:
    # Columns swapped by a new client: text where the baseline has numbers.
    lines = [line(f"{i},monthly,{i}") for i in range(100)]
    with pytest.raises(SchemaMismatch) as caught:
        read_all(BASELINE, stream(*lines))
    assert str(caught.value) == (
        "the capture does not match the baseline: feature 'income' is numeric in the "
        "baseline, but 100 of 100 values are not numbers (e.g. 'monthly')"
    )


def test_capture_without_outputs_for_a_baseline_with_outputs_is_a_schema_mismatch() -> None:
    document = orjson.loads(line("1,2,monthly"))
    del document["captureData"]["endpointOutput"]
    with pytest.raises(SchemaMismatch, match=r"no captureData\.endpointOutput"):
        read_all(BASELINE, stream(*[orjson.dumps(document).decode()] * 5))


def test_rare_misfits_are_malformed_lines_not_a_mismatch() -> None:
    lines = [line(f"{i},{i},monthly") for i in range(200)]
    lines[17] = line("1,2")  # 1 of 200 lines = 0.5%, under the 1% tolerance
    _, stats = read_all(BASELINE, stream(*lines))
    assert (stats.malformed, stats.mismatched, stats.records) == (1, 1, 199)
    assert schema_problem(stats) is None
    assert schema_problem(stats, tolerance=0.001) is not None


def test_merged_partial_stats_give_the_single_read_verdict() -> None:
    lines = [line("1,2") if i % 2 else line(f"{i},{i},monthly") for i in range(40)]
    first, second = CaptureStats(), CaptureStats()
    for part, chunk in ((first, lines[:20]), (second, lines[20:])):
        list(read_capture_columns(BASELINE, [stream(*chunk)], stats=part, schema_tolerance=1.0))
    first.merge(second)
    assert (first.lines, first.mismatched) == (40, 20)
    assert schema_problem(first) is not None


# ---- chunking and memory -----------------------------------------------------------------------


def test_any_chunk_size_gives_the_same_profile_counts() -> None:
    streams = ["csv.jsonl", "json.jsonl", "base64.jsonl", "malformed.jsonl"]
    whole, whole_stats = profile_capture(BASELINE, [fixture(n) for n in streams])
    split, split_stats = profile_capture(BASELINE, [fixture(n) for n in streams], chunk_rows=2)
    assert whole.rows == split.rows
    assert whole_stats == split_stats
    for name, feature in whole.features.items():
        other = split.features[name]
        assert (feature.count, feature.missing) == (other.count, other.missing)
        if hasattr(feature, "counts"):
            np.testing.assert_array_equal(feature.counts, other.counts)  # type: ignore[union-attr]
        else:
            assert feature.categories == other.categories  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-1000, 1000)),
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3))),
            st.sampled_from(["monthly", "yearly", ""]),
        ),
        min_size=1,
        max_size=30,
    ),
    batch=st.integers(1, 4),
    chunk_rows=st.integers(1, 10),
    as_json=st.booleans(),
)
def test_csv_and_json_batches_round_trip(
    rows: list[tuple[int | None, float | None, str]], batch: int, chunk_rows: int, as_json: bool
) -> None:
    lines = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        scores = "\n".join(str(i / 10) for i in range(len(part)))
        if as_json:
            records = [{"age": a, "income": b, "plan": c or None} for a, b, c in part]
            lines.append(line(orjson.dumps({"instances": records}).decode(), scores, ienc="JSON"))
        else:
            text = "\n".join(
                ",".join("" if v is None else str(v) for v in record) for record in part
            )
            lines.append(line(text, scores))
    columns, stats = read_all(BASELINE, stream(*lines), chunk_rows=chunk_rows)
    assert stats.malformed == 0
    assert stats.records == len(rows)
    assert nan_to_none(columns["age"]) == [a for a, _, _ in rows]
    assert nan_to_none(columns["income"]) == [b for _, b, _ in rows]
    assert [c or None for c in columns["plan"]] == [c or None for _, _, c in rows]


def _write_capture(path: Path, lines: int) -> None:
    rng = np.random.default_rng(3)
    ages = rng.integers(18, 80, lines)
    incomes = np.round(rng.lognormal(10.8, 0.4, lines), 2)
    plans = rng.choice(["monthly", "yearly", "two-year"], lines)
    template = line("{}", "{}").replace("{}", "%s")
    with path.open("w") as f:
        f.writelines(
            template % (f"{a},{i},{p}", f"{a / 100:.2f}") + "\n"
            for a, i, p in zip(ages.tolist(), incomes.tolist(), plans.tolist(), strict=True)
        )


def _peak(path: Path) -> tuple[int, int]:
    def streams() -> Iterator[tuple[str, Any]]:
        with path.open("rb") as f:
            yield str(path), f

    tracemalloc.start()
    try:
        _, stats = profile_capture(BASELINE, streams(), chunk_rows=5_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, stats.records


def test_memory_does_not_grow_with_the_window(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _write_capture(small, 20_000)
    _write_capture(large, 200_000)

    small_peak, small_rows = _peak(small)
    large_peak, large_rows = _peak(large)

    assert (small_rows, large_rows) == (20_000, 200_000)
    # Ten times the window, the same bounded chunks: the peak stays flat.
    assert large_peak < 1.3 * small_peak, (small_peak, large_peak)
