"""The report for people: one self-contained HTML page rendered from `report.json`.

Self-contained means no network at all: inline CSS, inline SVG charts, no scripts, fonts or
images, so the page opens the same from S3, an email attachment or a CI artifact. Every piece
of text from the report (feature names, categories and quoted capture lines come from users)
is escaped. Standard library only: this runs in the Lambda.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from itertools import pairwise
from typing import Any, Final

_CHART_WIDTH: Final = 640
_CHART_HEIGHT: Final = 180
_AXIS: Final = 34
_LABEL_CHARS: Final = 14

_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:60rem;padding:0 1rem;color:#1f2328;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem}
h3{font-size:1.05rem;margin:0 0 .4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:1em;padding:.1em .7em;font-weight:600;font-size:.85rem}
.drift{background:#ffebe9;color:#a40e26}.ok{background:#dafbe1;color:#116329}
.none{background:#fff8c5;color:#7d4e00}.critical{background:#a40e26;color:#fff}
.message{border-left:4px solid #bf8700;background:#fff8c5;padding:.6rem 1rem}
section.feature{border:1px solid #d0d7de;border-radius:6px;padding:1rem;margin:1rem 0}
section.feature.drifted{border-color:#cf222e}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem}
pre{white-space:pre-wrap;word-break:break-all;margin:0}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:-.1em}
.muted{color:#59636e}.exceeded{color:#a40e26;font-weight:600}
svg text{font-size:10px;fill:#59636e}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: Any) -> str:
    """A number for people: 4 significant digits, scientific when very small or large."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return _e(value)


def _badge(report: Mapping[str, Any]) -> str:
    status = report.get("status")
    if status == "schema_mismatch":
        return '<span class="badge none">schema mismatch: no verdict</span>'
    if status == "insufficient_data":
        return '<span class="badge none">insufficient data: no verdict</span>'
    if report.get("drift"):
        return '<span class="badge drift">drift detected</span>'
    if report.get("drift") is False:
        return '<span class="badge ok">no drift</span>'
    return f'<span class="badge none">{_e(status or "unknown")}</span>'


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column table; values are already HTML."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table>{body}</table>"


def _summary(report: Mapping[str, Any]) -> str:
    decision = report.get("decision") or {}
    baseline = report.get("baseline") or {}
    share = report.get("drifted_share")
    pairs: list[tuple[str, str]] = [
        ("status", _e(report.get("status", "unknown"))),
        ("dataset drift", _num(report.get("drift"))),
        ("prediction drift", _num(report.get("prediction_drift"))),
        ("drifted share of inputs", "—" if share is None else f"{share:.0%}"),
        ("records in the window", _num(report.get("rows"))),
        ("minimum for a verdict", _num(report.get("min_rows"))),
        ("baseline records", _num(baseline.get("rows"))),
        ("baseline created", _e(baseline.get("created_at", "—"))),
    ]
    if decision.get("reason"):
        pairs.append(("decision", _e(decision["reason"])))
    if decision.get("rule"):
        pairs.append(("rule", _e(decision["rule"])))
    if decision.get("critical"):
        pairs.append(("critical features", _e(", ".join(map(str, decision["critical"])))))
    context = report.get("context") or {}
    pairs.extend((f"context: {key}", _e(value)) for key, value in context.items())
    return _rows(pairs)


def _message(report: Mapping[str, Any]) -> str:
    status = report.get("status")
    if status not in ("insufficient_data", "schema_mismatch"):
        return ""
    decision = report.get("decision") or {}
    text = report.get("message") or decision.get("reason") or ""
    title = (
        "The capture does not match the baseline"
        if status == "schema_mismatch"
        else "Too few records for a verdict"
    )
    return f'<div class="message"><strong>{_e(title)}.</strong> {_e(text)}</div>'


def _malformed(report: Mapping[str, Any]) -> str:
    malformed = report.get("malformed") or {}
    count = malformed.get("count", 0)
    examples = malformed.get("examples") or []
    head = f"<h2>Malformed capture lines: {_num(count)}</h2>"
    if not count and not examples:
        return head + '<p class="muted">None: every line was read.</p>'
    rows = "".join(
        "<tr>"
        f"<td><code>{_e(x.get('source', ''))}</code></td>"
        f'<td class="num">{_num(x.get("line"))}</td>'
        f"<td>{_e(x.get('reason', ''))}</td>"
        f"<td><pre>{_e(x.get('text', ''))}</pre></td>"
        "</tr>"
        for x in examples
    )
    table = (
        "<table><tr><th>source</th><th>line</th><th>reason</th><th>text (first 200 "
        f"characters)</th></tr>{rows}</table>"
        if examples
        else ""
    )
    extra = []
    if malformed.get("schema_mismatched"):
        extra.append(f"{_num(malformed['schema_mismatched'])} did not fit the baseline's schema")
    invalid = malformed.get("invalid_values") or {}
    if invalid:
        listed = ", ".join(f"{_e(k)}: {_num(v)}" for k, v in invalid.items())
        extra.append(f"values that are not numbers, counted as missing: {listed}")
    note = f"<p>{'; '.join(extra)}.</p>" if extra else ""
    return head + note + table


def _bin_labels(histogram: Mapping[str, Any], bins: int) -> list[str]:
    """Labels of a histogram's bars: categories, or the numeric bins' edges."""
    if "categories" in histogram:
        return [str(c) for c in histogram["categories"]]
    edges = [_num(e) for e in histogram.get("edges", [])]
    if bins == len(edges) + 1:
        inner = [f"[{a}, {b})" for a, b in pairwise(edges)]
        if inner:
            inner[-1] = inner[-1][:-1] + "]"
        return [f"< {edges[0]}", *inner, f"> {edges[-1]}"] if edges else [""] * bins
    if bins == len(edges) - 1:
        return [f"[{a}, {b})" for a, b in pairwise(edges)]
    return [str(i + 1) for i in range(bins)]


def _proportions(values: Sequence[Any]) -> list[float]:
    numbers = [float(v) if isinstance(v, int | float) and math.isfinite(v) else 0.0 for v in values]
    total = sum(numbers)
    return [v / total for v in numbers] if total > 0 else numbers


def _chart(histogram: Mapping[str, Any]) -> str:
    """Baseline and current distributions drawn over each other as bars, one slot per bin.

    Every bin gets the same width (the numeric bins are the baseline's deciles, so this is
    the scale on which a drift shows), baseline filled grey, current outlined on top.
    """
    ref = _proportions(histogram.get("baseline") or [])
    cur = _proportions(histogram.get("current") or [])
    bins = max(len(ref), len(cur))
    if bins == 0:
        return '<p class="muted">No histogram.</p>'
    ref += [0.0] * (bins - len(ref))
    cur += [0.0] * (bins - len(cur))
    labels = _bin_labels(histogram, bins)
    labels += [""] * (bins - len(labels))
    unseen = {str(c) for c in histogram.get("unseen") or []}
    top = max(*ref, *cur) or 1.0
    plot_h = _CHART_HEIGHT - _AXIS
    slot = (_CHART_WIDTH - 40) / bins
    parts = [
        f'<svg role="img" width="{_CHART_WIDTH}" height="{_CHART_HEIGHT}" '
        f'viewBox="0 0 {_CHART_WIDTH} {_CHART_HEIGHT}">',
        f'<text x="0" y="10">{top:.0%}</text>',
        f'<line x1="36" y1="{plot_h}" x2="{_CHART_WIDTH}" y2="{plot_h}" stroke="#8c959f"/>',
    ]
    every = max(1, math.ceil(bins / 12))
    for i in range(bins):
        x = 38 + i * slot
        width = max(slot - 2, 1)
        h_ref = ref[i] / top * (plot_h - 12)
        h_cur = cur[i] / top * (plot_h - 12)
        label = labels[i]
        tip = (
            f"{label}{' (unseen in the baseline)' if label in unseen else ''}: "
            f"baseline {ref[i]:.2%}, current {cur[i]:.2%}"
        )
        parts.append(
            f"<g><title>{_e(tip)}</title>"
            f'<rect x="{x:.1f}" y="{plot_h - h_ref:.1f}" width="{width:.1f}" '
            f'height="{h_ref:.1f}" fill="#afb8c1"/>'
            f'<rect x="{x + 1:.1f}" y="{plot_h - h_cur:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{h_cur:.1f}" fill="#0969da" fill-opacity="0.25" stroke="#0969da" '
            'stroke-width="1.5"/></g>'
        )
        if i % every == 0:
            short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{plot_h + 12}" text-anchor="middle">'
                f"{_e(short)}</text>"
            )
    parts.append("</svg>")
    legend = (
        '<div class="legend"><span style="background:#afb8c1"></span>baseline'
        '<span style="background:#cfe2fa;border:1.5px solid #0969da"></span>current</div>'
    )
    return "".join(parts) + legend


def _statistics(statistics: Mapping[str, Any]) -> str:
    rows = []
    for name, stat in statistics.items():
        if not isinstance(stat, Mapping):
            rows.append(
                f'<tr><td>{_e(name)}</td><td class="num">{_num(stat)}</td>' + "<td></td>" * 3
            )
            continue
        bounds = ""
        if stat.get("lower") is not None or stat.get("upper") is not None:
            bounds = f"[{_num(stat.get('lower'))}, {_num(stat.get('upper'))}]"
            if stat.get("error_bound") is not None:
                bounds += f" ± ≤ {_num(stat['error_bound'])}"
        extra = []
        if "baseline" in stat and "current" in stat:
            extra.append(f"baseline {_num(stat['baseline'])}, current {_num(stat['current'])}")
        pvalue = stat.get("pvalue")
        if isinstance(pvalue, Mapping):
            extra.append(
                f"p-value {_num(pvalue.get('value'))} "
                f"[{_num(pvalue.get('lower'))}, {_num(pvalue.get('upper'))}]"
            )
        if stat.get("statistic") is not None:
            extra.append(f"χ² {_num(stat['statistic'])}, df {_num(stat.get('df'))}")
        if stat.get("certain") is False:
            extra.append("the bound straddles the threshold")
        if stat.get("reason"):
            extra.append(_e(stat["reason"]))
        exceeded = stat.get("exceeded")
        verdict = '<span class="exceeded">exceeded</span>' if exceeded else "—"
        rows.append(
            f"<tr><td>{_e(name)}</td>"
            f'<td class="num">{_num(stat.get("value"))}</td>'
            f"<td>{bounds}{'<br>' if bounds and extra else ''}{'; '.join(extra)}</td>"
            f'<td class="num">{_num(stat.get("threshold"))}</td>'
            f"<td>{verdict}</td></tr>"
        )
    head = (
        "<tr><th>statistic</th><th>value</th><th>bounds and details</th><th>threshold</th>"
        "<th>verdict</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _feature(feature: Mapping[str, Any]) -> str:
    drifted = bool(feature.get("drifted"))
    badge = (
        '<span class="badge drift">drifted</span>'
        if drifted
        else '<span class="badge ok">no drift</span>'
    )
    if feature.get("critical"):
        badge += ' <span class="badge critical">critical</span>'
    reasons = feature.get("reasons") or []
    because = f" <span class='muted'>({_e(', '.join(map(str, reasons)))})</span>" if reasons else ""
    rows = feature.get("rows") or {}
    counts = ""
    if rows:
        ref, cur = rows.get("baseline") or {}, rows.get("current") or {}
        counts = (
            f"<p class='muted'>baseline {_num(ref.get('count'))} values, "
            f"{_num(ref.get('missing'))} missing; current {_num(cur.get('count'))} values, "
            f"{_num(cur.get('missing'))} missing</p>"
        )
    return (
        f'<section class="feature{" drifted" if drifted else ""}">'
        f"<h3>{_e(feature.get('name', '?'))} "
        f"<span class='muted'>{_e(feature.get('role', ''))}, {_e(feature.get('kind', ''))}</span>"
        f" {badge}{because}</h3>"
        f"{counts}{_chart(feature.get('histogram') or {})}"
        f"{_statistics(feature.get('statistics') or {})}</section>"
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML page: summary, malformed lines, then features, drifted first."""
    features = list(report.get("features") or [])
    # Drifted first (critical first among them), otherwise in the report's order.
    features.sort(
        key=lambda f: (not f.get("drifted"), not (f.get("drifted") and f.get("critical")))
    )
    context = report.get("context") or {}
    subject = context.get("model") or context.get("endpoint") or ""
    title = f"Drift report{' · ' + str(subject) if subject else ''}"
    drifted = sum(1 for f in features if f.get("drifted"))
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>{_badge(report)}</p>",
        _message(report),
        "<h2>Summary</h2>",
        _summary(report),
        _malformed(report),
    ]
    if features:
        body.append(f"<h2>Features: {drifted} of {len(features)} drifted</h2>")
        body.extend(_feature(f) for f in features)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
