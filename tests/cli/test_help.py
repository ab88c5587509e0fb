"""Every command and option explains itself in `--help` (click's conventions)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from deploygate.cli import cli


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_and_option_has_help(name: str) -> None:
    command = cli.commands[name]
    assert command.help, name
    missing = [p.opts for p in command.params
               if isinstance(p, click.Option) and not p.help and "--help" not in p.opts]
    assert missing == []
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="deploygate")
    assert result.exit_code == 0 and result.output.startswith(f"Usage: deploygate {name}")
