"""Keras models read with h5py, header-only: never loaded with Keras, never deserialized.

Three containers are recognized:

- Keras 3 ``.keras``: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``;
- the legacy HDF5 model (``model.save("m.h5")``): the config in the root's ``model_config``
  attribute, weights under ``model_weights/``, the optimizer's under ``optimizer_weights/``;
- weights alone (``save_weights``, ``.weights.h5``): ``layers/.../vars/N`` datasets (Keras 3)
  or layer groups with ``weight_names`` (Keras 2).

``params`` counts the elements of every weight dataset, read from its shape (h5py reads the
object headers, not the data). libhdf5 runs in a child process with a deadline and a memory
cap: a crafted file can make it loop, and that must not hang the gate. The optimizer's
variables are training state, reported apart as in a PyTorch training checkpoint. A
``Lambda`` layer stores its function as marshalled Python bytecode in the config: loading
runs it, so the file ``contains_code``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from deploygate import children
from deploygate.artifacts.base import DG205, DG211, ArtifactInfo, TensorSpec
from deploygate.errors import DG202, ArtifactError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_ZIP_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
WEIGHTS_MEMBER = "model.weights.h5"
MAX_CONFIG_BYTES = 16 << 20  # a model's config is JSON text: kilobytes, megabytes at most
MAX_DATASETS = 200_000  # HDF5 objects visited; a large model has a few thousand
MAX_JSON_DEPTH = 200
READ_TIMEOUT_S = 60.0  # the HDF5 child's deadline; a real model's headers take well under 1 s
CHILD_MEMORY_CAP = 2 << 30  # the HDF5 child's address space
OPTIMIZER_GROUPS = ("optimizer_weights", "optimizer")
"""Top-level groups holding the optimizer's variables (Keras 2 full models, Keras 3)."""
CODE_CLASSES = frozenset({"Lambda", "__lambda__"})
"""Config class names whose config carries a Python function's bytecode."""

_READ_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, OSError, ValueError, KeyError,
                                             TypeError, RuntimeError)
"""What h5py and zipfile raise on a broken or hostile file."""


class _Corrupt(Exception):
    pass


_CHILD_ERRORS: tuple[type[Exception], ...] = (*_READ_ERRORS, _Corrupt, MemoryError,
                                              RecursionError)


def inspect(path: Path, display: str) -> ArtifactInfo:
    """Read a Keras model's config and weight shapes; never load it with Keras."""
    if not _h5py_installed():
        raise ArtifactError("a Keras model needs h5py to be read: pip install "
                            "'deploygate[keras]'", file=display, rule=DG205) from None
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            if f.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
                return _from_hdf5(path, None, display, size, "hdf5", None)
            f.seek(0)
            return _from_zip(f, path, display, size)
    except _Corrupt as e:
        raise ArtifactError(f"corrupt Keras file: {e}; re-save the model", file=display,
                            rule=DG202) from None
    except _READ_ERRORS as e:
        raise ArtifactError(f"cannot read the Keras file ({type(e).__name__}: {e}); re-save "
                            "the model", file=display, rule=DG202) from None


def _h5py_installed() -> bool:
    try:
        return importlib.util.find_spec("h5py") is not None
    except ValueError:  # imported as None: blocked on purpose
        return False


def _from_zip(f: IO[bytes], path: Path, display: str, size: int) -> ArtifactInfo:
    with zipfile.ZipFile(f) as zf:
        names = {i.filename: i for i in zf.infolist()}
        missing = [n for n in ("config.json", WEIGHTS_MEMBER) if n not in names]
        if missing:
            raise _Corrupt(f"a .keras archive without {', '.join(missing)}")
        config_info = names["config.json"]
        if config_info.file_size > MAX_CONFIG_BYTES:
            raise _Corrupt(f"config.json is {config_info.file_size} bytes "
                           f"(limit {MAX_CONFIG_BYTES >> 20} MiB)")
        config = _parse_config(zf.read(config_info))
        metadata: dict[str, Any] = {}
        if "metadata.json" in names and names["metadata.json"].file_size <= 1 << 16:
            parsed = _json(zf.read("metadata.json"))
            metadata = parsed if isinstance(parsed, dict) else {}
        weights = names[WEIGHTS_MEMBER]
        if weights.compress_type != zipfile.ZIP_STORED:
            # h5py seeks around the member; a compressed one would be inflated over and over
            raise _Corrupt(f"{WEIGHTS_MEMBER} is compressed (Keras stores it uncompressed)")
        info = _from_hdf5(path, WEIGHTS_MEMBER, display, size, "keras", config)
    if isinstance(metadata.get("keras_version"), str):
        info.details["keras_version"] = metadata["keras_version"][:32]
    return info


def _from_hdf5(path: Path, member: str | None, display: str, size: int, container: str,
               config: Any) -> ArtifactInfo:
    facts = _read_in_child(path, member, display)
    if config is None and facts["model_config"] is not None:
        config = _parse_config(facts["model_config"])
    weights = [tuple(w) for w in facts["weights"]]
    optimizer = [tuple(w) for w in facts["optimizer"]]
    optimizer_groups = list(facts["optimizer_groups"])
    keras_version, backend = facts["keras_version"], facts["backend"]
    if not weights:
        what = "a config and no weights" if config is not None else "no weight datasets"
        raise ArtifactError(f"not a model: the Keras file holds {what}; save the trained model "
                            "(model.save) and point `path` at it", file=display, rule=DG211)
    by_dtype: dict[str, int] = {}
    for dtype, elements, itemsize in weights:
        by_dtype[dtype] = by_dtype.get(dtype, 0) + elements * itemsize
    code_layers = sorted(set(_code_layers(config))) if config is not None else []
    if len(code_layers) > 1:
        # a Lambda layer's function is itself a __lambda__ object: name the layer once
        code_layers = [n for n in code_layers if n != "__lambda__"]
    details: dict[str, Any] = {
        "container": container,
        "keras_version": keras_version,
        "backend": backend,
        "weight_count": len(weights),
        "has_config": config is not None,
    }
    if isinstance(config, dict):
        details["model_class"] = str(config.get("class_name"))[:64]
        layers = (config.get("config") or {}).get("layers") if isinstance(
            config.get("config"), dict) else None
        if isinstance(layers, list):
            details["layer_count"] = len(layers)
    if code_layers:
        details["code_layers"] = code_layers[:20]
        details["note"] = ("Lambda layers store Python bytecode in the config: loading the "
                           "model runs it")
    training_state = None
    if optimizer:
        nbytes = sum(n * i for _, n, i in optimizer)
        training_state = {"kind": "training", "model_keys": ["model weights"], "bytes": nbytes,
                          "parts": {"optimizer": {"keys": optimizer_groups,
                                                  "tensors": len(optimizer),
                                                  "elements": sum(n for _, n, _ in optimizer),
                                                  "bytes": nbytes}}}
    return ArtifactInfo(
        path=display, format="keras", size_bytes=size,
        params=sum(n for _, n, _ in weights), bytes_by_dtype=dict(sorted(by_dtype.items())),
        inputs=tuple(_inputs(config)), files=(path.name,), details=details, runnable=False,
        contains_code=bool(code_layers), training_state=training_state)


def _read_in_child(path: Path, member: str | None, display: str) -> dict[str, Any]:
    """The HDF5 facts, read by libhdf5 in a child process with a deadline and a memory cap.

    libhdf5 is a C library that was not written for hostile input: a crafted file can make it
    loop or crash. In a child, that is a corrupt file (DG202), never a hung or killed gate.
    """
    proc = subprocess.Popen(
        children.module_command("deploygate.artifacts.keras", str(path.resolve()), member or ""),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=children.PACKAGE_PARENT, env=children.child_environment(),
        start_new_session=children.NEW_SESSION, close_fds=True)
    try:
        out, err = proc.communicate(timeout=READ_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        children.kill_group(proc)
        proc.wait()
        raise _Corrupt(f"reading its HDF5 structure took over {READ_TIMEOUT_S:g} s (a file "
                       "built to make libhdf5 loop)") from None
    finally:
        if proc.poll() is None:
            children.kill_group(proc)
            proc.wait()
    line = out.decode("utf-8", "replace").strip().splitlines()[-1:] if out else []
    try:
        answer = json.loads(line[0]) if line else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        why = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [
            f"exit status {proc.returncode}"]
        raise _Corrupt(f"libhdf5 could not read it ({why[0][:200]})")
    if "error" in answer:
        raise _Corrupt(str(answer["error"])[:300])
    return answer


def _child_main(argv: list[str]) -> None:
    """The child: read one HDF5 file (or a zip member) and print its facts as one JSON line."""
    if hasattr(os, "fork"):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_CAP, CHILD_MEMORY_CAP))
    path, member = Path(argv[0]), argv[1] or None
    try:
        if member is None:
            with path.open("rb") as f:
                facts = _hdf5_facts(f)
        else:
            with zipfile.ZipFile(path) as zf, zf.open(member) as f:
                facts = _hdf5_facts(f)
    except _CHILD_ERRORS as e:
        facts = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(facts), flush=True)


def _hdf5_facts(f: IO[bytes]) -> dict[str, Any]:
    import h5py

    with h5py.File(f, "r") as h5:
        attrs = h5.attrs
        config = _attr_text(attrs["model_config"]) if "model_config" in attrs else None
        if config is not None and len(config) > MAX_CONFIG_BYTES:
            raise _Corrupt(f"the model config is over {MAX_CONFIG_BYTES >> 20} MiB")
        root: Any = h5["model_weights"] if "model_weights" in h5 else h5
        groups = [g for g in OPTIMIZER_GROUPS if g in h5]
        return {
            "model_config": config,
            "weights": list(_datasets(root, skip=OPTIMIZER_GROUPS if root is h5 else ())),
            "optimizer_groups": groups,
            "optimizer": [d for g in groups for d in _datasets(h5[g], skip=())],
            "keras_version": (_attr_text(attrs["keras_version"])[:32]
                              if "keras_version" in attrs else None),
            "backend": _attr_text(attrs["backend"])[:32] if "backend" in attrs else None,
        }


def _datasets(group: Any, skip: tuple[str, ...]) -> Iterator[tuple[str, int, int]]:
    """(dtype, elements, bytes per element) of every dataset under ``group``, headers only."""
    import h5py

    seen = 0
    stack = [group]
    while stack:
        node = stack.pop()
        for name in sorted(node.keys()):
            if node is group and name in skip:
                continue
            seen += 1
            if seen > MAX_DATASETS:
                raise _Corrupt(f"more than {MAX_DATASETS} HDF5 objects")
            # links are not followed: a weight is a dataset stored here, not a pointer elsewhere
            link = node.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            child = node[name]
            if isinstance(child, h5py.Group):
                stack.append(child)
            elif isinstance(child, h5py.Dataset):
                elements = 1
                for d in child.shape or ():
                    elements *= int(d)
                yield child.dtype.name, elements, int(child.dtype.itemsize)


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise _Corrupt("the config nests too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise _Corrupt(f"the config is not JSON ({e})") from None


def _parse_config(raw: bytes | str) -> Any:
    if len(raw) > MAX_CONFIG_BYTES:
        raise _Corrupt(f"the model config is over {MAX_CONFIG_BYTES >> 20} MiB")
    return _json(raw)


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``node``, depth-bounded."""
    if depth > MAX_JSON_DEPTH:
        raise _Corrupt("the config nests too deeply")
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, depth + 1)


def _code_layers(config: Any) -> Iterator[str]:
    """Names of the layers (or objects) whose config carries Python bytecode."""
    for obj in _walk(config):
        cls = obj.get("class_name")
        found = obj.get("config")
        inner: dict[str, Any] = found if isinstance(found, dict) else {}
        if cls in CODE_CLASSES or obj.get("function_type") == "lambda" or (
                inner.get("function_type") == "lambda"):
            yield str(inner.get("name") or obj.get("name") or cls)[:64]


def _inputs(config: Any) -> Iterator[TensorSpec]:
    """Input layers declared in the config, with their batch shape."""
    if config is None:
        return
    for obj in _walk(config):
        if obj.get("class_name") != "InputLayer" or not isinstance(obj.get("config"), dict):
            continue
        inner = obj["config"]
        shape = inner.get("batch_shape", inner.get("batch_input_shape"))
        dtype = inner.get("dtype")
        yield TensorSpec(str(inner.get("name", "input"))[:128],
                         dtype if isinstance(dtype, str) else "float32",
                         tuple(d if isinstance(d, int) and not isinstance(d, bool) else None
                               for d in shape) if isinstance(shape, list) else None)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
