"""The sticky pull-request comment: `deploygate comment` and the action's comment step, against
a local HTTP server that answers GitHub's issue-comments REST endpoints as GitHub documents them
(list with pagination, create, update), and the markdown body's marker and size bound."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from click.testing import CliRunner, Result

from deploygate.cli import cli
from deploygate.errors import DG102
from deploygate.findings import Finding, Location, Severity
from deploygate.report import Report
from deploygate.reporters import markdown
from tests.unit.reporters.sample import failing_model, sample_report

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
COMMENT_STEP = next(s for s in ACTION["runs"]["steps"] if s.get("name") == "Comment on the pull request")


class GitHub:
    """The issue-comments API of one repository, in memory."""

    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str]] = []
        self.refuse: int | None = None
        self.login = "github-actions[bot]"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, code: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                api.requests.append((method, url.path, self.headers.get("Authorization", "")))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if api.refuse is not None and method != "GET":
                    return self._answer(api.refuse, {"message": "Resource not accessible by integration"})
                if method == "GET" and url.path == "/repos/o/r/issues/7/comments":
                    query = parse_qs(url.query)
                    per, page = int(query["per_page"][0]), int(query["page"][0])
                    return self._answer(200, api.comments[(page - 1) * per: page * per])
                if method == "POST" and url.path == "/repos/o/r/issues/7/comments":
                    made = {"id": 1000 + len(api.comments), "body": body["body"],
                            "user": {"login": api.login},
                            "html_url": f"https://github.example/o/r/pull/7#c{len(api.comments)}"}
                    api.comments.append(made)
                    return self._answer(201, made)
                if method == "PATCH" and url.path.startswith("/repos/o/r/issues/comments/"):
                    wanted = int(url.path.rsplit("/", 1)[1])
                    for c in api.comments:
                        if c["id"] == wanted:
                            c["body"] = body["body"]
                            return self._answer(200, c)
                return self._answer(404, {"message": "Not Found"})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        return Handler


@pytest.fixture
def github() -> Iterator[tuple[GitHub, str]]:
    api = GitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    file = tmp_path / "report.json"
    file.write_text(json.dumps(sample_report().to_json()), encoding="utf-8")
    return file


def comment(report: Path, url: str, *args: str, token: str = "tok") -> Result:
    env = {"GITHUB_TOKEN": token, "GITHUB_API_URL": url, "GITHUB_REPOSITORY": "o/r",
           "GITHUB_EVENT_PATH": "", "GITHUB_SERVER_URL": "https://github.example",
           "GITHUB_RUN_ID": "42"}
    return CliRunner().invoke(cli, ["comment", str(report), *args], env=env)


def test_one_comment_created_then_updated_in_place(github: tuple[GitHub, str], report_file: Path) -> None:
    api, url = github
    api.comments.append({"id": 1, "body": "LGTM", "user": {"login": "alice"}})
    first = comment(report_file, url, "--pr", "7")
    assert first.exit_code == 0, first.output
    assert "created the comment on o/r#7" in first.output
    second = comment(report_file, url, "--pr", "7")
    assert second.exit_code == 0 and "updated the comment" in second.output
    ours = [c for c in api.comments if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and ours[0]["body"].startswith("<!-- deploygate -->\n## ❌ deploygate failed")
    assert api.comments[0]["body"] == "LGTM"
    assert {auth for _, _, auth in api.requests} == {"Bearer tok"}
    assert [m for m, _, _ in api.requests] == ["GET", "POST", "GET", "PATCH"]


def test_a_marked_comment_by_someone_else_is_never_edited(github: tuple[GitHub, str],
                                                          report_file: Path) -> None:
    api, url = github
    api.comments.append({"id": 5, "body": "<!-- deploygate -->\nall good, merge it",
                         "user": {"login": "mallory"}})
    assert comment(report_file, url, "--pr", "7").exit_code == 0
    assert api.comments[0]["body"] == "<!-- deploygate -->\nall good, merge it"
    assert len(api.comments) == 2


def test_the_marked_comment_is_found_past_the_first_page(github: tuple[GitHub, str],
                                                         report_file: Path) -> None:
    api, url = github
    api.comments += [{"id": i, "body": f"chatter {i}", "user": {"login": "alice"}} for i in range(150)]
    api.comments.append({"id": 999, "body": "<!-- deploygate -->\nold", "user": {"login": api.login}})
    assert "updated" in comment(report_file, url, "--pr", "7").output
    assert api.comments[-1]["body"].startswith("<!-- deploygate -->\n## ")


def test_refused_token_is_exit_2_with_the_fix(github: tuple[GitHub, str], report_file: Path) -> None:
    api, url = github
    api.refuse = 403
    result = comment(report_file, url, "--pr", "7")
    assert result.exit_code == 2
    assert "HTTP 403" in result.output and "pull-requests: write" in result.output


def test_outside_a_pull_request_nothing_is_posted(github: tuple[GitHub, str], report_file: Path) -> None:
    api, url = github
    result = comment(report_file, url)
    assert result.exit_code == 0 and "not a pull request" in result.output and api.requests == []


def test_without_a_token_it_says_how_to_pass_one(github: tuple[GitHub, str], report_file: Path) -> None:
    _, url = github
    result = comment(report_file, url, "--pr", "7", token="")
    assert result.exit_code == 2 and "GITHUB_TOKEN is not set" in result.output


def _replay_comment_step(tmp_path: Path, url: str, report: Path) -> subprocess.CompletedProcess[str]:
    """The action's comment step, run by bash with env as the runner sets it."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    wrapper = tmp_path / "deploygate"
    wrapper.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" -m deploygate "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"DEPLOYGATE": str(wrapper), "DG_REPORT": str(report), "GITHUB_TOKEN": "tok",
                "GITHUB_API_URL": url, "GITHUB_REPOSITORY": "o/r", "GITHUB_EVENT_PATH": str(event),
                "PYTHONPATH": str(ROOT)})
    assert set(COMMENT_STEP["env"]) == {"DEPLOYGATE", "DG_REPORT", "GITHUB_TOKEN"}
    return subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                           COMMENT_STEP["run"]], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_action_comment_step_posts_and_never_changes_the_verdict(
        tmp_path: Path, github: tuple[GitHub, str], report_file: Path) -> None:
    api, url = github
    assert ACTION["inputs"]["comment"]["default"] == "false"
    assert "inputs.comment == 'true'" in COMMENT_STEP["if"]
    assert COMMENT_STEP["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    done = _replay_comment_step(tmp_path, url, report_file)
    assert done.returncode == 0, done.stderr
    assert len(api.comments) == 1 and api.comments[0]["body"].startswith("<!-- deploygate -->")
    api.refuse = 403
    refused = _replay_comment_step(tmp_path, url, report_file)
    assert refused.returncode == 0
    assert "::warning title=deploygate::the pull-request comment was not posted" in refused.stdout


def _huge_report(models: int = 300) -> Report:
    model = failing_model()
    many = tuple(replace(model, name=f"classifier-{i:03d}",
                         findings=tuple(replace(f, model=f"classifier-{i:03d}") for f in model.findings))
                 for i in range(models))
    extra = tuple(Finding(DG102.id, Severity.ERROR, "x" * 900,
                          Location("deploy-constraints.yaml", f"k{i}", i + 1, 1)) for i in range(10))
    return Report("deploy-constraints.yaml", many, extra)


def test_300_models_fit_one_comment_and_point_to_the_job_summary() -> None:
    report = _huge_report()
    whole = markdown.render(report, limit=markdown.SUMMARY_LIMIT)
    assert markdown.size(whole) > markdown.COMMENT_LIMIT  # the case GitHub refused
    body = markdown.render(report, more_at="https://github.example/o/r/actions/runs/42")
    assert markdown.size(body) <= markdown.COMMENT_LIMIT
    assert body.startswith("<!-- deploygate -->\n## ❌ deploygate failed")
    assert "[the job summary](https://github.example/o/r/actions/runs/42)" in body
    assert body.count("| classifier-") == 300  # every model's row fits; the findings are cut
    assert "more findings, in [the job summary]" in body
    # Errors first: the manifest's own errors and the models' failures lead the list.
    assert body.index("**DG102**") < body.index("**DG301**")


def test_a_table_too_long_is_cut_too() -> None:
    body = markdown.render(_huge_report(1000))
    assert markdown.size(body) <= markdown.COMMENT_LIMIT
    assert "more models |" in body and "the job summary of this run" in body


def test_every_body_carries_the_marker_and_small_ones_are_whole() -> None:
    small = markdown.render(sample_report())
    assert small.startswith(markdown.MARKER) and "Too long for one comment" not in small
    assert small == markdown.render(sample_report(), limit=markdown.SUMMARY_LIMIT)
