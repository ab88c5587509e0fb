"""Artifacts stage: detect a model's format from its content and read its headers."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from deploygate.artifacts.base import ArtifactInfo, TensorSpec
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG201, DG205, DG206
from deploygate.errors import DG202

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

# A manifest `format` accepts the detected formats it covers: a TorchScript archive is a
# PyTorch file as far as the person writing the manifest is concerned.
FORMAT_ALIASES: dict[str, frozenset[str]] = {
    "pytorch": frozenset({"pytorch", "torchscript"}),
}


def inspect_artifact(path: Path, *, display: str, declared_format: str | None = None) -> ArtifactInfo:
    """Inspect the file or folder at ``path``; ``display`` is how messages name it."""
    from deploygate.artifacts.detect import detect_format

    try:
        if not path.exists():
            raise ArtifactError("no such file or folder; fix `path` or commit the model",
                                file=display, rule=DG201)
        if path.is_dir():
            target, target_display, fmt = _resolve_folder(path, display)
        else:
            target, target_display = path, display
            fmt = detect_format(path, display)
        _check_declared(fmt, declared_format, display)
        reader = READERS.get(fmt)
        if reader is None:
            raise ArtifactError(
                f"recognised as {fmt}, which this version cannot inspect yet; "
                "export to ONNX or safetensors", file=display, rule=DG205)
        module = importlib.import_module(reader)
        info: ArtifactInfo = module.inspect(target, target_display)
    except OSError as e:
        # Permissions, a vanished file, an I/O error: the artifact cannot be read.
        raise ArtifactError(f"cannot read the artifact ({e.strerror or e}); check the file",
                            file=display, rule=DG202) from e
    # The reader may refine the format (a zip turns out to be TorchScript).
    _check_declared(info.format, declared_format, display)
    # A folder holding one model file is still the artifact the manifest named.
    return info if info.path == display else dataclasses.replace(info, path=display)


def _resolve_folder(folder: Path, display: str) -> tuple[Path, str, str]:
    """What to inspect for a folder: its shards, or the one model file it holds."""
    from deploygate.artifacts.detect import EXTENSION_HINTS, detect_format

    files = sorted(p for p in folder.iterdir() if p.is_file())
    if any(p.name.endswith((".safetensors", ".safetensors.index.json")) for p in files):
        return folder, display, "safetensors"
    models = [p for p in files if p.suffix.lower() in EXTENSION_HINTS]
    onnx_files = [p for p in models if p.suffix.lower() == ".onnx"]
    # An ONNX model's external data may carry any name (weights.bin looks like PyTorch), so a
    # folder with a single .onnx file means that model.
    chosen = models if len(models) == 1 else onnx_files
    if len(chosen) != 1:
        found = ", ".join(p.name for p in models) or "none"
        raise ArtifactError(
            f"a folder must hold safetensors shards or exactly one model file (found: {found}); "
            "point `path` at the model file", file=display, rule=DG205)
    model = chosen[0]
    model_display = f"{display.rstrip('/')}/{model.name}"
    return model, model_display, detect_format(model, model_display)


def _check_declared(detected: str, declared: str | None, display: str) -> None:
    if declared is None:
        return
    if detected not in FORMAT_ALIASES.get(declared, frozenset({declared})):
        manifest_name = next((k for k, v in FORMAT_ALIASES.items() if detected in v), detected)
        raise ArtifactError(
            f"the manifest says format {declared!r} but the content is {detected}; "
            f"set `format: {manifest_name}` or remove `format`", file=display, rule=DG206)
