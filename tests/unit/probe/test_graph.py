"""Graph facts from real models: which inputs index tables, which inputs feed a node."""

from __future__ import annotations

from pathlib import Path

import onnx

from deploygate.probe.graph import GraphFacts, read_graph_facts

from tests.fixtures import probe_models as models


def facts_of(path: Path) -> GraphFacts:
    model = onnx.load(str(path))
    return read_graph_facts(model, [i.name for i in model.graph.input])


def test_gather_index_rows_through_constants_initializers_and_casts(tmp_path: Path) -> None:
    assert facts_of(models.gather_model(tmp_path / "g.onnx", rows=7)).index_rows == {"idx": 7}
    embedding = facts_of(models.embedding_model(tmp_path / "e.onnx", rows=300))
    assert embedding.index_rows == {"ids": 300}
    quantized = facts_of(models.quantized_embedding_model(tmp_path / "q.onnx", rows=260))
    assert quantized.index_rows == {"ids": 260}


def test_computed_indices_are_not_ranged(tmp_path: Path) -> None:
    # idx + 100 reaches the Gather through an Add: no range on idx could be derived honestly.
    assert facts_of(models.offset_gather_model(tmp_path / "o.onnx")).index_rows == {}


def test_inputs_feeding_a_node_are_traced(tmp_path: Path) -> None:
    facts = facts_of(models.offset_gather_model(tmp_path / "o.onnx"))
    assert facts.inputs_feeding("lookup") == ["idx"]
    assert facts.inputs_feeding("steps_to_float") == ["steps"]
    assert facts.inputs_feeding("scale") == ["idx", "steps"]
    assert facts.inputs_feeding("not-a-node") == []


def test_subgraph_nodes_depend_on_the_outer_names_they_read(tmp_path: Path) -> None:
    facts = facts_of(models.mode_switch_model(tmp_path / "m.onnx"))
    assert facts.inputs_feeding("squeeze_state") == ["state"]


def test_inputs_that_pick_an_if_branch(tmp_path: Path) -> None:
    assert facts_of(models.mode_switch_model(tmp_path / "m.onnx")).branch_inputs == ("mode",)
    assert facts_of(models.gather_model(tmp_path / "g.onnx")).branch_inputs == ()
