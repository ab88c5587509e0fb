"""Every cap deploygate puts on what it reads, in one table.

Each cap is defined beside the code that enforces it (so a reader stays self-contained and
``validate`` never imports onnx); this module names them all, says why each exists, and
renders the table in docs/security.md. A test keeps the values here equal to the constants
they point at, so the table cannot drift from the code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """One cap: where it lives, its value, and what it protects against."""

    module: str
    """Module that defines and enforces it."""
    name: str
    """The constant's name in that module."""
    value: int | float
    """Its value (checked against the module by the tests)."""
    unit: str
    """``bytes``, ``levels``, ``elements``, ``items``, ``characters``, ``ratio``, ``seconds``."""
    guards: str
    """One sentence: what the cap prevents."""

    def current(self) -> int | float:
        """The value the defining module has now (imports it)."""
        value: int | float = getattr(importlib.import_module(self.module), self.name)
        return value


_M, _A = "deploygate.manifest", "deploygate.artifacts"

LIMITS: tuple[Limit, ...] = (
    Limit(f"{_M}.load", "MAX_MANIFEST_BYTES", 1 << 20, "bytes",
          "A manifest is read at most this far, before any parsing."),
    Limit(f"{_M}.load", "MAX_NODES", 100_000, "items",
          "YAML nodes walked; alias bombs (billion laughs) stop here."),
    Limit(f"{_M}.load", "MAX_DEPTH", 64, "levels",
          "Nesting, checked on the event stream before the YAML composer recurses."),
    Limit(f"{_M}.units", "MAX_QUANTITY", 2**63 - 1, "bytes",
          "Largest size or count a manifest may state; beyond it arithmetic would overflow."),
    Limit("deploygate.merge", "MAX_REPORT_BYTES", 64 << 20, "bytes",
          "A shard's JSON report given to `deploygate merge` is read at most this far."),
    Limit("deploygate.findings", "MAX_MESSAGE_CHARS", 1000, "characters",
          "Messages quoting names from a file are elided in the middle past this length."),
    Limit(f"{_A}.onnx", "PROTOBUF_LIMIT", 2**31 - 1, "bytes",
          "ONNX files over protobuf's limit are refused by size, never read."),
    Limit(f"{_A}.onnx", "MAX_GRAPH_DEPTH", 64, "levels",
          "Subgraph nesting walked (protobuf's own parser stops near 32 graph levels)."),
    Limit(f"{_A}.onnx", "MAX_TENSOR_ELEMENTS", 2**50, "elements",
          "Elements one ONNX tensor may declare; more is a corrupt or hostile header."),
    Limit(f"{_A}.onnx", "MAX_NODES", 200_000, "items",
          "Nodes in a graph, subgraphs and functions, counted on the wire before protobuf parses."),
    Limit(f"{_A}.base", "MAX_RANK", 64, "levels",
          "Dimensions of one tensor in any format (numpy's limit); big-integer products stay small."),
    Limit(f"{_A}.safetensors", "MAX_HEADER_BYTES", 16 << 20, "bytes",
          "safetensors JSON header (~300,000 tensors; parsed JSON costs ~14x its bytes)."),
    Limit(f"{_A}.safetensors", "MAX_INDEX_BYTES", 8 << 20, "bytes",
          "Sharded checkpoint index (model.safetensors.index.json)."),
    Limit(f"{_A}.safetensors", "MAX_CONFIG_BYTES", 1 << 20, "bytes",
          "config.json read beside a checkpoint."),
    Limit(f"{_A}.gguf", "MAX_HEADER_BYTES", 1 << 30, "bytes",
          "GGUF header (metadata and tensor infos), streamed in 1 MiB chunks."),
    Limit(f"{_A}.gguf", "MAX_TENSORS", 100_000, "items",
          "GGUF tensor count (also checked against the bytes left in the file)."),
    Limit(f"{_A}.gguf", "MAX_KVS", 1_000_000, "items",
          "GGUF metadata entries (also checked against the bytes left)."),
    Limit(f"{_A}.gguf", "MAX_STRING_BYTES", 1 << 20, "bytes",
          "Longer GGUF metadata strings are skipped, not read."),
    Limit(f"{_A}.gguf", "MAX_ARRAY_ELEMENTS", 10_000_000, "elements",
          "GGUF metadata array length."),
    Limit(f"{_A}.gguf", "MAX_ARRAY_DEPTH", 8, "levels", "GGUF arrays of arrays."),
    Limit(f"{_A}.gguf", "MAX_DIMS", 4, "items", "Dimensions of one GGUF tensor (GGML_MAX_DIMS)."),
    Limit(f"{_A}.pickle_scan", "MAX_PICKLE_BYTES", 64 << 20, "bytes",
          "One pickle walked (a state dict's data.pkl is well under 1 MiB); longer is unsafe."),
    Limit(f"{_A}.pickle_scan", "MAX_OPCODES", 2_000_000, "items",
          "Opcodes walked in one pickle (~30 per tensor); past it the pickle is unsafe."),
    Limit(f"{_A}.pickle_scan", "MAX_LINE_BYTES", 1 << 16, "bytes",
          "Text opcodes (GLOBAL, INT) read up to a newline."),
    Limit(f"{_A}.pytorch", "MAX_MEMBERS", 100_000, "items",
          "Members of a zip checkpoint, read from the end record before zipfile lists them."),
    Limit(f"{_A}.pytorch", "MAX_CENTRAL_DIRECTORY", 16 << 20, "bytes",
          "Zip central directory size; its records are counted against MAX_MEMBERS first."),
    Limit(f"{_A}.pytorch", "MAX_COMPRESSION_RATIO", 100, "ratio",
          "A compressed zip member expanding more than this is a zip bomb (unsafe)."),
    Limit(f"{_A}.keras", "MAX_CONFIG_BYTES", 16 << 20, "bytes",
          "A Keras model's JSON config (attribute or config.json), read before parsing."),
    Limit(f"{_A}.keras", "MAX_DATASETS", 200_000, "items",
          "HDF5 objects visited in a Keras file's weight groups."),
    Limit(f"{_A}.keras", "READ_TIMEOUT_S", 60.0, "seconds",
          "libhdf5 reads a Keras file in a child killed at this deadline (a crafted file can "
          "make it loop)."),
    Limit(f"{_A}.keras", "CHILD_MEMORY_CAP", 2 << 30, "bytes",
          "Address space of that child."),
    Limit(f"{_A}.tflite", "MAX_VECTOR", 50_000_000, "elements",
          "One FlatBuffers vector (also checked against the bytes left)."),
    Limit(f"{_A}.tflite", "MAX_TENSORS", 500_000, "items", "Tensors in one TFLite subgraph."),
    Limit(f"{_A}.tflite", "MAX_ELEMENTS_WALKED", 250_000, "items",
          "Tables and shape values read in a whole TFLite file (shared vectors count each time)."),
    Limit("deploygate.probe", "DEFAULT_MEMORY_CAP", 8 << 30, "bytes",
          "Address space (RLIMIT_AS) of the latency probe's child, plus 128 MiB per thread."),
    Limit("deploygate.probe.inputs", "MAX_INPUT_BYTES", 4 << 30, "bytes",
          "Largest single input the probe synthesizes."),
    Limit("deploygate.probe.measure", "MAX_RUNS", 100_000, "items",
          "Timed runs per model, whatever the time budget."),
    Limit("deploygate.engine", "DEFAULT_TIME_BUDGET_S", 1800.0, "seconds",
          "A whole `check` (--time-budget); what is not judged by then is DG112 (exit 2)."),
    Limit("deploygate.baseline.repository", "GIT_TIMEOUT_S", 60, "seconds",
          "Each git command (rev-parse, ls-tree, cat-file, diff, ls-files) is killed with its "
          "process group past this, or when the time budget ends first."),
    Limit("deploygate.baseline.repository", "MAX_GIT_OUTPUT_BYTES", 64 << 20, "bytes",
          "Output kept from one git listing; a blob streams to disk and must be exactly the "
          "size its tree records."),
    Limit("deploygate.baseline.repository", "LFS_SMUDGE_TIMEOUT_S", 600.0, "seconds",
          "Each `git lfs smudge` of a base pointer (cut to what is left of the time budget); "
          "its output is capped at the size the pointer records."),
    Limit("deploygate.targets.workload", "MAX_INFERRED_NODES", 250_000, "items",
          "Graph nodes above which shapes are not inferred for the workload (declared ones count)."),
    Limit("deploygate.targets.calibrate", "MAX_CACHE_BYTES", 1 << 20, "bytes",
          "host.json is read at most this far (no links followed, only plausible figures used)."),
)
"""Every cap; the probe's wall-clock limit is the manifest's ``latency.timeout_s``."""

PROBE_TIMEOUT_DEFAULT_S = 120
"""``latency.timeout_s`` when the manifest does not set it (the schema caps it at 86400)."""


def _shown(limit: Limit) -> str:
    value = limit.value
    if limit.unit == "bytes" and isinstance(value, int):
        for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= scale and value % scale == 0:
                return f"{value // scale} {unit}"
        if value in (2**31 - 1, 2**63 - 1):
            return f"2^{value.bit_length()} − 1 bytes"
        return f"{value:,} bytes"
    if limit.unit == "ratio":
        return f"{value}:1"
    if isinstance(value, int) and value >= 2**40 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1} {limit.unit}"
    if isinstance(value, int):
        return f"{value:,} {limit.unit}"
    return f"{value:g} {limit.unit}"


def render_limits_markdown() -> str:
    """The limits table of docs/security.md, generated from LIMITS."""
    lines = ["| cap | value | where | what it prevents |", "| --- | --- | --- | --- |"]
    for limit in LIMITS:
        lines.append(f"| `{limit.name}` | {_shown(limit)} | `{limit.module}` | {limit.guards} |")
    lines.append(f"| `latency.timeout_s` | {PROBE_TIMEOUT_DEFAULT_S} seconds by default | "
                 "the manifest | The probe's child process is killed after this wall time. |")
    return "\n".join(lines) + "\n"
