"""Input synthesis from real models' signatures, in-process (no child, no onnxruntime)."""

from __future__ import annotations

import os
from pathlib import Path

import shlex

import numpy as np
import pytest
import yaml
from onnx import TensorProto as T

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ProbeError, ProbeNeedsValues
from deploygate.manifest.model import InputSpec, LatencySpec
from deploygate.probe.inputs import (DefaultedDim, defaulted_dims, load_signature,
                                     synthesize_inputs)
from deploygate.probe.options import parse_dim_option, parse_input_option

from tests.fixtures import probe_models as models


def synth(signature: tuple[TensorSpec, ...] | list[TensorSpec], repo: Path,
          **spec: object) -> dict[str, np.ndarray]:
    return synthesize_inputs(signature, LatencySpec(**spec), root=repo,  # type: ignore[arg-type]
                             base_dir=repo / "models")


def test_signature_reads_symbolic_and_fixed_dims(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "models" / "m.onnx"))
    assert signature == (TensorSpec("image", "float32", ("batch", 3, "h", "w")),)


def test_initializers_listed_as_inputs_are_not_inputs(repo: Path) -> None:
    signature = load_signature(models.initializer_input_model(repo / "m.onnx"))
    assert [t.name for t in signature] == ["x"]
    assert signature[0].shape == (None, 4)


def test_dims_pin_symbolic_dimensions(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    feeds = synth(signature, repo, dims={"batch": 1, "h": 64, "w": 64})
    image = feeds["image"]
    assert image.shape == (1, 3, 64, 64) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() < 1.0


def test_synthesis_is_repeatable(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    first = synth(signature, repo, dims={"batch": 1, "h": 8, "w": 8})
    second = synth(signature, repo, dims={"batch": 1, "h": 8, "w": 8})
    assert np.array_equal(first["image"], second["image"])


def test_unresolved_dims_are_named_with_key_and_flag(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    with pytest.raises(ProbeNeedsValues) as caught:
        synth(signature, repo, dims={"batch": 1, "w": 64})
    assert caught.value.path == "latency.dims"
    assert "dimension 'h' (input 'image' axis 2)" in caught.value.message
    assert "latency: {dims: {h: SIZE}}" in caught.value.message
    assert "deploygate probe --dim h=SIZE" in caught.value.message


def test_unnamed_leading_dim_defaults_to_one(repo: Path) -> None:
    signature = load_signature(models.initializer_input_model(repo / "m.onnx"))
    assert synth(signature, repo)["x"].shape == (1, 4)
    assert defaulted_dims(signature, LatencySpec()) == (DefaultedDim("x", 0, None),)
    assert synth(signature, repo, inputs={"x": InputSpec(shape=(3, 4))})["x"].shape == (3, 4)
    assert defaulted_dims(signature, LatencySpec(inputs={"x": InputSpec(shape=(3, 4))})) == ()


def test_symbolic_batch_defaults_to_one_everywhere_it_appears(repo: Path) -> None:
    signature = [TensorSpec("audio", "float32", ("batch", "t")),
                 TensorSpec("state", "float32", (2, "batch", 8))]
    feeds = synth(signature, repo, dims={"t": 16})
    assert feeds["audio"].shape == (1, 16) and feeds["state"].shape == (2, 1, 8)
    assert defaulted_dims(signature, LatencySpec(dims={"t": 16})) == (
        DefaultedDim("audio", 0, "batch"), DefaultedDim("state", 1, "batch"))
    assert synth(signature, repo, dims={"t": 16, "batch": 4})["state"].shape == (2, 4, 8)


@pytest.mark.parametrize("shape", [("seq_len", 576), ("sequence_length", 576), ("time", 80),
                                   ("n",), (None,)])
def test_leading_lengths_and_rank_one_inputs_are_never_guessed(repo: Path,
                                                               shape: tuple[object, ...]) -> None:
    signature = [TensorSpec("x", "float32", shape)]  # type: ignore[arg-type]
    with pytest.raises(ProbeNeedsValues):
        synth(signature, repo)
    assert defaulted_dims(signature, LatencySpec()) == ()


@pytest.mark.parametrize(("imgsz", "dims", "expected"), [
    ("[320, 480]", ("height", "width"), (1, 3, 320, 480)),
    ("640", (None, None), (1, 3, 640, 640)),
    ("[320,320]", (None, "w"), (1, 3, 320, 320)),
])
def test_the_size_a_model_states_fills_its_open_image_axes(
        repo: Path, imgsz: str, dims: tuple[str | None, str | None],
        expected: tuple[int, ...]) -> None:
    import onnx

    from deploygate.artifacts.onnx import declared_sizes

    path = models.image_model(repo / "m.onnx", {"imgsz": imgsz}, dims)
    model = onnx.load(str(path))
    declared = declared_sizes(model)
    signature = load_signature(path)
    feeds = synthesize_inputs(signature, LatencySpec(), root=repo, base_dir=repo,
                              declared=declared)
    assert feeds["image"].shape == expected
    stated = [d for d in defaulted_dims(signature, LatencySpec(), declared) if d.axis > 0]
    assert [(d.axis, d.size, d.source) for d in stated] == [
        (2, expected[2], "model metadata imgsz"), (3, expected[3], "model metadata imgsz")]


@pytest.mark.parametrize("imgsz", ["", "[0, 320]", "[99999, 320]", "[320, 320, 3]", "abc",
                                   " " * 100 + "[320, 320]", "[-1, 320]", "1e3"])
def test_a_malformed_or_absurd_stated_size_is_not_taken(repo: Path, imgsz: str) -> None:
    import onnx

    from deploygate.artifacts.onnx import declared_sizes

    path = models.image_model(repo / "m.onnx", {"imgsz": imgsz})
    assert declared_sizes(onnx.load(str(path))) == []
    with pytest.raises(ProbeNeedsValues):
        synth(load_signature(path), repo)


def test_a_stated_size_never_overrides_a_fixed_or_pinned_axis(repo: Path) -> None:
    import onnx

    from deploygate.artifacts.onnx import declared_sizes

    path = models.typed_model(repo / "m.onnx", T.FLOAT, ["n", 3, 32, "w"])
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"imgsz": "[320, 320]"})
    declared = declared_sizes(model)
    assert [(d["axis"], d["size"]) for d in declared] == [(3, 320)]
    signature = load_signature(path)
    shape = synthesize_inputs(signature, LatencySpec(dims={"w": 8}), root=repo, base_dir=repo,
                              declared=declared)["x"].shape
    assert shape == (1, 3, 32, 8)


def test_minus_one_zero_and_question_mark_dims_are_dynamic(repo: Path) -> None:
    signature = load_signature(models.typed_model(repo / "m.onnx", T.FLOAT, [-1, 3, "?", 0]))
    assert signature == (TensorSpec("x", "float32", (None, 3, None, None)),)
    with pytest.raises(ProbeNeedsValues) as caught:
        synth(signature, repo)
    message = caught.value.message
    assert "fixes it" not in message and "input 'x' axes 2, 3 (unnamed)" in message
    assert "latency: {inputs: {x: {shape: [1, 3, SIZE, SIZE]}}}" in message
    assert "--input x=shape:1x3xSIZExSIZE" in message


def _snippet_and_flags(message: str) -> tuple[dict[str, object], list[str]]:
    snippet = message.split("under the model's ", 1)[1].split(" or with deploygate probe ")[0]
    flags = shlex.split(message.split(" or with deploygate probe ", 1)[1])
    return yaml.safe_load(snippet), flags


def test_one_refusal_lists_everything_and_its_fixes_work(repo: Path) -> None:
    signature = [TensorSpec("image", "float32", ("batch", 3, "height", "width")),
                 TensorSpec("mask", "float32", ("batch", "height", "width")),
                 TensorSpec("state", "float32", (2, None, 16)),
                 TensorSpec("odd name:1", "int64", None),
                 TensorSpec("flag", "int64", ())]
    with pytest.raises(ProbeNeedsValues) as caught:
        synth(signature, repo)
    message = caught.value.message
    assert message.startswith("the probe needs 4 values it cannot guess")
    assert "\n" not in message
    snippet, flags = _snippet_and_flags(message)
    assert snippet == {"latency": {
        "dims": {"height": "SIZE", "width": "SIZE"},
        "inputs": {"state": {"shape": [2, "SIZE", 16]}, "odd name:1": {"shape": ["SIZE", "..."]}}}}
    assert flags[::2] == ["--dim", "--dim", "--input", "--input"]
    # Filling in the sizes the message asks for makes the probe's inputs.
    filled = [f.replace("SIZE", "8").replace("x...", "") for f in flags[1::2]]
    dims = dict(parse_dim_option(f) for f in filled[:2])
    inputs = dict(parse_input_option(f) for f in filled[2:])
    feeds = synth(signature, repo, dims=dims, inputs=inputs)
    assert feeds["image"].shape == (1, 3, 8, 8) and feeds["state"].shape == (2, 8, 16)
    assert feeds["odd name:1"].shape == (8,)


def test_unknown_rank_needs_the_per_input_shape(repo: Path) -> None:
    signature = [TensorSpec("x", "float32", None)]
    with pytest.raises(ProbeError, match="declares none") as caught:
        synth(signature, repo)
    assert caught.value.path == "latency.inputs.x.shape"
    assert synth(signature, repo, inputs={"x": InputSpec(shape=(2,))})["x"].shape == (2,)


def test_per_input_shape_is_checked_against_fixed_dims(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    with pytest.raises(ProbeError, match="fixes it at 3") as caught:
        synth(signature, repo, inputs={"image": InputSpec(shape=(1, 4, 8, 8))})
    assert caught.value.path == "latency.inputs.image.shape"
    with pytest.raises(ProbeError, match="rank 3"):
        synth(signature, repo, inputs={"image": InputSpec(shape=(1, 3, 8))})


def test_dtype_mismatch_is_refused(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    with pytest.raises(ProbeError) as caught:
        synth(signature, repo, dims={"batch": 1, "h": 8, "w": 8},
              inputs={"image": InputSpec(dtype="float16")})
    assert caught.value.path == "latency.inputs.image.dtype"
    assert "float16" in caught.value.message and "float32" in caught.value.message


def test_inputs_the_model_lacks_are_refused(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "m.onnx"))
    with pytest.raises(ProbeError, match="no input 'ids'") as caught:
        synth(signature, repo, dims={"n": 2}, inputs={"ids": InputSpec(value=1)})
    assert caught.value.path == "latency.inputs.ids"


def test_int_range_is_inclusive_and_default_ints_are_small(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "m.onnx"))
    ranged = synth(signature, repo, dims={"n": 400}, inputs={"idx": InputSpec(range=(0, 4))})
    assert ranged["idx"].dtype == np.int32
    assert set(ranged["idx"].tolist()) == {0, 1, 2, 3, 4}
    default = synth(signature, repo, dims={"n": 400})["idx"]
    assert default.min() >= 0 and default.max() <= 9


def test_float_range(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    image = synth(signature, repo, dims={"batch": 1, "h": 8, "w": 8},
                  inputs={"image": InputSpec(range=(-2.0, -1.0))})["image"]
    assert -2.0 <= image.min() and image.max() < -1.0


@pytest.mark.parametrize("bounds", [(5, 1), (0.2, 0.8), (-1, 300)])
def test_int_ranges_without_values_are_refused(repo: Path, bounds: tuple[float, float]) -> None:
    signature = [TensorSpec("x", "uint8", (4,))]
    with pytest.raises(ProbeError) as caught:
        synth(signature, repo, inputs={"x": InputSpec(range=bounds)})
    assert caught.value.path == "latency.inputs.x.range"


def test_scalar_value_on_a_scalar_input(repo: Path) -> None:
    signature = load_signature(models.scalar_model(repo / "m.onnx"))
    feeds = synth(signature, repo, dims={"t": 4}, inputs={"sr": InputSpec(value=16000)})
    assert feeds["sr"].shape == () and feeds["sr"].dtype == np.int64
    assert int(feeds["sr"]) == 16000


def test_value_broadcasts_and_fills_unpinned_dims(repo: Path) -> None:
    signature = load_signature(models.scalar_model(repo / "m.onnx"))
    feeds = synth(signature, repo, inputs={"x": InputSpec(value=[[0.5, 1.5, 2.5]]),
                                           "sr": InputSpec(value=2)})
    assert feeds["x"].shape == (1, 3) and feeds["x"].dtype == np.float32
    broadcast = synth(signature, repo, dims={"t": 3},
                      inputs={"x": InputSpec(value=0.25), "sr": InputSpec(value=2)})["x"]
    assert broadcast.tolist() == [[0.25, 0.25, 0.25]]


@pytest.mark.parametrize("value", [1.5, 300, -1, [[1, 2], [3]]])
def test_values_that_do_not_fit_are_refused(repo: Path, value: object) -> None:
    signature = [TensorSpec("x", "uint8", (2,))]
    with pytest.raises(ProbeError) as caught:
        synth(signature, repo, inputs={"x": InputSpec(value=value)})
    assert caught.value.path == "latency.inputs.x.value"


def test_value_that_does_not_broadcast_is_refused(repo: Path) -> None:
    signature = [TensorSpec("x", "float32", (2, 3))]
    with pytest.raises(ProbeError, match="cannot be broadcast"):
        synth(signature, repo, inputs={"x": InputSpec(value=[1.0, 2.0])})


@pytest.mark.parametrize("dtype", ["float16", "float64", "int8", "int16", "int64", "uint8",
                                   "uint16", "uint32", "uint64", "bool"])
def test_every_supported_dtype(repo: Path, dtype: str) -> None:
    array = synth([TensorSpec("x", dtype, (2, 3))], repo)["x"]
    assert array.dtype == np.dtype(dtype) and array.shape == (2, 3)


@pytest.mark.parametrize(("elem_type", "words"), [
    (T.STRING, "string tensor"), (T.BFLOAT16, "bfloat16"), (T.COMPLEX64, "complex64"),
])
def test_unsupported_element_types(repo: Path, elem_type: int, words: str) -> None:
    signature = load_signature(models.typed_model(repo / "m.onnx", elem_type))
    with pytest.raises(ProbeError, match=words) as caught:
        synth(signature, repo)
    # No key or flag could feed it, so none is suggested.
    assert caught.value.path == "latency" and not isinstance(caught.value, ProbeNeedsValues)
    assert "--input" not in caught.value.message and "latency.inputs" not in caught.value.message


def test_sequence_input_is_refused_with_no_flag(repo: Path) -> None:
    with pytest.raises(ProbeError, match="is a sequence, not a tensor") as caught:
        synth([TensorSpec("frames", "sequence", None), TensorSpec("x", "float32", ("b", "t"))],
              repo)
    assert caught.value.path == "latency" and "--" not in caught.value.message


def test_npy_file_input(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    (repo / "samples").mkdir()
    np.save(repo / "samples" / "idx.npy", np.array([4, 0, 2], np.int32))
    feeds = synth(signature, repo, inputs={"idx": InputSpec(file="../samples/idx.npy")})
    assert feeds["idx"].tolist() == [4, 0, 2]


def test_npy_file_with_the_wrong_dtype(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    np.save(repo / "models" / "idx.npy", np.array([1, 2], np.int64))
    with pytest.raises(ProbeError, match="holds int64") as caught:
        synth(signature, repo, inputs={"idx": InputSpec(file="idx.npy")})
    assert caught.value.path == "latency.inputs.idx.file"


def test_pickled_object_array_is_refused(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    np.save(repo / "models" / "idx.npy", np.array([1, "two", None], dtype=object),
            allow_pickle=True)
    with pytest.raises(ProbeError, match="never unpickles") as caught:
        synth(signature, repo, inputs={"idx": InputSpec(file="idx.npy")})
    assert caught.value.path == "latency.inputs.idx.file"


def test_file_outside_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    np.save(tmp_path / "outside.npy", np.array([1], np.int32))
    with pytest.raises(ProbeError, match="outside the repository") as caught:
        synth(signature, repo, inputs={"idx": InputSpec(file="../../outside.npy")})
    assert caught.value.path == "latency.inputs.idx.file"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_escaping_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    np.save(tmp_path / "outside.npy", np.array([1], np.int32))
    (repo / "models" / "link.npy").symlink_to(tmp_path / "outside.npy")
    with pytest.raises(ProbeError, match="outside the repository"):
        synth(signature, repo, inputs={"idx": InputSpec(file="link.npy")})


@pytest.mark.parametrize(("name", "words"), [("missing.npy", "does not exist"),
                                             ("data.txt", "not a .npy file")])
def test_bad_file_paths(repo: Path, name: str, words: str) -> None:
    (repo / "models" / "data.txt").write_text("1 2 3")
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    with pytest.raises(ProbeError, match=words):
        synth(signature, repo, inputs={"idx": InputSpec(file=name)})


def test_absolute_file_path_is_refused(repo: Path) -> None:
    signature = load_signature(models.gather_model(repo / "models" / "m.onnx"))
    np.save(repo / "models" / "idx.npy", np.array([1], np.int32))
    with pytest.raises(ProbeError, match="relative"):
        synth(signature, repo, inputs={"idx": InputSpec(file=str(repo / "models" / "idx.npy"))})


def test_oversized_input_is_refused_before_allocation(repo: Path) -> None:
    signature = load_signature(models.image_model(repo / "m.onnx"))
    with pytest.raises(ProbeError, match="GiB") as caught:
        synth(signature, repo, dims={"batch": 1024, "h": 1024, "w": 1024})
    assert caught.value.path == "latency.dims"


def test_a_refusal_also_asks_for_the_integer_that_picks_a_branch(repo: Path) -> None:
    signature = [TensorSpec("audio", "float32", ("batch", "samples")),
                 TensorSpec("sr", "int64", ()), TensorSpec("gain", "float32", ())]
    with pytest.raises(ProbeNeedsValues) as caught:
        synthesize_inputs(signature, LatencySpec(), root=repo, base_dir=repo,
                          branch_inputs={"sr", "gain"})
    message = caught.value.message
    assert "dimension 'samples'" in message and "the value of input 'sr'" in message
    assert "'gain'" not in message  # a float is not a mode
    snippet, flags = _snippet_and_flags(message)
    assert snippet == {"latency": {"dims": {"samples": "SIZE"}, "inputs": {"sr": {"value": "V"}}}}
    assert flags == ["--dim", "samples=SIZE", "--input", "sr=value:V"]
    # Once the sizes are given, nothing is refused: the run itself tells whether sr matters.
    feeds = synthesize_inputs(signature, LatencySpec(dims={"samples": 512}), root=repo,
                              base_dir=repo, branch_inputs={"sr"})
    assert feeds["audio"].shape == (1, 512) and feeds["sr"].shape == ()
