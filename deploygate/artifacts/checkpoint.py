"""Training checkpoints: which tensors in a PyTorch checkpoint are the model, and which are not.

Training loops save more than the weights: the optimizer's state (Adam keeps two moments per
parameter, so a checkpoint is about three times the model), learning-rate schedulers, and
exponential-moving-average (EMA) copies of the weights. Counting all of it as parameters
inflates ``params``, the memory estimate and every limit judged from them. The layouts
recognized, by the top-level keys of the checkpoint's dict:

- the model: ``state_dict`` (Lightning, timm), ``model_state_dict`` (the PyTorch tutorial),
  ``model_state``, ``model``, ``module``, ``net``, ``network``;
- optimizer state: ``optimizer``, ``optimizer_state(s)``, ``optimizer_state_dict``, ``optim``,
  schedulers and AMP scalers;
- EMA copies: ``ema``, ``model_ema``, ``state_dict_ema``, ``ema_state_dict``, torch_ema's
  ``shadow_params``, ...;
- anything else holding tensors (Lightning ``callbacks``, a saved loss) is "other".

A file that is only an optimizer's ``state_dict()`` (``state`` + ``param_groups``) has no model
weights; a file that holds only an EMA copy holds a model's weights (the averaged ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deploygate.artifacts.pickle_scan import Section, StorageRef, TensorRef

MODEL_KEYS = frozenset({"state_dict", "model_state_dict", "model_state", "model", "module",
                        "net", "network"})
OPTIMIZER_KEYS = frozenset({
    "optimizer", "optimizers", "optimizer_state", "optimizer_states", "optimizer_state_dict",
    "optim", "optim_state", "opt_state", "lr_scheduler", "lr_schedulers", "scheduler",
    "scheduler_state_dict", "scaler", "grad_scaler", "amp"})
EMA_KEYS = frozenset({"ema", "model_ema", "ema_model", "state_dict_ema", "ema_state_dict",
                      "model_ema_state_dict", "ema_state", "shadow_params", "averaged_model"})
OPTIMIZER_STATE_DICT = frozenset({"state", "param_groups"})
"""The keys of ``torch.optim.Optimizer.state_dict()``."""

Kind = Literal["training", "optimizer", "ema"]
Part = Literal["optimizer", "ema", "other"]


@dataclass(frozen=True)
class Layout:
    """How a checkpoint's tensors divide between the model and the training state."""

    kind: Kind
    """``training``: model weights plus training state; ``optimizer``: only an optimizer's
    state (no model); ``ema``: only an EMA copy of the weights (which are the model)."""
    model: tuple[TensorRef, ...]
    """The tensors counted as the model's parameters."""
    model_keys: tuple[str, ...]
    """The top-level keys those tensors came from."""
    parts: dict[Part, tuple[TensorRef, ...]]
    """Tensors that are not the model, by what they are."""
    keys: dict[Part, tuple[str, ...]]
    """The top-level keys of each part."""


def _part(key: str) -> Part:
    if key in OPTIMIZER_KEYS or key in OPTIMIZER_STATE_DICT:
        return "optimizer"
    return "ema" if key in EMA_KEYS else "other"


def classify(sections: Sequence[Section]) -> Layout | None:
    """The layout of a checkpoint from its top-level sections; None for a plain state dict."""
    known = MODEL_KEYS | OPTIMIZER_KEYS | EMA_KEYS
    # a flat state dict may name a tensor `model`; only a container under a known key counts
    if not any(s.container and s.key in known for s in sections) and not (
            OPTIMIZER_STATE_DICT <= {s.key for s in sections}):
        return None
    model = [s for s in sections if s.key in MODEL_KEYS and s.tensors]
    rest = [s for s in sections if s not in model and s.tensors]
    if model:
        kind: Kind = "training"
    elif any(_part(s.key) == "ema" for s in rest):
        # only the averaged copy: those are the weights to count
        kind = "ema"
        model = [s for s in rest if _part(s.key) == "ema"]
        rest = [s for s in rest if s not in model]
    elif rest and all(_part(s.key) == "optimizer" for s in rest):
        kind = "optimizer"
    else:
        return None
    parts: dict[Part, tuple[TensorRef, ...]] = {}
    keys: dict[Part, tuple[str, ...]] = {}
    for s in rest:
        part = _part(s.key)
        parts[part] = parts.get(part, ()) + s.tensors
        keys[part] = keys.get(part, ()) + (s.key,)
    return Layout(kind, tuple(t for s in model for t in s.tensors),
                  tuple(s.key for s in model), parts, keys)


def training_state_json(layout: Layout, storages: dict[str, StorageRef],
                        model_storages: set[str]) -> dict[str, Any]:
    """The artifact's ``training_state``: what the file holds besides the model's weights.

    Bytes are the storages no model tensor uses (what shipping the weights alone saves).
    """
    counted = set(model_storages)
    parts: dict[str, Any] = {}
    for part, tensors in layout.parts.items():
        fresh = {t.storage_key for t in tensors} - counted
        counted |= fresh
        parts[part] = {"keys": list(layout.keys[part]), "tensors": len(tensors),
                       "elements": sum(t.numel for t in tensors),
                       "bytes": sum(storages[k].nbytes for k in fresh if k in storages)}
    return {"kind": layout.kind, "model_keys": list(layout.model_keys), "parts": parts,
            "bytes": sum(p["bytes"] for p in parts.values())}
