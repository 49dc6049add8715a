"""Compare a window with its baseline: per-feature statistics, verdicts and the report.

Report shape (`report.json`, `schema_version` 1):

    status            "ok" | "insufficient_data"   (the handler adds "schema_mismatch")
    drift             dataset drift: true | false | null (no verdict)
    prediction_drift  any output feature drifted: true | false | null (no outputs / no verdict)
    drifted_share     drifted inputs / inputs, or null
    decision          {rule, drift_share, inputs, inputs_drifted, outputs, outputs_drifted,
                       critical, critical_drifted, reason}
    rows, min_rows    records in the window, and the minimum for a verdict
    baseline          {rows, created_at, source}
    thresholds        the default thresholds in force
    malformed         {count, examples} as given by the capture reader
    context           whatever the caller passed (model, endpoint, window bounds, …)
    features          one entry per feature, drifted first (critical first among them), then
                      by name: {name, role, kind, drifted, critical, reasons, rows, statistics,
                      thresholds, histogram}

Numeric statistics: `psi`, `ks` (with `lower`, `upper`, `error_bound` and `pvalue`),
`wasserstein` (normalized; with bounds), `missing_rate`. Categorical: `psi`, `chi2`, `js`,
`unseen_share`, `missing_rate`. Each carries `value`, `threshold` (null when not applied) and
`exceeded`; a statistic that cannot be computed (no values on a side, a constant reference
for Wasserstein) has `value` null and is not exceeded.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from mlops_drift.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline
from mlops_drift.stats import (
    chi2_contingency_2xk,
    js_distance,
    ks_bounds,
    ks_pvalue,
    psi,
    psi_bins,
    wasserstein_bounds,
)
from mlops_drift.window import CategoricalWindow, FeatureWindow, NumericWindow, WindowProfile

REPORT_KIND = "mlops-drift-report"
HISTOGRAM_CATEGORIES = 50
"""Categorical histograms show the most frequent categories and lump the rest as `other`."""


@dataclass(frozen=True)
class Thresholds:
    """When a statistic counts as drift. `ks` and `chi2_pvalue` apply only when set."""

    psi: float = 0.2
    """Numeric and categorical: drifted when PSI > psi."""
    wasserstein: float = 0.1
    """Numeric: drifted when Wasserstein distance / reference std > wasserstein."""
    js: float = 0.1
    """Categorical: drifted when the Jensen-Shannon distance (base 2) > js."""
    ks: float | None = None
    """Numeric: drifted when the KS statistic > ks (off by default)."""
    chi2_pvalue: float | None = None
    """Categorical: drifted when the chi-square p-value < chi2_pvalue (off by default)."""
    missing_rate_delta: float = 0.1
    """Any feature: drifted when |current - reference missing rate| > missing_rate_delta."""
    unseen_share: float = 0.05
    """Categorical: drifted when the share of values in unseen categories > unseen_share."""
    drift_share: float = 0.5
    """Dataset drift when at least this share of the inputs drifted."""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Thresholds:
        """Thresholds from a config object; unset keys keep their defaults."""
        if not isinstance(values, Mapping):
            raise ValueError(f"thresholds: expected an object, got {values!r}")
        names = [f.name for f in fields(cls)]
        chosen: dict[str, Any] = {}  # every value is checked below first
        for key, value in values.items():
            if key not in names:
                raise ValueError(
                    f"thresholds: unknown key {key!r} (value {value!r}); accepted keys: "
                    f"{', '.join(names)}"
                )
            optional = key in ("ks", "chi2_pvalue")
            if value is None and optional:
                chosen[key] = None
                continue
            upper_open = key in ("chi2_pvalue", "ks", "drift_share")
            accepted = ("a number in (0, 1]" if upper_open else "a non-negative number") + (
                " or null" if optional else ""
            )
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if (
                not number
                or not math.isfinite(value)
                or value < 0
                or (upper_open and not 0 < value <= 1)
            ):
                raise ValueError(f"thresholds: {key!r} must be {accepted}, got {value!r}")
            chosen[key] = float(value)
        return cls(**chosen)

    def to_dict(self) -> dict[str, float | None]:
        """The thresholds as a JSON object (the keys `from_dict` accepts)."""
        return asdict(self)


def _stat(value: float | None, threshold: float | None, exceeded: bool) -> dict[str, Any]:
    return {"value": value, "threshold": threshold, "exceeded": exceeded}


def _above(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value > threshold


def _missing_rate(fb: FeatureBaseline, fw: FeatureWindow, t: Thresholds) -> dict[str, Any]:
    ref_total = fb.count + fb.missing
    cur_total = fw.count + fw.missing
    ref = fb.missing / ref_total if ref_total else 0.0
    cur = fw.missing / cur_total if cur_total else 0.0
    delta = cur - ref
    return {
        "baseline": ref,
        "current": cur,
        "value": delta,
        "threshold": t.missing_rate_delta,
        "exceeded": abs(delta) > t.missing_rate_delta,
    }


def _proportions(counts: np.ndarray) -> list[float]:
    total = int(counts.sum())
    return (counts / total).tolist() if total else [0.0] * len(counts)


def _numeric(
    fb: NumericBaseline, fw: NumericWindow, t: Thresholds
) -> tuple[dict[str, Any], dict[str, Any]]:
    edges = fb.edges
    psi_edges = edges[fb.psi_edges_index]
    ref_bins = psi_bins(fb.counts, fb.psi_edges_index) if len(edges) else fb.counts
    cur_bins = psi_bins(fw.counts, fb.psi_edges_index) if len(edges) else fw.counts
    histogram = {
        "edges": psi_edges.tolist(),
        "bins": "below edges[0], [edges[i], edges[i+1]) (the last closed), above edges[-1]",
        "baseline": _proportions(ref_bins),
        "current": _proportions(cur_bins),
    }
    stats: dict[str, Any] = {"missing_rate": _missing_rate(fb, fw, t)}
    if fb.count == 0 or fw.count == 0:
        stats["psi"] = _stat(None, t.psi, False)
        stats["ks"] = {**_stat(None, t.ks, False), "lower": None, "upper": None,
                       "error_bound": None, "pvalue": None}  # fmt: skip
        stats["wasserstein"] = {**_stat(None, t.wasserstein, False), "lower": None,
                                "upper": None, "error_bound": None}  # fmt: skip
        return stats, histogram

    psi_value = psi(ref_bins, cur_bins)
    stats["psi"] = _stat(psi_value, t.psi, psi_value > t.psi)

    ks = ks_bounds(fb.counts, fw.counts)
    p_value = ks_pvalue(ks.value, fb.count, fw.count)
    pvalue = None
    if p_value is not None:
        p_low = ks_pvalue(ks.upper, fb.count, fw.count)
        p_high = ks_pvalue(ks.lower, fb.count, fw.count)
        pvalue = {"value": p_value, "lower": p_low, "upper": p_high}
    stats["ks"] = {
        **_stat(ks.value, t.ks, _above(ks.value, t.ks)),
        "lower": ks.lower,
        "upper": ks.upper,
        "error_bound": ks.error_bound,
        "certain": t.ks is None or not ks.lower <= t.ks < ks.upper,
        "pvalue": pvalue,
    }

    std = fb.std
    if std > 0:
        w = wasserstein_bounds(edges, fb.counts, fw.counts, fw.below_excess, fw.above_excess)
        value, lower, upper = w.value / std, w.lower / std, w.upper / std
        stats["wasserstein"] = {
            **_stat(value, t.wasserstein, value > t.wasserstein),
            "lower": lower,
            "upper": upper,
            "error_bound": upper - lower,
            "certain": not lower <= t.wasserstein < upper,
        }
    else:
        stats["wasserstein"] = {**_stat(None, t.wasserstein, False), "lower": None,
                                "upper": None, "error_bound": None,
                                "reason": "the reference is constant"}  # fmt: skip
    return stats, histogram


def _categorical(
    fb: CategoricalBaseline, fw: CategoricalWindow, t: Thresholds
) -> tuple[dict[str, Any], dict[str, Any]]:
    names = sorted(fb.categories, key=lambda c: (-fb.categories[c], c))
    unseen = sorted((c for c in fw.categories if c not in fb.categories),
                    key=lambda c: (-fw.categories[c], c))  # fmt: skip
    order = names + unseen
    ref = np.array([fb.categories.get(c, 0) for c in order], dtype=np.int64)
    cur = np.array([fw.categories.get(c, 0) for c in order], dtype=np.int64)
    shown = order[:HISTOGRAM_CATEGORIES]
    ref_hist, cur_hist = ref[: len(shown)], cur[: len(shown)]
    if len(order) > len(shown):
        shown = [*shown, "other"]
        ref_hist = np.append(ref_hist, ref[len(shown) - 1 :].sum())
        cur_hist = np.append(cur_hist, cur[len(shown) - 1 :].sum())
    histogram = {
        "categories": shown,
        "unseen": [c for c in shown if c in unseen],
        "baseline": _proportions(ref_hist) if fb.count else [0.0] * len(shown),
        "current": _proportions(cur_hist) if fw.count else [0.0] * len(shown),
    }
    stats: dict[str, Any] = {"missing_rate": _missing_rate(fb, fw, t)}
    if fb.count == 0 or fw.count == 0:
        stats["psi"] = _stat(None, t.psi, False)
        stats["chi2"] = {**_stat(None, t.chi2_pvalue, False), "statistic": None, "df": None}
        stats["js"] = _stat(None, t.js, False)
        stats["unseen_share"] = _stat(None, t.unseen_share, False)
        return stats, histogram
    psi_value = psi(ref, cur)
    stats["psi"] = _stat(psi_value, t.psi, psi_value > t.psi)
    chi2 = chi2_contingency_2xk(ref, cur)
    stats["chi2"] = {
        **_stat(
            chi2.pvalue,
            t.chi2_pvalue,
            t.chi2_pvalue is not None and chi2.pvalue < t.chi2_pvalue,
        ),
        "statistic": chi2.statistic,
        "df": chi2.df,
    }
    js = js_distance(ref, cur)
    stats["js"] = _stat(js, t.js, js > t.js)
    share = sum(fw.categories[c] for c in unseen) / fw.count
    stats["unseen_share"] = _stat(share, t.unseen_share, share > t.unseen_share)
    return stats, histogram


def _feature_report(
    fb: FeatureBaseline, fw: FeatureWindow, t: Thresholds, critical: bool
) -> dict[str, Any]:
    if isinstance(fb, NumericBaseline) and isinstance(fw, NumericWindow):
        stats, histogram = _numeric(fb, fw, t)
        kind = "numeric"
    elif isinstance(fb, CategoricalBaseline) and isinstance(fw, CategoricalWindow):
        stats, histogram = _categorical(fb, fw, t)
        kind = "categorical"
    else:
        raise ValueError(f"feature {fb.name!r}: the window's kind differs from the baseline's")
    reasons = [name for name, s in stats.items() if s["exceeded"]]
    return {
        "name": fb.name,
        "role": fb.role,
        "kind": kind,
        "drifted": bool(reasons),
        "critical": critical,
        "reasons": reasons,
        "rows": {
            "baseline": {"count": fb.count, "missing": fb.missing},
            "current": {"count": fw.count, "missing": fw.missing},
        },
        "statistics": stats,
        "thresholds": t.to_dict(),
        "histogram": histogram,
    }


def _check_names(what: str, names: Collection[str], baseline: Baseline) -> None:
    known = [f.name for f in baseline.features]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{what} not in the baseline: {', '.join(map(repr, sorted(unknown)))}; "
            f"the baseline's features: {', '.join(known)}"
        )


def check(
    baseline: Baseline,
    window: WindowProfile,
    *,
    thresholds: Thresholds = Thresholds(),
    critical: Collection[str] = (),
    min_rows: int = 100,
    feature_thresholds: Mapping[str, Thresholds] | None = None,
    malformed: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare `window` with `baseline` and return the report (see the module docstring).

    Dataset drift: at least `thresholds.drift_share` of the inputs drifted, or any `critical`
    feature (input or output) drifted. Outputs do not count in the share; any drifted output
    sets `prediction_drift`. Fewer than `min_rows` records give `insufficient_data` and no
    verdict.
    """
    critical = list(dict.fromkeys(critical))
    overrides = dict(feature_thresholds or {})
    _check_names("critical features", critical, baseline)
    _check_names("feature thresholds name features", list(overrides), baseline)
    expected = [f.name for f in baseline.features]
    if sorted(window.features) != sorted(expected):
        raise ValueError(
            "the window profile's features do not match the baseline's: "
            f"{', '.join(window.features)} vs {', '.join(expected)}"
        )
    report: dict[str, Any] = {
        "schema_version": 1,
        "kind": REPORT_KIND,
        "status": "ok",
        "drift": None,
        "prediction_drift": None,
        "drifted_share": None,
        "decision": None,
        "rows": window.rows,
        "min_rows": min_rows,
        "baseline": {
            "rows": baseline.rows,
            "created_at": baseline.created_at,
            "source": dict(baseline.source),
        },
        "thresholds": thresholds.to_dict(),
        "malformed": dict(malformed) if malformed is not None else {"count": 0, "examples": []},
        "context": dict(context or {}),
        "features": [],
    }
    if window.rows < min_rows:
        report["status"] = "insufficient_data"
        report["decision"] = {
            "reason": f"the window has {window.rows} records, fewer than the {min_rows} "
            "needed for a verdict"
        }
        return report

    entries = [
        _feature_report(
            f, window.features[f.name], overrides.get(f.name, thresholds), f.name in critical
        )
        for f in baseline.features
    ]
    inputs = [e for e in entries if e["role"] == "input"]
    outputs = [e for e in entries if e["role"] == "output"]
    inputs_drifted = [e["name"] for e in inputs if e["drifted"]]
    outputs_drifted = [e["name"] for e in outputs if e["drifted"]]
    critical_drifted = [e["name"] for e in entries if e["drifted"] and e["critical"]]
    share = len(inputs_drifted) / len(inputs) if inputs else None
    by_share = share is not None and share >= thresholds.drift_share
    drift = by_share or bool(critical_drifted)

    if by_share:
        reason = (
            f"{len(inputs_drifted)} of {len(inputs)} inputs drifted ({share:.0%}), at least "
            f"the {thresholds.drift_share:.0%} threshold"
        )
    elif critical_drifted:
        reason = f"critical features drifted: {', '.join(critical_drifted)}"
    else:
        reason = (
            f"{len(inputs_drifted)} of {len(inputs)} inputs drifted, below the "
            f"{thresholds.drift_share:.0%} threshold, and no critical feature drifted"
        )
    entries.sort(key=lambda e: (not e["drifted"], not (e["drifted"] and e["critical"]), e["name"]))
    report.update(
        drift=drift,
        prediction_drift=bool(outputs_drifted) if outputs else None,
        drifted_share=share,
        decision={
            "rule": "drift when drifted inputs / inputs >= drift_share, or any critical "
            "feature drifted; outputs are reported as prediction_drift and count only "
            "when critical",
            "drift_share": thresholds.drift_share,
            "inputs": len(inputs),
            "inputs_drifted": inputs_drifted,
            "outputs": len(outputs),
            "outputs_drifted": outputs_drifted,
            "critical": critical,
            "critical_drifted": critical_drifted,
            "reason": reason,
        },
        features=entries,
    )
    return report
