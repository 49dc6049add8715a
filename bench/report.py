"""The benchmark's arithmetic and presentation: medians, ratios, targets, agreement, tables.

Pure functions of the workers' results (no timing, no processes), so `tests/test_bench.py` can
check them on made-up numbers.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Result = dict[str, Any]

ENGINE_MEMORY = "engine_memory"
ENGINE_CAPTURE = "engine_capture"
ENGINE_CAPTURE_SCALED = "engine_capture_scaled"
EVIDENTLY = "evidently"
SCIPY = "scipy"
SORT_BOUND = "sort_bound"
ENGINE_PARSE = "engine_parse"
STDLIB_PARSE = "stdlib_parse"
ENGINE_BASELINE = "engine_baseline"
ENGINE_MEMORY_DEFAULT_MALLOC = "engine_memory_default_malloc"

LABELS = {
    ENGINE_MEMORY: "engine: profile_columns + check, in-memory arrays",
    ENGINE_MEMORY_DEFAULT_MALLOC: "the same, glibc malloc defaults",
    ENGINE_CAPTURE: "engine: profile_capture + check, capture files",
    ENGINE_CAPTURE_SCALED: "engine: profile_capture + check, 10x capture files",
    EVIDENTLY: "Evidently Report([DataDriftPreset()]), defaults",
    SCIPY: "scipy ks_2samp / chi2_contingency per column",
    SORT_BOUND: "lower bound: np.sort of each numeric column",
    ENGINE_PARSE: "parse only: engine read_capture_columns",
    STDLIB_PARSE: "parse only: stdlib json + float() per field",
    ENGINE_BASELINE: "engine: build_baseline of the reference (once per model)",
}


@dataclass
class Measurement:
    """The median of one approach's runs (each run a fresh process)."""

    name: str
    runs: int
    seconds: float
    rows: int
    peak_mb: float
    import_seconds: float
    extra: Result = field(default_factory=dict)
    """Everything else the first run reported (verdicts, statistics, parse seconds)."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.inf


def summarize(name: str, runs: Sequence[Result]) -> Measurement:
    """Medians of seconds, peak memory and import time over runs; the rest from the first."""
    if not runs:
        raise ValueError(f"{name}: no runs")
    first = dict(runs[0])
    extra = {
        k: v for k, v in first.items() if k not in {"seconds", "rows", "peak_mb", "import_seconds"}
    }
    if "parse_seconds" in first:
        extra["parse_seconds"] = statistics.median(r["parse_seconds"] for r in runs)
    return Measurement(
        name=name,
        runs=len(runs),
        seconds=statistics.median(r["seconds"] for r in runs),
        rows=int(first["rows"]),
        peak_mb=statistics.median(r["peak_mb"] for r in runs),
        import_seconds=statistics.median(r["import_seconds"] for r in runs),
        extra=extra,
    )


@dataclass
class Target:
    """One target of issue 4: a measured ratio against its limit."""

    name: str
    value: float | None
    """None when a measurement it needs is missing (skipped or failed)."""
    limit: float
    at_least: bool
    """True: value >= limit passes; False: value <= limit passes."""
    detail: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _ratio(
    m: dict[str, Measurement], a: str, b: str, of: Callable[[Measurement], float]
) -> float | None:
    if a not in m or b not in m:
        return None
    denominator = of(m[b])
    return of(m[a]) / denominator if denominator else None


def targets(m: dict[str, Measurement]) -> list[Target]:
    """The performance targets, each computed from the measurements it names."""

    def rate(x: Measurement) -> float:
        return x.rows_per_second

    def secs(x: Measurement) -> float:
        return x.seconds

    def peak(x: Measurement) -> float:
        return x.peak_mb

    return [
        Target(
            "throughput, in-memory engine / Evidently",
            _ratio(m, ENGINE_MEMORY, EVIDENTLY, rate),
            50.0,
            at_least=True,
        ),
        Target(
            "throughput, in-memory engine / scipy per column",
            _ratio(m, ENGINE_MEMORY, SCIPY, rate),
            3.0,
            at_least=True,
        ),
        Target(
            "time, in-memory engine / sort bound",
            _ratio(m, ENGINE_MEMORY, SORT_BOUND, secs),
            3.0,
            at_least=False,
        ),
        Target(
            "peak memory, in-memory engine / Evidently",
            _ratio(m, ENGINE_MEMORY, EVIDENTLY, peak),
            0.25,
            at_least=False,
        ),
        Target(
            "peak memory, capture check 10x / 1x",
            _ratio(m, ENGINE_CAPTURE_SCALED, ENGINE_CAPTURE, peak),
            1.2,
            at_least=False,
        ),
        Target(
            "parse throughput, engine / stdlib json",
            _ratio(m, ENGINE_PARSE, STDLIB_PARSE, rate),
            3.0,
            at_least=True,
            detail="both parse only, the same files: read_capture_columns's columns against "
            "json.loads + float() per field",
        ),
    ]


@dataclass
class Check:
    """One agreement check between approaches' results."""

    name: str
    passed: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _ks_interval(stats: Result) -> tuple[float, float] | None:
    """The engine's KS statistic as (lower, upper), whatever the exact nesting of the report."""
    ks = stats.get("ks")
    if isinstance(ks, dict):
        lower = ks.get("lower", ks.get("value"))
        upper = ks.get("upper", ks.get("value"))
        if lower is not None and upper is not None:
            return float(lower), float(upper)
    elif isinstance(ks, (int, float)):
        return float(ks), float(ks)
    return None


def _sets(got: Sequence[str], injected: Sequence[str]) -> str:
    if list(got) == list(injected):
        return f"{len(got)} of {len(got)} injected"
    missed = sorted(set(injected) - set(got))
    extra = sorted(set(got) - set(injected))
    return f"missed {missed}, flagged without drift {extra}"


def agreement(m: dict[str, Measurement], drifted: Sequence[str]) -> list[Check]:
    """Do the approaches agree: with each other, and with the drift that was injected?"""
    injected = sorted(drifted)
    checks: list[Check] = []
    memory = m.get(ENGINE_MEMORY)
    capture = m.get(ENGINE_CAPTURE)
    if memory is not None:
        got = memory.extra.get("drifted", [])
        checks.append(
            Check(
                "engine's drifted features = the injected ones",
                got == injected,
                _sets(got, injected),
            )
        )
    if memory is not None and capture is not None:
        same = memory.extra.get("features") == capture.extra.get("features")
        checks.append(
            Check(
                "engine from capture files = engine from arrays",
                same,
                "identical statistics" if same else "statistics differ",
            )
        )
    if memory is not None and SCIPY in m:
        outside = []
        worst = 0.0
        compared = 0
        for name, f in m[SCIPY].extra.get("features", {}).items():
            if "ks" not in f:
                continue
            engine = memory.extra.get("features", {}).get(name, {}).get("statistics", {})
            interval = _ks_interval(engine)
            if interval is None:
                continue
            compared += 1
            lower, upper = interval
            worst = max(worst, upper - lower)
            if not lower - 1e-12 <= f["ks"] <= upper + 1e-12:
                outside.append(name)
        checks.append(
            Check(
                "scipy's KS statistic within the engine's KS bounds",
                None if not compared else not outside,
                f"{compared} features compared, widest interval {worst:.2e}"
                + (f"; outside: {outside}" if outside else ""),
            )
        )
    if ENGINE_PARSE in m and STDLIB_PARSE in m:
        engine_rows, stdlib_rows = m[ENGINE_PARSE].rows, m[STDLIB_PARSE].rows
        checks.append(
            Check(
                "engine's parse = stdlib's parse, records",
                engine_rows == stdlib_rows,
                f"{engine_rows:,} and {stdlib_rows:,} records",
            )
        )
    if EVIDENTLY in m:
        got = m[EVIDENTLY].extra.get("drifted", [])
        checks.append(
            Check(
                "Evidently's drifted features = the injected ones",
                got == injected,
                _sets(got, injected),
            )
        )
    return checks


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def measurement_table(m: dict[str, Measurement], errors: dict[str, str] | None = None) -> str:
    """Markdown table: approach, seconds, rows/s, peak MB, import seconds, runs, ratio."""
    engine = m.get(ENGINE_MEMORY)
    rows = []
    for name, label in LABELS.items():
        if name in m:
            x = m[name]
            vs = (
                _fmt(x.seconds / engine.seconds, 1) + "x"
                if engine is not None and engine.seconds and name != ENGINE_BASELINE
                else ""
            )
            rows.append(
                [
                    label,
                    _fmt(x.seconds, 3),
                    _fmt(x.rows_per_second, 0),
                    _fmt(x.peak_mb, 0),
                    _fmt(x.import_seconds, 2),
                    str(x.runs),
                    vs,
                ]
            )
        elif errors and name in errors:
            rows.append([label, errors[name], "", "", "", "0", ""])
    header = ["approach", "seconds", "rows/s", "peak MB", "import s", "runs", "time vs engine"]
    return _table(header, rows)


def targets_table(found: Sequence[Target], checks: Sequence[Check]) -> str:
    rows = [
        [t.name, _fmt(t.value, 3), ("≥ " if t.at_least else "≤ ") + _fmt(t.limit, 2), t.verdict]
        for t in found
    ]
    rows += [[c.name, c.detail, "agree", c.verdict] for c in checks]
    return _table(["target", "measured", "limit", "result"], rows)


def to_json(
    m: dict[str, Measurement],
    found: Sequence[Target],
    checks: Sequence[Check],
    context: Result,
) -> Result:
    """The document written to build/bench/drift.json."""
    return {
        **context,
        "measurements": {
            name: {**asdict(x), "rows_per_second": x.rows_per_second} for name, x in m.items()
        },
        "targets": [{**asdict(t), "passed": t.passed} for t in found],
        "agreement": [{**asdict(c)} for c in checks],
    }


README_BEGIN = "<!-- BEGIN BENCH (generated by `python -m bench.drift --readme`) -->"
README_END = "<!-- END BENCH -->"

_README_ROWS = (
    ENGINE_MEMORY,
    ENGINE_CAPTURE,
    ENGINE_CAPTURE_SCALED,
    SCIPY,
    EVIDENTLY,
    SORT_BOUND,
    ENGINE_PARSE,
    STDLIB_PARSE,
)


def readme_section(document: Result) -> str:
    """The README's generated performance tables, from a build/bench/drift.json document."""
    data = document["data"]
    measured = document["measurements"]
    engine = measured.get(ENGINE_MEMORY)
    rows = []
    for name in _README_ROWS:
        if name not in measured:
            continue
        x = measured[name]
        label = LABELS[name].replace("10x", f"{data['scaled_rows'] // data['rows']}x")
        vs = (
            _fmt(x["seconds"] / engine["seconds"], 1) + "x"
            if engine and engine["seconds"] and name != ENGINE_MEMORY
            else ""
        )
        rows.append(
            [
                label,
                f"{x['rows']:,}",
                _fmt(x["seconds"], 2),
                _fmt(x["rows_per_second"], 0),
                _fmt(x["peak_mb"], 0),
                vs,
            ]
        )
    header = ["approach", "rows", "seconds", "rows/s", "peak MB", "time vs engine"]
    targets = [
        [
            t["name"],
            _fmt(t["value"], 2),
            ("≥ " if t["at_least"] else "≤ ") + _fmt(t["limit"], 2),
            {True: "PASS", False: "FAIL", None: "n/a"}[t["passed"]],
        ]
        for t in document["targets"]
    ]
    targets += [
        [c["name"], c["detail"], "agree", {True: "PASS", False: "FAIL", None: "n/a"}[c["passed"]]]
        for c in document["agreement"]
    ]
    cold = document.get("cold_start", {})
    cold_parts = []
    for module in cold.get("modules", []):
        if "import_seconds" not in cold.get(module, {}):
            continue
        slowest = list(cold[module].get("last", {}).items())[:4]
        where = ", ".join(f"{name} {_fmt(seconds, 2)} s" for name, seconds in slowest)
        cold_parts.append(
            f"`import {module}` {_fmt(cold[module]['import_seconds'], 2)} s"
            + (f" (of which {where})" if where else "")
        )
    layer = document.get("layer", {})
    machine = document["machine"]
    lines = [
        README_BEGIN,
        "",
        textwrap.fill(
            f"{data['rows']:,} rows x {data['features']} features per window "
            f"({data['numeric']} numeric, {data['categorical']} categorical, drift injected in "
            f"{len(data['drifted'])}); median of {document['repeats']} fresh-process runs (one "
            f"when a run exceeds 60 s) on {machine['cpus']} vCPUs, Python {machine['python']}, "
            f"{document['generated_at'][:10]}.",
            width=100,
        ),
        "",
        _table(header, rows),
        "",
        _table(["target", "measured", "limit", "result"], targets),
        "",
    ]
    notes = []
    if cold_parts:
        notes.append(f"Cold start (Python {cold.get('python')}): " + "; ".join(cold_parts) + ".")
    if "zipped_mb" in layer:
        notes.append(
            f"Layer (`make lambda-layer`, arm64, file sizes): {layer['zipped_mb']} MiB zipped, "
            f"{layer['unzipped_mb']} MiB unzipped (Lambda allows 250 MB unzipped)."
        )
    for note in notes:
        lines += [textwrap.fill(note, width=100), ""]
    lines.append(README_END)
    return "\n".join(lines)


def replace_readme_section(readme: str, section: str) -> str:
    """`readme` with the text between the bench markers (markers included) replaced."""
    start = readme.find(README_BEGIN)
    end = readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError("the README has no bench markers")
    return readme[:start] + section + readme[end + len(README_END) :]
