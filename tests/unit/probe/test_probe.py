"""probe_latency end to end: a real child process running onnxruntime on tiny models.

Every test keeps max_time_s small. No test asserts a latency figure: the host's speed is not
under test, only the probe's behaviour.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from deploygate.errors import ProbeError, ProbeNeedsValues
from deploygate.manifest.model import InputSpec, LatencySpec
from deploygate.host import usable_cores
from deploygate.probe import LatencyResult, probe_latency

from tests.fixtures import probe_models as models

QUICK = {"max_time_s": 0.2, "warmup": 2, "timeout_s": 60.0}


def probe(model: Path, repo: Path, progress: list[str] | None = None,
          **spec: object) -> LatencyResult:
    settings = {**QUICK, **spec}
    return probe_latency(model, LatencySpec(**settings), threads=1,  # type: ignore[arg-type]
                         root=repo, base_dir=repo / "models", display="models/m.onnx",
                         progress=None if progress is None else progress.append)


def test_image_model_with_dims_is_measured(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    lines: list[str] = []
    result = probe(model, repo, progress=lines, dims={"batch": 1, "h": 64, "w": 64})
    assert result.input_shapes == {"image": [1, 3, 64, 64]}
    assert result.runs >= 10 and result.threads == 1 and result.warmup == 2
    assert 0 < result.min_ms <= result.p50_ms <= result.p90_ms <= result.p95_ms <= result.p99_ms
    assert result.mean_ms > 0 and result.stdev_ms >= 0 and result.session_ms > 0
    assert len(result.windows_ms) == 5
    assert sum(w["runs"] for w in result.windows_ms) == result.runs
    for name in ("p50", "p90", "p95", "p99"):
        low, high = result.interval_ms[name]
        assert low <= result.at(name) <= high
    assert result.onnxruntime and result.host_cpu and result.measured_on == "host"
    assert result.measured_s >= 0.2
    assert any("measuring" in line for line in lines)
    json_form = result.to_json()
    assert json_form["interval_ms"]["p95"] == list(result.interval_ms["p95"])
    assert result.min_ms <= result.interval_ms["p95"][0] and result.max_ms >= result.p99_ms
    assert result.rounds == 1 and result.clock_tick_ms > 0 and result.confidence == 0.99


def test_unresolved_dims_come_back_from_the_child_in_one_message(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeNeedsValues) as caught:
        probe(model, repo)
    assert caught.value.path == "latency.dims"
    assert "dimension 'h'" in caught.value.message and "dimension 'w'" in caught.value.message
    assert "latency: {dims: {h: SIZE, w: SIZE}}" in caught.value.message
    assert "--dim h=SIZE --dim w=SIZE" in caught.value.message
    assert caught.value.file == "models/m.onnx" and caught.value.rule == "DG403"


def test_batch_default_is_reported(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    result = probe(model, repo, dims={"h": 8, "w": 8})
    assert result.input_shapes == {"image": [1, 3, 8, 8]}
    batch = {"input": "image", "axis": 0, "dim": "batch", "size": 1, "source": "batch"}
    assert result.defaulted_dims == (batch,)
    assert result.to_json()["defaulted_dims"] == [batch]
    assert probe(model, repo, dims={"batch": 2, "h": 8, "w": 8}).defaulted_dims == ()


def test_an_image_size_the_model_states_is_used_and_reported(repo: Path) -> None:
    """An Ultralytics export records its image size as metadata imgsz: the probe runs at it
    with no flags, says so, and a dim in the manifest still wins."""
    model = models.image_model(repo / "models" / "m.onnx", {"imgsz": "[24, 40]"},
                               ("height", "width"))
    result = probe(model, repo)
    assert result.input_shapes == {"image": [1, 3, 24, 40]}
    source = "model metadata imgsz"
    assert result.defaulted_dims == (
        {"input": "image", "axis": 0, "dim": "batch", "size": 1, "source": "batch"},
        {"input": "image", "axis": 2, "dim": "height", "size": 24, "source": source},
        {"input": "image", "axis": 3, "dim": "width", "size": 40, "source": source})
    pinned = probe(model, repo, dims={"height": 16})
    assert pinned.input_shapes == {"image": [1, 3, 16, 40]}
    assert [d["dim"] for d in pinned.defaulted_dims] == ["batch", "width"]


def test_if_on_an_int_scalar_fails_clearly_until_pinned(repo: Path) -> None:
    model = models.mode_switch_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeNeedsValues) as caught:
        probe(model, repo)
    message = caught.value.message
    assert caught.value.path == "latency.inputs.mode"
    assert "'mode'" in message and "latency: {inputs: {mode: {value: V}}}" in message
    assert "--input mode=value:V" in message
    assert "Reshape" in message and "[ONNXRuntimeError]" not in message
    assert "\n" not in message
    result = probe(model, repo, inputs={"mode": InputSpec(value=42)})
    assert result.input_shapes == {"state": [1, 8], "mode": []}


def test_index_inputs_stay_inside_the_table(repo: Path) -> None:
    # 16 random indices in 0..9 would hit rows 5..9 of a 5-row table: the probe keeps them below 5.
    result = probe(models.gather_model(repo / "models" / "m.onnx"), repo, dims={"n": 16})
    assert result.input_shapes == {"idx": [16]}
    embedded = probe(models.embedding_model(repo / "models" / "e.onnx"), repo, dims={"seq": 64})
    assert embedded.input_shapes == {"ids": [1, 64]}


def test_out_of_range_index_names_the_input_feeding_the_gather(repo: Path) -> None:
    model = models.offset_gather_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeNeedsValues, match="out of data bounds") as caught:
        probe(model, repo, dims={"n": 4})
    message = caught.value.message
    assert caught.value.path == "latency.inputs.idx"
    assert "input 'idx' got random values ('idx' feeds that node)" in message
    assert "'steps'" not in message  # an int input that does not feed the Gather
    assert "--input idx=range:LO..HI" in message


def test_shape_mismatch_is_a_shape_problem_not_random_values(repo: Path) -> None:
    model = models.strided_concat_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeNeedsValues) as caught:
        probe(model, repo, dims={"h": 9, "w": 8})
    message = caught.value.message
    assert "shape problem, not the random values" in message
    assert "Concat node 'skip'" in message and "x [1, 1, 9, 8]" in message
    assert "latency: {dims: {h: SIZE, w: SIZE}}" in message and "batch" not in message
    assert "got random values" not in message and "range" not in message
    assert probe(model, repo, dims={"h": 8, "w": 8}).input_shapes == {"x": [1, 1, 8, 8]}


def test_sequence_input_is_refused_without_a_flag(repo: Path) -> None:
    model = models.sequence_input_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeError, match="'frames' is a sequence") as caught:
        probe(model, repo)
    assert not isinstance(caught.value, ProbeNeedsValues) and "--" not in caught.value.message


def test_npy_file_input_is_fed(repo: Path) -> None:
    model = models.gather_model(repo / "models" / "m.onnx")
    np.save(repo / "models" / "idx.npy", np.array([0, 4, 4, 1], np.int32))
    result = probe(model, repo, inputs={"idx": InputSpec(file="idx.npy")})
    assert result.input_shapes == {"idx": [4]}


def test_endless_loop_is_killed_at_timeout(repo: Path) -> None:
    model = models.endless_loop_model(repo / "models" / "m.onnx")
    # The limit counts from the child's start, imports included: on a very busy runner a child
    # can be killed while still loading, so such a kill is tried again with more time.
    for timeout_s in (3, 15, 60):
        started = time.monotonic()
        with pytest.raises(ProbeError) as caught:
            probe(model, repo, timeout_s=timeout_s)
        elapsed = time.monotonic() - started
        if "did not finish one run" in caught.value.message:
            break
    assert caught.value.path == "latency.timeout_s"
    assert f"did not finish one run within timeout_s={timeout_s}s" in caught.value.message
    assert elapsed < timeout_s + 15.0  # sanity bound: the child was killed, not waited for


def test_custom_op_domain_is_refused_before_running(repo: Path) -> None:
    model = models.custom_op_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeError) as caught:
        probe(model, repo)
    # onnxruntime's own words would be "is not a registered function/op": this message can
    # only come from the check made before any session exists.
    assert "needs custom-op domain 'com.example.ops'" in caught.value.message
    assert "never loads custom-op libraries" in caught.value.message


def test_memory_cap_turns_exhaustion_into_a_probe_error(repo: Path) -> None:
    model = models.gather_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeError, match="ran out of memory under the probe's cap"):
        probe_latency(model, LatencySpec(dims={"n": 300_000_000}, **QUICK),  # type: ignore[arg-type]
                      threads=1, root=repo, base_dir=repo / "models", display="m.onnx",
                      memory_cap=512 << 20)


def test_bad_settings_are_refused_without_a_child(repo: Path) -> None:
    model = models.gather_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeError) as caught:
        probe(model, repo, percentile="p42")
    assert caught.value.path == "latency.percentile"
    with pytest.raises(ProbeError) as caught:
        probe(model, repo, timeout_s=0)
    assert caught.value.path == "latency.timeout_s"
    with pytest.raises(ProbeError, match="does not exist"):
        probe(repo / "models" / "missing.onnx", repo)


def test_usable_cores_is_positive() -> None:
    assert usable_cores() >= 1


def test_threads_never_exceed_the_usable_cores(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    asked = usable_cores() + 3
    result = probe_latency(model, LatencySpec(**QUICK, dims={"batch": 1, "h": 8, "w": 8}),  # type: ignore[arg-type]
                           threads=asked, root=repo, base_dir=repo / "models",
                           display="models/m.onnx")
    assert (result.threads, result.target_threads) == (usable_cores(), asked)


def test_public_signature_is_the_engine_contract() -> None:
    import inspect

    params = inspect.signature(probe_latency).parameters
    assert list(params) == ["model", "spec", "threads", "root", "base_dir", "display",
                            "fmt", "measured_on", "progress", "memory_cap"]
    assert params["fmt"].default == "onnx"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[2:])
    assert params["measured_on"].default == "host" and params["progress"].default is None


def test_onnxruntime_log_output_never_reaches_the_user(repo: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    model = models.mode_switch_model(repo / "models" / "m.onnx")
    with pytest.raises(ProbeError):
        probe(model, repo)  # onnxruntime logs an [E:onnxruntime:...] line in the child
    out, err = capfd.readouterr()
    assert out == "" and err == ""
