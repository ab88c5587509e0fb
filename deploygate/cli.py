"""Command line: flags become options, the engine does the work, a reporter renders it.

Nothing here judges or inspects; every command ends in an exit code from DESIGN.md.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from deploygate import __version__
from deploygate.errors import DeploygateError
from deploygate.findings import EXIT_CANNOT_JUDGE, EXIT_INTERNAL, one_line

DEFAULT_MANIFEST = "deploy-constraints.yaml"
FORMATS = ["text", "json", "sarif", "junit", "github", "markdown"]


class _Group(click.Group):
    """Turns errors into one line and the right exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except DeploygateError as e:
            _fail(ctx, f"deploygate: error: {e}", _exit_for(e), e)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bug: say so in one line
            cause = str(e).splitlines()[0] if str(e) else ""
            _fail(ctx, f"deploygate: internal error, please report: {type(e).__name__}: {cause} "
                       "(re-run with --debug for the traceback)", EXIT_INTERNAL, e)


def _exit_for(error: DeploygateError) -> int:
    from deploygate.rules import RULES

    rule = RULES.get(error.rule)
    return rule.outcome.value if rule else EXIT_CANNOT_JUDGE


def _fail(ctx: click.Context, line: str, code: int, error: BaseException) -> NoReturn:
    if _debug(ctx):
        traceback.print_exception(type(error), error, error.__traceback__)
    click.echo(one_line(line), err=True)
    ctx.exit(code)
    raise AssertionError("unreachable")


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("DEPLOYGATE_DEBUG") == "1"


def _default_format() -> str:
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    return "text"


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None
    return lambda line: click.echo(f"  {line}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deploygate")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Stop ML models that won't fit their deployment from being merged.

    deploy-constraints.yaml declares each model's target, latency budget and cost ceiling;
    `deploygate check` inspects the real artifacts and fails when a constraint does not hold.
    Exit codes: 0 pass, 1 violated, 2 cannot judge, 3 internal error.
    """


@cli.command()
@click.option("--manifest", "-m", default=DEFAULT_MANIFEST, show_default=True,
              type=click.Path(dir_okay=True, path_type=Path), help="The manifest file.")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Check only this model (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: github under GitHub Actions, else text).")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (text also goes to stdout).")
@click.option("--base", metavar="REF", help="Compare with this git ref (overrides baseline.ref).")
@click.option("--no-probe", is_flag=True, help="Skip latency measurement.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check(manifest: Path, models: tuple[str, ...], fmt: str | None, output: str | None,
          base: str | None, no_probe: bool, strict: bool) -> None:
    """Validate the manifest, inspect the models, probe latency, and judge."""
    from deploygate.engine import CheckOptions, run_check
    from deploygate.reporters import render

    options = CheckOptions(manifest=manifest, models=models, probe=not no_probe, strict=strict,
                           base=base, progress=_progress() if fmt in (None, "text") else None)
    report = run_check(options)
    fmt = fmt or _default_format()
    _emit(render(fmt, report), output)
    if output and fmt != "text":
        click.echo(render("text", report), nl=False)
    sys.exit(report.exit_code)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check manifests against the schema only (fast; the pre-commit path)."""
    from deploygate.findings import exit_code
    from deploygate.manifest.load import load_manifest

    findings = []
    for file in files or (Path(DEFAULT_MANIFEST),):
        findings.extend(load_manifest(file, str(file)).findings)
    for f in findings:
        click.echo(str(f), err=True)
    code = exit_code(findings)
    if code == 0:
        click.echo(f"{len(files) or 1} manifest{'s' * (len(files) > 1)} valid")
    sys.exit(code)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def inspect(path: Path, fmt: str) -> None:
    """Print facts about one model file or folder (no manifest needed)."""
    from deploygate.artifacts import inspect_artifact
    from deploygate.manifest.units import format_bytes, format_count

    info = inspect_artifact(path, display=str(path))
    if fmt == "json":
        click.echo(json.dumps(info.to_json(), indent=2))
        return
    click.echo(f"{info.path}: {info.format}")
    click.echo(f"  size:    {format_bytes(info.size_bytes)} ({info.size_bytes} bytes, "
               f"{len(info.files) or 1} file{'s' * (len(info.files) > 1)})")
    click.echo(f"  params:  {format_count(info.params)} ({info.params})")
    for dtype, n in sorted(info.bytes_by_dtype.items()):
        click.echo(f"  {dtype + ':':<9}{format_bytes(n)}")
    for label, tensors in (("input", info.inputs), ("output", info.outputs)):
        for t in tensors:
            shape = "?" if t.shape is None else "[" + ", ".join("?" if d is None else str(d)
                                                                  for d in t.shape) + "]"
            click.echo(f"  {label}:   {t.name} {t.dtype} {shape}")
    for key, value in info.details.items():
        click.echo(f"  {key}: {value}")
    if info.contains_code:
        click.echo("  warning: this archive contains code that runs when it is loaded")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def devices(fmt: str) -> None:
    """List the built-in device catalog."""
    from dataclasses import asdict

    from deploygate.manifest.units import format_bytes
    from deploygate.targets.catalog import load_catalog

    catalog = load_catalog()
    if fmt == "json":
        click.echo(json.dumps([asdict(d) for d in catalog.values()], indent=2))
        return
    click.echo(f"{'id':<22}{'kind':<7}{'memory':>10}{'bandwidth':>13}{'compute':>14}{'$/hour':>9}")
    for d in catalog.values():
        bw = f"{d.memory_bandwidth / 1e9:g} GB/s" if d.memory_bandwidth else "-"
        compute = f"{d.compute / 1e12:g} T" if d.compute else "-"
        price = f"{d.price_per_hour:.3f}" if d.price_per_hour is not None else "-"
        click.echo(f"{d.id:<22}{d.kind:<7}{format_bytes(d.memory):>10}{bw:>13}{compute:>14}{price:>9}")


@cli.command()
def schema() -> None:
    """Print the manifest's JSON Schema."""
    from deploygate.manifest.schema import schema_text

    click.echo(schema_text(), nl=False)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="deploygate")
