"""Property tests: every reader and parser, fed arbitrary or mutated bytes, either returns or
raises one of deploygate's own errors, and never allocates in proportion to a number it read.

In-process and fast: a few hundred examples per reader keep the whole file to seconds.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import onnx as onnx_lib
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploygate.artifacts import gguf, inspect_artifact, pytorch, safetensors, tflite
from deploygate.artifacts import onnx as onnx_reader
from deploygate.artifacts.pickle_scan import PickleScanError, scan_pickle
from deploygate.errors import DeploygateError
from deploygate.manifest import units
from deploygate.manifest.load import LoadResult, load_manifest
from tests.fixtures.mutations import mutations
from tests.hostile.harness import PROJECT
from tests.hostile.test_onnx import small_model

# CI runs a few hundred fixed examples per property; a longer, random hunt is
# `DEPLOYGATE_FUZZ_SCALE=15 python -m pytest tests/hostile/test_fuzz.py` (thousands each).
SCALE = float(os.environ.get("DEPLOYGATE_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` examples, scaled by DEPLOYGATE_FUZZ_SCALE."""
    return max(1, int(n * SCALE))


FAST = settings(max_examples=examples(200), deadline=None, derandomize=SCALE == 1, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SHORT = settings(FAST, max_examples=examples(120))
# The manifest loader validates a schema per example: fewer, still hundreds.
LOADER = settings(FAST, max_examples=examples(150))

_WORK = Path(tempfile.mkdtemp(prefix="deploygate-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
(_WORK / ".git").mkdir()


def _file(name: str, data: bytes) -> Path:
    """Write ``data`` to a scratch file (one per name, overwritten by each example)."""
    path = _WORK / name
    path.write_bytes(data)
    return path


def _only_own_errors(call: Callable[[], Any]) -> None:
    try:
        call()
    except DeploygateError as e:
        assert "\n" not in str(e)


# -- the manifest -----------------------------------------------------------------------------

MANIFEST_KEYS = ["version", "models", "devices", "defaults", "name", "path", "format", "target",
                 "kind", "device", "limits", "max_size", "max_params", "max_memory", "latency",
                 "budget_ms", "percentile", "threads", "dims", "inputs", "shape", "dtype",
                 "range", "value", "file", "cost", "max_usd_per_1k", "baseline", "ref",
                 "memory", "cores", "compute", "memory_bandwidth", "price_per_hour"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                    st.sampled_from(["1GB", "25M", "10%", "edge", "cloud", "p95", "m.onnx",
                                     "../x", "/etc/passwd", "raspberry-pi-5", "1e999GB"]))
documents = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(MANIFEST_KEYS), st.text(max_size=8)), inner,
                        max_size=6)),
    max_leaves=30)


def _loads(data: bytes) -> None:
    result = load_manifest(_file("deploy-constraints.yaml", data), "deploy-constraints.yaml")
    assert isinstance(result, LoadResult)
    assert (result.manifest is None) == bool(result.findings) or result.manifest is not None
    for finding in result.findings:
        assert "\n" not in finding.message


@LOADER
@given(st.text(max_size=400))
def test_manifest_loader_never_raises_on_text(text: str) -> None:
    _loads(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=400))
def test_manifest_loader_never_raises_on_bytes(data: bytes) -> None:
    _loads(data)


@settings(FAST, max_examples=examples(150))
@given(st.fixed_dictionaries({"version": st.sampled_from([1, 2, "1"]),
                              "models": st.lists(documents, max_size=3)}, optional={
                                  "devices": documents, "defaults": documents}))
def test_manifest_loader_never_raises_on_manifest_shaped_documents(doc: dict[str, Any]) -> None:
    _loads(yaml.safe_dump(doc).encode())


VALID_MANIFEST = (b"version: 1\ndevices:\n  b: {kind: edge, memory: 2GiB, compute: 5GFLOPS}\n"
                  b"models:\n  - name: m\n    path: m.onnx\n    target: {kind: edge, device: b}\n"
                  b"    limits: {max_size: 1GB, max_params: 25M}\n"
                  b"    latency: {budget_ms: 10, dims: {batch: 1}, inputs: {x: {shape: [1, 3]}}}\n"
                  b"    baseline: {ref: main, max_size_increase: 10%}\n")


@FAST
@given(mutations(VALID_MANIFEST))
def test_manifest_loader_never_raises_on_mutated_manifest(data: bytes) -> None:
    _loads(data)


# -- unit parsers -----------------------------------------------------------------------------

unit_text = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[0-9]{1,400}(\.[0-9]{1,40})?([KMGT]i?B|B|[KMB]|%|[KMGT]B/s|GFLOPS|TOPS)\Z"))
# Each parser's declared input types (the schema has checked the type before they run).
PARSERS: list[tuple[Callable[[Any], Any], st.SearchStrategy[Any]]] = [
    (units.parse_size, st.one_of(unit_text, st.integers())),
    (units.parse_count, st.one_of(unit_text, st.integers())),
    (units.parse_percent, unit_text),
    (units.parse_bandwidth, st.one_of(unit_text, st.integers(), st.floats())),
    (units.parse_compute, st.one_of(unit_text, st.integers(), st.floats())),
]


@settings(FAST, max_examples=examples(250))
@given(st.data())
def test_unit_parsers_return_or_raise_value_error(data: st.DataObject) -> None:
    for parse, inputs in PARSERS:
        value = data.draw(inputs)
        try:
            result = parse(value)
        except ValueError as e:
            assert "\n" not in str(e)
            continue
        if parse in (units.parse_size, units.parse_count):
            assert 0 <= result <= units.MAX_QUANTITY
            units.format_bytes(result)
            units.format_count(result)


# -- artifact readers ---------------------------------------------------------------------------

def _safetensors(header: Any, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(raw)) + raw + data


tensor_entries = st.fixed_dictionaries({}, optional={
    "dtype": st.one_of(st.sampled_from(["F32", "F16", "BF16", "I64", "F4", "BOOL", "X"]),
                       scalars),
    "shape": st.one_of(st.lists(st.integers(-2, 2**40), max_size=4), scalars),
    "data_offsets": st.one_of(st.lists(st.integers(-2, 64), min_size=2, max_size=2), scalars),
})


@FAST
@given(st.binary(max_size=300))
def test_safetensors_header_reader_on_bytes(data: bytes) -> None:
    path = _file("f.safetensors", data)
    _only_own_errors(lambda: safetensors.read_header(path, "f.safetensors"))


@LOADER
@given(st.dictionaries(st.text(max_size=6), st.one_of(tensor_entries, documents), max_size=4),
       st.binary(max_size=64))
def test_safetensors_header_reader_on_shaped_headers(header: dict[str, Any], data: bytes) -> None:
    path = _file("h.safetensors", _safetensors(header, data))
    _only_own_errors(lambda: safetensors.read_header(path, "h.safetensors"))


SMALL_ONNX = small_model()


@FAST
@given(mutations(SMALL_ONNX))
def test_onnx_reader_on_mutated_model(data: bytes) -> None:
    path = _file("m.onnx", data)
    _only_own_errors(lambda: onnx_reader.inspect(path, "m.onnx"))


def _gguf_seed() -> bytes:
    def s(text: bytes) -> bytes:
        return struct.pack("<Q", len(text)) + text
    kvs = (s(b"general.architecture") + struct.pack("<I", 8) + s(b"llama")
           + s(b"llama.context_length") + struct.pack("<II", 4, 2048)
           + s(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + s(b"a") + s(b"b"))
    tensor = s(b"w") + struct.pack("<I2QIQ", 2, 32, 2, 0, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 3) + kvs + tensor
    return head + b"\0" * (-len(head) % 32) + b"\0" * 256


GGUF_SEED = _gguf_seed()


@FAST
@given(st.one_of(mutations(GGUF_SEED), st.binary(max_size=200).map(lambda b: b"GGUF" + b)))
def test_gguf_reader_on_bytes(data: bytes) -> None:
    path = _file("m.gguf", data)
    _only_own_errors(lambda: gguf.inspect(path, "m.gguf"))


def test_gguf_seed_is_valid() -> None:
    info = gguf.inspect(_file("seed.gguf", GGUF_SEED), "seed.gguf")
    assert info.params == 64


PICKLE_SEEDS = [pickle.dumps({"a": [1, 2.5, "x", b"y", (None, True)], "b": {1, 2}}, protocol=p)
                for p in (0, 2, 4, 5)]


@FAST
@given(st.one_of(*(mutations(seed) for seed in PICKLE_SEEDS), st.binary(max_size=200)))
def test_pickle_walker_raises_only_its_error(data: bytes) -> None:
    try:
        scan_pickle(io.BytesIO(data), end=len(data))
    except PickleScanError as e:
        assert "\n" not in str(e)


@FAST
@given(st.one_of(*(mutations(seed) for seed in PICKLE_SEEDS),
                 st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)))
def test_pytorch_reader_on_bytes(data: bytes) -> None:
    path = _file("m.pt", data)
    _only_own_errors(lambda: pytorch.inspect(path, "m.pt"))


@FAST
@given(st.binary(max_size=300).map(lambda b: b[:4] + b"TFL3" + b[4:]))
def test_tflite_reader_on_bytes(data: bytes) -> None:
    path = _file("m.tflite", data)
    _only_own_errors(lambda: tflite.inspect(path, "m.tflite"))


@SHORT
@given(st.binary(max_size=200), st.sampled_from([".onnx", ".safetensors", ".gguf", ".pt",
                                                 ".tflite", ".bin", ""]))
def test_inspect_artifact_on_bytes(data: bytes, suffix: str) -> None:
    path = _file("any" + suffix, data)
    _only_own_errors(lambda: inspect_artifact(path, display=path.name))


# -- allocation is bounded by the file, never by a number in it ----------------------------------

def _claims() -> Iterator[tuple[str, bytes]]:
    """Small files whose headers claim 2^40 (or more) elements or bytes."""
    yield "claims.safetensors", struct.pack("<Q", 2**40) + b"{}"
    yield "claims2.safetensors", _safetensors(
        {"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 2**42]}})
    yield "claims.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40) + b"k"
    yield "claims2.gguf", (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
                           + struct.pack("<IIQ", 9, 0, 2**40))
    yield "claims.pt", b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"xx"  # BINBYTES8
    yield "claims2.pt", b"\x80\x02X" + struct.pack("<I", 2**31) + b"x"  # BINUNICODE
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 60000, 60000, 2**31, 0, 0)
    yield "claims3.pt", b"PK\x03\x04" + b"\0" * 26 + eocd
    yield "claims.tflite", struct.pack("<I", 8) + b"TFL3" + struct.pack("<I", 2**31) * 8
    tensor = onnx_lib.TensorProto(name="w", data_type=onnx_lib.TensorProto.FLOAT,
                                  dims=[2**20, 2**20])
    graph = onnx_lib.helper.make_graph([], "g", [], [], initializer=[tensor])
    yield "claims.onnx", onnx_lib.helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize(("name", "data"), list(_claims()), ids=[n for n, _ in _claims()])
def test_claims_of_2_pow_40_are_refused_without_allocating(name: str, data: bytes) -> None:
    path = _file(name, data)
    tracemalloc.start()
    try:
        with pytest.raises(DeploygateError):
            inspect_artifact(path, display=name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{name}: peak {peak >> 20} MiB for a {len(data)}-byte file"


_UNDER_RLIMIT = """
import resource, sys
from pathlib import Path
from deploygate.artifacts import inspect_artifact
from deploygate.errors import DeploygateError
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
for name in sys.argv[2:]:
    try:
        inspect_artifact(Path(name), display=name)
    except DeploygateError:
        pass
print("ok")
"""


def test_claims_refused_under_an_address_space_cap(tmp_path: Path) -> None:
    """The whole readers, C parsers included, under RLIMIT_AS: a 2^40 claim must not be tried."""
    names = []
    for name, data in _claims():
        (tmp_path / name).write_bytes(data)
        names.append(name)
    with open(tmp_path / "sparse.onnx", "wb") as f:
        f.truncate(3 * 2**30)  # over protobuf's limit: refused by size, never read
    names.append("sparse.onnx")
    # Address space, not resident memory: imports alone map a few hundred MiB.
    cap = str(1536 << 20)
    done = subprocess.run([sys.executable, "-c", _UNDER_RLIMIT, cap, *names], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(PROJECT), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
