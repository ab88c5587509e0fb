"""Baseline stage: the same model on a git ref, read straight from git objects.

``refs`` chooses the ref (flag, manifest, CI environment); ``repository`` resolves it and reads
the base manifest and model files from its trees into a private temporary folder; ``compare``
holds what the comparison found and how a change reads. The checks judge it (DG6xx).
"""

from __future__ import annotations

from deploygate.baseline.compare import (
    BaselineComparison, Change, describe, signed_percent,
)
from deploygate.baseline.refs import (
    MAX_EVENT_BYTES, MAX_REF_CHARS, RefChoice, check_ref_text, choose_ref, merge_request_base,
    pull_request_base,
)
from deploygate.baseline.repository import (
    BaseEntry, BaseFiles, BaseRepository, CHUNK_BYTES, GIT_TIMEOUT_S, LFS_SMUDGE_TIMEOUT_S,
    ResolvedRef, head_repo_path, locate_base, removed_models, repo_relative,
)

__all__ = [
    "BaseEntry",
    "BaseFiles",
    "BaseRepository",
    "BaselineComparison",
    "CHUNK_BYTES",
    "Change",
    "GIT_TIMEOUT_S",
    "LFS_SMUDGE_TIMEOUT_S",
    "MAX_EVENT_BYTES",
    "MAX_REF_CHARS",
    "RefChoice",
    "ResolvedRef",
    "check_ref_text",
    "choose_ref",
    "describe",
    "head_repo_path",
    "locate_base",
    "merge_request_base",
    "pull_request_base",
    "removed_models",
    "repo_relative",
    "signed_percent",
]
