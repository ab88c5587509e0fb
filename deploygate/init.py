"""`deploygate init`: find the repository's models and write a commented manifest.

Models are found by content (the same sniffing as inspection) among files with model
extensions; version-control folders, virtual environments and node_modules are skipped, and a
folder of safetensors shards (or one with a ``*.safetensors.index.json``) is one model. The
defaults come from the files: under 1 GB an edge target, else cloud.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from deploygate.artifacts import formats
from deploygate.artifacts.base import TensorSpec
from deploygate.artifacts.detect import read_head
from deploygate.findings import one_line
from deploygate.manifest.model import Device
from deploygate.targets.catalog import EDGE_RULE_OF_THUMB_BYTES, load_catalog

SCHEMA_URL = ("https://raw.githubusercontent.com/deploygate/deploygate/main/schemas/"
              "deploy-constraints.schema.json")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv",
                       ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       "site-packages", ".eggs"})
DEFAULT_BUDGET_MS = {"edge": 100.0, "cloud": 1000.0}
"""Budgets to start from: a responsive on-device feature, and a chatbot-like cloud reply."""
DEFAULT_EDGE_DEVICE = "raspberry-pi-5"
SIZE_HEADROOM = 1.10
"""max_size is today's size plus 10%: growth past it needs a deliberate manifest change."""


@dataclass(frozen=True)
class FoundModel:
    """A model found in the repository."""

    path: str
    """POSIX path relative to the repository root (a folder for sharded checkpoints)."""
    format: str
    """Detected format."""
    size_bytes: int
    """Bytes on disk (all shards)."""
    inputs: tuple[TensorSpec, ...] = ()
    """An ONNX graph's true inputs: the probe needs sizes for the dimensions they leave open."""
    branch_inputs: tuple[str, ...] = ()
    """Inputs whose value picks an ``If`` branch (a sample rate): the probe needs their value."""
    declared: tuple[dict[str, Any], ...] = ()
    """Sizes the model states for open input axes (``artifacts.onnx.declared_sizes``)."""


@dataclass(frozen=True)
class ModelAnswers:
    """The three answers for one model."""

    name: str
    """Model name in the manifest."""
    model: FoundModel
    """What was found."""
    kind: str
    """edge or cloud."""
    device: str | None
    """Catalog device id, or None."""
    budget_ms: float
    """Latency budget."""
    max_usd_per_1k: float | None
    """Cost ceiling (cloud)."""
    dims: dict[str, int | None] = field(default_factory=dict)
    """``latency.dims``: batch-like names at 1, other open names as answered (None: not yet)."""
    shapes: dict[str, tuple[int | None, ...] | None] = field(default_factory=dict)
    """``latency.inputs.<name>.shape`` for inputs with unnamed open sizes (None where open)."""
    values: dict[str, int | None] = field(default_factory=dict)
    """``latency.inputs.<name>.value`` for integers that pick a branch (None: not yet)."""

    @property
    def placeholders(self) -> int:
        """Sizes and values left for the user to fill in (SIZE or V, which validate refuses)."""
        return (sum(v is None for v in self.dims.values())
                + sum(1 if s is None else sum(d is None for d in s) for s in self.shapes.values())
                + sum(v is None for v in self.values.values()))


def _skipped(folder: Path) -> bool:
    return folder.name in SKIP_DIRS or (folder / "pyvenv.cfg").exists() or not _utf8(folder.name)


def _utf8(name: str) -> bool:
    # A name that is not UTF-8 (decoded with surrogate escapes) cannot be written in YAML.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def walk_repository(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """Each folder under ``root`` with its file names, sorted; version-control folders,
    virtual environments, caches and links to folders are not entered."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _skipped(here / d) and not (here / d).is_symlink())
        yield here, sorted(files)


def find_models(root: Path, *, inputs: bool = True) -> list[FoundModel]:
    """Model files under ``root`` detected by content, shard folders as one model, sorted.

    Only regular files are opened (a FIFO planted under a model's name would block forever).
    ``inputs=False`` skips reading ONNX graph inputs, for callers that need paths alone.
    """
    found: list[FoundModel] = []
    for here, files in walk_repository(root):
        detected = []
        for name in sorted(files):
            file = here / name
            if formats.for_suffix(name) is None or file.is_symlink() or not _utf8(name):
                continue
            try:
                st = file.lstat()
                if not stat.S_ISREG(st.st_mode):
                    continue
                size = st.st_size
                fmt = formats.sniff(read_head(file), size)
            except OSError:
                continue
            if fmt is not None and fmt != formats.LFS_POINTER:
                detected.append((file, fmt, size))
        for sharded in (f for f in formats.FORMATS.values() if f.shards):
            shards = [d for d in detected if d[1] == sharded.name]
            index = sharded.shards[1:]  # an index file makes even one shard a folder model
            if len(shards) > 1 or (shards and any(n.endswith(index) for n in files)):
                found.append(FoundModel(here.relative_to(root).as_posix() or ".", sharded.name,
                                        sum(s for _, _, s in shards)))
                detected = [d for d in detected if d[1] != sharded.name]
        for file, fmt, size in detected:
            found.append(FoundModel(file.relative_to(root).as_posix(), fmt, size,
                                    *(_graph_inputs(file) if inputs and fmt == "onnx"
                                      else ((), (), ()))))
    return sorted(found, key=lambda m: m.path)


def _graph_inputs(file: Path) -> tuple[tuple[TensorSpec, ...], tuple[str, ...],
                                       tuple[dict[str, Any], ...]]:
    """The graph's true inputs, those that pick an ``If`` branch, and the sizes the model
    states for open axes (from the artifacts stage's reading of the model: its graph skeleton,
    no second parse of the weights)."""
    import onnx

    from deploygate.artifacts import inspect_artifact
    from deploygate.probe.graph import read_graph_facts
    from deploygate.probe.inputs import read_signature

    try:
        info = inspect_artifact(file, display=file.name)
        if info.graph is None:
            return (), (), ()
        model = onnx.ModelProto.FromString(info.graph.skeleton)
        signature = read_signature(model)
        return (signature, read_graph_facts(model, [t.name for t in signature]).branch_inputs,
                tuple(info.details.get("declared_sizes", ())))
    except Exception:  # an unreadable model is the gate's to report, not init's
        return (), (), ()


def default_kind(model: FoundModel) -> str:
    """edge under ~1 GB, else cloud."""
    return "edge" if model.size_bytes < EDGE_RULE_OF_THUMB_BYTES else "cloud"


def default_device(model: FoundModel, kind: str) -> str | None:
    """edge: the Raspberry Pi 5 if it fits, else the smallest edge device that does;
    cloud: the cheapest priced device with the memory (the targets stage's estimate, with the
    size on disk taken as the weights: init reads no headers)."""
    from deploygate.artifacts.base import ArtifactInfo
    from deploygate.targets.memory import estimate_memory

    need = estimate_memory(ArtifactInfo(model.path, model.format, model.size_bytes, 0,
                                        {"stored": model.size_bytes})).total
    catalog = load_catalog()
    fitting = [d for d in catalog.values() if d.kind == kind and d.memory >= need]
    if kind == "edge":
        if DEFAULT_EDGE_DEVICE in catalog and catalog[DEFAULT_EDGE_DEVICE].memory >= need:
            return DEFAULT_EDGE_DEVICE
        return min(fitting, key=lambda d: d.memory).id if fitting else None
    priced = [d for d in fitting if d.price_per_hour is not None]
    return min(priced, key=lambda d: d.price_per_hour or 0.0).id if priced else None


def default_ceiling(device: Device | None, budget_ms: float) -> float | None:
    """What 1,000 inferences cost on ``device`` if each took the whole budget, rounded up."""
    if device is None or device.price_per_hour is None:
        return None
    from deploygate.targets.cost import usd_per_1k

    return _round_up(usd_per_1k(device.price_per_hour, budget_ms))


def _round_up(x: float, digits: int = 2) -> float:
    if x <= 0:
        return x
    scale = 10 ** (math.floor(math.log10(x)) - digits + 1)
    return float(f"{math.ceil(x / scale - 1e-9) * scale:.{digits}g}")


def _size_text(n: float) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{_round_up(n / scale):g}{unit}"
    return f"{math.ceil(n)}B"


def model_name(path: str, taken: set[str]) -> str:
    """A unique manifest name from the file or folder name."""
    stem = Path(path).name
    fmt = formats.for_suffix(stem)
    for suffix in fmt.extensions if fmt is not None else ():
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._") or "model"
    if not name[0].isalnum():
        name = "m" + name
    unique, i = name, 2
    while unique in taken:
        unique, i = f"{name}-{i}", i + 1
    taken.add(unique)
    return unique


def render_manifest(answers: list[ModelAnswers]) -> str:
    """The manifest text: schema line, comments explaining each choice, one entry per model."""
    from deploygate.manifest.units import format_bytes

    out = [f"# yaml-language-server: $schema={SCHEMA_URL}",
           "# Written by `deploygate init`: what each model may cost in memory, time and money.",
           "# `deploygate check` fails a pull request when a model no longer fits; `deploygate",
           "# devices` lists targets and `deploygate advise` ranks the devices that fit.",
           "version: 1", "models:"]
    for a in answers:
        m = a.model
        # File names come from the repository: they appear only JSON-quoted (escaped), so a
        # line break in one cannot end a comment and start a key.
        out += [f"  # {m.format}, {format_bytes(m.size_bytes)} on disk",
                f"  - name: {a.name}",
                f"    path: {json.dumps(m.path)}",
                "    target:",
                (f"      kind: {a.kind}  # edge: phone, Jetson, Raspberry Pi (models under ~1 GB); "
                 "cloud: GPU/CPU instances")]
        if a.device:
            out.append(f"      device: {a.device}  # memory, speed and price from the catalog")
        out += ["    limits:",
                f"      max_size: {_size_text(m.size_bytes * SIZE_HEADROOM)}  # today's size + 10%",
                "    latency:",
                f"      budget_ms: {a.budget_ms:g}  # the worst latency the product tolerates",
                "      percentile: p95"]
        out += _size_lines(a)
        if a.max_usd_per_1k is not None:
            out += ["    cost:",
                    f"      max_usd_per_1k: {a.max_usd_per_1k:g}  # dollars per 1,000 inferences"]
    return "\n".join(out) + "\n"


def _size_lines(a: ModelAnswers) -> list[str]:
    """``dims`` and ``inputs`` lines; sizes and values nobody gave are SIZE and V, which
    validate refuses."""
    from deploygate.probe.inputs import PLACEHOLDER, VALUE_PLACEHOLDER

    def size(value: int | None) -> str:
        return PLACEHOLDER if value is None else str(value)

    out = []
    if any(v is None for v in a.values.values()):
        out.append(f"      # {VALUE_PLACEHOLDER}: the value of an integer input that picks a branch "
                   "of the model (a sample rate, a mode).")
    if a.placeholders:
        out += [f"      # {PLACEHOLDER}: the input sizes to measure at (an image's height and width, "
                "a clip's or a",
                "      # sequence's length): `deploygate validate` fails until each is a number."]
    if a.dims:
        dims = ", ".join(f"{json.dumps(d)}: {size(v)}" for d, v in a.dims.items())
        batch = [d for d, v in a.dims.items() if v == 1]
        # Dim names come from the model: escaped, so a line break cannot end the comment.
        why = (f"  # {one_line(', '.join(batch))}: one per run"
               if batch and len(batch) == len(a.dims) else "")
        out.append(f"      dims: {{{dims}}}{why}")
    if a.shapes or a.values:
        out.append("      inputs:")
        for name, shape in a.shapes.items():
            sizes = f"{PLACEHOLDER}, ..." if shape is None else ", ".join(size(d) for d in shape)
            out.append(f"        {json.dumps(name)}: {{shape: [{sizes}]}}")
        for name, value in a.values.items():
            shown = VALUE_PLACEHOLDER if value is None else str(value)
            out.append(f"        {json.dumps(name)}: {{value: {shown}}}")
    return out


Ask = Callable[..., object]


class FiniteNumber(click.ParamType):  # type: ignore[type-arg]
    """A finite number above zero (or at least zero): nan and inf are refused, and asked again
    at a prompt, since no budget or ceiling can be either."""

    name = "number"

    def __init__(self, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """``value`` as a float, or a usage error saying what a usable number is."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        bound = "at least 0" if self.allow_zero else "above 0"
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.allow_zero):
            self.fail(f"{value!r} is not a finite number {bound}", param, ctx)
        return number


def answer(model: FoundModel, name: str, ask: Ask | None, *, kind: str | None = None,
           device: str | None = None, budget_ms: float | None = None,
           max_usd_per_1k: float | None = None) -> ModelAnswers:
    """The three answers for ``model``: from flags, else ``ask`` (click.prompt), else defaults."""
    catalog = load_catalog()
    if kind is None:
        kind = default_kind(model)
        if ask is not None:
            kind = str(ask(f"{name}: target", type=click.Choice(["edge", "cloud"]),
                           default=kind))
    if device is None:
        device = default_device(model, kind)
        if ask is not None:
            ids = [d.id for d in catalog.values() if d.kind == kind] + ["none"]
            device = str(ask(f"{name}: device", type=click.Choice(ids), default=device or "none"))
        device = None if device == "none" else device
    if budget_ms is None:
        budget_ms = DEFAULT_BUDGET_MS[kind]
        if ask is not None:
            budget_ms = float(ask(f"{name}: latency budget in ms (p95)",  # type: ignore[arg-type]
                                  type=FiniteNumber(), default=budget_ms))
    if max_usd_per_1k is None and kind == "cloud":
        max_usd_per_1k = default_ceiling(catalog.get(device or ""), budget_ms)
        if ask is not None and max_usd_per_1k is not None:
            max_usd_per_1k = float(ask(f"{name}: cost ceiling in USD per 1,000 inferences",  # type: ignore[arg-type]
                                       type=FiniteNumber(allow_zero=True),
                                       default=max_usd_per_1k))
    dims, shapes = _input_sizes(model, name, ask)
    values = {tensor: None if ask is None else _ask_value(
                  ask, f"{name}: value of input {tensor!r} (an integer that picks a branch of "
                       "the model, e.g. a sample rate)")
              for tensor in _branch_values(model)}
    return ModelAnswers(name, model, kind, device, budget_ms, max_usd_per_1k, dims, shapes,
                        values)


def _branch_values(model: FoundModel) -> list[str]:
    from deploygate.manifest.model import LatencySpec
    from deploygate.probe.inputs import branch_values

    return branch_values(model.inputs, LatencySpec(), model.branch_inputs)


def _input_sizes(model: FoundModel, name: str, ask: Ask | None
                 ) -> tuple[dict[str, int | None], dict[str, tuple[int | None, ...] | None]]:
    """Sizes for the dimensions the graph leaves open: batch-like ones are 1, those the model
    states are its own, the rest are asked (a spatial or sequence size is never guessed);
    unanswered ones stay None."""
    from deploygate.manifest.model import LatencySpec
    from deploygate.probe.inputs import defaulted_dims, open_sizes

    spec = LatencySpec()
    dims: dict[str, int | None] = {d.name: d.size
                                   for d in defaulted_dims(model.inputs, spec, model.declared)
                                   if d.name}
    sizes = open_sizes(model.inputs, spec, model.declared)
    for dim, where in sizes.dims.items():
        dims[dim] = None if ask is None else _ask_size(ask, f"{name}: size of dimension {dim!r} "
                                                            f"({where})")
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for tensor, shape in sizes.shapes.items():
        if shape is None or ask is None:
            shapes[tensor] = shape
            continue
        shapes[tensor] = tuple(d if d is not None else
                               _ask_size(ask, f"{name}: size of input {tensor!r} axis {axis}")
                               for axis, d in enumerate(shape))
    return dims, shapes


def _ask_size(ask: Ask, question: str) -> int | None:
    """A size in answer to ``question``; SIZE (the default) leaves it for later."""
    from deploygate.probe.inputs import PLACEHOLDER

    answer = ask(f"{question}, or {PLACEHOLDER} to fill in later", type=SizeAnswer(),
                 default=PLACEHOLDER)
    return answer if isinstance(answer, int) else None


def _ask_value(ask: Ask, question: str) -> int | None:
    """An integer in answer to ``question``; V (the default) leaves it for later."""
    from deploygate.probe.inputs import VALUE_PLACEHOLDER

    answer = ask(f"{question}, or {VALUE_PLACEHOLDER} to fill in later", type=ValueAnswer(),
                 default=VALUE_PLACEHOLDER)
    return answer if isinstance(answer, int) else None


class ValueAnswer(click.ParamType):  # type: ignore[type-arg]
    """A whole number (of at most 18 digits), or V for "later"; anything else is asked again."""

    name = "value"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        """``value`` as an integer, or the placeholder."""
        from deploygate.probe.inputs import VALUE_PLACEHOLDER

        text = str(value).strip()
        if text.upper() == VALUE_PLACEHOLDER:
            return VALUE_PLACEHOLDER
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            self.fail(f"{text!r} is not a whole number (or {VALUE_PLACEHOLDER})", param, ctx)
        return int(text)


class SizeAnswer(click.ParamType):  # type: ignore[type-arg]
    """A whole number of at least 1, or SIZE for "later"; anything else is asked again."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        """``value`` as a size, or the placeholder."""
        from deploygate.probe.inputs import PLACEHOLDER

        text = str(value).strip()
        if text.upper() == PLACEHOLDER:
            return PLACEHOLDER
        if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:
            self.fail(f"{text!r} is not a whole number from 1 to 999999999 (or {PLACEHOLDER})",
                      param, ctx)
        return int(text)
