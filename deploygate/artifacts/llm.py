"""An LLM checkpoint's transformer shape, read once from its header facts (config.json fields
of a safetensors checkpoint, GGUF metadata): what its per-token work and KV cache depend on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN_CONTEXT_TOKENS = 4096
"""LLM context assumed for the KV cache when neither ``serving.context_tokens`` nor the model
says one (the estimate states the assumption)."""
GGUF_KV_DTYPE_BYTES = 2
"""llama.cpp keeps the KV cache in f16 by default, whatever the weights' quantization."""

_TORCH_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2,
                      "float64": 8, "int8": 1, "uint8": 1}


@dataclass(frozen=True)
class LlmShape:
    """The transformer dimensions that decide an LLM's per-token cost and its KV cache."""

    architecture: str
    """e.g. LlamaForCausalLM or llama."""
    layers: int
    """Transformer blocks."""
    hidden: int
    """Model width."""
    heads: int
    """Attention (query) heads."""
    kv_heads: int
    """Key/value heads (fewer than ``heads`` under grouped-query attention)."""
    head_dim: int
    """Width of one head."""
    max_context: int
    """The model's maximum context in tokens (0 when unknown)."""
    kv_dtype_bytes: int
    """Bytes per element of the KV cache."""

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token of context holds: keys and values in every layer."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_dtype_bytes

    @property
    def context(self) -> int:
        """The context the estimates use by default: the model's maximum (no cap), else
        UNKNOWN_CONTEXT_TOKENS."""
        return self.max_context or UNKNOWN_CONTEXT_TOKENS


def _get(details: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` found in details, its ``config`` mapping, or as ``<arch>.<name>``."""
    scopes: list[Mapping[str, Any]] = [details]
    if isinstance(details.get("config"), Mapping):
        scopes.append(details["config"])
    arch = details.get("architecture")
    for name in names:
        for scope in scopes:
            if scope.get(name) is not None:
                return scope[name]
            if isinstance(arch, str) and scope.get(f"{arch}.{name}") is not None:
                return scope[f"{arch}.{name}"]
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, list) and value:  # GGUF stores per-layer head counts as arrays
        value = max(value)
    if isinstance(value, (int, float)) and value > 0 and float(value).is_integer():
        return int(value)
    return None


def llm_shape_of(details: Mapping[str, Any], fmt: str) -> LlmShape | None:
    """Transformer dimensions from a checkpoint's config.json fields or GGUF metadata, if any."""
    d = details
    layers = _positive_int(_get(d, "num_hidden_layers", "block_count", "n_layer"))
    hidden = _positive_int(_get(d, "hidden_size", "embedding_length", "n_embd", "d_model"))
    heads = _positive_int(_get(d, "num_attention_heads", "head_count", "n_head"))
    if layers is None or hidden is None or heads is None:
        return None
    kv_heads = _positive_int(_get(d, "num_key_value_heads", "head_count_kv")) or heads
    head_dim = _positive_int(_get(d, "head_dim", "attention.key_length")) or hidden // heads
    max_context = _positive_int(_get(d, "max_position_embeddings", "context_length",
                                     "n_positions", "max_sequence_length")) or 0
    if fmt == "gguf":
        kv_bytes = GGUF_KV_DTYPE_BYTES
    else:
        kv_bytes = _TORCH_DTYPE_BYTES.get(str(_get(d, "torch_dtype", "dtype")).removeprefix("torch."),
                                          2)
    architectures = _get(d, "architectures")
    arch = (architectures[0] if isinstance(architectures, list) and architectures
            else _get(d, "architecture", "model_type") or "transformer")
    return LlmShape(str(arch), layers, hidden, heads, kv_heads, max(head_dim, 1), max_context,
                    kv_bytes)
