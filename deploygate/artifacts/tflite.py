"""TFLite reader: a minimal, bounds-checked FlatBuffer walk over the TFLite schema (v3).

Only the tables needed are visited: Model (operator codes, subgraphs, buffers), SubGraph
(tensors, inputs, outputs, operators), Tensor and Buffer. The file is memory-mapped, so weight
bytes are never read: only buffer lengths are. Every offset, vtable and vector length is
checked against the file before it is followed; anything out of bounds is DG202.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from deploygate.artifacts.base import MAX_RANK, ArtifactInfo, Dim, TensorSpec
from deploygate.errors import ArtifactError
from deploygate.errors import DG202

IDENTIFIER = b"TFL3"
MAX_VECTOR = 50_000_000  # elements in one vector (checked against the bytes left, too)
MAX_VTABLE_FIELDS = 256
MAX_TENSORS = 500_000
MAX_ELEMENTS_WALKED = 250_000
"""Tables and ints read over the whole file: FlatBuffers let many fields point at one shared
vector, so without a total a small file could be walked billions of times."""
MAX_NAME_BYTES = 1 << 16

# schema.fbs TensorType -> numpy-style name
TENSOR_TYPES = ("float32 float16 int32 uint8 int64 string bool int16 complex64 int8 float64 "
                "complex128 uint64 resource variant uint32 uint16 int4 bfloat16").split()

# schema.fbs BuiltinOperator, in order from 0
BUILTIN_OPS = """ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE
DEQUANTIZE EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6
RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM CALL
CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND
SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE
BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST
PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN
TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW
ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK
REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR
LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS
WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG
REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL
BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD
UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR
RIGHT_SHIFT""".split()
CUSTOM_OP = 32

# field indexes in schema.fbs
MODEL_VERSION, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 0, 1, 2, 3, 4
SG_TENSORS, SG_INPUTS, SG_OUTPUTS, SG_OPERATORS, SG_NAME = 0, 1, 2, 3, 4
T_SHAPE, T_TYPE, T_BUFFER, T_NAME, T_SHAPE_SIGNATURE = 0, 1, 2, 3, 7
B_DATA, B_OFFSET, B_SIZE = 0, 1, 2
OC_DEPRECATED_BUILTIN, OC_CUSTOM, OC_VERSION, OC_BUILTIN = 0, 1, 2, 3
OP_OPCODE_INDEX = 0


class _Corrupt(Exception):
    pass


class _FlatBuffer:
    """Bounds-checked access to FlatBuffer tables, vectors and strings in ``buf``."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.size = len(buf)
        self.walked = 0

    def _walk(self, n: int, what: str) -> None:
        self.walked += n
        if self.walked > MAX_ELEMENTS_WALKED:
            raise _Corrupt(f"{what}: more than {MAX_ELEMENTS_WALKED} tables and values to read "
                           "in all (vectors shared many times over?)")

    def _check(self, pos: int, n: int, what: str) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise _Corrupt(f"{what} at offset {pos} ({n} bytes) lies outside the file "
                           f"({self.size} bytes)")

    def u8(self, pos: int, what: str) -> int:
        self._check(pos, 1, what)
        return int(self.buf[pos])

    def unpack(self, fmt: str, pos: int, what: str) -> Any:
        n = struct.calcsize(fmt)
        self._check(pos, n, what)
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def deref(self, pos: int, what: str) -> int:
        """Follow the uoffset_t at ``pos`` (relative to itself)."""
        return pos + int(self.unpack("<I", pos, what))

    def field(self, table: int, index: int, what: str) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self.unpack("<i", table, f"{what} vtable offset")
        vt_size = self.unpack("<H", vtable, f"{what} vtable")
        table_size = self.unpack("<H", vtable + 2, f"{what} vtable")
        if vt_size < 4 or vt_size % 2 or vt_size > 4 + 2 * MAX_VTABLE_FIELDS:
            raise _Corrupt(f"{what} vtable at offset {vtable} has size {vt_size}")
        self._check(vtable, vt_size, f"{what} vtable")
        self._check(table, table_size, f"{what} table")
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        off = int(self.unpack("<H", vtable + slot, f"{what} vtable"))
        if off == 0:
            return None
        if off >= table_size:
            raise _Corrupt(f"{what} field {index} at offset {table + off} lies outside its "
                           f"table")
        return table + off

    def scalar(self, table: int, index: int, fmt: str, default: Any, what: str) -> Any:
        pos = self.field(table, index, what)
        return default if pos is None else self.unpack(fmt, pos, what)

    def vector(self, table: int, index: int, elem_size: int, what: str,
               cap: int = MAX_VECTOR) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) if absent."""
        pos = self.field(table, index, what)
        if pos is None:
            return 0, 0
        vec = self.deref(pos, what)
        n = self.unpack("<I", vec, f"{what} length")
        if n > cap or vec + 4 + n * elem_size > self.size:
            raise _Corrupt(f"{what} at offset {vec} claims {n} elements of {elem_size} bytes; "
                           f"the file has {max(self.size - vec - 4, 0)} bytes left")
        return vec + 4, n

    def tables(self, table: int, index: int, what: str, cap: int = MAX_VECTOR) -> list[int]:
        """Positions of the tables in a vector-of-tables field."""
        start, n = self.vector(table, index, 4, what, cap)
        self._walk(n, what)
        return [self.deref(start + 4 * i, f"{what}[{i}]") for i in range(n)]

    def ints(self, table: int, index: int, what: str) -> list[int] | None:
        """An int32 vector field, or None if absent."""
        if self.field(table, index, what) is None:
            return None
        start, n = self.vector(table, index, 4, what, cap=1 << 20)
        self._walk(n, what)
        return list(struct.unpack_from(f"<{n}i", self.buf, start))

    def string(self, table: int, index: int, what: str) -> str | None:
        if self.field(table, index, what) is None:
            return None
        start, n = self.vector(table, index, 1, what, cap=MAX_NAME_BYTES)
        if self.u8(start + n, f"{what} terminator") != 0:
            raise _Corrupt(f"{what} at offset {start} is not NUL-terminated")
        return bytes(self.buf[start:start + n]).decode("utf-8", "replace")


def inspect(path: Path, display: str) -> ArtifactInfo:
    """Read a .tflite model's tensors, weights, inputs and outputs without running it."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            if size < 8:
                raise _Corrupt(f"the file is {size} bytes: too short for a FlatBuffer")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _read(_FlatBuffer(buf), path, display, size)
    except _Corrupt as e:
        raise ArtifactError(f"corrupt TFLite model: {e}", file=display, rule=DG202) from None
    except (OSError, ValueError) as e:
        raise ArtifactError(f"cannot read the file: {e}", file=display, rule=DG202) from e


def _read(fb: _FlatBuffer, path: Path, display: str, size: int) -> ArtifactInfo:
    if bytes(fb.buf[4:8]) != IDENTIFIER:
        raise _Corrupt("no TFL3 file identifier at offset 4")
    model = fb.deref(0, "root table offset")
    version = fb.scalar(model, MODEL_VERSION, "<I", 0, "Model.version")
    description = fb.string(model, MODEL_DESCRIPTION, "Model.description")

    op_names: list[str] = []
    custom: list[str] = []
    for i, oc in enumerate(fb.tables(model, MODEL_OPCODES, "Model.operator_codes")):
        what = f"operator_codes[{i}]"
        # codes above 127 live in builtin_code; older files only have the deprecated byte
        code = max(fb.scalar(oc, OC_DEPRECATED_BUILTIN, "<b", 0, what),
                   fb.scalar(oc, OC_BUILTIN, "<i", 0, what))
        if code == CUSTOM_OP:
            name = fb.string(oc, OC_CUSTOM, what) or "?"
            custom.append(name)
            op_names.append(f"CUSTOM:{name}")
        else:
            op_names.append(BUILTIN_OPS[code] if 0 <= code < len(BUILTIN_OPS)
                            else f"BUILTIN_{code}")

    buffer_sizes = [_buffer_size(fb, b, i, size)
                    for i, b in enumerate(fb.tables(model, MODEL_BUFFERS, "Model.buffers"))]

    subgraphs = fb.tables(model, MODEL_SUBGRAPHS, "Model.subgraphs", cap=100_000)
    if not subgraphs:
        raise _Corrupt("the model has no subgraph")
    params = 0
    by_dtype: dict[str, int] = {}
    counted: set[int] = set()  # a buffer shared by several tensors is weights once
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    operator_count = 0
    used_ops: set[str] = set()
    for g, sg in enumerate(subgraphs):
        tensors = fb.tables(sg, SG_TENSORS, f"subgraphs[{g}].tensors", cap=MAX_TENSORS)
        specs: list[TensorSpec] = []
        for t, tensor in enumerate(tensors):
            what = f"subgraphs[{g}].tensors[{t}]"
            shape = fb.ints(tensor, T_SHAPE, f"{what}.shape") or []
            signature = fb.ints(tensor, T_SHAPE_SIGNATURE, f"{what}.shape_signature")
            ttype = fb.scalar(tensor, T_TYPE, "<b", 0, f"{what}.type")
            dtype = TENSOR_TYPES[ttype] if 0 <= ttype < len(TENSOR_TYPES) else f"type{ttype}"
            buffer = fb.scalar(tensor, T_BUFFER, "<I", 0, f"{what}.buffer")
            name = fb.string(tensor, T_NAME, f"{what}.name") or f"tensor{t}"
            if buffer >= max(len(buffer_sizes), 1):
                raise _Corrupt(f"{what} names buffer {buffer}; the model has "
                               f"{len(buffer_sizes)}")
            if len(shape) > MAX_RANK or len(signature or ()) > MAX_RANK:
                raise _Corrupt(f"{what} has more than {MAX_RANK} dimensions")
            if any(d < 0 for d in shape):
                raise _Corrupt(f"{what} has a negative dimension {shape}")
            # buffer 0 is the schema's empty sentinel; an empty buffer means activations
            if buffer and buffer_sizes[buffer] and buffer not in counted:
                counted.add(buffer)
                n = 1
                for d in shape:
                    n *= d
                params += n
                by_dtype[dtype] = by_dtype.get(dtype, 0) + buffer_sizes[buffer]
            dims: tuple[Dim, ...] = tuple(
                None if s < 0 else s for s in signature) if signature else tuple(shape)
            specs.append(TensorSpec(name, dtype, dims))
        ops = fb.tables(sg, SG_OPERATORS, f"subgraphs[{g}].operators")
        operator_count += len(ops)
        for o, op in enumerate(ops):
            index = fb.scalar(op, OP_OPCODE_INDEX, "<I", 0, f"subgraphs[{g}].operators[{o}]")
            if index >= len(op_names):
                raise _Corrupt(f"subgraphs[{g}].operators[{o}] uses operator code {index}; "
                               f"the model has {len(op_names)}")
            used_ops.add(op_names[index])
        if g == 0:
            inputs = _io(fb, sg, SG_INPUTS, specs, "subgraphs[0].inputs")
            outputs = _io(fb, sg, SG_OUTPUTS, specs, "subgraphs[0].outputs")

    details: dict[str, Any] = {
        "schema_version": version,
        "description": description,
        "subgraph_count": len(subgraphs),
        "operator_count": operator_count,
        "operators": sorted(used_ops),
        "custom_operators": sorted(set(custom)),
        "buffer_count": len(buffer_sizes),
    }
    return ArtifactInfo(path=display, format="tflite", size_bytes=size, params=params,
                        bytes_by_dtype=by_dtype, inputs=inputs, outputs=outputs,
                        files=(path.name,), details=details, runnable=True)


def _buffer_size(fb: _FlatBuffer, buffer: int, i: int, size: int) -> int:
    what = f"buffers[{i}]"
    _, n = fb.vector(buffer, B_DATA, 1, f"{what}.data")
    # models over 2 GB keep weights after the FlatBuffer: offset and size, both absolute
    offset = fb.scalar(buffer, B_OFFSET, "<Q", 0, f"{what}.offset")
    extern = fb.scalar(buffer, B_SIZE, "<Q", 0, f"{what}.size")
    if offset > 1:
        if offset + extern > size:
            raise _Corrupt(f"{what} data at offset {offset} ({extern} bytes) lies past the end "
                           f"of the file ({size} bytes)")
        return int(extern)
    return n


def _io(fb: _FlatBuffer, sg: int, index: int, specs: list[TensorSpec],
        what: str) -> tuple[TensorSpec, ...]:
    ids = fb.ints(sg, index, what) or []
    for i in ids:
        if not 0 <= i < len(specs):
            raise _Corrupt(f"{what} names tensor {i}; the subgraph has {len(specs)}")
    return tuple(specs[i] for i in ids)
