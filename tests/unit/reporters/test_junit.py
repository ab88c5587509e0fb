"""JUnit XML: parsed back, one testcase per model and family, failures/errors/skipped counted."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.model import LatencySpec
from deploygate.targets.assess import Assessment
from deploygate.targets.cost import CostEstimate
from deploygate.targets.memory import MemoryEstimate
from deploygate.report import Report
from deploygate.reporters import junit
from tests.unit.reporters.sample import failing_model, passing_model, sample_report


XSD = Path(__file__).resolve().parents[2] / "data" / "junit" / "junit-10.xsd"


def valid_for_jenkins(text: str) -> None:
    """Validate against Jenkins' xunit plugin schema with libxml2 (lxml)."""
    etree = pytest.importorskip("lxml.etree", reason="lxml is not installed (pip install -e '.[test]')")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(text.encode("utf-8"))
    assert schema.validate(document), schema.error_log


def two_manifests() -> Report:
    detector = replace(passing_model(), manifest="services/vision/deploy-constraints.yaml")
    classifier = replace(failing_model(), manifest="services/chat/deploy-constraints.yml")
    return Report.combine([Report("services/vision/deploy-constraints.yaml", (detector,)),
                           Report("services/chat/deploy-constraints.yml", (classifier,))])


@pytest.mark.parametrize("report", [sample_report(), Report("deploy-constraints.yaml"), two_manifests()],
                         ids=["sample", "empty", "two-manifests"])
def test_valid_against_jenkins_xunit_schema(report: Report) -> None:
    valid_for_jenkins(junit.render(report))


def test_one_suite_per_manifest_with_its_file_and_time() -> None:
    root = parse(two_manifests())
    suites = root.findall("testsuite")
    assert [s.get("file") for s in suites] == ["services/vision/deploy-constraints.yaml",
                                               "services/chat/deploy-constraints.yml"]
    assert all(s.get("time") is not None for s in suites) and root.get("time") is not None
    assert root.get("tests") == str(sum(int(s.get("tests") or 0) for s in suites))
    assert {c.get("classname") for c in suites[1].iter("testcase")} == {"deploygate.classifier"}


def parse(report: Report) -> ET.Element:
    return ET.fromstring(junit.render(report).encode("utf-8"))


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_counts_and_testcases_of_the_sample() -> None:
    root = parse(sample_report())
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == \
            ("7", "2", "1")
    assert suite.get("skipped") == "0" and root.get("skipped") is None
    found = cases(root)
    assert sorted(found) == sorted([
        ("deploygate", "manifest"),
        ("deploygate.detector", "artifact"), ("deploygate.detector", "fit"),
        ("deploygate.detector", "latency"),
        ("deploygate.classifier", "artifact"), ("deploygate.classifier", "fit"),
        ("deploygate.classifier", "latency")])
    latency = found[("deploygate.classifier", "latency")].find("failure")
    assert latency is not None and latency.get("type") == "DG401"
    assert "deploy-constraints.yaml:28:7" in (latency.text or "")
    # The schema error means "cannot judge": a JUnit error, not a failure.
    manifest = found[("deploygate", "manifest")]
    error = manifest.find("error")
    assert error is not None and error.get("type") == "DG102"
    assert len(found[("deploygate.detector", "latency")]) == 0


def test_unmeasured_latency_is_skipped_unless_strict() -> None:
    dg404 = Finding("DG404", Severity.WARNING, "budget 250 ms not checked: the probe was skipped "
                    "(--no-probe)", Location("deploy-constraints.yaml", "models[0].latency.budget_ms", 14, 7),
                    "detector")
    model = replace(passing_model(), latency=None, findings=(dg404,))
    case = cases(parse(Report("deploy-constraints.yaml", (model,))))[("deploygate.detector", "latency")]
    skipped = case.find("skipped")
    assert skipped is not None and "--no-probe" in skipped.get("message", "")
    out = case.find("system-out")
    assert out is not None and "DG404" in (out.text or "")
    strict = parse(Report("deploy-constraints.yaml", (model,), strict=True))
    suite = strict.find("testsuite")
    assert suite is not None and suite.get("skipped") == "0" and strict.get("failures") == "1"


def test_unreadable_artifact_skips_the_families_it_blocks() -> None:
    missing = Finding("DG201", Severity.ERROR, "models/x.onnx does not exist",
                      Location("deploy-constraints.yaml", "models[0].path", 5, 11), "detector")
    model = replace(passing_model(), artifact=None, latency=None, findings=(missing,))
    root = parse(Report("deploy-constraints.yaml", (model,)))
    found = cases(root)
    error = found[("deploygate.detector", "artifact")].find("error")
    assert error is not None and error.get("type") == "DG201"
    assert found[("deploygate.detector", "fit")].find("skipped") is not None
    assert found[("deploygate.detector", "latency")].find("skipped") is not None
    suite = root.find("testsuite")
    assert suite is not None and (root.get("errors"), suite.get("skipped")) == ("1", "2")


def test_hostile_text_round_trips_as_xml() -> None:
    message = 'size "1 GB" < limit & ]]> <!-- \x1b[31m\x00 --> </failure>\nnext line'
    model = replace(failing_model(), name="a<b>&\"c'",
                    findings=(replace(failing_model().findings[0], message=message),))
    root = parse(Report("deploy-constraints.yaml", (model,)))
    failure = root.find(".//failure")
    assert failure is not None
    assert failure.get("message") == message.replace("\x1b", "\ufffd").replace("\x00", "\ufffd")
    fit = root.find(".//testcase[@name='fit']")
    assert fit is not None and fit.get("classname") == "deploygate.a<b>&\"c'"


def test_latency_family_appears_only_when_declared() -> None:
    model = replace(passing_model(), latency_spec=None, latency=None)
    found = cases(parse(Report("deploy-constraints.yaml", (model,))))
    assert ("deploygate.detector", "latency") not in found
    model = replace(passing_model(), latency_spec=LatencySpec(), estimates=Assessment(
        MemoryEstimate(1, 0, 1), cost=CostEstimate(0.01, 1.0, 36.0, "host measurement")))
    assert ("deploygate.detector", "cost") in cases(parse(Report("deploy-constraints.yaml", (model,))))
