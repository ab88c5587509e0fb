"""GitHub workflow commands: the documented escaping, so reported text cannot inject commands."""

from __future__ import annotations

from dataclasses import replace

from deploygate.findings import Finding, Location, Severity
from deploygate.report import Report
from deploygate.reporters import github
from tests.unit.reporters.sample import failing_model, sample_report

ANNOTATION_PREFIXES = ("::error ", "::warning ", "::notice ")


def test_escaping_follows_the_documented_rules() -> None:
    assert github.escape_data("50%\r\nnext: a,b") == "50%25%0D%0Anext: a,b"
    assert github.escape_property("a%b\n:c,d") == "a%25b%0A%3Ac%2Cd"


def test_annotation_carries_file_line_col_and_rule_title() -> None:
    line = github.render_annotation(failing_model().findings[1])
    assert line.startswith("::error file=deploy-constraints.yaml,line=28,col=7,"
                           "title=DG401 latency-over-budget::classifier: models[1].latency.budget_ms: ")


def test_severities_and_missing_locations() -> None:
    warning = Finding("DG402", Severity.WARNING, "inconclusive", Location("m.yaml", None, 3))
    note = Finding("DG605", Severity.NOTE, "new model")
    assert github.render_annotation(warning) == \
        "::warning file=m.yaml,line=3,title=DG402 latency-inconclusive::inconclusive"
    assert github.render_annotation(note) == "::notice title=DG605 model-new::new model"


def test_model_names_and_messages_cannot_inject_workflow_commands() -> None:
    evil = "x\n::error::pwned\r\n::stop-commands::tok\n::add-mask::secret"
    finding = replace(failing_model().findings[0], message=evil, model=evil,
                      location=Location("dir,a:b\n::error::pwned.yaml", evil, 4, 2))
    model = replace(failing_model(), name=evil, findings=(finding,))
    out = github.render(Report("deploy-constraints.yaml", (model,)))
    lines = out.splitlines()
    # A group per model: its title, its facts (each behind "| "), its annotations, the end.
    assert lines[0].startswith("::group::deploygate: FAIL ") and lines[-2] == "::endgroup::"
    for line in lines[1:-2]:
        assert line.startswith(ANNOTATION_PREFIXES) or line.startswith("| ")
    assert lines[-1].startswith("deploygate FAILED")
    annotation = next(line for line in lines if line.startswith("::error "))
    # The properties end at the first '::'; nothing from the file name may end them early.
    properties, message = annotation[len("::error "):].split("::", 1)
    assert properties.startswith("file=dir%2Ca%3Ab%0A%3A%3Aerror%3A%3Apwned.yaml,line=4,col=2,")
    assert "\n" not in message and "%0A::stop-commands::tok" in message
    assert lines[0] == ("::group::deploygate: FAIL "
                        "x%0A::error::pwned%0D%0A::stop-commands::tok%0A::add-mask::secret")


def test_each_model_is_a_log_group() -> None:
    lines = github.render(sample_report()).splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert groups == ["::group::deploygate: PASS detector", "::group::deploygate: FAIL classifier"]
    assert lines.count("::endgroup::") == 2


def test_render_ends_with_a_plain_summary() -> None:
    lines = github.render(sample_report()).splitlines()
    assert sum(line.startswith("::error ") for line in lines) == 3
    assert lines[-1] == ("deploygate FAILED: 2 models checked, 1 passed, 1 failed, 3 findings "
                         "(exit 2)")


def test_summary_is_the_markdown_report() -> None:
    from deploygate.reporters import markdown

    assert github.render_summary(sample_report()) == markdown.render(sample_report())
