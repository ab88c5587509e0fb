"""Untrusted input that used to crash (exit 3): each is now a located DG1xx/DG2xx line, exit 2.

Classes: numbers too large for arithmetic, names the operating system cannot resolve (NUL
bytes, link loops), strings that are not UTF-8 inside a format, and reads that would leave the
model's folder through a link (every file opened beside a model, not only shards).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from tests.hostile.harness import HostileRepo
from tests.hostile.test_fuzz import examples

ST_MODEL = "models/ckpt"
DIGITS = "9" * 4000  # under Python's 4300-digit int() limit, far over any float


def _safetensors(header: Mapping[str, object] | str, data: bytes = b"") -> bytes:
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw)) + raw + data


ONE = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}


def _onnx(mark: bytes = b"") -> bytes:
    """A valid model; ``mark`` (a marker string in it) is made invalid UTF-8 in the bytes."""
    graph = helper.make_graph([helper.make_node("Identity", ["INPUTX"], ["y"])], "GRAPHX",
                              [helper.make_tensor_value_info("INPUTX", TensorProto.FLOAT,
                                                             ["DIMX", 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="PRODUCERX", doc_string="DOCX")
    helper.set_model_props(model, {"KEYX": "VALUEX"})
    model.ir_version = 8
    data = model.SerializeToString()
    return data.replace(mark, b"\xff\xfe" + mark[2:]) if mark else data


# -- numbers: thousands of digits anywhere in a manifest --------------------------------------

@pytest.mark.parametrize("entry", [
    "latency: {budget_ms: N}", "latency: {budget_ms: -N}", "cost: {max_usd_per_1k: N}",
    "limits: {max_params: N}", "limits: {max_size: N}", "latency: {budget_ms: 5, timeout_s: N}",
    "latency: {budget_ms: 5, threads: N}", "latency: {budget_ms: 5, dims: {n: N}}",
    "latency: {budget_ms: 5, inputs: {x: {shape: [N]}}}", "latency: {budget_ms: 5, runs: N}",
])
def test_manifest_number_with_thousands_of_digits(repo: HostileRepo, entry: str) -> None:
    repo.write("models/m.onnx", _onnx())
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge}, "
                  + entry.replace("N", DIGITS) + "}\n")
    repo.expect(repo.check(), 2, rule="DG102")


@pytest.mark.parametrize("where", ["shape", "offset", "index"])
def test_artifact_number_with_thousands_of_digits(repo: HostileRepo, where: str) -> None:
    if where == "index":
        repo.write(f"{ST_MODEL}/a.safetensors", _safetensors(ONE, b"\0" * 4))
        repo.write(f"{ST_MODEL}/model.safetensors.index.json",
                   '{"metadata": {"total_size": ' + DIGITS + '}, "weight_map": {"w": "a.safetensors"}}')
        repo.model(ST_MODEL)
        outcome = repo.check()
        # The index's metadata is not needed to judge: either way, no crash.
        assert outcome.code in (0, 2), outcome.describe()
        repo.expect(outcome, outcome.code)
        return
    shape, offsets = ("[" + DIGITS + "]", "[0, 4]") if where == "shape" else ("[1]", f"[0, {DIGITS}]")
    header = '{"w": {"dtype": "F32", "shape": ' + shape + ', "data_offsets": ' + offsets + "}}"
    repo.model("models/m.safetensors", _safetensors(header, b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file="models/m.safetensors")


# -- names the operating system cannot resolve -------------------------------------------------

def test_shard_name_with_nul_byte(repo: HostileRepo) -> None:
    repo.write(f"{ST_MODEL}/a.safetensors", _safetensors(ONE, b"\0" * 4))
    repo.write(f"{ST_MODEL}/model.safetensors.index.json",
               json.dumps({"weight_map": {"w": "a.safetensors", "v": "b\0.safetensors"}}))
    repo.model(ST_MODEL)
    repo.expect(repo.check(), 2, rule="DG202", says=["NUL"])


@pytest.mark.parametrize("name", ["loop.safetensors", "model.safetensors.index.json",
                                  "config.json"])
def test_link_loop_beside_a_model(repo: HostileRepo, name: str) -> None:
    repo.write(f"{ST_MODEL}/a.safetensors", _safetensors(ONE, b"\0" * 4))
    folder = repo.root / ST_MODEL
    os.symlink("loop2", folder / "loop1")
    os.symlink("loop1", folder / "loop2")
    if name == "loop.safetensors":
        repo.write(f"{ST_MODEL}/model.safetensors.index.json",
                   json.dumps({"weight_map": {"w": "a.safetensors", "v": "loop1"}}))
    else:
        os.symlink("loop1", folder / name)
    repo.model(ST_MODEL)
    outcome = repo.check()
    # A looping config.json or index is no file at all (is_file() is false): the shards alone
    # are read. A looping shard the index names cannot be resolved: DG202.
    if name == "loop.safetensors":
        repo.expect(outcome, 2, rule="DG202", says=["loop"])
    else:
        repo.expect(outcome, 0)


# -- strings inside a format that are not UTF-8 -----------------------------------------------

@pytest.mark.parametrize("mark", [b"PRODUCERX", b"DOCX", b"KEYX", b"VALUEX", b"INPUTX",
                                  b"DIMX", b"GRAPHX"])
def test_onnx_string_not_utf8(repo: HostileRepo, mark: bytes) -> None:
    repo.model("models/m.onnx", _onnx(mark), extra=", limits: {max_size: 1B}")
    for outcome in (repo.inspect("models/m.onnx"), repo.run("inspect", "models/m.onnx"),
                    repo.check()):
        assert outcome.code in (0, 1), outcome.describe()
        repo.expect(outcome, outcome.code)
        if outcome.args[:3] == ("inspect", "--format", "json"):
            assert outcome.report is not None, outcome.describe()


# -- reads outside the repository: every file opened beside a model ----------------------------

@pytest.mark.parametrize("name", ["config.json", "model.safetensors.index.json",
                                  "b.safetensors"])
def test_file_beside_safetensors_linking_out(repo: HostileRepo, name: str) -> None:
    repo.write(f"{ST_MODEL}/a.safetensors", _safetensors(ONE, b"\0" * 4))
    # A JSON secret: read as config.json or an index, its content would be printed.
    repo.secret.write_text(json.dumps({"weight_map": {"w": "a.safetensors"},
                                       "model_type": repo.token, "architectures": [repo.token]}))
    os.symlink(repo.secret, repo.root / ST_MODEL / name)
    repo.model(ST_MODEL)
    repo.expect(repo.check(), 2, rule="DG106", file=f"{ST_MODEL}/{name}", says=["leads out"])
    repo.expect(repo.inspect(ST_MODEL), 2, says=["leads out"])


@pytest.mark.parametrize("name", ["model.onnx", "model.gguf", "model.pt", "model.tflite"])
def test_folder_model_file_linking_out(repo: HostileRepo, name: str) -> None:
    repo.secret.write_bytes(_onnx())
    (repo.root / "models").mkdir()
    os.symlink(repo.secret, repo.root / "models" / name)
    repo.model("models")
    repo.expect(repo.check(), 2, rule="DG106", file=f"models/{name}", says=["leads out"])


def test_model_path_that_is_not_a_regular_file(repo: HostileRepo) -> None:
    (repo.root / "models").mkdir()
    os.mkfifo(repo.root / "models" / "m.onnx")  # opening it would wait for a writer forever
    repo.model("models/m.onnx")
    repo.expect(repo.check(), 2, rule="DG202", file="models/m.onnx", says=["not a regular file"])


# -- property: any number at any key that takes one is a report, never an exception ----------

_KEYS = ["latency: {budget_ms: N}", "cost: {max_usd_per_1k: N}", "limits: {max_params: N}",
         "limits: {max_size: N}", "latency: {budget_ms: 5, timeout_s: N}",
         "latency: {budget_ms: 5, threads: N}", "latency: {budget_ms: 5, dims: {n: N}}",
         "latency: {budget_ms: 5, inputs: {x: {shape: [N]}}}", "latency: {budget_ms: 5, warmup: N}",
         "target: {kind: edge, device: d}"]
_NUMBERS = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=10**300),
                     st.integers(max_value=-(2**63)), st.floats(), st.just("9" * 4000),
                     st.just("1e400"), st.just(".nan"), st.just("-.inf"), st.just("0x7fffffff"))


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(_KEYS), number=_NUMBERS, cores=_NUMBERS)
def test_any_number_anywhere_is_judged_not_raised(tmp_path: Path, key: str, number: object,
                                                  cores: object) -> None:
    from deploygate.engine import CheckOptions, run_check

    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "m.onnx").write_bytes(_onnx())
    manifest = tmp_path / "deploy-constraints.yaml"
    entry = key.replace("N", str(number))
    manifest.write_text(f"version: 1\ndevices: {{d: {{memory: 1GB, cores: {cores}}}}}\n"
                        f"models:\n  - {{name: m, path: m.onnx, target: {{kind: edge}}, {entry}}}\n"
                        if not entry.startswith("target") else
                        f"version: 1\ndevices: {{d: {{memory: 1GB, cores: {cores}}}}}\n"
                        f"models:\n  - {{name: m, path: m.onnx, {entry}}}\n")
    report = run_check(CheckOptions(manifest=manifest, skip_probe="not measured here"))
    json.dumps(report.to_json(), allow_nan=False)
    assert report.exit_code in (0, 1, 2)


def test_merged_report_nested_deeply(repo: HostileRepo) -> None:
    # `merge` and `comment` read reports that untrusted jobs uploaded.
    repo.write("report.json", "[" * 200_000 + "]" * 200_000)
    outcome = repo.run("merge", "report.json")
    assert outcome.code == 2 and "not JSON" in outcome.stderr, outcome.describe()
    repo.expect(outcome, 2)
