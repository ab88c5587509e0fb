"""One sticky pull-request comment: created once, then updated in place on every push.

`deploygate comment REPORT.json` renders the report as Markdown (with the hidden
``<!-- deploygate -->`` marker, under GitHub's 65,536-character limit) and, through GitHub's
REST API with the token in ``GITHUB_TOKEN``, updates the comment that carries the marker and was
written by the same account, or creates one. Comments by anyone else are never edited, even if
they carry the marker.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploygate.errors import UsageError
from deploygate.reporters.markdown import MARKER

API_TIMEOUT_S = 30
"""Each API request's time limit."""
MAX_PAGES = 30
"""Comment pages (100 each) searched for the marker; a thread longer than 3,000 comments gets a
new comment rather than an endless scan."""
MAX_RESPONSE_BYTES = 8 << 20
"""An API response is read at most this far."""
BOT = "github-actions[bot]"
"""The account GITHUB_TOKEN comments as."""


class CommentError(Exception):
    """The API refused or failed; the message says what to change."""


@dataclass(frozen=True)
class Target:
    """Where the comment goes."""

    api: str
    """The REST API root, e.g. https://api.github.com (GITHUB_API_URL on GitHub Enterprise)."""
    repository: str
    """``owner/name``."""
    number: int
    """The pull request's number."""
    author: str = BOT
    """Only this account's comments are updated."""


def target_from_env(environ: Mapping[str, str], repository: str | None = None,
                    number: int | None = None, author: str = BOT) -> Target | None:
    """The pull request this workflow runs for (None outside a pull request)."""
    repository = repository or environ.get("GITHUB_REPOSITORY", "")
    if number is None:
        number = _event_number(environ.get("GITHUB_EVENT_PATH"))
    if number is None:
        return None
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise UsageError(f"--repo {repository!r}: expected owner/name (or set GITHUB_REPOSITORY)")
    api = environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    return Target(api, repository, number, author)


def _event_number(path: str | None) -> int | None:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            event: Any = json.loads(f.read(MAX_RESPONSE_BYTES))
        number = event["pull_request"]["number"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None


def upsert(target: Target, body: str, token: str) -> tuple[str, str]:
    """Update this account's marked comment, or create one: ``(created|updated, html_url)``."""
    existing = _find(target, token)
    if existing is None:
        url = f"{target.api}/repos/{target.repository}/issues/{target.number}/comments"
        made = _request("POST", url, token, {"body": body})
        return "created", str(made.get("html_url", ""))
    url = f"{target.api}/repos/{target.repository}/issues/comments/{existing}"
    made = _request("PATCH", url, token, {"body": body})
    return "updated", str(made.get("html_url", ""))


def _find(target: Target, token: str) -> int | None:
    base = f"{target.api}/repos/{target.repository}/issues/{target.number}/comments?per_page=100"
    for page in range(1, MAX_PAGES + 1):
        comments = _request("GET", f"{base}&page={page}", token)
        if not isinstance(comments, list):
            raise CommentError("the comments API did not return a list")
        for c in comments:
            if not isinstance(c, dict):
                continue
            user = c.get("user")
            login = user.get("login") if isinstance(user, dict) else None
            body = c.get("body")
            if login == target.author and isinstance(body, str) and body.startswith(MARKER) \
                    and isinstance(c.get("id"), int):
                return int(c["id"])
        if len(comments) < 100:
            return None
    return None


def _request(method: str, url: str, token: str, payload: dict[str, Any] | None = None) -> Any:
    data = json.dumps(payload).encode("utf-8") if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "deploygate",
        **({"Content-Type": "application/json"} if data is not None else {})})
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:  # noqa: S310
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as e:
        hint = (" (a pull request from a fork gets a read-only token; grant `pull-requests: "
                "write` to the job, or rely on the job summary)") if e.code in (401, 403, 404) else ""
        raise CommentError(f"{method} {url.split('?')[0]}: HTTP {e.code} {e.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        raise CommentError(f"{method} {url.split('?')[0]}: {getattr(e, 'reason', e)}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise CommentError(f"{method} {url.split('?')[0]}: response larger than "
                           f"{MAX_RESPONSE_BYTES >> 20} MiB")
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError):
        raise CommentError(f"{method} {url.split('?')[0]}: the response is not JSON") from None


def run_url(environ: Mapping[str, str]) -> str | None:
    """This workflow run's page (where its job summary is), from the runner's environment."""
    server, repository, run = (environ.get(k, "") for k in
                               ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if not (server and repository and run.isdigit()):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run}"


def token_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """The API token from ``GITHUB_TOKEN``; a usage error when it is not set."""
    token = environ.get("GITHUB_TOKEN", "")
    if not token:
        raise UsageError("GITHUB_TOKEN is not set; pass it through `env:` "
                         "(GITHUB_TOKEN: ${{ github.token }}) to the step that comments")
    return token
