"""A bug anywhere is exit 3 and one line; the traceback only with --debug."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from deploygate.artifacts import safetensors
from deploygate.cli import cli


def _explode(path: Path, display: str) -> None:
    raise RuntimeError("reader exploded\nwith a second line that must not show")


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid safetensors file whose reader has a bug; cwd is its repository."""
    (tmp_path / ".git").mkdir()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 2) + b"{}")
    (tmp_path / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: m, path: m.safetensors, target: {kind: edge}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYGATE_DEBUG", raising=False)
    monkeypatch.setattr(safetensors, "inspect", _explode)
    return path


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("args", [
    ("inspect", "m.safetensors"),
    ("check", "--no-probe", "--format", "json"),
], ids=["inspect", "check"])
def test_unexpected_exception_is_one_line_and_exit_3(model: Path, args: tuple[str, ...]) -> None:
    result = _invoke(*args)
    assert result.exit_code == 3
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deploygate: internal error, please report: ")
    assert "RuntimeError: reader exploded" in lines[0]
    assert "second line" not in lines[0]
    assert "--debug" in lines[0]


def test_debug_shows_the_traceback(model: Path) -> None:
    result = _invoke("--debug", "inspect", "m.safetensors")
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "_explode" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("deploygate: internal error")


def test_debug_from_the_environment(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYGATE_DEBUG", "1")
    result = _invoke("inspect", "m.safetensors")
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_user_errors_are_not_internal_errors(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real reader again
    monkeypatch.chdir(model.parent)
    model.write_bytes(b"\x01")
    result = _invoke("inspect", "m.safetensors")
    assert result.exit_code == 2
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
