"""Keras models made by Keras itself (tests/data/keras/make_fixtures.py), read with h5py alone.

The MLP is Dense(4->8) + Dense(8->2): 58 parameters (keras' count_params); after one Adam step
its optimizer holds 10 variables of 118 elements. The Lambda model has 10 parameters."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploygate.artifacts import inspect_artifact
from deploygate.artifacts.detect import detect_format
from deploygate.errors import ArtifactError
from tests.fixtures.mutations import mutations

h5py = pytest.importorskip("h5py")

DATA = Path(__file__).parents[2] / "data" / "keras"


def read(name: str):
    return inspect_artifact(DATA / name, display=name)


@pytest.mark.parametrize(("name", "container"), [
    ("mlp.keras", "keras"), ("mlp.h5", "hdf5"), ("mlp.weights.h5", "hdf5")])
def test_counts_the_weights_and_keeps_the_optimizer_apart(name: str, container: str) -> None:
    info = read(name)
    assert detect_format(DATA / name, name) == "keras"
    assert (info.format, info.params, info.bytes_by_dtype) == ("keras", 58, {"float32": 232})
    assert info.details["container"] == container
    assert not info.contains_code and not info.runnable
    state = info.training_state
    assert state is not None
    assert (state["parts"]["optimizer"]["tensors"], state["parts"]["optimizer"]["elements"],
            state["bytes"]) == (10, 118, 472)


def test_config_gives_the_inputs() -> None:
    for name in ("mlp.keras", "mlp.h5"):
        (x,) = read(name).inputs
        assert (x.name, x.dtype, x.shape) == ("x", "float32", (None, 4))


def test_counts_match_h5py_on_the_weight_datasets() -> None:
    # the reference: every dataset under model_weights, as h5py lists them
    total = 0

    def visit(_name: str, obj: object) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += obj.size

    with h5py.File(DATA / "mlp.h5", "r") as f:
        f["model_weights"].visititems(visit)
    assert read("mlp.h5").params == total == 58


@pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
def test_a_lambda_layer_is_code(name: str) -> None:
    info = read(name)
    assert info.contains_code and info.params == 10
    assert info.details["code_layers"] == ["double"]


def test_a_model_without_weights_is_not_a_model() -> None:
    with pytest.raises(ArtifactError) as e:
        read("weightless.keras")
    assert e.value.rule == "DG211" and "no weights" in str(e.value)


def test_a_torch_zip_is_not_taken_for_keras() -> None:
    path = Path(__file__).parents[2] / "data" / "pytorch" / "mlp_zip.pt"
    assert detect_format(path, "m.pt") == "pytorch"


def test_keras_archive_without_weights_member_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(DATA / "mlp.keras") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            if info.filename != "model.weights.h5":
                zout.writestr(info, zin.read(info))
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(path, display="m.keras")
    assert e.value.rule == "DG202" and "model.weights.h5" in str(e.value)


def test_truncated_hdf5_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    path.write_bytes((DATA / "mlp.h5").read_bytes()[:3000])
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(path, display="m.h5")
    assert e.value.rule == "DG202"


def test_without_h5py_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ArtifactError) as e:
        read("mlp.h5")
    assert e.value.rule == "DG205" and "deploygate[keras]" in str(e.value)


def test_external_links_are_not_followed(tmp_path: Path) -> None:
    # an HDF5 external link could point anywhere on the runner: never followed, never counted
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["w"] = [1.0] * 1000
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f["layers/d/vars/0"] = [1.0, 2.0]
        f["layers/d/vars/1"] = h5py.ExternalLink(str(outside), "/w")
    assert inspect_artifact(path, display="m.h5").params == 2


def test_libhdf5_runs_in_a_child_killed_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # a crafted HDF5 file can make libhdf5 loop; the child is killed and the file is corrupt
    from deploygate.artifacts import keras as reader

    monkeypatch.setattr(reader, "READ_TIMEOUT_S", 0.001)
    with pytest.raises(ArtifactError) as e:
        read("mlp.h5")
    assert e.value.rule == "DG202" and "took over" in str(e.value)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["mlp.h5", "mlp.keras", "lambda.h5"]), st.data())
def test_mutated_files_only_ever_raise_artifact_errors(tmp_path: Path, name: str,
                                                       data: st.DataObject) -> None:
    path = tmp_path / f"mutated{Path(name).suffix}"
    path.write_bytes(data.draw(mutations((DATA / name).read_bytes())))
    try:
        inspect_artifact(path, display="m")
    except ArtifactError as e:
        assert e.rule in ("DG202", "DG205", "DG211")
