"""The real engine on the real example models: the JSON and text reports match their goldens and
the JSON is valid against the closed report schema.

`--no-probe` keeps every figure deterministic (estimates come from counted graphs and catalog
devices); the host and the version are the only things normalized. Regenerate after an intended
change with ``DEPLOYGATE_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_report_golden.py`` and
review the diff like code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

import deploygate.report
from deploygate.cli import cli
from tests.fixtures.golden import compare_golden

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden" / "engine"
SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
EXAMPLES = ("edge-detector", "classifier-too-big")
HOST = {"cpu": "golden CPU", "cores": 1, "usable_cores": 1, "python": "3.x", "onnxruntime": "1.x"}


@pytest.fixture(autouse=True)
def stable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploygate.report, "__version__", "0.0.0+golden")
    monkeypatch.setattr("deploygate.engine.host_info", lambda: dict(HOST))
    monkeypatch.chdir(ROOT)


def run(example: str, fmt: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--manifest",
                                      f"examples/{example}/deploy-constraints.yaml",
                                      "--no-probe", "--format", fmt])
    return result.exit_code, result.stdout


def compare(name: str, text: str) -> None:
    compare_golden(GOLDEN / name, text)


@pytest.mark.parametrize("example", EXAMPLES)
def test_json_report_of_the_real_engine(example: str) -> None:
    code, out = run(example, "json")
    report: dict[str, Any] = json.loads(out)
    Draft202012Validator(SCHEMA).validate(report)
    assert report["exit_code"] == code
    assert report["models"][0]["estimates"]["memory_bytes"] > 0
    compare(f"{example}.json", out)


@pytest.mark.parametrize("example", EXAMPLES)
def test_text_report_of_the_real_engine(example: str) -> None:
    _code, out = run(example, "text")
    compare(f"{example}.txt", out)


def _open_objects(node: Any, path: str = "#") -> list[str]:
    """Object schemas that accept any key: properties listed but others allowed, or none listed."""
    found = []
    if isinstance(node, dict):
        kind = node.get("type")
        is_object = "properties" in node or kind == "object" or (isinstance(kind, list)
                                                                and "object" in kind)
        if is_object and "additionalProperties" not in node:
            found.append(path)
        for key, value in node.items():
            found += _open_objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _open_objects(value, f"{path}[{i}]")
    return found


def test_report_schema_is_closed_where_the_shape_is_known() -> None:
    # The one deliberately open object: format-specific facts, documented per format.
    details = "#/properties/models/items/properties/artifact/oneOf[1]/properties/details"
    assert _open_objects(SCHEMA) == [details]


def test_the_schema_refuses_an_unknown_estimate() -> None:
    _code, out = run("edge-detector", "json")
    report = json.loads(out)
    report["models"][0]["estimates"]["memory_mb"] = 1
    assert not Draft202012Validator(SCHEMA).is_valid(report)


def test_the_hand_made_reporter_sample_is_a_valid_report() -> None:
    from deploygate.reporters import render
    from tests.unit.reporters.sample import sample_report

    Draft202012Validator(SCHEMA).validate(json.loads(render("json", sample_report())))
