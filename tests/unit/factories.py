"""Boundary objects built directly, for tests that need no real artifact or probe run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploygate.artifacts.base import ArtifactInfo, TensorSpec
from deploygate.manifest.model import Cost, LatencySpec, Limits, ModelSpec, Target
from deploygate.probe.result import LatencyResult

LLAMA_7B_PARAMS = 6_738_415_616
"""Llama-2-7B's parameter count."""
LLAMA_7B_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
    "max_position_embeddings": 4096, "torch_dtype": "float16",
}


def llm_7b_fp16(path: str = "models/llama-7b") -> ArtifactInfo:
    """What inspecting a 7B fp16 safetensors checkpoint yields (config.json in details)."""
    return ArtifactInfo(path=path, format="safetensors", size_bytes=LLAMA_7B_PARAMS * 2 + 30_000,
                        params=LLAMA_7B_PARAMS, bytes_by_dtype={"float16": LLAMA_7B_PARAMS * 2},
                        details=dict(LLAMA_7B_CONFIG))


def small_onnx(path: str = "model.onnx", weights: int = 400_000,
               inputs: tuple[TensorSpec, ...] = ()) -> ArtifactInfo:
    """A small float32 ONNX model's facts."""
    return ArtifactInfo(path=path, format="onnx", size_bytes=weights + 2_000, params=weights // 4,
                        bytes_by_dtype={"float32": weights}, inputs=inputs, runnable=True)


def spec(kind: str = "edge", device: str | None = None, *, path: Path | str = "model.onnx",
         budget_ms: float | None = None, max_usd_per_1k: float | None = None,
         dims: dict[str, int] | None = None, limits: Limits | None = None) -> ModelSpec:
    """A model entry as the manifest loader would build it."""
    latency = None
    if budget_ms is not None or dims:
        latency = LatencySpec(budget_ms=budget_ms, dims=dict(dims or {}))
    return ModelSpec(index=0, name="m", path=str(path), resolved_path=Path(path),
                     target=Target(kind, device), limits=limits or Limits(), latency=latency,
                     cost=Cost(max_usd_per_1k) if max_usd_per_1k is not None else None)


def latency_result(ms: float, threads: int = 2, shapes: dict[str, list[int]] | None = None,
                   measured_on: str = "host") -> LatencyResult:
    """A steady measurement of ``ms`` at every percentile."""
    return LatencyResult(threads=threads, runs=50, p50_ms=ms, p90_ms=ms, p95_ms=ms, p99_ms=ms,
                         mean_ms=ms, min_ms=ms, stdev_ms=0.0,
                         noise_band_ms={p: (ms, ms) for p in ("p50", "p90", "p95", "p99")},
                         measured_on=measured_on, input_shapes=dict(shapes or {}))


def stand_in_inspect(path: Path, *, display: str, declared_format: str | None = None) -> ArtifactInfo:
    """A minimal ONNX inspection for engine/CLI tests that must not depend on the real reader."""
    import onnx

    from deploygate.targets.workload import onnx_workload

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}

    def spec_of(v: Any) -> TensorSpec:
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in v.type.tensor_type.shape.dim)
        return TensorSpec(v.name, "float32", dims)

    weights = onnx_workload(path).weights_bytes
    return ArtifactInfo(path=display, format="onnx", size_bytes=path.stat().st_size,
                        params=weights // 4, bytes_by_dtype={"float32": weights},
                        inputs=tuple(spec_of(v) for v in model.graph.input if v.name not in inits),
                        runnable=True)
