"""Registry approvals: the promotion path (topic, bus, GitHub repository_dispatch).

GIVEN the account of conftest, WHEN SageMaker says a version of a model package group was
approved, THEN the topic's subscriber is told which version and what to do next, the bus gets
`ModelPromotionRequested`, and, when a repository and its token are configured, the injected
sender receives exactly GitHub's `repository_dispatch` request (nothing reaches the network).
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import retrain_promotion
import retrain_settings as settings
import trigger
from retrain_promotion import DispatchError

from tests.retrain_trigger.conftest import GROUP, REPOSITORY, TOKEN, World, emf_metrics, load_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-platform-prod-churn/7"
APPROVAL_KEY = f"approval#{PACKAGE_ARN}"
EVENT_ID = "a1b2c3d4-1111-2222-3333-444455556666"


def approval(**detail: Any) -> dict[str, Any]:
    event = load_event("model_package_approved.json")
    event["detail"] = {**event["detail"], **detail}
    return event


def test_approval_dispatches_the_promotion_workflow_and_notifies(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a promotion repository and its token configured
    world.with_promotion()
    # WHEN version 7 of churn's group is approved
    answer = world.invoke(approval())

    # THEN GitHub got one repository_dispatch: URL, headers, body, with a timeout
    ((request, timeout),) = world.github.requests
    assert request.full_url == f"https://api.github.com/repos/{REPOSITORY}/dispatches"
    assert request.get_method() == "POST"
    assert timeout == 10.0
    assert dict(request.header_items()) == {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {TOKEN}",
        "X-github-api-version": "2022-11-28",
        "Content-type": "application/json",
        "User-agent": "mlops-platform-retrain-trigger",
    }
    assert isinstance(request.data, bytes)
    assert json.loads(request.data) == {
        "event_type": "model-approved",
        "client_payload": {"model": "churn", "version": 7, "packageArn": PACKAGE_ARN},
    }
    # AND the decision says a promotion was requested and dispatched
    decision = {
        "schemaVersion": 1,
        "decision": "promotion-requested",
        "reason": "approved",
        "model": "churn",
        "key": APPROVAL_KEY,
        "message": f"Version 7 of model churn ({PACKAGE_ARN}) was approved.",
        "decidedAt": "2026-11-27T07:05:00.000Z",
        "event": {
            "id": EVENT_ID,
            "source": "aws.sagemaker",
            "detailType": "SageMaker Model Package State Change",
        },
        "trigger": "approval",
        "packageGroup": GROUP,
        "version": 7,
        "packageArn": PACKAGE_ARN,
        "repository": REPOSITORY,
        "eventType": "model-approved",
        "dispatched": True,
        "details": {
            "dispatch": {
                "clientPayload": {"model": "churn", "version": 7, "packageArn": PACKAGE_ARN},
                "status": 204,
            }
        },
    }
    assert answer == {
        **decision,
        "notified": {"audit": True, "sns": True, "events": True, "errors": []},
    }
    # AND the bus got ModelPromotionRequested, the topic the version and the next step
    (event,) = world.bus_events()
    assert (event["source"], event["detail-type"]) == (
        "mlops.retraining",
        "ModelPromotionRequested",
    )
    assert event["detail"] == decision
    (note,) = world.published()
    assert note["Subject"] == "Model churn version 7 approved: promotion requested"
    message = note["Message"].splitlines()
    assert message[:7] == [
        f"Version 7 of model churn ({PACKAGE_ARN}) was approved.",
        "",
        f"Next: the promotion workflow of {REPOSITORY} was dispatched (event type "
        "model-approved); follow it in the repository's Actions.",
        "",
        "Model:         churn",
        f"Package group: {GROUP}",
        "Version:       7",
    ]
    # AND the audit keeps it under the model; a metric counts it
    (item,) = world.audit()
    assert {k: item[k] for k in ("pk", "decision", "version", "packageArn", "dispatched")} == {
        "pk": "model#churn",
        "decision": "promotion-requested",
        "version": 7,
        "packageArn": PACKAGE_ARN,
        "dispatched": True,
    }
    assert [m["metric"] for m in emf_metrics(capsys.readouterr().out)] == ["PromotionRequested"]

    # WHEN SageMaker's event is delivered again THEN nothing is dispatched twice
    assert world.invoke(approval()) == answer
    assert len(world.github.requests) == 1
    assert world.bus_events() == []


def test_approval_without_a_repository_only_notifies(world: World) -> None:
    # GIVEN no promotion repository configured, WHEN a version is approved
    answer = world.invoke(approval())
    # THEN nothing is dispatched; the topic says what to do by hand
    assert world.github.requests == []
    assert (answer["decision"], answer["dispatched"], answer["repository"]) == (
        "promotion-requested",
        False,
        None,
    )
    assert answer["eventType"] is None
    assert answer["details"] == {}
    (note,) = world.published()
    assert note["Message"].splitlines()[2] == (
        "Next: set modelVersion: 7 on the endpoints serving churn in stacks/Pulumi.<stack>.yaml "
        "(or use latest-approved), and deploy stage by stage."
    )
    (event,) = world.bus_events()
    assert event["detail-type"] == "ModelPromotionRequested"


def test_a_failed_dispatch_is_recorded_raised_and_retried(world: World) -> None:
    # GIVEN GitHub refusing the dispatch
    world.with_promotion()
    world.github.error = DispatchError("GitHub answered 503 Service Unavailable: try later")
    # WHEN a version is approved THEN the invocation fails (retried, then the DLQ)
    with pytest.raises(trigger.PromotionFailedError) as raised:
        world.invoke(approval())
    assert str(raised.value) == (
        "promotion of churn version 7 not dispatched: GitHub answered 503 Service Unavailable: "
        "try later"
    )
    # AND the failure is recorded and published; no promotion event is put
    (item,) = world.audit()
    assert (item["decision"], item["reason"], item["dispatched"]) == (
        "failed",
        "dispatch-failed",
        False,
    )
    (note,) = world.published()
    assert note["Subject"] == "Promotion of model churn version 7 failed"
    assert world.bus_events() == []
    # WHEN Lambda retries and GitHub answers THEN it is dispatched and requested
    world.github.error = None
    assert world.invoke(approval())["decision"] == "promotion-requested"
    assert len(world.github.requests) == 2
    (event,) = world.bus_events()
    assert event["detail-type"] == "ModelPromotionRequested"


def test_a_non_2xx_answer_is_a_failed_dispatch(world: World) -> None:
    world.with_promotion()
    world.github.status = 404
    with pytest.raises(trigger.PromotionFailedError, match="GitHub answered 404"):
        world.invoke(approval())


def test_unknown_package_group_is_skipped_not_an_error(world: World) -> None:
    # GIVEN an approval in a group no configured model has
    event = approval(
        ModelPackageGroupName="mlops-platform-prod-pricing",
        ModelPackageArn=PACKAGE_ARN.replace("churn", "pricing"),
    )
    answer = world.invoke(event)
    assert answer == {
        "schemaVersion": 1,
        "decision": "skipped",
        "reason": "unknown-package-group",
        "message": "model package group mlops-platform-prod-pricing is no configured model's "
        "(RETRAIN_MODELS): not promoted here",
        "packageGroup": "mlops-platform-prod-pricing",
        "packageArn": PACKAGE_ARN.replace("churn", "pricing"),
    }
    assert world.published() == []
    assert world.bus_events() == []
    assert world.github.requests == []


def test_a_rejection_is_not_a_promotion(world: World) -> None:
    world.with_promotion()
    answer = world.invoke(approval(ModelApprovalStatus="Rejected"))
    assert (answer["decision"], answer["reason"]) == ("skipped", "not-approved")
    assert world.github.requests == []
    assert world.published() == []


# ---- the GitHub side on its own ------------------------------------------------------------------


class _Secrets:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        return {"SecretString": self.text}


@pytest.mark.parametrize(
    "text", ["ghp_abc", "  ghp_abc\n", '{"token": "ghp_abc"}', '{"token": " ghp_abc "}']
)
def test_token_is_the_secret_string_or_its_token_key(text: str) -> None:
    assert retrain_promotion.read_token(_Secrets(text), "arn:secret") == "ghp_abc"


@pytest.mark.parametrize("text", ["", "   ", '{"user": "x"}', "{not json"])
def test_a_secret_without_a_token_is_refused(text: str) -> None:
    with pytest.raises(DispatchError, match=r"secret arn:secret holds no GitHub token"):
        retrain_promotion.read_token(_Secrets(text), "arn:secret")


def test_urllib_send_maps_http_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN urllib answering 401 (no network: urlopen itself is replaced)
    def refuse(request: urllib.request.Request, timeout: float) -> Any:
        raise urllib.error.HTTPError(
            request.full_url, 401, "Unauthorized", {}, io.BytesIO(b'{"message":"Bad credentials"}')
        )

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    request = retrain_promotion.dispatch_request(REPOSITORY, "t", "model-approved", {})
    with pytest.raises(DispatchError) as raised:
        retrain_promotion.urllib_send(request, 1.0)
    assert str(raised.value) == 'GitHub answered 401 Unauthorized: {"message":"Bad credentials"}'


def test_urllib_send_maps_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    def unreachable(request: urllib.request.Request, timeout: float) -> Any:
        seen.append(timeout)
        raise urllib.error.URLError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    request = retrain_promotion.dispatch_request(REPOSITORY, "t", "model-approved", {})
    with pytest.raises(DispatchError, match="could not reach GitHub: <urlopen error timed out>"):
        retrain_promotion.urllib_send(request, 2.5)
    assert seen == [2.5]


def test_settings_name_the_approval_event() -> None:
    assert (settings.APPROVAL_SOURCE, settings.APPROVAL_DETAIL_TYPE) == (
        "aws.sagemaker",
        "SageMaker Model Package State Change",
    )
