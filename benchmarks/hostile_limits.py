"""Do the hostile-input limits hold? Peak memory and wall time of the real command per input.

Each case writes one hostile file (at or past a cap in docs/security.md) into a throwaway
repository, runs ``python -m deploygate inspect --format json FILE`` in a child process (the git
cases: a base commit built with git plumbing, and ``check --no-probe --format json`` against
it), and
records its exit code, peak resident memory (``ru_maxrss`` of that child, from ``wait4``) and
wall time; the baseline is the same command on a tiny valid ONNX model, measured in the same
run, so the ratios show what each hostile input costs beyond importing deploygate's readers.
It also checks that nothing was written outside the repository (the child's HOME, cache and
TMPDIR stay empty) and that no process outlived the command.

Run: ``python benchmarks/hostile_limits.py`` (about a minute on 2 cores). The promise checked
is docs/security.md's: at most 400 MB and 30 s for any single input.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT_MB = 400
TIME_LIMIT_S = 30


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_tiny() -> bytes:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def onnx_nodes(n: int) -> bytes:
    """A model whose graph holds ``n`` Identity nodes, written field by field (no big objects)."""
    node = _field(1, helper.make_node("Identity", ["x"], ["x"]).SerializeToString())
    io_fields = (_field(11, helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
                        .SerializeToString())
                 + _field(12, helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
                          .SerializeToString()))
    graph = node * n + _field(2, b"g") + io_fields
    opset = _field(8, helper.make_opsetid("", 17).SerializeToString())
    return _varint(1 << 3) + _varint(8) + opset + _field(7, graph)


def safetensors_header(header_bytes: int) -> bytes:
    """A valid file whose JSON header is about ``header_bytes`` (many one-element tensors)."""
    entry = len(json.dumps({"t0000000": {"dtype": "F32", "shape": [1],
                                         "data_offsets": [4_000_000, 4_000_004]}}))
    n = header_bytes // entry
    header = {f"t{i:07d}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
              for i in range(n)}
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * (4 * n)


def safetensors_rank(rank: int) -> bytes:
    raw = json.dumps({"w": {"dtype": "F32", "shape": [2**62] * rank,
                            "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 4


def index_entries(n: int) -> dict[str, bytes]:
    shard = safetensors_header(100)
    weight_map = {f"model.layers.{i}.self_attn.q_proj.weight": "model-1.safetensors"
                  for i in range(n)}
    return {"model-1.safetensors": shard,
            "model.safetensors.index.json": json.dumps({"weight_map": weight_map}).encode()}


def gguf_tensors(n: int) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", 3, n, 1)
    arch = struct.pack("<Q", 20) + b"general.architecture" + struct.pack("<I", 8) + \
        struct.pack("<Q", 5) + b"llama"
    infos = b"".join(struct.pack("<Q", 8) + f"t{i:07d}".encode() + struct.pack("<IQIQ", 1, 8, 0,
                                                                              32 * i)
                     for i in range(n))
    data = head + arch + infos
    return data + b"\0" * (-len(data) % 32) + b"\0" * (32 * n)


def pickle_memo(n: int) -> bytes:
    """A pickle of ``n`` empty dicts, each kept in the memo (two opcodes each)."""
    return b"\x80\x02" + b"".join(b"}r" + struct.pack("<I", i) for i in range(n)) + b"."


def pickle_ones(n: int) -> bytes:
    """A pickle of ``n`` one-byte opcodes (EMPTY_TUPLE), under the 64 MiB byte cap."""
    return b"\x80\x02" + b")" * n + b"."


def zip_directory(records: int) -> bytes:
    """A zip whose end record claims one member but whose directory holds ``records``."""
    local = io.BytesIO()
    with zipfile.ZipFile(local, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    body = local.getvalue()
    eocd_at = body.rfind(b"PK\x05\x06")
    cd_at = struct.unpack("<I", body[eocd_at + 16:eocd_at + 20])[0]
    cd = b"PK\x01\x02" + b"\0" * 42
    directory = body[cd_at:eocd_at] + cd * records
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(directory), cd_at, 0)
    return body[:cd_at] + directory + eocd


def tflite_shared(subgraphs: int, tensors: int) -> bytes:
    """A TFLite model whose subgraphs vector points ``subgraphs`` times at one subgraph."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    name = b.CreateString("t")
    b.StartVector(4, 1, 4)
    b.PrependInt32(1)
    shape = b.EndVector()
    b.StartObject(8)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    tensor = b.EndObject()
    b.StartVector(4, tensors, 4)
    for _ in range(tensors):
        b.PrependUOffsetTRelative(tensor)
    tensor_vec = b.EndVector()
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
    subgraph = b.EndObject()
    b.StartVector(4, subgraphs, 4)
    for _ in range(subgraphs):
        b.PrependUOffsetTRelative(subgraph)
    sg_vec = b.EndVector()
    b.StartObject(1)
    buffer = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(buffer)
    buffers = b.EndVector()
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, sg_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


CASES: list[tuple[str, str, Callable[[], bytes | dict[str, bytes]]]] = [
    ("baseline: tiny valid ONNX", "m.onnx", onnx_tiny),
    ("ONNX, 200,000 nodes (at the node cap)", "m.onnx", lambda: onnx_nodes(200_000)),
    ("ONNX, 1,000,000 nodes (over it)", "m.onnx", lambda: onnx_nodes(1_000_000)),
    ("safetensors, 16 MiB header (at the cap)", "m.safetensors",
     lambda: safetensors_header(16_000_000)),
    ("safetensors, 99 MB header (over it)", "m.safetensors",
     lambda: safetensors_header(99_000_000)),
    ("safetensors, 150,000-dimension shape", "m.safetensors", lambda: safetensors_rank(150_000)),
    ("shard index, 8 MiB (at the cap)", "ckpt", lambda: index_entries(115_000)),
    ("shard index, 1,000,000 entries (over it)", "ckpt", lambda: index_entries(1_000_000)),
    ("GGUF, 100,000 tensors (at the cap)", "m.gguf", lambda: gguf_tensors(100_000)),
    ("GGUF, 1,000,000 tensors (over it)", "m.gguf", lambda: gguf_tensors(1_000_000)),
    ("pickle, 2,000,000 opcodes keeping 1,000,000 dicts (at the cap)", "m.pt",
     lambda: pickle_memo(999_999)),
    ("pickle, 60,000,000 one-byte opcodes (over it)", "m.pt", lambda: pickle_ones(60_000_000)),
    ("zip, 360,000 directory records in 16 MiB", "m.pt", lambda: zip_directory(360_000)),
    ("zip, 1,400,000 directory records (64 MB)", "m.pt", lambda: zip_directory(1_400_000)),
    ("TFLite, 120 x one shared 1,000-tensor subgraph (at the cap)", "m.tflite",
     lambda: tflite_shared(120, 1_000)),
    ("TFLite, 20,000 x one shared 1,000-tensor subgraph", "m.tflite",
     lambda: tflite_shared(20_000, 1_000)),
]


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.com", "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, input=stdin, env=env, capture_output=True,
                          check=True).stdout.decode().strip()


def base_folder(entries: int) -> Callable[[Path], None]:
    """A base commit whose model folder lists ``entries`` safetensors files (one blob, many
    names: git plumbing, so the repository stays small); the head holds one real shard."""
    def build(repo: Path) -> None:
        shard = safetensors_header(100)
        _git(repo, "init", "-q", "-b", "main")
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=shard)
        listing = b"".join(f"100644 blob {blob}\ts{i:07d}.safetensors\n".encode()
                           for i in range(entries))
        folder = _git(repo, "mktree", stdin=listing)
        root = _git(repo, "mktree", stdin=f"040000 tree {folder}\tckpt\n".encode())
        commit = _git(repo, "commit-tree", root, "-m", "base", stdin=b"")
        _git(repo, "update-ref", "refs/heads/main", commit)
        (repo / "ckpt").mkdir()
        (repo / "ckpt" / "s0000000.safetensors").write_bytes(shard)
        (repo / "deploy-constraints.yaml").write_text(
            "version: 1\nmodels:\n  - name: m\n    path: ckpt\n    target: {kind: cloud}\n"
            "    baseline: {ref: main, max_size_increase: 10%}\n")
    return build


def _write(repo: Path, name: str, content: bytes | dict[str, bytes]) -> Path:
    path = repo / name
    if isinstance(content, dict):
        path.mkdir()
        for member, data in content.items():
            (path / member).write_bytes(data)
    else:
        path.write_bytes(content)
    return path


def _descendants_alive(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if f"DEPLOYGATE_BENCH_RUN={pid}".encode() in environ:
                found.append(int(entry.name))
    return found


GIT_CASES: list[tuple[str, Callable[[Path], None]]] = [
    ("git base: model folder of 1,000 shards (at the cap)", base_folder(1_000)),
    ("git base: model folder of 1,001 shards (over it)", base_folder(1_001)),
    ("git base: model folder listing 1,000,000 files (64 MiB+)", base_folder(1_000_000)),
]
"""Run as ``check --no-probe --format json``: the base is read from git, the head from disk."""

_MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run([sys.argv[1], "-m", "deploygate", *sys.argv[2:]],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([done.returncode, peak, wall, done.stderr.decode("utf-8", "replace")]))
"""


def run_case(name: str, content: bytes | dict[str, bytes] | Callable[[Path], None]
             ) -> dict[str, object]:
    """``content`` written as ``name`` and inspected, or a repository ``content`` builds,
    checked against its base."""
    with tempfile.TemporaryDirectory(prefix="dg-hostile-") as tmp:
        base = Path(tmp)
        repo, home, scratch = base / "repo", base / "home", base / "tmp"
        for folder in (repo, home, scratch):
            folder.mkdir(parents=True)
        if callable(content):
            content(repo)
            size = sum(p.stat().st_size for p in (repo / ".git").rglob("*") if p.is_file())
            command = ["check", "--no-probe", "--format", "json"]
        else:
            (repo / ".git").mkdir()
            path = _write(repo, name, content)
            size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.iterdir()))
            command = ["inspect", "--format", "json", name]
        tag = str(os.getpid())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "DEPLOYGATE_BENCH_RUN": tag}
        # A small interpreter runs the command and reports its peak: ru_maxrss survives exec,
        # so measuring from this process (big after building the inputs) would count itself.
        done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, *command],
                              cwd=repo, env=env, capture_output=True, check=True)
        code, peak_kb, wall, stderr = json.loads(done.stdout)
        left = _descendants_alive(int(tag))
        written = [str(p.relative_to(base)) for p in (*home.rglob("*"), *scratch.rglob("*"))]
        return {"bytes": size, "exit": code, "peak_mb": peak_kb / 1024,
                "wall_s": wall, "left_processes": left, "written_outside": written,
                "message": stderr.strip()[:110]}


def main() -> int:
    print(f"python {sys.version.split()[0]}, onnx {onnx.__version__}, {os.cpu_count()} CPUs")
    rows = []
    for label, name, make in CASES:
        rows.append((label, run_case(name, make())))
    for label, build in GIT_CASES:
        rows.append((label, run_case("", build)))
    baseline = rows[0][1]
    print(f"{'case':<60}{'input':>10}{'exit':>5}{'peak MB':>9}{'x base':>7}{'wall s':>8}"
          f"{'x base':>7}")
    failed = []
    for label, r in rows:
        peak, wall = float(r["peak_mb"]), float(r["wall_s"])  # type: ignore[arg-type]
        print(f"{label:<60}{int(r['bytes']) / 1e6:>9.1f}M{r['exit']:>5}{peak:>9.0f}"  # type: ignore[call-overload]
              f"{peak / float(baseline['peak_mb']):>7.1f}{wall:>8.2f}"  # type: ignore[arg-type]
              f"{wall / float(baseline['wall_s']):>7.1f}")  # type: ignore[arg-type]
        if r["message"]:
            print(f"    {r['message']}")
        if peak > MEMORY_LIMIT_MB or wall > TIME_LIMIT_S or r["left_processes"] or \
                r["written_outside"] or r["exit"] not in (0, 1, 2):
            failed.append(label)
    print(f"limits: {MEMORY_LIMIT_MB} MB and {TIME_LIMIT_S} s per input; "
          f"{'all hold' if not failed else 'BROKEN: ' + '; '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
