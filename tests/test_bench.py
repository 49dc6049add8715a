"""The drift benchmark's arithmetic: medians, ratios, targets, agreement and tables.

No timing here: the benchmark itself runs with `make bench`, never in the test suite. These
tests feed made-up worker results to `bench.report` and `bench.drift`'s output parsing.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from bench import data, report
from bench.drift import importtime_breakdown, importtime_cumulative


def _run(seconds: float, peak: float, rows: int = 1_000_000, **extra: Any) -> dict[str, Any]:
    return {"seconds": seconds, "peak_mb": peak, "rows": rows, "import_seconds": 0.1, **extra}


def _engine_features(ks: tuple[float, float]) -> dict[str, Any]:
    lower, upper = ks
    return {
        "x": {"drifted": True, "statistics": {"ks": {"lower": lower, "upper": upper}}},
        "c": {"drifted": False, "statistics": {"chi2_p": 0.5}},
    }


def _measurements(**overrides: report.Measurement) -> dict[str, report.Measurement]:
    features = _engine_features((0.10, 0.11))
    m = {
        report.ENGINE_MEMORY: report.summarize(
            report.ENGINE_MEMORY, [_run(1.0, 200.0, drifted=["x"], features=features)]
        ),
        report.ENGINE_CAPTURE: report.summarize(
            report.ENGINE_CAPTURE,
            [_run(4.0, 100.0, parse_seconds=2.5, drifted=["x"], features=features)],
        ),
        report.ENGINE_CAPTURE_SCALED: report.summarize(
            report.ENGINE_CAPTURE_SCALED, [_run(40.0, 110.0, rows=10_000_000, parse_seconds=25.0)]
        ),
        report.EVIDENTLY: report.summarize(
            report.EVIDENTLY, [_run(100.0, 1000.0, drifted=["x"], features={})]
        ),
        report.SCIPY: report.summarize(
            report.SCIPY,
            [_run(5.0, 450.0, features={"x": {"ks": 0.105}, "c": {"p_value": 0.4}})],
        ),
        report.SORT_BOUND: report.summarize(report.SORT_BOUND, [_run(0.5, 150.0)]),
        report.ENGINE_PARSE: report.summarize(report.ENGINE_PARSE, [_run(2.0, 90.0)]),
        report.STDLIB_PARSE: report.summarize(report.STDLIB_PARSE, [_run(20.0, 120.0)]),
    }
    m.update(overrides)
    return m


def _by_name(targets: list[report.Target]) -> dict[str, report.Target]:
    return {t.name: t for t in targets}


def test_summarize_takes_medians_of_the_runs_and_keeps_the_first_runs_details() -> None:
    m = report.summarize(
        "a",
        [
            _run(3.0, 300.0, parse_seconds=2.0, drifted=["x"]),
            _run(1.0, 100.0, parse_seconds=1.0, drifted=["y"]),
            _run(2.0, 500.0, parse_seconds=9.0, drifted=["z"]),
        ],
    )
    assert (m.seconds, m.peak_mb, m.runs) == (2.0, 300.0, 3)
    assert m.extra["parse_seconds"] == 2.0
    assert m.extra["drifted"] == ["x"]
    assert m.rows_per_second == 500_000


def test_summarize_refuses_no_runs() -> None:
    with pytest.raises(ValueError, match="no runs"):
        report.summarize("a", [])


def test_targets_are_the_ratios_of_the_named_measurements() -> None:
    t = _by_name(report.targets(_measurements()))
    assert t["throughput, in-memory engine / Evidently"].value == pytest.approx(100.0)
    assert t["throughput, in-memory engine / scipy per column"].value == pytest.approx(5.0)
    assert t["time, in-memory engine / sort bound"].value == pytest.approx(2.0)
    assert t["peak memory, in-memory engine / Evidently"].value == pytest.approx(0.2)
    assert t["peak memory, capture check 10x / 1x"].value == pytest.approx(1.1)
    # engine parses 1M rows in 2 s (500k/s), stdlib 1M in 20 s (50k/s)
    assert t["parse throughput, engine / stdlib json"].value == pytest.approx(10.0)
    assert all(x.verdict == "PASS" for x in t.values())


def test_parse_target_compares_parse_only_runs_not_the_capture_check() -> None:
    # engine_capture's parse time (profiling included) is not the engine's parse measurement
    m = _measurements()
    slow_check = report.summarize(report.ENGINE_CAPTURE, [_run(90.0, 100.0, parse_seconds=80.0)])
    m[report.ENGINE_CAPTURE] = slow_check
    assert _by_name(report.targets(m))["parse throughput, engine / stdlib json"].value == (
        pytest.approx(10.0)
    )
    del m[report.ENGINE_PARSE]
    parse = _by_name(report.targets(m))["parse throughput, engine / stdlib json"]
    assert (parse.value, parse.verdict) == (None, "n/a")


def test_agreement_checks_both_parsers_read_the_same_records() -> None:
    checks = {c.name: c for c in report.agreement(_measurements(), ["x"])}
    assert checks["engine's parse = stdlib's parse, records"].passed is True
    short = report.summarize(report.ENGINE_PARSE, [_run(2.0, 90.0, rows=999_999)])
    checks = {
        c.name: c for c in report.agreement(_measurements(**{report.ENGINE_PARSE: short}), ["x"])
    }
    check = checks["engine's parse = stdlib's parse, records"]
    assert (check.passed, check.detail) == (False, "999,999 and 1,000,000 records")


def test_a_target_fails_on_the_wrong_side_of_its_limit_and_passes_on_it() -> None:
    slow = report.summarize(report.SORT_BOUND, [_run(0.25, 150.0)])
    t = _by_name(report.targets(_measurements(**{report.SORT_BOUND: slow})))
    assert t["time, in-memory engine / sort bound"].value == pytest.approx(4.0)
    assert t["time, in-memory engine / sort bound"].verdict == "FAIL"
    at_limit = report.Target("x", 3.0, 3.0, at_least=False)
    assert at_limit.passed is True
    assert report.Target("y", 49.9, 50.0, at_least=True).passed is False


def test_missing_measurements_give_no_verdict_instead_of_a_pass() -> None:
    m = _measurements()
    del m[report.EVIDENTLY]
    t = _by_name(report.targets(m))
    assert t["throughput, in-memory engine / Evidently"].value is None
    assert t["throughput, in-memory engine / Evidently"].verdict == "n/a"
    assert t["peak memory, in-memory engine / Evidently"].passed is None


def test_agreement_checks_verdicts_and_the_ks_bounds_against_scipy() -> None:
    checks = {c.name: c for c in report.agreement(_measurements(), ["x"])}
    assert all(c.passed for c in checks.values()), checks
    outside = report.summarize(report.SCIPY, [_run(5.0, 450.0, features={"x": {"ks": 0.2}})])
    checks = {
        c.name: c for c in report.agreement(_measurements(**{report.SCIPY: outside}), ["x", "c"])
    }
    assert checks["scipy's KS statistic within the engine's KS bounds"].passed is False
    assert "outside: ['x']" in checks["scipy's KS statistic within the engine's KS bounds"].detail
    assert checks["engine's drifted features = the injected ones"].passed is False


def test_agreement_notices_capture_and_memory_paths_that_differ() -> None:
    other = report.summarize(
        report.ENGINE_CAPTURE,
        [_run(4.0, 100.0, parse_seconds=2.5, features=_engine_features((0.1, 0.12)))],
    )
    checks = {
        c.name: c for c in report.agreement(_measurements(**{report.ENGINE_CAPTURE: other}), ["x"])
    }
    assert checks["engine from capture files = engine from arrays"].passed is False


def test_tables_show_every_measurement_target_and_error() -> None:
    m = _measurements()
    del m[report.EVIDENTLY]
    table = report.measurement_table(m, {report.EVIDENTLY: "evidently failed (1): boom"})
    assert "| engine: profile_columns + check, in-memory arrays | 1.000 | 1,000,000 |" in table
    assert "| scipy ks_2samp / chi2_contingency per column | 5.000 | 200,000 | 450 |" in table
    assert "evidently failed (1): boom" in table
    targets = report.targets_table(report.targets(m), report.agreement(m, ["x"]))
    assert "| time, in-memory engine / sort bound | 2.000 | ≤ 3.00 | PASS |" in targets
    assert "| throughput, in-memory engine / Evidently | - | ≥ 50.00 | n/a |" in targets


def test_json_document_carries_measurements_targets_and_verdicts() -> None:
    m = _measurements()
    doc = report.to_json(m, report.targets(m), report.agreement(m, ["x"]), {"rows": 1})
    assert doc["rows"] == 1
    assert doc["measurements"][report.SCIPY]["rows_per_second"] == 200_000
    assert {t["passed"] for t in doc["targets"]} == {True}
    assert math.isclose(doc["measurements"][report.ENGINE_MEMORY]["seconds"], 1.0)


def test_importtime_reads_the_top_level_cumulative_time_of_the_module() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   handler.sub\n"
        "import time:       300 |       5300 | numpy\n"
        "import time:       250 |      12345 | handler\n"
    )
    assert importtime_cumulative(stderr, "handler") == pytest.approx(0.012345)
    assert importtime_cumulative(stderr, "scipy") is None


def test_generated_chunks_are_seeded_and_the_capture_lines_hold_exactly_them() -> None:
    a = data.make_chunk(7, "cur", 3, 50)
    b = data.make_chunk(7, "cur", 3, 50)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])  # NaN in the same places
    lines = data.capture_lines(a, 150).splitlines()
    assert len(lines) == 50
    first = json.loads(lines[0])
    assert first["eventVersion"] == "0"
    assert first["eventMetadata"]["eventId"] == "00000096-0000-4000-8000-000000000096"
    for i, line in enumerate(lines):
        fields = json.loads(line)["captureData"]["endpointInput"]["data"].split(",")
        for feature, text in zip(data.FEATURES, fields, strict=True):
            value = a[feature.name][i]
            if feature.kind == "categorical":
                assert text == feature.categories[value]
            elif np.isnan(value):
                assert text == ""
            else:
                assert float(text) == value  # the capture path parses the very same float


def test_importtime_breakdown_names_the_module_body_and_its_slowest_direct_imports() -> None:
    stderr = (
        "import time:       100 |        100 |     numpy._core\n"
        "import time:       300 |       5300 |   numpy\n"
        "import time:        50 |         50 |   orjson\n"
        "import time:       900 |       6250 | handler\n"
        "import time:        10 |         10 | json\n"
    )
    assert importtime_breakdown(stderr, "handler") == {
        "handler (own body)": 0.0009,
        "numpy": 0.0053,
        "orjson": 0.00005,
    }


def _document() -> dict[str, Any]:
    m = _measurements()
    context = {
        "generated_at": "2026-11-27T01:00:00+00:00",
        "machine": {"cpus": 2, "python": "3.11.7"},
        "data": {
            "rows": 1_000_000,
            "features": 20,
            "numeric": 16,
            "categorical": 4,
            "drifted": ["x"],
            "scaled_rows": 10_000_000,
        },
        "repeats": 3,
        "cold_start": {"modules": ["handler"], "handler": {"import_seconds": 0.5}},
        "layer": {"zipped_mb": 18.8, "unzipped_mb": 64.3},
    }
    # through JSON, as the README is rendered from build/bench/drift.json
    document = report.to_json(m, report.targets(m), report.agreement(m, ["x"]), context)
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded


def test_readme_section_renders_the_document_between_the_markers() -> None:
    section = report.readme_section(_document())
    assert section.startswith(report.README_BEGIN)
    assert section.endswith(report.README_END)
    assert "1,000,000 rows x 20 features per window (16 numeric, 4 categorical" in section.replace(
        "\n", " "
    )
    assert "| Evidently Report([DataDriftPreset()]), defaults | 1,000,000 | 100.00 |" in section
    assert "| peak memory, capture check 10x / 1x | 1.10 | ≤ 1.20 | PASS |" in section
    assert "| parse only: engine read_capture_columns | 1,000,000 | 2.00 |" in section
    assert "| parse throughput, engine / stdlib json | 10.00 | ≥ 3.00 | PASS |" in section
    assert "`import handler` 0.50 s" in section
    assert "18.8 MiB zipped" in section
    assert "| engine's drifted features = the injected ones | 1 of 1 injected | agree | PASS |" in (
        section
    )


def test_replacing_the_readme_section_keeps_the_rest_and_needs_the_markers() -> None:
    readme = (
        f"# T\n\n## Performance\n\n{report.README_BEGIN}\nold\n{report.README_END}\n\n## Next\n"
    )
    updated = report.replace_readme_section(readme, "NEW")
    assert updated == "# T\n\n## Performance\n\nNEW\n\n## Next\n"
    with pytest.raises(ValueError, match="no bench markers"):
        report.replace_readme_section("# T\n", "NEW")


def test_the_bench_tunes_malloc_as_the_component_tunes_the_lambda() -> None:
    from bench.drift import MALLOC_TUNING as BENCH_MALLOC_TUNING
    from components.drift import MALLOC_TUNING

    assert BENCH_MALLOC_TUNING == MALLOC_TUNING
