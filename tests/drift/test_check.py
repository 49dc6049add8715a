"""check(): verdicts, the decision rule, outputs, critical features, thresholds, report shape."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from mlops_drift.baseline import build_baseline
from mlops_drift.check import Thresholds, check
from mlops_drift.window import profile_columns

ROWS = 4000


def _columns(
    seed: int, *, shift: dict[str, float] | None = None, rows: int = ROWS
) -> dict[str, Any]:
    shift = shift or {}
    rng = np.random.default_rng(seed)
    labels = np.array(["monthly", "yearly", "two-year"], dtype=object)
    p = [0.2, 0.3, 0.5] if "plan" in shift else [0.5, 0.3, 0.2]
    return {
        "age": rng.normal(40.0 + shift.get("age", 0.0), 10.0, rows),
        "income": rng.lognormal(10.0 + shift.get("income", 0.0), 0.5, rows),
        "visits": np.round(rng.gamma(2.0, 3.0, rows)) + shift.get("visits", 0.0),
        "plan": labels[rng.choice(3, rows, p=p)],
        "score": rng.beta(2.0 + shift.get("score", 0.0), 5.0, rows),
    }


BASELINE = build_baseline(_columns(0), categorical=["plan"], outputs=["score"])


def _report(seed: int = 1, **kwargs: Any) -> dict[str, Any]:
    shift = kwargs.pop("shift", None)
    rows = kwargs.pop("rows", ROWS)
    window = profile_columns(BASELINE, _columns(seed, shift=shift, rows=rows))
    report = check(BASELINE, window, **kwargs)
    json.dumps(report, allow_nan=False)  # the report is plain JSON
    return report


def _feature(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["features"] if f["name"] == name)


def test_no_drift_on_a_window_from_the_same_distribution() -> None:
    report = _report()
    assert (report["status"], report["drift"], report["prediction_drift"]) == ("ok", False, False)
    assert report["drifted_share"] == 0.0
    assert report["rows"] == ROWS
    age = _feature(report, "age")
    assert age["drifted"] is False
    assert age["reasons"] == []
    ks = age["statistics"]["ks"]
    assert ks["lower"] <= ks["value"] <= ks["upper"]
    assert ks["error_bound"] == ks["upper"] - ks["lower"]
    pvalue = ks["pvalue"]
    assert pvalue["lower"] <= pvalue["value"] <= pvalue["upper"]
    w = age["statistics"]["wasserstein"]
    assert w["lower"] <= w["value"] <= w["upper"]
    assert w["value"] < 0.1
    hist = age["histogram"]
    assert len(hist["baseline"]) == len(hist["current"]) == len(hist["edges"]) + 1
    assert sum(hist["baseline"]) == pytest.approx(1.0)
    plan = _feature(report, "plan")
    assert set(plan["statistics"]) == {"psi", "chi2", "js", "unseen_share", "missing_rate"}
    assert plan["histogram"]["categories"] == ["monthly", "yearly", "two-year"]


def test_share_rule_counts_inputs_only() -> None:
    # Two of four inputs drift: 50% reaches the default share.
    report = _report(shift={"age": 5.0, "plan": 1.0})
    assert report["drift"] is True
    assert report["drifted_share"] == 0.5
    assert report["decision"]["inputs_drifted"] == ["age", "plan"]
    assert report["decision"]["reason"] == "2 of 4 inputs drifted (50%), at least the 50% threshold"
    assert [f["name"] for f in report["features"][:2]] == ["age", "plan"]
    assert "js" in _feature(report, "plan")["reasons"]
    # The output drifting alone is prediction drift, not dataset drift.
    outputs = _report(shift={"score": 3.0})
    assert (outputs["drift"], outputs["prediction_drift"]) == (False, True)
    assert outputs["decision"]["outputs_drifted"] == ["score"]
    assert outputs["drifted_share"] == 0.0


def test_a_critical_feature_decides_alone() -> None:
    report = _report(shift={"visits": 3.0})
    assert report["drift"] is False
    assert report["drifted_share"] == 0.25
    critical = _report(shift={"visits": 3.0, "score": 3.0}, critical=["visits"])
    assert critical["drift"] is True
    assert critical["decision"]["critical_drifted"] == ["visits"]
    assert critical["decision"]["reason"] == "critical features drifted: visits"
    # Drifted first, critical first among them, then by name.
    assert [f["name"] for f in critical["features"]] == ["visits", "score", "age", "income", "plan"]
    assert [f["critical"] for f in critical["features"]] == [True, False, False, False, False]
    with pytest.raises(ValueError, match=r"^critical features not in the baseline") as error:
        _report(critical=["visits", "nope"])
    assert str(error.value) == (
        "critical features not in the baseline: 'nope'; the baseline's features: "
        "age, income, visits, plan, score"
    )


def test_too_few_rows_give_no_verdict() -> None:
    report = _report(rows=99)
    assert report["status"] == "insufficient_data"
    assert report["drift"] is None
    assert report["prediction_drift"] is None
    assert report["features"] == []
    assert report["decision"] == {
        "reason": "the window has 99 records, fewer than the 100 needed for a verdict"
    }
    assert _report(rows=0)["status"] == "insufficient_data"
    assert _report(rows=100)["status"] == "ok"


def test_optional_tests_and_per_feature_thresholds() -> None:
    default = _report(seed=2, shift={"age": 0.4})
    assert _feature(default, "age")["drifted"] is False
    assert _feature(default, "age")["statistics"]["ks"]["threshold"] is None
    strict = _report(seed=2, shift={"age": 0.4}, thresholds=Thresholds(ks=0.02, chi2_pvalue=0.5))
    assert "ks" in _feature(strict, "age")["reasons"]
    assert _feature(strict, "age")["statistics"]["ks"]["exceeded"] is True
    per_feature = _report(
        seed=2, shift={"age": 0.4}, feature_thresholds={"age": Thresholds(wasserstein=0.01)}
    )
    assert _feature(per_feature, "age")["reasons"] == ["wasserstein"]
    assert _feature(per_feature, "age")["thresholds"]["wasserstein"] == 0.01


def test_missing_rate_and_unseen_categories_are_drift() -> None:
    columns = _columns(3)
    columns["income"][:800] = np.nan
    columns["plan"][:400] = "lifetime"
    report = check(BASELINE, profile_columns(BASELINE, columns))
    income = _feature(report, "income")
    assert income["reasons"] == ["missing_rate"]
    assert income["statistics"]["missing_rate"]["value"] == pytest.approx(0.2)
    plan = _feature(report, "plan")
    assert "unseen_share" in plan["reasons"]
    assert plan["statistics"]["unseen_share"]["value"] == pytest.approx(0.1)
    assert plan["histogram"]["unseen"] == ["lifetime"]


def test_small_and_degenerate_windows() -> None:
    # A constant reference has no normalized Wasserstein; 34 values give no KS p-value.
    flat = build_baseline(
        {"x": np.full(200, 3.0), "c": np.array(["only"] * 200)}, categorical=["c"]
    )
    window = profile_columns(
        flat, {"x": np.r_[np.full(30, 3.0), np.full(4, 4.0)], "c": np.array(["only"] * 34)}
    )
    report = check(flat, window, min_rows=10)
    x = _feature(report, "x")
    assert x["statistics"]["wasserstein"]["value"] is None
    assert x["statistics"]["ks"]["pvalue"] is None
    assert x["statistics"]["ks"]["value"] == pytest.approx(4 / 34)
    assert x["drifted"] is True
    assert x["reasons"] == ["psi"]
    c = _feature(report, "c")
    assert c["statistics"]["chi2"]["value"] == 1.0
    assert c["statistics"]["js"]["value"] == 0.0
    assert c["drifted"] is False


def test_malformed_and_context_pass_through() -> None:
    report = _report(malformed={"count": 2, "examples": ["{bad"]}, context={"model": "churn"})
    assert report["malformed"] == {"count": 2, "examples": ["{bad"]}
    assert report["context"] == {"model": "churn"}
    assert _report()["malformed"] == {"count": 0, "examples": []}


def test_thresholds_from_dict() -> None:
    assert Thresholds.from_dict({}) == Thresholds()
    assert Thresholds.from_dict({"psi": 0.25, "ks": 0.1, "chi2_pvalue": None}) == Thresholds(
        psi=0.25, ks=0.1
    )
    assert Thresholds.from_dict(Thresholds(js=0.2).to_dict()) == Thresholds(js=0.2)
    cases = {
        "pis": (
            0.3,
            "thresholds: unknown key 'pis' (value 0.3); accepted keys: psi, wasserstein, js, ks, "
            "chi2_pvalue, missing_rate_delta, unseen_share, drift_share",
        ),
        "psi": ("high", "thresholds: 'psi' must be a non-negative number, got 'high'"),
        "js": (-0.1, "thresholds: 'js' must be a non-negative number, got -0.1"),
        "wasserstein": (True, "thresholds: 'wasserstein' must be a non-negative number, got True"),
        "drift_share": (1.5, "thresholds: 'drift_share' must be a number in (0, 1], got 1.5"),
        "chi2_pvalue": (0, "thresholds: 'chi2_pvalue' must be a number in (0, 1] or null, got 0"),
        "unseen_share": (
            None,
            "thresholds: 'unseen_share' must be a non-negative number, got None",
        ),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ValueError, match=r"^thresholds: ") as error:
            Thresholds.from_dict({key: value})
        assert str(error.value) == message
