"""One measurement per process: `python -m bench.workers APPROACH DATA_DIR [--files N]`.

`--profile N` runs the measured part under cProfile and prints its N costliest functions (the
timing then includes the profiler's overhead; use it to see where time goes, not to measure).

The driver (`bench.drift`) starts every run of every approach as a fresh process, so the peak
resident memory a run reports (VmHWM) is that approach's alone: its imports, its inputs
and its computation. Inputs are loaded before the clock starts; imports are timed apart from the
computation and reported beside it. The result is one JSON object on the last stdout line.

Each approach imports its heavy modules through `Clock.imports`, so the import is timed and only
the approach a process runs is imported into it.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import math
import os
import pstats
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from bench import data

Result = dict[str, Any]


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM, the high-water mark of this process's own address space, not `ru_maxrss`: Linux
    carries the parent's peak over into `ru_maxrss` across fork and exec, so a child started by
    a driver that once held a lot would report the driver's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Clock:
    """Times the import and the computation of one run, apart; optionally profiles the latter."""

    def __init__(self, profile: int = 0) -> None:
        self.import_seconds = 0.0
        self.seconds = 0.0
        self.rss_before_mb = 0.0
        self.profile = profile
        """When positive, print this many of the costliest functions (cProfile) to stderr."""

    def imports(self, *modules: str) -> list[Any]:
        start = time.perf_counter()
        loaded = [importlib.import_module(m) for m in modules]
        self.import_seconds += time.perf_counter() - start
        return loaded

    def run(self, work: Callable[[], Any]) -> Any:
        self.rss_before_mb = rss_mb()
        profiler = cProfile.Profile() if self.profile else None
        start = time.perf_counter()
        value = work() if profiler is None else profiler.runcall(work)
        self.seconds = time.perf_counter() - start
        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(self.profile)
        return value


def _meta(root: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((root / "meta.json").read_text())
    return meta


def _categorical_names(root: Path) -> tuple[str, ...]:
    return tuple(f["name"] for f in _meta(root)["features"] if f["kind"] == "categorical")


def _load_baseline(clock: Clock, root: Path) -> Any:
    (baseline_mod,) = clock.imports("mlops_drift.baseline")
    return baseline_mod.load_baseline(json.loads((root / "baseline.json").read_text()))


def _engine_summary(report: dict[str, Any]) -> Result:
    """What the comparison needs of an engine report: the verdict and per-feature statistics."""
    features = {}
    for f in report.get("features", []):
        features[f["name"]] = {
            "drifted": f.get("drifted"),
            "statistics": f.get("statistics", {}),
        }
    return {
        "status": report.get("status"),
        "drift": report.get("drift"),
        "rows": report.get("rows"),
        "drifted": sorted(n for n, f in features.items() if f["drifted"]),
        "features": features,
    }


# ---- the approaches ------------------------------------------------------------------------


def engine_baseline(root: Path, clock: Clock, files: int) -> Result:
    """`build_baseline` of the reference window (once per model, not per check); saves it."""
    (baseline_mod,) = clock.imports("mlops_drift.baseline")
    columns = data.load_window(root, "ref")
    categorical = _categorical_names(root)
    baseline = clock.run(lambda: baseline_mod.build_baseline(columns, categorical=categorical))
    document = baseline_mod.baseline_to_dict(baseline)
    (root / "baseline.json").write_text(json.dumps(document))
    return {"rows": len(next(iter(columns.values())))}


def engine_memory(root: Path, clock: Clock, files: int) -> Result:
    """This engine from in-memory arrays: `profile_columns` + `check` on a loaded baseline."""
    window_mod, check_mod = clock.imports("mlops_drift.window", "mlops_drift.check")
    baseline = _load_baseline(clock, root)
    columns = data.load_window(root, "cur")

    def work() -> dict[str, Any]:
        profile = window_mod.profile_columns(baseline, columns)
        report: dict[str, Any] = check_mod.check(baseline, profile)
        return report

    report = clock.run(work)
    return {"rows": len(next(iter(columns.values()))), **_engine_summary(report)}


def _capture_streams(paths: list[Path], stack: ExitStack) -> Iterator[tuple[str, IO[bytes]]]:
    for path in paths:
        yield path.name, stack.enter_context(path.open("rb"))


def engine_capture(root: Path, clock: Clock, files: int) -> Result:
    """This engine from capture files: `profile_capture` (streaming) + `check`."""
    capture_mod, check_mod = clock.imports("mlops_drift.capture", "mlops_drift.check")
    baseline = _load_baseline(clock, root)
    paths = _capture_paths(root, files)
    parse: dict[str, float] = {}

    def work() -> dict[str, Any]:
        start = time.perf_counter()
        with ExitStack() as stack:
            profile, stats = capture_mod.profile_capture(baseline, _capture_streams(paths, stack))
        parse["seconds"] = time.perf_counter() - start
        parse["records"] = stats.records
        parse["malformed"] = stats.malformed
        report: dict[str, Any] = check_mod.check(baseline, profile)
        return report

    report = clock.run(work)
    return {
        "rows": int(parse["records"]),
        "parse_seconds": parse["seconds"],
        "malformed": int(parse["malformed"]),
        "files": len(paths),
        **_engine_summary(report),
    }


def engine_parse(root: Path, clock: Clock, files: int) -> Result:
    """Parse only, the same files as `stdlib_parse`: `read_capture_columns`, each chunk's
    columns taken (float64 and `str` arrays per feature) and dropped, nothing profiled."""
    (capture_mod,) = clock.imports("mlops_drift.capture")
    baseline = _load_baseline(clock, root)
    paths = _capture_paths(root, files)
    stats = capture_mod.CaptureStats()

    def work() -> int:
        rows = 0
        with ExitStack() as stack:
            for columns in capture_mod.read_capture_columns(
                baseline, _capture_streams(paths, stack), stats=stats
            ):
                rows += len(next(iter(columns.values())))
        return rows

    rows = clock.run(work)
    return {"rows": rows, "malformed": stats.malformed, "files": len(paths)}


def evidently(root: Path, clock: Clock, files: int) -> Result:
    """Evidently's `Report([DataDriftPreset()])` with its defaults, on pandas DataFrames."""
    (pd,) = clock.imports("pandas")
    reference = pd.DataFrame(data.load_window(root, "ref"))
    current = pd.DataFrame(data.load_window(root, "cur"))
    evidently_mod, presets = clock.imports("evidently", "evidently.presets")
    report = evidently_mod.Report([presets.DataDriftPreset()])
    snapshot = clock.run(lambda: report.run(current_data=current, reference_data=reference))
    features: dict[str, Any] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value = float(metric["value"])
            threshold = float(config["threshold"])
            # Distances drift at or above the threshold; p-values below it.
            p_value = "p_value" in config["method"]
            features[config["column"]] = {
                "method": config["method"],
                "value": value,
                "threshold": threshold,
                "drifted": value < threshold if p_value else value >= threshold,
            }
    return {
        "rows": len(current),
        "drifted": sorted(n for n, f in features.items() if f["drifted"]),
        "features": features,
    }


def scipy_per_column(root: Path, clock: Clock, files: int) -> Result:
    """`ks_2samp` per numeric column, `chi2_contingency` per categorical column (NaN dropped)."""
    (stats,) = clock.imports("scipy.stats")
    reference = data.load_window(root, "ref")
    current = data.load_window(root, "cur")
    categorical = set(_categorical_names(root))

    def work() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, cur in current.items():
            ref = reference[name]
            if name in categorical:
                ref_counts = Counter(ref.tolist())
                cur_counts = Counter(cur.tolist())
                keys = sorted(set(ref_counts) | set(cur_counts), key=str)
                table = np.array([[ref_counts[k] for k in keys], [cur_counts[k] for k in keys]])
                chi2, p, _, _ = stats.chi2_contingency(table)
                out[name] = {"chi2": float(chi2), "p_value": float(p)}
            else:
                result = stats.ks_2samp(ref[~np.isnan(ref)], cur[~np.isnan(cur)])
                out[name] = {"ks": float(result.statistic), "p_value": float(result.pvalue)}
        return out

    features = clock.run(work)
    for f in features.values():
        f["drifted"] = f["p_value"] < 0.05
    return {
        "rows": len(next(iter(current.values()))),
        "drifted": sorted(n for n, f in features.items() if f["drifted"]),
        "features": features,
    }


def sort_bound(root: Path, clock: Clock, files: int) -> Result:
    """The least work an exact KS needs: `np.sort` of every numeric column of the window once."""
    names = tuple(f["name"] for f in _meta(root)["features"] if f["kind"] == "numeric")
    current = data.load_window(root, "cur", names)
    sink: list[float] = []

    def work() -> None:
        for values in current.values():
            sink.append(float(np.sort(values)[0]))

    clock.run(work)
    return {"rows": len(next(iter(current.values()))), "columns": len(names)}


def stdlib_parse(root: Path, clock: Clock, files: int) -> Result:
    """The standard library's way: `json.loads` per line, `float()` per numeric field."""
    (json_mod,) = clock.imports("json")
    kinds = [f["kind"] == "numeric" for f in _meta(root)["features"]]
    paths = _capture_paths(root, files)
    nan = math.nan

    def work() -> int:
        rows = 0
        columns: list[list[Any]] = [[] for _ in kinds]
        for path in paths:
            with path.open("rb") as stream:
                for line in stream:
                    document = json_mod.loads(line)
                    fields = document["captureData"]["endpointInput"]["data"].split(",")
                    for column, numeric, text in zip(columns, kinds, fields, strict=True):
                        column.append((float(text) if text else nan) if numeric else text)
                    rows += 1
            columns = [[] for _ in kinds]  # one file's columns at a time, as a chunked reader
        return rows

    rows = clock.run(work)
    return {"rows": rows, "files": len(paths)}


def _capture_paths(root: Path, files: int) -> list[Path]:
    paths = sorted((root / "capture").glob("part-*.jsonl"))
    return paths[:files] if files else paths


APPROACHES: dict[str, Callable[[Path, Clock, int], Result]] = {
    "engine_baseline": engine_baseline,
    "engine_memory": engine_memory,
    "engine_capture": engine_capture,
    "engine_parse": engine_parse,
    "evidently": evidently,
    "scipy": scipy_per_column,
    "sort_bound": sort_bound,
    "stdlib_parse": stdlib_parse,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("approach", choices=sorted(APPROACHES))
    parser.add_argument("root", type=Path)
    parser.add_argument("--files", type=int, default=0, help="capture files to read (0: all)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the N costliest functions"
    )
    args = parser.parse_args(argv)
    clock = Clock(args.profile)
    result = APPROACHES[args.approach](args.root, clock, args.files)
    result.update(
        seconds=clock.seconds,
        import_seconds=clock.import_seconds,
        peak_mb=peak_mb(),
        rss_before_mb=clock.rss_before_mb,
    )
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
