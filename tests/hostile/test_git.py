"""git and git-lfs are subprocesses like any other: a hung one is killed with its process group
within the check's time budget and reported as one DG6xx line, and nothing is left running.

The hung programs are real executables placed first on PATH (a git whose object store hangs, a
git-lfs whose download never ends); the LFS case reads a real repository with real git.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.fixtures.git_repos import commit_all, init_repo, matmul_chain
from tests.fixtures.lfs import pointer_for
from tests.hostile.harness import WALL_LIMIT_S, HostileRepo

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups, shell scripts")

BUDGET_S = 8
"""--time-budget of these runs: the hung program must be gone well within WALL_LIMIT_S."""


def _hanging(folder: Path, name: str, pids: Path) -> Path:
    """An executable ``name`` in ``folder`` that records its pid and a grandchild's, then hangs."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nsleep 600 &\necho $! >> '{pids}'\n"
                      "wait\n")
    script.chmod(0o755)
    return script


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc: kill(0) said it exists
    return state != "Z"


def _none_left(pids: Path) -> None:
    started = [int(p) for p in pids.read_text().split()] if pids.exists() else []
    assert started, "the hung program never ran"
    end = time.monotonic() + 5
    while any(_alive(p) for p in started) and time.monotonic() < end:
        time.sleep(0.1)
    left = [p for p in started if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def test_a_hung_git_is_killed_at_the_time_budget(repo: HostileRepo, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    shim = tmp_path / "bin"
    _hanging(shim, "git", pids)
    matmul_chain(repo.root / "models" / "m.onnx", width=4, depth=1)
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge}, "
                  "baseline: {ref: main, max_size_increase: 10%}}\n")

    outcome = repo.run("check", "--format", "json", "--no-probe", "--time-budget", str(BUDGET_S),
                       env={"PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"})

    repo.expect(outcome, 2, rule="DG601", says=["git rev-parse", "killed", "time budget"])
    assert outcome.seconds < WALL_LIMIT_S, outcome.describe()
    _none_left(pids)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_hung_lfs_smudge_is_cut_to_the_time_budget(repo: HostileRepo, tmp_path: Path) -> None:
    shutil.rmtree(repo.root / ".git")
    init_repo(repo.root)
    model = repo.root / "models" / "m.onnx"
    matmul_chain(model, width=4, depth=1)
    content = model.read_bytes()
    repo.write("models/m.onnx", pointer_for(content))
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge}, "
                  "baseline: {ref: main, max_size_increase: 10%}}\n")
    commit_all(repo.root, "model in LFS")
    repo.write("models/m.onnx", content)
    pids = tmp_path / "pids"
    shim = tmp_path / "bin"
    _hanging(shim, "git-lfs", pids)

    outcome = repo.run("check", "--format", "json", "--no-probe", "--time-budget", str(BUDGET_S),
                       env={"PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"})

    # The smudge is killed when the budget ends, not after its own 600 s.
    repo.expect(outcome, 2, rule="DG601", says=["git lfs smudge", "killed", "time budget"])
    _none_left(pids)
