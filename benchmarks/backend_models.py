"""Real models for the probe's LiteRT and llama.cpp backends, from pinned public distributions.

    python benchmarks/backend_models.py fetch    # download and verify them into the cache

MediaPipe 0.10.14's wheel ships TFLite models (some need MediaPipe's custom operators, which the
probe refuses); llama-cpp-python 0.3.36's sdist vendors llama.cpp and its vocabulary-only GGUF
files, over which the tests build a tiny llama-architecture model. The cache is corpus_cache's
(``$DEPLOYGATE_CORPUS_DIR`` or ``~/.cache/deploygate-corpus``); tests skip what is not cached.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus_cache import Pin, cached, fetch  # noqa: E402

_MEDIAPIPE = ("mediapipe", "0.10.14",
              "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4")
_LLAMA_SDIST = ("llama-cpp-python", "0.3.36", "llama_cpp_python-0.3.36.tar.gz",
                "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e")

FACE_DETECTION = Pin(*_MEDIAPIPE, "mediapipe/modules/face_detection/face_detection_short_range.tflite")
"""A BlazeFace detector on a [1, 128, 128, 3] image: builtin operators only."""
SELFIE_SEGMENTATION = Pin(*_MEDIAPIPE,
                          "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite")
"""Needs MediaPipe's custom operator Convolution2DTransposeBias."""
LLAMA_VOCAB = Pin(*_LLAMA_SDIST,
                  "llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf")
"""llama.cpp's vocabulary-only GGUF for the LLaMA SentencePiece tokenizer (no tensors)."""

PINS = (FACE_DETECTION, SELFIE_SEGMENTATION, LLAMA_VOCAB)


def main(argv: list[str] | None = None) -> int:
    """``fetch``: download and verify every pin; otherwise list where each one is cached."""
    args = sys.argv[1:] if argv is None else argv
    for pin in PINS:
        path = fetch(pin) if args[:1] == ["fetch"] else cached(pin)
        print(f"{pin.name}: {path or 'not cached (run `fetch`)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
