"""Command line: flags become options, the engine does the work, a reporter renders it.

Nothing here judges or inspects; every command ends in an exit code from DESIGN.md.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from deploygate.manifest.model import (DEFAULT_PERCENTILE, MANIFEST_NAMES, PERCENTILES, RUNTIMES,
                                       Percentile)
from deploygate import __version__
from deploygate.errors import DeploygateError, ProbeError
from deploygate.findings import EXIT_CANNOT_JUDGE, EXIT_INTERNAL, one_line
from deploygate.init import FiniteNumber

if TYPE_CHECKING:
    from deploygate.report import Report

DEFAULT_MANIFEST = MANIFEST_NAMES[0]
"""What `check`, `validate`, `matrix` and `advise` read when no manifest is given (or the
other name in ``MANIFEST_NAMES`` when only it exists)."""
FLAG_NAMES = dict(models="--model", base="--base", on_device="--on-device",
                  time_budget="--time-budget")
"""The flag that sets each engine option (``deploygate.engine.OptionNames``): messages name it."""
PROBE_SKIPPED = "the probe was skipped (--no-probe)"
"""What a report says where ``--no-probe`` left a latency unmeasured."""
FORMATS = ["text", "json", "sarif", "junit", "github", "markdown", "gitlab"]


def default_manifest(folder: Path = Path(".")) -> Path:
    """``deploy-constraints.yaml`` in ``folder``, else ``deploy-constraints.yml`` when only it exists."""
    for name in MANIFEST_NAMES:
        if (folder / name).is_file():
            return folder / name
    return folder / DEFAULT_MANIFEST


class _Group(click.Group):
    """Turns errors into one line and the right exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except DeploygateError as e:
            _fail(ctx, f"deploygate: error: {_rule_label(e)}{e}", _exit_for(e), e)
        except KeyboardInterrupt as e:
            # Ctrl-C, or SIGTERM/SIGHUP from a cancelled CI job (see main): cleanup already ran
            # on the way here (the probe's child killed, temporary folders removed).
            _fail(ctx, "deploygate: interrupted; nothing was judged", EXIT_CANNOT_JUDGE, e)
        except BrokenPipeError:
            # The reader went away (`deploygate check | head`): no traceback, and no pass either,
            # since the verdict was never delivered. Keep Python quiet when it flushes at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(EXIT_CANNOT_JUDGE)
        except Exception as e:  # a bug: say so in one line
            cause = str(e).splitlines()[0] if str(e) else ""
            _fail(ctx, f"deploygate: internal error, please report: {type(e).__name__}: {cause} "
                       "(re-run with --debug for the traceback)", EXIT_INTERNAL, e)



_text_or_json = click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                             default="text", show_default=True,
                             help="text for people, json for programs.")
"""The --format of the commands that print facts rather than a gate's report."""


_PROBE_FLAGS = (
    ("latency.dims", "--dim NAME=VALUE"),
    ("latency.inputs", "--input NAME=shape:1x3x224x224, range:LO..HI or value:V"),
    ("latency.timeout_s", "--timeout-s"),
    ("latency.max_time_s", "--max-time-s"),
    ("latency.threads", "--threads"),
    ("latency.runtime", "--runtime"),
    ("latency.providers", "--provider NAME"),
    ("latency.prompt_tokens", "--prompt-tokens"),
    ("latency.new_tokens", "--new-tokens"),
)
"""The `deploygate probe` flag that sets what a manifest key sets, by key prefix."""


def _with_probe_flag(error: ProbeError) -> ProbeError:
    """``error`` naming the flag that fixes it: its message names manifest keys, and without a
    manifest the flags set the same things."""
    from deploygate.errors import ProbeNeedsValues
    from deploygate.rules import RULES

    flag = next((f for key, f in _PROBE_FLAGS if (error.path or "").startswith(key)), None)
    if flag is None or isinstance(error, ProbeNeedsValues):  # the latter names its flags
        return error
    return ProbeError(f"{error.message} (with `deploygate probe`: {flag})", file=error.file,
                      path=error.path, rule=RULES[error.rule])

def _exit_for(error: DeploygateError) -> int:
    from deploygate.rules import RULES

    rule = RULES.get(error.rule)
    return rule.outcome.value if rule else EXIT_CANNOT_JUDGE


def _rule_label(error: DeploygateError) -> str:
    from deploygate.rules import RULES

    rule = RULES.get(error.rule)
    return f"{rule.id} {rule.name}: " if rule else ""


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


def write_output(file: str, text: str) -> str | None:
    """Write ``text`` to ``file``, creating its folders; the reason it failed, or None."""
    path = Path(file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        return f"deploygate: error: cannot write {file}: {e.strerror or e}"
    return None


def finish(failures: list[str], code: int) -> NoReturn:
    """Exit with ``code``, or 2 after one line per output that could not be written.

    A report that was not delivered is a verdict nobody saw: the run cannot count as judged.
    """
    for line in failures:
        click.echo(one_line(line), err=True)
    sys.exit(EXIT_CANNOT_JUDGE if failures else code)


def _parse_writes(_ctx: click.Context, _param: click.Parameter,
                  values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``FORMAT=FILE`` pairs from repeated ``--write``."""
    pairs = []
    for value in values:
        fmt, sep, file = value.partition("=")
        if not sep or fmt not in FORMATS or not file:
            raise click.BadParameter(f"{value!r}: expected FORMAT=FILE with FORMAT one of "
                                     f"{', '.join(FORMATS)}")
        pairs.append((fmt, file))
    return tuple(pairs)


def _progress(quiet: bool = False) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    return lambda line: click.echo(one_line(f"  {line}"), err=True)


def use_color() -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deploygate")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Stop ML models that won't fit their deployment from being merged.

    deploy-constraints.yaml declares each model's target, latency budget and cost ceiling;
    `deploygate check` inspects the real artifacts and fails when a constraint does not hold.
    Exit codes: 0 pass, 1 violated, 2 cannot judge, 3 internal error.
    """


def expand_manifests(values: tuple[Path, ...]) -> tuple[Path, ...]:
    """``-m`` values with globs expanded (sorted, each file once); the default when none."""
    if not values:
        return (default_manifest(),)
    from deploygate.errors import UsageError

    files: dict[Path, None] = {}
    for value in values:
        text = str(value)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise UsageError(f"--manifest {text}: no file matches this pattern")
            files.update((Path(m), None) for m in matches)
        else:
            files[value] = None
    return tuple(files)


def deliver(report: Report, fmt: str, output: str | None,
            writes: tuple[tuple[str, str], ...], quiet: bool) -> NoReturn:
    """Write the report everywhere it was asked for, then exit with its code.

    Every output is attempted; one that cannot be written is a line on stderr and exit 2 at
    the end, so the verdict still reaches the log, the job summary and the other files.
    """
    from deploygate.reporters import render

    failures = [line for extra_fmt, file in writes
                if (line := write_output(file, render(extra_fmt, report))) is not None]
    if output:
        line = write_output(output, render(fmt, report))
        if line is not None:
            failures.append(line)
        if fmt != "text" and not quiet:
            click.echo(_text_report(report), nl=False)
    elif not quiet or fmt != "text":
        click.echo(_text_report(report) if fmt == "text" else render(fmt, report), nl=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary:
        from deploygate.reporters.github import render_summary

        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(render_summary(report))
        except OSError as e:
            failures.append(f"deploygate: error: cannot write the job summary {summary}: "
                            f"{e.strerror or e}")
    finish(failures, report.exit_code)


def _text_report(report: Report) -> str:
    """The text report, coloured on a terminal unless NO_COLOR is set."""
    from deploygate.reporters import text

    return text.render(report, color=use_color())


_REPORT_OPTIONS = [
    click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                 help="Output format (default: github under GitHub Actions, else text)."),
    click.option("--output", "-o", metavar="FILE",
                 help="Write the report to FILE (text also goes to stdout); folders are created."),
    click.option("--write", "writes", multiple=True, metavar="FORMAT=FILE", callback=_parse_writes,
                 help="Also write the report in FORMAT to FILE, from the same run (repeatable), "
                      "e.g. --write sarif=reports/deploygate.sarif; folders are created."),
    click.option("--quiet", "-q", is_flag=True,
                 help="No progress and no text report on stdout: the exit code and the files "
                      "written say it all (other formats still print)."),
]


def _report_options(command: Any) -> Any:
    for option in reversed(_REPORT_OPTIONS):
        command = option(command)
    return command


@cli.command()
@click.option("--manifest", "-m", "manifests", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=True, path_type=Path),
              help=f"A manifest or a glob of manifests, quoted (repeatable; default {DEFAULT_MANIFEST}, "
                   "or deploy-constraints.yml); all are judged in one report.")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Check only this model (repeatable).")
@_report_options
@click.option("--base", metavar="REF", help="Compare with this git ref (overrides baseline.ref).")
@click.option("--no-probe", is_flag=True, help="Skip latency measurement.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--on-device", metavar="ID", envvar="DEPLOYGATE_DEVICE",
              help="This runner is device ID: its measurement is the target's latency, not an "
                   "estimate (env DEPLOYGATE_DEVICE).")
@click.option("--time-budget", "time_budget_s", type=click.FloatRange(min=1), default=1800.0,
              show_default=True, metavar="SECONDS",
              help="Seconds the whole check may take; models not judged by then fail with "
                   "DG112 (exit 2).")
def check(manifests: tuple[Path, ...], models: tuple[str, ...], fmt: str | None,
          output: str | None, writes: tuple[tuple[str, str], ...], quiet: bool, base: str | None,
          no_probe: bool, strict: bool, on_device: str | None, time_budget_s: float) -> None:
    """Validate the manifests, inspect the models, probe latency, and judge."""
    from deploygate.engine import CheckOptions, OptionNames, run_check

    first, *more = expand_manifests(manifests)
    options = CheckOptions(manifest=first, manifests=tuple(more), models=models,
                           skip_probe=PROBE_SKIPPED if no_probe else None, strict=strict, base=base,
                           progress=_progress(quiet) if fmt in (None, "text") else None,
                           on_device=on_device or None, time_budget_s=time_budget_s,
                           names=OptionNames(**FLAG_NAMES))
    report = run_check(options)
    deliver(report, fmt or _default_format(), output, writes, quiet)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print problems only.")
def validate(files: tuple[Path, ...], quiet: bool) -> None:
    """Check manifests against the schema only (fast; the pre-commit path)."""
    from deploygate.findings import Finding, exit_code
    from deploygate.manifest.load import load_manifest

    findings: list[Finding] = []
    for file in files or (default_manifest(),):
        findings.extend(load_manifest(file, str(file)).findings)
    for f in findings:
        click.echo(str(f), err=True)
    code = exit_code(findings)
    if code == 0 and not quiet:
        click.echo(f"{len(files) or 1} manifest{'s' * (len(files) > 1)} valid")
    sys.exit(code)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@_text_or_json
def inspect(path: Path, fmt: str) -> None:
    """Print facts about one model file or folder (no manifest needed)."""
    from deploygate.artifacts import inspect_artifact
    from deploygate.reporters.text import render_artifact

    info = inspect_artifact(path, display=str(path))
    if fmt == "json":
        click.echo(json.dumps(info.to_json(), indent=2))
    else:
        click.echo(render_artifact(info), nl=False)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE",
              help="Value of a symbolic dimension, for every input (repeatable).")
@click.option("--input", "inputs", multiple=True, metavar="NAME=SPEC",
              help="Per-input settings, e.g. x=shape:1x3x224x224 or ids=range:0..999 (repeatable).")
@click.option("--threads", type=click.IntRange(1, 1024),
              help="Threads the runtime measures with (default: the host's usable cores: CPU "
                   "affinity and cgroup quota).")
@click.option("--percentile", type=click.Choice(PERCENTILES), default=DEFAULT_PERCENTILE,
              show_default=True, help="The percentile --budget-ms and --ttft-ms judge.")
@click.option("--budget-ms", type=click.FloatRange(min=0, min_open=True),
              help="Fail (exit 1) when the percentile is over this budget.")
@click.option("--max-time-s", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds spent measuring.")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True), default=120.0,
              show_default=True, help="Hard limit for the probe's child process.")
@click.option("--on-inconclusive", type=click.Choice(["warn", "fail"]), default="warn",
              show_default=True,
              help="What a budget inside the measurement's uncertainty does: exit 0 or exit 1.")
@click.option("--runtime", type=click.Choice(RUNTIMES),
              help="The backend that measures (default: the one that runs the format).")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              help="onnxruntime execution provider, e.g. CUDAExecutionProvider (repeatable, "
                   "in priority order; default: CPU only).")
@click.option("--ttft-ms", type=click.FloatRange(min=0, min_open=True),
              help="LLMs: fail (exit 1) when time to first token at the percentile is over this.")
@click.option("--tokens-per-s", type=click.FloatRange(min=0, min_open=True),
              help="LLMs: fail (exit 1) when the decode rate is under this.")
@click.option("--prompt-tokens", type=click.IntRange(1, 131072), default=128, show_default=True,
              help="LLMs: prompt length for time to first token.")
@click.option("--new-tokens", type=click.IntRange(2, 8192), default=64, show_default=True,
              help="LLMs: tokens generated per run for the decode rate.")
@_text_or_json
def probe(path: Path, dims: tuple[str, ...], inputs: tuple[str, ...], threads: int | None,
          percentile: Percentile, budget_ms: float | None, max_time_s: float, timeout_s: float,
          on_inconclusive: str, runtime: str | None, providers: tuple[str, ...],
          ttft_ms: float | None, tokens_per_s: float | None, prompt_tokens: int,
          new_tokens: int, fmt: str) -> None:
    """Measure one model's latency: ONNX, TFLite or GGUF (no manifest needed)."""
    from deploygate.engine import ProbeOptions, run_probe
    from deploygate.manifest.model import LatencySpec
    from deploygate.probe import parse_dim_option, parse_input_option
    from deploygate.probe.verdict import judge, judge_rate

    parsed = dict(parse_input_option(text) for text in inputs)
    spec = LatencySpec(budget_ms=budget_ms, percentile=percentile,
                       dims=dict(parse_dim_option(d) for d in dims), inputs=parsed,
                       max_time_s=max_time_s, timeout_s=timeout_s, on_inconclusive=on_inconclusive,
                       runtime=runtime, providers=providers, ttft_ms=ttft_ms,
                       tokens_per_s=tokens_per_s, prompt_tokens=prompt_tokens,
                       new_tokens=new_tokens)
    quiet = fmt == "json"
    try:
        artifact, result = run_probe(ProbeOptions(path, spec, threads,
                                                  None if quiet else _progress()))
    except ProbeError as e:
        raise _with_probe_flag(e) from e
    verdict = judge(result, percentile, budget_ms) if budget_ms else None
    llm = {"ttft_verdict": judge(result.ttft, percentile, ttft_ms)
           if ttft_ms and result.ttft else None,
           "tokens_per_s_verdict": judge_rate(result.tokens_per_s_runs, tokens_per_s)
           if tokens_per_s and result.tokens_per_s_runs else None}
    verdicts = [verdict, *llm.values()]
    fails = "fail" in verdicts or ("inconclusive" in verdicts and on_inconclusive == "fail")
    if fmt == "json":
        click.echo(json.dumps({"path": artifact.path, "percentile": percentile,
                               "budget_ms": budget_ms, "verdict": verdict,
                               "on_inconclusive": on_inconclusive,
                               **({"ttft_budget_ms": ttft_ms, "min_tokens_per_s": tokens_per_s,
                                   **llm} if result.ttft is not None else {}),
                               **result.to_json()}, indent=2))
    else:
        from deploygate.reporters.text import render_probe

        click.echo(render_probe(artifact.path, result, percentile, budget_ms, verdict,
                                on_inconclusive, llm_verdicts=(llm["ttft_verdict"],
                                                               llm["tokens_per_s_verdict"]),
                                llm_limits=(ttft_ms, tokens_per_s)), nl=False)
    sys.exit(1 if fails else 0)


@cli.command()
@_text_or_json
def devices(fmt: str) -> None:
    """List the built-in device catalog."""
    from dataclasses import asdict

    from deploygate.reporters.text import render_devices
    from deploygate.targets.catalog import load_catalog

    catalog = load_catalog()
    if fmt == "json":
        click.echo(json.dumps([asdict(d) for d in catalog.values()], indent=2))
        return
    click.echo(render_devices(list(catalog.values())), nl=False)


@cli.command()
@click.option("--manifest", "-m", default=None, type=click.Path(dir_okay=True, path_type=Path),
              help=f"The manifest file (default {DEFAULT_MANIFEST}, or deploy-constraints.yml).")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Advise on this model only (repeatable).")
@_text_or_json
@click.option("--no-probe", is_flag=True,
              help="Do not measure on this host: estimates from the published-measurement fit "
                   "only, none calibrated on this host.")
def advise(manifest: Path | None, models: tuple[str, ...], fmt: str, no_probe: bool) -> None:
    """Rank every device for each model: memory fit, estimated latency, cost per 1,000."""
    from deploygate.engine import AdviseOptions, OptionNames, run_advise
    from deploygate.reporters.text import render_advice

    report = run_advise(AdviseOptions(manifest=manifest or default_manifest(), models=models,
                                      skip_probe=PROBE_SKIPPED if no_probe else None,
                                      progress=_progress(), names=OptionNames(**FLAG_NAMES)))
    click.echo(json.dumps(report.to_json(), indent=2) if fmt == "json" else render_advice(report),
               nl=fmt == "json")
    sys.exit(report.exit_code)


@cli.command()
@click.argument("root", default=".", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Take the defaults; ask nothing.")
@click.option("--target", "kind", type=click.Choice(["edge", "cloud"]),
              help="Target kind for every model (default: edge under 1 GB, else cloud).")
@click.option("--device", metavar="ID", help="Catalog device for every model.")
@click.option("--budget-ms", type=FiniteNumber(), metavar="N",
              help="Latency budget for every model.")
@click.option("--max-usd-per-1k", type=FiniteNumber(allow_zero=True), metavar="X",
              help="Cost ceiling per 1,000 inferences for every model.")
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
def init(root: Path, yes: bool, kind: str | None, device: str | None, budget_ms: float | None,
         max_usd_per_1k: float | None, force: bool) -> None:
    """Find the models under ROOT and write deploy-constraints.yaml by asking three questions."""
    from deploygate.errors import UsageError
    from deploygate.init import answer, find_models, model_name, render_manifest
    from deploygate.targets.catalog import closest_ids, load_catalog

    target = default_manifest(root)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; edit it, or pass --force to overwrite it")
    if device is not None and device not in load_catalog():
        close = closest_ids(device, list(load_catalog()))
        hint = f"did you mean {', '.join(close)}?" if close else "see `deploygate devices`"
        raise UsageError(f"--device {device}: not a catalog device ({hint})")
    models = find_models(root)
    if not models:
        from deploygate.artifacts.formats import FORMATS

        looked = ", ".join(e for f in FORMATS.values() for e in f.extensions)
        raise UsageError(f"no model files found under {root} (looked for {looked})")
    taken: set[str] = set()
    answers = []
    for model in models:
        name = model_name(model.path, taken)
        click.echo(one_line(f"found {model.path} ({model.format})"), err=True)
        answers.append(answer(model, name, None if yes else click.prompt, kind=kind,
                              device=device, budget_ms=budget_ms, max_usd_per_1k=max_usd_per_1k))
    target.write_text(render_manifest(answers), encoding="utf-8")
    left = sum(a.placeholders for a in answers)
    then = (f"replace the {left} SIZE placeholder{'s' * (left != 1)} with the input sizes to "
            "measure at, then run `deploygate check`" if left else "run `deploygate check` to try it")
    click.echo(f"wrote {target} ({len(answers)} model{'s' * (len(answers) != 1)}); {then}")


@cli.command()
@click.option("--manifest", "-m", "manifests", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=True, path_type=Path),
              help=f"A manifest (repeatable; default {DEFAULT_MANIFEST}).")
@click.option("--max-jobs", type=click.IntRange(1, 256), default=256, show_default=True,
              help="At most this many jobs: past it, models are sharded several to a job "
                   "(GitHub allows 256 per matrix).")
def matrix(manifests: tuple[Path, ...], max_jobs: int) -> None:
    """Print the manifests' models as JSON for a CI job matrix (GitHub's fromJSON).

    One job per model, on its device's runner_label (else ubuntu-latest); sharded past
    --max-jobs; a model listed twice is one job.
    """
    from deploygate.findings import exit_code
    from deploygate.matrix import build_matrix

    files = [(file, str(file)) for file in expand_manifests(manifests)]
    result, findings = build_matrix(files, max_jobs)
    for f in findings:
        click.echo(str(f), err=True)
    code = exit_code(findings)
    if code:
        sys.exit(code)
    # One line, so it can go straight into $GITHUB_OUTPUT.
    click.echo(json.dumps(result, separators=(",", ":")))


@cli.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_report_options
@click.option("--expect", type=click.IntRange(min=1), metavar="N",
              help="Fail (exit 2) unless N reports are given: a shard whose job died before "
                   "writing its report must not pass by being absent.")
def merge(reports: tuple[Path, ...], fmt: str | None, output: str | None,
          writes: tuple[tuple[str, str], ...], quiet: bool, expect: int | None) -> None:
    """Fan in the JSON reports of matrix shards: one report, one verdict, one exit code.

    Each shard runs `check --write json=FILE`; merge them in any format, as check would.
    """
    from deploygate.errors import UsageError
    from deploygate.merge import merge_reports

    if expect is not None and len(reports) != expect:
        raise UsageError(f"--expect {expect}: {len(reports)} report{'s' * (len(reports) != 1)} "
                         "given; a shard did not deliver its report (see its job's log)")
    deliver(merge_reports(list(reports)), fmt or _default_format(), output, writes, quiet)


@cli.command()
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--repo", metavar="OWNER/NAME", help="The repository (default: GITHUB_REPOSITORY).")
@click.option("--pr", "number", type=click.IntRange(min=1), metavar="N",
              help="The pull request (default: the one in GITHUB_EVENT_PATH).")
@click.option("--author", default="github-actions[bot]", show_default=True,
              help="Only this account's comment is updated (the token's own account).")
def comment(report: Path, repo: str | None, number: int | None, author: str) -> None:
    """Post the JSON report as one sticky pull-request comment, updated in place.

    Finds this account's comment that starts with <!-- deploygate --> and updates it, or
    creates one, through GitHub's REST API with the token in GITHUB_TOKEN. The body stays under
    GitHub's 65,536-character limit and links to the run's job summary for the rest. Outside a
    pull request it does nothing. Exit 0 when posted or skipped, 2 when the API refused.
    """
    from deploygate.comment import CommentError, run_url, target_from_env, token_from_env, upsert
    from deploygate.errors import UsageError
    from deploygate.merge import load_report
    from deploygate.reporters.markdown import render

    body = render(load_report(report), more_at=run_url(os.environ))
    target = target_from_env(os.environ, repo, number, author)
    if target is None:
        click.echo("deploygate: not a pull request (no number in GITHUB_EVENT_PATH, no --pr); "
                   "no comment posted")
        return
    try:
        done, url = upsert(target, body, token_from_env())
    except CommentError as e:
        raise UsageError(f"the pull-request comment was not posted: {e}") from None
    click.echo(f"deploygate: {done} the comment on {target.repository}#{target.number} {url}".rstrip())


@cli.command()
def schema() -> None:
    """Print the manifest's JSON Schema."""
    from deploygate.manifest.schema import schema_text

    click.echo(schema_text(), nl=False)


def main() -> None:
    """Console-script entry point."""
    # A cancelled CI job sends SIGTERM (or SIGHUP): end as Ctrl-C does, through every
    # ``finally`` and ``with`` on the way out, instead of dying with a probe child still running
    # and temporary folders left behind.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.default_int_handler)
    cli(prog_name="deploygate")
