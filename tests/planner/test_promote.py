"""`python -m planner promote`: the one-line edit a promotion pull request makes, validated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.config import load_platform_config
from planner.__main__ import main
from planner.promote import PromotionError, promote, promote_text
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the config checks read: Pulumi.yaml, the stacks and the pipelines."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(PROJECT_DIR / "stacks", tmp_path / "stacks")
    shutil.copytree(PROJECT_DIR / "pipelines", tmp_path / "pipelines")
    return tmp_path


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.split("\n"), after.split("\n")
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_promotion_changes_only_the_production_version(project: Path) -> None:
    path = project / "stacks" / "Pulumi.staging.yaml"
    before = path.read_text()
    done = promote(project, "staging", "churn", 5)
    after = path.read_text()
    assert (done.model, done.version, done.changed) == ("churn", 5, 1)
    # One line: comments, layout and the shadow (the next candidate) are untouched.
    assert changed_lines(before, after) == [("        modelVersion: 3", "        modelVersion: 5")]
    cfg = load_platform_config(load_stack_config(project, "staging").values, "staging")
    (endpoint,) = cfg.inference.endpoints
    assert endpoint.model_version == 5
    assert endpoint.shadow is not None
    assert endpoint.shadow.model_version == 4


def test_block_style_entries_and_shadows() -> None:
    text = "\n".join(
        [
            "config:",
            "  mlops-platform:inference:",
            "    enabled: true",
            "    endpoints:",
            "      - name: churn-a",
            "        model: churn",
            "        modelVersion: latest-approved  # follows approvals",
            "        kind: realtime",
            "        shadow:",
            "          modelVersion: 7",
            "          samplingPercent: 10",
            "        capture: {samplingPercent: 20}",
            "      - model: fraud",
            "        name: fraud",
            "        modelVersion: 2",
            "        kind: serverless",
            "      - {name: churn-b, model: churn, modelVersion: 4, kind: serverless}",
            "  mlops-platform:drift:",
            "    enabled: false",
            "",
        ]
    )
    after, changed = promote_text(text, "churn", 6)
    assert changed == 1
    assert changed_lines(text, after) == [
        (
            "        modelVersion: latest-approved  # follows approvals",
            "        modelVersion: 6  # follows approvals",
        )
    ]
    # A one-line (flow-style) entry is not rewritten here; `promote` then refuses the whole
    # edit, since the parsed config still serves another version (next test).
    assert "modelVersion: 4" in after


def test_an_entry_promote_cannot_edit_refuses_the_whole_edit(project: Path) -> None:
    path = project / "stacks" / "Pulumi.staging.yaml"
    text = path.read_text().replace(
        "      - name: churn\n        model: churn\n        modelVersion: 3\n",
        "      - {name: churn-b, model: churn, modelVersion: 3, kind: serverless}\n"
        "      - name: churn\n        model: churn\n        modelVersion: 3\n",
        1,  # the SageMaker endpoint; the Kubernetes service after it is written alike
    )
    path.write_text(text)
    with pytest.raises(PromotionError) as caught:
        promote(project, "staging", "churn", 5)
    assert str(caught.value) == (
        "Pulumi.staging.yaml: endpoint(s) churn-b of model 'churn' are written in a form "
        "promote does not edit (a one-line mapping); pin them by hand, or write them as block "
        "mappings"
    )
    assert path.read_text() == text


def test_nothing_to_promote_is_an_error_and_changes_nothing(project: Path) -> None:
    path = project / "stacks" / "Pulumi.staging.yaml"
    before = path.read_text()
    with pytest.raises(PromotionError) as caught:
        promote(project, "staging", "fraud", 5)
    assert str(caught.value) == (
        "Pulumi.staging.yaml: no endpoint serving model 'fraud' pins a version other than 5; "
        "nothing to promote"
    )
    with pytest.raises(PromotionError) as caught:
        promote(project, "staging", "churn", 3)
    assert str(caught.value) == (
        "Pulumi.staging.yaml: no endpoint serving model 'churn' pins a version other than 3; "
        "nothing to promote"
    )
    with pytest.raises(PromotionError) as caught:
        promote(project, "staging", "churn", 0)
    assert str(caught.value) == "version 0 is not a model package version (an integer >= 1)"
    assert path.read_text() == before


def test_a_refused_result_is_not_written(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "stacks" / "Pulumi.staging.yaml"
    before = path.read_text()

    def refuse(*_args: object) -> None:
        raise ValueError("stacks/Pulumi.staging.yaml: refused for the test")

    monkeypatch.setattr("planner.promote.load_platform_config", refuse)
    with pytest.raises(PromotionError) as caught:
        promote(project, "staging", "churn", 5)
    assert str(caught.value) == (
        "Pulumi.staging.yaml: the promoted config is refused: stacks/Pulumi.staging.yaml: "
        "refused for the test"
    )
    assert path.read_text() == before


def test_command_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("planner.__main__.PROJECT_DIR", project)
    assert main(["promote", "staging", "churn", "5"]) == 0
    assert capsys.readouterr().out == (
        "Pulumi.staging.yaml: churn pinned to version 5 (1 value(s) changed)\n"
    )
    assert main(["promote", "staging", "churn", "5"]) == 2
    assert "nothing to promote" in capsys.readouterr().err
