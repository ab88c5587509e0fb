"""The CI recipes in the docs are valid configuration: every ```yaml block that starts with
`# .gitlab-ci.yml` passes GitLab's CI schema (check-jsonschema's vendored copy, offline)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "ci.md"]
BLOCK = re.compile(r"```yaml\n(# \.gitlab-ci\.yml\n.*?)```", re.S)


def gitlab_recipes() -> list[tuple[str, str]]:
    return [(f"{doc.name}#{i}", block) for doc in DOCS
            for i, block in enumerate(BLOCK.findall(doc.read_text("utf-8")))]


def test_the_docs_have_gitlab_recipes() -> None:
    assert {name.split("#")[0] for name, _ in gitlab_recipes()} == {"README.md", "ci.md"}


@pytest.mark.skipif(importlib.util.find_spec("check_jsonschema") is None,
                    reason="check-jsonschema is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize(("name", "block"), gitlab_recipes(), ids=lambda v: v if "#" in v else "")
def test_gitlab_recipe_is_valid_gitlab_ci(tmp_path: Path, name: str, block: str) -> None:
    file = tmp_path / ".gitlab-ci.yml"
    file.write_text(block, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.gitlab-ci", str(file)], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    assert "--write gitlab=" in block and "codequality:" in block and 'GIT_DEPTH: "0"' in block
