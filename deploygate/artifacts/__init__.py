"""Artifacts stage: detect a model's format from its content and read its headers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deploygate.artifacts import formats
from deploygate.artifacts.base import DG201, DG205, DG206, DG213, ArtifactInfo, TensorSpec
from deploygate.errors import DG202, ArtifactError

__all__ = ["ArtifactInfo", "TensorSpec", "inspect_artifact"]


def inspect_artifact(path: Path, *, display: str, declared_format: str | None = None,
                     allow_globals: frozenset[str] = frozenset()) -> ArtifactInfo:
    """Inspect the file or folder at ``path``; ``display`` is how messages name it.

    ``allow_globals`` are the pickle globals the manifest's ``security.allow_globals`` accepts
    (read by the formats whose files hold pickles).
    """
    from deploygate.artifacts.detect import detect_format

    try:
        if not path.exists():
            raise ArtifactError("no such file or folder; fix `path` or commit the model",
                                file=display, rule=DG201)
        if path.is_dir():
            target, target_display, fmt = _resolve_folder(path, display)
        elif not path.is_file():
            # A FIFO or a device: opening it could wait forever or never reach an end.
            raise ArtifactError("not a regular file (a pipe or device?); point `path` at the "
                                "model file", file=display, rule=DG202)
        else:
            target, target_display = path, display
            fmt = detect_format(path, display)
        _check_declared(fmt, declared_format, display)
        reader = formats.FORMATS.get(fmt)
        if reader is None:
            raise ArtifactError(
                f"recognised as {fmt}, which this version cannot inspect yet; "
                "export to ONNX or safetensors", file=display, rule=DG205)
        info = reader.read(target, target_display, allow_globals=allow_globals)
        _judge_as_pickle_too(target, target_display, info.format, allow_globals)
    except OSError as e:
        # Permissions, a vanished file, an I/O error: the artifact cannot be read.
        raise ArtifactError(f"cannot read the artifact ({e.strerror or e}); check the file",
                            file=display, rule=DG202) from e
    # The reader may refine the format (a zip turns out to be TorchScript).
    _check_declared(info.format, declared_format, display)
    # A folder holding one model file is still the artifact the manifest named.
    return info if info.path == display else dataclasses.replace(info, path=display)


def _judge_as_pickle_too(path: Path, display: str, detected: str,
                         allow_globals: frozenset[str]) -> None:
    """A file named like a PyTorch checkpoint is also judged as the pickle torch.load reads.

    Content decides the format, but whoever loads ``model.pt`` calls torch.load on it: a
    pickle that also parses as another format (a TFLite polyglot) must not pass as that one.
    """
    pytorch = formats.FORMATS.get("pytorch")
    if pytorch is None or detected in pytorch.names or not path.is_file() or \
            formats.for_suffix(path.name) is not pytorch:
        return
    from deploygate.artifacts.pytorch import refuse_unsafe_pickle

    refuse_unsafe_pickle(path, display, allow_globals=allow_globals)


def _resolve_folder(folder: Path, display: str) -> tuple[Path, str, str]:
    """What to inspect for a folder: its shards, or the one model file it holds."""
    from deploygate.artifacts.detect import contained, detect_format

    files = sorted(p for p in folder.iterdir() if p.is_file())
    for fmt in formats.FORMATS.values():
        if fmt.shards and any(p.name.endswith(fmt.shards) for p in files):
            return folder, display, fmt.name
    models = [p for p in files if formats.for_suffix(p.name) is not None]
    # A model that names its companions (ONNX external data may carry any name: weights.bin
    # looks like PyTorch) is the folder's model when it is the only one of its format.
    naming = [p for p in models if (f := formats.for_suffix(p.name)) is not None and f.companions]
    chosen = models if len(models) == 1 else naming
    if len(chosen) != 1:
        found = ", ".join(p.name for p in models) or "none"
        raise ArtifactError(
            f"a folder must hold safetensors shards or exactly one model file (found: {found}); "
            "point `path` at the model file", file=display, rule=DG213)
    model_display = f"{display.rstrip('/')}/{chosen[0].name}"
    model = contained(folder, chosen[0], model_display)
    return model, model_display, detect_format(model, model_display)


def _check_declared(detected: str, declared: str | None, display: str) -> None:
    if declared is None:
        return
    declared_format = formats.FORMATS.get(declared)
    if declared_format is None or detected not in declared_format.names:
        owner = formats.owner(detected)
        manifest_name = owner.name if owner is not None else detected
        raise ArtifactError(
            f"the manifest says format {declared!r} but the content is {detected}; "
            f"set `format: {manifest_name}` or remove `format`", file=display, rule=DG206)
