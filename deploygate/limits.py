"""Every cap deploygate puts on what it reads: what a cap is, the caps no single format owns,
and the table in docs/security.md.

Each cap's value is one constant beside the code that enforces it (so a reader stays
self-contained and ``validate`` never imports onnx); a ``Limit`` names that constant, its unit
and why it exists, and reads the value from it. A format's reader caps are declared in its
``FORMAT.caps`` (``deploygate/artifacts/formats/``); the caps of shared code (manifest, pickle
scanning, probe, engine, ...) are ``LIMITS`` here. ``deploygate.artifacts.formats.all_limits()``
is both, the table's rows.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """One cap: where it lives and what it protects against. Its value is the constant in the
    module that enforces it, nowhere else."""

    module: str
    """Module that defines and enforces it."""
    name: str
    """The constant's name in that module."""
    unit: str
    """``bytes``, ``levels``, ``elements``, ``items``, ``characters``, ``ratio``, ``seconds``."""
    guards: str
    """One sentence: what the cap prevents."""

    @property
    def value(self) -> int | float:
        """The value the defining module has (imports it)."""
        value: int | float = getattr(importlib.import_module(self.module), self.name)
        return value


_M, _A = "deploygate.manifest", "deploygate.artifacts"

LIMITS: tuple[Limit, ...] = (
    Limit(f"{_M}.load", "MAX_MANIFEST_BYTES", "bytes",
          "A manifest is read at most this far, before any parsing."),
    Limit(f"{_M}.load", "MAX_NODES", "items",
          "YAML nodes walked; alias bombs (billion laughs) stop here."),
    Limit(f"{_M}.load", "MAX_DEPTH", "levels",
          "Nesting, checked on the event stream before the YAML composer recurses."),
    Limit(f"{_M}.units", "MAX_QUANTITY", "bytes",
          "Largest size or count a manifest may state; beyond it arithmetic would overflow."),
    Limit("deploygate.merge", "MAX_REPORT_BYTES", "bytes",
          "A shard's JSON report given to `deploygate merge` is read at most this far."),
    Limit("deploygate.findings", "MAX_MESSAGE_CHARS", "characters",
          "Messages quoting names from a file are elided in the middle past this length."),
    Limit(f"{_A}.base", "MAX_RANK", "levels",
          "Dimensions of one tensor in any format (numpy's limit); big-integer products stay small."),
    Limit(f"{_A}.pickle_scan", "MAX_PICKLE_BYTES", "bytes",
          "One pickle walked (a state dict's data.pkl is well under 1 MiB); longer is unsafe."),
    Limit(f"{_A}.pickle_scan", "MAX_OPCODES", "items",
          "Opcodes walked in one pickle (~30 per tensor); past it the pickle is unsafe."),
    Limit(f"{_A}.pickle_scan", "MAX_LINE_BYTES", "bytes",
          "Text opcodes (GLOBAL, INT) read up to a newline."),
    Limit("deploygate.probe", "DEFAULT_MEMORY_CAP", "bytes",
          "Address space (RLIMIT_AS) of the latency probe's child, plus 128 MiB per thread; "
          "under a GPU execution provider, its data segment (RLIMIT_DATA)."),
    Limit("deploygate.probe.inputs", "MAX_INPUT_BYTES", "bytes",
          "Largest single input the probe synthesizes."),
    Limit("deploygate.probe.measure", "MAX_RUNS", "items",
          "Timed runs per model, whatever the time budget."),
    Limit("deploygate.engine", "DEFAULT_TIME_BUDGET_S", "seconds",
          "A whole `check` (--time-budget); what is not judged by then is DG112 (exit 2)."),
    Limit("deploygate.baseline.repository", "GIT_TIMEOUT_S", "seconds",
          "Each git command (rev-parse, ls-tree, cat-file, diff, ls-files) is killed with its "
          "process group past this, or when the time budget ends first."),
    Limit("deploygate.baseline.repository", "MAX_GIT_OUTPUT_BYTES", "bytes",
          "Output kept from one git listing; a blob streams to disk and must be exactly the "
          "size its tree records."),
    Limit("deploygate.baseline.repository", "MAX_BASE_FOLDER_FILES", "items",
          "Files of a folder model (shards, index, config) read from the base, each one `git "
          "cat-file`; more is DG601."),
    Limit("deploygate.baseline.repository", "LFS_SMUDGE_TIMEOUT_S", "seconds",
          "Each `git lfs smudge` of a base pointer (cut to what is left of the time budget); "
          "its output is capped at the size the pointer records."),
    Limit("deploygate.targets.calibrate", "MAX_CACHE_BYTES", "bytes",
          "host.json is read at most this far (no links followed, only plausible figures used)."),
)
"""Every cap not owned by one format (a format declares its reader's caps in its ``FORMAT``);
the probe's wall-clock limit is the manifest's ``latency.timeout_s``."""

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


def render_limits_markdown(limits: Iterable[Limit]) -> str:
    """The limits table of docs/security.md: ``limits`` (every cap is
    ``deploygate.artifacts.formats.all_limits()``), then the probe's wall-clock default."""
    lines = ["| cap | value | where | what it prevents |", "| --- | --- | --- | --- |"]
    for limit in limits:
        lines.append(f"| `{limit.name}` | {_shown(limit)} | `{limit.module}` | {limit.guards} |")
    lines.append(f"| `latency.timeout_s` | {PROBE_TIMEOUT_DEFAULT_S} seconds by default | "
                 "the manifest | The probe's child process is killed after this wall time. |")
    return "\n".join(lines) + "\n"
