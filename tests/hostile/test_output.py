"""Output injection: untrusted text in every output format, and the formats' own promises.

Names reach the outputs from many places (file names, tensor names, ONNX metadata, GGUF
``general.name``, TFLite descriptions, manifest keys, messages quoting them). Each reporter
neutralizes them where its format is written, so the properties are checked per format on a
report whose every text field holds the payload, and end to end on real files.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from deploygate.artifacts.base import ArtifactInfo, TensorSpec
from deploygate.baseline import BaselineComparison
from deploygate.findings import Finding, Location, Severity, Waived
from deploygate.report import Report
from deploygate.reporters import REPORTERS, render
from deploygate.reporters.text import render_artifact
from tests.hostile.harness import HostileRepo
from tests.hostile.test_fuzz import examples
from tests.unit.reporters.sample import HOST, failing_model, passing_model

FORGED = "::error file=x.py,line=1::forged"
PAYLOADS = [
    f"a\n{FORGED}", f"a\r{FORGED}", f"a\r\n{FORGED}", f"a\u2028{FORGED}", f"a\x85{FORGED}",
    "\x1b]0;pwned\x07title", "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x1b[2J\x1b[Hclear", "\u202eevil\u202c", "bad\udcffutf8",
    "[click](https://evil.example) ![img](https://evil.example/i.png)",
    "<img src=x onerror=alert(1)> <script>alert(1)</script> &lt;",
    "@admin @org/team #1 https://evil.example www.evil.example a@b.example",
    "| cell | break |", "`code` ``two`` *em* _em_ ~~s~~ $x$", "%0A::warning::x %25",
    "\\\n\\" + FORGED, "x" * 3000,
]
_ALPHABET = st.sampled_from(list("\n\r\x1b\x07\x00\x85\u2028\u202e\udcff[]()!<>@#`*_~|$:/%\\& aZ.w"))
hostile_text = st.one_of(st.sampled_from(PAYLOADS), st.text(_ALPHABET, max_size=40))


def _poisoned(text: str) -> Report:
    """The sample report with ``text`` in every field that can hold untrusted text."""
    finding = Finding("DG202", Severity.ERROR, f"{text}: corrupt",
                      Location(f"models/{text}.onnx", f"models[0].{text}", 3, 5), model=text)
    # A waiver's reason comes from the manifest.
    waived = replace(finding, waived=Waived(text, "2027-03-31"))
    ok, bad = passing_model(), failing_model()
    assert ok.artifact is not None and ok.latency is not None
    artifact = replace(ok.artifact, path=f"models/{text}.onnx",
                       inputs=(TensorSpec(text, "float32", (text, 3)),), details={text: text})
    # Input and dim names the probe defaulted come from the model; providers from the manifest.
    latency = replace(ok.latency, providers=(text,), defaulted_dims=(
        {"input": text, "axis": 0, "dim": text, "size": 1, "source": text},))
    baseline = BaselineComparison(ref=text, source=text, status="skipped", reason=text)
    return Report(f"{text}.yaml", (replace(ok, name=text, artifact=artifact, latency=latency),
                                   replace(bad, findings=(*bad.findings, finding, waived),
                                           baseline=baseline)),
                  (finding,), host={**HOST, "cpu": text})


def _no_control(out: str, allowed: str = "\n") -> None:
    bad = [c for c in out if (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202e"
                              or 0xD800 <= ord(c) <= 0xDFFF) and c not in allowed]
    assert not bad, f"raw control characters {bad!r} in output"


def _check_format(fmt: str, out: str, report: Report) -> None:
    out.encode("utf-8")  # strict: every output can be written as UTF-8
    if fmt == "text":
        _no_control(out)
        clean = render("text", _poisoned("x"))
        assert len(out.splitlines()) == len(clean.splitlines())
    elif fmt == "github":
        _no_control(out)
        lines = out.splitlines()
        groups = [line for line in lines if line.startswith(("::group::", "::endgroup::"))]
        # One log group per model, each opened and closed on its own line.
        assert len(groups) == 2 * len(report.models)
        assert all(g == "::endgroup::" or g.startswith("::group::deploygate: ") for g in groups)
        commands = [line for line in lines if line.startswith("::") and line not in groups]
        # Only deploygate's own annotations start a line: one per finding, none forged.
        assert len(commands) == len(report.all_findings)
        assert all(re.match(r"::(error|warning|notice) file=[^:]*(,line=\d+(,col=\d+)?)?,"
                            r"title=DG\d{3} [a-z-]+::", c) for c in commands)
    elif fmt == "markdown":
        _no_control(out)
        _check_markdown(out)
    elif fmt == "junit":
        ET.fromstring(out)
    elif fmt in ("json", "sarif"):
        json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def _check_markdown(out: str) -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    html = cmarkgfm.github_flavored_markdown_to_html(out, options=Options.CMARK_OPT_UNSAFE)
    tags = set(re.findall(r"<([a-z0-9]+)", html))
    # Only the structure deploygate writes: no link, image, script or any other injected tag.
    assert tags <= {"h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li",
                    "strong", "em", "code", "details", "summary", "pre", "sub"}, tags
    text = re.sub(r"<code>.*?</code>|<pre.*?</pre>", "", html, flags=re.S)
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9]", text), "an @-mention would ping someone"
    assert not re.search(r"#[0-9]", text), "a #-reference would link an issue"
    # GitHub renders $...$ as math before Markdown sees it, unless each $ is escaped.
    # Each literal $ left in the text must come from an escaped one (raw HTML has no math).
    markdown_text = re.sub(r"<summary>.*?</summary>", "", text, flags=re.S)
    assert markdown_text.count("$") <= out.count("\\$"), "math would render"


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_every_reporter_neutralizes_each_payload(fmt: str, payload: str) -> None:
    report = _poisoned(payload)
    _check_format(fmt, render(fmt, report), report)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile_text, fmt=st.sampled_from(sorted(REPORTERS)))
def test_every_reporter_neutralizes_any_text(text: str, fmt: str) -> None:
    report = _poisoned(text)
    _check_format(fmt, render(fmt, report), report)


@settings(max_examples=examples(60), deadline=None)
@given(text=hostile_text)
def test_inspect_text_is_one_line_per_fact(text: str) -> None:
    info = ArtifactInfo(path=f"m/{text}", format="onnx", size_bytes=1, params=1, bytes_by_dtype={},
                        inputs=(TensorSpec(text, "float32", (text,)),),
                        outputs=(TensorSpec(text, "float32", None),), details={text: text})
    out = render_artifact(info)
    _no_control(out)
    assert len(out.splitlines()) == len(render_artifact(replace(
        info, path="m/x", inputs=(TensorSpec("x", "float32", ("x",)),),
        outputs=(TensorSpec("x", "float32", None),), details={"x": "x"})).splitlines())


# -- end to end: real files whose names and strings carry the payloads ------------------------

def _onnx_with_names(text: str) -> bytes:
    graph = helper.make_graph([helper.make_node("Identity", [text], ["y"])], text,
                              [helper.make_tensor_value_info(text, TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name=text, doc_string=text)
    helper.set_model_props(model, {text: text})
    model.ir_version = 8
    return model.SerializeToString()


def _assert_unforged(out: str) -> None:
    _no_control(out)
    assert not any(line.startswith(FORGED) for line in out.splitlines()), out


@pytest.mark.skipif(os.name != "posix", reason="file names with line breaks")
def test_file_and_tensor_names_cannot_forge_output(repo: HostileRepo) -> None:
    evil = f"a\n{FORGED}\x1b]0;t\x07"
    relative = f"models/{evil}.onnx"
    repo.write(relative, _onnx_with_names(evil))
    repo.manifest(f"version: 1\nmodels:\n  - {{name: m, path: {json.dumps(relative)}, "
                  "target: {kind: edge}, limits: {max_size: 1B}}\n")
    for args in (("check", "--no-probe", "--format", "text"),
                 ("check", "--no-probe", "--format", "github"),
                 ("check", "--no-probe", "--format", "markdown"),
                 ("inspect", relative), ("inspect", "--format", "json", relative)):
        outcome = repo.run(*args)
        assert outcome.code in (0, 1), outcome.describe()
        _assert_unforged(outcome.stdout)
        _assert_unforged(outcome.stderr)
        assert "Traceback" not in outcome.stderr


@pytest.mark.skipif(os.name != "posix", reason="file names with line breaks")
def test_init_cannot_be_made_to_write_a_model(repo: HostileRepo) -> None:
    # A file name that would close the YAML comment and add a model of the attacker's.
    name = "a.onnx\n  - name: injected\n    path: /etc/passwd\n    target: {kind: edge}\n#.onnx"
    repo.write(f"models/{name}", _onnx_with_names("x"))
    outcome = repo.run("init", "--yes", "--budget-ms", "10")
    assert outcome.code == 0, outcome.describe()
    _assert_unforged(outcome.stderr)
    manifest = yaml.safe_load((repo.root / "deploy-constraints.yaml").read_text())
    assert [m["name"] for m in manifest["models"]] != ["injected"]
    assert len(manifest["models"]) == 1 and manifest["models"][0]["path"] == f"models/{name}"


@pytest.mark.parametrize("name", ["m\n", "m\r", "m\n\n", "detector\u2028"])
def test_model_name_pattern_matches_the_whole_name(repo: HostileRepo, name: str) -> None:
    repo.model("models/m.onnx", _onnx_with_names("x"))
    repo.manifest(f"version: 1\nmodels:\n  - {{name: {json.dumps(name)}, path: models/m.onnx, "
                  "target: {kind: edge}}\n")
    repo.expect(repo.check(), 2, rule="DG102", says=["not a valid id"])


@pytest.mark.skipif(os.name != "posix", reason="non-UTF-8 file names")
def test_non_utf8_file_name_in_every_format(repo: HostileRepo, tmp_path: Path) -> None:
    os.makedirs(repo.root / "models")
    with open(os.fsencode(repo.root) + b"/models/bad\xff\xfe.onnx", "wb") as f:
        f.write(b"not onnx")
    made = repo.run("init", "--yes", "--budget-ms", "10")
    assert made.code == 2 and "no model files found" in made.stderr, made.describe()
    # A manifest cannot name it (YAML is Unicode), but a folder holding it can.
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models, target: {kind: edge}}\n")
    summary = tmp_path / "summary.md"
    for fmt in sorted(REPORTERS):
        out = tmp_path / f"report.{fmt}"
        outcome = repo.run("check", "--no-probe", "--format", fmt, "--output", str(out),
                           env={"GITHUB_STEP_SUMMARY": str(summary)})
        assert outcome.code == 2 and "Traceback" not in outcome.stderr, outcome.describe()
        assert "internal error" not in outcome.stderr, outcome.describe()
        _no_control(outcome.stdout + out.read_bytes().decode("utf-8"))
        assert "bad" in out.read_text(encoding="utf-8"), fmt
    assert "bad" in summary.read_bytes().decode("utf-8")
