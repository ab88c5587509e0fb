"""Signals during a probe: no process left behind, no temporary folder left, exit 2.

A CI job that is cancelled sends SIGINT, SIGTERM or (after a grace period) SIGKILL to
deploygate while the probe's child, which runs in its own session, measures an endless model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploygate.scratch import sweep_stale
from tests.fixtures import probe_models as models
from tests.hostile.harness import PROJECT, HostileRepo

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(predicate: object, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _default_sigint() -> None:
    # A shell starts a background job with SIGINT ignored, and an ignored SIGINT stays ignored
    # in every program it starts: the deploygate a test runs must get Ctrl-C as a terminal's
    # foreground job does, however the suite itself was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(repo: HostileRepo, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """deploygate check probing an endless Loop; returns it and its probe child's pid."""
    (repo.root / "models").mkdir()
    models.endless_loop_model(repo.root / "models" / "m.onnx")
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge},"
                  " latency: {budget_ms: 10, timeout_s: 120}}\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo.home),
           "PYTHONPATH": str(PROJECT), "TMPDIR": str(tmp), "LC_ALL": "C.UTF-8",
           "DEPLOYGATE_HOST_PEAKS": "100,10"}
    proc = subprocess.Popen([sys.executable, "-m", "deploygate", "check", "--format", "json"],
                            cwd=repo.root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    children: list[int] = []

    def probing() -> bool:
        children[:] = _children_of(proc.pid)
        return bool(children)

    if not _wait(probing, 60):
        proc.kill()
        pytest.fail("the probe's child never started")
    time.sleep(1.0)  # let it get into onnxruntime's run
    return proc, children[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_during_probe_kills_the_child_and_exits_2(
        repo: HostileRepo, tmp_path: Path, sig: signal.Signals) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, child = _start(repo, tmp)
    proc.send_signal(sig)
    _assert_interrupted_cleanly(proc, child, tmp)


def _assert_interrupted_cleanly(proc: subprocess.Popen[bytes], child: int, tmp: Path) -> None:
    """deploygate ends within 30 s with exit 2 and one line, its child gone, nothing left."""
    try:
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err, err.decode()
    assert _wait(lambda: not _alive(child), 10), "the probe's child outlived deploygate"
    assert list(tmp.iterdir()) == [], "a temporary file or folder was left behind"


_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


@pytest.mark.skipif(_TGKILL is None, reason="tgkill's syscall number is known for x86_64 and "
                                            "aarch64 only")
def test_a_signal_taken_by_a_helper_thread_still_ends_the_run(
        repo: HostileRepo, tmp_path: Path) -> None:
    """The kernel may hand a process's SIGINT to any of its threads: here, on purpose, to one of
    the threads reading the child's pipes. Python only sets a flag there, so a main thread that
    waited for the child's next line for the whole timeout (120 s here) ignored the Ctrl-C."""
    import ctypes

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, child = _start(repo, tmp)
    helpers = [int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir()
               if int(t.name) != proc.pid]
    assert helpers, "the probe's pipe readers are threads"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(_TGKILL, proc.pid, helpers[0], int(signal.SIGINT)) == 0
    _assert_interrupted_cleanly(proc, child, tmp)


def test_parent_killed_outright_takes_the_child_with_it(repo: HostileRepo, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, child = _start(repo, tmp)
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.communicate(timeout=30)
    try:
        assert _wait(lambda: not _alive(child), 10), "the probe's child outlived a killed parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
    # Its scratch folder could not be removed by anyone: the next start sweeps it.
    (left,) = tmp.iterdir()
    assert sweep_stale(tmp, force=True) == [left]
    assert list(tmp.iterdir()) == []
