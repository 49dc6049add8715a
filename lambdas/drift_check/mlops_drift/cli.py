"""The `mlops` console script: drift checks on a laptop or in CI, with the Lambda's engine.

    mlops drift profile --data train.parquet --out baseline.json \\
        [--categorical COL,...] [--output-column COL[,COL]] [--bins N]
    mlops drift check --baseline baseline.json --capture PATH --out report.json \\
        [--html report.html] [--thresholds JSON] [--critical COL,...] [--min-rows N]
    mlops quality check --baseline baseline.json --capture PATH --labels PATH \\
        --out report.json [--problem classification|regression] [--segment COL] \\
        [--sensitive COL] [--threshold X] [--positive-label L] [--min-group-size N]

Exit codes, so CI can gate on them: 0 no drift, 1 drift detected, 2 bad input (unreadable or
invalid baseline, dataset or thresholds, missing path, capture that does not match the
baseline) with one message on stderr, 3 insufficient data (no verdict).

`mlops quality check` (model quality from capture joined with ground truth, see
`mlops_drift.quality`): 0 the check ran (the report is written), 2 bad input (unreadable or
invalid baseline, missing path, a column not in the baseline, a bad option) with one line on
stderr and no report, 3 no labelled predictions (the report is still written, with the
reason).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

import orjson

from mlops_drift.baseline import (
    Baseline,
    BaselineError,
    CategoricalBaseline,
    baseline_to_dict,
    load_baseline,
)
from mlops_drift.capture import BinaryReadable, CaptureStats, SchemaMismatch, profile_capture
from mlops_drift.check import REPORT_KIND, Thresholds, check

EXIT_OK: Final = 0
"""The check ran and found no drift (a profile was written)."""
EXIT_DRIFT: Final = 1
"""The check ran and found drift."""
EXIT_BAD_INPUT: Final = 2
"""Bad input: nothing was checked, or the capture does not match the baseline."""
EXIT_INSUFFICIENT: Final = 3
"""Too few records in the window for a verdict."""

CAPTURE_SUFFIXES: Final = (".jsonl", ".jsonl.gz")
"""Capture files in a folder: these, and files without an extension (as SageMaker names them)."""


class CliError(ValueError):
    """Bad input the user can fix; reported as one line on stderr with exit code 2."""


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _listed(values: Sequence[str] | None) -> list[str]:
    """Names from repeatable, comma-separated options, in order, without duplicates."""
    return list(dict.fromkeys(name for value in values or () for name in _names(value)))


def _write(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


def _json_bytes(document: Any) -> bytes:
    return orjson.dumps(
        document,
        option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE,
    )


# ---- profile ----------------------------------------------------------------------------------


def _profile(args: argparse.Namespace) -> int:
    # pyarrow only here: `check` (and the Lambda) never import it.
    from mlops_drift.baseline import build_baseline  # noqa: PLC0415
    from mlops_drift.datasets import DatasetError, read_dataset  # noqa: PLC0415

    data = Path(args.data)
    categorical = _listed(args.categorical)
    outputs = _listed(args.output_column)
    try:
        columns = read_dataset(data, categorical=categorical)
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    missing = [name for name in outputs if name not in columns]
    if missing:
        raise CliError(
            f"--output-column names columns not in {data}: {', '.join(map(repr, missing))}; "
            f"its columns: {', '.join(columns)}"
        )
    # Text columns can only be categorical; --categorical is for numbers that are categories.
    text = [n for n, c in columns.items() if c.dtype == object and n not in categorical]
    if args.bins < 10:
        raise CliError(f"--bins must be at least 10, got {args.bins}")
    baseline = build_baseline(
        columns,
        categorical=[*categorical, *text],
        outputs=outputs,
        description=str(data),
        bins=args.bins,
    )
    out = Path(args.out)
    _write(out, _json_bytes(baseline_to_dict(baseline)))
    n_categorical = sum(isinstance(f, CategoricalBaseline) for f in baseline.features)
    print(
        f"baseline of {baseline.rows:,} rows: {len(baseline.inputs)} inputs, "
        f"{len(baseline.outputs)} outputs ({len(baseline.features) - n_categorical} numeric, "
        f"{n_categorical} categorical) -> {out}"
    )
    return EXIT_OK


# ---- check ------------------------------------------------------------------------------------


def _load_baseline(path: Path) -> Baseline:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"baseline {path}: no such file") from None
    except OSError as exc:
        raise CliError(f"baseline {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"baseline {path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CliError(f"baseline {path}: expected a JSON object, got {type(document).__name__}")
    try:
        return load_baseline(document)
    except BaselineError as exc:
        raise CliError(f"baseline {path}: {exc}") from None


def _thresholds(value: str | None, baseline: Baseline) -> tuple[Thresholds, dict[str, Thresholds]]:
    """`--thresholds`: a JSON object, inline or in a file; `features` overrides per feature."""
    if value is None:
        return Thresholds(), {}
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text()
        except OSError as exc:
            raise CliError(
                f"--thresholds {value!r}: neither a JSON object nor a readable file "
                f"({exc.strerror or exc})"
            ) from None
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"--thresholds: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CliError(f"--thresholds: expected a JSON object, got {text.strip()[:80]}")
    per_feature = document.pop("features", None) or {}
    if not isinstance(per_feature, dict):
        raise CliError("--thresholds: 'features' must map feature names to threshold objects")
    try:
        defaults = Thresholds.from_dict(document)
        known = {f.name for f in baseline.features}
        unknown = sorted(set(per_feature) - known)
        if unknown:
            raise ValueError(
                f"thresholds: features not in the baseline: {', '.join(map(repr, unknown))}; "
                f"the baseline's features: {', '.join(sorted(known))}"
            )
        overrides = {
            name: Thresholds.from_dict({**defaults.to_dict(), **values})
            for name, values in per_feature.items()
        }
    except ValueError as exc:
        raise CliError(f"--thresholds: {str(exc).removeprefix('thresholds: ')}") from None
    return defaults, overrides


def capture_files(path: Path, what: str = "capture") -> list[Path]:
    """A capture (or ground-truth) file, or every such file under a folder (recursively,
    sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CliError(f"{what} {path}: no such file or folder")
    files = []
    for candidate in sorted(path.rglob("*")):
        name = candidate.name
        if name.startswith(".") or not candidate.is_file():
            continue
        if name.endswith(CAPTURE_SUFFIXES) or "." not in name:
            files.append(candidate)
    return files


def _streams(files: Sequence[Path], what: str = "capture") -> Iterator[tuple[str, BinaryReadable]]:
    """Each file opened only when the reader gets to it (gzip by extension), then closed."""
    for path in files:
        with ExitStack() as stack:
            try:
                stream: BinaryReadable = stack.enter_context(
                    gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # noqa: SIM115 (entered on the stack)
                )
            except OSError as exc:
                raise CliError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
            yield str(path), stream


def _mismatch_report(
    baseline: Baseline,
    message: str,
    stats: CaptureStats,
    *,
    thresholds: Thresholds,
    min_rows: int,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The report of a window that does not fit the baseline: the reason, never a verdict."""
    return {
        "schema_version": 1,
        "kind": REPORT_KIND,
        "status": "schema_mismatch",
        "drift": None,
        "prediction_drift": None,
        "drifted_share": None,
        "decision": {"reason": message},
        "message": message,
        "rows": stats.records,
        "min_rows": min_rows,
        "baseline": {
            "rows": baseline.rows,
            "created_at": baseline.created_at,
            "source": dict(baseline.source),
        },
        "thresholds": thresholds.to_dict(),
        "malformed": stats.to_dict(),
        "context": context,
        "features": [],
    }


def _write_report(report: dict[str, Any], out: Path, html: Path | None) -> None:
    _write(out, _json_bytes(report))
    if html is not None:
        from mlops_drift.html import render_html  # noqa: PLC0415

        _write(html, render_html(report).encode())


def _check(args: argparse.Namespace) -> int:
    baseline = _load_baseline(Path(args.baseline))
    thresholds, overrides = _thresholds(args.thresholds, baseline)
    critical = _listed(args.critical)
    known = [f.name for f in baseline.features]
    unknown = [name for name in critical if name not in known]
    if unknown:
        raise CliError(
            f"--critical names features not in the baseline: {', '.join(map(repr, unknown))}; "
            f"the baseline's features: {', '.join(known)}"
        )
    if args.min_rows < 0:
        raise CliError(f"--min-rows must be at least 0, got {args.min_rows}")
    capture = Path(args.capture)
    files = capture_files(capture)
    out, html = Path(args.out), Path(args.html) if args.html else None
    context: dict[str, Any] = {
        "baseline": args.baseline,
        "capture": str(capture),
        "files": len(files),
    }
    try:
        profile, stats = profile_capture(baseline, _streams(files))
    except SchemaMismatch as exc:
        report = _mismatch_report(
            baseline,
            str(exc),
            exc.stats,
            thresholds=thresholds,
            min_rows=args.min_rows,
            context=context,
        )
        _write_report(report, out, html)
        raise CliError(f"{exc} (report: {out})") from None
    report = check(
        baseline,
        profile,
        thresholds=thresholds,
        critical=critical,
        min_rows=args.min_rows,
        feature_thresholds=overrides,
        malformed=stats.to_dict(),
        context=context,
    )
    _write_report(report, out, html)
    malformed = (
        f", {stats.malformed:,} malformed line{'s' * (stats.malformed != 1)}"
        if stats.malformed
        else ""
    )
    where = f"{len(files)} capture file{'s' * (len(files) != 1)}"
    if report["status"] == "insufficient_data":
        print(f"insufficient data: {report['decision']['reason']} ({where}{malformed}) -> {out}")
        return EXIT_INSUFFICIENT
    verdict = "drift detected" if report["drift"] else "no drift"
    print(f"{verdict}: {report['decision']['reason']} ({where}{malformed}) -> {out}")
    return EXIT_DRIFT if report["drift"] else EXIT_OK


# ---- quality ----------------------------------------------------------------------------------


def _quality(args: argparse.Namespace) -> int:
    from mlops_drift.quality import QualityInputError, check_quality  # noqa: PLC0415

    baseline = _load_baseline(Path(args.baseline))
    if args.min_group_size < 1:
        raise CliError(f"--min-group-size must be at least 1, got {args.min_group_size}")
    if not 0.0 <= args.threshold <= 1.0:
        raise CliError(f"--threshold must be in [0, 1], got {args.threshold}")
    capture, labels = Path(args.capture), Path(args.labels)
    capture_list = capture_files(capture)
    label_list = capture_files(labels, "labels")
    out = Path(args.out)
    try:
        report = check_quality(
            baseline,
            _streams(capture_list),
            _streams(label_list, "labels"),
            problem=args.problem,
            threshold=args.threshold,
            positive_label=args.positive_label,
            segment=args.segment,
            sensitive=args.sensitive,
            min_group_size=args.min_group_size,
        )
    except QualityInputError as exc:
        raise CliError(str(exc)) from None
    document = report.to_json()
    document["context"] = {
        "baseline": args.baseline,
        "capture": str(capture),
        "capture_files": len(capture_list),
        "labels": str(labels),
        "label_files": len(label_list),
    }
    _write(out, _json_bytes(document))
    if report.status == "no_labels":
        print(f"{report.reason} -> {out}")
        return EXIT_INSUFFICIENT
    print(f"quality checked: {report.reason} -> {out}")
    return EXIT_OK


def _quality_parser(commands: Any) -> None:
    quality = commands.add_parser("quality", help="model quality from capture and ground truth")
    actions = quality.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "check",
        help="join captured predictions with ground truth and measure the model",
        description="Read SageMaker data capture and ground truth (each a file, or every "
        "*.jsonl, *.jsonl.gz and extensionless file under a folder), join them by eventId and "
        "write the quality report. Exit 0 the check ran, 2 bad input, 3 no labelled "
        "predictions (the report is still written).",
    )
    run.add_argument("--baseline", required=True, metavar="PATH", help="baseline JSON")
    run.add_argument("--capture", required=True, metavar="PATH", help="capture file or folder")
    run.add_argument("--labels", required=True, metavar="PATH", help="ground truth file or folder")
    run.add_argument("--out", required=True, metavar="PATH", help="report JSON to write")
    run.add_argument(
        "--problem",
        choices=("classification", "regression"),
        default="classification",
        help="the model's problem (default classification)",
    )
    run.add_argument("--segment", metavar="COL", help="input feature to report metrics by")
    run.add_argument(
        "--sensitive", metavar="COL", help="input feature to measure group fairness over"
    )
    run.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        metavar="X",
        help="a score >= X predicts the positive class (default 0.5)",
    )
    run.add_argument(
        "--positive-label", metavar="L", help="the positive class's label (default 1/true)"
    )
    run.add_argument(
        "--min-group-size",
        type=int,
        default=30,
        metavar="N",
        help="fewest predictions for a group in the fairness differences (default 30)",
    )
    run.set_defaults(run=_quality)


# ---- the parser -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="The ML platform's command line.",
        epilog="exit codes: 0 no drift, 1 drift detected, 2 bad input, 3 insufficient data",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    drift = commands.add_parser("drift", help="drift baselines and checks")
    actions = drift.add_subparsers(dest="action", required=True, metavar="ACTION")

    profile = actions.add_parser(
        "profile",
        help="build a baseline from a training dataset",
        description="Build a drift baseline (JSON) from a CSV (with header), Parquet or JSON "
        "Lines dataset. Text columns are categorical; so are the columns named in "
        "--categorical. Other columns are numeric inputs, except the --output-column ones.",
    )
    profile.add_argument("--data", required=True, metavar="PATH", help="the training dataset")
    profile.add_argument("--out", required=True, metavar="PATH", help="baseline JSON to write")
    profile.add_argument(
        "--categorical",
        action="append",
        metavar="COL,...",
        help="columns that are categories even when they hold numbers (repeatable)",
    )
    profile.add_argument(
        "--output-column",
        action="append",
        metavar="COL[,COL]",
        help="the model's output columns, checked for prediction drift (repeatable)",
    )
    profile.add_argument(
        "--bins", type=int, default=1000, metavar="N", help="quantile bins (default 1000)"
    )
    profile.set_defaults(run=_profile)

    run = actions.add_parser(
        "check",
        help="check captured traffic against a baseline",
        description="Read SageMaker data capture (a file, or every *.jsonl, *.jsonl.gz and "
        "extensionless file under a folder), compare it with the baseline and write the "
        "report. Exit 0 no drift, 1 drift, 2 bad input or schema mismatch, 3 insufficient "
        "data.",
    )
    run.add_argument("--baseline", required=True, metavar="PATH", help="baseline JSON")
    run.add_argument("--capture", required=True, metavar="PATH", help="capture file or folder")
    run.add_argument("--out", required=True, metavar="PATH", help="report JSON to write")
    run.add_argument("--html", metavar="PATH", help="also write the report as HTML")
    run.add_argument(
        "--thresholds",
        metavar="JSON",
        help='thresholds as a JSON object or a file holding one, e.g. \'{"psi": 0.25, '
        '"features": {"age": {"psi": 0.3}}}\'',
    )
    run.add_argument(
        "--critical",
        action="append",
        metavar="COL,...",
        help="features whose drift alone means drift (repeatable)",
    )
    run.add_argument(
        "--min-rows",
        type=int,
        default=100,
        metavar="N",
        help="fewest records for a verdict (default 100)",
    )
    run.set_defaults(run=_check)
    _quality_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on a usage error)."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (CliError, BaselineError, ValueError) as exc:
        # ValueError: the engine's own refusals (a dataset it cannot profile, names it does
        # not know), each already a complete sentence.
        print(f"mlops: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return code


if __name__ == "__main__":
    sys.exit(main())
