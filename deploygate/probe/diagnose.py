"""Turn onnxruntime's and the probe child's error output into one readable line."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ORT_STATUS = re.compile(r"^\s*\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*")
_ORT_LOG = re.compile(r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?:\S+ )?\[([EWIFV]):onnxruntime:"
                      r"[^\]]*\]\s*")
_NODE = re.compile(r"Non-zero status code returned while running (\S+) node\. Name:'([^']*)' "
                   r"Status Message:\s*")
_SOURCE = re.compile(r"(?:\S+/)?\S+\.(?:h|hpp|cc|cpp|cu):\d+ ")
_OOM_MARKS = ("bad_alloc", "MemoryError", "Failed to allocate memory", "out of memory",
              "Cannot allocate memory", "std::length_error",
              # what an import reports when the address-space cap leaves no room to map a library
              "failed to map segment from shared object")

MAX_LINE = 300
"""Longest error line shown; ORT messages can carry whole shapes and type lists."""


def clean_ort_message(text: str) -> str:
    """One line from an onnxruntime error: status prefixes and C++ source locations removed."""
    line = _ANSI.sub("", text).strip().splitlines()[0] if text.strip() else ""
    line = _ORT_LOG.sub("", line)
    line = _ORT_STATUS.sub("", line)
    prefix = ""
    # Control flow nests the messages (If node: ... Reshape node: ...); the innermost names the
    # node that actually failed.
    while node := _NODE.search(line):
        prefix = f"{node.group(1)} node {node.group(2)!r}: " if node.group(2) else \
            f"{node.group(1)} node: "
        line = line[node.end():]
    source = _SOURCE.match(line)
    if source:
        rest = line[source.end():]
        # ORT_ENFORCE messages read "file.h:91 Func(args) condition was false. Explanation";
        # the explanation is what a user can act on.
        _, sep, after = rest.partition(" was false.")
        line = after.strip() if sep and after.strip() else rest
    line = " ".join((prefix + line).split())
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE - 1] + "…"
    return line


def first_error_line(stderr: str) -> str:
    """The first line of ``stderr`` that says what went wrong (a traceback's last line first)."""
    lines = [_ANSI.sub("", ln).rstrip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return ""
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        for ln in reversed(lines):
            if not ln.startswith((" ", "\t")):
                return clean_ort_message(ln)
    for ln in lines:
        log = _ORT_LOG.match(ln)
        if log and log.group(1) in "EF":
            return clean_ort_message(ln)
        if not log and ("error" in ln.lower() or "terminate called" in ln
                        or any(mark in ln for mark in _OOM_MARKS)):
            return clean_ort_message(ln)
    return clean_ort_message(lines[-1])


def looks_like_out_of_memory(text: str) -> bool:
    """Whether an error text reports a failed allocation."""
    return any(mark in text for mark in _OOM_MARKS)
