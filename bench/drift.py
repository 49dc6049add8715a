"""Drift benchmark: this engine against Evidently, per-column scipy and the sort bound.

    python -m bench.drift [--quick] [--rows N] [--repeats N] [--no-evidently]

Run by `make bench` in its own environment (build/bench-venv). Generates the seeded windows
once (cached under build/bench/data), runs every approach in fresh processes, prints the
measurements, the targets of issue 4 with PASS/FAIL and the agreement checks, and writes
build/bench/drift.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import data, report

REPO = Path(__file__).resolve().parent.parent
HANDLER_DIR = REPO / "lambdas" / "drift_check"
LAYER_DIR = REPO / "build" / "lambda" / "drift-layer"

MALLOC_TUNING = {
    # glibc: keep freed memory in the heap instead of unmapping every large temporary array and
    # faulting fresh pages in again on the next one. The values the component sets on the
    # drift-check functions (components/drift.py; tests/test_bench.py keeps the two equal).
    "MALLOC_MMAP_THRESHOLD_": "1073741824",
    "MALLOC_TRIM_THRESHOLD_": "1073741824",
    "MALLOC_TOP_PAD_": "268435456",
}
"""Environment of the engine's runs (and of the sort bound's) unless --no-malloc-tuning."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_worker(
    approach: str, root: Path, *, files: int = 0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One run of an approach in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "bench.workers", approach, str(root), "--files", str(files)]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        command,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{approach} failed ({completed.returncode}): {tail[0]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def measure(
    name: str,
    approach: str,
    root: Path,
    *,
    repeats: int,
    once_above: float,
    files: int = 0,
    env: dict[str, str] | None = None,
) -> report.Measurement:
    """Median of `repeats` fresh-process runs; one run only when the first exceeds `once_above`."""
    runs: list[dict[str, Any]] = []
    for i in range(repeats):
        result = run_worker(approach, root, files=files, env=env)
        runs.append(result)
        log(
            f"{name} run {i + 1}: {result['seconds']:.3f} s, peak {result['peak_mb']:.0f} MB, "
            f"import {result['import_seconds']:.2f} s"
        )
        if result["seconds"] > once_above:
            break
    return report.summarize(name, runs)


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def importtime_cumulative(stderr: str, module: str) -> float | None:
    """Cumulative seconds of the top-level import of `module` in `-X importtime` output."""
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match and match.group(4) == module and len(match.group(3)) == 1:
            return int(match.group(2)) / 1e6
    return None


def importtime_breakdown(stderr: str, module: str, top: int = 8) -> dict[str, float]:
    """Where a top-level import's time goes: its own body and its slowest direct imports.

    `-X importtime` prints a module after everything it imported, indented two spaces per
    level; the direct imports of a top-level module are the lines at the next level since the
    previous top-level line.
    """
    children: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        depth = len(match.group(3))
        if depth == 1:
            if match.group(4) == module:
                ranked = sorted(children.items(), key=lambda kv: -kv[1])[:top]
                return {f"{module} (own body)": int(match.group(1)) / 1e6, **dict(ranked)}
            children = {}
        elif depth == 3:
            children[match.group(4)] = int(match.group(2)) / 1e6
    return {}


def cold_start(repeats: int) -> dict[str, Any]:
    """Import time of the handler module (or the engine's modules when it does not exist yet)."""
    from mlops_drift import settings  # noqa: PLC0415 - standard library only

    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        settings.ENV_REPORTS_BUCKET: "reports",
        settings.ENV_CAPTURE_BUCKET: "capture",
        settings.ENV_BASELINE_BUCKET: "models",
        settings.ENV_EVENT_BUS: "platform",
        settings.ENV_METRICS_NAMESPACE: settings.METRICS_NAMESPACE,
        settings.ENV_SERVICE_NAME: settings.SERVICE_NAME,
    }
    modules = (
        ["handler"]
        if (HANDLER_DIR / "handler.py").exists()
        else ["mlops_drift.capture", "mlops_drift.check"]
    )
    statement = "; ".join(f"import {m}" for m in modules)
    out: dict[str, Any] = {"modules": modules, "python": platform.python_version()}
    for module in modules:
        samples = []
        for _ in range(repeats + 1):  # the first run warms the page cache and is dropped
            completed = subprocess.run(  # noqa: S603 - our own interpreter
                [sys.executable, "-X", "importtime", "-c", f"import {module}"],
                cwd=HANDLER_DIR,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = importtime_cumulative(completed.stderr, module)
            if completed.returncode != 0 or seconds is None:
                out[module] = {"error": (completed.stderr.strip().splitlines() or ["?"])[-1]}
                break
            samples.append(seconds)
            breakdown = importtime_breakdown(completed.stderr, module)
        else:
            out[module] = {"import_seconds": statistics.median(samples[1:]), "last": breakdown}
    walls = []
    for command in ([statement], ["pass"]) * (repeats + 1):
        start = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", *command], cwd=HANDLER_DIR, env=env, check=False
        )
        walls.append(time.perf_counter() - start)
    out["process_seconds"] = statistics.median(walls[2::2])
    out["bare_interpreter_seconds"] = statistics.median(walls[3::2])
    return out


def layer_size() -> dict[str, Any]:
    """Size of the layer `make lambda-layer` built, unzipped and zipped, in MB."""
    archive = LAYER_DIR.with_suffix(".zip")
    if not archive.exists():
        return {"error": "no layer: run `make lambda-layer` (make bench does)"}
    unzipped = sum(p.stat().st_size for p in LAYER_DIR.rglob("*") if p.is_file())
    return {
        "unzipped_mb": round(unzipped / 2**20, 2),
        "zipped_mb": round(archive.stat().st_size / 2**20, 2),
        "limit_unzipped_mb": 250,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 run, no Evidently")
    parser.add_argument("--rows", type=int, help="rows per window (default 1,000,000)")
    parser.add_argument("--repeats", type=int, help="fresh-process runs per approach (3)")
    parser.add_argument("--scale", type=int, default=10, help="size of the large capture window")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--no-malloc-tuning", action="store_true")
    parser.add_argument(
        "--once-above", type=float, default=60.0, help="seconds above which a run is not repeated"
    )
    parser.add_argument("--data-dir", type=Path, default=REPO / "build" / "bench" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "drift.json")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="only rewrite the README's performance tables from the --out document",
    )
    args = parser.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.evidently = not (args.quick or args.no_evidently)
    return args


def update_readme(document_path: Path, readme: Path = REPO / "README.md") -> None:
    """Rewrite the README's generated performance tables from a bench document."""
    document = json.loads(document_path.read_text())
    section = report.readme_section(document)
    readme.write_text(report.replace_readme_section(readme.read_text(), section))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    if args.readme:
        update_readme(args.out)
        return 0
    dataset = data.generate(args.data_dir, args.rows, args.seed, args.scale, log)
    root = dataset.root
    files = len(dataset.meta["chunks"])
    engine_env = {} if args.no_malloc_tuning else dict(MALLOC_TUNING)

    measurements: dict[str, report.Measurement] = {}
    errors: dict[str, str] = {}

    def attempt(name: str, run: Callable[[], report.Measurement]) -> None:
        try:
            measurements[name] = run()
        except RuntimeError as error:
            errors[name] = str(error)
            log(str(error))

    repeats, once = args.repeats, args.once_above
    attempt(
        report.ENGINE_BASELINE,
        functools.partial(
            measure,
            report.ENGINE_BASELINE,
            "engine_baseline",
            root,
            repeats=1,
            once_above=once,
            env=engine_env,
        ),
    )
    plan: list[tuple[str, str, int, dict[str, str]]] = [
        (report.SORT_BOUND, "sort_bound", 0, engine_env),
        (report.ENGINE_MEMORY, "engine_memory", 0, engine_env),
        (report.ENGINE_CAPTURE, "engine_capture", files, engine_env),
        (report.ENGINE_CAPTURE_SCALED, "engine_capture", files * args.scale, engine_env),
        (report.SCIPY, "scipy", 0, {}),
        # Both parsers under the engine's allocator settings: the ratio compares parsers only.
        (report.ENGINE_PARSE, "engine_parse", files, engine_env),
        (report.STDLIB_PARSE, "stdlib_parse", files, engine_env),
    ]
    if engine_env:
        plan.insert(2, (report.ENGINE_MEMORY_DEFAULT_MALLOC, "engine_memory", 0, {}))
    if args.evidently:
        plan.append((report.EVIDENTLY, "evidently", 0, {}))
    for name, approach, n_files, env in plan:
        if report.ENGINE_BASELINE in errors and approach.startswith("engine"):
            errors[name] = "no baseline (build_baseline failed)"
            continue
        attempt(
            name,
            functools.partial(
                measure,
                name,
                approach,
                root,
                repeats=repeats,
                once_above=once,
                files=n_files,
                env=env,
            ),
        )

    log("cold start and layer size")
    cold = cold_start(max(args.repeats, 3))
    layer = layer_size()
    found = report.targets(measurements)
    checks = report.agreement(measurements, dataset.meta["drifted"])

    context = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "data": {
            "rows": args.rows,
            "features": len(dataset.meta["features"]),
            "numeric": sum(f["kind"] == "numeric" for f in dataset.meta["features"]),
            "categorical": sum(f["kind"] == "categorical" for f in dataset.meta["features"]),
            "drifted": dataset.meta["drifted"],
            "scaled_rows": args.rows * args.scale,
            "seed": args.seed,
        },
        "repeats": args.repeats,
        # Other work on the machine makes timings noisy; this shows how busy it was.
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "engine_env": engine_env,
        "errors": errors,
        "cold_start": cold,
        "layer": layer,
    }
    document = report.to_json(measurements, found, checks, context)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")

    print(f"\nDrift check, {args.rows:,} rows x {len(dataset.meta['features'])} features")
    print(f"(engine runs with {engine_env or 'default malloc'})\n")
    print(report.measurement_table(measurements, errors))
    print()
    print(report.targets_table(found, checks))
    print()
    print(f"cold start: {json.dumps(cold)}")
    print(f"layer: {json.dumps(layer)}")
    print(f"\nwritten: {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
