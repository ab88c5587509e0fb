"""Where the time of `deploygate check` goes, on examples/edge-detector (``max_time_s: 2``).

Runs the real command ``--rounds`` times with ``--format json`` and prints, per round, the whole
command's wall time and the parts the report records: measuring (``measured_s``), the probe
child's start, imports and input synthesis (``overhead_ms``) and onnxruntime's session creation
(``session_ms``), each also as a share of the whole command, and ``python -c pass`` alternated
with it as the floor of any command.

    python benchmarks/check_breakdown.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import installed, run_once  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "examples" / "edge-detector" / "deploy-constraints.yaml"


def one_check(deploygate: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of one `deploygate check`, and its latency report's timing fields."""
    start = time.perf_counter()
    done = subprocess.run([deploygate, "check", "--manifest", str(MANIFEST), "--format", "json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"deploygate check failed ({done.returncode}): {done.stderr[-500:]}")
    latency = json.loads(done.stdout)["models"][0]["latency"]
    return wall, {"measured_s": latency["measured_s"], "overhead_s": latency["overhead_ms"] / 1e3,
                  "session_s": latency["session_ms"] / 1e3}


def python_floor() -> float:
    """Wall seconds of ``python -c pass``."""
    return run_once([sys.executable, "-c", "pass"])[0]


def main() -> None:
    """Print each round's parts and their share of the whole command."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    deploygate = installed("deploygate")
    print(f"{'round':<6}{'wall s':>8}{'measuring s':>13}{'child start s':>15}"
          f"{'session ms':>12}{'python -c pass s':>18}   (shares of wall)")
    for i in range(1, rounds + 1):
        wall, parts = one_check(deploygate)
        floor = python_floor()
        print(f"{i:<6}{wall:>8.2f}{parts['measured_s']:>13.2f}{parts['overhead_s']:>15.2f}"
              f"{parts['session_s'] * 1e3:>12.1f}{floor:>18.3f}   "
              f"measuring {parts['measured_s'] / wall:.0%}, child start "
              f"{parts['overhead_s'] / wall:.0%}, session {parts['session_s'] / wall:.1%}, "
              f"python -c pass {floor / wall:.0%}")


if __name__ == "__main__":
    main()
