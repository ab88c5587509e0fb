"""Choosing and checking the base ref; reading base manifests. (Git itself: tests/cli.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploygate.baseline import (
    Change, RefChoice, check_ref_text, choose_ref, pull_request_base, repo_relative,
)
from deploygate.errors import BaselineError
from deploygate.manifest.model import Baseline

SHA = "a" * 40


def event(tmp_path: Path, payload: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return str(path)


def test_base_flag_wins_over_everything(tmp_path: Path) -> None:
    env = {"GITHUB_BASE_REF": "main"}
    given = RefChoice("v1.0", "--base")
    assert choose_ref(given, Baseline(ref="origin/dev"), env) is given


def test_manifest_ref_wins_over_the_pull_request() -> None:
    env = {"GITHUB_BASE_REF": "main"}
    assert choose_ref(None, Baseline(ref="origin/dev"), env) == RefChoice("origin/dev",
                                                                          "baseline.ref")


def test_pull_request_base_only_for_models_that_declare_baseline(tmp_path: Path) -> None:
    env = {"GITHUB_BASE_REF": "main",
           "GITHUB_EVENT_PATH": event(tmp_path, {"pull_request": {"base": {"sha": SHA}}})}
    assert choose_ref(None, None, env) is None
    assert choose_ref(None, Baseline(), env) == RefChoice("origin/main", "GITHUB_BASE_REF", (SHA,))


def test_event_payload_alone(tmp_path: Path) -> None:
    env = {"GITHUB_EVENT_PATH": event(tmp_path, {"pull_request": {"base": {"sha": SHA}}})}
    assert pull_request_base(env) == RefChoice(SHA, "pull_request.base.sha")


@pytest.mark.parametrize("payload", [{"push": {}}, {"pull_request": {"base": {"sha": "--x"}}},
                                     ["not", "an", "object"], {"pull_request": None}])
def test_other_events_give_no_base(tmp_path: Path, payload: object) -> None:
    assert pull_request_base({"GITHUB_EVENT_PATH": event(tmp_path, payload)}) is None


def test_gitlab_merge_request_variables() -> None:
    env = {"CI_MERGE_REQUEST_DIFF_BASE_SHA": SHA, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    assert pull_request_base(env) == RefChoice(SHA, "CI_MERGE_REQUEST_DIFF_BASE_SHA", ("origin/main",))
    assert pull_request_base({"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}) == \
        RefChoice("origin/main", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    # Not a commit id: never handed to git as one.
    assert pull_request_base({"CI_MERGE_REQUEST_DIFF_BASE_SHA": "--upload-pack=x"}) is None
    assert pull_request_base({}) is None


def test_unreadable_event_gives_no_base(tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text("{not json")
    assert pull_request_base({"GITHUB_EVENT_PATH": str(tmp_path / "event.json")}) is None
    assert pull_request_base({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) is None


@pytest.mark.parametrize("ref", ["main", "origin/main", "v1.2.3", SHA, "HEAD~1", "HEAD^",
                                 "main@{1}", "refs/remotes/origin/release/2.0"])
def test_ordinary_refs_pass(ref: str) -> None:
    check_ref_text(ref)


@pytest.mark.parametrize(("ref", "why"), [
    ("", "is empty"), ("--output=x", "starts with '-'"), ("-c", "starts with '-'"),
    ("main dev", "whitespace"), ("main\x1b[2J", "control"), ("a..b", "'..'"),
    ("a...b", "'..'"), ("HEAD:secret", "':'"), ("x" * 300, "longer than"), ("main\t", "whitespace"),
])
def test_odd_refs_are_refused(ref: str, why: str) -> None:
    with pytest.raises(BaselineError) as caught:
        check_ref_text(ref)
    assert why in caught.value.message and "refused" in caught.value.message
    assert "\x1b" not in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize(("folder", "path", "expected"), [
    ("", "models/det.onnx", "models/det.onnx"),
    ("ml", "../models/det.onnx", "models/det.onnx"),
    ("ml", "./a/../b.onnx", "ml/b.onnx"),
    ("", "../outside.onnx", None),
    ("", "/etc/passwd", None),
    ("", "a\\b.onnx", None),
])
def test_base_manifest_paths_stay_in_the_repository(folder: str, path: str,
                                                    expected: str | None) -> None:
    assert repo_relative(folder, path) == expected


def test_change() -> None:
    assert Change(4, 16).fraction == 3.0 and Change(4, 16).delta == 12
    assert Change(0, 0).fraction == 0.0 and Change(0, 5).fraction is None


def test_a_git_command_is_killed_past_its_output_cap(tmp_path: Path) -> None:
    from deploygate.baseline.repository import _bounded

    with pytest.raises(BaselineError, match="more than 1000 bytes"):
        _bounded(["yes"], "yes", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=60,
                 ok=(0,), sink=None, cap=1000)


def test_a_head_read_keeps_the_first_bytes_and_stops_the_command(tmp_path: Path) -> None:
    """What reading a safetensors base up to its header uses: `yes` never ends by itself."""
    from deploygate.baseline.repository import _bounded

    code, out = _bounded(["yes"], "yes", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                         timeout=60, ok=(0,), sink=None, cap=1001, head=True)
    assert out == b"y\n" * 500 + b"y" and code != 0
