"""The manifest loader: typed values, defaults, and every way a manifest can be unreadable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploygate.manifest.load import MAX_MANIFEST_BYTES, load_manifest

FULL = Path(__file__).resolve().parents[2] / "data" / "manifests" / "positive" / "full.yaml"


def write(tmp_path: Path, text: str | bytes, name: str = "deploy-constraints.yaml") -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def only_finding(tmp_path: Path, text: str | bytes) -> tuple[str, str]:
    result = load_manifest(write(tmp_path, text), "deploy-constraints.yaml")
    assert result.manifest is None and len(result.findings) == 1, result.findings
    return result.findings[0].rule, result.findings[0].message


def test_full_manifest_is_typed_with_units_and_defaults() -> None:
    manifest = load_manifest(FULL).manifest
    assert manifest is not None
    det, llm = manifest.models
    assert det.limits.max_size == 10**9 and det.limits.max_params == 25 * 10**6
    assert det.limits.max_memory == 2 * 2**30
    assert det.target.device == "lab-board" and manifest.devices["lab-board"].memory == 2 * 2**30
    assert manifest.devices["lab-board"].compute == 50e9
    assert det.latency is not None and det.latency.percentile == "p95" and det.latency.warmup == 5
    assert det.latency.inputs["x"].shape == (1, 3, 640, 640)
    assert det.latency.inputs["x"].range == (0, 1) and det.latency.inputs["sr"].value == 16000
    assert det.cost is not None and det.cost.max_usd_per_1k == 0.05
    assert det.baseline is not None and det.baseline.max_latency_increase == pytest.approx(0.15)
    # defaults merge under the model: the model's own keys win, the rest are inherited
    assert llm.target.device == "aws-g5.xlarge"
    assert llm.latency is not None and llm.latency.percentile == "p99" and llm.latency.warmup == 2
    assert manifest.mark("models[0].latency.budget_ms") == (20, 7)
    assert manifest.mark("models[0].latency.budget_ms.nothing") == (20, 7)
    assert det.latency.providers == ("CPUExecutionProvider",)
    assert (llm.target.runtime, llm.target.precision) == ("tensorrt", "fp16")
    assert llm.latency.runtime == "llama.cpp" and llm.latency.new_tokens == 32
    assert llm.serving is not None and llm.serving.concurrency == 2
    assert manifest.coverage == "required"
    (waiver,) = manifest.waivers
    assert (waiver.rule, waiver.model, waiver.until.year) == ("DG405", "llm.v2", 2099)


def test_defaults_target_device_unknown_points_at_defaults(tmp_path: Path) -> None:
    text = ("version: 1\ndefaults:\n  target: {kind: edge, device: pi9}\n"
            "models:\n  - {name: a, path: a.onnx}\n")
    result = load_manifest(write(tmp_path, text))
    (finding,) = result.findings
    assert finding.location is not None
    assert finding.rule == "DG104" and finding.location.path == "defaults.target.device"


def test_empty_manifest(tmp_path: Path) -> None:
    rule, message = only_finding(tmp_path, "")
    assert rule == "DG101" and "empty" in message


def test_not_utf8(tmp_path: Path) -> None:
    rule, message = only_finding(tmp_path, b"version: 1\nmodels: \xff\xfe\n")
    assert rule == "DG101" and "UTF-8" in message


def test_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    rule, message = only_finding(tmp_path, b"#" * (MAX_MANIFEST_BYTES + 10))
    assert rule == "DG101" and "larger than" in message


def test_alias_bomb_is_capped(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    rule, message = only_finding(tmp_path, "\n".join(lines) + "\n")
    assert rule == "DG101" and "alias bomb" in message


def test_deep_nesting(tmp_path: Path) -> None:
    rule, message = only_finding(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert rule == "DG101" and ("deep" in message or "nesting" in message or "nested" in message)


def test_missing_file(tmp_path: Path) -> None:
    result = load_manifest(tmp_path / "nope.yaml")
    assert [f.rule for f in result.findings] == ["DG101"]
    assert "deploygate init" in result.findings[0].message


def test_folder_instead_of_file(tmp_path: Path) -> None:
    result = load_manifest(tmp_path)
    assert [f.rule for f in result.findings] == ["DG101"] and "folder" in result.findings[0].message


def test_symlink_escaping_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = tmp_path / "secret.onnx"
    outside.write_bytes(b"x")
    os.symlink(outside, repo / "model.onnx")
    path = write(repo, "version: 1\nmodels:\n  - {name: a, path: model.onnx, target: {kind: edge}}\n")
    result = load_manifest(path)
    assert [f.rule for f in result.findings] == ["DG106"]


def test_absolute_path_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nmodels:\n  - {name: a, path: /etc/passwd, target: {kind: edge}}\n")
    assert [f.rule for f in load_manifest(path).findings] == ["DG106"]


def test_sample_file_outside_repository(tmp_path: Path) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.onnx\n    target: {kind: edge}\n"
            "    latency: {inputs: {x: {file: ../../x.npy}}}\n")
    result = load_manifest(write(tmp_path, text))
    assert [(f.rule, f.location and f.location.path) for f in result.findings] == \
        [("DG106", "models[0].latency.inputs.x.file")]


def test_yes_as_a_name_is_a_boolean_type_error(tmp_path: Path) -> None:
    rule, message = only_finding(
        tmp_path, "version: 1\nmodels:\n  - {name: yes, path: a.onnx, target: {kind: edge}}\n")
    assert rule == "DG102" and "boolean" in message and "quote" in message


def test_allow_globals_per_model_and_in_defaults(tmp_path: Path) -> None:
    text = ("version: 1\ndefaults:\n  target: {kind: edge}\n"
            "  security: {allow_globals: [omegaconf.listconfig.ListConfig]}\n"
            "models:\n  - {name: a, path: a.pt}\n"
            "  - {name: b, path: b.pt, security: {allow_globals: [typing.Any, builtins.dict]}}\n")
    result = load_manifest(write(tmp_path, text))
    assert result.manifest is not None, result.findings
    a, b = result.manifest.models
    assert a.security.allow_globals == ("omegaconf.listconfig.ListConfig",)
    assert b.security.allow_globals == ("typing.Any", "builtins.dict")


@pytest.mark.parametrize("name", ["os.system", "posix.system", "nt.system", "subprocess.Popen",
                                  "builtins.eval", "builtins.exec", "builtins.getattr",
                                  "builtins.__import__", "importlib.import_module",
                                  "runpy.run_path", "socket.socket", "shutil.rmtree",
                                  "sys.modules", "pickle.loads", "marshal.loads",
                                  "ctypes.CDLL", "types.FunctionType", "torch.load"])
def test_code_running_globals_can_never_be_allowed(tmp_path: Path, name: str) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.pt\n    target: {kind: edge}\n"
            f"    security:\n      allow_globals: [typing.Any, {name}]\n")
    result = load_manifest(write(tmp_path, text))
    (finding,) = result.findings
    assert finding.rule == "DG111" and f"`{name}`" in finding.message
    assert "never be allowed" in finding.message
    assert finding.location is not None
    assert finding.location.path == "models[0].security.allow_globals[1]"
    assert finding.location.line == 7


def test_a_code_running_default_is_reported_once(tmp_path: Path) -> None:
    text = ("version: 1\ndefaults:\n  target: {kind: edge}\n"
            "  security: {allow_globals: [builtins.open]}\n"
            "models:\n  - {name: a, path: a.pt}\n  - {name: b, path: b.pt}\n")
    (finding,) = load_manifest(write(tmp_path, text)).findings
    assert finding.rule == "DG111" and finding.location is not None
    assert finding.location.path == "defaults.security.allow_globals[0]"


def test_allow_globals_must_be_dotted_names(tmp_path: Path) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.pt\n    target: {kind: edge}\n"
            "    security: {allow_globals: ['os system']}\n")
    rule, message = only_finding(tmp_path, text)
    assert rule == "DG102"


def test_target_runtime_and_precision_are_typed(tmp_path: Path) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.onnx\n"
            "    target: {kind: edge, device: jetson-agx-orin, runtime: tensorrt, precision: int8}\n")
    manifest = load_manifest(write(tmp_path, text)).manifest
    assert manifest is not None
    target = manifest.models[0].target
    assert (target.runtime, target.precision) == ("tensorrt", "int8")


def test_a_runtime_the_device_does_not_have_names_its_paths(tmp_path: Path) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.onnx\n"
            "    target: {kind: edge, device: raspberry-pi-5, runtime: tensorrt}\n")
    rule, message = only_finding(tmp_path, text)
    assert rule == "DG102"
    assert "'raspberry-pi-5' has no 'tensorrt' path; its paths: onnxruntime/fp32" in message


def test_a_precision_the_runtime_lacks_points_at_the_precision(tmp_path: Path) -> None:
    text = ("version: 1\nmodels:\n  - name: a\n    path: a.onnx\n"
            "    target: {kind: edge, device: jetson-agx-orin, runtime: tensorrt, precision: int4}\n")
    result = load_manifest(write(tmp_path, text))
    (finding,) = result.findings
    assert finding.location is not None and finding.location.path == "models[0].target.precision"
    assert "has no int4 path on tensorrt; tensorrt runs at fp16, int8" in finding.message


def test_custom_device_paths_are_parsed(tmp_path: Path) -> None:
    text = ("version: 1\ndevices:\n  board:\n    kind: edge\n    memory: 4GiB\n"
            "    compute: 10TOPS\n    compute_precision: int8\n    runtime: litert\n"
            "    paths: {litert: {int8: 10TOPS, fp16: 5TFLOPS}}\n"
            "models:\n  - name: a\n    path: a.onnx\n"
            "    target: {kind: edge, device: board, precision: fp16}\n")
    manifest = load_manifest(write(tmp_path, text)).manifest
    assert manifest is not None
    board = manifest.devices["board"]
    assert board.runtime == "litert" and board.paths == {"litert": {"int8": 10e12, "fp16": 5e12}}


def test_a_custom_device_states_the_clock_of_the_cpu_that_launches_its_kernels(
        tmp_path: Path) -> None:
    device = ("version: 1\ndevices:\n  board:\n    kind: edge\n    memory: 8GiB\n"
              "    compute: 20TOPS\n    compute_precision: int8\n    runtime: tensorrt\n"
              "    paths: {tensorrt: {int8: 20TOPS, fp16: 10TFLOPS}}\n    cpu_ghz: {ghz}\n"
              "models:\n  - name: a\n    path: a.onnx\n    target: {kind: edge, device: board}\n")
    manifest = load_manifest(write(tmp_path, device.replace("{ghz}", "1.5"))).manifest
    assert manifest is not None and manifest.devices["board"].cpu_ghz == 1.5
    for bad in ("0", "fast", "40"):
        result = load_manifest(write(tmp_path, device.replace("{ghz}", bad)),
                               "deploy-constraints.yaml")
        assert result.manifest is None and len(result.findings) == 1, result.findings
        finding = result.findings[0]
        assert finding.rule == "DG102" and finding.location is not None
        assert finding.location.path == "devices.board.cpu_ghz", finding
