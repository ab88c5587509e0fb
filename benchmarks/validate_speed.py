"""`deploygate validate` vs `check-jsonschema --schemafile` on the same manifest, and the cold
start of `deploygate --help`. Target: validate <= 1.0x check-jsonschema.

    python benchmarks/validate_speed.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, installed, median_ms  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "tests" / "data" / "manifests" / "positive" / "full.yaml"
SCHEMA = ROOT / "schemas" / "deploy-constraints.schema.json"


def main() -> None:
    """Print medians and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    deploygate = installed("deploygate")
    checker = installed("check-jsonschema", "pip install -e '.[test]'")
    times = alternate({
        "deploygate validate": [deploygate, "validate", str(MANIFEST)],
        "check-jsonschema --schemafile": [checker, "--schemafile", str(SCHEMA), str(MANIFEST)],
        "deploygate --help": [deploygate, "--help"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }, rounds)
    base = median_ms(times["check-jsonschema --schemafile"])
    print(f"{'command':<32}{'median ms':>10}{'ratio':>8}   ({rounds} rounds, alternated)")
    for name, samples in times.items():
        print(f"{name:<32}{median_ms(samples):>10.1f}{median_ms(samples) / base:>8.2f}")
    print(f"\nvalidate / check-jsonschema = {median_ms(times['deploygate validate']) / base:.2f} "
          "(target <= 1.00)")


if __name__ == "__main__":
    main()
