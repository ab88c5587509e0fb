"""The probe's child process: ``python -m deploygate.probe.child``.

Reads one JSON request on stdin, caps its own address space (``RLIMIT_AS``) before importing
numpy or onnxruntime, and writes JSON lines on stdout: ``{"event": "phase" | "progress" |
"result" | "error", ...}``. Only this module writes to the real stdout: file descriptor 1 is
pointed at stderr first, so that nothing native code prints can corrupt the protocol, and the
parent keeps stderr for diagnosis only. No pickle crosses the boundary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO


def _protocol_stream() -> TextIO:
    # Keep a private copy of stdout for the protocol, then send fd 1 to stderr.
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(private, "w", encoding="utf-8", buffering=1)


def _cap_memory(cap_bytes: int | None, kind: str = "address-space") -> None:
    """Cap this process's memory at ``cap_bytes``: its address space (RLIMIT_AS), or for a GPU
    execution provider its data segment (RLIMIT_DATA), since a GPU driver maps address space
    for the device's whole memory and cannot start under an address-space cap."""
    if not cap_bytes:
        return
    try:
        import resource
    except ImportError:  # not POSIX: no cap (documented)
        return
    limit = resource.RLIMIT_DATA if kind == "data" else resource.RLIMIT_AS
    soft, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        cap_bytes = min(cap_bytes, hard)
    resource.setrlimit(limit, (cap_bytes, hard))
    # A crash under the cap must not write a core file the size of the cap.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


PARENT_ENV = "DEPLOYGATE_PROBE_PARENT"
"""The parent's pid: the child must not outlive it (see :func:`_die_with_parent`)."""
WATCHDOG_S = 0.5


def _die_with_parent() -> None:
    """End this process when the parent ends, however it ends (even SIGKILL).

    The child runs in its own session so that a timeout can kill its whole group, which also
    means no terminal or CI signal reaches it: on Linux the kernel sends SIGKILL when the
    parent dies (PR_SET_PDEATHSIG), and everywhere a watchdog thread exits once the parent is
    gone (the parent pid changes when it dies and the child is re-parented).
    """
    expected = os.environ.get(PARENT_ENV)
    if not expected or not expected.isdigit():
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    parent = int(expected)
    if os.getppid() != parent:  # it died before the line above ran
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_S)
        os._exit(1)

    import threading

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main() -> int:
    """Serve one probe request from stdin; always answer with a final result or error line."""
    started = time.monotonic()
    _die_with_parent()
    request = json.loads(sys.stdin.read())
    out = _protocol_stream()

    def emit(event: dict[str, Any]) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    cap = request.get("memory_cap")
    _cap_memory(cap, str(request.get("memory_cap_kind", "address-space")))

    from deploygate.errors import ProbeError, ProbeNeedsValues, ProviderNotStarted
    from deploygate.probe.measure import OutOfMemory, out_of_memory_error, run_probe

    try:
        timeout_s = float(request.get("spec", {}).get("timeout_s", 0)) or None
        result = run_probe(request, emit,
                           deadline=None if timeout_s is None else started + timeout_s)
    except MemoryError:
        error = out_of_memory_error(cap)
        emit({"event": "error", "message": error.message, "path": error.path, "memory": True})
        return 0
    except ProbeError as e:
        emit({"event": "error", "message": e.message, "path": e.path,
              "memory": isinstance(e, OutOfMemory),
              "needs_values": isinstance(e, ProbeNeedsValues),
              "provider_not_started": isinstance(e, ProviderNotStarted)})
        return 0
    emit({"event": "result", "result": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
