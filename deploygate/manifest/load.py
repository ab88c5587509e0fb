"""Load ``deploy-constraints.yaml``: YAML with line marks, JSON Schema, then the typed Manifest.

Every problem becomes a located Finding, so one run reports all of them. Nothing here imports
onnx, onnxruntime or numpy: this is the fast ``validate`` path.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from deploygate.findings import Finding, Location, Severity, one_line
from deploygate.manifest.model import (
    DEFAULT_PERCENTILE, Baseline, Cost, InputSpec, LatencySpec, Limits, Manifest, ModelSpec,
    Security, Serving, Target, Waiver,
)
from deploygate.manifest.schema import iter_schema_problems
from deploygate.paths import DG106, UnusablePath, find_repository_root, resolve_inside
from deploygate.rules import Outcome, Rule
from deploygate.errors import DG102
from deploygate.manifest.units import MAX_QUANTITY, parse_count, parse_percent, parse_size

MAX_MANIFEST_BYTES = 1 << 20
"""Manifests are small; anything bigger is refused before parsing."""
MAX_NODES = 100_000
"""Caps the nodes walked, so alias bombs ("billion laughs") cannot expand."""
MAX_DEPTH = 64
"""Caps nesting, so deeply nested documents cannot exhaust the stack."""

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")


DG101 = Rule("DG101", "manifest-unreadable", Outcome.CANNOT_JUDGE,
             "The manifest is missing, not UTF-8, too large, not YAML, or not a mapping.",
             "Fix the YAML at the line shown.")

DG103 = Rule("DG103", "duplicate-key", Outcome.CANNOT_JUDGE,
             "A mapping in the manifest repeats a key.",
             "Keep one of the two keys.")

DG104 = Rule("DG104", "unknown-device", Outcome.CANNOT_JUDGE,
             "A target names a device that is neither in the catalog nor under `devices`.",
             "Use an id from `deploygate devices` or declare the device under `devices`.")

DG105 = Rule("DG105", "duplicate-model-name", Outcome.CANNOT_JUDGE,
             "Two models share a name.",
             "Give every model a unique name.")

DG111 = Rule("DG111", "global-never-allowed", Outcome.CANNOT_JUDGE,
             "`security.allow_globals` lists a name that can run code (os, subprocess, "
             "builtins.eval, importlib, pickle, ...), which no review can make safe.",
             "Remove it; convert the checkpoint to safetensors instead.")


@dataclass
class _Walk:
    """State while turning YAML nodes into plain data with marks."""

    display: str
    constructor: Any
    key_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    value_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    key_ends: dict[str, tuple[int, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    nodes: int = 0

    def problem(self, rule: Rule, mark: tuple[int, int], path: str, message: str) -> None:
        self.findings.append(Finding(rule.id, Severity.ERROR, message,
                                     Location(self.display, path or None, *mark)))


class ManifestSyntaxError(Exception):
    """The document cannot be turned into data at all (syntax, bombs, depth)."""

    def __init__(self, message: str, mark: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.mark = mark


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _key_end(node: yaml.Node) -> tuple[int, int]:
    """Where the text that names ``node`` ends: a key's own end, or a list item's first key's."""
    if isinstance(node, yaml.MappingNode) and node.value:
        node = node.value[0][0]
    if isinstance(node, yaml.ScalarNode):
        return node.end_mark.line + 1, node.end_mark.column + 1
    line, column = _mark(node)
    return line, column + 1


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _to_data(node: yaml.Node, path: str, walk: _Walk, depth: int = 0) -> Any:
    walk.nodes += 1
    if walk.nodes > MAX_NODES:
        raise ManifestSyntaxError(f"more than {MAX_NODES} YAML nodes (an alias bomb?); "
                                  "write the manifest without anchors and aliases", _mark(node))
    if depth > MAX_DEPTH:
        raise ManifestSyntaxError(f"nested deeper than {MAX_DEPTH} levels", _mark(node))
    walk.value_marks.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        first: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ManifestSyntaxError("a mapping key must be a plain string", _mark(key_node))
            key = str(key_node.value)
            child = _child(path, key)
            if key in first:
                line, col = first[key]
                walk.problem(DG103, _mark(key_node), child,
                             f"duplicate key '{key}' (first at line {line}, column {col}); keep one")
                continue
            first[key] = _mark(key_node)
            walk.key_marks.setdefault(child, _mark(key_node))
            walk.key_ends.setdefault(child, _key_end(key_node))
            out[key] = _to_data(value_node, child, walk, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            walk.key_marks.setdefault(_child(path, i), _mark(item))
            walk.key_ends.setdefault(_child(path, i), _key_end(item))
            items.append(_to_data(item, _child(path, i), walk, depth + 1))
        return items
    if node.tag == "tag:yaml.org,2002:timestamp":
        # YAML reads 2027-03-31 as a date (and 2027-02-30 as an error): keep the text the author
        # wrote; the schema and the waiver's own check judge it.
        return str(node.value)
    value = walk.constructor.construct_object(node)
    if isinstance(value, float) and not math.isfinite(value):
        # NaN compares false with everything: a NaN budget would make the gate always pass.
        walk.problem(DG102, _mark(node), path,
                     f"{node.value} is not a finite number; write a plain number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_QUANTITY:
        # Thousands of digits: float() of it overflows, and no size, count, time or price is
        # that large. Refused here, once, for every key.
        walk.problem(DG102, _mark(node), path,
                     f"a number of {len(node.value)} digits is larger than any the manifest may "
                     f"state (at most {MAX_QUANTITY}); check the number")
        return MAX_QUANTITY if value > 0 else -MAX_QUANTITY
    if node.tag == "tag:yaml.org,2002:int" and _OCTAL.match(node.value):
        walk.problem(DG102, _mark(node), path,
                     f"{node.value} is read as the octal number {value} by YAML; "
                     f"write it without the leading zero, or quote it")
    return value


def _check_nesting(text: str) -> None:
    """Refuse deep nesting from the event stream, before the composer sees it.

    libyaml's parser keeps its own stack, but the composer recurses in C once per level: flow
    collections cost one byte a level, so a document under the size cap could nest deep enough
    to overflow the C stack (a crash no exception handler catches).
    """
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise ManifestSyntaxError(f"nested deeper than {MAX_DEPTH} levels",
                                              (mark.line + 1, mark.column + 1))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _flat(text: str) -> str:
    """PyYAML's text on one line: whitespace runs collapsed, control characters escaped."""
    return one_line(" ".join(text.split()))


def parse_document(text: str, display: str) -> tuple[Any, _Walk]:
    """YAML text to plain data, with key and value marks and duplicate-key findings."""
    loader = _Loader(text)
    try:
        _check_nesting(text)
        node = loader.get_single_node()
        walk = _Walk(display, loader)
        if node is None:
            raise ManifestSyntaxError("the manifest is empty; start from `deploygate init`", (1, 1))
        return _to_data(node, "", walk), walk
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else None
        problem = " ".join(str(p) for p in (e.context, e.problem) if p)
        if "nesting depth" in problem:  # newer PyYAML refuses deep flow nesting in its scanner
            raise ManifestSyntaxError(f"nested deeper than {MAX_DEPTH} levels", where) from e
        raise ManifestSyntaxError(f"not valid YAML: {_flat(problem)}", where) from e
    except yaml.YAMLError as e:
        # e.g. ReaderError for a control character: its text spans lines
        raise ManifestSyntaxError(f"not valid YAML: {_flat(str(e))}") from e
    except RecursionError as e:
        raise ManifestSyntaxError("nested too deeply to parse") from e
    except ValueError as e:
        # Python refuses to convert integers of more than 4300 digits (a DoS guard).
        raise ManifestSyntaxError(f"a number is too long to read ({str(e).split(':')[0]}); "
                                  "write it with fewer digits") from e
    finally:
        loader.dispose()


@dataclass(frozen=True)
class LoadResult:
    """A manifest (None when it could not be built) and every problem found on the way."""

    manifest: Manifest | None
    findings: tuple[Finding, ...]


def load_manifest(file: Path, display: str | None = None) -> LoadResult:
    """Read, validate and type ``file``; all problems are returned as findings."""
    display = display or str(file)

    def fatal(message: str, mark: tuple[int, int] | None = None) -> LoadResult:
        line, col = mark or (None, None)
        return LoadResult(None, (Finding(DG101.id, Severity.ERROR, message,
                                         Location(display, None, line, col)),))

    if file.is_dir():
        return fatal("is a folder, not a manifest file; pass the YAML file with --manifest")
    if _links_outside(file):
        # The manifest comes from the pull request: a link to a file elsewhere on the runner
        # would echo that file's contents into the CI log through error messages.
        return fatal("is a link to a file outside the repository; refused, commit the manifest "
                     "itself")
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return fatal("no such manifest; create one with `deploygate init` or pass --manifest")
    except OSError as e:
        return fatal(f"cannot read the manifest: {e.strerror}")
    if len(raw) > MAX_MANIFEST_BYTES:
        return fatal(f"the manifest is larger than {MAX_MANIFEST_BYTES // 1024} KiB; "
                     "a manifest holds constraints, not data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return fatal(f"not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}); save it as UTF-8",
                     (line, 1))
    try:
        doc, walk = parse_document(text, display)
    except ManifestSyntaxError as e:
        return fatal(str(e), e.mark)
    if not isinstance(doc, dict):
        return fatal("the top level must be a mapping with `version: 1` and `models:`", (1, 1))

    findings = list(walk.findings)
    for path, at_key, message in iter_schema_problems(doc):
        marks = walk.key_marks if at_key else walk.value_marks
        mark = marks.get(path) or walk.key_marks.get(path) or walk.value_marks.get(path) or (1, 1)
        findings.append(Finding(DG102.id, Severity.ERROR, message, Location(display, path or None, *mark)))
    if findings:
        return LoadResult(None, tuple(sorted(findings, key=_position)))

    root = find_repository_root(file.resolve().parent)
    builder = _Builder(file.resolve(), display, root, walk.key_marks, doc)
    manifest = replace(builder.build(), ends=dict(walk.key_ends))
    return LoadResult(manifest if not builder.findings else None,
                      tuple(sorted(builder.findings, key=_position)))


def _links_outside(file: Path) -> bool:
    """Whether ``file`` is (or goes through) a link to somewhere outside its repository."""
    where = Path(os.path.abspath(file))
    root = find_repository_root(where.parent)
    try:
        return not where.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop, a name too long: refuse rather than follow
        return True


def _position(finding: Finding) -> tuple[int, int]:
    loc = finding.location
    return (loc.line or 0, loc.column or 0) if loc else (0, 0)


def _merge(defaults: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in model.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Builder:
    """Turns a schema-valid document into a Manifest, collecting reference problems."""

    def __init__(self, file: Path, display: str, root: Path, marks: dict[str, tuple[int, int]],
                 doc: dict[str, Any]) -> None:
        self.file, self.display, self.root, self.marks, self.doc = file, display, root, marks, doc
        self.findings: list[Finding] = []

    def problem(self, rule: Rule, path: str, message: str) -> None:
        line, col = self.marks.get(path, (None, None))
        self.findings.append(Finding(rule.id, Severity.ERROR, message,
                                     Location(self.display, path, line, col)))

    def build(self) -> Manifest:
        from deploygate.targets.catalog import closest_ids, device_from_mapping, load_catalog

        devices = {}
        for device_id, fields in self.doc.get("devices", {}).items():
            try:
                devices[device_id] = device_from_mapping(device_id, fields, custom=True)
            except ValueError as e:  # a quantity past what the units accept
                self.problem(DG102, f"devices.{device_id}", str(e))
        known = {**load_catalog(), **devices}
        defaults = self.doc.get("defaults", {})
        models: list[ModelSpec] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(self.doc["models"]):
            key = f"models[{i}]"
            entry = _merge(defaults, raw)
            name = entry["name"]
            if name in seen:
                self.problem(DG105, f"{key}.name",
                             f"model name '{name}' is already used by models[{seen[name]}]; "
                             "names must be unique")
            seen.setdefault(name, i)
            target = entry.get("target", {})
            if "kind" not in target:
                self.problem(DG102, key, f"model '{name}' has no target kind; set "
                             f"{key}.target.kind or defaults.target.kind to edge or cloud")
                continue
            device_id = target.get("device")
            device_key = f"{key}.target.device" if "device" in raw.get("target", {}) \
                else "defaults.target.device"
            if device_id is not None and device_id not in known:
                close = closest_ids(device_id, sorted(known))
                hint = f"did you mean {', '.join(close)}?" if close else "see `deploygate devices`"
                self.problem(DG104, device_key, f"unknown device '{device_id}' ({hint})")
            elif device_id is not None and ("runtime" in target or "precision" in target):
                from deploygate.targets.runtimes import choose_path, device_paths

                runtime = target.get("runtime")
                try:
                    choose_path(known[device_id], runtime, target.get("precision"))
                except ValueError as e:
                    # The key to change: a runtime the device lacks, else the precision.
                    where = "runtime" if runtime is not None and runtime not in \
                        device_paths(known[device_id]) else "precision"
                    self.problem(DG102, f"{key}.target.{where}", str(e))
            resolved = self._inside(f"{key}.path", entry["path"],
                                    "use a path inside it, relative to the manifest")
            if resolved is None:
                continue
            try:
                limits = _limits(entry.get("limits", {}))
                baseline = _baseline(entry["baseline"]) if "baseline" in entry else None
            except ValueError as e:  # a quantity past what the units accept
                self.problem(DG102, key, str(e))
                continue
            latency = self._latency(entry.get("latency"), key)
            security = self._security(entry.get("security", {}), raw, key)
            models.append(ModelSpec(
                index=i, name=name, path=entry["path"], resolved_path=resolved,
                target=Target(kind=target["kind"], device=device_id,
                              runtime=target.get("runtime"), precision=target.get("precision")),
                format=entry.get("format"),
                limits=limits,
                latency=latency,
                cost=Cost(entry["cost"]["max_usd_per_1k"]) if "cost" in entry else None,
                baseline=baseline,
                security=security,
                serving=_serving(entry["serving"]) if "serving" in entry else None,
            ))
        return Manifest(file=self.file, display=self.display, root=self.root, models=tuple(models),
                        devices=devices, marks=dict(self.marks),
                        waivers=self._waivers({m.name for m in models} | set(seen)),
                        coverage=self.doc.get("coverage", "warn"))

    def _waivers(self, names: set[str]) -> tuple[Waiver, ...]:
        from deploygate.rules import RULES

        waivers = []
        for i, raw in enumerate(self.doc.get("waivers", [])):
            key = f"waivers[{i}]"
            if raw["rule"] not in RULES:
                self.problem(DG102, f"{key}.rule", f"{raw['rule']} is not a deploygate rule "
                             "(see docs/rules.md)")
            if raw["model"] not in names:
                self.problem(DG102, f"{key}.model", f"no model named '{raw['model']}' in this "
                             f"manifest (models: {', '.join(sorted(names))})")
            try:
                until = date.fromisoformat(raw["until"])
            except ValueError:
                self.problem(DG102, f"{key}.until", f"{raw['until']} is not a date; write "
                             "YYYY-MM-DD, e.g. 2027-03-31")
                continue
            waivers.append(Waiver(raw["rule"], raw["model"], raw["reason"], until, key))
        return tuple(waivers)

    def _security(self, merged: dict[str, Any], raw: dict[str, Any], key: str) -> Security:
        """``security`` with every allowed global checked against the never-allowed names."""
        from deploygate.pickle_policy import refusal

        names = merged.get("allow_globals", [])
        where = f"{key}.security.allow_globals" if "allow_globals" in raw.get("security", {}) \
            else "defaults.security.allow_globals"
        for i, name in enumerate(names):
            why = refusal(name)
            path = f"{where}[{i}]"
            # defaults apply to every model: say it once
            if why is not None and all(f.location is None or f.location.path != path
                                       for f in self.findings):
                self.problem(DG111, path, f"`{name}` {why}; remove it (a checkpoint "
                             "that needs it runs code when loaded: convert it to safetensors)")
        return Security(tuple(n for n in names if refusal(n) is None))

    def _inside(self, key: str, relative: str, fix: str) -> Path | None:
        """``relative`` resolved inside the repository, or None after reporting why not."""
        shown = _shorten(relative)
        try:
            resolved = resolve_inside(self.root, self.file.parent, relative)
        except UnusablePath as e:
            self.problem(DG102, key, f"{shown} {e}; write a plain relative path")
            return None
        if resolved is None:
            self.problem(DG106, key, f"{shown} resolves outside the repository; {fix}")
        return resolved

    def _latency(self, raw: dict[str, Any] | None, key: str) -> LatencySpec | None:
        if raw is None:
            return None
        inputs = {}
        for name, spec in raw.get("inputs", {}).items():
            if "file" in spec:
                self._inside(f"{key}.latency.inputs.{name}.file", spec["file"],
                             "keep sample inputs inside it")
            chosen = [k for k in ("range", "value", "file") if k in spec]
            if len(chosen) > 1:
                self.problem(DG102, f"{key}.latency.inputs.{name}",
                             f"input '{name}' sets {' and '.join(chosen)}; choose one")
            rng = spec.get("range")
            if rng is not None and rng[0] > rng[1]:
                self.problem(DG102, f"{key}.latency.inputs.{name}.range",
                             f"range [{rng[0]}, {rng[1]}] has lo > hi; write [lo, hi]")
            inputs[name] = InputSpec(
                shape=tuple(spec["shape"]) if "shape" in spec else None, dtype=spec.get("dtype"),
                range=(rng[0], rng[1]) if rng is not None else None, value=spec.get("value"),
                file=spec.get("file"))
        return LatencySpec(
            budget_ms=raw.get("budget_ms"), percentile=raw.get("percentile", DEFAULT_PERCENTILE),
            threads=raw.get("threads"), dims=dict(raw.get("dims", {})), inputs=inputs,
            warmup=raw.get("warmup", 5), max_time_s=raw.get("max_time_s", 10.0),
            timeout_s=raw.get("timeout_s", 120.0), runtime=raw.get("runtime"),
            providers=tuple(raw.get("providers", ())), ttft_ms=raw.get("ttft_ms"),
            tokens_per_s=raw.get("tokens_per_s"), prompt_tokens=raw.get("prompt_tokens", 128),
            new_tokens=raw.get("new_tokens", 64),
            on_inconclusive=raw.get("on_inconclusive", "warn"))


def _shorten(value: str, limit: int = 120) -> str:
    """``value`` quoted for a message, its middle elided when long (paths come from the PR)."""
    if len(value) > limit:
        value = value[: limit // 2] + "..." + value[-limit // 2:]
    return repr(value)


def _limits(raw: dict[str, Any]) -> Limits:
    return Limits(
        max_size=parse_size(raw["max_size"]) if "max_size" in raw else None,
        max_params=parse_count(raw["max_params"]) if "max_params" in raw else None,
        max_memory=parse_size(raw["max_memory"]) if "max_memory" in raw else None,
    )


def _serving(raw: dict[str, Any]) -> Serving:
    return Serving(context_tokens=raw.get("context_tokens"), concurrency=raw.get("concurrency", 1))


def _baseline(raw: dict[str, Any]) -> Baseline:
    def pct(k: str) -> float | None:
        return parse_percent(raw[k]) if k in raw else None

    return Baseline(ref=raw.get("ref"), max_size_increase=pct("max_size_increase"),
                    max_params_increase=pct("max_params_increase"),
                    max_latency_increase=pct("max_latency_increase"))
