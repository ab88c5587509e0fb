"""A pickle walker that never unpickles: opcodes are decoded and a symbolic stack simulated.

``pickletools.genops`` only decodes opcodes and their arguments; it imports nothing named in
the pickle and calls nothing. On top of it this module keeps a stack and memo of *symbols*
(globals, tuples, calls that were never made) so that it can

- name every global the pickle would import (GLOBAL, STACK_GLOBAL, INST), and
- follow ``torch._utils._rebuild_tensor*`` calls and ``('storage', ...)`` persistent ids to
  tensor shapes, dtypes and storages, without touching the storages' bytes.

Whether a global is acceptable is decided by :func:`unsafe_globals` against a short allowlist.
"""

from __future__ import annotations

import _compat_pickle
import pickletools
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MAX_PICKLE_BYTES = 64 << 20  # a 70B-parameter state dict's data.pkl is well under 1 MiB
MAX_LINE_BYTES = 1 << 16  # text opcodes (GLOBAL, INT, STRING) end at a newline
MAX_OPCODES = 2_000_000
"""Opcodes walked in one pickle (~30 per tensor: 60,000 tensors; a 70B model has under 1,000).
The byte cap alone would allow 64 million one-byte opcodes: minutes of walking, and a memo of
millions of objects."""

# (dtype name, bytes per element) for the legacy typed storage classes
STORAGE_TYPES: dict[str, tuple[str, int]] = {
    "DoubleStorage": ("float64", 8), "FloatStorage": ("float32", 4),
    "HalfStorage": ("float16", 2), "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8), "IntStorage": ("int32", 4), "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1), "BoolStorage": ("bool", 1),
    "ComplexFloatStorage": ("complex64", 8), "ComplexDoubleStorage": ("complex128", 16),
    "QInt8Storage": ("qint8", 1), "QUInt8Storage": ("quint8", 1),
    "QInt32Storage": ("qint32", 4), "QUInt4x2Storage": ("quint4x2", 1),
    "QUInt2x4Storage": ("quint2x4", 1), "UntypedStorage": ("uint8", 1),
}

# torch dtype globals (``torch.float32``...) -> (numpy-style name, bytes per element)
TORCH_DTYPES: dict[str, tuple[str, int]] = {
    "float32": ("float32", 4), "float": ("float32", 4), "float64": ("float64", 8),
    "double": ("float64", 8), "float16": ("float16", 2), "half": ("float16", 2),
    "bfloat16": ("bfloat16", 2), "complex32": ("complex32", 4), "chalf": ("complex32", 4),
    "complex64": ("complex64", 8), "cfloat": ("complex64", 8),
    "complex128": ("complex128", 16), "cdouble": ("complex128", 16),
    "uint8": ("uint8", 1), "int8": ("int8", 1), "int16": ("int16", 2), "short": ("int16", 2),
    "int32": ("int32", 4), "int": ("int32", 4), "int64": ("int64", 8), "long": ("int64", 8),
    "uint16": ("uint16", 2), "uint32": ("uint32", 4), "uint64": ("uint64", 8),
    "bool": ("bool", 1), "qint8": ("qint8", 1), "quint8": ("quint8", 1),
    "qint32": ("qint32", 4), "quint4x2": ("quint4x2", 1), "quint2x4": ("quint2x4", 1),
    "float8_e4m3fn": ("float8_e4m3fn", 1), "float8_e5m2": ("float8_e5m2", 1),
    "float8_e4m3fnuz": ("float8_e4m3fnuz", 1), "float8_e5m2fnuz": ("float8_e5m2fnuz", 1),
    "float8_e8m0fnu": ("float8_e8m0fnu", 1), "float4_e2m1fn_x2": ("float4_e2m1fn_x2", 1),
}

_REBUILD_TENSOR = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}
_REBUILD_PARAMETER = {"_rebuild_parameter", "_rebuild_parameter_with_state"}

# Globals a plain checkpoint may name. Each one, called with any arguments, only builds
# containers, tensors from storages, dtypes or sizes: nothing imports, evaluates or opens.
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"),
     ("builtins", "set"), ("builtins", "frozenset"),
     # protocol 2 (torch.save's default) pickles a bytes object as _codecs.encode(str, 'latin1')
     ("_codecs", "encode")}
    | {("torch._utils", n) for n in _REBUILD_TENSOR | _REBUILD_PARAMETER}
    | {("torch", n) for n in STORAGE_TYPES}
    | {("torch.cuda", n) for n in STORAGE_TYPES if n != "UntypedStorage"}
    | {("torch.storage", "UntypedStorage")}
    | {("torch", n) for n in TORCH_DTYPES}
)

# Names only TorchScript archives use: their classes (``__torch__.*``) and list builders.
# They are not "safe" (the archive runs its own code, which the caller reports), but they are
# expected there and do not by themselves make the file unsafe.
TORCHSCRIPT_MODULES = ("__torch__", "torch.jit._pickle")


def is_torchscript_global(module: str, name: str) -> bool:
    """Whether ``module.name`` is one of the names TorchScript archives are made of."""
    return any(module == m or module.startswith(m + ".") for m in TORCHSCRIPT_MODULES)


@dataclass(frozen=True)
class StorageRef:
    """A storage named by a ``('storage', type, key, location, numel)`` persistent id."""

    key: str
    """Storage key: the member ``data/<key>`` in a zip, the order key in a legacy file."""
    dtype: str
    """Element type."""
    itemsize: int
    """Bytes per element of ``dtype``."""
    numel: int
    """Elements in the storage (bytes, for an untyped storage)."""
    location: str
    """Device the storage was saved from (``cpu``, ``cuda:0``)."""

    @property
    def nbytes(self) -> int:
        """Bytes of the storage's data."""
        return self.numel * self.itemsize


@dataclass(frozen=True)
class TensorRef:
    """A tensor a rebuild call would make: a view of a storage."""

    storage_key: str
    """Key of the storage it views."""
    dtype: str
    """Element type."""
    offset: int
    """Offset into the storage, in elements."""
    shape: tuple[int, ...]
    """Size."""
    stride: tuple[int, ...]
    """Stride, in elements."""

    @property
    def numel(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class PickleScan:
    """What one pickle references, read without unpickling it."""

    globals: tuple[tuple[str, str], ...]
    """Every (module, name) the pickle imports, in first-seen order, without repeats."""
    storages: dict[str, StorageRef]
    """Storages by key."""
    tensors: tuple[TensorRef, ...]
    """Distinct tensors (a tensor referenced twice through the memo counts once)."""
    end: int
    """Offset just past the STOP opcode, relative to where the pickle started."""
    result_kind: str = "other"
    """What the top-level object is: ``int``, ``dict``, ``list``, ``object``, ``other``."""
    result: Any = field(default=None, repr=False)
    """The top-level value when it is a plain scalar (legacy headers), else None."""
    sections: tuple[Section, ...] = ()
    """When the top-level object is a dict with string keys: the tensors under each key."""


@dataclass(frozen=True)
class Section:
    """One top-level key of a dict pickle and the tensors reachable from its value."""

    key: str
    """The key (``state_dict``, ``optimizer``, or a parameter name in a flat state dict)."""
    tensors: tuple[TensorRef, ...]
    """Tensors under it that no earlier-walked section reached."""
    container: bool
    """Whether the value is a container or object rather than one tensor or a scalar."""


class PickleScanError(Exception):
    """The pickle cannot be walked to its end: truncated, malformed or beyond the caps."""

    def __init__(self, reason: str, pos: int | None, globals_seen: tuple[tuple[str, str], ...]):
        super().__init__(reason)
        self.reason = reason
        self.pos = pos
        self.globals_seen = globals_seen

    def __str__(self) -> str:
        where = f" at byte {self.pos}" if self.pos is not None else ""
        return f"{self.reason}{where}"


_OPCODE_BYTES = frozenset(op.code.encode("latin-1") for op in pickletools.opcodes)


def starts_like_pickle(head: bytes) -> bool:
    """Whether ``head`` begins with a pickle opcode (protocols 0 and 1 have no PROTO header)."""
    return head[:1] in _OPCODE_BYTES


def unsafe_globals(globals_: tuple[tuple[str, str], ...], *,
                   torchscript: bool = False) -> list[str]:
    """Dotted names of the globals that are neither allowlisted nor (in TorchScript) expected."""
    return [f"{m}.{n}" for m, n in globals_
            if (m, n) not in SAFE_GLOBALS and not (torchscript and is_torchscript_global(m, n))]


class _Stream:
    """A read-only view of a file region for genops: reads past its end fail instead of
    allocating, and lines are bounded."""

    def __init__(self, f: BinaryIO, start: int, end: int) -> None:
        self._f = f
        self._start = start
        self._end = end
        self._pos = start
        f.seek(start)

    def tell(self) -> int:
        return self._pos - self._start

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if n is None or n < 0:
            n = left
        if n > left:
            raise _Truncated(f"an opcode argument of {n} bytes runs past the end "
                             f"({left} bytes left)")
        data = self._f.read(n)
        if len(data) != n:
            raise _Truncated("the file ended inside the pickle")
        self._pos += n
        return data

    def readline(self, limit: int = -1) -> bytes:
        left = min(self._end - self._pos, MAX_LINE_BYTES)
        data = self._f.read(left)
        nl = data.find(b"\n")
        if nl < 0:
            # genops then reports "no newline found"; the position no longer matters
            self._pos += len(data)
            return data
        self._f.seek(self._pos + nl + 1)
        self._pos += nl + 1
        return data[:nl + 1]


class _Truncated(Exception):
    pass


class _Mark:
    pass


_MARK = _Mark()


@dataclass(eq=False)
class _Global:
    module: str
    name: str


@dataclass(eq=False)
class _Call:
    """A call the unpickler would make (REDUCE, NEWOBJ, OBJ, INST); never made here."""

    func: Any
    args: Any
    items: _Dict | None = None
    """Items set on the object built (an OrderedDict's SETITEMS)."""
    appended: list[Any] = field(default_factory=list)
    """Items appended to it (a list subclass)."""
    state: Any = None
    """What BUILD would set on it (a module's ``__dict__``)."""


@dataclass(eq=False)
class _Dict:
    items: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class _Set:
    items: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class _Opaque:
    what: str


@dataclass(eq=False)
class _Storage:
    ref: StorageRef


@dataclass(eq=False)
class _Tensor:
    ref: TensorRef


class _Malformed(Exception):
    pass


def scan_pickle(f: BinaryIO, *, start: int = 0, end: int, limit: int = MAX_PICKLE_BYTES
                ) -> PickleScan:
    """Walk the pickle at byte ``start`` of ``f`` (never reading at or past ``end``).

    Raises PickleScanError when the pickle is truncated, malformed, or longer than ``limit``.
    """
    clipped = end > start + limit
    end = min(end, start + limit)
    stream = _Stream(f, start, end)
    sim = _Simulator()
    walked = 0
    pos: int | None = None
    try:
        # pos outlives the loop: errors report the offset where walking stopped
        for opcode, arg, pos in pickletools.genops(stream):  # type: ignore[arg-type]  # noqa: B007
            sim.step(opcode.name, arg)
            if opcode.name == "STOP":
                break
            walked += 1
            if walked > MAX_OPCODES:
                raise _Malformed(f"more than {MAX_OPCODES} opcodes (a state dict has ~30 per "
                                 "tensor)")
        else:
            raise _Malformed("the pickle ends without STOP")
    except _Truncated as e:
        reason = (f"the pickle is longer than the {limit >> 20} MiB limit" if clipped
                  else f"truncated pickle: {e}")
        raise PickleScanError(reason, pos, sim.globals_seen()) from None
    except (_Malformed, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError,
            OverflowError, MemoryError) as e:
        # genops raises ValueError for unknown opcodes and bad arguments
        raise PickleScanError(f"malformed pickle: {e}", pos, sim.globals_seen()) from None
    return PickleScan(sim.globals_seen(), dict(sim.storages), tuple(sim.tensors),
                      stream.tell(), sim.result_kind, sim.result_scalar, sim.sections)


class _Simulator:
    """The unpickler's stack machine, over symbols instead of objects."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.globals: dict[tuple[str, str], None] = {}
        self.storages: dict[str, StorageRef] = {}
        self.tensors: dict[TensorRef, None] = {}
        self.result_kind = "other"
        self.result_scalar: Any = None
        self.sections: tuple[Section, ...] = ()
        self.proto = 0

    def globals_seen(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.globals)

    # -- stack helpers
    def pop(self) -> Any:
        if not self.stack:
            raise _Malformed("stack underflow")
        value = self.stack.pop()
        if value is _MARK:
            raise _Malformed("a MARK where a value was expected")
        return value

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Malformed("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1:]
                del self.stack[i:]
                return items
        raise _Malformed("no MARK on the stack")

    def add_global(self, module: Any, name: Any) -> _Global:
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Malformed("a global whose module or name is not a string")
        if self.proto < 3:
            # the unpickler maps Python 2 names (__builtin__.eval) to Python 3 ones, and so
            # must we, or the name we judge is not the one that would be imported
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.globals.setdefault((module, name), None)
        return _Global(module, name)

    # -- the opcodes
    def step(self, op: str, arg: Any) -> None:
        s = self.stack
        if op in _PUSH_ARG:
            s.append(arg)
        elif op == "NONE":
            s.append(None)
        elif op == "NEWTRUE":
            s.append(True)
        elif op == "NEWFALSE":
            s.append(False)
        elif op == "MARK":
            s.append(_MARK)
        elif op == "PROTO":
            self.proto = arg
        elif op == "FRAME":
            pass
        elif op == "EMPTY_LIST":
            s.append([])
        elif op == "EMPTY_TUPLE":
            s.append(())
        elif op == "EMPTY_DICT":
            s.append(_Dict())
        elif op == "EMPTY_SET":
            s.append(_Set())
        elif op == "APPEND":
            value = self.pop()
            self._list(self.top()).append(value)
        elif op == "APPENDS":
            items = self.pop_mark()
            self._list(self.top()).extend(items)
        elif op == "LIST":
            s.append(self.pop_mark())
        elif op == "TUPLE":
            s.append(tuple(self.pop_mark()))
        elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(op[-1])
            items = [self.pop() for _ in range(n)][::-1]
            s.append(tuple(items))
        elif op == "DICT":
            items = self.pop_mark()
            if len(items) % 2:
                raise _Malformed("DICT with an odd number of items")
            s.append(_Dict(items))
        elif op == "SETITEM":
            value, key = self.pop(), self.pop()
            self._dict(self.top()).items.extend((key, value))
        elif op == "SETITEMS":
            items = self.pop_mark()
            if len(items) % 2:
                raise _Malformed("SETITEMS with an odd number of items")
            self._dict(self.top()).items.extend(items)
        elif op == "ADDITEMS":
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, _Set):
                raise _Malformed("ADDITEMS on something that is not a set")
            target.items.extend(items)
        elif op == "FROZENSET":
            s.append(_Set(self.pop_mark()))
        elif op == "POP":
            if s and s[-1] is _MARK:
                s.pop()  # the unpickler lets POP discard a bare MARK
            else:
                self.pop()
        elif op == "DUP":
            s.append(self.top())
        elif op == "POP_MARK":
            self.pop_mark()
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _Malformed(f"memo key {arg} read before it was written")
            s.append(self.memo[arg])
        elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[arg] = self.top()
        elif op == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif op == "GLOBAL":
            module, _, name = arg.partition(" ")
            s.append(self.add_global(module, name))
        elif op == "STACK_GLOBAL":
            name, module = self.pop(), self.pop()
            s.append(self.add_global(module, name))
        elif op == "INST":
            module, _, name = arg.partition(" ")
            cls = self.add_global(module, name)
            s.append(_Call(cls, tuple(self.pop_mark())))
        elif op == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _Malformed("OBJ without a class")
            s.append(_Call(items[0], tuple(items[1:])))
        elif op == "NEWOBJ":
            args, cls = self.pop(), self.pop()
            s.append(_Call(cls, args))
        elif op == "NEWOBJ_EX":
            _kwargs, args, cls = self.pop(), self.pop(), self.pop()
            s.append(_Call(cls, args))
        elif op == "REDUCE":
            args, func = self.pop(), self.pop()
            s.append(self.reduce(func, args))
        elif op == "BUILD":
            state = self.pop()
            target = self.top()
            if isinstance(target, _Global):
                # BUILD on a class or function itself would set attributes on it
                raise _Malformed("BUILD applied to a global, not to an object")
            if isinstance(target, (_Tensor, _Storage)):
                # Tensor.__setstate__ calls set_(storage, offset, size, stride): the state
                # would re-point the tensor at any storage, unseen by the counts. torch.save
                # never writes it (hooks and requires_grad go to the rebuild call).
                raise _Malformed("BUILD sets the state of a tensor (it could re-point it at "
                                 "another storage)")
            if isinstance(target, _Call):
                target.state = state
        elif op == "PERSID":
            # torch.save writes persistent ids as tuples (BINPERSID); a text id is a loader's
            # own protocol, which may well unpickle what it carries.
            raise _Malformed("a text persistent id (PERSID), which torch.save never writes")
        elif op == "BINPERSID":
            s.append(self.persistent(self.pop()))
        elif op in ("EXT1", "EXT2", "EXT4"):
            # the copyreg extension registry maps codes to arbitrary globals at load time
            self.globals.setdefault(("copyreg extension", str(arg)), None)
            s.append(_Opaque(f"extension {arg}"))
        elif op == "NEXT_BUFFER":
            s.append(_Opaque("out-of-band buffer"))
        elif op == "READONLY_BUFFER":
            self.top()
        elif op == "STOP":
            value = self.pop()
            if s:
                raise _Malformed(f"{len(s)} items left on the stack at STOP")
            self.result_kind = _kind(value)
            self.sections = _sections(value)
            if isinstance(value, (int, str, bytes, float)):
                self.result_scalar = value
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                self.result_scalar = value  # a legacy file's list of storage keys
        else:
            raise _Malformed(f"unsupported opcode {op}")

    @staticmethod
    def _list(x: Any) -> list[Any]:
        if isinstance(x, _Call):
            return x.appended  # an object built by a call: a list subclass
        if not isinstance(x, list):
            raise _Malformed("APPEND to something that is not a list")
        return x

    @staticmethod
    def _dict(x: Any) -> _Dict:
        if isinstance(x, _Call):
            if x.items is None:  # e.g. OrderedDict()
                x.items = _Dict()
            return x.items
        if not isinstance(x, _Dict):
            raise _Malformed("SETITEM on something that is not a dict")
        return x

    def persistent(self, pid: Any) -> Any:
        # torch.save: ('storage', storage_type, key, location, numel[, view_metadata])
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module" and \
                isinstance(pid[1], _Global) and all(isinstance(p, str) for p in pid[2:]):
            # legacy files: ('module', the class, its source file, its source); the class is a
            # global, checked against the allowlist like any other
            return pid[1]
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            # Only the loader knows what any other id means (it may be a nested pickle it
            # loads): what cannot be verified is unsafe.
            raise _Malformed("a persistent id that is not a storage torch.save wrote")
        _, stype, key, location, numel = pid[:5]
        if not (isinstance(stype, _Global) and isinstance(key, str)
                and isinstance(location, str) and isinstance(numel, int) and numel >= 0):
            raise _Malformed("a storage persistent id that does not add up")
        dtype = STORAGE_TYPES.get(stype.name) if stype.module in (
            "torch", "torch.cuda", "torch.storage") else None
        if dtype is None:
            raise _Malformed(f"unknown storage type {stype.module}.{stype.name}")
        ref = StorageRef(key, dtype[0], dtype[1], numel, location)
        known = self.storages.get(key)
        if known is not None and (known.dtype, known.numel) != (ref.dtype, ref.numel):
            raise _Malformed(f"storage {key!r} is declared twice, differently")
        self.storages.setdefault(key, ref)
        return _Storage(ref)

    def reduce(self, func: Any, args: Any) -> Any:
        if isinstance(func, _Global) and func.module == "torch._utils":
            if func.name in _REBUILD_TENSOR:
                return self.rebuild_tensor(func.name, args)
            if func.name in _REBUILD_PARAMETER:
                if not (isinstance(args, tuple) and args and isinstance(args[0], _Tensor)):
                    raise _Malformed(f"{func.name} without a tensor")
                return args[0]
        return _Call(func, args)

    def rebuild_tensor(self, name: str, args: Any) -> _Tensor:
        # _rebuild_tensor(storage, offset, size, stride) and _v2 (.., requires_grad, hooks, ..)
        # and _v3 (.., requires_grad, hooks, dtype, ..) over an untyped storage
        if not (isinstance(args, tuple) and len(args) >= 4):
            raise _Malformed(f"{name} with {len(args) if isinstance(args, tuple) else 0} "
                             "arguments")
        storage, offset, size, stride = args[:4]
        if not (isinstance(storage, _Storage) and _is_int(offset) and _ints(size)
                and _ints(stride) and len(size) == len(stride)):
            raise _Malformed(f"{name} arguments that do not describe a tensor")
        dtype, itemsize = storage.ref.dtype, storage.ref.itemsize
        if name == "_rebuild_tensor_v3":
            dt = args[6] if len(args) > 6 else None
            if not (isinstance(dt, _Global) and dt.module == "torch"
                    and dt.name in TORCH_DTYPES):
                raise _Malformed("_rebuild_tensor_v3 without a torch dtype")
            dtype, itemsize = TORCH_DTYPES[dt.name]
        ref = TensorRef(storage.ref.key, dtype, offset, tuple(size), tuple(stride))
        # the view must lie inside its storage: the last element it can reach
        span = offset + sum((d - 1) * st for d, st in zip(size, stride, strict=True)) + 1 \
            if all(d > 0 for d in size) else 0
        if span * itemsize > storage.ref.nbytes:
            raise _Malformed(f"a {dtype} tensor of size {list(size)} reaches past the end of "
                             f"storage {storage.ref.key!r}")
        self.tensors.setdefault(ref, None)
        return _Tensor(ref)


_PUSH_ARG = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT"})


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _ints(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) <= 64 and all(_is_int(v) for v in x)


def _dict_items(value: Any) -> list[Any] | None:
    """The flat key/value list of a dict or an OrderedDict-like call, else None."""
    if isinstance(value, _Dict):
        return value.items
    if isinstance(value, _Call) and value.items is not None:
        return value.items.items
    return None


def _sections(value: Any) -> tuple[Section, ...]:
    """The tensors under each string key of a top-level dict.

    One walk over the whole object graph (each object once, whatever shares it), so the cost is
    linear in the pickle. Sections are walked in key order and a tensor belongs to the first
    that reaches it; the caller decides what each key means.
    """
    items = _dict_items(value)
    if items is None:
        return ()
    seen: set[int] = set()
    sections: list[Section] = []
    for i in range(0, len(items) - 1, 2):
        key, val = items[i], items[i + 1]
        if not isinstance(key, str):
            return ()
        found: dict[TensorRef, None] = {}
        stack = [val]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, _Tensor):
                found.setdefault(obj.ref, None)
            elif isinstance(obj, (list, tuple)):
                stack.extend(obj)
            elif isinstance(obj, (_Dict, _Set)):
                stack.extend(obj.items)
            elif isinstance(obj, _Call):
                stack.extend((obj.args, obj.state, obj.appended))
                if obj.items is not None:
                    stack.append(obj.items)
        sections.append(Section(key, tuple(found), not isinstance(val, (_Tensor, str, bytes, int,
                                                                         float, type(None)))))
    return tuple(sections)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "other"
    if isinstance(value, int):
        return "int"
    if isinstance(value, _Dict):
        return "dict"
    if isinstance(value, list):
        return "list"
    if isinstance(value, (_Call, _Tensor)):
        return "object"
    return "other"
