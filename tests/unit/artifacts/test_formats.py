"""The format registry: every hand-written list of formats is derived from it, or checked."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from deploygate.artifacts import formats
from deploygate.artifacts.formats import FORMATS
from deploygate.hooks import check_files_pattern, files_patterns
from deploygate.limits import LIMITS
from deploygate.manifest.schema import load_schema

ROOT = Path(__file__).resolve().parents[3]


def _format_enums(node: object) -> list[list[str]]:
    if isinstance(node, dict):
        found = [node["format"]["enum"]] if isinstance(node.get("format"), dict) \
            and "enum" in node["format"] else []
        return found + [e for v in node.values() for e in _format_enums(v)]
    if isinstance(node, list):
        return [e for v in node for e in _format_enums(v)]
    return []


def test_the_manifest_schema_format_enums_are_the_registry() -> None:
    enums = _format_enums(load_schema())
    assert len(enums) == 2  # defaults.format and models[].format
    for enum in enums:
        assert enum == formats.manifest_names()


def test_the_pre_commit_hook_patterns_are_generated_from_the_registry() -> None:
    # Exact equality: a hand edit, or a format, suffix or companion file added to the registry
    # without regenerating the YAML (python -m deploygate.hooks), fails here.
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {hook: hooks[hook]["files"] for hook in hooks} == files_patterns()


def test_the_hook_table_in_the_ci_docs_names_every_watched_file() -> None:
    from deploygate.hooks import watched_names, watched_suffixes

    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `deploygate-check` |"))
    for suffix in watched_suffixes():
        assert f"`{suffix}`" in row or f"`*{suffix}`" in row, suffix
    for name in watched_names():
        assert f"`{name}`" in row or name.startswith("deploy-constraints"), name


def test_the_check_hook_runs_on_every_file_of_every_format() -> None:
    pattern = re.compile(check_files_pattern())
    for fmt in FORMATS.values():
        for suffix in (*fmt.extensions, *fmt.data_extensions, *fmt.shards):
            assert pattern.search(f"models/m{suffix}"), (fmt.name, suffix)
        for name in fmt.metadata:
            assert pattern.search(f"models/{name}"), (fmt.name, name)
    for name in ("deploy-constraints.yaml", "svc/deploy-constraints.yml", "samples/ids.npy",
                 "models/det.onnx.data", "models/model.safetensors.index.json"):
        assert pattern.search(name), name
    for name in ("README.md", "docs/config.json.md", "package.json", "xconfig.json", "m.onnx.md"):
        assert not pattern.search(name), name


def test_names_with_pattern_syntax_are_matched_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    from deploygate import hooks

    monkeypatch.setattr(hooks, "MANIFEST_NAMES", ("deploy constraints#1.yaml",))
    assert re.search(hooks.check_files_pattern(), "a/deploy constraints#1.yaml")
    assert not re.search(hooks.check_files_pattern(), "a/deploy constraintsX1.yaml")


def test_each_format_declares_its_readers_caps_once() -> None:
    readers = {fmt.reader for fmt in FORMATS.values()}
    # One place per cap: the shared table holds no format reader's cap ...
    assert not [limit for limit in LIMITS if limit.module in readers]
    for fmt in FORMATS.values():
        # ... and a format declares caps of its own reader only, each a constant there.
        reader = importlib.import_module(fmt.reader)
        assert {cap.module for cap in fmt.caps} <= {fmt.reader}, fmt.name
        for cap in fmt.caps:
            assert isinstance(getattr(reader, cap.name), (int, float)), (fmt.name, cap.name)
        assert all(cap in formats.all_limits() for cap in fmt.caps)


def test_formats_are_named_once_and_their_readers_exist() -> None:
    names = [n for fmt in FORMATS.values() for n in fmt.names]
    assert len(names) == len(set(names))
    suffixes = [e for fmt in FORMATS.values() for e in fmt.extensions]
    assert len(suffixes) == len(set(suffixes)) and all(e == e.lower() for e in suffixes)
    for fmt in FORMATS.values():
        reader = importlib.import_module(fmt.reader)
        assert callable(reader.inspect)
        assert fmt.companions is None or callable(getattr(reader, fmt.companions))


def test_sniffing_order_keeps_safetensors_ahead_of_pickles() -> None:
    # A 640-byte safetensors header's length prefix reads as a pickle PROTO 2 opcode.
    head = (640).to_bytes(8, "little") + b'{"a": 1}'
    assert head[0] == 0x80 and formats.sniff(head, 10_000) == "safetensors"
    assert formats.sniff(b"\x80\x02}q\x00.", 6) == "pytorch"
    assert formats.sniff(b"version https://git-lfs.github.com/spec/v1\n", 50) == formats.LFS_POINTER
    assert formats.sniff(b"nothing known", 13) is None


def test_folder_members_are_the_files_a_model_is_read_from() -> None:
    from deploygate.artifacts.formats import folder_members

    sharded = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
               "model.safetensors.index.json", "config.json", "pytorch_model.bin", "README.md",
               "tokenizer.json"]
    assert folder_members(sharded) == sharded[:4]
    single = ["det.onnx", "det.onnx_data", "notes.txt", "config.json"]
    assert folder_members(single) == ["det.onnx", "det.onnx_data", "config.json"]
    assert folder_members(["README.md"]) == []
