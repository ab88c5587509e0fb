"""The llama.cpp backend end to end: a tiny llama GGUF run by llama-cpp-python in the probe's
child process, then judged by `check` and `probe`.

The vocabulary is llama.cpp's own from llama-cpp-python's pinned sdist when the corpus cache
holds it (``python benchmarks/backend_models.py fetch``), else a small SentencePiece vocabulary
written with ``gguf``: the tests run wherever llama-cpp-python is installed (CI installs it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from deploygate.artifacts import inspect_artifact  # noqa: E402
from deploygate.cli import cli  # noqa: E402
from deploygate.manifest.model import LatencySpec  # noqa: E402
from deploygate.probe import probe_latency  # noqa: E402

from tests.fixtures.backend_models import backend_models  # noqa: E402
from tests.fixtures.gguf_models import spm_vocabulary, tiny_llama  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """llama.cpp's vocabulary-only GGUF when cached, else one written here."""
    pins = backend_models()
    cached = pins.cached(pins.LLAMA_VOCAB)
    return cached or spm_vocabulary(tmp_path_factory.mktemp("vocab") / "vocab.gguf")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory, vocabulary: Path) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("llm") / "tiny-llama.gguf", vocabulary)


def test_the_vocabulary_alone_is_not_a_model_to_probe(tiny_gguf: Path, vocabulary: Path) -> None:
    from deploygate.errors import ArtifactError

    with pytest.raises(ArtifactError) as caught:
        inspect_artifact(vocabulary, display="vocab.gguf")
    assert caught.value.rule == "DG211"
    assert inspect_artifact(tiny_gguf, display="tiny-llama.gguf").runnable


def test_llama_cpp_measures_ttft_and_decode_rate(tiny_gguf: Path, tmp_path: Path) -> None:
    spec = LatencySpec(max_time_s=0.3, timeout_s=120, prompt_tokens=32, new_tokens=8)
    result = probe_latency(tiny_gguf, spec, threads=1, root=tmp_path, base_dir=tmp_path,
                           display="tiny-llama.gguf", fmt="gguf")
    assert result.runtime == "llama.cpp" and result.runtime_version
    assert result.prompt_tokens == 32 and result.new_tokens == 8
    assert result.ttft is not None and result.ttft.runs >= 3
    assert result.runs == result.ttft.runs * 7  # decode steps: every token after the first
    assert 0 < result.ttft.min_ms <= result.ttft.p50_ms <= result.ttft.p99_ms
    assert len(result.tokens_per_s_runs) == result.ttft.runs and (result.tokens_per_s or 0) > 0
    data = result.to_json()
    assert set(data["ttft_ms"]) >= {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "runs"}
    assert data["tokens_per_s"] == result.tokens_per_s


def _manifest(repo: Path, model: Path, latency: str) -> Path:
    (repo / ".git").mkdir(parents=True)
    shutil.copy(model, repo / "m.gguf")
    manifest = repo / "deploy-constraints.yaml"
    manifest.write_text("version: 1\nmodels:\n  - name: llm\n    path: m.gguf\n"
                        "    target: {kind: cloud}\n    latency:\n"
                        "      threads: 1\n      max_time_s: 0.3\n      prompt_tokens: 32\n"
                        f"      new_tokens: 8\n{latency}")
    return manifest


def test_check_fails_an_llm_over_its_ttft_budget_and_under_its_decode_rate(
        tiny_gguf: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, tiny_gguf, "      ttft_ms: 0.001\n      tokens_per_s: 1000000000\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    jsonschema.validate(report, json.loads((ROOT / "schemas" / "report.schema.json").read_text()))
    model = report["models"][0]
    assert {f["rule"] for f in model["findings"]} == {"DG409", "DG411"}
    assert model["latency"]["ttft_ms"]["p95_ms"] > 0 and model["latency"]["tokens_per_s"] > 0
    assert model["latency"]["runtime"] == "llama.cpp"
    text = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "text"])
    assert "time to first token: p95" in text.output and "tokens/s (minimum 1e+09)" in \
        text.output and "per token" in text.output


def test_check_passes_an_llm_within_its_budgets(tiny_gguf: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, tiny_gguf, "      ttft_ms: 60000\n      tokens_per_s: 0.001\n"
                                              "      budget_ms: 60000\n"
                                              "    serving: {context_tokens: 256, concurrency: 4}\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 0, result.output
    model = json.loads(result.output)["models"][0]
    assert model["findings"] == []
    # 2 layers x 2 kv heads x 16 wide, keys and values in f16, 256 tokens, 4 sequences
    kv = 2 * 2 * 2 * 16 * 2 * 256 * 4
    assert model["estimates"]["kv_cache_bytes"] == kv
    assert (model["estimates"]["context_tokens"], model["estimates"]["concurrency"]) == (256, 4)


def test_probe_command_reports_ttft_and_decode_rate(tiny_gguf: Path) -> None:
    result = CliRunner().invoke(cli, ["probe", str(tiny_gguf), "--threads", "1", "--max-time-s",
                                      "0.3", "--prompt-tokens", "16", "--new-tokens", "4",
                                      "--ttft-ms", "0.001", "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["ttft_verdict"] == "fail" and data["runtime"] == "llama.cpp"
    assert data["ttft_ms"]["p50_ms"] > 0 and data["tokens_per_s"] > 0


def test_a_model_llama_cpp_cannot_load_is_one_line_exit_2(vocabulary: Path,
                                                         tmp_path: Path) -> None:
    from deploygate.errors import ProbeError

    broken = tiny_llama(tmp_path / "broken.gguf", vocabulary, drop="output_norm.weight")
    with pytest.raises(ProbeError) as caught:
        probe_latency(broken, LatencySpec(max_time_s=0.2, timeout_s=60), threads=1,
                      root=tmp_path, base_dir=tmp_path, display="broken.gguf", fmt="gguf")
    assert caught.value.rule == "DG403" and "llama.cpp could not load the model" in \
        caught.value.message
    assert "\n" not in str(caught.value)


def test_a_llama_cpp_probe_past_its_timeout_is_killed_and_one_line(tiny_gguf: Path,
                                                                   tmp_path: Path) -> None:
    import time

    from deploygate.errors import ProbeError

    # Measuring alone takes 2.95 s; starting Python, loading the model and a warm-up generation
    # of 512 tokens take more than the 0.05 s left on any host: the child is killed.
    spec = LatencySpec(max_time_s=2.95, timeout_s=3, prompt_tokens=256, new_tokens=512)
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        probe_latency(tiny_gguf, spec, threads=1, root=tmp_path, base_dir=tmp_path,
                      display="tiny-llama.gguf", fmt="gguf")
    assert time.monotonic() - started < 30
    assert caught.value.path == "latency.timeout_s" and "timeout_s=3" in caught.value.message
