"""Child processes that run deploygate's own modules (the probe, calibration, the HDF5 reader).

A child starts as ``python -m deploygate...``, and ``-m`` puts the working folder first on
``sys.path``: run from the repository under test, a pull request's ``numpy.py`` or
``deploygate/`` folder would be imported in deploygate's place and run. Every child therefore
starts in deploygate's own folder (``PACKAGE_PARENT``) with that folder on ``PYTHONPATH``, in a
session of its own so that killing it kills its process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import deploygate

PACKAGE_PARENT = str(Path(deploygate.__file__).resolve().parent.parent)
"""The folder holding the ``deploygate`` package: every child's working folder."""

NEW_SESSION = os.name == "posix"
"""Whether children start in a session (and process group) of their own."""


def module_command(module: str, *args: str) -> list[str]:
    """The command line that runs deploygate's ``module`` with ``args`` in this Python."""
    return [sys.executable, "-m", module, *args]


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with deploygate importable first, and ``overrides``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    env.update(overrides)
    return env


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and its process group (threads and grandchildren included); never raises
    for a child that is already gone."""
    try:
        if NEW_SESSION:
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - no process groups
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone
