"""Parent side of the probe: run the child with a hard timeout and a memory cap.

The child (``python -m deploygate.probe.child``) starts in its own session, so that on timeout
the whole process group, threads and any grandchildren included, is killed with SIGKILL; the
same happens when the parent is interrupted (SIGINT, SIGTERM: the ``finally`` below), and a
child whose parent was killed outright ends itself (``child._die_with_parent``). Its
stdin carries only the JSON request (never the parent's stdin), its stdout JSON lines, and its
stderr (onnxruntime's logging included) is captured and never shown except as one cleaned line
when the child dies without answering.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from deploygate import children
from deploygate.scratch import private_folder

STDERR_KEEP = 64 * 1024
"""Bytes of the child's stderr kept for diagnosis (the first ones; the rest is drained)."""

_EOF = object()


@dataclass(frozen=True)
class ChildOutcome:
    """What the child said before it ended (or was killed)."""

    result: dict[str, Any] | None
    """The measurement, when it finished."""
    error: dict[str, Any] | None
    """A structured error the child reported (message, path)."""
    phase: str | None
    """The last phase the child entered: load, session, first-run, warmup, measure."""
    timed_out: bool
    """Killed at the deadline."""
    returncode: int | None
    """Exit status; negative for a signal."""
    stderr: str = ""
    """The start of the child's stderr."""
    wall_s: float = 0.0
    """Seconds from start to end, in the parent."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every event line, in order (for tests and debugging)."""


def child_environment() -> dict[str, str]:
    """The child's environment: this deploygate importable, helper thread pools kept at one."""
    # numpy's BLAS threads would only compete with onnxruntime's intra-op threads.
    return children.child_environment(OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                                      OMP_NUM_THREADS="1")


SIGNAL_POLL_S = 0.2
"""Longest wait for the child's next line before this thread looks for a signal again."""


def run_child(request: dict[str, Any], *, timeout_s: float,
              progress: Callable[[str], None] | None = None) -> ChildOutcome:
    """Run one probe request in a fresh child; kill its process group at ``timeout_s``."""
    started = time.monotonic()
    from deploygate.probe.child import PARENT_ENV

    # The child's temporary files (onnxruntime writes one on import) go to a private folder
    # that is removed with the child, whichever way the run ends (swept at a later start when
    # deploygate itself was killed outright).
    with private_folder("probe") as folder:
        scratch = str(folder)
        proc = subprocess.Popen(
            children.module_command("deploygate.probe.child"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=children.PACKAGE_PARENT,
            env={**child_environment(), PARENT_ENV: str(os.getpid()),
                 "TMPDIR": scratch, "TEMP": scratch, "TMP": scratch},
            start_new_session=children.NEW_SESSION, close_fds=True,
        )
        return _supervise(proc, request, started, timeout_s, progress)


def _supervise(proc: subprocess.Popen[bytes], request: dict[str, Any], started: float,
               timeout_s: float, progress: Callable[[str], None] | None) -> ChildOutcome:
    assert proc.stdin and proc.stdout and proc.stderr
    lines: queue.Queue[object] = queue.Queue()
    stderr_parts: list[bytes] = []
    threads = [
        threading.Thread(target=_write_request, args=(proc.stdin, request), daemon=True),
        threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, stderr_parts), daemon=True),
    ]
    for t in threads:
        t.start()

    deadline = started + timeout_s
    result = error = None
    phase: str | None = None
    events: list[dict[str, Any]] = []
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            try:
                # Short waits: a signal the kernel hands to one of the reader threads sets
                # Python's flag but does not wake a wait in this thread, so a long wait would
                # hold a Ctrl-C or a cancelled job's SIGTERM until the child's next line.
                item = lines.get(timeout=min(remaining, SIGNAL_POLL_S))
            except queue.Empty:
                continue
            if item is _EOF:
                break
            event = _parse(item)
            if event is None:
                continue
            events.append(event)
            kind = event.get("event")
            if kind == "phase":
                phase = str(event.get("phase"))
            elif kind == "progress" and progress is not None:
                progress(str(event.get("message", "")))
            elif kind == "result":
                result = event.get("result")
            elif kind == "error":
                error = event
        if not timed_out:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = result is None and error is None
    finally:
        if proc.poll() is None:
            children.kill_group(proc)
        proc.wait()
        for t in threads:
            t.join(timeout=5)
    stderr = b"".join(stderr_parts).decode("utf-8", errors="replace")
    return ChildOutcome(result=result, error=error, phase=phase, timed_out=timed_out,
                        returncode=proc.returncode, stderr=stderr,
                        wall_s=time.monotonic() - started, events=events)


def _write_request(stream: IO[bytes], request: dict[str, Any]) -> None:
    try:
        stream.write(json.dumps(request).encode("utf-8"))
        stream.close()
    except (BrokenPipeError, OSError):
        pass  # the child died before reading; its exit status tells why


def _read_lines(stream: IO[bytes], out: queue.Queue[object]) -> None:
    try:
        for line in stream:
            out.put(line)
    finally:
        out.put(_EOF)


def _drain(stream: IO[bytes], keep: list[bytes]) -> None:
    kept = 0
    while chunk := stream.read(8192):
        if kept < STDERR_KEEP:
            keep.append(chunk[:STDERR_KEEP - kept])
            kept += len(keep[-1])


def _parse(raw: object) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None
    return event if isinstance(event, dict) else None
