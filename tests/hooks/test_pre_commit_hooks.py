"""Every hook in .pre-commit-hooks.yaml, run by real pre-commit (`pre-commit try-repo`).

try-repo installs this repository into a fresh virtualenv from its committed HEAD (plus
changes to tracked files; untracked files are not seen), with its dependencies from the
package index, so this is slow (about a minute per install). Both scenarios install in
parallel. Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
EDGE_EXAMPLE = ROOT / "examples" / "edge-detector"
INVALID = "version: 1\nmodels:\n  - name: det\n    path: m.onnx\n    target: {kind: edgy}\n"
RESULT_LINE = re.compile(r"^(?P<name>.+?)\.{3,}(?P<status>Passed|Failed|Skipped)", re.MULTILINE)
TIMEOUT_S = 900


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True)


def _user_repo(path: Path, manifest: str | None, yml: bool = False) -> Path:
    if manifest is None:
        shutil.copytree(EDGE_EXAMPLE, path)
        if yml:  # a repository that spells its manifest .yml
            (path / "deploy-constraints.yaml").rename(path / "deploy-constraints.yml")
    else:
        path.mkdir()
        (path / "deploy-constraints.yaml").write_text(manifest, encoding="utf-8")
    _git(path, "init", "-q")
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "models")
    return path


def by_hook(output: str) -> dict[str, tuple[str, str]]:
    """pre-commit output split per hook: name -> (status, the hook's own output)."""
    matches = list(RESULT_LINE.finditer(output))
    sections = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(output)
        sections[match["name"].strip()] = (match["status"], output[match.end():end])
    return sections


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str]]]:
    if not (ROOT / ".git").exists():
        pytest.skip("try-repo needs this project as a git checkout")
    if importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    base = tmp_path_factory.mktemp("hooks")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(base / "cache")
    scenarios = {"valid": None, "invalid": INVALID, "yml": None}
    procs = {}
    for name, manifest in scenarios.items():
        repo = _user_repo(base / name, manifest, yml=name == "yml")
        # No hook id: try-repo runs every hook in the manifest, so a new hook is tested too.
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "--all-files",
             "--color", "never"], cwd=repo, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
    results = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            results[name] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    yield results


def test_hook_file_patterns() -> None:
    hooks = {h["id"]: h for h in HOOKS}
    assert set(hooks) == {"deploygate-validate", "deploygate-check"}
    validate, check = (re.compile(hooks[i]["files"])
                       for i in ("deploygate-validate", "deploygate-check"))
    for path in ("deploy-constraints.yaml", "svc/deploy-constraints.yml"):
        assert validate.search(path) and check.search(path)
    for path in ("my-deploy-constraints.yaml", "deploy-constraints.yaml.bak", "README.md"):
        assert not validate.search(path) and not check.search(path)
    for ext in ("onnx", "safetensors", "gguf", "pt", "pth", "bin", "ckpt", "tflite"):
        assert check.search(f"models/m.{ext}") and not validate.search(f"models/m.{ext}")
    assert hooks["deploygate-check"]["pass_filenames"] is False
    # In args, not entry, so that `args: []` in a user's config turns the probe on.
    assert hooks["deploygate-check"]["args"] == ["--no-probe"]


@pytest.mark.slow
def test_every_hook_ran(runs: dict[str, tuple[int, str]]) -> None:
    names = {h["name"] for h in HOOKS}
    for _code, output in runs.values():
        assert set(by_hook(output)) == names, output


@pytest.mark.slow
def test_validate_passes_on_a_valid_manifest(runs: dict[str, tuple[int, str]]) -> None:
    _code, output = runs["valid"]
    assert by_hook(output)["deploygate validate"][0] == "Passed", output


@pytest.mark.slow
def test_check_passes_on_a_model_that_fits(runs: dict[str, tuple[int, str]]) -> None:
    code, output = runs["valid"]
    assert by_hook(output)["deploygate check"][0] == "Passed", output
    assert code == 0


@pytest.mark.slow
def test_a_yml_manifest_alone_is_found_by_both_hooks(runs: dict[str, tuple[int, str]]) -> None:
    code, output = runs["yml"]
    hooks = by_hook(output)
    assert hooks["deploygate validate"][0] == hooks["deploygate check"][0] == "Passed", output
    assert code == 0 and "no such manifest" not in output


@pytest.mark.slow
def test_both_hooks_fail_on_an_invalid_manifest_and_name_the_line(
        runs: dict[str, tuple[int, str]]) -> None:
    code, output = runs["invalid"]
    assert code == 1, output
    for name, (status, text) in by_hook(output).items():
        assert status == "Failed", (name, output)
        assert "deploy-constraints.yaml:5:20: error: DG102" in text, (name, output)
