"""Shared timing helpers for the benchmarks: alternate commands, take medians, report ratios."""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def installed(command: str, hint: str = "pip install -e .") -> str:
    """The path of ``command`` on PATH; exits saying how to install it when it is missing."""
    path = shutil.which(command)
    if not path:
        sys.exit(f"{command} is not installed; install it first: {hint}")
    return path


def run_once(argv: Sequence[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one run of ``argv`` in a fresh child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    # ru_maxrss of children is the max over all waited-for children so far (KiB on Linux);
    # each measured command is run in its own wrapper process so the max is its own peak.
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(after, before) * 1024


def peak_rss(argv: Sequence[str]) -> int:
    """Peak RSS (bytes) of ``argv``, measured by a wrapper process so earlier runs don't count."""
    code = ("import resource,subprocess,sys;"
            "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


def alternate(commands: dict[str, Sequence[str]], rounds: int) -> dict[str, list[float]]:
    """Run each command once per round, alternating (A B A B ...), and collect wall times."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(run_once(argv)[0])
    return times


def median_ms(samples: list[float]) -> float:
    """Median of seconds, in milliseconds."""
    return statistics.median(samples) * 1000


def time_loop(run: Callable[[], object], warmup: int, seconds: float) -> float:
    """Median ms of ``run`` in a plain timing loop after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    samples = []
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while True:
        start = time.perf_counter_ns()
        run()
        stop = time.perf_counter_ns()
        samples.append(stop - start)
        if stop >= end and len(samples) >= 10:
            break
    return statistics.median(samples) / 1e6
