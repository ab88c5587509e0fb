"""Which base ref to compare with: the --base flag, ``baseline.ref``, or the pull or merge
request's base from the CI environment; and ref text checked before git sees it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploygate.errors import BaselineError
from deploygate.manifest.model import Baseline


MAX_REF_CHARS = 256
"""Longer strings are not refs anyone types; refusing them keeps messages readable."""


MAX_EVENT_BYTES = 16 << 20
"""GitHub event payloads are small JSON; a bigger file is not one."""


_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class RefChoice:
    """Which ref to compare with, and where that choice came from."""

    ref: str
    """As given: ``origin/main``, a branch, a tag or a commit id."""
    source: str
    """``--base``, ``baseline.ref``, ``GITHUB_BASE_REF``, ``pull_request.base.sha``,
    ``CI_MERGE_REQUEST_DIFF_BASE_SHA`` or ``CI_MERGE_REQUEST_TARGET_BRANCH_NAME``."""
    fallbacks: tuple[str, ...] = ()
    """Refs tried in order when ``ref`` is not in the clone (the pull request's base commit)."""


def choose_ref(given: RefChoice | None, baseline: Baseline | None,
               environ: Mapping[str, str]) -> RefChoice | None:
    """The ref to compare with: the one the caller gave (``check --base``), else
    ``baseline.ref``, else the pull request's base.

    The pull request's base is used only for models that declare ``baseline``.
    """
    if given is not None:
        return given
    if baseline is None:
        return None
    if baseline.ref:
        return RefChoice(baseline.ref, "baseline.ref")
    return pull_request_base(environ)


def pull_request_base(environ: Mapping[str, str]) -> RefChoice | None:
    """The base of the GitHub pull request or GitLab merge request this runs for; else None."""
    sha = _event_base_sha(environ.get("GITHUB_EVENT_PATH"))
    branch = environ.get("GITHUB_BASE_REF")
    if branch:
        return RefChoice(f"origin/{branch}", "GITHUB_BASE_REF", (sha,) if sha else ())
    if sha:
        return RefChoice(sha, "pull_request.base.sha")
    return merge_request_base(environ)


def merge_request_base(environ: Mapping[str, str]) -> RefChoice | None:
    """The base of a GitLab merge-request pipeline: the diff's base commit, else the target branch.

    ``CI_MERGE_REQUEST_DIFF_BASE_SHA`` is the commit the merge request's diff starts from (the
    merge base), which is what the change is judged against; the target branch, which may have
    moved on since, is only the fallback.
    """
    sha = environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
    branch = environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
    target = (f"origin/{branch}",) if branch else ()
    if _FULL_SHA.fullmatch(sha):
        return RefChoice(sha, "CI_MERGE_REQUEST_DIFF_BASE_SHA", target)
    if target:
        return RefChoice(target[0], "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    return None


def _event_base_sha(event_path: str | None) -> str | None:
    if not event_path:
        return None
    try:
        with open(event_path, "rb") as f:
            raw = f.read(MAX_EVENT_BYTES + 1)
        event: Any = json.loads(raw) if len(raw) <= MAX_EVENT_BYTES else None
    except (OSError, ValueError):
        return None  # not a pull request event we can read: no base from it
    try:
        sha = event["pull_request"]["base"]["sha"]
    except (KeyError, TypeError, IndexError):
        return None
    return sha if isinstance(sha, str) and _FULL_SHA.fullmatch(sha) else None


def check_ref_text(ref: str) -> None:
    """Refuse ref strings that could be read as options, ranges or several words."""
    shown = ref if ref.isprintable() and len(ref) <= MAX_REF_CHARS else repr(ref[:40])
    problem = None
    if not ref:
        problem = "is empty"
    elif len(ref) > MAX_REF_CHARS:
        problem = f"is longer than {MAX_REF_CHARS} characters"
    elif ref.startswith("-"):
        problem = "starts with '-' (it would be read as an option)"
    elif any(c.isspace() or not c.isprintable() for c in ref):
        problem = "contains whitespace or control characters"
    elif ".." in ref:
        problem = "contains '..' (a range, not one commit)"
    elif ":" in ref:
        problem = "contains ':' (a path in a tree, not a commit)"
    elif "{/" in ref:
        problem = "contains '{/' (a search of commit messages, not one commit)"
    if problem:
        raise BaselineError(f"base ref {shown} {problem}; refused, name one branch, tag or "
                            "commit such as origin/main")
