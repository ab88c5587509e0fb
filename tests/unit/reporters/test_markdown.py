"""Markdown PR comment: one table, escaped cells, findings with file:line, latency charts."""

from __future__ import annotations

import re
from dataclasses import replace

from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.model import LatencySpec
from deploygate.manifest.units import format_bytes, format_count
from deploygate.report import Report
from deploygate.reporters import markdown
from tests.unit.reporters.sample import failing_model, passing_model, sample_report

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_header_table_and_findings() -> None:
    text = markdown.render(sample_report())
    assert text.startswith("<!-- deploygate -->\n## ❌ deploygate failed (exit 2)\n")
    rows = table_rows(text)
    assert len(rows) == 4
    size, params = format_bytes(4_745_517), format_count(1_171_841)
    assert rows[2] == (f"| detector | edge / raspberry-pi-5 | {size} | {params} | "
                       "p95 75.00 ms ≤ 250 ms | ✅ pass |")
    assert "| p95 312.40 ms &gt; 200 ms | ❌ fail |" in rows[3]
    assert "**DG401** `latency-over-budget` at `deploy-constraints.yaml:28:7`" in text


def test_passing_report_header() -> None:
    text = markdown.render(Report("deploy-constraints.yaml", (passing_model(),)))
    assert text.startswith("<!-- deploygate -->\n## ✅ deploygate passed (exit 0)\n")
    assert "### Findings" not in text


def test_cells_escape_pipes_newlines_and_html() -> None:
    model = replace(failing_model(), name="a|b\nc <script>")
    rows = table_rows(markdown.render(Report("deploy-constraints.yaml", (model,))))
    assert len(rows) == 3
    assert all(len(UNESCAPED_PIPE.findall(row)) == 7 for row in rows)
    # The line break is written as the two characters \n (its backslash escaped for Markdown).
    assert rows[2].startswith("| a\\|b\\\\nc &lt;script&gt; |")


def test_findings_stay_on_one_line_and_code_spans_hold_backticks() -> None:
    finding = Finding("DG102", Severity.ERROR, "bad\nvalue `x`",
                      Location("weird`name.yaml", "models", 2, 1))
    text = markdown.render(Report("weird`name.yaml", findings=(finding,)))
    item = next(line for line in text.splitlines() if line.startswith("- "))
    assert item == ("- ❌ **DG102** `manifest-schema` at `` weird`name.yaml:2:1 `` (`models`): "
                    "bad\\\\nvalue \\`x\\`")


def test_one_chart_per_measured_model_with_the_budget_line() -> None:
    no_budget = replace(passing_model(), name="nobudget", latency_spec=LatencySpec())
    unmeasured = replace(passing_model(), name="unmeasured", latency=None)
    text = markdown.render(Report("deploy-constraints.yaml",
                                  (passing_model(), no_budget, unmeasured)))
    assert text.count("```mermaid\nxychart-beta") == 2
    assert "    bar [60.10, 70.20, 75.00, 80.30]\n    line [250, 250, 250, 250]" in text
    assert 'title "nobudget latency (ms)"' in text
    assert "| unmeasured |" in text and "not measured" in text


def test_chart_titles_cannot_break_out_of_the_chart() -> None:
    model = replace(passing_model(), name='x"\n```\n<img>')
    chart = markdown.render_chart(model)
    assert chart[2] == '    title "x_______img_ latency (ms)"'


def test_baseline_table_shows_before_after_and_change() -> None:
    from deploygate.baseline import BaselineComparison, Change

    compared = BaselineComparison("origin/main", "--base", "compared", commit="0123456789abcdef",
                                  size=Change(1_000_000, 4_000_000), params=Change(250, 1000))
    new = BaselineComparison("origin/main", "--base", "new", commit="0123456789abcdef")
    report = Report("deploy-constraints.yaml", (replace(passing_model(), baseline=compared),
                                                replace(failing_model(), baseline=new)))
    text = markdown.render(report)
    assert "### Against the baseline" in text
    rows = [r for r in table_rows(text) if "origin/main" in r]
    assert rows == [
        "| detector | origin/main (0123456789) | size | 1 MB | 4 MB | +300% |",
        "| detector | origin/main (0123456789) | params | 250 | 1K | +300% |",
        "| classifier | origin/main (0123456789) | — | — | — | new model, no baseline |",
    ]
