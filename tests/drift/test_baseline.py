"""Baselines: building, the JSON document, Model Monitor statistics.json, corrupt documents."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from mlops_drift.baseline import (
    BaselineError,
    CategoricalBaseline,
    NumericBaseline,
    baseline_to_dict,
    build_baseline,
    load_baseline,
)
from mlops_drift.check import check
from mlops_drift.stats import ks_bounds
from mlops_drift.window import profile_columns
from scipy import stats as sps


def _columns(seed: int = 0, rows: int = 5000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tenure = np.round(rng.gamma(2.0, 12.0, rows))
    tenure[rng.random(rows) < 0.01] = np.nan
    labels = np.array(["monthly", "yearly", "two-year", None], dtype=object)
    return {
        "tenure": tenure,
        "charges": rng.lognormal(3.0, 0.5, rows),
        "contract": labels[rng.choice(4, rows, p=[0.5, 0.3, 0.19, 0.01])],
        "score": rng.random(rows),
    }


def _baseline() -> Any:
    return build_baseline(
        _columns(), categorical=["contract"], outputs=["score"], description="unit test"
    )


# ---- building ------------------------------------------------------------------------------


def test_build_profiles_every_column_in_order() -> None:
    baseline = _baseline()
    assert [f.name for f in baseline.features] == ["tenure", "charges", "contract", "score"]
    assert [f.name for f in baseline.inputs] == ["tenure", "charges", "contract"]
    assert [f.name for f in baseline.outputs] == ["score"]
    assert baseline.rows == 5000
    tenure = baseline.feature("tenure")
    assert isinstance(tenure, NumericBaseline)
    values = _columns()["tenure"]
    present = values[~np.isnan(values)]
    assert (tenure.count, tenure.missing) == (len(present), len(values) - len(present))
    assert tenure.mean == pytest.approx(present.mean(), rel=1e-12)
    assert tenure.m2 == pytest.approx(((present - present.mean()) ** 2).sum(), rel=1e-12)
    # Rounded values: fewer than 1000 distinct, so every distinct value is an edge.
    assert tenure.edges.tolist() == np.unique(present).tolist()
    assert (tenure.edges[0], tenure.edges[-1]) == (tenure.min, tenure.max)
    assert len(tenure.counts) == 2 * len(tenure.edges) + 1
    assert tenure.counts[1::2].tolist() == [int(np.sum(present == v)) for v in tenure.edges]
    assert not tenure.counts[0::2].any()
    charges = baseline.feature("charges")
    assert isinstance(charges, NumericBaseline)
    assert np.all(np.diff(charges.edges) > 0)
    assert int(charges.counts.sum()) == charges.count == 5000
    assert charges.psi_edges_index[0] == 0
    assert charges.psi_edges_index[-1] == len(charges.edges) - 1
    assert len(charges.psi_edges_index) == 11
    contract = baseline.feature("contract")
    assert isinstance(contract, CategoricalBaseline)
    assert set(contract.categories) == {"monthly", "yearly", "two-year"}
    assert contract.count + contract.missing == 5000
    with pytest.raises(KeyError, match="no feature 'nope' in the baseline"):
        baseline.feature("nope")


def test_build_refuses_numbers_given_as_strings() -> None:
    with pytest.raises(BaselineError) as error:
        build_baseline({"age": np.array(["31", "42"])})
    assert str(error.value) == (
        "column 'age' is numeric in the baseline but was given as strings (dtype <U2); "
        "accepted: an array of numbers (bool, int or float; NaN or None for missing). "
        "Parse the strings first, or declare the column categorical"
    )


def test_build_refuses_unknown_names_and_uneven_columns() -> None:
    with pytest.raises(BaselineError, match=r"^outputs names columns not in the data: 'y'; "):
        build_baseline({"x": np.zeros(3)}, outputs=["y"])
    with pytest.raises(BaselineError, match=r"^columns have different lengths: x=3, z=2; "):
        build_baseline({"x": np.zeros(3), "z": np.zeros(2)})


def test_build_handles_all_missing_and_constant_columns() -> None:
    baseline = build_baseline({"empty": np.full(10, np.nan), "flat": np.full(10, 4.0)})
    empty, flat = baseline.features
    assert isinstance(empty, NumericBaseline)
    assert isinstance(flat, NumericBaseline)
    assert (empty.count, empty.missing, len(empty.edges)) == (0, 10, 0)
    assert flat.edges.tolist() == [4.0]
    assert flat.counts.tolist() == [0, 10, 0]
    document = json.loads(json.dumps(baseline_to_dict(baseline), allow_nan=False))
    assert load_baseline(document) == baseline


# ---- the document --------------------------------------------------------------------------


def test_json_round_trip_gives_an_equal_baseline_and_equal_reports() -> None:
    baseline = _baseline()
    document = json.loads(json.dumps(baseline_to_dict(baseline), allow_nan=False))
    assert document["schema_version"] == 1
    assert document["kind"] == "mlops-drift-baseline"
    loaded = load_baseline(document)
    assert loaded == baseline
    window = _columns(seed=1, rows=3000)
    report = check(baseline, profile_columns(baseline, window))
    again = check(loaded, profile_columns(loaded, window))
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)


def _document() -> dict[str, Any]:
    baseline = build_baseline(
        {"x": np.array([0.0, 1.0, 2.0, 2.0, 5.0]), "c": np.array(["a", "b", "a", "", "a"])},
        categorical=["c"],
    )
    return dict(json.loads(json.dumps(baseline_to_dict(baseline))))


def _corrupt(change: Any) -> str:
    document = _document()
    change(document)
    with pytest.raises(BaselineError) as error:
        load_baseline(document)
    return str(error.value)


def test_corrupt_documents_are_refused_with_exact_messages() -> None:
    x = "baseline: features[0] 'x': "
    assert _document()["features"][0]["counts"] == [0, 1, 0, 1, 0, 2, 0, 1, 0]
    assert _corrupt(lambda d: d["features"][0].pop("edges")) == x + "'edges' is missing"
    assert _corrupt(lambda d: d["features"][0].update(count="5")) == (
        x + "'count' must be a non-negative integer, got '5' (a string)"
    )
    assert _corrupt(lambda d: d["features"][0].update(edges=[0.0, 1.0, 1.0, 5.0])) == (
        x + "'edges' must be strictly increasing; edges[2] = 1.0 follows 1.0"
    )
    assert _corrupt(lambda d: d["features"][0].update(counts=[0, 1, 0, 1, 0, 3, 0])) == (
        x + "'counts' has 7 entries; accepted: 2 x len(edges) + 1 = 9 "
        "(below, then each edge and the bin after it, then above)"
    )
    assert _corrupt(lambda d: d["features"][0]["counts"].__setitem__(3, -1)) == (
        x + "'counts' must hold non-negative integers; item 3 is -1 (int)"
    )
    assert _corrupt(lambda d: d["features"][0].update(count=6)) == (
        x + "'count' is 6 but the counts sum to 5"
    )
    assert _corrupt(lambda d: d["features"][0].update(psi_edges_index=[0, 2])) == (
        x + "'psi_edges_index' must be strictly increasing indices into edges from 0 to 3, "
        "got [0, 2]"
    )
    assert _corrupt(lambda d: d["features"][1].update(role="target")) == (
        "baseline: features[1] 'c': 'role' must be 'input' or 'output', got 'target' (a string)"
    )
    assert _corrupt(lambda d: d["features"][1]["categories"].update(b=-2)) == (
        "baseline: features[1] 'c'.categories: 'b' must be a non-negative integer, got -2 (int)"
    )
    assert _corrupt(lambda d: d.update(schema_version=2)) == (
        "baseline: unknown schema_version 2; accepted: 1"
    )
    assert _corrupt(lambda d: d.update(features={})) == (
        "baseline: 'features' must be a list, got {} (an object)"
    )
    assert _corrupt(lambda d: d.pop("schema_version")) == (
        "baseline: neither a drift baseline (no 'schema_version') nor a Model Monitor "
        "statistics.json (no 'dataset' and 'features'); accepted: a document written by "
        "`mlops drift profile` or Model Monitor's statistics.json"
    )
    with pytest.raises(BaselineError, match=r"^baseline: expected a JSON object, got a list$"):
        load_baseline([])  # type: ignore[arg-type]


# ---- Model Monitor statistics.json ------------------------------------------------------------


def _model_monitor(tenure: np.ndarray, contract: np.ndarray) -> dict[str, Any]:
    """A statistics.json as Model Monitor's baselining job writes it (Deequ's KLL buckets:
    ten equal-width buckets from min to max, counts as floats, plus the sketch itself)."""
    present = tenure[~np.isnan(tenure)]
    counts, bounds = np.histogram(present, bins=10, range=(present.min(), present.max()))
    labels, label_counts = np.unique(contract[contract != ""], return_counts=True)
    document = {
        "version": 0.0,
        "dataset": {"item_count": len(tenure)},
        "features": [
            {
                "name": "tenure",
                "inferred_type": "Fractional",
                "numerical_statistics": {
                    "common": {
                        "num_present": len(present),
                        "num_missing": len(tenure) - len(present),
                    },
                    "mean": float(present.mean()),
                    "sum": float(present.sum()),
                    "std_dev": float(present.std()),
                    "min": float(present.min()),
                    "max": float(present.max()),
                    "distribution": {
                        "kll": {
                            "buckets": [
                                {
                                    "lower_bound": float(lo),
                                    "upper_bound": float(hi),
                                    "count": float(n),
                                }
                                for lo, hi, n in zip(bounds[:-1], bounds[1:], counts, strict=True)
                            ],
                            "sketch": {
                                "parameters": {"c": 0.64, "k": 2048.0},
                                "data": [sorted(float(v) for v in present[:8])],
                            },
                        }
                    },
                },
            },
            {
                "name": "contract",
                "inferred_type": "String",
                "string_statistics": {
                    "common": {
                        "num_present": int(label_counts.sum()),
                        "num_missing": int(np.sum(contract == "")),
                    },
                    "distinct_count": float(len(labels)),
                    "distribution": {
                        "categorical": {
                            "buckets": [
                                {"value": str(v), "count": int(n)}
                                for v, n in zip(labels, label_counts, strict=True)
                            ]
                        }
                    },
                },
            },
        ],
    }
    # Through JSON text, as read from S3.
    return dict(json.loads(json.dumps(document)))


def test_model_monitor_statistics_load_and_bound_ks_by_their_buckets() -> None:
    rng = np.random.default_rng(11)
    tenure = rng.normal(30.0, 8.0, 4000)
    tenure[:40] = np.nan
    contract = rng.choice(np.array(["monthly", "yearly", ""]), 4000, p=[0.6, 0.38, 0.02])
    baseline = load_baseline(_model_monitor(tenure, contract))
    assert baseline.source["format"] == "sagemaker-model-monitor"
    assert baseline.rows == 4000
    feature = baseline.feature("tenure")
    assert isinstance(feature, NumericBaseline)
    assert (feature.count, feature.missing) == (3960, 40)
    assert len(feature.edges) == 11
    assert feature.m2 == pytest.approx(np.nanvar(tenure) * 3960)
    contract_feature = baseline.feature("contract")
    assert isinstance(contract_feature, CategoricalBaseline)
    assert contract_feature.categories == {
        "monthly": int(np.sum(contract == "monthly")),
        "yearly": int(np.sum(contract == "yearly")),
    }

    current = rng.normal(31.0, 8.0, 3000)
    window = profile_columns(baseline, {"tenure": current, "contract": contract[:3000]})
    ks = ks_bounds(feature.counts, window.features["tenure"].counts)  # type: ignore[union-attr]
    expected = sps.ks_2samp(tenure[40:], current, method="asymp").statistic
    assert ks.lower <= expected <= ks.upper
    # Ten buckets of up to ~19% of the reference each: the bound is that coarse, where a
    # baseline of our own on the same data is exact to 1/1000.
    assert ks.error_bound > 0.05
    own = build_baseline({"tenure": tenure})
    own_window = profile_columns(own, {"tenure": current})
    own_ks = ks_bounds(own.features[0].counts, own_window.features["tenure"].counts)  # type: ignore[union-attr]
    assert own_ks.error_bound <= 1e-3
    report = check(baseline, window)
    assert report["status"] == "ok"


def test_corrupt_model_monitor_statistics_are_refused() -> None:
    rng = np.random.default_rng(2)
    document = _model_monitor(rng.normal(0, 1, 100), np.array(["a", "b"] * 50))
    where = "statistics.json: features[0] 'tenure'.numerical_statistics"

    def refused(change: Any) -> str:
        broken = copy.deepcopy(document)
        change(broken)
        with pytest.raises(BaselineError) as error:
            load_baseline(broken)
        return str(error.value)

    def kll(d: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = d["features"][0]["numerical_statistics"]["distribution"]["kll"]
        return found

    assert refused(lambda d: kll(d).pop("buckets")) == (
        f"{where}.distribution.kll: 'buckets' is missing"
    )
    assert refused(lambda d: kll(d)["buckets"][3].update(lower_bound=-9.0)).startswith(
        f"{where}.distribution.kll.buckets[3]: buckets must be contiguous and increasing; "
    )
    assert refused(lambda d: kll(d)["buckets"][0].update(count=-3.0)) == (
        f"{where}.distribution.kll.buckets[0]: 'count' must be non-negative, got -3"
    )
    assert refused(lambda d: d["features"][0].update(inferred_type="Unknown")) == (
        "statistics.json: features[0] 'tenure': 'inferred_type' must be 'Fractional' or "
        "'Integral' or 'String', got 'Unknown' (a string)"
    )
    assert refused(lambda d: d["dataset"].pop("item_count")) == (
        "statistics.json.dataset: 'item_count' is missing"
    )
