"""Artifacts stage: detect a model's format from its content and read its headers."""

from __future__ import annotations

import importlib
from pathlib import Path

from deploygate.artifacts.base import ArtifactInfo, TensorSpec

__all__ = ["ArtifactInfo", "TensorSpec", "READERS", "inspect_artifact"]

# format -> module with ``inspect(path: Path, display: str) -> ArtifactInfo``; imported lazily so
# that commands which never inspect (validate) never import onnx or numpy.
READERS: dict[str, str] = {
    "onnx": "deploygate.artifacts.onnx",
    "safetensors": "deploygate.artifacts.safetensors",
    "gguf": "deploygate.artifacts.gguf",
    "pytorch": "deploygate.artifacts.pytorch",
    "tflite": "deploygate.artifacts.tflite",
}


def inspect_artifact(path: Path, *, display: str, declared_format: str | None = None) -> ArtifactInfo:
    """Inspect the file or folder at ``path``; ``display`` is how messages name it."""
    from deploygate.artifacts.detect import detect_format

    fmt = detect_format(path, display)
    module = importlib.import_module(READERS[fmt])
    return module.inspect(path, display)  # type: ignore[no-any-return]
