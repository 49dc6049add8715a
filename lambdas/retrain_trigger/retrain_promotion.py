"""The GitHub side of a promotion: a `repository_dispatch` to the repository's promotion workflow.

`dispatch_request` builds the request (`POST https://api.github.com/repos/<owner>/<repo>/
dispatches`); `urllib_send` sends it with a timeout. The sender is a parameter of
`trigger.Clients`, so tests pass their own and nothing reaches the network.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

GITHUB_API: Final = "https://api.github.com"
API_VERSION: Final = "2022-11-28"
TIMEOUT_SECONDS: Final = 10.0
USER_AGENT: Final = "mlops-platform-retrain-trigger"
REPOSITORY: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
"""`owner/repo` as GitHub spells them."""
EVENT_TYPE_MAX: Final = 100
"""GitHub's limit on a repository_dispatch's `event_type`."""

Send = Callable[[urllib.request.Request, float], int]
"""Sends a request with a timeout (seconds); returns the HTTP status or raises `DispatchError`."""


class DispatchError(Exception):
    """The dispatch could not be made: no token, GitHub unreachable or refusing."""


def read_token(secrets: Any, secret_arn: str) -> str:
    """The GitHub token in the secret: its SecretString, either the token itself or a JSON
    object with a `token` key."""
    try:
        text = str(secrets.get_secret_value(SecretId=secret_arn).get("SecretString") or "")
    except (ClientError, BotoCoreError) as exc:
        raise DispatchError(f"cannot read the GitHub token from {secret_arn}: {exc}") from None
    token = text.strip()
    if token.startswith("{"):
        try:
            document = json.loads(token)
        except json.JSONDecodeError:
            document = None
        token = str(document.get("token", "")).strip() if isinstance(document, dict) else ""
    if not token:
        raise DispatchError(
            f"secret {secret_arn} holds no GitHub token (a SecretString that is the token, or "
            'a JSON object {"token": "..."})'
        )
    return token


def dispatch_url(repository: str) -> str:
    return f"{GITHUB_API}/repos/{repository}/dispatches"


def dispatch_request(
    repository: str, token: str, event_type: str, payload: Mapping[str, Any]
) -> urllib.request.Request:
    """The `repository_dispatch` request: `{"event_type", "client_payload"}`, JSON."""
    body = json.dumps(
        {"event_type": event_type, "client_payload": dict(payload)}, sort_keys=True
    ).encode("utf-8")
    return urllib.request.Request(  # noqa: S310 - a fixed https:// URL, the repository validated
        dispatch_url(repository),
        data=body,
        method="POST",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        },
    )


def urllib_send(request: urllib.request.Request, timeout: float) -> int:
    """Send with urllib; the status of a 2xx answer, `DispatchError` for anything else."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", "replace")
        raise DispatchError(f"GitHub answered {exc.code} {exc.reason}: {body}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DispatchError(f"could not reach GitHub: {exc}") from None


def dispatch(
    send: Send,
    *,
    repository: str,
    token: str,
    event_type: str,
    payload: Mapping[str, Any],
    timeout: float = TIMEOUT_SECONDS,
) -> int:
    """Send the dispatch; its status (GitHub answers 204), `DispatchError` when not 2xx."""
    status = send(dispatch_request(repository, token, event_type, payload), timeout)
    if not 200 <= status < 300:
        raise DispatchError(f"GitHub answered {status} to the repository_dispatch")
    return status
