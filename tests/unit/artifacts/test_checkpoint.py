"""Training checkpoints as training loops write them (made by torch in
tests/data/pytorch/make_fixtures.py): params count the model's weights, the rest is reported
apart. The model in every fixture is Linear(3, 8) + Linear(8, 2): 50 parameters, 200 bytes;
Adam's state after one step is 12 tensors (exp_avg, exp_avg_sq, step per parameter), 416 bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploygate.artifacts import inspect_artifact
from deploygate.artifacts.checkpoint import classify
from deploygate.artifacts.pickle_scan import Section, TensorRef
from deploygate.errors import ArtifactError

DATA = Path(__file__).parents[2] / "data" / "pytorch"
OPTIMIZER = {"tensors": 12, "elements": 104, "bytes": 416}
EMA = {"tensors": 4, "elements": 50, "bytes": 200}


@pytest.mark.parametrize(("name", "model_keys", "parts"), [
    ("train_tutorial.pt", ["model_state_dict"], {"optimizer": ["optimizer_state_dict"]}),
    ("train_legacy.pt", ["model_state"], {"optimizer": ["optimizer_state"]}),
    ("train_ema.pt", ["state_dict"], {"optimizer": ["optimizer"], "ema": ["state_dict_ema"]}),
    ("lightning.ckpt", ["state_dict"], {"optimizer": ["optimizer_states"]}),
])
def test_training_checkpoint_counts_the_model(name: str, model_keys: list[str],
                                              parts: dict[str, list[str]]) -> None:
    info = inspect_artifact(DATA / name, display=name)
    assert (info.params, info.bytes_by_dtype) == (50, {"float32": 200})
    state = info.training_state
    assert state is not None and state["kind"] == "training"
    assert state["model_keys"] == model_keys
    assert {part: p["keys"] for part, p in state["parts"].items()} == parts
    expected = {"optimizer": OPTIMIZER, "ema": EMA}
    for part, p in state["parts"].items():
        assert {k: p[k] for k in ("tensors", "elements", "bytes")} == expected[part]
    assert state["bytes"] == sum(expected[part]["bytes"] for part in parts)
    assert "training checkpoint" in info.details["checkpoint"]
    assert info.to_json()["training_state"] == state


def test_ema_only_file_counts_the_averaged_weights() -> None:
    info = inspect_artifact(DATA / "ema_only.pt", display="ema_only.pt")
    assert (info.params, info.bytes_by_dtype) == (50, {"float32": 200})
    assert info.training_state is not None and info.training_state["kind"] == "ema"
    assert info.training_state["bytes"] == 0
    assert info.details["checkpoint"].startswith("EMA weights only")


@pytest.mark.parametrize(("name", "says"), [
    ("optimizer_only.pt", "optimizer's state"),
    ("no_weights.pt", "no tensors"),
])
def test_a_file_without_model_weights_is_not_a_model(name: str, says: str) -> None:
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(DATA / name, display=name)
    assert e.value.rule == "DG211"
    assert "not a model" in str(e.value) and says in str(e.value)


def test_plain_state_dicts_keep_their_count() -> None:
    # a flat state dict whose parameter is called `model` is not a training layout
    t = TensorRef("0", "float32", 0, (2,), (1,))
    assert classify([Section("model", (t,), False), Section("x", (), False)]) is None
    assert inspect_artifact(DATA / "mlp_zip.pt", display="m.pt").training_state is None


# -- security.allow_globals: a Lightning checkpoint whose hyper-parameters are omegaconf ------

OMEGACONF_GLOBALS = frozenset({
    "omegaconf.dictconfig.DictConfig", "omegaconf.base.ContainerMetadata", "typing.Any",
    "builtins.dict", "collections.defaultdict", "omegaconf.nodes.AnyNode",
    "omegaconf.base.Metadata", "omegaconf.listconfig.ListConfig", "builtins.list",
    "builtins.int"})
LIGHTNING = DATA / "lightning_omegaconf.ckpt"


def _refusal(allow: frozenset[str] = frozenset()) -> str:
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(LIGHTNING, display="l.ckpt", allow_globals=allow)
    assert e.value.rule == "DG203"
    return str(e.value)


def _names(message: str) -> set[str]:
    listed = message.split("not allowed: ", 1)[1].split(", which loading", 1)[0]
    return {n.strip(" `") for n in listed.split(",")}


def test_dg203_lists_exactly_the_names_not_allowed() -> None:
    message = _refusal()
    assert "10 globals not allowed" in message
    assert _names(message) == OMEGACONF_GLOBALS
    assert "security.allow_globals" in message
    # allow all but one: the message names exactly the one left
    left = _refusal(OMEGACONF_GLOBALS - {"typing.Any"})
    assert _names(left) == {"typing.Any"} and "1 global not allowed" in left


def test_allowed_globals_let_a_reviewed_checkpoint_through() -> None:
    # the allowlist written from the message is enough
    info = inspect_artifact(LIGHTNING, display="l.ckpt", allow_globals=frozenset(_names(_refusal())))
    assert info.params == 50
    assert info.details["allowed_globals"] == sorted(OMEGACONF_GLOBALS)
    assert info.training_state is not None and info.training_state["model_keys"] == ["state_dict"]


def test_a_code_running_global_is_never_honoured(tmp_path: Path) -> None:
    import os
    import pickle

    class Reduce:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, ("true",)

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": Reduce()}, protocol=2))
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(path, display="evil.pt",
                         allow_globals=frozenset({"posix.system", "os.system"}))
    assert e.value.rule == "DG203" and "can never be allowed" in str(e.value)
