"""Which changed files make real pre-commit run the hooks: every file that can change a verdict.

The hooks' own ``files`` patterns from .pre-commit-hooks.yaml are copied into a local hook
config (``language: system``, so nothing is installed) and real ``pre-commit run --files``
decides whether each hook runs for one changed file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.git_repos import commit_all, init_repo

ROOT = Path(__file__).resolve().parents[2]
HOOKS = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))}

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pre_commit") is None,
                                reason="pre-commit is not installed (pip install -e '.[test]')")

CHECKED = [
    "deploy-constraints.yaml", "services/chat/deploy-constraints.yml",
    "models/det.onnx", "models/det.onnx.data", "models/det.onnx_data", "models/weights.data",
    "models/llm/model-00001-of-00002.safetensors", "models/llm/model.safetensors.index.json",
    "models/llm/config.json", "models/llm/generation_config.json", "models/chat.gguf",
    "models/m.pt", "models/m.pth", "models/pytorch_model.bin", "models/m.ckpt",
    "models/m.tflite", "models/m.h5", "models/m.keras", "samples/ids.npy",
]
IGNORED = ["README.md", "src/app.py", "package.json", "docs/config.json.md"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = init_repo(tmp_path_factory.mktemp("hooks") / "repo")
    hooks = [{"id": h["id"], "name": h["id"], "entry": "true", "language": "system",
              "files": h["files"], "pass_filenames": False} for h in HOOKS.values()]
    (repo / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}), encoding="utf-8")
    for name in CHECKED + IGNORED:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"x")
    commit_all(repo, "files")
    return repo


def hook_ran(repo: Path, hook: str, file: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(repo.parent / "cache")
    result = subprocess.run([sys.executable, "-m", "pre_commit", "run", hook, "--files", file,
                             "--color", "never"], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout or "Skipped" in result.stdout, result.stdout
    return "Passed" in result.stdout


@pytest.mark.parametrize("file", CHECKED)
def test_check_hook_runs_when_a_verdict_changing_file_changes(repo: Path, file: str) -> None:
    assert hook_ran(repo, "deploygate-check", file)


@pytest.mark.parametrize("file", IGNORED)
def test_check_hook_skips_unrelated_files(repo: Path, file: str) -> None:
    assert not hook_ran(repo, "deploygate-check", file)


@pytest.mark.parametrize("file", ["deploy-constraints.yaml", "services/chat/deploy-constraints.yml"])
def test_validate_hook_runs_for_both_manifest_spellings(repo: Path, file: str) -> None:
    assert hook_ran(repo, "deploygate-validate", file)
