"""Manifest keys of the probe backends: latency.runtime/providers, the LLM keys and serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploygate.manifest.load import LoadResult, load_manifest
from deploygate.manifest.model import Serving

BASE = "version: 1\nmodels:\n  - name: m\n    path: m.gguf\n    target: {kind: cloud}\n"


def load(tmp_path: Path, extra: str) -> LoadResult:
    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / "deploy-constraints.yaml"
    path.write_text(BASE + extra)
    return load_manifest(path, "deploy-constraints.yaml")


def test_backend_and_llm_keys_are_typed(tmp_path: Path) -> None:
    result = load(tmp_path, "    latency:\n      runtime: llama.cpp\n      ttft_ms: 800\n"
                            "      tokens_per_s: 20\n      prompt_tokens: 256\n      new_tokens: 32\n"
                            "    serving: {context_tokens: 32768, concurrency: 8}\n")
    assert result.manifest is not None, result.findings
    (model,) = result.manifest.models
    assert model.latency is not None
    assert (model.latency.runtime, model.latency.ttft_ms, model.latency.tokens_per_s) == \
        ("llama.cpp", 800, 20)
    assert (model.latency.prompt_tokens, model.latency.new_tokens) == (256, 32)
    assert model.serving == Serving(context_tokens=32768, concurrency=8)


def test_defaults_apply_to_the_new_keys(tmp_path: Path) -> None:
    result = load(tmp_path, "    latency: {providers: [CUDAExecutionProvider, CPUExecutionProvider]}\n"
                            "    serving: {}\n")
    assert result.manifest is not None, result.findings
    (model,) = result.manifest.models
    assert model.latency is not None
    assert model.latency.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert (model.latency.runtime, model.latency.prompt_tokens, model.latency.new_tokens) == \
        (None, 128, 64)
    assert model.serving == Serving(context_tokens=None, concurrency=1)


@pytest.mark.parametrize("extra, where", [
    ("    latency: {runtime: tensorrt}\n", "models[0].latency.runtime"),
    ("    latency: {providers: [cuda]}\n", "models[0].latency.providers[0]"),
    ("    latency: {providers: []}\n", "models[0].latency.providers"),
    ("    latency: {new_tokens: 1}\n", "models[0].latency.new_tokens"),
    ("    serving: {concurrency: 0}\n", "models[0].serving.concurrency"),
    ("    serving: {context: 4096}\n", "models[0].serving"),
])
def test_bad_values_are_schema_errors_at_their_key(tmp_path: Path, extra: str, where: str) -> None:
    result = load(tmp_path, extra)
    assert result.manifest is None
    (finding,) = result.findings
    assert finding.rule == "DG102" and finding.location is not None
    assert finding.location.path is not None and finding.location.path.startswith(where)
