"""`deploygate validate`, `schema`, `devices` and error handling, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from deploygate.cli import cli

ROOT = Path(__file__).resolve().parents[2]
NEGATIVE = ROOT / "tests" / "data" / "manifests" / "negative"
POSITIVE = ROOT / "tests" / "data" / "manifests" / "positive"


def test_validate_valid_manifests() -> None:
    result = CliRunner().invoke(cli, ["validate", *map(str, sorted(POSITIVE.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert "3 manifests valid" in result.output


def test_validate_reports_every_mistake_at_its_line() -> None:
    result = CliRunner().invoke(cli, ["validate", str(NEGATIVE / "several-mistakes.yaml")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert [line.split(": error: ")[0].rsplit(":", 2)[1:] for line in lines] == \
        [["7", "11"], ["10", "13"], ["12", "17"], ["13", "7"]]
    assert "Traceback" not in result.output


def test_validate_default_file_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "deploy-constraints.yaml: error: DG101" in result.output


def test_validate_imports_no_onnx_numpy_or_onnxruntime() -> None:
    code = ("import sys; from deploygate.cli import main; sys.argv=['deploygate','validate',"
            f"{str(POSITIVE / 'full.yaml')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('onnx','onnxruntime','numpy','git') if m in sys.modules]\n"
            "print('HEAVY', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # full.yaml holds every key, so every branch of the loader ran, and it was valid.
    assert "1 manifest valid" in out.stdout and "HEAVY []" in out.stdout


def test_schema_command_prints_the_shipped_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads((ROOT / "schemas" /
                                                    "deploy-constraints.schema.json").read_text())


def test_devices_lists_the_catalog() -> None:
    result = CliRunner().invoke(cli, ["devices", "--format", "json"])
    ids = {d["id"] for d in json.loads(result.output)}
    assert {"raspberry-pi-4", "raspberry-pi-5", "jetson-nano", "jetson-orin-nano", "jetson-agx-orin",
            "iphone-15-pro", "snapdragon-8-gen-3", "aws-c7i.xlarge", "aws-g4dn.xlarge",
            "aws-g5.xlarge", "aws-g6.xlarge", "aws-p4d-a100-40gb", "aws-p4de-a100-80gb",
            "aws-p5-h100-80gb"} <= ids
    for device in json.loads(result.output):
        assert device["sources"], device["id"]
        if device["kind"] == "cloud":
            assert device["price_per_hour"] and device["as_of"], device["id"]


def test_schema_passes_the_metaschema() -> None:
    from jsonschema import Draft202012Validator

    for name in ("deploy-constraints.schema.json", "report.schema.json"):
        Draft202012Validator.check_schema(json.loads((ROOT / "schemas" / name).read_text()))


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "deploygate", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("deploygate, version ")


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(cli, ["check", "--format", "yaml"])
    assert result.exit_code == 2


def test_closed_pipe_is_quiet_and_not_a_pass() -> None:
    reader = subprocess.Popen([sys.executable, "-m", "deploygate", "devices"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # like `| head -0`: nobody reads what it prints
    code = reader.wait(timeout=60)
    error = reader.stderr.read().decode()
    assert code == 2 and "Traceback" not in error and "internal error" not in error


def test_devices_text_lists_each_runtime_path_and_the_usual_one() -> None:
    result = CliRunner().invoke(cli, ["devices"])
    line = next(x for x in result.output.splitlines() if x.startswith("jetson-agx-orin "))
    assert "tensorrt* fp16 42.5T, int8 85T; onnxruntime fp32" in line
    super_line = next(x for x in result.output.splitlines() if x.startswith("jetson-orin-nano-super"))
    assert "102 GB/s" in super_line
