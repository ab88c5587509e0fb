"""Markdown for a pull-request comment or a GitHub job summary.

The table is the source of truth; the findings list says where and why; the latency charts
are only a picture of numbers the table already holds. Text from manifests and models is
escaped, so a name or message cannot break the table, inject HTML, or become a link, an image
or an @-mention in a pull-request comment.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

from deploygate.manifest.model import DEFAULT_PERCENTILE, PERCENTILES
from deploygate.findings import Finding, Severity, escape_control
from deploygate.manifest.units import format_bytes, format_count
from deploygate.report import ModelReport, Report

_ICONS = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.NOTE: "ℹ️"}
_UNSAFE_IN_CHART = re.compile(r"[^A-Za-z0-9 ._/-]")
# What can start markup inside a line (our text never starts one): code, emphasis (``_`` only
# where it is not inside a word), strikethrough, links and images ([ ]), table cells (|), math
# ($), and autolinks (the ``:`` of a URL scheme, ``www.``); ``&``, ``<`` and ``>`` become
# entities instead.
_MARKUP = re.compile(r"[\\`*~\[\]|$:]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|(?i:(?<=www)\.)")
_ZWSP = "\u200b"


def escape_text(text: str) -> str:
    """``text`` safe as Markdown inline text: literal characters only, on one line.

    Also safe in a table cell (``|`` is escaped). No HTML (entities), no emphasis, links,
    images, math or code (backslash escapes), no autolinked URL (the ``:`` of ``://`` and the
    ``.`` of ``www.`` are escaped) and no @-mention or #-reference (a zero-width space after
    ``@`` and ``#``, which GitHub links even where Markdown has none).
    """
    text = escape_control(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKUP.sub(lambda m: "\\" + m.group(), text)
    return _unlinked(text)


def _unlinked(text: str) -> str:
    return text.replace("@", "@" + _ZWSP).replace("#", "#" + _ZWSP)


def escape_html(text: str) -> str:
    """``text`` safe inside an HTML block, where Markdown is not parsed: entities only."""
    text = html.escape(escape_control(text), quote=False)
    return _unlinked(text)


def _code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds (nothing in it renders)."""
    text = escape_control(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _target(m: ModelReport) -> str:
    return f"{m.target.kind} / {m.target.device}" if m.target.device else m.target.kind


def _latency_cell(m: ModelReport) -> str:
    spec = m.latency_spec
    if m.latency is None:
        return "not measured" if spec is not None and spec.budget_ms is not None else "—"
    pct = spec.percentile if spec else DEFAULT_PERCENTILE
    measured = m.latency.at(pct)
    cell = f"{pct} {measured:.2f} ms"
    if spec is not None and spec.budget_ms is not None:
        # The sign is the verdict the checks took (interval and floors), not a second one.
        verdict = m.latency_verdict
        sign = {"pass": "≤", "fail": ">", "inconclusive": "inconclusive vs"}.get(verdict or "", "vs")
        cell += f" {sign} {spec.budget_ms:g} ms"
    estimated = m.target_ms
    if estimated is not None:
        cell += f" (est. {estimated:.1f} ms on {m.target.device})"
    if m.latency.ttft is not None:
        cell += (f" per token; ttft {pct} {m.latency.ttft.at(pct):.1f} ms, "
                 f"{m.latency.tokens_per_s or 0:.1f} tokens/s")
    return cell


def _verdict(m: ModelReport) -> str:
    if not m.passed:
        return "❌ fail"
    warnings = sum(f.severity is Severity.WARNING for f in m.findings)
    return f"⚠️ pass, {warnings} warning{'s' * (warnings != 1)}" if warnings else "✅ pass"


def _row(m: ModelReport) -> str:
    a = m.artifact
    cells = [m.name, _target(m), format_bytes(a.size_bytes) if a else "—",
             format_count(a.params) if a else "—", _latency_cell(m), _verdict(m)]
    return "| " + " | ".join(escape_text(c) for c in cells) + " |"


def render_finding(f: Finding) -> str:
    """One finding as a list item: icon, rule, ``file:line``, key path, message."""
    loc = f.location
    where = f" at {_code(str(loc))}" if loc is not None else ""
    key = f" ({_code(loc.path)})" if loc is not None and loc.path else ""
    who = f"{escape_text(f.model)}: " if f.model else ""
    icon = "🔕 waived" if f.waived is not None else _ICONS[f.severity]
    waived = f" _({escape_text(str(f.waived))})_" if f.waived is not None else ""
    return (f"- {icon} **{f.rule}** {_code(f.name)}{where}{key}: "
            f"{who}{escape_text(f.message)}{waived}")


def _chart_label(text: str) -> str:
    return _UNSAFE_IN_CHART.sub("_", text)


def render_chart(m: ModelReport) -> list[str]:
    """A mermaid bar chart of p50..p99 with the budget as a line (empty without latency)."""
    if m.latency is None:
        return []
    values = [m.latency.at(p) for p in PERCENTILES]
    budget = m.latency_spec.budget_ms if m.latency_spec else None
    top = math.ceil(max(values + ([budget] if budget is not None else [])) * 1.1) or 1
    lines = ["```mermaid", "xychart-beta",
             f'    title "{_chart_label(m.name)} latency (ms)"',
             f"    x-axis [{', '.join(PERCENTILES)}]",
             f'    y-axis "ms" 0 --> {top}',
             f"    bar [{', '.join(f'{v:.2f}' for v in values)}]"]
    if budget is not None:
        lines.append(f"    line [{', '.join(f'{budget:g}' for _ in PERCENTILES)}]")
    lines.append("```")
    return lines


def render_baseline_rows(m: ModelReport) -> list[str]:
    """Table rows for one model's comparison with the baseline: before, after and change."""
    from deploygate.baseline import signed_percent

    b = m.baseline
    assert b is not None
    name, ref = escape_text(m.name), escape_text(f"{b.ref} ({b.commit[:10]})" if b.commit
                                                 else str(b.ref or "none"))
    if b.status != "compared":
        why = "new model, no baseline" if b.status == "new" else f"not compared: {b.reason}"
        return [f"| {name} | {ref} | — | — | — | {escape_text(why)} |"]
    from deploygate.baseline import Change

    rows = []
    changes: list[tuple[str, Change | None, Callable[[float], str]]] = [
        ("size", b.size, format_bytes), ("params", b.params, format_count)]
    if b.latency is not None:
        changes.append(("p50 latency (A/B)", Change(b.latency.base_median_ms, b.latency.head_median_ms),
                        lambda ms: f"{ms:.3f} ms"))
    for measure, change, fmt in changes:
        if change is not None:
            rows.append(f"| {name} | {ref} | {measure} | {fmt(change.before)} | {fmt(change.after)} "
                        f"| {signed_percent(change.fraction)} |")
    rows += [f"| {name} | {ref} | {measure} | — | — | not compared: {escape_text(why)} |"
             for measure, why in b.skipped.items()]
    return rows


MARKER = "<!-- deploygate -->"
"""The hidden first line of every body: how `deploygate comment` finds its own comment again."""
COMMENT_LIMIT = 65_536
"""GitHub refuses a comment body longer than this (counted in UTF-16 code units, as GitHub does)."""
SUMMARY_LIMIT = 1_000_000
"""A job summary may hold 1 MiB; beyond it GitHub drops the step's summary."""


def size(text: str) -> int:
    """``text``'s length as GitHub counts it (UTF-16 code units: an emoji may count two)."""
    return len(text.encode("utf-16-le")) // 2


def render(report: Report, *, limit: int = COMMENT_LIMIT, more_at: str | None = None) -> str:
    """The report as a Markdown PR comment: verdict, table, findings, latency charts.

    The body starts with :data:`MARKER` and is at most ``limit`` long: when the whole report
    does not fit, it is summarized (failing models and errors first) and points to the full
    report, at ``more_at`` (the run's job summary) when given.
    """
    lines = _header(report)
    if report.models:
        lines += [*_TABLE_HEAD, *[_row(m) for m in report.models], ""]
    findings = report.all_findings
    if findings:
        lines += ["### Findings", "", *[render_finding(f) for f in findings], ""]
    compared = [m for m in report.models if m.baseline is not None]
    if compared:
        lines += ["### Against the baseline", "", "| model | ref | measure | before | after | Δ |",
                  "| --- | --- | --- | ---: | ---: | ---: |"]
        for m in compared:
            lines += render_baseline_rows(m)
        lines.append("")
    measured = [m for m in report.models if m.latency is not None]
    if measured:
        lines += ["### Latency", ""]
        for m in measured:
            budget = m.latency_spec.budget_ms if m.latency_spec else None
            against = f" against the {budget:g} ms budget (line)" if budget is not None else ""
            summary = f"<details><summary>{escape_html(m.name)}: p50–p99 in ms{against}</summary>"
            lines += [summary, "", *render_chart(m), "", "</details>", ""]
        if any(m.latency.measured_on == "host" for m in measured if m.latency):
            lines += [_host_line(report), ""]
    body = "\n".join(lines)
    return body if size(body) <= limit else _shortened(report, limit, more_at)


_TABLE_HEAD = ["| model | target | size | params | latency vs budget | verdict |",
               "| --- | --- | ---: | ---: | --- | --- |"]


def _header(report: Report) -> list[str]:
    checked = len(report.models)
    failed = sum(not m.passed for m in report.models)
    findings = report.all_findings
    verdict = "✅ deploygate passed" if report.passed else "❌ deploygate failed"
    return [MARKER, f"## {verdict} (exit {report.exit_code})", "",
            (f"{_code(report.manifest)}: {checked} model{'s' * (checked != 1)} checked, "
             f"{checked - failed} passed, {failed} failed; {len(findings)} "
             f"finding{'s' * (len(findings) != 1)}."), ""]


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def _shortened(report: Report, limit: int, more_at: str | None) -> str:
    """The summary that fits in ``limit``: failing models, then errors, each list cut short."""
    where = f"[the job summary]({more_at})" if more_at else "the job summary of this run"
    lines = _header(report) + [f"_Too long for one comment: failing models and findings first; "
                               f"the full report is in {where}._", ""]
    budget = limit - size("\n".join(lines)) - 400  # room for the two "and N more" lines
    failing = sorted(report.models, key=lambda m: m.passed)
    rows, budget = _fill([_row(m) for m in failing], budget - size("\n".join(_TABLE_HEAD)))
    if rows:
        lines += [*_TABLE_HEAD, *rows]
        if len(rows) < len(failing):
            lines.append(f"| … and {len(failing) - len(rows)} more models | | | | | |")
        lines.append("")
    findings = sorted(report.all_findings, key=lambda f: (f.waived is not None, _ORDER[f.severity]))
    items, budget = _fill([render_finding(f) for f in findings], budget - 20)
    if items:
        lines += ["### Findings", "", *items]
        if len(items) < len(findings):
            lines.append(f"- … and {len(findings) - len(items)} more findings, in {where}")
        lines.append("")
    return "\n".join(lines)


def _fill(items: list[str], budget: int) -> tuple[list[str], int]:
    """The leading ``items`` that fit in ``budget`` (one line each), and the budget left."""
    kept = []
    for item in items:
        cost = size(item) + 1
        if cost > budget:
            break
        kept.append(item)
        budget -= cost
    return kept, budget


def _host_line(report: Report) -> str:
    host = report.host
    parts = [str(host[k]) for k in ("cpu",) if host.get(k)]
    if host.get("cores"):
        parts.append(f"{host['cores']} cores")
    if host.get("onnxruntime"):
        parts.append(f"onnxruntime {host['onnxruntime']}")
    where = ", ".join(parts) if parts else "this runner"
    # <sub> does not start an HTML block: its line is a paragraph, and Markdown is parsed in it.
    return (f"<sub>Latency measured on the host running deploygate ({escape_text(where)}), "
            "not on the target device.</sub>")
