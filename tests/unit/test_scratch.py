"""Private temporary folders: removed when their block ends, swept when their owner was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploygate.scratch import LOCK_NAME, PREFIX, private_folder, sweep_stale

PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock")


def _owner(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    """Another process holding a private folder in ``tmp``; returns it and the folder."""
    code = ("import sys, time\nfrom deploygate.scratch import private_folder\n"
            "with private_folder('probe') as folder:\n"
            "    print(folder, flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT, env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    assert folder.parent == tmp and folder.name.startswith(PREFIX + "probe-")
    return proc, folder


def test_the_folder_is_private_and_removed_when_the_block_ends(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    with pytest.raises(KeyboardInterrupt), private_folder("base") as folder:
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / LOCK_NAME).is_file()
        (folder / "x").write_bytes(b"x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_killed_owners_folder_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    live, kept = _owner(tmp_path)
    dead, stale = _owner(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)  # no cleanup runs in it
        dead.wait(timeout=30)
        assert stale.is_dir()

        removed = sweep_stale(tmp_path, force=True)

        assert removed == [stale] and not stale.exists()
        assert kept.is_dir(), "a live owner's folder was swept"
    finally:
        live.kill()
        live.wait(timeout=30)


def test_the_sweep_leaves_other_folders_and_links_alone(tmp_path: Path) -> None:
    unlocked = tmp_path / f"{PREFIX}probe-old"
    unlocked.mkdir()  # no owner file: not provably stale
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / LOCK_NAME).write_bytes(b"")
    (tmp_path / f"{PREFIX}base-link").symlink_to(elsewhere)
    other = tmp_path / "someone-else"
    other.mkdir()
    (other / LOCK_NAME).write_bytes(b"")

    assert sweep_stale(tmp_path, force=True) == []
    assert unlocked.is_dir() and elsewhere.is_dir() and other.is_dir()
