"""`deploygate matrix`: the manifest's models as a job matrix, runner labels from devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate.cli import cli
from deploygate.matrix import build_matrix

MANIFEST = """\
version: 1
devices:
  lab-pi: {kind: edge, memory: 8GiB, cores: 4, runner_label: pi5-lab}
models:
  - name: detector
    path: models/det.onnx
    target: {kind: edge, device: lab-pi}
  - name: chat
    path: ../shared/chat
    target: {kind: cloud, device: aws-g5.xlarge}
  - name: anywhere
    path: m.onnx
    target: {kind: edge}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "deploy-constraints.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "svc")
    return tmp_path


def test_one_entry_per_model_with_runner_labels(repo: Path) -> None:
    result, findings = build_matrix([(repo / "svc" / "deploy-constraints.yaml", "x")])
    assert findings == []
    assert result == {"include": [
        {"name": "detector", "model": "detector", "models": "detector",
         "manifest": "svc/deploy-constraints.yaml", "path": "svc/models/det.onnx",
         "target": "edge", "device": "lab-pi", "runs-on": "pi5-lab", "on-device": "lab-pi"},
        {"name": "chat", "model": "chat", "models": "chat", "manifest": "svc/deploy-constraints.yaml",
         "path": "shared/chat", "target": "cloud", "device": "aws-g5.xlarge",
         "runs-on": "ubuntu-latest", "on-device": ""},
        {"name": "anywhere", "model": "anywhere", "models": "anywhere",
         "manifest": "svc/deploy-constraints.yaml", "path": "svc/m.onnx", "target": "edge",
         "device": None, "runs-on": "ubuntu-latest", "on-device": ""},
    ]}


def test_cli_prints_one_line_of_json(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["matrix"])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    assert [e["model"] for e in json.loads(result.output)["include"]] == ["detector", "chat", "anywhere"]


def test_cli_joins_several_manifests(repo: Path) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: tiny, path: t.onnx, target: {kind: edge}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["matrix", "-m", "deploy-constraints.yaml",
                                      "-m", "../other/deploy-constraints.yaml"])
    assert result.exit_code == 0, result.output
    include = json.loads(result.output)["include"]
    assert [(e["manifest"], e["model"]) for e in include][-1] == ("other/deploy-constraints.yaml", "tiny")


def test_invalid_manifest_exits_2_with_located_findings(repo: Path) -> None:
    (repo / "svc" / "deploy-constraints.yaml").write_text(
        MANIFEST.replace("kind: cloud", "kind: clod"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["matrix"])
    assert result.exit_code == 2
    assert "deploy-constraints.yaml:10:" in result.output and "DG102" in result.output
    assert "include" not in result.output


def _many(repo: Path, count: int, devices: int = 0) -> Path:
    """A manifest of ``count`` models; the first ``devices`` of them on their own lab runner."""
    lines = ["version: 1", "devices:"] + [
        f"  lab-{i}: {{kind: edge, memory: 2GiB, runner_label: lab-{i}}}" for i in range(devices)
    ] + ["  spare: {kind: edge, memory: 2GiB}", "models:"]
    for i in range(count):
        device = f"lab-{i}" if i < devices else "spare"
        lines.append(f"  - {{name: m{i:03d}, path: m{i}.onnx, target: {{kind: edge, device: {device}}}}}")
    file = repo / "svc" / "many.yaml"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file


def test_300_models_given_twice_are_at_most_256_jobs_without_duplicates(repo: Path) -> None:
    _many(repo, 300, devices=3)
    result = CliRunner().invoke(cli, ["matrix", "-m", "many.yaml", "-m", "many.yaml",
                                      "-m", "../svc/many.yaml"])
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.output)["include"]
    assert len(jobs) == 256  # every job GitHub allows is used: the shards are as small as can be
    names = [name for job in jobs for name in job["models"].split()]
    assert sorted(names) == [f"m{i:03d}" for i in range(300)]  # every model, once
    # A device's runner gets only that device's models; shards never mix runners.
    for i in range(3):
        (lab,) = [job for job in jobs if job["runs-on"] == f"lab-{i}"]
        assert lab["models"] == f"m{i:03d}" and lab["device"] == lab["on-device"] == f"lab-{i}"
    shards = [job for job in jobs if " " in job["models"]]
    assert shards and all(job["runs-on"] == "ubuntu-latest" and "model" not in job for job in shards)
    sizes = {len(job["models"].split()) for job in shards}
    assert max(sizes) - min(sizes) <= 1  # evenly spread


def test_max_jobs_shards_and_a_model_listed_twice_is_one_job(repo: Path) -> None:
    _many(repo, 10)
    result, findings = build_matrix([(repo / "svc" / "many.yaml", "many.yaml")] * 2, max_jobs=3)
    assert findings == []
    assert [job["models"].count(" ") + 1 for job in result["include"]] == [3, 3, 4]
    assert result["include"][0]["name"] == "m000 .. m002 (3 models)"


def test_too_many_runners_to_shard_is_exit_2(repo: Path) -> None:
    _many(repo, 5, devices=5)
    result = CliRunner().invoke(cli, ["matrix", "-m", "many.yaml", "--max-jobs", "4"])
    assert result.exit_code == 2 and "more than 4 jobs" in result.output


def test_a_glob_of_manifests(repo: Path) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: tiny, path: t.onnx, target: {kind: edge}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["matrix", "-m", "../*/deploy-constraints.yaml"])
    assert result.exit_code == 0, result.output
    assert [e["model"] for e in json.loads(result.output)["include"]] == ["tiny", "detector", "chat",
                                                                          "anywhere"]
    result = CliRunner().invoke(cli, ["matrix", "-m", "../nowhere/*.yaml"])
    assert result.exit_code == 2 and "no file matches" in result.output
