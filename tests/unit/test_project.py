"""Release hygiene: licence, classifiers, one version, and a CI script that gates what it says."""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import pytest

import deploygate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_SCRIPT = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
TESTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _console_blocks(text: str, marker: str) -> list[str]:
    """The one-line console commands that follow `marker` in the README."""
    after = text.split(marker, 1)[1]
    return re.findall(r"```console\n(.+?)\n```", after, flags=re.S)[:1]


def test_licence_file_is_the_apache_licence_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["license"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_classifiers_name_every_tested_python_and_posix() -> None:
    classifiers = set(PROJECT["classifiers"])
    assert PROJECT["requires-python"] == f">={TESTED_PYTHONS[0]}"
    for version in TESTED_PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Operating System :: POSIX" in classifiers
    assert not any(c.startswith("Operating System :: Microsoft") for c in classifiers)
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert f'python-version: [{", ".join(f"{v!r}".replace(chr(39), chr(34)) for v in TESTED_PYTHONS)}]' \
        in workflow


def test_project_urls() -> None:
    urls = PROJECT["urls"]
    assert {"Homepage", "Repository", "Issues", "Changelog", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())


def test_the_version_lives_in_one_place() -> None:
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "deploygate/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", deploygate.__version__)
    try:
        installed = metadata("deploygate")["Version"]
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return
    assert installed == deploygate.__version__


def test_lint_and_type_tools_come_with_the_test_extra() -> None:
    names = {re.split(r"[<>=\[ ;]", req, maxsplit=1)[0] for req in PROJECT["optional-dependencies"]["test"]}
    assert {"ruff", "mypy", "pytest"} <= names
    assert PYPROJECT["tool"]["mypy"]["strict"] is True


def test_ci_runs_the_readme_test_command_verbatim_then_the_gates() -> None:
    (command,) = _console_blocks(README, "Run the test suite")
    lines = [line.strip() for line in CI_SCRIPT.splitlines()]
    assert command in lines
    after = lines[lines.index(command) + 1:]
    assert "python -m ruff check deploygate tests benchmarks" in after
    assert "python -m mypy" in after
    assert "set -euo pipefail" in lines  # a failing gate fails the script
    if "not slow" in PYPROJECT["tool"]["pytest"]["ini_options"]["addopts"]:
        assert "python -m pytest -m slow" in after


def test_tests_call_tools_through_this_interpreter() -> None:
    bare = re.compile(r"""(?:run|Popen|check_output|check_call)\(\s*\[?\s*["']"""
                      r"""(check-jsonschema|pre-commit|ruff|mypy|pytest|deploygate)["']""")
    offenders = [f"{p.relative_to(ROOT)}:{m.group(1)}" for p in sorted((ROOT / "tests").rglob("*.py"))
                 for m in bare.finditer(p.read_text(encoding="utf-8"))]
    assert offenders == [], "use [sys.executable, '-m', tool] so that PATH cannot pick the tool"
