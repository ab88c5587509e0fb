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
        {"model": "detector", "manifest": "svc/deploy-constraints.yaml", "path": "svc/models/det.onnx",
         "target": "edge", "device": "lab-pi", "runs-on": "pi5-lab"},
        {"model": "chat", "manifest": "svc/deploy-constraints.yaml", "path": "shared/chat",
         "target": "cloud", "device": "aws-g5.xlarge", "runs-on": "ubuntu-latest"},
        {"model": "anywhere", "manifest": "svc/deploy-constraints.yaml", "path": "svc/m.onnx",
         "target": "edge", "device": None, "runs-on": "ubuntu-latest"},
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
