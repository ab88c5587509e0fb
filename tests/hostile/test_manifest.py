"""Hostile and broken manifests through the real command: each is refused with exit 2."""

from __future__ import annotations

import os

from tests.hostile.harness import MANIFEST, HostileRepo

MODEL = "  - {name: m, path: m.safetensors, target: {kind: edge}}\n"


def test_manifest_empty(repo: HostileRepo) -> None:
    repo.manifest("")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["empty"])


def test_manifest_only_a_comment(repo: HostileRepo) -> None:
    repo.manifest("# nothing here\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["empty"])


def test_manifest_syntax_error(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels: [\n  - {name: m\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["not valid YAML"])


def test_manifest_tab_indentation(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n\t- name: m\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["not valid YAML"])


def test_manifest_top_level_list(repo: HostileRepo) -> None:
    repo.manifest("- version: 1\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["mapping"])


def test_manifest_top_level_scalar(repo: HostileRepo) -> None:
    repo.manifest("just a sentence\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["mapping"])


def test_manifest_several_documents(repo: HostileRepo) -> None:
    repo.manifest("version: 1\n---\nversion: 1\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["single document"])


def test_manifest_duplicate_keys(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nversion: 1\nmodels:\n" + MODEL)
    repo.expect(repo.check(), 2, rule="DG103", file=MANIFEST, says=["duplicate key 'version'"])


def test_manifest_alias_bomb_billion_laughs(repo: HostileRepo) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    repo.manifest("\n".join(lines) + "\nversion: 1\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["alias"])


def test_manifest_deep_flow_nesting_does_not_crash(repo: HostileRepo) -> None:
    # Flow collections nest one byte per level: 400k levels fit under the size cap and used
    # to overflow the C stack of the YAML composer (a segfault, exit 139).
    repo.manifest("version: 1\nx: " + "[" * 400_000 + "]" * 400_000 + "\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["nested deeper"])


def test_manifest_deep_block_nesting(repo: HostileRepo) -> None:
    repo.manifest("version: 1\n" + "".join(" " * i + f"k{i}:\n" for i in range(200)))
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["nested deeper"])


def test_manifest_huge_file_capped_before_parsing(repo: HostileRepo) -> None:
    repo.manifest("version: 1\n" + "# padding\n" * 200_000)
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["larger than"])


def test_manifest_huge_sparse_file_is_not_read_whole(repo: HostileRepo) -> None:
    with open(repo.root / MANIFEST, "wb") as f:
        f.truncate(8 * 2**30)
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["larger than"])


def test_manifest_not_utf8(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n  - {name: m\xe9}\n".encode("latin-1"))
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["not UTF-8"])


def test_manifest_utf16(repo: HostileRepo) -> None:
    repo.manifest("version: 1\n".encode("utf-16"))
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["not UTF-8"])


def test_manifest_yaml11_boolean_as_name(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n  - {name: on, path: m.onnx, target: {kind: edge}}\n")
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["boolean", "quote it"])


def test_manifest_yaml11_octal_number(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: m.onnx, target: {kind: edge}, "
                  "latency: {budget_ms: 0150}}\n")
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["octal"])


def test_manifest_integer_too_long_to_convert(repo: HostileRepo) -> None:
    # Python refuses int('9' * 5000); the YAML constructor raised ValueError (exit 3).
    repo.manifest("version: " + "9" * 5000 + "\nmodels:\n" + MODEL)
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["too long"])


def test_manifest_size_too_large_for_a_float(repo: HostileRepo) -> None:
    # '9' * 400 GB overflowed float arithmetic (OverflowError, exit 3).
    repo.write("m.safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    repo.model("m.safetensors", extra=', limits: {max_size: "' + "9" * 400 + 'GB"}')
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["larger than any real size"])


def test_manifest_device_bandwidth_of_400_digits(repo: HostileRepo) -> None:
    repo.manifest("version: 1\ndevices:\n  board: {kind: edge, memory: 1GiB, memory_bandwidth: "
                  + "9" * 400 + "}\nmodels:\n" + MODEL)
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["400 digits", "at most"])


def test_manifest_nan_budget(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: m.onnx, target: {kind: edge}, "
                  "latency: {budget_ms: .nan}}\n")
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["latency.budget_ms"])


def test_manifest_unknown_key(repo: HostileRepo) -> None:
    repo.manifest("version: 1\nmodels:\n  - {name: m, path: m.onnx, target: {kind: edge}, "
                  "limit: {max_size: 1GB}}\n")
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["unknown key", "limits"])


def test_manifest_unknown_key_with_newline_stays_one_line(repo: HostileRepo) -> None:
    # A key with a line break (and a workflow command after it) must not start a new line.
    repo.manifest('version: 1\n"x\\n::error::injected": 1\nmodels:\n' + MODEL)
    message = repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["unknown key"])
    assert "injected" in message


def test_manifest_wrong_version(repo: HostileRepo) -> None:
    repo.manifest("version: 2\nmodels:\n" + MODEL)
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["version"])


def test_manifest_version_as_string(repo: HostileRepo) -> None:
    repo.manifest('version: "1"\nmodels:\n' + MODEL)
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["version"])


def test_manifest_path_with_dotdot_escapes(repo: HostileRepo) -> None:
    repo.model("../outside/secret.txt")
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_absolute_path(repo: HostileRepo) -> None:
    repo.model(str(repo.secret))
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_model_symlink_escapes(repo: HostileRepo) -> None:
    os.symlink(repo.secret, repo.root / "m.onnx")
    repo.model("m.onnx")
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_model_symlink_to_dev_zero(repo: HostileRepo) -> None:
    os.symlink("/dev/zero", repo.root / "m.onnx")
    repo.model("m.onnx")
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_folder_symlink_escapes(repo: HostileRepo) -> None:
    os.symlink(repo.outside, repo.root / "models")
    repo.model("models/secret.txt")
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_sample_input_file_escapes(repo: HostileRepo) -> None:
    repo.model("m.onnx", b"", extra=", latency: {budget_ms: 10, inputs: {x: {file: "
                                     "../outside/secret.txt}}}")
    repo.expect(repo.check(), 2, rule="DG106", file=MANIFEST, says=["outside the repository"])


def test_manifest_itself_a_symlink_out_of_the_repository(repo: HostileRepo) -> None:
    # The default manifest comes from the pull request: as a link to a file outside the
    # repository, its contents would be echoed into public CI logs through error messages.
    os.symlink(repo.secret, repo.root / MANIFEST)
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["outside the repository"])


def test_manifest_path_with_nul_byte(repo: HostileRepo) -> None:
    repo.manifest('version: 1\nmodels:\n  - {name: m, path: "m\\0.onnx", target: {kind: edge}}\n')
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST, says=["NUL"])


def test_manifest_path_too_long(repo: HostileRepo) -> None:
    repo.model("a/" * 3000 + "m.onnx")
    message = repo.expect(repo.check(), 2, file=MANIFEST, says=["too long"])
    assert len(message) < 2000


def test_manifest_model_missing(repo: HostileRepo) -> None:
    repo.model("gone.onnx")
    repo.expect(repo.check(), 2, rule="DG201", file="gone.onnx", says=["no such file"])


def test_manifest_model_path_is_empty_folder(repo: HostileRepo) -> None:
    (repo.root / "models").mkdir()
    repo.model("models")
    repo.expect(repo.check(), 2, rule="DG213", file="models", says=["folder"])


def test_manifest_path_is_a_folder(repo: HostileRepo) -> None:
    (repo.root / "conf").mkdir()
    repo.expect(repo.check("conf"), 2, rule="DG101", file="conf", says=["is a folder"])


def test_manifest_missing(repo: HostileRepo) -> None:
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["no such manifest"])


def test_manifest_python_object_apply_never_runs(repo: HostileRepo) -> None:
    repo.manifest(f"version: 1\nmodels: !!python/object/apply:os.system "
                  f"['touch {repo.canary}']\n")
    repo.expect(repo.check(), 2, file=MANIFEST)


def test_manifest_python_name_tag_never_resolves(repo: HostileRepo) -> None:
    repo.manifest(f"version: !!python/object/apply:os.system ['touch {repo.canary}']\n"
                  "models: !!python/name:os.system\n")
    repo.expect(repo.check(), 2, rule="DG101", file=MANIFEST, says=["constructor"])


def test_manifest_python_object_new_in_validate(repo: HostileRepo) -> None:
    repo.manifest(f"!!python/object/new:subprocess.Popen [['touch', '{repo.canary}']]\n")
    repo.expect(repo.run("validate", MANIFEST), 2, rule=None, file=MANIFEST, says=["mapping"])


def test_manifest_device_path_peak_of_zero(repo: HostileRepo) -> None:
    repo.manifest("version: 1\ndevices:\n  board: {kind: edge, memory: 1GiB, compute: 1TOPS, "
                  "paths: {litert: {int8: 0TOPS}}}\nmodels:\n" + MODEL)
    repo.expect(repo.check(), 2, rule="DG102", file=MANIFEST,
                says=["devices.board", "paths.litert.int8", "above zero"])
