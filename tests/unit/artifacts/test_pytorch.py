"""PyTorch and TorchScript files: fixtures made by torch itself (tests/data/pytorch/), and
hostile files built here. torch is never imported and nothing is ever unpickled."""

from __future__ import annotations

import _pickle
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploygate.artifacts import inspect_artifact
from deploygate.artifacts import pytorch as reader
from deploygate.errors import ArtifactError
from tests.fixtures.mutations import mutations

DATA = Path(__file__).parents[2] / "data" / "pytorch"

# counts printed by tests/data/pytorch/make_fixtures.py when the fixtures were made
EXPECTED = {
    "mlp_zip.pt": ("pytorch", "zip", 50, {"float32": 200}),
    "mlp_legacy.pt": ("pytorch", "legacy", 50, {"float32": 200}),
    "tied_zip.pt": ("pytorch", "zip", 48, {"float32": 192}),
    "tied_legacy.pt": ("pytorch", "legacy", 48, {"float32": 192}),
    "mixed_zip.pt": ("pytorch", "zip", 59, {"float16": 60, "bfloat16": 14, "int64": 32,
                                            "float8_e4m3fn": 6, "float32": 48}),
    "mlp_script.pt": ("torchscript", "zip", 50, {"float32": 200}),
}


class Reduce:
    """Pickles as ``func(*args)`` (writing a pickle never runs it)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def evil_pickle(canary: Path, protocol: int = 2) -> bytes:
    return pickle.dumps({"weight": Reduce(os.system, f"touch {canary}")}, protocol=protocol)


def inspect(path: Path) -> Any:
    return reader.inspect(path, path.name)


def refused(path: Path, rule: str) -> ArtifactError:
    with pytest.raises(ArtifactError) as e:
        reader.inspect(path, path.name)
    assert e.value.rule == rule, e.value
    assert e.value.file == path.name
    return e.value


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counts(name: str) -> None:
    fmt, serialization, params, by_dtype = EXPECTED[name]
    info = inspect(DATA / name)
    assert info.format == fmt
    assert info.details["serialization"] == serialization
    assert info.params == params
    assert info.bytes_by_dtype == by_dtype
    assert info.size_bytes == (DATA / name).stat().st_size
    assert info.contains_code == (fmt == "torchscript")
    assert not info.runnable


def test_fixtures_are_small() -> None:
    for path in DATA.glob("*.pt"):
        assert path.stat().st_size < 100_000


def test_tied_weights_count_once() -> None:
    info = inspect(DATA / "tied_zip.pt")
    assert info.details["tensor_count"] == 3  # four state-dict entries, one tied pair


def test_views_of_one_storage_count_their_own_elements() -> None:
    info = inspect(DATA / "mixed_zip.pt")
    assert info.details["shared_storages"] == 1
    assert info.details["storage_count"] == 5 and info.details["tensor_count"] == 6


def test_torchscript_details() -> None:
    info = inspect(DATA / "mlp_script.pt")
    assert info.details["code_files"] >= 1
    assert any(g.startswith("__torch__.") for g in info.details["globals"])


def test_registered_for_detection(tmp_path: Path) -> None:
    info = inspect_artifact(DATA / "mlp_script.pt", display="m.pt")
    assert info.format == "torchscript"


# -- nothing is unpickled ---------------------------------------------------------------------

def test_nothing_is_ever_unpickled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle")

    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(evil_pickle(canary))
    for module in (pickle, _pickle):
        for name in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(module, name, forbidden)
    for name in sorted(EXPECTED):
        assert inspect(DATA / name).params > 0
    with pytest.raises(ArtifactError):
        inspect(evil)
    assert not canary.exists()


# -- malicious pickles ------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("suffix", [".pt", ".bin", ".pth"])
def test_plain_malicious_pickle(tmp_path: Path, protocol: int, suffix: str) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(evil_pickle(canary, protocol))
    err = refused(path, "DG203")
    assert "`posix.system`" in err.message and "safetensors" in err.message
    assert not canary.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".onnx"])
def test_pickle_renamed_to_a_safe_format_is_still_caught(tmp_path: Path, suffix: str) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(evil_pickle(canary))
    with pytest.raises(ArtifactError) as e:
        inspect_artifact(path, display=path.name)
    assert e.value.rule == "DG203" and "`posix.system`" in e.value.message
    assert not canary.exists()


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes] | None = None,
                add: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A copy of a zip checkpoint with members replaced, added or dropped (stored, like torch)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, zin.read(info))
            zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_malicious_data_pkl_inside_a_zip_checkpoint(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "evil.pt",
                       {"mlp_zip/data.pkl": evil_pickle(canary)})
    err = refused(path, "DG203")
    assert "data.pkl" in err.message and "`posix.system`" in err.message
    assert not canary.exists()


def test_malicious_pickle_anywhere_in_the_archive(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = rewrite_zip(DATA / "mlp_script.pt", tmp_path / "evil.pt",
                       add={"mlp_script/extra/x.pkl": evil_pickle(canary)})
    assert "`posix.system`" in refused(path, "DG203").message


def test_torchscript_archive_with_os_system_is_unsafe_not_just_code(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = rewrite_zip(DATA / "mlp_script.pt", tmp_path / "evil.pt",
                       {"mlp_script/constants.pkl": evil_pickle(canary)})
    assert "`posix.system`" in refused(path, "DG203").message


def test_torchscript_names_outside_torchscript_are_unsafe(tmp_path: Path) -> None:
    data = b"\x80\x02c__torch__.M\nM\n)\x81."
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "m.pt", {"mlp_zip/data.pkl": data})
    assert "`__torch__.M.M`" in refused(path, "DG203").message


def test_whole_module_pickles_are_unsafe(tmp_path: Path) -> None:
    # torch.save(model) pickles the class by reference: loading imports arbitrary code
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x02ctorch.nn.modules.linear\nLinear\n)\x81}b.")
    assert "`torch.nn.modules.linear.Linear`" in refused(path, "DG203").message


def test_malformed_pickle_is_unverifiable_never_clean(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00a\xff.")
    err = refused(path, "DG203")
    assert "cannot be verified" in err.message


def test_unsafe_global_wins_over_truncation(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / "m.pt"
    path.write_bytes(evil_pickle(canary)[:-4])
    assert "`posix.system`" in refused(path, "DG203").message


# -- legacy files -----------------------------------------------------------------------------

def test_legacy_truncated_in_the_storages(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes((DATA / "mlp_legacy.pt").read_bytes()[:-5])
    assert "truncated" in refused(path, "DG202").message


def test_legacy_truncated_in_the_main_pickle(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes((DATA / "mlp_legacy.pt").read_bytes()[:300])
    assert "cannot be verified" in refused(path, "DG203").message


def test_legacy_storage_size_mismatch(tmp_path: Path) -> None:
    data = bytearray((DATA / "mlp_legacy.pt").read_bytes())
    # the first storage record follows the key-list pickle; find its int64 element count
    info = inspect(DATA / "mlp_legacy.pt")
    first = len(data) - info.weights_bytes - 8 * info.details["storage_count"]
    (numel,) = struct.unpack_from("<q", data, first)
    struct.pack_into("<q", data, first, numel + 1)
    path = tmp_path / "m.pt"
    path.write_bytes(bytes(data))
    assert "elements" in refused(path, "DG202").message


def test_plain_pickle_of_plain_data(tmp_path: Path) -> None:
    path = tmp_path / "config.bin"
    path.write_bytes(pickle.dumps({"lr": 0.1, "layers": [1, 2, 3]}, protocol=2))
    # safe to load, but no weights: not a model (never a 0-parameter model that passes)
    assert "no tensors" in str(refused(path, "DG211"))


def test_not_a_pickle_at_all(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    path.write_bytes(b"\x00\x01\x02\x03 not a checkpoint")
    refused(path, "DG205")


# -- hostile and broken zips ------------------------------------------------------------------

def test_zip_bomb_member(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(DATA / "mlp_zip.pt") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        zout.writestr("mlp_zip/data/99", b"\0" * (8 << 20), compress_type=zipfile.ZIP_DEFLATED)
    err = refused(path, "DG203")
    assert "zip bomb" in err.message and "data/99" in err.message


@pytest.mark.parametrize("name", ["mlp_zip/../../etc/evil", "/abs/evil", "mlp_zip/..\\x",
                                  "C:/evil"])
def test_zip_slip_names(tmp_path: Path, name: str) -> None:
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "slip.pt", add={name: b"x"})
    assert "zip slip" in refused(path, "DG203").message


def test_duplicate_member_names(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    with pytest.warns(UserWarning):
        path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "dup.pt",
                           add={"mlp_zip/data.pkl": evil_pickle(canary)})
    assert "twice" in refused(path, "DG203").message


def test_members_outside_the_archive_folder(tmp_path: Path) -> None:
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "m.pt", add={"other/data.pkl": b"x"})
    assert "outside the archive folder" in refused(path, "DG203").message


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_zip(tmp_path: Path, keep: float) -> None:
    data = (DATA / "mlp_zip.pt").read_bytes()
    path = tmp_path / "m.pt"
    path.write_bytes(data[:int(len(data) * keep)])
    refused(path, "DG202")


def test_missing_storage_member(tmp_path: Path) -> None:
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "m.pt", drop=("mlp_zip/data/1",))
    assert "data/1" in refused(path, "DG202").message


def test_short_storage_member(tmp_path: Path) -> None:
    path = rewrite_zip(DATA / "mlp_zip.pt", tmp_path / "m.pt", {"mlp_zip/data/0": b"\0" * 4})
    assert "needs" in refused(path, "DG202").message


def test_zip_without_data_pkl(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("docs/readme.txt", "hello")
    refused(path, "DG205")


def test_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_MEMBERS", 5)
    assert "limit 5" in refused(Path(shutil.copy(DATA / "mlp_zip.pt", tmp_path / "m.pt")),
                                "DG202").message


def test_central_directory_claiming_a_million_members(tmp_path: Path) -> None:
    # a zip64 end record claiming 10**9 entries, checked before zipfile reads anything
    eocd64 = (b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 10**9, 10**9, 46, 0))
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 4, 1)
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                                       0xFFFFFFFF, 0)
    path = tmp_path / "m.pt"
    path.write_bytes(b"PK\x03\x04" + eocd64 + locator + eocd)
    assert "members" in refused(path, "DG202").message


def test_every_fixture_prefix_truncation_is_clean(tmp_path: Path) -> None:
    """Cut each fixture at many points: only ArtifactError (DG202/DG203/DG205) ever escapes."""
    for src in sorted(DATA.glob("*.pt")):
        data = src.read_bytes()
        for cut in range(1, len(data), max(1, len(data) // 60)):
            path = tmp_path / "cut.pt"
            path.write_bytes(data[:cut])
            with pytest.raises(ArtifactError) as e:
                reader.inspect(path, "cut.pt")
            assert e.value.rule in ("DG202", "DG203", "DG205", "DG211")


def test_scanning_reads_pickles_in_memory_only(tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    inspect(Path(shutil.copy(DATA / "mlp_script.pt", tmp_path / "s.pt")))
    assert set(tmp_path.iterdir()) == before | {tmp_path / "s.pt"}


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(EXPECTED)), st.data())
def test_mutated_fixtures_only_ever_raise_artifact_errors(tmp_path: Path, name: str,
                                                          data: st.DataObject) -> None:
    path = tmp_path / "mutated.pt"
    path.write_bytes(data.draw(mutations((DATA / name).read_bytes())))
    try:
        reader.inspect(path, "m.pt")
    except ArtifactError as e:
        assert e.rule in ("DG202", "DG203", "DG205", "DG211")


def test_safetensors_whose_length_prefix_looks_like_a_pickle_is_not_a_pickle(
        tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    save_file = pytest.importorskip("safetensors.numpy").save_file
    from deploygate.artifacts.detect import detect_format

    path = tmp_path / "m.safetensors"
    for pad in range(600):  # pad the metadata until the header is 640 bytes: b"\x80\x02\0..."
        save_file({"w": np.zeros(3, np.float32)}, str(path), metadata={"k": "x" * pad})
        if path.read_bytes()[:2] == b"\x80\x02":
            break
    assert path.read_bytes()[:2] == b"\x80\x02"
    assert detect_format(path, "m.safetensors") == "safetensors"


def test_zip_checkpoint_over_64_mib_is_read(tmp_path: Path) -> None:
    # the central directory of a 68 MB torch.save archive sits past 64 MiB; only its size, a
    # few hundred bytes, is what the cap bounds
    from tests.fixtures.checkpoints import BIG_NUMEL, rebuild_big_zip

    path = rebuild_big_zip(DATA / "big_zip_members.zip", tmp_path / "big.pt")
    assert path.stat().st_size > 64 << 20
    info = inspect(path)
    assert (info.format, info.params, info.bytes_by_dtype) == (
        "pytorch", BIG_NUMEL, {"float32": 4 * BIG_NUMEL})


def test_zip_central_directory_past_the_end_is_truncation(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    data = bytearray((DATA / "mlp_zip.pt").read_bytes())
    at = data.rfind(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, at + 16)
    struct.pack_into("<I", data, at + 16, offset + len(data))
    path.write_bytes(bytes(data))
    assert "truncated" in str(refused(path, "DG202"))
