"""`deploygate check --base`: regression against a git ref, on real repositories built here."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from safetensors.numpy import save_file

from deploygate.cli import cli
from tests.fixtures.git_repos import commit_all, git, init_repo, matmul_chain
from tests.fixtures.onnx_models import external_data_model, save_with_external_data
from tests.fixtures.lfs import pointer_for

ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())

MANIFEST = """\
version: 1
models:
  - name: det
    path: models/det.onnx
    target: {{kind: edge}}
{baseline}
"""
LIMITS = """\
    baseline:
      max_size_increase: 500%
      max_params_increase: 10%
"""


@pytest.fixture(autouse=True)
def _not_in_a_pull_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests choose their refs; the runner's own pull request must not leak in.
    for name in ("GITHUB_BASE_REF", "GITHUB_EVENT_PATH", "CI_MERGE_REQUEST_DIFF_BASE_SHA",
                 "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)


def check(repo: Path, *args: str) -> tuple[int, dict, str]:
    """Run `check --format json` on ``repo``'s manifest; returns exit code, report, stderr."""
    result = CliRunner().invoke(cli, ["check", "--format", "json", "--no-probe", "--manifest",
                                      str(repo / "deploy-constraints.yaml"), *args])
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert report["exit_code"] == result.exit_code
    return result.exit_code, report, result.stderr


def rules(report: dict) -> list[str]:
    return [f["rule"] for f in report["findings"]] + [
        f["rule"] for m in report["models"] for f in m["findings"]]


def repo_with_model(tmp_path: Path, *, baseline: str = LIMITS, width: int = 16) -> Path:
    """A repository whose main branch holds models/det.onnx and its manifest."""
    repo = init_repo(tmp_path / "repo")
    matmul_chain(repo / "models" / "det.onnx", width=width, depth=2)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=baseline))
    commit_all(repo, "model")
    git(repo, "switch", "-q", "-c", "feature")
    return repo


def test_params_quadrupled_fails_with_before_and_after(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, width=16)
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "bigger")

    code, report, _ = check(repo, "--base", "main")

    assert code == 1
    (model,) = report["models"]
    assert [f["rule"] for f in model["findings"]] == ["DG603"]
    finding = model["findings"][0]
    assert finding["location"]["path"] == "models[0].baseline.max_params_increase"
    assert "512 → 2.048K (+300%)" in finding["message"] and "max_params_increase 10%" in finding["message"]
    base = model["baseline"]
    assert base["status"] == "compared" and base["ref"] == "main" and base["source"] == "--base"
    assert base["commit"] == git(repo, "rev-parse", "main")
    assert base["params"] == {"before": 512, "after": 2048, "delta": 1536, "change": 3.0}
    assert base["size_bytes"]["after"] == (repo / "models" / "det.onnx").stat().st_size
    assert base["size_bytes"]["before"] < base["size_bytes"]["after"]


def test_text_report_shows_the_change_both_ways(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, width=16)
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "bigger")

    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "text", "--base", "main",
                                      "--manifest", str(repo / "deploy-constraints.yaml")])

    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("vs main ("))
    assert "params 512 → 2.048K (+300%)" in line and "size " in line and " → " in line


def test_unchanged_model_passes(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path)
    (repo / "README.md").write_text("docs only\n")
    commit_all(repo, "docs")

    code, report, _ = check(repo, "--base", "main")

    assert code == 0 and rules(report) == []
    base = report["models"][0]["baseline"]
    assert base["params"]["change"] == 0 and base["size_bytes"]["delta"] == 0


def test_uncommitted_change_is_compared_too(tmp_path: Path) -> None:
    # The working tree is the head: what CI checked out, or what a developer is about to commit.
    repo = repo_with_model(tmp_path, width=16)
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 1 and rules(report) == ["DG603"]


def test_baseline_ref_from_the_manifest(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, baseline=LIMITS + "      ref: main\n")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)

    code, report, _ = check(repo)

    assert code == 1 and rules(report) == ["DG603"]
    assert report["models"][0]["baseline"]["source"] == "baseline.ref"


def test_no_baseline_block_and_no_base_means_no_git(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, baseline="")

    code, report, _ = check(repo)

    assert code == 0 and report["models"][0]["baseline"] is None


def test_new_model_is_a_note(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path)
    matmul_chain(repo / "models" / "cls.onnx", width=8, depth=1)
    text = (repo / "deploy-constraints.yaml").read_text()
    (repo / "deploy-constraints.yaml").write_text(
        text + "  - {name: cls, path: models/cls.onnx, target: {kind: edge}}\n")
    commit_all(repo, "new model")

    code, report, _ = check(repo, "--base", "main")

    assert code == 0
    det, cls = report["models"]
    assert det["findings"] == [] and det["baseline"]["status"] == "compared"
    (note,) = cls["findings"]
    assert note["rule"] == "DG605" and note["severity"] == "note"
    assert "new model, no baseline" in note["message"]
    assert cls["baseline"]["status"] == "new"


def test_deleted_model_is_a_manifest_level_warning(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    matmul_chain(repo / "models" / "det.onnx", width=8, depth=1)
    matmul_chain(repo / "models" / "old.onnx", width=8, depth=1)
    (repo / "deploy-constraints.yaml").write_text(
        MANIFEST.format(baseline="") + "  - {name: old, path: models/old.onnx, target: {kind: edge}}\n")
    commit_all(repo, "two models")
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=""))
    (repo / "models" / "old.onnx").unlink()
    commit_all(repo, "drop old")

    code, report, _ = check(repo, "--base", "HEAD~1")

    assert code == 0
    (warning,) = report["findings"]
    assert warning["rule"] == "DG606" and warning["severity"] == "warning"
    assert "'old' (models/old.onnx)" in warning["message"]


def test_model_renamed_on_disk_is_matched_by_name(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, width=16)
    git(repo, "mv", "models/det.onnx", "models/detector.onnx")
    text = (repo / "deploy-constraints.yaml").read_text()
    (repo / "deploy-constraints.yaml").write_text(text.replace("det.onnx", "detector.onnx"))
    commit_all(repo, "rename")

    code, report, _ = check(repo, "--base", "main")

    assert code == 0
    assert report["models"][0]["baseline"]["base_path"] == "models/det.onnx"


def test_a_model_renamed_in_the_manifest_only_is_still_judged(tmp_path: Path) -> None:
    """A new name on the same file is not a new model: renaming must not skip the gate."""
    repo = repo_with_model(tmp_path, width=16)
    text = (repo / "deploy-constraints.yaml").read_text()
    (repo / "deploy-constraints.yaml").write_text(text.replace("name: det", "name: detector"))
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "rename and grow")

    code, report, _ = check(repo, "--base", "main")

    (model,) = report["models"]
    assert code == 1 and rules(report) == ["DG603"]  # params x4; no DG605/DG606
    assert model["baseline"]["status"] == "compared"
    assert model["baseline"]["notes"] == ["matched by path: the base manifest calls it 'det'"]


def test_base_without_a_manifest_matches_by_path(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    matmul_chain(repo / "models" / "det.onnx", width=16, depth=2)
    commit_all(repo, "model only")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LIMITS))

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 1 and rules(report) == ["DG603"]
    assert "matched by path" in report["models"][0]["baseline"]["notes"][0]


def _shallow_clone(tmp_path: Path) -> tuple[Path, str]:
    origin = repo_with_model(tmp_path)
    git(origin, "switch", "-q", "main")
    first = git(origin, "rev-parse", "HEAD")
    (origin / "README.md").write_text("second commit\n")
    commit_all(origin, "second")
    git(origin, "branch", "other", first)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{origin}", str(clone))
    return clone, first


def test_shallow_clone_missing_the_base_commit(tmp_path: Path) -> None:
    clone, first = _shallow_clone(tmp_path)

    code, report, _ = check(clone, "--base", first)

    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG601"
    assert finding["message"] == (
        f"the base ref {first} is not in this shallow clone: use `fetch-depth: 0` in "
        f"actions/checkout or run `git fetch origin {first} --depth=1`")


def test_shallow_clone_missing_the_base_branch(tmp_path: Path) -> None:
    clone, _ = _shallow_clone(tmp_path)

    code, report, _ = check(clone, "--base", "origin/other")

    assert code == 2
    message = report["models"][0]["findings"][0]["message"]
    assert message == ("the base ref origin/other is not in this shallow clone: use "
                       "`fetch-depth: 0` in actions/checkout or run "
                       "`git fetch origin other --depth=1`")
    # The fix works in a checkout made like actions/checkout's (a wildcard fetch refspec, where
    # `git clone --depth=1` would track main alone): after it, the same check judges.
    git(clone, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    git(clone, "fetch", "-q", "origin", "other", "--depth=1")
    code, report, _ = check(clone, "--base", "origin/other")
    assert code == 0 and report["models"][0]["baseline"]["status"] == "compared"


def test_pull_request_base_from_the_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    clone, _ = _shallow_clone(tmp_path)
    git(clone, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    git(clone, "fetch", "-q", "origin", "other", "--depth=1")
    monkeypatch.setenv("GITHUB_BASE_REF", "other")

    code, report, _ = check(clone)

    assert code == 0
    base = report["models"][0]["baseline"]
    assert (base["ref"], base["source"]) == ("origin/other", "GITHUB_BASE_REF")


def test_gitlab_merge_request_base_judges_the_regression(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repo_with_model(tmp_path, width=16)
    base = git(repo, "rev-parse", "main")
    # The target branch moves on after the merge request branched: the base is where it branched.
    git(repo, "switch", "-q", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main moves on")
    git(repo, "switch", "-q", "feature")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "bigger")
    # Without the merge request's variables there is nothing to compare with: a DG607 warning.
    code, report, _ = check(repo)
    assert code == 0 and rules(report) == ["DG607"]

    monkeypatch.setenv("CI_MERGE_REQUEST_DIFF_BASE_SHA", base)
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    code, report, _ = check(repo)
    assert code == 1 and rules(report) == ["DG603"]
    found = report["models"][0]["baseline"]
    assert (found["ref"], found["source"], found["commit"]) == (
        base, "CI_MERGE_REQUEST_DIFF_BASE_SHA", base)


def test_gitlab_target_branch_alone_is_the_base(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repo_with_model(tmp_path, width=16)
    git(repo, "update-ref", "refs/remotes/origin/main", "main")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "bigger")
    monkeypatch.setenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
    code, report, _ = check(repo)
    assert code == 1
    found = report["models"][0]["baseline"]
    assert (found["ref"], found["source"]) == ("origin/main", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")


def test_nonexistent_ref_is_exit_2_naming_it(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path)

    code, report, _ = check(repo, "--base", "no-such-branch")

    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG601" and "no-such-branch does not exist" in finding["message"]
    assert report["models"][0]["baseline"]["status"] == "unavailable"


@pytest.mark.parametrize("ref", ["--output=x", "main..feature", "main feature", "HEAD:README.md",
                                 "main\n"])
def test_option_like_and_odd_refs_are_refused(tmp_path: Path, ref: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repo_with_model(tmp_path)
    monkeypatch.chdir(repo)

    code, report, _ = check(repo, "--base", ref)

    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG601" and "refused" in finding["message"]
    assert not (repo / "x").exists()


def test_not_a_git_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    matmul_chain(folder / "models" / "det.onnx", width=8, depth=1)
    (folder / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=""))

    code, report, _ = check(folder, "--base", "main")

    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG601" and "not in a git repository" in finding["message"]


def test_baseline_limits_without_any_ref_are_a_warning(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path)

    code, report, _ = check(repo)

    assert code == 0 and rules(report) == ["DG607"]
    assert "no base ref" in report["models"][0]["findings"][0]["message"]


def test_base_model_as_lfs_pointer_compares_size_and_skips_params(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    matmul_chain(tmp_path / "scratch.onnx", width=16, depth=2)
    head_size = (tmp_path / "scratch.onnx").stat().st_size
    (repo / "models").mkdir()
    # Committed as a pointer with no LFS object behind it: the content cannot be had.
    (repo / "models" / "det.onnx").write_bytes(pointer_for(b"\0" * (head_size // 2)))
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LIMITS))
    commit_all(repo, "pointer")
    matmul_chain(repo / "models" / "det.onnx", width=16, depth=2)

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 0
    (model,) = report["models"]
    (warning,) = model["findings"]
    assert warning["rule"] == "DG607" and warning["severity"] == "warning"
    assert warning["location"]["path"] == "models[0].baseline.max_params_increase"
    assert "Git LFS pointer" in warning["message"]
    base = model["baseline"]
    assert base["size_from_lfs_pointers"] is True
    assert base["size_bytes"]["before"] == head_size // 2 and base["params"] is None
    assert set(base["skipped"]) == {"params", "latency"}


def test_size_regression_judged_from_an_lfs_pointer(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "models").mkdir()
    (repo / "models" / "det.onnx").write_bytes(pointer_for(b"\0" * 100))
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(
        baseline="    baseline: {max_size_increase: 10%}\n"))
    commit_all(repo, "pointer")
    matmul_chain(repo / "models" / "det.onnx", width=16, depth=2)

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 1 and rules(report) == ["DG602"]
    assert "100 B →" in report["models"][0]["findings"][0]["message"]


def test_lfs_pointer_in_the_working_tree_is_exit_2_with_the_fix(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path)
    (repo / "models" / "det.onnx").write_bytes(pointer_for(b"\0" * 5000))

    code, report, _ = check(repo, "--base", "main")

    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG204"
    assert "run `git lfs pull`" in finding["message"] and "lfs: true" in finding["message"]


def test_onnx_external_data_is_read_from_the_base(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "models").mkdir()
    save_with_external_data(external_data_model(), repo / "models" / "det.onnx",
                            location="weights.bin")
    (repo / "models" / "unrelated.bin").write_bytes(b"\0" * 10_000)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LIMITS))
    commit_all(repo, "external data")

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 0 and rules(report) == []
    base = report["models"][0]["baseline"]
    assert base["size_bytes"]["delta"] == 0 and base["params"]["before"] == 16 * 32 + 32 * 4


def test_sharded_safetensors_folder(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    ckpt = repo / "ckpt"
    ckpt.mkdir()
    save_file({"a": np.ones((4, 4), np.float32)}, str(ckpt / "model-00001-of-00002.safetensors"))
    save_file({"b": np.ones(4, np.float32)}, str(ckpt / "model-00002-of-00002.safetensors"))
    (repo / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: llm\n    path: ckpt\n    target: {kind: cloud}\n"
        "    baseline: {max_params_increase: 10%}\n")
    commit_all(repo, "shards")
    save_file({"a": np.ones((8, 8), np.float32)}, str(ckpt / "model-00001-of-00002.safetensors"))

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 1 and rules(report) == ["DG603"]
    assert report["models"][0]["baseline"]["params"] == {
        "before": 20, "after": 68, "delta": 48, "change": 2.4}


def test_neither_working_tree_nor_temp_files_are_left_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repo_with_model(tmp_path)
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)
    commit_all(repo, "bigger")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    head = git(repo, "rev-parse", "HEAD")

    code, _, _ = check(repo, "--base", "main")

    assert code == 1
    assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "branch", "--show-current") == "feature"
    assert list(scratch.iterdir()) == []


LATENCY = """\
    latency: {threads: 1, warmup: 2, max_time_s: 0.3}
    baseline: {max_latency_increase: 50%}
"""


def test_latency_not_compared_without_the_probe(tmp_path: Path) -> None:
    repo = repo_with_model(tmp_path, baseline=LATENCY)

    code, report, _ = check(repo, "--base", "main")

    assert code == 0 and rules(report) == ["DG607"]
    assert "--no-probe" in report["models"][0]["findings"][0]["message"]


def test_head_four_times_slower_fails_on_the_ab_ratio(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    # Four times the MatMuls: a ratio near 4, far from the 1.5 limit on any machine.
    matmul_chain(repo / "models" / "det.onnx", width=256, depth=2, batch=64)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LATENCY))
    commit_all(repo, "fast")
    matmul_chain(repo / "models" / "det.onnx", width=256, depth=8, batch=64)

    result = CliRunner().invoke(cli, ["check", "--format", "json", "--base", "HEAD", "--manifest",
                                      str(repo / "deploy-constraints.yaml")])

    report = json.loads(result.stdout)
    Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert result.exit_code == 1 and rules(report) == ["DG604"]
    latency = report["models"][0]["baseline"]["latency_ms"]
    assert latency["rounds"] == 3 and len(latency["base_p50_ms"]) == 3
    assert latency["ratio"] == pytest.approx(latency["after"] / latency["before"])
    assert latency["ratio"] > 1.5
    message = report["models"][0]["findings"][0]["message"]
    assert "alternating probes" in message and "max_latency_increase 50%" in message


def _two_shards(repo: Path, second: bytes | None = None) -> Path:
    """A checkpoint folder of two safetensors shards and a config.json (its second shard's
    bytes ``second`` when given), and a manifest with size and params limits, not committed."""
    ckpt = repo / "ckpt"
    ckpt.mkdir()
    save_file({"a": np.ones((4, 4), np.float32)}, str(ckpt / "model-00001-of-00002.safetensors"))
    if second is None:
        save_file({"b": np.ones(4, np.float32)}, str(ckpt / "model-00002-of-00002.safetensors"))
    else:
        (ckpt / "model-00002-of-00002.safetensors").write_bytes(second)
    (ckpt / "config.json").write_text('{"model_type": "tiny"}')
    (repo / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: llm\n    path: ckpt\n    target: {kind: cloud}\n"
        "    baseline: {max_params_increase: 10%, max_size_increase: 10%}\n")
    return ckpt


def test_base_shard_as_lfs_pointer(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    ckpt = _two_shards(repo, pointer_for(b"\0" * 1000))
    commit_all(repo, "one shard in LFS")
    save_file({"b": np.ones(4, np.float32)}, str(ckpt / "model-00002-of-00002.safetensors"))

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 0 and rules(report) == ["DG607"]
    base = report["models"][0]["baseline"]
    first = (ckpt / "model-00001-of-00002.safetensors").stat().st_size
    assert base["size_bytes"]["before"] == first + 1000  # config.json is not model data
    assert base["size_from_lfs_pointers"] and base["params"] is None


def _checkpoint_with_extras(repo: Path) -> Path:
    """A sharded safetensors folder, with weights in another format (an LFS pointer, as a
    model hub's repository keeps them) and a README beside its shards, committed."""
    ckpt = _two_shards(repo)
    (ckpt / "pytorch_model.bin").write_bytes(pointer_for(b"\0" * 5000))
    (ckpt / "README.md").write_text("not read\n")
    commit_all(repo, "checkpoint")
    return ckpt


def test_a_base_folder_streams_only_the_files_its_model_is_read_from(tmp_path: Path) -> None:
    """Only the shards, index and config are read from git: the LFS pointer to weights in
    another format beside them is not the model's, so the base is compared in full."""
    repo = init_repo(tmp_path / "repo")
    _checkpoint_with_extras(repo)

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 0, json.dumps(report)[-1500:]
    base = report["models"][0]["baseline"]
    assert base["status"] == "compared" and not base["size_from_lfs_pointers"]
    assert base["params"]["before"] == base["params"]["after"] == 20


def test_a_large_safetensors_base_is_read_to_its_header_only(tmp_path: Path) -> None:
    """A base checkpoint over the reader's header cap (16 MiB) is streamed from git only that
    far, its tensors left as a hole of their size: its size and parameters still compare."""
    repo = init_repo(tmp_path / "repo")
    big = {"w": np.ones((1024, 4608), np.float32)}  # 18.9 MB
    save_file(big, str(repo / "m.safetensors"))
    (repo / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: m\n    path: m.safetensors\n    target: {kind: cloud}\n"
        "    baseline: {max_params_increase: 10%, max_size_increase: 10%}\n")
    commit_all(repo, "checkpoint")
    save_file({**big, "b": np.ones(4, np.float32)}, str(repo / "m.safetensors"))

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 0, json.dumps(report)[-1500:]
    base = report["models"][0]["baseline"]
    assert base["params"]["before"] == 1024 * 4608 and base["params"]["after"] == 1024 * 4608 + 4
    assert base["size_bytes"]["before"] == int(git(repo, "cat-file", "-s", "HEAD:m.safetensors"))


def test_the_tensors_of_a_safetensors_base_stay_in_git(tmp_path: Path) -> None:
    """The file the reader sees has the blob's size, its header's bytes, and no more data."""
    from deploygate.baseline.repository import _open, _Writer

    repo = init_repo(tmp_path / "repo")
    save_file({"w": np.ones((1024, 4608), np.float32)}, str(repo / "m.safetensors"))
    commit_all(repo, "checkpoint")
    base = _open(repo, None)
    entry = base.lookup("HEAD", "m.safetensors")
    assert entry is not None and entry.size > 17 << 20
    dest = tmp_path / "m.safetensors"
    _Writer(base, "m.safetensors").write(entry, dest)
    assert dest.stat().st_size == entry.size
    assert dest.read_bytes()[: 16 << 20] == (repo / "m.safetensors").read_bytes()[: 16 << 20]
    assert dest.read_bytes()[-4:] == b"\0\0\0\0"  # a hole, where the blob holds 1.0f
    assert (repo / "m.safetensors").read_bytes()[-4:] == np.float32(1).tobytes()


def test_a_base_folder_of_too_many_model_files_is_refused_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploygate.baseline import repository

    monkeypatch.setattr(repository, "MAX_BASE_FOLDER_FILES", 3)
    repo = init_repo(tmp_path / "repo")
    _checkpoint_with_extras(repo)  # two shards and config.json: at the cap
    assert check(repo, "--base", "HEAD")[0] == 0
    save_file({"c": np.ones(2, np.float32)}, str(repo / "ckpt" / "extra.safetensors"))
    commit_all(repo, "a third shard")

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 2 and rules(report) == ["DG601"]
    message = report["models"][0]["findings"][0]["message"]
    assert "holds 4 files of its model in the base, over the 3 read from one folder" in message


def test_a_base_object_git_cannot_read_is_one_line_naming_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    _checkpoint_with_extras(repo)
    oid = git(repo, "rev-parse", "HEAD:ckpt/README.md").strip()
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()

    code, report, _ = check(repo, "--base", "HEAD")

    assert code == 2 and rules(report) == ["DG601"]
    message = report["models"][0]["findings"][0]["message"]
    assert f"git cannot read the object of 'README.md' ({oid}) in the base" in message
    assert "fetch the base again" in message and "ValueError" not in message


@pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")
def test_base_in_real_git_lfs_is_smudged_and_compared(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    git(repo, "lfs", "install", "--local")
    git(repo, "lfs", "track", "*.onnx")
    matmul_chain(repo / "models" / "det.onnx", width=16, depth=2)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LIMITS))
    commit_all(repo, "model in LFS")
    # the commit holds a pointer; the content sits in the repository's local LFS store
    assert git(repo, "cat-file", "-p", "HEAD:models/det.onnx").startswith(
        "version https://git-lfs.github.com/spec/v1")
    git(repo, "switch", "-q", "-c", "feature")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)

    code, report, _ = check(repo, "--base", "main")

    (model,) = report["models"]
    assert code == 1 and rules(report) == ["DG603"]
    assert model["baseline"]["size_from_lfs_pointers"] is False
    assert model["baseline"]["params"]["before"] == 16 * 16 * 2
    assert model["baseline"]["params"]["after"] == 32 * 32 * 2


@pytest.mark.skipif(shutil.which("git-lfs") is None, reason="needs git-lfs")
def test_a_smudged_base_that_is_not_the_pointers_object_is_not_compared_as_content(
        tmp_path: Path) -> None:
    """The base is read only when its bytes hash to the oid the base commit names: here the
    local LFS store holds other bytes of the same size (what a redirected lfs.url or a
    tampered store would hand back), and the base falls back to the pointer's recorded size."""
    repo = init_repo(tmp_path / "repo")
    git(repo, "lfs", "install", "--local")
    git(repo, "lfs", "track", "*.onnx")
    matmul_chain(repo / "models" / "det.onnx", width=16, depth=2)
    (repo / "deploy-constraints.yaml").write_text(MANIFEST.format(baseline=LIMITS))
    commit_all(repo, "model in LFS")
    oid = git(repo, "cat-file", "-p", "HEAD:models/det.onnx").split("oid sha256:")[1][:64]
    stored = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    forged = bytearray(stored.read_bytes())
    forged[-1] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(forged))
    git(repo, "switch", "-q", "-c", "feature")
    matmul_chain(repo / "models" / "det.onnx", width=32, depth=2)

    code, report, _ = check(repo, "--base", "main")

    (model,) = report["models"]
    assert model["baseline"]["size_from_lfs_pointers"] is True
    assert model["baseline"]["params"] is None
    assert "sha256 is not the pointer's oid" in json.dumps(report)


LIGHTNING_GLOBALS = sorted({
    "omegaconf.dictconfig.DictConfig", "omegaconf.base.ContainerMetadata", "typing.Any",
    "builtins.dict", "collections.defaultdict", "omegaconf.nodes.AnyNode",
    "omegaconf.base.Metadata", "omegaconf.listconfig.ListConfig", "builtins.list",
    "builtins.int"})


def _lightning_manifest(repo: Path, allowed: list[str]) -> None:
    (repo / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: ckpt\n    path: models/last.ckpt\n"
        "    target: {kind: edge}\n    baseline: {max_params_increase: 10%}\n"
        f"    security:\n      allow_globals: [{', '.join(allowed)}]\n")


def test_a_pull_request_that_adds_an_allowed_global_says_so(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "models").mkdir()
    shutil.copy(ROOT / "tests" / "data" / "pytorch" / "lightning_omegaconf.ckpt",
                repo / "models" / "last.ckpt")
    _lightning_manifest(repo, LIGHTNING_GLOBALS[:-2])
    commit_all(repo, "checkpoint; two globals not yet reviewed")
    git(repo, "switch", "-q", "-c", "feature")

    code, report, _ = check(repo, "--base", "main")
    assert code == 1 and "DG203" in rules(report)  # the head refuses the same two names

    _lightning_manifest(repo, LIGHTNING_GLOBALS)
    commit_all(repo, "allow the rest")
    code, report, _ = check(repo, "--base", "main")
    assert code == 0, json.dumps(report)[-1500:]
    (model,) = report["models"]
    assert model["artifact"]["details"]["allowed_globals"] == LIGHTNING_GLOBALS
    added = [f for f in model["findings"] if f["rule"] == "DG608"]
    assert len(added) == 1 and added[0]["severity"] == "warning"
    assert "allows 2 pickle globals the base" in added[0]["message"]
    for name in LIGHTNING_GLOBALS[-2:]:
        assert f"`{name}`" in added[0]["message"]
    assert added[0]["location"]["path"] == "models[0].security.allow_globals"
    # the base, read under its own allowlist, is refused there: not compared, said so
    assert "DG607" in rules(report) and "DG212" in rules(report)

    git(repo, "switch", "-q", "main")
    _lightning_manifest(repo, LIGHTNING_GLOBALS)
    commit_all(repo, "reviewed")
    git(repo, "switch", "-q", "feature")
    git(repo, "reset", "-q", "--hard", "main")
    code, report, _ = check(repo, "--base", "main")
    assert "DG608" not in rules(report)  # nothing added against this base
