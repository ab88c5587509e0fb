"""What inspection knows about one model artifact: the boundary type of the artifacts stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from deploygate.rules import Outcome, Rule

if TYPE_CHECKING:
    from deploygate.artifacts.llm import LlmShape

MAX_RANK = 64
"""Dimensions of one tensor in any format (numpy's own limit): a longer shape is a hostile
header, and multiplying thousands of large dimensions costs quadratic time in big integers."""

Dim = int | str | None
"""A dimension: a fixed size, a symbolic name (``batch``), or None when unnamed and unknown."""


DG201 = Rule("DG201", "artifact-missing", Outcome.CANNOT_JUDGE,
             "The model path does not exist.",
             "Fix `path`, or commit the model file.")

DG203 = Rule("DG203", "artifact-unsafe", Outcome.VIOLATION,
             "The model file would run code when loaded (e.g. a pickle calling os.system).",
             "Convert the weights to safetensors; never load this file.")

DG205 = Rule("DG205", "unsupported-format", Outcome.CANNOT_JUDGE,
             "The file is not a model format deploygate reads.",
             "Export to ONNX or safetensors, or set `format`.")

DG213 = Rule("DG213", "folder-not-one-model", Outcome.CANNOT_JUDGE,
             "The model path is a folder that does not hold one model: several model files, "
             "separate checkpoints whose tensor names repeat, or several shard indexes.",
             "Point `path` at the model file, or keep the one shard index that lists its shards.")

DG206 = Rule("DG206", "format-mismatch", Outcome.CANNOT_JUDGE,
             "The manifest's `format` disagrees with the file's content.",
             "Remove `format` or set it to the detected format.")

DG208 = Rule("DG208", "external-data-refused", Outcome.CANNOT_JUDGE,
             "An ONNX external-data location is absolute, escapes the model's folder, is a link, or lies "
             "past the end of its file.",
             "Re-save the model with external data beside it (onnx.save_model(..., location=NAME)).")

DG211 = Rule("DG211", "not-a-model", Outcome.CANNOT_JUDGE,
             "The file holds no model weights: an optimizer's state alone, a checkpoint without "
             "tensors, or a GGUF with no tensors (a vocabulary only).",
             "Point `path` at the file holding the model's weights.")


def as_text(value: Any) -> Any:
    """``value`` with every ``bytes`` in it made text, recursively.

    Format libraries hand back a string field that is not valid UTF-8 as bytes (protobuf does
    for ONNX); past this boundary every name is ``str``, its bad bytes written as escapes.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {as_text(k): as_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_text(v) for v in value)
    return value


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output as the model declares it."""

    name: str
    """Tensor name in the graph."""
    dtype: str
    """numpy-style element type: float32, float16, bfloat16, int64, bool, string, ..."""
    shape: tuple[Dim, ...] | None
    """Dimensions; None when the rank itself is unknown."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", as_text(self.name))
        object.__setattr__(self, "dtype", as_text(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", as_text(self.shape))

    def to_json(self) -> dict[str, Any]:
        """JSON form used by the reports."""
        return {"name": self.name, "dtype": self.dtype,
                "shape": None if self.shape is None else list(self.shape)}


@dataclass(frozen=True)
class GraphFacts:
    """What later stages need of a model's graph, taken from the artifacts stage's one parse."""

    skeleton: bytes
    """The serialized model with the data of every large tensor removed: structure, dims, types
    and small constants (shape tensors, trip counts) stay. The workload stage infers shapes and
    counts FLOPs on it, so the model file is never parsed twice and the weights are never held
    by the analysis."""
    external_data: tuple[str, ...] = ()
    """External-data locations the model names, relative to its folder (checked as safe)."""


@dataclass(frozen=True)
class ArtifactInfo:
    """Facts read from a model's headers; never from its weights."""

    path: str
    """The artifact path as the manifest or the user gave it."""
    format: str
    """Detected format: onnx, safetensors, gguf, pytorch, torchscript, tflite."""
    size_bytes: int
    """Bytes on disk: the file plus external data and every shard."""
    params: int
    """Number of weight elements (initializers, Constant nodes, subgraphs; every shard)."""
    bytes_by_dtype: dict[str, int]
    """Weight bytes per element type (as stored: quantized types by their block size)."""
    inputs: tuple[TensorSpec, ...] = ()
    """True graph inputs (initializers listed as inputs are not inputs)."""
    outputs: tuple[TensorSpec, ...] = ()
    """Graph outputs."""
    files: tuple[str, ...] = ()
    """Every file counted in ``size_bytes``, relative to the artifact's folder."""
    details: dict[str, Any] = field(default_factory=dict)
    """Format-specific facts: opsets, IR version, metadata, architecture, ..."""
    runnable: bool = False
    """Whether the file holds something to run: a graph or weights a probe backend can load
    (``probe/backends`` says which runtime runs which format)."""
    contains_code: bool = False
    """Whether loading it runs code shipped inside it (TorchScript)."""
    training_state: dict[str, Any] | None = None
    """What a training checkpoint holds besides the model's weights (optimizer state, EMA
    copies), kept out of ``params`` and ``bytes_by_dtype``; None for a model file."""
    graph: GraphFacts | None = field(default=None, repr=False)
    """The computation graph, for the stages that analyse it (ONNX); None for weights-only
    formats. Not part of the JSON report."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", as_text(self.details))

    @cached_property
    def llm(self) -> LlmShape | None:
        """The transformer shape of an LLM checkpoint (config.json beside safetensors, GGUF
        metadata), read once from the header facts; None for anything else."""
        from deploygate.artifacts.llm import llm_shape_of

        return llm_shape_of(self.details, self.format)

    @property
    def weights_bytes(self) -> int:
        """Weight bytes in memory when loaded as stored."""
        return sum(self.bytes_by_dtype.values())

    def to_json(self) -> dict[str, Any]:
        """JSON form used by the reports (`artifact` in schemas/report.schema.json)."""
        return {
            "path": self.path,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "params": self.params,
            "bytes_by_dtype": dict(self.bytes_by_dtype),
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "files": list(self.files),
            "contains_code": self.contains_code,
            "details": self.details,
            **({"training_state": self.training_state} if self.training_state else {}),
        }
