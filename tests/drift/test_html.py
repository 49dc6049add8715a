"""report.html: self-contained, escaped, drifted features first, every status explained."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from mlops_drift.baseline import build_baseline
from mlops_drift.check import check
from mlops_drift.html import render_html
from mlops_drift.window import profile_columns

HOSTILE = '<script>alert("x")</script>'
VOID = {"meta", "br", "rect", "line", "link", "img", "input", "hr"}


class Collector(HTMLParser):
    """Tags, text and attributes of a page, checking every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attributes: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(v or "" for _, v in attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(v or "" for _, v in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    collector.close()
    assert collector.errors == []
    assert collector.stack == []
    return collector


def drift_report(**kwargs: Any) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    n = 2000
    reference = {
        "stable": rng.normal(0, 1, n),
        HOSTILE: rng.normal(0, 1, n),
        "plan": rng.choice(np.array(["monthly", "yearly"], dtype=object), n),
        "score": rng.random(n),
    }
    current = {
        "stable": rng.normal(0, 1, n),
        HOSTILE: rng.normal(3, 1, n),  # drifted
        "plan": rng.choice(np.array(["monthly", "yearly", "<b>&new"], dtype=object), n),
        "score": rng.random(n),
    }
    baseline = build_baseline(reference, categorical=["plan"], outputs=["score"])
    window = profile_columns(baseline, current)
    return check(baseline, window, **kwargs)


def test_page_is_well_formed_and_needs_no_network() -> None:
    report = drift_report(
        malformed={
            "count": 1,
            "examples": [
                {"source": "s3://b/k", "line": 4, "reason": "not valid JSON", "text": HOSTILE}
            ],
        },
        context={"model": "churn", "endpoint": "churn-prod"},
    )
    page = render_html(report)
    parsed = parse(page)

    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page.lower()
    assert not {"script", "img", "link", "iframe", "object"} & set(parsed.tags)
    assert not any("url(" in a or "//" in a for a in parsed.attributes)
    # One chart per feature, drawn inline.
    assert parsed.tags.count("svg") == len(report["features"]) == 4


def test_user_text_is_escaped_everywhere() -> None:
    page = render_html(drift_report(context={"model": HOSTILE}))
    text = "".join(parse(page).text)

    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert HOSTILE in text  # shown to people as text
    assert "&lt;b&gt;&amp;new" in page  # an unseen category


def test_drifted_features_come_first() -> None:
    report = drift_report()
    shuffled = {**report, "features": list(reversed(report["features"]))}
    text = "".join(parse(render_html(shuffled)).text)

    drifted = [f["name"] for f in report["features"] if f["drifted"]]
    steady = [f["name"] for f in report["features"] if not f["drifted"]]
    assert drifted
    assert steady
    last_drifted = max(text.index(name) for name in drifted)
    assert all(text.index(name) > last_drifted for name in steady)


def test_statistics_with_bounds_and_verdicts_are_shown() -> None:
    text = " ".join(parse(render_html(drift_report())).text)
    for label in ("psi", "ks", "wasserstein", "js", "chi2", "unseen_share", "missing_rate"):
        assert label in text
    assert "exceeded" in text
    assert "drift detected" in text


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (
            {"status": "insufficient_data", "drift": None, "rows": 3, "features": [],
             "decision": {"reason": "the window has 3 records, fewer than the 100 needed"}},
            "the window has 3 records, fewer than the 100 needed",
        ),
        (
            {"status": "schema_mismatch", "drift": None, "rows": 0, "features": [],
             "message": "input record has 2 fields, the baseline has 3 inputs ('a', 'b', 'c')",
             "malformed": {"count": 50, "schema_mismatched": 50, "examples": []}},
            "input record has 2 fields, the baseline has 3 inputs ('a', 'b', 'c')",
        ),
    ],
)  # fmt: skip
def test_no_verdict_pages_say_why(report: dict[str, Any], message: str) -> None:
    text = " ".join(parse(render_html(report)).text)
    assert message in text
    assert "no verdict" in text
    assert "drift detected" not in text
