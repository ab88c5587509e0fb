"""GitHub Actions: workflow-command annotations on the manifest, and a job-summary body.

The runner reads any stdout line that starts with ``::`` as a command, so every piece of text
that comes from a manifest or a model is escaped the way GitHub documents: a message or a
model name cannot start a line of its own, and so cannot inject ``::stop-commands::``,
``::add-mask::`` or a forged annotation.
"""

from __future__ import annotations

from deploygate.findings import Finding, Severity, escape_control
from deploygate.report import Report

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def escape_data(text: str) -> str:
    """``text`` escaped for the message part of a workflow command.

    Line breaks as GitHub's toolkit escapes them; any other control character (an escape
    sequence the log viewer would interpret) is written out as an escape.
    """
    return escape_control(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    """``text`` escaped for a ``key=value`` property of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_annotation(f: Finding) -> str:
    """One finding as ``::error file=…,line=…,col=…,title=…::message``."""
    props: list[tuple[str, str]] = []
    loc = f.location
    if loc is not None:
        props.append(("file", loc.file))
        if loc.line is not None and loc.line >= 1:
            props.append(("line", str(loc.line)))
            if loc.column is not None and loc.column >= 1:
                props.append(("col", str(loc.column)))
    props.append(("title", f"{f.rule} {f.name}"))
    where = f"{loc.path}: " if loc is not None and loc.path else ""
    who = f"{f.model}: " if f.model else ""
    properties = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    # A waived finding is still shown, as a notice: it fails nothing until its waiver ends.
    command = "notice" if f.waived is not None else _COMMANDS[f.severity]
    waived = f" ({f.waived})" if f.waived is not None else ""
    return f"::{command} {properties}::{escape_data(who + where + f.message + waived)}"


def render(report: Report) -> str:
    """Manifest-level annotations, one collapsible log group per model, then a short summary.

    Each model's group holds its facts and its findings' annotations, so a long run reads as
    one line per model in the job log until it is opened.
    """
    from deploygate.reporters.text import model_lines

    lines = [render_annotation(f) for f in report.findings]
    # Each line below starts with fixed text, and names are escaped, so none is a command
    # (the runner trims a line before looking for `::`, so indentation would not be enough).
    for m in report.models:
        verdict = "PASS" if m.passed else "FAIL"
        lines.append(f"::group::deploygate: {verdict} {escape_data(m.name)}")
        lines += [f"| {escape_data(line.strip())}" for line in model_lines(m)[1:]]
        lines += [render_annotation(f) for f in m.findings]
        lines.append("::endgroup::")
    failed = sum(not m.passed for m in report.models)
    checked = len(report.models)
    verdict = "passed" if report.passed else "FAILED"
    lines.append(f"deploygate {verdict}: {checked} model{'s' * (checked != 1)} checked, "
                 f"{checked - failed} passed, {failed} failed, {len(report.all_findings)} "
                 f"finding{'s' * (len(report.all_findings) != 1)} (exit {report.exit_code})")
    return "\n".join(lines) + "\n"


def render_summary(report: Report) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the PR-comment body."""
    from deploygate.reporters import markdown

    return markdown.render(report, limit=markdown.SUMMARY_LIMIT)
