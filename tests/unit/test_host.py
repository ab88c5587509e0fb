"""The host's usable cores: CPU affinity and the cgroup CPU quota, read from real files."""

from __future__ import annotations

import os
from pathlib import Path

from deploygate.host import cgroup_cpu_limit, usable_cores


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_cgroup_v2_quota_is_the_tightest_up_the_tree(tmp_path: Path) -> None:
    _write(tmp_path / "self", "0::/ci/job\n")
    _write(tmp_path / "fs" / "cpu.max", "max 100000\n")
    _write(tmp_path / "fs" / "ci" / "cpu.max", "300000 100000\n")
    _write(tmp_path / "fs" / "ci" / "job" / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "self") == 1.5
    _write(tmp_path / "fs" / "ci" / "job" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "self") == 3.0


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    _write(tmp_path / "self", "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n")
    _write(tmp_path / "fs" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "200000\n")
    _write(tmp_path / "fs" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "self") == 2.0


def test_no_quota_no_limit(tmp_path: Path) -> None:
    _write(tmp_path / "self", "1:cpu:/\n")
    _write(tmp_path / "fs" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "fs" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "self") is None
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "missing") is None
    _write(tmp_path / "garbage", "not a cgroup file\n")
    assert cgroup_cpu_limit(tmp_path / "fs", tmp_path / "garbage") is None


def test_usable_cores_within_affinity() -> None:
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))
