"""Resource exhaustion: each input past a cap is refused before the work it would cost.

The inputs are built by the generators of ``benchmarks/hostile_limits.py``, which measures
the same cases' peak memory and time; here the real command must refuse each one (one
located line, exit 2) within the harness's wall-time bound.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType

import pytest

from tests.fixtures import probe_models as models
from tests.hostile.harness import PROJECT, HostileRepo


def _generators() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "hostile_limits", PROJECT / "benchmarks" / "hostile_limits.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hostile_limits", module)
    spec.loader.exec_module(module)
    return module


gen = _generators()


@pytest.mark.parametrize("case", ["onnx-nodes", "onnx-nested-nodes", "safetensors-header",
                                  "safetensors-rank", "index", "gguf-tensors", "zip-directory"])
def test_input_past_a_cap_is_refused(repo: HostileRepo, case: str) -> None:
    if case == "onnx-nodes":
        name, content, says = "m.onnx", gen.onnx_nodes(200_001), "200,000 nodes"
    elif case == "onnx-nested-nodes":
        # The nodes hide in a subgraph (an If's branch): counted all the same.
        from onnx import TensorProto, helper

        inner = gen.onnx_nodes(200_001)
        model = helper.make_model(helper.make_graph(
            [helper.make_node("If", ["c"], ["y"], then_branch=helper.make_graph(
                [], "t", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]),
                else_branch=helper.make_graph(
                [], "e", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))],
            "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]),
            opset_imports=[helper.make_opsetid("", 17)])
        outer = model.SerializeToString()
        # Splice the big graph's nodes into then_branch: its graph field, re-encoded.
        import onnx

        big = onnx.load_from_string(inner).graph
        model.graph.node[0].attribute[0].g.CopyFrom(big)
        outer = model.SerializeToString()
        name, content, says = "m.onnx", outer, "200,000 nodes"
    elif case == "safetensors-header":
        name, content, says = "m.safetensors", gen.safetensors_header(17 << 20), "limit"
    elif case == "safetensors-rank":
        name, content, says = "m.safetensors", gen.safetensors_rank(65), "65 dimensions"
    elif case == "index":
        name, content, says = "ckpt", gen.index_entries(200_000), "over 8388608 bytes"
    elif case == "gguf-tensors":
        name, content, says = "m.gguf", gen.gguf_tensors(100_001), "tensor_count"
    else:
        name, content, says = "m.pt", gen.zip_directory(100_001), "more than 100000 members"
    if isinstance(content, dict):
        for member, data in content.items():
            repo.write(f"models/{name}/{member}", data)
    else:
        repo.write(f"models/{name}", content)
    repo.model(f"models/{name}")
    repo.expect(repo.check(), 2, rule="DG202", says=[says])


def test_tflite_shared_tables_are_walked_within_a_budget(repo: HostileRepo) -> None:
    pytest.importorskip("flatbuffers")
    repo.model("models/m.tflite", gen.tflite_shared(2_000, 1_000))
    repo.expect(repo.check(), 2, rule="DG202", says=["vectors shared"])


@pytest.mark.parametrize("entry,says", [
    ("devices: {d: {memory: 1GB, cores: 1000000}}\n", "1000000"),
    ("models:\n" + "".join(f"  - {{name: m{i}, path: models/m.onnx, target: {{kind: edge}}}}\n"
                           for i in range(1001)), "models"),
])
def test_manifest_numbers_that_size_work_have_a_maximum(repo: HostileRepo, entry: str,
                                                        says: str) -> None:
    repo.write("models/m.onnx", gen.onnx_tiny())
    if entry.startswith("models"):
        repo.manifest("version: 1\n" + entry)
    else:
        repo.manifest("version: 1\n" + entry + "models:\n  - {name: m, path: models/m.onnx, "
                      "target: {kind: edge, device: d}}\n")
    repo.expect(repo.check(), 2, rule="DG102", says=[says])


def test_input_shape_rank_has_a_maximum(repo: HostileRepo) -> None:
    repo.write("models/m.onnx", gen.onnx_tiny())
    shape = json.dumps([1] * 65)
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge}, "
                  f"latency: {{budget_ms: 5, inputs: {{x: {{shape: {shape}}}}}}}}}\n")
    repo.expect(repo.check(), 2, rule="DG102", says=["shape"])


def test_base_ref_that_searches_history_is_refused(repo: HostileRepo) -> None:
    repo.write("models/m.onnx", gen.onnx_tiny())
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: models/m.onnx, target: {kind: edge}, "
                  "baseline: {ref: 'HEAD^{/(a*)*b}', max_size_increase: 10%}}\n")
    outcome = repo.check()
    assert "search of commit messages" in outcome.stdout, outcome.describe()
    repo.expect(outcome, outcome.code)


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_the_whole_check_has_a_time_budget(repo: HostileRepo) -> None:
    (repo.root / "models").mkdir()
    models.endless_loop_model(repo.root / "models" / "m.onnx")
    entries = "".join(f"  - {{name: m{i}, path: models/m.onnx, target: {{kind: edge}}, "
                      "latency: {budget_ms: 10, timeout_s: 600, max_time_s: 600}}\n"
                      for i in range(5))
    repo.manifest("version: 1\nmodels:\n" + entries)
    outcome = repo.check("deploy-constraints.yaml", "--time-budget", "4", probe=True)
    message = repo.expect(outcome, 2, rule="DG112", says=["time budget of 4 s"])
    assert message
    report = outcome.report
    assert report is not None
    # Every model is judged as something: the first probe cut at the budget, the rest DG112.
    rules = [f["rule"] for m in report["models"] for f in m["findings"]]
    assert rules.count("DG112") >= 3, rules


def test_pickle_with_too_many_opcodes_is_unsafe(repo: HostileRepo) -> None:
    # Under the 64 MiB byte cap, but minutes of walking: refused after MAX_OPCODES.
    repo.model("models/m.pt", gen.pickle_ones(2_000_001))
    repo.expect(repo.check(), 1, rule="DG203", says=["opcodes"])
