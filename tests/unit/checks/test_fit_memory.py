"""DG3xx with the full memory estimate: a 7B fp16 checkpoint against real devices."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from deploygate.checks import fit
from deploygate.engine import build_context, estimates_json
from deploygate.manifest.model import Limits
from deploygate.targets.catalog import load_catalog
from tests.fixtures.factories import LLAMA_7B_CONFIG, LLAMA_7B_PARAMS, llm_7b_fp16, spec

KV_7B_4096 = 2 * 32 * 32 * 128 * 2 * 4096  # keys and values, 32 layers x 32 heads x 128, fp16


def _fit(device: str | None, kind: str = "edge", limits: Limits | None = None):
    dev = load_catalog()[device] if device else None
    ctx = build_context(spec(kind, device, path="models/llama-7b", limits=limits), "dc.yaml",
                        llm_7b_fp16(), dev, None)
    return ctx, list(fit.check(ctx))


def test_7b_fp16_does_not_fit_raspberry_pi_4() -> None:
    ctx, findings = _fit("raspberry-pi-4")
    assert [f.rule for f in findings] == ["DG304"]
    message = findings[0].message
    assert ctx.memory.kv_cache == KV_7B_4096
    for part in ("does not fit raspberry-pi-4", "weights 12.6 GiB", "KV cache 2 GiB at 4096 tokens",
                 "runtime overhead", "device has 4 GiB", "short by 11.9 GiB"):
        assert part in message
    assert findings[0].location.path == "models[0].target.device"


def test_7b_fp16_fails_an_edge_target_without_a_device() -> None:
    _, findings = _fit(None)
    assert [f.rule for f in findings] == ["DG305"]
    assert "weights are 13.5 GB" in findings[0].message
    assert "serving needs ~17 GB" in findings[0].message


def test_7b_fp16_fits_aws_g5_xlarge_with_headroom_reported() -> None:
    ctx, findings = _fit("aws-g5.xlarge", kind="cloud")
    assert findings == []
    estimates = estimates_json(ctx)
    assert estimates["memory_bytes"] == ctx.memory.total
    assert estimates["kv_cache_bytes"] == KV_7B_4096
    assert estimates["context_tokens"] == 4096
    assert estimates["headroom_bytes"] == 24 * 10**9 - ctx.memory.total > 0
    assert estimates["workload"]["per"] == "token"


def test_7b_fp16_does_not_fit_a_16gb_t4() -> None:
    _, findings = _fit("aws-g4dn.xlarge", kind="cloud")
    assert [f.rule for f in findings] == ["DG304"]


def test_max_memory_counts_the_kv_cache() -> None:
    _, findings = _fit("aws-g5.xlarge", kind="cloud", limits=Limits(max_memory=16 * 10**9))
    assert [f.rule for f in findings] == ["DG303"]
    assert "KV cache" in findings[0].message


def _header_only_safetensors(folder: Path) -> Path:
    """A 7B fp16 checkpoint's header, with the file truncated (sparse) to its full size."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_7B_CONFIG))
    header, offset = {}, 0
    rows = LLAMA_7B_PARAMS // 4096
    for i in range(4):
        n = rows // 4 if i < 3 else rows - 3 * (rows // 4)
        header[f"w{i}"] = {"dtype": "F16", "shape": [n, 4096], "data_offsets": [offset, offset + n * 8192]}
        offset += n * 8192
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    file = folder / "model.safetensors"
    with file.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return file


def test_header_only_7b_checkpoint_through_the_reader(tmp_path: Path) -> None:
    """Once the safetensors reader is present: inspection reads kilobytes of a ~13.5 GB file."""
    pytest.importorskip("deploygate.artifacts.safetensors")
    from deploygate.artifacts import inspect_artifact

    file = _header_only_safetensors(tmp_path / "llama")
    assert file.stat().st_size > 13 * 10**9
    info = inspect_artifact(tmp_path / "llama", display="llama")
    ctx = build_context(spec("edge", "raspberry-pi-4", path=tmp_path / "llama"), "dc.yaml", info,
                        load_catalog()["raspberry-pi-4"], None)
    assert [f.rule for f in fit.check(ctx)] == ["DG304"]


def _served(device: str, context: int | None, concurrency: int):
    from dataclasses import replace

    from deploygate.manifest.model import Serving

    entry = replace(spec("cloud", device, path="models/llama-7b"),
                    serving=Serving(context_tokens=context, concurrency=concurrency))
    ctx = build_context(entry, "dc.yaml", llm_7b_fp16(), load_catalog()[device], None)
    return ctx, list(fit.check(ctx))


def test_serving_sizes_the_kv_cache_for_its_context_and_concurrency() -> None:
    # 32k tokens for 8 users: 64x the single 4096-token sequence fitted by default
    ctx, findings = _served("aws-g5.xlarge", 32768, 8)
    assert ctx.memory.kv_cache == 64 * KV_7B_4096
    assert [f.rule for f in findings] == ["DG304"]
    # in the device memory's units (24 GB): 128 GiB is 137 GB
    assert "KV cache 137 GB at 32768 tokens x 8 sequences" in findings[0].message
    estimates = estimates_json(ctx)
    assert estimates["context_tokens"] == 32768 and estimates["concurrency"] == 8
    assert estimates["kv_cache_bytes"] == 64 * KV_7B_4096
    assert estimates["workload"]["context_tokens"] == 32768


def test_serving_context_defaults_to_the_model_maximum_without_a_cap() -> None:
    ctx, findings = _served("aws-g5.xlarge", None, 2)
    assert ctx.memory.context_tokens == 4096  # the config's max_position_embeddings
    assert ctx.memory.kv_cache == 2 * KV_7B_4096 and ctx.memory.concurrency == 2
    assert findings == []


def test_a_long_context_model_is_sized_at_its_full_context() -> None:
    """With or without a serving block, the KV cache is sized at the model's whole context
    unless serving.context_tokens says less: a 32k model on a 24 GB GPU does not fit."""
    from dataclasses import replace

    from deploygate.manifest.model import Serving

    long = llm_7b_fp16()
    long = replace(long, details={**long.details, "max_position_embeddings": 32768})
    entry = spec("cloud", "aws-g5.xlarge", path="models/llama-7b")
    device = load_catalog()["aws-g5.xlarge"]
    default = build_context(entry, "dc.yaml", long, device, None)
    served = build_context(replace(entry, serving=Serving()), "dc.yaml", long, device, None)
    short = build_context(replace(entry, serving=Serving(context_tokens=4096)), "dc.yaml", long,
                          device, None)
    for ctx in (default, served):
        assert ctx.memory.context_tokens == 32768 and ctx.memory.kv_cache == 8 * KV_7B_4096
    assert short.memory.context_tokens == 4096 and short.memory.kv_cache == KV_7B_4096
    findings = list(fit.check(default))
    assert [f.rule for f in findings] == ["DG304"]
    assert "KV cache 17.2 GB at 32768 tokens" in findings[0].message
    assert "set serving.context_tokens and serving.concurrency" in findings[0].message
    assert list(fit.check(short)) == []
