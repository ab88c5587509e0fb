"""Private temporary folders that do not outlive their owner, however it ends.

A folder is removed when its ``with`` block ends (normal exit, an exception, SIGINT or SIGTERM
turned into an exception). A process killed outright (SIGKILL, the OOM killer) runs no cleanup,
so every folder also holds a lock that the kernel releases when its owner dies: the next
deploygate to create a folder sweeps the temporary directory for deploygate folders of this
user whose lock it can take, which are exactly those whose owner is gone (no pid is compared,
so pid reuse and pid namespaces cannot make a live folder look stale).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "deploygate-"
"""Every private folder's name starts with this, then its kind (``probe``, ``base``)."""

LOCK_NAME = ".deploygate-owner"
"""The lock file inside each folder, held (``flock``) by the owner for the folder's life."""

_swept = False


@contextmanager
def private_folder(kind: str) -> Iterator[Path]:
    """A new folder readable by this user only (0700), removed when the block ends."""
    sweep_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    lock = None
    try:
        lock = _hold(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _hold(folder: Path) -> int | None:
    """Create and lock the folder's owner file; its descriptor (None without ``flock``).

    The lock is taken on a file under another name, then renamed into place, so a sweeper never
    sees an owner file that is not yet locked.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: folders are removed on every exit path but a hard kill
        return None
    pending = folder / f"{LOCK_NAME}.new"
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, folder / LOCK_NAME)
    except BaseException:
        os.close(fd)
        raise
    return fd


def sweep_stale(directory: Path | None = None, *, force: bool = False) -> list[Path]:
    """Remove deploygate folders in ``directory`` (the temporary directory) whose owner died.

    Runs once per process unless ``force``; returns what it removed. Only folders of this
    user, that are not links and whose owner file can be locked, are touched.
    """
    global _swept
    if _swept and not force:
        return []
    _swept = True
    try:
        import fcntl
    except ImportError:
        return []
    where = directory or Path(tempfile.gettempdir())
    removed = []
    try:
        names = [n for n in os.listdir(where) if n.startswith(PREFIX)]
    except OSError:
        return []
    for name in names:
        folder = where / name
        try:
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue  # not ours, not a folder, or no owner file (being created, or older)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner is alive
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed
