"""The LiteRT backend end to end: a real child process running ai-edge-litert's interpreter.

A tiny model written with flatbuffers runs everywhere LiteRT is installed; MediaPipe's real
models run when the corpus cache has them (``python benchmarks/backend_models.py fetch``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ai_edge_litert")

from deploygate.artifacts import inspect_artifact  # noqa: E402
from deploygate.errors import ProbeError  # noqa: E402
from deploygate.manifest.model import LatencySpec  # noqa: E402
from deploygate.probe import LatencyResult, probe_latency  # noqa: E402

from tests.fixtures.backend_models import backend_models  # noqa: E402
from tests.fixtures.tflite_models import dense_model  # noqa: E402

QUICK = {"max_time_s": 0.2, "warmup": 1, "timeout_s": 60.0}


def probe(model: Path, repo: Path, **spec: object) -> LatencyResult:
    return probe_latency(model, LatencySpec(**{**QUICK, **spec}), threads=1,  # type: ignore[arg-type]
                         root=repo, base_dir=repo, display=model.name, fmt="tflite")


def test_a_tflite_model_is_measured_with_litert(repo: Path) -> None:
    model = dense_model(repo / "models" / "dense.tflite")
    assert inspect_artifact(model, display="dense.tflite").runnable
    result = probe(model, repo)
    assert result.runtime == "litert" and result.runtime_version
    assert result.input_shapes == {"x": [1, 64]}
    assert result.runs >= 10 and 0 < result.min_ms <= result.p50_ms <= result.p99_ms
    assert result.onnxruntime == "" and result.providers == ()


def test_a_custom_operator_is_refused_by_name_and_never_loaded(repo: Path) -> None:
    model = dense_model(repo / "models" / "custom.tflite", custom_op="MyFancyOp")
    with pytest.raises(ProbeError) as caught:
        probe(model, repo)
    assert "custom operator 'MyFancyOp'" in caught.value.message
    assert caught.value.path == "latency" and caught.value.rule == "DG403"


def test_an_input_that_does_not_exist_is_named(repo: Path) -> None:
    from deploygate.manifest.model import InputSpec

    model = dense_model(repo / "models" / "dense.tflite")
    with pytest.raises(ProbeError) as caught:
        probe(model, repo, inputs={"nope": InputSpec(value=1)})
    assert caught.value.path == "latency.inputs.nope" and "its inputs: x" in caught.value.message


@pytest.mark.slow
def test_mediapipe_face_detector_runs_and_its_segmenter_is_refused(repo: Path) -> None:
    pins = backend_models()
    face, selfie = pins.cached(pins.FACE_DETECTION), pins.cached(pins.SELFIE_SEGMENTATION)
    if face is None or selfie is None:
        pytest.skip("MediaPipe's models are not cached (python benchmarks/backend_models.py fetch)")
    result = probe(face, repo)
    assert result.runtime == "litert" and result.input_shapes == {"input": [1, 128, 128, 3]}
    with pytest.raises(ProbeError) as caught:
        probe(selfie, repo)
    assert "'Convolution2DTransposeBias'" in caught.value.message


def _tflite_repo(tmp_path: Path, latency: str) -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    dense_model(tmp_path / "m.tflite")
    manifest = tmp_path / "deploy-constraints.yaml"
    manifest.write_text("version: 1\nmodels:\n  - name: m\n    path: m.tflite\n"
                        f"    target: {{kind: edge}}\n    latency:\n{latency}")
    return manifest


def test_check_measures_a_tflite_model_with_litert(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from deploygate.cli import cli

    manifest = _tflite_repo(tmp_path, "      budget_ms: 10000\n      threads: 1\n"
                                      "      max_time_s: 0.2\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 0, result.output
    model = json.loads(result.output)["models"][0]
    assert model["latency"]["runtime"] == "litert" and model["latency"]["p95_ms"] > 0
    assert model["findings"] == []


def test_a_missing_litert_extra_is_a_warning_naming_the_pip_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from click.testing import CliRunner

    from deploygate.cli import cli
    from deploygate.probe.backends import BACKENDS, Backend

    # A registry entry whose runtime module does not exist: LiteRT as a base install has it.
    monkeypatch.setitem(BACKENDS, "litert", Backend("litert", ("tflite",), "deploygate_absent",
                                                    "litert", "deploygate.probe.backends.litert"))
    manifest = _tflite_repo(tmp_path, "      budget_ms: 10\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)["models"][0]["findings"]
    missing = [f for f in findings if f["rule"] == "DG408"]
    assert missing and missing[0]["severity"] == "warning"
    assert "pip install 'deploygate[litert]'" in missing[0]["message"]
    assert "NOT JUDGED" in missing[0]["message"]
    # A team that fails closed on what cannot be judged fails on a missing runtime too.
    manifest = _tflite_repo(tmp_path, "      budget_ms: 10\n      on_inconclusive: fail\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 2, result.output  # cannot judge
    findings = json.loads(result.output)["models"][0]["findings"]
    missing = [f for f in findings if f["rule"] == "DG408"]
    assert missing and missing[0]["severity"] == "error"
    assert "this fails the gate (latency.on_inconclusive: fail)" in missing[0]["message"]
    probe = CliRunner().invoke(cli, ["probe", str(tmp_path / "m.tflite")])
    assert probe.exit_code == 2 and "pip install 'deploygate[litert]'" in probe.output


def test_a_dynamic_batch_is_set_to_one_and_the_input_resized(repo: Path) -> None:
    model = dense_model(repo / "models" / "dyn.tflite", dynamic_batch=True)
    assert inspect_artifact(model, display="dyn.tflite").inputs[0].shape == (None, 64)
    result = probe(model, repo)
    assert result.input_shapes == {"x": [1, 64]}
    assert [d["axis"] for d in result.defaulted_dims] == [0]
    from deploygate.manifest.model import InputSpec

    pinned = probe(model, repo, inputs={"x": InputSpec(shape=(4, 64))})
    assert pinned.input_shapes == {"x": [4, 64]} and pinned.defaulted_dims == ()
